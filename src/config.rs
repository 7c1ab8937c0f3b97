//! Typed configuration, read from the environment once at start-up.
//!
//! Every variable is documented on the field it fills; the README's
//! configuration table lists the same names and defaults. A value that does
//! not parse stops start-up with a message naming the variable.

use std::{fmt, net::IpAddr, str::FromStr, time::Duration};

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

/// The server's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `APP_ENV`: `development` (default) or `production`.
    pub app_env: AppEnv,
    /// `HOST`: address to listen on. Default `127.0.0.1`.
    pub host: IpAddr,
    /// `PORT`: port to listen on; 0 picks a free one. Default `8080`.
    pub port: u16,
    /// `DATABASE_URL`: PostgreSQL URL. When unset, `serve` starts a local
    /// PostgreSQL under `DATA_DIR` from the installed binaries.
    pub database_url: Option<Secret>,
    /// `DATABASE_POOL_SIZE`: connections in the pool. Default `10`.
    pub database_pool_size: u32,
    /// `DATABASE_CONNECT_TIMEOUT_MS`: how long a request waits for a pooled
    /// connection before failing. Default `5000`.
    pub database_connect_timeout: Duration,
    /// `DATA_DIR`: where the local development PostgreSQL keeps its data.
    /// Default `.data` (git-ignored).
    pub data_dir: std::path::PathBuf,
    /// `REDIS_URL`: Redis URL (optional for a single instance).
    pub redis_url: Option<Secret>,
    /// `REDIS_KEY_PREFIX`: prefix of every Redis key, so instances of
    /// different deployments (or tests) can share one Redis. Default `todoql:`.
    pub redis_key_prefix: String,
    /// `JWT_SECRET`: HMAC key for access tokens, at least 32 bytes. Required
    /// in production; generated per process (with a warning) in development.
    pub jwt_secret: Secret,
    /// `ACCESS_TOKEN_TTL_SECS`: access-token lifetime. Default `900` (15 min).
    pub access_token_ttl: Duration,
    /// `REFRESH_TOKEN_TTL_SECS`: refresh-token lifetime; each rotation starts
    /// a new one, so it is also the inactivity limit. Default `2592000` (30 days).
    pub refresh_token_ttl: Duration,
    /// `GRAPHIQL`: serve the GraphiQL playground to browsers. Default `true`
    /// in development, `false` in production.
    pub graphiql: bool,
    /// `SHUTDOWN_TIMEOUT_SECS`: how long in-flight requests may take to
    /// finish after SIGTERM/SIGINT. Default `10`.
    pub shutdown_timeout: Duration,
    /// `MAX_BODY_BYTES`: largest accepted request body. Default `1048576`.
    pub max_body_bytes: usize,
    /// `EVENT_RETENTION_SECS`: how long todo events stay replayable for
    /// `todoEvents(after:)`. Default `604800` (7 days).
    pub event_retention: Duration,
    /// `SUBSCRIPTION_BUFFER`: events buffered per user channel before a
    /// slow subscriber is ended with `SLOW_CONSUMER`. Default `256`.
    pub subscription_buffer: usize,
    /// `WS_INIT_TIMEOUT_MS`: how long a socket may wait before
    /// `connection_init` (then close 4408). Default `3000`.
    pub ws_init_timeout: Duration,
    /// `WS_PING_INTERVAL_SECS`: server keep-alive ping period. Default `15`.
    pub ws_ping_interval: Duration,
    /// `WS_MAX_SUBSCRIPTIONS`: operations at once on one socket. Default `100`.
    pub ws_max_subscriptions: usize,
    /// `WS_MAX_CONNECTIONS_PER_USER`: sockets at once per user, per
    /// instance. Default `50`.
    pub ws_max_connections_per_user: usize,
    /// `GRAPHQL_MAX_QUERY_BYTES`: longest query text. Default `65536`.
    pub graphql_max_query_bytes: usize,
    /// `GRAPHQL_MAX_TOKENS`: most lexical tokens in a query. Default `5000`.
    pub graphql_max_tokens: usize,
    /// `GRAPHQL_MAX_DEPTH`: deepest field nesting. Default `12`.
    pub graphql_max_depth: usize,
    /// `GRAPHQL_MAX_ALIASES`: aliases per document. Default `30`.
    pub graphql_max_aliases: usize,
    /// `GRAPHQL_MAX_ROOT_FIELDS`: root fields per operation. Default `20`.
    pub graphql_max_root_fields: usize,
    /// `GRAPHQL_MAX_DIRECTIVES`: directives on one field. Default `5`.
    pub graphql_max_directives: usize,
    /// `GRAPHQL_MAX_COMPLEXITY`: complexity score, each field 1 and list
    /// fields multiplied by `first`. Default `10000`.
    pub graphql_max_complexity: usize,
    /// `GRAPHQL_BATCH_MAX`: operations in one JSON-array batch; `0`
    /// (default) turns batching off.
    pub graphql_batch_max: usize,
    /// `GRAPHQL_TIMEOUT_MS`: longest a query may run. Default `10000`.
    pub graphql_timeout: Duration,
    /// `GRAPHQL_INTROSPECTION`: allow introspection. Default `true` in
    /// development, `false` in production.
    pub graphql_introspection: bool,
    /// `APQ`: accept automatic persisted queries. Default `true`.
    pub apq: bool,
    /// `CACHE_TTL_SECS`: lifetime of cached reads in Redis. Default `300`.
    pub cache_ttl: Duration,
    /// `CACHE_TIMEOUT_MS`: a Redis call slower than this falls back to
    /// PostgreSQL. Default `50`.
    pub cache_timeout: Duration,
    /// `CACHE`: use Redis as a read cache when `REDIS_URL` is set. Default `true`.
    pub cache: bool,
    /// `CORS_ALLOWED_ORIGINS`: comma-separated origins allowed to call the
    /// API from browsers. Default: any origin in development, none in production.
    pub cors_allowed_origins: Vec<String>,
    /// `TRUSTED_PROXY_HOPS`: how many reverse proxies append to
    /// `X-Forwarded-For` in front of the server; the client address is the
    /// one they saw. Default `0` (use the socket's peer address).
    pub trusted_proxy_hops: usize,
    /// `LOGIN_MAX_FAILURES`: failed logins per account and per client
    /// address within `LOGIN_WINDOW_SECS` before `RATE_LIMITED`. Default `5`.
    pub login_max_failures: u64,
    /// `LOGIN_WINDOW_SECS`: the failed-login window. Default `900`.
    pub login_window: Duration,
    /// `REGISTER_MAX_PER_HOUR`: registrations per client address per hour.
    /// Default `20`.
    pub register_max_per_hour: u64,
    /// `REFRESH_MAX_PER_MINUTE`: token refreshes per client address per
    /// minute. Default `60`.
    pub refresh_max_per_minute: u64,
    /// `USER_BUDGET_PER_MINUTE`: complexity points each user may spend per
    /// minute across all operations. Default `100000`.
    pub user_budget_per_minute: u64,
    /// `PASSWORD_RESET_MAX_PER_HOUR`: reset requests per address and per
    /// account per hour. Default `5`.
    pub password_reset_max_per_hour: u64,
    /// `PASSWORD_RESET_TTL_SECS`: how long a reset code works. Default `1800`.
    pub password_reset_ttl: Duration,
    /// `SMTP_URL`: where email goes (`smtp://127.0.0.1:1025`, `smtps://user:pass@host`,
    /// `smtp://host:587?tls=required`). Unset: emails are logged in
    /// development; a start-up error in production.
    pub smtp_url: Option<Secret>,
    /// `MAIL_FROM`: the sender. Default `todoql <no-reply@todoql.local>`.
    pub mail_from: String,
    /// `JOBS_IN_PROCESS`: run the job workers inside `serve`. Default `true`.
    pub jobs_in_process: bool,
    /// `JOB_WORKERS`: concurrent workers. Default `4`.
    pub job_workers: usize,
    /// `JOB_MAX_ATTEMPTS`: attempts before a job is dead. Default `5`.
    pub job_max_attempts: i32,
    /// `JOB_BACKOFF_BASE_MS`: the first retry delay, doubling per attempt
    /// (with jitter). Default `1000`.
    pub job_backoff_base: Duration,
    /// `JOB_BACKOFF_MAX_SECS`: the longest retry delay. Default `3600`.
    pub job_backoff_max: Duration,
    /// `JOB_LEASE_SECS`: how long a claimed job stays with its worker
    /// before another may take it. Default `60`.
    pub job_lease: Duration,
    /// `JOB_TIMEOUT_SECS`: longest one attempt may run. Default `30`.
    pub job_timeout: Duration,
    /// `JOB_POLL_INTERVAL_MS`: polling period besides LISTEN/NOTIFY. Default `1000`.
    pub job_poll_interval: Duration,
    /// `JOB_SHUTDOWN_GRACE_SECS`: time running jobs get on shutdown before
    /// they return to the queue. Default `10`.
    pub job_shutdown_grace: Duration,
    /// `JOB_RETENTION_SECS`: how long succeeded jobs are kept. Default `604800`.
    pub job_retention: Duration,
    /// `REMINDER_LEAD_SECS`: how long before a todo is due its reminder is
    /// sent. Default `3600`.
    pub reminder_lead: Duration,
    /// The `OTEL_*` variables: where traces and metrics are exported.
    pub telemetry: crate::telemetry::TelemetryConfig,
    /// Set when `JWT_SECRET` was missing in development and a random one was
    /// generated (logged once telemetry is up).
    pub jwt_secret_generated: bool,
}

