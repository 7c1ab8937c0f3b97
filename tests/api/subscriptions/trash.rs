//! The trash on `todoEvents`: deleting is DELETED as before, a restore is
//! CREATED with the restored snapshot (version + 1), and emptying the
//! trash says nothing (its todos were announced deleted already).

use std::time::Duration;

use serde_json::json;

use super::{next_events, subscribed, summary};
use crate::support::TestApp;

#[tokio::test]
async fn a_restore_is_created_and_emptying_the_trash_is_silent() {
    let app = TestApp::spawn().await;
    let user = app.register("trash").await;
    let mut client = subscribed(&app, &user, "s").await;
    // The sync markers went to the trash: out of the way, silently.
    let markers = app
        .data_as(&user, "mutation { emptyTrash }", json!({}))
        .await;
    assert!(markers["emptyTrash"].as_i64().unwrap() >= 1, "{markers}");

    let todo = app.create_todo(&user, json!({ "title": "Alpha" })).await;
    let id = todo["id"].as_str().unwrap().to_owned();
    let other = app.create_todo_titled(&user, "Beta").await;
    app.delete_todo_ok(&user, &id).await;
    app.delete_todo_ok(&user, &other).await;
    let restored = app
        .data_as(
            &user,
            "mutation($id: ID!) { restoreTodo(id: $id) { id title completed version } }",
            json!({ "id": id }),
        )
        .await["restoreTodo"]
        .clone();
    assert_eq!(restored["version"], 2);
    let emptied = app
        .data_as(&user, "mutation { emptyTrash }", json!({}))
        .await;
    assert_eq!(emptied["emptyTrash"], 1);

    let events = next_events(&mut client, "s", 5).await;
    let kinds = |k: &str, i: &str| (k.to_owned(), i.to_owned());
    assert_eq!(
        summary(&events),
        [
            kinds("CREATED", &id),
            kinds("CREATED", &other),
            kinds("DELETED", &id),
            kinds("DELETED", &other),
            kinds("CREATED", &id),
        ]
    );
    assert_eq!(events[4]["todo"], restored, "{:?}", events[4]);
    // Nothing for emptyTrash: the next change is the next event.
    let marker = app.create_todo_titled(&user, "after").await;
    let next = next_events(&mut client, "s", 1).await;
    assert_eq!(summary(&next), [kinds("CREATED", &marker)]);
    client.assert_silent(Duration::from_millis(200)).await;
}
