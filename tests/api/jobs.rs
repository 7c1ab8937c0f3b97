//! Background jobs end to end: the queue in PostgreSQL, the worker pools
//! (in process, two at once, dying and shutting down), retries with
//! backoff, dead jobs and the operator CLI, and what the jobs do: welcome,
//! password-reset and due-date reminder emails, delivered over real SMTP
//! to [`SmtpSink`]. Time is driven through configuration (short backoff,
//! leases and reminder lead times) and the database is polled with
//! bounded loops, so nothing sleeps long.

use std::{collections::BTreeMap, time::Duration};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use tokio::{process::Command, time::Instant};

use crate::support::{
    PASSWORD, SESSION, TestApp, error_code, fresh_database,
    process::BIN,
    smtp_sink::{Mail, Received, SmtpSink},
    unique_email,
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

// --- Welcome email ----------------------------------------------------------

#[tokio::test]
async fn registering_sends_a_welcome_email_with_the_name_escaped_in_html() {
    let sink = SmtpSink::start().await;
    let smtp = sink.url();
    let app = TestApp::spawn_with(&[
        JOBS_ON,
        FAST_POLL,
        ("SMTP_URL", &smtp),
        ("MAIL_FROM", "todoql tests <robot@todoql.test>"),
    ])
    .await;
    let db = Db::connect(&app.database_url).await;
    let name = r#"<b>Ann & "Co"</b>"#;
    let email = unique_email("ann");
    let body = app
        .register_with(&email, PASSWORD, Some(name), SESSION)
        .await;
    assert!(body["errors"].is_null(), "register failed: {body}");
    let user_id = body["data"]["register"]["user"]["id"].as_str().unwrap();

    let messages = sink.wait_for(1, Duration::from_secs(10)).await;
    let received = &messages[0];
    assert_eq!(received.to, [email.as_str()], "envelope recipients");
    assert_eq!(received.from, "robot@todoql.test", "envelope sender");
    let mail = received.mail();
    assert_eq!(mail.subject(), "Welcome to todoql");
    assert_eq!(mail.content_type, "multipart/alternative", "{mail:#?}");
    let to = mail.header("to").unwrap();
    assert!(to.contains(&email), "To: {to}");
    let from = mail.header("from").unwrap();
    assert!(from.contains("robot@todoql.test"), "From: {from}");

    let text = mail.text.as_deref().expect("a text/plain part");
    let html = mail.html.as_deref().expect("a text/html part");
    // Raw in the text part, escaped in the HTML one.
    assert!(text.contains(&format!("Hi {name},")), "text part:\n{text}");
    assert!(text.contains(&email), "text part:\n{text}");
    assert!(
        html.contains("Hi &lt;b&gt;Ann &amp; &quot;Co&quot;&lt;/b&gt;,"),
        "HTML part:\n{html}"
    );
    assert!(!html.contains("<b>Ann"), "unescaped name in HTML:\n{html}");
    assert!(html.contains(&format!("<code>{email}</code>")), "{html}");
    assert!(
        !text.contains("{{") && !html.contains("{{"),
        "unfilled placeholders"
    );

    // The job is recorded as done, first time.
    let jobs = db.jobs_where("welcome_email", "user_id", user_id).await;
    assert_eq!(jobs.len(), 1, "{jobs:#?}");
    let job = db
        .wait_job(&jobs[0].id, Duration::from_secs(5), |j| {
            j.state == "succeeded"
        })
        .await;
    assert_eq!(
        (job.kind.as_str(), job.attempts),
        ("welcome_email", 1),
        "{job:#?}"
    );
    assert!(
        job.last_error.is_none() && job.finished_at.is_some(),
        "{job:#?}"
    );
    assert!(is_pool_name(job.pool()), "{job:#?}");

    // And only one email.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.messages().len(), 1, "{:#?}", sink.messages());
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_registration_that_fails_enqueues_no_welcome_email() {
    // No workers: what is enqueued stays in the table to be counted.
    let app = TestApp::spawn().await;
    let db = Db::connect(&app.database_url).await;
    let email = unique_email("taken");
    let first = app
        .register_with(&email, PASSWORD, Some("First"), SESSION)
        .await;
    assert!(first["errors"].is_null(), "{first}");
    let user_id = first["data"]["register"]["user"]["id"].as_str().unwrap();

    for again in [email.clone(), email.to_uppercase()] {
        let body = app
            .register_with(&again, PASSWORD, Some("Second"), SESSION)
            .await;
        assert_eq!(error_code(&body), "CONFLICT", "{body}");
    }
    // Invalid input fails before anything is written.
    let weak = app
        .gql(
            "mutation($input: RegisterInput!) { register(input: $input) { accessToken } }",
            json!({ "input": { "email": unique_email("weak"), "password": "x" } }),
        )
        .await;
    assert_eq!(error_code(&weak), "BAD_USER_INPUT", "{weak}");

    let all = db
        .rows("SELECT payload ->> 'user_id', state FROM jobs WHERE kind = 'welcome_email'")
        .await;
    assert_eq!(
        all,
        [vec![Some(user_id.to_owned()), Some("queued".to_owned())]],
        "exactly the first registration's job"
    );
    assert_eq!(db.count("SELECT count(*) FROM jobs").await, 1);
    assert_eq!(db.count("SELECT count(*) FROM users").await, 1);
}

// --- Retries, dead jobs and the CLI --------------------------------------

#[tokio::test]
async fn an_smtp_outage_is_retried_with_backoff_and_the_email_sent_once_it_is_back() {
    let mut sink = SmtpSink::start().await;
    sink.stop().await;
    let smtp = sink.url();
    let app = TestApp::spawn_with(&[
        JOBS_ON,
        FAST_POLL,
        ("SMTP_URL", &smtp),
        ("JOB_BACKOFF_BASE_MS", "100"),
        ("JOB_BACKOFF_MAX_SECS", "60"),
        ("JOB_MAX_ATTEMPTS", "20"),
    ])
    .await;
    let db = Db::connect(&app.database_url).await;
    let email = unique_email("patient");
    let body = app.register_with(&email, PASSWORD, None, SESSION).await;
    assert!(body["errors"].is_null(), "{body}");
    let user_id = body["data"]["register"]["user"]["id"].as_str().unwrap();
    let jobs = db.jobs_where("welcome_email", "user_id", user_id).await;
    assert_eq!(jobs.len(), 1);
    let id = jobs[0].id.clone();

    // Watch the failures: the retry delay of failed attempt n is the base
    // doubled n-1 times, with jitter taking up to half of it off.
    let mut delays: BTreeMap<i32, f64> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    let failed = loop {
        let job = db.job(&id).await;
        if job.state == "failed" {
            delays.insert(job.attempts, job.retry_delay_ms);
            if job.attempts >= 4 {
                break job;
            }
        }
        assert!(
            ["queued", "running", "failed"].contains(&job.state.as_str()),
            "{job:#?}"
        );
        assert!(Instant::now() < deadline, "not 4 failed attempts: {job:#?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(delays.len() >= 2, "saw too few failures: {delays:?}");
    for (&attempt, &delay) in &delays {
        let full = 100.0 * f64::from(1u32 << (attempt - 1));
        assert!(
            delay >= full / 2.0 - 50.0 && delay <= full + 5.0,
            "retry delay after attempt {attempt}: {delay} ms, expected {}..={full} ({delays:?})",
            full / 2.0
        );
    }
    let error = failed.last_error.clone().unwrap_or_default();
    assert!(error.contains("welcome email"), "last_error: {error:?}");
    assert!(failed.finished_at.is_none(), "{failed:#?}");
    assert!(sink.messages().is_empty());

    // SMTP comes back: the next retry delivers, once.
    sink.restart().await;
    let messages = sink.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(messages[0].to, [email.as_str()]);
    assert_eq!(messages[0].mail().subject(), "Welcome to todoql");
    let done = db
        .wait_job(&id, Duration::from_secs(5), |j| j.state == "succeeded")
        .await;
    assert!(done.attempts > failed.attempts, "{done:#?}");
    assert!(done.finished_at.is_some(), "{done:#?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.messages().len(), 1, "{:#?}", sink.messages());
    assert_eq!(db.job(&id).await.state, "succeeded");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn dead_jobs_are_listed_and_retried_from_the_cli() {
    let mut sink = SmtpSink::start().await;
    sink.stop().await;
    let smtp = sink.url();
    let app = TestApp::spawn_with(&[
        JOBS_ON,
        FAST_POLL,
        ("SMTP_URL", &smtp),
        ("JOB_BACKOFF_BASE_MS", "100"),
        ("JOB_MAX_ATTEMPTS", "2"),
    ])
    .await;
    let db = Db::connect(&app.database_url).await;
    let mut ids = Vec::new();
    let mut emails = Vec::new();
    for name in ["first", "second"] {
        let email = unique_email(name);
        let body = app.register_with(&email, PASSWORD, None, SESSION).await;
        assert!(body["errors"].is_null(), "{body}");
        let user_id = body["data"]["register"]["user"]["id"].as_str().unwrap();
        ids.push(
            db.jobs_where("welcome_email", "user_id", user_id).await[0]
                .id
                .clone(),
        );
        emails.push(email);
    }
    for id in &ids {
        let dead = db
            .wait_job(id, Duration::from_secs(10), |j| j.state == "dead")
            .await;
        assert_eq!(dead.attempts, 2, "{dead:#?}");
        assert!(
            dead.last_error.is_some() && dead.finished_at.is_some(),
            "{dead:#?}"
        );
        assert!(dead.locked_until.is_none(), "{dead:#?}");
    }
    // Dead is final: nothing more happens to them on their own.
    tokio::time::sleep(Duration::from_millis(400)).await;
    for id in &ids {
        let job = db.job(id).await;
        assert_eq!((job.state.as_str(), job.attempts), ("dead", 2), "{job:#?}");
    }

    let (ok, out, err) = cli(&app.database_url, &["jobs", "list", "--state", "dead"]).await;
    assert!(ok, "jobs list failed: {err}");
    for id in &ids {
        let line = listed(&out, id).unwrap_or_else(|| panic!("{id} not listed:\n{out}"));
        assert_eq!(line[1..4], ["welcome_email", "dead", "2"], "{out}");
    }
    let (ok, out, err) = cli(&app.database_url, &["jobs", "list", "--state", "succeeded"]).await;
    assert!(ok, "{err}");
    assert!(ids.iter().all(|id| listed(&out, id).is_none()), "{out}");
    let (ok, out, _) = cli(&app.database_url, &["jobs", "list", "--limit", "1"]).await;
    assert!(ok);
    let listed_ids = ids.iter().filter(|id| listed(&out, id).is_some()).count();
    assert_eq!(listed_ids, 1, "--limit 1:\n{out}");

    sink.restart().await;
    // One job by id: it runs again from a fresh count and succeeds.
    let (ok, out, err) = cli(&app.database_url, &["jobs", "retry", &ids[0]]).await;
    assert!(ok, "jobs retry failed: {err}");
    assert!(out.contains("queued again"), "{out}");
    let messages = sink.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(messages[0].to, [emails[0].as_str()]);
    let done = db
        .wait_job(&ids[0], Duration::from_secs(5), |j| j.state == "succeeded")
        .await;
    assert_eq!(done.attempts, 1, "attempts start afresh: {done:#?}");
    assert!(done.finished_at.is_some());
    assert_eq!(db.job(&ids[1]).await.state, "dead", "only the one retried");

    // A job that is not dead cannot be retried.
    let (ok, _, err) = cli(&app.database_url, &["jobs", "retry", &ids[0]]).await;
    assert!(!ok, "retrying a succeeded job must fail");
    assert!(err.contains("no dead or failed job"), "{err}");

    let (ok, out, err) = cli(&app.database_url, &["jobs", "retry", "--all-dead"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("1 dead job(s) queued again"), "{out}");
    let messages = sink.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(messages[1].to, [emails[1].as_str()]);
    let done = db
        .wait_job(&ids[1], Duration::from_secs(5), |j| j.state == "succeeded")
        .await;
    assert_eq!(done.attempts, 1, "{done:#?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.messages().len(), 2, "one email each");
    let (ok, out, _) = cli(&app.database_url, &["jobs", "list", "--state", "dead"]).await;
    assert!(
        ok && ids.iter().all(|id| listed(&out, id).is_none()),
        "{out}"
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_noop_job_that_fails_first_dies_and_a_retried_one_succeeds() {
    let app = TestApp::spawn_with(&[
        JOBS_ON,
        FAST_POLL,
        ("JOB_BACKOFF_BASE_MS", "50"),
        ("JOB_MAX_ATTEMPTS", "3"),
    ])
    .await;
    let db = Db::connect(&app.database_url).await;
    // Fails twice, succeeds on the third and last attempt.
    let lucky = db.insert_noop(json!({ "fail_attempts": 2 })).await;
    // Fails more often than it may try.
    let doomed = db.insert_noop(json!({ "fail_attempts": 5 })).await;
    let lucky = db
        .wait_job(&lucky, Duration::from_secs(10), |j| j.state == "succeeded")
        .await;
    assert_eq!(lucky.attempts, 3, "{lucky:#?}");
    let dead = db
        .wait_job(&doomed, Duration::from_secs(10), |j| j.state == "dead")
        .await;
    assert_eq!(dead.attempts, 3, "{dead:#?}");
    assert!(
        dead.last_error
            .as_deref()
            .is_some_and(|e| e.contains("failing on purpose (attempt 3)")),
        "{dead:#?}"
    );

    // An operator fixes the cause, then retries every dead job.
    db.exec(&format!(
        "UPDATE jobs SET payload = '{{\"fail_attempts\": 0}}' WHERE id = '{doomed}'"
    ))
    .await;
    let (ok, out, err) = cli(&app.database_url, &["jobs", "retry", "--all-dead"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("1 dead job(s) queued again"), "{out}");
    let revived = db
        .wait_job(&doomed, Duration::from_secs(5), |j| j.state == "succeeded")
        .await;
    assert_eq!(revived.attempts, 1, "{revived:#?}");
    let (ok, out, _) = cli(&app.database_url, &["jobs", "retry", "--all-dead"]).await;
    assert!(ok && out.contains("0 dead job(s)"), "{out}");
    let (ok, _, err) = cli(&app.database_url, &["jobs", "retry"]).await;
    assert!(!ok, "retry without an id or --all-dead must fail");
    assert!(err.contains("--all-dead"), "{err}");
    app.stop().await.unwrap();
}

// --- Concurrency, leases and shutdown -----------------------------------

#[tokio::test]
async fn a_thousand_jobs_run_exactly_once_across_two_pools() {
    let config = [JOBS_ON, FAST_POLL, ("JOB_WORKERS", "4")];
    let one = TestApp::spawn_with(&config).await;
    let two = TestApp::spawn_on(one.database_url.clone(), &config).await;
    let db = Db::connect(&one.database_url).await;
    db.exec(
        "INSERT INTO jobs (id, kind, payload)
         SELECT gen_random_uuid(), 'noop', '{\"sleep_ms\": 2}' FROM generate_series(1, 1000);
         NOTIFY todoql_jobs;",
    )
    .await;
    db.wait_count(
        "SELECT count(*) FROM jobs WHERE state = 'succeeded'",
        1000,
        Duration::from_secs(60),
    )
    .await;

    assert_eq!(db.count("SELECT count(*) FROM jobs").await, 1000);
    let states = db
        .rows("SELECT state, attempts, count(*) FROM jobs GROUP BY 1, 2")
        .await;
    assert_eq!(
        states,
        [vec![
            Some("succeeded".to_owned()),
            Some("1".to_owned()),
            Some("1000".to_owned())
        ]],
        "every job ran exactly once"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM jobs WHERE finished_at IS NULL OR locked_by IS NULL")
            .await,
        0
    );
    let pools = db
        .rows(
            "SELECT split_part(locked_by, '/', 1), count(*), count(DISTINCT locked_by)
             FROM jobs GROUP BY 1 ORDER BY 1",
        )
        .await;
    assert_eq!(pools.len(), 2, "both pools must have worked: {pools:?}");
    for pool in &pools {
        let name = pool[0].as_deref().unwrap();
        assert!(is_pool_name(name), "pool name {name:?}");
        let workers: i64 = pool[2].as_deref().unwrap().parse().unwrap();
        assert!((1..=4).contains(&workers), "{pools:?}");
    }
    one.stop().await.unwrap();
    two.stop().await.unwrap();
}

#[tokio::test]
async fn a_job_whose_lease_expired_is_claimed_again() {
    let app = TestApp::spawn_with(&[JOBS_ON, FAST_POLL]).await;
    let db = Db::connect(&app.database_url).await;
    // Two jobs "running" on a worker that is gone: one lease is over, the
    // other still holds.
    let rows = db
        .rows(
            "INSERT INTO jobs (id, kind, payload, state, attempts, locked_by, locked_until, run_at)
             VALUES
               (gen_random_uuid(), 'noop', '{}', 'running', 1, '1-deadbeef/0', now() - interval '1 second', now() - interval '1 minute'),
               (gen_random_uuid(), 'noop', '{}', 'running', 1, '1-deadbeef/1', now() + interval '1 hour', now() - interval '1 minute')
             RETURNING id, locked_by",
        )
        .await;
    db.exec("NOTIFY todoql_jobs").await;
    let expired = rows[0][0].clone().unwrap();
    let held = rows[1][0].clone().unwrap();
    let done = db
        .wait_job(&expired, Duration::from_secs(5), |j| j.state == "succeeded")
        .await;
    assert_eq!(
        done.attempts, 2,
        "the reclaim counts as an attempt: {done:#?}"
    );
    assert_ne!(done.pool(), "1-deadbeef", "{done:#?}");
    assert!(is_pool_name(done.pool()), "{done:#?}");

    tokio::time::sleep(Duration::from_millis(400)).await;
    let untouched = db.job(&held).await;
    assert_eq!(
        (untouched.state.as_str(), untouched.attempts),
        ("running", 1),
        "a live lease must be respected: {untouched:#?}"
    );
    assert_eq!(untouched.locked_by.as_deref(), Some("1-deadbeef/1"));
    app.stop().await.unwrap();
}

/// An app on a runtime of its own, which [`Doomed::kill`] drops at once:
/// its tasks vanish mid-await, as if the process died (no graceful
/// shutdown, nothing handed back).
struct Doomed {
    kill: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Doomed {
    async fn spawn(database_url: String, config: Vec<(String, String)>) -> Self {
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<()>();
        let (kill_tx, kill_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            let app = runtime.block_on(async move {
                let pairs: Vec<(&str, &str)> = config
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let app = TestApp::spawn_on(database_url, &pairs).await;
                let _ = ready_tx.send(());
                let _ = kill_rx.await;
                app
            });
            runtime.shutdown_background();
            // Never dropped: dropping would signal a graceful shutdown, and
            // its runtime is gone anyway.
            std::mem::forget(app);
        });
        ready_rx.await.expect("the doomed app started");
        Self {
            kill: Some(kill_tx),
            thread: Some(thread),
        }
    }

    async fn kill(mut self) {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
        if let Some(thread) = self.thread.take() {
            tokio::task::spawn_blocking(move || thread.join())
                .await
                .unwrap()
                .unwrap();
        }
    }
}

#[tokio::test]
async fn a_job_whose_worker_died_mid_run_is_run_again_by_another_pool() {
    let database_url = fresh_database().await;
    let db = Db::connect(&database_url).await;
    let config = |lease: &str| -> Vec<(String, String)> {
        [
            JOBS_ON,
            FAST_POLL,
            ("JOB_WORKERS", "1"),
            ("JOB_LEASE_SECS", lease),
            ("JOB_TIMEOUT_SECS", "60"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
    };
    let doomed = Doomed::spawn(database_url.clone(), config("1")).await;
    let id = db.insert_noop(json!({ "sleep_ms": 1500 })).await;
    let running = db
        .wait_job(&id, Duration::from_secs(5), |j| j.state == "running")
        .await;
    assert_eq!(running.attempts, 1);
    let dead_pool = running.pool().to_owned();
    doomed.kill().await;
    // Nothing was handed back: it still looks like it is running.
    let orphan = db.job(&id).await;
    assert_eq!(
        (orphan.state.as_str(), orphan.attempts, orphan.pool()),
        ("running", 1, dead_pool.as_str()),
        "{orphan:#?}"
    );

    let pairs = config("30");
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let survivor = TestApp::spawn_on(database_url.clone(), &pairs).await;
    let done = db
        .wait_job(&id, Duration::from_secs(10), |j| j.state == "succeeded")
        .await;
    assert_eq!(done.attempts, 2, "{done:#?}");
    assert_ne!(done.pool(), dead_pool, "{done:#?}");
    survivor.stop().await.unwrap();
}

#[tokio::test]
async fn a_job_that_always_outlives_its_lease_ends_up_dead() {
    let app = TestApp::spawn_with(&[
        JOBS_ON,
        FAST_POLL,
        ("JOB_LEASE_SECS", "1"),
        ("JOB_MAX_ATTEMPTS", "2"),
        ("JOB_TIMEOUT_SECS", "60"),
        ("JOB_SHUTDOWN_GRACE_SECS", "0"),
    ])
    .await;
    let db = Db::connect(&app.database_url).await;
    let id = db.insert_noop(json!({ "sleep_ms": 30_000 })).await;
    let dead = db
        .wait_job(&id, Duration::from_secs(10), |j| j.state == "dead")
        .await;
    assert_eq!(
        dead.attempts, 3,
        "two expired leases, then given up: {dead:#?}"
    );
    assert!(
        dead.last_error
            .as_deref()
            .is_some_and(|e| e.contains("lease expired")),
        "{dead:#?}"
    );
    app.stop().await.unwrap();
    assert_eq!(db.job(&id).await.state, "dead", "shutdown leaves dead jobs");
}

#[tokio::test]
async fn shutdown_returns_an_unfinished_job_to_the_queue_uncounted() {
    let config = [
        JOBS_ON,
        FAST_POLL,
        ("JOB_SHUTDOWN_GRACE_SECS", "0"),
        ("JOB_TIMEOUT_SECS", "60"),
    ];
    let app = TestApp::spawn_with(&config).await;
    let database_url = app.database_url.clone();
    let db = Db::connect(&database_url).await;
    let id = db.insert_noop(json!({ "sleep_ms": 10_000 })).await;
    let running = db
        .wait_job(&id, Duration::from_secs(5), |j| j.state == "running")
        .await;
    assert_eq!(running.attempts, 1);

    let stopping = Instant::now();
    app.stop().await.unwrap();
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "shutdown waited for the job: {:?}",
        stopping.elapsed()
    );
    let back = db.job(&id).await;
    assert_eq!(back.state, "queued", "{back:#?}");
    assert_eq!(back.attempts, 0, "the interrupted attempt must not count");
    assert!(
        back.locked_by.is_none() && back.locked_until.is_none(),
        "{back:#?}"
    );
    assert!(back.due, "runnable again at once: {back:#?}");
    assert!(back.finished_at.is_none());

    // The next instance runs it (made quick), as a first attempt.
    db.exec(&format!(
        "UPDATE jobs SET payload = '{{}}' WHERE id = '{id}'"
    ))
    .await;
    let next = TestApp::spawn_on(database_url, &config).await;
    let done = db
        .wait_job(&id, Duration::from_secs(5), |j| j.state == "succeeded")
        .await;
    assert_eq!(done.attempts, 1, "{done:#?}");
    next.stop().await.unwrap();
}

#[tokio::test]
async fn shutdown_lets_a_running_job_finish_within_the_grace_period() {
    let app = TestApp::spawn_with(&[JOBS_ON, FAST_POLL, ("JOB_SHUTDOWN_GRACE_SECS", "5")]).await;
    let db = Db::connect(&app.database_url).await;
    let id = db.insert_noop(json!({ "sleep_ms": 800 })).await;
    db.wait_job(&id, Duration::from_secs(5), |j| j.state == "running")
        .await;
    app.stop().await.unwrap();
    // Stopped only once the job was done.
    let job = db.job(&id).await;
    assert_eq!(
        (job.state.as_str(), job.attempts),
        ("succeeded", 1),
        "{job:#?}"
    );
}

// --- Password reset ----------------------------------------------------------

#[tokio::test]
async fn a_password_reset_by_email_replaces_the_password_and_every_session() {
    let sink = SmtpSink::start().await;
    let smtp = sink.url();
    let app = TestApp::spawn_with(&[
        JOBS_ON,
        FAST_POLL,
        ("SMTP_URL", &smtp),
        ("PASSWORD_RESET_TTL_SECS", "600"),
        ("PASSWORD_RESET_MAX_PER_HOUR", "100"),
    ])
    .await;
    let db = Db::connect(&app.database_url).await;
    let user = app.register("resetter").await;
    let second = app.login(&user.email, PASSWORD, SESSION).await;
    let second_refresh = second["data"]["login"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let welcome = sink.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(welcome.len(), 1);

    // Two requests: two emails, two different codes.
    for _ in 0..2 {
        let body = request_reset(&app, &user.email).await;
        assert_eq!(body["data"]["requestPasswordReset"], true, "{body}");
    }
    let messages = sink.wait_for(3, Duration::from_secs(10)).await;
    let resets: Vec<Mail> = sent_to(&messages, &user.email)
        .into_iter()
        .filter(|m| m.subject() == "Reset your todoql password")
        .collect();
    assert_eq!(resets.len(), 2, "{messages:#?}");
    let tokens: Vec<String> = resets.iter().map(reset_token_of).collect();
    assert_ne!(tokens[0], tokens[1], "each email has its own code");
    for (mail, token) in resets.iter().zip(&tokens) {
        let html = mail.html.as_deref().expect("an HTML part");
        assert!(html.contains(&format!("<code>{token}</code>")), "{html}");
        assert!(html.contains(&user.email), "{html}");
    }
    // The codes exist only in the emails: hashed in the database, never in
    // the queue; they last PASSWORD_RESET_TTL_SECS.
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM password_resets WHERE user_id = '{}'
             AND expires_at - created_at BETWEEN interval '599 seconds' AND interval '601 seconds'",
            user.id
        ))
        .await,
        2
    );
    for token in &tokens {
        let leaks = db
            .count(&format!(
                "SELECT (SELECT count(*) FROM jobs WHERE payload::text LIKE '%{token}%')
                      + (SELECT count(*) FROM password_resets
                         WHERE position(convert_to('{token}', 'UTF8') IN token_hash) > 0)"
            ))
            .await;
        assert_eq!(leaks, 0, "the reset code is stored in clear");
    }

    // The second code works, and signs in.
    let body = reset_password(&app, &tokens[1], "a brand new passphrase").await;
    assert!(body["errors"].is_null(), "resetPassword failed: {body}");
    let session = &body["data"]["resetPassword"];
    assert_eq!(session["user"]["id"], user.id.as_str());
    let new_access = session["accessToken"].as_str().unwrap();
    let new_refresh = session["refreshToken"].as_str().unwrap().to_owned();
    let me = app
        .gql_with(Some(new_access), "{ me { id } }", json!({}))
        .await;
    assert_eq!(me["data"]["me"]["id"], user.id.as_str(), "{me}");

    // Single use; and it voided the other outstanding code.
    for token in [&tokens[1], &tokens[0]] {
        let again = reset_password(&app, token, "yet another passphrase").await;
        assert_eq!(error_code(&again), "UNAUTHENTICATED", "{again}");
    }
    // Every earlier session is signed out; the new one works.
    for old in [&user.refresh_token, &second_refresh] {
        let body = app.refresh(old, SESSION).await;
        assert_eq!(error_code(&body), "UNAUTHENTICATED", "{body}");
    }
    let body = app.refresh(&new_refresh, SESSION).await;
    assert!(
        body["errors"].is_null(),
        "the new session must work: {body}"
    );

    // The password changed.
    let old = app.login(&user.email, PASSWORD, SESSION).await;
    assert_eq!(error_code(&old), "UNAUTHENTICATED", "{old}");
    let new = app
        .login(&user.email, "a brand new passphrase", SESSION)
        .await;
    assert!(new["errors"].is_null(), "{new}");

    let jobs = db
        .jobs_where("password_reset_email", "user_id", &user.id)
        .await;
    assert_eq!(jobs.len(), 2);
    assert!(
        jobs.iter()
            .all(|j| j.state == "succeeded" && j.attempts == 1),
        "{jobs:#?}"
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn expired_and_unknown_reset_codes_and_unknown_addresses_get_nothing() {
    let sink = SmtpSink::start().await;
    let smtp = sink.url();
    let app = TestApp::spawn_with(&[
        JOBS_ON,
        FAST_POLL,
        ("SMTP_URL", &smtp),
        ("PASSWORD_RESET_TTL_SECS", "1"),
        ("PASSWORD_RESET_MAX_PER_HOUR", "100"),
    ])
    .await;
    let db = Db::connect(&app.database_url).await;
    let user = app.register("forgetful").await;
    sink.wait_for(1, Duration::from_secs(10)).await;

    // An address without an account: the same answer, no job, no email.
    let stranger = unique_email("stranger");
    let body = request_reset(&app, &stranger).await;
    assert_eq!(body, json!({ "data": { "requestPasswordReset": true } }));
    assert_eq!(
        db.count("SELECT count(*) FROM jobs WHERE kind = 'password_reset_email'")
            .await,
        0
    );

    let body = request_reset(&app, &user.email).await;
    assert_eq!(body, json!({ "data": { "requestPasswordReset": true } }));
    let messages = sink.wait_for(2, Duration::from_secs(10)).await;
    let token = reset_token_of(&sent_to(&messages, &user.email)[1]);
    assert!(sent_to(&messages, &stranger).is_empty());

    // Wait out PASSWORD_RESET_TTL_SECS=1.
    db.wait_count(
        &format!(
            "SELECT count(*) FROM password_resets WHERE user_id = '{}' AND expires_at < now()",
            user.id
        ),
        1,
        Duration::from_secs(5),
    )
    .await;
    let expired = reset_password(&app, &token, "a brand new passphrase").await;
    assert_eq!(error_code(&expired), "UNAUTHENTICATED", "{expired}");
    assert!(expired["data"].is_null(), "{expired}");
    let unknown =
        reset_password(&app, "not-a-code-anyone-was-sent", "a brand new passphrase").await;
    assert_eq!(error_code(&unknown), "UNAUTHENTICATED", "{unknown}");
    assert_eq!(
        expired["errors"][0]["message"], unknown["errors"][0]["message"],
        "expired and unknown codes must look alike"
    );

    // Nothing changed.
    let still = app.login(&user.email, PASSWORD, SESSION).await;
    assert!(still["errors"].is_null(), "{still}");
    assert!(app.refresh(&user.refresh_token, SESSION).await["errors"].is_null());
    assert_eq!(sink.messages().len(), 2, "{:#?}", sink.messages());
    app.stop().await.unwrap();
}

#[tokio::test]
async fn password_reset_requests_are_rate_limited() {
    let app = TestApp::spawn_with(&[("PASSWORD_RESET_MAX_PER_HOUR", "2")]).await;
    let db = Db::connect(&app.database_url).await;
    let user = app.register("hammer").await;
    for _ in 0..2 {
        let body = request_reset(&app, &user.email).await;
        assert_eq!(body["data"]["requestPasswordReset"], true, "{body}");
    }
    let limited = request_reset(&app, &user.email).await;
    assert_eq!(error_code(&limited), "RATE_LIMITED", "{limited}");
    assert!(
        limited["errors"][0]["extensions"]["retryAfter"]
            .as_u64()
            .is_some(),
        "{limited}"
    );
    // The refused request enqueued nothing.
    assert_eq!(
        db.count("SELECT count(*) FROM jobs WHERE kind = 'password_reset_email'")
            .await,
        2
    );
}

// --- Due-date reminders ------------------------------------------------------

/// An app whose reminders go out `REMINDER_LEAD_SECS=2` before todos are due.
async fn reminder_app(sink: &SmtpSink) -> TestApp {
    let smtp = sink.url();
    TestApp::spawn_with(&[
        JOBS_ON,
        FAST_POLL,
        ("SMTP_URL", &smtp),
        ("REMINDER_LEAD_SECS", "2"),
    ])
    .await
}

/// Waits for the welcome email of each registered user and forgets it.
async fn skip_welcomes(sink: &SmtpSink, n: usize) -> usize {
    let messages = sink.wait_for(n, Duration::from_secs(10)).await;
    assert!(
        messages
            .iter()
            .all(|m| m.mail().subject() == "Welcome to todoql")
    );
    n
}

/// The reminders among `messages`.
fn reminders(messages: &[Received]) -> Vec<Mail> {
    messages
        .iter()
        .map(Received::mail)
        .filter(|m| m.subject() == "A todo is due soon")
        .collect()
}

fn due_of(job: &Job) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(job.payload["due_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

#[tokio::test]
async fn a_due_reminder_is_sent_once_lead_time_before_the_todo_is_due() {
    let sink = SmtpSink::start().await;
    let app = reminder_app(&sink).await;
    let db = Db::connect(&app.database_url).await;
    let user = app.register("punctual").await;
    let welcomes = skip_welcomes(&sink, 1).await;

    let created = Instant::now();
    let due = Utc::now() + chrono::Duration::seconds(3);
    let todo = app
        .create_todo(
            &user,
            json!({ "title": "Water the <plants>", "dueAt": rfc3339(due) }),
        )
        .await;
    let id = todo["id"].as_str().unwrap();
    // No reminder without a due date, nor for one already past.
    let undated = app.create_todo(&user, json!({ "title": "Someday" })).await;
    let overdue = app
        .create_todo(
            &user,
            json!({ "title": "Too late", "dueAt": rfc3339(Utc::now() - chrono::Duration::minutes(5)) }),
        )
        .await;
    for other in [&undated, &overdue] {
        let jobs = db
            .jobs_where("due_reminder", "todo_id", other["id"].as_str().unwrap())
            .await;
        assert!(jobs.is_empty(), "{jobs:#?}");
    }

    let jobs = db.jobs_where("due_reminder", "todo_id", id).await;
    assert_eq!(jobs.len(), 1, "{jobs:#?}");
    let job = &jobs[0];
    let due_at = due_of(job);
    assert!((due_at - due).num_milliseconds().abs() < 1, "{job:#?}");
    assert_eq!(
        job.run_at,
        due_at - chrono::Duration::seconds(2),
        "run_at = dueAt - lead"
    );
    assert_eq!(job.payload["owner_id"], user.id.as_str());
    let key = db
        .value(&format!(
            "SELECT idempotency_key FROM jobs WHERE id = '{}'",
            job.id
        ))
        .await;
    assert_eq!(
        key,
        Some(format!("reminder:{id}:{}", due_at.timestamp_micros())),
        "one reminder per todo and due time"
    );

    let messages = sink.wait_for(welcomes + 1, Duration::from_secs(6)).await;
    let elapsed = created.elapsed();
    assert!(
        elapsed >= Duration::from_millis(800),
        "sent {elapsed:?} after creation, before its time"
    );
    let sent = reminders(&messages);
    assert_eq!(sent.len(), 1, "{messages:#?}");
    assert_eq!(messages.last().unwrap().to, [user.email.as_str()]);
    let text = sent[0].text.as_deref().unwrap();
    let when = due_at.to_rfc3339_opts(SecondsFormat::Secs, true);
    assert!(
        text.contains("Water the <plants>") && text.contains(&when),
        "{text}"
    );
    let html = sent[0].html.as_deref().unwrap();
    assert!(html.contains("Water the &lt;plants&gt;"), "{html}");

    // Past the due time: still one reminder, and the job is done.
    let done = db
        .wait_job(&job.id, Duration::from_secs(5), |j| j.state == "succeeded")
        .await;
    assert_eq!(done.attempts, 1);
    let until_due = (due - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(until_due + Duration::from_millis(500)).await;
    assert_eq!(
        reminders(&sink.messages()).len(),
        1,
        "{:#?}",
        sink.messages()
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn changing_the_due_date_reschedules_the_reminder() {
    let sink = SmtpSink::start().await;
    let app = reminder_app(&sink).await;
    let db = Db::connect(&app.database_url).await;
    let user = app.register("procrastinator").await;
    let welcomes = skip_welcomes(&sink, 1).await;

    let first_due = Utc::now() + chrono::Duration::milliseconds(5000);
    let todo = app
        .create_todo(
            &user,
            json!({ "title": "File taxes", "dueAt": rfc3339(first_due) }),
        )
        .await;
    let id = todo["id"].as_str().unwrap();
    let before = db.jobs_where("due_reminder", "todo_id", id).await;
    assert_eq!(before.len(), 1);

    // A change that leaves the due date alone keeps the reminder.
    app.update_todo_ok(&user, id, json!({ "title": "File the taxes" }))
        .await;
    let same = db.jobs_where("due_reminder", "todo_id", id).await;
    assert_eq!(same.len(), 1);
    assert_eq!(same[0].id, before[0].id, "an unrelated change rescheduled");

    let new_due = Utc::now() + chrono::Duration::milliseconds(3500);
    app.update_todo_ok(&user, id, json!({ "dueAt": rfc3339(new_due) }))
        .await;
    let after = db.jobs_where("due_reminder", "todo_id", id).await;
    assert_eq!(after.len(), 1, "the old reminder must be gone: {after:#?}");
    let job = &after[0];
    assert_ne!(job.id, before[0].id);
    assert_eq!(job.state, "queued");
    let due_at = due_of(job);
    assert!((due_at - new_due).num_milliseconds().abs() < 1, "{job:#?}");
    assert_eq!(job.run_at, due_at - chrono::Duration::seconds(2));

    let messages = sink.wait_for(welcomes + 1, Duration::from_secs(8)).await;
    let sent = reminders(&messages);
    assert_eq!(sent.len(), 1);
    let text = sent[0].text.as_deref().unwrap();
    let new_when = due_at.to_rfc3339_opts(SecondsFormat::Secs, true);
    let old_when = due_of(&before[0]).to_rfc3339_opts(SecondsFormat::Secs, true);
    assert!(text.contains(&new_when), "{text}");
    if new_when != old_when {
        assert!(!text.contains(&old_when), "{text}");
    }
    db.wait_job(&job.id, Duration::from_secs(5), |j| j.state == "succeeded")
        .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        reminders(&sink.messages()).len(),
        1,
        "only the new one fires"
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn completing_or_deleting_a_todo_cancels_its_reminder() {
    let sink = SmtpSink::start().await;
    let app = reminder_app(&sink).await;
    let db = Db::connect(&app.database_url).await;
    let user = app.register("tidy").await;
    let welcomes = skip_welcomes(&sink, 1).await;

    let due = rfc3339(Utc::now() + chrono::Duration::milliseconds(3500));
    let mut ids = Vec::new();
    for title in ["Completed", "Deleted", "Kept"] {
        let todo = app
            .create_todo(&user, json!({ "title": title, "dueAt": due }))
            .await;
        let id = todo["id"].as_str().unwrap().to_owned();
        assert_eq!(db.jobs_where("due_reminder", "todo_id", &id).await.len(), 1);
        ids.push(id);
    }
    app.update_todo_ok(&user, &ids[0], json!({ "completed": true }))
        .await;
    app.delete_todo_ok(&user, &ids[1]).await;
    for id in &ids[..2] {
        let left = db.jobs_where("due_reminder", "todo_id", id).await;
        assert!(left.is_empty(), "not cancelled: {left:#?}");
    }

    // The kept one fires at the same moment the others would have.
    let messages = sink.wait_for(welcomes + 1, Duration::from_secs(6)).await;
    let kept = db.jobs_where("due_reminder", "todo_id", &ids[2]).await;
    db.wait_job(&kept[0].id, Duration::from_secs(5), |j| {
        j.state == "succeeded"
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = reminders(&sink.messages());
    assert_eq!(sent.len(), 1, "{messages:#?}");
    assert!(sent[0].text.as_deref().unwrap().contains("\"Kept\""));
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_stale_reminder_sends_nothing_and_succeeds() {
    let sink = SmtpSink::start().await;
    let app = reminder_app(&sink).await;
    let db = Db::connect(&app.database_url).await;
    let user = app.register("fickle").await;
    let welcomes = skip_welcomes(&sink, 1).await;

    let due = rfc3339(Utc::now() + chrono::Duration::milliseconds(3500));
    let mut ids = Vec::new();
    for title in ["Moved", "Done", "Gone", "Unchanged"] {
        let todo = app
            .create_todo(&user, json!({ "title": title, "dueAt": due }))
            .await;
        ids.push(todo["id"].as_str().unwrap().to_owned());
    }
    // Changed behind the queue's back after the reminders were scheduled.
    app.sql(&format!(
        "UPDATE todos SET due_at = due_at + interval '1 hour' WHERE id = '{}'",
        ids[0]
    ))
    .await;
    app.sql(&format!(
        "UPDATE todos SET completed = true, completed_at = now() WHERE id = '{}'",
        ids[1]
    ))
    .await;
    app.sql(&format!("DELETE FROM todos WHERE id = '{}'", ids[2]))
        .await;
    let mut jobs = Vec::new();
    for id in &ids {
        let found = db.jobs_where("due_reminder", "todo_id", id).await;
        assert_eq!(found.len(), 1, "{found:#?}");
        jobs.push(found[0].id.clone());
    }
    for job in &jobs {
        let done = db
            .wait_job(job, Duration::from_secs(6), |j| j.state == "succeeded")
            .await;
        assert_eq!(done.attempts, 1, "{done:#?}");
        assert!(done.last_error.is_none(), "{done:#?}");
    }
    sink.wait_for(welcomes + 1, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = reminders(&sink.messages());
    assert_eq!(
        sent.len(),
        1,
        "only the unchanged todo is reminded: {sent:#?}"
    );
    assert!(sent[0].text.as_deref().unwrap().contains("\"Unchanged\""));
    app.stop().await.unwrap();
}

#[tokio::test]
async fn toggling_all_todos_cancels_and_reschedules_their_reminders() {
    // No workers: the reminders stay pending, to be looked at.
    let app = TestApp::spawn_with(&[("REMINDER_LEAD_SECS", "2")]).await;
    let db = Db::connect(&app.database_url).await;
    let user = app.register("batch").await;
    let soon = rfc3339(Utc::now() + chrono::Duration::hours(1));
    let past = rfc3339(Utc::now() - chrono::Duration::hours(1));
    let mut ids = Vec::new();
    for (title, due) in [("One", &soon), ("Two", &soon), ("Overdue", &past)] {
        let todo = app
            .create_todo(&user, json!({ "title": title, "dueAt": due }))
            .await;
        ids.push(todo["id"].as_str().unwrap().to_owned());
    }
    let pending = format!(
        "SELECT count(*) FROM jobs WHERE kind = 'due_reminder' AND state = 'queued'
         AND payload ->> 'owner_id' = '{}'",
        user.id
    );
    assert_eq!(db.count(&pending).await, 2);
    let keys_before = db
        .rows("SELECT idempotency_key FROM jobs WHERE kind = 'due_reminder' ORDER BY 1")
        .await;

    let toggle = "mutation($c: Boolean!) { toggleAllTodos(completed: $c) }";
    let body = app.gql_as(&user, toggle, json!({ "c": true })).await;
    assert_eq!(body["data"]["toggleAllTodos"], 3, "{body}");
    assert_eq!(db.count(&pending).await, 0, "completing all cancels");

    let body = app.gql_as(&user, toggle, json!({ "c": false })).await;
    assert_eq!(body["data"]["toggleAllTodos"], 3, "{body}");
    assert_eq!(db.count(&pending).await, 2, "reopening reschedules");
    for id in &ids[..2] {
        assert_eq!(db.jobs_where("due_reminder", "todo_id", id).await.len(), 1);
    }
    assert!(
        db.jobs_where("due_reminder", "todo_id", &ids[2])
            .await
            .is_empty(),
        "no reminder for an overdue todo"
    );
    let keys_after = db
        .rows("SELECT idempotency_key FROM jobs WHERE kind = 'due_reminder' ORDER BY 1")
        .await;
    assert_eq!(keys_before, keys_after, "same todos, same due times");
}

#[tokio::test]
async fn an_attempt_that_outruns_job_timeout_secs_fails_and_is_retried() {
    let app = TestApp::spawn_with(&[
        JOBS_ON,
        FAST_POLL,
        ("JOB_TIMEOUT_SECS", "1"),
        ("JOB_BACKOFF_BASE_MS", "50"),
        ("JOB_MAX_ATTEMPTS", "2"),
    ])
    .await;
    let db = Db::connect(&app.database_url).await;
    let started = Instant::now();
    let slow = db.insert_noop(json!({ "sleep_ms": 30_000 })).await;
    let dead = db
        .wait_job(&slow, Duration::from_secs(10), |j| j.state == "dead")
        .await;
    assert_eq!(dead.attempts, 2, "{dead:#?}");
    assert!(
        dead.last_error
            .as_deref()
            .is_some_and(|e| e.contains("timed out after 1s")),
        "{dead:#?}"
    );
    // Two attempts of about a second each, not thirty.
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(8),
        "{took:?}"
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn retry_delays_are_capped_by_job_backoff_max_secs() {
    let app = TestApp::spawn_with(&[
        JOBS_ON,
        FAST_POLL,
        ("JOB_BACKOFF_BASE_MS", "600"),
        ("JOB_BACKOFF_MAX_SECS", "1"),
        ("JOB_MAX_ATTEMPTS", "4"),
    ])
    .await;
    let db = Db::connect(&app.database_url).await;
    let id = db.insert_noop(json!({ "fail_attempts": 10 })).await;
    let mut delays: BTreeMap<i32, f64> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let job = db.job(&id).await;
        if job.state == "failed" {
            delays.insert(job.attempts, job.retry_delay_ms);
        }
        if job.state == "dead" {
            assert_eq!(job.attempts, 4, "{job:#?}");
            break;
        }
        assert!(Instant::now() < deadline, "{job:#?} {delays:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Uncapped, attempt 3 would wait 1.2 to 2.4 s.
    assert_eq!(
        delays.keys().copied().collect::<Vec<_>>(),
        [1, 2, 3],
        "{delays:?}"
    );
    let first = delays[&1];
    assert!((250.0..=605.0).contains(&first), "{delays:?}");
    for attempt in [2, 3] {
        let delay = delays[&attempt];
        assert!(
            (450.0..=1005.0).contains(&delay),
            "capped at 1 s: {delays:?}"
        );
    }
    app.stop().await.unwrap();
}

#[tokio::test]
async fn notify_wakes_idle_workers_without_waiting_for_the_poll() {
    // Polling once a minute: only LISTEN/NOTIFY can make these quick.
    let sink = SmtpSink::start().await;
    let smtp = sink.url();
    let app = TestApp::spawn_with(&[
        JOBS_ON,
        ("JOB_POLL_INTERVAL_MS", "60000"),
        ("SMTP_URL", &smtp),
    ])
    .await;
    let db = Db::connect(&app.database_url).await;
    // Let the workers go idle first.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..3 {
        let id = db.insert_noop(json!({})).await;
        db.wait_job(&id, Duration::from_secs(3), |j| j.state == "succeeded")
            .await;
    }
    // The enqueue of a registration notifies too.
    let user = app.register("woken").await;
    let messages = sink.wait_for(1, Duration::from_secs(3)).await;
    assert_eq!(messages[0].to, [user.email.as_str()]);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn job_workers_bounds_how_many_jobs_run_at_once() {
    let app = TestApp::spawn_with(&[JOBS_ON, FAST_POLL, ("JOB_WORKERS", "3")]).await;
    let db = Db::connect(&app.database_url).await;
    db.exec(
        "INSERT INTO jobs (id, kind, payload)
         SELECT gen_random_uuid(), 'noop', '{\"sleep_ms\": 700}' FROM generate_series(1, 5);
         NOTIFY todoql_jobs;",
    )
    .await;
    let mut most = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let running = db
            .count("SELECT count(*) FROM jobs WHERE state = 'running'")
            .await;
        most = most.max(running);
        let done = db
            .count("SELECT count(*) FROM jobs WHERE state = 'succeeded'")
            .await;
        if done == 5 {
            break;
        }
        assert!(Instant::now() < deadline, "{done} of 5 done");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(most, 3, "JOB_WORKERS=3 must run three at once, no more");
    assert_eq!(
        db.count("SELECT count(DISTINCT locked_by) FROM jobs").await,
        3
    );
    app.stop().await.unwrap();
}
