//! Results: the rows and report written as JSON, latency percentiles from
//! histograms, the table printed at the end, and `--compare` of two runs.

use std::{collections::BTreeMap, path::Path};

use anyhow::Context;
use hdrhistogram::Histogram;
use serde_json::Value;

use crate::env::load_average;

// ---------------------------------------------------------------------------
// Results

#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Row {
    /// Stable name, matched by `--compare`.
    pub name: String,
    /// Which part of the report.
    pub group: String,
    /// Operations per second (or the scenario's own figure, see `unit`).
    pub throughput: Option<f64>,
    pub unit: String,
    pub ops: u64,
    pub errors: u64,
    pub p50_ms: Option<f64>,
    pub p90_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
    /// Server CPU seconds per 1,000 operations.
    pub cpu_s_per_1k: Option<f64>,
    /// Server peak RSS during the scenario, MiB.
    pub peak_rss_mb: Option<f64>,
    /// Load-generator CPU seconds per 1,000 operations (client cost).
    pub client_cpu_s_per_1k: Option<f64>,
    /// Throughput / the ceiling named in `ratio_to`.
    pub ratio: Option<f64>,
    pub ratio_to: Option<String>,
    /// Extra figures (fan-out, memory).
    pub extra: BTreeMap<String, f64>,
    pub target: Option<String>,
    pub target_met: Option<bool>,
    /// 1-minute load average when the scenario ended.
    pub load_1m: f64,
    pub note: Option<String>,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Report {
    pub schema: u32,
    pub mode: String,
    pub started_at: String,
    pub finished_at: String,
    pub git_commit: String,
    pub machine: Value,
    pub settings: Value,
    pub load_average_start: [f64; 3],
    pub load_average_end: [f64; 3],
    pub rows: Vec<Row>,
}

/// Latencies in microseconds.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).unwrap()
}

pub fn ms(h: &Histogram<u64>, q: f64) -> Option<f64> {
    (!h.is_empty()).then(|| h.value_at_quantile(q) as f64 / 1000.0)
}

pub fn fill_latency(row: &mut Row, h: &Histogram<u64>) {
    row.p50_ms = ms(h, 0.50);
    row.p90_ms = ms(h, 0.90);
    row.p99_ms = ms(h, 0.99);
    row.max_ms = (!h.is_empty()).then(|| h.max() as f64 / 1000.0);
}

pub fn progress(index: &mut usize, what: &str) {
    *index += 1;
    eprintln!("[{index:>2}] {what} … (load {:.2})", load_average()[0]);
}

pub fn print_row(row: &Row) {
    let mut line = format!("     {:<34}", row.name);
    if let Some(t) = row.throughput {
        line += &format!(" {:>9.0} {:<11}", t, row.unit);
    }
    if let Some(p) = row.p50_ms {
        line += &format!(
            " p50 {p:.2} p90 {:.2} p99 {:.2} ms",
            row.p90_ms.unwrap_or(0.0),
            row.p99_ms.unwrap_or(0.0)
        );
    }
    if row.errors > 0 {
        line += &format!(" errors {}", row.errors);
    }
    if let Some(r) = row.ratio {
        line += &format!(
            " = {:.0} % of {}",
            r * 100.0,
            row.ratio_to.as_deref().unwrap_or("?")
        );
    }
    for (k, v) in &row.extra {
        line += &format!(" {k} {v:.2}");
    }
    eprintln!("{line}");
}

// ---------------------------------------------------------------------------
// Output

fn fmt_opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.digits$}"))
}

