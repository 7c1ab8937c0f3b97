//! Automatic persisted queries: register by hash, run by hash over `POST`
//! and `GET`, refuse hashes that do not match, persist only queries that
//! validate, share them between instances, and turn them off.

use reqwest::{StatusCode, header::CACHE_CONTROL};
use serde_json::json;

use super::{persisted, sha256};
use crate::support::{Answer, CREATE_TODO, GRJ, JSON, TestApp, error_code, redis_url};

#[tokio::test]
async fn unknown_persisted_query_hash_is_not_found_and_not_cached() {
    let app = TestApp::spawn().await;
    let hash = sha256("{ __typename } # never sent");
    for accept in [GRJ, JSON] {
        let answer = app
            .post_graphql(accept, None, &json!({ "extensions": persisted(&hash) }))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(
            answer.body["errors"][0]["message"],
            "PersistedQueryNotFound"
        );
        assert_eq!(error_code(&answer.body), "PERSISTED_QUERY_NOT_FOUND");
        assert_eq!(
            answer.header(CACHE_CONTROL),
            Some("private, no-cache, must-revalidate")
        );
    }
    let extensions = persisted(&hash).to_string();
    let answer = app
        .get_graphql(
            &[("extensions", &extensions)],
            &[("apollo-require-preflight", "true")],
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(
        answer.body["errors"][0]["message"],
        "PersistedQueryNotFound"
    );
    assert_eq!(
        answer.header(CACHE_CONTROL),
        Some("private, no-cache, must-revalidate")
    );
}

#[tokio::test]
async fn persisted_queries_register_then_run_by_hash_over_post_and_get() {
    let app = TestApp::spawn().await;
    let user = app.register("apq").await;
    let token = Some(user.access_token.as_str());
    let query = "query Mine($n: Int) { me { id } todos(first: $n) { totalCount } }";
    let hash = sha256(query);
    let variables = json!({ "n": 5 });

    let answer = app
        .post_graphql(
            JSON,
            token,
            &json!({ "extensions": persisted(&hash), "variables": variables }),
        )
        .await;
    assert_eq!(error_code(&answer.body), "PERSISTED_QUERY_NOT_FOUND");

    let answer = app
        .post_graphql(
            GRJ,
            token,
            &json!({ "query": query, "variables": variables, "extensions": persisted(&hash) }),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["data"]["me"]["id"], user.id.as_str());

    let expect = |answer: &Answer, how: &str| {
        assert_eq!(answer.status, StatusCode::OK, "{how}: {}", answer.text);
        assert!(answer.body["errors"].is_null(), "{how}: {}", answer.text);
        assert_eq!(answer.body["data"]["me"]["id"], user.id.as_str(), "{how}");
        assert_eq!(answer.body["data"]["todos"]["totalCount"], 0, "{how}");
    };
    let answer = app
        .post_graphql(
            GRJ,
            token,
            &json!({ "extensions": persisted(&hash), "variables": variables }),
        )
        .await;
    expect(&answer, "POST by hash");
    // urql adds `miss: true` when it resends after a miss.
    let urql = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash, "miss": true } });
    let answer = app
        .post_graphql(
            GRJ,
            token,
            &json!({ "extensions": urql, "variables": variables }),
        )
        .await;
    expect(&answer, "POST with miss: true");
    // Uppercase hex is the same hash.
    let answer = app
        .post_graphql(
            GRJ,
            token,
            &json!({ "extensions": persisted(&hash.to_uppercase()), "variables": variables }),
        )
        .await;
    expect(&answer, "POST with an uppercase hash");

    let extensions = persisted(&hash).to_string();
    let variables = variables.to_string();
    let bearer = format!("Bearer {}", user.access_token);
    for preflight in [
        ("apollo-require-preflight", "true"),
        ("content-type", "application/json"),
    ] {
        let answer = app
            .get_graphql(
                &[("extensions", &extensions), ("variables", &variables)],
                &[preflight, ("authorization", &bearer)],
            )
            .await;
        expect(&answer, &format!("GET with {preflight:?}"));
    }
}

#[tokio::test]
async fn a_hash_that_does_not_match_its_query_is_refused_and_nothing_runs() {
    let app = TestApp::spawn().await;
    let user = app.register("apqwrong").await;
    let token = Some(user.access_token.as_str());
    let wrong = sha256("something else");
    for accept in [GRJ, JSON] {
        let answer = app
            .post_graphql(
                accept,
                token,
                &json!({
                    "query": CREATE_TODO,
                    "variables": { "input": { "title": "mismatched" } },
                    "extensions": persisted(&wrong),
                }),
            )
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
        assert_eq!(
            answer.body["errors"][0]["message"],
            "provided sha does not match query"
        );
        assert!(answer.body.get("data").is_none());
    }
    assert_eq!(
        app.todo_counts(&user).await.0,
        0,
        "the mutation did not run"
    );
    for hash in [wrong, sha256(CREATE_TODO)] {
        let answer = app
            .post_graphql(JSON, token, &json!({ "extensions": persisted(&hash) }))
            .await;
        assert_eq!(
            error_code(&answer.body),
            "PERSISTED_QUERY_NOT_FOUND",
            "{hash}"
        );
    }
}

