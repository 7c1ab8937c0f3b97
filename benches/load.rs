//! The load benchmark of issue 8: every scenario measured against the
//! machine's own ceilings, in one run.
//!
//! ```text
//! scripts/bench.sh [--quick|--full] [--out FILE] [--perf SCENARIO]
//! scripts/bench.sh --compare old.json new.json
//! ```
//!
//! `scripts/bench.sh` builds this in release mode and runs it under
//! `scripts/test.sh --exec`, which provides throwaway PostgreSQL and Redis
//! (`TEST_DATABASE_URL`, `TEST_REDIS_URL`). The benchmark then:
//!
//! - creates a database, migrates it and seeds 100 users × 200 todos (due
//!   dates, descriptions, a quarter completed) with deterministic ids, so
//!   the pgbench scripts in `benches/pgbench/` can pick rows at random;
//! - starts release-built `todoql` servers as separate processes (so CPU
//!   seconds and peak RSS from `/proc/<pid>` are the server's alone), pinned
//!   with `taskset` to the last CPU while this load generator runs on CPU 0;
//! - measures the two ceilings — a fixed-response axum server (this binary
//!   re-executed with `--fixed-server`, same tokio runtime as `todoql`)
//!   under the same load, and `pgbench` running the same SQL with the same
//!   pool size — and every scenario as a ratio to them;
//! - prints a table and writes a JSON file that `--compare` diffs.
//!
//! Everything it starts it stops, also on failure and Ctrl-C.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    clippy::too_many_lines,
    clippy::cast_precision_loss,
    clippy::too_many_arguments
)]

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest, http::HeaderValue};
use uuid::Uuid;

const JWT_SECRET: &str = "bench-secret-of-at-least-thirty-two-bytes!";
const PASSWORD: &str = "benchmark-password";
const USERS: u32 = 100;
const TODOS_PER_USER: u32 = 200;
/// `DATABASE_POOL_SIZE` of every server, and pgbench's client count.
const POOL_SIZE: u32 = 10;
/// Concurrent closed-loop HTTP clients.
const CLIENTS: usize = 16;
/// Concurrent clients of the write-contention scenarios.
const WRITERS: usize = 64;
/// createTodo spread over users in the full run of 2026-11-24 (req/s), the
/// floor for the one-user scenario.
const SPREAD_CREATE_BEFORE: f64 = 930.0;
/// Concurrent clients for `login` (argon2 saturates a core with a few).
const LOGIN_CLIENTS: usize = 4;
const SUBSCRIBERS: usize = 1000;
const LIST_QUERY: &str =
    "{ todos(first: 20) { totalCount nodes { id title completed owner { email } } } }";
const CREATE_MUTATION: &str =
    "mutation($t: String!) { createTodo(input: {title: $t}) { id title completed version } }";
const UPDATE_MUTATION: &str = "mutation($id: ID!, $t: String!, $v: Int!) { updateTodo(id: $id, input: {title: $t, expectedVersion: $v}) { id version } }";
const LOGIN_MUTATION: &str = "mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { accessToken } }";
const SUBSCRIPTION: &str =
    "subscription { todoEvents { cursor kind occurredAt todo { id title completed version } } }";

// ---------------------------------------------------------------------------
// Settings

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Quick,
    Full,
}

#[derive(Clone, Debug)]
struct Settings {
    mode: Mode,
    warmup: Duration,
    duration: Duration,
    login_duration: Duration,
    paced_rounds: usize,
    burst_rounds: usize,
    jobs: i64,
    out: PathBuf,
    perf: Option<String>,
    pin: bool,
}

impl Settings {
    fn new(mode: Mode, out: Option<PathBuf>, perf: Option<String>, pin: bool) -> Self {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
        let mode_name = if mode == Mode::Quick { "quick" } else { "full" };
        let out = out.unwrap_or_else(|| {
            PathBuf::from(format!("target/bench/bench-{mode_name}-{stamp}.json"))
        });
        match mode {
            Mode::Quick => Self {
                mode,
                warmup: Duration::from_secs(1),
                duration: Duration::from_secs(5),
                login_duration: Duration::from_secs(3),
                paced_rounds: 10,
                burst_rounds: 20,
                jobs: 2000,
                out,
                perf,
                pin,
            },
            Mode::Full => Self {
                mode,
                warmup: Duration::from_secs(3),
                duration: Duration::from_secs(30),
                login_duration: Duration::from_secs(15),
                paced_rounds: 100,
                burst_rounds: 100,
                jobs: 10_000,
                out,
                perf,
                pin,
            },
        }
    }
}

// ---------------------------------------------------------------------------
// Processes we start: stopped on drop, on failure and on Ctrl-C.

/// Pids of every child, for the Ctrl-C handler (and `scripts/bench.sh`,
/// through `BENCH_PIDFILE`, should this process itself be killed).
static CHILDREN: Mutex<Vec<u32>> = Mutex::new(Vec::new());

fn register_child(pid: u32) {
    CHILDREN.lock().unwrap().push(pid);
    write_pidfile();
}

fn write_pidfile() {
    if let Ok(file) = std::env::var("BENCH_PIDFILE") {
        let pids: Vec<String> = CHILDREN
            .lock()
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        let _ = std::fs::write(file, pids.join("\n") + "\n");
    }
}

