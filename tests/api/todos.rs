//! Todo CRUD over GraphQL: validation, partial updates and versions, bulk
//! mutations, counts, filters, user isolation, exotic text and batching.

use std::collections::BTreeSet;

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

#[tokio::test]
async fn create_todo_trims_the_title_and_returns_every_field() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let before = Utc::now();
    let body = app
        .gql_as(
            &alice,
            &format!(
                "mutation($input: CreateTodoInput!) {{ createTodo(input: $input) {{
                    {TODO_FIELDS} owner {{ id email }} }} }}"
            ),
            json!({ "input": {
                "title": "  \tBuy milk \n",
                "description": "  Two litres,\n  semi-skimmed.  ",
                "dueAt": "2030-01-02T03:04:05Z",
            }}),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let todo = &body["data"]["createTodo"];
    assert_eq!(todo["title"], "Buy milk");
    assert_eq!(todo["description"], "  Two litres,\n  semi-skimmed.  ");
    assert_eq!(utc(&todo["dueAt"]), at("2030-01-02T03:04:05Z"));
    assert_eq!(todo["completed"], false);
    assert!(todo["completedAt"].is_null(), "{todo}");
    assert_eq!(todo["version"], 1);
    assert_eq!(todo["owner"]["email"], alice.email.as_str());
    assert_eq!(todo["owner"]["id"], alice.id.as_str());
    let created = utc(&todo["createdAt"]);
    assert!(
        created >= before - chrono::Duration::seconds(5)
            && created <= Utc::now() + chrono::Duration::seconds(5),
        "createdAt {created} is not about now"
    );
    assert_eq!(utc(&todo["updatedAt"]), created);
    assert!(uuid::Uuid::parse_str(todo["id"].as_str().unwrap()).is_ok());

    let fetched = get_todo(&app, &alice, todo["id"].as_str().unwrap()).await;
    assert_eq!(&fetched, todo);
}

#[tokio::test]
async fn due_at_is_stored_as_an_instant_and_returned_in_utc() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let todo = app
        .create_todo(
            &alice,
            json!({ "title": "Offset", "dueAt": "2030-06-15T12:30:00.250+02:00" }),
        )
        .await;
    assert_eq!(utc(&todo["dueAt"]), at("2030-06-15T10:30:00.250Z"));
    let fetched = get_todo(&app, &alice, todo["id"].as_str().unwrap()).await;
    assert_eq!(fetched["dueAt"], todo["dueAt"]);

    // What was returned can be sent back and means the same instant.
    let again = app
        .create_todo(&alice, json!({ "title": "Echo", "dueAt": todo["dueAt"] }))
        .await;
    assert_eq!(again["dueAt"], todo["dueAt"]);

    let none = app.create_todo(&alice, json!({ "title": "No due" })).await;
    assert!(none["dueAt"].is_null());
    assert!(none["description"].is_null());
}

#[tokio::test]
async fn blank_titles_are_rejected_and_nothing_is_created() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    for title in ["", " ", "   \t\n  ", "\u{3000}"] {
        let body = app.try_create_todo(&alice, json!({ "title": title })).await;
        assert_bad_input(&body, "title");
    }
    assert_eq!(app.todo_counts(&alice).await, (0, 0, 0));
    assert_eq!(list(&app, &alice, Value::Null).await.0, 0);
}

#[tokio::test]
async fn titles_are_limited_to_500_characters_not_bytes() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;

    for title in [
        "a".repeat(501),
        "🦀".repeat(501),
        format!("x{}", "é".repeat(500)),
    ] {
        let body = app.try_create_todo(&alice, json!({ "title": title })).await;
        assert_bad_input(&body, "title");
    }
    assert_eq!(app.todo_counts(&alice).await, (0, 0, 0));

    let ascii = "a".repeat(500);
    let emoji = "🦀".repeat(500); // 2,000 bytes, 500 characters
    for title in [&ascii, &emoji] {
        let todo = app.create_todo(&alice, json!({ "title": title })).await;
        assert_eq!(todo["title"].as_str().unwrap(), title.as_str());
    }
    // Surrounding whitespace does not count.
    let padded = app
        .create_todo(&alice, json!({ "title": format!("  {ascii}  ") }))
        .await;
    assert_eq!(padded["title"].as_str().unwrap(), ascii);
    assert_eq!(app.todo_counts(&alice).await, (3, 3, 0));
    assert_eq!(list(&app, &alice, Value::Null).await.0, 3);
}

