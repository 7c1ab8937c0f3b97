//! Changing todos: partial updates and explicit nulls, validation,
//! versions and lost updates, completing and reopening, deleting, and ids
//! that are not UUIDs.

use serde_json::{Value, json};

use super::{at, get_todo, list, utc};
use crate::support::{TestApp, error_code};

#[tokio::test]
async fn update_leaves_absent_fields_unchanged() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let todo = app
        .create_todo(
            &alice,
            json!({ "title": "Old", "description": "Keep me", "dueAt": "2030-01-01T00:00:00Z" }),
        )
        .await;
    let id = todo["id"].as_str().unwrap();

    let updated = app
        .update_todo_ok(&alice, id, json!({ "title": "  New  " }))
        .await;
    assert_eq!(updated["title"], "New");
    assert_eq!(updated["description"], "Keep me");
    assert_eq!(updated["dueAt"], todo["dueAt"]);
    assert_eq!(updated["completed"], false);
    assert_eq!(updated["createdAt"], todo["createdAt"]);
    assert_eq!(updated["version"], 2);
    assert!(
        utc(&updated["updatedAt"]) > utc(&todo["updatedAt"]),
        "updatedAt did not move: {todo} -> {updated}"
    );

    let updated2 = app
        .update_todo_ok(
            &alice,
            id,
            json!({ "description": "Changed", "dueAt": "2031-02-03T04:05:06Z" }),
        )
        .await;
    assert_eq!(updated2["title"], "New");
    assert_eq!(updated2["description"], "Changed");
    assert_eq!(utc(&updated2["dueAt"]), at("2031-02-03T04:05:06Z"));
    assert_eq!(updated2["version"], 3);
    assert!(utc(&updated2["updatedAt"]) > utc(&updated["updatedAt"]));

    let mut fetched = get_todo(&app, &alice, id).await;
    fetched.as_object_mut().unwrap().remove("owner");
    assert_eq!(fetched, updated2);
}

#[tokio::test]
async fn explicit_null_clears_description_and_due_at() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let todo = app
        .create_todo(
            &alice,
            json!({ "title": "T", "description": "D", "dueAt": "2030-01-01T00:00:00Z" }),
        )
        .await;
    let id = todo["id"].as_str().unwrap();

    let a = app
        .update_todo_ok(&alice, id, json!({ "description": null }))
        .await;
    assert!(a["description"].is_null(), "{a}");
    assert_eq!(a["dueAt"], todo["dueAt"]);
    assert_eq!(a["version"], 2);

    let b = app
        .update_todo_ok(&alice, id, json!({ "dueAt": null }))
        .await;
    assert!(b["dueAt"].is_null(), "{b}");
    assert!(b["description"].is_null());
    assert_eq!(b["title"], "T");
    assert_eq!(b["version"], 3);

    // Clearing what is already clear is not a change.
    let c = app
        .update_todo_ok(&alice, id, json!({ "description": null, "dueAt": null }))
        .await;
    assert_eq!(c, b);

    let fetched = get_todo(&app, &alice, id).await;
    assert!(fetched["description"].is_null() && fetched["dueAt"].is_null());
}

#[tokio::test]
async fn invalid_updates_are_rejected_and_change_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let todo = app
        .create_todo(&alice, json!({ "title": "Stay", "description": "Same" }))
        .await;
    let id = todo["id"].as_str().unwrap();
    let before = get_todo(&app, &alice, id).await;

    for (input, field) in [
        (json!({ "title": null }), "title"),
        (json!({ "title": "   " }), "title"),
        (json!({ "title": "a".repeat(501) }), "title"),
        (json!({ "completed": null }), "completed"),
        (json!({ "description": "d".repeat(10_001) }), "description"),
        // A valid field alongside does not get applied either.
        (json!({ "description": "new", "title": null }), "title"),
    ] {
        let body = app.update_todo(&alice, id, input.clone()).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{input}: {body}");
        assert_eq!(
            body["errors"][0]["extensions"]["field"], field,
            "{input}: {body}"
        );
    }
    assert_eq!(get_todo(&app, &alice, id).await, before);
}

#[tokio::test]
async fn version_increases_by_one_per_change_and_not_for_no_ops() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let todo = app
        .create_todo(
            &alice,
            json!({ "title": "Same", "description": "Desc", "dueAt": "2030-01-01T00:00:00Z" }),
        )
        .await;
    let id = todo["id"].as_str().unwrap();

    // Nothing, or the same values, change nothing: neither version nor updatedAt.
    for input in [
        json!({}),
        json!({ "title": "Same" }),
        json!({ "title": "  Same  " }),
        json!({ "description": "Desc", "completed": false }),
        json!({ "dueAt": "2030-01-01T00:00:00Z" }),
        json!({ "dueAt": "2030-01-01T01:00:00+01:00" }),
        json!({ "expectedVersion": 1 }),
    ] {
        let same = app.update_todo_ok(&alice, id, input.clone()).await;
        assert_eq!(same, todo, "no-op update {input} changed the todo");
    }

    // Several fields in one request: one change, one version.
    let changed = app
        .update_todo_ok(
            &alice,
            id,
            json!({ "title": "Other", "description": "Other", "completed": true, "dueAt": null }),
        )
        .await;
    assert_eq!(changed["version"], 2);

    let mut expected = 2;
    for input in [
        json!({ "title": "Third" }),
        json!({ "completed": false }),
        json!({ "dueAt": "2030-05-05T05:05:05Z" }),
        json!({ "description": "" }),
    ] {
        let next = app.update_todo_ok(&alice, id, input.clone()).await;
        expected += 1;
        assert_eq!(next["version"], expected, "after {input}");
    }
    // The empty string is a value, not a null.
    let fetched = get_todo(&app, &alice, id).await;
    assert_eq!(fetched["description"], "");
    assert_eq!(fetched["version"], expected);
}

