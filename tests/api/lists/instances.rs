//! Two instances sharing Redis, with the read cache on: a collaborator's
//! write on one instance reaches a member's socket on the other, and the
//! member's next read on the other instance shows it (cached reads of a
//! shared list are dropped when someone else changes it), membership
//! changes included.

use serde_json::{Value, json};

use super::{CHANGES, Feed, PLAIN_EVENTS, fence_all, summary, todo_event};
use crate::support::{TestApp, TestUser, redis_url, shared_prefix};

/// What a list-aware client loads on every screen: the default list's
/// page and counts (the cached reads of schema.graphql), the sidebar, and
/// one list.
const SCREEN: &str = "query($list: ID!) {
    me { todoCounts { total active completed } }
    todos(first: 20) { totalCount nodes { id title completed } }
    lists { totalCount nodes { id name todoCounts { total active completed } } }
    list(id: $list) { name todoCounts { total active completed }
        todos(first: 20) { totalCount nodes { id title completed } } } }";

async fn screen(app: &TestApp, user: &TestUser, list: &str) -> Value {
    app.data_as(user, SCREEN, json!({ "list": list })).await
}

/// Reads twice (the second read may come from the cache); both agree.
async fn warm(app: &TestApp, user: &TestUser, list: &str) -> Value {
    let first = screen(app, user, list).await;
    let second = screen(app, user, list).await;
    assert_eq!(first, second, "a repeated read differs");
    second
}

fn titles(conn: &Value) -> Vec<&str> {
    conn["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["title"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_collaborators_write_on_one_instance_reaches_the_other_socket_and_cache() {
    assert!(redis_url().is_some(), "this test needs TEST_REDIS_URL");
    let prefix = shared_prefix();
    let shared = [
        ("REDIS_KEY_PREFIX", prefix.as_str()),
        ("CACHE", "true"),
        ("CACHE_TIMEOUT_MS", "2000"),
    ];
    let one = TestApp::spawn_with(&shared).await;
    let two = TestApp::spawn_on(one.database_url.clone(), &shared).await;
    let alice = one.register("alice").await;
    let bob = one.register("bob").await;
    let default = one.default_list_id(&alice).await;
    let list = one.create_list_id(&alice, "Shared").await;
    one.invite_and_accept(&alice, &default, &bob, "EDITOR")
        .await;
    one.invite_and_accept(&alice, &list, &bob, "EDITOR").await;
    let mine = one.create_todo_titled(&alice, "alice's").await;

    // Alice listens and reads on instance two; Bob writes on instance one.
    let mut feeds = Feed::open_all(
        &two,
        &alice,
        &[(CHANGES, json!({})), (PLAIN_EVENTS, json!({}))],
    )
    .await;
    let before = warm(&two, &alice, &list).await;
    assert_eq!(titles(&before["todos"]), ["alice's"]);
    assert_eq!(before["list"]["todoCounts"]["total"], 0);

    let into_default = one
        .create_todo_in(&bob, &default, "bob in alice's default")
        .await;
    let into_list = one.create_todo_in(&bob, &list, "bob in the list").await;
    one.update_todo_ok(&bob, &mine, json!({ "completed": true }))
        .await;

    let [changes, plain] = feeds.as_mut_slice() else {
        unreachable!()
    };
    let got = fence_all(&two, &alice, &mut [changes, plain]).await;
    assert_eq!(
        summary(&got[0]),
        [
            todo_event("CREATED", &into_default),
            todo_event("CREATED", &into_list),
            todo_event("UPDATED", &mine),
        ]
    );
    assert_eq!(
        summary(&got[1]),
        [
            todo_event("CREATED", &into_default),
            todo_event("UPDATED", &mine),
        ]
    );

    let after = screen(&two, &alice, &list).await;
    let mut default_titles = titles(&after["todos"]);
    default_titles.sort_unstable();
    assert_eq!(default_titles, ["alice's", "bob in alice's default"]);
    assert_eq!(
        after["me"]["todoCounts"],
        json!({ "total": 2, "active": 1, "completed": 1 })
    );
    assert_eq!(titles(&after["list"]["todos"]), ["bob in the list"]);
    assert_eq!(after["list"]["todoCounts"]["total"], 1);
    let sidebar = &after["lists"]["nodes"];
    assert_eq!(sidebar[0]["todoCounts"]["total"], 2, "{sidebar}");
    assert_eq!(sidebar[1]["todoCounts"]["total"], 1, "{sidebar}");
    // And the same again, now possibly from the cache.
    assert_eq!(warm(&two, &alice, &list).await, after);

    // A rename on one instance shows on the other.
    let body = one
        .update_list(&bob, &list, json!({ "name": "Renamed by bob" }))
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(
        screen(&two, &alice, &list).await["list"]["name"],
        "Renamed by bob"
    );

    // Membership: Bob, warmed on instance one, is removed on instance two;
    // his next read on one no longer shows the list or its todos.
    let bob_before = warm(&one, &bob, &list).await;
    assert_eq!(bob_before["list"]["name"], "Renamed by bob");
    let body = two.remove_member(&alice, &list, &bob.id).await;
    assert_eq!(body["data"]["removeMember"], true, "{body}");
    let bob_after = screen(&one, &bob, &list).await;
    assert!(bob_after["list"].is_null(), "{bob_after}");
    let ids: Vec<&str> = bob_after["lists"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert!(!ids.contains(&list.as_str()), "{ids:?}");
    let all = one
        .data_as(
            &bob,
            "{ todos(first: 20, filter: { allLists: true }) { nodes { id } } }",
            json!({}),
        )
        .await;
    assert!(
        !all.to_string().contains(&into_list),
        "a removed member still reads the list's todos: {all}"
    );
}
