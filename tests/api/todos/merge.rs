//! Field-level merges (`updateTodo(input: {baseVersion})`, contract
//! `sync.graphql`): edits of different fields from two devices both apply,
//! an edit of a field changed after its base is a CONFLICT carrying the
//! todo as it stands (`extensions.current`, also on a plain
//! `expectedVersion` CONFLICT, over GraphQL and REST), bad bases are
//! BAD_USER_INPUT, concurrent merges of one field have one winner, and
//! changes by `toggleAllTodos` and by an editor of a shared list count, and
//! two devices that made the same change agree.

use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{assert_bad_input, get_todo};
use crate::support::{TestApp, TestUser, error_code};

/// What a conflict's `extensions.current` holds, read through the API.
const CURRENT_FIELDS: &str = "id title description completed dueAt version position list { id }";

/// The todo as `extensions.current` should show it: the `Todo` fields of
/// the contract, read with `todo(id:)`.
async fn expected_current(app: &TestApp, user: &TestUser, id: &str) -> Value {
    let body = app
        .gql_as(
            user,
            &format!("query($id: ID!) {{ todo(id: $id) {{ {CURRENT_FIELDS} }} }}"),
            json!({ "id": id }),
        )
        .await;
    let todo = &body["data"]["todo"];
    assert!(todo.is_object(), "{body}");
    json!({
        "id": todo["id"],
        "title": todo["title"],
        "description": todo["description"],
        "completed": todo["completed"],
        "dueAt": todo["dueAt"],
        "version": todo["version"],
        "listId": todo["list"]["id"],
        "position": todo["position"],
    })
}

/// Asserts a CONFLICT with no data whose `extensions.current` is `current`.
fn assert_conflict_with(body: &Value, current: &Value) {
    assert_eq!(error_code(body), "CONFLICT", "{body}");
    assert!(body["data"].is_null(), "data despite the conflict: {body}");
    assert_eq!(
        &body["errors"][0]["extensions"]["current"], current,
        "{body}"
    );
}

/// A todo with every mergeable field set; returns it.
async fn full_todo(app: &TestApp, user: &TestUser) -> Value {
    app.create_todo(
        user,
        json!({ "title": "Buy milk", "description": "2 l", "dueAt": "2030-01-01T10:00:00Z" }),
    )
    .await
}

#[tokio::test]
async fn disjoint_fields_from_two_devices_are_both_applied() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let todo = full_todo(&app, &alice).await;
    let id = todo["id"].as_str().unwrap();

    // The phone renames, based on version 1.
    let phone = app
        .update_todo_ok(
            &alice,
            id,
            json!({ "title": "Buy oat milk", "baseVersion": 1 }),
        )
        .await;
    assert_eq!(phone["version"], 2);
    // The laptop, offline since version 1, completes it and moves the due
    // time: no field of its input changed after version 1.
    let laptop = app
        .update_todo_ok(
            &alice,
            id,
            json!({ "completed": true, "dueAt": "2030-02-01T10:00:00Z", "baseVersion": 1 }),
        )
        .await;
    assert_eq!(laptop["version"], 3, "{laptop}");
    assert_eq!(laptop["title"], "Buy oat milk", "the phone's title is kept");
    assert_eq!(laptop["description"], "2 l");
    assert_eq!(laptop["completed"], true);
    assert!(laptop["completedAt"].is_string(), "{laptop}");
    assert_eq!(
        super::utc(&laptop["dueAt"]),
        super::at("2030-02-01T10:00:00Z")
    );
    // A third edit based on version 2 (the phone's) touches the
    // description, which nobody changed: applied too.
    let third = app
        .update_todo_ok(&alice, id, json!({ "description": null, "baseVersion": 2 }))
        .await;
    assert_eq!(third["version"], 4);
    assert!(third["description"].is_null());
    assert_eq!(third["title"], "Buy oat milk");
    assert_eq!(third["completed"], true);

    let mut fetched = get_todo(&app, &alice, id).await;
    fetched.as_object_mut().unwrap().remove("owner");
    assert_eq!(fetched, third);
}

