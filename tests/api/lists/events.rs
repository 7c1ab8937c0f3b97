//! What `changes` and `todoEvents` deliver over `graphql-transport-ws`:
//! todo and list events in one order under one cursor, the default list
//! only on plain `todoEvents` and every list with `allLists`, moves in and
//! out of the default list, cursors of either subscription resuming the
//! other, and no event for a new account's default list.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{
    CHANGES, Feed, PLAIN_EVENTS, TODO_EVENTS, fence_all, list_event, summary, todo_event,
    without_time,
};
use crate::support::TestApp;

fn assert_distinct_cursors(events: &[Value]) {
    let mut seen = HashSet::new();
    for e in events {
        let cursor = e["cursor"].as_str().unwrap();
        assert!(!cursor.is_empty(), "{e}");
        assert!(seen.insert(cursor.to_owned()), "duplicate cursor in {e}");
    }
}

/// The events about the todos and lists in `ids` (what the fences and
/// syncs add is left out).
fn about(events: &[Value], ids: &[&str]) -> Vec<Value> {
    events
        .iter()
        .filter(|e| {
            let id = if e["__typename"] == "ListEvent" {
                &e["listId"]
            } else {
                &e["todoId"]
            };
            ids.iter().any(|i| id == i)
        })
        .cloned()
        .collect()
}

#[tokio::test]
async fn changes_carries_todo_and_list_events_in_one_order() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let default = app.default_list_id(&alice).await;
    let mut feed = Feed::changes(&app, &alice).await;

    let list = app.create_list_id(&alice, "Errands").await;
    let in_list = app.create_todo_in(&alice, &list, "in the list").await;
    let in_default = app.create_todo_titled(&alice, "in the default list").await;
    app.update_list(&alice, &list, json!({ "name": "Chores" }))
        .await;
    app.update_todo_ok(&alice, &in_list, json!({ "completed": true }))
        .await;
    app.move_todo_ok(&alice, &in_default, json!({ "listId": list }))
        .await;
    app.update_list(&alice, &list, json!({ "position": "Zz" }))
        .await;
    app.delete_list(&alice, &list).await;

    let events = feed.fence(&app, &alice).await;
    let expected_head = [
        list_event("ACCESS_GRANTED", &list),
        todo_event("CREATED", &in_list),
        todo_event("CREATED", &in_default),
        list_event("UPDATED", &list),
        todo_event("UPDATED", &in_list),
        todo_event("UPDATED", &in_default),
        // Moved in the caller's sidebar: its own feed hears of it.
        list_event("UPDATED", &list),
    ];
    let got = summary(&events);
    assert_eq!(got[..expected_head.len()], expected_head[..], "{events:#?}");
    // contract-silent: deleting a list may first report its todos DELETED;
    // ACCESS_REVOKED comes last, and nothing of the list after it.
    let tail = &got[expected_head.len()..];
    assert_eq!(
        tail.last(),
        Some(&list_event("ACCESS_REVOKED", &list)),
        "{events:#?}"
    );
    for entry in &tail[..tail.len() - 1] {
        assert_eq!(entry.0, "DELETED", "{events:#?}");
        assert!([&in_list, &in_default].contains(&&entry.1), "{events:#?}");
    }

    // Each event as the contract describes it.
    let granted = &events[0];
    assert_eq!(granted["__typename"], "ListEvent");
    assert_eq!(
        granted["list"],
        json!({ "id": list, "name": "Errands", "role": "OWNER", "isDefault": false, "version": 1 })
    );
    let created = &events[1];
    assert_eq!(created["__typename"], "TodoEvent");
    assert_eq!(created["listId"], list.as_str());
    assert_eq!(created["todo"]["title"], "in the list");
    assert_eq!(events[2]["listId"], default.as_str());
    assert_eq!(events[3]["list"]["name"], "Chores");
    assert_eq!(events[3]["list"]["version"], 2);
    assert_eq!(events[4]["todo"]["completed"], true);
    assert_eq!(
        events[5]["listId"],
        list.as_str(),
        "a move reports the target list"
    );
    assert_eq!(
        events[6]["list"]["version"], 2,
        "a position is no new version"
    );
    let revoked = events.last().unwrap();
    assert_eq!(revoked["listId"], list.as_str());
    assert!(revoked["list"].is_null(), "{revoked}");
    assert_distinct_cursors(&events);
    let times: Vec<DateTime<Utc>> = events
        .iter()
        .map(|e| e["occurredAt"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");

    // Replayed after the first cursor: the same events, field for field.
    let mut replay = Feed::open(
        &app,
        &alice,
        CHANGES,
        json!({ "after": events[0]["cursor"] }),
    )
    .await;
    let replayed = replay.fence(&app, &alice).await;
    let ids = [list.as_str(), &in_list, &in_default];
    assert_eq!(
        without_time(&about(&replayed, &ids)),
        without_time(&events[1..])
    );
}

#[tokio::test]
async fn plain_todo_events_carry_the_default_list_and_all_lists_every_list() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let default = app.default_list_id(&alice).await;
    let mut feeds = Feed::open_all(
        &app,
        &alice,
        &[
            (CHANGES, json!({})),
            (PLAIN_EVENTS, json!({})),
            (TODO_EVENTS, json!({ "all": true })),
            (TODO_EVENTS, json!({ "all": false })),
        ],
    )
    .await;

    let list = app.create_list_id(&alice, "Side").await;
    let d1 = app.create_todo_titled(&alice, "d1").await;
    let l1 = app.create_todo_in(&alice, &list, "l1").await;
    app.update_todo_ok(&alice, &l1, json!({ "title": "l1 renamed" }))
        .await;
    let d2 = app.create_todo_titled(&alice, "d2").await;
    app.update_todo_ok(&alice, &d1, json!({ "completed": true }))
        .await;
    app.delete_todo_ok(&alice, &l1).await;
    app.toggle_all(&alice, true).await;

    let [changes, plain, all, not_all] = feeds.as_mut_slice() else {
        unreachable!()
    };
    let got = fence_all(&app, &alice, &mut [changes, plain, all, not_all]).await;
    let default_only = vec![
        todo_event("CREATED", &d1),
        todo_event("CREATED", &d2),
        todo_event("UPDATED", &d1),
        todo_event("UPDATED", &d2),
    ];
    let every_list = vec![
        todo_event("CREATED", &d1),
        todo_event("CREATED", &l1),
        todo_event("UPDATED", &l1),
        todo_event("CREATED", &d2),
        todo_event("UPDATED", &d1),
        todo_event("DELETED", &l1),
        todo_event("UPDATED", &d2),
    ];
    let mut with_list = vec![list_event("ACCESS_GRANTED", &list)];
    with_list.extend(every_list.clone());
    assert_eq!(summary(&got[0]), with_list, "changes");
    assert_eq!(summary(&got[1]), default_only, "plain todoEvents");
    assert_eq!(summary(&got[2]), every_list, "todoEvents(allLists: true)");
    assert_eq!(
        summary(&got[3]),
        default_only,
        "todoEvents(allLists: false)"
    );
    for event in &got[2] {
        let expected = if event["todoId"] == l1.as_str() {
            &list
        } else {
            &default
        };
        assert_eq!(event["listId"], expected.as_str(), "{event}");
        assert_eq!(event["__typename"], "TodoEvent");
    }
    // The plain stream's snapshots are the todos as a list-unaware client
    // knows them.
    assert_eq!(got[1][0]["todo"]["title"], "d1");
    assert_eq!(got[1][2]["todo"]["completed"], true);
}

