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

use std::{fmt, net::IpAddr, str::FromStr, time::Duration};

use anyhow::{Context, bail};

mod groups;

pub use groups::{
    AuthConfig, AuthLimits, CacheConfig, DatabaseConfig, EventsConfig, GraphqlConfig, JobsConfig,
    MIN_JWT_SECRET_BYTES, MailConfig, RedisConfig, WsConfig,
};

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
    use std::path::PathBuf;

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
        assert_eq!((g.batch_max, g.max_mutation_root_fields), (100, 100));
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
            lookup(&[
                ("GRAPHQL_MAX_ALIASES", "0"),
                ("GRAPHQL_BATCH_MAX", "0"),
                ("GRAPHQL_MAX_MUTATION_ROOT_FIELDS", "7"),
            ]),
            AppEnv::Production,
        )
        .unwrap();
        assert_eq!(
            (g.max_aliases, g.batch_max, g.max_mutation_root_fields),
            (0, 0, 7)
        );
        assert!(
            GraphqlConfig::from_lookup(
                lookup(&[("GRAPHQL_MAX_MUTATION_ROOT_FIELDS", "0")]),
                AppEnv::Production
            )
            .is_err()
        );
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
    fn trash_retention_is_in_whole_days() {
        let j = JobsConfig::from_lookup(lookup(&[])).unwrap();
        assert_eq!(j.trash_retention, Duration::from_secs(30 * 86_400));
        let j = JobsConfig::from_lookup(lookup(&[("TRASH_RETENTION_DAYS", "7")])).unwrap();
        assert_eq!(j.trash_retention, Duration::from_secs(7 * 86_400));
        // Zero would purge at once what a user just deleted: refused.
        for bad in ["0", "-1", "a week"] {
            let err = JobsConfig::from_lookup(lookup(&[("TRASH_RETENTION_DAYS", bad)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains("TRASH_RETENTION_DAYS"), "{bad}: {err}");
        }
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
        assert_eq!(m.app_url, "http://localhost:8080");
        let m = MailConfig::from_lookup(
            lookup(&[("APP_URL", "https://todo.example/")]),
            AppEnv::Development,
        )
        .unwrap();
        assert_eq!(m.app_url, "https://todo.example");
        let err =
            MailConfig::from_lookup(lookup(&[("APP_URL", "todo.example")]), AppEnv::Development)
                .unwrap_err();
        assert!(err.to_string().contains("APP_URL"), "{err}");
    }
}