#[tokio::test]
async fn the_same_field_is_a_conflict_with_current_and_nothing_changes() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let todo = full_todo(&app, &alice).await;
    let id = todo["id"].as_str().unwrap();
    app.update_todo_ok(&alice, id, json!({ "title": "Phone's", "baseVersion": 1 }))
        .await;
    let before = get_todo(&app, &alice, id).await;
    let current = expected_current(&app, &alice, id).await;
    // Every field of `current`, spelled out.
    assert_eq!(current["id"], id);
    assert_eq!(current["title"], "Phone's");
    assert_eq!(current["description"], "2 l");
    assert_eq!(current["completed"], false);
    assert_eq!(current["dueAt"], todo["dueAt"]);
    assert_eq!(current["version"], 2);
    assert_eq!(
        current["listId"],
        app.default_list_id(&alice).await.as_str()
    );
    assert!(current["position"].as_str().is_some_and(|p| !p.is_empty()));

    // The laptop's input names the title (changed at version 2) and
    // completed (unchanged): the whole input is refused.
    let body = app
        .update_todo(
            &alice,
            id,
            json!({ "title": "Laptop's", "completed": true, "baseVersion": 1 }),
        )
        .await;
    assert_conflict_with(&body, &current);
    let current_json = body["errors"][0]["extensions"]["current"]
        .as_object()
        .unwrap();
    let mut keys: Vec<&str> = current_json.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "completed",
            "description",
            "dueAt",
            "id",
            "listId",
            "position",
            "title",
            "version"
        ]
    );
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("title") && !m.contains("completed")),
        "the message names the conflicting field: {body}"
    );
    assert_eq!(get_todo(&app, &alice, id).await, before, "nothing changed");

    // Based on the version it saw, the same edit applies.
    let merged = app
        .update_todo_ok(
            &alice,
            id,
            json!({ "title": "Laptop's", "completed": true, "baseVersion": 2 }),
        )
        .await;
    assert_eq!(merged["title"], "Laptop's");
    assert_eq!(merged["version"], 3);
}

#[tokio::test]
async fn an_expected_version_conflict_carries_current_too() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let todo = full_todo(&app, &alice).await;
    let id = todo["id"].as_str().unwrap();
    app.update_todo_ok(&alice, id, json!({ "completed": true }))
        .await;
    let before = get_todo(&app, &alice, id).await;
    let current = expected_current(&app, &alice, id).await;
    assert_eq!(current["completed"], true);
    assert_eq!(current["version"], 2);

    // Even a field nobody changed: expectedVersion is all or nothing.
    let body = app
        .update_todo(
            &alice,
            id,
            json!({ "description": "3 l", "expectedVersion": 1 }),
        )
        .await;
    assert_conflict_with(&body, &current);
    assert_eq!(get_todo(&app, &alice, id).await, before);

    // moveTodo's expectedVersion CONFLICT carries it as well.
    let body = app
        .move_todo(
            &alice,
            id,
            json!({ "position": "Zz", "expectedVersion": 1 }),
        )
        .await;
    assert_conflict_with(&body, &current);
}

#[tokio::test]
async fn bad_bases_are_bad_user_input_and_change_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let todo = full_todo(&app, &alice).await;
    let id = todo["id"].as_str().unwrap();
    app.update_todo_ok(&alice, id, json!({ "title": "v2" }))
        .await;
    let before = get_todo(&app, &alice, id).await;

    for input in [
        // Both ways of guarding an update at once.
        json!({ "title": "x", "baseVersion": 2, "expectedVersion": 2 }),
        // A version from the future.
        json!({ "title": "x", "baseVersion": 3 }),
        json!({ "completed": true, "baseVersion": 2_000_000_000 }),
        // Versions start at 1.
        json!({ "title": "x", "baseVersion": 0 }),
        json!({ "title": "x", "baseVersion": -1 }),
    ] {
        let body = app.update_todo(&alice, id, input.clone()).await;
        assert_bad_input(&body, "baseVersion");
        assert_eq!(get_todo(&app, &alice, id).await, before, "{input}");
    }
}

