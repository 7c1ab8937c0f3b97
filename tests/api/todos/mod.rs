//! Todo CRUD over GraphQL: validation, partial updates and versions, bulk
//! mutations, counts, filters, user isolation, exotic text and batching.
//!
//! One file per concern: [`create`], [`update`] (and delete), [`bulk`]
//! (and counts), [`isolation`], [`queries`] (filters), [`merge`]
//! (field-level merges with `baseVersion`), [`field_versions`] (their
//! migration), [`client_ids`] (ids and positions chosen by clients) and
//! [`pipelined`] (round trips, rollback mid-pipeline, concurrent
//! numbering); the helpers they share are here.

mod bulk;
mod client_ids;
mod create;
mod field_versions;
mod isolation;
mod merge;
mod pipelined;
mod queries;
mod update;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::support::{TODO_FIELDS, TestApp, TestUser, error_code};

/// Parses an RFC 3339 timestamp of a response, which must be in UTC.
fn utc(value: &Value) -> DateTime<Utc> {
    let s = value
        .as_str()
        .unwrap_or_else(|| panic!("not a timestamp: {value}"));
    assert!(
        s.ends_with('Z') || s.ends_with("+00:00"),
        "timestamp not in UTC: {s}"
    );
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("not RFC 3339: {s}: {e}"))
        .with_timezone(&Utc)
}

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .with_timezone(&Utc)
}

/// Asserts a `BAD_USER_INPUT` error on `field` and no data.
fn assert_bad_input(body: &Value, field: &str) {
    assert_eq!(error_code(body), "BAD_USER_INPUT", "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["field"], field,
        "wrong field in {body}"
    );
    assert!(body["data"].is_null(), "data despite the error: {body}");
}

/// `todo(id:)` as `user`, with every field and the owner.
async fn get_todo(app: &TestApp, user: &TestUser, id: &str) -> Value {
    let body = app
        .gql_as(
            user,
            &format!(
                "query($id: ID!) {{ todo(id: $id) {{ {TODO_FIELDS} owner {{ id email }} }} }}"
            ),
            json!({ "id": id }),
        )
        .await;
    assert!(body["errors"].is_null(), "todo(id:) failed: {body}");
    body["data"]["todo"].clone()
}

async fn clear_completed(app: &TestApp, user: &TestUser) -> i64 {
    let body = app
        .gql_as(user, "mutation { clearCompletedTodos }", json!({}))
        .await;
    assert!(
        body["errors"].is_null(),
        "clearCompletedTodos failed: {body}"
    );
    body["data"]["clearCompletedTodos"].as_i64().unwrap()
}

/// `todos(first: 100, filter:)` as (totalCount, nodes with every field).
async fn list(app: &TestApp, user: &TestUser, filter: Value) -> (i64, Vec<Value>) {
    let body = app
        .gql_as(
            user,
            &format!(
                "query($filter: TodoFilter) {{ todos(first: 100, filter: $filter, orderBy: CREATED_AT_ASC) {{
                    totalCount nodes {{ {TODO_FIELDS} }} }} }}"
            ),
            json!({ "filter": filter }),
        )
        .await;
    assert!(body["errors"].is_null(), "todos failed: {body}");
    let conn = &body["data"]["todos"];
    (
        conn["totalCount"].as_i64().unwrap(),
        conn["nodes"].as_array().unwrap().clone(),
    )
}

/// The titles of the todos matching `filter`, sorted, after checking that
/// `totalCount` agrees with the list.
async fn titles(app: &TestApp, user: &TestUser, filter: Value) -> Vec<String> {
    let (total, nodes) = list(app, user, filter.clone()).await;
    assert_eq!(
        usize::try_from(total).unwrap(),
        nodes.len(),
        "totalCount disagrees with the nodes for {filter}"
    );
    let mut titles: Vec<String> = nodes
        .iter()
        .map(|n| n["title"].as_str().unwrap().to_owned())
        .collect();
    titles.sort();
    titles
}

fn sorted(titles: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = titles.iter().map(|&t| t.to_owned()).collect();
    v.sort();
    v
}