pub fn print_table(report: &Report) {
    println!();
    println!(
        "todoql benchmark — {} run at {} (commit {}), {} CPUs: {}",
        report.mode,
        report.started_at,
        report.git_commit,
        report.machine["cpus"],
        report.machine["cpu_model"].as_str().unwrap_or("")
    );
    println!(
        "pinning: {}",
        report.machine["pinning"].as_str().unwrap_or("")
    );
    println!(
        "load average: start {:.2} {:.2} {:.2}, end {:.2} {:.2} {:.2}",
        report.load_average_start[0],
        report.load_average_start[1],
        report.load_average_start[2],
        report.load_average_end[0],
        report.load_average_end[1],
        report.load_average_end[2]
    );
    println!();
    println!(
        "{:<44} {:>10} {:<12} {:>7} {:>7} {:>7} {:>6} {:>8} {:>7} {:>8}  {:>5}  target",
        "scenario",
        "throughput",
        "unit",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "errors",
        "cpu s/1k",
        "rss MB",
        "ratio",
        "load"
    );
    for r in &report.rows {
        let ratio = r
            .ratio
            .map_or_else(|| "-".into(), |x| format!("{:.0} %", x * 100.0));
        let target = match (&r.target, r.target_met) {
            (Some(t), Some(true)) => format!("MET ({t})"),
            (Some(t), Some(false)) => format!("MISSED ({t})"),
            _ => String::new(),
        };
        println!(
            "{:<44} {:>10} {:<12} {:>7} {:>7} {:>7} {:>6} {:>8} {:>7} {:>8}  {:>5.2}  {}",
            r.name,
            fmt_opt(r.throughput, 0),
            r.unit,
            fmt_opt(r.p50_ms, 2),
            fmt_opt(r.p90_ms, 2),
            fmt_opt(r.p99_ms, 2),
            r.errors,
            fmt_opt(r.cpu_s_per_1k, 3),
            fmt_opt(r.peak_rss_mb, 1),
            ratio,
            r.load_1m,
            target
        );
        let extras: Vec<String> = r.extra.iter().map(|(k, v)| format!("{k} {v:.2}")).collect();
        if !extras.is_empty() {
            println!("{:<44} {}", "", extras.join(", "));
        }
    }
    println!();
    println!(
        "ratio: throughput / the lower of the HTTP ceiling and the scenario's DB ceiling (named in the JSON as ratio_to); vs_db: / the DB ceiling alone."
    );
    println!(
        "cpu s/1k: server CPU seconds per 1,000 operations (utime + stime from /proc); rss MB: server peak RSS (VmHWM) during the scenario."
    );
}

pub fn compare(old: &Path, new: &Path) -> anyhow::Result<()> {
    let read = |p: &Path| -> anyhow::Result<Report> {
        Ok(serde_json::from_str(
            &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
        )?)
    };
    let (a, b) = (read(old)?, read(new)?);
    println!(
        "old: {} {} (commit {}, load {:.2}→{:.2})",
        old.display(),
        a.mode,
        a.git_commit,
        a.load_average_start[0],
        a.load_average_end[0]
    );
    println!(
        "new: {} {} (commit {}, load {:.2}→{:.2})",
        new.display(),
        b.mode,
        b.git_commit,
        b.load_average_start[0],
        b.load_average_end[0]
    );
    println!();
    println!(
        "{:<44} {:>22} {:>22} {:>20} {:>16}",
        "scenario", "throughput", "p99 ms", "cpu s/1k", "rss MB"
    );
    let delta = |x: Option<f64>, y: Option<f64>, digits: usize| -> String {
        match (x, y) {
            (Some(x), Some(y)) if x != 0.0 => {
                format!("{x:.digits$}→{y:.digits$} {:+.0}%", (y - x) / x * 100.0)
            }
            (Some(x), Some(y)) => format!("{x:.digits$}→{y:.digits$}"),
            (None, Some(y)) => format!("new {y:.digits$}"),
            (Some(x), None) => format!("{x:.digits$}→-"),
            (None, None) => "-".into(),
        }
    };
    for rb in &b.rows {
        let ra = a.rows.iter().find(|r| r.name == rb.name);
        match ra {
            Some(ra) => println!(
                "{:<44} {:>22} {:>22} {:>20} {:>16}",
                rb.name,
                delta(ra.throughput, rb.throughput, 0),
                delta(ra.p99_ms, rb.p99_ms, 2),
                delta(ra.cpu_s_per_1k, rb.cpu_s_per_1k, 3),
                delta(ra.peak_rss_mb, rb.peak_rss_mb, 1),
            ),
            None => println!(
                "{:<44} {:>22} {:>22} {:>20} {:>16}  (only in new)",
                rb.name,
                delta(None, rb.throughput, 0),
                delta(None, rb.p99_ms, 2),
                delta(None, rb.cpu_s_per_1k, 3),
                delta(None, rb.peak_rss_mb, 1),
            ),
        }
        for (k, vb) in &rb.extra {
            match ra.and_then(|ra| ra.extra.get(k)) {
                Some(va) => println!("{:<44}   {k}: {}", "", delta(Some(*va), Some(*vb), 2)),
                None if ra.is_none() => println!("{:<44}   {k}: {}", "", delta(None, Some(*vb), 2)),
                None => {}
            }
        }
        if rb.errors > 0 || ra.is_some_and(|ra| ra.errors > 0) {
            println!(
                "{:<44}   errors: {} → {}",
                "",
                ra.map_or_else(|| "-".into(), |ra| ra.errors.to_string()),
                rb.errors
            );
        }
        if let Some(ra) = ra
            && ra.target_met != rb.target_met
        {
            println!(
                "{:<44}   target: {:?} → {:?}",
                "", ra.target_met, rb.target_met
            );
        }
    }
    for ra in &a.rows {
        if !b.rows.iter().any(|r| r.name == ra.name) {
            println!("{:<44} (only in old)", ra.name);
        }
    }
    Ok(())
}
