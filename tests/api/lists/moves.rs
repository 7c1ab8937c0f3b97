//! `moveTodo`: after a todo, before one, between two, to a key the client
//! computed, first when no place is named, to another list (EDITOR or
//! OWNER of both), with versions; every malformed request refused with
//! nothing changed; and concurrent moves into one gap.

use serde_json::{Value, json};

use super::{ROOMY, assert_ok, assert_refused};
use crate::support::{
    TestApp, TestUser,
    fractional_index::{is_valid_key, key_between},
    lists::id_of,
};

/// A list of `user` with todos `a` to `e` created in that order, so in
/// manual order `e d c b a`.
struct Five {
    list: String,
    ids: Vec<String>,
}

impl Five {
    async fn new(app: &TestApp, user: &TestUser) -> Self {
        let list = app.create_list_id(user, "Five").await;
        let mut ids = Vec::new();
        for title in ["a", "b", "c", "d", "e"] {
            ids.push(app.create_todo_in(user, &list, title).await);
        }
        assert_eq!(
            app.list_todos_titles(user, &list).await,
            ["e", "d", "c", "b", "a"]
        );
        Self { list, ids }
    }

    /// The id of the todo titled `t` (`a` to `e`).
    fn id(&self, t: &str) -> &str {
        let i = usize::from(t.as_bytes()[0] - b'a');
        &self.ids[i]
    }
}

/// The list in order, as `title@position` strings, after checking that the
/// order is the (position, id) order and every key is valid.
async fn ordered(app: &TestApp, user: &TestUser, list: &str) -> Vec<Value> {
    let todos = app.list_todos(user, list, "POSITION").await;
    for t in &todos {
        assert!(is_valid_key(t["position"].as_str().unwrap()), "{t}");
    }
    for w in todos.windows(2) {
        let (a, b) = (&w[0]["position"], &w[1]["position"]);
        assert!(
            a.as_str() < b.as_str() || (a == b && w[0]["id"].as_str() < w[1]["id"].as_str()),
            "not in (position, id) order: {w:?}"
        );
    }
    todos
}

fn titles(todos: &[Value]) -> Vec<&str> {
    todos.iter().map(|t| t["title"].as_str().unwrap()).collect()
}

fn position_of<'a>(todos: &'a [Value], title: &str) -> &'a str {
    todos
        .iter()
        .find(|t| t["title"] == title)
        .and_then(|t| t["position"].as_str())
        .unwrap_or_else(|| panic!("no {title} in {todos:?}"))
}

#[tokio::test]
async fn todos_move_after_before_and_between_neighbours() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let five = Five::new(&app, &alice).await;

    let moved = app
        .move_todo_ok(&alice, five.id("a"), json!({ "afterId": five.id("e") }))
        .await;
    assert_eq!(moved["list"]["id"], five.list.as_str());
    assert_eq!(moved["version"], 2, "a move is a change: {moved}");
    assert!(is_valid_key(moved["position"].as_str().unwrap()));
    let now = ordered(&app, &alice, &five.list).await;
    assert_eq!(titles(&now), ["e", "a", "d", "c", "b"]);
    assert_eq!(moved["position"], position_of(&now, "a"));

    app.move_todo_ok(&alice, five.id("b"), json!({ "beforeId": five.id("d") }))
        .await;
    assert_eq!(
        titles(&ordered(&app, &alice, &five.list).await),
        ["e", "a", "b", "d", "c"]
    );
    app.move_todo_ok(
        &alice,
        five.id("c"),
        json!({ "afterId": five.id("a"), "beforeId": five.id("b") }),
    )
    .await;
    assert_eq!(
        titles(&ordered(&app, &alice, &five.list).await),
        ["e", "a", "c", "b", "d"]
    );
    // To the end, and to the very front with beforeId.
    app.move_todo_ok(&alice, five.id("e"), json!({ "afterId": five.id("d") }))
        .await;
    app.move_todo_ok(&alice, five.id("b"), json!({ "beforeId": five.id("a") }))
        .await;
    let now = ordered(&app, &alice, &five.list).await;
    assert_eq!(titles(&now), ["b", "a", "c", "d", "e"]);
    // Distinct moves make distinct keys.
    let positions: Vec<&str> = now
        .iter()
        .map(|t| t["position"].as_str().unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
}

