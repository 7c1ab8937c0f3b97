//! The configuration groups, one per concern, each parsed by its own
//! `from_lookup` from the same lookup as [`super::Config`].

use std::{path::PathBuf, time::Duration};

use anyhow::bail;

use super::{AppEnv, Secret, parsed, positive};

/// PostgreSQL.
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// `DATABASE_URL`: PostgreSQL URL. When unset, `serve` starts a local
    /// PostgreSQL under `DATA_DIR` from the installed binaries.
    pub url: Option<Secret>,
    /// `DATABASE_POOL_SIZE`: connections in the pool. Default `10`.
    pub pool_size: u32,
    /// `DATABASE_CONNECT_TIMEOUT_MS`: how long a request waits for a pooled
    /// connection before failing. Default `5000`.
    pub connect_timeout: Duration,
    /// `DATA_DIR`: where the local development PostgreSQL keeps its data.
    /// Default `.data` (git-ignored).
    pub data_dir: PathBuf,
    /// `PG_BIN_DIR`: the PostgreSQL server binaries (`initdb`, `pg_ctl`)
    /// for the local development cluster. Default: the newest
    /// `/usr/lib/postgresql/*/bin`, else `pg_config --bindir`.
    pub pg_bin_dir: Option<PathBuf>,
    /// Not read from the environment: count every SQL statement by its text
    /// in [`crate::db::QueryStats`], which the integration tests turn on to
    /// prove the absence of N+1 queries. Default `false`, as formatting each
    /// statement and taking a shared lock per query cost every request.
    pub record_statements: bool,
}

impl DatabaseConfig {
    /// Reads `DATABASE_URL`, `DATABASE_POOL_SIZE`,
    /// `DATABASE_CONNECT_TIMEOUT_MS`, `DATA_DIR` and `PG_BIN_DIR`.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        Ok(Self {
            url: var("DATABASE_URL").map(Secret::new),
            pool_size: positive(&var, "DATABASE_POOL_SIZE")?.unwrap_or(10),
            connect_timeout: Duration::from_millis(
                positive(&var, "DATABASE_CONNECT_TIMEOUT_MS")?.unwrap_or(5000),
            ),
            data_dir: var("DATA_DIR").unwrap_or_else(|| ".data".into()).into(),
            pg_bin_dir: var("PG_BIN_DIR").map(PathBuf::from),
            record_statements: false,
        })
    }
}

/// Redis.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// `REDIS_URL`: Redis URL (optional for a single instance).
    pub url: Option<Secret>,
    /// `REDIS_KEY_PREFIX`: prefix of every Redis key, so instances of
    /// different deployments (or tests) can share one Redis. Default `todoql:`.
    pub key_prefix: String,
}

impl RedisConfig {
    /// Reads `REDIS_URL` and `REDIS_KEY_PREFIX`.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        Ok(Self {
            url: var("REDIS_URL").map(Secret::new),
            key_prefix: var("REDIS_KEY_PREFIX").unwrap_or_else(|| "todoql:".into()),
        })
    }
}

/// Tokens and the limits on the credential endpoints.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// `JWT_SECRET`: HMAC key for access tokens, at least 32 bytes. Required
    /// in production; generated per process (with a warning) in development.
    pub jwt_secret: Secret,
    /// Set when `JWT_SECRET` was missing in development and a random one was
    /// generated (logged once telemetry is up).
    pub jwt_secret_generated: bool,
    /// `ACCESS_TOKEN_TTL_SECS`: access-token lifetime. Default `900` (15 min).
    pub access_token_ttl: Duration,
    /// `REFRESH_TOKEN_TTL_SECS`: refresh-token lifetime; each rotation starts
    /// a new one, so it is also the inactivity limit. Default `2592000` (30 days).
    pub refresh_token_ttl: Duration,
    /// Brute-force and abuse limits.
    pub limits: AuthLimits,
}

