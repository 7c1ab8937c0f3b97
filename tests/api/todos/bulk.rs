//! Bulk mutations and counts: `toggleAllTodos`, `clearCompletedTodos` and
//! `todoCounts` through a mix of changes.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::{clear_completed, list, utc};
use crate::support::TestApp;

#[tokio::test]
async fn toggle_all_changes_only_what_differs() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let mut ids = Vec::new();
    for title in ["one", "two", "three"] {
        let t = app.create_todo(&alice, json!({ "title": title })).await;
        ids.push(t["id"].as_str().unwrap().to_owned());
    }
    let pre = app
        .update_todo_ok(&alice, &ids[0], json!({ "completed": true }))
        .await;

    assert_eq!(app.toggle_all(&alice, true).await, 2);
    let (_, nodes) = list(&app, &alice, Value::Null).await;
    for n in &nodes {
        assert_eq!(n["completed"], true, "{n}");
        assert!(utc(&n["completedAt"]) > utc(&n["createdAt"]), "{n}");
        if n["id"] == pre["id"] {
            // Already completed: untouched.
            assert_eq!(n, &pre);
        } else {
            assert_eq!(n["version"], 2, "{n}");
            assert_eq!(n["completedAt"], n["updatedAt"], "{n}");
        }
    }
    assert_eq!(app.todo_counts(&alice).await, (3, 0, 3));

    assert_eq!(app.toggle_all(&alice, true).await, 0);
    assert_eq!(list(&app, &alice, Value::Null).await.1, nodes);

    assert_eq!(app.toggle_all(&alice, false).await, 3);
    let (_, reopened) = list(&app, &alice, Value::Null).await;
    for n in &reopened {
        assert_eq!(n["completed"], false, "{n}");
        assert!(n["completedAt"].is_null(), "{n}");
        assert_eq!(n["version"], 3, "{n}");
    }
    assert_eq!(app.toggle_all(&alice, false).await, 0);
    assert_eq!(app.todo_counts(&alice).await, (3, 3, 0));
}

#[tokio::test]
async fn toggle_all_and_clear_completed_with_no_todos_return_zero() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    assert_eq!(app.toggle_all(&alice, true).await, 0);
    assert_eq!(app.toggle_all(&alice, false).await, 0);
    assert_eq!(clear_completed(&app, &alice).await, 0);
    assert_eq!(app.todo_counts(&alice).await, (0, 0, 0));
}

#[tokio::test]
async fn clear_completed_deletes_only_completed_todos() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let mut active = BTreeSet::new();
    for i in 0..5 {
        let t = app
            .create_todo(&alice, json!({ "title": format!("todo {i}") }))
            .await;
        let id = t["id"].as_str().unwrap().to_owned();
        if i % 2 == 0 {
            app.update_todo_ok(&alice, &id, json!({ "completed": true }))
                .await;
        } else {
            active.insert(id);
        }
    }
    assert_eq!(app.todo_counts(&alice).await, (5, 2, 3));

    assert_eq!(clear_completed(&app, &alice).await, 3);
    let (total, nodes) = list(&app, &alice, Value::Null).await;
    assert_eq!(total, 2);
    let left: BTreeSet<String> = nodes
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(left, active);
    assert!(nodes.iter().all(|n| n["completed"] == false));

    assert_eq!(clear_completed(&app, &alice).await, 0);
    assert_eq!(app.todo_counts(&alice).await, (2, 2, 0));
}

#[tokio::test]
async fn todo_counts_follow_a_mix_of_changes() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    assert_eq!(app.todo_counts(&alice).await, (0, 0, 0));

    let mut ids = Vec::new();
    for i in 0..6 {
        let t = app
            .create_todo(&alice, json!({ "title": format!("t{i}") }))
            .await;
        ids.push(t["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(app.todo_counts(&alice).await, (6, 6, 0));

    app.update_todo_ok(&alice, &ids[0], json!({ "completed": true }))
        .await;
    app.update_todo_ok(&alice, &ids[1], json!({ "completed": true }))
        .await;
    app.update_todo_ok(&alice, &ids[2], json!({ "completed": true }))
        .await;
    assert_eq!(app.todo_counts(&alice).await, (6, 3, 3));

    app.update_todo_ok(&alice, &ids[2], json!({ "completed": false }))
        .await;
    assert_eq!(app.todo_counts(&alice).await, (6, 4, 2));

    // One completed and one active deleted.
    app.delete_todo(&alice, &ids[0]).await;
    app.delete_todo(&alice, &ids[5]).await;
    assert_eq!(app.todo_counts(&alice).await, (4, 3, 1));

    assert_eq!(clear_completed(&app, &alice).await, 1);
    assert_eq!(app.todo_counts(&alice).await, (3, 3, 0));

    assert_eq!(app.toggle_all(&alice, true).await, 3);
    assert_eq!(app.todo_counts(&alice).await, (3, 0, 3));

    // The counts agree with the filtered lists.
    assert_eq!(list(&app, &alice, json!({ "completed": true })).await.0, 3);
    assert_eq!(list(&app, &alice, json!({ "completed": false })).await.0, 0);
}
