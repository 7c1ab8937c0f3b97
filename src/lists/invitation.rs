//! Diesel rows and queries for invitations to lists. An invitation is
//! *pending* while it is neither accepted nor cancelled and has not
//! expired.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use crate::{
    auth::model::lower,
    db::Conn,
    schema::{list_invitations, list_members, lists, users},
};

/// An invitation row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, PartialEq, Eq)]
#[diesel(table_name = list_invitations, check_for_backend(diesel::pg::Pg))]
pub struct InvitationRow {
    /// Id.
    pub id: Uuid,
    /// The list.
    pub list_id: Uuid,
    /// The invited address, as the inviter typed it.
    pub email: String,
    /// `EDITOR` or `VIEWER`.
    pub role: String,
    /// The OWNER who invited.
    pub invited_by: Uuid,
    /// Sent.
    pub created_at: DateTime<Utc>,
    /// Lapses.
    pub expires_at: DateTime<Utc>,
    /// Accepted.
    pub accepted_at: Option<DateTime<Utc>>,
    /// Declined or withdrawn.
    pub cancelled_at: Option<DateTime<Utc>>,
}

impl InvitationRow {
    /// Whether it can still be accepted at `now`.
    pub fn pending(&self, now: DateTime<Utc>) -> bool {
        self.accepted_at.is_none() && self.cancelled_at.is_none() && self.expires_at > now
    }
}

/// An invitation with what its readers see of the list and the inviter.
#[derive(Debug, Clone, Queryable, PartialEq, Eq)]
pub struct InvitationView {
    /// The invitation.
    pub row: InvitationRow,
    /// The list's name.
    pub list_name: String,
    /// The inviter's email.
    pub inviter_email: String,
    /// The inviter's display name.
    pub inviter_name: Option<String>,
}

/// What [`views`] selects.
type ViewColumns = (
    diesel::dsl::AsSelect<InvitationRow, diesel::pg::Pg>,
    lists::name,
    users::email,
    users::display_name,
);

/// The tables [`views`] reads.
type ViewTables = diesel::dsl::InnerJoin<
    diesel::dsl::InnerJoin<list_invitations::table, lists::table>,
    users::table,
>;

/// Invitations with their list and inviter, as a boxed query to filter.
fn views<'a>()
-> diesel::dsl::IntoBoxed<'a, diesel::dsl::Select<ViewTables, ViewColumns>, diesel::pg::Pg> {
    list_invitations::table
        .inner_join(lists::table)
        .inner_join(users::table)
        .select((
            InvitationRow::as_select(),
            lists::name,
            users::email,
            users::display_name,
        ))
        .into_boxed()
}

/// One invitation.
pub async fn find(conn: &mut Conn, id: Uuid) -> QueryResult<Option<InvitationView>> {
    views()
        .filter(list_invitations::id.eq(id))
        .first(conn)
        .await
        .optional()
}

/// The pending invitations of `list`, oldest first.
pub async fn pending_of_list(
    conn: &mut Conn,
    list: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<Vec<InvitationView>> {
    views()
        .filter(list_invitations::list_id.eq(list))
        .filter(list_invitations::accepted_at.is_null())
        .filter(list_invitations::cancelled_at.is_null())
        .filter(list_invitations::expires_at.gt(now))
        .order((
            list_invitations::created_at.asc(),
            list_invitations::id.asc(),
        ))
        .load(conn)
        .await
}

/// The pending invitations addressed to `email` (case-insensitively).
pub async fn pending_for_email(
    conn: &mut Conn,
    email: &str,
    now: DateTime<Utc>,
) -> QueryResult<Vec<InvitationView>> {
    views()
        .filter(lower(list_invitations::email).eq(lower(email.to_owned())))
        .filter(list_invitations::accepted_at.is_null())
        .filter(list_invitations::cancelled_at.is_null())
        .filter(list_invitations::expires_at.gt(now))
        .order((
            list_invitations::created_at.asc(),
            list_invitations::id.asc(),
        ))
        .load(conn)
        .await
}

/// How many invitations of `list` are pending.
pub async fn count_pending(conn: &mut Conn, list: Uuid, now: DateTime<Utc>) -> QueryResult<i64> {
    list_invitations::table
        .filter(list_invitations::list_id.eq(list))
        .filter(list_invitations::accepted_at.is_null())
        .filter(list_invitations::cancelled_at.is_null())
        .filter(list_invitations::expires_at.gt(now))
        .count()
        .get_result(conn)
        .await
}

/// How many invitations `inviter` sent since `since`.
pub async fn count_sent_since(
    conn: &mut Conn,
    inviter: Uuid,
    since: DateTime<Utc>,
) -> QueryResult<i64> {
    list_invitations::table
        .filter(list_invitations::invited_by.eq(inviter))
        .filter(list_invitations::created_at.gt(since))
        .count()
        .get_result(conn)
        .await
}

/// Cancels the expired, unanswered invitations of `list` to `email`, so
/// the address can be invited again (the unique index allows one
/// unanswered invitation per list and address).
pub async fn retire_expired(
    conn: &mut Conn,
    list: Uuid,
    email: &str,
    now: DateTime<Utc>,
) -> QueryResult<usize> {
    diesel::update(
        list_invitations::table
            .filter(list_invitations::list_id.eq(list))
            .filter(lower(list_invitations::email).eq(lower(email.to_owned())))
            .filter(list_invitations::accepted_at.is_null())
            .filter(list_invitations::cancelled_at.is_null())
            .filter(list_invitations::expires_at.le(now)),
    )
    .set(list_invitations::cancelled_at.eq(now))
    .execute(conn)
    .await
}

/// Whether a member of `list` has the address `email`.
pub async fn member_has_email(conn: &mut Conn, list: Uuid, email: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        list_members::table
            .inner_join(users::table)
            .filter(list_members::list_id.eq(list))
            .filter(lower(users::email).eq(lower(email.to_owned()))),
    ))
    .get_result(conn)
    .await
}

/// Inserts an invitation.
pub async fn insert(conn: &mut Conn, row: &InvitationRow) -> QueryResult<InvitationRow> {
    diesel::insert_into(list_invitations::table)
        .values(row)
        .returning(InvitationRow::as_returning())
        .get_result(conn)
        .await
}

/// Locks an invitation until the transaction ends.
pub async fn lock(conn: &mut Conn, id: Uuid) -> QueryResult<Option<InvitationRow>> {
    list_invitations::table
        .find(id)
        .select(InvitationRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
}

/// Marks an invitation accepted (`accepted`) or cancelled.
pub async fn answer(
    conn: &mut Conn,
    id: Uuid,
    accepted: bool,
    now: DateTime<Utc>,
) -> QueryResult<usize> {
    let target = list_invitations::table.find(id);
    match accepted {
        true => {
            diesel::update(target)
                .set(list_invitations::accepted_at.eq(now))
                .execute(conn)
                .await
        }
        false => {
            diesel::update(target)
                .set(list_invitations::cancelled_at.eq(now))
                .execute(conn)
                .await
        }
    }
}
