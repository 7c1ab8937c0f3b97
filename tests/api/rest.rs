//! The REST facade: `/todos` and `/todos/{id}` over the same service as
//! GraphQL, with its statuses, JSON errors, Bearer authentication, owner
//! isolation, optimistic concurrency, PATCH semantics and paging.

use std::collections::{BTreeSet, HashSet};

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode, header::CONTENT_TYPE};
use serde_json::{Value, json};
use todoql::auth::token::Claims;
use uuid::Uuid;

use crate::support::{
    Answer, PASSWORD, TODO_FIELDS, TestApp, TestUser, claims_for, http::send_json,
};

/// A request as `user` with a raw JSON body.
async fn call_raw(
    app: &TestApp,
    user: &TestUser,
    method: Method,
    path: &str,
    body: &str,
) -> Answer {
    let builder = app
        .request(method, path, Some(&user.access_token))
        .header(CONTENT_TYPE, "application/json")
        .body(body.to_owned());
    send_json(builder).await
}

/// `GET /todos` with query parameters.
async fn list(app: &TestApp, user: &TestUser, query: Query<'_>) -> Answer {
    let builder = app
        .request(Method::GET, "/todos", Some(&user.access_token))
        .query(query);
    send_json(builder).await
}

async fn create(app: &TestApp, user: &TestUser, body: Value) -> Value {
    let answer = app.rest_as(user, Method::POST, "/todos", Some(body)).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    answer.body
}

async fn get(app: &TestApp, user: &TestUser, id: &str) -> Answer {
    app.rest_as(user, Method::GET, &format!("/todos/{id}"), None)
        .await
}

async fn patch(app: &TestApp, user: &TestUser, id: &str, body: Value) -> Answer {
    app.rest_as(user, Method::PATCH, &format!("/todos/{id}"), Some(body))
        .await
}

/// Query parameters of `GET /todos`.
type Query<'a> = &'a [(&'a str, &'a str)];

#[track_caller]
fn assert_error(answer: &Answer, status: StatusCode, code: &str, context: &str) {
    assert_eq!(answer.status, status, "{context}: {}", answer.text);
    assert_eq!(answer.body["code"], code, "{context}: {}", answer.text);
    let message = answer.body["message"].as_str().unwrap_or_default();
    assert!(
        !message.is_empty(),
        "{context}: no message: {}",
        answer.text
    );
}

#[track_caller]
fn assert_invalid(answer: &Answer, field: &str, context: &str) {
    assert_error(
        answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "BAD_USER_INPUT",
        context,
    );
    assert_eq!(answer.body["field"], field, "{context}: {}", answer.text);
}

fn time(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a timestamp: {value}"))
        .parse()
        .unwrap()
}

fn id_of(todo: &Value) -> String {
    todo["id"].as_str().unwrap().to_owned()
}

fn titles(items: &Value) -> Vec<&str> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].as_str().unwrap())
        .collect()
}

