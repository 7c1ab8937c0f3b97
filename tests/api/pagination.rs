//! Cursor pagination of `todos` and `User.todos`: every order walked page by
//! page without gap or duplicate, ties in the sort key, page sizes, bad and
//! foreign cursors, and the empty list.

use std::{cmp::Reverse, collections::BTreeSet};

use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{TestApp, TestUser, error_code};

const ORDERS: [&str; 4] = [
    "CREATED_AT_DESC",
    "CREATED_AT_ASC",
    "DUE_AT_ASC",
    "UPDATED_AT_DESC",
];

const CONNECTION: &str = "totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id title createdAt updatedAt dueAt } }
    nodes { id title createdAt updatedAt dueAt }";

/// Which field serves the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    /// `Query.todos`.
    Query,
    /// `me { todos }` (`User.todos`).
    Me,
}

/// One `todos` request; `args` holds any of first, after, orderBy, filter.
/// Only the keys present are declared and passed (an explicit null is
/// passed as null), so absent ones take the schema's defaults. Returns the
/// whole body.
async fn request(app: &TestApp, user: &TestUser, via: Via, args: Value) -> Value {
    let (mut declared, mut passed) = (Vec::new(), Vec::new());
    for (name, ty) in [
        ("first", "Int"),
        ("after", "String"),
        ("orderBy", "TodoOrder"),
        ("filter", "TodoFilter"),
    ] {
        if args.get(name).is_some() {
            declared.push(format!("${name}: {ty}"));
            passed.push(format!("{name}: ${name}"));
        }
    }
    let arguments = if passed.is_empty() {
        String::new()
    } else {
        format!("({})", passed.join(", "))
    };
    let field = format!("todos{arguments} {{ {CONNECTION} }}");
    let selection = match via {
        Via::Query => field,
        Via::Me => format!("me {{ {field} }}"),
    };
    let query = if declared.is_empty() {
        format!("query {{ {selection} }}")
    } else {
        format!("query({}) {{ {selection} }}", declared.join(", "))
    };
    app.gql_as(user, &query, args).await
}

/// The connection of a successful response.
fn connection(body: &Value, via: Via) -> Value {
    assert!(body["errors"].is_null(), "todos failed: {body}");
    match via {
        Via::Query => body["data"]["todos"].clone(),
        Via::Me => body["data"]["me"]["todos"].clone(),
    }
}

/// One page as a connection.
async fn page(app: &TestApp, user: &TestUser, via: Via, args: Value) -> Value {
    connection(&request(app, user, via, args).await, via)
}

/// Checks what must hold of any page: nodes and edges agree, cursors are
/// distinct, start and end cursors are the first and last edge's.
fn check_page_shape(conn: &Value) {
    let edges = conn["edges"].as_array().unwrap();
    let nodes = conn["nodes"].as_array().unwrap();
    assert_eq!(edges.len(), nodes.len(), "{conn}");
    for (edge, node) in edges.iter().zip(nodes) {
        assert_eq!(&edge["node"], node, "edge and node differ: {conn}");
        assert!(
            edge["cursor"].as_str().is_some_and(|c| !c.is_empty()),
            "{conn}"
        );
    }
    let cursors: BTreeSet<&str> = edges
        .iter()
        .map(|e| e["cursor"].as_str().unwrap())
        .collect();
    assert_eq!(cursors.len(), edges.len(), "duplicate cursors: {conn}");
    let info = &conn["pageInfo"];
    match (edges.first(), edges.last()) {
        (Some(first), Some(last)) => {
            assert_eq!(info["startCursor"], first["cursor"], "{conn}");
            assert_eq!(info["endCursor"], last["cursor"], "{conn}");
        }
        _ => {
            assert!(info["startCursor"].is_null(), "{conn}");
            assert!(info["endCursor"].is_null(), "{conn}");
        }
    }
}

/// Everything a walk saw.
struct Walk {
    nodes: Vec<Value>,
    cursors: Vec<String>,
}

