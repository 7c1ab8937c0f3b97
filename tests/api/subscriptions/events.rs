//! What `todoEvents` delivers: every kind of change in order with its
//! snapshot, the same whether live or replayed, and nothing of other
//! users.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{
    EVENTS, assert_distinct_cursors, expect, next_events, subscribed, summary, sync, without_time,
};
use crate::support::{
    TestApp,
    ws_client::{WAIT, WsClient},
};

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

// --- Selection order ------------------------------------------------------

/// Each event's objects list their keys in the order of the selection
/// (GraphQL spec, "Serialized Map Ordering"), even where a field waits:
/// `owner` goes through the user DataLoader, which the event's own fields
/// do not, so unordered it would come last. Read from the raw text.
#[tokio::test]
async fn events_keep_the_selection_order() {
    const ORDERED: &str = "subscription { todoEvents {
        todo { owner { displayName email } title id } kind todoId } }";
    let app = TestApp::spawn().await;
    let user = app.register("ordered").await;
    let mut client = WsClient::ready(&app, &user).await;
    client.subscribe("o", ORDERED, json!({})).await;
    sync(&mut client, "o", &app, &user).await;
    app.create_todo(&user, json!({ "title": "Ordered" })).await;
    let text = loop {
        let text = client.recv_text_within(WAIT).await.expect("the event");
        if text.contains("\"Ordered\"") {
            break text;
        }
    };
    // The payload only: the message's own `"id"` comes before it.
    let text = &text[text.find("\"payload\"").expect("a payload")..];
    for keys in [
        &["\"todo\"", "\"kind\"", "\"todoId\""][..],
        &["\"owner\"", "\"title\"", "\"id\""],
        &["\"displayName\"", "\"email\""],
    ] {
        let positions: Vec<usize> = keys
            .iter()
            .map(|key| {
                text.find(key)
                    .unwrap_or_else(|| panic!("no {key} in {text}"))
            })
            .collect();
        assert!(
            positions.windows(2).all(|w| w[0] < w[1]),
            "{keys:?} out of selection order in {text}"
        );
    }
}
