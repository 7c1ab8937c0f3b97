//! Typed configuration, read from the environment once at start-up.
//!
//! [`Config`] holds the HTTP server's own settings and one group per
//! concern ([`DatabaseConfig`], [`RedisConfig`], [`AuthConfig`],
//! [`GraphqlConfig`], [`WsConfig`], [`EventsConfig`], [`JobsConfig`],
//! [`CacheConfig`], [`MailConfig`], and the telemetry module's
//! `TelemetryConfig`), each parsed by its own `from_lookup` from the same
//! lookup: the environment in production, a map in tests.
//!
//! Every variable is documented on the field it fills; the README's
//! configuration table lists the same names and defaults. A value that does
//! not parse stops start-up with a message naming the variable. Secrets are
//! [`Secret`]s, hidden from `Debug`.

use std::{fmt, net::IpAddr, path::PathBuf, str::FromStr, time::Duration};

use anyhow::{Context, bail};

/// Whether the server runs for a developer or in production.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    /// Local development: generated secrets allowed, GraphiQL on.
    Development,
    /// Production: secrets required, nothing internal exposed.
    Production,
}

impl FromStr for AppEnv {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "development" | "dev" => Ok(Self::Development),
            "production" | "prod" => Ok(Self::Production),
            other => bail!("expected `development` or `production`, got `{other}`"),
        }
    }
}

/// A string that never shows in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; call only where it is used.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The server's configuration: the HTTP server's own settings, then one
/// group per concern, each parsed by its own `from_lookup`.
#[derive(Debug, Clone)]
pub struct Config {
    /// `APP_ENV`: `development` (default) or `production`.
    pub app_env: AppEnv,
    /// `HOST`: address to listen on. Default `127.0.0.1`.
    pub host: IpAddr,
    /// `PORT`: port to listen on; 0 picks a free one. Default `8080`.
    pub port: u16,
    /// `GRAPHIQL`: serve the GraphiQL playground to browsers. Default `true`
    /// in development, `false` in production.
    pub graphiql: bool,
    /// `SHUTDOWN_TIMEOUT_SECS`: how long in-flight requests may take to
    /// finish after SIGTERM/SIGINT. Default `10`.
    pub shutdown_timeout: Duration,
    /// `MAX_BODY_BYTES`: largest accepted request body. Default `1048576`.
    pub max_body_bytes: usize,
    /// `CORS_ALLOWED_ORIGINS`: comma-separated origins allowed to call the
    /// API from browsers. Default: any origin in development, none in production.
    pub cors_allowed_origins: Vec<String>,
    /// `TRUSTED_PROXY_HOPS`: how many reverse proxies append to
    /// `X-Forwarded-For` in front of the server; the client address is the
    /// one they saw. Default `0` (use the socket's peer address).
    pub trusted_proxy_hops: usize,
    /// PostgreSQL.
    pub database: DatabaseConfig,
    /// Redis.
    pub redis: RedisConfig,
    /// Tokens and the limits on the credential endpoints.
    pub auth: AuthConfig,
    /// GraphQL document limits and execution.
    pub graphql: GraphqlConfig,
    /// WebSocket connections.
    pub ws: WsConfig,
    /// The todo event log and its fan-out to subscribers.
    pub events: EventsConfig,
    /// Background jobs.
    pub jobs: JobsConfig,
    /// The Redis read cache.
    pub cache: CacheConfig,
    /// Outgoing email.
    pub mail: MailConfig,
    /// The `OTEL_*` variables: where traces and metrics are exported.
    pub telemetry: crate::telemetry::TelemetryConfig,
    aliases: FlatAliases,
}

/// Copies of settings under the flat names `src/http/graphql.rs` and
/// `src/http/ws.rs` read through `state.config` (`config.ws_init_timeout`,
/// …). Transitional: those two files are being rewritten on another branch
/// and were left untouched here; once they read `config.ws.*` and
/// `config.graphql.*`, delete this struct, its field and the `Deref`.
#[derive(Debug, Clone)]
pub struct FlatAliases {
    /// `config.graphql.batch_max`.
    pub graphql_batch_max: usize,
    /// `config.graphql.timeout`.
    pub graphql_timeout: Duration,
    /// `config.graphql.apq`.
    pub apq: bool,
    /// `config.ws.init_timeout`.
    pub ws_init_timeout: Duration,
    /// `config.ws.ping_interval`.
    pub ws_ping_interval: Duration,
    /// `config.ws.max_subscriptions`.
    pub ws_max_subscriptions: usize,
    /// `config.ws.max_connections_per_user`.
    pub ws_max_connections_per_user: usize,
}