#[tokio::test]
async fn a_move_out_of_the_default_list_is_deleted_on_plain_todo_events() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let default = app.default_list_id(&alice).await;
    let list = app.create_list_id(&alice, "Elsewhere").await;
    app.invite_and_accept(&alice, &list, &bob, "EDITOR").await;
    let mut alices = Feed::open_all(
        &app,
        &alice,
        &[
            (PLAIN_EVENTS, json!({})),
            (TODO_EVENTS, json!({ "all": true })),
        ],
    )
    .await;
    let mut bobs = Feed::changes(&app, &bob).await;

    let todo = app.create_todo_titled(&alice, "traveller").await;
    app.move_todo_ok(&alice, &todo, json!({ "listId": list }))
        .await;
    app.update_todo_ok(&bob, &todo, json!({ "title": "traveller, edited" }))
        .await;
    app.move_todo_ok(&alice, &todo, json!({ "listId": default }))
        .await;

    let [plain, all] = alices.as_mut_slice() else {
        unreachable!()
    };
    let got = fence_all(&app, &alice, &mut [plain, all]).await;
    // Plain: it leaves the default list (DELETED), and comes back (CREATED).
    assert_eq!(
        summary(&got[0]),
        [
            todo_event("CREATED", &todo),
            todo_event("DELETED", &todo),
            todo_event("CREATED", &todo),
        ]
    );
    assert!(got[0][1]["todo"].is_null(), "{:?}", got[0]);
    assert_eq!(got[0][2]["todo"]["title"], "traveller, edited");
    // All lists: Alice sees both lists, so every move is an UPDATED.
    assert_eq!(
        summary(&got[1]),
        [
            todo_event("CREATED", &todo),
            todo_event("UPDATED", &todo),
            todo_event("UPDATED", &todo),
            todo_event("UPDATED", &todo),
        ]
    );
    let lists: Vec<&Value> = got[1].iter().map(|e| &e["listId"]).collect();
    assert_eq!(
        lists,
        [&json!(default), &json!(list), &json!(list), &json!(default)]
    );
    // Bob sees only the other list: the todo appears, changes, disappears.
    let events = bobs.fence(&app, &bob).await;
    assert_eq!(
        summary(&events),
        [
            todo_event("CREATED", &todo),
            todo_event("UPDATED", &todo),
            todo_event("DELETED", &todo),
        ]
    );
    assert_eq!(events[0]["todo"]["title"], "traveller");
    assert!(events[2]["todo"].is_null());
    // contract-silent: a DELETED for a todo that left a list names the list
    // it left (the only one this member knows it in).
    for event in &events {
        assert_eq!(event["listId"], list.as_str(), "{event}");
    }
}