#[tokio::test]
async fn descriptions_are_limited_to_10000_characters() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;

    for description in ["d".repeat(10_001), "é".repeat(10_001)] {
        let body = app
            .try_create_todo(
                &alice,
                json!({ "title": "Long", "description": description }),
            )
            .await;
        assert_bad_input(&body, "description");
    }
    assert_eq!(app.todo_counts(&alice).await, (0, 0, 0));

    for description in ["d".repeat(10_000), "é".repeat(10_000)] {
        let todo = app
            .create_todo(
                &alice,
                json!({ "title": "Long", "description": description }),
            )
            .await;
        assert_eq!(todo["description"].as_str().unwrap(), description);
    }
    assert_eq!(app.todo_counts(&alice).await, (2, 2, 0));
}

#[tokio::test]
async fn nul_characters_are_bad_input_not_internal_errors() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    for (input, field) in [
        (json!({ "title": "a\u{0}b" }), "title"),
        (
            json!({ "title": "ok", "description": "x\u{0}y" }),
            "description",
        ),
    ] {
        let body = app.try_create_todo(&alice, input.clone()).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{input}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
    }
    assert_eq!(app.todo_counts(&alice).await, (0, 0, 0));

    let todo = app.create_todo(&alice, json!({ "title": "clean" })).await;
    let id = todo["id"].as_str().unwrap();
    let body = app
        .update_todo(&alice, id, json!({ "title": "\u{0}" }))
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "title", "{body}");

    let body = app
        .gql_as(
            &alice,
            "query($s: String) { todos(filter: { search: $s }) { totalCount } }",
            json!({ "s": "a\u{0}" }),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["field"], "filter.search",
        "{body}"
    );
    let mut after = get_todo(&app, &alice, id).await;
    after.as_object_mut().unwrap().remove("owner");
    assert_eq!(after, todo);
}

#[tokio::test]
async fn malformed_date_times_are_bad_input_not_internal_errors() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let input_error = |body: &Value| {
        let code = error_code(body).to_owned();
        assert!(
            code == "BAD_USER_INPUT" || code == "GRAPHQL_VALIDATION_FAILED",
            "a malformed DateTime is the client's fault, got {code}: {body}"
        );
    };
    for due in [
        "not a date",
        "2030-01-01",
        "2030-13-01T00:00:00Z",
        "10000-01-01T00:00:00Z",
    ] {
        let body = app
            .try_create_todo(&alice, json!({ "title": "t", "dueAt": due }))
            .await;
        input_error(&body);
        let body = app
            .gql_as(
                &alice,
                "query($d: DateTime) { todos(filter: { dueBefore: $d }) { totalCount } }",
                json!({ "d": due }),
            )
            .await;
        input_error(&body);
    }
    assert_eq!(app.todo_counts(&alice).await, (0, 0, 0));
}

#[tokio::test]
async fn update_leaves_absent_fields_unchanged() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let todo = app
        .create_todo(
            &alice,
            json!({ "title": "Old", "description": "Keep me", "dueAt": "2030-01-01T00:00:00Z" }),
        )
        .await;
    let id = todo["id"].as_str().unwrap();

    let updated = app
        .update_todo_ok(&alice, id, json!({ "title": "  New  " }))
        .await;
    assert_eq!(updated["title"], "New");
    assert_eq!(updated["description"], "Keep me");
    assert_eq!(updated["dueAt"], todo["dueAt"]);
    assert_eq!(updated["completed"], false);
    assert_eq!(updated["createdAt"], todo["createdAt"]);
    assert_eq!(updated["version"], 2);
    assert!(
        utc(&updated["updatedAt"]) > utc(&todo["updatedAt"]),
        "updatedAt did not move: {todo} -> {updated}"
    );

    let updated2 = app
        .update_todo_ok(
            &alice,
            id,
            json!({ "description": "Changed", "dueAt": "2031-02-03T04:05:06Z" }),
        )
        .await;
    assert_eq!(updated2["title"], "New");
    assert_eq!(updated2["description"], "Changed");
    assert_eq!(utc(&updated2["dueAt"]), at("2031-02-03T04:05:06Z"));
    assert_eq!(updated2["version"], 3);
    assert!(utc(&updated2["updatedAt"]) > utc(&updated["updatedAt"]));

    let mut fetched = get_todo(&app, &alice, id).await;
    fetched.as_object_mut().unwrap().remove("owner");
    assert_eq!(fetched, updated2);
}

#[tokio::test]
async fn explicit_null_clears_description_and_due_at() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let todo = app
        .create_todo(
            &alice,
            json!({ "title": "T", "description": "D", "dueAt": "2030-01-01T00:00:00Z" }),
        )
        .await;
    let id = todo["id"].as_str().unwrap();

    let a = app
        .update_todo_ok(&alice, id, json!({ "description": null }))
        .await;
    assert!(a["description"].is_null(), "{a}");
    assert_eq!(a["dueAt"], todo["dueAt"]);
    assert_eq!(a["version"], 2);

    let b = app
        .update_todo_ok(&alice, id, json!({ "dueAt": null }))
        .await;
    assert!(b["dueAt"].is_null(), "{b}");
    assert!(b["description"].is_null());
    assert_eq!(b["title"], "T");
    assert_eq!(b["version"], 3);

    // Clearing what is already clear is not a change.
    let c = app
        .update_todo_ok(&alice, id, json!({ "description": null, "dueAt": null }))
        .await;
    assert_eq!(c, b);

    let fetched = get_todo(&app, &alice, id).await;
    assert!(fetched["description"].is_null() && fetched["dueAt"].is_null());
}

