//! [`TestApp`]: the app spawned in-process on port 0 against a fresh
//! database, with its own Redis key prefix and its own telemetry pipeline;
//! a second instance on the same database; an app exporting over OTLP, on
//! a runtime of its own; shutdown; SQL for states the API cannot reach.

use std::{
    cell::RefCell,
    collections::HashMap,
    sync::{Arc, OnceLock},
    time::Duration,
};

use diesel_async::{AsyncConnection, RunQueryDsl};
use todoql::{
    app::{App, AppState},
    config::Config,
    db::Conn,
    telemetry::{Logs, Telemetry, TelemetryConfig},
};
use tokio::{runtime::Runtime, sync::oneshot};
use tracing::{Dispatch, dispatcher::DefaultGuard};
use uuid::Uuid;

use super::{db::fresh_database, redis::redis_url};

/// The key test apps sign access tokens with.
pub const JWT_SECRET: &str = "test-secret-of-at-least-thirty-two-bytes!";

/// Test configuration: port 0, a fixed secret, the test Redis with a
/// prefix of its own.
pub fn test_config(extra: &[(&str, &str)]) -> Config {
    let mut vars: HashMap<String, String> = HashMap::from([
        ("PORT".into(), "0".into()),
        ("JWT_SECRET".into(), JWT_SECRET.into()),
        (
            "REDIS_KEY_PREFIX".into(),
            format!("test:{}:", Uuid::new_v4().simple()),
        ),
        ("SHUTDOWN_TIMEOUT_SECS".into(), "5".into()),
        // Every test client comes from 127.0.0.1: only the rate-limit tests
        // want the real per-address limits.
        ("REGISTER_MAX_PER_HOUR".into(), "100000".into()),
        ("REFRESH_MAX_PER_MINUTE".into(), "100000".into()),
        // Job tests turn the workers on; elsewhere they would only add
        // background queries to what some tests count.
        ("JOBS_IN_PROCESS".into(), "false".into()),
    ]);
    if let Some(url) = redis_url() {
        vars.insert("REDIS_URL".into(), url);
    }
    for (k, v) in extra {
        vars.insert((*k).into(), (*v).into());
    }
    let mut config = Config::from_lookup(|k| vars.get(k).cloned()).expect("test config");
    // SQL statements counted (`state.db.stats()`), for the query-count tests.
    config.database.record_statements = true;
    config
}

/// A running app.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// The database it uses.
    pub database_url: String,
    /// Shared state: services and query statistics.
    pub state: AppState,
    /// An HTTP client.
    pub client: reqwest::Client,
    /// The app's telemetry pipeline: exports nothing unless the app was
    /// spawned with [`TestApp::spawn_exporting`].
    pub telemetry: Arc<Telemetry>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    /// The runtime of an exporting app; other apps run on the test's.
    runtime: Option<AppRuntime>,
}

/// A signed-in test user.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: String,
    pub email: String,
    pub access_token: String,
    pub refresh_token: String,
}

impl TestApp {
    /// Spawns the app with the default test configuration.
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    /// Spawns the app with extra configuration variables.
    pub async fn spawn_with(extra: &[(&str, &str)]) -> Self {
        if std::env::var("TEST_LOG").is_ok() {
            // Logs only (no OTLP endpoint); the guard has nothing to flush.
            let _ = todoql::telemetry::init(&Default::default(), false);
        }
        let database_url = fresh_database().await;
        Self::spawn_on(database_url, extra).await
    }

    /// Spawns another app on an existing database (a second instance).
    pub async fn spawn_on(database_url: String, extra: &[(&str, &str)]) -> Self {
        Self::start(database_url, test_config(extra)).await
    }

    /// Spawns the app exporting spans and metrics as `telemetry` says,
    /// through a pipeline of its own ([`TestApp::telemetry`]): any number
    /// of these run side by side in one test process.
    pub async fn spawn_exporting(telemetry: TelemetryConfig, extra: &[(&str, &str)]) -> Self {
        let mut config = test_config(extra);
        config.telemetry = telemetry;
        Self::start(fresh_database().await, config).await
    }

