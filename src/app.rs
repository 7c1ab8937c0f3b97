//! Assembles the application: pools, services, schema, router and
//! listener. `main` and the integration tests build it the same way.

use std::{future::Future, net::SocketAddr, sync::Arc};

use anyhow::Context;
use tokio::{net::TcpListener, sync::Notify};

use crate::{
    auth::{AuthService, token::AccessTokens},
    cache::Redis,
    config::Config,
    db::{self, Db},
    graphql::{AppSchema, build_schema},
    todos::TodoService,
};

/// Everything request handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The configuration.
    pub config: Arc<Config>,
    /// PostgreSQL.
    pub db: Db,
    /// Redis, when configured.
    pub redis: Option<Redis>,
    /// Accounts and sessions.
    pub auth: AuthService,
    /// Todos.
    pub todos: TodoService,
    /// The GraphQL schema.
    pub schema: AppSchema,
}

/// A built application, bound to its port and ready to run.
pub struct App {
    listener: TcpListener,
    state: AppState,
}

impl App {
    /// Migrates the database at `database_url`, builds the pools and
    /// services, and binds the listener (port 0 picks a free port).
    pub async fn build(config: Config, database_url: &str) -> anyhow::Result<Self> {
        let applied = db::migrate(database_url).await?;
        if !applied.is_empty() {
            tracing::info!(migrations = ?applied, "applied migrations");
        }
        let db = Db::connect(
            database_url,
            config.database_pool_size,
            config.database_connect_timeout,
        );
        let redis = config
            .redis_url
            .as_ref()
            .map(|url| Redis::connect(url.expose(), &config.redis_key_prefix))
            .transpose()
            .context("REDIS_URL")?;
        let tokens = AccessTokens::new(
            config.jwt_secret.expose().as_bytes(),
            config.access_token_ttl,
        );
        let auth = AuthService::new(db.clone(), tokens, config.refresh_token_ttl);
        let todos = TodoService::new(db.clone());
        let schema = build_schema(auth.clone(), todos.clone());
        let address = SocketAddr::new(config.host, config.port);
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("binding {address} (HOST/PORT)"))?;
        Ok(Self {
            listener,
            state: AppState {
                config: Arc::new(config),
                db,
                redis,
                auth,
                todos,
                schema,
            },
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
        let router = crate::http::router(self.state);
        let server = axum::serve(
            self.listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: draining in-flight requests");
            notify.notify_one();
        });
        tokio::select! {
            result = server => result.context("serving HTTP")?,
            () = async {
                draining.notified().await;
                tokio::time::sleep(grace).await;
            } => tracing::warn!(?grace, "shutdown grace period over; dropping unfinished requests"),
        }
        Ok(())
    }
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
