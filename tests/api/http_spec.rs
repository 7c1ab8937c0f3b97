//! GraphQL over HTTP: media types, status codes, GET rules, malformed
//! requests, the GraphiQL page, and the external checks: the npm
//! `graphql-http` audit suite and a headless-browser run of GraphiQL.

use reqwest::{
    Method, StatusCode,
    header::{ACCEPT, ALLOW, CONTENT_TYPE},
};
use serde_json::{Value, json};

use crate::support::{GRJ, JSON, TestApp, error_code, node_script, send};

/// `POST /graphql` with a raw JSON body: status, `Content-Type` and body.
async fn post(app: &TestApp, accept: &str, body: &str) -> (StatusCode, String, Value) {
    let request = app
        .request(Method::POST, "/graphql", None)
        .header(CONTENT_TYPE, JSON)
        .header(ACCEPT, accept)
        .body(body.to_owned());
    let answer = send(request).await;
    let content_type = answer.header(CONTENT_TYPE).unwrap_or_default().to_owned();
    (answer.status, content_type, answer.body)
}

#[tokio::test]
async fn media_types_follow_accept() {
    let app = TestApp::spawn().await;
    let query = r#"{"query":"{ __typename }"}"#;
    let (status, ct, body) = post(&app, "application/json", query).await;
    assert_eq!(status, 200);
    assert!(ct.starts_with("application/json"), "{ct}");
    assert_eq!(body["data"]["__typename"], "Query");

    let (status, ct, _) = post(&app, GRJ, query).await;
    assert_eq!(status, 200);
    assert!(ct.starts_with(GRJ), "{ct}");

    let (_, ct, _) = post(&app, &format!("{GRJ}, application/json;q=0.9"), query).await;
    assert!(ct.starts_with(GRJ));
    let (_, ct, _) = post(&app, "*/*", query).await;
    assert!(ct.starts_with("application/json"));

    let (status, _, _) = post(&app, "text/plain", query).await;
    assert_eq!(status, StatusCode::NOT_ACCEPTABLE);
}

