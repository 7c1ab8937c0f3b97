//! Diesel rows and queries for events (todo and list events share one
//! table and one per-user sequence).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use crate::{
    db::{
        Conn,
        fixed::{Fixed, FixedText},
    },
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
#[derive(Debug)]
pub struct NewEvent<'a> {
    /// Owner.
    pub user_id: Uuid,
    /// Kind.
    pub kind: &'a str,
    /// The todo (None for list events).
    pub todo_id: Option<Uuid>,
    /// The todo (or list) after the change, as JSON text.
    pub snapshot: Option<&'a str>,
    /// Commit time.
    pub occurred_at: DateTime<Utc>,
    /// The list.
    pub list_id: Uuid,
    /// For a move between lists: the list the todo left.
    pub from_list_id: Option<Uuid>,
}

/// Inserts events (unnumbered), returning their row ids in insertion order.
/// One statement whatever the number of rows (the rows go as arrays), so
/// diesel keeps it prepared and it can be pipelined (`db::pipeline`).
pub async fn insert(conn: &Conn, events: &[NewEvent<'_>]) -> QueryResult<Vec<i64>> {
    InsertEvents::plain(events).load(&mut { conn }).await
}

/// The claimed form of [`insert`], for a write made under an idempotency
/// key: one statement marks the claim applied (in a CTE, inside the
/// caller's transaction) and inserts the events only if the claim is still
/// this run's. A claim taken over after its lease ended (see
/// `idempotency::service`) makes this fail, so the old run rolls back and
/// the key's write is never applied twice.
pub async fn insert_claimed(
    conn: &Conn,
    events: &[NewEvent<'_>],
    claim: &WriteClaim,
) -> QueryResult<Vec<i64>> {
    let ids: Vec<i64> = InsertEvents::claimed(events, claim)
        .load(&mut { conn })
        .await?;
    if ids.len() != events.len() {
        // The claim is no longer this run's: roll the write back.
        return Err(diesel::result::Error::QueryBuilderError(
            "the idempotency claim was taken over by a later request".into(),
        ));
    }
    Ok(ids)
}

/// `INSERT INTO todo_events … SELECT … FROM unnest(…) RETURNING id`, with
/// the claim's CTE when under an idempotency key. Written as a query type
/// rather than `diesel::sql_query` (which diesel never keeps prepared) or
/// a multi-row `VALUES` insert (whose text changes with the row count): a
/// statement prepared once per connection costs one round trip, not two,
/// and does not stall a pipeline behind its prepare.
///
/// Its two texts (`F`: [`Plain`], [`Claimed`]) are two query ids, so
/// diesel finds their prepared statements by type rather than by hashing
/// the text on every use; only [`InsertEvents::plain`] and
/// [`InsertEvents::claimed`] make one, so the form always matches the text.
struct InsertEvents<'a, F> {
    claim: Option<&'a WriteClaim>,
    form: std::marker::PhantomData<F>,
    user_ids: Vec<Uuid>,
    kinds: Vec<&'a str>,
    todo_ids: Vec<Option<Uuid>>,
    snapshots: Vec<Option<JsonbText<'a>>>,
    occurred_at: Vec<DateTime<Utc>>,
    list_ids: Vec<Uuid>,
    from_list_ids: Vec<Option<Uuid>>,
}

/// The form of [`InsertEvents`] without a claim.
struct Plain;

/// The form of [`InsertEvents`] under an idempotency claim.
struct Claimed;

impl<'a> InsertEvents<'a, Plain> {
    fn plain(events: &'a [NewEvent<'a>]) -> Self {
        Self::with(events, None)
    }
}

impl<'a> InsertEvents<'a, Claimed> {
    fn claimed(events: &'a [NewEvent<'a>], claim: &'a WriteClaim) -> Self {
        Self::with(events, Some(claim))
    }
}

impl<'a, F> InsertEvents<'a, F> {
    fn with(events: &'a [NewEvent<'a>], claim: Option<&'a WriteClaim>) -> Self {
        Self {
            claim,
            form: std::marker::PhantomData,
            user_ids: events.iter().map(|e| e.user_id).collect(),
            kinds: events.iter().map(|e| e.kind).collect(),
            todo_ids: events.iter().map(|e| e.todo_id).collect(),
            snapshots: events.iter().map(|e| e.snapshot.map(JsonbText)).collect(),
            occurred_at: events.iter().map(|e| e.occurred_at).collect(),
            list_ids: events.iter().map(|e| e.list_id).collect(),
            from_list_ids: events.iter().map(|e| e.from_list_id).collect(),
        }
    }
}

/// JSON text bound as `jsonb` as it is: diesel binds only a
/// `serde_json::Value`, which would mean building a tree of the text for
/// every row (a list's members share one snapshot text).
#[derive(Debug, Clone, Copy)]
struct JsonbText<'a>(&'a str);

