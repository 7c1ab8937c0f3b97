//! HTTP load: closed-loop clients against a URL for warm-up plus a measured
//! duration, and the fixed-response server (this binary, re-executed with
//! `--fixed-server`) that is the HTTP ceiling.

use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;
use serde_json::Value;

use crate::{
    env::{cpu_seconds, finish_perf, load_average, reset_peak_rss, start_perf, status_kb},
    report::{Row, fill_latency, histogram},
};

// ---------------------------------------------------------------------------
// Closed-loop HTTP load

/// One request: optional bearer token, a JSON body and an optional
/// `Idempotency-Key`.
#[derive(Default)]
pub struct Request {
    pub token: Option<String>,
    pub body: String,
    pub idempotency_key: Option<String>,
}

pub struct LoadResult {
    pub ops: u64,
    pub errors: u64,
    pub elapsed: Duration,
    pub latency: Histogram<u64>,
    pub server_cpu: Option<f64>,
    pub peak_rss_kb: Option<u64>,
    pub client_cpu: f64,
    pub first_error: Option<String>,
}

/// Runs `clients` closed loops against `url` for warmup + duration; `make`
/// builds each request (client index, iteration) and `check` judges each
/// response body (client index, body) as a success.
pub async fn closed_loop<M, C>(
    http: &reqwest::Client,
    url: &str,
    clients: usize,
    warmup: Duration,
    duration: Duration,
    server_pid: Option<u32>,
    perf: Option<(&Path, &str)>,
    make: M,
    check: C,
) -> LoadResult
where
    M: Fn(usize, u64) -> Request + Send + Sync + 'static,
    C: Fn(usize, &Value) -> Result<(), String> + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let check = Arc::new(check);
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for c in 0..clients {
        let http = http.clone();
        let url = url.to_owned();
        let make = make.clone();
        let check = check.clone();
        let measuring = measuring.clone();
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut h = histogram();
            let (mut ops, mut errors) = (0u64, 0u64);
            let mut first_error = None;
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let req = make(c, i);
                i += 1;
                let mut builder = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(req.body);
                if let Some(token) = &req.token {
                    builder = builder.bearer_auth(token);
                }
                if let Some(key) = &req.idempotency_key {
                    builder = builder.header("idempotency-key", key);
                }
                let started = Instant::now();
                let result = match builder.send().await {
                    Ok(res) => {
                        let status = res.status();
                        match res.bytes().await {
                            Ok(bytes) => {
                                let elapsed = started.elapsed();
                                let judged = serde_json::from_slice::<Value>(&bytes)
                                    .map_err(|e| format!("{status}: {e}"))
                                    .and_then(|v| check(c, &v));
                                (elapsed, judged)
                            }
                            Err(e) => (started.elapsed(), Err(e.to_string())),
                        }
                    }
                    Err(e) => (started.elapsed(), Err(e.to_string())),
                };
                if measuring.load(Ordering::Relaxed) && !stop.load(Ordering::Relaxed) {
                    ops += 1;
                    let _ = h.record(result.0.as_micros().max(1) as u64);
                    if let Err(e) = result.1 {
                        errors += 1;
                        first_error.get_or_insert(e);
                    }
                }
            }
            (h, ops, errors, first_error)
        }));
    }
    tokio::time::sleep(warmup).await;
    let cpu0 = server_pid.map(cpu_seconds);
    if let Some(pid) = server_pid {
        reset_peak_rss(pid);
    }
    let me = std::process::id();
    let client0 = cpu_seconds(me);
    let profiler = match (perf, server_pid) {
        (Some((dir, name)), Some(pid)) => start_perf(dir, name, pid),
        _ => None,
    };
    let started = Instant::now();
    measuring.store(true, Ordering::Relaxed);
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed();
    let cpu1 = server_pid.map(cpu_seconds);
    let client1 = cpu_seconds(me);
    let peak = server_pid.map(|pid| status_kb(pid, "VmHWM:"));
    let mut latency = histogram();
    let (mut ops, mut errors, mut first_error) = (0, 0, None);
    for t in tasks {
        let (h, o, e, f) = t.await.unwrap();
        latency.add(h).unwrap();
        ops += o;
        errors += e;
        if first_error.is_none() {
            first_error = f;
        }
    }
    if let Some(p) = profiler {
        finish_perf(p);
    }
    LoadResult {
        ops,
        errors,
        elapsed,
        latency,
        server_cpu: match (cpu0, cpu1) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        },
        peak_rss_kb: peak,
        client_cpu: client1 - client0,
        first_error,
    }
}

pub fn row_from_load(name: &str, group: &str, r: &LoadResult) -> Row {
    let mut row = Row {
        name: name.into(),
        group: group.into(),
        throughput: Some(r.ops as f64 / r.elapsed.as_secs_f64()),
        unit: "req/s".into(),
        ops: r.ops,
        errors: r.errors,
        cpu_s_per_1k: r
            .server_cpu
            .filter(|_| r.ops > 0)
            .map(|c| c * 1000.0 / r.ops as f64),
        peak_rss_mb: r.peak_rss_kb.map(|kb| kb as f64 / 1024.0),
        client_cpu_s_per_1k: (r.ops > 0).then(|| r.client_cpu * 1000.0 / r.ops as f64),
        load_1m: load_average()[0],
        note: r.first_error.as_ref().map(|e| format!("first error: {e}")),
        ..Row::default()
    };
    fill_latency(&mut row, &r.latency);
    row
}

// ---------------------------------------------------------------------------
// The fixed-response HTTP ceiling (this binary, re-executed)

/// `--fixed-server PORT BODY_FILE`: POST /graphql answers `BODY_FILE`'s bytes
/// after reading the request body; GET /healthz answers ok. The runtime is
/// built like `todoql`'s (`Runtime::new()`: multi-threaded, one worker per
/// CPU it may use).
pub fn fixed_server(port: u16, body_file: &Path) -> anyhow::Result<()> {
    use axum::{
        Router,
        body::Bytes,
        http::header,
        routing::{get, post},
    };
    let body = Bytes::from(std::fs::read(body_file)?);
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let app = Router::new()
            .route(
                "/graphql",
                post(move |_request: Bytes| {
                    let body = body.clone();
                    async move { ([(header::CONTENT_TYPE, "application/json")], body) }
                }),
            )
            .route("/healthz", get(|| async { "ok" }));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        axum::serve(listener, app)
            .with_graceful_shutdown(todoql::app::shutdown_signal())
            .await?;
        anyhow::Ok(())
    })
}
