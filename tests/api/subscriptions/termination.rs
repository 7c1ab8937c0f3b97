//! How subscriptions end: a slow consumer's overflow, token expiry, server
//! shutdown, and cursors refused at the start.

use std::{collections::HashSet, time::Duration};

use chrono::Utc;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::{
    BIG_EVENTS, EVENTS, assert_distinct_cursors, big_todos, next_event, next_events,
    slow_subscriber, subscribed, sync, token_for, user_uuid, without_time,
};
use crate::support::{
    TestApp, error_code,
    ws_client::{LEGACY_WS, TRANSPORT_WS, WsClient},
};

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
    let ids = big_todos(&app, &user, TODOS).await;
    let description = "x".repeat(10_000);
    let mut client = slow_subscriber(&app, &user).await;
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
        .subscribe("r", BIG_EVENTS, json!({ "after": resume_from }))
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
