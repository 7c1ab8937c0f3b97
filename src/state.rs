//! The state every request handler shares: configuration, pools, the
//! feature services, the GraphQL gateway and the shutdown signal. Its own
//! file so that the HTTP layer and the assembly (`app`) both depend on it,
//! and not on each other.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use tokio::sync::watch;
use uuid::Uuid;

use crate::{
    auth::AuthService,
    cache::{Redis, apq::PersistedQueries, reads::ReadCache},
    config::Config,
    db::Db,
    events::EventService,
    graphql::{AppSchema, admission::Gateway, limits::Limits, shared::SharedRuns},
    idempotency::IdempotencyService,
    telemetry::Metrics,
    todos::TodoService,
};

/// Everything request handlers share, behind one `Arc`: axum clones the
/// state for every handler and middleware that extracts it, and a clone of
/// the parts themselves (two dozen reference counts, each touched again on
/// drop) was ~5 % of a list request's CPU.
#[derive(Clone)]
pub struct AppState(Arc<AppParts>);

impl AppState {
    /// Shares `parts`.
    pub fn new(parts: AppParts) -> Self {
        Self(Arc::new(parts))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppParts;

    fn deref(&self) -> &AppParts {
        &self.0
    }
}

/// What [`AppState`] shares.
pub struct AppParts {
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
    /// Todo events and subscriptions.
    pub events: EventService,
    /// The GraphQL schema.
    pub schema: AppSchema,
    /// The admission pipeline and executor of GraphQL requests.
    pub gateway: Gateway,
    /// Subscriptions executed once for every socket that shares them.
    pub shared: SharedRuns,
    /// Document limits checked before execution.
    pub limits: Limits,
    /// Automatic persisted queries.
    pub persisted: PersistedQueries,
    /// The read cache.
    pub cache: ReadCache,
    /// Idempotency keys (the REST facade; GraphQL goes through `gateway`).
    pub idempotency: IdempotencyService,
    /// Flips to `true` when shutdown begins (WebSockets close with 1012).
    pub shutdown: watch::Receiver<bool>,
    /// Open WebSocket connections per user on this instance.
    pub ws_connections: Arc<Mutex<HashMap<Uuid, usize>>>,
    /// This app's metric instruments (from its own meter provider).
    pub metrics: Metrics,
}
