//! `restoreTodo` and `emptyTrash`: a restored todo comes back with its id,
//! list and place (or first, when a live todo holds its key), version + 1;
//! both need OWNER or EDITOR (a VIEWER is FORBIDDEN, anyone else finds
//! nothing), and refusals change nothing.

use serde_json::json;

use super::{empty_trash, restore, restore_ok, trashed, trashed_ids};
use crate::support::{
    TestApp, TestUser, error_code,
    lists::{Pg, id_of},
};

#[tokio::test]
async fn a_restored_todo_comes_back_where_it_was_with_the_next_version() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let list = app.create_list_id(&alice, "Errands").await;
    let a = app.create_todo_in(&alice, &list, "a").await;
    let b = app.create_todo_in(&alice, &list, "b").await;
    let c = app.create_todo_in(&alice, &list, "c").await;
    let order = app.list_todo_ids(&alice, &list).await;
    assert_eq!(order, vec![c.clone(), b.clone(), a.clone()]);
    let before = app.list_todos(&alice, &list, "POSITION").await;
    let b_before = before
        .iter()
        .find(|t| t["id"] == b.as_str())
        .unwrap()
        .clone();

    app.delete_todo_ok(&alice, &b).await;
    assert_eq!(
        app.list_todo_ids(&alice, &list).await,
        vec![c.clone(), a.clone()]
    );
    let restored = restore_ok(&app, &alice, &b).await;
    assert_eq!(restored["id"], b.as_str());
    assert_eq!(restored["list"]["id"], list.as_str());
    assert_eq!(restored["position"], b_before["position"]);
    assert_eq!(
        restored["version"],
        b_before["version"].as_i64().unwrap() + 1
    );
    assert!(restored["deletedAt"].is_null(), "{restored}");
    assert_eq!(app.list_todo_ids(&alice, &list).await, order);
    assert!(trashed(&app, &alice, Some(&list)).await.is_empty());
    // Readable and writable again.
    let again = app
        .update_todo_ok(&alice, &b, json!({ "title": "b again" }))
        .await;
    assert_eq!(again["version"], restored["version"].as_i64().unwrap() + 1);

    // Not in the trash (live, unknown, malformed): NOT_FOUND.
    let unknown = uuid::Uuid::now_v7().to_string();
    for id in [b.as_str(), &unknown, "nope"] {
        let body = restore(&app, &alice, id).await;
        assert_eq!(error_code(&body), "NOT_FOUND", "{id}: {body}");
        assert!(body["data"].is_null(), "{body}");
    }
}

/// The position key of todo `id` among `todos`.
fn key_of(todos: &[serde_json::Value], id: &str) -> String {
    todos
        .iter()
        .find(|t| t["id"] == id)
        .unwrap_or_else(|| panic!("{id} not among {todos:?}"))["position"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_restored_todo_keeps_its_key_when_its_neighbours_are_gone() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let list = app.create_list_id(&alice, "Errands").await;
    let mut ids = Vec::new();
    for title in ["a", "b", "c", "d"] {
        ids.push(app.create_todo_in(&alice, &list, title).await);
    }
    let (a, b, c, d) = (&ids[0], &ids[1], &ids[2], &ids[3]);
    assert_eq!(
        app.list_todo_ids(&alice, &list).await,
        [d, c, b, a].map(String::clone)
    );
    let c_key = key_of(&app.list_todos(&alice, &list, "POSITION").await, c);
    app.delete_todo_ok(&alice, c).await;
    // Both neighbours leave, and a new todo comes first.
    app.delete_todo_ok(&alice, d).await;
    app.delete_todo_ok(&alice, b).await;
    let e = app.create_todo_in(&alice, &list, "e").await;
    let e_key = key_of(&app.list_todos(&alice, &list, "POSITION").await, &e);
    assert_ne!(e_key, c_key, "the new todo took the key: see the next test");

    let restored = restore_ok(&app, &alice, c).await;
    assert_eq!(restored["position"], c_key.as_str());
    // Its key sorts it among the todos left: still before `a`.
    let order = app.list_todo_ids(&alice, &list).await;
    assert_eq!(order.len(), 3, "{order:?}");
    let at = |id: &str| order.iter().position(|o| o == id).unwrap();
    assert!(at(c) < at(a), "{order:?}");
    assert_eq!(at(c) < at(&e), c_key < e_key, "{order:?}");
}

#[tokio::test]
async fn a_restored_todo_whose_key_is_taken_comes_back_first() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let list = app.create_list_id(&alice, "Errands").await;
    let a = app.create_todo_in(&alice, &list, "a").await;
    let b = app.create_todo_in(&alice, &list, "b").await;
    let c = app.create_todo_in(&alice, &list, "c").await;
    let b_key = key_of(&app.list_todos(&alice, &list, "POSITION").await, &b);
    app.delete_todo_ok(&alice, &b).await;
    // `a` moves to exactly b's old key.
    let moved = app
        .move_todo_ok(&alice, &a, json!({ "position": b_key }))
        .await;
    assert_eq!(moved["position"], b_key.as_str());

    let restored = restore_ok(&app, &alice, &b).await;
    assert_ne!(restored["position"], b_key.as_str());
    let todos = app.list_todos(&alice, &list, "POSITION").await;
    let order: Vec<String> = todos.iter().map(id_of).collect();
    assert_eq!(order, [b.clone(), c.clone(), a.clone()]);
    // Strictly first: no key shared.
    assert!(key_of(&todos, &b) < key_of(&todos, &c), "{todos:?}");
}

