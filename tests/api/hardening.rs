//! Hardening: document limits (size, tokens, depth, aliases, root fields,
//! directives, fragment expansion, complexity), JSON-array batching, CSRF
//! protection of `GET`, automatic persisted queries, production mode, rate
//! limits (login per account and per address, registration, refresh, the
//! per-user budget), the CORS allow-list, and abusive requests refused while
//! the server keeps answering `/ping`.

use std::{process::Stdio, time::Duration};

use reqwest::{
    StatusCode,
    header::{
        ACCEPT, ACCESS_CONTROL_ALLOW_ORIGIN, ALLOW, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE,
        HeaderMap, ORIGIN, RETRY_AFTER,
    },
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::process::{Child, Command};

use crate::support::{
    TestApp, TestUser, admin_url, error_code, fresh_database, process::BIN, redis_url,
};

const GRJ: &str = "application/graphql-response+json";
const JSON: &str = "application/json";
const PASSWORD: &str = "correct horse battery";
const LOGIN: &str = "mutation($input: LoginInput!) { login(input: $input) { accessToken } }";
const REGISTER: &str =
    "mutation($input: RegisterInput!) { register(input: $input) { accessToken } }";
const CREATE: &str = "mutation($input: CreateTodoInput!) { createTodo(input: $input) { id } }";

/// An HTTP answer: status, headers and the body as JSON (`Null` when it
/// is not JSON; `text` has it verbatim).
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
    text: String,
}

impl Answer {
    fn header(&self, name: impl reqwest::header::AsHeaderName) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

async fn send(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.expect("the request is answered");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
        text,
    }
}

/// `POST /graphql` with a JSON body, an `Accept` and an optional token.
fn graphql_request(
    app: &TestApp,
    accept: &str,
    token: Option<&str>,
    body: &Value,
) -> reqwest::RequestBuilder {
    let mut request = app
        .client
        .post(format!("{}/graphql", app.address))
        .header(ACCEPT, accept)
        .json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request
}

async fn post(app: &TestApp, accept: &str, token: Option<&str>, body: &Value) -> Answer {
    send(graphql_request(app, accept, token, body)).await
}

/// `GET /graphql` with these query parameters and headers.
async fn get(app: &TestApp, params: &[(&str, &str)], headers: &[(&str, &str)]) -> Answer {
    let mut request = app
        .client
        .get(format!("{}/graphql", app.address))
        .query(params);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    send(request).await
}

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
        let answer = post(app, accept, token, body).await;
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
    let answer = post(
        app,
        GRJ,
        Some(&user.access_token),
        &json!({ "query": query }),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{query}: {}", answer.text);
    assert!(answer.body["errors"].is_null(), "{query}: {}", answer.text);
    assert!(answer.body["data"].is_object(), "{query}: {}", answer.text);
    answer.body
}

async fn todo_count(app: &TestApp, user: &TestUser) -> i64 {
    let body = app
        .gql_as(user, "{ me { todoCounts { total } } }", json!({}))
        .await;
    body["data"]["me"]["todoCounts"]["total"]
        .as_i64()
        .unwrap_or_else(|| panic!("no counts in {body}"))
}

// --- Document limits ----------------------------------------------------

#[tokio::test]
async fn query_bytes_limit_refuses_one_byte_over() {
    // Registering takes more than 64 bytes: sign up on an unlimited twin.
    let twin = TestApp::spawn().await;
    let user = twin.register("bytes").await;
    let app = TestApp::spawn_on(
        twin.database_url.clone(),
        &[("GRAPHQL_MAX_QUERY_BYTES", "64")],
    )
    .await;
    let padded = |len: usize| {
        let base = "{ __typename } #";
        format!("{base}{}", "x".repeat(len - base.len()))
    };
    assert_eq!(padded(64).len(), 64);
    assert_accepted(&app, &user, &padded(64)).await;
    assert_refused(&app, None, &json!({ "query": padded(65) }), "queryBytes").await;
    // Bytes, not characters: 41 characters, 66 bytes.
    let accented = format!("{{ __typename }} #{}", "é".repeat(25));
    assert!(accented.chars().count() < 64 && accented.len() > 64);
    assert_refused(&app, None, &json!({ "query": accented }), "queryBytes").await;
}

#[tokio::test]
async fn token_limit_refuses_one_token_over() {
    let twin = TestApp::spawn().await;
    let user = twin.register("tokens").await;
    let app = TestApp::spawn_on(twin.database_url.clone(), &[("GRAPHQL_MAX_TOKENS", "10")]).await;
    // `{`, n × `__typename`, `}`: n + 2 tokens.
    let fields = |n: usize| format!("{{ {} }}", vec!["__typename"; n].join(" "));
    assert_accepted(&app, &user, &fields(8)).await;
    assert_refused(&app, None, &json!({ "query": fields(9) }), "tokens").await;
    // Commas, whitespace and comments are not tokens.
    assert_accepted(
        &app,
        &user,
        "{ ,,, __typename ,,, } # one two three four five six seven eight nine ten",
    )
    .await;
}

#[tokio::test]
async fn depth_limit_counts_fragments_but_not_introspection() {
    let app = TestApp::spawn_with(&[("GRAPHQL_MAX_DEPTH", "4")]).await;
    let user = app.register("depth").await;
    let token = Some(user.access_token.as_str());
    assert_accepted(&app, &user, "{ me { todos { nodes { id } } } }").await;
    assert_refused(
        &app,
        token,
        &json!({ "query": "{ me { todos { nodes { owner { id } } } } }" }),
        "depth",
    )
    .await;
    // Fragments are expanded; inline fragments add no level of their own.
    assert_accepted(
        &app,
        &user,
        "{ me { todos { ...N } } } fragment N on TodoConnection { nodes { ... on Todo { id } } }",
    )
    .await;
    assert_refused(
        &app,
        token,
        &json!({ "query": "{ me { todos { ...N } } } fragment N on TodoConnection { nodes { owner { id } } }" }),
        "depth",
    )
    .await;
    // Every operation of the document counts, selected or not.
    assert_refused(
        &app,
        token,
        &json!({
            "query": "query A { __typename } query B { me { todos { nodes { owner { id } } } } }",
            "operationName": "A",
        }),
        "depth",
    )
    .await;
    // GraphiQL's introspection nests deeper than any limit worth having.
    let body = assert_accepted(
        &app,
        &user,
        "{ __schema { types { fields { type { ofType { ofType { name } } } } } } }",
    )
    .await;
    assert!(body["data"]["__schema"]["types"].is_array());
}

