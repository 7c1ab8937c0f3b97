//! `TestApp::spawn()` and request helpers.

use std::{
    collections::HashMap,
    hash::{DefaultHasher, Hash, Hasher},
    process::Stdio,
    time::Duration,
};

use diesel::migration::MigrationSource;
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde_json::{Value, json};
use todoql::{
    app::{App, AppState},
    config::Config,
    db::{Conn, MIGRATIONS},
};
use tokio::{
    process::{Child, Command},
    sync::{OnceCell, oneshot},
};
use uuid::Uuid;

/// The admin URL of the throwaway cluster `scripts/test.sh` starts.
pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").expect(
        "TEST_DATABASE_URL is not set: run the suite with ./scripts/test.sh, \
         which starts throwaway PostgreSQL and Redis",
    )
}

/// The Redis URL of the throwaway server.
pub fn redis_url() -> Option<String> {
    std::env::var("TEST_REDIS_URL").ok()
}

/// `postgres://…/name` on the test cluster.
pub fn database_url(name: &str) -> String {
    let admin = admin_url();
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    format!("{base}/{name}")
}

/// A template name that changes whenever the migrations do.
fn template_name() -> String {
    let mut hasher = DefaultHasher::new();
    let migrations =
        MigrationSource::<diesel::pg::Pg>::migrations(&MIGRATIONS).expect("embedded migrations");
    for m in &migrations {
        m.name().to_string().hash(&mut hasher);
    }
    format!("todoql_tpl_{:x}", hasher.finish())
}

async fn admin_conn() -> Conn {
    Conn::establish(&admin_url())
        .await
        .expect("connect to the test cluster")
}

static TEMPLATE: OnceCell<String> = OnceCell::const_new();

/// Creates and migrates the template once for the whole cluster: test
/// processes race for an advisory lock, the first one builds it.
async fn template() -> &'static str {
    TEMPLATE
        .get_or_init(|| async {
            let name = template_name();
            let mut conn = admin_conn().await;
            diesel::sql_query("SELECT pg_advisory_lock(7041)")
                .execute(&mut conn)
                .await
                .unwrap();
            if !database_exists(&mut conn, &name).await {
                let building = format!("{name}_build");
                diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{building}\""))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                diesel::sql_query(format!("CREATE DATABASE \"{building}\""))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                todoql::db::migrate(&database_url(&building))
                    .await
                    .expect("migrate the template");
                // Renaming makes the template appear only once complete.
                rename_when_idle(&mut conn, &building, &name).await;
            }
            diesel::sql_query("SELECT pg_advisory_unlock(7041)")
                .execute(&mut conn)
                .await
                .unwrap();
            name
        })
        .await
}

async fn database_exists(conn: &mut Conn, name: &str) -> bool {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        exists: bool,
    }
    let row: Row =
        diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
            .bind::<diesel::sql_types::Text, _>(name)
            .get_result(conn)
            .await
            .unwrap();
    row.exists
}

/// Retries while the migration connection is still closing.
async fn rename_when_idle(conn: &mut Conn, from: &str, to: &str) {
    for _ in 0..100 {
        let result = diesel::sql_query(format!("ALTER DATABASE \"{from}\" RENAME TO \"{to}\""))
            .execute(conn)
            .await;
        if result.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("could not rename the template database");
}

/// A fresh database cloned from the migrated template.
pub async fn fresh_database() -> String {
    let template = template().await;
    let name = format!("test_{}", Uuid::new_v4().simple());
    let mut conn = admin_conn().await;
    diesel::sql_query(format!(
        "CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""
    ))
    .execute(&mut conn)
    .await
    .expect("clone the template");
    database_url(&name)
}

/// Test configuration: port 0, a fixed secret, the test Redis with a
/// prefix of its own, and SQL statements counted (`state.db.stats()`).
pub fn test_config(extra: &[(&str, &str)]) -> Config {
    let mut vars: HashMap<String, String> = HashMap::from([
        ("PORT".into(), "0".into()),
        (
            "JWT_SECRET".into(),
            "test-secret-of-at-least-thirty-two-bytes!".into(),
        ),
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

    /// `POST /graphql` as JSON, with an optional token; returns the body.
    pub async fn gql_with(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.address))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("POST /graphql");
        assert!(
            response.status().is_success(),
            "status {} for {query}",
            response.status()
        );
        response.json().await.expect("JSON body")
    }

    /// `POST /graphql` anonymously.
    pub async fn gql(&self, query: &str, variables: Value) -> Value {
        self.gql_with(None, query, variables).await
    }

    /// `POST /graphql` as `user`.
    pub async fn gql_as(&self, user: &TestUser, query: &str, variables: Value) -> Value {
        self.gql_with(Some(&user.access_token), query, variables)
            .await
    }

    /// Registers a user with a unique email based on `name`.
    pub async fn register(&self, name: &str) -> TestUser {
        let email = format!(
            "{name}.{}@example.com",
            &Uuid::new_v4().simple().to_string()[..8]
        );
        let body = self
            .gql(
                "mutation($input: RegisterInput!) { register(input: $input) {
                    accessToken refreshToken user { id email } } }",
                json!({ "input": { "email": email, "password": "correct horse battery", "displayName": name } }),
            )
            .await;
        let payload = &body["data"]["register"];
        assert!(payload.is_object(), "register failed: {body}");
        TestUser {
            id: payload["user"]["id"].as_str().unwrap().to_owned(),
            email,
            access_token: payload["accessToken"].as_str().unwrap().to_owned(),
            refresh_token: payload["refreshToken"].as_str().unwrap().to_owned(),
        }
    }

    /// Creates a todo as `user` and returns it.
    pub async fn create_todo(&self, user: &TestUser, input: Value) -> Value {
        let body = self
            .gql_as(
                user,
                &format!("mutation($input: CreateTodoInput!) {{ createTodo(input: $input) {{ {TODO_FIELDS} }} }}"),
                json!({ "input": input }),
            )
            .await;
        assert!(body["errors"].is_null(), "createTodo failed: {body}");
        body["data"]["createTodo"].clone()
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

/// Every scalar field of `Todo`.
pub const TODO_FIELDS: &str =
    "id title description completed dueAt completedAt createdAt updatedAt version";

/// The `extensions.code` of the first error.
pub fn error_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body}"))
}

/// The command to run a Node script of `tests/js`.
pub fn node_script(script: &str) -> tokio::process::Command {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/js");
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(format!("{dir}/{script}")).current_dir(dir);
    cmd
}

/// A `redis-server` of the test's own on a free port, which the test
/// stops and restarts (killed when dropped).
pub struct OwnedRedis {
    port: u16,
    child: Option<Child>,
}

impl OwnedRedis {
    /// Starts it on a free port.
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = Self { port, child: None };
        redis.restart().await;
        redis
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts it (again) on the same port and waits for PING.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server (installed by scripts/test.sh)");
        self.child = Some(child);
        for _ in 0..100 {
            if self.command(&["PING"]).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server on port {} did not start", self.port);
    }

    /// Kills it.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.unwrap();
        }
    }

    /// Runs one command on the server.
    pub async fn command(&self, args: &[&str]) -> anyhow::Result<redis::Value> {
        let run = async {
            let client = redis::Client::open(self.url())?;
            let mut conn = client.get_multiplexed_async_connection().await?;
            let mut cmd = redis::cmd(args[0]);
            for arg in &args[1..] {
                cmd.arg(*arg);
            }
            anyhow::Ok(cmd.query_async::<redis::Value>(&mut conn).await?)
        };
        tokio::time::timeout(Duration::from_secs(2), run).await?
    }
}
