//! The trash: `deleteTodo`, `clearCompletedTodos` and the REST deletes
//! move todos to their list's trash, where no live read sees them
//! ([`visibility`]); `Query.trash` lists them, most recently deleted first
//! ([`listing`]); `restoreTodo` brings one back and `emptyTrash` deletes
//! them for good, each within the caller's role ([`restore`]); the purge
//! deletes them after the retention ([`purge`]). The CREATED event of a
//! restore is checked with the other subscription tests
//! (`subscriptions::trash`).

mod listing;
mod purge;
mod restore;
mod visibility;

use serde_json::{Value, json};

use crate::support::{TestApp, TestUser, lists::id_of};

/// `Query.trash` with what the tests look at.
const TRASH: &str = "query($list: ID, $first: Int, $after: String) {
    trash(listId: $list, first: $first, after: $after) {
        totalCount
        edges { cursor node { id title completed version position deletedAt updatedAt list { id } } }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }";

/// `trash(listId:, first:, after:)` as `user`: the whole body.
async fn trash(
    app: &TestApp,
    user: &TestUser,
    list: Option<&str>,
    first: Option<i64>,
    after: Option<&str>,
) -> Value {
    app.gql_as(
        user,
        TRASH,
        json!({ "list": list, "first": first, "after": after }),
    )
    .await
}

/// The first 100 todos of `list`'s trash (default: the default list), as
/// `user` sees them; checks that `totalCount` agrees.
async fn trashed(app: &TestApp, user: &TestUser, list: Option<&str>) -> Vec<Value> {
    let body = trash(app, user, list, Some(100), None).await;
    assert!(body["errors"].is_null(), "trash failed: {body}");
    let conn = &body["data"]["trash"];
    let nodes: Vec<Value> = conn["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect();
    assert_eq!(conn["totalCount"], nodes.len(), "{body}");
    assert_eq!(conn["pageInfo"]["hasNextPage"], false, "{body}");
    nodes
}

/// The ids in `list`'s trash, in the listing's order.
async fn trashed_ids(app: &TestApp, user: &TestUser, list: Option<&str>) -> Vec<String> {
    trashed(app, user, list).await.iter().map(id_of).collect()
}

/// `restoreTodo(id:)` as `user`: the whole body.
async fn restore(app: &TestApp, user: &TestUser, id: &str) -> Value {
    app.gql_as(
        user,
        "mutation($id: ID!) { restoreTodo(id: $id) {
            id title completed version position deletedAt updatedAt list { id } } }",
        json!({ "id": id }),
    )
    .await
}

/// `restoreTodo` that must succeed; returns the todo.
async fn restore_ok(app: &TestApp, user: &TestUser, id: &str) -> Value {
    let body = restore(app, user, id).await;
    assert!(body["errors"].is_null(), "restoreTodo failed: {body}");
    body["data"]["restoreTodo"].clone()
}

/// `emptyTrash(listId:)` as `user`: the whole body.
async fn empty_trash(app: &TestApp, user: &TestUser, list: Option<&str>) -> Value {
    app.gql_as(
        user,
        "mutation($list: ID) { emptyTrash(listId: $list) }",
        json!({ "list": list }),
    )
    .await
}

/// `clearCompletedTodos(listId:)` that must succeed; returns how many.
async fn clear_completed_in(app: &TestApp, user: &TestUser, list: Option<&str>) -> i64 {
    let body = app
        .gql_as(
            user,
            "mutation($list: ID) { clearCompletedTodos(listId: $list) }",
            json!({ "list": list }),
        )
        .await;
    assert!(
        body["errors"].is_null(),
        "clearCompletedTodos failed: {body}"
    );
    body["data"]["clearCompletedTodos"].as_i64().unwrap()
}