/// Brute-force and abuse limits on the credential endpoints.
#[derive(Debug, Clone)]
pub struct AuthLimits {
    /// `LOGIN_MAX_FAILURES`: failed logins per account and per client
    /// address within `LOGIN_WINDOW_SECS` before `RATE_LIMITED`. Default `5`.
    pub login_max_failures: u64,
    /// `LOGIN_WINDOW_SECS`: the failed-login window. Default `900`.
    pub login_window: Duration,
    /// `REGISTER_MAX_PER_HOUR`: registrations per client address per hour.
    /// Default `20`.
    pub register_per_hour: u64,
    /// `REFRESH_MAX_PER_MINUTE`: token refreshes per client address per
    /// minute. Default `60`.
    pub refresh_per_minute: u64,
    /// `PASSWORD_RESET_MAX_PER_HOUR`: reset requests per address and per
    /// account per hour. Default `5`.
    pub reset_per_hour: u64,
    /// `PASSWORD_RESET_TTL_SECS`: how long a reset code works. Default `1800`.
    pub reset_ttl: Duration,
}

/// Minimum HMAC key size (RFC 8725 §3.5: at least 256 bits).
pub const MIN_JWT_SECRET_BYTES: usize = 32;

impl AuthConfig {
    /// Reads `JWT_SECRET` (required in `production`), the token lifetimes
    /// and the credential limits.
    pub fn from_lookup(
        var: impl Fn(&str) -> Option<String>,
        app_env: AppEnv,
    ) -> anyhow::Result<Self> {
        let jwt_secret = match var("JWT_SECRET") {
            Some(secret) if secret.len() >= MIN_JWT_SECRET_BYTES => Secret::new(secret),
            Some(_) => bail!(
                "JWT_SECRET must be at least {MIN_JWT_SECRET_BYTES} bytes (256 bits) of random data"
            ),
            None if app_env == AppEnv::Production => {
                bail!("JWT_SECRET is required when APP_ENV=production (at least 32 random bytes)")
            }
            None => Secret::new(crate::auth::token::random_token()),
        };
        Ok(Self {
            jwt_secret,
            jwt_secret_generated: var("JWT_SECRET").is_none(),
            access_token_ttl: Duration::from_secs(
                positive(&var, "ACCESS_TOKEN_TTL_SECS")?.unwrap_or(900),
            ),
            refresh_token_ttl: Duration::from_secs(
                positive(&var, "REFRESH_TOKEN_TTL_SECS")?.unwrap_or(30 * 24 * 3600),
            ),
            limits: AuthLimits {
                login_max_failures: positive(&var, "LOGIN_MAX_FAILURES")?.unwrap_or(5),
                login_window: Duration::from_secs(
                    positive(&var, "LOGIN_WINDOW_SECS")?.unwrap_or(900),
                ),
                register_per_hour: positive(&var, "REGISTER_MAX_PER_HOUR")?.unwrap_or(20),
                refresh_per_minute: positive(&var, "REFRESH_MAX_PER_MINUTE")?.unwrap_or(60),
                reset_per_hour: positive(&var, "PASSWORD_RESET_MAX_PER_HOUR")?.unwrap_or(5),
                reset_ttl: Duration::from_secs(
                    positive(&var, "PASSWORD_RESET_TTL_SECS")?.unwrap_or(1800),
                ),
            },
        })
    }
}

