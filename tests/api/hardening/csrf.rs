//! What protects browsers' users: `GET` runs nothing without a preflight
//! signal (CSRF), `POST` must be JSON and mutations must be posted, and
//! the CORS allow-list.

use reqwest::{
    StatusCode,
    header::{ACCEPT, ACCESS_CONTROL_ALLOW_ORIGIN, ALLOW, AUTHORIZATION, CONTENT_TYPE, ORIGIN},
};
use serde_json::json;

use super::{PRODUCTION, persisted, sha256};
use crate::support::{CREATE_TODO, GRJ, JSON, TestApp, error_code, send};

#[tokio::test]
async fn get_without_a_preflight_signal_is_a_csrf_error_and_runs_nothing() {
    let app = TestApp::spawn().await;
    let query = "{ __typename }";
    for headers in [
        vec![],
        vec![("content-type", "text/plain")],
        vec![("content-type", "application/x-www-form-urlencoded")],
        vec![("content-type", "multipart/form-data; boundary=x")],
        vec![("x-apollo-operation-name", "")],
        vec![("apollo-require-preflight", "")],
    ] {
        for accept in [GRJ, JSON] {
            let mut with_accept = headers.clone();
            with_accept.push(("accept", accept));
            let answer = app.get_graphql(&[("query", query)], &with_accept).await;
            assert_eq!(
                answer.status,
                StatusCode::BAD_REQUEST,
                "{headers:?}: {}",
                answer.text
            );
            assert_eq!(error_code(&answer.body), "CSRF_ERROR", "{headers:?}");
            assert!(answer.body.get("data").is_none(), "{}", answer.text);
        }
    }
    // Nothing ran: a persisted query sent with a blocked GET is not stored.
    let extensions = persisted(&sha256(query)).to_string();
    let answer = app
        .get_graphql(&[("query", query), ("extensions", &extensions)], &[])
        .await;
    assert_eq!(error_code(&answer.body), "CSRF_ERROR");
    let answer = app
        .post_graphql(
            JSON,
            None,
            &json!({ "extensions": persisted(&sha256(query)) }),
        )
        .await;
    assert_eq!(
        error_code(&answer.body),
        "PERSISTED_QUERY_NOT_FOUND",
        "{}",
        answer.text
    );
}

#[tokio::test]
async fn get_with_any_preflight_signal_runs_the_query() {
    let app = TestApp::spawn().await;
    let user = app.register("preflight").await;
    let bearer = format!("Bearer {}", user.access_token);
    for headers in [
        vec![("content-type", "application/json")],
        vec![("apollo-require-preflight", "true")],
        vec![("x-apollo-operation-name", "Typename")],
        vec![("authorization", bearer.as_str())],
    ] {
        let answer = app
            .get_graphql(&[("query", "{ __typename }")], &headers)
            .await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "{headers:?}: {}",
            answer.text
        );
        assert_eq!(answer.body["data"]["__typename"], "Query", "{headers:?}");
    }
}

#[tokio::test]
async fn post_must_be_json_and_mutations_must_be_posted() {
    let app = TestApp::spawn().await;
    let user = app.register("transport").await;
    let url = format!("{}/graphql", app.address);
    let body = json!({ "query": CREATE_TODO, "variables": { "input": { "title": "forged" } } })
        .to_string();
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let answer = send(
            app.client
                .post(&url)
                .header(CONTENT_TYPE, content_type)
                .bearer_auth(&user.access_token)
                .body(body.clone()),
        )
        .await;
        assert_eq!(
            answer.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type}: {}",
            answer.text
        );
    }
    let bearer = format!("Bearer {}", user.access_token);
    let variables = json!({ "input": { "title": "over GET" } }).to_string();
    let answer = app
        .get_graphql(
            &[("query", CREATE_TODO), ("variables", &variables)],
            &[
                ("authorization", &bearer),
                ("apollo-require-preflight", "true"),
            ],
        )
        .await;
    assert_eq!(
        answer.status,
        StatusCode::METHOD_NOT_ALLOWED,
        "{}",
        answer.text
    );
    assert_eq!(answer.header(ALLOW), Some("POST"));
    assert_eq!(app.todo_counts(&user).await.0, 0, "no mutation ran");
}

// --- CORS ------------------------------------------------------------------

#[tokio::test]
async fn cors_allows_only_the_configured_origins() {
    let app = TestApp::spawn_with(&[
        PRODUCTION[0],
        PRODUCTION[1],
        (
            "CORS_ALLOWED_ORIGINS",
            "https://app.example, https://admin.example",
        ),
    ])
    .await;
    let preflight = |origin: &str| {
        app.client
            .request(reqwest::Method::OPTIONS, format!("{}/graphql", app.address))
            .header(ORIGIN, origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type, authorization",
            )
    };
    for origin in ["https://app.example", "https://admin.example"] {
        let answer = send(preflight(origin)).await;
        assert!(answer.status.is_success(), "{origin}: {}", answer.status);
        assert_eq!(answer.header(ACCESS_CONTROL_ALLOW_ORIGIN), Some(origin));
        let methods = answer
            .header("access-control-allow-methods")
            .unwrap_or_default()
            .to_uppercase();
        assert!(methods.contains("POST"), "{methods}");
        let headers = answer
            .header("access-control-allow-headers")
            .unwrap_or_default()
            .to_lowercase();
        assert!(
            headers.contains("content-type") && headers.contains(AUTHORIZATION.as_str()),
            "{headers}"
        );
    }
    for origin in [
        "https://evil.example",
        "https://app.example.evil.example",
        "null",
    ] {
        let answer = send(preflight(origin)).await;
        assert!(
            answer.header(ACCESS_CONTROL_ALLOW_ORIGIN).is_none(),
            "{origin} was allowed"
        );
    }
    // Actual requests: the header only for allowed origins.
    let simple = |origin: &str| {
        app.graphql_request(None, &json!({ "query": "{ __typename }" }))
            .header(ACCEPT, JSON)
            .header(ORIGIN, origin)
    };
    let answer = send(simple("https://app.example")).await;
    assert_eq!(
        answer.header(ACCESS_CONTROL_ALLOW_ORIGIN),
        Some("https://app.example")
    );
    let answer = send(simple("https://evil.example")).await;
    assert!(answer.header(ACCESS_CONTROL_ALLOW_ORIGIN).is_none());

    // Production without a list: same-origin only.
    let closed = TestApp::spawn_with(&PRODUCTION).await;
    let answer = send(
        closed
            .client
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/graphql", closed.address),
            )
            .header(ORIGIN, "https://app.example")
            .header("access-control-request-method", "POST"),
    )
    .await;
    assert!(answer.header(ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
}
