//! Background jobs: throughput of `todoql worker` processes draining a
//! queue of jobs.

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::bail;

use crate::{
    Settings,
    env::{Env, Pinning, Proc, cpu_seconds, load_average, reset_peak_rss, status_kb},
    report::{Row, fill_latency, histogram},
    seed::pg,
};

pub async fn jobs_scenario(env: &Env, settings: &Settings, workers: usize) -> anyhow::Result<Row> {
    let db = pg(&env.database_url).await?;
    db.batch_execute("DELETE FROM jobs").await?;
    let name = format!("worker-{workers}");
    let log = env.work.join(format!("{name}.log"));
    let mut command = Pinning::command(env.pinning.server.as_ref(), &env.server_bin);
    command.arg("worker");
    env.server_env(
        &mut command,
        &[
            ("JOB_WORKERS", workers.to_string()),
            ("JOBS_IN_PROCESS", "true".into()),
        ],
    );
    command
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log)?)
        .stderr(std::fs::File::create(env.work.join(format!("{name}.err")))?);
    let proc = Proc::spawn(&name, command)?;
    // Wait until the workers LISTEN, so the NOTIFY wakes them.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let n: i64 = db
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
                &[],
            )
            .await?
            .get(0);
        if n > 0 {
            break;
        }
        if Instant::now() > deadline {
            bail!("workers never listened; see {}", log.display());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let pid = proc.pid();
    reset_peak_rss(pid);
    let cpu0 = cpu_seconds(pid);
    let started = Instant::now();
    db.batch_execute(&format!(
        "INSERT INTO jobs (id, kind, payload) SELECT gen_random_uuid(), 'noop', '{{}}' \
         FROM generate_series(1, {}); NOTIFY todoql_jobs",
        settings.jobs
    ))
    .await?;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let done: i64 = db
            .query_one(
                "SELECT count(*) FROM jobs WHERE state IN ('succeeded', 'dead')",
                &[],
            )
            .await?
            .get(0);
        if done >= settings.jobs {
            break;
        }
        if Instant::now() > deadline {
            bail!("jobs did not finish in 300 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    let cpu = cpu_seconds(pid) - cpu0;
    let peak = status_kb(pid, "VmHWM:");
    let failed: i64 = db
        .query_one("SELECT count(*) FROM jobs WHERE state <> 'succeeded'", &[])
        .await?
        .get(0);
    // Enqueue (commit) to finish, per job, from the table's timestamps.
    let latency_rows = db
        .query(
            "SELECT (extract(epoch FROM (finished_at - created_at)) * 1e6)::int8 FROM jobs WHERE finished_at IS NOT NULL",
            &[],
        )
        .await?;
    let mut h = histogram();
    for r in latency_rows {
        let us: i64 = r.get(0);
        let _ = h.record(us.max(1) as u64);
    }
    proc.stop();
    let mut row = Row {
        name: format!("jobs: no-op, {workers} worker(s)"),
        group: "jobs".into(),
        throughput: Some(settings.jobs as f64 / elapsed.as_secs_f64()),
        unit: "jobs/s".into(),
        ops: settings.jobs as u64,
        errors: failed as u64,
        cpu_s_per_1k: Some(cpu * 1000.0 / settings.jobs as f64),
        peak_rss_mb: Some(peak as f64 / 1024.0),
        load_1m: load_average()[0],
        note: Some(format!(
            "{} jobs inserted at once; `todoql worker` with JOB_WORKERS={workers}; latency = enqueue to finish (queueing included)",
            settings.jobs
        )),
        ..Row::default()
    };
    fill_latency(&mut row, &h);
    Ok(row)
}
