//! List use cases on parsed input: creating, renaming, arranging and
//! deleting lists, and their members (roles, leaving, transfer). Every
//! write runs in one transaction with the events it produces: each member
//! gets a list event in their own feed (`LIST_GRANTED`, `LIST_UPDATED`,
//! `LIST_REVOKED`), carrying the list as that member sees it.
//!
//! Membership changes take the list's audience lock exclusive: they wait
//! for todo writes in flight (which hold it shared, see [`super::guard`]) and
//! those wait for them, so a removed member never receives an event of a
//! write that committed after the removal.

use chrono::{DateTime, SubsecRound, Utc};
use diesel_async::AsyncConnection;
use uuid::Uuid;

use super::{
    ListError,
    access::{Action, Role, authorize},
    domain::{ListName, MAX_LISTS_PER_USER, grantable},
    guard,
    model::{self, ListChanges, ListRow, MemberRow, MemberWithUser, Membership},
    position::{self, PositionKey},
};
use crate::{
    auth::model::User,
    db::{Conn, Db},
    events::{
        EventService,
        service::{
            self as events, Change, ListAction, ListEvent, ListSnapshot, Recorded, event_time,
        },
    },
};

mod invitations;

/// Lists.
#[derive(Clone)]
pub struct ListService {
    db: Db,
    events: EventService,
}

/// Now, at the database's precision.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// The list event `action` for each of `members`, as each sees `list`.
fn list_changes(list: &ListRow, members: &[MemberRow], action: ListAction) -> Vec<Change> {
    let occurred_at = event_time();
    members
        .iter()
        .map(|m| {
            Change::List(ListEvent {
                user_id: m.user_id,
                seq: 0,
                action,
                list_id: list.id,
                snapshot: (action != ListAction::Revoked).then(|| ListSnapshot {
                    id: list.id,
                    name: list.name.clone(),
                    owner_id: list.owner_id,
                    role: m.role.clone(),
                    position: m.position.clone(),
                    version: list.version,
                    created_at: list.created_at,
                    updated_at: list.updated_at,
                }),
                occurred_at,
            })
        })
        .collect()
}

/// `LIST_REVOKED` for `users` (who are no longer members).
fn revoked(list: Uuid, users: &[Uuid]) -> Vec<Change> {
    let occurred_at = event_time();
    users
        .iter()
        .map(|u| {
            Change::List(ListEvent {
                user_id: *u,
                seq: 0,
                action: ListAction::Revoked,
                list_id: list,
                snapshot: None,
                occurred_at,
            })
        })
        .collect()
}

/// The current members of `list` as rows.
async fn member_rows(conn: &mut Conn, list: Uuid) -> Result<Vec<MemberRow>, ListError> {
    Ok(model::members_of(conn, &[list])
        .await?
        .into_iter()
        .map(|m| m.member)
        .collect())
}

/// Bumps `list` with `changes`: the list after the change, and the
/// `LIST_UPDATED` events that tell every current member (each with its own
/// view). The caller records them with the transaction's other events in
/// one [`events::record`] call, which keeps the user-id insertion order.
async fn bump_with_updates(
    conn: &mut Conn,
    list: Uuid,
    changes: ListChanges<'_>,
) -> Result<(ListRow, Vec<Change>), ListError> {
    let changes = ListChanges {
        updated_at: Some(now()),
        ..changes
    };
    let row = model::bump(conn, list, &changes).await?;
    let members = member_rows(conn, list).await?;
    let updates = list_changes(&row, &members, ListAction::Updated);
    Ok((row, updates))
}

/// Locks `list` (audience lock exclusive, row FOR UPDATE) and checks `actor` may do `action`: the list and
/// its members before the change.
async fn enter_exclusive(
    conn: &mut Conn,
    list: Uuid,
    actor: Uuid,
    action: Action,
) -> Result<(ListRow, Vec<MemberRow>, Role), ListError> {
    let row = model::lock_exclusive(conn, list)
        .await?
        .ok_or(ListError::NotFound("list"))?;
    let members = member_rows(conn, list).await?;
    let role = members
        .iter()
        .find(|m| m.user_id == actor)
        .map(MemberRow::role);
    let role = authorize(role, action)?;
    Ok((row, members, role))
}

