//! `Query.trash`: one list's trashed todos, most recently deleted first
//! (todos deleted together by id), in Relay pages with opaque cursors;
//! readable by every member, missing for everyone else.

use serde_json::{Value, json};

use super::{clear_completed_in, trash, trashed, trashed_ids};
use crate::support::{TestApp, error_code, lists::id_of};

#[tokio::test]
async fn the_trash_lists_the_most_recently_deleted_first_in_pages() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(app.create_todo_titled(&alice, &format!("todo {i}")).await);
    }
    app.delete_todo_ok(&alice, &ids[4]).await;
    for id in &ids[1..4] {
        app.update_todo_ok(&alice, id, json!({ "completed": true }))
            .await;
    }
    assert_eq!(clear_completed_in(&app, &alice, None).await, 3);
    app.delete_todo_ok(&alice, &ids[0]).await;
    // Last deleted first; the three cleared at once by id; then the first.
    let mut cleared = ids[1..4].to_vec();
    cleared.sort();
    let mut expected = vec![ids[0].clone()];
    expected.extend(cleared);
    expected.push(ids[4].clone());
    assert_eq!(trashed_ids(&app, &alice, None).await, expected);

    // Pages of two, following endCursor.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let body = trash(&app, &alice, None, Some(2), after.as_deref()).await;
        assert!(body["errors"].is_null(), "{body}");
        let conn = &body["data"]["trash"];
        assert_eq!(conn["totalCount"], 5, "{body}");
        assert_eq!(
            conn["pageInfo"]["hasPreviousPage"],
            after.is_some(),
            "{body}"
        );
        let edges = conn["edges"].as_array().unwrap();
        assert!(edges.len() <= 2, "{body}");
        for edge in edges {
            seen.push(id_of(&edge["node"]));
        }
        assert_eq!(
            conn["pageInfo"]["endCursor"],
            edges.last().map_or(Value::Null, |e| e["cursor"].clone())
        );
        if conn["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = Some(conn["pageInfo"]["endCursor"].as_str().unwrap().to_owned());
    }
    assert_eq!(seen, expected);
    // The live list is what is left.
    assert_eq!(app.todo_counts(&alice).await, (1, 1, 0));
}

#[tokio::test]
async fn trash_input_is_checked() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let id = app.create_todo_titled(&alice, "one").await;
    app.delete_todo_ok(&alice, &id).await;
    for first in [-1, 101] {
        let body = trash(&app, &alice, None, Some(first), None).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], "first", "{body}");
    }
    // A todo list's cursor is not a trash cursor.
    let live = app.create_todo_titled(&alice, "two").await;
    let page = app
        .data_as(
            &alice,
            "{ todos(first: 1) { edges { cursor node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(page["todos"]["edges"][0]["node"]["id"], live.as_str());
    let cursor = page["todos"]["edges"][0]["cursor"].as_str().unwrap();
    for bad in [cursor, "garbage"] {
        let body = trash(&app, &alice, None, Some(10), Some(bad)).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], "after", "{body}");
    }
    // And the reverse.
    let trash_page = trash(&app, &alice, None, Some(1), None).await;
    let trash_cursor = trash_page["data"]["trash"]["pageInfo"]["endCursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = app
        .gql_as(
            &alice,
            "query($after: String) { todos(first: 1, after: $after) { nodes { id } } }",
            json!({ "after": trash_cursor }),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    // first: 0 is an empty page that still counts.
    let body = trash(&app, &alice, None, Some(0), None).await;
    assert_eq!(body["data"]["trash"]["totalCount"], 1, "{body}");
    assert_eq!(body["data"]["trash"]["edges"], json!([]), "{body}");
    assert_eq!(
        body["data"]["trash"]["pageInfo"]["hasNextPage"], true,
        "{body}"
    );
}

#[tokio::test]
async fn every_member_reads_a_lists_trash_and_nobody_else() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let vic = app.register("vic").await;
    let carol = app.register("carol").await;
    let list = app.create_list_id(&alice, "Shared").await;
    app.invite_and_accept(&alice, &list, &bob, "EDITOR").await;
    app.invite_and_accept(&alice, &list, &vic, "VIEWER").await;
    let todo = app.create_todo_in(&alice, &list, "shared").await;
    let own = app.create_todo_titled(&alice, "alice's own").await;
    app.delete_todo_ok(&alice, &todo).await;
    app.delete_todo_ok(&alice, &own).await;

    for member in [&alice, &bob, &vic] {
        let trash = trashed(&app, member, Some(&list)).await;
        assert_eq!(trash.len(), 1, "{}: {trash:?}", member.email);
        assert_eq!(trash[0]["id"], todo.as_str());
        assert_eq!(trash[0]["list"]["id"], list.as_str());
    }
    // Without listId: one's own default list.
    assert_eq!(trashed_ids(&app, &alice, None).await, vec![own.clone()]);
    assert!(trashed_ids(&app, &bob, None).await.is_empty());

    // A non-member, an unknown list, a malformed id: missing.
    let unknown = uuid::Uuid::now_v7().to_string();
    for (user, list) in [
        (&carol, list.as_str()),
        (&alice, &unknown),
        (&alice, "nope"),
    ] {
        let body = trash(&app, user, Some(list), None, None).await;
        assert_eq!(error_code(&body), "NOT_FOUND", "{list}: {body}");
        assert!(body["data"].is_null(), "{body}");
    }
    // Someone else's default list too.
    let alice_default = app.default_list_id(&alice).await;
    let body = trash(&app, &carol, Some(&alice_default), None, None).await;
    assert_eq!(error_code(&body), "NOT_FOUND", "{body}");
}
