//! Idempotency keys (issue 16, contract `sync.graphql`): a retried write
//! runs once and repeats get the stored response, over HTTP ([`http`]),
//! WebSocket ([`ws`]), JSON-array batches and aliased mutations
//! ([`batch`]) and the REST facade ([`rest`]); concurrency, several
//! instances, restarts and the crash cases of the lease ([`crash`]).

mod batch;
mod crash;
mod http;
mod rest;
mod ws;

use reqwest::header::ACCEPT;
use serde_json::{Value, json};

use crate::support::{Answer, CREATE_TODO, GRJ, TestApp, TestUser, send};

/// The replay header.
const REPLAYED: &str = "idempotent-replayed";

/// `createTodo` titled `title`, as a request body.
fn create(title: &str) -> Value {
    json!({ "query": CREATE_TODO, "variables": { "input": { "title": title } } })
}

/// `POST /graphql` with `Idempotency-Key: key` (none when `None`).
async fn post_keyed(app: &TestApp, token: Option<&str>, key: Option<&str>, body: &Value) -> Answer {
    let mut request = app.graphql_request(token, body).header(ACCEPT, GRJ);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    send(request).await
}

/// [`post_keyed`] as `user`.
async fn keyed(app: &TestApp, user: &TestUser, key: &str, body: &Value) -> Answer {
    post_keyed(app, Some(&user.access_token), Some(key), body).await
}

/// The user's todo count.
async fn total(app: &TestApp, user: &TestUser) -> i64 {
    app.todo_counts(user).await.0
}
