//! The protocols: graphql-transport-ws (every close code, keep-alives,
//! queries and mutations over the socket, operation limits) and legacy
//! graphql-ws end to end.

use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};
use tokio::time::Instant;
use uuid::Uuid;

use super::{EVENTS, next_event, next_events, subscribed, summary, sync, token_for, user_uuid};
use crate::support::{
    TestApp, error_code,
    ws_client::{Connect, Incoming, LEGACY_WS, TRANSPORT_WS, WAIT, WsClient},
};

// --- 3. graphql-transport-ws: close codes, keep-alives, operations ------------

#[tokio::test]
async fn invalid_messages_close_with_4400() {
    let app = TestApp::spawn().await;
    let user = app.register("invalid").await;
    let op = json!({ "query": "{ me { id } }" });
    let cases: Vec<(&str, String)> = vec![
        ("not JSON", "{not json".to_owned()),
        ("a JSON array", "[1, 2]".to_owned()),
        ("a JSON string", "\"subscribe\"".to_owned()),
        ("no type", json!({ "id": "1", "payload": op }).to_string()),
        ("type not a string", json!({ "type": 5 }).to_string()),
        ("unknown type", json!({ "type": "bogus" }).to_string()),
        (
            "a legacy type",
            json!({ "type": "start", "id": "1", "payload": op }).to_string(),
        ),
        (
            "numeric id",
            json!({ "type": "subscribe", "id": 1, "payload": op }).to_string(),
        ),
        (
            "empty id",
            json!({ "type": "subscribe", "id": "", "payload": op }).to_string(),
        ),
        (
            "no id",
            json!({ "type": "subscribe", "payload": op }).to_string(),
        ),
        (
            "no payload",
            json!({ "type": "subscribe", "id": "1" }).to_string(),
        ),
        (
            "payload without query",
            json!({ "type": "subscribe", "id": "1", "payload": { "variables": {} } }).to_string(),
        ),
        (
            "variables not an object",
            json!({ "type": "subscribe", "id": "1", "payload": { "query": "{ me { id } }", "variables": [1] } })
                .to_string(),
        ),
    ];
    for (what, raw) in &cases {
        let mut client = WsClient::ready(&app, &user).await;
        client.send_text(raw).await;
        let closed = client.closed().await;
        assert_eq!(closed.code, 4400, "{what}: {closed:?}");
        assert!(
            closed.reason.starts_with("Invalid message received"),
            "{what}: {closed:?}"
        );
        assert!(closed.before.is_empty(), "{what}: {closed:?}");
    }
    // A binary frame, and an invalid message before connection_init.
    let mut client = WsClient::ready(&app, &user).await;
    client.send_binary(b"{\"type\":\"ping\"}").await;
    assert_eq!(client.closed().await.code, 4400);
    let mut client = WsClient::connect(&app, TRANSPORT_WS).await;
    client.send_text("{\"type\":\"bogus\"}").await;
    assert_eq!(client.closed().await.code, 4400);
}

#[tokio::test]
async fn subscribe_before_init_closes_with_4401() {
    let app = TestApp::spawn().await;
    let mut client = WsClient::connect(&app, TRANSPORT_WS).await;
    client.subscribe("1", "{ me { id } }", json!({})).await;
    let closed = client.closed().await;
    assert_eq!(closed.code, 4401, "{closed:?}");
    assert_eq!(closed.reason, "Unauthorized");
    assert!(closed.before.is_empty(), "{closed:?}");
}

