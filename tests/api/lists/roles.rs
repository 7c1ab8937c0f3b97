//! Roles: one table of every operation a member may try, by role (OWNER,
//! EDITOR, VIEWER, and a user who is no member), with the contract's
//! outcome: done, FORBIDDEN (a member whose role does not allow it), or
//! missing (null or NOT_FOUND, never FORBIDDEN, for a non-member). A
//! refusal changes nothing: the list as its owner sees it is compared
//! before and after.

use std::fmt;

use serde_json::{Value, json};

use super::{ROOMY, snapshot};
use crate::support::{
    TestApp, TestUser, error_code, fractional_index::key_between, lists::id_of, unique_email,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Owner,
    Editor,
    Viewer,
    Stranger,
}

const ROLES: [Role; 4] = [Role::Owner, Role::Editor, Role::Viewer, Role::Stranger];

#[derive(Debug, Clone, Copy)]
enum Op {
    ReadList,
    ReadTodos,
    CreateTodo,
    UpdateTodo,
    DeleteTodo,
    MoveTodo,
    ToggleAll,
    ClearCompleted,
    Rename,
    Reposition,
    DeleteList,
    Invite,
    ChangeRole,
    RemoveOther,
    Leave,
    Transfer,
    PendingInvitations,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Done (for reads: the data is there).
    Ok,
    /// Refused with this code, nothing changed.
    Refused(&'static str),
    /// As if the list did not exist: null for reads, NOT_FOUND for writes.
    Missing,
}

use Outcome::{Missing, Ok as Done, Refused};

const FORBIDDEN: Outcome = Refused("FORBIDDEN");

/// The contract, row by row: outcomes for OWNER, EDITOR, VIEWER, non-member.
const TABLE: &[(Op, [Outcome; 4])] = &[
    (Op::ReadList, [Done, Done, Done, Missing]),
    (Op::ReadTodos, [Done, Done, Done, Missing]),
    (Op::CreateTodo, [Done, Done, FORBIDDEN, Missing]),
    (Op::UpdateTodo, [Done, Done, FORBIDDEN, Missing]),
    (Op::DeleteTodo, [Done, Done, FORBIDDEN, Missing]),
    (Op::MoveTodo, [Done, Done, FORBIDDEN, Missing]),
    (Op::ToggleAll, [Done, Done, FORBIDDEN, Missing]),
    (Op::ClearCompleted, [Done, Done, FORBIDDEN, Missing]),
    (Op::Rename, [Done, Done, FORBIDDEN, Missing]),
    // Any member orders its own sidebar.
    (Op::Reposition, [Done, Done, Done, Missing]),
    (Op::DeleteList, [Done, FORBIDDEN, FORBIDDEN, Missing]),
    (Op::Invite, [Done, FORBIDDEN, FORBIDDEN, Missing]),
    (Op::ChangeRole, [Done, FORBIDDEN, FORBIDDEN, Missing]),
    (Op::RemoveOther, [Done, FORBIDDEN, FORBIDDEN, Missing]),
    // The owner cannot leave (a refusal from the list's state).
    (Op::Leave, [Refused("BAD_USER_INPUT"), Done, Done, Missing]),
    (Op::Transfer, [Done, FORBIDDEN, FORBIDDEN, Missing]),
    // Readable by every member; empty unless the caller is the owner.
    (Op::PendingInvitations, [Done, Done, Done, Missing]),
];

/// A list owned by a fresh user, with EDITOR `ed`, VIEWERs `vic` and
/// `tess` (whom role operations target), todos `a` (active), `b`
/// (completed) and `c` (active, first), and one pending invitation.
struct Fixture {
    owner: TestUser,
    list: String,
    a: String,
    b: String,
    c: String,
}

struct Cast {
    ed: TestUser,
    vic: TestUser,
    tess: TestUser,
    nora: TestUser,
}

impl Cast {
    fn actor<'a>(&'a self, fixture: &'a Fixture, role: Role) -> &'a TestUser {
        match role {
            Role::Owner => &fixture.owner,
            Role::Editor => &self.ed,
            Role::Viewer => &self.vic,
            Role::Stranger => &self.nora,
        }
    }
}

async fn fixture(app: &TestApp, cast: &Cast, n: usize) -> Fixture {
    // A fresh owner each time keeps every inviter far from its daily limit.
    let owner = app.register(&format!("owner{n}")).await;
    let list = app.create_list_id(&owner, &format!("Shared {n}")).await;
    let a = app.create_todo_in(&owner, &list, "a").await;
    let b = app.create_todo_in(&owner, &list, "b").await;
    app.update_todo_ok(&owner, &b, json!({ "completed": true }))
        .await;
    let c = app.create_todo_in(&owner, &list, "c").await;
    app.invite_and_accept(&owner, &list, &cast.ed, "EDITOR")
        .await;
    app.invite_and_accept(&owner, &list, &cast.vic, "VIEWER")
        .await;
    app.invite_and_accept(&owner, &list, &cast.tess, "VIEWER")
        .await;
    app.invite_ok(&owner, &list, &unique_email("pending"), "VIEWER")
        .await;
    Fixture {
        owner,
        list,
        a,
        b,
        c,
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Runs `op` as `actor`; returns the whole body.
async fn run(app: &TestApp, cast: &Cast, fx: &Fixture, op: Op, actor: &TestUser) -> Value {
    let list = fx.list.as_str();
    let (query, variables) = match op {
        Op::ReadList => (
            "query($list: ID!) { list(id: $list) { id name role } }",
            json!({ "list": list }),
        ),
        Op::ReadTodos => (
            "query($list: ID!, $todo: ID!) { list(id: $list) { todos { nodes { id title } } }
                todo(id: $todo) { id title } }",
            json!({ "list": list, "todo": fx.a }),
        ),
        Op::CreateTodo => (
            "mutation($list: ID!) { createTodo(input: { title: \"by role\", listId: $list }) {
                id list { id } } }",
            json!({ "list": list }),
        ),
        Op::UpdateTodo => (
            "mutation($id: ID!) { updateTodo(id: $id, input: { title: \"renamed by role\" }) {
                id title } }",
            json!({ "id": fx.a }),
        ),
        Op::DeleteTodo => (
            "mutation($id: ID!) { deleteTodo(id: $id) }",
            json!({ "id": fx.c }),
        ),
        Op::MoveTodo => (
            "mutation($id: ID!) { moveTodo(id: $id, input: {}) { id list { id } } }",
            json!({ "id": fx.a }),
        ),
        Op::ToggleAll => (
            "mutation($list: ID!) { toggleAllTodos(completed: true, listId: $list) }",
            json!({ "list": list }),
        ),
        Op::ClearCompleted => (
            "mutation($list: ID!) { clearCompletedTodos(listId: $list) }",
            json!({ "list": list }),
        ),
        Op::Rename => (
            "mutation($list: ID!) { updateList(id: $list, input: { name: \"Renamed\" }) {
                id name } }",
            json!({ "list": list }),
        ),
        Op::Reposition => (
            "mutation($list: ID!, $p: String!) { updateList(id: $list, input: { position: $p }) {
                id position version } }",
            json!({ "list": list, "p": key_between(None, Some("a0")) }),
        ),
        Op::DeleteList => (
            "mutation($list: ID!) { deleteList(id: $list) }",
            json!({ "list": list }),
        ),
        Op::Invite => (
            "mutation($list: ID!, $email: String!) {
                inviteToList(listId: $list, email: $email, role: VIEWER) { id email role } }",
            json!({ "list": list, "email": unique_email("invited") }),
        ),
        Op::ChangeRole => (
            "mutation($list: ID!, $user: ID!) {
                changeMemberRole(listId: $list, userId: $user, role: EDITOR) { role user { id } } }",
            json!({ "list": list, "user": cast.tess.id }),
        ),
        Op::RemoveOther => (
            "mutation($list: ID!, $user: ID!) { removeMember(listId: $list, userId: $user) }",
            json!({ "list": list, "user": cast.tess.id }),
        ),
        Op::Leave => (
            "mutation($list: ID!, $user: ID!) { removeMember(listId: $list, userId: $user) }",
            json!({ "list": list, "user": actor.id }),
        ),
        Op::Transfer => (
            "mutation($list: ID!, $user: ID!) { transferList(listId: $list, userId: $user) {
                id role owner { id } } }",
            json!({ "list": list, "user": cast.tess.id }),
        ),
        Op::PendingInvitations => (
            "query($list: ID!) { list(id: $list) { pendingInvitations { id email role } } }",
            json!({ "list": list }),
        ),
    };
    app.gql_as(actor, query, variables).await
}

