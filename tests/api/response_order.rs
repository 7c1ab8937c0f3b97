//! Responses keep the order of the selection set (GraphQL spec, Response →
//! Serialization Format, "Serialized Map Ordering"; issue 13, item 3) on
//! every path: `POST` and `GET` under both media types, JSON batches,
//! persisted queries, and both WebSocket subprotocols. The assertions read
//! the raw text, since parsing into a map would lose the order.

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::{
    support::ws_client::{LEGACY_WS, TRANSPORT_WS, WAIT, WsClient, is_keepalive},
    support::{TestApp, TestUser},
};

const GRJ: &str = "application/graphql-response+json";
const JSON: &str = "application/json";
/// Fields selected in an order that is not alphabetical, at two levels.
const ME: &str = "{ me { todoCounts { total completed active } email id displayName } }";

/// Asserts that every `me` object in `text` lists its keys in the order of
/// [`ME`], and its `todoCounts` too.
fn assert_selection_order(text: &str) {
    let objects: Vec<&str> = text.split("\"me\":").skip(1).collect();
    assert!(!objects.is_empty(), "no `me` object in {text}");
    for object in objects {
        for keys in [
            &["todoCounts", "email", "id", "displayName"][..],
            &["total", "completed", "active"],
        ] {
            let positions: Vec<usize> = keys
                .iter()
                .map(|key| {
                    object
                        .find(&format!("\"{key}\""))
                        .unwrap_or_else(|| panic!("no {key:?} in {text}"))
                })
                .collect();
            assert!(
                positions.windows(2).all(|w| w[0] < w[1]),
                "keys {keys:?} are not in selection order in {text}"
            );
        }
    }
}

async fn spawn_with_user(extra: &[(&str, &str)]) -> (TestApp, TestUser) {
    let app = TestApp::spawn_with(extra).await;
    let user = app.register("order").await;
    app.create_todo(&user, json!({ "title": "one" })).await;
    (app, user)
}

/// `POST /graphql` with `body`; the status must be 200; returns the text.
async fn post_text(app: &TestApp, user: &TestUser, accept: &str, body: &Value) -> String {
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .header(CONTENT_TYPE, JSON)
        .header(ACCEPT, accept)
        .bearer_auth(&user.access_token)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

#[tokio::test]
async fn http_responses_keep_the_selection_order() {
    let (app, user) = spawn_with_user(&[]).await;
    for accept in [GRJ, JSON] {
        let text = post_text(&app, &user, accept, &json!({ "query": ME })).await;
        assert!(text.contains("\"total\":1"), "{text}");
        assert_selection_order(&text);

        let response = app
            .client
            .get(format!("{}/graphql", app.address))
            .query(&[("query", ME)])
            .header(ACCEPT, accept)
            .bearer_auth(&user.access_token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let text = response.text().await.unwrap();
        assert!(text.contains("\"total\":1"), "GET: {text}");
        assert_selection_order(&text);
    }
}

#[tokio::test]
async fn batched_responses_keep_the_selection_order() {
    let (app, user) = spawn_with_user(&[("GRAPHQL_BATCH_MAX", "2")]).await;
    let batch = json!([{ "query": ME }, { "query": ME }]);
    let text = post_text(&app, &user, GRJ, &batch).await;
    assert_eq!(text.matches("\"me\":").count(), 2, "{text}");
    assert_selection_order(&text);
}

#[tokio::test]
async fn persisted_query_responses_keep_the_selection_order() {
    let (app, user) = spawn_with_user(&[]).await;
    let hash: String = Sha256::digest(ME.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let extensions = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });
    // Hash first: unknown, so the client sends the query with it.
    let text = post_text(&app, &user, GRJ, &json!({ "extensions": extensions })).await;
    assert!(text.contains("PERSISTED_QUERY_NOT_FOUND"), "{text}");
    let text = post_text(
        &app,
        &user,
        GRJ,
        &json!({ "query": ME, "extensions": extensions }),
    )
    .await;
    assert_selection_order(&text);
    // Then the hash alone runs the stored query.
    let text = post_text(&app, &user, GRJ, &json!({ "extensions": extensions })).await;
    assert!(text.contains("\"total\":1"), "{text}");
    assert_selection_order(&text);
}

#[tokio::test]
async fn websocket_results_keep_the_selection_order() {
    let (app, user) = spawn_with_user(&[]).await;
    for protocol in [TRANSPORT_WS, LEGACY_WS] {
        let mut client = WsClient::connect(&app, protocol).await;
        client.init(&user.access_token).await;
        client.subscribe("1", ME, json!({})).await;
        let text = loop {
            let text = client
                .recv_text_within(WAIT)
                .await
                .unwrap_or_else(|| panic!("{protocol}: no result within {WAIT:?}"));
            let message: Value = serde_json::from_str(&text).unwrap();
            if !is_keepalive(&message) {
                break text;
            }
        };
        assert!(text.contains("\"total\":1"), "{protocol}: {text}");
        assert_selection_order(&text);
        client.close().await;
    }
}