#[tokio::test]
async fn rejected_init_closes_with_4403() {
    let app = TestApp::spawn().await;
    let user = app.register("forbidden").await;
    let now = Utc::now().timestamp();
    let expired = token_for(&app, user_uuid(&user), now - 60);
    let stranger = token_for(&app, Uuid::new_v4(), now + 600);
    let cases: Vec<(&str, Value)> = vec![
        ("no payload", json!({ "type": "connection_init" })),
        (
            "empty payload",
            json!({ "type": "connection_init", "payload": {} }),
        ),
        (
            "garbage token",
            json!({ "type": "connection_init", "payload": { "Authorization": "Bearer garbage" } }),
        ),
        (
            "not Bearer",
            json!({ "type": "connection_init", "payload": { "Authorization": format!("Basic {}", user.access_token) } }),
        ),
        (
            "token without scheme",
            json!({ "type": "connection_init", "payload": { "Authorization": user.access_token } }),
        ),
        (
            "expired token",
            json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {expired}") } }),
        ),
        (
            "token of no user",
            json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {stranger}") } }),
        ),
        (
            "refresh token",
            json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {}", user.refresh_token) } }),
        ),
    ];
    for (what, init) in cases {
        let mut client = WsClient::connect(&app, TRANSPORT_WS).await;
        client.send(init).await;
        let closed = client.closed().await;
        assert_eq!(closed.code, 4403, "{what}: {closed:?}");
        assert!(closed.reason.starts_with("Forbidden"), "{what}: {closed:?}");
        assert!(closed.before.is_empty(), "{what}: {closed:?}");
    }
}

#[tokio::test]
async fn init_accepts_the_token_from_any_case_key_or_the_upgrade_header() {
    let app = TestApp::spawn().await;
    let user = app.register("header").await;
    let me = |client: WsClient| async move {
        let mut client = client;
        client.subscribe("me", "{ me { email } }", json!({})).await;
        let data = client.next_data("me").await;
        client.expect_complete("me").await;
        data["me"]["email"].as_str().unwrap().to_owned()
    };
    for key in ["authorization", "AUTHORIZATION", "Authorization"] {
        let mut client = WsClient::connect(&app, TRANSPORT_WS).await;
        client
            .send(json!({ "type": "connection_init",
                "payload": { key: format!("Bearer {}", user.access_token) } }))
            .await;
        assert_eq!(client.recv().await["type"], "connection_ack", "{key}");
        assert_eq!(me(client).await, user.email, "{key}");
    }
    // From the upgrade request's header, with an empty init.
    let mut client = WsClient::open(
        &app,
        Connect {
            protocol: Some(TRANSPORT_WS),
            authorization: Some(format!("Bearer {}", user.access_token)),
            ..Connect::default()
        },
    )
    .await;
    assert_eq!(client.protocol.as_deref(), Some(TRANSPORT_WS));
    client.send(json!({ "type": "connection_init" })).await;
    assert_eq!(client.recv().await["type"], "connection_ack");
    assert_eq!(me(client).await, user.email);
}

#[tokio::test]
async fn no_subprotocol_closes_with_4406() {
    let app = TestApp::spawn().await;
    let mut client = WsClient::open(&app, Connect::default()).await;
    assert_eq!(client.protocol, None);
    let closed = client.closed().await;
    assert_eq!(closed.code, 4406, "{closed:?}");
    assert!(closed.before.is_empty(), "{closed:?}");
}

#[tokio::test]
async fn both_subprotocols_offered_selects_the_modern_one() {
    let app = TestApp::spawn().await;
    let user = app.register("both").await;
    let mut client = WsClient::open(
        &app,
        Connect {
            protocol: Some("graphql-ws, graphql-transport-ws"),
            ..Connect::default()
        },
    )
    .await;
    assert_eq!(client.protocol.as_deref(), Some(TRANSPORT_WS));
    client.init(&user.access_token).await;
    // `pong` is a graphql-transport-ws message.
    assert_eq!(client.barrier().await, Vec::<Value>::new());
}

#[tokio::test]
async fn no_init_in_time_closes_with_4408() {
    let app = TestApp::spawn_with(&[("WS_INIT_TIMEOUT_MS", "300")]).await;
    let user = app.register("slowinit").await;
    let started = Instant::now();
    let mut idle = WsClient::connect(&app, TRANSPORT_WS).await;
    let closed = idle.closed().await;
    let waited = started.elapsed();
    assert_eq!(closed.code, 4408, "{closed:?}");
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
        "closed after {waited:?}"
    );
    // A socket that initialised in time stays open past the deadline.
    let mut ready = WsClient::ready(&app, &user).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(ready.barrier().await, Vec::<Value>::new());
}