#[tokio::test]
async fn concurrent_merges_of_one_field_have_exactly_one_winner() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let id = app.create_todo_titled(&alice, "Original").await;

    let n = 6;
    let bodies = join_all((0..n).map(|i| {
        let (app, alice, id) = (&app, &alice, &id);
        async move {
            app.update_todo(
                alice,
                id,
                json!({ "title": format!("Device {i}"), "baseVersion": 1 }),
            )
            .await
        }
    }))
    .await;
    let winners: Vec<&Value> = bodies.iter().filter(|b| b["errors"].is_null()).collect();
    assert_eq!(winners.len(), 1, "{bodies:#?}");
    let winner = &winners[0]["data"]["updateTodo"];
    assert_eq!(winner["version"], 2);
    let current = expected_current(&app, &alice, &id).await;
    assert_eq!(current["title"], winner["title"]);
    for body in bodies.iter().filter(|b| !b["errors"].is_null()) {
        assert_conflict_with(body, &current);
    }

    // Concurrent merges of different fields all apply.
    let inputs = [
        json!({ "title": "T", "baseVersion": 2 }),
        json!({ "description": "D", "baseVersion": 2 }),
        json!({ "completed": true, "baseVersion": 2 }),
        json!({ "dueAt": "2031-01-01T00:00:00Z", "baseVersion": 2 }),
    ];
    let bodies = join_all(
        inputs
            .iter()
            .map(|input| app.update_todo(&alice, &id, input.clone())),
    )
    .await;
    for body in &bodies {
        assert!(body["errors"].is_null(), "{body}");
    }
    let todo = get_todo(&app, &alice, &id).await;
    assert_eq!(todo["version"], 6);
    assert_eq!(todo["title"], "T");
    assert_eq!(todo["description"], "D");
    assert_eq!(todo["completed"], true);
    assert_eq!(
        super::utc(&todo["dueAt"]),
        super::at("2031-01-01T00:00:00Z")
    );
}

#[tokio::test]
async fn toggle_all_changes_completed_for_merges() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let id = app.create_todo_titled(&alice, "Water plants").await;
    assert_eq!(app.toggle_all(&alice, true).await, 1);

    // A device that saw version 1 reopens it: completed changed since.
    let body = app
        .update_todo(&alice, &id, json!({ "completed": false, "baseVersion": 1 }))
        .await;
    let current = expected_current(&app, &alice, &id).await;
    assert_eq!(current["completed"], true);
    assert_eq!(current["version"], 2);
    assert_conflict_with(&body, &current);

    // The title was not touched by toggleAllTodos.
    let renamed = app
        .update_todo_ok(
            &alice,
            &id,
            json!({ "title": "Water the plants", "baseVersion": 1 }),
        )
        .await;
    assert_eq!(renamed["version"], 3);
    assert_eq!(renamed["completed"], true);

    // Reopening all of them counts too; a merge of the title based on
    // version 3 still applies, one of completed does not.
    assert_eq!(app.toggle_all(&alice, false).await, 1);
    let body = app
        .update_todo(&alice, &id, json!({ "completed": true, "baseVersion": 3 }))
        .await;
    assert_eq!(error_code(&body), "CONFLICT", "{body}");
    let ok = app
        .update_todo_ok(&alice, &id, json!({ "title": "Plants", "baseVersion": 3 }))
        .await;
    assert_eq!(ok["completed"], false);
    assert_eq!(ok["version"], 5);
}

#[tokio::test]
async fn a_move_changes_no_mergeable_field() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let id = app.create_todo_titled(&alice, "Moved").await;
    let moved = app
        .move_todo_ok(&alice, &id, json!({ "position": "Zz" }))
        .await;
    assert_eq!(moved["version"], 2);
    let merged = app
        .update_todo_ok(
            &alice,
            &id,
            json!({ "title": "Still mine", "baseVersion": 1 }),
        )
        .await;
    assert_eq!(merged["version"], 3);
    let todo = expected_current(&app, &alice, &id).await;
    assert_eq!(todo["position"], "Zz", "the move is kept");
    assert_eq!(todo["title"], "Still mine");
}

