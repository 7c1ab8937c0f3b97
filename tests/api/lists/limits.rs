//! The limits of the contract, each crossed by one API call: 50 pending
//! invitations per list, 50 members per list, 200 lists per user
//! (memberships and the default list included), and 100 invitations per
//! inviter a day. States that would take many calls are inserted with SQL.

use futures_util::future::join_all;
use serde_json::json;
use uuid::Uuid;

use super::{ROOMY, assert_ok, assert_refused};
use crate::support::{TestApp, TestUser, fractional_index::keys_after, unique_email};

/// Inserts `n` invitations to `list` from `inviter`, each in `state`:
/// `pending`, `cancelled` or `expired`.
async fn insert_invitations(app: &TestApp, list: &str, inviter: &TestUser, n: usize, state: &str) {
    let (expires, cancelled) = match state {
        "pending" => ("now() + interval '14 days'", "NULL"),
        "cancelled" => ("now() + interval '14 days'", "now()"),
        "expired" => ("now() - interval '1 day'", "NULL"),
        other => panic!("no state {other}"),
    };
    app.sql(&format!(
        "INSERT INTO list_invitations
            (id, list_id, email, role, invited_by, created_at, expires_at, accepted_at, cancelled_at)
         SELECT gen_random_uuid(), '{list}', '{state}-' || g || '-' || '{tag}@example.com',
                'VIEWER', '{inviter}', now(), {expires}, NULL, {cancelled}
         FROM generate_series(1, {n}) AS g",
        inviter = inviter.id,
        tag = &Uuid::new_v4().simple().to_string()[..8],
    ))
    .await;
}

#[tokio::test]
async fn at_most_fifty_pending_invitations_per_list() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let list = app.create_list_id(&alice, "Inviting").await;
    // Invitations that are no longer pending do not count.
    insert_invitations(&app, &list, &alice, 5, "cancelled").await;
    insert_invitations(&app, &list, &alice, 5, "expired").await;
    insert_invitations(&app, &list, &alice, 49, "pending").await;

    app.invite_ok(&alice, &list, &unique_email("fiftieth"), "VIEWER")
        .await;
    let count = "query($id: ID!) { list(id: $id) { pendingInvitations { id } } }";
    let pending =
        |data: serde_json::Value| data["list"]["pendingInvitations"].as_array().unwrap().len();
    assert_eq!(
        pending(app.data_as(&alice, count, json!({ "id": list })).await),
        50
    );

    let body = app
        .invite(&alice, &list, &unique_email("fifty-first"), "VIEWER")
        .await;
    assert_refused(&body, "BAD_USER_INPUT", "the 51st pending invitation");
    assert_eq!(
        pending(app.data_as(&alice, count, json!({ "id": list })).await),
        50
    );
    // Another list has room of its own.
    let other = app.create_list_id(&alice, "Other").await;
    app.invite_ok(&alice, &other, &unique_email("elsewhere"), "VIEWER")
        .await;
}

