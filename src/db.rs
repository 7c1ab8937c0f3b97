//! The PostgreSQL connection pool, embedded migrations and query statistics.
//!
//! Models take a `&mut Conn`; services check one out with [`Db::conn`] and
//! open transactions on it. Errors from here are internal: they are logged
//! with context and reach clients as `INTERNAL_SERVER_ERROR`.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use anyhow::Context;
use diesel::connection::{Instrumentation, InstrumentationEvent};
use diesel_async::{
    AsyncConnection, AsyncPgConnection,
    async_connection_wrapper::AsyncConnectionWrapper,
    pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod},
};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use futures_util::FutureExt;

use crate::{config::DatabaseConfig, telemetry::Metrics};

pub mod fixed;
pub mod pipeline;

/// The migrations in `migrations/`, compiled into the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// A pooled connection.
pub type Conn = AsyncPgConnection;
/// The pool.
pub type Pool = bb8::Pool<AsyncDieselConnectionManager<Conn>>;
/// A connection checked out of the pool.
pub type PooledConn = bb8::PooledConnection<'static, AsyncDieselConnectionManager<Conn>>;

/// Why a database call failed. Never shown to clients.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection could be had in time.
    #[error("database pool: {0}")]
    Pool(String),
    /// A query failed.
    #[error("database query: {0}")]
    Query(#[from] diesel::result::Error),
}

impl From<bb8::RunError<diesel_async::pooled_connection::PoolError>> for DbError {
    fn from(e: bb8::RunError<diesel_async::pooled_connection::PoolError>) -> Self {
        Self::Pool(e.to_string())
    }
}

/// Counts the SQL statements the pool's connections run, by statement text
/// (binds excluded), when [`DatabaseConfig::record_statements`] is on: the
/// integration tests use it to prove the absence of N+1 queries. Off (the
/// default), nothing is recorded and it stays empty.
#[derive(Debug, Default)]
pub struct QueryStats {
    counts: Mutex<HashMap<String, u64>>,
}

impl QueryStats {
    fn record(&self, sql: &str) {
        if let Ok(mut counts) = self.counts.lock() {
            *counts.entry(sql.to_owned()).or_default() += 1;
        }
    }

    /// How many statements containing `needle` ran.
    pub fn count_matching(&self, needle: &str) -> u64 {
        self.counts
            .lock()
            .map(|c| {
                c.iter()
                    .filter(|(sql, _)| sql.contains(needle))
                    .map(|(_, n)| n)
                    .sum()
            })
            .unwrap_or(0)
    }

    /// Forgets every count.
    pub fn reset(&self) {
        if let Ok(mut counts) = self.counts.lock() {
            counts.clear();
        }
    }
}

/// Diesel instrumentation feeding [`QueryStats`] (when recording) and,
/// while spans are exported, a client span per statement (text without
/// binds). With neither, a statement costs one branch: its text is not
/// even formatted.
struct StatementInstrumentation {
    /// Where statements are counted, when recording.
    stats: Option<Arc<QueryStats>>,
    /// The running statement's span: diesel reports start and finish as
    /// two events on the connection, which runs one statement at a time.
    span: Option<tracing::Span>,
}

impl Instrumentation for StatementInstrumentation {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::StartQuery { query, .. } => {
                let tracing = crate::telemetry::exporting_traces();
                if self.stats.is_none() && !tracing {
                    return;
                }
                let text = query.to_string();
                // Diesel appends `-- binds: [...]`; binds may hold secrets, so drop them.
                let sql = text.split(" -- binds:").next().unwrap_or_default();
                if let Some(stats) = &self.stats {
                    stats.record(sql);
                }
                if tracing {
                    let operation = sql
                        .split_whitespace()
                        .next()
                        .unwrap_or("SQL")
                        .to_ascii_uppercase();
                    self.span = Some(tracing::info_span!(
                        "db query",
                        otel.name = %operation,
                        otel.kind = "client",
                        otel.status_code = tracing::field::Empty,
                        db.system.name = "postgresql",
                        db.operation.name = %operation,
                        db.query.text = sql,
                    ));
                }
            }
            InstrumentationEvent::FinishQuery { error, .. } => {
                if let Some(span) = self.span.take()
                    && error.is_some()
                {
                    span.record("otel.status_code", "ERROR");
                }
            }
            _ => {}
        }
    }
}

/// The database handle shared by the app.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    stats: Arc<QueryStats>,
    metrics: Metrics,
}

impl Db {
    /// Builds the pool without waiting for PostgreSQL, so the server can
    /// start (and report not ready) while the database is down. Checkout
    /// waits are recorded in `metrics`.
    pub fn connect(url: &str, config: &DatabaseConfig, metrics: Metrics) -> Self {
        let stats = Arc::new(QueryStats::default());
        let mut manager_config = ManagerConfig::<Conn>::default();
        // The pool drops connections whose socket closed; a per-checkout
        // `SELECT 1` would add a round trip to every request.
        manager_config.recycling_method = RecyclingMethod::Fast;
        let recorded = config.record_statements.then(|| stats.clone());
        manager_config.custom_setup = Box::new(move |url| {
            let stats = recorded.clone();
            async move {
                let mut conn = Conn::establish(url).await?;
                conn.set_instrumentation(StatementInstrumentation { stats, span: None });
                Ok(conn)
            }
            .boxed()
        });
        let manager = AsyncDieselConnectionManager::<Conn>::new_with_config(url, manager_config);
        let size = config.pool_size;
        let pool = bb8::Pool::builder()
            .max_size(size)
            .min_idle(Some(1.min(size)))
            // The most recently returned connection first: at less than
            // full load, requests keep to the few connections whose
            // prepared statements (diesel's cache, one round trip each on
            // first use) and backend caches (PostgreSQL plans and catalog
            // per backend) are warm. First in, first out handed each of a
            // run of sequential requests the next connection round the
            // pool, so the first ten writes after a quiet spell each paid
            // the preparing again (the bench's paced fan-out: its first
            // rounds 3-6 ms slower than the rest, docs/benchmarks.md).
            // Unused connections then idle out (bb8's ten minutes), down to
            // `min_idle`.
            .queue_strategy(bb8::QueueStrategy::Lifo)
            .connection_timeout(config.connect_timeout)
            .test_on_check_out(false)
            .build_unchecked(manager);
        Self {
            pool,
            stats,
            metrics,
        }
    }