#[tokio::test]
async fn an_editor_change_and_the_owner_merge_in_a_shared_list() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let list = app.create_list_id(&alice, "Groceries").await;
    app.invite_and_accept(&alice, &list, &bob, "EDITOR").await;
    let id = app.create_todo_in(&alice, &list, "Eggs").await;

    // Bob, an editor, adds a description (a plain update).
    let bobs = app
        .update_todo_ok(&bob, &id, json!({ "description": "a dozen" }))
        .await;
    assert_eq!(bobs["version"], 2);

    // Alice, offline since version 1, renames: Bob's description is kept.
    let merged = app
        .update_todo_ok(
            &alice,
            &id,
            json!({ "title": "Free-range eggs", "baseVersion": 1 }),
        )
        .await;
    assert_eq!(merged["version"], 3);
    assert_eq!(merged["description"], "a dozen");
    assert_eq!(merged["title"], "Free-range eggs");

    // Her offline edit of the description conflicts with Bob's, and the
    // error shows her the todo as it stands, Bob's text included.
    let body = app
        .update_todo(
            &alice,
            &id,
            json!({ "description": "six", "baseVersion": 1 }),
        )
        .await;
    let current = expected_current(&app, &alice, &id).await;
    assert_eq!(current["description"], "a dozen");
    assert_eq!(current["listId"], list.as_str());
    assert_conflict_with(&body, &current);
    // Bob sees the same todo, unchanged.
    assert_eq!(expected_current(&app, &bob, &id).await, current);

    // A viewer's merge is refused by role as any update is, and a
    // stranger's does not find the todo.
    let carol = app.register("carol").await;
    app.invite_and_accept(&alice, &list, &carol, "VIEWER").await;
    let body = app
        .update_todo(&carol, &id, json!({ "title": "x", "baseVersion": 3 }))
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    let dave = app.register("dave").await;
    let body = app
        .update_todo(&dave, &id, json!({ "title": "x", "baseVersion": 3 }))
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND", "{body}");
    assert!(
        body["errors"][0]["extensions"]["current"].is_null(),
        "{body}"
    );
    assert_eq!(expected_current(&app, &alice, &id).await, current);
}

#[tokio::test]
async fn rest_patch_conflicts_carry_current_and_merges_apply() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let todo = full_todo(&app, &alice).await;
    let id = todo["id"].as_str().unwrap();
    let path = format!("/todos/{id}");
    app.update_todo_ok(&alice, id, json!({ "title": "Renamed" }))
        .await;
    let current = expected_current(&app, &alice, id).await;

    let patch = async |input: Value| {
        let answer = app.rest_as(&alice, Method::PATCH, &path, Some(input)).await;
        (answer.status, answer.body)
    };

    let (status, body) = patch(json!({ "completed": true, "expectedVersion": 1 })).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "CONFLICT");
    assert_eq!(body["current"], current, "{body}");

    let (status, body) = patch(json!({ "title": "Mine", "baseVersion": 1 })).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["current"], current, "{body}");

    let (status, body) = patch(json!({ "completed": true, "baseVersion": 1 })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["title"], "Renamed");
    assert_eq!(body["completed"], true);
    assert_eq!(body["version"], 3);
}

#[tokio::test]
async fn two_devices_making_the_same_change_agree() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let id = app.create_todo_titled(&alice, "Buy milk").await;

    // Both devices saw version 1 and both completed the todo offline.
    let first = app
        .update_todo_ok(&alice, &id, json!({ "completed": true, "baseVersion": 1 }))
        .await;
    assert_eq!(first["version"], 2);
    // The second changes nothing: no conflict, no new version.
    let second = app
        .update_todo_ok(&alice, &id, json!({ "completed": true, "baseVersion": 1 }))
        .await;
    assert_eq!(second["version"], 2);
    assert_eq!(second["completed"], true);

    // A value that differs from one changed after the base still conflicts.
    let body = app
        .update_todo(&alice, &id, json!({ "completed": false, "baseVersion": 1 }))
        .await;
    assert_eq!(error_code(&body), "CONFLICT", "{body}");
    assert_eq!(get_todo(&app, &alice, &id).await["version"], 2);
}
