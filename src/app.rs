//! Assembles the application: pools, services, schema, router and
//! listener. `main` and the integration tests build it the same way.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use tokio::{
    net::TcpListener,
    sync::{Notify, watch},
};

use crate::{
    auth::{AuthService, token::AccessTokens},
    budget::Budget,
    cache::{Redis, apq::PersistedQueries, reads::ReadCache},
    config::Config,
    db::{self, Db},
    events::{EventBus, EventService},
    graphql::{
        SchemaOptions, admission::Gateway, build_schema, limits::Limits, shared::SharedRuns,
    },
    http::linger::{LingeringListener, MakeService},
    idempotency::IdempotencyService,
    jobs::{email::Mailer, handlers::JobContext, worker::WorkerPool},
    lists::ListService,
    rate_limit::RateLimiter,
    telemetry::{Metrics, Telemetry},
    todos::TodoService,
};

use crate::state::AppParts;
/// Re-exported: tests and tools reach the state through the assembly.
pub use crate::state::AppState;

/// A built application, bound to its port and ready to run.
pub struct App {
    listener: TcpListener,
    state: AppState,
    shutdown: watch::Sender<bool>,
    workers: Option<WorkerPool>,
}

impl App {
    /// Migrates the database at `database_url`, builds the pools and
    /// services, and binds the listener (port 0 picks a free port). The
    /// app records into `telemetry`'s instruments (the app's own: nothing
    /// is fetched from a global); its spans go to the subscriber of the
    /// threads it runs on.
    pub async fn build(
        config: Config,
        database_url: &str,
        telemetry: &Telemetry,
    ) -> anyhow::Result<Self> {
        let address = SocketAddr::new(config.host, config.port);
        let metrics = telemetry.metrics().clone();
        let (state, shutdown, workers) = assemble(config, database_url, metrics).await?;
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("binding {address} (HOST/PORT)"))?;
        Ok(Self {
            listener,
            state,
            shutdown,
            workers,
        })
    }

    /// The port the listener is bound to.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// The shared state (tests reach services and statistics through it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets
    /// in-flight requests finish within `SHUTDOWN_TIMEOUT_SECS`, and returns.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let grace = self.state.config.shutdown_timeout;
        let draining = Arc::new(Notify::new());
        let notify = draining.clone();
        let pruner = tokio::spawn(prune_events(self.state.events.clone()));
        let key_pruner = tokio::spawn(prune_idempotency_keys(self.state.idempotency.clone()));
        let workers = self
            .workers
            .map(|pool| tokio::spawn(pool.run(self.shutdown.subscribe())));
        let sockets = self.shutdown;
        let router = crate::http::router(self.state);
        // Connections linger on close while a refused upload is still
        // arriving, so the client can read the refusal.
        let server = axum::serve(
            LingeringListener::new(self.listener),
            MakeService::new(router),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: draining in-flight requests");
            // WebSockets are not tracked by the HTTP server: tell them.
            let _ = sockets.send(true);
            notify.notify_one();
        });
        tokio::select! {
            result = server => result.context("serving HTTP")?,
            () = async {
                draining.notified().await;
                tokio::time::sleep(grace).await;
            } => tracing::warn!(?grace, "shutdown grace period over; dropping unfinished requests"),
        }
        pruner.abort();
        key_pruner.abort();
        if let Some(workers) = workers {
            // They stop claiming at once and hand back unfinished jobs
            // after their grace period.
            let _ = workers.await;
        }
        Ok(())
    }
}

/// Deletes events past their retention, hourly.
async fn prune_events(events: EventService) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        match events.prune().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "pruned old todo events"),
            Err(e) => tracing::warn!(error = %e, "pruning todo events failed"),
        }
    }
}

/// How much longer than `GRAPHQL_TIMEOUT_MS` an idempotency claim lasts
/// before another request may take it over.
const IDEMPOTENCY_LEASE_MARGIN: Duration = Duration::from_secs(30);

/// Deletes idempotency keys older than 24 hours, hourly, in batches.
async fn prune_idempotency_keys(keys: IdempotencyService) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        match keys.prune().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "pruned old idempotency keys"),
            Err(e) => tracing::warn!(error = %e, "pruning idempotency keys failed"),
        }
    }
}