    /// Checks a connection out of the pool.
    pub async fn conn(&self) -> Result<PooledConn, DbError> {
        let started = std::time::Instant::now();
        let conn = self.pool.get_owned().await;
        self.metrics.pool_wait("postgres", started.elapsed());
        Ok(conn?)
    }

    /// `(idle, used)` connections, for the pool gauges.
    pub fn pool_state(&self) -> (u32, u32) {
        let state = self.pool.state();
        (
            state.idle_connections,
            state.connections.saturating_sub(state.idle_connections),
        )
    }

    /// Statement counts since start (or the last reset); empty unless
    /// [`DatabaseConfig::record_statements`] is on.
    pub fn stats(&self) -> &QueryStats {
        &self.stats
    }

    /// Answers when PostgreSQL answers a trivial query.
    pub async fn ping(&self) -> Result<(), DbError> {
        use diesel_async::RunQueryDsl;
        let mut conn = self.conn().await?;
        diesel::sql_query("SELECT 1").execute(&mut conn).await?;
        Ok(())
    }
}

/// Takes a transaction-scoped advisory lock named `key` (hashed to 64
/// bits): concurrent transactions taking the same key run one at a time
/// from here to their end.
pub async fn advisory_xact_lock(conn: &Conn, key: &str) -> diesel::QueryResult<()> {
    advisory::<Exclusive>(conn, key).await
}

/// The shared form of [`advisory_xact_lock`]: holders of the shared lock
/// run side by side, and wait for (and hold off) the exclusive one. Held in
/// the lock manager, so unlike a row lock it writes nothing to the table.
/// Takes a shared reference, so it can be pipelined ([`pipeline`]).
pub async fn advisory_xact_lock_shared(conn: &Conn, key: &str) -> diesel::QueryResult<()> {
    advisory::<Shared>(conn, key).await
}

async fn advisory<K: LockKind>(mut conn: &Conn, key: &str) -> diesel::QueryResult<()> {
    use diesel_async::RunQueryDsl;
    AdvisoryLock::<K> {
        key,
        kind: std::marker::PhantomData,
    }
    .execute(&mut conn)
    .await
    .map(|_| ())
}

/// An advisory lock statement with its key as a bind. Written by hand
/// rather than with `diesel::sql_query` because diesel never keeps a
/// `sql_query` prepared: each use would cost a prepare round trip before
/// the statement itself, and would stall a pipeline ([`pipeline`]).
struct AdvisoryLock<'a, K> {
    key: &'a str,
    kind: std::marker::PhantomData<K>,
}

/// An advisory lock's kind: its text up to the key's bind.
trait LockKind: Send + Sync + 'static {
    const SQL: &'static str;
}

/// [`advisory_xact_lock`]'s kind.
struct Exclusive;

impl LockKind for Exclusive {
    const SQL: &'static str = "SELECT pg_advisory_xact_lock(hashtextextended(";
}

/// [`advisory_xact_lock_shared`]'s kind.
struct Shared;

impl LockKind for Shared {
    const SQL: &'static str = "SELECT pg_advisory_xact_lock_shared(hashtextextended(";
}

impl<K: LockKind> diesel::query_builder::QueryId for AdvisoryLock<'_, K> {
    // One text per kind, which never changes: diesel finds the prepared
    // statement by the kind's type rather than by hashing the text.
    type QueryId = K;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<K: LockKind> diesel::query_builder::QueryFragment<diesel::pg::Pg> for AdvisoryLock<'_, K> {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> diesel::QueryResult<()> {
        out.push_sql(K::SQL);
        out.push_bind_param::<diesel::sql_types::Text, _>(self.key)?;
        out.push_sql(", 0))");
        Ok(())
    }
}

/// Runs pending migrations on a fresh connection to `url`.
pub async fn migrate(url: &str) -> anyhow::Result<Vec<String>> {
    let conn = Conn::establish(url)
        .await
        .context("connecting to PostgreSQL to migrate")?;
    // diesel_migrations is synchronous: drive the async connection through
    // the blocking wrapper on a blocking thread, so this works on any runtime
    // flavour (tests use the current-thread one).
    let mut wrapper: AsyncConnectionWrapper<Conn> = AsyncConnectionWrapper::from(conn);
    tokio::task::spawn_blocking(move || {
        wrapper
            .run_pending_migrations(MIGRATIONS)
            .map(|versions| versions.iter().map(|v| v.to_string()).collect())
            .map_err(|e| anyhow::anyhow!("running migrations: {e}"))
    })
    .await
    .context("migration task")?
}
