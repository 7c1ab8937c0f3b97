//! pgbench: the database ceiling, running the servers' own SQL
//! (`benches/pgbench/`) with the servers' pool size.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;

use crate::{
    POOL_SIZE,
    env::{Env, Pinning, Proc, load_average},
    report::{Row, fill_latency, histogram},
};

pub struct PgbenchResult {
    pub tps: f64,
    pub ops: u64,
    pub failed: u64,
    pub latency: Histogram<u64>,
}

fn pgbench_bin() -> PathBuf {
    if let Ok(dir) = std::env::var("PG_BIN_DIR") {
        return Path::new(&dir).join("pgbench");
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path().join("bin")))
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs.pop()
        .map_or_else(|| PathBuf::from("pgbench"), |d| d.join("pgbench"))
}

pub async fn pgbench(env: &Env, script: &str, seconds: u64) -> anyhow::Result<PgbenchResult> {
    let script_path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("benches/pgbench")
        .join(script);
    let prefix = env
        .work
        .join(format!("pgbench-{}", script.trim_end_matches(".sql")));
    let mut command = Pinning::command(env.pinning.client.as_ref(), &pgbench_bin());
    command
        .args(["-n", "-M", "prepared", "-c"])
        .arg(POOL_SIZE.to_string())
        .args(["-j", "2", "-T"])
        .arg(seconds.to_string())
        .arg("-f")
        .arg(&script_path)
        .arg("-l")
        .arg(format!("--log-prefix={}", prefix.display()))
        .arg(&env.database_url)
        .current_dir(&env.work)
        .stdout(std::fs::File::create(prefix.with_extension("out"))?)
        .stderr(std::fs::File::create(prefix.with_extension("err"))?);
    let mut proc = Proc::spawn("pgbench", command)?;
    let (proc, status) = tokio::task::spawn_blocking(move || {
        let status = proc.child.wait();
        (proc, status)
    })
    .await?;
    drop(proc);
    let stdout = std::fs::read_to_string(prefix.with_extension("out")).unwrap_or_default();
    let stderr = std::fs::read_to_string(prefix.with_extension("err")).unwrap_or_default();
    if !status?.success() {
        bail!("pgbench {script} failed:\n{stdout}\n{stderr}");
    }
    let field = |label: &str| -> Option<f64> {
        stdout
            .lines()
            .find(|l| l.starts_with(label))
            .and_then(|l| l.split(['=', ':']).nth(1))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    };
    let tps = field("tps").context("pgbench printed no tps")?;
    let ops = field("number of transactions actually processed").unwrap_or(0.0) as u64;
    let failed = field("number of failed transactions").unwrap_or(0.0) as u64;
    // Per-transaction log: client, transaction, latency (µs), ...
    let mut latency = histogram();
    let name = prefix.file_name().unwrap().to_string_lossy().to_string();
    for entry in std::fs::read_dir(&env.work)? {
        let entry = entry?;
        let file = entry.file_name().to_string_lossy().to_string();
        if file.starts_with(&format!("{name}."))
            && !file.ends_with(".out")
            && !file.ends_with(".err")
        {
            let text = std::fs::read_to_string(entry.path())?;
            for line in text.lines() {
                if let Some(us) = line
                    .split_whitespace()
                    .nth(2)
                    .and_then(|v| v.parse::<u64>().ok())
                {
                    let _ = latency.record(us.max(1));
                }
            }
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(PgbenchResult {
        tps,
        ops,
        failed,
        latency,
    })
}

pub fn row_from_pgbench(name: &str, r: &PgbenchResult) -> Row {
    let mut row = Row {
        name: name.into(),
        group: "ceiling".into(),
        throughput: Some(r.tps),
        unit: "tx/s".into(),
        ops: r.ops,
        errors: r.failed,
        load_1m: load_average()[0],
        ..Row::default()
    };
    fill_latency(&mut row, &r.latency);
    row
}
