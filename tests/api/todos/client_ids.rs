//! Client-chosen ids and positions (contract `sync.graphql`):
//! `createTodo(input: {id, position})` and `createList(input: {id})`. Only
//! UUIDs of version 4 or 7 are taken; a creation repeated with equal fields
//! answers the same object without a second event; different fields, or
//! an id of someone else's object, are a CONFLICT (with `current` only for
//! the caller's own todo); a client's position key is kept, a taken one as
//! `moveTodo` keeps it.

use base64::Engine;
use futures_util::future::join_all;
use serde_json::{Value, json};
use uuid::Uuid;

use super::assert_bad_input;
use crate::support::{
    TODO_FIELDS, TestApp, TestUser, error_code, fractional_index::key_between, lists::LIST_FIELDS,
    ws_client::WsClient,
};

/// `createTodo` selecting every field and the position and list.
async fn create(app: &TestApp, user: &TestUser, input: Value) -> Value {
    app.gql_as(
        user,
        &format!(
            "mutation($input: CreateTodoInput!) {{ createTodo(input: $input) {{
                {TODO_FIELDS} position list {{ id }} }} }}"
        ),
        json!({ "input": input }),
    )
    .await
}

/// [`create`] that must succeed; returns the todo.
async fn create_ok(app: &TestApp, user: &TestUser, input: Value) -> Value {
    let body = create(app, user, input).await;
    assert!(body["errors"].is_null(), "createTodo failed: {body}");
    body["data"]["createTodo"].clone()
}

/// `createList`, returning the whole body.
async fn create_list(app: &TestApp, user: &TestUser, input: Value) -> Value {
    app.gql_as(
        user,
        &format!(
            "mutation($input: CreateListInput!) {{ createList(input: $input) {{ {LIST_FIELDS} }} }}"
        ),
        json!({ "input": input }),
    )
    .await
}

/// How many todos `user` sees, across every list.
async fn todo_count(app: &TestApp, user: &TestUser) -> i64 {
    let data = app
        .data_as(
            user,
            "{ todos(first: 0, filter: { allLists: true }) { totalCount } }",
            json!({}),
        )
        .await;
    data["todos"]["totalCount"].as_i64().unwrap()
}

/// The `(kind, todoId)` of every todo event of `user` from the start of
/// its feed up to the creation of a fence todo made now: what a client
/// replaying `todoEvents` from its first cursor receives.
async fn todo_events(app: &TestApp, user: &TestUser) -> Vec<(String, String)> {
    let fence = app.create_todo_titled(user, "fence").await;
    let mut client = WsClient::ready(app, user).await;
    // The cursor before a user's first event (sequence 0).
    let start = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("ev1:0");
    client
        .subscribe(
            "s",
            "subscription($after: String) { todoEvents(after: $after, allLists: true) {
                kind todoId } }",
            json!({ "after": start }),
        )
        .await;
    let mut events = Vec::new();
    loop {
        let data = client.next_data("s").await;
        let event = &data["todoEvents"];
        let pair = (
            event["kind"].as_str().unwrap().to_owned(),
            event["todoId"].as_str().unwrap().to_owned(),
        );
        if pair.1 == fence {
            return events;
        }
        events.push(pair);
    }
}

#[tokio::test]
async fn uuids_of_version_4_and_7_are_taken_as_ids() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    for id in [Uuid::new_v4(), Uuid::now_v7()] {
        let id = id.to_string();
        let todo = create_ok(&app, &alice, json!({ "title": "Mine", "id": id })).await;
        assert_eq!(todo["id"], id.as_str());
        assert_eq!(todo["version"], 1);
        let fetched = super::get_todo(&app, &alice, &id).await;
        assert_eq!(fetched["title"], "Mine");
    }
    // Upper case is the same UUID, answered as the API writes ids.
    let id = Uuid::new_v4();
    let todo = create_ok(
        &app,
        &alice,
        json!({ "title": "Upper", "id": id.to_string().to_uppercase() }),
    )
    .await;
    assert_eq!(todo["id"], id.to_string().as_str());

    let list_id = Uuid::now_v7().to_string();
    let body = create_list(&app, &alice, json!({ "name": "Trips", "id": list_id })).await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["createList"]["id"], list_id.as_str());
    assert_eq!(body["data"]["createList"]["role"], "OWNER");
    // A todo in it, with an id of its own.
    let todo_id = Uuid::new_v4().to_string();
    let todo = create_ok(
        &app,
        &alice,
        json!({ "title": "Pack", "id": todo_id, "listId": list_id }),
    )
    .await;
    assert_eq!(todo["list"]["id"], list_id.as_str());
}

