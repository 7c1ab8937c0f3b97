//! Isolation: a user who is no member of a list sees nothing of it (reads
//! null, writes NOT_FOUND, streams silent, resumed or not), another user's
//! todos stay FORBIDDEN through a shared todo's owner, and a member who is
//! removed loses everything at once.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::{CHANGES, Feed, TODO_EVENTS, assert_refused, fence_all, snapshot};
use crate::support::{TestApp, TestUser, lists::id_of};

/// Every todo id and list id `user` can find through queries.
async fn visible(app: &TestApp, user: &TestUser) -> HashSet<String> {
    let data = app
        .data_as(
            user,
            "{ lists(first: 100) { nodes { id todos(first: 100) { nodes { id } } } }
               todos(first: 100, filter: { allLists: true }) { nodes { id list { id } } }
               invitations { id list { id } } }",
            json!({}),
        )
        .await;
    let mut ids = HashSet::new();
    for list in data["lists"]["nodes"].as_array().unwrap() {
        ids.insert(id_of(list));
        for todo in list["todos"]["nodes"].as_array().unwrap() {
            ids.insert(id_of(todo));
        }
    }
    for todo in data["todos"]["nodes"].as_array().unwrap() {
        ids.insert(id_of(todo));
        ids.insert(id_of(&todo["list"]));
    }
    for invitation in data["invitations"].as_array().unwrap() {
        ids.insert(id_of(invitation));
        ids.insert(id_of(&invitation["list"]));
    }
    ids
}

/// Asserts `user` can reach nothing of `list` and its todos `todos`.
async fn assert_shut_out(app: &TestApp, user: &TestUser, list: &str, todos: &[&str]) {
    let seen = visible(app, user).await;
    assert!(!seen.contains(list), "{list} is visible");
    assert!(app.get_list(user, list).await.is_null(), "list({list})");
    let own = app.default_list_id(user).await;
    for &todo in todos {
        assert!(!seen.contains(todo), "{todo} is visible");
        let data = app
            .data_as(
                user,
                "query($id: ID!) { todo(id: $id) { id } }",
                json!({ "id": todo }),
            )
            .await;
        assert!(data["todo"].is_null(), "todo({todo}): {data}");
        for (what, body) in [
            (
                "updateTodo",
                app.update_todo(user, todo, json!({ "title": "mine now" }))
                    .await,
            ),
            ("deleteTodo", app.delete_todo(user, todo).await),
            ("moveTodo", app.move_todo(user, todo, json!({})).await),
            (
                "moveTodo to its own list",
                app.move_todo(user, todo, json!({ "listId": own })).await,
            ),
            (
                "updateTodo with a version",
                app.update_todo(
                    user,
                    todo,
                    json!({ "completed": true, "expectedVersion": 1 }),
                )
                .await,
            ),
        ] {
            assert_refused(&body, "NOT_FOUND", &format!("{what} {todo}"));
        }
    }
    for (what, query) in [
        (
            "toggleAllTodos",
            "mutation($l: ID!) { toggleAllTodos(completed: true, listId: $l) }",
        ),
        (
            "clearCompletedTodos",
            "mutation($l: ID!) { clearCompletedTodos(listId: $l) }",
        ),
        (
            "createTodo",
            "mutation($l: ID!) { createTodo(input: { title: \"in\", listId: $l }) { id } }",
        ),
    ] {
        let body = app.gql_as(user, query, json!({ "l": list })).await;
        assert_refused(&body, "NOT_FOUND", what);
    }
    // Nor can one of its own todos be moved in.
    let mine = app.create_todo_titled(user, "my own").await;
    let body = app.move_todo(user, &mine, json!({ "listId": list })).await;
    assert_refused(&body, "NOT_FOUND", "moving one's own todo into the list");
    app.delete_todo_ok(user, &mine).await;
}

#[tokio::test]
async fn a_non_member_sees_and_touches_nothing_of_a_list() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let mallory = app.register("mallory").await;
    let list = app.create_list_id(&alice, "Secret plans").await;
    app.invite_and_accept(&alice, &list, &bob, "EDITOR").await;
    let by_alice = app.create_todo_in(&alice, &list, "secret one").await;
    let by_bob = app.create_todo_in(&bob, &list, "secret two").await;
    app.update_todo_ok(&alice, &by_bob, json!({ "completed": true }))
        .await;
    app.create_todo_titled(&mallory, "mallory's").await;
    let before = snapshot(&app, &alice, &list).await;

    assert_shut_out(&app, &mallory, &list, &[&by_alice, &by_bob]).await;
    let found = app
        .data_as(
            &mallory,
            "{ todos(filter: { allLists: true, search: \"secret\" }) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(found["todos"]["totalCount"], 0);
    assert_eq!(app.todo_counts(&mallory).await, (1, 1, 0));

    // A cursor of the list's todos names nothing of it to someone else.
    let cursor = app
        .data_as(
            &alice,
            "query($id: ID!) { list(id: $id) { todos(first: 1) { pageInfo { endCursor } } } }",
            json!({ "id": list }),
        )
        .await["list"]["todos"]["pageInfo"]["endCursor"]
        .clone();
    assert!(cursor.is_string());
    let body = app
        .gql_as(
            &mallory,
            "query($after: String) { todos(after: $after, filter: { allLists: true }) {
                nodes { id } } }",
            json!({ "after": cursor }),
        )
        .await;
    let leaked: Vec<&Value> = body["data"]["todos"]["nodes"]
        .as_array()
        .map(|n| {
            n.iter()
                .filter(|t| t["id"] == by_alice.as_str() || t["id"] == by_bob.as_str())
                .collect()
        })
        .unwrap_or_default();
    assert!(leaked.is_empty(), "{body}");

    assert_eq!(snapshot(&app, &alice, &list).await, before);
}

