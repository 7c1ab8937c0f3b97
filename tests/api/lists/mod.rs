//! Todo lists, sharing with roles and manual order, black-box from
//! `contract/lists.graphql`: GraphQL over HTTP and `graphql-transport-ws`
//! as clients speak it, SQL only to set up states the API would take long
//! to reach (limits, expiry) and to check the migration.
//!
//! One file per concern: [`queries`] (lists, a list's fields and todos in
//! every order, the new todo fields), [`compat`] (a client that knows
//! nothing of lists), [`roles`] (the role × operation table), [`state`]
//! (refusals from a list's state, versions, names), [`moves`] (`moveTodo`),
//! [`isolation`] (non-members and removed members), [`events`] and
//! [`membership_events`] (`changes` and `todoEvents` over WebSocket),
//! [`instances`] (two instances, the read cache), [`invitations`],
//! [`limits`], [`loader`] (statements per page) and [`migration`] (the
//! lists migration on old data, up and down). The helpers they share are
//! here; request helpers are in `support/lists.rs`.
//!
//! Where the contract is silent, a test states what a client would expect
//! and says so in a `contract-silent:` comment.

mod compat;
mod events;
mod instances;
mod invitations;
mod isolation;
mod limits;
mod loader;
mod membership_events;
mod migration;
mod moves;
mod queries;
mod roles;
mod shared_feeds;
mod state;

use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use crate::support::{
    TestApp, TestUser, error_code,
    ws_client::{WAIT, WsClient},
};

/// A complexity budget no test of this module reaches: some read whole
/// lists many times a minute, which the per-user budget is not about.
const ROOMY: (&str, &str) = ("USER_BUDGET_PER_MINUTE", "100000000");

/// Every change of every list, with what the tests look at.
const CHANGES: &str = "subscription($after: String) { changes(after: $after) { __typename
    ... on TodoEvent { cursor kind todoId listId occurredAt
        todo { id title completed version position } }
    ... on ListEvent { cursor action listId occurredAt
        list { id name role isDefault version } } } }";

/// `todoEvents` as a list-aware client asks for it.
const TODO_EVENTS: &str = "subscription($after: String, $all: Boolean) {
    todoEvents(after: $after, allLists: $all) { __typename cursor kind todoId listId occurredAt
        todo { id title completed version position } } }";

/// `todoEvents` exactly as a client written against `schema.graphql` asks
/// for it.
const PLAIN_EVENTS: &str = "subscription($after: String) { todoEvents(after: $after) {
    cursor kind todoId occurredAt todo { id title completed version } } }";

/// Asserts that `body` failed with `code` and carries no data.
fn assert_refused(body: &Value, code: &str, what: &str) {
    assert_eq!(error_code(body), code, "{what}: {body}");
    assert!(
        body["data"].is_null()
            || body["data"]
                .as_object()
                .is_some_and(|d| d.values().all(Value::is_null)),
        "{what}: data despite the error: {body}"
    );
}

/// Asserts that `body` succeeded; returns its `data`.
fn assert_ok(body: &Value, what: &str) -> Value {
    assert!(body["errors"].is_null(), "{what}: {body}");
    body["data"].clone()
}

/// Everything the owner can see of a list, members and invitations sorted,
/// to compare before and after a refused operation.
async fn snapshot(app: &TestApp, owner: &TestUser, list: &str) -> Value {
    let mut data = app
        .data_as(
            owner,
            "query($id: ID!) { list(id: $id) { id name isDefault role position version updatedAt
                owner { id } members { role user { id } }
                pendingInvitations { id email role }
                todoCounts { total active completed }
                todos(first: 50) { totalCount nodes { id title description completed version position
                    updatedAt } } } }",
            json!({ "id": list }),
        )
        .await;
    let list = &mut data["list"];
    for field in ["members", "pendingInvitations"] {
        if let Some(items) = list[field].as_array_mut() {
            items.sort_by_key(Value::to_string);
        }
    }
    data
}

// --- Subscriptions ------------------------------------------------------------

/// One subscription on a socket of its own, as a client holds it.
struct Feed {
    client: WsClient,
    /// The operation id.
    id: &'static str,
}

impl Feed {
    /// Subscribes `user` on `app` with `query`. Without `after` in
    /// `variables`, waits until the subscription is live (see
    /// [`Feed::open_all`]); with it, the replay fixes the starting point.
    async fn open(app: &TestApp, user: &TestUser, query: &str, variables: Value) -> Self {
        if variables.get("after").is_some_and(|a| !a.is_null()) {
            let mut client = WsClient::ready(app, user).await;
            client.subscribe("s", query, variables).await;
            return Self { client, id: "s" };
        }
        let mut feeds = Self::open_all(app, user, &[(query, variables)]).await;
        feeds.pop().unwrap()
    }

