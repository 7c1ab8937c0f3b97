//! Background jobs end to end: the queue in PostgreSQL, the worker pools
//! (in process, two at once, dying and shutting down), retries with
//! backoff, dead jobs and the operator CLI, and what the jobs do: welcome,
//! password-reset and due-date reminder emails, delivered over real SMTP
//! to [`SmtpSink`]. Time is driven through configuration (short backoff,
//! leases and reminder lead times) and the database is polled with
//! bounded loops, so nothing sleeps long.
//!
//! One file per concern: [`emails`] (welcome and password reset),
//! [`retries`] (backoff, dead jobs and the CLI), [`workers`] (pools,
//! leases, shutdown and their settings) and [`reminders`] (due-date
//! reminders); the database access and helpers they share are here.

mod emails;
mod reminders;
mod retries;
mod workers;

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use tokio::{process::Command, time::Instant};

use crate::support::{
    TestApp,
    process::BIN,
    smtp_sink::{Mail, Received},
};

const JOBS_ON: (&str, &str) = ("JOBS_IN_PROCESS", "true");
const FAST_POLL: (&str, &str) = ("JOB_POLL_INTERVAL_MS", "100");

// --- Database access -------------------------------------------------------

/// A plain connection to a test database; every value comes back as text.
struct Db {
    client: tokio_postgres::Client,
}

impl Db {
    async fn connect(database_url: &str) -> Self {
        let (client, connection) = tokio_postgres::connect(database_url, tokio_postgres::NoTls)
            .await
            .expect("connect to the test database");
        tokio::spawn(connection);
        Self { client }
    }