/// Whether `op` is a query (a missing list reads as null, not NOT_FOUND).
fn is_read(op: Op) -> bool {
    matches!(op, Op::ReadList | Op::ReadTodos | Op::PendingInvitations)
}

/// Checks what a successful `op` answered and did; `None` when right.
async fn check_done(
    app: &TestApp,
    cast: &Cast,
    fx: &Fixture,
    op: Op,
    role: Role,
    data: &Value,
) -> Option<String> {
    let list = fx.list.as_str();
    let role_name = match role {
        Role::Owner => "OWNER",
        Role::Editor => "EDITOR",
        _ => "VIEWER",
    };
    let expect = |ok: bool, what: &str| (!ok).then(|| format!("{what}: {data}"));
    match op {
        Op::ReadList => expect(
            data["list"]["id"] == list && data["list"]["role"] == role_name,
            "list(id) with the caller's role",
        ),
        Op::ReadTodos => expect(
            data["list"]["todos"]["nodes"].as_array().map(Vec::len) == Some(3)
                && data["todo"]["id"] == fx.a.as_str(),
            "the list's three todos and todo(id)",
        ),
        Op::CreateTodo => expect(
            data["createTodo"]["list"]["id"] == list,
            "created in the list",
        ),
        Op::UpdateTodo => expect(data["updateTodo"]["title"] == "renamed by role", "renamed"),
        Op::DeleteTodo => expect(data["deleteTodo"] == fx.c.as_str(), "deleted c"),
        Op::MoveTodo => {
            let first = app.list_todo_ids(&fx.owner, list).await;
            expect(first.first() == Some(&fx.a), "a moved first")
        }
        Op::ToggleAll => expect(data["toggleAllTodos"] == 2, "a and c completed"),
        Op::ClearCompleted => {
            let left = app.list_todo_ids(&fx.owner, list).await;
            expect(
                data["clearCompletedTodos"] == 1 && !left.contains(&fx.b),
                "b cleared",
            )
        }
        Op::Rename => expect(data["updateList"]["name"] == "Renamed", "renamed"),
        Op::Reposition => expect(
            data["updateList"]["position"] == key_between(None, Some("a0")).as_str(),
            "the caller's position",
        ),
        Op::DeleteList => {
            let gone = app.get_list(&fx.owner, list).await.is_null();
            expect(data["deleteList"] == list && gone, "deleted")
        }
        Op::Invite => expect(data["inviteToList"]["role"] == "VIEWER", "invited"),
        Op::ChangeRole => expect(
            data["changeMemberRole"]["role"] == "EDITOR"
                && data["changeMemberRole"]["user"]["id"] == cast.tess.id.as_str(),
            "tess made EDITOR",
        ),
        Op::RemoveOther => {
            let gone = app.get_list(&cast.tess, list).await.is_null();
            expect(data["removeMember"] == true && gone, "tess removed")
        }
        Op::Leave => {
            let gone = app.get_list(cast.actor(fx, role), list).await.is_null();
            expect(data["removeMember"] == true && gone, "left")
        }
        Op::Transfer => expect(
            data["transferList"]["owner"]["id"] == cast.tess.id.as_str()
                && data["transferList"]["role"] == "EDITOR",
            "tess owns it, the previous owner is EDITOR",
        ),
        Op::PendingInvitations => {
            let pending = data["list"]["pendingInvitations"].as_array().map(Vec::len);
            let expected = if role == Role::Owner { 1 } else { 0 };
            expect(
                pending == Some(expected),
                "pending invitations for the owner only",
            )
        }
    }
}