/// GraphQL document limits and execution.
#[derive(Debug, Clone)]
pub struct GraphqlConfig {
    /// `GRAPHQL_MAX_QUERY_BYTES`: longest query text. Default `65536`.
    pub max_query_bytes: usize,
    /// `GRAPHQL_MAX_TOKENS`: most lexical tokens in a query. Default `5000`.
    pub max_tokens: usize,
    /// `GRAPHQL_MAX_DEPTH`: deepest field nesting. Default `12`.
    pub max_depth: usize,
    /// `GRAPHQL_MAX_ALIASES`: aliases per document. Default `30`.
    pub max_aliases: usize,
    /// `GRAPHQL_MAX_ROOT_FIELDS`: root fields per query. Default `20`.
    pub max_root_fields: usize,
    /// `GRAPHQL_MAX_MUTATION_ROOT_FIELDS`: root fields per mutation, so an
    /// offline client can replay its queue as one document of aliased
    /// mutations; their aliases do not count towards `GRAPHQL_MAX_ALIASES`.
    /// Default `100`.
    pub max_mutation_root_fields: usize,
    /// `GRAPHQL_MAX_DIRECTIVES`: directives on one field. Default `5`.
    pub max_directives: usize,
    /// `GRAPHQL_MAX_COMPLEXITY`: complexity score, each field 1 and list
    /// fields multiplied by `first`. Default `10000`.
    pub max_complexity: usize,
    /// `GRAPHQL_BATCH_MAX`: operations in one JSON-array batch (Apollo's
    /// `BatchHttpLink`, an offline client replaying its queue); `0` turns
    /// batching off. Default `100`.
    pub batch_max: usize,
    /// `GRAPHQL_TIMEOUT_MS`: longest a query may run. Default `10000`.
    pub timeout: Duration,
    /// `GRAPHQL_INTROSPECTION`: allow introspection. Default `true` in
    /// development, `false` in production.
    pub introspection: bool,
    /// `APQ`: accept automatic persisted queries. Default `true`.
    pub apq: bool,
    /// `USER_BUDGET_PER_MINUTE`: complexity points each user may spend per
    /// minute across all operations. Default `100000`.
    pub user_budget_per_minute: u64,
    /// `USER_BUDGET_SYNC_MS`: how often each instance sends the budget
    /// points spent on it to Redis and learns what the others spent. Across
    /// instances a user may overspend by what the other instances admitted
    /// within one interval; on one instance the budget is exact. Default
    /// `100`.
    pub user_budget_sync: Duration,
    /// `GRAPHQL_DOCUMENT_CACHE_BYTES`: query text the parsed-document cache
    /// may hold (least recently used documents go first; a parsed document
    /// takes a small multiple of its text); `0` turns it off. Default
    /// `1048576`.
    pub document_cache_bytes: usize,
}

impl GraphqlConfig {
    /// Reads the `GRAPHQL_*` variables, `APQ`, `USER_BUDGET_PER_MINUTE` and
    /// `USER_BUDGET_SYNC_MS`.
    pub fn from_lookup(
        var: impl Fn(&str) -> Option<String>,
        app_env: AppEnv,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            max_query_bytes: positive(&var, "GRAPHQL_MAX_QUERY_BYTES")?.unwrap_or(65_536),
            max_tokens: positive(&var, "GRAPHQL_MAX_TOKENS")?.unwrap_or(5_000),
            max_depth: positive(&var, "GRAPHQL_MAX_DEPTH")?.unwrap_or(12),
            max_aliases: parsed(&var, "GRAPHQL_MAX_ALIASES")?.unwrap_or(30),
            max_root_fields: positive(&var, "GRAPHQL_MAX_ROOT_FIELDS")?.unwrap_or(20),
            max_mutation_root_fields: positive(&var, "GRAPHQL_MAX_MUTATION_ROOT_FIELDS")?
                .unwrap_or(100),
            max_directives: parsed(&var, "GRAPHQL_MAX_DIRECTIVES")?.unwrap_or(5),
            max_complexity: positive(&var, "GRAPHQL_MAX_COMPLEXITY")?.unwrap_or(10_000),
            batch_max: parsed(&var, "GRAPHQL_BATCH_MAX")?.unwrap_or(100),
            timeout: Duration::from_millis(positive(&var, "GRAPHQL_TIMEOUT_MS")?.unwrap_or(10_000)),
            introspection: parsed(&var, "GRAPHQL_INTROSPECTION")?
                .unwrap_or(app_env != AppEnv::Production),
            apq: parsed(&var, "APQ")?.unwrap_or(true),
            user_budget_per_minute: positive(&var, "USER_BUDGET_PER_MINUTE")?.unwrap_or(100_000),
            user_budget_sync: Duration::from_millis(
                positive(&var, "USER_BUDGET_SYNC_MS")?.unwrap_or(100),
            ),
            document_cache_bytes: parsed(&var, "GRAPHQL_DOCUMENT_CACHE_BYTES")?.unwrap_or(1 << 20),
        })
    }
}

/// WebSocket connections.
#[derive(Debug, Clone)]
pub struct WsConfig {
    /// `WS_INIT_TIMEOUT_MS`: how long a socket may wait before
    /// `connection_init` (then close 4408). Default `3000`.
    pub init_timeout: Duration,
    /// `WS_PING_INTERVAL_SECS`: server keep-alive ping period. Default `15`.
    pub ping_interval: Duration,
    /// `WS_MAX_SUBSCRIPTIONS`: operations at once on one socket. Default `100`.
    pub max_subscriptions: usize,
    /// `WS_MAX_CONNECTIONS_PER_USER`: sockets at once per user, per
    /// instance. Default `50`.
    pub max_connections_per_user: usize,
}