#[tokio::test]
async fn invalid_updates_are_rejected_and_change_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let todo = app
        .create_todo(&alice, json!({ "title": "Stay", "description": "Same" }))
        .await;
    let id = todo["id"].as_str().unwrap();
    let before = get_todo(&app, &alice, id).await;

    for (input, field) in [
        (json!({ "title": null }), "title"),
        (json!({ "title": "   " }), "title"),
        (json!({ "title": "a".repeat(501) }), "title"),
        (json!({ "completed": null }), "completed"),
        (json!({ "description": "d".repeat(10_001) }), "description"),
        // A valid field alongside does not get applied either.
        (json!({ "description": "new", "title": null }), "title"),
    ] {
        let body = app.update_todo(&alice, id, input.clone()).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{input}: {body}");
        assert_eq!(
            body["errors"][0]["extensions"]["field"], field,
            "{input}: {body}"
        );
    }
    assert_eq!(get_todo(&app, &alice, id).await, before);
}

#[tokio::test]
async fn version_increases_by_one_per_change_and_not_for_no_ops() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let todo = app
        .create_todo(
            &alice,
            json!({ "title": "Same", "description": "Desc", "dueAt": "2030-01-01T00:00:00Z" }),
        )
        .await;
    let id = todo["id"].as_str().unwrap();

    // Nothing, or the same values, change nothing: neither version nor updatedAt.
    for input in [
        json!({}),
        json!({ "title": "Same" }),
        json!({ "title": "  Same  " }),
        json!({ "description": "Desc", "completed": false }),
        json!({ "dueAt": "2030-01-01T00:00:00Z" }),
        json!({ "dueAt": "2030-01-01T01:00:00+01:00" }),
        json!({ "expectedVersion": 1 }),
    ] {
        let same = app.update_todo_ok(&alice, id, input.clone()).await;
        assert_eq!(same, todo, "no-op update {input} changed the todo");
    }

    // Several fields in one request: one change, one version.
    let changed = app
        .update_todo_ok(
            &alice,
            id,
            json!({ "title": "Other", "description": "Other", "completed": true, "dueAt": null }),
        )
        .await;
    assert_eq!(changed["version"], 2);

    let mut expected = 2;
    for input in [
        json!({ "title": "Third" }),
        json!({ "completed": false }),
        json!({ "dueAt": "2030-05-05T05:05:05Z" }),
        json!({ "description": "" }),
    ] {
        let next = app.update_todo_ok(&alice, id, input.clone()).await;
        expected += 1;
        assert_eq!(next["version"], expected, "after {input}");
    }
    // The empty string is a value, not a null.
    let fetched = get_todo(&app, &alice, id).await;
    assert_eq!(fetched["description"], "");
    assert_eq!(fetched["version"], expected);
}

#[tokio::test]
async fn completing_sets_completed_at_and_reopening_clears_it() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let todo = app.create_todo(&alice, json!({ "title": "Do it" })).await;
    let id = todo["id"].as_str().unwrap();

    let done = app
        .update_todo_ok(&alice, id, json!({ "completed": true }))
        .await;
    assert_eq!(done["completed"], true);
    let completed_at = utc(&done["completedAt"]);
    assert!(completed_at > utc(&todo["createdAt"]));
    assert_eq!(completed_at, utc(&done["updatedAt"]));
    assert_eq!(done["version"], 2);

    // Completing again is a no-op: completedAt keeps the first completion.
    let again = app
        .update_todo_ok(&alice, id, json!({ "completed": true }))
        .await;
    assert_eq!(again, done);

    // Another change while completed keeps completedAt.
    let renamed = app
        .update_todo_ok(&alice, id, json!({ "title": "Done it" }))
        .await;
    assert_eq!(renamed["completedAt"], done["completedAt"]);
    assert_eq!(renamed["completed"], true);
    assert_eq!(renamed["version"], 3);

    let reopened = app
        .update_todo_ok(&alice, id, json!({ "completed": false }))
        .await;
    assert_eq!(reopened["completed"], false);
    assert!(reopened["completedAt"].is_null(), "{reopened}");
    assert_eq!(reopened["version"], 4);

    let fetched = get_todo(&app, &alice, id).await;
    assert!(fetched["completedAt"].is_null());
    assert_eq!(fetched["completed"], false);
}