/// Creating a list named `name` under `id` found the id taken: the list
/// when `actor` owns it and it has that name, `CONFLICT` otherwise (the
/// same for a list of someone else's: nothing revealed).
async fn repeated(
    conn: &mut Conn,
    actor: Uuid,
    id: Uuid,
    name: &ListName,
) -> Result<Membership, ListError> {
    const TAKEN: ListError = ListError::Conflict("this id is already in use");
    let Some(list) = model::find_list(conn, id).await? else {
        return Err(TAKEN);
    };
    if list.owner_id != actor || list.name != name.as_str() {
        return Err(TAKEN);
    }
    let member = model::member(conn, id, actor).await?.ok_or(TAKEN)?;
    Ok(Membership { list, member })
}

/// Whether `list` is its owner's default list.
async fn is_default(conn: &mut Conn, list: &ListRow) -> Result<bool, ListError> {
    Ok(model::default_list_of(conn, list.owner_id).await? == list.id)
}

impl ListService {
    /// The service over `db`, recording every change as events.
    pub fn new(db: Db, events: EventService) -> Self {
        Self { db, events }
    }

    /// Every list `user` is a member of, in sidebar order (the caller puts
    /// the default list first).
    pub async fn memberships_of(&self, user: Uuid) -> Result<Vec<Membership>, ListError> {
        let mut conn = self.db.conn().await?;
        Ok(model::memberships_of(&mut conn, user).await?)
    }

    /// The memberships for (user, list) pairs, in one query.
    pub async fn memberships_for(
        &self,
        pairs: &[(Uuid, Uuid)],
    ) -> Result<Vec<Membership>, ListError> {
        let conn = self.db.conn().await?;
        Ok(model::memberships_for(&conn, pairs).await?)
    }

    /// `user`'s membership of `list` (`None`: not a member), on one
    /// connection and in one round trip with `also`'s statements, sent
    /// first: the caller's reads that go with it (the viewer's row; a page
    /// of the list's todos and its members' accounts, which are sent before
    /// the membership's answer is known and so must check it themselves,
    /// as [`Self::member_users_on`] does). `also`'s answer is returned
    /// whatever the membership's.
    pub async fn membership_with<T>(
        &self,
        user: Uuid,
        list: Uuid,
        also: impl AsyncFnOnce(&Conn) -> T,
    ) -> Result<(T, Result<Option<Membership>, ListError>), ListError> {
        let conn = self.db.conn().await?;
        let pair = [(user, list)];
        let (also, found) = futures_util::join!(also(&conn), model::memberships_for(&conn, &pair));
        drop(conn);
        Ok((also, found.map(|mut rows| rows.pop()).map_err(Into::into)))
    }

    /// The accounts of `list`'s members if `member` is one of them (none
    /// otherwise), on a connection the caller holds (shared, so the read
    /// can be pipelined with the membership, [`Self::membership_with`]).
    pub async fn member_users_on(
        conn: &Conn,
        list: Uuid,
        member: Uuid,
    ) -> Result<Vec<User>, ListError> {
        Ok(model::member_users(conn, list, member).await?)
    }

    /// The members of several lists, in one query.
    pub async fn members_of(&self, lists: &[Uuid]) -> Result<Vec<MemberWithUser>, ListError> {
        let mut conn = self.db.conn().await?;
        Ok(model::members_of(&mut conn, lists).await?)
    }

    async fn commit<T>(&self, conn: &mut Conn, outcome: (T, Recorded)) -> T {
        let (value, recorded) = outcome;
        self.events.publish(conn, recorded).await;
        value
    }

