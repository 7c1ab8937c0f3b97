//! Diesel rows and queries for todo events.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use crate::{
    db::Conn,
    schema::{todo_events, users},
};

/// An event row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = todo_events, check_for_backend(diesel::pg::Pg))]
pub struct EventRow {
    /// Owner.
    pub user_id: Uuid,
    /// Per-user sequence number.
    pub seq: i64,
    /// `CREATED`, `UPDATED` or `DELETED`.
    pub kind: String,
    /// The todo.
    pub todo_id: Uuid,
    /// The todo after the change.
    pub snapshot: Option<serde_json::Value>,
    /// Commit time.
    pub occurred_at: DateTime<Utc>,
}

/// An event to insert.
#[derive(Debug, Insertable)]
#[diesel(table_name = todo_events)]
pub struct NewEvent<'a> {
    /// Owner.
    pub user_id: Uuid,
    /// Per-user sequence number.
    pub seq: i64,
    /// Kind.
    pub kind: &'a str,
    /// The todo.
    pub todo_id: Uuid,
    /// The todo after the change.
    pub snapshot: Option<serde_json::Value>,
    /// Commit time.
    pub occurred_at: DateTime<Utc>,
}

/// Reserves `n` sequence numbers for `user`, returning the last one. The
/// row lock this takes is held to commit, so a user's events commit in
/// sequence order.
pub async fn reserve(conn: &mut Conn, user: Uuid, n: i64) -> QueryResult<i64> {
    diesel::update(users::table.find(user))
        .set(users::event_seq.eq(users::event_seq + n))
        .returning(users::event_seq)
        .get_result(conn)
        .await
}

/// Inserts events.
pub async fn insert(conn: &mut Conn, events: &[NewEvent<'_>]) -> QueryResult<()> {
    diesel::insert_into(todo_events::table)
        .values(events)
        .execute(conn)
        .await
        .map(drop)
}

/// Up to `limit` of `user`'s events after `seq`, in order.
pub async fn after(
    conn: &mut Conn,
    user: Uuid,
    seq: i64,
    limit: i64,
) -> QueryResult<Vec<EventRow>> {
    todo_events::table
        .filter(todo_events::user_id.eq(user).and(todo_events::seq.gt(seq)))
        .order(todo_events::seq.asc())
        .limit(limit)
        .select(EventRow::as_select())
        .load(conn)
        .await
}

/// The last sequence number handed out for `user`.
pub async fn current_seq(conn: &mut Conn, user: Uuid) -> QueryResult<i64> {
    users::table
        .find(user)
        .select(users::event_seq)
        .first(conn)
        .await
}

/// The oldest retained sequence number of `user`.
pub async fn oldest_seq(conn: &mut Conn, user: Uuid) -> QueryResult<Option<i64>> {
    todo_events::table
        .filter(todo_events::user_id.eq(user))
        .select(diesel::dsl::min(todo_events::seq))
        .first(conn)
        .await
}

/// Deletes events that occurred before `cutoff`; returns how many.
pub async fn prune(conn: &mut Conn, cutoff: DateTime<Utc>) -> QueryResult<usize> {
    diesel::delete(todo_events::table.filter(todo_events::occurred_at.lt(cutoff)))
        .execute(conn)
        .await
}