#[tokio::test]
async fn neighbours_in_the_wrong_order_are_refused() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let five = Five::new(&app, &alice).await;
    let before = ordered(&app, &alice, &five.list).await;
    // In manual order e d c b a: b comes after d, a after e, and e is not
    // strictly before itself. (The moved todo, c, is none of them.)
    for (after, before_id) in [("b", "d"), ("a", "e"), ("e", "e")] {
        let body = app
            .move_todo(
                &alice,
                five.id("c"),
                json!({ "afterId": five.id(after), "beforeId": five.id(before_id) }),
            )
            .await;
        assert_refused(
            &body,
            "BAD_USER_INPUT",
            &format!("afterId {after}, beforeId {before_id}"),
        );
    }
    assert_eq!(ordered(&app, &alice, &five.list).await, before);
}

#[tokio::test]
async fn a_key_computed_by_the_client_is_kept_and_a_malformed_one_refused() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let five = Five::new(&app, &alice).await;
    let now = ordered(&app, &alice, &five.list).await;

    // Between c and b, as an offline client computes it.
    let key = key_between(Some(position_of(&now, "c")), Some(position_of(&now, "b")));
    let moved = app
        .move_todo_ok(&alice, five.id("a"), json!({ "position": key }))
        .await;
    assert_eq!(moved["position"], key.as_str(), "the client's key is kept");
    let now = ordered(&app, &alice, &five.list).await;
    assert_eq!(titles(&now), ["e", "d", "c", "a", "b"]);
    // Before the first and after the last.
    let front = key_between(None, Some(position_of(&now, "e")));
    app.move_todo_ok(&alice, five.id("b"), json!({ "position": front }))
        .await;
    let now = ordered(&app, &alice, &five.list).await;
    let back = key_between(Some(position_of(&now, "a")), None);
    app.move_todo_ok(&alice, five.id("e"), json!({ "position": back }))
        .await;
    let now = ordered(&app, &alice, &five.list).await;
    assert_eq!(titles(&now), ["b", "d", "c", "a", "e"]);
    assert_eq!(position_of(&now, "b"), front);
    assert_eq!(position_of(&now, "e"), back);

    for malformed in [
        "",
        "a",
        "a00",
        "a0 ",
        " a0",
        "a0!",
        "a0-",
        "0",
        "!",
        "ä0",
        "b0",
        "A00000000000000000000000000",
    ] {
        let body = app
            .move_todo(&alice, five.id("c"), json!({ "position": malformed }))
            .await;
        assert_refused(&body, "BAD_USER_INPUT", &format!("position {malformed:?}"));
    }
    assert_eq!(ordered(&app, &alice, &five.list).await, now);
}

#[tokio::test]
async fn bad_neighbours_and_a_position_with_a_neighbour_are_refused() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let five = Five::new(&app, &alice).await;
    let elsewhere = app.create_todo_titled(&alice, "in the default list").await;
    let bobs = app.create_todo_titled(&bob, "bob's").await;
    let unknown = uuid::Uuid::now_v7().to_string();
    let before = ordered(&app, &alice, &five.list).await;
    let key = key_between(None, Some(position_of(&before, "e")));

    let mut cases: Vec<(String, Value)> = vec![
        (
            "position with afterId".into(),
            json!({ "position": key, "afterId": five.id("e") }),
        ),
        (
            "position with beforeId".into(),
            json!({ "position": key, "beforeId": five.id("e") }),
        ),
        (
            "position with both".into(),
            json!({ "position": key, "afterId": five.id("e"), "beforeId": five.id("d") }),
        ),
    ];
    for (what, id) in [
        ("an unknown todo", unknown.as_str()),
        ("not an id", "not-a-uuid"),
        ("a todo of another list", elsewhere.as_str()),
        ("another user's todo", bobs.as_str()),
        ("the moved todo itself", five.id("c")),
    ] {
        cases.push((format!("afterId: {what}"), json!({ "afterId": id })));
        cases.push((format!("beforeId: {what}"), json!({ "beforeId": id })));
        cases.push((
            format!("afterId {what} with a good beforeId"),
            json!({ "afterId": id, "beforeId": five.id("a") }),
        ));
    }
    for (what, input) in cases {
        let body = app.move_todo(&alice, five.id("c"), input).await;
        assert_refused(&body, "BAD_USER_INPUT", &what);
    }
    assert_eq!(ordered(&app, &alice, &five.list).await, before);
    let default = app.default_list_id(&alice).await;
    assert_eq!(
        app.list_todo_ids(&alice, &default).await,
        [elsewhere.as_str()]
    );
}