#[tokio::test]
async fn expected_version_guards_against_lost_updates() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let todo = app.create_todo(&alice, json!({ "title": "v1" })).await;
    let id = todo["id"].as_str().unwrap();

    let v2 = app
        .update_todo_ok(&alice, id, json!({ "title": "v2", "expectedVersion": 1 }))
        .await;
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["title"], "v2");
    let snapshot = get_todo(&app, &alice, id).await;

    // A stale writer, a future version, and a stale no-op alike are refused.
    for (input, what) in [
        (json!({ "title": "stale", "expectedVersion": 1 }), "stale"),
        (
            json!({ "completed": true, "description": "x", "expectedVersion": 3 }),
            "future",
        ),
        (
            json!({ "title": "v2", "expectedVersion": 1 }),
            "stale no-op",
        ),
        (json!({ "dueAt": null, "expectedVersion": 0 }), "zero"),
    ] {
        let body = app.update_todo(&alice, id, input).await;
        assert_eq!(error_code(&body), "CONFLICT", "{what}: {body}");
        assert!(body["data"].is_null(), "{what}: {body}");
        assert_eq!(get_todo(&app, &alice, id).await, snapshot, "{what}");
    }

    let v3 = app
        .update_todo_ok(
            &alice,
            id,
            json!({ "completed": true, "expectedVersion": 2 }),
        )
        .await;
    assert_eq!(v3["version"], 3);
    assert_eq!(v3["title"], "v2");
}

#[tokio::test]
async fn delete_returns_the_id_then_the_todo_is_gone() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let keep = app.create_todo(&alice, json!({ "title": "Keep" })).await;
    let todo = app.create_todo(&alice, json!({ "title": "Bye" })).await;
    let id = todo["id"].as_str().unwrap();

    let body = app.delete_todo(&alice, id).await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["deleteTodo"], id);

    assert!(get_todo(&app, &alice, id).await.is_null());
    let again = app.delete_todo(&alice, id).await;
    assert_eq!(error_code(&again), "NOT_FOUND", "{again}");
    let upd = app
        .update_todo(&alice, id, json!({ "title": "Zombie" }))
        .await;
    assert_eq!(error_code(&upd), "NOT_FOUND", "{upd}");

    let (total, nodes) = list(&app, &alice, Value::Null).await;
    assert_eq!(total, 1);
    assert_eq!(nodes[0]["id"], keep["id"]);
    assert_eq!(app.todo_counts(&alice).await, (1, 1, 0));
}

#[tokio::test]
async fn ids_that_are_not_uuids_name_no_todo() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    app.create_todo(&alice, json!({ "title": "Exists" })).await;
    for id in ["not-a-uuid", "", "1", "'; DROP TABLE todos; --"] {
        let del = app.delete_todo(&alice, id).await;
        assert_eq!(error_code(&del), "NOT_FOUND", "delete {id:?}: {del}");
        let upd = app.update_todo(&alice, id, json!({ "title": "x" })).await;
        assert_eq!(error_code(&upd), "NOT_FOUND", "update {id:?}: {upd}");
        assert!(get_todo(&app, &alice, id).await.is_null(), "todo({id:?})");
    }
    // A well-formed id that names nothing.
    let nobody = uuid::Uuid::now_v7().to_string();
    assert!(get_todo(&app, &alice, &nobody).await.is_null());
    assert_eq!(
        error_code(&app.delete_todo(&alice, &nobody).await),
        "NOT_FOUND"
    );
    assert_eq!(app.todo_counts(&alice).await, (1, 1, 0));
}

#[tokio::test]
async fn toggle_all_changes_only_what_differs() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let mut ids = Vec::new();
    for title in ["one", "two", "three"] {
        let t = app.create_todo(&alice, json!({ "title": title })).await;
        ids.push(t["id"].as_str().unwrap().to_owned());
    }
    let pre = app
        .update_todo_ok(&alice, &ids[0], json!({ "completed": true }))
        .await;

    assert_eq!(app.toggle_all(&alice, true).await, 2);
    let (_, nodes) = list(&app, &alice, Value::Null).await;
    for n in &nodes {
        assert_eq!(n["completed"], true, "{n}");
        assert!(utc(&n["completedAt"]) > utc(&n["createdAt"]), "{n}");
        if n["id"] == pre["id"] {
            // Already completed: untouched.
            assert_eq!(n, &pre);
        } else {
            assert_eq!(n["version"], 2, "{n}");
            assert_eq!(n["completedAt"], n["updatedAt"], "{n}");
        }
    }
    assert_eq!(app.todo_counts(&alice).await, (3, 0, 3));

    assert_eq!(app.toggle_all(&alice, true).await, 0);
    assert_eq!(list(&app, &alice, Value::Null).await.1, nodes);

    assert_eq!(app.toggle_all(&alice, false).await, 3);
    let (_, reopened) = list(&app, &alice, Value::Null).await;
    for n in &reopened {
        assert_eq!(n["completed"], false, "{n}");
        assert!(n["completedAt"].is_null(), "{n}");
        assert_eq!(n["version"], 3, "{n}");
    }
    assert_eq!(app.toggle_all(&alice, false).await, 0);
    assert_eq!(app.todo_counts(&alice).await, (3, 3, 0));
}

