//! Reading lists: `lists` (the default list first, then by position, in
//! pages), `list(id:)`, a list's owner, members, counts, version and its
//! todos in every order (POSITION in keyset pages), and the todo fields
//! the contract adds (`list`, `position`, `createdBy`), `createTodo` in a
//! list and `todos(filter: { allLists: true })`.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::{ROOMY, assert_ok};
use crate::support::{
    TestApp, error_code,
    fractional_index::{is_valid_key, key_between},
    lists::{LIST_FIELDS, id_of},
};

fn position(value: &Value) -> &str {
    value["position"]
        .as_str()
        .unwrap_or_else(|| panic!("no position in {value}"))
}

#[tokio::test]
async fn lists_start_with_the_default_list_then_created_lists_in_order() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;

    let lists = app.lists_of(&alice).await;
    assert_eq!(
        lists.len(),
        1,
        "a new account has its default list: {lists:?}"
    );
    let default = &lists[0];
    assert_eq!(default["isDefault"], true);
    assert_eq!(default["role"], "OWNER");
    assert_eq!(default["owner"]["id"], alice.id.as_str());
    assert_eq!(default["owner"]["email"], alice.email.as_str());
    assert_eq!(default["owner"]["displayName"], "alice");
    assert!(is_valid_key(position(default)), "{default}");
    let name = default["name"].as_str().unwrap();
    assert!(!name.is_empty() && name.trim() == name, "{default}");
    let default_id = id_of(default);
    assert_ne!(app.default_list_id(&bob).await, default_id);

    let created = app.create_list(&alice, "Groceries").await;
    assert_eq!(created["name"], "Groceries");
    assert_eq!(created["isDefault"], false);
    assert_eq!(created["role"], "OWNER");
    assert_eq!(created["owner"]["id"], alice.id.as_str());
    // contract-silent: a list's version starts at 1, as a todo's does.
    assert_eq!(created["version"], 1);
    assert_eq!(created["createdAt"], created["updatedAt"]);
    let groceries = id_of(&created);
    let work = app.create_list_id(&alice, "Work").await;
    let trip = app.create_list_id(&alice, "Trip").await;

    let lists = app.lists_of(&alice).await;
    let ids: Vec<String> = lists.iter().map(id_of).collect();
    assert_eq!(ids, [&*default_id, &*groceries, &*work, &*trip]);
    assert_eq!(lists[0]["isDefault"], true);
    for list in &lists[1..] {
        assert_eq!(list["isDefault"], false, "{list}");
        assert_eq!(list["role"], "OWNER", "{list}");
        assert!(is_valid_key(position(list)), "{list}");
    }
    // Created lists go after the others: by position.
    assert!(
        lists[1..]
            .windows(2)
            .all(|w| position(&w[0]) < position(&w[1])),
        "{lists:?}"
    );

    // Pages of two: the same lists, the same total on every page.
    let page = |after: Value| {
        let app = &app;
        let alice = &alice;
        async move {
            app.data_as(
                alice,
                "query($after: String) { lists(first: 2, after: $after) { totalCount
                    edges { cursor node { id } } nodes { id }
                    pageInfo { hasNextPage endCursor } } }",
                json!({ "after": after }),
            )
            .await["lists"]
                .clone()
        }
    };
    let first = page(Value::Null).await;
    let second = page(first["pageInfo"]["endCursor"].clone()).await;
    for (p, expected, more) in [
        (&first, [&*default_id, &*groceries], true),
        (&second, [&*work, &*trip], false),
    ] {
        assert_eq!(p["totalCount"], 4, "{p}");
        let nodes: Vec<String> = p["nodes"].as_array().unwrap().iter().map(id_of).collect();
        assert_eq!(nodes, expected, "{p}");
        let edges: Vec<String> = p["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| id_of(&e["node"]))
            .collect();
        assert_eq!(edges, nodes, "{p}");
        assert_eq!(p["pageInfo"]["hasNextPage"], more, "{p}");
    }

    // Nothing of Alice's lists in Bob's.
    let bobs = app.lists_of(&bob).await;
    assert_eq!(bobs.len(), 1);
    assert_eq!(bobs[0]["owner"]["id"], bob.id.as_str());
}

#[tokio::test]
async fn a_list_is_null_when_unknown_malformed_or_not_the_callers() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let bobs = app.create_list_id(&bob, "Bob's").await;
    let bobs_default = app.default_list_id(&bob).await;
    let todo = app.create_todo_titled(&alice, "not a list").await;
    let unknown = uuid::Uuid::now_v7().to_string();
    for id in [
        unknown.as_str(),
        "not-a-uuid",
        "",
        "1",
        &bobs,
        &bobs_default,
        &todo,
    ] {
        let body = app
            .gql_as(
                &alice,
                "query($id: ID!) { list(id: $id) { id name } }",
                json!({ "id": id }),
            )
            .await;
        let data = assert_ok(&body, &format!("list({id:?})"));
        assert!(data["list"].is_null(), "list({id:?}): {body}");
    }
}