#[tokio::test]
async fn alias_limit_counts_the_whole_document_and_nothing_runs() {
    let app = TestApp::spawn_with(&[("GRAPHQL_MAX_ALIASES", "3")]).await;
    let user = app.register("aliases").await;
    let token = Some(user.access_token.as_str());
    assert_accepted(&app, &user, "{ a: __typename b: __typename c: __typename }").await;
    assert_refused(
        &app,
        token,
        &json!({ "query": "{ a: __typename b: __typename c: __typename d: __typename }" }),
        "aliases",
    )
    .await;
    assert_refused(
        &app,
        token,
        &json!({ "query": "{ a: __typename me { b: id c: email d: id } }" }),
        "aliases",
    )
    .await;
    // A refused mutation creates nothing at all.
    let create = |n: usize| {
        let fields: Vec<String> = (0..n)
            .map(|i| format!("t{i}: createTodo(input: {{ title: \"aliased {i}\" }}) {{ id }}"))
            .collect();
        format!("mutation {{ {} }}", fields.join(" "))
    };
    assert_refused(&app, token, &json!({ "query": create(4) }), "aliases").await;
    assert_eq!(todo_count(&app, &user).await, 0);
    let body = assert_accepted(&app, &user, &create(3)).await;
    assert_eq!(body["data"].as_object().unwrap().len(), 3);
    assert_eq!(todo_count(&app, &user).await, 3);
}

#[tokio::test]
async fn root_field_limit_counts_the_selected_operation_with_its_fragments() {
    let app = TestApp::spawn_with(&[("GRAPHQL_MAX_ROOT_FIELDS", "2")]).await;
    let user = app.register("roots").await;
    let token = Some(user.access_token.as_str());
    assert_accepted(&app, &user, "{ __typename me { id } }").await;
    assert_refused(
        &app,
        token,
        &json!({ "query": "{ __typename me { id } todos { totalCount } }" }),
        "rootFields",
    )
    .await;
    assert_refused(
        &app,
        token,
        &json!({ "query": "{ ...R } fragment R on Query { __typename me { id } todos { totalCount } }" }),
        "rootFields",
    )
    .await;
    assert_refused(
        &app,
        token,
        &json!({ "query": "{ __typename ... on Query { me { id } todos { totalCount } } }" }),
        "rootFields",
    )
    .await;
    // Only the operation that runs is counted.
    let answer = post(
        &app,
        GRJ,
        token,
        &json!({
            "query": "query Wide { __typename me { id } todos { totalCount } } query Narrow { __typename me { id } }",
            "operationName": "Narrow",
        }),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["data"]["me"]["id"], user.id.as_str());
}

#[tokio::test]
async fn directive_limit_applies_to_fields_fragments_and_operations() {
    let app = TestApp::spawn_with(&[("GRAPHQL_MAX_DIRECTIVES", "2")]).await;
    let user = app.register("directives").await;
    let body = assert_accepted(
        &app,
        &user,
        "{ __typename @skip(if: false) @include(if: true) }",
    )
    .await;
    assert_eq!(body["data"]["__typename"], "Query");
    for query in [
        "{ __typename @skip(if: false) @include(if: true) @skip(if: false) }",
        "{ me { id @a @b @c } }",
        "{ ... @a @b @c { __typename } }",
        "{ ...F @a @b @c } fragment F on Query { __typename }",
        "query Q @a @b @c { __typename }",
    ] {
        assert_refused(&app, None, &json!({ "query": query }), "directives").await;
    }
}

#[tokio::test]
async fn fragment_expansion_is_bounded() {
    let app = TestApp::spawn().await;
    // 2^20 fields once expanded, in a few hundred bytes.
    let mut query = String::from("{ me { ...F0 } }");
    for i in 0..20 {
        query.push_str(&format!(
            " fragment F{i} on User {{ id ...F{n} ...F{n} }}",
            n = i + 1
        ));
    }
    query.push_str(" fragment F20 on User { id }");
    assert_refused(&app, None, &json!({ "query": query }), "expansion").await;
}

