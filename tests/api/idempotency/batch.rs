//! JSON-array batches (Apollo's `BatchHttpLink`, an offline queue) and
//! documents of aliased mutations, with their limits and keys.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{create, keyed, post_keyed, total};
use crate::support::{TestApp, error_code};

fn with_key(mut operation: Value, key: &str) -> Value {
    operation["extensions"] = json!({ "idempotencyKey": key });
    operation
}

#[tokio::test]
async fn a_batch_of_100_runs_by_default_and_101_is_refused() {
    let app = TestApp::spawn().await;
    let user = app.register("batch100").await;
    let token = Some(user.access_token.as_str());
    let batch: Vec<Value> = (0..100).map(|i| create(&format!("t{i}"))).collect();
    let answer = post_keyed(&app, token, None, &Value::Array(batch.clone())).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let results = answer.body.as_array().unwrap();
    assert_eq!(results.len(), 100);
    assert!(
        results
            .iter()
            .all(|r| r["data"]["createTodo"]["id"].is_string())
    );
    assert_eq!(total(&app, &user).await, 100);
    let mut over = batch;
    over.push(create("t100"));
    let answer = post_keyed(&app, token, None, &Value::Array(over)).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    assert_eq!(total(&app, &user).await, 100, "nothing of it ran");
}

#[tokio::test]
async fn a_header_key_on_a_batch_is_refused() {
    let app = TestApp::spawn().await;
    let user = app.register("batchheader").await;
    let answer = keyed(&app, &user, "k", &json!([create("a"), create("b")])).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    assert_eq!(error_code(&answer.body), "BAD_USER_INPUT");
    assert_eq!(total(&app, &user).await, 0);
}

#[tokio::test]
async fn batch_elements_carry_their_own_keys_and_fail_alone() {
    let app = TestApp::spawn().await;
    let user = app.register("elements").await;
    let token = Some(user.access_token.as_str());
    let batch = json!([
        with_key(create("one"), "e1"),
        with_key(create(""), "e2"),
        create("unkeyed"),
        with_key(json!({ "query": "{ me { id } }" }), "e4"),
    ]);
    let first = post_keyed(&app, token, None, &batch).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let first = first.body.as_array().unwrap().clone();
    assert!(first[0]["data"]["createTodo"]["id"].is_string());
    assert_eq!(error_code(&first[1]), "BAD_USER_INPUT");
    assert!(
        first[2]["data"]["createTodo"]["id"].is_string(),
        "the failure did not stop it"
    );
    assert_eq!(total(&app, &user).await, 2);
    // Replaying the whole array replays each keyed operation.
    let again = post_keyed(&app, token, None, &batch).await;
    let again = again.body.as_array().unwrap().clone();
    for i in [0, 1] {
        assert_eq!(
            again[i]["extensions"]["idempotentReplayed"], true,
            "{}",
            again[i]
        );
        assert_eq!(again[i]["data"], first[i]["data"]);
        assert_eq!(again[i]["errors"], first[i]["errors"]);
    }
    assert!(again[2].get("extensions").is_none(), "no key: it ran again");
    assert!(again[3].get("extensions").is_none(), "queries ignore keys");
    assert_eq!(total(&app, &user).await, 3);
    // The same keys one by one replay too.
    let single = keyed(&app, &user, "e1", &create("one")).await;
    assert_eq!(single.header(super::REPLAYED), Some("true"));
    assert_eq!(single.body["data"], first[0]["data"]);
}

/// One document with `n` aliased `createTodo` fields.
fn aliased(n: usize) -> Value {
    let fields: String = (0..n)
        .map(|i| format!("m{i}: createTodo(input: {{title: \"t{i}\"}}) {{ id title }}\n"))
        .collect();
    json!({ "query": format!("mutation {{\n{fields}}}") })
}

#[tokio::test]
async fn a_document_of_100_aliased_mutations_passes_the_default_limits() {
    let app = TestApp::spawn().await;
    let user = app.register("aliases").await;
    let token = Some(user.access_token.as_str());
    let answer = post_keyed(&app, token, None, &aliased(100)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert!(answer.body["errors"].is_null(), "{}", answer.text);
    assert_eq!(answer.body["data"]["m99"]["title"], "t99");
    assert_eq!(total(&app, &user).await, 100);
    let answer = post_keyed(&app, token, None, &aliased(101)).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    assert_eq!(
        answer.body["errors"][0]["extensions"]["limit"],
        "rootFields"
    );
    assert_eq!(total(&app, &user).await, 100);
    // Queries keep their limits.
    let fields: String = (0..21).map(|i| format!("a{i}: me {{ id }} ")).collect();
    let answer = post_keyed(
        &app,
        token,
        None,
        &json!({ "query": format!("{{ {fields} }}") }),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    // A keyed aliased document replays as a whole.
    let first = keyed(&app, &user, "doc", &aliased(3)).await;
    let again = keyed(&app, &user, "doc", &aliased(3)).await;
    assert_eq!(again.header(super::REPLAYED), Some("true"));
    assert_eq!(again.text, first.text);
    assert_eq!(total(&app, &user).await, 103);
}