    async fn start(database_url: String, config: Config) -> Self {
        // Built on the test's runtime, which outlives the app: a gRPC
        // exporter's channel runs there.
        let telemetry = Arc::new(Telemetry::new(&config.telemetry).expect("telemetry"));
        let runtime = telemetry.exports().then(|| {
            let logs = match std::env::var("TEST_LOG") {
                Ok(_) => Logs::Text,
                Err(_) => Logs::Off,
            };
            AppRuntime::new(telemetry.dispatch(logs))
        });
        let on = runtime
            .as_ref()
            .map_or_else(tokio::runtime::Handle::current, AppRuntime::handle);
        let build = {
            let (telemetry, url) = (telemetry.clone(), database_url.clone());
            async move { App::build(config, &url, &telemetry).await }
        };
        let app = on
            .spawn(build)
            .await
            .expect("build task")
            .expect("build the app");
        let address = format!("http://127.0.0.1:{}", app.port());
        let state = app.state().clone();
        let (tx, rx) = oneshot::channel::<()>();
        let server = on.spawn(app.run_until_stopped(async {
            let _ = rx.await;
        }));
        Self {
            address,
            database_url,
            state,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            telemetry,
            shutdown: Some(tx),
            server: Some(server),
            runtime,
        }
    }

    /// Signals shutdown and waits for the server to return (and an
    /// exporting app's pipeline to export what it still holds).
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let result = match self.server.take() {
            Some(handle) => handle.await?,
            None => Ok(()),
        };
        if self.runtime.is_some() {
            let telemetry = self.telemetry.clone();
            tokio::task::spawn_blocking(move || telemetry.shutdown()).await?;
        }
        result
    }

    /// Runs SQL on the app's database (for setting up states the API cannot
    /// reach, and for checking that nothing changed).
    ///
    /// Writes made here bypass the app and do not move the users' data
    /// version, so this app's cached reads are dropped afterwards.
    pub async fn sql(&self, statement: &str) {
        let mut conn = Conn::establish(&self.database_url).await.unwrap();
        diesel::sql_query(statement)
            .execute(&mut conn)
            .await
            .unwrap();
        let Some(url) = self.state.config.redis.url.as_ref() else {
            return;
        };
        // Best effort: a test may have stopped its Redis on purpose.
        let pattern = format!("{}r:*", self.state.config.redis.key_prefix);
        let drop_cached = async {
            let client = redis::Client::open(url.expose())?;
            let mut redis = client.get_multiplexed_async_connection().await?;
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(&pattern)
                .query_async(&mut redis)
                .await?;
            if !keys.is_empty() {
                redis::cmd("DEL")
                    .arg(&keys)
                    .query_async::<()>(&mut redis)
                    .await?;
            }
            redis::RedisResult::Ok(())
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), drop_cached).await;
    }
}

/// A dispatcher registered for the rest of the process once an exporting
/// app exists; it records nothing. `tracing-core` caches each callsite's
/// interest process-wide, and while exactly one dispatcher is registered it
/// asks the *current thread's* default rather than that dispatcher
/// (tokio-rs/tracing#3611, #2874): a span first reached on another test's
/// thread, whose default is none, would be cached as never wanted, and the
/// exporting app's threads would never record it. With two registered, the
/// interest is asked of each of them.
static BYSTANDER: OnceLock<Dispatch> = OnceLock::new();

thread_local! {
    /// On an exporting app's runtime threads: the app's subscriber, set as
    /// the thread's default for the thread's whole life.
    static APP_SUBSCRIBER: RefCell<Option<DefaultGuard>> = const { RefCell::new(None) };
}

/// The runtime an exporting app runs on. The `tracing` subscriber is
/// process-global, but each thread may have a default of its own: every
/// thread of this runtime, workers and blocking threads alike, makes the
/// app's subscriber its default when it starts. So whatever the app runs —
/// requests on the connection tasks axum and hyper spawn, WebSockets, job
/// workers, password hashing on blocking threads — records its spans into
/// this app's tracer, and several exporting apps (and any number of plain
/// ones) share one test process. The other way, a global subscriber routing
/// each span to its app, would need every span to know its app, which the
/// tasks libraries spawn do not carry; a runtime per app gets the routing
/// from where code runs, with nothing to tag.
struct AppRuntime {
    runtime: Option<Runtime>,
    handle: tokio::runtime::Handle,
}

impl AppRuntime {
    fn new(dispatch: Dispatch) -> Self {
        BYSTANDER.get_or_init(|| Dispatch::new(tracing::subscriber::NoSubscriber::default()));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("exporting-app")
            .enable_all()
            .on_thread_start(move || {
                let guard = tracing::dispatcher::set_default(&dispatch);
                APP_SUBSCRIBER.with(|slot| *slot.borrow_mut() = Some(guard));
            })
            .on_thread_stop(|| {
                APP_SUBSCRIBER.with(|slot| slot.borrow_mut().take());
            })
            .build()
            .expect("the app's runtime");
        Self {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
        }
    }

    fn handle(&self) -> tokio::runtime::Handle {
        self.handle.clone()
    }
}

impl Drop for AppRuntime {
    fn drop(&mut self) {
        // Dropping a runtime waits for its threads, which an async test
        // (where this drop happens) must not do.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