#[tokio::test]
async fn restore_and_empty_trash_need_owner_or_editor() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let vic = app.register("vic").await;
    let carol = app.register("carol").await;
    let list = app.create_list_id(&alice, "Shared").await;
    app.invite_and_accept(&alice, &list, &bob, "EDITOR").await;
    app.invite_and_accept(&alice, &list, &vic, "VIEWER").await;
    let mut ids = Vec::new();
    for title in ["one", "two", "three"] {
        let id = app.create_todo_in(&alice, &list, title).await;
        app.delete_todo_ok(&alice, &id).await;
        ids.push(id);
    }
    let own = app.create_todo_titled(&alice, "alice's own").await;
    app.delete_todo_ok(&alice, &own).await;
    let trash = trashed(&app, &alice, Some(&list)).await;

    let body = restore(&app, &vic, &ids[0]).await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    let body = restore(&app, &carol, &ids[0]).await;
    assert_eq!(error_code(&body), "NOT_FOUND", "{body}");
    let body = empty_trash(&app, &vic, Some(&list)).await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    for (user, list) in [(&carol, list.as_str()), (&bob, "nope")] {
        let body = empty_trash(&app, user, Some(list)).await;
        assert_eq!(error_code(&body), "NOT_FOUND", "{list}: {body}");
        assert!(body["data"].is_null(), "{body}");
    }
    assert_eq!(
        trashed(&app, &alice, Some(&list)).await,
        trash,
        "a refusal changed the trash"
    );

    // An EDITOR restores and empties.
    let restored = restore_ok(&app, &bob, &ids[0]).await;
    assert_eq!(restored["id"], ids[0].as_str());
    assert_eq!(empty_trash_ok(&app, &bob, Some(&list)).await, 2);
    assert!(trashed(&app, &alice, Some(&list)).await.is_empty());
    assert_eq!(empty_trash_ok(&app, &bob, Some(&list)).await, 0);
    // Gone for good: nothing to restore, no row left.
    let body = restore(&app, &alice, &ids[1]).await;
    assert_eq!(error_code(&body), "NOT_FOUND", "{body}");
    let pg = Pg::connect(&app.database_url).await;
    let left = pg
        .count(&format!(
            "SELECT count(*) FROM todos WHERE id IN ('{}', '{}')",
            ids[1], ids[2]
        ))
        .await;
    assert_eq!(left, 0);
    // Other lists' trash is untouched; without listId: the default list.
    assert_eq!(trashed_ids(&app, &alice, None).await, vec![own]);
    assert_eq!(empty_trash_ok(&app, &alice, None).await, 1);
    assert!(trashed_ids(&app, &alice, None).await.is_empty());
    assert_eq!(app.list_todo_ids(&alice, &list).await, vec![ids[0].clone()]);
}

/// `emptyTrash(listId:)` that must succeed; returns how many went.
async fn empty_trash_ok(app: &TestApp, user: &TestUser, list: Option<&str>) -> i64 {
    let body = empty_trash(app, user, list).await;
    assert!(body["errors"].is_null(), "emptyTrash failed: {body}");
    body["data"]["emptyTrash"].as_i64().unwrap()
}

#[tokio::test]
async fn trashing_cancels_the_due_reminder_and_a_restore_schedules_it_again() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let todo = app
        .create_todo(
            &alice,
            json!({ "title": "File taxes", "dueAt": "2040-04-15T12:00:00Z" }),
        )
        .await;
    let id = id_of(&todo);
    let pg = Pg::connect(&app.database_url).await;
    let queued = format!(
        "SELECT count(*) FROM jobs WHERE kind = 'due_reminder' AND state = 'queued'
         AND payload ->> 'todo_id' = '{id}'"
    );
    assert_eq!(pg.count(&queued).await, 1);
    app.delete_todo_ok(&alice, &id).await;
    assert_eq!(
        pg.count(&queued).await,
        0,
        "a trashed todo keeps its reminder"
    );
    restore_ok(&app, &alice, &id).await;
    assert_eq!(
        pg.count(&queued).await,
        1,
        "the restored todo has no reminder"
    );
}