#[tokio::test]
async fn without_a_place_a_moved_todo_goes_first() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let five = Five::new(&app, &alice).await;
    app.move_todo_ok(&alice, five.id("a"), json!({})).await;
    assert_eq!(
        titles(&ordered(&app, &alice, &five.list).await),
        ["a", "e", "d", "c", "b"]
    );
    let again = app.move_todo_ok(&alice, five.id("a"), json!({})).await;
    assert_eq!(again["version"], 3);
    let listed = app
        .move_todo_ok(&alice, five.id("c"), json!({ "listId": five.list }))
        .await;
    assert_eq!(listed["list"]["id"], five.list.as_str());
    assert_eq!(
        titles(&ordered(&app, &alice, &five.list).await),
        ["c", "a", "e", "d", "b"]
    );
}

#[tokio::test]
async fn moving_to_another_list_needs_editor_or_owner_of_both() {
    let app = TestApp::spawn_with(&[ROOMY]).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let source = app.create_list_id(&alice, "Source").await;
    let viewed = app.create_list_id(&alice, "Viewed").await;
    let target = app.create_list_id(&alice, "Target").await;
    let closed = app.create_list_id(&alice, "Closed").await;
    app.invite_and_accept(&alice, &source, &bob, "EDITOR").await;
    app.invite_and_accept(&alice, &viewed, &bob, "VIEWER").await;
    app.invite_and_accept(&alice, &target, &bob, "EDITOR").await;
    let t = app.create_todo_in(&alice, &source, "traveller").await;
    let stay = app.create_todo_in(&alice, &source, "stays").await;
    let v = app.create_todo_in(&alice, &viewed, "only viewed").await;
    let anchor = app.create_todo_in(&alice, &target, "anchor").await;
    let lists = [&source, &viewed, &target, &closed];
    let mut before = Vec::new();
    for list in lists {
        before.push(ordered(&app, &alice, list).await);
    }

    let body = app.move_todo(&bob, &t, json!({ "listId": viewed })).await;
    assert_refused(&body, "FORBIDDEN", "to a list bob only views");
    let body = app.move_todo(&bob, &v, json!({ "listId": target })).await;
    assert_refused(&body, "FORBIDDEN", "from a list bob only views");
    let body = app.move_todo(&bob, &t, json!({ "listId": closed })).await;
    assert_refused(&body, "NOT_FOUND", "to a list bob is no member of");
    let body = app
        .move_todo(
            &bob,
            &t,
            json!({ "listId": uuid::Uuid::now_v7().to_string() }),
        )
        .await;
    assert_refused(&body, "NOT_FOUND", "to no list");
    // Neighbours must be in the target list.
    let body = app
        .move_todo(&bob, &t, json!({ "listId": target, "afterId": stay }))
        .await;
    assert_refused(&body, "BAD_USER_INPUT", "afterId in the source list");
    let mut after = Vec::new();
    for list in lists {
        after.push(ordered(&app, &alice, list).await);
    }
    assert_eq!(after, before, "a refused move changed something");

    let moved = app
        .move_todo_ok(&bob, &t, json!({ "listId": target, "afterId": anchor }))
        .await;
    assert_eq!(moved["list"]["id"], target.as_str());
    assert_eq!(moved["version"], 2);
    assert_eq!(app.list_todo_ids(&alice, &target).await, [&*anchor, &*t]);
    assert_eq!(app.list_todo_ids(&alice, &source).await, [stay.as_str()]);
    let counts = app
        .data_as(
            &bob,
            "query($s: ID!, $t: ID!) { s: list(id: $s) { todoCounts { total } }
                t: list(id: $t) { todoCounts { total } } }",
            json!({ "s": source, "t": target }),
        )
        .await;
    assert_eq!(counts["s"]["todoCounts"]["total"], 1);
    assert_eq!(counts["t"]["todoCounts"]["total"], 2);
    let todo = app
        .data_as(
            &alice,
            "query($id: ID!) { todo(id: $id) { list { id } createdBy { id } } }",
            json!({ "id": t }),
        )
        .await;
    assert_eq!(todo["todo"]["list"]["id"], target.as_str());
    assert_eq!(
        todo["todo"]["createdBy"]["id"],
        alice.id.as_str(),
        "moving keeps the creator"
    );

    // Without a place: first in the target list. Into the default list too.
    app.move_todo_ok(&alice, &stay, json!({ "listId": target }))
        .await;
    assert_eq!(
        app.list_todo_ids(&alice, &target).await,
        [&*stay, &*anchor, &*t]
    );
    let default = app.default_list_id(&alice).await;
    app.move_todo_ok(&alice, &anchor, json!({ "listId": default }))
        .await;
    let (total, _, _) = app.todo_counts(&alice).await;
    assert_eq!(total, 1, "the default list's counts include the moved todo");
}

