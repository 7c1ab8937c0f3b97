//! Trashed todos leave every live read: `todos` (every filter and order,
//! `allLists`), `list(id) { todos todoCounts }`, `me { todos todoCounts }`,
//! `todo(id)`, `totalCount`, REST, and the read cache; and every write:
//! update, move (as the todo or as a neighbour), delete, toggle all.
//! `clearCompletedTodos` and the REST deletes trash too, and deleting a
//! list still deletes its todos, trashed ones included.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{clear_completed_in, trashed, trashed_ids};
use crate::support::{
    TestApp, error_code,
    lists::{Pg, id_of},
    redis_url,
};

/// Every live read of the default list and of `$list`, with a total for
/// each connection.
const EVERY_READ: &str = "query($list: ID!, $gone: ID!) {
    me { todoCounts { total active completed } todos(first: 20) { totalCount nodes { id } } }
    newest: todos(first: 20) { totalCount nodes { id deletedAt } }
    oldest: todos(first: 20, orderBy: CREATED_AT_ASC) { totalCount nodes { id } }
    changed: todos(first: 20, orderBy: UPDATED_AT_DESC) { totalCount nodes { id } }
    due: todos(first: 20, orderBy: DUE_AT_ASC, filter: { dueAfter: \"2030-01-01T00:00:00Z\" }) { totalCount nodes { id } }
    manual: todos(first: 20, orderBy: POSITION) { totalCount nodes { id } }
    done: todos(first: 20, filter: { completed: true }) { totalCount nodes { id } }
    search: todos(first: 20, filter: { search: \"milk\" }) { totalCount nodes { id } }
    everywhere: todos(first: 20, filter: { allLists: true }) { totalCount nodes { id } }
    list(id: $list) { todoCounts { total active completed } todos(first: 20) { totalCount nodes { id } } }
    todo(id: $gone) { id } }";

/// Every connection of an [`EVERY_READ`] answer: (name, ids, totalCount).
fn connections(data: &Value) -> Vec<(&'static str, Vec<String>, i64)> {
    let of = |name: &'static str, conn: &Value| {
        let ids = conn["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(id_of)
            .collect();
        (name, ids, conn["totalCount"].as_i64().unwrap())
    };
    let mut all = vec![of("me.todos", &data["me"]["todos"])];
    for name in [
        "newest",
        "oldest",
        "changed",
        "due",
        "manual",
        "done",
        "search",
        "everywhere",
    ] {
        all.push(of(name, &data[name]));
    }
    all.push(of("list.todos", &data["list"]["todos"]));
    all
}

#[tokio::test]
async fn trashed_todos_leave_every_read_and_the_cache() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let list = app.create_list_id(&alice, "Errands").await;
    let due = json!("2031-01-01T00:00:00Z");
    let keep = id_of(
        &app.create_todo(&alice, json!({ "title": "keep milk", "dueAt": due }))
            .await,
    );
    let gone = id_of(
        &app.create_todo(&alice, json!({ "title": "gone milk", "dueAt": due }))
            .await,
    );
    let done = app
        .update_todo_ok(&alice, &gone, json!({ "completed": true }))
        .await;
    let in_list_keep = app.create_todo_in(&alice, &list, "list keep").await;
    let in_list_gone = app.create_todo_in(&alice, &list, "list gone").await;
    let vars = json!({ "list": list, "gone": gone });

    let before = app.data_as(&alice, EVERY_READ, vars.clone()).await;
    // Read again: with Redis, served from the read cache.
    let stats = app.state.cache.stats();
    let hits = stats.hits();
    assert_eq!(app.data_as(&alice, EVERY_READ, vars.clone()).await, before);
    if redis_url().is_some() {
        assert!(stats.hits() > hits, "the repeat read did not use the cache");
    }
    assert_eq!(before["todo"]["id"], gone.as_str());
    for (name, ids, total) in connections(&before) {
        let expected = match name {
            "list.todos" => vec![in_list_gone.clone(), in_list_keep.clone()],
            "done" => vec![gone.clone()],
            "everywhere" => continue,
            _ => {
                let mut v = vec![gone.clone(), keep.clone()];
                v.sort();
                let mut ids = ids.clone();
                ids.sort();
                assert_eq!(ids, v, "{name} before");
                continue;
            }
        };
        assert_eq!(ids, expected, "{name} before");
        assert_eq!(usize::try_from(total).unwrap(), expected.len(), "{name}");
    }

    app.delete_todo_ok(&alice, &gone).await;
    app.delete_todo_ok(&alice, &in_list_gone).await;

    let after = app.data_as(&alice, EVERY_READ, vars).await;
    assert!(
        after["todo"].is_null(),
        "todo(id) of a trashed todo: {after}"
    );
    for (name, ids, total) in connections(&after) {
        assert!(
            !ids.contains(&gone) && !ids.contains(&in_list_gone),
            "{name} shows a trashed todo: {after}"
        );
        assert_eq!(usize::try_from(total).unwrap(), ids.len(), "{name}");
        let expected = match name {
            "list.todos" => vec![in_list_keep.clone()],
            "done" => vec![],
            "everywhere" => {
                let mut v = vec![keep.clone(), in_list_keep.clone()];
                v.sort();
                let mut ids = ids.clone();
                ids.sort();
                assert_eq!(ids, v, "{name}");
                continue;
            }
            _ => vec![keep.clone()],
        };
        assert_eq!(ids, expected, "{name} after");
    }
    assert_eq!(
        after["me"]["todoCounts"],
        json!({ "total": 1, "active": 1, "completed": 0 })
    );
    assert_eq!(
        after["list"]["todoCounts"],
        json!({ "total": 1, "active": 1, "completed": 0 })
    );
    for node in after["newest"]["nodes"].as_array().unwrap() {
        assert!(
            node["deletedAt"].is_null(),
            "a live todo's deletedAt: {node}"
        );
    }

    // REST: gone from the list and from GET by id.
    let page = app
        .rest_ok(&alice, Method::GET, "/todos?first=20", None)
        .await;
    let rest_ids: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(rest_ids, vec![keep.clone()]);
    let got = app
        .rest_as(&alice, Method::GET, &format!("/todos/{gone}"), None)
        .await;
    assert_eq!(got.status, StatusCode::NOT_FOUND, "{}", got.text);

    // In the trash, as it was: deleting keeps the version.
    let trash = super::trashed(&app, &alice, None).await;
    assert_eq!(trash.len(), 1, "{trash:?}");
    assert_eq!(trash[0]["id"], gone.as_str());
    assert_eq!(trash[0]["version"], done["version"]);
    assert_eq!(trash[0]["updatedAt"], done["updatedAt"]);
    assert!(trash[0]["deletedAt"].is_string(), "{}", trash[0]);
}

#[tokio::test]
async fn writes_to_a_trashed_todo_find_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let keep = app.create_todo_titled(&alice, "keep").await;
    let gone = app.create_todo_titled(&alice, "gone").await;
    app.update_todo_ok(&alice, &gone, json!({ "completed": true }))
        .await;
    app.delete_todo_ok(&alice, &gone).await;
    let before = trashed(&app, &alice, None).await;

    let update = app
        .update_todo(&alice, &gone, json!({ "title": "back?" }))
        .await;
    assert_eq!(error_code(&update), "NOT_FOUND", "{update}");
    let delete = app.delete_todo(&alice, &gone).await;
    assert_eq!(error_code(&delete), "NOT_FOUND", "{delete}");
    let moved = app.move_todo(&alice, &gone, json!({})).await;
    assert_eq!(error_code(&moved), "NOT_FOUND", "{moved}");
    // Not a neighbour either: the todos of a list are its live ones.
    let next_to = app
        .move_todo(&alice, &keep, json!({ "afterId": gone }))
        .await;
    assert_eq!(error_code(&next_to), "BAD_USER_INPUT", "{next_to}");
    let rest = app
        .rest_as(
            &alice,
            Method::PATCH,
            &format!("/todos/{gone}"),
            Some(json!({ "title": "back?" })),
        )
        .await;
    assert_eq!(rest.status, StatusCode::NOT_FOUND, "{}", rest.text);
    let rest = app
        .rest_as(&alice, Method::DELETE, &format!("/todos/{gone}"), None)
        .await;
    assert_eq!(rest.status, StatusCode::NOT_FOUND, "{}", rest.text);
    // Toggling all leaves the trashed (completed) todo alone.
    assert_eq!(app.toggle_all(&alice, false).await, 0);
    assert_eq!(app.toggle_all(&alice, true).await, 1);

    assert_eq!(
        trashed(&app, &alice, None).await,
        before,
        "the trashed todo changed"
    );
}

#[tokio::test]
async fn clear_completed_and_the_rest_deletes_move_todos_to_the_trash() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let mut done = Vec::new();
    let mut active = Vec::new();
    for i in 0..4 {
        let id = app.create_todo_titled(&alice, &format!("todo {i}")).await;
        if i % 2 == 0 {
            let t = app
                .update_todo_ok(&alice, &id, json!({ "completed": true }))
                .await;
            done.push(t);
        } else {
            active.push(id);
        }
    }
    assert_eq!(clear_completed_in(&app, &alice, None).await, 2);
    let trash = trashed(&app, &alice, None).await;
    let mut ids: Vec<String> = trash.iter().map(id_of).collect();
    ids.sort();
    let mut expected: Vec<String> = done.iter().map(id_of).collect();
    expected.sort();
    assert_eq!(ids, expected);
    for t in &trash {
        let before = done.iter().find(|d| d["id"] == t["id"]).unwrap();
        assert_eq!(t["version"], before["version"], "{t}");
        assert_eq!(t["completed"], true, "{t}");
        // Cleared together: one deletion time.
        assert_eq!(t["deletedAt"], trash[0]["deletedAt"], "{t}");
    }
    assert_eq!(app.todo_counts(&alice).await, (2, 2, 0));

    // REST DELETE /todos/{id} and DELETE /todos trash too.
    app.rest_ok(
        &alice,
        Method::DELETE,
        &format!("/todos/{}", active[0]),
        None,
    )
    .await;
    assert_eq!(trashed_ids(&app, &alice, None).await[0], active[0]);
    app.rest_ok(&alice, Method::DELETE, "/todos", None).await;
    let trash = trashed_ids(&app, &alice, None).await;
    assert_eq!(trash.len(), 4, "{trash:?}");
    assert_eq!(trash[0], active[1]);
    assert_eq!(app.todo_counts(&alice).await, (0, 0, 0));
}

#[tokio::test]
async fn deleting_a_list_deletes_its_trashed_todos_too() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let list = app.create_list_id(&alice, "Errands").await;
    let live = app.create_todo_in(&alice, &list, "live").await;
    let gone = app.create_todo_in(&alice, &list, "gone").await;
    app.delete_todo_ok(&alice, &gone).await;
    let body = app.delete_list(&alice, &list).await;
    assert!(body["errors"].is_null(), "deleteList failed: {body}");

    let pg = Pg::connect(&app.database_url).await;
    let left = pg
        .count(&format!(
            "SELECT count(*) FROM todos WHERE id IN ('{live}', '{gone}')"
        ))
        .await;
    assert_eq!(left, 0);
}