impl WsConfig {
    /// Reads the `WS_*` variables.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        Ok(Self {
            init_timeout: Duration::from_millis(
                positive(&var, "WS_INIT_TIMEOUT_MS")?.unwrap_or(3000),
            ),
            ping_interval: Duration::from_secs(
                positive(&var, "WS_PING_INTERVAL_SECS")?.unwrap_or(15),
            ),
            max_subscriptions: positive(&var, "WS_MAX_SUBSCRIPTIONS")?.unwrap_or(100),
            max_connections_per_user: positive(&var, "WS_MAX_CONNECTIONS_PER_USER")?.unwrap_or(50),
        })
    }
}

/// The todo event log and its fan-out to subscribers.
#[derive(Debug, Clone)]
pub struct EventsConfig {
    /// `EVENT_RETENTION_SECS`: how long todo events stay replayable for
    /// `todoEvents(after:)`, `changes(after:)` and the pull feed
    /// `Query.changes` (older cursors: `CURSOR_EXPIRED`); pruned hourly.
    /// Default `604800` (7 days).
    pub retention: Duration,
    /// `SUBSCRIPTION_BUFFER`: events buffered per user channel before a
    /// slow subscriber is ended with `SLOW_CONSUMER`. Default `256`.
    pub subscription_buffer: usize,
}

impl EventsConfig {
    /// Reads `EVENT_RETENTION_SECS` and `SUBSCRIPTION_BUFFER`.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        Ok(Self {
            retention: Duration::from_secs(
                positive(&var, "EVENT_RETENTION_SECS")?.unwrap_or(7 * 24 * 3600),
            ),
            subscription_buffer: positive(&var, "SUBSCRIPTION_BUFFER")?.unwrap_or(256),
        })
    }
}

/// Background jobs: the worker pool and what is scheduled.
#[derive(Debug, Clone)]
pub struct JobsConfig {
    /// `JOBS_IN_PROCESS`: run the job workers inside `serve`. Default `true`.
    pub in_process: bool,
    /// `JOB_WORKERS`: concurrent workers. Default `4`.
    pub workers: usize,
    /// `JOB_MAX_ATTEMPTS`: attempts before a job is dead. Default `5`.
    pub max_attempts: i32,
    /// `JOB_BACKOFF_BASE_MS`: the first retry delay, doubling per attempt
    /// (with jitter). Default `1000`.
    pub backoff_base: Duration,
    /// `JOB_BACKOFF_MAX_SECS`: the longest retry delay. Default `3600`.
    pub backoff_max: Duration,
    /// `JOB_LEASE_SECS`: how long a claimed job stays with its worker
    /// before another may take it. Default `60`.
    pub lease: Duration,
    /// `JOB_TIMEOUT_SECS`: longest one attempt may run. Default `30`.
    pub timeout: Duration,
    /// `JOB_POLL_INTERVAL_MS`: polling period besides LISTEN/NOTIFY. Default `1000`.
    pub poll: Duration,
    /// `JOB_SHUTDOWN_GRACE_SECS`: time running jobs get on shutdown before
    /// they return to the queue. Default `10`.
    pub shutdown_grace: Duration,
    /// `JOB_RETENTION_SECS`: how long succeeded jobs are kept. Default `604800`.
    pub retention: Duration,
    /// `REMINDER_LEAD_SECS`: how long before a todo is due its reminder is
    /// sent. Default `3600`.
    pub reminder_lead: Duration,
    /// `TRASH_RETENTION_DAYS`: how long deleted todos stay in their list's
    /// trash (restorable) before the workers' hourly purge deletes them for
    /// good. Default `30`.
    pub trash_retention: Duration,
}