/// Walks every page of a list with `first` and `after: endCursor`, checking
/// page sizes, `hasNextPage` and `totalCount` against `expected_total`.
async fn walk(
    app: &TestApp,
    user: &TestUser,
    via: Via,
    order: &str,
    first: usize,
    filter: Value,
    expected_total: usize,
) -> Walk {
    let mut nodes = Vec::new();
    let mut cursors = Vec::new();
    let mut after = Value::Null;
    let mut page_no = 0;
    loop {
        let conn = page(
            app,
            user,
            via,
            json!({ "first": first, "after": after, "orderBy": order, "filter": filter }),
        )
        .await;
        check_page_shape(&conn);
        let got = conn["nodes"].as_array().unwrap();
        let remaining = expected_total - nodes.len();
        let context = format!("{via:?} {order} first {first} page {page_no}");
        assert_eq!(got.len(), remaining.min(first), "{context}: size");
        assert_eq!(
            conn["pageInfo"]["hasNextPage"],
            remaining > first,
            "{context}: hasNextPage"
        );
        assert_eq!(conn["totalCount"], expected_total, "{context}: totalCount");
        if page_no == 0 {
            assert_eq!(
                conn["pageInfo"]["hasPreviousPage"], false,
                "{context}: hasPreviousPage"
            );
        }
        nodes.extend(got.iter().cloned());
        cursors.extend(
            conn["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["cursor"].as_str().unwrap().to_owned()),
        );
        if conn["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = conn["pageInfo"]["endCursor"].clone();
        page_no += 1;
        assert!(page_no <= expected_total, "{context}: never ends");
    }
    Walk { nodes, cursors }
}

fn id_of(node: &Value) -> Uuid {
    Uuid::parse_str(node["id"].as_str().unwrap()).unwrap()
}

fn time(value: &Value) -> Option<DateTime<Utc>> {
    value.as_str().map(|s| {
        DateTime::parse_from_rfc3339(s)
            .unwrap_or_else(|e| panic!("{s}: {e}"))
            .with_timezone(&Utc)
    })
}

/// The ids of `nodes` sorted as `order` sorts them, from their own fields:
/// the sort key, then the id (ascending for ascending orders, descending for
/// descending ones); todos without a due time last, by id.
fn expected_order(nodes: &[Value], order: &str) -> Vec<Uuid> {
    let mut v: Vec<&Value> = nodes.iter().collect();
    match order {
        "CREATED_AT_DESC" => v.sort_by_key(|n| Reverse((time(&n["createdAt"]), id_of(n)))),
        "CREATED_AT_ASC" => v.sort_by_key(|n| (time(&n["createdAt"]), id_of(n))),
        "UPDATED_AT_DESC" => v.sort_by_key(|n| Reverse((time(&n["updatedAt"]), id_of(n)))),
        "DUE_AT_ASC" => v.sort_by_key(|n| {
            let due = time(&n["dueAt"]);
            (due.is_none(), due, id_of(n))
        }),
        other => panic!("unknown order {other}"),
    }
    v.into_iter().map(id_of).collect()
}

/// Checks a complete walk: every one of `ids` exactly once, in `order`.
fn check_walk(walk: &Walk, ids: &BTreeSet<Uuid>, order: &str) {
    let seen: Vec<Uuid> = walk.nodes.iter().map(id_of).collect();
    let unique: BTreeSet<Uuid> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "{order}: duplicates in {seen:?}");
    assert_eq!(&unique, ids, "{order}: missing or foreign todos");
    assert_eq!(
        seen,
        expected_order(&walk.nodes, order),
        "{order}: wrong order"
    );
    let cursors: BTreeSet<&String> = walk.cursors.iter().collect();
    assert_eq!(
        cursors.len(),
        walk.cursors.len(),
        "{order}: repeated cursor"
    );
}

/// Creates `n` todos titled `todo 0`… with a due time from `due(i)`.
async fn create_todos(
    app: &TestApp,
    user: &TestUser,
    n: usize,
    due: impl Fn(usize) -> Option<String>,
) -> Vec<Uuid> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let todo = app
            .create_todo(
                user,
                json!({ "title": format!("todo {i}"), "dueAt": due(i) }),
            )
            .await;
        ids.push(id_of(&todo));
    }
    ids
}

/// A due time for most todos, with repeats, and none for every fifth.
fn varied_due(i: usize) -> Option<String> {
    (!i.is_multiple_of(5)).then(|| format!("2030-01-{:02}T08:00:00Z", 1 + (i * 7) % 11))
}

