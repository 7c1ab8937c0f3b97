//! Document limits (size, tokens, depth, aliases, root fields, directives,
//! fragment expansion, complexity), the body limit, the query timeout, and
//! JSON-array batching: refused before anything runs.

use reqwest::{StatusCode, header::CONTENT_TYPE};
use serde_json::json;

use super::{assert_accepted, assert_refused, persisted, sha256};
use crate::support::{CREATE_TODO, GRJ, JSON, TestApp, error_code, send};

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
    let app = TestApp::spawn_with(&[
        ("GRAPHQL_MAX_ALIASES", "3"),
        ("GRAPHQL_MAX_MUTATION_ROOT_FIELDS", "3"),
    ])
    .await;
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
    // A refused mutation creates nothing at all. Aliased mutation root
    // fields (an offline queue as one document) are bounded by
    // GRAPHQL_MAX_MUTATION_ROOT_FIELDS rather than the alias limit.
    let create = |n: usize| {
        let fields: Vec<String> = (0..n)
            .map(|i| format!("t{i}: createTodo(input: {{ title: \"aliased {i}\" }}) {{ id }}"))
            .collect();
        format!("mutation {{ {} }}", fields.join(" "))
    };
    assert_refused(&app, token, &json!({ "query": create(4) }), "rootFields").await;
    assert_eq!(app.todo_counts(&user).await.0, 0);
    let body = assert_accepted(&app, &user, &create(3)).await;
    assert_eq!(body["data"].as_object().unwrap().len(), 3);
    assert_eq!(app.todo_counts(&user).await.0, 3);
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
    let answer = app.post_graphql(
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
        let answer = app
            .post_graphql(accept, token, &json!({ "query": list(25) }))
            .await;
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
    let answer = app
        .post_graphql(
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
    let answer = app
        .post_graphql(GRJ, Some(&user.access_token), &json!({ "query": query }))
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
    let answer = app
        .get_graphql(
            &[("query", query)],
            &[("apollo-require-preflight", "true"), ("accept", GRJ)],
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    assert_eq!(answer.body["errors"][0]["extensions"]["limit"], "aliases");
    // Registering it is refused by the limit, so the hash stays unknown.
    let hash = sha256(query);
    let answer = app
        .post_graphql(
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
    let answer = app
        .post_graphql(GRJ, None, &json!({ "extensions": persisted(&hash) }))
        .await;
    assert_eq!(error_code(&answer.body), "PERSISTED_QUERY_NOT_FOUND");
    // And each operation of a batch is checked on its own.
    let app =
        TestApp::spawn_with(&[("GRAPHQL_MAX_ALIASES", "1"), ("GRAPHQL_BATCH_MAX", "2")]).await;
    let answer = app
        .post_graphql(
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
                CREATE_TODO,
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
async fn batches_are_refused_when_turned_off() {
    let app = TestApp::spawn_with(&[("GRAPHQL_BATCH_MAX", "0")]).await;
    let user = app.register("nobatch").await;
    let batch = json!([
        { "query": CREATE_TODO, "variables": { "input": { "title": "batched" } } },
        { "query": "{ __typename }" },
    ]);
    for accept in [GRJ, JSON] {
        let answer = app
            .post_graphql(accept, Some(&user.access_token), &batch)
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
        assert!(answer.body["errors"][0]["message"].is_string());
    }
    assert_eq!(
        app.todo_counts(&user).await.0,
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
        |title: &str| json!({ "query": CREATE_TODO, "variables": { "input": { "title": title } } });
    let answer = app
        .post_graphql(
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
        let answer = app.post_graphql(GRJ, token, &too_many).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    }
    assert_eq!(
        app.todo_counts(&user).await.0,
        1,
        "the oversized batch ran nothing"
    );
}
