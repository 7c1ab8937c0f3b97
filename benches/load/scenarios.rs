//! The run: the database and servers set up, every scenario in order (the
//! ceilings first), and the report they make.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicI32, Ordering},
    },
};

use anyhow::Context;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    BIG_LIST_FIRST, BIG_LIST_MEMBERS, CLIENTS, CREATE_IN_LIST_MUTATION, CREATE_MUTATION,
    FEED_EVENTS, FEED_QUERY, FEED_USER, LIST_QUERY, LOGIN_CLIENTS, LOGIN_MUTATION, PASSWORD,
    POOL_SIZE, SHARED_LIST_QUERY, SMALL_LIST_FIRST, SMALL_LIST_MEMBERS, SOCKETS_PER_MEMBER,
    SUBSCRIBERS, Settings, TODOS_PER_USER, UPDATE_MUTATION, USERS, WRITERS,
    env::{Env, Pinning, Proc, Server, cpu_model, free_port, load_average},
    fanout::{FanOut, fan_out},
    http_load::{Request, closed_loop, row_from_load},
    jobs::jobs_scenario,
    memory::idle_memory,
    pgbench::{pgbench, row_from_pgbench},
    report::{Report, Row, print_row, progress},
    seed::{big_list, pg, seed, small_list, todo_id, tokens},
};

