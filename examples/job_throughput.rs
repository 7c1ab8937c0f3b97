//! Job queue throughput: no-op jobs per second with 1, 4 and 16 workers,
//! and the time from enqueue (commit) to start on an idle pool.
//!
//! ```text
//! ./scripts/test.sh --exec cargo run --release --example job_throughput -- [JOBS]
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use diesel::sql_types::{BigInt, Double};
use diesel_async::{AsyncConnection, RunQueryDsl, SimpleAsyncConnection};
use todoql::{app::App, config::Config, db::Conn};

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(diesel::QueryableByName)]
struct Millis {
    #[diesel(sql_type = Double)]
    ms: f64,
}

async fn instance(workers: usize) -> (String, Conn) {
    let admin = std::env::var("TEST_DATABASE_URL").expect("run through ./scripts/test.sh --exec");
    let name = format!("bench_{}", uuid::Uuid::new_v4().simple());
    todoql::devdb::create_database(&admin, &name).await.unwrap();
    let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
    let workers = workers.to_string();
    let vars = [
        ("PORT", "0"),
        ("JWT_SECRET", "bench-secret-of-at-least-thirty-two-bytes"),
        ("JOBS_IN_PROCESS", "true"),
        ("JOB_WORKERS", workers.as_str()),
        ("DATABASE_POOL_SIZE", "24"),
        ("RUST_LOG", "warn"),
    ];
    let config = Config::from_lookup(|k| {
        vars.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| (*v).to_owned())
    })
    .unwrap();
    let app = App::build(config, &url).await.unwrap();
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    let conn = Conn::establish(&url).await.unwrap();
    (url, conn)
}

async fn succeeded(conn: &mut Conn) -> i64 {
    diesel::sql_query("SELECT count(*) AS n FROM jobs WHERE state = 'succeeded'")
        .get_result::<Count>(conn)
        .await
        .unwrap()
        .n
}

#[tokio::main]
async fn main() {
    let jobs: i64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5000);
    for workers in [1, 4, 16] {
        let (_url, mut conn) = instance(workers).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let started = Instant::now();
        conn.batch_execute(&format!(
            "INSERT INTO jobs (id, kind, payload) SELECT gen_random_uuid(), 'noop', '{{}}' \
             FROM generate_series(1, {jobs}); NOTIFY todoql_jobs"
        ))
        .await
        .unwrap();
        while succeeded(&mut conn).await < jobs {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let elapsed = started.elapsed();
        println!(
            "{workers:>2} worker(s): {jobs} no-op jobs in {:.2} s = {:.0} jobs/s",
            elapsed.as_secs_f64(),
            jobs as f64 / elapsed.as_secs_f64()
        );
    }

    // Enqueue-to-start at idle: 50 jobs one at a time, each enqueued in its
    // own transaction (NOTIFY on commit) with the pool idle in between.
    let (_url, mut conn) = instance(4).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..50 {
        conn.batch_execute(
            "INSERT INTO jobs (id, kind, payload) VALUES (gen_random_uuid(), 'noop', '{}'); \
             NOTIFY todoql_jobs",
        )
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // created_at is the enqueuing transaction's time, finished_at when the
    // no-op completed (it takes no time itself).
    let lat: Vec<f64> = diesel::sql_query(
        "SELECT (extract(epoch FROM (finished_at - created_at)) * 1000)::float8 AS ms FROM jobs \
         WHERE state = 'succeeded' ORDER BY 1",
    )
    .load::<Millis>(&mut conn)
    .await
    .unwrap()
    .into_iter()
    .map(|m| m.ms)
    .collect();
    let at = |q: f64| lat[((lat.len() - 1) as f64 * q) as usize];
    println!(
        "enqueue to completion of a no-op at idle ({} jobs, 4 workers): p50 {:.2} ms, p90 {:.2} ms, max {:.2} ms",
        lat.len(),
        at(0.5),
        at(0.9),
        at(1.0)
    );
}
