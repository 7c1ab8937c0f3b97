//! `Idempotency-Key` on the REST facade: the fingerprint is the method,
//! the path and the body.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{REPLAYED, total};
use crate::support::{Answer, TestApp, TestUser, send};

async fn rest_keyed(
    app: &TestApp,
    user: &TestUser,
    (method, path): (Method, &str),
    key: &str,
    body: Option<serde_json::Value>,
) -> Answer {
    let mut request = app
        .request(method, path, Some(&user.access_token))
        .header("Idempotency-Key", key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    send(request).await
}

#[tokio::test]
async fn rest_writes_take_a_key() {
    let app = TestApp::spawn().await;
    let user = app.register("restkeys").await;
    let post = (Method::POST, "/todos");
    let first = rest_keyed(
        &app,
        &user,
        post.clone(),
        "r1",
        Some(json!({ "title": "rest" })),
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    assert!(first.header(REPLAYED).is_none());
    let again = rest_keyed(
        &app,
        &user,
        post.clone(),
        "r1",
        Some(json!({ "title": "rest" })),
    )
    .await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.header(REPLAYED), Some("true"));
    assert_eq!(again.header("content-type"), first.header("content-type"));
    assert_eq!(again.text, first.text);
    let other = rest_keyed(
        &app,
        &user,
        post.clone(),
        "r1",
        Some(json!({ "title": "other" })),
    )
    .await;
    assert_eq!(
        other.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        other.text
    );
    assert_eq!(other.body["code"], "IDEMPOTENCY_KEY_REUSED");
    let bad = rest_keyed(&app, &user, post, "", Some(json!({ "title": "never" }))).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text);
    assert_eq!(bad.body["code"], "BAD_USER_INPUT");
    assert_eq!(total(&app, &user).await, 1);
    // A keyed DELETE: 204 replayed, the todo deleted once.
    let id = first.body["id"].as_str().unwrap();
    let path = format!("/todos/{id}");
    let deleted = rest_keyed(&app, &user, (Method::DELETE, &path), "d1", None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let again = rest_keyed(&app, &user, (Method::DELETE, &path), "d1", None).await;
    assert_eq!(
        again.status,
        StatusCode::NO_CONTENT,
        "not 404: {}",
        again.text
    );
    assert_eq!(again.header(REPLAYED), Some("true"));
    assert_eq!(total(&app, &user).await, 0);
}