fn id_list(ids: &[Uuid]) -> String {
    ids.iter()
        .map(|id| format!("'{id}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[tokio::test]
async fn every_order_pages_through_45_todos_without_gap_or_duplicate() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let ids = create_todos(&app, &alice, 45, varied_due).await;
    // Change some later, so that UPDATED_AT_DESC differs from creation order.
    for id in ids.iter().step_by(4) {
        let body = app
            .gql_as(
                &alice,
                "mutation($id: ID!) { updateTodo(id: $id, input: { completed: true }) { id } }",
                json!({ "id": id }),
            )
            .await;
        assert!(body["errors"].is_null(), "{body}");
    }
    // Someone else's todos never show up.
    let bob = app.register("bob").await;
    create_todos(&app, &bob, 3, varied_due).await;

    let all: BTreeSet<Uuid> = ids.iter().copied().collect();
    for order in ORDERS {
        let walk = walk(&app, &alice, Via::Query, order, 20, Value::Null, 45).await;
        check_walk(&walk, &all, order);
        // The same as one big page.
        let whole = page(
            &app,
            &alice,
            Via::Query,
            json!({ "first": 100, "orderBy": order }),
        )
        .await;
        assert_eq!(whole["nodes"].as_array().unwrap(), &walk.nodes, "{order}");
        assert_eq!(whole["pageInfo"]["hasNextPage"], false);
    }

    // The creation orders are the creation sequence, exactly.
    let asc = walk(
        &app,
        &alice,
        Via::Query,
        "CREATED_AT_ASC",
        20,
        Value::Null,
        45,
    )
    .await;
    assert_eq!(asc.nodes.iter().map(id_of).collect::<Vec<_>>(), ids);
    let desc = walk(
        &app,
        &alice,
        Via::Query,
        "CREATED_AT_DESC",
        20,
        Value::Null,
        45,
    )
    .await;
    let mut reversed = ids.clone();
    reversed.reverse();
    assert_eq!(desc.nodes.iter().map(id_of).collect::<Vec<_>>(), reversed);
    // Without due times, last.
    let due = walk(&app, &alice, Via::Query, "DUE_AT_ASC", 20, Value::Null, 45).await;
    assert!(due.nodes[..36].iter().all(|n| n["dueAt"].is_string()));
    assert!(due.nodes[36..].iter().all(|n| n["dueAt"].is_null()));
}

#[tokio::test]
async fn the_default_order_is_newest_first() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let ids = create_todos(&app, &alice, 5, |_| None).await;
    let conn = page(&app, &alice, Via::Query, json!({})).await;
    let got: Vec<Uuid> = conn["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect();
    let mut expected = ids;
    expected.reverse();
    assert_eq!(got, expected);
    // Cursors of the default order are CREATED_AT_DESC cursors.
    let next = page(
        &app,
        &alice,
        Via::Query,
        json!({ "first": 2, "orderBy": "CREATED_AT_DESC", "after": conn["edges"][1]["cursor"] }),
    )
    .await;
    assert_eq!(next["nodes"][0]["id"], conn["nodes"][2]["id"]);
}

#[tokio::test]
async fn ties_in_the_sort_key_neither_skip_nor_repeat() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let ids = create_todos(&app, &alice, 45, |_| None).await;
    let all: BTreeSet<Uuid> = ids.iter().copied().collect();

    // A large block (not contiguous in id order) shares created_at and
    // updated_at; due times: a tied block, a NULL block, a few distinct.
    let tied: Vec<Uuid> = ids
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 3 != 0 || *i > 30)
        .map(|(_, id)| *id)
        .collect();
    app.sql(&format!(
        "UPDATE todos SET created_at = '2029-06-01T12:00:00Z', updated_at = '2029-06-01T12:00:00Z' \
         WHERE id IN ({})",
        id_list(&tied)
    ))
    .await;
    app.sql(&format!(
        "UPDATE todos SET due_at = '2030-03-03T03:03:03Z' WHERE id IN ({})",
        id_list(&ids[5..25])
    ))
    .await;
    for (range, due) in [
        (25..28, "2030-01-01T02:00:00Z"),
        (28..30, "2030-01-01T00:00:00Z"),
        (30..32, "2030-01-01T01:00:00Z"),
    ] {
        app.sql(&format!(
            "UPDATE todos SET due_at = '{due}' WHERE id IN ({})",
            id_list(&ids[range])
        ))
        .await;
    }
    // ids[0..5] and ids[32..45] keep no due time.

    // Odd page sizes put page boundaries inside every tie group.
    for first in [7, 20, 1] {
        for order in ORDERS {
            let walk = walk(&app, &alice, Via::Query, order, first, Value::Null, 45).await;
            check_walk(&walk, &all, order);
        }
    }
    let due = walk(&app, &alice, Via::Query, "DUE_AT_ASC", 45, Value::Null, 45).await;
    let nulls: Vec<Uuid> = due.nodes[27..].iter().map(id_of).collect();
    let mut expected_nulls: Vec<Uuid> = ids[..5].iter().chain(&ids[32..]).copied().collect();
    expected_nulls.sort();
    assert_eq!(nulls, expected_nulls, "no due time: last, by id");

    // Everything tied: the id alone orders.
    app.sql(
        "UPDATE todos SET created_at = '2029-01-01T00:00:00Z', \
         updated_at = '2029-01-01T00:00:00Z', due_at = NULL",
    )
    .await;
    let mut by_id: Vec<Uuid> = ids.clone();
    by_id.sort();
    for order in ORDERS {
        let walk = walk(&app, &alice, Via::Query, order, 7, Value::Null, 45).await;
        check_walk(&walk, &all, order);
        let mut expected = by_id.clone();
        if order.ends_with("DESC") {
            expected.reverse();
        }
        assert_eq!(
            walk.nodes.iter().map(id_of).collect::<Vec<_>>(),
            expected,
            "{order}"
        );
    }
    app.sql("UPDATE todos SET due_at = '2030-01-01T00:00:00Z'")
        .await;
    let walk = walk(&app, &alice, Via::Query, "DUE_AT_ASC", 7, Value::Null, 45).await;
    check_walk(&walk, &all, "DUE_AT_ASC");
    assert_eq!(walk.nodes.iter().map(id_of).collect::<Vec<_>>(), by_id);
}