#[tokio::test]
async fn other_uuids_and_malformed_ids_are_refused() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let lists_before = app.lists_of(&alice).await.len();
    for bad in [
        "00000000-0000-0000-0000-000000000000", // nil
        "ffffffff-ffff-ffff-ffff-ffffffffffff", // max
        "c232ab00-9414-11ec-b3c8-9f6bdeced846", // v1
        "5df41881-3aed-3515-88a7-2f4a814cf09e", // v3
        "2ed6657d-e927-568b-95e1-2665a8aea6a2", // v5
        "1ec9414c-232a-6b00-b3c8-9f6bdeced846", // v6
        "320c3d4d-cc00-875b-8ec9-32d5f69181c0", // v8
        "f47ac10b-58cc-4372-c567-0e02b2c3d479", // v4, not the RFC 9562 variant
        "f47ac10b58cc4372a5670e02b2c3d479",     // not hyphenated
        "{f47ac10b-58cc-4372-a567-0e02b2c3d479}",
        "my-todo",
        "",
    ] {
        let body = create(&app, &alice, json!({ "title": "T", "id": bad })).await;
        assert_bad_input(&body, "id");
        let body = create_list(&app, &alice, json!({ "name": "L", "id": bad })).await;
        assert_bad_input(&body, "id");
    }
    assert_eq!(todo_count(&app, &alice).await, 0, "nothing was created");
    assert_eq!(app.lists_of(&alice).await.len(), lists_before);
}

#[tokio::test]
async fn a_repeat_with_equal_fields_answers_the_same_todo_without_a_second_event() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let id = Uuid::now_v7().to_string();
    let input = json!({
        "id": id, "title": " Call mum ", "description": "Sunday",
        "dueAt": "2030-03-01T18:00:00.123456789+01:00", "position": "a5",
    });
    let first = create_ok(&app, &alice, input.clone()).await;
    // The answer was lost; the client sends the same creation again, and
    // again at the same time from a second connection.
    let second = create_ok(&app, &alice, input.clone()).await;
    assert_eq!(second, first);
    let bodies = join_all((0..4).map(|_| create(&app, &alice, input.clone()))).await;
    for body in bodies {
        assert!(body["errors"].is_null(), "{body}");
        assert_eq!(body["data"]["createTodo"], first);
    }
    // Without the position (which the client may not resend) it is the
    // same creation too.
    let without_position = json!({
        "id": id, "title": "Call mum", "description": "Sunday",
        "dueAt": "2030-03-01T17:00:00.123456Z",
    });
    assert_eq!(create_ok(&app, &alice, without_position).await, first);
    assert_eq!(first["version"], 1);
    assert_eq!(todo_count(&app, &alice).await, 1);

    let events = todo_events(&app, &alice).await;
    assert_eq!(
        events,
        vec![("CREATED".to_owned(), id.clone())],
        "one event"
    );
}

#[tokio::test]
async fn a_repeat_with_different_fields_is_a_conflict_with_current() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let id = Uuid::new_v4().to_string();
    let todo = create_ok(
        &app,
        &alice,
        json!({ "id": id, "title": "Call mum", "dueAt": "2030-03-01T17:00:00Z" }),
    )
    .await;
    let current = json!({
        "id": id,
        "title": "Call mum",
        "description": null,
        "completed": false,
        "dueAt": todo["dueAt"],
        "version": 1,
        "listId": app.default_list_id(&alice).await,
        "position": todo["position"],
    });
    let other_list = app.create_list_id(&alice, "Family").await;
    for different in [
        json!({ "id": id, "title": "Call dad", "dueAt": "2030-03-01T17:00:00Z" }),
        json!({ "id": id, "title": "Call mum" }),
        json!({ "id": id, "title": "Call mum", "dueAt": "2030-03-01T17:00:00Z",
                "description": "" }),
        json!({ "id": id, "title": "Call mum", "dueAt": "2030-03-01T17:00:00Z",
                "listId": other_list }),
        json!({ "id": id, "title": "Call mum", "dueAt": "2030-03-01T17:00:00Z",
                "position": "Zz" }),
    ] {
        let body = create(&app, &alice, different.clone()).await;
        assert_eq!(error_code(&body), "CONFLICT", "{different}: {body}");
        assert!(body["data"].is_null(), "{body}");
        assert_eq!(
            body["errors"][0]["extensions"]["current"], current,
            "{body}"
        );
    }
    // Nothing changed, and the todo changed since its creation is no
    // longer what the creation made: a repeat now conflicts, with the
    // todo as it stands.
    assert_eq!(todo_count(&app, &alice).await, 1);
    app.update_todo_ok(&alice, &id, json!({ "title": "Called mum" }))
        .await;
    let body = create(
        &app,
        &alice,
        json!({ "id": id, "title": "Call mum", "dueAt": "2030-03-01T17:00:00Z" }),
    )
    .await;
    assert_eq!(error_code(&body), "CONFLICT", "{body}");
    let shown = &body["errors"][0]["extensions"]["current"];
    assert_eq!(shown["title"], "Called mum");
    assert_eq!(shown["version"], 2);
}

