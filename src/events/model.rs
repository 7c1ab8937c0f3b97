//! Diesel rows and queries for events (todo and list events share one
//! table and one per-user sequence).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use crate::{
    db::Conn,
    schema::{todo_events, users},
    write_claim::WriteClaim,
};

/// An event row as readers see it: numbered (readers never select rows
/// whose `seq` is still null).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = todo_events, check_for_backend(diesel::pg::Pg))]
pub struct EventRow {
    /// Owner.
    pub user_id: Uuid,
    /// Per-user sequence number (always set on rows read after a cursor).
    #[diesel(select_expression = todo_events::seq.assume_not_null())]
    pub seq: i64,
    /// `CREATED`, `UPDATED`, `DELETED`, or `LIST_*` for list events.
    pub kind: String,
    /// The todo (null for list events).
    pub todo_id: Option<Uuid>,
    /// The todo (or list) after the change.
    pub snapshot: Option<serde_json::Value>,
    /// Commit time.
    pub occurred_at: DateTime<Utc>,
    /// The list.
    pub list_id: Uuid,
    /// For a move between lists: the list the todo left.
    pub from_list_id: Option<Uuid>,
}

/// An event to insert. It has no sequence number yet: the commit-time
/// trigger `todo_events_number` gives it one (see the migration
/// `event_numbering_at_commit`), so no user row is locked before COMMIT.
#[derive(Debug, Insertable)]
#[diesel(table_name = todo_events)]
pub struct NewEvent<'a> {
    /// Owner.
    pub user_id: Uuid,
    /// Kind.
    pub kind: &'a str,
    /// The todo (None for list events).
    pub todo_id: Option<Uuid>,
    /// The todo (or list) after the change.
    pub snapshot: Option<serde_json::Value>,
    /// Commit time.
    pub occurred_at: DateTime<Utc>,
    /// The list.
    pub list_id: Uuid,
    /// For a move between lists: the list the todo left.
    pub from_list_id: Option<Uuid>,
}

/// Inserts events (unnumbered), returning their row ids in insertion order.
pub async fn insert(conn: &mut Conn, events: &[NewEvent<'_>]) -> QueryResult<Vec<i64>> {
    diesel::insert_into(todo_events::table)
        .values(events)
        .returning(todo_events::id)
        .get_results(conn)
        .await
}

/// The claimed form of [`insert`], for a write made under an idempotency
/// key: one statement marks the claim applied (in a CTE, inside the
/// caller's transaction) and inserts the events only if the claim is still
/// this run's. A claim taken over after its lease ended (see
/// `idempotency::service`) makes this fail, so the old run rolls back and
/// the key's write is never applied twice.
pub async fn insert_claimed(
    conn: &mut Conn,
    events: &[NewEvent<'_>],
    claim: &WriteClaim,
) -> QueryResult<Vec<i64>> {
    use diesel::sql_types::{Array, Jsonb, Nullable, Text, Timestamptz};
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        id: i64,
    }
    let ids: Vec<Id> = diesel::sql_query(
        "WITH claim AS ( \
             UPDATE idempotency_keys SET applied_at = coalesce(applied_at, now()) \
             WHERE scope = $1 AND key = $2 AND token = $3 AND state = 'running' \
             RETURNING 1) \
         INSERT INTO todo_events \
             (user_id, kind, todo_id, snapshot, occurred_at, list_id, from_list_id) \
         SELECT e.user_id, e.kind, e.todo_id, e.snapshot, e.occurred_at, e.list_id, e.from_list_id \
         FROM unnest($4::uuid[], $5::text[], $6::uuid[], $7::jsonb[], $8::timestamptz[], \
                     $9::uuid[], $10::uuid[]) WITH ORDINALITY \
              AS e(user_id, kind, todo_id, snapshot, occurred_at, list_id, from_list_id, n) \
         WHERE EXISTS (SELECT 1 FROM claim) \
         ORDER BY e.n \
         RETURNING id",
    )
    .bind::<Text, _>(&claim.scope)
    .bind::<Text, _>(&claim.key)
    .bind::<diesel::sql_types::Uuid, _>(claim.token)
    .bind::<Array<diesel::sql_types::Uuid>, _>(events.iter().map(|e| e.user_id).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(events.iter().map(|e| e.kind).collect::<Vec<_>>())
    .bind::<Array<Nullable<diesel::sql_types::Uuid>>, _>(
        events.iter().map(|e| e.todo_id).collect::<Vec<_>>(),
    )
    .bind::<Array<Nullable<Jsonb>>, _>(
        events
            .iter()
            .map(|e| e.snapshot.clone())
            .collect::<Vec<_>>(),
    )
    .bind::<Array<Timestamptz>, _>(events.iter().map(|e| e.occurred_at).collect::<Vec<_>>())
    .bind::<Array<diesel::sql_types::Uuid>, _>(events.iter().map(|e| e.list_id).collect::<Vec<_>>())
    .bind::<Array<Nullable<diesel::sql_types::Uuid>>, _>(
        events.iter().map(|e| e.from_list_id).collect::<Vec<_>>(),
    )
    .load(conn)
    .await?;
    if ids.len() != events.len() {
        // The claim is no longer this run's: roll the write back.
        return Err(diesel::result::Error::QueryBuilderError(
            "the idempotency claim was taken over by a later request".into(),
        ));
    }
    Ok(ids.into_iter().map(|row| row.id).collect())
}

/// The sequence numbers the commit gave the rows `ids`, as `(id, seq)`.
/// Rows of a transaction that rolled back are absent.
pub async fn numbers(conn: &mut Conn, ids: &[i64]) -> QueryResult<Vec<(i64, i64)>> {
    todo_events::table
        .filter(todo_events::id.eq_any(ids))
        .filter(todo_events::seq.is_not_null())
        .select((todo_events::id, todo_events::seq.assume_not_null()))
        .load(conn)
        .await
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

/// One row of a pull-feed page ([`page`]): the user's bounds, repeated on
/// every row, and one event (all event columns null when the page is
/// empty or the cursor is refused: the bounds row is always there).
#[derive(Debug, QueryableByName)]
struct PageRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    current_seq: i64,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    oldest_seq: Option<i64>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    seq: Option<i64>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    kind: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
    todo_id: Option<Uuid>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Jsonb>)]
    snapshot: Option<serde_json::Value>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>)]
    occurred_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
    list_id: Option<Uuid>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
    from_list_id: Option<Uuid>,
}