    /// A new list owned by `actor`, after its other lists, under `id`
    /// when the client chose one. A taken `id`: the list when `actor` owns
    /// it and its name is `name` (a repeated creation: nothing written),
    /// `CONFLICT` otherwise (nothing revealed of someone else's list).
    #[tracing::instrument(skip_all, fields(user.id = %actor))]
    pub async fn create(
        &self,
        actor: Uuid,
        name: ListName,
        id: Option<Uuid>,
    ) -> Result<Membership, ListError> {
        let mut conn = self.db.conn().await?;
        let outcome = conn
            .transaction::<_, ListError, _>(async |conn| {
                // A repeat is answered even at the limit of lists: look
                // first. The insert below still decides a race.
                if let Some(id) = id
                    && model::find_list(conn, id).await?.is_some()
                {
                    return Ok((repeated(conn, actor, id, &name).await?, Recorded::default()));
                }
                if model::count_memberships(conn, actor).await? >= MAX_LISTS_PER_USER {
                    return Err(ListError::invalid(
                        "name",
                        format!("a user may be a member of at most {MAX_LISTS_PER_USER} lists"),
                    ));
                }
                let last = model::last_position(conn, actor).await?;
                let last = last.as_deref().map(PositionKey::parse).transpose()?;
                let position = position::key_between(last.as_ref(), None)?;
                let at = now();
                let id = id.unwrap_or_else(Uuid::now_v7);
                let inserted = model::insert_list_new(
                    conn,
                    &ListRow {
                        id,
                        name: name.as_str().to_owned(),
                        owner_id: actor,
                        version: 1,
                        created_at: at,
                        updated_at: at,
                    },
                )
                .await?;
                let Some(list) = inserted else {
                    return Ok((repeated(conn, actor, id, &name).await?, Recorded::default()));
                };
                let member = model::insert_member(
                    conn,
                    &MemberRow {
                        list_id: list.id,
                        user_id: actor,
                        role: Role::Owner.as_str().to_owned(),
                        position: position.into_string(),
                        joined_at: at,
                    },
                )
                .await?;
                let recorded = events::record(
                    conn,
                    list_changes(&list, std::slice::from_ref(&member), ListAction::Granted),
                )
                .await?;
                Ok((Membership { list, member }, recorded))
            })
            .await?;
        Ok(self.commit(&mut conn, outcome).await)
    }

    /// Renames `list` (OWNER or EDITOR) and/or moves it in the caller's own
    /// sidebar (any member: seen by the caller alone, the list's version
    /// unchanged).
    #[tracing::instrument(skip_all, fields(user.id = %actor, list.id = %list))]
    pub async fn update(
        &self,
        actor: Uuid,
        list: Uuid,
        name: Option<ListName>,
        position: Option<PositionKey>,
        expected_version: Option<i32>,
    ) -> Result<Membership, ListError> {
        let mut conn = self.db.conn().await?;
        let outcome = conn
            .transaction::<_, ListError, _>(async |conn| {
                let action = match name {
                    Some(_) => Action::Rename,
                    None => Action::Arrange,
                };
                guard::enter(conn, list, actor, action).await?;
                let mut row = model::lock_for_rename(conn, list)
                    .await?
                    .ok_or(ListError::NotFound("list"))?;
                if let Some(expected) = expected_version
                    && expected != row.version
                {
                    return Err(ListError::VersionConflict {
                        expected,
                        actual: row.version,
                    });
                }
                if let Some(position) = &position {
                    model::set_member_position(conn, list, actor, position.as_str())
                        .await?
                        .ok_or(ListError::NotFound("list"))?;
                }
                let changes = match name.as_ref().filter(|n| n.as_str() != row.name) {
                    // A rename: every member hears of it (the caller with its
                    // new position, if it moved the list too).
                    Some(name) => {
                        let (renamed, changes) = bump_with_updates(
                            conn,
                            list,
                            ListChanges {
                                name: Some(name.as_str()),
                                ..ListChanges::default()
                            },
                        )
                        .await?;
                        row = renamed;
                        changes
                    }
                    // A move in the caller's sidebar: the caller alone hears
                    // of it, and the list's version stays.
                    None if position.is_some() => {
                        let member = model::member(conn, list, actor).await?;
                        list_changes(&row, member.as_slice(), ListAction::Updated)
                    }
                    None => Vec::new(),
                };
                let recorded = events::record(conn, changes).await?;
                let member = model::member(conn, list, actor)
                    .await?
                    .ok_or(ListError::NotFound("list"))?;
                Ok((Membership { list: row, member }, recorded))
            })
            .await?;
        Ok(self.commit(&mut conn, outcome).await)
    }

    /// Deletes `list` with its todos (OWNER only; not a default list).
    #[tracing::instrument(skip_all, fields(user.id = %actor, list.id = %list))]
    pub async fn delete(&self, actor: Uuid, list: Uuid) -> Result<Uuid, ListError> {
        let mut conn = self.db.conn().await?;
        let outcome = conn
            .transaction::<_, ListError, _>(async |conn| {
                let (row, members, _) = enter_exclusive(conn, list, actor, Action::Delete).await?;
                if is_default(conn, &row).await? {
                    return Err(ListError::invalid("id", "a default list cannot be deleted"));
                }
                model::delete_list(conn, list).await?;
                let users: Vec<Uuid> = members.iter().map(|m| m.user_id).collect();
                let recorded = events::record(conn, revoked(list, &users)).await?;
                Ok((list, recorded))
            })
            .await?;
        Ok(self.commit(&mut conn, outcome).await)
    }

