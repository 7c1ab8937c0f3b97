//! Statements per page: a 500-change page (todos of two lists by two
//! creators, list events) costs the same statements as a page of a few
//! changes with the same mix: one for the page, one batch per DataLoader.

use serde_json::json;

use super::ROOMY;
use crate::support::{TestApp, TestUser};

/// A page with the fields that go through the request's DataLoaders.
const RICH: &str = "query($first: Int) { changes(first: $first) { cursor hasMore changes {
    ... on TodoEvent { cursor kind todoId listId
        todo { id title completed owner { id } createdBy { id } list { id role } } }
    ... on ListEvent { cursor action listId list { id name owner { id } members { role } } } } } }";

/// Statements counted by the app for one page, in total and per table.
#[derive(Debug, PartialEq, Eq)]
struct Cost {
    total: u64,
    events: u64,
    members: u64,
    users: u64,
}

/// Gives `user` a feed of todo events in two lists (its default list and
/// one shared with `partner`, who writes there too) and list events:
/// `n` todos per list and creator, then `rounds` toggles of both lists.
async fn fill(app: &TestApp, user: &TestUser, partner: &TestUser, n: usize, rounds: usize) {
    let shared = app.create_list_id(user, "Shared").await;
    app.invite_and_accept(user, &shared, partner, "EDITOR")
        .await;
    for i in 0..n {
        app.create_todo_titled(user, &format!("own {i}")).await;
        app.create_todo_in(user, &shared, &format!("mine {i}"))
            .await;
        app.create_todo_in(partner, &shared, &format!("theirs {i}"))
            .await;
    }
    for round in 0..rounds {
        let completed = round % 2 == 0;
        app.toggle_all(user, completed).await;
        let body = app
            .gql_as(
                user,
                "mutation($c: Boolean!, $l: ID) { toggleAllTodos(completed: $c, listId: $l) }",
                json!({ "c": completed, "l": shared }),
            )
            .await;
        assert!(body["errors"].is_null(), "{body}");
    }
}

/// Pulls the first page of `user` (`first` changes expected); its cost.
async fn cost(app: &TestApp, user: &TestUser, first: usize) -> Cost {
    let stats = app.state.db.stats();
    stats.reset();
    let data = app.data_as(user, RICH, json!({ "first": first })).await;
    let cost = Cost {
        total: stats.count_matching(""),
        events: stats.count_matching("todo_events"),
        members: stats.count_matching("list_members"),
        users: stats.count_matching("users"),
    };
    let changes = data["changes"]["changes"].as_array().unwrap();
    assert_eq!(changes.len(), first, "{data}");
    let mut todo_lists = std::collections::HashSet::new();
    let mut creators = std::collections::HashSet::new();
    let mut list_events = 0;
    for change in changes {
        if change.get("action").is_some() {
            list_events += 1;
            if !change["list"].is_null() {
                assert!(change["list"]["owner"]["id"].is_string(), "{change}");
                assert!(!change["list"]["members"].as_array().unwrap().is_empty());
            }
        } else if !change["todo"].is_null() {
            assert_eq!(change["todo"]["list"]["id"], change["listId"], "{change}");
            assert!(change["todo"]["list"]["role"].is_string(), "{change}");
            todo_lists.insert(change["listId"].clone());
            creators.insert(change["todo"]["createdBy"]["id"].clone());
        }
    }
    // The same mix in both pages: both lists, both creators, list events.
    assert_eq!(todo_lists.len(), 2, "{data}");
    assert_eq!(creators.len(), 2, "{data}");
    assert!(list_events > 0, "{data}");
    cost
}

#[tokio::test]
async fn a_500_change_page_costs_what_a_small_page_costs() {
    // Default document limits: a rich 500-change page is admitted.
    let app = TestApp::spawn_with(&[ROOMY]).await;
    let small = app.register("small").await;
    let small_partner = app.register("small-partner").await;
    let big = app.register("big").await;
    let big_partner = app.register("big-partner").await;
    fill(&app, &small, &small_partner, 1, 1).await;
    fill(&app, &big, &big_partner, 50, 3).await;

    let small_cost = cost(&app, &small, 6).await;
    let big_cost = cost(&app, &big, 500).await;
    assert_eq!(
        big_cost, small_cost,
        "500 changes cost more statements than 6"
    );
    // One statement reads the page (bounds and events together).
    assert_eq!(big_cost.events, 1, "{big_cost:?}");
    assert!(big_cost.total <= 6, "{big_cost:?}");
}
