//! Tombstones: a deleted todo is a `DELETED` event with its id and list and
//! no todo; a member removed from a shared list gets `ACCESS_REVOKED` with
//! no list and no later change of that list. Every member's pull feed
//! carries a shared list's changes.

use serde_json::Value;

use super::{ROOMY, page, pull_all, summary};
use crate::support::TestApp;

fn pair(kind: &str, id: &str) -> (String, String) {
    (kind.to_owned(), id.to_owned())
}

#[tokio::test]
async fn a_deleted_todo_is_a_tombstone_with_its_id_and_list() {
    let app = TestApp::spawn().await;
    let user = app.register("deleter").await;
    let list = app.default_list_id(&user).await;
    let (_, start) = pull_all(&app, &user, None).await;
    let id = app.create_todo_titled(&user, "secret plans").await;
    app.update_todo_ok(&user, &id, serde_json::json!({ "completed": true }))
        .await;
    app.delete_todo_ok(&user, &id).await;

    let (changes, _) = pull_all(&app, &user, Some(&start)).await;
    assert_eq!(
        summary(&changes),
        vec![
            pair("CREATED", &id),
            pair("UPDATED", &id),
            pair("DELETED", &id)
        ]
    );
    let deleted = &changes[2];
    assert_eq!(deleted["listId"], list.as_str(), "{deleted}");
    assert_eq!(deleted["todo"], Value::Null, "{deleted}");
    // The earlier events keep the todo as it stood then.
    assert_eq!(changes[1]["todo"]["completed"], true, "{changes:?}");

    // Even a deletion stored with the todo (as a soft delete might keep
    // it) shows no todo: the tombstone reveals nothing.
    app.sql(&format!(
        "UPDATE todo_events SET snapshot = (
            SELECT snapshot FROM todo_events WHERE todo_id = '{id}' AND kind = 'UPDATED')
         WHERE todo_id = '{id}' AND kind = 'DELETED'"
    ))
    .await;
    let (again, _) = pull_all(&app, &user, Some(&start)).await;
    assert_eq!(again[2]["kind"], "DELETED", "{again:?}");
    assert_eq!(again[2]["todo"], Value::Null, "{again:?}");
}

#[tokio::test]
async fn a_shared_list_is_in_every_members_feed_until_access_is_revoked() {
    let app = TestApp::spawn_with(&[ROOMY]).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let list = app.create_list_id(&alice, "Shared").await;
    app.invite_and_accept(&alice, &list, &bob, "EDITOR").await;
    let (_, alice_start) = pull_all(&app, &alice, None).await;
    let (_, bob_start) = pull_all(&app, &bob, None).await;

    let from_alice = app.create_todo_in(&alice, &list, "from alice").await;
    let from_bob = app.create_todo_in(&bob, &list, "from bob").await;
    app.delete_todo_ok(&bob, &from_alice).await;
    let expected = vec![
        pair("CREATED", &from_alice),
        pair("CREATED", &from_bob),
        pair("DELETED", &from_alice),
    ];
    let (alice_sees, _) = pull_all(&app, &alice, Some(&alice_start)).await;
    let (bob_sees, bob_cursor) = pull_all(&app, &bob, Some(&bob_start)).await;
    assert_eq!(summary(&alice_sees), expected);
    assert_eq!(summary(&bob_sees), expected);
    for change in alice_sees.iter().chain(&bob_sees) {
        assert_eq!(change["listId"], list.as_str(), "{change}");
    }
    assert_eq!(bob_sees[1]["todo"]["title"], "from bob");

    // Bob is removed: ACCESS_REVOKED, no list, and nothing of the list
    // after it, however much happens there.
    let body = app.remove_member(&alice, &list, &bob.id).await;
    assert!(body["errors"].is_null(), "{body}");
    let after_removal = app.create_todo_in(&alice, &list, "after removal").await;
    app.delete_todo_ok(&alice, &from_bob).await;
    let own = app.create_todo_titled(&bob, "bob's own").await;

    let (bob_sees, _) = pull_all(&app, &bob, Some(&bob_cursor)).await;
    assert_eq!(
        summary(&bob_sees),
        vec![pair("ACCESS_REVOKED", &list), pair("CREATED", &own)]
    );
    assert_eq!(bob_sees[0]["list"], Value::Null, "{bob_sees:?}");
    let (alice_sees, _) = pull_all(&app, &alice, Some(&alice_start)).await;
    let alice_summary = summary(&alice_sees);
    assert!(
        alice_summary.contains(&pair("CREATED", &after_removal))
            && alice_summary.contains(&pair("DELETED", &from_bob)),
        "{alice_summary:?}"
    );
    // A page without `after` is the same feed from its oldest change.
    let whole = page(&app, &bob, None, Some(500)).await;
    let whole = whole["changes"].as_array().unwrap();
    assert_eq!(whole.last().unwrap()["todoId"], own.as_str());
    assert!(
        !whole.iter().any(|c| c["todoId"] == after_removal.as_str()),
        "{whole:?}"
    );
}