impl std::ops::Deref for Config {
    type Target = FlatAliases;

    fn deref(&self) -> &FlatAliases {
        &self.aliases
    }
}

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
    /// `GRAPHQL_MAX_ROOT_FIELDS`: root fields per operation. Default `20`.
    pub max_root_fields: usize,
    /// `GRAPHQL_MAX_DIRECTIVES`: directives on one field. Default `5`.
    pub max_directives: usize,
    /// `GRAPHQL_MAX_COMPLEXITY`: complexity score, each field 1 and list
    /// fields multiplied by `first`. Default `10000`.
    pub max_complexity: usize,
    /// `GRAPHQL_BATCH_MAX`: operations in one JSON-array batch; `0`
    /// (default) turns batching off.
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
}

impl GraphqlConfig {
    /// Reads the `GRAPHQL_*` variables, `APQ` and `USER_BUDGET_PER_MINUTE`.
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
            max_directives: parsed(&var, "GRAPHQL_MAX_DIRECTIVES")?.unwrap_or(5),
            max_complexity: positive(&var, "GRAPHQL_MAX_COMPLEXITY")?.unwrap_or(10_000),
            batch_max: parsed(&var, "GRAPHQL_BATCH_MAX")?.unwrap_or(0),
            timeout: Duration::from_millis(positive(&var, "GRAPHQL_TIMEOUT_MS")?.unwrap_or(10_000)),
            introspection: parsed(&var, "GRAPHQL_INTROSPECTION")?
                .unwrap_or(app_env != AppEnv::Production),
            apq: parsed(&var, "APQ")?.unwrap_or(true),
            user_budget_per_minute: positive(&var, "USER_BUDGET_PER_MINUTE")?.unwrap_or(100_000),
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
    /// `todoEvents(after:)`. Default `604800` (7 days).
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
}

impl JobsConfig {
    /// Reads `JOBS_IN_PROCESS`, the `JOB_*` variables and `REMINDER_LEAD_SECS`.
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
}

