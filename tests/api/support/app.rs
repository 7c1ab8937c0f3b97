//! [`TestApp`]: the app spawned in-process on port 0 against a fresh
//! database, with its own Redis key prefix; a second instance on the same
//! database; shutdown; SQL for states the API cannot reach.

use std::{collections::HashMap, time::Duration};

use diesel_async::{AsyncConnection, RunQueryDsl};
use todoql::{
    app::{App, AppState},
    config::Config,
    db::Conn,
};
use tokio::sync::oneshot;
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
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
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
        let app = App::build(test_config(extra), &database_url)
            .await
            .expect("build the app");
        let address = format!("http://127.0.0.1:{}", app.port());
        let state = app.state().clone();
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until_stopped(async {
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
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    /// Signals shutdown and waits for the server to return.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.server.take() {
            Some(handle) => handle.await?,
            None => Ok(()),
        }
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