#[tokio::test]
async fn an_id_of_someone_elses_todo_is_a_conflict_that_reveals_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let id = Uuid::new_v4().to_string();
    let bobs = create_ok(&app, &bob, json!({ "id": id, "title": "Bob's secret" })).await;

    // The same fields, or other ones: the same refusal, nothing of Bob's todo.
    let mine = create(&app, &alice, json!({ "id": id, "title": "Bob's secret" })).await;
    let other = create(&app, &alice, json!({ "id": id, "title": "Alice's" })).await;
    for body in [&mine, &other] {
        assert_eq!(error_code(body), "CONFLICT", "{body}");
        assert!(body["data"].is_null(), "{body}");
        assert!(
            body["errors"][0]["extensions"]["current"].is_null(),
            "revealed: {body}"
        );
        assert!(!body.to_string().contains("secret"), "revealed: {body}");
    }
    // The message is the one of a conflict with the caller's own todo.
    let own = Uuid::new_v4().to_string();
    create_ok(&app, &alice, json!({ "id": own, "title": "A" })).await;
    let own_conflict = create(&app, &alice, json!({ "id": own, "title": "B" })).await;
    assert_eq!(
        mine["errors"][0]["message"],
        own_conflict["errors"][0]["message"]
    );
    assert_eq!(todo_count(&app, &alice).await, 1);
    let bob_now = super::get_todo(&app, &bob, &id).await;
    assert_eq!(bob_now["title"], bobs["title"]);
    assert_eq!(bob_now["version"], 1);

    // A todo Alice created in a shared list she has since left is no
    // longer hers to see: the same refusal.
    let list = app.create_list_id(&bob, "Shared").await;
    app.invite_and_accept(&bob, &list, &alice, "EDITOR").await;
    let left = Uuid::new_v4().to_string();
    create_ok(
        &app,
        &alice,
        json!({ "id": left, "title": "Left", "listId": list }),
    )
    .await;
    let body = app.remove_member(&alice, &list, &alice.id).await;
    assert!(body["errors"].is_null(), "{body}");
    let body = create(
        &app,
        &alice,
        json!({ "id": left, "title": "Left", "listId": list }),
    )
    .await;
    // Not a member any more: the list itself is not found first.
    assert_eq!(error_code(&body), "NOT_FOUND", "{body}");
    let body = create(&app, &alice, json!({ "id": left, "title": "Left" })).await;
    assert_eq!(error_code(&body), "CONFLICT", "{body}");
    assert!(
        body["errors"][0]["extensions"]["current"].is_null(),
        "{body}"
    );
}