#[tokio::test]
async fn every_operation_by_every_role() {
    let app = TestApp::spawn_with(&[ROOMY]).await;
    let cast = Cast {
        ed: app.register("ed").await,
        vic: app.register("vic").await,
        tess: app.register("tess").await,
        nora: app.register("nora").await,
    };
    let mut failures: Vec<String> = Vec::new();
    let mut made = 0;
    let mut current: Option<Fixture> = None;
    for (op, outcomes) in TABLE {
        for (role, expected) in ROLES.iter().zip(outcomes) {
            let fx = match current.take() {
                Some(fx) => fx,
                None => {
                    made += 1;
                    fixture(&app, &cast, made).await
                }
            };
            let actor = cast.actor(&fx, *role);
            let before = snapshot(&app, &fx.owner, &fx.list).await;
            let body = run(&app, &cast, &fx, *op, actor).await;
            let case = format!("{op:?} as {role}");
            let failed = body["errors"].is_array();
            match (expected, failed) {
                (Done, false) => {
                    if let Some(why) = check_done(&app, &cast, &fx, *op, *role, &body["data"]).await
                    {
                        failures.push(format!("{case}: {why}"));
                    }
                    // Ordering one's own sidebar is seen by no one else.
                    if matches!(op, Op::Reposition) && *role != Role::Owner {
                        let after = snapshot(&app, &fx.owner, &fx.list).await;
                        if after != before {
                            failures.push(format!("{case}: the owner's view changed"));
                        }
                    }
                }
                (Done, true) => failures.push(format!("{case}: expected success, got {body}")),
                (Missing, _) if is_read(*op) => {
                    if failed || !body["data"]["list"].is_null() || !body["data"]["todo"].is_null()
                    {
                        failures.push(format!("{case}: expected null without error, got {body}"));
                    }
                }
                (Missing | Refused(_), _) => {
                    let code: &str = match expected {
                        Refused(code) => code,
                        _ => "NOT_FOUND",
                    };
                    let got = body["errors"][0]["extensions"]["code"].as_str();
                    if got != Some(code) || !body["data"].is_null() {
                        failures.push(format!("{case}: expected {code}, got {body}"));
                    }
                }
            }
            // A refusal, and a read, change nothing: keep the fixture.
            let unchanged = failed || is_read(*op);
            if unchanged {
                let after = snapshot(&app, &fx.owner, &fx.list).await;
                if after != before {
                    failures.push(format!(
                        "{case}: the list changed although nothing was done:\n{before}\n{after}"
                    ));
                } else {
                    current = Some(fx);
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from the contract:\n{}",
        failures.len(),
        TABLE.len() * ROLES.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn a_non_member_is_told_not_found_even_for_owner_only_operations() {
    // The same answer whether the list exists or not: nothing tells a
    // stranger that an id names a list.
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let nora = app.register("nora").await;
    let list = app.create_list_id(&alice, "Secret").await;
    let todo = app.create_todo_in(&alice, &list, "secret todo").await;
    let nowhere = uuid::Uuid::now_v7().to_string();
    for id in [list.as_str(), nowhere.as_str()] {
        for body in [
            app.delete_list(&nora, id).await,
            app.invite(&nora, id, &unique_email("x"), "EDITOR").await,
            app.remove_member(&nora, id, &alice.id).await,
            app.transfer_list(&nora, id, &nora.id).await,
            app.update_list(&nora, id, json!({ "name": "mine" })).await,
            app.change_member_role(&nora, id, &alice.id, "VIEWER").await,
            app.try_create_todo_in(&nora, id, "intruder").await,
        ] {
            assert_eq!(error_code(&body), "NOT_FOUND", "{id}: {body}");
        }
    }
    let body = app
        .move_todo(
            &nora,
            &todo,
            json!({ "listId": app.default_list_id(&nora).await }),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND", "{body}");
    assert_eq!(app.list_todo_ids(&alice, &list).await, [todo.as_str()]);
    assert_eq!(id_of(&app.get_list(&alice, &list).await), list);
}