impl MailConfig {
    /// Reads `SMTP_URL` (required in `production`) and `MAIL_FROM`.
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
        })
    }
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (the environment in
    /// production, a map in tests). Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let var = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let app_env: AppEnv = parsed(&var, "APP_ENV")?.unwrap_or(AppEnv::Development);
        let production = app_env == AppEnv::Production;
        // First, so that a production start without secrets names them.
        let auth = AuthConfig::from_lookup(var, app_env)?;
        let graphql = GraphqlConfig::from_lookup(var, app_env)?;
        let ws = WsConfig::from_lookup(var)?;
        Ok(Self {
            app_env,
            host: parsed(&var, "HOST")?.unwrap_or(IpAddr::from([127, 0, 0, 1])),
            port: parsed(&var, "PORT")?.unwrap_or(8080),
            graphiql: parsed(&var, "GRAPHIQL")?.unwrap_or(!production),
            shutdown_timeout: Duration::from_secs(
                positive(&var, "SHUTDOWN_TIMEOUT_SECS")?.unwrap_or(10),
            ),
            max_body_bytes: positive(&var, "MAX_BODY_BYTES")?.unwrap_or(1024 * 1024),
            cors_allowed_origins: var("CORS_ALLOWED_ORIGINS")
                .map(|v| {
                    v.split(',')
                        .map(|o| o.trim().to_owned())
                        .filter(|o| !o.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            trusted_proxy_hops: parsed(&var, "TRUSTED_PROXY_HOPS")?.unwrap_or(0),
            database: DatabaseConfig::from_lookup(var)?,
            redis: RedisConfig::from_lookup(var)?,
            auth,
            aliases: FlatAliases {
                graphql_batch_max: graphql.batch_max,
                graphql_timeout: graphql.timeout,
                apq: graphql.apq,
                ws_init_timeout: ws.init_timeout,
                ws_ping_interval: ws.ping_interval,
                ws_max_subscriptions: ws.max_subscriptions,
                ws_max_connections_per_user: ws.max_connections_per_user,
            },
            graphql,
            ws,
            events: EventsConfig::from_lookup(var)?,
            jobs: JobsConfig::from_lookup(var)?,
            cache: CacheConfig::from_lookup(var)?,
            mail: MailConfig::from_lookup(var, app_env)?,
            telemetry: crate::telemetry::TelemetryConfig::from_lookup(var)?,
        })
    }

    /// Whether `APP_ENV=production`.
    pub fn is_production(&self) -> bool {
        self.app_env == AppEnv::Production
    }
}

/// Parses an optional variable, naming it in the error.
fn parsed<T>(var: &impl Fn(&str) -> Option<String>, name: &str) -> anyhow::Result<Option<T>>
where
    T: FromStr,
    T::Err: fmt::Display,
{
    var(name)
        .map(|raw| {
            raw.trim()
                .parse::<T>()
                .map_err(|e| anyhow::anyhow!("{e}"))
                .with_context(|| format!("invalid value for {name}: `{raw}`"))
        })
        .transpose()
}

/// Parses an optional variable that must be a positive whole number.
fn positive<T>(var: &impl Fn(&str) -> Option<String>, name: &str) -> anyhow::Result<Option<T>>
where
    T: FromStr + PartialOrd + Default,
    T::Err: fmt::Display,
{
    match parsed::<T>(var, name)? {
        Some(v) if v <= T::default() => bail!("invalid value for {name}: must be positive"),
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A lookup over `pairs`, as `Config::from_lookup` hands to the groups.
    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn config(pairs: &[(&str, &str)]) -> anyhow::Result<Config> {
        Config::from_lookup(lookup(pairs))
    }

    #[test]
    fn defaults_in_development() {
        let c = config(&[]).unwrap();
        assert_eq!(c.app_env, AppEnv::Development);
        assert_eq!(c.port, 8080);
        assert_eq!(c.host.to_string(), "127.0.0.1");
        assert!(c.graphiql);
        assert!(c.auth.jwt_secret.expose().len() >= MIN_JWT_SECRET_BYTES);
        assert_eq!(c.auth.access_token_ttl, Duration::from_secs(900));
    }

    #[test]
    fn production_requires_a_long_secret() {
        let err = config(&[("APP_ENV", "production")]).unwrap_err();
        assert!(err.to_string().contains("JWT_SECRET"));
        let err = config(&[("APP_ENV", "production"), ("JWT_SECRET", "short")]).unwrap_err();
        assert!(err.to_string().contains("JWT_SECRET"));
        let secret = "x".repeat(32);
        let err = config(&[("APP_ENV", "production"), ("JWT_SECRET", &secret)]).unwrap_err();
        assert!(err.to_string().contains("SMTP_URL"));
        let c = config(&[
            ("APP_ENV", "production"),
            ("JWT_SECRET", &secret),
            ("SMTP_URL", "smtp://127.0.0.1:1025"),
        ])
        .unwrap();
        assert!(!c.graphiql);
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (name, value) in [
            ("PORT", "eighty"),
            ("PORT", "70000"),
            ("HOST", "nowhere"),
            ("APP_ENV", "staging"),
            ("ACCESS_TOKEN_TTL_SECS", "0"),
            ("GRAPHIQL", "maybe"),
            ("DATABASE_POOL_SIZE", "0"),
            ("GRAPHQL_MAX_DEPTH", "deep"),
            ("WS_MAX_SUBSCRIPTIONS", "-1"),
            ("EVENT_RETENTION_SECS", "0"),
            ("JOB_MAX_ATTEMPTS", "0"),
            ("CACHE", "sometimes"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon"),
        ] {
            let err = format!("{:#}", config(&[(name, value)]).unwrap_err());
            assert!(err.contains(name), "{name}={value}: {err}");
        }
    }

    #[test]
    fn empty_values_count_as_unset() {
        let c = config(&[("PORT", " "), ("DATABASE_URL", ""), ("PG_BIN_DIR", "")]).unwrap();
        assert_eq!(c.port, 8080);
        assert!(c.database.url.is_none());
        assert!(c.database.pg_bin_dir.is_none());
    }

    #[test]
    fn secrets_are_hidden_from_debug() {
        let secret = "s".repeat(40);
        let c = config(&[
            ("JWT_SECRET", &secret),
            ("DATABASE_URL", "postgres://app:pg-password@db/todoql"),
            ("REDIS_URL", "redis://:redis-password@cache"),
            ("SMTP_URL", "smtps://mailer:smtp-password@smtp.example.com"),
        ])
        .unwrap();
        let debug = format!("{c:?}");
        for hidden in [
            secret.as_str(),
            "pg-password",
            "redis-password",
            "smtp-password",
        ] {
            assert!(!debug.contains(hidden), "{hidden} in {debug}");
        }
    }

    #[test]
    fn database_group() {
        let d = DatabaseConfig::from_lookup(lookup(&[])).unwrap();
        assert!(d.url.is_none());
        assert_eq!(d.pool_size, 10);
        assert_eq!(d.connect_timeout, Duration::from_millis(5000));
        assert_eq!(d.data_dir, PathBuf::from(".data"));
        assert!(d.pg_bin_dir.is_none());
        assert!(!d.record_statements);
        let d = DatabaseConfig::from_lookup(lookup(&[
            ("DATABASE_URL", "postgres://db/todoql"),
            ("DATABASE_POOL_SIZE", "3"),
            ("DATABASE_CONNECT_TIMEOUT_MS", "250"),
            ("DATA_DIR", "/var/lib/todoql"),
            ("PG_BIN_DIR", "/opt/pg/bin"),
        ]))
        .unwrap();
        assert_eq!(d.url.unwrap().expose(), "postgres://db/todoql");
        assert_eq!(d.pool_size, 3);
        assert_eq!(d.connect_timeout, Duration::from_millis(250));
        assert_eq!(d.data_dir, PathBuf::from("/var/lib/todoql"));
        assert_eq!(d.pg_bin_dir, Some(PathBuf::from("/opt/pg/bin")));
    }

    #[test]
    fn redis_group() {
        let r = RedisConfig::from_lookup(lookup(&[])).unwrap();
        assert!(r.url.is_none());
        assert_eq!(r.key_prefix, "todoql:");
        let r = RedisConfig::from_lookup(lookup(&[
            ("REDIS_URL", "redis://cache"),
            ("REDIS_KEY_PREFIX", "staging:"),
        ]))
        .unwrap();
        assert_eq!(r.url.unwrap().expose(), "redis://cache");
        assert_eq!(r.key_prefix, "staging:");
    }

    #[test]
    fn auth_group() {
        let a = AuthConfig::from_lookup(lookup(&[]), AppEnv::Development).unwrap();
        assert!(a.jwt_secret_generated);
        assert_eq!(a.refresh_token_ttl, Duration::from_secs(2_592_000));
        assert_eq!(a.limits.login_max_failures, 5);
        assert_eq!(a.limits.login_window, Duration::from_secs(900));
        assert_eq!(a.limits.register_per_hour, 20);
        assert_eq!(a.limits.refresh_per_minute, 60);
        assert_eq!(a.limits.reset_per_hour, 5);
        assert_eq!(a.limits.reset_ttl, Duration::from_secs(1800));
        let secret = "k".repeat(MIN_JWT_SECRET_BYTES);
        let a = AuthConfig::from_lookup(
            lookup(&[("JWT_SECRET", &secret), ("LOGIN_MAX_FAILURES", "3")]),
            AppEnv::Production,
        )
        .unwrap();
        assert!(!a.jwt_secret_generated);
        assert_eq!(a.jwt_secret.expose(), secret);
        assert_eq!(a.limits.login_max_failures, 3);
    }

    #[test]
    fn graphql_group() {
        let g = GraphqlConfig::from_lookup(lookup(&[]), AppEnv::Development).unwrap();
        assert_eq!(
            (g.max_query_bytes, g.max_tokens, g.max_depth, g.max_aliases),
            (65_536, 5_000, 12, 30)
        );
        assert_eq!(
            (g.max_root_fields, g.max_directives, g.max_complexity),
            (20, 5, 10_000)
        );
        assert_eq!(g.batch_max, 0);
        assert_eq!(g.timeout, Duration::from_millis(10_000));
        assert!(g.introspection && g.apq);
        assert_eq!(g.user_budget_per_minute, 100_000);
        assert!(
            !GraphqlConfig::from_lookup(lookup(&[]), AppEnv::Production)
                .unwrap()
                .introspection
        );
        // Zero is allowed where it means "none": no aliases, no batches.
        let g = GraphqlConfig::from_lookup(
            lookup(&[("GRAPHQL_MAX_ALIASES", "0"), ("GRAPHQL_BATCH_MAX", "10")]),
            AppEnv::Production,
        )
        .unwrap();
        assert_eq!((g.max_aliases, g.batch_max), (0, 10));
    }

    #[test]
    fn ws_group() {
        let w = WsConfig::from_lookup(lookup(&[])).unwrap();
        assert_eq!(w.init_timeout, Duration::from_millis(3000));
        assert_eq!(w.ping_interval, Duration::from_secs(15));
        assert_eq!((w.max_subscriptions, w.max_connections_per_user), (100, 50));
        let w = WsConfig::from_lookup(lookup(&[("WS_INIT_TIMEOUT_MS", "500")])).unwrap();
        assert_eq!(w.init_timeout, Duration::from_millis(500));
    }

    #[test]
    fn the_flat_aliases_follow_the_groups() {
        let c = config(&[
            ("GRAPHQL_BATCH_MAX", "4"),
            ("GRAPHQL_TIMEOUT_MS", "1500"),
            ("APQ", "false"),
            ("WS_INIT_TIMEOUT_MS", "700"),
            ("WS_PING_INTERVAL_SECS", "2"),
            ("WS_MAX_SUBSCRIPTIONS", "7"),
            ("WS_MAX_CONNECTIONS_PER_USER", "8"),
        ])
        .unwrap();
        assert_eq!(c.graphql_batch_max, c.graphql.batch_max);
        assert_eq!(c.graphql_timeout, c.graphql.timeout);
        assert_eq!(c.apq, c.graphql.apq);
        assert_eq!(c.ws_init_timeout, c.ws.init_timeout);
        assert_eq!(c.ws_ping_interval, c.ws.ping_interval);
        assert_eq!(c.ws_max_subscriptions, c.ws.max_subscriptions);
        assert_eq!(c.ws_max_connections_per_user, c.ws.max_connections_per_user);
        assert_eq!(c.ws_max_connections_per_user, 8);
    }

    #[test]
    fn events_group() {
        let e = EventsConfig::from_lookup(lookup(&[])).unwrap();
        assert_eq!(e.retention, Duration::from_secs(604_800));
        assert_eq!(e.subscription_buffer, 256);
        let e = EventsConfig::from_lookup(lookup(&[("SUBSCRIPTION_BUFFER", "16")])).unwrap();
        assert_eq!(e.subscription_buffer, 16);
    }

    #[test]
    fn jobs_group() {
        let j = JobsConfig::from_lookup(lookup(&[])).unwrap();
        assert!(j.in_process);
        assert_eq!((j.workers, j.max_attempts), (4, 5));
        assert_eq!(j.backoff_base, Duration::from_millis(1000));
        assert_eq!(j.backoff_max, Duration::from_secs(3600));
        assert_eq!(j.lease, Duration::from_secs(60));
        assert_eq!(j.timeout, Duration::from_secs(30));
        assert_eq!(j.poll, Duration::from_millis(1000));
        assert_eq!(j.shutdown_grace, Duration::from_secs(10));
        assert_eq!(j.retention, Duration::from_secs(604_800));
        assert_eq!(j.reminder_lead, Duration::from_secs(3600));
        // No grace and no lead are allowed.
        let j = JobsConfig::from_lookup(lookup(&[
            ("JOBS_IN_PROCESS", "false"),
            ("JOB_SHUTDOWN_GRACE_SECS", "0"),
            ("REMINDER_LEAD_SECS", "0"),
        ]))
        .unwrap();
        assert!(!j.in_process);
        assert_eq!(j.shutdown_grace, Duration::ZERO);
        assert_eq!(j.reminder_lead, Duration::ZERO);
    }

    #[test]
    fn cache_group() {
        let c = CacheConfig::from_lookup(lookup(&[])).unwrap();
        assert!(c.enabled);
        assert_eq!(c.ttl, Duration::from_secs(300));
        assert_eq!(c.timeout, Duration::from_millis(50));
        let c = CacheConfig::from_lookup(lookup(&[("CACHE", "false")])).unwrap();
        assert!(!c.enabled);
    }

    #[test]
    fn mail_group() {
        let m = MailConfig::from_lookup(lookup(&[]), AppEnv::Development).unwrap();
        assert!(m.smtp_url.is_none());
        assert_eq!(m.from, "todoql <no-reply@todoql.local>");
        assert!(MailConfig::from_lookup(lookup(&[]), AppEnv::Production).is_err());
        let m = MailConfig::from_lookup(
            lookup(&[("SMTP_URL", "smtp://mail:1025"), ("MAIL_FROM", "me@x.io")]),
            AppEnv::Production,
        )
        .unwrap();
        assert_eq!(m.smtp_url.unwrap().expose(), "smtp://mail:1025");
        assert_eq!(m.from, "me@x.io");
    }
}