#[tokio::test]
async fn complexity_limit_multiplies_by_first() {
    let app = TestApp::spawn_with(&[("GRAPHQL_MAX_COMPLEXITY", "50")]).await;
    let user = app.register("complexity").await;
    let token = Some(user.access_token.as_str());
    // todos: 2 + first × (nodes 1 + id 1) = 2 + 2 × first.
    let list = |first: u32| format!("{{ todos(first: {first}) {{ nodes {{ id }} }} }}");
    assert_accepted(&app, &user, &list(24)).await;
    for accept in [GRJ, JSON] {
        let answer = post(&app, accept, token, &json!({ "query": list(25) })).await;
        let status = if accept == GRJ {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        };
        assert_eq!(answer.status, status, "{}", answer.text);
        assert!(answer.body.get("data").is_none(), "{}", answer.text);
        assert_eq!(error_code(&answer.body), "GRAPHQL_VALIDATION_FAILED");
    }
    // `first` from a variable counts the same.
    let answer = post(
        &app,
        GRJ,
        token,
        &json!({
            "query": "query($n: Int) { todos(first: $n) { nodes { id } } }",
            "variables": { "n": 25 },
        }),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    assert_eq!(error_code(&answer.body), "GRAPHQL_VALIDATION_FAILED");
}

#[tokio::test]
async fn nested_lists_over_the_default_complexity_are_refused() {
    let app = TestApp::spawn().await;
    let user = app.register("nested").await;
    let query =
        "{ todos(first: 100) { nodes { owner { todos(first: 100) { nodes { id title } } } } } }";
    let answer = post(
        &app,
        GRJ,
        Some(&user.access_token),
        &json!({ "query": query }),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    assert!(answer.body.get("data").is_none());
    assert_eq!(error_code(&answer.body), "GRAPHQL_VALIDATION_FAILED");
}

#[tokio::test]
async fn body_limit_refuses_one_byte_over() {
    let app = TestApp::spawn_with(&[("MAX_BODY_BYTES", "2000")]).await;
    let body = |len: usize| {
        let base = r#"{"query":"{ __typename } #"}"#;
        let mut text = base[..base.len() - 2].to_owned();
        text.push_str(&"x".repeat(len - base.len()));
        text.push_str("\"}");
        assert_eq!(text.len(), len);
        text
    };
    let send_body = |text: String| {
        app.client
            .post(format!("{}/graphql", app.address))
            .header(CONTENT_TYPE, JSON)
            .body(text)
    };
    let answer = send(send_body(body(2000))).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["data"]["__typename"], "Query");
    let answer = send(send_body(body(2001))).await;
    assert_eq!(
        answer.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        answer.text
    );
}

#[tokio::test]
async fn limits_apply_to_get_and_to_persisted_queries_alike() {
    let app = TestApp::spawn_with(&[("GRAPHQL_MAX_ALIASES", "1")]).await;
    let query = "{ a: __typename b: __typename }";
    let answer = get(
        &app,
        &[("query", query)],
        &[("apollo-require-preflight", "true"), ("accept", GRJ)],
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    assert_eq!(answer.body["errors"][0]["extensions"]["limit"], "aliases");
    // Registering it is refused by the limit, so the hash stays unknown.
    let hash = sha256(query);
    let answer = post(
        &app,
        GRJ,
        None,
        &json!({ "query": query, "extensions": persisted(&hash) }),
    )
    .await;
    assert_eq!(
        answer.body["errors"][0]["extensions"]["limit"], "aliases",
        "{}",
        answer.text
    );
    let answer = post(&app, GRJ, None, &json!({ "extensions": persisted(&hash) })).await;
    assert_eq!(error_code(&answer.body), "PERSISTED_QUERY_NOT_FOUND");
    // And each operation of a batch is checked on its own.
    let app =
        TestApp::spawn_with(&[("GRAPHQL_MAX_ALIASES", "1"), ("GRAPHQL_BATCH_MAX", "2")]).await;
    let answer = post(
        &app,
        GRJ,
        None,
        &json!([{ "query": "{ a: __typename }" }, { "query": query }]),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body[0]["data"]["a"], "Query", "{}", answer.text);
    assert_eq!(
        answer.body[1]["errors"][0]["extensions"]["limit"], "aliases",
        "{}",
        answer.text
    );
}

#[tokio::test]
async fn queries_past_the_timeout_are_stopped_but_mutations_always_finish() {
    let app = TestApp::spawn_with(&[("GRAPHQL_TIMEOUT_MS", "1"), ("CACHE", "false")]).await;
    let user = app.register("slow").await;
    // A mutation is never cut off, however long it takes.
    for i in 0..40 {
        let body = app
            .gql_as(
                &user,
                CREATE,
                json!({ "input": { "title": format!("todo {i}") } }),
            )
            .await;
        assert!(body["errors"].is_null(), "mutation {i} was cut off: {body}");
    }
    let heavy = "{ me { id todoCounts { total } } todos(first: 40) { totalCount nodes { id title owner { id email } } } }";
    let mut timed_out = None;
    for _ in 0..5 {
        let body = app.gql_as(&user, heavy, json!({})).await;
        if body["errors"].is_array() {
            timed_out = Some(body);
            break;
        }
    }
    let body = timed_out.expect("no query ran past 1 ms");
    assert_eq!(error_code(&body), "TIMEOUT", "{body}");
}

// --- Batching -----------------------------------------------------------

#[tokio::test]
async fn batches_are_refused_by_default() {
    let app = TestApp::spawn().await;
    let user = app.register("nobatch").await;
    let batch = json!([
        { "query": CREATE, "variables": { "input": { "title": "batched" } } },
        { "query": "{ __typename }" },
    ]);
    for accept in [GRJ, JSON] {
        let answer = post(&app, accept, Some(&user.access_token), &batch).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
        assert!(answer.body["errors"][0]["message"].is_string());
    }
    assert_eq!(
        todo_count(&app, &user).await,
        0,
        "nothing of a refused batch runs"
    );
}

#[tokio::test]
async fn batches_run_up_to_the_configured_size() {
    let app = TestApp::spawn_with(&[("GRAPHQL_BATCH_MAX", "3")]).await;
    let user = app.register("batch").await;
    let token = Some(user.access_token.as_str());
    let item =
        |title: &str| json!({ "query": CREATE, "variables": { "input": { "title": title } } });
    let answer = post(
        &app,
        GRJ,
        token,
        &json!([item("one"), { "query": "{ me { id } }" }, { "query": "{ nope }" }]),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let results = answer.body.as_array().expect("an array of results");
    assert_eq!(results.len(), 3);
    assert!(
        results[0]["data"]["createTodo"]["id"].is_string(),
        "{}",
        answer.text
    );
    assert_eq!(results[1]["data"]["me"]["id"], user.id.as_str());
    // Each operation succeeds or fails on its own.
    assert_eq!(error_code(&results[2]), "GRAPHQL_VALIDATION_FAILED");
    assert!(results[2].get("data").is_none());

    for too_many in [
        json!([]),
        json!([item("a"), item("b"), item("c"), item("d")]),
    ] {
        let answer = post(&app, GRJ, token, &too_many).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    }
    assert_eq!(
        todo_count(&app, &user).await,
        1,
        "the oversized batch ran nothing"
    );
}

// --- CSRF and transport rules ------------------------------------------------

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
            let answer = get(&app, &[("query", query)], &with_accept).await;
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
    let answer = get(&app, &[("query", query), ("extensions", &extensions)], &[]).await;
    assert_eq!(error_code(&answer.body), "CSRF_ERROR");
    let answer = post(
        &app,
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
        let answer = get(&app, &[("query", "{ __typename }")], &headers).await;
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
    let body =
        json!({ "query": CREATE, "variables": { "input": { "title": "forged" } } }).to_string();
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
    let answer = get(
        &app,
        &[("query", CREATE), ("variables", &variables)],
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
    assert_eq!(todo_count(&app, &user).await, 0, "no mutation ran");
}

// --- Automatic persisted queries ------------------------------------------------

#[tokio::test]
async fn unknown_persisted_query_hash_is_not_found_and_not_cached() {
    let app = TestApp::spawn().await;
    let hash = sha256("{ __typename } # never sent");
    for accept in [GRJ, JSON] {
        let answer = post(
            &app,
            accept,
            None,
            &json!({ "extensions": persisted(&hash) }),
        )
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
    let answer = get(
        &app,
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

    let answer = post(
        &app,
        JSON,
        token,
        &json!({ "extensions": persisted(&hash), "variables": variables }),
    )
    .await;
    assert_eq!(error_code(&answer.body), "PERSISTED_QUERY_NOT_FOUND");

    let answer = post(
        &app,
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
    let answer = post(
        &app,
        GRJ,
        token,
        &json!({ "extensions": persisted(&hash), "variables": variables }),
    )
    .await;
    expect(&answer, "POST by hash");
    // urql adds `miss: true` when it resends after a miss.
    let urql = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash, "miss": true } });
    let answer = post(
        &app,
        GRJ,
        token,
        &json!({ "extensions": urql, "variables": variables }),
    )
    .await;
    expect(&answer, "POST with miss: true");
    // Uppercase hex is the same hash.
    let answer = post(
        &app,
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
        let answer = get(
            &app,
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
        let answer = post(
            &app,
            accept,
            token,
            &json!({
                "query": CREATE,
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
    assert_eq!(todo_count(&app, &user).await, 0, "the mutation did not run");
    for hash in [wrong, sha256(CREATE)] {
        let answer = post(
            &app,
            JSON,
            token,
            &json!({ "extensions": persisted(&hash) }),
        )
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
        let answer = post(
            &app,
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
        let answer = post(&app, JSON, None, &json!({ "extensions": persisted(&hash) })).await;
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
    post(
        &app,
        JSON,
        None,
        &json!({ "query": query, "extensions": persisted(&hash) }),
    )
    .await;
    let answer = post(&app, JSON, None, &json!({ "extensions": persisted(&hash) })).await;
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
            let answer = post(
                &app,
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
        let answer = post(&app, JSON, None, &body).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(
            answer.body["errors"][0]["message"], "PersistedQueryNotSupported",
            "{}",
            answer.text
        );
    }
    let answer = post(&app, JSON, None, &json!({ "query": query })).await;
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
    let answer = post(&second, JSON, None, &by_hash).await;
    assert_eq!(error_code(&answer.body), "PERSISTED_QUERY_NOT_FOUND");

    let answer = post(
        &first,
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
    let answer = post(&second, JSON, None, &by_hash).await;
    assert_eq!(
        answer.body["data"]["__typename"], "Query",
        "{}",
        answer.text
    );
    // Another deployment (another prefix) does not see it.
    let answer = post(&other_prefix, JSON, None, &by_hash).await;
    assert_eq!(error_code(&answer.body), "PERSISTED_QUERY_NOT_FOUND");
}

// --- Production mode -----------------------------------------------------

/// `APP_ENV=production` and what it requires besides the test secret.
const PRODUCTION: [(&str, &str); 2] = [
    ("APP_ENV", "production"),
    ("SMTP_URL", "smtp://127.0.0.1:1025"),
];

#[tokio::test]
async fn production_refuses_introspection_unless_enabled() {
    let query = json!({ "query": "{ __schema { types { name } } }" });
    let typed = json!({ "query": "{ __type(name: \"Todo\") { fields { name } } }" });
    let dev = TestApp::spawn().await;
    let answer = post(&dev, JSON, None, &query).await;
    assert!(answer.text.contains("AuthPayload"), "{}", answer.text);
    let allowed = TestApp::spawn_with(&[
        PRODUCTION[0],
        PRODUCTION[1],
        ("GRAPHQL_INTROSPECTION", "true"),
    ])
    .await;
    let answer = post(&allowed, JSON, None, &query).await;
    assert!(answer.body["errors"].is_null(), "{}", answer.text);
    assert!(answer.text.contains("AuthPayload"));

    let prod = TestApp::spawn_with(&PRODUCTION).await;
    // `__typename` is not introspection.
    let answer = post(&prod, JSON, None, &json!({ "query": "{ __typename }" })).await;
    assert_eq!(answer.body["data"]["__typename"], "Query");
    let answers = [
        post(&prod, JSON, None, &query).await,
        post(&prod, JSON, None, &typed).await,
    ];
    for answer in &answers {
        assert!(
            !answer.text.contains("\"Todo\"") && !answer.text.contains("AuthPayload"),
            "introspection leaked the schema: {}",
            answer.text
        );
    }
    // Refused means told so: an error, not a silent null (and `__schema`
    // is non-null, so null without an error breaks the spec too).
    for (body, answer) in [&query, &typed].iter().zip(&answers) {
        assert!(
            answer.body["errors"].is_array(),
            "introspection was not refused with an error: {body}: {}",
            answer.text
        );
    }
}

#[tokio::test]
async fn production_gives_no_suggestions() {
    let body = json!({ "query": "{ tod }" });
    let dev = TestApp::spawn().await;
    let answer = post(&dev, JSON, None, &body).await;
    assert_eq!(error_code(&answer.body), "GRAPHQL_VALIDATION_FAILED");
    assert!(answer.text.contains("Did you mean"), "{}", answer.text);

    let prod = TestApp::spawn_with(&PRODUCTION).await;
    for body in [
        body,
        json!({ "query": "{ me { emial } }" }),
        json!({ "query": "{ todos(frist: 1) { totalCount } }" }),
        json!({ "query": "{ todos(orderBy: CREATED_AT) { totalCount } }" }),
    ] {
        let answer = post(&prod, JSON, None, &body).await;
        assert_eq!(
            error_code(&answer.body),
            "GRAPHQL_VALIDATION_FAILED",
            "{body}"
        );
        assert!(
            !answer.text.contains("Did you mean"),
            "{body}: {}",
            answer.text
        );
    }
}

#[tokio::test]
async fn production_turns_graphiql_off() {
    let html = |app: &TestApp| {
        app.client
            .get(format!("{}/graphql", app.address))
            .header(ACCEPT, "text/html,application/xhtml+xml,*/*;q=0.8")
    };
    let dev = TestApp::spawn().await;
    let answer = send(html(&dev)).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.text.to_lowercase().contains("graphiql"));
    let prod = TestApp::spawn_with(&PRODUCTION).await;
    let answer = send(html(&prod)).await;
    assert_eq!(answer.status, StatusCode::NOT_ACCEPTABLE, "{}", answer.text);
    assert!(!answer.text.to_lowercase().contains("graphiql"));
}

#[tokio::test]
async fn production_hides_internal_errors() {
    use diesel_async::{AsyncConnection, RunQueryDsl};
    let app = TestApp::spawn_with(&[
        PRODUCTION[0],
        PRODUCTION[1],
        ("DATABASE_CONNECT_TIMEOUT_MS", "300"),
    ])
    .await;
    let user = app.register("internal").await;
    // Take the database away under the running server.
    let name = app.database_url.rsplit('/').next().unwrap().to_owned();
    let mut admin = todoql::db::Conn::establish(&admin_url()).await.unwrap();
    diesel::sql_query(format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
    for query in [
        "{ me { id email } }",
        "{ todos { totalCount } }",
        "mutation { createTodo(input: { title: \"x\" }) { id } }",
    ] {
        let answer = post(
            &app,
            JSON,
            Some(&user.access_token),
            &json!({ "query": query }),
        )
        .await;
        assert_eq!(
            error_code(&answer.body),
            "INTERNAL_SERVER_ERROR",
            "{query}: {}",
            answer.text
        );
        for error in answer.body["errors"].as_array().unwrap() {
            assert_eq!(
                error["message"], "Internal server error",
                "{query}: {}",
                answer.text
            );
        }
        let lower = answer.text.to_lowercase();
        for leak in [
            "database",
            "postgres",
            "diesel",
            "connection",
            "pool",
            name.as_str(),
        ] {
            assert!(
                !lower.contains(leak),
                "{query} leaks {leak}: {}",
                answer.text
            );
        }
    }
    let answer = send(
        app.client
            .get(format!("{}/todos", app.address))
            .bearer_auth(&user.access_token),
    )
    .await;
    assert_eq!(
        answer.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        answer.text
    );
    assert_eq!(
        answer.body["message"], "Internal server error",
        "{}",
        answer.text
    );
}

// --- Rate limits ---------------------------------------------------------

/// `login` from an optional `X-Forwarded-For` address.
async fn login(app: &TestApp, email: &str, password: &str, forwarded: Option<&str>) -> Answer {
    let mut request = graphql_request(
        app,
        JSON,
        None,
        &json!({ "query": LOGIN, "variables": { "input": { "email": email, "password": password } } }),
    );
    if let Some(address) = forwarded {
        request = request.header("x-forwarded-for", address);
    }
    send(request).await
}

/// The code of a login answer ("OK" when it signed in).
fn outcome(answer: &Answer) -> String {
    if answer.body["data"]["login"]["accessToken"].is_string() {
        "OK".into()
    } else {
        error_code(&answer.body).to_owned()
    }
}

/// Asserts `RATE_LIMITED` with `extensions.retryAfter` (whole seconds, at
/// most `window`) and the same `Retry-After` header; returns the seconds.
fn assert_rate_limited(answer: &Answer, window: u64, context: &str) -> u64 {
    assert_eq!(
        error_code(&answer.body),
        "RATE_LIMITED",
        "{context}: {}",
        answer.text
    );
    let secs = answer.body["errors"][0]["extensions"]["retryAfter"]
        .as_u64()
        .unwrap_or_else(|| panic!("{context}: no numeric retryAfter in {}", answer.text));
    assert!((1..=window).contains(&secs), "{context}: retryAfter {secs}");
    let header = answer
        .header(RETRY_AFTER)
        .unwrap_or_else(|| panic!("{context}: no Retry-After header"));
    assert_eq!(header.parse::<u64>().ok(), Some(secs), "{context}");
    secs
}

#[tokio::test]
async fn login_failures_lock_the_account_even_for_the_right_password() {
    // Each attempt from its own address, so only the account counts.
    let app =
        TestApp::spawn_with(&[("LOGIN_MAX_FAILURES", "3"), ("TRUSTED_PROXY_HOPS", "1")]).await;
    let user = app.register("locked").await;
    let other = app.register("bystander").await;
    for i in 0..3 {
        let answer = login(
            &app,
            &user.email,
            "wrong password",
            Some(&format!("203.0.113.{i}")),
        )
        .await;
        assert_eq!(
            outcome(&answer),
            "UNAUTHENTICATED",
            "failure {i}: {}",
            answer.text
        );
        assert!(answer.header(RETRY_AFTER).is_none());
    }
    let answer = login(&app, &user.email, PASSWORD, Some("203.0.113.50")).await;
    assert_rate_limited(&answer, 900, "right password after 3 failures");
    assert!(answer.body["data"].is_null(), "{}", answer.text);
    // The email is compared as typed by people: case and spaces don't help.
    let shouted = format!("  {}  ", user.email.to_uppercase());
    let answer = login(&app, &shouted, PASSWORD, Some("203.0.113.51")).await;
    assert_rate_limited(&answer, 900, "same account in capitals");
    // Other accounts are not affected.
    let answer = login(&app, &other.email, PASSWORD, Some("203.0.113.52")).await;
    assert_eq!(outcome(&answer), "OK", "{}", answer.text);
}

#[tokio::test]
async fn unknown_emails_are_limited_exactly_like_known_ones() {
    let app =
        TestApp::spawn_with(&[("LOGIN_MAX_FAILURES", "3"), ("TRUSTED_PROXY_HOPS", "1")]).await;
    let user = app.register("known").await;
    let unknown = format!("nobody.{}@example.com", uuid::Uuid::new_v4().simple());
    let mut seen = Vec::new();
    for (label, email) in [
        ("known", user.email.as_str()),
        ("unknown", unknown.as_str()),
    ] {
        let mut outcomes = Vec::new();
        let mut messages = Vec::new();
        for i in 0..5 {
            let address = format!("198.51.100.{}", 10 * seen.len() + i);
            let answer = login(&app, email, "wrong password", Some(&address)).await;
            outcomes.push(outcome(&answer));
            messages.push(answer.body["errors"][0]["message"].clone());
            if i >= 3 {
                assert_rate_limited(&answer, 900, label);
            }
        }
        seen.push((outcomes, messages));
    }
    assert_eq!(
        seen[0].0,
        [
            "UNAUTHENTICATED",
            "UNAUTHENTICATED",
            "UNAUTHENTICATED",
            "RATE_LIMITED",
            "RATE_LIMITED"
        ]
    );
    assert_eq!(
        seen[0].0, seen[1].0,
        "outcomes reveal whether the account exists"
    );
    assert_eq!(
        seen[0].1[..3],
        seen[1].1[..3],
        "messages reveal whether the account exists"
    );
}

#[tokio::test]
async fn a_successful_login_resets_the_account_counter() {
    let app =
        TestApp::spawn_with(&[("LOGIN_MAX_FAILURES", "3"), ("TRUSTED_PROXY_HOPS", "1")]).await;
    let user = app.register("reset").await;
    let mut address = 0;
    let mut next = || {
        address += 1;
        format!("192.0.2.{address}")
    };
    for round in 0..3 {
        for _ in 0..2 {
            let answer = login(&app, &user.email, "wrong password", Some(&next())).await;
            assert_eq!(
                outcome(&answer),
                "UNAUTHENTICATED",
                "round {round}: {}",
                answer.text
            );
        }
        let answer = login(&app, &user.email, PASSWORD, Some(&next())).await;
        assert_eq!(outcome(&answer), "OK", "round {round}: {}", answer.text);
    }
    for _ in 0..3 {
        login(&app, &user.email, "wrong password", Some(&next())).await;
    }
    let answer = login(&app, &user.email, PASSWORD, Some(&next())).await;
    assert_rate_limited(&answer, 900, "three failures in a row");
}

#[tokio::test]
async fn login_limits_end_with_their_window() {
    let app = TestApp::spawn_with(&[("LOGIN_MAX_FAILURES", "2"), ("LOGIN_WINDOW_SECS", "1")]).await;
    let user = app.register("window").await;
    for _ in 0..2 {
        let answer = login(&app, &user.email, "wrong password", None).await;
        assert_eq!(outcome(&answer), "UNAUTHENTICATED", "{}", answer.text);
    }
    let answer = login(&app, &user.email, PASSWORD, None).await;
    assert_rate_limited(&answer, 1, "inside the window");
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let answer = login(&app, &user.email, PASSWORD, None).await;
    assert_eq!(outcome(&answer), "OK", "after the window: {}", answer.text);
}

#[tokio::test]
async fn login_failures_are_limited_per_address_across_accounts() {
    let app = TestApp::spawn_with(&[("LOGIN_MAX_FAILURES", "3")]).await;
    let user = app.register("sprayed").await;
    // Password spraying: one attempt per account, all from 127.0.0.1.
    for i in 0..3 {
        let email = format!("spray{i}.{}@example.com", uuid::Uuid::new_v4().simple());
        let answer = login(&app, &email, "wrong password", None).await;
        assert_eq!(outcome(&answer), "UNAUTHENTICATED", "{}", answer.text);
    }
    let answer = login(&app, &user.email, PASSWORD, None).await;
    assert_rate_limited(&answer, 900, "fourth account from the same address");
    // X-Forwarded-For is not trusted without TRUSTED_PROXY_HOPS.
    let answer = login(&app, &user.email, PASSWORD, Some("203.0.113.77")).await;
    assert_rate_limited(&answer, 900, "spoofed X-Forwarded-For");
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_address_has_its_own_counter() {
    let app =
        TestApp::spawn_with(&[("LOGIN_MAX_FAILURES", "2"), ("TRUSTED_PROXY_HOPS", "1")]).await;
    let user = app.register("proxied").await;
    for i in 0..2 {
        let email = format!("proxy{i}.{}@example.com", uuid::Uuid::new_v4().simple());
        let answer = login(&app, &email, "wrong password", Some("203.0.113.10")).await;
        assert_eq!(outcome(&answer), "UNAUTHENTICATED", "{}", answer.text);
    }
    let answer = login(&app, &user.email, PASSWORD, Some("203.0.113.10")).await;
    assert_rate_limited(&answer, 900, "the limited address");
    // What the client put in front of the proxy's entry changes nothing.
    let answer = login(
        &app,
        &user.email,
        PASSWORD,
        Some("198.51.100.1, 203.0.113.10"),
    )
    .await;
    assert_rate_limited(&answer, 900, "spoofed entry before the proxy's");
    let answer = login(&app, &user.email, PASSWORD, Some("203.0.113.11")).await;
    assert_eq!(outcome(&answer), "OK", "another address: {}", answer.text);
}

#[tokio::test]
async fn registration_is_limited_per_address() {
    let app = TestApp::spawn_with(&[("REGISTER_MAX_PER_HOUR", "2")]).await;
    app.register("first").await;
    app.register("second").await;
    let email = format!("third.{}@example.com", uuid::Uuid::new_v4().simple());
    let answer = post(
        &app,
        JSON,
        None,
        &json!({ "query": REGISTER, "variables": { "input": { "email": email, "password": PASSWORD } } }),
    )
    .await;
    assert_rate_limited(&answer, 3600, "third registration");
    assert!(answer.body["data"].is_null());
    let answer = login(&app, &email, PASSWORD, None).await;
    assert_eq!(
        outcome(&answer),
        "UNAUTHENTICATED",
        "the account was not created"
    );
}

#[tokio::test]
async fn refresh_is_limited_per_address() {
    let app = TestApp::spawn_with(&[("REFRESH_MAX_PER_MINUTE", "2")]).await;
    let user = app.register("refresher").await;
    let refresh = "mutation($t: String!) { refreshToken(refreshToken: $t) { refreshToken } }";
    let mut token = user.refresh_token.clone();
    for i in 0..2 {
        let answer = post(
            &app,
            JSON,
            None,
            &json!({ "query": refresh, "variables": { "t": token } }),
        )
        .await;
        token = answer.body["data"]["refreshToken"]["refreshToken"]
            .as_str()
            .unwrap_or_else(|| panic!("refresh {i}: {}", answer.text))
            .to_owned();
    }
    let answer = post(
        &app,
        JSON,
        None,
        &json!({ "query": refresh, "variables": { "t": token } }),
    )
    .await;
    assert_rate_limited(&answer, 60, "third refresh");
}

#[tokio::test]
async fn the_per_user_budget_refuses_expensive_callers_with_429() {
    let app = TestApp::spawn_with(&[("USER_BUDGET_PER_MINUTE", "50")]).await;
    let spender = app.register("spender").await;
    let saver = app.register("saver").await;
    // 2 + 10 × 2 = 22 points: the third call in a minute is over 50.
    let big = json!({ "query": "{ todos(first: 10) { nodes { id } } }" });
    let first = post(&app, GRJ, Some(&spender.access_token), &big).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert!(first.body["errors"].is_null(), "{}", first.text);
    let mut refused = None;
    for _ in 0..5 {
        let answer = post(&app, GRJ, Some(&spender.access_token), &big).await;
        if answer.status != StatusCode::OK {
            refused = Some(answer);
            break;
        }
    }
    let refused = refused.expect("the budget never ran out");
    assert_eq!(
        refused.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        refused.text
    );
    assert!(refused.body.get("data").is_none(), "{}", refused.text);
    assert_rate_limited(&refused, 60, "over budget");
    // Legacy JSON: 200 with the same code and header.
    let legacy = post(&app, JSON, Some(&spender.access_token), &big).await;
    assert_eq!(legacy.status, StatusCode::OK);
    assert_rate_limited(&legacy, 60, "over budget, application/json");
    // Budgets are per user.
    let other = post(&app, GRJ, Some(&saver.access_token), &big).await;
    assert_eq!(other.status, StatusCode::OK, "{}", other.text);
    assert!(other.body["errors"].is_null(), "{}", other.text);
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
        graphql_request(&app, JSON, None, &json!({ "query": "{ __typename }" }))
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

// --- Abusive requests, against a server process of their own ------------------

/// `todoql serve` as a child process, so that a request that crashes or
/// wedges the server fails the test instead of the test process.
struct Server {
    child: Child,
    address: String,
    client: reqwest::Client,
    log: std::path::PathBuf,
}

impl Server {
    async fn start(extra: &[(&str, &str)]) -> Self {
        let database_url = fresh_database().await;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::env::temp_dir().join(format!(
            "todoql-hardening-{}.log",
            uuid::Uuid::new_v4().simple()
        ));
        let mut command = Command::new(BIN);
        command
            .arg("serve")
            .env("DATABASE_URL", &database_url)
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("JWT_SECRET", "x".repeat(40))
            .env("RUST_LOG", "warn")
            .env_remove("REDIS_URL")
            .env_remove("APP_ENV")
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
            .kill_on_drop(true);
        for (name, value) in extra {
            command.env(name, value);
        }
        let child = command.spawn().expect("start todoql serve");
        let server = Self {
            child,
            address: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            log,
        };
        for _ in 0..150 {
            if server.ping().await {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the server never answered /ping: {}", server.log_tail());
    }

    async fn ping(&self) -> bool {
        match self
            .client
            .get(format!("{}/ping", self.address))
            .timeout(Duration::from_secs(5))
            .send()
            .await
        {
            Ok(res) => {
                res.status() == StatusCode::OK && res.text().await.is_ok_and(|t| t == "pong")
            }
            Err(_) => false,
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = text.len().saturating_sub(2000);
        text[text.floor_char_boundary(start)..].to_owned()
    }

    /// Posts `body` (raw) and returns the answer; a dropped connection or
    /// no answer fails the test with the server's state.
    async fn post(&mut self, accept: &str, body: String) -> Answer {
        let request = self
            .client
            .post(format!("{}/graphql", self.address))
            .header(CONTENT_TYPE, JSON)
            .header(ACCEPT, accept)
            .body(body);
        let ping = async {
            // Meanwhile, the server keeps answering.
            tokio::time::sleep(Duration::from_millis(20)).await;
            self.ping().await
        };
        let (response, pinged) = tokio::join!(request.send(), ping);
        let response = match response {
            Ok(response) => response,
            Err(e) => {
                let exited = self.child.try_wait().ok().flatten();
                panic!(
                    "no answer ({e}); server exit status: {exited:?}; log: {}",
                    self.log_tail()
                );
            }
        };
        assert!(pinged, "/ping went unanswered during the request");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
            text,
        }
    }

    /// Posts a body the server answers before reading it all (so may
    /// reset the connection while the client still writes): over a raw
    /// socket, writing and reading independently; returns the status.
    async fn post_unread(&mut self, body: Vec<u8>) -> StatusCode {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let host = self.address.trim_start_matches("http://").to_owned();
        let stream = tokio::net::TcpStream::connect(&host).await.unwrap();
        let (mut reader, mut writer) = stream.into_split();
        let head = format!(
            "POST /graphql HTTP/1.1\r\nHost: {host}\r\nContent-Type: {JSON}\r\n\
             Accept: {GRJ}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let write = tokio::spawn(async move {
            // The server may stop reading: write errors are expected.
            if writer.write_all(head.as_bytes()).await.is_ok() {
                let _ = writer.write_all(&body).await;
            }
        });
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        let read = tokio::time::timeout(Duration::from_secs(10), async {
            while !answer.windows(2).any(|w| w == b"\r\n") {
                match reader.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => answer.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await;
        write.abort();
        let line = String::from_utf8_lossy(&answer)
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned();
        assert!(
            read.is_ok() && line.starts_with("HTTP/1.1 "),
            "no status line (got {line:?}); server exit status: {:?}; log: {}",
            self.child.try_wait().ok().flatten(),
            self.log_tail()
        );
        assert!(self.ping().await, "/ping unanswered after the upload");
        line.split(' ')
            .nth(1)
            .and_then(|code| code.parse::<u16>().ok())
            .and_then(|code| StatusCode::from_u16(code).ok())
            .unwrap_or_else(|| panic!("bad status line {line:?}"))
    }

    async fn assert_healthy(&mut self) {
        assert!(self.ping().await, "/ping unanswered: {}", self.log_tail());
        assert!(
            self.child.try_wait().unwrap().is_none(),
            "the server exited: {}",
            self.log_tail()
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.log);
    }
}

fn query_body(query: &str) -> String {
    json!({ "query": query }).to_string()
}

fn assert_limit(answer: &Answer, limit: Option<&str>, what: &str) {
    assert_eq!(
        answer.status,
        StatusCode::BAD_REQUEST,
        "{what}: {}",
        answer.text
    );
    assert!(answer.body.get("data").is_none(), "{what}: {}", answer.text);
    assert_eq!(
        error_code(&answer.body),
        "GRAPHQL_VALIDATION_FAILED",
        "{what}"
    );
    if let Some(limit) = limit {
        assert_eq!(
            answer.body["errors"][0]["extensions"]["limit"], limit,
            "{what}: {}",
            answer.text
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abusive_requests_are_refused_while_ping_keeps_answering() {
    let mut server = Server::start(&[]).await;

    let aliases: Vec<String> = (0..1000).map(|i| format!("a{i}: id")).collect();
    let answer = server
        .post(
            GRJ,
            query_body(&format!("{{ me {{ {} }} }}", aliases.join(" "))),
        )
        .await;
    assert_limit(&answer, Some("aliases"), "1,000 aliases");

    let root_aliases: Vec<String> = (0..1000).map(|i| format!("a{i}: __typename")).collect();
    let answer = server
        .post(
            GRJ,
            query_body(&format!("{{ {} }}", root_aliases.join(" "))),
        )
        .await;
    assert_eq!(
        error_code(&answer.body),
        "GRAPHQL_VALIDATION_FAILED",
        "{}",
        answer.text
    );

    let deep = format!("{{ {} id {} }}", "me { ".repeat(50), "} ".repeat(50));
    let answer = server.post(GRJ, query_body(&deep)).await;
    assert_limit(&answer, Some("depth"), "50 levels");

    let directives = format!("{{ __typename {} }}", "@x ".repeat(1000));
    let answer = server.post(GRJ, query_body(&directives)).await;
    assert_limit(&answer, Some("directives"), "1,000 directives");

    let tokens = format!("{{ {} }}", "a ".repeat(6000));
    let answer = server.post(GRJ, query_body(&tokens)).await;
    assert_limit(&answer, Some("tokens"), "6,000 fields");

    let long = format!("{{ __typename }} #{}", "x".repeat(70_000));
    let answer = server.post(GRJ, query_body(&long)).await;
    assert_limit(&answer, Some("queryBytes"), "70 kB query");

    let mut bomb = String::from("{ me { ...F0 } }");
    for i in 0..30 {
        bomb.push_str(&format!(
            " fragment F{i} on User {{ id ...F{n} ...F{n} }}",
            n = i + 1
        ));
    }
    bomb.push_str(" fragment F30 on User { id }");
    let answer = server.post(GRJ, query_body(&bomb)).await;
    assert_limit(&answer, Some("expansion"), "fragment bomb");

    let wide = "{ todos(first: 100) { nodes { owner { todos(first: 100) { nodes { owner { todos(first: 100) { nodes { id } } } } } } } } }";
    let answer = server.post(GRJ, query_body(wide)).await;
    assert_limit(&answer, None, "complexity bomb");

    let huge = format!(
        "{{\"query\":\"{{ __typename }} #{}\"}}",
        "x".repeat(10 << 20)
    );
    let status = server.post_unread(huge.into_bytes()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "10 MB body");

    let batch = Value::Array(vec![json!({ "query": "{ __typename }" }); 500]).to_string();
    let answer = server.post(GRJ, batch).await;
    assert_eq!(
        answer.status,
        StatusCode::BAD_REQUEST,
        "500-operation batch: {}",
        answer.text
    );
    assert!(answer.body.get("data").is_none());

    server.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_batches_are_refused_when_batching_is_on() {
    let mut server = Server::start(&[("GRAPHQL_BATCH_MAX", "10")]).await;
    let batch = Value::Array(vec![json!({ "query": "{ __typename }" }); 500]).to_string();
    let answer = server.post(GRJ, batch).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    let batch = Value::Array(vec![json!({ "query": "{ __typename }" }); 10]).to_string();
    let answer = server.post(GRJ, batch).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body.as_array().map(Vec::len), Some(10));
    server.assert_healthy().await;
}

/// A fragment that spreads itself at the root is invalid (a cycle); it
/// must be refused, not recursed into until the stack overflows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fragment_cycle_at_the_root_is_refused_without_crashing() {
    let mut server = Server::start(&[]).await;
    for query in [
        "{ ...A } fragment A on Query { ...A }",
        "{ ...A } fragment A on Query { __typename ...B } fragment B on Query { ...A }",
        "{ ... on Query { ...A } } fragment A on Query { ... on Query { ...A } }",
    ] {
        let answer = server.post(GRJ, query_body(query)).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{query}: {}",
            answer.text
        );
        assert!(answer.body.get("data").is_none(), "{query}");
        assert!(
            matches!(
                error_code(&answer.body),
                "GRAPHQL_VALIDATION_FAILED" | "GRAPHQL_PARSE_FAILED"
            ),
            "{query}: {}",
            answer.text
        );
    }
    server.assert_healthy().await;
}

/// Fragments that each spread the next one twice, at the root: 2^40 root
/// fields once expanded, in a few hundred bytes. Must be refused like the
/// same bomb below a field is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fragment_bomb_at_the_root_is_refused() {
    let mut server = Server::start(&[]).await;
    let mut bomb = String::from("{ ...F0 }");
    for i in 0..40 {
        bomb.push_str(&format!(
            " fragment F{i} on Query {{ ...F{n} ...F{n} }}",
            n = i + 1
        ));
    }
    bomb.push_str(" fragment F40 on Query { __typename }");
    let answer = server.post(GRJ, query_body(&bomb)).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    assert!(answer.body.get("data").is_none());
    assert_eq!(
        error_code(&answer.body),
        "GRAPHQL_VALIDATION_FAILED",
        "{}",
        answer.text
    );
    server.assert_healthy().await;
}