#[tokio::test]
async fn a_list_shows_its_owner_members_counts_and_version() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let trip = app.create_list_id(&alice, "Trip").await;
    app.invite_and_accept(&alice, &trip, &bob, "EDITOR").await;
    app.invite_and_accept(&alice, &trip, &carol, "VIEWER").await;

    let passport = app.create_todo_in(&alice, &trip, "Passport").await;
    app.create_todo_in(&alice, &trip, "Tickets").await;
    app.create_todo_in(&bob, &trip, "Sunscreen").await;
    app.update_todo_ok(&bob, &passport, json!({ "completed": true }))
        .await;

    for (user, role) in [(&alice, "OWNER"), (&bob, "EDITOR"), (&carol, "VIEWER")] {
        let list = app.get_list(user, &trip).await;
        assert_eq!(list["id"], trip.as_str());
        assert_eq!(list["name"], "Trip");
        assert_eq!(list["role"], role, "{list}");
        assert_eq!(list["isDefault"], false);
        assert_eq!(list["owner"]["id"], alice.id.as_str());
        assert_eq!(list["owner"]["email"], alice.email.as_str());
        assert_eq!(list["owner"]["displayName"], "alice");
        let mut members: Vec<(String, String, String)> = list["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                assert!(m["joinedAt"].is_string(), "{m}");
                (
                    m["user"]["id"].as_str().unwrap().to_owned(),
                    m["user"]["email"].as_str().unwrap().to_owned(),
                    m["role"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        members.sort();
        let mut expected = vec![
            (alice.id.clone(), alice.email.clone(), "OWNER".to_owned()),
            (bob.id.clone(), bob.email.clone(), "EDITOR".to_owned()),
            (carol.id.clone(), carol.email.clone(), "VIEWER".to_owned()),
        ];
        expected.sort();
        assert_eq!(members, expected);

        let data = app
            .data_as(
                user,
                "query($id: ID!) { list(id: $id) { todoCounts { total active completed }
                    pendingInvitations { id } } }",
                json!({ "id": trip }),
            )
            .await;
        assert_eq!(
            data["list"]["todoCounts"],
            json!({ "total": 3, "active": 2, "completed": 1 })
        );
        assert_eq!(data["list"]["pendingInvitations"], json!([]));
    }

    // Renaming moves the version on by one.
    let before = app.get_list(&alice, &trip).await;
    let body = app
        .update_list(&bob, &trip, json!({ "name": "Summer trip" }))
        .await;
    let renamed = assert_ok(&body, "rename")["updateList"].clone();
    assert_eq!(renamed["name"], "Summer trip");
    assert_eq!(renamed["role"], "EDITOR");
    assert_eq!(
        renamed["version"].as_i64().unwrap(),
        before["version"].as_i64().unwrap() + 1
    );
    assert_eq!(app.get_list(&carol, &trip).await["name"], "Summer trip");
}

