//! Entering a list inside a write transaction: lock its audience, find
//! the caller's role in it and ask [`super::access::authorize`]. Every
//! write to a list or its todos goes through [`enter`], so the rule is
//! applied in one place and the events of the write reach exactly the
//! members the lock froze.

use uuid::Uuid;

use super::{
    access::{Action, Denied, Role, authorize},
    model,
};
use crate::db::Conn;

/// The members of a list as locked by [`enter`], and the caller's role.
#[derive(Debug, Clone)]
pub struct Audience {
    /// Every member, in user-id order (the order events are inserted in).
    pub members: Vec<(Uuid, Role)>,
    /// The caller's role.
    pub role: Role,
}

impl Audience {
    /// The members' ids, in user-id order.
    pub fn users(&self) -> Vec<Uuid> {
        self.members.iter().map(|(u, _)| *u).collect()
    }

    /// Whether `user` is a member.
    pub fn contains(&self, user: Uuid) -> bool {
        self.members.iter().any(|(u, _)| *u == user)
    }
}

/// Why [`enter`] failed.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// Not a member, or the role does not allow the action.
    #[error("refused: {0:?}")]
    Denied(Denied),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

/// Locks `list`'s audience (see [`model::lock_audience`]) and checks that
/// `actor` may do `action` there.
pub async fn enter(
    conn: &Conn,
    list: Uuid,
    actor: Uuid,
    action: Action,
) -> Result<Audience, Refused> {
    let members = model::lock_audience(conn, list).await?;
    admit(members, actor, action)
}

/// The audience of a list whose `members` were read under its audience
/// lock (by [`enter`], or by `super::audience` for a todo's list), if
/// `actor` may do `action` there.
pub fn admit(members: Vec<(Uuid, Role)>, actor: Uuid, action: Action) -> Result<Audience, Refused> {
    let role = members.iter().find(|(u, _)| *u == actor).map(|(_, r)| *r);
    let role = authorize(role, action).map_err(Refused::Denied)?;
    Ok(Audience { members, role })
}