#[tokio::test]
async fn filtered_lists_page_over_the_matching_todos_only() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let ids = create_todos(&app, &alice, 45, varied_due).await;
    for id in ids.iter().step_by(3) {
        let body = app
            .gql_as(
                &alice,
                "mutation($id: ID!) { updateTodo(id: $id, input: { completed: true }) { id } }",
                json!({ "id": id }),
            )
            .await;
        assert!(body["errors"].is_null(), "{body}");
    }
    let active: BTreeSet<Uuid> = ids
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 3 != 0)
        .map(|(_, id)| *id)
        .collect();
    assert_eq!(active.len(), 30);
    for order in ORDERS {
        let walk = walk(
            &app,
            &alice,
            Via::Query,
            order,
            10,
            json!({ "completed": false }),
            30,
        )
        .await;
        check_walk(&walk, &active, order);
    }
}

#[tokio::test]
async fn a_cursor_stays_valid_after_its_todo_is_deleted() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    create_todos(&app, &alice, 10, varied_due).await;
    for order in ORDERS {
        let first = page(
            &app,
            &alice,
            Via::Query,
            json!({ "first": 4, "orderBy": order }),
        )
        .await;
        let whole = page(
            &app,
            &alice,
            Via::Query,
            json!({ "first": 100, "orderBy": order }),
        )
        .await;
        let end = first["pageInfo"]["endCursor"].clone();
        let last_id = first["nodes"][3]["id"].as_str().unwrap().to_owned();
        // Delete the todo the cursor points at, via SQL to leave the rest untouched.
        app.sql(&format!("DELETE FROM todos WHERE id = '{last_id}'"))
            .await;
        let rest = page(
            &app,
            &alice,
            Via::Query,
            json!({ "first": 100, "orderBy": order, "after": end }),
        )
        .await;
        let expected: Vec<&Value> = whole["nodes"].as_array().unwrap()[4..].iter().collect();
        let got: Vec<&Value> = rest["nodes"].as_array().unwrap().iter().collect();
        assert_eq!(got, expected, "{order}");
        // Put it back for the next order.
        app.sql(&format!(
            "INSERT INTO todos (id, owner_id, list_id, position, title, due_at, created_at, updated_at, version, completed) \
             SELECT '{last_id}', id, default_list_id, 'a0', 'todo again', {}, '{}', '{}', 1, false \
             FROM users WHERE id = '{}'",
            first["nodes"][3]["dueAt"]
                .as_str()
                .map_or_else(|| "NULL".to_owned(), |d| format!("'{d}'")),
            first["nodes"][3]["createdAt"].as_str().unwrap(),
            first["nodes"][3]["updatedAt"].as_str().unwrap(),
            alice.id,
        ))
        .await;
    }
}

