//! Who may do what with a list: the one place permissions are decided.
//! Every list operation (and every todo operation, through the todo's
//! list) asks [`authorize`] with the caller's membership, as read inside
//! the operation's transaction ([`super::model::lock_audience`]) or through
//! the request's DataLoader for reads.
//!
//! A caller who is not a member is told the list is missing
//! ([`Denied::Missing`]: `NOT_FOUND` or null, never `FORBIDDEN`, which
//! would reveal that it exists); a member whose role does not allow the
//! action gets [`Denied::Forbidden`], and nothing changes.

/// A member's role in a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Everything, plus members, invitations, transfer and deletion.
    Owner,
    /// Reads and writes todos, renames the list.
    Editor,
    /// Reads only.
    Viewer,
}

impl Role {
    /// The name stored in `list_members.role`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "OWNER",
            Self::Editor => "EDITOR",
            Self::Viewer => "VIEWER",
        }
    }

    /// The role stored as `raw` (unknown names read as the least role).
    pub fn from_db(raw: &str) -> Self {
        match raw {
            "OWNER" => Self::Owner,
            "EDITOR" => Self::Editor,
            _ => Self::Viewer,
        }
    }
}

/// Something a member may try to do with a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// See the list, its todos, members and live changes.
    Read,
    /// Create, update, complete, move and delete its todos; restore them
    /// from the list's trash and empty it.
    WriteTodos,
    /// Rename it.
    Rename,
    /// Move it in one's own sidebar.
    Arrange,
    /// Leave it.
    Leave,
    /// Invite, withdraw invitations, see pending ones.
    Invite,
    /// Change a member's role, remove another member.
    ManageMembers,
    /// Hand ownership to another member.
    Transfer,
    /// Delete it with its todos.
    Delete,
}

impl Action {
    /// Every action, for tables.
    pub const ALL: [Self; 9] = [
        Self::Read,
        Self::WriteTodos,
        Self::Rename,
        Self::Arrange,
        Self::Leave,
        Self::Invite,
        Self::ManageMembers,
        Self::Transfer,
        Self::Delete,
    ];
}

/// Why an action is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// Not a member: the list is reported missing.
    Missing,
    /// A member whose role does not allow the action.
    Forbidden(Action),
}

/// Whether `role` allows `action`.
pub fn allows(role: Role, action: Action) -> bool {
    match action {
        Action::Read | Action::Arrange | Action::Leave => true,
        Action::WriteTodos | Action::Rename => matches!(role, Role::Owner | Role::Editor),
        Action::Invite | Action::ManageMembers | Action::Transfer | Action::Delete => {
            role == Role::Owner
        }
    }
}

/// The caller's role when its membership (`None`: not a member) allows
/// `action`.
pub fn authorize(membership: Option<Role>, action: Action) -> Result<Role, Denied> {
    let role = membership.ok_or(Denied::Missing)?;
    if allows(role, action) {
        Ok(role)
    } else {
        Err(Denied::Forbidden(action))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The contract's role table: OWNER may do everything; EDITOR reads,
    /// writes todos and renames; VIEWER only reads; everyone may arrange
    /// their own sidebar and leave (the owner's leaving is refused later,
    /// from the list's state, not the role).
    #[test]
    fn role_table() {
        use Action::*;
        let table = [
            (Read, [true, true, true]),
            (WriteTodos, [true, true, false]),
            (Rename, [true, true, false]),
            (Arrange, [true, true, true]),
            (Leave, [true, true, true]),
            (Invite, [true, false, false]),
            (ManageMembers, [true, false, false]),
            (Transfer, [true, false, false]),
            (Delete, [true, false, false]),
        ];
        assert_eq!(table.len(), Action::ALL.len());
        for (action, expected) in table {
            for (role, allowed) in [Role::Owner, Role::Editor, Role::Viewer]
                .into_iter()
                .zip(expected)
            {
                assert_eq!(allows(role, action), allowed, "{role:?} {action:?}");
                let outcome = authorize(Some(role), action);
                assert_eq!(outcome.is_ok(), allowed);
                if !allowed {
                    assert_eq!(outcome, Err(Denied::Forbidden(action)));
                }
            }
            assert_eq!(authorize(None, action), Err(Denied::Missing));
        }
    }

    #[test]
    fn roles_round_trip_their_stored_names() {
        for role in [Role::Owner, Role::Editor, Role::Viewer] {
            assert_eq!(Role::from_db(role.as_str()), role);
        }
    }
}
