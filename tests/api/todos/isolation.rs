//! Owner isolation: nothing of another user's todos can be read or changed,
//! and another user's cursor reveals nothing.

use serde_json::{Value, json};

use super::{clear_completed, get_todo, list, titles};
use crate::support::{TODO_FIELDS, TestApp, TestUser, error_code};

/// Everything `user` can see of their own todos, with every field.
async fn snapshot(app: &TestApp, user: &TestUser) -> Value {
    let body = app
        .gql_as(
            user,
            &format!(
                "{{ todos(first: 100, orderBy: CREATED_AT_ASC) {{ totalCount nodes {{
                    {TODO_FIELDS} owner {{ id email }} }} }}
                   me {{ todoCounts {{ total active completed }}
                        todos(first: 100, orderBy: UPDATED_AT_DESC) {{ nodes {{ {TODO_FIELDS} }} }} }} }}"
            ),
            json!({}),
        )
        .await;
    assert!(body["errors"].is_null(), "snapshot failed: {body}");
    body["data"].clone()
}

#[tokio::test]
async fn users_cannot_read_or_change_each_others_todos() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;

    let a_open = app
        .create_todo(
            &alice,
            json!({ "title": "Alice secret", "description": "private notes", "dueAt": "2030-01-01T00:00:00Z" }),
        )
        .await;
    let a_done = app
        .create_todo(&alice, json!({ "title": "Alice done" }))
        .await;
    app.update_todo_ok(
        &alice,
        a_done["id"].as_str().unwrap(),
        json!({ "completed": true }),
    )
    .await;
    let alice_before = snapshot(&app, &alice).await;
    assert_eq!(alice_before["todos"]["totalCount"], 2);

    // Bob has todos of his own, one completed.
    let b_open = app.create_todo(&bob, json!({ "title": "Bob open" })).await;
    let b_done = app.create_todo(&bob, json!({ "title": "Bob done" })).await;
    app.update_todo_ok(
        &bob,
        b_done["id"].as_str().unwrap(),
        json!({ "completed": true }),
    )
    .await;

    for a in [&a_open, &a_done] {
        let id = a["id"].as_str().unwrap();
        // Reading: null, not an error.
        assert!(get_todo(&app, &bob, id).await.is_null(), "bob read {id}");

        // Updating, with or without a version: NOT_FOUND, never CONFLICT.
        for input in [
            json!({ "title": "pwned" }),
            json!({ "completed": false }),
            json!({ "description": null, "dueAt": null }),
            json!({ "title": "pwned", "expectedVersion": a["version"] }),
            json!({ "title": "pwned", "expectedVersion": 99 }),
            json!({}),
        ] {
            let body = app.update_todo(&bob, id, input.clone()).await;
            assert_eq!(error_code(&body), "NOT_FOUND", "bob update {input}: {body}");
            assert!(body["data"].is_null());
        }

        let body = app.delete_todo(&bob, id).await;
        assert_eq!(error_code(&body), "NOT_FOUND", "bob delete: {body}");
    }

    // Lists and searches show Bob only his own.
    let (total, nodes) = list(&app, &bob, Value::Null).await;
    assert_eq!(total, 2);
    let mut own: Vec<&str> = nodes.iter().map(|n| n["title"].as_str().unwrap()).collect();
    own.sort_unstable();
    assert_eq!(own, ["Bob done", "Bob open"]);
    assert!(
        titles(&app, &bob, json!({ "search": "alice" }))
            .await
            .is_empty()
    );
    assert!(
        titles(&app, &bob, json!({ "search": "private" }))
            .await
            .is_empty()
    );
    assert!(
        titles(&app, &bob, json!({ "dueAfter": "2000-01-01T00:00:00Z" }))
            .await
            .is_empty()
    );
    assert_eq!(app.todo_counts(&bob).await, (2, 1, 1));

    // Bulk mutations touch only Bob's todos.
    assert_eq!(app.toggle_all(&bob, true).await, 1);
    assert_eq!(app.toggle_all(&bob, false).await, 2);
    assert_eq!(app.toggle_all(&bob, true).await, 2);
    assert_eq!(clear_completed(&app, &bob).await, 2);
    assert_eq!(app.todo_counts(&bob).await, (0, 0, 0));
    assert!(
        get_todo(&app, &bob, b_open["id"].as_str().unwrap())
            .await
            .is_null()
    );

    // Alice's data is exactly as it was.
    assert_eq!(snapshot(&app, &alice).await, alice_before);
    assert_eq!(
        get_todo(&app, &alice, a_open["id"].as_str().unwrap()).await["title"],
        "Alice secret"
    );
}

#[tokio::test]
async fn another_users_cursor_reveals_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    for i in 0..3 {
        app.create_todo(&alice, json!({ "title": format!("a{i}") }))
            .await;
    }
    let body = app
        .gql_as(
            &alice,
            "{ todos(first: 1) { pageInfo { endCursor } } }",
            json!({}),
        )
        .await;
    let cursor = body["data"]["todos"]["pageInfo"]["endCursor"].clone();
    assert!(cursor.is_string(), "{body}");
    let body = app
        .gql_as(
            &bob,
            "query($after: String) { todos(after: $after) { totalCount nodes { id } } }",
            json!({ "after": cursor }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["todos"]["totalCount"], 0);
    assert_eq!(body["data"]["todos"]["nodes"], json!([]));
}
