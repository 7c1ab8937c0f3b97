//! Creating todos: every field returned, titles trimmed, due times as
//! instants in UTC, validation of titles, descriptions, text and dates,
//! and text that tends to break escaping round-tripped exactly.

use chrono::Utc;
use serde_json::{Value, json};

use super::{assert_bad_input, at, get_todo, list, sorted, titles, utc};
use crate::support::{TODO_FIELDS, TestApp, error_code};

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