#[tokio::test]
async fn page_sizes_default_to_20_and_are_bounded() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    create_todos(&app, &alice, 25, |_| None).await;

    // Absent, and explicitly null: 20.
    for args in [json!({}), json!({ "first": null })] {
        let conn = page(&app, &alice, Via::Query, args.clone()).await;
        check_page_shape(&conn);
        assert_eq!(conn["edges"].as_array().unwrap().len(), 20, "{args}");
        assert_eq!(conn["pageInfo"]["hasNextPage"], true, "{args}");
        assert_eq!(conn["totalCount"], 25);
    }

    // Zero: nothing, but more exists.
    let zero = page(&app, &alice, Via::Query, json!({ "first": 0 })).await;
    check_page_shape(&zero);
    assert_eq!(zero["edges"], json!([]));
    assert_eq!(zero["nodes"], json!([]));
    assert_eq!(zero["pageInfo"]["hasNextPage"], true);
    assert!(zero["pageInfo"]["startCursor"].is_null());
    assert!(zero["pageInfo"]["endCursor"].is_null());
    assert_eq!(zero["totalCount"], 25);

    // Exactly as many as there are: no next page.
    let exact = page(&app, &alice, Via::Query, json!({ "first": 25 })).await;
    assert_eq!(exact["edges"].as_array().unwrap().len(), 25);
    assert_eq!(exact["pageInfo"]["hasNextPage"], false);
    let one_short = page(&app, &alice, Via::Query, json!({ "first": 24 })).await;
    assert_eq!(one_short["pageInfo"]["hasNextPage"], true);

    let max = page(&app, &alice, Via::Query, json!({ "first": 100 })).await;
    check_page_shape(&max);
    assert_eq!(max["edges"].as_array().unwrap().len(), 25);
    assert_eq!(max["pageInfo"]["hasNextPage"], false);

    for via in [Via::Query, Via::Me] {
        for first in [101, -1, 1000, i64::from(i32::MAX), i64::from(i32::MIN)] {
            let body = request(&app, &alice, via, json!({ "first": first })).await;
            assert_eq!(
                error_code(&body),
                "BAD_USER_INPUT",
                "{via:?} first {first}: {body}"
            );
            assert_eq!(
                body["errors"][0]["extensions"]["field"], "first",
                "{via:?} first {first}: {body}"
            );
        }
    }
}

#[tokio::test]
async fn first_zero_on_an_empty_list_has_no_next_page() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let conn = page(&app, &alice, Via::Query, json!({ "first": 0 })).await;
    assert_eq!(conn["edges"], json!([]));
    assert_eq!(conn["pageInfo"]["hasNextPage"], false);
    assert_eq!(conn["totalCount"], 0);
}

#[tokio::test]
async fn malformed_cursors_are_bad_user_input() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let ids = create_todos(&app, &alice, 3, |_| None).await;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let std_b64 = base64::engine::general_purpose::STANDARD;
    let real = page(&app, &alice, Via::Query, json!({ "first": 1 })).await["pageInfo"]["endCursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut truncated = real.clone();
    truncated.truncate(real.len() / 2);
    let bad = [
        "garbage".to_owned(),
        "!!!".to_owned(),
        "🦀".to_owned(),
        b64.encode("garbage"),
        std_b64.encode("garbage"),
        b64.encode("v1|cd|notanumber|00000000000000000000000000000000"),
        b64.encode(format!("v1|cd|-|{}", ids[0].simple())),
        b64.encode(format!("v9|cd|1|{}", ids[0].simple())),
        b64.encode(format!("v1|zz|1|{}", ids[0].simple())),
        b64.encode("v1|cd|1|not-a-uuid"),
        b64.encode(format!("v1|cd|99999999999999999999|{}", ids[0].simple())),
        b64.encode([0xff, 0xfe, 0xfd]),
        truncated,
        format!("{real}x"),
        "'; DROP TABLE todos; --".to_owned(),
    ];
    for via in [Via::Query, Via::Me] {
        for cursor in &bad {
            let body = request(&app, &alice, via, json!({ "after": cursor })).await;
            assert_eq!(
                error_code(&body),
                "BAD_USER_INPUT",
                "{via:?} {cursor:?}: {body}"
            );
            assert_eq!(
                body["errors"][0]["extensions"]["field"], "after",
                "{via:?} {cursor:?}: {body}"
            );
        }
    }
    // Nothing was harmed.
    assert_eq!(
        page(&app, &alice, Via::Query, json!({})).await["totalCount"],
        3
    );
}