/// The caller's todos through REST, all of them.
async fn total(app: &TestApp, user: &TestUser) -> i64 {
    let answer = list(app, user, &[("first", "0")]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.body["totalCount"].as_i64().unwrap()
}

// --- create, read, update, delete -------------------------------------------

#[tokio::test]
async fn create_returns_201_and_the_todo() {
    let app = TestApp::spawn().await;
    let user = app.register("creator").await;
    let before = Utc::now();
    let todo = create(
        &app,
        &user,
        json!({ "title": "  Buy milk \n", "description": "  2 litres ", "dueAt": "2030-01-02T03:04:05Z" }),
    )
    .await;

    let keys: BTreeSet<&str> = todo
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let expected: BTreeSet<&str> = [
        "id",
        "title",
        "description",
        "completed",
        "dueAt",
        "completedAt",
        "createdAt",
        "updatedAt",
        "version",
    ]
    .into();
    assert_eq!(keys, expected, "{todo}");

    Uuid::parse_str(todo["id"].as_str().unwrap()).expect("a UUID id");
    assert_eq!(todo["title"], "Buy milk", "titles are trimmed");
    assert_eq!(
        todo["description"], "  2 litres ",
        "descriptions are kept verbatim"
    );
    assert_eq!(todo["completed"], false);
    assert_eq!(time(&todo["dueAt"]), time(&json!("2030-01-02T03:04:05Z")));
    assert!(todo["completedAt"].is_null());
    assert_eq!(todo["version"], 1);
    assert_eq!(todo["createdAt"], todo["updatedAt"]);
    let created = time(&todo["createdAt"]);
    assert!(
        created >= before - chrono::Duration::seconds(5)
            && created <= Utc::now() + chrono::Duration::seconds(5)
    );

    // Only the title is required.
    let minimal = create(&app, &user, json!({ "title": "minimal" })).await;
    assert!(
        minimal["description"].is_null() && minimal["dueAt"].is_null(),
        "{minimal}"
    );

    let answer = get(&app, &user, &id_of(&todo)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body, todo);
}

#[tokio::test]
async fn get_patch_and_delete_one_todo() {
    let app = TestApp::spawn().await;
    let user = app.register("crud").await;
    let todo = create(&app, &user, json!({ "title": "original" })).await;
    let id = id_of(&todo);

    let answer = patch(&app, &user, &id, json!({ "title": "renamed" })).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["title"], "renamed");
    assert_eq!(answer.body["version"], 2);
    assert_eq!(answer.body["createdAt"], todo["createdAt"]);
    assert!(time(&answer.body["updatedAt"]) > time(&todo["updatedAt"]));
    let answer = get(&app, &user, &id).await;
    assert_eq!(answer.body["title"], "renamed", "{}", answer.text);

    let answer = app
        .rest_as(&user, Method::DELETE, &format!("/todos/{id}"), None)
        .await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.text);
    assert!(answer.text.is_empty(), "204 has no body: {}", answer.text);

    let answer = get(&app, &user, &id).await;
    assert_error(
        &answer,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "GET after DELETE",
    );
    let answer = app
        .rest_as(&user, Method::DELETE, &format!("/todos/{id}"), None)
        .await;
    assert_error(&answer, StatusCode::NOT_FOUND, "NOT_FOUND", "second DELETE");
    let answer = patch(&app, &user, &id, json!({ "title": "zombie" })).await;
    assert_error(
        &answer,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "PATCH after DELETE",
    );
    assert_eq!(total(&app, &user).await, 0);
}

#[tokio::test]
async fn delete_all_deletes_only_the_callers_todos() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    for title in ["a1", "a2", "a3"] {
        create(&app, &alice, json!({ "title": title })).await;
    }
    let done = create(&app, &alice, json!({ "title": "a4" })).await;
    assert_eq!(
        patch(&app, &alice, &id_of(&done), json!({ "completed": true }))
            .await
            .status,
        StatusCode::OK
    );
    let bobs = create(&app, &bob, json!({ "title": "b1" })).await;

    let answer = app.rest_as(&alice, Method::DELETE, "/todos", None).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body, json!({ "deleted": 4 }));
    assert_eq!(total(&app, &alice).await, 0);

    assert_eq!(total(&app, &bob).await, 1);
    let answer = get(&app, &bob, &id_of(&bobs)).await;
    assert_eq!(answer.body, bobs, "bob's todo is untouched");

    let answer = app.rest_as(&alice, Method::DELETE, "/todos", None).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body, json!({ "deleted": 0 }));
}

// --- errors --------------------------------------------------------------------

