//! Transactions whose statements go to PostgreSQL in as few round trips as
//! possible: `BEGIN` is sent in the same write as the transaction's first
//! statements, and `COMMIT` in the same write as whatever is read after it.
//!
//! diesel-async pipelines the statements of futures built on a shared
//! `&Conn` and polled together (`try_join!`): they leave in one write and
//! their answers come back in order, while PostgreSQL still runs them one
//! after the other, each with its own snapshot (so a statement sent after
//! a lock statement sees what the lock's holder committed, as it would in
//! sequence). Its own `AsyncConnection::transaction` awaits `BEGIN` and
//! `COMMIT` alone, one round trip each, hence [`run`].
//!
//! Only statements diesel can keep prepared pipeline: a statement it may
//! not cache (`sql_query`, a multi-row `VALUES` insert, `IN (…)` lists)
//! is prepared on every use, and the prepare waits for its answer while
//! holding the connection's statement cache, so the statements behind it
//! wait too. Statements meant for a pipeline are therefore fixed SQL
//! texts with array binds (see `events::model` and [`super::AdvisoryLock`]).

use diesel::connection::TransactionManagerStatus;
use diesel_async::{AnsiTransactionManager, SimpleAsyncConnection, TransactionManager};

use super::Conn;

/// Proof that the transaction of [`run`] was committed: only [`commit`]
/// makes one, so a body cannot return without having sent `COMMIT`.
#[derive(Debug)]
pub struct Committed<T>(T);

/// Sends `BEGIN`. Poll it together with the transaction's first
/// statements (`try_join!(begin(conn), first, second)`): it goes out
/// first, in the same write.
pub async fn begin(mut conn: &Conn) -> diesel::QueryResult<()> {
    conn.batch_execute("BEGIN").await
}

/// Sends `COMMIT` together with `after`, statements that read what the
/// commit made visible (they run after it, outside the transaction): one
/// round trip for both. `after` is awaited even when the commit failed
/// (its answer is then the commit's error), because its statements were
/// sent already.
pub async fn commit<T>(
    mut conn: &Conn,
    after: impl Future<Output = T>,
) -> diesel::QueryResult<Committed<T>> {
    let (committed, after) = futures_util::join!(conn.batch_execute("COMMIT"), after);
    committed.map(|()| Committed(after))
}

/// Runs `body` as one transaction on `conn`. The body sends `BEGIN`
/// itself with its first statements ([`begin`]) and `COMMIT` with its
/// last ([`commit`]); when it fails, this rolls the transaction back
/// (a `ROLLBACK` outside a transaction only warns) and returns its error.
///
/// While the body runs, diesel's transaction manager is marked broken:
/// were this future dropped half-way (a client that went away), the pool
/// then closes the connection instead of handing it, inside an open
/// transaction, to the next request; closing it makes PostgreSQL roll the
/// transaction back. Once the transaction has ended, the mark is cleared.
pub async fn run<R, E>(
    conn: &mut Conn,
    body: impl AsyncFnOnce(&Conn) -> Result<Committed<R>, E>,
) -> Result<R, E>
where
    E: From<diesel::result::Error>,
{
    let status =
        <AnsiTransactionManager as TransactionManager<Conn>>::transaction_manager_status_mut(conn);
    // Nested in a diesel transaction, BEGIN would be a no-op and COMMIT
    // would end the outer transaction: refuse.
    if status.transaction_depth()?.is_some() {
        return Err(diesel::result::Error::AlreadyInTransaction.into());
    }
    status.set_in_error();
    let outcome = body(conn).await;
    let ended = match &outcome {
        Ok(_) => Ok(()),
        Err(_) => (&*conn).batch_execute("ROLLBACK").await,
    };
    if ended.is_ok() {
        // Back to "no transaction": the connection may return to the pool.
        *<AnsiTransactionManager as TransactionManager<Conn>>::transaction_manager_status_mut(
            conn,
        ) = TransactionManagerStatus::default();
    }
    match outcome {
        Ok(Committed(value)) => Ok(value),
        Err(e) => {
            if let Err(rollback) = ended {
                // The connection stays marked broken: the pool drops it.
                tracing::warn!(error = %rollback, "rolling back a pipelined transaction");
            }
            Err(e)
        }
    }
}