#[tokio::test]
async fn request_errors_have_no_data_and_status_by_media_type() {
    let app = TestApp::spawn().await;
    let cases = [
        (r#"{"query":"{ __typename"}"#, "GRAPHQL_PARSE_FAILED"),
        (r#"{"query":"{ nope }"}"#, "GRAPHQL_VALIDATION_FAILED"),
        (
            r#"{"query":"query($n: Int) { todos(first: $n) { totalCount } }","variables":{"n":"many"}}"#,
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            r#"{"query":"query A { __typename } query B { __typename }"}"#,
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            r#"{"query":"query A { __typename }","operationName":"C"}"#,
            "GRAPHQL_VALIDATION_FAILED",
        ),
    ];
    for (body, code) in cases {
        let (status, _, res) = post(&app, GRJ, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {res}");
        assert!(res.get("data").is_none(), "{body}: {res}");
        assert_eq!(error_code(&res), code, "{body}");

        // Legacy JSON: 200, so clients such as Apollo Client still read the code.
        let (status, _, res) = post(&app, "application/json", body).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(res.get("data").is_none(), "{body}: {res}");
        assert_eq!(error_code(&res), code, "{body}");
    }
}

#[tokio::test]
async fn field_errors_are_200_with_data() {
    let app = TestApp::spawn().await;
    for accept in [GRJ, "application/json"] {
        let (status, _, res) = post(&app, accept, r#"{"query":"{ me { id } }"}"#).await;
        assert_eq!(status, 200);
        assert!(res.get("data").is_some(), "{res}");
        assert!(res["data"].is_null());
        assert_eq!(error_code(&res), "UNAUTHENTICATED");
    }
}

#[tokio::test]
async fn malformed_requests_are_4xx() {
    let app = TestApp::spawn().await;
    for body in [
        "not json",
        "[]",
        r#"{"qeury":"{ __typename }"}"#,
        r#"{"query":42}"#,
        r#"{"query":"{ __typename }","variables":"{}"}"#,
        r#"{"query":"{ __typename }","variables":[1]}"#,
        r#"{"query":"{ __typename }","operationName":1}"#,
        r#"{"query":"{ __typename }","extensions":"x"}"#,
    ] {
        for accept in [GRJ, "application/json"] {
            let (status, _, res) = post(&app, accept, body).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert!(res["errors"][0]["message"].is_string(), "{body}: {res}");
        }
    }
    // Nulls and unknown keys are fine.
    let (status, _, res) = post(
        &app,
        GRJ,
        r#"{"query":"{ __typename }","variables":null,"operationName":null,"extensions":null,"other":1}"#,
    )
    .await;
    assert_eq!(status, 200, "{res}");

    let url = format!("{}/graphql", app.address);
    let no_type = app.client.post(&url).body(r#"{"query":"{ __typename }"}"#);
    assert_eq!(
        no_type.send().await.unwrap().status(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    let text = app
        .client
        .post(&url)
        .header(CONTENT_TYPE, "text/plain")
        .body(r#"{"query":"{ __typename }"}"#);
    assert_eq!(
        text.send().await.unwrap().status(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let app = TestApp::spawn_with(&[("MAX_BODY_BYTES", "1000")]).await;
    let big = json!({ "query": format!("{{ __typename }} # {}", "x".repeat(2000)) });
    let res = app
        .client
        .post(format!("{}/graphql", app.address))
        .json(&big)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn get_runs_queries_but_not_mutations() {
    let app = TestApp::spawn().await;
    let user = app.register("getter").await;
    let url = format!("{}/graphql", app.address);

    let res = app
        .client
        .get(&url)
        .query(&[
            (
                "query",
                "query($n: Int) { todos(first: $n) { totalCount } }",
            ),
            ("variables", r#"{"n": 5}"#),
            ("operationName", ""),
        ])
        .bearer_auth(&user.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["data"]["todos"]["totalCount"], 0, "{body}");

    let res = app
        .client
        .get(&url)
        .query(&[(
            "query",
            r#"mutation { createTodo(input: {title: "via GET"}) { id } }"#,
        )])
        .bearer_auth(&user.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(res.headers()[ALLOW], "POST");
    let body = app
        .gql_as(&user, "{ todos { totalCount } }", json!({}))
        .await;
    assert_eq!(
        body["data"]["todos"]["totalCount"], 0,
        "the mutation must not run"
    );

    let res = app.client.get(&url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "no query");
    let res = app
        .client
        .get(&url)
        .query(&[("query", "{ __typename }"), ("variables", "{not json")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn subscriptions_over_http_are_refused() {
    let app = TestApp::spawn().await;
    let (status, _, res) = post(
        &app,
        GRJ,
        r#"{"query":"subscription { todoEvents { cursor } }"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(res.get("data").is_none());
}

#[tokio::test]
async fn browsers_get_graphiql_with_local_assets() {
    let app = TestApp::spawn().await;
    let res = app
        .client
        .get(format!("{}/graphql", app.address))
        .header(ACCEPT, "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = res.text().await.unwrap();
    assert!(html.contains("/graphiql/graphiql.min.js"));
    assert!(
        !html.contains("https://"),
        "the page must not load anything remote"
    );
    for (file, ty) in [
        ("graphiql.min.js", "text/javascript"),
        ("graphiql.min.css", "text/css"),
        ("react.production.min.js", "text/javascript"),
        ("react-dom.production.min.js", "text/javascript"),
        ("graphql-ws.min.js", "text/javascript"),
    ] {
        let res = app
            .client
            .get(format!("{}/graphiql/{file}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{file}");
        assert!(
            res.headers()[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with(ty)
        );
        assert!(res.bytes().await.unwrap().len() > 1000, "{file}");
    }
    let res = app
        .client
        .get(format!("{}/graphiql/../Cargo.toml", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn graphiql_can_be_turned_off() {
    let app = TestApp::spawn_with(&[("GRAPHIQL", "false")]).await;
    let res = app
        .client
        .get(format!("{}/graphql", app.address))
        .header(ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_ACCEPTABLE);
}

/// The reference audit of the GraphQL over HTTP spec (npm `graphql-http`):
/// every MUST passes.
#[tokio::test]
async fn graphql_http_audit_passes_every_must() {
    let app = TestApp::spawn().await;
    let output = node_script("audit.mjs")
        .arg(format!("{}/graphql", app.address))
        .output()
        .await
        .expect("run node tests/js/audit.mjs (is Node installed? run ./scripts/test.sh)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}\n{stderr}");
    assert!(output.status.success(), "audit failed:\n{stdout}\n{stderr}");
    let summary: Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("summary line");
    assert_eq!(summary["must"]["passed"], summary["must"]["total"]);
    assert!(summary["must"]["total"].as_u64().unwrap() > 0);
}

/// GraphiQL in a real headless Chromium with every non-loopback request
/// blocked: the page loads from the binary alone and runs a query.
#[tokio::test]
async fn graphiql_works_offline_in_a_browser() {
    let app = TestApp::spawn().await;
    let screenshot = concat!(env!("CARGO_MANIFEST_DIR"), "/target/graphiql.png");
    let output = node_script("graphiql.mjs")
        .arg(&app.address)
        .env("SCREENSHOT_PATH", screenshot)
        .output()
        .await
        .expect("run node tests/js/graphiql.mjs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "browser run failed:\n{stdout}\n{stderr}"
    );
    let summary: Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("summary line");
    assert_eq!(summary["ok"], true);
    assert_eq!(summary["blocked"], json!([]));
    assert!(summary["result"].as_str().unwrap().contains("Query"));
}