#[tokio::test]
async fn only_queries_that_validate_are_persisted() {
    let app = TestApp::spawn_with(&[("GRAPHQL_MAX_DEPTH", "3")]).await;
    for query in [
        "{ nope }",
        "{ __typename",
        "{ me { todos { nodes { id } } } }",
        "subscription { todoEvents { cursor } }",
    ] {
        let hash = sha256(query);
        let answer = app
            .post_graphql(
                JSON,
                None,
                &json!({ "query": query, "extensions": persisted(&hash) }),
            )
            .await;
        assert!(
            answer.body.get("data").is_none(),
            "{query}: {}",
            answer.text
        );
        assert!(answer.body["errors"].is_array(), "{query}");
        let answer = app
            .post_graphql(JSON, None, &json!({ "extensions": persisted(&hash) }))
            .await;
        assert_eq!(
            error_code(&answer.body),
            "PERSISTED_QUERY_NOT_FOUND",
            "{query} was stored: {}",
            answer.text
        );
    }
    // A query that validates but fails at run time (no token) is stored.
    let query = "{ me { id } }";
    let hash = sha256(query);
    app.post_graphql(
        JSON,
        None,
        &json!({ "query": query, "extensions": persisted(&hash) }),
    )
    .await;
    let answer = app
        .post_graphql(JSON, None, &json!({ "extensions": persisted(&hash) }))
        .await;
    assert_eq!(
        error_code(&answer.body),
        "UNAUTHENTICATED",
        "{}",
        answer.text
    );
}

#[tokio::test]
async fn malformed_persisted_query_extensions_are_400() {
    let app = TestApp::spawn().await;
    let hash = sha256("{ __typename }");
    for extensions in [
        json!({ "persistedQuery": { "version": 2, "sha256Hash": hash } }),
        json!({ "persistedQuery": { "sha256Hash": hash } }),
        json!({ "persistedQuery": { "version": 1 } }),
        json!({ "persistedQuery": { "version": 1, "sha256Hash": "abc" } }),
        json!({ "persistedQuery": { "version": 1, "sha256Hash": "z".repeat(64) } }),
        json!({ "persistedQuery": "yes" }),
    ] {
        for accept in [GRJ, JSON] {
            let answer = app
                .post_graphql(
                    accept,
                    None,
                    &json!({ "query": "{ __typename }", "extensions": extensions }),
                )
                .await;
            assert_eq!(
                answer.status,
                StatusCode::BAD_REQUEST,
                "{extensions}: {}",
                answer.text
            );
            assert!(answer.body.get("data").is_none());
        }
    }
}

#[tokio::test]
async fn persisted_queries_can_be_turned_off() {
    let app = TestApp::spawn_with(&[("APQ", "false")]).await;
    let query = "{ __typename }";
    let hash = sha256(query);
    for body in [
        json!({ "extensions": persisted(&hash) }),
        json!({ "query": query, "extensions": persisted(&hash) }),
    ] {
        let answer = app.post_graphql(JSON, None, &body).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(
            answer.body["errors"][0]["message"], "PersistedQueryNotSupported",
            "{}",
            answer.text
        );
    }
    let answer = app
        .post_graphql(JSON, None, &json!({ "query": query }))
        .await;
    assert_eq!(answer.body["data"]["__typename"], "Query");
}

#[tokio::test]
async fn a_query_persisted_on_one_instance_runs_by_hash_on_another() {
    assert!(redis_url().is_some(), "this test needs TEST_REDIS_URL");
    let prefix = format!("test:apq:{}:", uuid::Uuid::new_v4().simple());
    let shared = [("REDIS_KEY_PREFIX", prefix.as_str())];
    let first = TestApp::spawn_with(&shared).await;
    let second = TestApp::spawn_on(first.database_url.clone(), &shared).await;
    let other_prefix = TestApp::spawn_on(first.database_url.clone(), &[]).await;
    let query = "query Shared { __typename }";
    let hash = sha256(query);
    let by_hash = json!({ "extensions": persisted(&hash) });
    let answer = second.post_graphql(JSON, None, &by_hash).await;
    assert_eq!(error_code(&answer.body), "PERSISTED_QUERY_NOT_FOUND");

    let answer = first
        .post_graphql(
            JSON,
            None,
            &json!({ "query": query, "extensions": persisted(&hash) }),
        )
        .await;
    assert_eq!(
        answer.body["data"]["__typename"], "Query",
        "{}",
        answer.text
    );
    let answer = second.post_graphql(JSON, None, &by_hash).await;
    assert_eq!(
        answer.body["data"]["__typename"], "Query",
        "{}",
        answer.text
    );
    // Another deployment (another prefix) does not see it.
    let answer = other_prefix.post_graphql(JSON, None, &by_hash).await;
    assert_eq!(error_code(&answer.body), "PERSISTED_QUERY_NOT_FOUND");
}