#[tokio::test]
async fn duplicate_active_id_closes_with_4409_but_finished_ids_are_reusable() {
    let app = TestApp::spawn().await;
    let user = app.register("dupe").await;
    let mut client = WsClient::ready(&app, &user).await;
    // A finished operation's id may be used again.
    for _ in 0..3 {
        client.subscribe("q", "{ me { email } }", json!({})).await;
        assert_eq!(client.next_data("q").await["me"]["email"], user.email);
        client.expect_complete("q").await;
    }
    // So may an id the client completed.
    client.subscribe("s", EVENTS, json!({})).await;
    client.complete("s").await;
    client.subscribe("s", EVENTS, json!({})).await;
    assert_eq!(client.barrier().await, Vec::<Value>::new());
    // But not an active one.
    client.subscribe("s", EVENTS, json!({})).await;
    let closed = client.closed().await;
    assert_eq!(closed.code, 4409, "{closed:?}");
    assert_eq!(closed.reason, "Subscriber for s already exists");
}

#[tokio::test]
async fn second_init_closes_with_4429() {
    let app = TestApp::spawn().await;
    let user = app.register("twice").await;
    let mut client = WsClient::ready(&app, &user).await;
    client
        .send(json!({ "type": "connection_init",
            "payload": { "Authorization": format!("Bearer {}", user.access_token) } }))
        .await;
    let closed = client.closed().await;
    assert_eq!(closed.code, 4429, "{closed:?}");
    assert!(closed.before.is_empty(), "{closed:?}");
}