#[tokio::test]
async fn cursors_of_changes_resume_todo_events_and_the_other_way() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let mut feed = Feed::changes(&app, &alice).await;
    let list = app.create_list_id(&alice, "Resumable").await;
    let d1 = app.create_todo_titled(&alice, "d1").await;
    let l1 = app.create_todo_in(&alice, &list, "l1").await;
    app.update_list(&alice, &list, json!({ "name": "Renamed" }))
        .await;
    let d2 = app.create_todo_titled(&alice, "d2").await;
    let l2 = app.create_todo_in(&alice, &list, "l2").await;
    let live = feed.take(6).await;
    assert_eq!(
        summary(&live),
        [
            list_event("ACCESS_GRANTED", &list),
            todo_event("CREATED", &d1),
            todo_event("CREATED", &l1),
            list_event("UPDATED", &list),
            todo_event("CREATED", &d2),
            todo_event("CREATED", &l2),
        ]
    );
    feed.close().await;
    let ids = [list.as_str(), &d1, &d2, &l1, &l2];

    // A ListEvent's cursor resumes plain todoEvents: the default list's
    // events after it, the rest skipped.
    let mut plain = Feed::open(
        &app,
        &alice,
        PLAIN_EVENTS,
        json!({ "after": live[0]["cursor"] }),
    )
    .await;
    let from_plain = about(&plain.fence(&app, &alice).await, &ids);
    assert_eq!(
        summary(&from_plain),
        [todo_event("CREATED", &d1), todo_event("CREATED", &d2)]
    );
    plain.close().await;

    // A TodoEvent's cursor of `changes` resumes todoEvents(allLists).
    let mut all = Feed::open(
        &app,
        &alice,
        TODO_EVENTS,
        json!({ "after": live[1]["cursor"], "all": true }),
    )
    .await;
    let from_all = about(&all.fence(&app, &alice).await, &ids);
    assert_eq!(
        summary(&from_all),
        [
            todo_event("CREATED", &l1),
            todo_event("CREATED", &d2),
            todo_event("CREATED", &l2),
        ]
    );
    all.close().await;

    // And todoEvents' cursors resume `changes`, list events included.
    for (cursor, expected) in [
        (
            &from_plain[0]["cursor"],
            vec![
                todo_event("CREATED", &l1),
                list_event("UPDATED", &list),
                todo_event("CREATED", &d2),
                todo_event("CREATED", &l2),
            ],
        ),
        (&from_all[1]["cursor"], vec![todo_event("CREATED", &l2)]),
    ] {
        let mut resumed = Feed::open(&app, &alice, CHANGES, json!({ "after": cursor })).await;
        let events = about(&resumed.fence(&app, &alice).await, &ids);
        assert_eq!(summary(&events), expected, "changes after {cursor}");
        resumed.close().await;
    }
}

#[tokio::test]
async fn a_new_accounts_default_list_produces_no_event() {
    let app = TestApp::spawn().await;
    let carol = app.register("carol").await;
    assert_eq!(
        app.lists_of(&carol).await.len(),
        1,
        "the default list exists"
    );
    // From the very beginning of Carol's events: nothing before her first
    // own change.
    let start = todoql::events::cursor::encode(0);
    let mut feeds = Vec::new();
    for (query, variables) in [
        (CHANGES, json!({ "after": start })),
        (TODO_EVENTS, json!({ "after": start, "all": true })),
        (PLAIN_EVENTS, json!({ "after": start })),
    ] {
        feeds.push(Feed::open(&app, &carol, query, variables).await);
    }
    let mut refs: Vec<&mut Feed> = feeds.iter_mut().collect();
    let got = fence_all(&app, &carol, &mut refs).await;
    assert_eq!(got, [Vec::<Value>::new(), Vec::new(), Vec::new()]);
}
