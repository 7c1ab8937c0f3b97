//! Throughput of the authenticated list query, with the Redis read cache
//! on and off: one release-mode todoql instance per run, 50 users × 200
//! todos, a bounded closed-loop load of concurrent clients over loopback.
//!
//! ```text
//! ./scripts/test.sh --exec cargo run --release --example list_throughput -- [SECONDS] [CLIENTS]
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use diesel_async::{AsyncConnection, RunQueryDsl};
use serde_json::{Value, json};
use todoql::{app::App, config::Config};

const QUERY: &str =
    "{ todos(first: 20) { totalCount nodes { id title completed owner { email } } } }";
const USERS: usize = 50;
const TODOS_PER_USER: usize = 200;

async fn run(cache: bool, seconds: u64, clients: usize) -> (f64, Vec<Duration>, u64) {
    let admin = std::env::var("TEST_DATABASE_URL").expect("run through ./scripts/test.sh --exec");
    let redis_url = std::env::var("TEST_REDIS_URL").expect("TEST_REDIS_URL");
    let name = format!("bench_{}", uuid::Uuid::new_v4().simple());
    todoql::devdb::create_database(&admin, &name).await.unwrap();
    let database_url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
    let prefix = format!("bench:{name}:");
    let cache_flag = cache.to_string();
    let vars = [
        ("PORT", "0"),
        ("JWT_SECRET", "bench-secret-of-at-least-thirty-two-bytes"),
        ("REDIS_URL", redis_url.as_str()),
        ("REDIS_KEY_PREFIX", prefix.as_str()),
        ("CACHE", cache_flag.as_str()),
        ("REGISTER_MAX_PER_HOUR", "100000"),
        ("USER_BUDGET_PER_MINUTE", "100000000"),
        ("DATABASE_POOL_SIZE", "16"),
    ];
    let config = Config::from_lookup(|k| {
        vars.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| (*v).to_owned())
    })
    .unwrap();
    let app = App::build(config, &database_url).await.unwrap();
    let url = format!("http://127.0.0.1:{}/graphql", app.port());
    tokio::spawn(app.run_until_stopped(std::future::pending()));

    let http = reqwest::Client::new();
    let mut tokens = Vec::new();
    for i in 0..USERS {
        let body: Value = http
            .post(&url)
            .json(&json!({ "query": "mutation($e: String!) { register(input: {email: $e, password: \"benchmark-pw\"}) { accessToken } }",
                "variables": { "e": format!("user{i}@example.com") } }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        tokens.push(
            body["data"]["register"]["accessToken"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    // Seed todos in one statement: some completed, some with due dates.
    let mut conn = todoql::db::Conn::establish(&database_url).await.unwrap();
    diesel::sql_query(format!(
        "INSERT INTO todos (id, owner_id, title, description, completed, completed_at, due_at, created_at, updated_at)
         SELECT gen_random_uuid(), u.id, 'Todo ' || n, CASE WHEN n % 3 = 0 THEN 'Some notes' END,
                n % 4 = 0, CASE WHEN n % 4 = 0 THEN now() END,
                CASE WHEN n % 2 = 0 THEN now() + n * interval '1 hour' END,
                now() - n * interval '1 minute', now() - n * interval '1 minute'
         FROM users u, generate_series(1, {TODOS_PER_USER}) n"
    ))
    .execute(&mut conn)
    .await
    .unwrap();

    let tokens = Arc::new(tokens);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut workers = Vec::new();
    for w in 0..clients {
        let http = http.clone();
        let url = url.clone();
        let tokens = tokens.clone();
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let mut i = w;
            while Instant::now() < deadline {
                let token = &tokens[i % tokens.len()];
                i += clients;
                let started = Instant::now();
                let ok = match http
                    .post(&url)
                    .bearer_auth(token)
                    .json(&json!({ "query": QUERY }))
                    .send()
                    .await
                {
                    Ok(res) => res.json::<Value>().await.is_ok_and(|b| {
                        b["errors"].is_null() && b["data"]["todos"]["totalCount"] == TODOS_PER_USER
                    }),
                    Err(_) => false,
                };
                latencies.push(started.elapsed());
                if !ok {
                    errors += 1;
                }
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for w in workers {
        let (l, e) = w.await.unwrap();
        all.extend(l);
        errors += e;
    }
    all.sort();
    (all.len() as f64 / seconds as f64, all, errors)
}

#[tokio::main]
async fn main() {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10);
    let clients: usize = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(16);
    for cache in [false, true] {
        let (rps, latencies, errors) = run(cache, seconds, clients).await;
        let at =
            |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
        println!(
            "cache {:<3}: {rps:>8.0} req/s over {seconds} s with {clients} clients; p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms; errors {errors}",
            if cache { "on" } else { "off" },
            at(0.5),
            at(0.9),
            at(0.99),
        );
    }
}