#[tokio::test]
async fn toggle_all_and_clear_completed_with_no_todos_return_zero() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    assert_eq!(app.toggle_all(&alice, true).await, 0);
    assert_eq!(app.toggle_all(&alice, false).await, 0);
    assert_eq!(clear_completed(&app, &alice).await, 0);
    assert_eq!(app.todo_counts(&alice).await, (0, 0, 0));
}

#[tokio::test]
async fn clear_completed_deletes_only_completed_todos() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let mut active = BTreeSet::new();
    for i in 0..5 {
        let t = app
            .create_todo(&alice, json!({ "title": format!("todo {i}") }))
            .await;
        let id = t["id"].as_str().unwrap().to_owned();
        if i % 2 == 0 {
            app.update_todo_ok(&alice, &id, json!({ "completed": true }))
                .await;
        } else {
            active.insert(id);
        }
    }
    assert_eq!(app.todo_counts(&alice).await, (5, 2, 3));

    assert_eq!(clear_completed(&app, &alice).await, 3);
    let (total, nodes) = list(&app, &alice, Value::Null).await;
    assert_eq!(total, 2);
    let left: BTreeSet<String> = nodes
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(left, active);
    assert!(nodes.iter().all(|n| n["completed"] == false));

    assert_eq!(clear_completed(&app, &alice).await, 0);
    assert_eq!(app.todo_counts(&alice).await, (2, 2, 0));
}

#[tokio::test]
async fn todo_counts_follow_a_mix_of_changes() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    assert_eq!(app.todo_counts(&alice).await, (0, 0, 0));

    let mut ids = Vec::new();
    for i in 0..6 {
        let t = app
            .create_todo(&alice, json!({ "title": format!("t{i}") }))
            .await;
        ids.push(t["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(app.todo_counts(&alice).await, (6, 6, 0));

    app.update_todo_ok(&alice, &ids[0], json!({ "completed": true }))
        .await;
    app.update_todo_ok(&alice, &ids[1], json!({ "completed": true }))
        .await;
    app.update_todo_ok(&alice, &ids[2], json!({ "completed": true }))
        .await;
    assert_eq!(app.todo_counts(&alice).await, (6, 3, 3));

    app.update_todo_ok(&alice, &ids[2], json!({ "completed": false }))
        .await;
    assert_eq!(app.todo_counts(&alice).await, (6, 4, 2));

    // One completed and one active deleted.
    app.delete_todo(&alice, &ids[0]).await;
    app.delete_todo(&alice, &ids[5]).await;
    assert_eq!(app.todo_counts(&alice).await, (4, 3, 1));

    assert_eq!(clear_completed(&app, &alice).await, 1);
    assert_eq!(app.todo_counts(&alice).await, (3, 3, 0));

    assert_eq!(app.toggle_all(&alice, true).await, 3);
    assert_eq!(app.todo_counts(&alice).await, (3, 0, 3));

    // The counts agree with the filtered lists.
    assert_eq!(list(&app, &alice, json!({ "completed": true })).await.0, 3);
    assert_eq!(list(&app, &alice, json!({ "completed": false })).await.0, 0);
}

/// Everything `user` can see of their own todos, with every field.
async fn snapshot(app: &TestApp, user: &TestUser) -> Value {
    let body = app
        .gql_as(
            user,
            &format!(
                "{{ todos(first: 100, orderBy: CREATED_AT_ASC) {{ totalCount nodes {{
                    {TODO_FIELDS} owner {{ id email }} }} }}
                   me {{ todoCounts {{ total active completed }}
                        todos(first: 100, orderBy: UPDATED_AT_DESC) {{ nodes {{ {TODO_FIELDS} }} }} }} }}"
            ),
            json!({}),
        )
        .await;
    assert!(body["errors"].is_null(), "snapshot failed: {body}");
    body["data"].clone()
}

