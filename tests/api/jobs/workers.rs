//! Worker pools: exactly once across two pools, expired leases, workers
//! that die mid-run, shutdown, and the settings that bound attempts,
//! backoff, wake-ups and concurrency.

use std::{collections::BTreeMap, time::Duration};

use serde_json::json;
use tokio::time::Instant;

use super::{Db, FAST_POLL, JOBS_ON, is_pool_name};
use crate::support::{TestApp, fresh_database, smtp_sink::SmtpSink};

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

// --- Worker settings -------------------------------------------------------

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