#[tokio::test]
async fn a_lists_todos_come_in_every_order_and_position_pages_are_gap_free() {
    let app = TestApp::spawn_with(&[ROOMY]).await;
    let alice = app.register("alice").await;
    let list = app.create_list_id(&alice, "Ordered").await;
    let dues = [
        Some("2030-01-03T00:00:00Z"),
        None,
        Some("2030-01-01T00:00:00Z"),
        Some("2030-01-02T00:00:00Z"),
        None,
        Some("2030-01-05T00:00:00Z"),
        Some("2030-01-04T00:00:00Z"),
    ];
    let mut ids = Vec::new();
    for (i, due) in dues.iter().enumerate() {
        let body = app
            .gql_as(
                &alice,
                "mutation($input: CreateTodoInput!) { createTodo(input: $input) { id position } }",
                json!({ "input": { "title": format!("t{i}"), "listId": list, "dueAt": due } }),
            )
            .await;
        let todo = assert_ok(&body, "createTodo")["createTodo"].clone();
        assert!(is_valid_key(position(&todo)), "{todo}");
        ids.push(id_of(&todo));
    }
    let titles = |todos: &[Value]| -> Vec<String> {
        todos
            .iter()
            .map(|t| t["title"].as_str().unwrap().to_owned())
            .collect()
    };
    let names =
        |order: &[usize]| -> Vec<String> { order.iter().map(|i| format!("t{i}")).collect() };

    // New todos go first: POSITION (the default) is newest first here.
    assert_eq!(
        app.list_todos_titles(&alice, &list).await,
        names(&[6, 5, 4, 3, 2, 1, 0])
    );
    let default_order = app
        .data_as(
            &alice,
            "query($id: ID!) { list(id: $id) { todos(first: 100) { nodes { title } } } }",
            json!({ "id": list }),
        )
        .await;
    assert_eq!(
        titles(default_order["list"]["todos"]["nodes"].as_array().unwrap()),
        names(&[6, 5, 4, 3, 2, 1, 0]),
        "orderBy defaults to POSITION"
    );
    app.update_todo_ok(&alice, &ids[2], json!({ "description": "touched" }))
        .await;
    app.update_todo_ok(&alice, &ids[5], json!({ "description": "touched" }))
        .await;
    for (order, expected) in [
        ("CREATED_AT_DESC", names(&[6, 5, 4, 3, 2, 1, 0])),
        ("CREATED_AT_ASC", names(&[0, 1, 2, 3, 4, 5, 6])),
        ("DUE_AT_ASC", names(&[2, 3, 0, 6, 5, 1, 4])),
        ("UPDATED_AT_DESC", names(&[5, 2, 6, 4, 3, 1, 0])),
    ] {
        let todos = app.list_todos(&alice, &list, order).await;
        assert_eq!(titles(&todos), expected, "orderBy {order}");
    }

    // Rearranged by hand, then two todos given the same key: ties are
    // broken by id, and keyset pages of every size walk the same order.
    app.move_todo_ok(&alice, &ids[0], json!({})).await;
    app.move_todo_ok(&alice, &ids[3], json!({ "afterId": ids[5] }))
        .await;
    let current = app.list_todos(&alice, &list, "POSITION").await;
    let key = key_between(Some(position(&current[2])), Some(position(&current[3])));
    for i in [1, 4] {
        let moved = app
            .move_todo_ok(&alice, &ids[i], json!({ "position": key }))
            .await;
        assert_eq!(moved["position"], key.as_str());
    }
    let full = app.list_todos(&alice, &list, "POSITION").await;
    assert_eq!(full.len(), 7);
    for w in full.windows(2) {
        let (a, b) = (position(&w[0]), position(&w[1]));
        assert!(
            a < b || (a == b && w[0]["id"].as_str() < w[1]["id"].as_str()),
            "not in (position, id) order: {w:?}"
        );
    }
    let tied: Vec<&Value> = full.iter().filter(|t| position(t) == key).collect();
    assert_eq!(tied.len(), 2, "{full:?}");
    let full_ids: Vec<String> = full.iter().map(id_of).collect();
    for size in [1, 2, 3] {
        let mut walked: Vec<String> = Vec::new();
        let mut after = Value::Null;
        loop {
            let data = app
                .data_as(
                    &alice,
                    "query($id: ID!, $first: Int, $after: String) { list(id: $id) {
                        todos(first: $first, after: $after, orderBy: POSITION) { totalCount
                            nodes { id } pageInfo { hasNextPage endCursor } } } }",
                    json!({ "id": list, "first": size, "after": after }),
                )
                .await;
            let page = &data["list"]["todos"];
            assert_eq!(page["totalCount"], 7, "{page}");
            walked.extend(page["nodes"].as_array().unwrap().iter().map(id_of));
            if page["pageInfo"]["hasNextPage"] == false {
                break;
            }
            after = page["pageInfo"]["endCursor"].clone();
            assert!(walked.len() <= 7, "pages never end: {walked:?}");
        }
        assert_eq!(walked, full_ids, "pages of {size}");
    }
}

