//! Diesel rows and queries for the job queue.

use chrono::{DateTime, Utc};
use diesel::{
    prelude::*,
    sql_types::{BigInt, Text},
};
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use crate::{db::Conn, schema::jobs};

/// The channel workers LISTEN on; enqueuing NOTIFYs it (delivered at commit).
pub const CHANNEL: &str = "todoql_jobs";

/// A job row.
#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, serde::Serialize)]
#[diesel(table_name = jobs, check_for_backend(diesel::pg::Pg))]
pub struct JobRow {
    /// Id.
    pub id: Uuid,
    /// Kind.
    pub kind: String,
    /// Input.
    pub payload: serde_json::Value,
    /// State.
    pub state: String,
    /// Attempts started.
    pub attempts: i32,
    /// Not before.
    pub run_at: DateTime<Utc>,
    /// Lease expiry.
    pub locked_until: Option<DateTime<Utc>>,
    /// Lease holder.
    pub locked_by: Option<String>,
    /// Last failure.
    pub last_error: Option<String>,
    /// Deduplication key.
    pub idempotency_key: Option<String>,
    /// Trace context of the enqueuing request.
    pub trace_context: Option<String>,
    /// Enqueued.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Finished.
    pub finished_at: Option<DateTime<Utc>>,
}

/// A job to insert.
#[derive(Debug, Insertable)]
#[diesel(table_name = jobs)]
pub struct NewJobRow<'a> {
    /// Id.
    pub id: Uuid,
    /// Kind.
    pub kind: &'a str,
    /// Input.
    pub payload: serde_json::Value,
    /// Not before.
    pub run_at: DateTime<Utc>,
    /// Deduplication key.
    pub idempotency_key: Option<&'a str>,
    /// Trace context.
    pub trace_context: Option<&'a str>,
}

/// Inserts a job (a duplicate idempotency key is a no-op) and notifies
/// workers when the transaction commits. Returns whether it was inserted.
pub async fn insert(mut conn: &Conn, job: &NewJobRow<'_>) -> QueryResult<bool> {
    let inserted = diesel::insert_into(jobs::table)
        .values(job)
        .on_conflict_do_nothing()
        .execute(&mut conn)
        .await?;
    if inserted > 0 {
        diesel::sql_query(format!("NOTIFY {CHANNEL}"))
            .execute(&mut conn)
            .await?;
    }
    Ok(inserted > 0)
}

/// Leases the next due job (or one whose lease expired) to `worker`.
/// `SKIP LOCKED` lets concurrent workers claim different jobs without
/// waiting on each other.
///
/// Two index-ordered lookups rather than one with `OR`: the `OR` made
/// PostgreSQL scan and sort every due job on each claim, so draining a
/// backlog (after an SMTP outage, say) slowed down as it grew. Expired
/// leases go first; they are rare and were due before anything queued.
pub async fn claim(conn: &mut Conn, worker: &str, lease_secs: i64) -> QueryResult<Option<JobRow>> {
    diesel::sql_query(
        "UPDATE jobs SET state = 'running', attempts = attempts + 1, locked_by = $1,
                locked_until = now() + make_interval(secs => $2), updated_at = now()
         WHERE id = COALESCE(
             (SELECT id FROM jobs
              WHERE state = 'running' AND locked_until < now()
              ORDER BY locked_until
              FOR UPDATE SKIP LOCKED
              LIMIT 1),
             (SELECT id FROM jobs
              WHERE state IN ('queued', 'failed') AND run_at <= now()
              ORDER BY run_at
              FOR UPDATE SKIP LOCKED
              LIMIT 1))
         RETURNING *",
    )
    .bind::<Text, _>(worker)
    .bind::<BigInt, _>(lease_secs)
    .get_result(conn)
    .await
    .optional()
}

/// Jobs `id` still leased to `worker` (the lease did not expire into
/// another worker's hands).
type LeasedTo<'a> = diesel::dsl::Filter<
    jobs::table,
    diesel::dsl::And<
        diesel::dsl::And<
            diesel::dsl::Eq<jobs::id, Uuid>,
            diesel::dsl::Eq<jobs::state, &'static str>,
        >,
        diesel::dsl::Eq<jobs::locked_by, &'a str>,
    >,
>;

fn leased_to(id: Uuid, worker: &str) -> LeasedTo<'_> {
    jobs::table.filter(
        jobs::id
            .eq(id)
            .and(jobs::state.eq("running"))
            .and(jobs::locked_by.eq(worker)),
    )
}

