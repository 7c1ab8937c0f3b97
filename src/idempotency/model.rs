//! The `idempotency_keys` row and its queries. Times that decide between
//! instances (`claimed_at`, `lease_until`, `applied_at`) are PostgreSQL's
//! `now()`, so the instances' clocks never disagree about a lease.

use chrono::{DateTime, Utc};
use diesel::{
    prelude::*,
    sql_types::{Bytea, Double, Text, Uuid as SqlUuid},
};
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use crate::{db::Conn, schema::idempotency_keys};

/// A key's row, as the service reads it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = idempotency_keys, check_for_backend(diesel::pg::Pg))]
pub struct KeyRow {
    /// The operation's fingerprint.
    pub fingerprint: Vec<u8>,
    /// The current run's token.
    pub token: Uuid,
    /// `running` or `done`.
    pub state: String,
    /// Where the key was first used.
    pub transport: String,
    /// The stored status, once done.
    pub status: Option<i16>,
    /// The stored media type, once done.
    pub media_type: Option<String>,
    /// The stored body, once done.
    pub body: Option<Vec<u8>>,
    /// When the running claim may be taken over.
    pub lease_until: DateTime<Utc>,
    /// When the write committed, if it did.
    pub applied_at: Option<DateTime<Utc>>,
}

/// A new claim to insert.
pub struct NewClaim<'a> {
    /// `user:<uuid>` or `addr:<address>`.
    pub scope: &'a str,
    /// The key.
    pub key: &'a str,
    /// The operation's fingerprint.
    pub fingerprint: &'a [u8],
    /// This run's token.
    pub token: Uuid,
    /// `http`, `ws` or `rest`.
    pub transport: &'a str,
    /// Seconds from now until the claim may be taken over.
    pub lease_secs: f64,
}

/// Claims a key: one `INSERT … ON CONFLICT DO NOTHING`; true when this
/// request won it (the primary key decides between concurrent requests
/// and instances).
/// On a shared connection, so it can be pipelined with other statements.
pub async fn claim(conn: &Conn, new: &NewClaim<'_>) -> QueryResult<bool> {
    Ok(Claim(new).execute(&mut { conn }).await? == 1)
}

/// The claim's `INSERT`. A query type rather than `diesel::sql_query`,
/// which diesel never keeps prepared: every claim would cost a prepare
/// round trip before the insert itself.
struct Claim<'a, 'b>(&'a NewClaim<'b>);

/// [`Claim`]'s query id: its text never changes, so diesel finds the
/// prepared statement by this type rather than by hashing the text.
struct ClaimText;

impl diesel::query_builder::QueryId for Claim<'_, '_> {
    type QueryId = ClaimText;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for Claim<'_, '_> {
    fn walk_ast<'q>(
        &'q self,
        mut out: diesel::query_builder::AstPass<'_, 'q, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        let new = self.0;
        out.push_sql(
            "INSERT INTO idempotency_keys \
             (scope, key, fingerprint, token, transport, claimed_at, lease_until) VALUES (",
        );
        out.push_bind_param::<Text, _>(new.scope)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(new.key)?;
        out.push_sql(", ");
        out.push_bind_param::<Bytea, _>(new.fingerprint)?;
        out.push_sql(", ");
        out.push_bind_param::<SqlUuid, _>(&new.token)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(new.transport)?;
        out.push_sql(", now(), now() + make_interval(secs => ");
        out.push_bind_param::<Double, _>(&new.lease_secs)?;
        out.push_sql(")) ON CONFLICT (scope, key) DO NOTHING");
        Ok(())
    }
}

