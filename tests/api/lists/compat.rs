//! Backwards compatibility: a client written against `schema.graphql`
//! alone (no list argument anywhere) sees exactly its default list, shared
//! or not, in every operation it knows, and the REST facade with it.

use std::collections::HashSet;

use reqwest::Method;
use serde_json::{Value, json};

use super::assert_ok;
use crate::support::{TODO_FIELDS, TestApp, TestUser};

/// Only operations of `schema.graphql`: every title `todos`, `me.todos`
/// and `me.todoCounts` show, and the counts.
async fn old_client_view(app: &TestApp, user: &TestUser) -> (HashSet<String>, Value) {
    let data = app
        .data_as(
            user,
            &format!(
                "{{ todos(first: 100) {{ totalCount nodes {{ {TODO_FIELDS} owner {{ id }} }} }}
                   me {{ todoCounts {{ total active completed }}
                        todos(first: 100, orderBy: UPDATED_AT_DESC) {{ totalCount nodes {{ title }} }} }} }}"
            ),
            json!({}),
        )
        .await;
    let titles = |conn: &Value| -> HashSet<String> {
        let nodes = conn["nodes"].as_array().unwrap();
        assert_eq!(conn["totalCount"], nodes.len(), "{conn}");
        nodes
            .iter()
            .map(|n| n["title"].as_str().unwrap().to_owned())
            .collect()
    };
    let root = titles(&data["todos"]);
    assert_eq!(
        root,
        titles(&data["me"]["todos"]),
        "todos and me.todos differ"
    );
    (root, data["me"]["todoCounts"].clone())
}

fn set(titles: &[&str]) -> HashSet<String> {
    titles.iter().map(|&t| t.to_owned()).collect()
}

#[tokio::test]
async fn a_list_unaware_client_sees_exactly_its_default_list() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;

    // Alice, through the old API only, and through a list-aware client.
    app.create_todo_titled(&alice, "old one").await;
    let old_two = app.create_todo_titled(&alice, "old two").await;
    let work = app.create_list_id(&alice, "Work").await;
    let in_work = app.create_todo_in(&alice, &work, "in work").await;
    app.create_todo_in(&alice, &work, "also in work").await;
    // Bob edits Alice's default list and shares one of his own with her.
    let alices_default = app.default_list_id(&alice).await;
    app.invite_and_accept(&alice, &alices_default, &bob, "EDITOR")
        .await;
    app.create_todo_in(&bob, &alices_default, "bob in alice's default")
        .await;
    let bobs = app.create_list_id(&bob, "Bob's").await;
    app.invite_and_accept(&bob, &bobs, &alice, "EDITOR").await;
    app.create_todo_in(&bob, &bobs, "in bob's list").await;
    app.create_todo_titled(&bob, "bob's own default").await;

    let (titles, counts) = old_client_view(&app, &alice).await;
    assert_eq!(
        titles,
        set(&["old one", "old two", "bob in alice's default"])
    );
    assert_eq!(counts, json!({ "total": 3, "active": 3, "completed": 0 }));
    // Bob's old client sees his own default list, not Alice's.
    let (titles, _) = old_client_view(&app, &bob).await;
    assert_eq!(titles, set(&["bob's own default"]));

    // Bulk mutations without a list: the default list only.
    assert_eq!(app.toggle_all(&alice, true).await, 3);
    let (_, counts) = old_client_view(&app, &alice).await;
    assert_eq!(counts, json!({ "total": 3, "active": 0, "completed": 3 }));
    let work_todos = app.list_todos(&alice, &work, "POSITION").await;
    assert!(
        work_todos.iter().all(|t| t["completed"] == false),
        "toggleAllTodos reached another list: {work_todos:?}"
    );
    app.update_todo_ok(&alice, &in_work, json!({ "completed": true }))
        .await;
    let cleared = app
        .data_as(&alice, "mutation { clearCompletedTodos }", json!({}))
        .await;
    assert_eq!(cleared["clearCompletedTodos"], 3);
    let (titles, counts) = old_client_view(&app, &alice).await;
    assert!(titles.is_empty(), "{titles:?}");
    assert_eq!(counts, json!({ "total": 0, "active": 0, "completed": 0 }));
    assert_eq!(
        app.list_todos_titles(&alice, &work).await,
        ["also in work", "in work"],
        "clearCompletedTodos reached another list"
    );
    assert_eq!(app.list_todos(&bob, &bobs, "POSITION").await.len(), 1);
    assert!(
        app.data_as(
            &alice,
            "query($id: ID!) { todo(id: $id) { id } }",
            json!({ "id": old_two })
        )
        .await["todo"]
            .is_null()
    );

    // A new todo of the old API lands in the default list; todo(id) reads
    // any todo of the caller's lists.
    let fresh = app.create_todo_titled(&alice, "fresh").await;
    let (titles, _) = old_client_view(&app, &alice).await;
    assert_eq!(titles, set(&["fresh"]));
    for id in [&fresh, &in_work] {
        let todo = app
            .data_as(
                &alice,
                "query($id: ID!) { todo(id: $id) { id } }",
                json!({ "id": id }),
            )
            .await;
        assert_eq!(todo["todo"]["id"], id.as_str());
    }

    // contract-silent: the REST facade is a list-unaware client too, so
    // `/todos` is the default list.
    let rest = app
        .rest_ok(&alice, Method::GET, "/todos?first=100", None)
        .await;
    let rest_titles: HashSet<String> = rest["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(rest_titles, set(&["fresh"]), "{rest}");
}

#[tokio::test]
async fn old_documents_stay_valid_and_mean_the_same() {
    // The operations a client of schema.graphql sends, verbatim: every one
    // still validates, and orderBy keeps its old default (newest first).
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let first = app.create_todo_titled(&alice, "first").await;
    let second = app.create_todo_titled(&alice, "second").await;
    app.move_todo_ok(&alice, &second, json!({ "afterId": first }))
        .await;
    let body = app
        .gql_as(
            &alice,
            "query Old($after: String) { todos(first: 10, after: $after) {
                edges { cursor node { id title owner { id email } } }
                pageInfo { hasNextPage endCursor } totalCount } }",
            json!({}),
        )
        .await;
    let data = assert_ok(&body, "old todos query");
    let ids: Vec<&str> = data["todos"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [second.as_str(), first.as_str()],
        "todos without orderBy is still CREATED_AT_DESC, whatever the manual order"
    );
}