/// Migrates the database and builds the pools, services, schema and (when
/// `JOBS_IN_PROCESS`) the worker pool: everything but the listener. Each
/// component that records metrics gets a clone of `metrics`.
async fn assemble(
    config: Config,
    database_url: &str,
    metrics: Metrics,
) -> anyhow::Result<(AppState, watch::Sender<bool>, Option<WorkerPool>)> {
    let applied = db::migrate(database_url).await?;
    if !applied.is_empty() {
        tracing::info!(migrations = ?applied, "applied migrations");
    }
    let db = Db::connect(database_url, &config.database, metrics.clone());
    let redis = config
        .redis
        .url
        .as_ref()
        .map(|url| Redis::connect(url.expose(), &config.redis.key_prefix, metrics.clone()))
        .transpose()
        .context("REDIS_URL")?;
    let tokens = AccessTokens::new(
        config.auth.jwt_secret.expose().as_bytes(),
        config.auth.access_token_ttl,
    );
    let limiter = RateLimiter::new(redis.clone(), config.cache.timeout, metrics.clone());
    let auth = AuthService::new(
        db.clone(),
        tokens,
        config.auth.refresh_token_ttl,
        limiter.clone(),
        config.auth.limits.clone(),
        metrics.clone(),
    );
    let buffer = config.events.subscription_buffer;
    let bus = match &config.redis.url {
        Some(url) => EventBus::redis(
            url.expose(),
            format!("{}todo-events", config.redis.key_prefix),
            buffer,
        )
        .context("REDIS_URL")?,
        None => EventBus::local(buffer),
    };
    let events = EventService::new(db.clone(), bus, config.events.retention, metrics.clone());
    let cache = ReadCache::new(
        redis.clone().filter(|_| config.cache.enabled),
        config.cache.ttl,
        config.cache.timeout,
        metrics.clone(),
    );
    let todos = TodoService::new(
        db.clone(),
        events.clone(),
        cache.clone(),
        config.jobs.reminder_lead,
    );
    let lists = ListService::new(db.clone(), events.clone());
    let schemas = build_schema(
        auth.clone(),
        todos.clone(),
        lists.clone(),
        events.clone(),
        SchemaOptions {
            max_complexity: config.graphql.max_complexity,
            introspection: config.graphql.introspection,
            suggestions: !config.is_production(),
            budget: Budget::new(
                redis.clone(),
                config.cache.timeout,
                config.graphql.user_budget_per_minute,
                config.graphql.user_budget_sync,
                metrics.clone(),
            ),
            record_document: !config.is_production(),
            metrics: metrics.clone(),
        },
    );
    if metrics.exporting() {
        let pool = db.clone();
        metrics.observe_pool("postgres", config.database.pool_size, move || {
            pool.pool_state()
        });
        if let Some(redis) = &redis {
            let pool = redis.clone();
            metrics.observe_pool("redis", crate::cache::REDIS_POOL_SIZE, move || {
                pool.pool_state()
            });
        }
    }
    let mailer = Mailer::new(&config.mail)?;
    let workers = config.jobs.in_process.then(|| {
        WorkerPool::new(
            db.clone(),
            database_url.to_owned(),
            JobContext {
                auth: auth.clone(),
                todos: todos.clone(),
                lists: lists.clone(),
                mailer,
                app_url: config.mail.app_url.clone(),
            },
            config.jobs.clone(),
            metrics.clone(),
        )
    });
    let limits = Limits::from_config(&config.graphql);
    let persisted = PersistedQueries::new(redis.clone(), config.cache.timeout, metrics.clone());
    // A claim outlives the longest a request should take; a mutation still
    // running past it may be taken over, and then cannot apply its write
    // (see idempotency::service).
    let idempotency = IdempotencyService::new(
        db.clone(),
        config.graphql.timeout + IDEMPOTENCY_LEASE_MARGIN,
    );
    let gateway = Gateway::new(
        schemas.clone(),
        (auth.clone(), lists.clone(), idempotency.clone()),
        limits.clone(),
        persisted.clone(),
        config.graphql.apq,
        config.graphql.timeout,
    );
    let (shutdown, shutdown_rx) = watch::channel(false);
    let shared = SharedRuns::new(config.events.subscription_buffer);
    Ok((
        AppState::new(AppParts {
            gateway,
            shared,
            config: Arc::new(config),
            db,
            redis,
            auth,
            todos,
            events,
            schema: schemas.checked,
            limits,
            persisted,
            cache,
            idempotency,
            shutdown: shutdown_rx,
            ws_connections: Arc::default(),
            metrics,
        }),
        shutdown,
        workers,
    ))
}

/// Runs only the job workers (`todoql worker`) until SIGINT or SIGTERM,
/// recording into `telemetry`'s instruments.
pub async fn run_workers(
    mut config: Config,
    database_url: &str,
    telemetry: &Telemetry,
) -> anyhow::Result<()> {
    config.jobs.in_process = true;
    let metrics = telemetry.metrics().clone();
    let (_state, shutdown, workers) = assemble(config, database_url, metrics).await?;
    let Some(pool) = workers else {
        return Ok(());
    };
    let running = tokio::spawn(pool.run(shutdown.subscribe()));
    shutdown_signal().await;
    tracing::info!("shutting down the workers");
    let _ = shutdown.send(true);
    running.await?;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