/// A user's position and a page of their events, read in one snapshot.
#[derive(Debug)]
pub struct Page {
    /// The last sequence number handed out (`users.event_seq`; 0 for a
    /// user without events).
    pub current: i64,
    /// The oldest retained sequence number, if any event is retained.
    pub oldest: Option<i64>,
    /// Up to `limit` events after the cursor, in order; empty when the
    /// cursor is past `current` or older than what is retained (the caller
    /// tells which from `current` and `oldest`).
    pub rows: Vec<EventRow>,
}

/// The pull feed's one statement: `user`'s bounds (`users.event_seq` and
/// the oldest retained `seq`) and up to `limit` events after `after` (from
/// the oldest without it), the page read only when the cursor is usable
/// (the rule of `feed::check_cursor`, repeated in SQL so a refused cursor
/// reads no event). One statement means one snapshot: the bounds and the
/// rows agree even while commits number new events.
///
/// `EXPLAIN (ANALYZE, BUFFERS)` of the generic plan, for a user with 5,000
/// events among 100,000 (20 users with events, 2,000 users), 501 rows:
///
/// ```text
/// Nested Loop Left Join (actual rows=501)             shared hit=169
///   CTE b
///     -> Index Scan using users_pkey on users u        (id = $1)
///          InitPlan 1
///            -> Limit -> Index Only Scan using todo_events_user_seq_idx on todo_events o
///                 Index Cond: ((user_id = $1) AND (seq IS NOT NULL))
///   -> CTE Scan on b (actual rows=1)
///   -> Limit (actual rows=501)
///        -> Result  One-Time Filter: ($2 IS NULL) OR ($2 = b.current_seq) OR (...)
///             -> Index Scan using todo_events_user_seq_idx on todo_events t
///                  Index Cond: ((user_id = $1) AND (seq > COALESCE($2, 0)))
/// Execution Time: 0.4–1 ms
/// ```
///
/// Both reads of `todo_events` walk the `(user_id, seq)` index: the page
/// costs `limit` index entries from the cursor whatever the user's history,
/// with no sort; with an expired cursor the one-time filter fails and the
/// page's scan is never executed. `MATERIALIZED` keeps the bounds one row
/// computed once: inlined, PostgreSQL re-ran the oldest-event subquery for
/// every row of the page. The rows come in `seq` order from the lateral
/// scan; they are sorted again here (no outer `ORDER BY`, which planned a
/// Sort node) because SQL promises no order through a join.
pub async fn page(
    conn: &mut Conn,
    user: Uuid,
    after: Option<i64>,
    limit: i64,
) -> QueryResult<Page> {
    use diesel::sql_types::{BigInt, Nullable};
    let rows: Vec<PageRow> = diesel::sql_query(
        "WITH b AS MATERIALIZED ( \
           SELECT u.event_seq AS current_seq, \
                  (SELECT o.seq FROM todo_events o \
                    WHERE o.user_id = $1 AND o.seq IS NOT NULL \
                    ORDER BY o.seq LIMIT 1) AS oldest_seq \
           FROM users u WHERE u.id = $1 \
         ) \
         SELECT b.current_seq, b.oldest_seq, e.seq, e.kind, e.todo_id, e.snapshot, \
                e.occurred_at, e.list_id, e.from_list_id \
         FROM b LEFT JOIN LATERAL ( \
           SELECT t.seq, t.kind, t.todo_id, t.snapshot, t.occurred_at, t.list_id, t.from_list_id \
           FROM todo_events t \
           WHERE t.user_id = $1 AND t.seq > COALESCE($2, 0) \
             AND ($2 IS NULL OR $2 = b.current_seq \
                  OR ($2 < b.current_seq AND b.oldest_seq <= $2 + 1)) \
           ORDER BY t.seq \
           LIMIT $3 \
         ) e ON true",
    )
    .bind::<diesel::sql_types::Uuid, _>(user)
    .bind::<Nullable<BigInt>, _>(after)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await?;
    let (current, oldest) =
        <[PageRow]>::first(&rows).map_or((0, None), |r| (r.current_seq, r.oldest_seq));
    let mut rows = rows
        .into_iter()
        .filter_map(|r| {
            Some(EventRow {
                user_id: user,
                seq: r.seq?,
                kind: r.kind?,
                todo_id: r.todo_id,
                snapshot: r.snapshot,
                occurred_at: r.occurred_at?,
                list_id: r.list_id?,
                from_list_id: r.from_list_id,
            })
        })
        .collect::<Vec<_>>();
    rows.sort_by_key(|r| r.seq);
    Ok(Page {
        current,
        oldest,
        rows,
    })
}