/// The row of `(scope, key)`.
pub async fn find(conn: &mut Conn, scope: &str, key: &str) -> QueryResult<Option<KeyRow>> {
    idempotency_keys::table
        .find((scope, key))
        .select(KeyRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// Takes over a running claim whose lease ended and whose write was not
/// applied, giving it `new.token`; false when it no longer qualifies. The
/// row lock orders this against the old run's write: if that write marked
/// the claim applied first, this re-reads the row and does not take it; if
/// this comes first, the old run's write finds its token gone and fails.
pub async fn take_over(conn: &mut Conn, new: &NewClaim<'_>, old: Uuid) -> QueryResult<bool> {
    let updated = diesel::sql_query(
        "UPDATE idempotency_keys \
         SET token = $4, transport = $5, claimed_at = now(), \
             lease_until = now() + make_interval(secs => $6) \
         WHERE scope = $1 AND key = $2 AND fingerprint = $3 AND token = $7 \
           AND state = 'running' AND applied_at IS NULL AND lease_until < now()",
    )
    .bind::<Text, _>(new.scope)
    .bind::<Text, _>(new.key)
    .bind::<Bytea, _>(new.fingerprint)
    .bind::<SqlUuid, _>(new.token)
    .bind::<Text, _>(new.transport)
    .bind::<Double, _>(new.lease_secs)
    .bind::<SqlUuid, _>(old)
    .execute(conn)
    .await?;
    Ok(updated == 1)
}

/// The response to store.
pub struct Completion<'a> {
    /// The HTTP status (200 for a WebSocket result, 400 for its request
    /// error).
    pub status: i16,
    /// The media type.
    pub media_type: &'a str,
    /// The body, byte for byte.
    pub body: &'a [u8],
}

/// Stores the response of the run holding `token`; false when the claim
/// is no longer that run's.
pub async fn complete(
    conn: &mut Conn,
    (scope, key, token): (&str, &str, Uuid),
    done: &Completion<'_>,
) -> QueryResult<bool> {
    let updated = Complete {
        scope,
        key,
        token,
        done,
    }
    .execute(conn)
    .await?;
    Ok(updated == 1)
}

/// The statement of [`complete`]: a fixed text, which diesel keeps
/// prepared (it prepares every `UPDATE` it builds itself anew, a round
/// trip of its own before the statement).
struct Complete<'a> {
    scope: &'a str,
    key: &'a str,
    token: Uuid,
    done: &'a Completion<'a>,
}

/// [`Complete`]'s query id (its text never changes, as [`ClaimText`]).
struct CompleteText;

impl diesel::query_builder::QueryId for Complete<'_> {
    type QueryId = CompleteText;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for Complete<'_> {
    fn walk_ast<'q>(
        &'q self,
        mut out: diesel::query_builder::AstPass<'_, 'q, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        out.push_sql(
            "UPDATE \"idempotency_keys\" SET state = 'done', completed_at = now(), status = ",
        );
        out.push_bind_param::<diesel::sql_types::SmallInt, _>(&self.done.status)?;
        out.push_sql(", media_type = ");
        out.push_bind_param::<Text, _>(self.done.media_type)?;
        out.push_sql(", body = ");
        out.push_bind_param::<Bytea, _>(self.done.body)?;
        out.push_sql(" WHERE scope = ");
        out.push_bind_param::<Text, _>(self.scope)?;
        out.push_sql(" AND key = ");
        out.push_bind_param::<Text, _>(self.key)?;
        out.push_sql(" AND token = ");
        out.push_bind_param::<SqlUuid, _>(&self.token)?;
        out.push_sql(" AND state = 'running'");
        Ok(())
    }
}

/// Deletes the claim of the run holding `token` if its write was not
/// applied (the key is free again); false otherwise.
pub async fn release(
    conn: &mut Conn,
    (scope, key, token): (&str, &str, Uuid),
) -> QueryResult<bool> {
    let deleted = diesel::delete(
        idempotency_keys::table
            .find((scope, key))
            .filter(idempotency_keys::token.eq(token))
            .filter(idempotency_keys::state.eq("running"))
            .filter(idempotency_keys::applied_at.is_null()),
    )
    .execute(conn)
    .await?;
    Ok(deleted == 1)
}

/// Deletes up to `batch` keys claimed before `cutoff`; returns how many.
pub async fn prune(conn: &mut Conn, cutoff: DateTime<Utc>, batch: i64) -> QueryResult<usize> {
    let old = idempotency_keys::table
        .filter(idempotency_keys::claimed_at.lt(cutoff))
        .select((idempotency_keys::scope, idempotency_keys::key))
        .limit(batch)
        .load::<(String, String)>(conn)
        .await?;
    if old.is_empty() {
        return Ok(0);
    }
    let (scopes, keys): (Vec<String>, Vec<String>) = old.into_iter().unzip();
    diesel::sql_query(
        "DELETE FROM idempotency_keys k USING unnest($1::text[], $2::text[]) AS o(scope, key) \
         WHERE k.scope = o.scope AND k.key = o.key AND k.claimed_at < $3",
    )
    .bind::<diesel::sql_types::Array<Text>, _>(scopes)
    .bind::<diesel::sql_types::Array<Text>, _>(keys)
    .bind::<diesel::sql_types::Timestamptz, _>(cutoff)
    .execute(conn)
    .await
}