#[tokio::test]
async fn another_users_todos_stay_forbidden_through_a_shared_todo() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let list = app.create_list_id(&alice, "Shared").await;
    app.invite_and_accept(&alice, &list, &bob, "EDITOR").await;
    let bobs = app.create_todo_in(&bob, &list, "bob's shared todo").await;
    app.create_todo_titled(&bob, "bob's private todo").await;

    let ok = app
        .data_as(
            &alice,
            "query($id: ID!) { todo(id: $id) { id owner { id email displayName }
                createdBy { id email displayName } } }",
            json!({ "id": bobs }),
        )
        .await;
    assert_eq!(ok["todo"]["owner"]["id"], bob.id.as_str());
    assert_eq!(ok["todo"]["owner"], ok["todo"]["createdBy"]);

    for field in [
        "todos { totalCount nodes { title } }",
        "todos(filter: { allLists: true }) { totalCount }",
        "todoCounts { total }",
    ] {
        let body = app
            .gql_as(
                &alice,
                &format!("query($id: ID!) {{ todo(id: $id) {{ id owner {{ id {field} }} }} }}"),
                json!({ "id": bobs }),
            )
            .await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "FORBIDDEN",
            "owner.{field}: {body}"
        );
        assert!(
            !body.to_string().contains("bob's private todo"),
            "leaked: {body}"
        );
    }
    // The same fields of oneself are fine.
    let own = app
        .data_as(
            &bob,
            "query($id: ID!) { todo(id: $id) { owner { todoCounts { total } } } }",
            json!({ "id": bobs }),
        )
        .await;
    assert_eq!(
        own["todo"]["owner"]["todoCounts"]["total"], 1,
        "bob's default list"
    );
}

#[tokio::test]
async fn a_non_members_streams_carry_nothing_of_a_list_even_resumed() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let mallory = app.register("mallory").await;
    let mut feeds = Feed::open_all(
        &app,
        &mallory,
        &[(CHANGES, json!({})), (TODO_EVENTS, json!({ "all": true }))],
    )
    .await;

    let list = app.create_list_id(&alice, "Not for mallory").await;
    app.invite_and_accept(&alice, &list, &bob, "EDITOR").await;
    let t = app.create_todo_in(&bob, &list, "hidden").await;
    app.update_todo_ok(&alice, &t, json!({ "completed": true }))
        .await;
    app.update_list(&alice, &list, json!({ "name": "Renamed" }))
        .await;
    let alices_default = app.default_list_id(&alice).await;
    app.move_todo_ok(&alice, &t, json!({ "listId": alices_default }))
        .await;
    app.delete_list(&alice, &list).await;
    app.delete_todo_ok(&alice, &t).await;

    let (changes, all) = feeds.split_at_mut(1);
    let got = fence_all(&app, &mallory, &mut [&mut changes[0], &mut all[0]]).await;
    assert_eq!(got, [Vec::<Value>::new(), Vec::new()], "mallory's streams");
    drop(feeds);

    // Resumed from before anything happened: only mallory's own events.
    let own = app.default_list_id(&mallory).await;
    let start = todoql::events::cursor::encode(0);
    for (query, variables) in [
        (CHANGES, json!({ "after": start })),
        (TODO_EVENTS, json!({ "after": start, "all": true })),
    ] {
        let mut resumed = Feed::open(&app, &mallory, query, variables).await;
        let replayed = resumed.fence(&app, &mallory).await;
        assert!(!replayed.is_empty(), "mallory's own markers are replayed");
        for event in &replayed {
            assert_eq!(event["listId"], own.as_str(), "{event}");
            assert_ne!(event["todoId"], t.as_str(), "{event}");
        }
        resumed.close().await;
    }
}

#[tokio::test]
async fn a_removed_member_loses_everything_at_once() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let list = app.create_list_id(&alice, "Was shared").await;
    app.invite_and_accept(&alice, &list, &bob, "EDITOR").await;
    let by_bob = app.create_todo_in(&bob, &list, "bob made it").await;
    let by_alice = app.create_todo_in(&alice, &list, "alice made it").await;
    assert!(visible(&app, &bob).await.contains(&by_alice));
    let mut feed = Feed::changes(&app, &bob).await;

    let body = app.remove_member(&alice, &list, &bob.id).await;
    assert_eq!(body["data"]["removeMember"], true, "{body}");
    let event = feed.next().await;
    assert_eq!(event["__typename"], "ListEvent", "{event}");
    assert_eq!(event["action"], "ACCESS_REVOKED", "{event}");
    assert_eq!(event["listId"], list.as_str(), "{event}");
    assert!(event["list"].is_null(), "{event}");
    // Even the todo Bob created is out of his reach: it is the list's.
    assert_shut_out(&app, &bob, &list, &[&by_bob, &by_alice]).await;
    // Removing again: nothing to remove.
    let body = app.remove_member(&alice, &list, &bob.id).await;
    assert!(
        body["data"]["removeMember"] == false
            || body["errors"][0]["extensions"]["code"] == "NOT_FOUND",
        "contract-silent: removing a non-member is false or NOT_FOUND: {body}"
    );
    let later = app.create_todo_in(&alice, &list, "after bob left").await;
    app.update_todo_ok(&alice, &by_bob, json!({ "completed": true }))
        .await;
    // What arrives now is Bob's own (the probes of his own default list).
    for event in feed.fence(&app, &bob).await {
        assert_ne!(event["listId"], list.as_str(), "{event}");
        assert_ne!(event["todoId"], later.as_str(), "{event}");
        assert_ne!(event["todoId"], by_bob.as_str(), "{event}");
    }
}
