//! Membership over `changes`: the joiner gets `ACCESS_GRANTED` and the other
//! members UPDATED, then the joiner hears the list's changes; role changes
//! and renames reach every member, a sidebar move only the mover; a
//! collaborator's change reaches every member; a removed member (or one
//! who leaves, or whose list is deleted) gets `ACCESS_REVOKED` and nothing
//! later of that list, on subscriptions open at that moment and resumed.

use serde_json::{Value, json};

use super::{CHANGES, Feed, TODO_EVENTS, fence_all, list_event, summary, todo_event};
use crate::support::{TestApp, TestUser};

/// The list events of `events` about `list`.
fn list_events<'a>(events: &'a [Value], list: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["__typename"] == "ListEvent" && e["listId"] == list)
        .collect()
}

struct Member {
    user: TestUser,
    feed: Feed,
}

impl Member {
    async fn new(app: &TestApp, user: TestUser) -> Self {
        let feed = Feed::changes(app, &user).await;
        Self { user, feed }
    }

    async fn fence(&mut self, app: &TestApp) -> Vec<Value> {
        self.feed.fence(app, &self.user).await
    }
}

#[tokio::test]
async fn joining_grants_access_and_tells_the_other_members() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let list = app.create_list_id(&alice, "Club").await;
    app.invite_and_accept(&alice, &list, &carol, "VIEWER").await;
    app.verify_email_in_db(&bob).await;
    let mut alice = Member::new(&app, alice).await;
    let mut bob = Member::new(&app, bob).await;
    let mut carol = Member::new(&app, carol).await;

    // An invitation is no membership change: no event for anyone.
    let invitation = app
        .invite_ok(&alice.user, &list, &bob.user.email, "EDITOR")
        .await;
    for m in [&mut alice, &mut bob, &mut carol] {
        let got = m.fence(&app).await;
        assert!(got.is_empty(), "an invitation made events: {got:#?}");
    }

    let body = app
        .accept_invitation(&bob.user, invitation["id"].as_str().unwrap())
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let todo = app.create_todo_in(&alice.user, &list, "welcome").await;

    let got = bob.fence(&app).await;
    assert_eq!(
        summary(&got),
        [
            list_event("ACCESS_GRANTED", &list),
            todo_event("CREATED", &todo)
        ]
    );
    assert_eq!(
        got[0]["list"],
        json!({ "id": list, "name": "Club", "role": "EDITOR", "isDefault": false,
                "version": got[0]["list"]["version"] })
    );
    assert_eq!(got[1]["listId"], list.as_str());
    assert_eq!(got[1]["todo"]["title"], "welcome");
    for (m, role) in [(&mut alice, "OWNER"), (&mut carol, "VIEWER")] {
        let got = m.fence(&app).await;
        assert_eq!(
            summary(&got),
            [list_event("UPDATED", &list), todo_event("CREATED", &todo)],
            "{role}"
        );
        assert_eq!(got[0]["list"]["role"], role);
        assert_eq!(got[0]["list"]["id"], list.as_str());
    }

    // A role change and a rename reach every member.
    let body = app
        .change_member_role(&alice.user, &list, &bob.user.id, "VIEWER")
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let body = app
        .update_list(&alice.user, &list, json!({ "name": "Book club" }))
        .await;
    assert!(body["errors"].is_null(), "{body}");
    for (m, role) in [
        (&mut alice, "OWNER"),
        (&mut bob, "VIEWER"),
        (&mut carol, "VIEWER"),
    ] {
        let got = m.fence(&app).await;
        assert_eq!(
            summary(&got),
            [list_event("UPDATED", &list), list_event("UPDATED", &list)],
            "{role}"
        );
        assert_eq!(got[0]["list"]["role"], role, "after the role change");
        assert_eq!(got[1]["list"]["name"], "Book club");
    }

    // Ordering one's sidebar is one's own business.
    let body = app
        .update_list(&carol.user, &list, json!({ "position": "Zz" }))
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let got = carol.fence(&app).await;
    assert_eq!(summary(&got), [list_event("UPDATED", &list)]);
    for m in [&mut alice, &mut bob] {
        let got = m.fence(&app).await;
        assert!(got.is_empty(), "another member's sidebar move: {got:#?}");
    }

    // Creating a list grants it to its creator.
    let own = app.create_list_id(&bob.user, "Bob's own").await;
    let got = bob.fence(&app).await;
    assert_eq!(summary(&got), [list_event("ACCESS_GRANTED", &own)]);
    assert_eq!(got[0]["list"]["role"], "OWNER");
}

