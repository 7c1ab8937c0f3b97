//! Refusals that come from a list's state, not a role (`BAD_USER_INPUT`):
//! the default list cannot be deleted, transferred or left by its owner,
//! no owner leaves before transferring, OWNER is no role to give; and
//! `updateList` versions (CONFLICT) and list names (1 to 100 characters,
//! trimmed).

use serde_json::json;

use super::{assert_ok, assert_refused, snapshot};
use crate::support::{TestApp, lists::id_of};

#[tokio::test]
async fn a_default_list_is_never_deleted_transferred_or_left_by_its_owner() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let default = app.default_list_id(&alice).await;
    // A default list can be shared.
    app.invite_and_accept(&alice, &default, &bob, "EDITOR")
        .await;
    app.create_todo_in(&bob, &default, "bob was here").await;
    let before = snapshot(&app, &alice, &default).await;

    let body = app.delete_list(&alice, &default).await;
    assert_refused(&body, "BAD_USER_INPUT", "deleting the default list");
    let body = app.transfer_list(&alice, &default, &bob.id).await;
    assert_refused(&body, "BAD_USER_INPUT", "transferring the default list");
    let body = app.remove_member(&alice, &default, &alice.id).await;
    assert_refused(
        &body,
        "BAD_USER_INPUT",
        "the owner leaving the default list",
    );
    // The role is checked first: an EDITOR is FORBIDDEN whatever the state.
    let body = app.delete_list(&bob, &default).await;
    assert_refused(&body, "FORBIDDEN", "an EDITOR deleting the default list");
    let body = app.transfer_list(&bob, &default, &bob.id).await;
    assert_refused(
        &body,
        "FORBIDDEN",
        "an EDITOR transferring the default list",
    );
    assert_eq!(snapshot(&app, &alice, &default).await, before);
    assert_eq!(app.default_list_id(&alice).await, default);

    // Its other members leave it like any list.
    let body = app.remove_member(&bob, &default, &bob.id).await;
    assert_eq!(assert_ok(&body, "bob leaves")["removeMember"], true);
    assert!(app.get_list(&bob, &default).await.is_null());
    let list = app.get_list(&alice, &default).await;
    assert_eq!(list["members"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["isDefault"], true);
    // Bob's own default list is still his, and his only.
    let bobs = app.lists_of(&bob).await;
    assert_eq!(bobs.len(), 1);
    assert_eq!(bobs[0]["isDefault"], true);
    assert_eq!(bobs[0]["owner"]["id"], bob.id.as_str());
}

#[tokio::test]
async fn an_owner_transfers_before_leaving() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let list = app.create_list_id(&alice, "Handed over").await;
    app.invite_and_accept(&alice, &list, &bob, "VIEWER").await;
    let before = snapshot(&app, &alice, &list).await;

    let body = app.remove_member(&alice, &list, &alice.id).await;
    assert_refused(&body, "BAD_USER_INPUT", "the owner leaving");
    // contract-silent: transferring to oneself or to a non-member names no
    // other member: BAD_USER_INPUT, nothing changes.
    let body = app.transfer_list(&alice, &list, &alice.id).await;
    assert_refused(&body, "BAD_USER_INPUT", "transferring to oneself");
    let body = app.transfer_list(&alice, &list, &carol.id).await;
    assert_refused(&body, "BAD_USER_INPUT", "transferring to a non-member");
    assert_eq!(snapshot(&app, &alice, &list).await, before);

    let body = app.transfer_list(&alice, &list, &bob.id).await;
    let moved = assert_ok(&body, "transfer")["transferList"].clone();
    assert_eq!(moved["owner"]["id"], bob.id.as_str());
    assert_eq!(moved["role"], "EDITOR", "the previous owner becomes EDITOR");
    let as_bob = app.get_list(&bob, &list).await;
    assert_eq!(as_bob["role"], "OWNER");
    assert_eq!(as_bob["isDefault"], false);
    let roles: Vec<(String, String)> = as_bob["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["user"]["id"].as_str().unwrap().to_owned(),
                m["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let owners = roles.iter().filter(|(_, r)| r == "OWNER").count();
    assert_eq!(owners, 1, "exactly one owner: {roles:?}");
    assert!(
        roles.contains(&(alice.id.clone(), "EDITOR".to_owned())),
        "{roles:?}"
    );

    // Now Alice may leave, and Bob may not.
    let body = app.remove_member(&bob, &list, &bob.id).await;
    assert_refused(&body, "BAD_USER_INPUT", "the new owner leaving");
    let body = app.remove_member(&alice, &list, &alice.id).await;
    assert_eq!(assert_ok(&body, "alice leaves")["removeMember"], true);
    assert!(app.get_list(&alice, &list).await.is_null());
    assert!(!app.list_ids_of(&alice).await.contains(&list));
    // Bob's new list is not his default list.
    assert_ne!(app.default_list_id(&bob).await, list);
    let body = app.delete_list(&bob, &list).await;
    assert_eq!(assert_ok(&body, "bob deletes")["deleteList"], list.as_str());
}

#[tokio::test]
async fn owner_is_not_a_role_to_give() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let list = app.create_list_id(&alice, "One owner").await;
    app.invite_and_accept(&alice, &list, &bob, "EDITOR").await;
    let before = snapshot(&app, &alice, &list).await;

    let body = app
        .change_member_role(&alice, &list, &bob.id, "OWNER")
        .await;
    assert_refused(&body, "BAD_USER_INPUT", "changeMemberRole to OWNER");
    let body = app
        .invite(&alice, &list, "someone@example.com", "OWNER")
        .await;
    assert_refused(&body, "BAD_USER_INPUT", "inviteToList as OWNER");
    // contract-silent: the owner's own role cannot be changed (a list keeps
    // exactly one owner; transferList is the way).
    let body = app
        .change_member_role(&alice, &list, &alice.id, "EDITOR")
        .await;
    assert_refused(&body, "BAD_USER_INPUT", "changing the owner's role");
    // The role is checked first.
    let body = app.change_member_role(&bob, &list, &bob.id, "OWNER").await;
    assert_refused(&body, "FORBIDDEN", "an EDITOR promoting itself");
    assert_eq!(snapshot(&app, &alice, &list).await, before);

    let body = app
        .change_member_role(&alice, &list, &bob.id, "VIEWER")
        .await;
    let member = assert_ok(&body, "demote bob")["changeMemberRole"].clone();
    assert_eq!(member["role"], "VIEWER");
    assert_eq!(member["user"]["id"], bob.id.as_str());
    assert_eq!(app.get_list(&bob, &list).await["role"], "VIEWER");
}

