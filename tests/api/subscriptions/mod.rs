//! Real-time: the `todoEvents` subscription over `graphql-transport-ws` and
//! legacy `graphql-ws`, through real WebSocket clients against running apps
//! on real PostgreSQL and Redis: event kinds and snapshots, owner
//! isolation, every close code, keep-alives, operations over the socket,
//! two instances sharing Redis, resumption, a Redis restart, slow
//! consumers, token expiry and shutdown.
//!
//! One file per concern: [`events`] (kinds, snapshots, order, owner
//! isolation), [`protocol`] (graphql-transport-ws and legacy graphql-ws),
//! [`instances`] (two instances, resumption, a Redis restart) and
//! [`termination`] (slow consumers, token expiry, shutdown, bad cursors);
//! the helpers they share are here.

mod events;
mod instances;
mod protocol;
mod shared;
mod termination;
mod trash;

use std::{collections::HashSet, time::Duration};

use chrono::Utc;
use serde_json::{Value, json};
use todoql::auth::token::{AUDIENCE, Claims, ISSUER};
use tokio::time::Instant;
use uuid::Uuid;

use crate::support::{
    TestApp, TestUser,
    ws_client::{Connect, TRANSPORT_WS, WAIT, WsClient},
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

/// `todoEvents` with each todo's description: large events, for the slow
/// consumer tests.
const BIG_EVENTS: &str = "subscription($after: String) { todoEvents(after: $after) {
    cursor kind todoId todo { id completed description } } }";

/// Creates `n` todos of `user` with a 10 KB description each (so a
/// toggle of all of them is about 1 MB of events), returning their ids.
async fn big_todos(app: &TestApp, user: &TestUser, n: usize) -> HashSet<String> {
    let description = "x".repeat(10_000);
    let mut ids = HashSet::new();
    for i in 0..n {
        let todo = app
            .create_todo(
                user,
                json!({ "title": format!("big {i}"), "description": description }),
            )
            .await;
        ids.insert(todo["id"].as_str().unwrap_or_default().to_owned());
    }
    ids
}

/// A graphql-transport-ws socket of `user` with a 4 KiB receive buffer
/// (so it falls behind as soon as it stops reading), subscribed to
/// [`BIG_EVENTS`] as `s`.
async fn slow_subscriber(app: &TestApp, user: &TestUser) -> WsClient {
    let mut client = WsClient::open(
        app,
        Connect {
            protocol: Some(TRANSPORT_WS),
            recv_buffer: Some(4096),
            ..Connect::default()
        },
    )
    .await;
    client.init(&user.access_token).await;
    client.subscribe("s", BIG_EVENTS, json!({})).await;
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
