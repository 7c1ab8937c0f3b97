//! Keys over WebSocket (`extensions.idempotencyKey` of `subscribe`): one
//! key space with HTTP; a replay is `next` with
//! `extensions.idempotentReplayed: true` and the stored result, then
//! `complete`.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{REPLAYED, keyed, total};
use crate::support::{CREATE_TODO, TestApp, ws_client::WsClient};

/// Subscribes `CREATE_TODO` titled `title` with key `key` as operation `id`.
async fn send_keyed(ws: &mut WsClient, id: &str, key: &str, title: &str) {
    ws.send(json!({
        "type": "subscribe",
        "id": id,
        "payload": {
            "query": CREATE_TODO,
            "variables": { "input": { "title": title } },
            "extensions": { "idempotencyKey": key },
        },
    }))
    .await;
}

/// The `next` for `id` (its payload), then `complete`.
async fn next_then_complete(ws: &mut WsClient, id: &str) -> Value {
    let message = ws.recv().await;
    assert_eq!(message["type"], "next", "{message}");
    assert_eq!(message["id"], id);
    ws.expect_complete(id).await;
    message["payload"].clone()
}

#[tokio::test]
async fn a_repeated_key_over_websocket_replays_the_result() {
    let app = TestApp::spawn().await;
    let user = app.register("wskeys").await;
    let mut ws = WsClient::ready(&app, &user).await;
    send_keyed(&mut ws, "1", "ws-1", "over ws").await;
    let first = next_then_complete(&mut ws, "1").await;
    assert!(first["data"]["createTodo"]["id"].is_string(), "{first}");
    assert!(first.get("extensions").is_none(), "{first}");
    // The same id may be reused once complete; a new id too.
    for id in ["1", "2"] {
        send_keyed(&mut ws, id, "ws-1", "over ws").await;
        let again = next_then_complete(&mut ws, id).await;
        assert_eq!(again["extensions"]["idempotentReplayed"], true, "{again}");
        assert_eq!(again["data"], first["data"]);
    }
    // Another body under the key: an error with the code.
    send_keyed(&mut ws, "3", "ws-1", "different").await;
    let error = ws.recv().await;
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(error["id"], "3");
    assert_eq!(
        error["payload"][0]["extensions"]["code"],
        "IDEMPOTENCY_KEY_REUSED"
    );
    // A bad key: an error too, nothing run.
    send_keyed(&mut ws, "4", "", "never").await;
    let error = ws.recv().await;
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(error["payload"][0]["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(total(&app, &user).await, 1);
}

#[tokio::test]
async fn http_and_websocket_share_one_key_space() {
    let app = TestApp::spawn().await;
    let user = app.register("shared").await;
    let body =
        |title: &str| json!({ "query": CREATE_TODO, "variables": { "input": { "title": title } } });
    // First over HTTP, replayed over WebSocket.
    let http = keyed(&app, &user, "h", &body("from http")).await;
    let mut ws = WsClient::ready(&app, &user).await;
    send_keyed(&mut ws, "1", "h", "from http").await;
    let replay = next_then_complete(&mut ws, "1").await;
    assert_eq!(replay["data"], http.body["data"]);
    assert_eq!(replay["extensions"]["idempotentReplayed"], true);
    // First over WebSocket, replayed over HTTP: 200 in the asked media type.
    send_keyed(&mut ws, "2", "w", "from ws").await;
    let first = next_then_complete(&mut ws, "2").await;
    let answer = keyed(&app, &user, "w", &body("from ws")).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.header(REPLAYED), Some("true"));
    assert_eq!(answer.body["data"], first["data"]);
    assert!(
        answer
            .header("content-type")
            .unwrap()
            .starts_with("application/graphql-response+json")
    );
    assert_eq!(total(&app, &user).await, 2);
}