/// Minimum HMAC key size (RFC 8725 §3.5: at least 256 bits).
pub const MIN_JWT_SECRET_BYTES: usize = 32;

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (the environment in
    /// production, a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let var = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let app_env: AppEnv = parsed(&var, "APP_ENV")?.unwrap_or(AppEnv::Development);
        let production = app_env == AppEnv::Production;

        let jwt_secret = match var("JWT_SECRET") {
            Some(secret) if secret.len() >= MIN_JWT_SECRET_BYTES => Secret::new(secret),
            Some(_) => bail!(
                "JWT_SECRET must be at least {MIN_JWT_SECRET_BYTES} bytes (256 bits) of random data"
            ),
            None if production => {
                bail!("JWT_SECRET is required when APP_ENV=production (at least 32 random bytes)")
            }
            None => Secret::new(crate::auth::token::random_token()),
        };
        let jwt_secret_generated = var("JWT_SECRET").is_none();

        Ok(Self {
            app_env,
            host: parsed(&var, "HOST")?.unwrap_or(IpAddr::from([127, 0, 0, 1])),
            port: parsed(&var, "PORT")?.unwrap_or(8080),
            database_url: var("DATABASE_URL").map(Secret::new),
            database_pool_size: positive(&var, "DATABASE_POOL_SIZE")?.unwrap_or(10),
            database_connect_timeout: Duration::from_millis(
                positive(&var, "DATABASE_CONNECT_TIMEOUT_MS")?.unwrap_or(5000),
            ),
            data_dir: var("DATA_DIR").unwrap_or_else(|| ".data".into()).into(),
            redis_url: var("REDIS_URL").map(Secret::new),
            redis_key_prefix: var("REDIS_KEY_PREFIX").unwrap_or_else(|| "todoql:".into()),
            jwt_secret,
            access_token_ttl: Duration::from_secs(
                positive(&var, "ACCESS_TOKEN_TTL_SECS")?.unwrap_or(900),
            ),
            refresh_token_ttl: Duration::from_secs(
                positive(&var, "REFRESH_TOKEN_TTL_SECS")?.unwrap_or(30 * 24 * 3600),
            ),
            graphiql: parsed(&var, "GRAPHIQL")?.unwrap_or(!production),
            shutdown_timeout: Duration::from_secs(
                positive(&var, "SHUTDOWN_TIMEOUT_SECS")?.unwrap_or(10),
            ),
            max_body_bytes: positive(&var, "MAX_BODY_BYTES")?.unwrap_or(1024 * 1024),
            event_retention: Duration::from_secs(
                positive(&var, "EVENT_RETENTION_SECS")?.unwrap_or(7 * 24 * 3600),
            ),
            subscription_buffer: positive(&var, "SUBSCRIPTION_BUFFER")?.unwrap_or(256),
            ws_init_timeout: Duration::from_millis(
                positive(&var, "WS_INIT_TIMEOUT_MS")?.unwrap_or(3000),
            ),
            ws_ping_interval: Duration::from_secs(
                positive(&var, "WS_PING_INTERVAL_SECS")?.unwrap_or(15),
            ),
            ws_max_subscriptions: positive(&var, "WS_MAX_SUBSCRIPTIONS")?.unwrap_or(100),
            ws_max_connections_per_user: positive(&var, "WS_MAX_CONNECTIONS_PER_USER")?
                .unwrap_or(50),
            graphql_max_query_bytes: positive(&var, "GRAPHQL_MAX_QUERY_BYTES")?.unwrap_or(65_536),
            graphql_max_tokens: positive(&var, "GRAPHQL_MAX_TOKENS")?.unwrap_or(5_000),
            graphql_max_depth: positive(&var, "GRAPHQL_MAX_DEPTH")?.unwrap_or(12),
            graphql_max_aliases: parsed(&var, "GRAPHQL_MAX_ALIASES")?.unwrap_or(30),
            graphql_max_root_fields: positive(&var, "GRAPHQL_MAX_ROOT_FIELDS")?.unwrap_or(20),
            graphql_max_directives: parsed(&var, "GRAPHQL_MAX_DIRECTIVES")?.unwrap_or(5),
            graphql_max_complexity: positive(&var, "GRAPHQL_MAX_COMPLEXITY")?.unwrap_or(10_000),
            graphql_batch_max: parsed(&var, "GRAPHQL_BATCH_MAX")?.unwrap_or(0),
            graphql_timeout: Duration::from_millis(
                positive(&var, "GRAPHQL_TIMEOUT_MS")?.unwrap_or(10_000),
            ),
            graphql_introspection: parsed(&var, "GRAPHQL_INTROSPECTION")?.unwrap_or(!production),
            apq: parsed(&var, "APQ")?.unwrap_or(true),
            cache_ttl: Duration::from_secs(positive(&var, "CACHE_TTL_SECS")?.unwrap_or(300)),
            cache_timeout: Duration::from_millis(positive(&var, "CACHE_TIMEOUT_MS")?.unwrap_or(50)),
            cache: parsed(&var, "CACHE")?.unwrap_or(true),
            cors_allowed_origins: var("CORS_ALLOWED_ORIGINS")
                .map(|v| {
                    v.split(',')
                        .map(|o| o.trim().to_owned())
                        .filter(|o| !o.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            trusted_proxy_hops: parsed(&var, "TRUSTED_PROXY_HOPS")?.unwrap_or(0),
            login_max_failures: positive(&var, "LOGIN_MAX_FAILURES")?.unwrap_or(5),
            login_window: Duration::from_secs(positive(&var, "LOGIN_WINDOW_SECS")?.unwrap_or(900)),
            register_max_per_hour: positive(&var, "REGISTER_MAX_PER_HOUR")?.unwrap_or(20),
            refresh_max_per_minute: positive(&var, "REFRESH_MAX_PER_MINUTE")?.unwrap_or(60),
            user_budget_per_minute: positive(&var, "USER_BUDGET_PER_MINUTE")?.unwrap_or(100_000),
            password_reset_max_per_hour: positive(&var, "PASSWORD_RESET_MAX_PER_HOUR")?
                .unwrap_or(5),
            password_reset_ttl: Duration::from_secs(
                positive(&var, "PASSWORD_RESET_TTL_SECS")?.unwrap_or(1800),
            ),
            smtp_url: match var("SMTP_URL") {
                Some(url) => Some(Secret::new(url)),
                None if production => bail!(
                    "SMTP_URL is required when APP_ENV=production (e.g. smtps://user:pass@smtp.example.com)"
                ),
                None => None,
            },
            mail_from: var("MAIL_FROM").unwrap_or_else(|| "todoql <no-reply@todoql.local>".into()),
            jobs_in_process: parsed(&var, "JOBS_IN_PROCESS")?.unwrap_or(true),
            job_workers: positive(&var, "JOB_WORKERS")?.unwrap_or(4),
            job_max_attempts: positive(&var, "JOB_MAX_ATTEMPTS")?.unwrap_or(5),
            job_backoff_base: Duration::from_millis(
                positive(&var, "JOB_BACKOFF_BASE_MS")?.unwrap_or(1000),
            ),
            job_backoff_max: Duration::from_secs(
                positive(&var, "JOB_BACKOFF_MAX_SECS")?.unwrap_or(3600),
            ),
            job_lease: Duration::from_secs(positive(&var, "JOB_LEASE_SECS")?.unwrap_or(60)),
            job_timeout: Duration::from_secs(positive(&var, "JOB_TIMEOUT_SECS")?.unwrap_or(30)),
            job_poll_interval: Duration::from_millis(
                positive(&var, "JOB_POLL_INTERVAL_MS")?.unwrap_or(1000),
            ),
            job_shutdown_grace: Duration::from_secs(
                parsed(&var, "JOB_SHUTDOWN_GRACE_SECS")?.unwrap_or(10),
            ),
            job_retention: Duration::from_secs(
                positive(&var, "JOB_RETENTION_SECS")?.unwrap_or(7 * 24 * 3600),
            ),
            reminder_lead: Duration::from_secs(parsed(&var, "REMINDER_LEAD_SECS")?.unwrap_or(3600)),
            telemetry: crate::telemetry::TelemetryConfig::from_lookup(var)?,
            jwt_secret_generated,
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

    fn config(pairs: &[(&str, &str)]) -> anyhow::Result<Config> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_in_development() {
        let c = config(&[]).unwrap();
        assert_eq!(c.app_env, AppEnv::Development);
        assert_eq!(c.port, 8080);
        assert_eq!(c.host.to_string(), "127.0.0.1");
        assert!(c.graphiql);
        assert!(c.jwt_secret.expose().len() >= MIN_JWT_SECRET_BYTES);
        assert_eq!(c.access_token_ttl, Duration::from_secs(900));
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
        ] {
            let err = format!("{:#}", config(&[(name, value)]).unwrap_err());
            assert!(err.contains(name), "{name}={value}: {err}");
        }
    }

    #[test]
    fn secrets_are_hidden_from_debug() {
        let secret = "s".repeat(40);
        let c = config(&[("JWT_SECRET", &secret)]).unwrap();
        assert!(!format!("{c:?}").contains(&secret));
    }
}
