//! One cursor for pulling and pushing: a client pulls to the end, goes
//! away while changes happen, then opens the `changes` subscription with
//! the page's cursor and receives exactly what it missed, then live
//! changes; an event's cursor resumes the pull feed; the cursor of an
//! empty feed (a fresh user) is a valid `after` for both.

use serde_json::{Value, json};

use super::{SUBSCRIPTION, cursor_of, page, pull_all, summary};
use crate::support::{TestApp, TestUser, ws_client::WsClient};

/// The next `changes` event of subscription `id`.
async fn next_change(client: &mut WsClient, id: &str) -> Value {
    let data = client.next_data(id).await;
    let change = data["changes"].clone();
    assert!(change.is_object(), "not a change: {data}");
    change
}

/// Opens `changes(after: cursor)` for `user`.
async fn subscribe(app: &TestApp, user: &TestUser, cursor: &str) -> WsClient {
    let mut client = WsClient::ready(app, user).await;
    client
        .subscribe("feed", SUBSCRIPTION, json!({ "after": cursor }))
        .await;
    client
}

#[tokio::test]
async fn a_pull_cursor_resumes_the_subscription_with_no_gap_and_no_duplicate() {
    let app = TestApp::spawn().await;
    let user = app.register("traveller").await;
    for i in 0..3 {
        app.create_todo_titled(&user, &format!("before {i}")).await;
    }
    let (_, cursor) = pull_all(&app, &user, None).await;

    // Offline: changes happen with no subscription open.
    let kept = app.create_todo_titled(&user, "while away").await;
    app.update_todo_ok(&user, &kept, json!({ "title": "renamed while away" }))
        .await;
    let gone = app.create_todo_titled(&user, "short-lived").await;
    app.delete_todo_ok(&user, &gone).await;
    let missed = page(&app, &user, Some(&cursor), None).await;
    let missed = missed["changes"].as_array().unwrap().clone();
    assert_eq!(missed.len(), 4, "{missed:?}");

    // Back online: the subscription replays exactly what was missed, in
    // the pull feed's shape, then carries on live.
    let mut client = subscribe(&app, &user, &cursor).await;
    let mut replayed = Vec::new();
    for _ in 0..4 {
        replayed.push(next_change(&mut client, "feed").await);
    }
    assert_eq!(replayed, missed);
    let live = app.create_todo_titled(&user, "live").await;
    let event = next_change(&mut client, "feed").await;
    assert_eq!(event["kind"], "CREATED", "{event}");
    assert_eq!(event["todoId"], live.as_str(), "{event}");
    assert_eq!(client.barrier().await, Vec::<Value>::new());

    // And back: the live event's cursor resumes the pull feed after it.
    app.update_todo_ok(&user, &live, json!({ "completed": true }))
        .await;
    let next = next_change(&mut client, "feed").await;
    let after_live = page(&app, &user, event["cursor"].as_str(), None).await;
    assert_eq!(after_live["changes"], json!([next]), "{after_live}");
    assert_eq!(after_live["cursor"], next["cursor"], "{after_live}");

    // todoEvents takes the same cursor.
    client
        .subscribe(
            "plain",
            "subscription($after: String) { todoEvents(after: $after) { kind todoId } }",
            json!({ "after": cursor }),
        )
        .await;
    let mut plain = Vec::new();
    for _ in 0..6 {
        let data = client.next_data("plain").await;
        plain.push(data["todoEvents"].clone());
    }
    let expected: Vec<(String, String)> = summary(&missed)
        .into_iter()
        .chain([
            ("CREATED".to_owned(), live.clone()),
            ("UPDATED".to_owned(), live.clone()),
        ])
        .collect();
    let got: Vec<(String, String)> = plain
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_owned(),
                e["todoId"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(got, expected);
    client.close().await;
}

#[tokio::test]
async fn the_cursor_of_an_empty_feed_opens_a_subscription_that_misses_nothing() {
    let app = TestApp::spawn().await;
    let user = app.register("newcomer").await;

    // A fresh user has no changes: the cursor is the user's position, 0.
    let empty = page(&app, &user, None, None).await;
    assert_eq!(empty["changes"], json!([]), "{empty}");
    assert_eq!(empty["hasMore"], false, "{empty}");
    assert_eq!(empty["cursor"], cursor_of(0).as_str(), "{empty}");
    let cursor = empty["cursor"].as_str().unwrap().to_owned();
    // Used as `after` it is valid for the pull feed too.
    let again = page(&app, &user, Some(&cursor), None).await;
    assert_eq!(again, empty);

    // A change made between the pull and the subscription is not lost.
    let first = app.create_todo_titled(&user, "first").await;
    let mut client = subscribe(&app, &user, &cursor).await;
    let event = next_change(&mut client, "feed").await;
    assert_eq!(event["todoId"], first.as_str(), "{event}");
    let second = app.create_todo_titled(&user, "second").await;
    let event = next_change(&mut client, "feed").await;
    assert_eq!(event["todoId"], second.as_str(), "{event}");
    assert_eq!(client.barrier().await, Vec::<Value>::new());

    // A user whose changes were all pruned: the cursor is still the
    // current position, not 0 (which would be expired).
    app.sql(&format!(
        "UPDATE todo_events SET occurred_at = now() - interval '8 days' WHERE user_id = '{}'",
        user.id
    ))
    .await;
    app.state.events.prune().await.unwrap();
    let pruned = page(&app, &user, None, None).await;
    assert_eq!(pruned["changes"], json!([]), "{pruned}");
    assert_eq!(pruned["cursor"], event["cursor"], "{pruned}");
    let mut client = subscribe(&app, &user, pruned["cursor"].as_str().unwrap()).await;
    let third = app.create_todo_titled(&user, "third").await;
    let event = next_change(&mut client, "feed").await;
    assert_eq!(event["todoId"], third.as_str(), "{event}");
}