#[tokio::test]
async fn users_cannot_read_or_change_each_others_todos() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;

    let a_open = app
        .create_todo(
            &alice,
            json!({ "title": "Alice secret", "description": "private notes", "dueAt": "2030-01-01T00:00:00Z" }),
        )
        .await;
    let a_done = app
        .create_todo(&alice, json!({ "title": "Alice done" }))
        .await;
    app.update_todo_ok(
        &alice,
        a_done["id"].as_str().unwrap(),
        json!({ "completed": true }),
    )
    .await;
    let alice_before = snapshot(&app, &alice).await;
    assert_eq!(alice_before["todos"]["totalCount"], 2);

    // Bob has todos of his own, one completed.
    let b_open = app.create_todo(&bob, json!({ "title": "Bob open" })).await;
    let b_done = app.create_todo(&bob, json!({ "title": "Bob done" })).await;
    app.update_todo_ok(
        &bob,
        b_done["id"].as_str().unwrap(),
        json!({ "completed": true }),
    )
    .await;

    for a in [&a_open, &a_done] {
        let id = a["id"].as_str().unwrap();
        // Reading: null, not an error.
        assert!(get_todo(&app, &bob, id).await.is_null(), "bob read {id}");

        // Updating, with or without a version: NOT_FOUND, never CONFLICT.
        for input in [
            json!({ "title": "pwned" }),
            json!({ "completed": false }),
            json!({ "description": null, "dueAt": null }),
            json!({ "title": "pwned", "expectedVersion": a["version"] }),
            json!({ "title": "pwned", "expectedVersion": 99 }),
            json!({}),
        ] {
            let body = app.update_todo(&bob, id, input.clone()).await;
            assert_eq!(error_code(&body), "NOT_FOUND", "bob update {input}: {body}");
            assert!(body["data"].is_null());
        }

        let body = app.delete_todo(&bob, id).await;
        assert_eq!(error_code(&body), "NOT_FOUND", "bob delete: {body}");
    }

    // Lists and searches show Bob only his own.
    let (total, nodes) = list(&app, &bob, Value::Null).await;
    assert_eq!(total, 2);
    let mut own: Vec<&str> = nodes.iter().map(|n| n["title"].as_str().unwrap()).collect();
    own.sort_unstable();
    assert_eq!(own, ["Bob done", "Bob open"]);
    assert!(
        titles(&app, &bob, json!({ "search": "alice" }))
            .await
            .is_empty()
    );
    assert!(
        titles(&app, &bob, json!({ "search": "private" }))
            .await
            .is_empty()
    );
    assert!(
        titles(&app, &bob, json!({ "dueAfter": "2000-01-01T00:00:00Z" }))
            .await
            .is_empty()
    );
    assert_eq!(app.todo_counts(&bob).await, (2, 1, 1));

    // Bulk mutations touch only Bob's todos.
    assert_eq!(app.toggle_all(&bob, true).await, 1);
    assert_eq!(app.toggle_all(&bob, false).await, 2);
    assert_eq!(app.toggle_all(&bob, true).await, 2);
    assert_eq!(clear_completed(&app, &bob).await, 2);
    assert_eq!(app.todo_counts(&bob).await, (0, 0, 0));
    assert!(
        get_todo(&app, &bob, b_open["id"].as_str().unwrap())
            .await
            .is_null()
    );

    // Alice's data is exactly as it was.
    assert_eq!(snapshot(&app, &alice).await, alice_before);
    assert_eq!(
        get_todo(&app, &alice, a_open["id"].as_str().unwrap()).await["title"],
        "Alice secret"
    );
}

#[tokio::test]
async fn another_users_cursor_reveals_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    for i in 0..3 {
        app.create_todo(&alice, json!({ "title": format!("a{i}") }))
            .await;
    }
    let body = app
        .gql_as(
            &alice,
            "{ todos(first: 1) { pageInfo { endCursor } } }",
            json!({}),
        )
        .await;
    let cursor = body["data"]["todos"]["pageInfo"]["endCursor"].clone();
    assert!(cursor.is_string(), "{body}");
    let body = app
        .gql_as(
            &bob,
            "query($after: String) { todos(after: $after) { totalCount nodes { id } } }",
            json!({ "after": cursor }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["todos"]["totalCount"], 0);
    assert_eq!(body["data"]["todos"]["nodes"], json!([]));
}

/// Text that tends to break escaping, encodings or normalisation.
const TRICKY: &[&str] = &[
    r#"She said "hi" and 'bye'"#,
    r"back\slash \\ and \n not a newline \u0041",
    "'; DROP TABLE todos; --",
    "Robert'); DELETE FROM users WHERE ('1'='1",
    "100% of the _under_scored \\% and \\_",
    "🦀 crab, 👩‍👩‍👧‍👦 family, 🏳️‍🌈 flag, 👍🏽 tone",
    "שלום עולם — مرحبا بالعالم \u{200F}mixed\u{200E} LTR",
    "zero\u{200B}width\u{200D}joiner\u{FEFF}bom\u{2060}wj",
    "line one\nline two\r\nline three\ttab",
    "<script>alert(1)</script> &amp; &lt;",
    "e\u{301} vs é (NFD vs NFC)",
    "{\"json\": [1, 2]} $var ${x} `tick`",
];