/// Marks a job succeeded; false when the lease was lost.
pub async fn succeed(conn: &mut Conn, id: Uuid, worker: &str) -> QueryResult<bool> {
    let now = Utc::now();
    let n = diesel::update(leased_to(id, worker))
        .set((
            jobs::state.eq("succeeded"),
            jobs::locked_until.eq(None::<DateTime<Utc>>),
            jobs::finished_at.eq(Some(now)),
            jobs::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(n > 0)
}

/// Records a failed attempt: retried at `retry_at`, or dead without one.
pub async fn fail(
    conn: &mut Conn,
    id: Uuid,
    worker: &str,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
) -> QueryResult<bool> {
    let now = Utc::now();
    let (state, run_at, finished) = match retry_at {
        Some(at) => ("failed", at, None),
        None => ("dead", now, Some(now)),
    };
    let n = diesel::update(leased_to(id, worker))
        .set((
            jobs::state.eq(state),
            jobs::run_at.eq(run_at),
            jobs::last_error.eq(Some(error)),
            jobs::locked_until.eq(None::<DateTime<Utc>>),
            jobs::finished_at.eq(finished),
            jobs::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(n > 0)
}

/// Returns an unfinished job to the queue (shutdown): the interrupted
/// attempt does not count.
pub async fn release(conn: &mut Conn, id: Uuid, worker: &str) -> QueryResult<bool> {
    let n = diesel::update(leased_to(id, worker))
        .set((
            jobs::state.eq("queued"),
            jobs::attempts.eq(jobs::attempts - 1),
            jobs::locked_until.eq(None::<DateTime<Utc>>),
            jobs::locked_by.eq(None::<String>),
            jobs::run_at.eq(Utc::now()),
            jobs::updated_at.eq(Utc::now()),
        ))
        .execute(conn)
        .await?;
    Ok(n > 0)
}

/// Jobs, newest first, optionally in one state.
pub async fn list(conn: &mut Conn, state: Option<&str>, limit: i64) -> QueryResult<Vec<JobRow>> {
    let mut query = jobs::table.into_boxed();
    if let Some(state) = state {
        query = query.filter(jobs::state.eq(state.to_owned()));
    }
    query
        .order(jobs::created_at.desc())
        .limit(limit)
        .select(JobRow::as_select())
        .load(conn)
        .await
}

/// Puts one dead or failed job (or, without an id, every dead job) back
/// in the queue with fresh attempts, waking the workers; returns how many.
async fn requeue(conn: &mut Conn, only: Option<Uuid>) -> QueryResult<usize> {
    let now = Utc::now();
    let mut update = diesel::update(jobs::table)
        .set((
            jobs::state.eq("queued"),
            jobs::attempts.eq(0),
            jobs::run_at.eq(now),
            jobs::finished_at.eq(None::<DateTime<Utc>>),
            jobs::updated_at.eq(now),
        ))
        .into_boxed();
    update = match only {
        Some(id) => update.filter(jobs::id.eq(id).and(jobs::state.eq_any(["dead", "failed"]))),
        None => update.filter(jobs::state.eq("dead")),
    };
    let n = update.execute(conn).await?;
    if n > 0 {
        diesel::sql_query(format!("NOTIFY {CHANNEL}"))
            .execute(conn)
            .await?;
    }
    Ok(n)
}

/// Puts a dead or failed job back in the queue, with fresh attempts.
pub async fn retry(conn: &mut Conn, id: Uuid) -> QueryResult<bool> {
    Ok(requeue(conn, Some(id)).await? > 0)
}

/// Puts every dead job back in the queue; returns how many.
pub async fn retry_all_dead(conn: &mut Conn) -> QueryResult<usize> {
    requeue(conn, None).await
}

/// Deletes jobs of `kind` not yet started whose payload has `field` equal
/// to one of `values` (cancelling, e.g., a todo's reminders).
pub async fn cancel_pending(
    mut conn: &Conn,
    kind: &str,
    field: &str,
    values: &[String],
) -> QueryResult<usize> {
    if values.is_empty() {
        return Ok(0);
    }
    diesel::sql_query(
        "DELETE FROM jobs WHERE kind = $1 AND state IN ('queued', 'failed')
         AND payload ->> $2 = ANY($3)",
    )
    .bind::<Text, _>(kind)
    .bind::<Text, _>(field)
    .bind::<diesel::sql_types::Array<Text>, _>(values)
    .execute(&mut conn)
    .await
}

/// Deletes succeeded jobs finished before `cutoff`; returns how many.
pub async fn prune(conn: &mut Conn, cutoff: DateTime<Utc>) -> QueryResult<usize> {
    diesel::delete(
        jobs::table.filter(
            jobs::state
                .eq("succeeded")
                .and(jobs::finished_at.lt(cutoff)),
        ),
    )
    .execute(conn)
    .await
}
