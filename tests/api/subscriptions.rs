//! Real-time: the `todoEvents` subscription over `graphql-transport-ws` and
//! legacy `graphql-ws`, through real WebSocket clients against running apps
//! on real PostgreSQL and Redis: event kinds and snapshots, owner
//! isolation, every close code, keep-alives, operations over the socket,
//! two instances sharing Redis, resumption, a Redis restart, slow
//! consumers, token expiry and shutdown.

use std::{collections::HashSet, time::Duration};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use todoql::auth::token::{AUDIENCE, Claims, ISSUER};
use tokio::time::Instant;
use uuid::Uuid;

use crate::support::{
    OwnedRedis, TestApp, TestUser, error_code, shared_prefix,
    ws_client::{Connect, Incoming, LEGACY_WS, TRANSPORT_WS, WAIT, WsClient},
};

/// The subscription every test uses.
const EVENTS: &str = "subscription($after: String) { todoEvents(after: $after) {
    cursor kind todoId occurredAt todo { id title completed version } } }";

// --- Helpers ---------------------------------------------------------------

/// The next `todoEvents` event of subscription `id`.
async fn next_event(client: &mut WsClient, id: &str) -> Value {
    let data = client.next_data(id).await;
    let event = data["todoEvents"].clone();
    assert!(event.is_object(), "not an event: {data}");
    event
}

async fn next_events(client: &mut WsClient, id: &str, n: usize) -> Vec<Value> {
    let mut events = Vec::with_capacity(n);
    for _ in 0..n {
        events.push(next_event(client, id).await);
    }
    events
}