    /// Every row of `sql`, every column as text.
    async fn rows(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        let messages = self
            .client
            .simple_query(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        messages
            .into_iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                    (0..row.len())
                        .map(|i| row.get(i).map(str::to_owned))
                        .collect(),
                ),
                _ => None,
            })
            .collect()
    }

    /// The first column of the first row.
    async fn value(&self, sql: &str) -> Option<String> {
        self.rows(sql)
            .await
            .into_iter()
            .next()
            .and_then(|row| row.into_iter().next().flatten())
    }

    /// `SELECT count(*) …`.
    async fn count(&self, sql: &str) -> i64 {
        self.value(sql)
            .await
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("not a count: {sql}"))
    }

    async fn exec(&self, sql: &str) {
        self.client
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Inserts a `noop` job and wakes the workers; returns its id.
    async fn insert_noop(&self, payload: Value) -> String {
        let id = self
            .value(&format!(
                "INSERT INTO jobs (id, kind, payload) VALUES (gen_random_uuid(), 'noop', '{payload}')
                 RETURNING id"
            ))
            .await
            .unwrap();
        self.exec("NOTIFY todoql_jobs").await;
        id
    }

    /// A job by id.
    async fn job(&self, id: &str) -> Job {
        let rows = self
            .rows(&format!(
                "SELECT kind, state, attempts, locked_by, locked_until, last_error,
                        finished_at, (extract(epoch FROM run_at) * 1000000)::bigint, payload,
                        extract(epoch FROM run_at - updated_at) * 1000,
                        run_at <= now()
                 FROM jobs WHERE id = '{id}'"
            ))
            .await;
        let row = rows
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no job {id}"));
        Job::from_row(id, row)
    }

    /// The jobs of `kind` whose payload has `field` = `value`, oldest first.
    async fn jobs_where(&self, kind: &str, field: &str, value: &str) -> Vec<Job> {
        let ids = self
            .rows(&format!(
                "SELECT id FROM jobs WHERE kind = '{kind}' AND payload ->> '{field}' = '{value}'
                 ORDER BY created_at, id"
            ))
            .await;
        let mut jobs = Vec::new();
        for row in ids {
            jobs.push(self.job(row[0].as_deref().unwrap()).await);
        }
        jobs
    }

    /// Polls the job until `done` holds; panics with its last state after
    /// `timeout`.
    async fn wait_job(&self, id: &str, timeout: Duration, done: impl Fn(&Job) -> bool) -> Job {
        let deadline = Instant::now() + timeout;
        loop {
            let job = self.job(id).await;
            if done(&job) {
                return job;
            }
            assert!(
                Instant::now() < deadline,
                "job {id} not as expected after {timeout:?}: {job:#?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Polls `SELECT count(*) …` until it is `expected`.
    async fn wait_count(&self, sql: &str, expected: i64, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let n = self.count(sql).await;
            if n == expected {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{n} instead of {expected} after {timeout:?}: {sql}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A job row, as the tests look at it.
#[derive(Debug, Clone)]
struct Job {
    id: String,
    kind: String,
    state: String,
    attempts: i32,
    locked_by: Option<String>,
    locked_until: Option<String>,
    last_error: Option<String>,
    finished_at: Option<String>,
    run_at: DateTime<Utc>,
    payload: Value,
    /// `run_at - updated_at`: for a failed job, the retry delay.
    retry_delay_ms: f64,
    due: bool,
}

impl Job {
    fn from_row(id: &str, row: Vec<Option<String>>) -> Self {
        let text = |i: usize| row[i].clone();
        Self {
            id: id.to_owned(),
            kind: text(0).unwrap(),
            state: text(1).unwrap(),
            attempts: text(2).unwrap().parse().unwrap(),
            locked_by: text(3),
            locked_until: text(4),
            last_error: text(5),
            finished_at: text(6),
            run_at: micros(&text(7).unwrap()),
            payload: serde_json::from_str(&text(8).unwrap()).unwrap(),
            retry_delay_ms: text(9).unwrap().parse().unwrap(),
            due: text(10).unwrap() == "t",
        }
    }

    /// The pool part of `locked_by` (`<pid>-<8 hex>`, before `/<worker>`).
    fn pool(&self) -> &str {
        pool_of(
            self.locked_by
                .as_deref()
                .unwrap_or_else(|| panic!("{self:?}")),
        )
    }
}

fn pool_of(locked_by: &str) -> &str {
    locked_by
        .split_once('/')
        .map_or(locked_by, |(pool, _)| pool)
}

/// Whether a pool name has the documented shape `<pid>-<8 hex>`.
fn is_pool_name(pool: &str) -> bool {
    pool.split_once('-').is_some_and(|(pid, suffix)| {
        !pid.is_empty()
            && pid.bytes().all(|b| b.is_ascii_digit())
            && suffix.len() == 8
            && suffix.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// Microseconds since the epoch (how the queries below return instants).
fn micros(s: &str) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(s.parse().unwrap_or_else(|e| panic!("{s}: {e}")))
        .unwrap_or_else(|| panic!("not an instant: {s}"))
}

// --- The app and its clients ------------------------------------------------

async fn request_reset(app: &TestApp, email: &str) -> Value {
    app.gql(
        "mutation($email: String!) { requestPasswordReset(email: $email) }",
        json!({ "email": email }),
    )
    .await
}

async fn reset_password(app: &TestApp, token: &str, new_password: &str) -> Value {
    app.gql(
        "mutation($token: String!, $pw: String!) { resetPassword(token: $token, newPassword: $pw) {
            accessToken refreshToken user { id email } } }",
        json!({ "token": token, "pw": new_password }),
    )
    .await
}

/// `todoql <args>` on `database_url`: (success, stdout, stderr).
async fn cli(database_url: &str, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(BIN)
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "error")
        .env_remove("APP_ENV")
        .kill_on_drop(true)
        .output()
        .await
        .expect("run the todoql binary");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The line of `todoql jobs list` output about job `id`, split in columns
/// (id, kind, state, attempts, run at, last error…).
fn listed<'a>(stdout: &'a str, id: &str) -> Option<Vec<&'a str>> {
    stdout
        .lines()
        .find(|line| line.starts_with(id))
        .map(|line| line.split_whitespace().collect())
}

/// An instant as the API takes it (RFC 3339, milliseconds).
fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The messages sent to `to`.
fn sent_to(messages: &[Received], to: &str) -> Vec<Mail> {
    messages
        .iter()
        .filter(|m| m.to.iter().any(|r| r == to))
        .map(Received::mail)
        .collect()
}

/// The code on its own indented line of a password-reset email.
fn reset_token_of(mail: &Mail) -> String {
    let text = mail.text.as_deref().expect("a text part");
    let codes: Vec<&str> = text
        .lines()
        .filter(|line| line.starts_with("    ") && !line.trim().is_empty())
        .map(str::trim)
        .collect();
    assert_eq!(
        codes.len(),
        1,
        "one indented code line expected in:\n{text}"
    );
    let code = codes[0];
    assert!(code.len() >= 20, "a short reset code: {code:?}");
    assert!(
        !code.contains(char::is_whitespace) && !code.contains("{{"),
        "{code:?}"
    );
    code.to_owned()
}