#[tokio::test]
async fn at_most_fifty_members_per_list() {
    let app = TestApp::spawn_with(&[ROOMY]).await;
    let alice = app.register("alice").await;
    let list = app.create_list_id(&alice, "Crowded").await;
    // 48 members by SQL, the 49th through the API: 50 with the owner.
    let mut users: Vec<TestUser> = Vec::new();
    for chunk in 0..6 {
        let batch = (0..8).map(|i| {
            let app = &app;
            async move { app.register(&format!("member{}", chunk * 8 + i)).await }
        });
        users.extend(join_all(batch).await);
    }
    let values: Vec<String> = users
        .iter()
        .map(|u| format!("('{list}', '{}', 'VIEWER', 'a5', now())", u.id))
        .collect();
    app.sql(&format!(
        "INSERT INTO list_members (list_id, user_id, role, position, joined_at) VALUES {}",
        values.join(", ")
    ))
    .await;
    let fiftieth = app.register("fiftieth").await;
    app.invite_and_accept(&alice, &list, &fiftieth, "VIEWER")
        .await;
    let members = app.get_list(&alice, &list).await["members"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(members, 50);

    // A 51st, invited while there was room, cannot join now.
    // contract-silent: the limit is enforced when joining (whatever
    // inviteToList does on a full list, which this does not test).
    let late = app.register("late").await;
    app.verify_email_in_db(&late).await;
    let invitation = Uuid::new_v4();
    app.sql(&format!(
        "INSERT INTO list_invitations
            (id, list_id, email, role, invited_by, created_at, expires_at, accepted_at, cancelled_at)
         VALUES ('{invitation}', '{list}', '{}', 'VIEWER', '{}', now(),
                 now() + interval '14 days', NULL, NULL)",
        late.email, alice.id
    ))
    .await;
    assert_eq!(app.invitations_of(&late).await.len(), 1);
    let body = app.accept_invitation(&late, &invitation.to_string()).await;
    assert_refused(&body, "BAD_USER_INPUT", "the 51st member");
    assert!(app.get_list(&late, &list).await.is_null());
    let members = app.get_list(&alice, &list).await["members"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(members, 50);

    // Once someone leaves, there is room again.
    let body = app.remove_member(&fiftieth, &list, &fiftieth.id).await;
    assert_eq!(assert_ok(&body, "leave")["removeMember"], true);
    let body = app.accept_invitation(&late, &invitation.to_string()).await;
    assert_ok(&body, "the 50th member again");
}

#[tokio::test]
async fn at_most_two_hundred_lists_per_user_memberships_included() {
    let app = TestApp::spawn_with(&[ROOMY]).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    // The default list and 197 lists of Alice's own by SQL, placed after it.
    let default = &app.lists_of(&alice).await[0];
    let start = default["position"].as_str().unwrap();
    let rows: Vec<(Uuid, String)> = keys_after(Some(start), 197)
        .into_iter()
        .map(|key| (Uuid::now_v7(), key))
        .collect();
    let lists: Vec<String> = rows
        .iter()
        .enumerate()
        .map(|(i, (id, _))| format!("('{id}', 'Bulk {i}', '{}', 1, now(), now())", alice.id))
        .collect();
    let members: Vec<String> = rows
        .iter()
        .map(|(id, key)| format!("('{id}', '{}', 'OWNER', '{key}', now())", alice.id))
        .collect();
    app.sql(&format!(
        // One statement: the list and its OWNER must commit together.
        "WITH new_lists AS (INSERT INTO lists (id, name, owner_id, version, created_at, updated_at) VALUES {})
         INSERT INTO list_members (list_id, user_id, role, position, joined_at) VALUES {}",
        lists.join(", "),
        members.join(", ")
    ))
    .await;
    let count = "{ lists { totalCount } }";
    assert_eq!(
        app.data_as(&alice, count, json!({})).await["lists"]["totalCount"],
        198
    );

    // The 199th: her own; the 200th: a membership.
    app.create_list(&alice, "199th").await;
    let shared = app.create_list_id(&bob, "Bob's").await;
    app.invite_and_accept(&bob, &shared, &alice, "VIEWER").await;
    assert_eq!(
        app.data_as(&alice, count, json!({})).await["lists"]["totalCount"],
        200
    );

    // The 201st, either way.
    let body = app.try_create_list(&alice, "201st").await;
    assert_refused(&body, "BAD_USER_INPUT", "creating the 201st list");
    let another = app.create_list_id(&bob, "Bob's other").await;
    let invitation = app.invite_ok(&bob, &another, &alice.email, "VIEWER").await;
    let body = app
        .accept_invitation(&alice, invitation["id"].as_str().unwrap())
        .await;
    assert_refused(&body, "BAD_USER_INPUT", "joining as the 201st list");
    assert!(app.get_list(&alice, &another).await.is_null());
    assert_eq!(
        app.data_as(&alice, count, json!({})).await["lists"]["totalCount"],
        200
    );

    // Leaving one makes room.
    let body = app.remove_member(&alice, &shared, &alice.id).await;
    assert_eq!(assert_ok(&body, "leave")["removeMember"], true);
    let made = app.create_list(&alice, "room again").await;
    assert_eq!(made["name"], "room again");
}

/// Counted through the API (a hundred cheap calls): the implementation may
/// keep this counter outside the invitation rows, which SQL inserts would
/// not move.
#[tokio::test]
async fn at_most_a_hundred_invitations_per_inviter_a_day() {
    let app = TestApp::spawn_with(&[ROOMY]).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let first = app.create_list_id(&alice, "First fifty").await;
    let second = app.create_list_id(&alice, "Second fifty").await;
    let third = app.create_list_id(&alice, "Third").await;
    for list in [&first, &second] {
        for i in 0..50 {
            app.invite_ok(&alice, list, &unique_email(&format!("guest{i}")), "VIEWER")
                .await;
        }
    }
    let body = app
        .invite(&alice, &third, &unique_email("one-too-many"), "VIEWER")
        .await;
    assert_refused(&body, "RATE_LIMITED", "the 101st invitation of the day");
    let pending = app
        .data_as(
            &alice,
            "query($id: ID!) { list(id: $id) { pendingInvitations { id } } }",
            json!({ "id": third }),
        )
        .await;
    assert_eq!(pending["list"]["pendingInvitations"], json!([]));
    // Per inviter: Bob may still invite.
    let bobs = app.create_list_id(&bob, "Bob's").await;
    app.invite_ok(&bob, &bobs, &unique_email("bobs-guest"), "VIEWER")
        .await;
}