impl diesel::serialize::ToSql<diesel::sql_types::Jsonb, diesel::pg::Pg> for JsonbText<'_> {
    fn to_sql<'b>(
        &'b self,
        out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>,
    ) -> diesel::serialize::Result {
        use std::io::Write;
        // jsonb's binary format: version 1, then the text (as diesel's own
        // `serde_json::Value` impl writes it).
        out.write_all(&[1])?;
        out.write_all(self.0.as_bytes())?;
        Ok(diesel::serialize::IsNull::No)
    }
}

impl<F: Send + Sync + 'static> diesel::query_builder::QueryId for InsertEvents<'_, F> {
    type QueryId = F;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<F> diesel::query_builder::Query for InsertEvents<'_, F> {
    type SqlType = diesel::sql_types::BigInt;
}

impl<F> diesel::query_builder::QueryFragment<diesel::pg::Pg> for InsertEvents<'_, F> {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        use diesel::sql_types::{Array, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid};
        if let Some(claim) = self.claim {
            out.push_sql(
                "WITH claim AS ( \
                 UPDATE idempotency_keys SET applied_at = coalesce(applied_at, now()) \
                 WHERE scope = ",
            );
            out.push_bind_param::<Text, _>(&claim.scope)?;
            out.push_sql(" AND key = ");
            out.push_bind_param::<Text, _>(&claim.key)?;
            out.push_sql(" AND token = ");
            out.push_bind_param::<SqlUuid, _>(&claim.token)?;
            out.push_sql(" AND state = 'running' RETURNING 1) ");
        }
        // The plain form names the table as diesel would ("todo_events"),
        // so the two forms stay apart in statement counts.
        out.push_sql(match self.claim {
            Some(_) => "INSERT INTO todo_events ",
            None => "INSERT INTO \"todo_events\" ",
        });
        out.push_sql(
            "(user_id, kind, todo_id, snapshot, occurred_at, list_id, from_list_id) \
             SELECT e.user_id, e.kind, e.todo_id, e.snapshot, e.occurred_at, e.list_id, \
             e.from_list_id FROM unnest(",
        );
        out.push_bind_param::<Array<SqlUuid>, _>(&self.user_ids)?;
        out.push_sql("::uuid[], ");
        out.push_bind_param::<Array<Text>, _>(&self.kinds)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Nullable<SqlUuid>>, _>(&self.todo_ids)?;
        out.push_sql("::uuid[], ");
        out.push_bind_param::<Array<Nullable<Jsonb>>, _>(&self.snapshots)?;
        out.push_sql("::jsonb[], ");
        out.push_bind_param::<Array<Timestamptz>, _>(&self.occurred_at)?;
        out.push_sql("::timestamptz[], ");
        out.push_bind_param::<Array<SqlUuid>, _>(&self.list_ids)?;
        out.push_sql("::uuid[], ");
        out.push_bind_param::<Array<Nullable<SqlUuid>>, _>(&self.from_list_ids)?;
        out.push_sql(
            "::uuid[]) WITH ORDINALITY \
             AS e(user_id, kind, todo_id, snapshot, occurred_at, list_id, from_list_id, n) ",
        );
        if self.claim.is_some() {
            out.push_sql("WHERE EXISTS (SELECT 1 FROM claim) ");
        }
        // Ids come from a sequence in insertion order: the order of `events`.
        out.push_sql("ORDER BY e.n RETURNING id");
        Ok(())
    }
}

/// The sequence numbers the commit gave the rows `ids`, as `(id, seq)`.
/// Rows of a transaction that rolled back are absent. On a shared
/// connection, so it can be pipelined after `COMMIT`.
pub async fn numbers(conn: &Conn, ids: &[i64]) -> QueryResult<Vec<(i64, i64)>> {
    Fixed::<Numbers>::new(ids).load(&mut { conn }).await
}

/// [`numbers`]' statement, a fixed text (`db::fixed`; every write that
/// records events sends it): the `(id, seq)` of the rows `ids` that have
/// a number.
struct Numbers;

impl FixedText for Numbers {
    type SqlType = (diesel::sql_types::BigInt, diesel::sql_types::BigInt);
    type Binds<'a> = &'a [i64];

    fn walk<'b>(
        ids: &'b &[i64],
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        out.push_sql(
            "SELECT \"todo_events\".\"id\", \"todo_events\".\"seq\" FROM \"todo_events\" \
             WHERE ((\"todo_events\".\"id\" = ANY(",
        );
        out.push_bind_param::<diesel::sql_types::Array<diesel::sql_types::BigInt>, _>(ids)?;
        out.push_sql(")) AND (\"todo_events\".\"seq\" IS NOT NULL))");
        Ok(())
    }
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

#[cfg(test)]
mod tests {
    use diesel::{debug_query, pg::Pg};

    use super::*;

    #[test]
    fn the_numbers_text_is_the_one_diesel_writes() {
        let ids = [4_i64, 2];
        let dsl = todo_events::table
            .filter(todo_events::id.eq_any(&ids[..]))
            .filter(todo_events::seq.is_not_null())
            .select((todo_events::id, todo_events::seq.assume_not_null()));
        assert_eq!(
            debug_query::<Pg, _>(&Fixed::<Numbers>::new(&ids[..])).to_string(),
            debug_query::<Pg, _>(&dsl).to_string()
        );
    }
}