#[tokio::test]
async fn completing_sets_completed_at_and_reopening_clears_it() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let todo = app.create_todo(&alice, json!({ "title": "Do it" })).await;
    let id = todo["id"].as_str().unwrap();

    let done = app
        .update_todo_ok(&alice, id, json!({ "completed": true }))
        .await;
    assert_eq!(done["completed"], true);
    let completed_at = utc(&done["completedAt"]);
    assert!(completed_at > utc(&todo["createdAt"]));
    assert_eq!(completed_at, utc(&done["updatedAt"]));
    assert_eq!(done["version"], 2);

    // Completing again is a no-op: completedAt keeps the first completion.
    let again = app
        .update_todo_ok(&alice, id, json!({ "completed": true }))
        .await;
    assert_eq!(again, done);

    // Another change while completed keeps completedAt.
    let renamed = app
        .update_todo_ok(&alice, id, json!({ "title": "Done it" }))
        .await;
    assert_eq!(renamed["completedAt"], done["completedAt"]);
    assert_eq!(renamed["completed"], true);
    assert_eq!(renamed["version"], 3);

    let reopened = app
        .update_todo_ok(&alice, id, json!({ "completed": false }))
        .await;
    assert_eq!(reopened["completed"], false);
    assert!(reopened["completedAt"].is_null(), "{reopened}");
    assert_eq!(reopened["version"], 4);

    let fetched = get_todo(&app, &alice, id).await;
    assert!(fetched["completedAt"].is_null());
    assert_eq!(fetched["completed"], false);
}

#[tokio::test]
async fn expected_version_guards_against_lost_updates() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let todo = app.create_todo(&alice, json!({ "title": "v1" })).await;
    let id = todo["id"].as_str().unwrap();

    let v2 = app
        .update_todo_ok(&alice, id, json!({ "title": "v2", "expectedVersion": 1 }))
        .await;
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["title"], "v2");
    let snapshot = get_todo(&app, &alice, id).await;

    // A stale writer, a future version, and a stale no-op alike are refused.
    for (input, what) in [
        (json!({ "title": "stale", "expectedVersion": 1 }), "stale"),
        (
            json!({ "completed": true, "description": "x", "expectedVersion": 3 }),
            "future",
        ),
        (
            json!({ "title": "v2", "expectedVersion": 1 }),
            "stale no-op",
        ),
        (json!({ "dueAt": null, "expectedVersion": 0 }), "zero"),
    ] {
        let body = app.update_todo(&alice, id, input).await;
        assert_eq!(error_code(&body), "CONFLICT", "{what}: {body}");
        assert!(body["data"].is_null(), "{what}: {body}");
        assert_eq!(get_todo(&app, &alice, id).await, snapshot, "{what}");
    }

    let v3 = app
        .update_todo_ok(
            &alice,
            id,
            json!({ "completed": true, "expectedVersion": 2 }),
        )
        .await;
    assert_eq!(v3["version"], 3);
    assert_eq!(v3["title"], "v2");
}

#[tokio::test]
async fn delete_returns_the_id_then_the_todo_is_gone() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let keep = app.create_todo(&alice, json!({ "title": "Keep" })).await;
    let todo = app.create_todo(&alice, json!({ "title": "Bye" })).await;
    let id = todo["id"].as_str().unwrap();

    let body = app.delete_todo(&alice, id).await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["deleteTodo"], id);

    assert!(get_todo(&app, &alice, id).await.is_null());
    let again = app.delete_todo(&alice, id).await;
    assert_eq!(error_code(&again), "NOT_FOUND", "{again}");
    let upd = app
        .update_todo(&alice, id, json!({ "title": "Zombie" }))
        .await;
    assert_eq!(error_code(&upd), "NOT_FOUND", "{upd}");

    let (total, nodes) = list(&app, &alice, Value::Null).await;
    assert_eq!(total, 1);
    assert_eq!(nodes[0]["id"], keep["id"]);
    assert_eq!(app.todo_counts(&alice).await, (1, 1, 0));
}

#[tokio::test]
async fn ids_that_are_not_uuids_name_no_todo() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    app.create_todo(&alice, json!({ "title": "Exists" })).await;
    for id in ["not-a-uuid", "", "1", "'; DROP TABLE todos; --"] {
        let del = app.delete_todo(&alice, id).await;
        assert_eq!(error_code(&del), "NOT_FOUND", "delete {id:?}: {del}");
        let upd = app.update_todo(&alice, id, json!({ "title": "x" })).await;
        assert_eq!(error_code(&upd), "NOT_FOUND", "update {id:?}: {upd}");
        assert!(get_todo(&app, &alice, id).await.is_null(), "todo({id:?})");
    }
    // A well-formed id that names nothing.
    let nobody = uuid::Uuid::now_v7().to_string();
    assert!(get_todo(&app, &alice, &nobody).await.is_null());
    assert_eq!(
        error_code(&app.delete_todo(&alice, &nobody).await),
        "NOT_FOUND"
    );
    assert_eq!(app.todo_counts(&alice).await, (1, 1, 0));
}