/// `(kind, todoId)` of each event.
fn summary(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_owned(),
                e["todoId"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn expect(kind: &str, ids: &[&String]) -> Vec<(String, String)> {
    ids.iter()
        .map(|id| (kind.to_owned(), (*id).clone()))
        .collect()
}

/// The events without `occurredAt`.
fn without_time(events: &[Value]) -> Vec<Value> {
    events
        .iter()
        .map(|e| {
            let mut e = e.clone();
            e.as_object_mut().unwrap().remove("occurredAt");
            e
        })
        .collect()
}

/// Asserts the cursors are non-empty and pairwise distinct.
fn assert_distinct_cursors(events: &[Value]) {
    let mut seen = HashSet::new();
    for e in events {
        let cursor = e["cursor"].as_str().unwrap();
        assert!(!cursor.is_empty(), "{e}");
        assert!(seen.insert(cursor.to_owned()), "duplicate cursor in {e}");
    }
}

/// Makes sure subscription `id` is live before a test relies on it: the
/// subscription's starting point is read on the server after `subscribe`
/// arrives, so a write racing it may come before it. Creates marker todos
/// (through `writer`) until one's event arrives, then deletes every marker
/// and consumes their `DELETED` events: afterwards every change reaches the
/// subscription and the user's todos are as before.
async fn sync(client: &mut WsClient, id: &str, writer: &TestApp, user: &TestUser) {
    let mut markers: Vec<String> = Vec::new();
    let mut seen = loop {
        assert!(markers.len() < 40, "subscription {id} never went live");
        markers.push(
            writer
                .create_todo_titled(user, &format!("sync marker {}", markers.len()))
                .await,
        );
        if let Some(event) = event_for(client, id, Duration::from_millis(500)).await {
            assert_eq!(event["kind"], "CREATED", "{event}");
            break event["todoId"].as_str().unwrap().to_owned();
        }
    };
    // Markers created after the first one seen must follow it.
    let last = markers.last().unwrap().clone();
    while seen != last {
        assert!(markers.contains(&seen), "not a marker: {seen}");
        let event = event_for(client, id, WAIT).await.expect("a marker event");
        assert_eq!(event["kind"], "CREATED", "{event}");
        seen = event["todoId"].as_str().unwrap().to_owned();
    }
    for marker in &markers {
        writer.delete_todo_ok(user, marker).await;
    }
    for marker in &markers {
        let event = event_for(client, id, WAIT).await.expect("a marker event");
        assert_eq!(event["kind"], "DELETED", "{event}");
        assert_eq!(event["todoId"], marker.as_str(), "{event}");
    }
}

/// The next event of subscription `id` within `wait`, skipping messages
/// of other operations.
async fn event_for(client: &mut WsClient, id: &str, wait: Duration) -> Option<Value> {
    let deadline = Instant::now() + wait;
    loop {
        let message = client
            .recv_within(deadline.saturating_duration_since(Instant::now()))
            .await?;
        if message["id"] != id {
            continue;
        }
        assert!(
            message["type"] == "next" || message["type"] == "data",
            "{message}"
        );
        assert!(message["payload"]["errors"].is_null(), "{message}");
        return Some(message["payload"]["data"]["todoEvents"].clone());
    }
}

/// A subscribed, live `todoEvents` subscription `id` for `user` on `app`.
async fn subscribed(app: &TestApp, user: &TestUser, id: &str) -> WsClient {
    let mut client = WsClient::ready(app, user).await;
    client.subscribe(id, EVENTS, json!({})).await;
    sync(&mut client, id, app, user).await;
    client
}

/// An access token with the given expiry, signed with the app's key.
fn token_for(app: &TestApp, sub: Uuid, exp: i64) -> String {
    let now = Utc::now().timestamp();
    app.state
        .auth
        .tokens()
        .sign(&Claims {
            sub,
            iat: now.min(exp),
            exp,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
        })
        .unwrap()
}

fn user_uuid(user: &TestUser) -> Uuid {
    Uuid::parse_str(&user.id).unwrap()
}

// --- 1. Event kinds, snapshots, order ----------------------------------------

#[tokio::test]
async fn every_change_arrives_in_order_with_its_snapshot() {
    let app = TestApp::spawn().await;
    let user = app.register("kinds").await;
    let mut client = subscribed(&app, &user, "s").await;

    // GraphQL mutations.
    let a = app.create_todo(&user, json!({ "title": "Alpha" })).await;
    let b = app.create_todo(&user, json!({ "title": "Beta" })).await;
    let c = app.create_todo(&user, json!({ "title": "Gamma" })).await;
    let [a_id, b_id, c_id] = [&a, &b, &c].map(|t| t["id"].as_str().unwrap().to_owned());
    // Nothing to change: no event.
    assert_eq!(app.toggle_all(&user, false).await, 0);
    let renamed = app.data_as(
        &user,
        "mutation($id: ID!) { updateTodo(id: $id, input: { title: \"Alpha 2\" }) { id title completed version } }",
        json!({ "id": a_id }),
    )
    .await["updateTodo"]
        .clone();
    assert_eq!(app.toggle_all(&user, true).await, 3);
    let reopened = app.data_as(
        &user,
        "mutation($id: ID!) { updateTodo(id: $id, input: { completed: false }) { id title completed version } }",
        json!({ "id": b_id }),
    )
    .await["updateTodo"]
        .clone();
    let cleared = app
        .data_as(&user, "mutation { clearCompletedTodos }", json!({}))
        .await;
    assert_eq!(cleared["clearCompletedTodos"], 2);
    app.delete_todo_ok(&user, &b_id).await;

    // The REST facade.
    let rest =
        |method: reqwest::Method, path: &str| app.request(method, path, Some(&user.access_token));
    let d: Value = rest(reqwest::Method::POST, "/todos")
        .json(&json!({ "title": "Delta" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let d_id = d["id"].as_str().unwrap().to_owned();
    let patched: Value = rest(reqwest::Method::PATCH, &format!("/todos/{d_id}"))
        .json(&json!({ "completed": true }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(patched["completed"], true, "{patched}");
    let status = rest(reqwest::Method::DELETE, &format!("/todos/{d_id}"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 204);
    let e: Value = rest(reqwest::Method::POST, "/todos")
        .json(&json!({ "title": "Epsilon" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let e_id = e["id"].as_str().unwrap().to_owned();
    let deleted_all = rest(reqwest::Method::DELETE, "/todos")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted_all.status(), 200);

    let events = next_events(&mut client, "s", 16).await;
    let snapshot = |t: &Value| json!({ "id": t["id"], "title": t["title"], "completed": t["completed"], "version": t["version"] });
    // CREATED ×3 with snapshots equal to what the mutation returned.
    for (event, todo) in events[..3].iter().zip([&a, &b, &c]) {
        assert_eq!(event["kind"], "CREATED", "{event}");
        assert_eq!(event["todoId"], todo["id"], "{event}");
        assert_eq!(event["todo"], snapshot(todo), "{event}");
    }
    // updateTodo.
    assert_eq!(events[3]["kind"], "UPDATED");
    assert_eq!(events[3]["todoId"], a_id.as_str());
    assert_eq!(events[3]["todo"], renamed);
    assert_eq!(events[3]["todo"]["version"], 2);
    // toggleAllTodos: one UPDATED per todo, each completed, one version on.
    let mut toggled = events[4..7].to_vec();
    toggled.sort_by_key(|e| e["todoId"].as_str().unwrap().to_owned());
    let mut expected_ids = vec![a_id.clone(), b_id.clone(), c_id.clone()];
    expected_ids.sort();
    for (event, id) in toggled.iter().zip(&expected_ids) {
        assert_eq!(event["kind"], "UPDATED", "{event}");
        assert_eq!(event["todoId"], id.as_str(), "{event}");
        assert_eq!(event["todo"]["completed"], true, "{event}");
        let before = if *id == a_id { 2 } else { 1 };
        assert_eq!(event["todo"]["version"], before + 1, "{event}");
    }
    // updateTodo completed: false.
    assert_eq!(events[7]["todo"], reopened);
    assert_eq!(events[7]["todo"]["completed"], false);
    // clearCompletedTodos: DELETED for A and C, without snapshot.
    let mut cleared_ids: Vec<String> = events[8..10]
        .iter()
        .map(|e| {
            assert_eq!(e["kind"], "DELETED", "{e}");
            assert!(e["todo"].is_null(), "{e}");
            e["todoId"].as_str().unwrap().to_owned()
        })
        .collect();
    cleared_ids.sort();
    let mut expected_cleared = vec![a_id.clone(), c_id.clone()];
    expected_cleared.sort();
    assert_eq!(cleared_ids, expected_cleared);
    // deleteTodo, then REST create, patch, delete, create, delete all.
    assert_eq!(
        summary(&events[10..]),
        vec![
            ("DELETED".to_owned(), b_id.clone()),
            ("CREATED".to_owned(), d_id.clone()),
            ("UPDATED".to_owned(), d_id.clone()),
            ("DELETED".to_owned(), d_id.clone()),
            ("CREATED".to_owned(), e_id.clone()),
            ("DELETED".to_owned(), e_id.clone()),
        ]
    );
    assert!(events[10]["todo"].is_null());
    assert_eq!(events[11]["todo"], snapshot(&d));
    assert_eq!(events[12]["todo"], snapshot(&patched));
    assert!(events[13]["todo"].is_null() && events[15]["todo"].is_null());
    assert_eq!(events[14]["todo"]["title"], "Epsilon");

    // Distinct cursors, non-decreasing times, and nothing more.
    assert_distinct_cursors(&events);
    let times: Vec<DateTime<Utc>> = events
        .iter()
        .map(|e| e["occurredAt"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    assert_eq!(client.barrier().await, Vec::<Value>::new());

    // Cursors order the events: after the first come exactly the others.
    client
        .subscribe("r", EVENTS, json!({ "after": events[0]["cursor"] }))
        .await;
    let replayed = next_events(&mut client, "r", 15).await;
    // (`occurredAt` is compared in `replayed_events_equal_the_live_ones`.)
    assert_eq!(without_time(&replayed), without_time(&events[1..]));
    assert_eq!(client.barrier().await, Vec::<Value>::new());
}

/// An event is the same event however it reaches the client: replayed from
/// PostgreSQL after a cursor, it must equal what was delivered live, field
/// for field, and its snapshot must equal the todo the mutation returned.
#[tokio::test]
async fn replayed_events_equal_the_live_ones() {
    let full = "subscription($after: String) { todoEvents(after: $after) {
        cursor kind todoId occurredAt todo { id title description completed
        dueAt completedAt createdAt updatedAt version } } }";
    let app = TestApp::spawn().await;
    let user = app.register("replay").await;
    let mut client = WsClient::ready(&app, &user).await;
    client.subscribe("live", full, json!({})).await;
    sync(&mut client, "live", &app, &user).await;
    let start = app.create_todo_titled(&user, "start").await;
    let created = app
        .create_todo(
            &user,
            json!({ "title": "full", "description": "every field",
                    "dueAt": "2030-01-02T03:04:05.123456Z" }),
        )
        .await;
    let updated = app.data_as(
        &user,
        &format!(
            "mutation($id: ID!) {{ updateTodo(id: $id, input: {{ completed: true }}) {{ {} }} }}",
            crate::support::TODO_FIELDS
        ),
        json!({ "id": created["id"] }),
    )
    .await["updateTodo"]
        .clone();
    app.delete_todo_ok(&user, created["id"].as_str().unwrap())
        .await;
    let live = next_events(&mut client, "live", 4).await;
    assert_eq!(live[0]["todoId"], start.as_str());
    assert_eq!(live[1]["todo"], created, "CREATED snapshot");
    assert_eq!(live[2]["todo"], updated, "UPDATED snapshot");
    assert!(live[3]["todo"].is_null());

    client
        .subscribe("replay", full, json!({ "after": live[0]["cursor"] }))
        .await;
    let replayed = next_events(&mut client, "replay", 3).await;
    for (live, replayed) in live[1..].iter().zip(&replayed) {
        assert_eq!(replayed, live, "replayed vs live");
    }
}

// --- 2. Owner isolation ------------------------------------------------------

#[tokio::test]
async fn other_users_changes_never_arrive() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let mut alice_ws = subscribed(&app, &alice, "a").await;
    let mut bob_ws = subscribed(&app, &bob, "b").await;

    let b1 = app.create_todo_titled(&bob, "bob 1").await;
    let b2 = app.create_todo_titled(&bob, "bob 2").await;
    assert_eq!(app.toggle_all(&bob, true).await, 2);
    app.delete_todo_ok(&bob, &b1).await;
    let a1 = app.create_todo_titled(&alice, "alice 1").await;

    let alice_events = next_events(&mut alice_ws, "a", 1).await;
    assert_eq!(summary(&alice_events), expect("CREATED", &[&a1]));
    assert_eq!(alice_events[0]["todo"]["title"], "alice 1");
    assert_eq!(alice_ws.barrier().await, Vec::<Value>::new());
    alice_ws.assert_silent(Duration::from_millis(300)).await;

    let bob_events = next_events(&mut bob_ws, "b", 5).await;
    let kinds: Vec<(String, String)> = summary(&bob_events);
    assert_eq!(kinds[..2], expect("CREATED", &[&b1, &b2])[..]);
    let mut toggled: Vec<String> = kinds[2..4].iter().map(|(_, id)| id.clone()).collect();
    toggled.sort();
    let mut both = vec![b1.clone(), b2.clone()];
    both.sort();
    assert_eq!(toggled, both);
    assert_eq!(kinds[4], ("DELETED".to_owned(), b1.clone()));
    assert_eq!(bob_ws.barrier().await, Vec::<Value>::new());
}

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

// --- 5. Two instances --------------------------------------------------------

#[tokio::test]
async fn events_cross_instances_through_redis() {
    assert!(
        crate::support::redis_url().is_some(),
        "TEST_REDIS_URL is not set: run ./scripts/test.sh"
    );
    let prefix = shared_prefix();
    let extra = [("REDIS_KEY_PREFIX", prefix.as_str())];
    let one = TestApp::spawn_with(&extra).await;
    let two = TestApp::spawn_on(one.database_url.clone(), &extra).await;
    let user = two.register("cross").await;

    let mut client = WsClient::ready(&one, &user).await;
    client.subscribe("s", EVENTS, json!({})).await;
    sync(&mut client, "s", &two, &user).await;

    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            two.create_todo_titled(&user, &format!("from two {i}"))
                .await,
        );
    }
    assert_eq!(two.toggle_all(&user, true).await, 5);
    two.delete_todo_ok(&user, &ids[2]).await;

    let events = next_events(&mut client, "s", 11).await;
    let kinds = summary(&events);
    let refs: Vec<&String> = ids.iter().collect();
    assert_eq!(kinds[..5], expect("CREATED", &refs)[..]);
    let mut toggled: Vec<String> = kinds[5..10].iter().map(|(_, id)| id.clone()).collect();
    toggled.sort();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(toggled, sorted);
    assert!(events[5..10].iter().all(|e| e["todo"]["completed"] == true));
    assert_eq!(kinds[10], ("DELETED".to_owned(), ids[2].clone()));
    assert_distinct_cursors(&events);
    // Each exactly once (the local and Redis copies are merged).
    client.assert_silent(Duration::from_millis(500)).await;

    // An instance on another Redis prefix is not heard live; the next
    // event that is heard reveals the gap, which is filled from PostgreSQL.
    let three = TestApp::spawn_on(one.database_url.clone(), &[]).await;
    let unheard = three.create_todo_titled(&user, "from three").await;
    client.assert_silent(Duration::from_millis(500)).await;
    let heard = two.create_todo_titled(&user, "from two again").await;
    let events = next_events(&mut client, "s", 2).await;
    assert_eq!(summary(&events), expect("CREATED", &[&unheard, &heard]));
    client.assert_silent(Duration::from_millis(300)).await;
}

/// Concurrent writers on two instances: every event arrives once, and the
/// live order is the commit (cursor) order that a replay reproduces.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_on_two_instances_arrive_once_in_commit_order() {
    const WRITES: usize = 40;
    let prefix = shared_prefix();
    let extra = [("REDIS_KEY_PREFIX", prefix.as_str())];
    let one = TestApp::spawn_with(&extra).await;
    let two = TestApp::spawn_on(one.database_url.clone(), &extra).await;
    let user = one.register("concurrent").await;
    let mut client = WsClient::ready(&one, &user).await;
    client.subscribe("s", EVENTS, json!({})).await;
    sync(&mut client, "s", &two, &user).await;
    let anchor = one.create_todo_titled(&user, "anchor").await;
    let anchor_event = next_event(&mut client, "s").await;
    assert_eq!(anchor_event["todoId"], anchor.as_str());

    let writes = (0..WRITES).map(|i| {
        let app = if i % 2 == 0 { &one } else { &two };
        let user = &user;
        async move {
            app.create_todo_titled(user, &format!("concurrent {i}"))
                .await
        }
    });
    let created: HashSet<String> = futures_util::future::join_all(writes)
        .await
        .into_iter()
        .collect();
    assert_eq!(created.len(), WRITES);

    let live = next_events(&mut client, "s", WRITES).await;
    let live_ids: HashSet<String> = summary(&live)
        .into_iter()
        .map(|(kind, id)| {
            assert_eq!(kind, "CREATED");
            id
        })
        .collect();
    assert_eq!(live_ids, created);
    assert_distinct_cursors(&live);
    client.assert_silent(Duration::from_millis(500)).await;

    client
        .subscribe("replay", EVENTS, json!({ "after": anchor_event["cursor"] }))
        .await;
    let replayed = next_events(&mut client, "replay", WRITES).await;
    assert_eq!(without_time(&replayed), without_time(&live));
}

// --- 6. Resumption -----------------------------------------------------------

#[tokio::test]
async fn resuming_after_a_cursor_replays_exactly_the_missed_events() {
    let app = TestApp::spawn().await;
    let user = app.register("resume").await;
    let mut client = subscribed(&app, &user, "s").await;
    let first = app.create_todo_titled(&user, "first").await;
    let second = app.create_todo_titled(&user, "second").await;
    let seen = next_events(&mut client, "s", 2).await;
    assert_eq!(summary(&seen), expect("CREATED", &[&first, &second]));
    client.close().await;

    let missed_a = app.create_todo_titled(&user, "missed a").await;
    let missed_b = app.create_todo_titled(&user, "missed b").await;
    app.delete_todo_ok(&user, &first).await;

    let mut client = WsClient::ready(&app, &user).await;
    client
        .subscribe("s", EVENTS, json!({ "after": seen[1]["cursor"] }))
        .await;
    let replayed = next_events(&mut client, "s", 3).await;
    assert_eq!(
        summary(&replayed),
        vec![
            ("CREATED".to_owned(), missed_a.clone()),
            ("CREATED".to_owned(), missed_b.clone()),
            ("DELETED".to_owned(), first.clone()),
        ]
    );
    assert_eq!(replayed[0]["todo"]["title"], "missed a");
    // Then live events, with no duplicate of the replayed ones.
    let live = app.create_todo_titled(&user, "live").await;
    let next = next_events(&mut client, "s", 1).await;
    assert_eq!(summary(&next), expect("CREATED", &[&live]));
    let mut all = seen.clone();
    all.extend(replayed);
    all.extend(next);
    assert_distinct_cursors(&all);
    assert_eq!(client.barrier().await, Vec::<Value>::new());
    client.assert_silent(Duration::from_millis(300)).await;
}

// --- 7. Redis restart --------------------------------------------------------

#[tokio::test]
async fn events_survive_a_redis_restart_exactly_once_in_order() {
    let mut redis = OwnedRedis::start().await;
    let url = redis.url();
    let prefix = shared_prefix();
    let extra = [
        ("REDIS_URL", url.as_str()),
        ("REDIS_KEY_PREFIX", prefix.as_str()),
    ];
    let one = TestApp::spawn_with(&extra).await;
    let two = TestApp::spawn_on(one.database_url.clone(), &extra).await;
    let three = TestApp::spawn_on(one.database_url.clone(), &[("REDIS_URL", url.as_str())]).await;
    let user = two.register("outage").await;
    let mut client = WsClient::ready(&one, &user).await;
    client.subscribe("s", EVENTS, json!({})).await;
    sync(&mut client, "s", &two, &user).await;

    let mut expected = Vec::new();
    for i in 0..3 {
        let id = two.create_todo_titled(&user, &format!("before {i}")).await;
        expected.push(("CREATED".to_owned(), id));
    }
    let mut events = next_events(&mut client, "s", 3).await;
    assert_eq!(summary(&events), expected);

    redis.stop().await;
    for i in 0..3 {
        let id = two.create_todo_titled(&user, &format!("during {i}")).await;
        expected.push(("CREATED".to_owned(), id));
    }
    let (_, last_during) = expected.last().unwrap().clone();
    two.delete_todo_ok(&user, &last_during).await;
    expected.push(("DELETED".to_owned(), last_during));
    // A last change whose message is lost for good (published under
    // another prefix, as if its publisher had died): only PostgreSQL has it.
    let lost = three.create_todo_titled(&user, "lost message").await;
    expected.push(("CREATED".to_owned(), lost));
    // Redis carried the events: without it, instance one hears nothing yet.
    client.assert_silent(Duration::from_millis(300)).await;
    redis.restart().await;
    // Once Redis is back the missed events arrive, with no further write
    // to reveal the gap (reconnection backs off up to 5 s: allow for it).
    events.extend(events_within(&mut client, "s", 5, Duration::from_secs(20)).await);
    assert_eq!(summary(&events), expected);

    for i in 0..3 {
        let id = two.create_todo_titled(&user, &format!("after {i}")).await;
        expected.push(("CREATED".to_owned(), id));
    }
    events.extend(events_within(&mut client, "s", 3, Duration::from_secs(20)).await);
    assert_eq!(summary(&events), expected);
    assert_distinct_cursors(&events);
    // No duplicates arrive late (the publisher's retried messages included).
    client.assert_silent(Duration::from_millis(1500)).await;
}

/// `n` events of subscription `id` within `wait`.
async fn events_within(client: &mut WsClient, id: &str, n: usize, wait: Duration) -> Vec<Value> {
    let deadline = Instant::now() + wait;
    let mut events = Vec::new();
    while events.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(message) = client.recv_within(left).await else {
            panic!(
                "only {} of {n} events within {wait:?}: {:?}",
                events.len(),
                summary(&events)
            );
        };
        assert_eq!(message["type"], "next", "{message}");
        assert_eq!(message["id"], id, "{message}");
        assert!(message["payload"]["errors"].is_null(), "{message}");
        events.push(message["payload"]["data"]["todoEvents"].clone());
    }
    events
}

// --- 8. Slow consumers ---------------------------------------------------------

/// A subscriber that stops reading must not hold the server's memory or
/// stall others: its buffer (`SUBSCRIPTION_BUFFER` transactions) overflows
/// and it is told where to resume. Kernel socket buffers are large, so the
/// client shrinks its receive buffer and the events are big: each carries a
/// 10 KB description, each toggle is one transaction of 100 events (about
/// 1 MB), and 20 toggles (20 MB) exceed what loopback buffers, the
/// socket's 64-message outbox and a 2-transaction channel can hold.
#[tokio::test]
async fn a_slow_consumer_ends_with_a_resumable_error() {
    const TODOS: usize = 100;
    const ROUNDS: usize = 20;
    let app = TestApp::spawn_with(&[("SUBSCRIPTION_BUFFER", "2")]).await;
    let user = app.register("slow").await;
    let description = "x".repeat(10_000);
    let mut ids = HashSet::new();
    for i in 0..TODOS {
        let todo = app
            .create_todo(
                &user,
                json!({ "title": format!("big {i}"), "description": description }),
            )
            .await;
        ids.insert(todo["id"].as_str().unwrap().to_owned());
    }
    let big_events = "subscription($after: String) { todoEvents(after: $after) {
        cursor kind todoId todo { id completed description } } }";
    let mut client = WsClient::open(
        &app,
        Connect {
            protocol: Some(TRANSPORT_WS),
            recv_buffer: Some(4096),
            ..Connect::default()
        },
    )
    .await;
    client.init(&user.access_token).await;
    client.subscribe("s", big_events, json!({})).await;
    sync(&mut client, "s", &app, &user).await;

    // Stop reading while the events are produced.
    for round in 0..ROUNDS {
        let changed = app.toggle_all(&user, round % 2 == 0).await;
        assert_eq!(changed, TODOS as i64);
    }

    // What had been queued arrives, then SLOW_CONSUMER, then complete.
    let mut received: Vec<Value> = Vec::new();
    let resume_from = loop {
        assert!(
            received.len() < TODOS * ROUNDS,
            "all {} events arrived without SLOW_CONSUMER: either the server does not \
             report lagging subscribers, or this machine's socket buffers absorbed \
             every event (then raise ROUNDS)",
            received.len()
        );
        let message = client.recv().await;
        assert_eq!(message["id"], "s", "{message}");
        assert_eq!(message["type"], "next", "{message}");
        if message["payload"]["errors"].is_null() {
            received.push(message["payload"]["data"]["todoEvents"].clone());
            continue;
        }
        assert_eq!(
            error_code(&message["payload"]),
            "SLOW_CONSUMER",
            "{message}"
        );
        let cursor = message["payload"]["errors"][0]["extensions"]["cursor"].clone();
        assert!(cursor.is_string(), "{message}");
        break cursor;
    };
    client.expect_complete("s").await;
    if let Some(last) = received.last() {
        assert_eq!(
            last["cursor"], resume_from,
            "resume after the last delivered event"
        );
    }

    // Resuming from the cursor delivers the rest, without loss or duplicate.
    client
        .subscribe("r", big_events, json!({ "after": resume_from }))
        .await;
    while received.len() < TODOS * ROUNDS {
        received.push(next_event(&mut client, "r").await);
    }
    assert_eq!(client.barrier().await, Vec::<Value>::new());
    assert_distinct_cursors(&received);
    for (round, batch) in received.chunks(TODOS).enumerate() {
        let completed = round % 2 == 0;
        let batch_ids: HashSet<String> = batch
            .iter()
            .map(|e| {
                assert_eq!(e["kind"], "UPDATED", "round {round}");
                assert_eq!(e["todo"]["completed"], completed, "round {round}");
                assert_eq!(e["todo"]["description"], description.as_str());
                e["todoId"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(batch_ids, ids, "round {round}");
    }
}

// --- 9. Token expiry -----------------------------------------------------------

#[tokio::test]
async fn token_expiry_ends_operations_and_closes_with_4403() {
    let app = TestApp::spawn().await;
    let user = app.register("expiry").await;
    let token = token_for(&app, user_uuid(&user), Utc::now().timestamp() + 2);
    let mut client = WsClient::connect(&app, TRANSPORT_WS).await;
    let started = Instant::now();
    client.init(&token).await;
    client.subscribe("a", EVENTS, json!({})).await;
    client.subscribe("b", EVENTS, json!({})).await;
    let closed = client.closed_within(Duration::from_secs(6)).await;
    let waited = started.elapsed();
    assert_eq!(closed.code, 4403, "{closed:?}");
    assert!(
        waited >= Duration::from_millis(900),
        "closed after {waited:?}"
    );
    let mut ids: Vec<&str> = closed
        .before
        .iter()
        .filter(|m| !crate::support::ws_client::is_keepalive(m))
        .map(|m| {
            assert_eq!(m["type"], "error", "{m}");
            assert_eq!(
                m["payload"][0]["extensions"]["code"], "UNAUTHENTICATED",
                "{m}"
            );
            m["id"].as_str().unwrap()
        })
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, ["a", "b"], "{closed:?}");
}

// --- 10. Shutdown ----------------------------------------------------------------

#[tokio::test]
async fn server_shutdown_closes_sockets_with_1012() {
    let app = TestApp::spawn().await;
    let user = app.register("shutdown").await;
    let mut client = subscribed(&app, &user, "s").await;
    let mut legacy = WsClient::connect(&app, LEGACY_WS).await;
    legacy.init(&user.access_token).await;
    let stopping = tokio::spawn(app.stop());
    let closed = client.closed().await;
    assert_eq!(closed.code, 1012, "{closed:?}");
    assert!(
        closed
            .before
            .iter()
            .all(crate::support::ws_client::is_keepalive),
        "{closed:?}"
    );
    let closed = legacy.closed().await;
    assert_eq!(closed.code, 1012, "{closed:?}");
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .expect("the server stops")
        .unwrap()
        .unwrap();
}

// --- 11. Bad cursors ---------------------------------------------------------------

#[tokio::test]
async fn malformed_and_expired_cursors_are_refused() {
    let app = TestApp::spawn().await;
    let user = app.register("cursors").await;
    let mut client = subscribed(&app, &user, "s").await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(app.create_todo_titled(&user, &format!("c{i}")).await);
    }
    let events = next_events(&mut client, "s", 3).await;

    for bad in ["not a cursor!", "ZXYx", "ZXYxOi0x", "%%%"] {
        client
            .subscribe("bad", EVENTS, json!({ "after": bad }))
            .await;
        let message = client.recv().await;
        assert_eq!(message["type"], "next", "{message}");
        assert_eq!(message["id"], "bad", "{message}");
        assert_eq!(
            error_code(&message["payload"]),
            "BAD_USER_INPUT",
            "{message}"
        );
        assert_eq!(
            message["payload"]["errors"][0]["extensions"]["field"], "after",
            "{message}"
        );
        client.expect_complete("bad").await;
    }

    // Drop every event before the third: the first cursor is too old.
    app.sql(&format!(
        "DELETE FROM todo_events WHERE user_id = '{user}' AND seq < (
            SELECT seq FROM todo_events WHERE user_id = '{user}'
              AND todo_id = '{third}' AND kind = 'CREATED')",
        user = user.id,
        third = ids[2],
    ))
    .await;
    client
        .subscribe("old", EVENTS, json!({ "after": events[0]["cursor"] }))
        .await;
    let message = client.recv().await;
    assert_eq!(message["type"], "next", "{message}");
    assert_eq!(message["id"], "old", "{message}");
    assert_eq!(
        error_code(&message["payload"]),
        "CURSOR_EXPIRED",
        "{message}"
    );
    client.expect_complete("old").await;

    // The second cursor is just recent enough.
    client
        .subscribe("ok", EVENTS, json!({ "after": events[1]["cursor"] }))
        .await;
    let replayed = next_events(&mut client, "ok", 1).await;
    assert_eq!(without_time(&replayed), without_time(&events[2..]));
    assert_eq!(client.barrier().await, Vec::<Value>::new());
}
