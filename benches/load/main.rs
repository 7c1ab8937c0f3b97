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
//!   the pgbench scripts in `benches/pgbench/` can pick rows at random,
//!   and two shared lists (10 and 50 members, memberships inserted with
//!   SQL) for the shared-list scenarios;
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
//!
//! Here: the settings, the constants every scenario shares, and the command
//! line. The parts: [`env`] (processes, `/proc`, pinning, servers, `perf`),
//! [`seed`] (the data and tokens), [`http_load`] (closed-loop HTTP and the
//! fixed-response ceiling), [`pgbench`] (the database ceiling), [`fanout`]
//! (WebSocket subscribers, reading with kernel receive stamps through
//! [`stamped`]), [`jobs`], [`memory`], [`scenarios`] (the run,
//! in order) and [`report`] (rows, table, JSON, `--compare`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    clippy::too_many_lines,
    clippy::cast_precision_loss,
    clippy::too_many_arguments
)]

mod env;
mod fanout;
mod http_load;
mod jobs;
mod memory;
mod pgbench;
mod report;
mod scenarios;
mod seed;
mod stamped;

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use crate::{
    env::kill_all_children,
    http_load::fixed_server,
    report::{compare, print_table},
    scenarios::run,
};

pub const JWT_SECRET: &str = "bench-secret-of-at-least-thirty-two-bytes!";
pub const PASSWORD: &str = "benchmark-password";
pub const USERS: u32 = 100;
pub const TODOS_PER_USER: u32 = 200;
/// `DATABASE_POOL_SIZE` of every server, and pgbench's client count.
pub const POOL_SIZE: u32 = 10;
/// Concurrent closed-loop HTTP clients.
pub const CLIENTS: usize = 16;
/// Concurrent clients of the write-contention scenarios.
pub const WRITERS: usize = 64;
/// Concurrent clients for `login` (argon2 saturates a core with a few).
pub const LOGIN_CLIENTS: usize = 4;
pub const SUBSCRIBERS: usize = 1000;
/// The shared list read by `list(id)`: users 1..=10, owned by user 1.
pub const SMALL_LIST_FIRST: u32 = 1;
pub const SMALL_LIST_MEMBERS: u32 = 10;
/// The shared list of the fan-out and the 50 writers: users 51..=100
/// (the contract's limit of 50 members), owned by user 51.
pub const BIG_LIST_FIRST: u32 = 51;
pub const BIG_LIST_MEMBERS: u32 = 50;
/// WebSockets per member in the fan-out of one list's change (a member's
/// devices and tabs): 50 members × 10 = 500 subscribers.
pub const SOCKETS_PER_MEMBER: usize = 10;
pub const LIST_QUERY: &str =
    "{ todos(first: 20) { totalCount nodes { id title completed owner { email } } } }";
pub const CREATE_MUTATION: &str =
    "mutation($t: String!) { createTodo(input: {title: $t}) { id title completed version } }";
/// `LIST_QUERY`'s selection on one list, in its manual order.
pub const SHARED_LIST_QUERY: &str = "query($id: ID!) { list(id: $id) { todos(first: 20, orderBy: POSITION) { totalCount nodes { id title completed owner { email } } } } }";
pub const CREATE_IN_LIST_MUTATION: &str = "mutation($t: String!, $l: ID!) { createTodo(input: {title: $t, listId: $l}) { id title completed version } }";
pub const UPDATE_MUTATION: &str = "mutation($id: ID!, $t: String!, $v: Int!) { updateTodo(id: $id, input: {title: $t, expectedVersion: $v}) { id version } }";
pub const LOGIN_MUTATION: &str = "mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { accessToken } }";
pub const SUBSCRIPTION: &str =
    "subscription { todoEvents { cursor kind occurredAt todo { id title completed version } } }";
/// The pull feed's reader: a user outside both shared lists, given
/// [`FEED_EVENTS`] events by the seed.
pub const FEED_USER: u32 = 30;
/// Events of [`FEED_USER`] (25 updates of each of its 200 todos).
pub const FEED_EVENTS: u32 = 5000;
/// A page of the pull feed as an offline client reads it: every change
/// with the todo's fields.
pub const FEED_QUERY: &str = "query($after: String) { changes(after: $after, first: 500) { cursor hasMore changes { __typename ... on TodoEvent { cursor kind todoId listId occurredAt todo { id title description completed dueAt version position updatedAt } } ... on ListEvent { cursor action listId occurredAt list { id name role } } } } }";
/// What a lists-aware client subscribes to: every change of every list.
pub const CHANGES_SUBSCRIPTION: &str = "subscription { changes { ... on TodoEvent { cursor kind occurredAt todo { id title completed version } } ... on ListEvent { cursor action listId occurredAt } } }";

// ---------------------------------------------------------------------------
// Settings

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Quick,
    Full,
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub mode: Mode,
    pub warmup: Duration,
    pub duration: Duration,
    pub login_duration: Duration,
    pub paced_rounds: usize,
    pub burst_rounds: usize,
    pub jobs: i64,
    pub out: PathBuf,
    pub perf: Option<String>,
    pub pin: bool,
    /// `--only PREFIX[|…]`: run only the fan-out rows whose names start
    /// with a prefix (after the idle-memory row, whose instance is the
    /// fan-out's second), to look into them without the other scenarios.
    pub only: Option<String>,
}

impl Settings {
    pub fn new(mode: Mode, out: Option<PathBuf>, perf: Option<String>, pin: bool) -> Self {
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
                only: None,
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
                only: None,
            },
        }
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: load [--quick|--full] [--out FILE] [--perf SCENARIO-PREFIX[,…]] [--only FAN-OUT-PREFIX[|…]] [--no-pin]\n       load --compare OLD.json NEW.json\n(run through scripts/bench.sh, which provides PostgreSQL and Redis)"
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
    let mut only = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--quick" => mode = Mode::Quick,
            "--full" => mode = Mode::Full,
            "--out" => out = Some(PathBuf::from(it.next().unwrap_or_else(|| usage()))),
            "--perf" => perf = Some(it.next().unwrap_or_else(|| usage()).clone()),
            "--no-pin" => pin = false,
            "--only" => only = Some(it.next().unwrap_or_else(|| usage()).clone()),
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
    let mut settings = Settings::new(mode, out, perf, pin);
    settings.only = only;
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