#[tokio::test]
async fn a_cursor_of_another_order_is_refused() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    create_todos(&app, &alice, 5, varied_due).await;
    for from in ORDERS {
        let cursor = page(
            &app,
            &alice,
            Via::Query,
            json!({ "first": 2, "orderBy": from }),
        )
        .await["pageInfo"]["endCursor"]
            .clone();
        assert!(cursor.is_string());
        for to in ORDERS {
            let body = request(
                &app,
                &alice,
                Via::Query,
                json!({ "first": 2, "orderBy": to, "after": cursor }),
            )
            .await;
            if from == to {
                assert!(body["errors"].is_null(), "{from} -> {to}: {body}");
            } else {
                assert_eq!(
                    error_code(&body),
                    "BAD_USER_INPUT",
                    "{from} -> {to}: {body}"
                );
                assert_eq!(
                    body["errors"][0]["extensions"]["field"], "after",
                    "{from} -> {to}: {body}"
                );
            }
        }
    }
    // The default order is CREATED_AT_DESC: an ascending cursor does not fit it.
    let asc = page(
        &app,
        &alice,
        Via::Query,
        json!({ "first": 2, "orderBy": "CREATED_AT_ASC" }),
    )
    .await["pageInfo"]["endCursor"]
        .clone();
    let body = request(&app, &alice, Via::Me, json!({ "after": asc })).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
}

#[tokio::test]
async fn user_todos_paginate_like_query_todos() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let ids = create_todos(&app, &alice, 45, varied_due).await;
    let all: BTreeSet<Uuid> = ids.iter().copied().collect();
    let bob = app.register("bob").await;
    create_todos(&app, &bob, 2, varied_due).await;

    for order in ORDERS {
        let via_me = walk(&app, &alice, Via::Me, order, 20, Value::Null, 45).await;
        check_walk(&via_me, &all, order);
        let via_query = walk(&app, &alice, Via::Query, order, 20, Value::Null, 45).await;
        assert_eq!(via_me.nodes, via_query.nodes, "{order}");
        assert_eq!(via_me.cursors, via_query.cursors, "{order}");
    }

    // Cursors are interchangeable between the two.
    let first = page(&app, &alice, Via::Query, json!({ "first": 20 })).await;
    let second_me = page(
        &app,
        &alice,
        Via::Me,
        json!({ "first": 20, "after": first["pageInfo"]["endCursor"] }),
    )
    .await;
    let second_query = page(
        &app,
        &alice,
        Via::Query,
        json!({ "first": 20, "after": first["pageInfo"]["endCursor"] }),
    )
    .await;
    assert_eq!(second_me, second_query);
    assert_eq!(second_me["nodes"].as_array().unwrap().len(), 20);

    // Defaults are the same too.
    let default_me = page(&app, &alice, Via::Me, json!({})).await;
    let default_query = page(&app, &alice, Via::Query, json!({})).await;
    assert_eq!(default_me, default_query);
    assert_eq!(default_me["nodes"].as_array().unwrap().len(), 20);

    // Filters apply the same way.
    let f = json!({ "first": 100, "filter": { "dueBefore": "2030-01-05T00:00:00Z" } });
    let me_f = page(&app, &alice, Via::Me, f.clone()).await;
    let query_f = page(&app, &alice, Via::Query, f).await;
    assert_eq!(me_f, query_f);
    assert!(me_f["totalCount"].as_i64().unwrap() > 0);
}

#[tokio::test]
async fn an_empty_list_has_no_edges_and_no_cursors() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    // Someone else's todos do not count.
    let bob = app.register("bob").await;
    create_todos(&app, &bob, 2, |_| None).await;
    for via in [Via::Query, Via::Me] {
        for order in ORDERS {
            let conn = page(&app, &alice, via, json!({ "orderBy": order })).await;
            assert_eq!(conn["edges"], json!([]), "{via:?} {order}");
            assert_eq!(conn["nodes"], json!([]), "{via:?} {order}");
            assert_eq!(conn["totalCount"], 0, "{via:?} {order}");
            let info = &conn["pageInfo"];
            assert_eq!(info["hasNextPage"], false, "{via:?} {order}");
            assert_eq!(info["hasPreviousPage"], false, "{via:?} {order}");
            assert!(info["startCursor"].is_null(), "{via:?} {order}");
            assert!(info["endCursor"].is_null(), "{via:?} {order}");
        }
    }
    // Also when filtering a non-empty list down to nothing.
    create_todos(&app, &alice, 2, |_| None).await;
    let conn = page(
        &app,
        &alice,
        Via::Query,
        json!({ "filter": { "completed": true } }),
    )
    .await;
    assert_eq!(conn["edges"], json!([]));
    assert_eq!(conn["totalCount"], 0);
    assert_eq!(conn["pageInfo"]["hasNextPage"], false);
    assert!(conn["pageInfo"]["endCursor"].is_null());
}