#[tokio::test]
async fn tricky_text_round_trips_exactly() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let mut created = Vec::new();
    for &s in TRICKY {
        let description = format!("  {s}\n\t");
        let todo = app
            .create_todo(&alice, json!({ "title": s, "description": description }))
            .await;
        assert_eq!(todo["title"].as_str().unwrap(), s);
        assert_eq!(todo["description"].as_str().unwrap(), description);
        let id = todo["id"].as_str().unwrap().to_owned();
        let fetched = get_todo(&app, &alice, &id).await;
        assert_eq!(fetched["title"].as_str().unwrap(), s);
        assert_eq!(fetched["description"].as_str().unwrap(), description);
        created.push((id, s));
    }

    // Through updates too.
    let (id, _) = &created[0];
    for &s in TRICKY {
        let t = app
            .update_todo_ok(&alice, id, json!({ "title": s, "description": s }))
            .await;
        assert_eq!(t["title"].as_str().unwrap(), s);
        assert_eq!(t["description"].as_str().unwrap(), s);
    }
    app.update_todo_ok(
        &alice,
        id,
        json!({ "title": TRICKY[0], "description": format!("  {}\n\t", TRICKY[0]) }),
    )
    .await;

    // And in lists, and every one is found by searching for itself literally.
    let (total, nodes) = list(&app, &alice, Value::Null).await;
    assert_eq!(usize::try_from(total).unwrap(), TRICKY.len());
    for (node, &s) in nodes.iter().zip(TRICKY) {
        assert_eq!(node["title"].as_str().unwrap(), s);
    }
    for &s in TRICKY {
        let needle = s.trim();
        let found = titles(&app, &alice, json!({ "search": needle })).await;
        let expected: Vec<String> = sorted(
            &TRICKY
                .iter()
                .copied()
                .filter(|t| t.to_lowercase().contains(&needle.to_lowercase()))
                .collect::<Vec<_>>(),
        );
        assert_eq!(found, expected, "search {needle:?}");
    }

    // The tables are all still there.
    app.create_todo(&alice, json!({ "title": "still works" }))
        .await;
    assert_eq!(
        app.todo_counts(&alice).await.0,
        i64::try_from(TRICKY.len()).unwrap() + 1
    );
}

