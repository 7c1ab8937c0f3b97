//! The benchmark's environment: the processes it starts (stopped on drop,
//! on failure and on Ctrl-C), what `/proc` says of them and of the machine,
//! CPU pinning, the `todoql` servers under test, and `perf` profiles.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Mutex,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};

use crate::{JWT_SECRET, POOL_SIZE};

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

pub fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args([sig, &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

pub fn kill_all_children() {
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
pub struct Proc {
    pub child: Child,
    pub name: String,
}

impl Proc {
    pub fn spawn(name: &str, mut command: Command) -> anyhow::Result<Self> {
        let child = command
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        register_child(child.id());
        Ok(Self {
            child,
            name: name.to_owned(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stop(mut self) {
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
pub fn cpu_seconds(pid: u32) -> f64 {
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
pub fn status_kb(pid: u32, field: &str) -> u64 {
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
pub fn reset_peak_rss(pid: u32) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

pub fn load_average() -> [f64; 3] {
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

pub fn cpu_model() -> String {
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
pub struct Pinning {
    pub cpus: usize,
    pub client: Option<String>,
    pub server: Option<String>,
}

impl Pinning {
    pub fn detect(pin: bool) -> Self {
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

    pub fn describe(&self) -> String {
        match (&self.client, &self.server) {
            (Some(c), Some(s)) => format!(
                "todoql / fixed-response server on CPU {s}, load generator and pgbench on CPU {c}; PostgreSQL and Redis unpinned"
            ),
            _ => "no pinning (--no-pin, fewer than 2 CPUs or no taskset): every process may use every CPU".into(),
        }
    }

    /// Pins this process (every thread) to the client CPU.
    pub fn pin_self(&self) {
        if let Some(cpu) = &self.client {
            let _ = Command::new("taskset")
                .args(["-a", "-p", "-c", cpu, &std::process::id().to_string()])
                .stdout(Stdio::null())
                .status();
        }
    }

    /// `program` run through `taskset` on `cpu`, when pinning.
    pub fn command(cpu: Option<&String>, program: &Path) -> Command {
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
// Servers

pub struct Server {
    pub proc: Proc,
    pub port: u16,
    pub log: PathBuf,
}

impl Server {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/graphql", self.port)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/graphql", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// The length of the server's log so far, for [`Self::log_errors`].
    pub fn log_len(&self) -> u64 {
        std::fs::metadata(&self.log).map_or(0, |m| m.len())
    }

    /// The distinct ERROR lines the server logged after byte `from`, with
    /// how often each came (the text from its `error` field on; the
    /// timestamp and trace ids differ from line to line).
    pub fn log_errors(&self, from: u64) -> String {
        let text = std::fs::read(&self.log).unwrap_or_default();
        let text = String::from_utf8_lossy(text.get(from as usize..).unwrap_or_default());
        let mut seen: Vec<(String, usize)> = Vec::new();
        for line in text.lines().filter(|l| l.contains("ERROR")) {
            let key = line
                .find("error=")
                .map_or(line, |i| &line[i..])
                .chars()
                .take(400)
                .collect::<String>();
            match seen.iter_mut().find(|(k, _)| *k == key) {
                Some((_, n)) => *n += 1,
                None => seen.push((key, 1)),
            }
        }
        if seen.is_empty() {
            return "no ERROR line".into();
        }
        seen.iter()
            .map(|(k, n)| format!("{n}× {k}"))
            .collect::<Vec<_>>()
            .join(" | ")
    }
}

pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

pub struct Env {
    pub database_url: String,
    pub redis_url: String,
    pub prefix: String,
    pub work: PathBuf,
    pub pinning: Pinning,
    pub server_bin: PathBuf,
    pub http: reqwest::Client,
}

impl Env {
    pub fn server_env(&self, command: &mut Command, extra: &[(&str, String)]) {
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
    pub async fn serve(&self, name: &str, extra: &[(&str, String)]) -> anyhow::Result<Server> {
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

    pub async fn wait_healthy(&self, server: &Server) -> anyhow::Result<()> {
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
// perf

pub struct Profiler {
    pub proc: Proc,
    pub data: PathBuf,
}

/// Samples `pid` with call graphs until `finish_perf`.
pub fn start_perf(dir: &Path, name: &str, pid: u32) -> Option<Profiler> {
    let file: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let data = dir.join(format!("perf-{file}.data"));
    let mut command = Command::new("perf");
    command
        // DWARF unwinding: release builds have no frame pointers, and
        // `-g` alone (frame pointers) gives a flat profile.
        .args(["record", "--call-graph", "dwarf,16384", "-F", "199", "-o"])
        .arg(&data)
        .args(["-p", &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    Proc::spawn("perf", command)
        .ok()
        .map(|proc| Profiler { proc, data })
}

pub fn finish_perf(mut p: Profiler) {
    signal(p.proc.pid(), "-INT");
    let _ = p.proc.child.wait();
    unregister_child(p.proc.pid());
    eprintln!(
        "     perf data: {} (perf report --stdio --no-children -i {})",
        p.data.display(),
        p.data.display()
    );
}