#[tokio::test]
async fn too_many_connections_for_one_user_close_with_4429() {
    let app = TestApp::spawn_with(&[("WS_MAX_CONNECTIONS_PER_USER", "2")]).await;
    let user = app.register("crowd").await;
    let other = app.register("other").await;
    let first = WsClient::ready(&app, &user).await;
    let mut second = WsClient::ready(&app, &user).await;
    let mut third = WsClient::connect(&app, TRANSPORT_WS).await;
    third
        .send(json!({ "type": "connection_init",
            "payload": { "Authorization": format!("Bearer {}", user.access_token) } }))
        .await;
    let closed = third.closed().await;
    assert_eq!(closed.code, 4429, "{closed:?}");
    // The limit is per user, and the open sockets still work.
    let mut theirs = WsClient::ready(&app, &other).await;
    assert_eq!(theirs.barrier().await, Vec::<Value>::new());
    assert_eq!(second.barrier().await, Vec::<Value>::new());
    // Closing one frees its slot.
    first.close().await;
    let deadline = Instant::now() + WAIT;
    loop {
        let mut again = WsClient::connect(&app, TRANSPORT_WS).await;
        again
            .send(json!({ "type": "connection_init",
                "payload": { "Authorization": format!("Bearer {}", user.access_token) } }))
            .await;
        match again.incoming(WAIT).await {
            Incoming::Message(ack) => {
                assert_eq!(ack["type"], "connection_ack", "{ack}");
                break;
            }
            Incoming::Closed(closed) => {
                assert_eq!(closed.code, 4429, "{closed:?}");
                assert!(Instant::now() < deadline, "slot never released");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Incoming::Timeout => panic!("no answer to connection_init"),
        }
    }
}

#[tokio::test]
async fn ping_gets_pong_and_the_server_pings_after_ack() {
    let app = TestApp::spawn_with(&[("WS_PING_INTERVAL_SECS", "1")]).await;
    let user = app.register("pinger").await;

    // No keep-alive before the ack.
    let mut waiting = WsClient::connect(&app, TRANSPORT_WS).await;
    assert_eq!(
        waiting.recv_raw_within(Duration::from_millis(1500)).await,
        None
    );

    let mut client = WsClient::ready(&app, &user).await;
    client
        .send(json!({ "type": "ping", "payload": { "n": 1 } }))
        .await;
    assert_eq!(
        client.recv_raw().await,
        json!({ "type": "pong", "payload": { "n": 1 } })
    );
    client.send(json!({ "type": "ping" })).await;
    assert_eq!(client.recv_raw().await, json!({ "type": "pong" }));
    // A client pong is accepted silently.
    client.send(json!({ "type": "pong" })).await;
    // The server pings about every second.
    let started = Instant::now();
    for _ in 0..2 {
        let ping = client
            .recv_raw_within(Duration::from_millis(2500))
            .await
            .expect("a server ping");
        assert_eq!(ping, json!({ "type": "ping" }));
    }
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[tokio::test]
async fn queries_and_mutations_run_over_the_socket() {
    let app = TestApp::spawn().await;
    let user = app.register("socketops").await;
    let mut client = WsClient::ready(&app, &user).await;

    client.subscribe("1", "{ me { email } }", json!({})).await;
    assert_eq!(client.next_data("1").await["me"]["email"], user.email);
    client.expect_complete("1").await;

    client
        .subscribe(
            "2",
            "mutation($t: String!) { createTodo(input: { title: $t }) { id title completed } }",
            json!({ "t": "over the socket" }),
        )
        .await;
    let created = client.next_data("2").await["createTodo"].clone();
    client.expect_complete("2").await;
    assert_eq!(created["title"], "over the socket");
    let body = app
        .gql_as(
            &user,
            "query($id: ID!) { todo(id: $id) { title } }",
            json!({ "id": created["id"] }),
        )
        .await;
    assert_eq!(body["data"]["todo"]["title"], "over the socket", "{body}");

    // An execution error is a `next` with errors, then `complete`.
    client
        .subscribe(
            "3",
            "mutation($id: ID!) { deleteTodo(id: $id) }",
            json!({ "id": Uuid::new_v4().to_string() }),
        )
        .await;
    let message = client.recv().await;
    assert_eq!(message["type"], "next", "{message}");
    assert_eq!(message["id"], "3", "{message}");
    assert_eq!(error_code(&message["payload"]), "NOT_FOUND", "{message}");
    client.expect_complete("3").await;
}

#[tokio::test]
async fn invalid_documents_get_an_error_message_and_no_complete() {
    let app = TestApp::spawn().await;
    let user = app.register("invaliddoc").await;
    let mut client = WsClient::ready(&app, &user).await;
    let cases = [
        ("v", "{ nope }", "GRAPHQL_VALIDATION_FAILED"),
        (
            "w",
            "subscription { todoEvents { nope } }",
            "GRAPHQL_VALIDATION_FAILED",
        ),
        ("p", "{ me {", "GRAPHQL_PARSE_FAILED"),
    ];
    for (id, query, code) in cases {
        client.subscribe(id, query, json!({})).await;
        let message = client.recv().await;
        assert_eq!(message["type"], "error", "{message}");
        assert_eq!(message["id"], id, "{message}");
        assert!(message["payload"].is_array(), "{message}");
        assert_eq!(
            message["payload"][0]["extensions"]["code"], code,
            "{message}"
        );
        // No `complete` follows, and the socket stays open.
        assert_eq!(client.barrier().await, Vec::<Value>::new(), "{query}");
    }
    // The id is free again.
    client.subscribe("v", "{ me { email } }", json!({})).await;
    assert_eq!(client.next_data("v").await["me"]["email"], user.email);
    client.expect_complete("v").await;
}

#[tokio::test]
async fn nothing_arrives_after_the_client_completes() {
    let app = TestApp::spawn().await;
    let user = app.register("completer").await;
    let mut client = subscribed(&app, &user, "1").await;
    client.subscribe("2", EVENTS, json!({})).await;
    sync(&mut client, "2", &app, &user).await;
    // `sync` on "2" also delivered its markers to "1": drain them.
    let mut drained = Vec::new();
    while let Some(message) = client.recv_within(Duration::from_millis(300)).await {
        drained.push(message);
    }
    assert!(drained.iter().all(|m| m["id"] == "1"), "{drained:?}");

    let before = app.create_todo_titled(&user, "seen by both").await;
    for _ in 0..2 {
        let message = client.recv().await;
        assert_eq!(
            message["payload"]["data"]["todoEvents"]["todoId"],
            before.as_str(),
            "{message}"
        );
    }
    client.complete("1").await;
    let after = app.create_todo_titled(&user, "seen by 2 only").await;
    let event = next_event(&mut client, "2").await;
    assert_eq!(event["todoId"], after.as_str());
    assert_eq!(client.barrier().await, Vec::<Value>::new());
    client.assert_silent(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn operations_per_socket_are_limited() {
    let app = TestApp::spawn_with(&[("WS_MAX_SUBSCRIPTIONS", "2")]).await;
    let user = app.register("limited").await;
    let mut client = WsClient::ready(&app, &user).await;
    client.subscribe("1", EVENTS, json!({})).await;
    client.subscribe("2", EVENTS, json!({})).await;
    client.subscribe("3", EVENTS, json!({})).await;
    let message = client.recv().await;
    assert_eq!(message["type"], "error", "{message}");
    assert_eq!(message["id"], "3", "{message}");
    assert_eq!(message["payload"][0]["extensions"]["code"], "RATE_LIMITED");
    // Completing one makes room.
    client.complete("1").await;
    client.subscribe("4", "{ me { email } }", json!({})).await;
    assert_eq!(client.next_data("4").await["me"]["email"], user.email);
    client.expect_complete("4").await;
}

// --- 4. Legacy graphql-ws ----------------------------------------------------

#[tokio::test]
async fn legacy_protocol_end_to_end() {
    let app = TestApp::spawn_with(&[("WS_PING_INTERVAL_SECS", "1")]).await;
    let user = app.register("legacy").await;
    let mut client = WsClient::connect(&app, LEGACY_WS).await;
    assert_eq!(client.protocol.as_deref(), Some(LEGACY_WS));

    // Before init: an error for the operation, not a close.
    client.subscribe("early", "{ me { id } }", json!({})).await;
    let early = client.recv_raw().await;
    assert_eq!(early["type"], "error", "{early}");
    assert_eq!(early["id"], "early", "{early}");

    client.init(&user.access_token).await;
    assert_eq!(client.recv_raw().await, json!({ "type": "ka" }));

    // A query: data, then complete.
    client.subscribe("q", "{ me { email } }", json!({})).await;
    assert_eq!(client.next_data("q").await["me"]["email"], user.email);
    client.expect_complete("q").await;

    // An invalid document: an error with a message.
    client.subscribe("bad", "{ nope }", json!({})).await;
    let bad = client.recv().await;
    assert_eq!(bad["type"], "error", "{bad}");
    assert_eq!(bad["id"], "bad", "{bad}");
    assert!(bad["payload"]["message"].is_string(), "{bad}");

    // An unknown message type: an error, the socket stays open.
    client.send(json!({ "type": "bogus" })).await;
    let bogus = client.recv().await;
    assert_eq!(bogus["type"], "error", "{bogus}");

    // The subscription: data messages in order.
    client.subscribe("s", EVENTS, json!({})).await;
    sync(&mut client, "s", &app, &user).await;
    let one = app.create_todo_titled(&user, "legacy one").await;
    let two = app.create_todo_titled(&user, "legacy two").await;
    app.delete_todo_ok(&user, &one).await;
    let events = next_events(&mut client, "s", 3).await;
    assert_eq!(
        summary(&events),
        vec![
            ("CREATED".to_owned(), one.clone()),
            ("CREATED".to_owned(), two.clone()),
            ("DELETED".to_owned(), one.clone()),
        ]
    );
    assert_eq!(events[1]["todo"]["title"], "legacy two");

    // Keep-alives keep coming.
    let ka = client
        .recv_raw_within(Duration::from_millis(2500))
        .await
        .expect("a periodic ka");
    assert_eq!(ka, json!({ "type": "ka" }));

    // After stop, nothing more for "s".
    client.complete("s").await;
    app.create_todo_titled(&user, "after stop").await;
    client.assert_silent(Duration::from_millis(500)).await;

    // connection_terminate closes normally.
    client.send(json!({ "type": "connection_terminate" })).await;
    let closed = client.closed().await;
    assert_eq!(closed.code, 1000, "{closed:?}");

    // A rejected init: connection_error, then 1011.
    let mut rejected = WsClient::connect(&app, LEGACY_WS).await;
    rejected
        .send(
            json!({ "type": "connection_init", "payload": { "Authorization": "Bearer garbage" } }),
        )
        .await;
    let closed = rejected.closed().await;
    assert_eq!(closed.code, 1011, "{closed:?}");
    assert_eq!(closed.before.len(), 1, "{closed:?}");
    assert_eq!(closed.before[0]["type"], "connection_error", "{closed:?}");
    assert!(closed.before[0]["payload"]["message"].is_string());
}
