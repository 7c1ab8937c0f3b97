//! Hardening: document limits (size, tokens, depth, aliases, root fields,
//! directives, fragment expansion, complexity), JSON-array batching, CSRF
//! protection of `GET`, automatic persisted queries, production mode, rate
//! limits (login per account and per address, registration, refresh, the
//! per-user budget), the CORS allow-list, and abusive requests refused while
//! the server keeps answering `/ping`.
//!
//! One file per concern: [`limits`], [`csrf`] (and CORS), [`apq`],
//! [`production`], [`rate_limits`], [`budget`] (the per-user budget across
//! instances) and [`abuse`]; the helpers they share are here.

mod abuse;
mod apq;
mod budget;
mod csrf;
mod limits;
mod production;
mod rate_limits;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::support::{GRJ, JSON, TestApp, TestUser, error_code};

/// `APP_ENV=production` and what it requires besides the test secret.
const PRODUCTION: [(&str, &str); 2] = [
    ("APP_ENV", "production"),
    ("SMTP_URL", "smtp://127.0.0.1:1025"),
];

/// The lowercase hex SHA-256 of a query, computed here independently of
/// the server.
fn sha256(query: &str) -> String {
    Sha256::digest(query.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn persisted(hash: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

/// Asserts a limit refusal: a request error (400 under
/// `application/graphql-response+json`, 200 under `application/json`)
/// with no `data`, code `GRAPHQL_VALIDATION_FAILED` and `extensions.limit`.
async fn assert_refused(app: &TestApp, token: Option<&str>, body: &Value, limit: &str) {
    for (accept, status) in [(GRJ, StatusCode::BAD_REQUEST), (JSON, StatusCode::OK)] {
        let answer = app.post_graphql(accept, token, body).await;
        assert_eq!(answer.status, status, "{accept} {body}: {}", answer.text);
        assert!(
            answer.body.get("data").is_none(),
            "a refusal has no data: {body}: {}",
            answer.text
        );
        assert_eq!(
            error_code(&answer.body),
            "GRAPHQL_VALIDATION_FAILED",
            "{body}"
        );
        assert_eq!(
            answer.body["errors"][0]["extensions"]["limit"], limit,
            "{body}: {}",
            answer.text
        );
    }
}

/// Asserts that a query runs without any error (as `user`).
async fn assert_accepted(app: &TestApp, user: &TestUser, query: &str) -> Value {
    let answer = app
        .post_graphql(GRJ, Some(&user.access_token), &json!({ "query": query }))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{query}: {}", answer.text);
    assert!(answer.body["errors"].is_null(), "{query}: {}", answer.text);
    assert!(answer.body["data"].is_object(), "{query}: {}", answer.text);
    answer.body
}