#[tokio::test]
async fn a_collaborators_change_reaches_every_member() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let list = app.create_list_id(&alice, "Team").await;
    app.invite_and_accept(&alice, &list, &bob, "EDITOR").await;
    app.invite_and_accept(&alice, &list, &carol, "VIEWER").await;
    let mut members = Vec::new();
    for user in [alice, bob, carol] {
        members.push(Member::new(&app, user).await);
    }
    let bob = members[1].user.clone();

    let a = app.create_todo_in(&bob, &list, "from bob").await;
    let b = app.create_todo_in(&bob, &list, "also from bob").await;
    app.update_todo_ok(&bob, &a, json!({ "description": "details" }))
        .await;
    app.move_todo_ok(&bob, &a, json!({ "afterId": b })).await;
    let toggled = app
        .data_as(
            &bob,
            "mutation($l: ID!) { toggleAllTodos(completed: true, listId: $l) }",
            json!({ "l": list }),
        )
        .await;
    assert_eq!(toggled["toggleAllTodos"], 2);
    let cleared = app
        .data_as(
            &bob,
            "mutation($l: ID!) { clearCompletedTodos(listId: $l) }",
            json!({ "l": list }),
        )
        .await;
    assert_eq!(cleared["clearCompletedTodos"], 2);

    let mut seen: Vec<Vec<Value>> = Vec::new();
    for m in &mut members {
        seen.push(m.fence(&app).await);
    }
    for (m, events) in members.iter().zip(&seen) {
        let got = summary(events);
        assert_eq!(
            got[..4],
            [
                todo_event("CREATED", &a),
                todo_event("CREATED", &b),
                todo_event("UPDATED", &a),
                todo_event("UPDATED", &a),
            ],
            "{}",
            m.user.email
        );
        let mut rest: Vec<(String, String)> = got[4..].to_vec();
        rest.sort();
        let mut expected = vec![
            todo_event("UPDATED", &a),
            todo_event("UPDATED", &b),
            todo_event("DELETED", &a),
            todo_event("DELETED", &b),
        ];
        expected.sort();
        assert_eq!(rest, expected, "{}", m.user.email);
        assert!(events.iter().all(|e| e["listId"] == list.as_str()));
    }
    // Every member gets the same snapshots.
    let snapshots = |events: &[Value]| -> Vec<Value> {
        events[..4].iter().map(|e| e["todo"].clone()).collect()
    };
    assert_eq!(snapshots(&seen[0]), snapshots(&seen[1]));
    assert_eq!(snapshots(&seen[0]), snapshots(&seen[2]));
}

