//! Measures how long a todo change takes to reach a subscriber on another
//! instance: two todoql instances share PostgreSQL and Redis; a
//! `graphql-transport-ws` subscriber listens on instance A while `createTodo`
//! runs on instance B; for each of N events it records the time from the
//! mutation's HTTP response to the event's arrival.
//!
//! ```text
//! ./scripts/test.sh --exec cargo run --release --example event_latency -- [N]
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use todoql::{app::App, config::Config};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest, http::HeaderValue};

async fn spawn(database_url: &str, redis_url: &str, prefix: &str) -> String {
    let vars = [
        ("PORT", "0"),
        ("JWT_SECRET", "bench-secret-of-at-least-thirty-two-bytes"),
        ("REDIS_URL", redis_url),
        ("REDIS_KEY_PREFIX", prefix),
        ("RUST_LOG", "warn"),
    ];
    let config = Config::from_lookup(|k| {
        vars.iter()
            .find(|(name, _)| *name == k)
            .map(|(_, v)| (*v).to_owned())
    })
    .unwrap();
    let app = App::build(config, database_url).await.unwrap();
    let address = format!("127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    address
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let admin = std::env::var("TEST_DATABASE_URL").expect("run through ./scripts/test.sh --exec");
    let redis_url = std::env::var("TEST_REDIS_URL").expect("TEST_REDIS_URL");
    let name = format!("bench_{}", uuid::Uuid::new_v4().simple());
    todoql::devdb::create_database(&admin, &name).await.unwrap();
    let database_url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
    let prefix = format!("bench:{name}:");
    let a = spawn(&database_url, &redis_url, &prefix).await;
    let b = spawn(&database_url, &redis_url, &prefix).await;
    let http = reqwest::Client::new();
    let gql = |address: &str, token: Option<&str>, query: &str, variables: Value| {
        let mut req = http
            .post(format!("http://{address}/graphql"))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let registered = gql(
        &b,
        None,
        "mutation { register(input: {email: \"bench@example.com\", password: \"benchmark-pw\"}) { accessToken } }",
        json!({}),
    )
    .await;
    let token = registered["data"]["register"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut request = format!("ws://{a}/graphql").into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
    socket.send(Message::text(init.to_string())).await.unwrap();
    socket.next().await.unwrap().unwrap(); // connection_ack
    let subscribe = json!({ "type": "subscribe", "id": "1",
        "payload": { "query": "subscription { todoEvents { cursor } }" } });
    socket
        .send(Message::text(subscribe.to_string()))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut latencies = Vec::with_capacity(n);
    for i in 0..n {
        let body = gql(
            &b,
            Some(&token),
            "mutation($t: String!) { createTodo(input: {title: $t}) { id } }",
            json!({ "t": format!("todo {i}") }),
        )
        .await;
        assert!(body["errors"].is_null(), "{body}");
        let responded = Instant::now();
        loop {
            let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
                .await
                .expect("event within 5 s")
                .unwrap()
                .unwrap();
            let Message::Text(text) = message else {
                continue;
            };
            let value: Value = serde_json::from_str(&text).unwrap();
            if value["type"] == "next" {
                break;
            }
        }
        latencies.push(responded.elapsed());
    }
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    println!(
        "cross-instance event delivery after the mutation's response, {n} events: \
         p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        at(0.5).as_secs_f64() * 1e3,
        at(0.9).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        at(1.0).as_secs_f64() * 1e3,
    );
}
