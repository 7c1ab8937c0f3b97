//! The pull change feed, `Query.changes(after, first)`, black-box from
//! `contract/sync.graphql`: paging (order, no gap, no duplicate,
//! `hasMore`, `first`), tombstones (deletions, access loss), expiry past
//! retention, the cursor shared with the `changes`/`todoEvents`
//! subscriptions (resuming one from the other with no gap), shared lists
//! and the statements a 500-change page costs.
//!
//! One file per concern: [`paging`], [`tombstones`], [`expiry`],
//! [`resume`] and [`cost`]; the helpers they share are here.

mod cost;
mod expiry;
mod paging;
mod resume;
mod tombstones;

use base64::Engine;
use serde_json::{Value, json};

use crate::support::{TestApp, TestUser};

/// A complexity budget no test here reaches: they read many full pages a
/// minute, which the per-user budget is not about.
const ROOMY: (&str, &str) = ("USER_BUDGET_PER_MINUTE", "100000000");

/// A page as an offline client asks for it.
const PAGE: &str = "query($after: String, $first: Int) { changes(after: $after, first: $first) {
    cursor hasMore changes { __typename
      ... on TodoEvent { cursor kind todoId listId occurredAt
          todo { id title completed version position } }
      ... on ListEvent { cursor action listId occurredAt list { id name role } } } } }";

/// The same selection as a `changes` subscription.
const SUBSCRIPTION: &str = "subscription($after: String) { changes(after: $after) { __typename
      ... on TodoEvent { cursor kind todoId listId occurredAt
          todo { id title completed version position } }
      ... on ListEvent { cursor action listId occurredAt list { id name role } } } }";

/// The sequence number inside a cursor (white-box, to check for gaps: the
/// format is `events::cursor`'s).
fn seq(cursor: &Value) -> i64 {
    let raw = cursor
        .as_str()
        .unwrap_or_else(|| panic!("no cursor: {cursor}"));
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw)
        .unwrap();
    String::from_utf8(bytes)
        .unwrap()
        .strip_prefix("ev1:")
        .unwrap()
        .parse()
        .unwrap()
}

/// The cursor of sequence number `seq`, as the server encodes it.
fn cursor_of(seq: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("ev1:{seq}"))
}

/// `changes(after, first)` as `user`; the whole body.
async fn pull(app: &TestApp, user: &TestUser, after: Option<&str>, first: Option<i64>) -> Value {
    app.gql_as(user, PAGE, json!({ "after": after, "first": first }))
        .await
}

/// A page that must succeed: `data.changes`.
async fn page(app: &TestApp, user: &TestUser, after: Option<&str>, first: Option<i64>) -> Value {
    let body = pull(app, user, after, first).await;
    assert!(body["errors"].is_null(), "changes failed: {body}");
    body["data"]["changes"].clone()
}

/// Pages until `hasMore` is false; every change and the last cursor.
async fn pull_all(app: &TestApp, user: &TestUser, after: Option<&str>) -> (Vec<Value>, String) {
    let mut after = after.map(str::to_owned);
    let mut changes = Vec::new();
    for _ in 0..100 {
        let page = page(app, user, after.as_deref(), Some(500)).await;
        changes.extend(page["changes"].as_array().unwrap().iter().cloned());
        after = Some(page["cursor"].as_str().unwrap().to_owned());
        if page["hasMore"] == false {
            return (changes, after.unwrap());
        }
    }
    panic!("the feed never ended");
}

/// `(kind or action, todoId or listId)` of each change.
fn summary(changes: &[Value]) -> Vec<(String, String)> {
    changes
        .iter()
        .map(|c| match c["__typename"].as_str().unwrap() {
            "TodoEvent" => (
                c["kind"].as_str().unwrap().to_owned(),
                c["todoId"].as_str().unwrap().to_owned(),
            ),
            _ => (
                c["action"].as_str().unwrap().to_owned(),
                c["listId"].as_str().unwrap().to_owned(),
            ),
        })
        .collect()
}

/// Asserts the changes' sequence numbers follow each other with no gap
/// and no repeat, starting right after `after`.
fn assert_consecutive(changes: &[Value], after: i64) {
    for (i, change) in changes.iter().enumerate() {
        assert_eq!(
            seq(&change["cursor"]),
            after + 1 + i64::try_from(i).unwrap(),
            "change {i} out of sequence: {change}"
        );
    }
}