#[tokio::test]
async fn a_move_checks_the_expected_version() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let five = Five::new(&app, &alice).await;
    let before = ordered(&app, &alice, &five.list).await;
    for stale in [0, 2, 99] {
        let body = app
            .move_todo(&alice, five.id("a"), json!({ "expectedVersion": stale }))
            .await;
        assert_refused(&body, "CONFLICT", &format!("expectedVersion {stale}"));
    }
    assert_eq!(ordered(&app, &alice, &five.list).await, before);
    let moved = app
        .move_todo_ok(&alice, five.id("a"), json!({ "expectedVersion": 1 }))
        .await;
    assert_eq!(moved["version"], 2);
    // An update made against the version before the move is now stale.
    let body = app
        .update_todo(
            &alice,
            five.id("a"),
            json!({ "title": "x", "expectedVersion": 1 }),
        )
        .await;
    assert_refused(&body, "CONFLICT", "updateTodo after a move");
}

/// Two clients drop different todos into the same gap at the same moment:
/// both succeed, both land between the gap's neighbours, and the order is
/// total: the same on every read, whole or in pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_moves_into_one_gap_both_land_in_a_total_order() {
    let app = TestApp::spawn_with(&[ROOMY]).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let list = app.create_list_id(&alice, "Busy").await;
    app.invite_and_accept(&alice, &list, &bob, "EDITOR").await;
    let mut ids = Vec::new();
    for i in 0..8 {
        ids.push(app.create_todo_in(&alice, &list, &format!("t{i}")).await);
    }
    // Manual order now t7 … t0. Each round moves two todos from the end
    // into the gap between the first two.
    for round in 0..3 {
        let now = app.list_todo_ids(&alice, &list).await;
        let (left, right) = (now[0].clone(), now[1].clone());
        let (x, y) = (now[now.len() - 1].clone(), now[now.len() - 2].clone());
        let input = if round % 2 == 0 {
            json!({ "afterId": left, "beforeId": right })
        } else {
            json!({ "afterId": left })
        };
        let (one, two) = tokio::join!(
            app.move_todo(&alice, &x, input.clone()),
            app.move_todo(&bob, &y, input.clone()),
        );
        assert_ok(&one, "alice's move");
        assert_ok(&two, "bob's move");

        let first = ordered(&app, &alice, &list).await;
        let second = ordered(&app, &bob, &list).await;
        assert_eq!(first, second, "two reads disagree");
        let order: Vec<String> = first.iter().map(id_of).collect();
        let at = |id: &String| order.iter().position(|o| o == id).unwrap();
        assert_eq!(at(&left), 0, "round {round}: {order:?}");
        let mut middle = vec![at(&x), at(&y)];
        middle.sort_unstable();
        assert_eq!(middle, [1, 2], "round {round}: both between the neighbours");
        assert_eq!(at(&right), 3, "round {round}: {order:?}");
        assert_eq!(order.len(), 8);

        // Pages of one walk the same order.
        let mut walked: Vec<String> = Vec::new();
        let mut after = Value::Null;
        while walked.len() < 9 {
            let data = app
                .data_as(
                    &bob,
                    "query($id: ID!, $after: String) { list(id: $id) {
                        todos(first: 1, after: $after) { nodes { id } pageInfo { hasNextPage endCursor } } } }",
                    json!({ "id": list, "after": after }),
                )
                .await;
            let page = &data["list"]["todos"];
            walked.extend(page["nodes"].as_array().unwrap().iter().map(id_of));
            if page["pageInfo"]["hasNextPage"] == false {
                break;
            }
            after = page["pageInfo"]["endCursor"].clone();
        }
        assert_eq!(walked, order, "round {round}: pages");
    }
}