#[tokio::test]
async fn update_list_checks_the_expected_version() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let list = app.create_list_id(&alice, "Versioned").await;
    app.invite_and_accept(&alice, &list, &bob, "EDITOR").await;
    let v = app.get_list(&alice, &list).await["version"]
        .as_i64()
        .unwrap();

    let body = app
        .update_list(
            &alice,
            &list,
            json!({ "name": "First", "expectedVersion": v }),
        )
        .await;
    let updated = assert_ok(&body, "rename at the current version")["updateList"].clone();
    assert_eq!(updated["version"], v + 1);
    // Bob's read is now stale.
    let before = snapshot(&app, &alice, &list).await;
    for stale in [v, v + 5, 0] {
        let body = app
            .update_list(
                &bob,
                &list,
                json!({ "name": "Second", "expectedVersion": stale }),
            )
            .await;
        assert_refused(&body, "CONFLICT", &format!("expectedVersion {stale}"));
    }
    assert_eq!(snapshot(&app, &alice, &list).await, before);
    let body = app
        .update_list(
            &bob,
            &list,
            json!({ "name": "Second", "expectedVersion": v + 1 }),
        )
        .await;
    assert_eq!(assert_ok(&body, "rename")["updateList"]["name"], "Second");

    // A sidebar position changes no version: a stale version of someone
    // else's does not matter to it, and it does not make others stale.
    let version = app.get_list(&alice, &list).await["version"].clone();
    let body = app
        .update_list(&bob, &list, json!({ "position": "Zz" }))
        .await;
    let moved = assert_ok(&body, "reposition")["updateList"].clone();
    assert_eq!(moved["position"], "Zz");
    assert_eq!(moved["version"], version);
    assert_eq!(app.get_list(&alice, &list).await["version"], version);
    assert_eq!(app.list_ids_of(&bob).await[1..], [list.as_str()]);
}

#[tokio::test]
async fn list_names_are_trimmed_and_one_to_a_hundred_characters() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let hundred = "n".repeat(100);
    let crabs = "🦀".repeat(100);
    let padded = format!("  {hundred}  ");
    for name in [
        String::new(),
        " ".to_owned(),
        " \t\n ".to_owned(),
        "n".repeat(101),
        "🦀".repeat(101),
    ] {
        let body = app.try_create_list(&alice, &name).await;
        assert_refused(&body, "BAD_USER_INPUT", &format!("createList {name:?}"));
    }
    assert_eq!(app.lists_of(&alice).await.len(), 1, "nothing created");

    for (given, stored) in [
        ("  Groceries \n", "Groceries"),
        (hundred.as_str(), hundred.as_str()),
        (padded.as_str(), hundred.as_str()),
        (crabs.as_str(), crabs.as_str()),
    ] {
        let list = app.create_list(&alice, given).await;
        assert_eq!(list["name"], stored, "createList {given:?}");
        assert_eq!(app.get_list(&alice, &id_of(&list)).await["name"], stored);
    }

    let list = app.create_list_id(&alice, "Renamed").await;
    let before = snapshot(&app, &alice, &list).await;
    for name in [String::new(), "   ".to_owned(), "x".repeat(101)] {
        let body = app
            .update_list(&alice, &list, json!({ "name": name }))
            .await;
        assert_refused(&body, "BAD_USER_INPUT", &format!("updateList {name:?}"));
    }
    assert_eq!(snapshot(&app, &alice, &list).await, before);
    let body = app
        .update_list(&alice, &list, json!({ "name": "  Tidy  " }))
        .await;
    assert_eq!(assert_ok(&body, "rename")["updateList"]["name"], "Tidy");
}