fn unregister_child(pid: u32) {
    CHILDREN.lock().unwrap().retain(|p| *p != pid);
    write_pidfile();
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args([sig, &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

fn kill_all_children() {
    let pids: Vec<u32> = CHILDREN.lock().unwrap().clone();
    for pid in &pids {
        signal(*pid, "-TERM");
    }
    std::thread::sleep(Duration::from_millis(500));
    for pid in &pids {
        signal(*pid, "-KILL");
    }
}

/// A child process that is stopped (SIGTERM, then SIGKILL) when dropped.
struct Proc {
    child: Child,
    name: String,
}

impl Proc {
    fn spawn(name: &str, mut command: Command) -> anyhow::Result<Self> {
        let child = command
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        register_child(child.id());
        Ok(Self {
            child,
            name: name.to_owned(),
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stop(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            signal(self.child.id(), "-TERM");
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if !matches!(self.child.try_wait(), Ok(None)) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if matches!(self.child.try_wait(), Ok(None)) {
                eprintln!("    {} did not stop in 5 s: killing it", self.name);
                let _ = self.child.kill();
            }
        }
        let _ = self.child.wait();
        unregister_child(self.child.id());
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop_now();
    }
}

// ---------------------------------------------------------------------------
// Measuring processes and the machine

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// CPU seconds (user + system) the process has used so far.
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields overall.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 =
        fields[11].parse::<f64>().unwrap_or(0.0) + fields[12].parse::<f64>().unwrap_or(0.0);
    ticks / clock_ticks()
}

/// A `VmXxx:` line of `/proc/<pid>/status`, in KiB.
fn status_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Resets the peak RSS (`VmHWM`) so the next scenario reports its own peak.
fn reset_peak_rss(pid: u32) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

fn load_average() -> [f64; 3] {
    let raw = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut it = raw.split_whitespace().map(|v| v.parse().unwrap_or(0.0));
    [
        it.next().unwrap_or(0.0),
        it.next().unwrap_or(0.0),
        it.next().unwrap_or(0.0),
    ]
}

fn cpu_count() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default()
}

/// Where the servers and the load generator run.
#[derive(Clone, Debug)]
struct Pinning {
    cpus: usize,
    client: Option<String>,
    server: Option<String>,
}

impl Pinning {
    fn detect(pin: bool) -> Self {
        let n = cpu_count();
        let have_taskset = Command::new("taskset")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if n < 2 || !have_taskset || !pin {
            return Self {
                cpus: n,
                client: None,
                server: None,
            };
        }
        Self {
            cpus: n,
            client: Some("0".into()),
            server: Some(format!("{}", n - 1)),
        }
    }

    fn describe(&self) -> String {
        match (&self.client, &self.server) {
            (Some(c), Some(s)) => format!(
                "todoql / fixed-response server on CPU {s}, load generator and pgbench on CPU {c}; PostgreSQL and Redis unpinned"
            ),
            _ => "no pinning (--no-pin, fewer than 2 CPUs or no taskset): every process may use every CPU".into(),
        }
    }

    /// Pins this process (every thread) to the client CPU.
    fn pin_self(&self) {
        if let Some(cpu) = &self.client {
            let _ = Command::new("taskset")
                .args(["-a", "-p", "-c", cpu, &std::process::id().to_string()])
                .stdout(Stdio::null())
                .status();
        }
    }

    /// `program` run through `taskset` on `cpu`, when pinning.
    fn command(cpu: Option<&String>, program: &Path) -> Command {
        match cpu {
            Some(cpu) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpu).arg(program);
                c
            }
            None => Command::new(program),
        }
    }
}

// ---------------------------------------------------------------------------
// Results

#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
struct Row {
    /// Stable name, matched by `--compare`.
    name: String,
    /// Which part of the report.
    group: String,
    /// Operations per second (or the scenario's own figure, see `unit`).
    throughput: Option<f64>,
    unit: String,
    ops: u64,
    errors: u64,
    p50_ms: Option<f64>,
    p90_ms: Option<f64>,
    p99_ms: Option<f64>,
    max_ms: Option<f64>,
    /// Server CPU seconds per 1,000 operations.
    cpu_s_per_1k: Option<f64>,
    /// Server peak RSS during the scenario, MiB.
    peak_rss_mb: Option<f64>,
    /// Load-generator CPU seconds per 1,000 operations (client cost).
    client_cpu_s_per_1k: Option<f64>,
    /// Throughput / the ceiling named in `ratio_to`.
    ratio: Option<f64>,
    ratio_to: Option<String>,
    /// Extra figures (fan-out, memory).
    extra: BTreeMap<String, f64>,
    target: Option<String>,
    target_met: Option<bool>,
    /// 1-minute load average when the scenario ended.
    load_1m: f64,
    note: Option<String>,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Report {
    schema: u32,
    mode: String,
    started_at: String,
    finished_at: String,
    git_commit: String,
    machine: Value,
    settings: Value,
    load_average_start: [f64; 3],
    load_average_end: [f64; 3],
    rows: Vec<Row>,
}

/// Latencies in microseconds.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).unwrap()
}

fn ms(h: &Histogram<u64>, q: f64) -> Option<f64> {
    (!h.is_empty()).then(|| h.value_at_quantile(q) as f64 / 1000.0)
}

fn fill_latency(row: &mut Row, h: &Histogram<u64>) {
    row.p50_ms = ms(h, 0.50);
    row.p90_ms = ms(h, 0.90);
    row.p99_ms = ms(h, 0.99);
    row.max_ms = (!h.is_empty()).then(|| h.max() as f64 / 1000.0);
}

fn progress(index: &mut usize, what: &str) {
    *index += 1;
    eprintln!("[{index:>2}] {what} … (load {:.2})", load_average()[0]);
}

fn print_row(row: &Row) {
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
// Servers

struct Server {
    proc: Proc,
    port: u16,
    log: PathBuf,
}

impl Server {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/graphql", self.port)
    }

    fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/graphql", self.port)
    }

    fn pid(&self) -> u32 {
        self.proc.pid()
    }
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

struct Env {
    database_url: String,
    redis_url: String,
    prefix: String,
    work: PathBuf,
    pinning: Pinning,
    server_bin: PathBuf,
    http: reqwest::Client,
}

impl Env {
    fn server_env(&self, command: &mut Command, extra: &[(&str, String)]) {
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("APP_ENV", "development")
            .env("HOST", "127.0.0.1")
            .env("DATABASE_URL", &self.database_url)
            .env("DATABASE_POOL_SIZE", POOL_SIZE.to_string())
            .env("REDIS_URL", &self.redis_url)
            .env("REDIS_KEY_PREFIX", &self.prefix)
            .env("JWT_SECRET", JWT_SECRET)
            .env("ACCESS_TOKEN_TTL_SECS", "7200")
            .env("USER_BUDGET_PER_MINUTE", "1000000000")
            .env("REGISTER_MAX_PER_HOUR", "1000000")
            .env("WS_MAX_CONNECTIONS_PER_USER", "5000")
            .env("SHUTDOWN_TIMEOUT_SECS", "2")
            .env("JOBS_IN_PROCESS", "false")
            .env("RUST_LOG", "info");
        for (k, v) in extra {
            command.env(k, v);
        }
    }

    /// Starts `todoql serve` on the server CPU and waits for `/healthz`.
    async fn serve(&self, name: &str, extra: &[(&str, String)]) -> anyhow::Result<Server> {
        let port = free_port()?;
        let log = self.work.join(format!("{name}.log"));
        let mut command = Pinning::command(self.pinning.server.as_ref(), &self.server_bin);
        command.arg("serve");
        self.server_env(&mut command, extra);
        command
            .env("PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log)?)
            .stderr(std::fs::File::create(
                self.work.join(format!("{name}.err")),
            )?);
        let proc = Proc::spawn(name, command)?;
        let server = Server { proc, port, log };
        self.wait_healthy(&server).await?;
        Ok(server)
    }

    async fn wait_healthy(&self, server: &Server) -> anyhow::Result<()> {
        let url = format!("http://127.0.0.1:{}/healthz", server.port);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(res) = self.http.get(&url).send().await
                && res.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "server did not become healthy; see {}",
                    server.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

// ---------------------------------------------------------------------------
// Seeding

fn user_id(u: u32) -> Uuid {
    Uuid::parse_str(&format!("00000000-0000-4000-8000-{u:012}")).unwrap()
}

fn todo_id(u: u32, n: u32) -> Uuid {
    Uuid::parse_str(&format!("00000000-0000-4000-9000-{:012}", u * 1000 + n)).unwrap()
}

async fn pg(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .with_context(|| "connecting to PostgreSQL")?;
    tokio::spawn(connection);
    Ok(client)
}

async fn seed(database_url: &str) -> anyhow::Result<()> {
    let hash = todoql::auth::password::hash(PASSWORD.to_owned())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let db = pg(database_url).await?;
    db.execute(
        "INSERT INTO users (id, email, password_hash, display_name)
         SELECT ('00000000-0000-4000-8000-' || lpad(u::text, 12, '0'))::uuid,
                'user' || u || '@example.com', $1, 'User ' || u
         FROM generate_series(1, $2::int) u",
        &[&hash, &(USERS as i32)],
    )
    .await?;
    // Realistic rows: a third with notes, half with a due date (some past),
    // a quarter completed; created over the last days.
    db.execute(
        "INSERT INTO todos (id, owner_id, title, description, completed, completed_at, due_at, created_at, updated_at)
         SELECT ('00000000-0000-4000-9000-' || lpad((u * 1000 + n)::text, 12, '0'))::uuid,
                ('00000000-0000-4000-8000-' || lpad(u::text, 12, '0'))::uuid,
                'Todo ' || n || ' of user ' || u,
                CASE WHEN n % 3 = 0 THEN 'Some notes about todo ' || n END,
                n % 4 = 0, CASE WHEN n % 4 = 0 THEN now() - n * interval '1 minute' END,
                CASE WHEN n % 2 = 0 THEN now() + (n - 50) * interval '1 hour' END,
                now() - n * interval '20 minutes', now() - n * interval '20 minutes'
         FROM generate_series(1, $1::int) u, generate_series(1, $2::int) n",
        &[&(USERS as i32), &(TODOS_PER_USER as i32)],
    )
    .await?;
    db.batch_execute("ANALYZE").await?;
    Ok(())
}

fn tokens() -> anyhow::Result<Arc<Vec<String>>> {
    let issuer =
        todoql::auth::token::AccessTokens::new(JWT_SECRET.as_bytes(), Duration::from_secs(7200));
    let mut out = Vec::new();
    for u in 1..=USERS {
        out.push(
            issuer
                .issue(user_id(u))
                .map_err(|e| anyhow::anyhow!("{e}"))?,
        );
    }
    Ok(Arc::new(out))
}

// ---------------------------------------------------------------------------
// Closed-loop HTTP load

/// One request: optional bearer token and a JSON body.
struct Request {
    token: Option<String>,
    body: String,
}

struct LoadResult {
    ops: u64,
    errors: u64,
    elapsed: Duration,
    latency: Histogram<u64>,
    server_cpu: Option<f64>,
    peak_rss_kb: Option<u64>,
    client_cpu: f64,
    first_error: Option<String>,
}

/// Runs `clients` closed loops against `url` for warmup + duration; `make`
/// builds each request (client index, iteration) and `check` judges each
/// response body (client index, body) as a success.
async fn closed_loop<M, C>(
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

fn row_from_load(name: &str, group: &str, r: &LoadResult) -> Row {
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
// perf

struct Profiler {
    proc: Proc,
    data: PathBuf,
}

/// Samples `pid` with call graphs until `finish_perf`.
fn start_perf(dir: &Path, name: &str, pid: u32) -> Option<Profiler> {
    let file: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let data = dir.join(format!("perf-{file}.data"));
    let mut command = Command::new("perf");
    command
        .args(["record", "-g", "-F", "499", "-o"])
        .arg(&data)
        .args(["-p", &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    Proc::spawn("perf", command)
        .ok()
        .map(|proc| Profiler { proc, data })
}

fn finish_perf(mut p: Profiler) {
    signal(p.proc.pid(), "-INT");
    let _ = p.proc.child.wait();
    unregister_child(p.proc.pid());
    eprintln!(
        "     perf data: {} (perf report --stdio --no-children -i {})",
        p.data.display(),
        p.data.display()
    );
}

// ---------------------------------------------------------------------------
// pgbench: the database ceiling

struct PgbenchResult {
    tps: f64,
    ops: u64,
    failed: u64,
    latency: Histogram<u64>,
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

async fn pgbench(env: &Env, script: &str, seconds: u64) -> anyhow::Result<PgbenchResult> {
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

fn row_from_pgbench(name: &str, r: &PgbenchResult) -> Row {
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

// ---------------------------------------------------------------------------
// The fixed-response HTTP ceiling (this binary, re-executed)

/// `--fixed-server PORT BODY_FILE`: POST /graphql answers `BODY_FILE`'s bytes
/// after reading the request body; GET /healthz answers ok. The runtime is
/// built like `todoql`'s (`Runtime::new()`: multi-threaded, one worker per
/// CPU it may use).
fn fixed_server(port: u16, body_file: &Path) -> anyhow::Result<()> {
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

// ---------------------------------------------------------------------------
// WebSockets

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a `graphql-transport-ws` socket and waits for `connection_ack`.
async fn ws_connect(url: &str, token: &str) -> anyhow::Result<Socket> {
    let mut request = url.into_client_request()?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
    socket.send(Message::text(init.to_string())).await?;
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .context("no connection_ack within 10 s")?
            .context("socket closed before connection_ack")??;
        if let Message::Text(t) = message {
            if t.contains("connection_ack") {
                return Ok(socket);
            }
            bail!("unexpected message before ack: {t}");
        }
    }
}

/// What every subscriber reports into.
#[derive(Default)]
struct Deliveries {
    count: AtomicU64,
    errors: AtomicU64,
    /// Latest delivery, µs since the epoch.
    last_us: AtomicU64,
    latency: Mutex<Option<Histogram<u64>>>,
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// The event's `occurredAt` (stamped in the writing transaction, just
/// before its commit), µs since the epoch, found without parsing the JSON.
fn occurred_at_us(text: &str) -> Option<u64> {
    let start = text.find("\"occurredAt\":\"")? + "\"occurredAt\":\"".len();
    let end = start + text[start..].find('"')?;
    let at = chrono::DateTime::parse_from_rfc3339(&text[start..end]).ok()?;
    u64::try_from(at.timestamp_micros()).ok()
}

/// Runs one subscriber: records each delivery's latency from `occurredAt`.
async fn subscriber(mut socket: Socket, deliveries: Arc<Deliveries>) {
    let subscribe = json!({ "type": "subscribe", "id": "1", "payload": { "query": SUBSCRIPTION } });
    if socket
        .send(Message::text(subscribe.to_string()))
        .await
        .is_err()
    {
        deliveries.errors.fetch_add(1, Ordering::Relaxed);
        return;
    }
    while let Some(Ok(message)) = socket.next().await {
        let received = now_us();
        let Message::Text(text) = message else {
            continue;
        };
        let text = text.as_str();
        if text.starts_with("{\"type\":\"ping\"") || text.contains("\"type\":\"ping\"") {
            let _ = socket.send(Message::text("{\"type\":\"pong\"}")).await;
            continue;
        }
        if !text.contains("\"type\":\"next\"") || text.contains("\"errors\"") {
            deliveries.errors.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        if let Some(at) = occurred_at_us(text)
            && let Some(h) = deliveries.latency.lock().unwrap().as_mut()
        {
            let _ = h.record(received.saturating_sub(at).max(1));
        }
        deliveries.last_us.fetch_max(received, Ordering::Relaxed);
        deliveries.count.fetch_add(1, Ordering::Relaxed);
    }
}

async fn wait_for(deliveries: &Deliveries, target: u64, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while deliveries.count.load(Ordering::Relaxed) < target {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    true
}

/// Creates one todo for each of `users` (1-based), at most `concurrency`
/// at a time, on `url`.
async fn mutate_users(
    http: &reqwest::Client,
    url: &str,
    tokens: &[String],
    users: &[u32],
    concurrency: usize,
    tag: &str,
) -> u64 {
    let bodies = users.iter().map(|u| {
        let token = tokens[(*u - 1) as usize].clone();
        let body =
            json!({ "query": CREATE_MUTATION, "variables": { "t": format!("fan-out {tag}") } })
                .to_string();
        let http = http.clone();
        let url = url.to_owned();
        async move {
            let ok = match http
                .post(&url)
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
            {
                Ok(res) => res
                    .json::<Value>()
                    .await
                    .is_ok_and(|v| v["errors"].is_null()),
                Err(_) => false,
            };
            u64::from(!ok)
        }
    });
    futures_util::stream::iter(bodies)
        .buffer_unordered(concurrency)
        .fold(0, |a, b| async move { a + b })
        .await
}

/// Connects `n` sockets, `user_of(i)` choosing each one's user, spread
/// round-robin over `urls`.
async fn connect_many(
    urls: &[String],
    tokens: &Arc<Vec<String>>,
    n: usize,
    user_of: impl Fn(usize) -> u32,
) -> anyhow::Result<Vec<Socket>> {
    let jobs: Vec<(String, String)> = (0..n)
        .map(|i| {
            (
                urls[i % urls.len()].clone(),
                tokens[(user_of(i) - 1) as usize].clone(),
            )
        })
        .collect();
    let sockets: Vec<anyhow::Result<Socket>> = futures_util::stream::iter(jobs)
        .map(|(url, token)| async move { ws_connect(&url, &token).await })
        .buffered(50)
        .collect()
        .await;
    sockets.into_iter().collect()
}

struct FanOut {
    name: String,
    users: u32,
    instances: usize,
}

async fn fan_out(
    env: &Env,
    settings: &Settings,
    servers: &[&Server],
    tokens: &Arc<Vec<String>>,
    case: &FanOut,
) -> anyhow::Result<Row> {
    let urls: Vec<String> = servers
        .iter()
        .take(case.instances)
        .map(|s| s.ws_url())
        .collect();
    let users = case.users;
    let sockets = connect_many(&urls, tokens, SUBSCRIBERS, |i| (i as u32 % users) + 1).await?;
    let deliveries = Arc::new(Deliveries::default());
    let mut tasks = Vec::new();
    for socket in sockets {
        tasks.push(tokio::spawn(subscriber(socket, deliveries.clone())));
    }
    let all_users: Vec<u32> = (1..=users).collect();
    let mutation_url = servers[0].url();
    let per_round = SUBSCRIBERS as u64;
    // Warm-up round: also proves every subscription is live.
    let mut expected = 0;
    let mut ready = false;
    for attempt in 0..20 {
        mutate_users(&env.http, &mutation_url, tokens, &all_users, 16, "warm-up").await;
        expected += per_round;
        if wait_for(&deliveries, expected, Duration::from_millis(500)).await {
            ready = true;
            break;
        }
        // Subscriptions still starting: count what arrived and go again.
        expected = deliveries.count.load(Ordering::Relaxed);
        let _ = attempt;
    }
    if !ready {
        bail!("subscribers did not all receive the warm-up event");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    deliveries.count.store(0, Ordering::Relaxed);
    deliveries.errors.store(0, Ordering::Relaxed);
    *deliveries.latency.lock().unwrap() = Some(histogram());

    let pids: Vec<u32> = servers
        .iter()
        .take(case.instances)
        .map(|s| s.pid())
        .collect();
    let profiler = settings
        .perf
        .as_deref()
        .filter(|p| p.split(',').any(|p| case.name.starts_with(p)))
        .and_then(|_| start_perf(&env.work, &case.name, pids[0]));
    let cpu0: f64 = pids.iter().map(|p| cpu_seconds(*p)).sum();
    for pid in &pids {
        reset_peak_rss(*pid);
    }
    // Paced: one round (an event per user) at a time; every delivery's
    // latency from the event's occurredAt.
    let mut mutation_errors = 0;
    let mut missing = 0u64;
    let mut target = 0;
    for round in 0..settings.paced_rounds {
        mutation_errors += mutate_users(
            &env.http,
            &mutation_url,
            tokens,
            &all_users,
            16,
            &round.to_string(),
        )
        .await;
        target += per_round;
        if !wait_for(&deliveries, target, Duration::from_secs(5)).await {
            missing += target - deliveries.count.load(Ordering::Relaxed);
            target = deliveries.count.load(Ordering::Relaxed);
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let paced = deliveries
        .latency
        .lock()
        .unwrap()
        .replace(histogram())
        .unwrap();
    let paced_count = deliveries.count.swap(0, Ordering::Relaxed);

    // Burst: rounds back to back from 8 concurrent writers; deliveries per
    // second until the last one arrives.
    let started = now_us();
    let burst_users: Vec<u32> = (0..settings.burst_rounds)
        .flat_map(|_| all_users.iter().copied())
        .collect();
    mutation_errors +=
        mutate_users(&env.http, &mutation_url, tokens, &burst_users, 8, "burst").await;
    let burst_target = per_round * settings.burst_rounds as u64;
    if !wait_for(&deliveries, burst_target, Duration::from_secs(30)).await {
        missing += burst_target - deliveries.count.load(Ordering::Relaxed);
    }
    let burst_count = deliveries.count.load(Ordering::Relaxed);
    let burst_secs = (deliveries
        .last_us
        .load(Ordering::Relaxed)
        .saturating_sub(started)) as f64
        / 1e6;
    let burst = deliveries.latency.lock().unwrap().take().unwrap();
    let cpu1: f64 = pids.iter().map(|p| cpu_seconds(*p)).sum();
    let peak: u64 = pids
        .iter()
        .map(|p| status_kb(*p, "VmHWM:"))
        .max()
        .unwrap_or(0);
    if let Some(p) = profiler {
        finish_perf(p);
    }
    for t in &tasks {
        t.abort();
    }
    let delivered = paced_count + burst_count;
    let mut row = Row {
        name: case.name.clone(),
        group: "fan-out".into(),
        throughput: Some(burst_count as f64 / burst_secs.max(1e-6)),
        unit: "deliveries/s".into(),
        ops: delivered,
        errors: mutation_errors + deliveries.errors.load(Ordering::Relaxed) + missing,
        cpu_s_per_1k: (delivered > 0).then(|| (cpu1 - cpu0) * 1000.0 / delivered as f64),
        peak_rss_mb: Some(peak as f64 / 1024.0),
        load_1m: load_average()[0],
        note: Some(format!(
            "{SUBSCRIBERS} subscribers of {users} user(s) on {} instance(s); latency = delivery time - occurredAt (stamped in the transaction just before commit), paced: one event per user at a time ({} rounds); throughput: {} rounds back to back; cpu per 1,000 deliveries",
            case.instances, settings.paced_rounds, settings.burst_rounds
        )),
        ..Row::default()
    };
    fill_latency(&mut row, &paced);
    row.extra
        .insert("burst_p50_ms".into(), ms(&burst, 0.5).unwrap_or(0.0));
    row.extra
        .insert("burst_p99_ms".into(), ms(&burst, 0.99).unwrap_or(0.0));
    if case.instances == 1 {
        row.target = Some("paced p99 <= 20 ms".into());
        row.target_met = row.p99_ms.map(|p| p <= 20.0);
    }
    // Let the servers notice the closed sockets before the next case.
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok(row)
}

// ---------------------------------------------------------------------------
// Jobs

async fn jobs_scenario(env: &Env, settings: &Settings, workers: usize) -> anyhow::Result<Row> {
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

// ---------------------------------------------------------------------------
// Idle memory

async fn idle_memory(env: &Env, tokens: &Arc<Vec<String>>) -> anyhow::Result<(Row, Server)> {
    let server = env.serve("idle", &[("CACHE", "true".into())]).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let start_kb = status_kb(server.pid(), "VmRSS:");
    let sockets = connect_many(&[server.ws_url()], tokens, SUBSCRIBERS, |i| {
        (i as u32 % USERS) + 1
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let connected_kb = status_kb(server.pid(), "VmRSS:");
    // A second thousand: the marginal cost of a socket, without the
    // one-off growth the first thousand cause (the database pool filling
    // up to its size for their authentication, allocator arenas).
    let more = connect_many(&[server.ws_url()], tokens, SUBSCRIBERS, |i| {
        (i as u32 % USERS) + 1
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let doubled_kb = status_kb(server.pid(), "VmRSS:");
    drop(sockets);
    drop(more);
    let per_socket_kb = (connected_kb.saturating_sub(start_kb)) as f64 / SUBSCRIBERS as f64;
    let marginal_kb = (doubled_kb.saturating_sub(connected_kb)) as f64 / SUBSCRIBERS as f64;
    let mut row = Row {
        name: "idle memory".into(),
        group: "memory".into(),
        unit: String::new(),
        ops: SUBSCRIBERS as u64,
        peak_rss_mb: Some(doubled_kb as f64 / 1024.0),
        load_1m: load_average()[0],
        target: Some("RSS at start <= 30 MB, <= 16 KB per idle WebSocket (marginal)".into()),
        target_met: Some(start_kb as f64 / 1024.0 <= 30.0 && marginal_kb <= 16.0),
        note: Some(format!(
            "fresh instance; RSS 1 s after /healthz, then with {SUBSCRIBERS} and {} authenticated idle graphql-transport-ws sockets (connection_ack, no subscription); kb_per_ws_first = (RSS at 1,000 - at start) / 1,000 includes one-off growth; kb_per_ws = (RSS at 2,000 - at 1,000) / 1,000",
            2 * SUBSCRIBERS
        )),
        ..Row::default()
    };
    row.extra
        .insert("rss_start_mb".into(), start_kb as f64 / 1024.0);
    row.extra
        .insert("rss_1000_ws_mb".into(), connected_kb as f64 / 1024.0);
    row.extra.insert("kb_per_ws_first".into(), per_socket_kb);
    row.extra.insert("kb_per_ws".into(), marginal_kb);
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok((row, server))
}

// ---------------------------------------------------------------------------
// The run

fn git_commit() -> String {
    Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

fn check_list(_: usize, v: &Value) -> Result<(), String> {
    if !v["errors"].is_null() {
        return Err(v["errors"].to_string());
    }
    let n = v["data"]["todos"]["nodes"].as_array().map_or(0, Vec::len);
    if n != 20 || v["data"]["todos"]["totalCount"].as_i64().unwrap_or(0) < 20 {
        return Err(format!("unexpected page: {n} nodes"));
    }
    Ok(())
}

async fn run(settings: Settings) -> anyhow::Result<Report> {
    let started_at = chrono::Utc::now().to_rfc3339();
    let load_start = load_average();
    let pinning = Pinning::detect(settings.pin);
    pinning.pin_self();
    let admin = std::env::var("TEST_DATABASE_URL")
        .context("TEST_DATABASE_URL is not set: run through scripts/bench.sh")?;
    let redis_url = std::env::var("TEST_REDIS_URL").context("TEST_REDIS_URL is not set")?;
    let name = format!("bench_{}", Uuid::new_v4().simple());
    let work = std::env::temp_dir().join(&name);
    std::fs::create_dir_all(&work)?;
    let server_bin = PathBuf::from(env!("CARGO_BIN_EXE_todoql"));
    eprintln!("todoql load benchmark ({:?})", settings.mode);
    eprintln!("  pinning: {}", pinning.describe());
    eprintln!(
        "  load average at start: {:.2} {:.2} {:.2}; logs in {}",
        load_start[0],
        load_start[1],
        load_start[2],
        work.display()
    );
    todoql::devdb::create_database(&admin, &name).await?;
    let database_url = format!(
        "{}/{name}",
        admin.rsplit_once('/').context("database URL")?.0
    );
    let env = Env {
        database_url,
        redis_url,
        prefix: format!("bench:{name}:"),
        work: work.clone(),
        pinning: pinning.clone(),
        server_bin,
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .build()?,
    };
    let result = scenarios(&env, &settings).await;
    // Drop the database whatever happened (the servers are stopped by now).
    if let Ok(admin_db) = pg(&admin).await {
        let _ = admin_db
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await;
    }
    let rows = result?;
    if settings.perf.is_none() {
        let _ = std::fs::remove_dir_all(&work);
    }
    Ok(Report {
        schema: 1,
        mode: format!("{:?}", settings.mode).to_lowercase(),
        started_at,
        finished_at: chrono::Utc::now().to_rfc3339(),
        git_commit: git_commit(),
        machine: json!({
            "cpus": pinning.cpus,
            "cpu_model": cpu_model(),
            "pinning": pinning.describe(),
        }),
        settings: json!({
            "users": USERS,
            "todos_per_user": TODOS_PER_USER,
            "pool_size": POOL_SIZE,
            "http_clients": CLIENTS,
            "login_clients": LOGIN_CLIENTS,
            "subscribers": SUBSCRIBERS,
            "warmup_s": settings.warmup.as_secs_f64(),
            "duration_s": settings.duration.as_secs_f64(),
            "paced_rounds": settings.paced_rounds,
            "burst_rounds": settings.burst_rounds,
            "jobs": settings.jobs,
            "server_env": "APP_ENV=development RUST_LOG=info DATABASE_POOL_SIZE=10 JOBS_IN_PROCESS=false (jobs measured with `todoql worker`)",
        }),
        load_average_start: load_start,
        load_average_end: load_average(),
        rows,
    })
}

async fn scenarios(env: &Env, settings: &Settings) -> anyhow::Result<Vec<Row>> {
    let mut rows: Vec<Row> = Vec::new();
    let mut step = 0;
    let secs = settings.duration.as_secs();
    let perf_dir = env.work.clone();
    let perf_for = |name: &'static str| -> Option<(&Path, &'static str)> {
        settings
            .perf
            .as_deref()
            .filter(|p| p.split(',').any(|p| name.starts_with(p)))
            .map(|_| (perf_dir.as_path(), name))
    };

    progress(&mut step, "seeding 100 users × 200 todos");
    todoql::db::migrate(&env.database_url).await?;
    seed(&env.database_url).await?;
    let tokens = tokens()?;

    // Idle memory first, on a fresh instance (which later serves as the
    // second instance of the fan-out).
    progress(
        &mut step,
        "idle memory: RSS at start, then 1,000 idle WebSockets",
    );
    let (row, second) = idle_memory(env, &tokens).await?;
    print_row(&row);
    rows.push(row);

    let off = env.serve("cache-off", &[("CACHE", "false".into())]).await?;

    // The HTTP ceiling answers the list query's real response body.
    let sample = env
        .http
        .post(off.url())
        .bearer_auth(&tokens[0])
        .header("content-type", "application/json")
        .body(json!({ "query": LIST_QUERY }).to_string())
        .send()
        .await?
        .bytes()
        .await?;
    check_list(0, &serde_json::from_slice(&sample)?).map_err(|e| anyhow::anyhow!(e))?;
    let body_file = env.work.join("list-response.json");
    std::fs::write(&body_file, &sample)?;

    let list_request = {
        let tokens = tokens.clone();
        move |c: usize, i: u64| Request {
            token: Some(tokens[(c + i as usize * CLIENTS) % tokens.len()].clone()),
            body: json!({ "query": LIST_QUERY }).to_string(),
        }
    };

    progress(
        &mut step,
        "HTTP ceiling: fixed-response axum server, list request and response",
    );
    let fixed_port = free_port()?;
    let mut command = Pinning::command(env.pinning.server.as_ref(), &std::env::current_exe()?);
    command
        .arg("--fixed-server")
        .arg(fixed_port.to_string())
        .arg(&body_file)
        .stdout(Stdio::null());
    let fixed = Proc::spawn("fixed-response server", command)?;
    let fixed_server = Server {
        proc: fixed,
        port: fixed_port,
        log: env.work.join("fixed.log"),
    };
    env.wait_healthy(&fixed_server).await?;
    let r = closed_loop(
        &env.http,
        &fixed_server.url(),
        CLIENTS,
        settings.warmup,
        settings.duration,
        Some(fixed_server.pid()),
        perf_for("ceiling: http"),
        list_request.clone(),
        check_list,
    )
    .await;
    fixed_server.proc.stop();
    let http_ceiling = r.ops as f64 / r.elapsed.as_secs_f64();
    let mut row = row_from_load("ceiling: http (fixed response)", "ceiling", &r);
    row.group = "ceiling".into();
    print_row(&row);
    rows.push(row);

    progress(&mut step, "DB ceiling: pgbench list.sql");
    let r = pgbench(env, "list.sql", secs).await?;
    let db_list = r.tps;
    let row = row_from_pgbench("ceiling: db list (pgbench)", &r);
    print_row(&row);
    rows.push(row);
    let lower_list = http_ceiling.min(db_list);
    let lower_name = if http_ceiling <= db_list {
        "ceiling: http"
    } else {
        "ceiling: db list"
    };

    progress(&mut step, "list query, cache off");
    let r = closed_loop(
        &env.http,
        &off.url(),
        CLIENTS,
        settings.warmup,
        settings.duration,
        Some(off.pid()),
        perf_for("list: cache off"),
        list_request.clone(),
        check_list,
    )
    .await;
    let mut row = row_from_load("list: cache off", "api", &r);
    let t = row.throughput.unwrap_or(0.0);
    row.ratio = Some(t / lower_list);
    row.ratio_to = Some(lower_name.into());
    row.extra.insert("vs_db".into(), t / db_list);
    row.target = Some(">= 60 % of the lower ceiling".into());
    row.target_met = Some(t / lower_list >= 0.60);
    print_row(&row);
    rows.push(row);
    off.proc.stop();

    let on = env.serve("cache-on", &[("CACHE", "true".into())]).await?;
    progress(&mut step, "list query, cache on");
    let r = closed_loop(
        &env.http,
        &on.url(),
        CLIENTS,
        settings.warmup,
        settings.duration,
        Some(on.pid()),
        perf_for("list: cache on"),
        list_request.clone(),
        check_list,
    )
    .await;
    let mut row = row_from_load("list: cache on", "api", &r);
    let t = row.throughput.unwrap_or(0.0);
    row.ratio = Some(t / lower_list);
    row.ratio_to = Some(lower_name.into());
    row.extra.insert("vs_db".into(), t / db_list);
    row.target = Some("above the DB ceiling (vs_db > 1)".into());
    row.target_met = Some(t > db_list);
    print_row(&row);
    rows.push(row);

    // Writes (on the cache-on instance: the default configuration).
    progress(&mut step, "DB ceiling: pgbench create.sql");
    let r = pgbench(env, "create.sql", secs).await?;
    let db_create = r.tps;
    let row = row_from_pgbench("ceiling: db createTodo (pgbench)", &r);
    print_row(&row);
    rows.push(row);

    // createTodo spread over the users (16 and 64 clients), and the worst
    // realistic case: 64 clients of ONE user (a user's devices and a sync
    // burst), where every write numbers events of the same user.
    let mut spread_64 = None;
    for (name, clients, one_user) in [
        ("createTodo", CLIENTS, false),
        ("createTodo: 64 clients, spread", WRITERS, false),
        ("createTodo: 64 clients, one user", WRITERS, true),
    ] {
        progress(&mut step, name);
        let create_request = {
            let tokens = tokens.clone();
            move |c: usize, i: u64| {
                Request {
                token: Some(if one_user {
                    tokens[0].clone()
                } else {
                    tokens[(c + i as usize * clients) % tokens.len()].clone()
                }),
                body: json!({ "query": CREATE_MUTATION, "variables": { "t": format!("bench {c}-{i}") } })
                    .to_string(),
            }
            }
        };
        let r = closed_loop(
            &env.http,
            &on.url(),
            clients,
            settings.warmup,
            settings.duration,
            Some(on.pid()),
            perf_for(name),
            create_request,
            |_, v: &Value| {
                if v["errors"].is_null() && v["data"]["createTodo"]["version"] == 1 {
                    Ok(())
                } else {
                    Err(v.to_string())
                }
            },
        )
        .await;
        let mut row = row_from_load(name, "api", &r);
        let t = row.throughput.unwrap_or(0.0);
        let lower = http_ceiling.min(db_create);
        row.ratio = Some(t / lower);
        row.ratio_to = Some(
            if http_ceiling <= db_create {
                "ceiling: http"
            } else {
                "ceiling: db createTodo"
            }
            .into(),
        );
        row.extra.insert("vs_db".into(), t / db_create);
        if one_user {
            // Issue 13: one user's writes must not serialise.
            let spread = spread_64.unwrap_or(f64::INFINITY);
            row.extra.insert("vs_spread".into(), t / spread);
            row.target = Some(format!(
                ">= 0.8x the spread figure with {WRITERS} clients, and >= {SPREAD_CREATE_BEFORE} req/s (spread, 2026-11-24)"
            ));
            row.target_met = Some(t >= 0.8 * spread && t >= SPREAD_CREATE_BEFORE);
        } else {
            if clients == WRITERS {
                spread_64 = Some(t);
            }
            row.target = Some(">= 50 % of its DB ceiling".into());
            row.target_met = Some(t / db_create >= 0.50);
        }
        print_row(&row);
        rows.push(row);
    }

    progress(&mut step, "DB ceiling: pgbench update.sql");
    let r = pgbench(env, "update.sql", secs).await?;
    let db_update = r.tps;
    let row = row_from_pgbench("ceiling: db updateTodo (pgbench)", &r);
    print_row(&row);
    rows.push(row);

    progress(&mut step, "updateTodo with expectedVersion");
    // Each client owns one user's todos (no conflicts between clients) and
    // tracks their versions, read fresh after pgbench changed them.
    let db = pg(&env.database_url).await?;
    let versions: Arc<Vec<AtomicI32>> = Arc::new(
        (0..USERS * TODOS_PER_USER)
            .map(|_| AtomicI32::new(1))
            .collect(),
    );
    for r in db
        .query(
            "SELECT id::text, version FROM todos WHERE id::text LIKE '00000000-0000-4000-9000-%'",
            &[],
        )
        .await?
    {
        let id = Uuid::parse_str(r.get::<_, &str>(0))?;
        let v: i32 = r.get(1);
        let k = (id.as_u128() & 0xffff_ffff_ffff) as u32;
        let digits: u32 = format!("{k:x}").parse().unwrap_or(0);
        let (u, n) = (digits / 1000, digits % 1000);
        if (1..=USERS).contains(&u) && (1..=TODOS_PER_USER).contains(&n) {
            versions[((u - 1) * TODOS_PER_USER + n - 1) as usize].store(v, Ordering::Relaxed);
        }
    }
    drop(db);
    let update_request = {
        let tokens = tokens.clone();
        let versions = versions.clone();
        move |c: usize, i: u64| {
            let u = (c as u32 % USERS) + 1;
            let n = (i as u32 % TODOS_PER_USER) + 1;
            let v = versions[((u - 1) * TODOS_PER_USER + n - 1) as usize].load(Ordering::Relaxed);
            Request {
                token: Some(tokens[(u - 1) as usize].clone()),
                body: json!({ "query": UPDATE_MUTATION,
                    "variables": { "id": todo_id(u, n).to_string(), "t": format!("edited {i}"), "v": v } })
                .to_string(),
            }
        }
    };
    let update_check = {
        let versions = versions.clone();
        move |c: usize, v: &Value| {
            let updated = &v["data"]["updateTodo"];
            let (Some(id), Some(version)) = (updated["id"].as_str(), updated["version"].as_i64())
            else {
                return Err(v.to_string());
            };
            let id = Uuid::parse_str(id).map_err(|e| e.to_string())?;
            let digits: u32 = format!("{:x}", id.as_u128() & 0xffff_ffff_ffff)
                .parse()
                .unwrap_or(0);
            let (u, n) = (digits / 1000, digits % 1000);
            if u != (c as u32 % USERS) + 1 {
                return Err("another client's todo".into());
            }
            versions[((u - 1) * TODOS_PER_USER + n - 1) as usize]
                .store(version as i32, Ordering::Relaxed);
            Ok(())
        }
    };
    let r = closed_loop(
        &env.http,
        &on.url(),
        CLIENTS,
        settings.warmup,
        settings.duration,
        Some(on.pid()),
        perf_for("updateTodo"),
        update_request,
        update_check,
    )
    .await;
    let mut row = row_from_load("updateTodo (expectedVersion)", "api", &r);
    let t = row.throughput.unwrap_or(0.0);
    let lower = http_ceiling.min(db_update);
    row.ratio = Some(t / lower);
    row.ratio_to = Some(
        if http_ceiling <= db_update {
            "ceiling: http"
        } else {
            "ceiling: db updateTodo"
        }
        .into(),
    );
    row.extra.insert("vs_db".into(), t / db_update);
    print_row(&row);
    rows.push(row);

    // Fan-out: `on` is instance A (mutations go there), `second` is B.
    for case in [
        FanOut {
            name: "fan-out: 1,000 subs of 1 user, 1 instance".into(),
            users: 1,
            instances: 1,
        },
        FanOut {
            name: "fan-out: 1,000 subs of 100 users, 1 instance".into(),
            users: 100,
            instances: 1,
        },
        FanOut {
            name: "fan-out: 1,000 subs of 1 user, 2 instances".into(),
            users: 1,
            instances: 2,
        },
        FanOut {
            name: "fan-out: 1,000 subs of 100 users, 2 instances".into(),
            users: 100,
            instances: 2,
        },
    ] {
        progress(&mut step, &case.name);
        let row = fan_out(env, settings, &[&on, &second], &tokens, &case).await?;
        print_row(&row);
        rows.push(row);
    }
    second.proc.stop();

    // Last on this instance: argon2id's 19 MiB per hash, retained by the
    // allocator, would inflate every later peak RSS.
    progress(&mut step, "login (argon2id; not API speed)");
    let login_request = move |c: usize, i: u64| {
        Request {
        token: None,
        body: json!({ "query": LOGIN_MUTATION, "variables": {
            "e": format!("user{}@example.com", (c + i as usize * LOGIN_CLIENTS) % USERS as usize + 1),
            "p": PASSWORD } })
        .to_string(),
    }
    };
    let r = closed_loop(
        &env.http,
        &on.url(),
        LOGIN_CLIENTS,
        settings.warmup,
        settings.login_duration,
        Some(on.pid()),
        perf_for("login"),
        login_request,
        |_, v: &Value| {
            if v["data"]["login"]["accessToken"].is_string() {
                Ok(())
            } else {
                Err(v.to_string())
            }
        },
    )
    .await;
    let mut row = row_from_load("login (argon2id)", "login", &r);
    row.note = Some(format!(
        "{LOGIN_CLIENTS} clients; the password hash (argon2id) dominates: not comparable with API requests{}",
        row.note
            .as_deref()
            .map(|n| format!("; {n}"))
            .unwrap_or_default()
    ));
    print_row(&row);
    rows.push(row);

    on.proc.stop();

    for workers in [1, 4, 16] {
        progress(&mut step, &format!("jobs: no-op, {workers} worker(s)"));
        let row = jobs_scenario(env, settings, workers).await?;
        print_row(&row);
        rows.push(row);
    }
    Ok(rows)
}

// ---------------------------------------------------------------------------
// Output

fn fmt_opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.digits$}"))
}

fn print_table(report: &Report) {
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

fn compare(old: &Path, new: &Path) -> anyhow::Result<()> {
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
            None => println!("{:<44} (only in new)", rb.name),
        }
        if let Some(ra) = ra {
            for (k, vb) in &rb.extra {
                if let Some(va) = ra.extra.get(k) {
                    println!("{:<44}   {k}: {}", "", delta(Some(*va), Some(*vb), 2));
                }
            }
            if ra.target_met != rb.target_met {
                println!(
                    "{:<44}   target: {:?} → {:?}",
                    "", ra.target_met, rb.target_met
                );
            }
        }
    }
    for ra in &a.rows {
        if !b.rows.iter().any(|r| r.name == ra.name) {
            println!("{:<44} (only in old)", ra.name);
        }
    }
    Ok(())
}

fn usage() -> ! {
    eprintln!(
        "usage: load [--quick|--full] [--out FILE] [--perf SCENARIO-PREFIX[,…]] [--no-pin]\n       load --compare OLD.json NEW.json\n(run through scripts/bench.sh, which provides PostgreSQL and Redis)"
    );
    std::process::exit(2);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--fixed-server") {
        let (Some(port), Some(file)) = (args.get(1), args.get(2)) else {
            usage()
        };
        if let Err(e) = fixed_server(port.parse().unwrap_or(0), Path::new(file)) {
            eprintln!("fixed server: {e:#}");
            std::process::exit(1);
        }
        return;
    }
    let mut mode = Mode::Quick;
    let mut out = None;
    let mut perf = None;
    let mut pin = true;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--quick" => mode = Mode::Quick,
            "--full" => mode = Mode::Full,
            "--out" => out = Some(PathBuf::from(it.next().unwrap_or_else(|| usage()))),
            "--perf" => perf = Some(it.next().unwrap_or_else(|| usage()).clone()),
            "--no-pin" => pin = false,
            "--compare" => {
                let (Some(a), Some(b)) = (it.next(), it.next()) else {
                    usage()
                };
                if let Err(e) = compare(Path::new(a), Path::new(b)) {
                    eprintln!("error: {e:#}");
                    std::process::exit(1);
                }
                return;
            }
            // `cargo bench` passes --bench to harness-less benches.
            "--bench" => {}
            "-h" | "--help" => usage(),
            other => {
                eprintln!("unknown argument {other}");
                usage()
            }
        }
    }
    let settings = Settings::new(mode, out, perf, pin);
    // One thread: the load generator stays on its own CPU.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let outcome = runtime.block_on(async {
        tokio::select! {
            report = run(settings.clone()) => report,
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        }
    });
    kill_all_children();
    match outcome {
        Ok(report) => {
            print_table(&report);
            if let Some(dir) = settings.out.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            match std::fs::write(
                &settings.out,
                serde_json::to_string_pretty(&report).unwrap_or_default(),
            ) {
                Ok(()) => println!("JSON: {}", settings.out.display()),
                Err(e) => eprintln!("writing {}: {e}", settings.out.display()),
            }
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    }
}