impl JobsConfig {
    /// Reads `JOBS_IN_PROCESS`, the `JOB_*` variables, `REMINDER_LEAD_SECS`
    /// and `TRASH_RETENTION_DAYS`.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        Ok(Self {
            in_process: parsed(&var, "JOBS_IN_PROCESS")?.unwrap_or(true),
            workers: positive(&var, "JOB_WORKERS")?.unwrap_or(4),
            max_attempts: positive(&var, "JOB_MAX_ATTEMPTS")?.unwrap_or(5),
            backoff_base: Duration::from_millis(
                positive(&var, "JOB_BACKOFF_BASE_MS")?.unwrap_or(1000),
            ),
            backoff_max: Duration::from_secs(
                positive(&var, "JOB_BACKOFF_MAX_SECS")?.unwrap_or(3600),
            ),
            lease: Duration::from_secs(positive(&var, "JOB_LEASE_SECS")?.unwrap_or(60)),
            timeout: Duration::from_secs(positive(&var, "JOB_TIMEOUT_SECS")?.unwrap_or(30)),
            poll: Duration::from_millis(positive(&var, "JOB_POLL_INTERVAL_MS")?.unwrap_or(1000)),
            shutdown_grace: Duration::from_secs(
                parsed(&var, "JOB_SHUTDOWN_GRACE_SECS")?.unwrap_or(10),
            ),
            retention: Duration::from_secs(
                positive(&var, "JOB_RETENTION_SECS")?.unwrap_or(7 * 24 * 3600),
            ),
            reminder_lead: Duration::from_secs(parsed(&var, "REMINDER_LEAD_SECS")?.unwrap_or(3600)),
            trash_retention: Duration::from_secs(
                positive::<u64>(&var, "TRASH_RETENTION_DAYS")?
                    .unwrap_or(30)
                    .saturating_mul(24 * 3600),
            ),
        })
    }
}

/// The Redis read cache.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// `CACHE`: use Redis as a read cache when `REDIS_URL` is set. Default `true`.
    pub enabled: bool,
    /// `CACHE_TTL_SECS`: lifetime of cached reads in Redis. Default `300`.
    pub ttl: Duration,
    /// `CACHE_TIMEOUT_MS`: a Redis call slower than this falls back to
    /// PostgreSQL. Default `50`. (Rate limits and persisted queries use
    /// the same bound.)
    pub timeout: Duration,
}

impl CacheConfig {
    /// Reads `CACHE`, `CACHE_TTL_SECS` and `CACHE_TIMEOUT_MS`.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        Ok(Self {
            enabled: parsed(&var, "CACHE")?.unwrap_or(true),
            ttl: Duration::from_secs(positive(&var, "CACHE_TTL_SECS")?.unwrap_or(300)),
            timeout: Duration::from_millis(positive(&var, "CACHE_TIMEOUT_MS")?.unwrap_or(50)),
        })
    }
}

/// Outgoing email.
#[derive(Debug, Clone)]
pub struct MailConfig {
    /// `SMTP_URL`: where email goes (`smtp://127.0.0.1:1025`, `smtps://user:pass@host`,
    /// `smtp://host:587?tls=required`). Unset: emails are logged in
    /// development; a start-up error in production.
    pub smtp_url: Option<Secret>,
    /// `MAIL_FROM`: the sender. Default `todoql <no-reply@todoql.local>`.
    pub from: String,
    /// `APP_URL`: where users reach the web app, for the links in emails
    /// (`<APP_URL>/app#verify=…`): `http(s)://host[:port]`, without a
    /// trailing slash. Default `http://localhost:8080`.
    pub app_url: String,
}

impl MailConfig {
    /// Reads `SMTP_URL` (required in `production`), `MAIL_FROM` and `APP_URL`.
    pub fn from_lookup(
        var: impl Fn(&str) -> Option<String>,
        app_env: AppEnv,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            smtp_url: match var("SMTP_URL") {
                Some(url) => Some(Secret::new(url)),
                None if app_env == AppEnv::Production => bail!(
                    "SMTP_URL is required when APP_ENV=production (e.g. smtps://user:pass@smtp.example.com)"
                ),
                None => None,
            },
            from: var("MAIL_FROM").unwrap_or_else(|| "todoql <no-reply@todoql.local>".into()),
            app_url: match var("APP_URL") {
                Some(url) if url.starts_with("https://") || url.starts_with("http://") => {
                    url.trim().trim_end_matches('/').to_owned()
                }
                Some(url) => bail!("APP_URL must start with https:// or http://, got `{url}`"),
                None => "http://localhost:8080".into(),
            },
        })
    }
}
