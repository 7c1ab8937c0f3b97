//! Production mode (`APP_ENV=production`): no introspection unless
//! enabled, no suggestions, no GraphiQL, internal errors hidden.

use reqwest::{StatusCode, header::ACCEPT};
use serde_json::json;

use super::PRODUCTION;
use crate::support::{JSON, TestApp, admin_conn, error_code, send};

#[tokio::test]
async fn production_refuses_introspection_unless_enabled() {
    let query = json!({ "query": "{ __schema { types { name } } }" });
    let typed = json!({ "query": "{ __type(name: \"Todo\") { fields { name } } }" });
    let dev = TestApp::spawn().await;
    let answer = dev.post_graphql(JSON, None, &query).await;
    assert!(answer.text.contains("AuthPayload"), "{}", answer.text);
    let allowed = TestApp::spawn_with(&[
        PRODUCTION[0],
        PRODUCTION[1],
        ("GRAPHQL_INTROSPECTION", "true"),
    ])
    .await;
    let answer = allowed.post_graphql(JSON, None, &query).await;
    assert!(answer.body["errors"].is_null(), "{}", answer.text);
    assert!(answer.text.contains("AuthPayload"));

    let prod = TestApp::spawn_with(&PRODUCTION).await;
    // `__typename` is not introspection.
    let answer = prod
        .post_graphql(JSON, None, &json!({ "query": "{ __typename }" }))
        .await;
    assert_eq!(answer.body["data"]["__typename"], "Query");
    let answers = [
        prod.post_graphql(JSON, None, &query).await,
        prod.post_graphql(JSON, None, &typed).await,
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
    let answer = dev.post_graphql(JSON, None, &body).await;
    assert_eq!(error_code(&answer.body), "GRAPHQL_VALIDATION_FAILED");
    assert!(answer.text.contains("Did you mean"), "{}", answer.text);

    let prod = TestApp::spawn_with(&PRODUCTION).await;
    for body in [
        body,
        json!({ "query": "{ me { emial } }" }),
        json!({ "query": "{ todos(frist: 1) { totalCount } }" }),
        json!({ "query": "{ todos(orderBy: CREATED_AT) { totalCount } }" }),
    ] {
        let answer = prod.post_graphql(JSON, None, &body).await;
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
    use diesel_async::RunQueryDsl;
    let app = TestApp::spawn_with(&[
        PRODUCTION[0],
        PRODUCTION[1],
        ("DATABASE_CONNECT_TIMEOUT_MS", "300"),
    ])
    .await;
    let user = app.register("internal").await;
    // Take the database away under the running server.
    let name = app.database_url.rsplit('/').next().unwrap().to_owned();
    let mut admin = admin_conn().await;
    diesel::sql_query(format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
    for query in [
        "{ me { id email } }",
        "{ todos { totalCount } }",
        "mutation { createTodo(input: { title: \"x\" }) { id } }",
    ] {
        let answer = app
            .post_graphql(JSON, Some(&user.access_token), &json!({ "query": query }))
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