#[tokio::test]
async fn a_removed_member_gets_access_revoked_and_nothing_later_of_that_list() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let list = app.create_list_id(&alice, "Leaky").await;
    app.invite_and_accept(&alice, &list, &bob, "EDITOR").await;
    app.invite_and_accept(&alice, &list, &carol, "VIEWER").await;
    let mut bobs = Feed::open_all(
        &app,
        &bob,
        &[(CHANGES, json!({})), (TODO_EVENTS, json!({ "all": true }))],
    )
    .await;
    let mut alice = Member::new(&app, alice).await;
    let mut carol = Member::new(&app, carol).await;

    let before = app.create_todo_in(&alice.user, &list, "before").await;
    let [changes, all] = bobs.as_mut_slice() else {
        unreachable!()
    };
    let seen = changes.next().await;
    assert_eq!(
        summary(std::slice::from_ref(&seen)),
        [todo_event("CREATED", &before)]
    );
    assert_eq!(all.next().await["todoId"], before.as_str());

    let body = app.remove_member(&alice.user, &list, &bob.id).await;
    assert_eq!(body["data"]["removeMember"], true, "{body}");
    // Changes after the removal: none of them reaches Bob.
    let after = app.create_todo_in(&alice.user, &list, "after").await;
    app.update_todo_ok(&alice.user, &before, json!({ "completed": true }))
        .await;
    app.update_list(&alice.user, &list, json!({ "name": "Sealed" }))
        .await;
    app.delete_todo_ok(&alice.user, &before).await;

    let got = fence_all(&app, &bob, &mut [changes, all]).await;
    assert_eq!(summary(&got[0]), [list_event("ACCESS_REVOKED", &list)]);
    assert!(got[0][0]["list"].is_null(), "{:?}", got[0]);
    assert!(
        got[1].is_empty(),
        "todoEvents(allLists) after removal: {:?}",
        got[1]
    );
    for m in [&mut alice, &mut carol] {
        let got = m.fence(&app).await;
        assert_eq!(
            summary(&got),
            [
                todo_event("CREATED", &before),
                list_event("UPDATED", &list),
                todo_event("CREATED", &after),
                todo_event("UPDATED", &before),
                list_event("UPDATED", &list),
                todo_event("DELETED", &before),
            ],
            "{}",
            m.user.email
        );
    }

    // Resumed from before the removal: the revocation, then nothing of it.
    let mut resumed = Feed::open(&app, &bob, CHANGES, json!({ "after": seen["cursor"] })).await;
    let replayed = resumed.fence(&app, &bob).await;
    let of_list: Vec<(String, String)> = summary(&replayed)
        .into_iter()
        .filter(|(_, id)| [&list, &after, &before].contains(&id))
        .collect();
    assert_eq!(of_list, [list_event("ACCESS_REVOKED", &list)]);
    resumed.close().await;
    drop(bobs);

    // Leaving is a removal too; the owner is told UPDATED.
    let body = app.remove_member(&carol.user, &list, &carol.user.id).await;
    assert_eq!(body["data"]["removeMember"], true, "{body}");
    let got = carol.fence(&app).await;
    assert_eq!(summary(&got), [list_event("ACCESS_REVOKED", &list)]);
    let got = alice.fence(&app).await;
    assert_eq!(summary(&got), [list_event("UPDATED", &list)]);
    app.create_todo_in(&alice.user, &list, "nobody else").await;
    assert!(carol.fence(&app).await.is_empty());
}

#[tokio::test]
async fn deleting_a_list_revokes_it_for_every_member() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let list = app.create_list_id(&alice, "Doomed").await;
    app.invite_and_accept(&alice, &list, &bob, "VIEWER").await;
    let mut alice = Member::new(&app, alice).await;
    let mut bob = Member::new(&app, bob).await;

    let body = app.delete_list(&alice.user, &list).await;
    assert_eq!(body["data"]["deleteList"], list.as_str(), "{body}");
    for m in [&mut alice, &mut bob] {
        let got = m.fence(&app).await;
        assert_eq!(summary(&got), [list_event("ACCESS_REVOKED", &list)]);
        assert!(got[0]["list"].is_null());
        assert_eq!(list_events(&got, &list).len(), 1);
        assert!(app.get_list(&m.user, &list).await.is_null());
    }
}

#[tokio::test]
async fn each_event_of_a_subscription_reads_the_list_as_it_is_then() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let list = app.create_list_id(&alice, "Counted").await;
    let query = "subscription { changes {
        __typename
        ... on ListEvent { listId list { name todoCounts { total } members { role } } }
        ... on TodoEvent { listId kind todoId } } }";
    let mut feed = Feed::open(&app, &alice, query, json!({})).await;
    let renamed = app
        .update_list(&alice, &list, json!({ "name": "Counted 1" }))
        .await;
    assert!(renamed["errors"].is_null(), "{renamed}");
    let first = feed.next().await;
    assert_eq!(first["list"]["todoCounts"]["total"], 0, "{first}");
    app.create_todo_in(&alice, &list, "one").await;
    let created = feed.next().await;
    assert_eq!(created["kind"], "CREATED", "{created}");
    let renamed = app
        .update_list(&alice, &list, json!({ "name": "Counted 2" }))
        .await;
    assert!(renamed["errors"].is_null(), "{renamed}");
    let second = feed.next().await;
    // Not what the subscription loaded for the first event.
    assert_eq!(second["list"]["name"], "Counted 2", "{second}");
    assert_eq!(second["list"]["todoCounts"]["total"], 1, "{second}");
}
