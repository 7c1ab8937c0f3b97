//! Requests whose exact shape (document, operation name, variables)
//! validated before run on the schema without the extension
//! (`graphql::shapes`, `graphql::pipeline::run_known`). Such a run must
//! answer byte for byte as the first run did (selection order, error
//! codes, `@include` from a variable), the shape must then be known, and
//! a shape that failed validation must never be: the same document with
//! other variables is validated afresh. (That a known shape still pays
//! the per-user budget is `hardening::rate_limits`'s
//! `the_per_user_budget_refuses_expensive_callers_with_429`: it repeats
//! one document until refused.)

use async_graphql::Variables;
use reqwest::StatusCode;
use serde_json::{Value, json};
use todoql::graphql::shapes::ShapeKey;

use crate::support::{GRJ, TestApp, TestUser, error_code};

/// Whether the app knows the shape of `body` (a POST body).
fn known(app: &TestApp, body: &Value) -> bool {
    let query = body["query"].as_str().unwrap();
    let name = body["operationName"].as_str();
    let variables = Variables::from_json(body.get("variables").cloned().unwrap_or(json!({})));
    app.state.limits.documents.get(query).is_some_and(|d| {
        ShapeKey::of(&variables)
            .and_then(|key| d.shapes.complexity(key, name, &variables))
            .is_some()
    })
}

async fn twice(app: &TestApp, user: &TestUser, body: &Value) -> (String, String) {
    assert!(!known(app, body), "known before its first run: {body}");
    let first = app.post_graphql(GRJ, Some(&user.access_token), body).await;
    let second = app.post_graphql(GRJ, Some(&user.access_token), body).await;
    assert_eq!(first.status, second.status, "{body}");
    (first.text, second.text)
}

#[tokio::test]
async fn a_known_shape_answers_as_its_first_run_did() {
    let app = TestApp::spawn().await;
    let user = app.register("shapes").await;
    app.create_todo(&user, json!({ "title": "one" })).await;
    let bodies = [
        // Fields out of alphabetical order, a variable, a named operation.
        json!({
            "query": "query Mine($n: Int) { todos(first: $n) { totalCount nodes { title completed } } me { email id } }",
            "operationName": "Mine",
            "variables": { "n": 5 },
        }),
        // Aliases, a fragment, and `@include` from a variable.
        json!({
            "query": "query($full: Boolean!) { b: me { ...F email @include(if: $full) } a: me { id } } fragment F on User { displayName id }",
            "variables": { "full": false },
        }),
        // A resolver's error, with its code.
        json!({ "query": "mutation { createTodo(input: { title: \"\" }) { id } }" }),
        // A library error during execution (input coercion), coded too.
        json!({
            "query": "query($d: DateTime) { todos(first: 1, filter: { dueBefore: $d }) { totalCount } }",
            "variables": { "d": "not a date" },
        }),
    ];
    for body in &bodies {
        let (first, second) = twice(&app, &user, body).await;
        assert_eq!(first, second, "the known run answered otherwise");
        assert!(known(&app, body), "shape not remembered: {body}");
    }
    // What the runs said, so equal answers are also right ones.
    let (_, mine) = twice(&app, &user, &json!({ "query": "{ me { email } }" })).await;
    assert!(mine.contains(&user.email), "{mine}");
    let (_, include) = twice(
        &app,
        &user,
        &json!({
            "query": "query($full: Boolean!) { b: me { ...F email @include(if: $full) } a: me { id } } fragment F on User { displayName id }",
            "variables": { "full": true },
        }),
    )
    .await;
    let (b, email, a) = (
        include.find("\"b\"").unwrap(),
        include.find("\"email\"").unwrap(),
        include.find("\"a\"").unwrap(),
    );
    assert!(b < email && email < a, "selection order: {include}");
    let invalid: Value = serde_json::from_str(
        &twice(
            &app,
            &user,
            &json!({ "query": "mutation Empty { createTodo(input: { title: \"  \" }) { id } }" }),
        )
        .await
        .1,
    )
    .unwrap();
    assert_eq!(error_code(&invalid), "BAD_USER_INPUT", "{invalid}");
}

#[tokio::test]
async fn a_shape_that_failed_validation_is_never_known() {
    let app = TestApp::spawn_with(&[("GRAPHQL_MAX_COMPLEXITY", "100")]).await;
    let user = app.register("shapes").await;
    let query = "query($n: Int) { todos(first: $n) { nodes { id title completed } } }";
    // 2 + 50 × 4 is over 100; 2 + 5 × 4 is not.
    let heavy = json!({ "query": query, "variables": { "n": 50 } });
    let light = json!({ "query": query, "variables": { "n": 5 } });
    for _ in 0..2 {
        let answer = app
            .post_graphql(GRJ, Some(&user.access_token), &heavy)
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
        assert_eq!(
            error_code(&answer.body),
            "GRAPHQL_VALIDATION_FAILED",
            "{}",
            answer.text
        );
        assert!(!known(&app, &heavy));
    }
    let (first, second) = twice(&app, &user, &light).await;
    assert_eq!(first, second);
    assert!(first.contains("\"nodes\":[]"), "{first}");
    assert!(known(&app, &light));
    // Two operations and no name: validation passes, choosing the
    // operation fails. The shape is not known, and the error stays a
    // request error.
    let two = json!({ "query": "query A { __typename } query B { __typename }" });
    for _ in 0..2 {
        let answer = app.post_graphql(GRJ, Some(&user.access_token), &two).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
        assert_eq!(error_code(&answer.body), "GRAPHQL_VALIDATION_FAILED");
        assert!(!known(&app, &two));
    }
    // Knowing the light shape does not let the heavy one through.
    let answer = app
        .post_graphql(GRJ, Some(&user.access_token), &heavy)
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    assert!(!known(&app, &heavy));
}