    /// Several subscriptions of `user`, each on its own socket, all live on
    /// return. A write racing `subscribe` may come before a subscription's
    /// starting point, so this creates marker todos in `user`'s default
    /// list until every feed has seen one, then deletes them and consumes
    /// their events on every feed. Afterwards every change reaches every
    /// feed, and the user's todos are as before.
    async fn open_all(app: &TestApp, user: &TestUser, specs: &[(&str, Value)]) -> Vec<Self> {
        let mut feeds = Vec::new();
        for (query, variables) in specs {
            let mut client = WsClient::ready(app, user).await;
            client.subscribe("s", query, variables.clone()).await;
            feeds.push(Self { client, id: "s" });
        }
        let mut markers: Vec<String> = Vec::new();
        let mut seen: Vec<Option<String>> = vec![None; feeds.len()];
        while seen.iter().any(Option::is_none) {
            assert!(markers.len() < 40, "a subscription never went live");
            let title = format!("sync marker {}", markers.len());
            markers.push(app.create_todo_titled(user, &title).await);
            for (feed, seen) in feeds.iter_mut().zip(seen.iter_mut()) {
                if seen.is_none()
                    && let Some(event) = feed.next_within(Duration::from_millis(300)).await
                {
                    assert_eq!(event["kind"], "CREATED", "{event}");
                    *seen = Some(event["todoId"].as_str().unwrap().to_owned());
                }
            }
        }
        let last = markers.last().unwrap().clone();
        for (feed, seen) in feeds.iter_mut().zip(seen) {
            let mut seen = seen.unwrap();
            while seen != last {
                assert!(markers.contains(&seen), "not a marker: {seen}");
                let event = feed.next().await;
                seen = event["todoId"].as_str().unwrap().to_owned();
            }
        }
        for marker in &markers {
            app.delete_todo_ok(user, marker).await;
        }
        for feed in &mut feeds {
            for marker in &markers {
                feed.expect_deleted(marker).await;
            }
        }
        feeds
    }

    /// `changes` from now.
    async fn changes(app: &TestApp, user: &TestUser) -> Self {
        Self::open(app, user, CHANGES, json!({})).await
    }

    /// The next event within `wait`, whichever root field carries it.
    async fn next_within(&mut self, wait: Duration) -> Option<Value> {
        let message = self.client.recv_within(wait).await?;
        assert_eq!(message["type"], "next", "{message}");
        assert_eq!(message["id"], self.id, "{message}");
        assert!(message["payload"]["errors"].is_null(), "{message}");
        let data = message["payload"]["data"].as_object().unwrap();
        assert_eq!(data.len(), 1, "{message}");
        let event = data.values().next().unwrap().clone();
        assert!(event.is_object(), "not an event: {message}");
        Some(event)
    }

    /// The next event.
    async fn next(&mut self) -> Value {
        self.next_within(WAIT)
            .await
            .unwrap_or_else(|| panic!("no event within {WAIT:?}"))
    }

    /// The next `n` events.
    async fn take(&mut self, n: usize) -> Vec<Value> {
        let mut events = Vec::with_capacity(n);
        for _ in 0..n {
            events.push(self.next().await);
        }
        events
    }

    /// The events before `marker`'s CREATED, which is consumed.
    async fn until_created(&mut self, marker: &str) -> Vec<Value> {
        let mut before = Vec::new();
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(event) = self.next_within(left).await else {
                panic!("marker {marker} never arrived; before it: {before:#?}");
            };
            if event["todoId"] == marker && event["kind"] == "CREATED" {
                return before;
            }
            before.push(event);
        }
    }

    /// Expects `marker`'s DELETED next.
    async fn expect_deleted(&mut self, marker: &str) {
        let event = self.next().await;
        assert_eq!(
            (&event["kind"], &event["todoId"]),
            (&json!("DELETED"), &json!(marker)),
            "{event}"
        );
    }

    /// Every event that arrives before a marker todo `user` creates in its
    /// default list now (so every change committed before this call); the
    /// marker is deleted again and its events consumed. `user` must be the
    /// feed's user, and have no other feed open (see [`fence_all`]).
    async fn fence(&mut self, app: &TestApp, user: &TestUser) -> Vec<Value> {
        fence_all(app, user, &mut [self]).await.pop().unwrap()
    }

    /// Stops the subscription and closes the socket.
    async fn close(self) {
        self.client.close().await;
    }
}

/// [`Feed::fence`] for every feed of `user` at once, with one marker.
async fn fence_all(app: &TestApp, user: &TestUser, feeds: &mut [&mut Feed]) -> Vec<Vec<Value>> {
    let marker = app.create_todo_titled(user, "fence marker").await;
    let mut before = Vec::new();
    for feed in feeds.iter_mut() {
        before.push(feed.until_created(&marker).await);
    }
    app.delete_todo_ok(user, &marker).await;
    for feed in feeds.iter_mut() {
        feed.expect_deleted(&marker).await;
    }
    before
}

/// `(kind or action, todoId or listId)` of each event.
fn summary(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| {
            if e["__typename"] == "ListEvent" {
                (
                    format!("LIST {}", e["action"].as_str().unwrap()),
                    e["listId"].as_str().unwrap().to_owned(),
                )
            } else {
                (
                    e["kind"].as_str().unwrap().to_owned(),
                    e["todoId"].as_str().unwrap().to_owned(),
                )
            }
        })
        .collect()
}

/// The expected summary entry of a todo event.
fn todo_event(kind: &str, todo: &str) -> (String, String) {
    (kind.to_owned(), todo.to_owned())
}

/// The expected summary entry of a list event.
fn list_event(action: &str, list: &str) -> (String, String) {
    (format!("LIST {action}"), list.to_owned())
}

/// The events without `occurredAt`.
fn without_time(events: &[Value]) -> Vec<Value> {
    events
        .iter()
        .map(|e| {
            let mut e = e.clone();
            e.as_object_mut().unwrap().remove("occurredAt");
            e
        })
        .collect()
}