#[tokio::test]
async fn filters_by_state_search_and_due_dates() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let make = async |title: &str, description: Option<&str>, due: Option<&str>| {
        app.create_todo(
            &alice,
            json!({ "title": title, "description": description, "dueAt": due }),
        )
        .await["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let milk = make("Buy MILK", None, Some("2030-01-01T00:00:00Z")).await;
    make(
        "Walk dog",
        Some("and buy milk too"),
        Some("2030-01-02T00:00:00Z"),
    )
    .await;
    make("100% done", None, None).await;
    make("snake_case", Some(""), Some("2030-01-03T00:00:00Z")).await;
    make("plain 1000 done", Some("snakeXcase"), None).await;
    make("Milkshake", Some("vanilla"), Some("2030-01-02T00:00:00Z")).await;
    app.update_todo_ok(&alice, &milk, json!({ "completed": true }))
        .await;

    let all = [
        "Buy MILK",
        "Walk dog",
        "100% done",
        "snake_case",
        "plain 1000 done",
        "Milkshake",
    ];
    assert_eq!(titles(&app, &alice, Value::Null).await, sorted(&all));
    assert_eq!(titles(&app, &alice, json!({})).await, sorted(&all));

    // State.
    assert_eq!(
        titles(&app, &alice, json!({ "completed": true })).await,
        sorted(&["Buy MILK"])
    );
    assert_eq!(
        titles(&app, &alice, json!({ "completed": false })).await,
        sorted(&all[1..])
    );

    // Search: case-insensitive, in the title or the description.
    let with_milk = sorted(&["Buy MILK", "Walk dog", "Milkshake"]);
    for needle in ["milk", "MILK", "mIlK", "  milk  "] {
        assert_eq!(
            titles(&app, &alice, json!({ "search": needle })).await,
            with_milk,
            "search {needle:?}"
        );
    }
    assert_eq!(
        titles(&app, &alice, json!({ "search": "VANILLA" })).await,
        sorted(&["Milkshake"])
    );
    assert!(
        titles(&app, &alice, json!({ "search": "absent" }))
            .await
            .is_empty()
    );
    // A blank search is no search.
    assert_eq!(
        titles(&app, &alice, json!({ "search": "   " })).await,
        sorted(&all)
    );

    // LIKE wildcards match themselves only.
    for (needle, expected) in [
        ("%", vec!["100% done"]),
        ("_", vec!["snake_case"]),
        ("100%", vec!["100% done"]),
        ("e_c", vec!["snake_case"]),
        ("0%", vec!["100% done"]),
        ("%d%", vec![]),
        ("\\", vec![]),
    ] {
        assert_eq!(
            titles(&app, &alice, json!({ "search": needle })).await,
            sorted(&expected),
            "search {needle:?}"
        );
    }

    // Due dates: strict bounds, todos without one never match.
    assert_eq!(
        titles(&app, &alice, json!({ "dueBefore": "2030-01-02T00:00:00Z" })).await,
        sorted(&["Buy MILK"])
    );
    assert_eq!(
        titles(&app, &alice, json!({ "dueAfter": "2030-01-02T00:00:00Z" })).await,
        sorted(&["snake_case"])
    );
    assert_eq!(
        titles(
            &app,
            &alice,
            json!({ "dueAfter": "2030-01-01T00:00:00Z", "dueBefore": "2030-01-03T00:00:00Z" })
        )
        .await,
        sorted(&["Walk dog", "Milkshake"])
    );
    assert_eq!(
        titles(
            &app,
            &alice,
            json!({ "dueAfter": "2030-01-01T23:59:59.999999Z" })
        )
        .await,
        sorted(&["Walk dog", "Milkshake", "snake_case"])
    );
    assert_eq!(
        titles(&app, &alice, json!({ "dueBefore": "2100-01-01T00:00:00Z" })).await,
        sorted(&["Buy MILK", "Walk dog", "snake_case", "Milkshake"])
    );
    // Offsets are honoured: 01:00+01:00 is midnight UTC.
    assert_eq!(
        titles(
            &app,
            &alice,
            json!({ "dueBefore": "2030-01-02T01:00:00+01:00" })
        )
        .await,
        sorted(&["Buy MILK"])
    );

    // Combinations.
    assert_eq!(
        titles(
            &app,
            &alice,
            json!({ "completed": false, "search": "milk" })
        )
        .await,
        sorted(&["Walk dog", "Milkshake"])
    );
    assert!(
        titles(
            &app,
            &alice,
            json!({ "completed": true, "dueAfter": "2030-01-01T00:00:00Z" })
        )
        .await
        .is_empty()
    );
    assert_eq!(
        titles(
            &app,
            &alice,
            json!({ "completed": false, "search": "milk", "dueBefore": "2030-01-03T00:00:00Z", "dueAfter": "2030-01-01T00:00:00Z" })
        )
        .await,
        sorted(&["Walk dog", "Milkshake"])
    );
    assert_eq!(
        titles(
            &app,
            &alice,
            json!({ "search": "done", "completed": false })
        )
        .await,
        sorted(&["100% done", "plain 1000 done"])
    );

    // totalCount counts the filter across pages, not the page.
    let body = app
        .gql_as(
            &alice,
            "{ todos(first: 1, filter: { search: \"milk\" }) { totalCount nodes { id } pageInfo { hasNextPage } } }",
            json!({}),
        )
        .await;
    assert_eq!(body["data"]["todos"]["totalCount"], 3, "{body}");
    assert_eq!(body["data"]["todos"]["nodes"].as_array().unwrap().len(), 1);
    assert_eq!(body["data"]["todos"]["pageInfo"]["hasNextPage"], true);
}

#[tokio::test]
async fn overlong_search_is_rejected() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let body = app
        .gql_as(
            &alice,
            "query($s: String) { todos(filter: { search: $s }) { totalCount } }",
            json!({ "s": "s".repeat(201) }),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "filter.search");
    let ok = app
        .gql_as(
            &alice,
            "query($s: String) { todos(filter: { search: $s }) { totalCount } }",
            json!({ "s": "s".repeat(200) }),
        )
        .await;
    assert_eq!(ok["data"]["todos"]["totalCount"], 0, "{ok}");
}

#[tokio::test]
async fn a_page_of_owners_costs_one_users_query() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    for i in 0..20 {
        app.create_todo(&alice, json!({ "title": format!("todo {i}") }))
            .await;
    }

    let stats = app.state.db.stats();
    stats.reset();
    assert_eq!(stats.count_matching("FROM \"users\""), 0);
    let body = app
        .gql_as(
            &alice,
            "{ todos(first: 20) { nodes { id owner { id email } } } }",
            json!({}),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let nodes = body["data"]["todos"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 20);
    for n in nodes {
        assert_eq!(n["owner"]["id"], alice.id.as_str());
        assert_eq!(n["owner"]["email"], alice.email.as_str());
    }
    // The authentication check and all 20 owners: one users query.
    assert_eq!(stats.count_matching("FROM \"users\""), 1);
    // And the page itself is one todos query.
    assert_eq!(stats.count_matching("FROM \"todos\""), 1);

    // The cache lives for one request only: the next request asks again,
    // and once, however many connections it walks.
    stats.reset();
    let body = app
        .gql_as(
            &alice,
            "{ a: todos(first: 20) { nodes { owner { email } } }
               me { email todos(first: 20, orderBy: CREATED_AT_ASC) { nodes { owner { id } } } } }",
            json!({}),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(
        body["data"]["me"]["todos"]["nodes"]
            .as_array()
            .unwrap()
            .len(),
        20
    );
    assert_eq!(stats.count_matching("FROM \"users\""), 1);
}
