//! Diesel queries of the trash: the todos whose `deleted_at` is set. Only
//! these queries see them; everything else reads [`super::live`] todos.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::TodoRow;
use crate::{db::Conn, schema::todos, todos::cursor::TrashCursor};

/// The trashed todos.
fn trashed() -> diesel::dsl::Filter<todos::table, diesel::dsl::IsNotNull<todos::deleted_at>> {
    todos::table.filter(todos::deleted_at.is_not_null())
}

/// One page of `list`'s trash, most recently deleted first (ties by id):
/// up to `first + 1` rows strictly after `after` (the extra one tells
/// whether there is a next page). Served by `todos_trash_idx`.
pub async fn page(
    conn: &mut Conn,
    list: Uuid,
    after: Option<&TrashCursor>,
    first: i64,
) -> QueryResult<Vec<TodoRow>> {
    let mut query = trashed().filter(todos::list_id.eq(list)).into_boxed();
    if let Some(TrashCursor { deleted_at, id }) = after {
        query = query.filter(
            todos::deleted_at
                .lt(deleted_at)
                .or(todos::deleted_at.eq(deleted_at).and(todos::id.gt(id))),
        );
    }
    query
        .order((todos::deleted_at.desc(), todos::id.asc()))
        .limit(first + 1)
        .select(TodoRow::as_select())
        .load(conn)
        .await
}

/// How many todos `list`'s trash holds.
pub async fn count(conn: &mut Conn, list: Uuid) -> QueryResult<i64> {
    trashed()
        .filter(todos::list_id.eq(list))
        .count()
        .get_result(conn)
        .await
}

/// The list of trashed todo `id` (no lock: the restore enters the list,
/// then locks the todo and checks it is still in that list's trash).
pub async fn list_of(conn: &mut Conn, id: Uuid) -> QueryResult<Option<Uuid>> {
    trashed()
        .filter(todos::id.eq(id))
        .select(todos::list_id)
        .first(conn)
        .await
        .optional()
}

/// Trashed todo `id` of `list`, locked until the transaction ends.
pub async fn lock_in_list(conn: &mut Conn, list: Uuid, id: Uuid) -> QueryResult<Option<TodoRow>> {
    trashed()
        .filter(todos::id.eq(id).and(todos::list_id.eq(list)))
        .select(TodoRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
}

/// Whether a live todo of `list` holds position key `key`.
pub async fn position_taken(conn: &mut Conn, list: Uuid, key: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        super::live().filter(todos::list_id.eq(list).and(todos::position.eq(key))),
    ))
    .get_result(conn)
    .await
}

/// Brings trashed todo `id` back at `position`, bumping its version.
pub async fn restore(
    conn: &mut Conn,
    id: Uuid,
    position: &str,
    at: DateTime<Utc>,
) -> QueryResult<TodoRow> {
    diesel::update(trashed().filter(todos::id.eq(id)))
        .set((
            todos::deleted_at.eq(None::<DateTime<Utc>>),
            todos::position.eq(position),
            todos::updated_at.eq(at),
            todos::version.eq(todos::version + 1),
        ))
        .returning(TodoRow::as_returning())
        .get_result(conn)
        .await
}

/// Deletes `list`'s trash for good; returns how many todos went.
pub async fn empty(conn: &mut Conn, list: Uuid) -> QueryResult<usize> {
    diesel::delete(trashed().filter(todos::list_id.eq(list)))
        .execute(conn)
        .await
}

/// Deletes for good up to `batch` todos trashed before `cutoff`, oldest
/// first; returns how many. Rows locked by a restore in flight are skipped
/// (the next round sees them again if they are still in the trash), so the
/// purge never waits on a user's write. Served by `todos_trash_purge_idx`.
pub async fn purge(conn: &mut Conn, cutoff: DateTime<Utc>, batch: i64) -> QueryResult<usize> {
    use diesel::sql_types::{BigInt, Timestamptz};
    diesel::sql_query(
        "DELETE FROM todos WHERE id IN ( \
             SELECT id FROM todos \
             WHERE deleted_at IS NOT NULL AND deleted_at < $1 \
             ORDER BY deleted_at LIMIT $2 \
             FOR UPDATE SKIP LOCKED)",
    )
    .bind::<Timestamptz, _>(cutoff)
    .bind::<BigInt, _>(batch)
    .execute(conn)
    .await
}