#[tokio::test]
async fn todos_tell_their_list_position_and_creator() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let shared = app.create_list_id(&alice, "Shared").await;
    app.invite_and_accept(&alice, &shared, &bob, "EDITOR").await;

    let body = app
        .gql_as(
            &bob,
            "mutation($input: CreateTodoInput!) { createTodo(input: $input) {
                id position list { id name role isDefault } createdBy { id email displayName }
                owner { id } } }",
            json!({ "input": { "title": "Bob's idea", "listId": shared } }),
        )
        .await;
    let todo = assert_ok(&body, "createTodo in a shared list")["createTodo"].clone();
    assert_eq!(
        todo["list"],
        json!({ "id": shared, "name": "Shared", "role": "EDITOR", "isDefault": false })
    );
    assert!(is_valid_key(position(&todo)), "{todo}");
    assert_eq!(
        todo["createdBy"],
        json!({ "id": bob.id, "email": bob.email, "displayName": "bob" })
    );
    assert_eq!(
        todo["owner"]["id"],
        bob.id.as_str(),
        "Todo.owner is the creator"
    );

    // The same todo as the list's owner sees it.
    let seen = app
        .data_as(
            &alice,
            "query($id: ID!) { todo(id: $id) { id position list { id role }
                createdBy { id displayName } } }",
            json!({ "id": todo["id"] }),
        )
        .await["todo"]
        .clone();
    assert_eq!(seen["list"], json!({ "id": shared, "role": "OWNER" }));
    assert_eq!(seen["createdBy"]["id"], bob.id.as_str());
    assert_eq!(seen["position"], todo["position"]);

    // Without listId: the default list.
    let alices_default = app.default_list_id(&alice).await;
    let plain = app
        .data_as(
            &alice,
            "mutation { createTodo(input: { title: \"plain\" }) { list { id isDefault role } createdBy { id } } }",
            json!({}),
        )
        .await["createTodo"]
        .clone();
    assert_eq!(
        plain,
        json!({ "list": { "id": alices_default, "isDefault": true, "role": "OWNER" },
                "createdBy": { "id": alice.id } })
    );

    // A list that is not the caller's, or no list at all, is missing.
    for list in [
        alices_default.clone(),
        uuid::Uuid::now_v7().to_string(),
        "not-a-uuid".to_owned(),
    ] {
        let body = app.try_create_todo_in(&bob, &list, "nowhere").await;
        assert_eq!(
            error_code(&body),
            "NOT_FOUND",
            "createTodo in {list}: {body}"
        );
    }
    assert_eq!(app.list_todos(&alice, &shared, "POSITION").await.len(), 1);
}

#[tokio::test]
async fn the_all_lists_filter_spans_every_list_the_caller_is_a_member_of() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    app.create_todo_titled(&alice, "default one").await;
    let done = app.create_todo_titled(&alice, "default done").await;
    app.update_todo_ok(&alice, &done, json!({ "completed": true }))
        .await;
    let own = app.create_list_id(&alice, "Own").await;
    app.create_todo_in(&alice, &own, "own list").await;
    let shared = app.create_list_id(&bob, "Bob shares").await;
    app.invite_and_accept(&bob, &shared, &alice, "VIEWER").await;
    app.create_todo_in(&bob, &shared, "shared by bob").await;
    let private = app.create_list_id(&bob, "Bob alone").await;
    app.create_todo_in(&bob, &private, "bob's secret").await;
    app.create_todo_titled(&bob, "bob's default").await;

    let query = "query($filter: TodoFilter) {
        todos(first: 100, filter: $filter) { totalCount nodes { title list { id } } }
        me { todos(first: 100, filter: $filter) { totalCount nodes { title } } } }";
    let titles = |conn: &Value| -> HashSet<String> {
        let nodes = conn["nodes"].as_array().unwrap();
        assert_eq!(conn["totalCount"], nodes.len(), "{conn}");
        nodes
            .iter()
            .map(|n| n["title"].as_str().unwrap().to_owned())
            .collect()
    };
    let set =
        |titles: &[&str]| -> HashSet<String> { titles.iter().map(|&t| t.to_owned()).collect() };
    for (filter, expected) in [
        (
            json!({ "allLists": true }),
            set(&["default one", "default done", "own list", "shared by bob"]),
        ),
        (
            json!({ "allLists": true, "completed": false }),
            set(&["default one", "own list", "shared by bob"]),
        ),
        (
            json!({ "allLists": true, "search": "BOB" }),
            set(&["shared by bob"]),
        ),
        (
            json!({ "allLists": false }),
            set(&["default one", "default done"]),
        ),
        (json!({}), set(&["default one", "default done"])),
    ] {
        let data = app
            .data_as(&alice, query, json!({ "filter": filter }))
            .await;
        assert_eq!(titles(&data["todos"]), expected, "todos {filter}");
        assert_eq!(titles(&data["me"]["todos"]), expected, "me.todos {filter}");
    }
}

#[tokio::test]
async fn list_fields_are_asked_for_like_any_other() {
    // One request reading lists with everything a sidebar shows.
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    app.create_list(&alice, "Sidebar").await;
    let data = app
        .data_as(
            &alice,
            &format!(
                "{{ lists {{ totalCount pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
                    nodes {{ {LIST_FIELDS} todoCounts {{ total active completed }}
                        members {{ role user {{ id }} }} pendingInvitations {{ id }} }} }} }}"
            ),
            json!({}),
        )
        .await;
    let lists = &data["lists"];
    assert_eq!(lists["totalCount"], 2, "{data}");
    assert_eq!(lists["pageInfo"]["hasNextPage"], false, "{data}");
    for list in lists["nodes"].as_array().unwrap() {
        assert_eq!(
            list["todoCounts"],
            json!({ "total": 0, "active": 0, "completed": 0 })
        );
        assert_eq!(
            list["members"],
            json!([{ "role": "OWNER", "user": { "id": alice.id } }])
        );
        assert_eq!(list["pendingInvitations"], json!([]));
    }
}