#[tokio::test]
async fn create_list_with_an_id_repeats_conflicts_and_reveals_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let id = Uuid::new_v4().to_string();
    let first = create_list(&app, &alice, json!({ "id": id, "name": "Trips" })).await;
    assert!(first["errors"].is_null(), "{first}");
    let lists = app.lists_of(&alice).await.len();

    // Repeated with the same name: the same list, nothing new.
    let again = create_list(&app, &alice, json!({ "id": id, "name": " Trips " })).await;
    assert!(again["errors"].is_null(), "{again}");
    assert_eq!(again["data"], first["data"]);
    assert_eq!(app.lists_of(&alice).await.len(), lists);

    // Another name: CONFLICT, and the list is unchanged.
    let renamed = create_list(&app, &alice, json!({ "id": id, "name": "Holidays" })).await;
    assert_eq!(error_code(&renamed), "CONFLICT", "{renamed}");
    assert!(renamed["data"].is_null());
    assert_eq!(app.get_list(&alice, &id).await["name"], "Trips");

    // Bob, with Alice's id: the same refusal whatever the name, and he
    // does not become a member.
    for name in ["Trips", "Bob's"] {
        let body = create_list(&app, &bob, json!({ "id": id, "name": name })).await;
        assert_eq!(error_code(&body), "CONFLICT", "{body}");
        assert_eq!(
            body["errors"][0]["message"],
            renamed["errors"][0]["message"]
        );
        assert!(!body.to_string().contains("Trips\""), "{body}");
    }
    assert!(!app.list_ids_of(&bob).await.contains(&id));

    // Alice's default list is hers too: repeating it by id and name
    // answers it.
    let default = app.default_list_id(&alice).await;
    let name = app.get_list(&alice, &default).await["name"].clone();
    let body = create_list(&app, &alice, json!({ "id": default, "name": name })).await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["createList"]["isDefault"], true);
    let body = create_list(&app, &bob, json!({ "id": default, "name": name })).await;
    assert_eq!(error_code(&body), "CONFLICT", "{body}");
}

#[tokio::test]
async fn a_client_position_is_kept_a_taken_one_shared_and_a_bad_one_refused() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let list = app.create_list_id(&alice, "Ordered").await;
    let first = create_ok(&app, &alice, json!({ "title": "first", "listId": list })).await;
    let key_first = first["position"].as_str().unwrap().to_owned();
    // After the first todo, as a client computes the key offline.
    let after = key_between(Some(&key_first), None);
    let second = create_ok(
        &app,
        &alice,
        json!({ "title": "second", "listId": list, "position": after }),
    )
    .await;
    assert_eq!(second["position"], after.as_str());
    // A new todo without a position still goes first.
    let zeroth = create_ok(&app, &alice, json!({ "title": "zeroth", "listId": list })).await;
    assert!(zeroth["position"].as_str().unwrap() < key_first.as_str());
    assert_eq!(
        app.list_todos_titles(&alice, &list).await,
        ["zeroth", "first", "second"]
    );

    // A key already used: kept as moveTodo keeps it, ties ordered by id.
    let tie = create_ok(
        &app,
        &alice,
        json!({ "title": "tie", "listId": list, "position": after }),
    )
    .await;
    assert_eq!(tie["position"], after.as_str());
    let titles = app.list_todos_titles(&alice, &list).await;
    let expected_tail = match second["id"].as_str() < tie["id"].as_str() {
        true => ["second", "tie"],
        false => ["tie", "second"],
    };
    assert_eq!(titles[..2], ["zeroth", "first"]);
    assert_eq!(titles[2..], expected_tail);

    // Malformed keys: BAD_USER_INPUT on position, nothing created.
    for bad in ["", "a", "a00", "a0!", "é", &"a".repeat(200)] {
        let body = create(
            &app,
            &alice,
            json!({ "title": "bad", "listId": list, "position": bad }),
        )
        .await;
        assert_bad_input(&body, "position");
    }
    assert_eq!(app.list_todos_titles(&alice, &list).await.len(), 4);
}

#[tokio::test]
async fn a_long_client_position_rebalances_the_list_as_a_move_does() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let list = app.create_list_id(&alice, "Long").await;
    let a = create_ok(
        &app,
        &alice,
        json!({ "title": "a", "listId": list, "position": "a0" }),
    )
    .await;
    let b = create_ok(
        &app,
        &alice,
        json!({ "title": "b", "listId": list, "position": "a1" }),
    )
    .await;
    // A valid key between a0 and a1 of more than 50 characters.
    let long = format!("a0{}V", "0".repeat(50));
    let c = create_ok(
        &app,
        &alice,
        json!({ "title": "c", "listId": list, "position": long }),
    )
    .await;
    let keys: Vec<String> = app
        .list_todos(&alice, &list, "POSITION")
        .await
        .iter()
        .map(|t| t["position"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(app.list_todos_titles(&alice, &list).await, ["a", "c", "b"]);
    assert!(
        keys.iter().all(|k| k.len() <= 50),
        "not rebalanced: {keys:?}"
    );
    assert_eq!(c["position"], keys[1].as_str(), "answered with its new key");
    assert!(a["position"].is_string() && b["position"].is_string());
}