pub fn git_commit() -> String {
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

fn check_shared_list(_: usize, v: &Value) -> Result<(), String> {
    if !v["errors"].is_null() {
        return Err(v["errors"].to_string());
    }
    let todos = &v["data"]["list"]["todos"];
    let nodes = todos["nodes"].as_array().map_or(&[][..], Vec::as_slice);
    if nodes.len() != 20 || todos["totalCount"].as_i64().unwrap_or(0) < 20 {
        return Err(format!("unexpected page: {} nodes", nodes.len()));
    }
    // Todos created by several members: the owners come from one batch.
    if nodes
        .iter()
        .all(|n| n["owner"]["email"] == nodes[0]["owner"]["email"])
    {
        return Err("every todo of the shared page has the same owner".into());
    }
    Ok(())
}

fn check_feed_page(_: usize, v: &Value) -> Result<(), String> {
    if !v["errors"].is_null() {
        return Err(v["errors"].to_string());
    }
    let page = &v["data"]["changes"];
    let changes = page["changes"].as_array().map_or(&[][..], Vec::as_slice);
    if changes.len() != 500 {
        return Err(format!("unexpected page: {} changes", changes.len()));
    }
    if changes
        .iter()
        .any(|c| c["todo"]["title"].as_str().is_none())
    {
        return Err("a change without its todo".into());
    }
    if page["cursor"] != changes[499]["cursor"] {
        return Err("the page's cursor is not its last change's".into());
    }
    Ok(())
}

pub async fn run(settings: Settings) -> anyhow::Result<Report> {
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
    if rows.iter().any(|r| r.errors > 0) {
        eprintln!("  rows with errors: logs kept in {}", work.display());
    } else if settings.perf.is_none() {
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
            "shared_lists": format!(
                "list(id): users {SMALL_LIST_FIRST}..={} (OWNER {SMALL_LIST_FIRST}, the others EDITOR), {TODOS_PER_USER} todos by its members; 50 writers and fan-out: users {BIG_LIST_FIRST}..={} (OWNER {BIG_LIST_FIRST}), {SOCKETS_PER_MEMBER} sockets per member",
                SMALL_LIST_FIRST + SMALL_LIST_MEMBERS - 1,
                BIG_LIST_FIRST + BIG_LIST_MEMBERS - 1
            ),
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

pub async fn scenarios(env: &Env, settings: &Settings) -> anyhow::Result<Vec<Row>> {
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

    progress(
        &mut step,
        "seeding 100 users × 200 todos, two shared lists (10 and 50 members)",
    );
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

    if settings.only.is_some() {
        // Only fan-out rows: instance A as the full run has it by then.
        let on = env.serve("cache-on", &[("CACHE", "true".into())]).await?;
        fan_outs(env, settings, (&on, &second), &tokens, &mut step, &mut rows).await?;
        second.proc.stop();
        on.proc.stop();
        return Ok(rows);
    }

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
            ..Default::default()
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
    // Issue 18: <= 0.25 ms of server CPU per request, >= 50 % of the DB
    // ceiling.
    row.target = Some("server CPU <= 0.25 ms/request, >= 50 % of the DB ceiling".into());
    row.target_met = Some(row.cpu_s_per_1k.is_some_and(|c| c <= 0.25) && t / db_list >= 0.50);
    let list_cpu = row.cpu_s_per_1k;
    print_row(&row);
    rows.push(row);

    // The same selection on a list shared by 10 members, in its manual
    // order, read by its members (16 clients spread over them): the
    // membership check (one batched query) and owners of several users.
    let name = "list(id): shared list of 10 members, cache off";
    progress(&mut step, name);
    let shared_request = {
        let tokens = tokens.clone();
        let list = small_list().to_string();
        move |c: usize, i: u64| {
            let member = SMALL_LIST_FIRST as usize
                + (c + i as usize * CLIENTS) % SMALL_LIST_MEMBERS as usize;
            Request {
                token: Some(tokens[member - 1].clone()),
                body: json!({ "query": SHARED_LIST_QUERY, "variables": { "id": list } })
                    .to_string(),
                ..Default::default()
            }
        }
    };
    let r = closed_loop(
        &env.http,
        &off.url(),
        CLIENTS,
        settings.warmup,
        settings.duration,
        Some(off.pid()),
        perf_for(name),
        shared_request,
        check_shared_list,
    )
    .await;
    let mut row = row_from_load(name, "api", &r);
    let t = row.throughput.unwrap_or(0.0);
    row.extra.insert("vs_db".into(), t / db_list);
    if let (Some(a), Some(b)) = (row.cpu_s_per_1k, list_cpu) {
        // CPU per request relative to `list: cache off` of the same run.
        row.extra.insert("cpu_vs_list".into(), a / b);
        row.target = Some("CPU per request within 10 % of list: cache off".into());
        row.target_met = Some(a / b <= 1.10);
    }
    print_row(&row);
    rows.push(row);

    // The pull feed: 16 clients of one user with 5,000 events read pages
    // of 500 (todo fields included) at the ten page boundaries in turn,
    // as offline devices catching up would. One statement per page, the
    // fields from the events' snapshots.
    let name = "changes(first: 500): pull feed page, 5,000 events";
    progress(&mut step, name);
    let feed_request = {
        let token = tokens[FEED_USER as usize - 1].clone();
        move |c: usize, i: u64| {
            let pages = u64::from(FEED_EVENTS / 500);
            let page = (c as u64 + i * CLIENTS as u64) % pages;
            Request {
                token: Some(token.clone()),
                body: json!({
                    "query": FEED_QUERY,
                    "variables": { "after": todoql::events::cursor::encode((page * 500) as i64) },
                })
                .to_string(),
                idempotency_key: None,
            }
        }
    };
    let r = closed_loop(
        &env.http,
        &off.url(),
        CLIENTS,
        settings.warmup,
        settings.duration,
        Some(off.pid()),
        perf_for(name),
        feed_request,
        check_feed_page,
    )
    .await;
    let mut row = row_from_load(name, "api", &r);
    row.extra.insert(
        "changes_per_s".into(),
        row.throughput.unwrap_or(0.0) * 500.0,
    );
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
    let mut one_user_64 = None;
    let mut plain_create = None;
    // The keyed scenario is createTodo's shape with a fresh
    // `Idempotency-Key` per request (issue 16): the cost of a claim and a
    // stored response per write.
    for (name, clients, one_user, keyed) in [
        ("createTodo", CLIENTS, false, false),
        ("createTodo with Idempotency-Key", CLIENTS, false, true),
        ("createTodo: 64 clients, spread", WRITERS, false, false),
        ("createTodo: 64 clients, one user", WRITERS, true, false),
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
                idempotency_key: keyed.then(|| uuid::Uuid::new_v4().to_string()),
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
        against_ceilings(&mut row, http_ceiling, db_create, "ceiling: db createTodo");
        if keyed {
            if let Some(plain) = plain_create {
                row.extra.insert("vs_createTodo".into(), t / plain);
            }
        } else if clients == CLIENTS && !one_user {
            plain_create = Some(t);
        }
        if one_user {
            // Issue 13: one user's writes must not serialise.
            let spread = spread_64.unwrap_or(f64::INFINITY);
            row.extra.insert("vs_spread".into(), t / spread);
            row.target = Some(format!(
                ">= 50 % of its DB ceiling (issue 18), >= 0.8x the spread figure with {WRITERS} clients (issue 13)"
            ));
            row.target_met = Some(t / db_create >= 0.50 && t >= 0.8 * spread);
            one_user_64 = Some(t);
        } else if !keyed {
            if clients == WRITERS {
                spread_64 = Some(t);
            }
            row.target = Some(">= 50 % of its DB ceiling".into());
            row.target_met = Some(t / db_create >= 0.50);
        }
        // The keyed row has no target: issue 16 asks for both figures side
        // by side (`vs_createTodo`), and the plain ceiling (`vs_db`) runs
        // neither its claim nor its stored response.
        print_row(&row);
        rows.push(row);
    }

    progress(&mut step, "DB ceiling: pgbench update.sql");
    let r = pgbench(env, "update.sql", secs).await?;
    let db_update = r.tps;
    let row = row_from_pgbench("ceiling: db updateTodo (pgbench)", &r);
    print_row(&row);
    rows.push(row);

    // updateTodo with expectedVersion: 16 clients, one user each; 64
    // clients spread over 64 users; and 64 clients of ONE user (each with
    // its own three todos, so no client conflicts with another). Clients
    // track their todos' versions, read fresh after pgbench changed them,
    // so a conflict would be an error.
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
    let mut update_spread_64 = None;
    for (name, clients, one_user) in [
        ("updateTodo (expectedVersion)", CLIENTS, false),
        ("updateTodo: 64 clients, spread", WRITERS, false),
        ("updateTodo: 64 clients, one user", WRITERS, true),
    ] {
        progress(&mut step, name);
        // Client c's user and its n-th todo of that user (1-based).
        let user_of = move |c: usize| if one_user { 1 } else { (c as u32 % USERS) + 1 };
        let todo_of = move |c: usize, i: u64| {
            if one_user {
                (c as u32) * 3 + (i % 3) as u32 + 1
            } else {
                (i as u32 % TODOS_PER_USER) + 1
            }
        };
        let update_request = {
            let tokens = tokens.clone();
            let versions = versions.clone();
            move |c: usize, i: u64| {
                let (u, n) = (user_of(c), todo_of(c, i));
                let v =
                    versions[((u - 1) * TODOS_PER_USER + n - 1) as usize].load(Ordering::Relaxed);
                Request {
                    token: Some(tokens[(u - 1) as usize].clone()),
                    body: json!({ "query": UPDATE_MUTATION,
                        "variables": { "id": todo_id(u, n).to_string(), "t": format!("edited {i}"), "v": v } })
                    .to_string(),
                    ..Default::default()
                }
            }
        };
        let update_check = {
            let versions = versions.clone();
            move |c: usize, v: &Value| {
                let updated = &v["data"]["updateTodo"];
                let (Some(id), Some(version)) =
                    (updated["id"].as_str(), updated["version"].as_i64())
                else {
                    return Err(v.to_string());
                };
                let id = Uuid::parse_str(id).map_err(|e| e.to_string())?;
                let digits: u32 = format!("{:x}", id.as_u128() & 0xffff_ffff_ffff)
                    .parse()
                    .unwrap_or(0);
                let (u, n) = (digits / 1000, digits % 1000);
                if u != user_of(c) || !(1..=TODOS_PER_USER).contains(&n) {
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
            clients,
            settings.warmup,
            settings.duration,
            Some(on.pid()),
            perf_for(name),
            update_request,
            update_check,
        )
        .await;
        let mut row = row_from_load(name, "api", &r);
        let t = row.throughput.unwrap_or(0.0);
        against_ceilings(&mut row, http_ceiling, db_update, "ceiling: db updateTodo");
        row.target = Some(">= 50 % of its DB ceiling".into());
        row.target_met = Some(t / db_update >= 0.50);
        if one_user {
            if let Some(spread) = update_spread_64 {
                row.extra.insert("vs_spread".into(), t / spread);
            }
        } else if clients == WRITERS {
            update_spread_64 = Some(t);
        }
        print_row(&row);
        rows.push(row);
    }

    fan_outs(env, settings, (&on, &second), &tokens, &mut step, &mut rows).await?;
    second.proc.stop();

    // The 50 members of one shared list writing to it at once: each write
    // inserts an event row per member and its commit locks all 50 user
    // rows (user-id order) to number them; 64 clients spread over the 50.
    // After every other write and fan-out scenario: the event rows and lock
    // queues it leaves behind would weigh on them.
    // Its DB ceiling: the same transaction from pgbench (a failure, e.g. a
    // deadlock, is reported in the row rather than ending the run).
    progress(&mut step, "DB ceiling: pgbench create-shared.sql");
    let db_create_shared = match pgbench(env, "create-shared.sql", secs).await {
        Ok(r) => {
            let row = row_from_pgbench("ceiling: db createTodo, 50-member list (pgbench)", &r);
            print_row(&row);
            rows.push(row);
            Some(r.tps)
        }
        Err(e) => {
            let row = Row {
                name: "ceiling: db createTodo, 50-member list (pgbench)".into(),
                group: "ceiling".into(),
                unit: "tx/s".into(),
                errors: 1,
                load_1m: load_average()[0],
                note: Some(format!("pgbench failed: {e:#}")),
                ..Row::default()
            };
            print_row(&row);
            eprintln!("     {e:#}");
            rows.push(row);
            None
        }
    };

    let name = "createTodo: 64 clients, 50 members of one list";
    progress(&mut step, name);
    let list_create_request = {
        let tokens = tokens.clone();
        let list = big_list().to_string();
        move |c: usize, i: u64| {
            let member = BIG_LIST_FIRST as usize + c % BIG_LIST_MEMBERS as usize;
            Request {
                token: Some(tokens[member - 1].clone()),
                body: json!({ "query": CREATE_IN_LIST_MUTATION,
                    "variables": { "t": format!("bench {c}-{i}"), "l": list } })
                .to_string(),
                ..Default::default()
            }
        }
    };
    let log_from = on.log_len();
    let r = closed_loop(
        &env.http,
        &on.url(),
        WRITERS,
        settings.warmup,
        settings.duration,
        Some(on.pid()),
        perf_for(name),
        list_create_request,
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
    row.extra.insert("vs_db".into(), t / db_create);
    if let Some(db) = db_create_shared {
        row.extra.insert("vs_db_shared".into(), t / db);
    }
    if let Some(spread) = spread_64 {
        row.extra.insert("vs_spread".into(), t / spread);
    }
    if let Some(one) = one_user_64 {
        row.extra.insert("vs_one_user".into(), t / one);
    }
    // Every write reaches 50 members: events (rows) written per second.
    row.extra
        .insert("event_rows_per_s".into(), t * f64::from(BIG_LIST_MEMBERS));
    if r.errors > 0 {
        // What the server said about them (INTERNAL_SERVER_ERROR hides it).
        let said = on.log_errors(log_from);
        eprintln!("     server errors during {name}: {said}");
        row.note = Some(format!(
            "{}; server log: {said}",
            row.note.unwrap_or_default()
        ));
    }
    print_row(&row);
    rows.push(row);

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
        ..Default::default()
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

/// Sets a write row's `ratio` to its throughput over the lower of the HTTP
/// ceiling and its DB ceiling (`ratio_to` names which), and `vs_db` to
/// its throughput over the DB ceiling alone.
/// The fan-out rows: `on` is instance A (mutations go there), `second` is
/// B. With `--only`, just the rows whose names start with one of its
/// prefixes.
async fn fan_outs(
    env: &Env,
    settings: &Settings,
    (on, second): (&Server, &Server),
    tokens: &Arc<Vec<String>>,
    step: &mut usize,
    rows: &mut Vec<Row>,
) -> anyhow::Result<()> {
    let per_user = |name: &str, users: u32, instances: usize| FanOut {
        name: name.into(),
        first_user: 1,
        users,
        instances,
        subscribers: SUBSCRIBERS,
        list: None,
    };
    let cases = [
        per_user("fan-out: 1,000 subs of 1 user, 1 instance", 1, 1),
        per_user("fan-out: 1,000 subs of 100 users, 1 instance", 100, 1),
        per_user("fan-out: 1,000 subs of 1 user, 2 instances", 1, 2),
        per_user("fan-out: 1,000 subs of 100 users, 2 instances", 100, 2),
        // One change to a list of 50 members, each with 10 sockets.
        FanOut {
            name: "fan-out: 1 change to a 50-member list, 500 subs, 1 instance".into(),
            first_user: BIG_LIST_FIRST,
            users: BIG_LIST_MEMBERS,
            instances: 1,
            subscribers: BIG_LIST_MEMBERS as usize * SOCKETS_PER_MEMBER,
            list: Some(big_list()),
        },
    ];
    let wanted = |name: &str| {
        settings
            .only
            .as_deref()
            .is_none_or(|only| only.split('|').any(|p| name.starts_with(p)))
    };
    for case in cases.iter().filter(|c| wanted(&c.name)) {
        progress(step, &case.name);
        let row = fan_out(env, settings, &[on, second], tokens, case).await?;
        print_row(&row);
        rows.push(row);
    }
    Ok(())
}

fn against_ceilings(row: &mut Row, http_ceiling: f64, db_ceiling: f64, db_name: &str) {
    let t = row.throughput.unwrap_or(0.0);
    row.ratio = Some(t / http_ceiling.min(db_ceiling));
    row.ratio_to = Some(
        if http_ceiling <= db_ceiling {
            "ceiling: http"
        } else {
            db_name
        }
        .into(),
    );
    row.extra.insert("vs_db".into(), t / db_ceiling);
}