    /// Gives member `user` of `list` another role (OWNER only; EDITOR or
    /// VIEWER).
    #[tracing::instrument(skip_all, fields(user.id = %actor, list.id = %list))]
    pub async fn change_role(
        &self,
        actor: Uuid,
        list: Uuid,
        user: Uuid,
        role: Role,
    ) -> Result<MemberWithUser, ListError> {
        let mut conn = self.db.conn().await?;
        let outcome = conn
            .transaction::<_, ListError, _>(async |conn| {
                let (_, members, _) =
                    enter_exclusive(conn, list, actor, Action::ManageMembers).await?;
                let role = grantable(role, "role")?;
                let target = members
                    .iter()
                    .find(|m| m.user_id == user)
                    .ok_or(ListError::NotFound("member"))?;
                if target.role() == Role::Owner {
                    return Err(ListError::invalid(
                        "userId",
                        "the OWNER's role changes only by transferList",
                    ));
                }
                let mut recorded = Recorded::default();
                if target.role() != role {
                    model::set_role(conn, list, user, role).await?;
                    let updates = bump_with_updates(conn, list, ListChanges::default())
                        .await?
                        .1;
                    recorded = events::record(conn, updates).await?;
                }
                let member = model::members_of(conn, &[list])
                    .await?
                    .into_iter()
                    .find(|m| m.member.user_id == user)
                    .ok_or(ListError::NotFound("member"))?;
                Ok((member, recorded))
            })
            .await?;
        Ok(self.commit(&mut conn, outcome).await)
    }

    /// Removes `user` from `list`: the OWNER removes anyone else; any other
    /// member may remove itself. Whether a member was removed.
    #[tracing::instrument(skip_all, fields(user.id = %actor, list.id = %list))]
    pub async fn remove_member(
        &self,
        actor: Uuid,
        list: Uuid,
        user: Uuid,
    ) -> Result<bool, ListError> {
        let mut conn = self.db.conn().await?;
        let outcome = conn
            .transaction::<_, ListError, _>(async |conn| {
                let action = match user == actor {
                    true => Action::Leave,
                    false => Action::ManageMembers,
                };
                let (_, members, role) = enter_exclusive(conn, list, actor, action).await?;
                if user == actor && role == Role::Owner {
                    return Err(ListError::invalid(
                        "userId",
                        "the OWNER cannot leave the list (transferList first)",
                    ));
                }
                if !members.iter().any(|m| m.user_id == user) {
                    return Ok((false, Recorded::default()));
                }
                model::delete_member(conn, list, user).await?;
                let mut changes = revoked(list, &[user]);
                changes.extend(
                    bump_with_updates(conn, list, ListChanges::default())
                        .await?
                        .1,
                );
                let recorded = events::record(conn, changes).await?;
                Ok((true, recorded))
            })
            .await?;
        Ok(self.commit(&mut conn, outcome).await)
    }

    /// Makes member `user` the OWNER of `list`; the caller (the OWNER)
    /// becomes an EDITOR. Not for a default list.
    #[tracing::instrument(skip_all, fields(user.id = %actor, list.id = %list))]
    pub async fn transfer(
        &self,
        actor: Uuid,
        list: Uuid,
        user: Uuid,
    ) -> Result<Membership, ListError> {
        let mut conn = self.db.conn().await?;
        let outcome = conn
            .transaction::<_, ListError, _>(async |conn| {
                let (row, members, _) =
                    enter_exclusive(conn, list, actor, Action::Transfer).await?;
                if is_default(conn, &row).await? {
                    return Err(ListError::invalid(
                        "listId",
                        "a default list cannot be transferred",
                    ));
                }
                if user == actor {
                    return Err(ListError::invalid("userId", "is already the OWNER"));
                }
                if !members.iter().any(|m| m.user_id == user) {
                    return Err(ListError::invalid("userId", "is not a member of this list"));
                }
                // Demote first: at most one OWNER at any moment.
                model::set_role(conn, list, actor, Role::Editor).await?;
                model::set_role(conn, list, user, Role::Owner).await?;
                let (row, updates) = bump_with_updates(
                    conn,
                    list,
                    ListChanges {
                        owner_id: Some(user),
                        ..ListChanges::default()
                    },
                )
                .await?;
                let recorded = events::record(conn, updates).await?;
                let member = model::member(conn, list, actor)
                    .await?
                    .ok_or(ListError::NotFound("list"))?;
                Ok((Membership { list: row, member }, recorded))
            })
            .await?;
        Ok(self.commit(&mut conn, outcome).await)
    }
}
