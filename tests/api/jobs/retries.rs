//! Failures: an SMTP outage retried with backoff, dead jobs listed and
//! retried from the CLI.

use std::{collections::BTreeMap, time::Duration};

use serde_json::json;
use tokio::time::Instant;

use super::{Db, FAST_POLL, JOBS_ON, cli, listed};
use crate::support::{PASSWORD, SESSION, TestApp, smtp_sink::SmtpSink, unique_email};

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