#[tokio::test]
async fn malformed_requests_are_400() {
    let app = TestApp::spawn().await;
    let user = app.register("malformed").await;
    let todo = create(&app, &user, json!({ "title": "target" })).await;
    let path = format!("/todos/{}", id_of(&todo));

    for (method, path, body) in [
        (Method::POST, "/todos", "{"),
        (Method::POST, "/todos", ""),
        (Method::POST, "/todos", "not json"),
        (Method::POST, "/todos", r#"{"title":"x","colour":"red"}"#),
        (
            Method::POST,
            "/todos",
            r#"{"title":"x","owner_id":"00000000-0000-0000-0000-000000000000"}"#,
        ),
        (Method::POST, "/todos", r#"{"title":5}"#),
        (Method::POST, "/todos", r#"{"description":"no title"}"#),
        (Method::POST, "/todos", r#"["title"]"#),
        (
            Method::POST,
            "/todos",
            r#"{"title":"x","dueAt":"tomorrow"}"#,
        ),
        (Method::PATCH, path.as_str(), "{"),
        (Method::PATCH, path.as_str(), r#"{"title":"x","version":7}"#),
        (Method::PATCH, path.as_str(), r#"{"completed":"yes"}"#),
        (Method::PATCH, path.as_str(), r#"{"expectedVersion":"1"}"#),
    ] {
        let answer = call_raw(&app, &user, method.clone(), path, body).await;
        assert_error(
            &answer,
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            &format!("{method} {path} {body}"),
        );
    }

    for query in [
        "first=abc",
        "first=1.5",
        "completed=maybe",
        "colour=red",
        "dueBefore=yesterday",
        "first=1&first=2",
    ] {
        let builder = app.request(
            Method::GET,
            &format!("/todos?{query}"),
            Some(&user.access_token),
        );
        let answer = send_json(builder).await;
        assert_error(&answer, StatusCode::BAD_REQUEST, "BAD_REQUEST", query);
    }

    // Nothing was created or changed.
    assert_eq!(total(&app, &user).await, 1);
    assert_eq!(get(&app, &user, &id_of(&todo)).await.body, todo);
}

#[tokio::test]
async fn missing_or_invalid_credentials_are_401() {
    let app = TestApp::spawn().await;
    let user = app.register("victim").await;
    let gone = app.register("gone").await;
    let todo = create(&app, &user, json!({ "title": "mine" })).await;
    let id = id_of(&todo);
    app.sql(&format!("DELETE FROM users WHERE id = '{}'", gone.id))
        .await;

    let now = Utc::now().timestamp();
    let expired = app
        .state
        .auth
        .tokens()
        .sign(&Claims {
            iat: now - 1000,
            exp: now - 10,
            ..claims_for(&user)
        })
        .unwrap();
    let item = format!("/todos/{id}");
    let endpoints = [
        (Method::GET, "/todos", None),
        (Method::POST, "/todos", Some(json!({ "title": "intruder" }))),
        (Method::DELETE, "/todos", None),
        (Method::GET, item.as_str(), None),
        (
            Method::PATCH,
            item.as_str(),
            Some(json!({ "title": "hacked" })),
        ),
        (Method::DELETE, item.as_str(), None),
    ];
    for (method, path, body) in &endpoints {
        for token in [
            None,
            Some("garbage"),
            Some(expired.as_str()),
            Some(gone.access_token.as_str()),
            Some(user.refresh_token.as_str()),
        ] {
            let answer = app
                .rest_with(token, method.clone(), path, body.clone())
                .await;
            let context = format!("{method} {path} with {token:?}");
            assert_error(
                &answer,
                StatusCode::UNAUTHORIZED,
                "UNAUTHENTICATED",
                &context,
            );
        }
        // A non-Bearer scheme.
        let builder = app
            .request(method.clone(), path, None)
            .basic_auth(&user.email, Some(PASSWORD));
        let builder = match body {
            Some(body) => builder.json(body),
            None => builder,
        };
        let answer = send_json(builder).await;
        assert_error(
            &answer,
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            &format!("{method} {path} Basic"),
        );
    }

    // Nothing changed.
    assert_eq!(total(&app, &user).await, 1);
    assert_eq!(get(&app, &user, &id).await.body, todo);
}

#[tokio::test]
async fn missing_malformed_and_foreign_ids_are_404() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let bobs = create(
        &app,
        &bob,
        json!({ "title": "bob's", "description": "private" }),
    )
    .await;
    let random = Uuid::now_v7().to_string();
    let bobs_id = id_of(&bobs);

    for id in [
        random.as_str(),
        "not-a-uuid",
        "1",
        "00000000-0000-0000-0000-00000000000g",
        bobs_id.as_str(),
    ] {
        let path = format!("/todos/{id}");
        let answer = app.rest_as(&alice, Method::GET, &path, None).await;
        assert_error(
            &answer,
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            &format!("GET {path}"),
        );
        let answer = app
            .rest_as(
                &alice,
                Method::PATCH,
                &path,
                Some(json!({ "title": "mine now", "completed": true })),
            )
            .await;
        assert_error(
            &answer,
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            &format!("PATCH {path}"),
        );
        let answer = app.rest_as(&alice, Method::DELETE, &path, None).await;
        assert_error(
            &answer,
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            &format!("DELETE {path}"),
        );
    }

    // Another user's todo answers exactly like a missing one.
    let missing = get(&app, &alice, &random).await;
    let foreign = get(&app, &alice, &bobs_id).await;
    assert_eq!(missing.body, foreign.body);

    // Bob's todo is unchanged, and alice's DELETE /todos leaves it alone.
    let answer = app.rest_as(&alice, Method::DELETE, "/todos", None).await;
    assert_eq!(answer.body, json!({ "deleted": 0 }), "{}", answer.text);
    let answer = get(&app, &bob, &bobs_id).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, bobs);
    let answer = list(&app, &alice, &[]).await;
    assert_eq!(answer.body["totalCount"], 0, "{}", answer.text);
    assert_eq!(answer.body["items"], json!([]));
}

#[tokio::test]
async fn version_conflict_is_409_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let user = app.register("versions").await;
    let todo = create(&app, &user, json!({ "title": "v1", "description": "d" })).await;
    let id = id_of(&todo);

    for expected in [0, 2, -1, 999] {
        let answer = patch(
            &app,
            &user,
            &id,
            json!({ "title": "lost update", "description": null, "completed": true, "expectedVersion": expected }),
        )
        .await;
        assert_error(
            &answer,
            StatusCode::CONFLICT,
            "CONFLICT",
            &format!("expectedVersion {expected}"),
        );
    }
    assert_eq!(get(&app, &user, &id).await.body, todo, "nothing changed");

    let answer = patch(
        &app,
        &user,
        &id,
        json!({ "title": "v2", "expectedVersion": 1 }),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["version"], 2);
    assert_eq!(answer.body["title"], "v2");
    let v2 = answer.body;

    // The old version is now stale.
    let answer = patch(
        &app,
        &user,
        &id,
        json!({ "title": "stale", "expectedVersion": 1 }),
    )
    .await;
    assert_error(
        &answer,
        StatusCode::CONFLICT,
        "CONFLICT",
        "stale expectedVersion",
    );
    assert_eq!(get(&app, &user, &id).await.body, v2);
}

#[tokio::test]
async fn invalid_input_is_422_with_the_field() {
    let app = TestApp::spawn().await;
    let user = app.register("invalid").await;
    let todo = create(&app, &user, json!({ "title": "valid" })).await;
    let id = id_of(&todo);
    let long_title = "t".repeat(501);
    let long_description = "d".repeat(10_001);

    for (body, field) in [
        (json!({ "title": "" }), "title"),
        (json!({ "title": "   \n\t" }), "title"),
        (json!({ "title": &long_title }), "title"),
        (
            json!({ "title": "ok", "description": &long_description }),
            "description",
        ),
    ] {
        let answer = app.rest_as(&user, Method::POST, "/todos", Some(body)).await;
        assert_invalid(&answer, field, &format!("POST {field}"));
    }

    for (body, field) in [
        (json!({ "title": "" }), "title"),
        (json!({ "title": "  " }), "title"),
        (json!({ "title": null }), "title"),
        (json!({ "title": &long_title }), "title"),
        (json!({ "description": &long_description }), "description"),
        (json!({ "completed": null }), "completed"),
        (json!({ "title": null, "expectedVersion": 1 }), "title"),
    ] {
        let answer = patch(&app, &user, &id, body.clone()).await;
        assert_invalid(&answer, field, &format!("PATCH {body}"));
    }

    for (query, field) in [
        (&[("first", "101")][..], "first"),
        (&[("first", "-1")][..], "first"),
        (&[("orderBy", "TITLE")][..], "orderBy"),
        (&[("after", "not-a-cursor")][..], "after"),
    ] {
        let answer = list(&app, &user, query).await;
        assert_invalid(&answer, field, &format!("GET {query:?}"));
    }

    // Nothing created or changed; the bounds themselves are accepted.
    assert_eq!(total(&app, &user).await, 1);
    assert_eq!(get(&app, &user, &id).await.body, todo);
    let answer = list(&app, &user, &[("first", "100")]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let longest = create(
        &app,
        &user,
        json!({ "title": "🦀".repeat(500), "description": "é".repeat(10_000) }),
    )
    .await;
    assert_eq!(longest["title"].as_str().unwrap().chars().count(), 500);
    assert_eq!(
        longest["description"].as_str().unwrap().chars().count(),
        10_000
    );
}

// --- PATCH semantics -----------------------------------------------------------

#[tokio::test]
async fn patch_distinguishes_absent_from_null() {
    let app = TestApp::spawn().await;
    let user = app.register("patcher").await;
    let todo = create(
        &app,
        &user,
        json!({ "title": "t", "description": "keep me", "dueAt": "2031-05-06T07:08:09Z" }),
    )
    .await;
    let id = id_of(&todo);

    // Absent fields are kept.
    let answer = patch(&app, &user, &id, json!({ "title": "t2" })).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let after_title = answer.body;
    assert_eq!(after_title["description"], "keep me");
    assert_eq!(after_title["dueAt"], todo["dueAt"]);
    assert_eq!(after_title["version"], 2);

    // An empty patch changes nothing, not even the version.
    let answer = patch(&app, &user, &id, json!({})).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body, after_title);

    // null clears the description; the rest is kept.
    let answer = patch(&app, &user, &id, json!({ "description": null })).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert!(answer.body["description"].is_null(), "{}", answer.text);
    assert_eq!(answer.body["title"], "t2");
    assert_eq!(answer.body["dueAt"], todo["dueAt"]);
    assert_eq!(answer.body["version"], 3);

    // null clears the due time.
    let answer = patch(&app, &user, &id, json!({ "dueAt": null })).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert!(answer.body["dueAt"].is_null(), "{}", answer.text);
    assert!(answer.body["description"].is_null());
    assert_eq!(answer.body["version"], 4);

    // And both can be set again.
    let answer = patch(
        &app,
        &user,
        &id,
        json!({ "description": "back", "dueAt": "2032-01-01T00:00:00Z" }),
    )
    .await;
    assert_eq!(answer.body["description"], "back", "{}", answer.text);
    assert_eq!(
        time(&answer.body["dueAt"]),
        time(&json!("2032-01-01T00:00:00Z"))
    );
    let stored = answer.body;

    // A null title is refused and changes nothing.
    let answer = patch(
        &app,
        &user,
        &id,
        json!({ "title": null, "description": null }),
    )
    .await;
    assert_invalid(&answer, "title", "null title");
    assert_eq!(get(&app, &user, &id).await.body, stored);
}

#[tokio::test]
async fn completing_sets_completed_at_and_reopening_clears_it() {
    let app = TestApp::spawn().await;
    let user = app.register("completer").await;
    let todo = create(&app, &user, json!({ "title": "task" })).await;
    let id = id_of(&todo);

    let answer = patch(&app, &user, &id, json!({ "completed": true })).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let done = answer.body;
    assert_eq!(done["completed"], true);
    assert!(done["completedAt"].is_string(), "{done}");
    assert_eq!(done["completedAt"], done["updatedAt"]);
    assert!(time(&done["completedAt"]) >= time(&todo["createdAt"]));

    // Completing again, or changing something else, keeps the time.
    let answer = patch(&app, &user, &id, json!({ "completed": true })).await;
    assert_eq!(answer.body, done, "a no-op patch");
    let answer = patch(&app, &user, &id, json!({ "title": "renamed" })).await;
    assert_eq!(
        answer.body["completedAt"], done["completedAt"],
        "{}",
        answer.text
    );
    assert_eq!(answer.body["completed"], true);

    let answer = patch(&app, &user, &id, json!({ "completed": false })).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["completed"], false);
    assert!(answer.body["completedAt"].is_null(), "{}", answer.text);
    assert_eq!(get(&app, &user, &id).await.body, answer.body);
}

// --- lists ---------------------------------------------------------------------

#[tokio::test]
async fn list_pages_with_first_and_after() {
    let app = TestApp::spawn().await;
    let user = app.register("pager").await;
    let mut ids = Vec::new();
    for n in 1..=5 {
        ids.push(id_of(
            &create(&app, &user, json!({ "title": format!("t{n}") })).await,
        ));
    }

    // Default: everything, newest first.
    let answer = list(&app, &user, &[]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(
        titles(&answer.body["items"]),
        ["t5", "t4", "t3", "t2", "t1"]
    );
    assert_eq!(answer.body["totalCount"], 5);
    assert_eq!(answer.body["pageInfo"]["hasNextPage"], false);

    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = Vec::new();
    loop {
        let mut query = vec![("first", "2")];
        if let Some(cursor) = after.as_deref() {
            query.push(("after", cursor));
        }
        let answer = list(&app, &user, &query).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(answer.body["totalCount"], 5, "totalCount spans all pages");
        let page: Vec<String> = titles(&answer.body["items"])
            .into_iter()
            .map(str::to_owned)
            .collect();
        seen.extend(answer.body["items"].as_array().unwrap().iter().map(id_of));
        pages.push(page);
        let info = &answer.body["pageInfo"];
        if info["hasNextPage"] == false {
            break;
        }
        assert!(pages.len() < 5, "paging does not end: {pages:?}");
        after = Some(info["endCursor"].as_str().unwrap().to_owned());
    }
    assert_eq!(pages, [vec!["t5", "t4"], vec!["t3", "t2"], vec!["t1"]]);
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), 5);
    let mut expected = ids.clone();
    expected.reverse();
    assert_eq!(seen, expected);

    // An empty page still counts.
    let answer = list(&app, &user, &[("first", "0")]).await;
    assert_eq!(answer.body["items"], json!([]), "{}", answer.text);
    assert_eq!(answer.body["totalCount"], 5);
    assert_eq!(answer.body["pageInfo"]["hasNextPage"], true);
}

#[tokio::test]
async fn list_filters_and_orders() {
    let app = TestApp::spawn().await;
    let user = app.register("filterer").await;
    create(
        &app,
        &user,
        json!({ "title": "a Milk", "dueAt": "2030-03-01T00:00:00Z" }),
    )
    .await;
    let b = create(
        &app,
        &user,
        json!({ "title": "b", "dueAt": "2030-01-01T00:00:00Z" }),
    )
    .await;
    create(
        &app,
        &user,
        json!({ "title": "c", "description": "buy MILK" }),
    )
    .await;
    let d = create(
        &app,
        &user,
        json!({ "title": "d", "dueAt": "2030-02-01T00:00:00Z" }),
    )
    .await;
    for todo in [&b, &d] {
        let answer = patch(&app, &user, &id_of(todo), json!({ "completed": true })).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    }

    let cases: [(Query, &[&str]); 9] = [
        (&[("completed", "true")], &["d", "b"]),
        (&[("completed", "false")], &["c", "a Milk"]),
        (
            &[("orderBy", "CREATED_AT_DESC")],
            &["d", "c", "b", "a Milk"],
        ),
        (&[("orderBy", "CREATED_AT_ASC")], &["a Milk", "b", "c", "d"]),
        (&[("orderBy", "DUE_AT_ASC")], &["b", "d", "a Milk", "c"]),
        (
            &[("orderBy", "UPDATED_AT_DESC")],
            &["d", "b", "c", "a Milk"],
        ),
        (
            &[("completed", "true"), ("orderBy", "CREATED_AT_ASC")],
            &["b", "d"],
        ),
        (&[("search", "milk")], &["c", "a Milk"]),
        (
            &[
                ("dueBefore", "2030-02-15T00:00:00Z"),
                ("orderBy", "DUE_AT_ASC"),
            ],
            &["b", "d"],
        ),
    ];
    for (query, expected) in cases {
        let answer = list(&app, &user, query).await;
        assert_eq!(answer.status, StatusCode::OK, "{query:?}: {}", answer.text);
        assert_eq!(titles(&answer.body["items"]), expected, "{query:?}");
        assert_eq!(answer.body["totalCount"], expected.len(), "{query:?}");
    }

    // Paging keeps the filter and the order.
    let first = list(
        &app,
        &user,
        &[
            ("completed", "false"),
            ("orderBy", "CREATED_AT_ASC"),
            ("first", "1"),
        ],
    )
    .await;
    assert_eq!(titles(&first.body["items"]), ["a Milk"], "{}", first.text);
    assert_eq!(first.body["totalCount"], 2);
    assert_eq!(first.body["pageInfo"]["hasNextPage"], true);
    let cursor = first.body["pageInfo"]["endCursor"].as_str().unwrap();
    let second = list(
        &app,
        &user,
        &[
            ("completed", "false"),
            ("orderBy", "CREATED_AT_ASC"),
            ("first", "1"),
            ("after", cursor),
        ],
    )
    .await;
    assert_eq!(titles(&second.body["items"]), ["c"], "{}", second.text);
    assert_eq!(second.body["pageInfo"]["hasNextPage"], false);

    // A cursor belongs to its order.
    let answer = list(&app, &user, &[("orderBy", "DUE_AT_ASC"), ("after", cursor)]).await;
    assert_invalid(&answer, "after", "cursor of another order");
}

// --- REST and GraphQL ------------------------------------------------------------

#[tokio::test]
async fn rest_and_graphql_see_the_same_data() {
    let app = TestApp::spawn().await;
    let user = app.register("both").await;
    let todo = create(
        &app,
        &user,
        json!({ "title": "shared 🦀 'quoted'", "description": "via REST", "dueAt": "2030-06-07T08:09:10.123456Z" }),
    )
    .await;
    let id = id_of(&todo);

    let query = format!("query($id: ID!) {{ todo(id: $id) {{ {TODO_FIELDS} }} }}");
    let body = app.gql_as(&user, &query, json!({ "id": id })).await;
    let node = &body["data"]["todo"];
    assert!(node.is_object(), "{body}");
    for field in ["id", "title", "description", "completed", "version"] {
        assert_eq!(node[field], todo[field], "{field}");
    }
    for field in ["dueAt", "createdAt", "updatedAt"] {
        assert_eq!(time(&node[field]), time(&todo[field]), "{field}");
    }
    assert!(node["completedAt"].is_null());

    // A change through GraphQL shows in REST.
    let body = app
        .gql_as(
            &user,
            &format!("mutation($id: ID!) {{ updateTodo(id: $id, input: {{ completed: true, description: null }}) {{ {TODO_FIELDS} }} }}"),
            json!({ "id": id }),
        )
        .await;
    let updated = &body["data"]["updateTodo"];
    assert!(updated.is_object(), "{body}");
    let answer = get(&app, &user, &id).await;
    assert_eq!(answer.body["completed"], true);
    assert!(answer.body["description"].is_null());
    assert_eq!(answer.body["version"], updated["version"]);
    assert_eq!(
        time(&answer.body["completedAt"]),
        time(&updated["completedAt"])
    );

    // Both count the same.
    let body = app
        .gql_as(
            &user,
            "{ todos { totalCount } me { todoCounts { total completed } } }",
            json!({}),
        )
        .await;
    assert_eq!(body["data"]["todos"]["totalCount"], 1, "{body}");
    assert_eq!(body["data"]["me"]["todoCounts"]["completed"], 1, "{body}");

    // A deletion through REST shows in GraphQL.
    let answer = app
        .rest_as(&user, Method::DELETE, &format!("/todos/{id}"), None)
        .await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    let body = app.gql_as(&user, &query, json!({ "id": id })).await;
    assert!(body["data"]["todo"].is_null(), "{body}");
    assert!(body["errors"].is_null(), "{body}");
}
