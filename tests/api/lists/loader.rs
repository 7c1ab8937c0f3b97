//! Batching: a page of todos asking for each todo's list (and role)
//! costs the same number of SQL statements whether its todos come from one
//! list or from ten, own and shared: the lists, memberships and creators
//! are loaded per page, not per todo.

use serde_json::json;

use super::ROOMY;
use crate::support::{TestApp, TestUser};

/// Statements counted by the app, in total and about lists.
#[derive(Debug, PartialEq, Eq)]
struct Cost {
    total: u64,
    lists: u64,
    members: u64,
    users: u64,
}

/// Runs `query` as `user`, which must answer `expected` todos; its cost.
async fn cost(app: &TestApp, user: &TestUser, query: &str, expected: usize) -> Cost {
    let stats = app.state.db.stats();
    stats.reset();
    let data = app.data_as(user, query, json!({})).await;
    let cost = Cost {
        total: stats.count_matching(""),
        lists: stats.count_matching("lists"),
        members: stats.count_matching("list_members"),
        users: stats.count_matching("users"),
    };
    let nodes = data["todos"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), expected, "{data}");
    for node in nodes {
        assert!(node["list"]["id"].is_string(), "{node}");
        assert!(node["list"]["role"].is_string(), "{node}");
    }
    cost
}

#[tokio::test]
async fn a_page_of_todos_from_ten_lists_costs_what_one_list_costs() {
    // No read cache: every read goes to PostgreSQL and is counted.
    let app = TestApp::spawn_with(&[ROOMY, ("CACHE", "false")]).await;
    let small = app.register("small").await;
    let big = app.register("big").await;
    let sharer = app.register("sharer").await;

    // A shared list with a collaborator's todos, like the big case, so
    // both cases load users other than the caller.
    let helper = app.register("helper").await;
    let one = app.create_list_id(&small, "Only").await;
    app.invite_and_accept(&small, &one, &helper, "EDITOR").await;
    for i in 0..10 {
        let author = if i % 2 == 0 { &small } else { &helper };
        app.create_todo_in(author, &one, &format!("small {i}"))
            .await;
    }
    // Five lists of Big's own, five shared with Big by another user, with
    // todos by both: ten lists, two roles, two creators.
    let mut lists = Vec::new();
    for i in 0..5 {
        lists.push((app.create_list_id(&big, &format!("own {i}")).await, "OWNER"));
    }
    for i in 0..5 {
        let list = app.create_list_id(&sharer, &format!("shared {i}")).await;
        let role = if i % 2 == 0 { "EDITOR" } else { "VIEWER" };
        app.invite_and_accept(&sharer, &list, &big, role).await;
        lists.push((list, role));
    }
    for (list, role) in &lists {
        for i in 0..10 {
            let author = match *role {
                "OWNER" => &big,
                "EDITOR" if i % 2 == 1 => &big,
                _ => &sharer,
            };
            app.create_todo_in(author, list, &format!("todo {i}")).await;
        }
    }

    let queries = [
        "{ todos(first: 100, filter: { allLists: true }) { nodes { id list { id name role } } } }",
        "{ todos(first: 100, filter: { allLists: true }, orderBy: UPDATED_AT_DESC) {
            nodes { id title position list { id name role isDefault }
                createdBy { id displayName } owner { id } } } }",
    ];
    for query in queries {
        let small_cost = cost(&app, &small, query, 10).await;
        let big_cost = cost(&app, &big, query, 100).await;
        assert_eq!(
            big_cost, small_cost,
            "100 todos in 10 lists cost more statements than 10 in one list: {query}"
        );
    }

    // The roles come out right, batched or not.
    let data = app
        .data_as(
            &big,
            "{ todos(first: 100, filter: { allLists: true }) { nodes { list { id role } } } }",
            json!({}),
        )
        .await;
    for node in data["todos"]["nodes"].as_array().unwrap() {
        let (_, role) = lists
            .iter()
            .find(|(id, _)| node["list"]["id"] == id.as_str())
            .unwrap_or_else(|| panic!("a todo of an unknown list: {node}"));
        assert_eq!(node["list"]["role"], *role, "{node}");
    }
}
