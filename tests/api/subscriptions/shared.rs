//! Shared runs (`graphql::shared`): sockets of one user subscribing with
//! the same document and variables share one execution, and each still
//! sees exactly what a private subscription would: every event once and in
//! order, in its own framing and under its own id; nothing of another
//! document, variables or user; nothing from before it joined; its own
//! end (complete, disconnect, falling behind) affecting nobody else; the
//! run stopping with its last member.

use std::{collections::HashSet, time::Duration};

use serde_json::{Value, json};
use tokio::time::Instant;

use super::{
    BIG_EVENTS, EVENTS, assert_distinct_cursors, big_todos, event_for, expect, next_event,
    next_events, slow_subscriber, summary,
};
use crate::support::{
    TestApp, TestUser, error_code,
    ws_client::{LEGACY_WS, TRANSPORT_WS, WAIT, WsClient},
};

/// One subscribed operation on a socket.
struct Sub {
    client: WsClient,
    id: String,
}

impl Sub {
    /// A socket of `user` with `protocol`, subscribed to `query` as `id`.
    async fn open(
        app: &TestApp,
        user: &TestUser,
        protocol: &'static str,
        id: &str,
        query: &str,
        variables: Value,
    ) -> Self {
        let mut client = WsClient::connect(app, protocol).await;
        client.init(&user.access_token).await;
        client.subscribe(id, query, variables).await;
        Self {
            client,
            id: id.to_owned(),
        }
    }

    /// Asserts nothing arrives for this socket (a barrier on
    /// `graphql-transport-ws`, a short silence on the legacy protocol).
    async fn assert_nothing(&mut self) {
        if self.client.protocol.as_deref() == Some(LEGACY_WS) {
            self.client.assert_silent(Duration::from_millis(300)).await;
        } else {
            assert_eq!(self.client.barrier().await, Vec::<Value>::new());
        }
    }
}

/// Makes every subscription in `subs` (all `todoEvents` of `user`) live,
/// as `super::sync` does for one: marker todos until each has seen one,
/// then the markers deleted and their events consumed everywhere.
async fn live(app: &TestApp, user: &TestUser, subs: &mut [&mut Sub]) {
    let mut markers: Vec<String> = Vec::new();
    let mut seen: Vec<Option<String>> = vec![None; subs.len()];
    while seen.iter().any(Option::is_none) {
        assert!(markers.len() < 40, "a subscription never went live");
        let title = format!("shared marker {}", markers.len());
        markers.push(app.create_todo_titled(user, &title).await);
        for (sub, seen) in subs.iter_mut().zip(seen.iter_mut()) {
            if seen.is_none()
                && let Some(event) =
                    event_for(&mut sub.client, &sub.id, Duration::from_millis(300)).await
            {
                assert_eq!(event["kind"], "CREATED", "{event}");
                *seen = Some(event["todoId"].as_str().unwrap().to_owned());
            }
        }
    }
    let last = markers.last().unwrap().clone();
    for (sub, seen) in subs.iter_mut().zip(seen) {
        let mut seen = seen.unwrap();
        while seen != last {
            assert!(markers.contains(&seen), "not a marker: {seen}");
            let event = event_for(&mut sub.client, &sub.id, WAIT).await.unwrap();
            seen = event["todoId"].as_str().unwrap().to_owned();
        }
    }
    for marker in &markers {
        app.delete_todo_ok(user, marker).await;
    }
    for sub in subs.iter_mut() {
        for marker in &markers {
            let event = event_for(&mut sub.client, &sub.id, WAIT).await.unwrap();
            assert_eq!(event["kind"], "DELETED", "{event}");
            assert_eq!(event["todoId"], marker.as_str(), "{event}");
        }
    }
}

/// Waits (up to [`WAIT`]) until `app` has `n` shared runs.
async fn runs_become(app: &TestApp, n: usize) {
    let deadline = Instant::now() + WAIT;
    while app.state.shared.running() != n {
        assert!(
            Instant::now() < deadline,
            "{} shared runs, expected {n}",
            app.state.shared.running()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn sockets_of_one_user_share_one_run_and_each_gets_every_event_once_in_order() {
    let app = TestApp::spawn().await;
    let user = app.register("shared").await;
    let mut subs = Vec::new();
    for (i, protocol) in [TRANSPORT_WS, LEGACY_WS, TRANSPORT_WS, LEGACY_WS]
        .into_iter()
        .enumerate()
    {
        // Ids differ per socket, and two sockets use the same one.
        let id = if i == 3 {
            "s0".to_owned()
        } else {
            format!("s{i}")
        };
        subs.push(Sub::open(&app, &user, protocol, &id, EVENTS, json!({})).await);
    }
    live(&app, &user, &mut subs.iter_mut().collect::<Vec<_>>()).await;
    assert_eq!(app.state.shared.running(), 1, "one run for four sockets");

    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(app.create_todo_titled(&user, &format!("t{i}")).await);
    }
    let toggled = app.toggle_all(&user, true).await;
    assert_eq!(toggled, 5);
    for sub in &mut subs {
        // `next_event` checks the framing: `next` or legacy `data`, this
        // socket's id, no errors.
        let events = next_events(&mut sub.client, &sub.id, 10).await;
        let created: Vec<&String> = ids.iter().collect();
        assert_eq!(summary(&events[..5]), expect("CREATED", &created));
        let mut updated: Vec<String> = summary(&events[5..])
            .into_iter()
            .map(|(kind, id)| {
                assert_eq!(kind, "UPDATED");
                id
            })
            .collect();
        updated.sort();
        let mut all = ids.clone();
        all.sort();
        assert_eq!(updated, all, "one event per todo of the bulk change");
        assert_distinct_cursors(&events);
        sub.assert_nothing().await;
    }
}

#[tokio::test]
async fn other_documents_variables_and_users_are_not_mixed() {
    const ALL: &str = "subscription($all: Boolean) { todoEvents(allLists: $all) { kind todoId } }";
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let mut default = Sub::open(
        &app,
        &alice,
        TRANSPORT_WS,
        "d",
        ALL,
        json!({ "all": false }),
    )
    .await;
    let mut every = Sub::open(&app, &alice, TRANSPORT_WS, "e", ALL, json!({ "all": true })).await;
    let mut plain = Sub::open(&app, &alice, TRANSPORT_WS, "p", EVENTS, json!({})).await;
    let mut bobs = Sub::open(&app, &bob, TRANSPORT_WS, "d", ALL, json!({ "all": false })).await;
    live(&app, &alice, &mut [&mut default, &mut every, &mut plain]).await;
    live(&app, &bob, &mut [&mut bobs]).await;
    assert_eq!(
        app.state.shared.running(),
        4,
        "a run per distinct subscription"
    );

    let list = app.create_list_id(&alice, "Elsewhere").await;
    let elsewhere = app.create_todo_in(&alice, &list, "elsewhere").await;
    let event = next_event(&mut every.client, "e").await;
    assert_eq!(event, json!({ "kind": "CREATED", "todoId": elsewhere }));
    let here = app.create_todo_titled(&alice, "here").await;
    for sub in [&mut default, &mut every, &mut plain] {
        let event = next_event(&mut sub.client, &sub.id).await;
        assert_eq!(event["kind"], "CREATED");
        assert_eq!(event["todoId"], here.as_str(), "{}: {event}", sub.id);
        sub.assert_nothing().await;
    }
    assert!(plain_has_the_full_selection(&mut plain, &app, &alice).await);
    bobs.assert_nothing().await;
}

/// The `EVENTS` subscriber gets its own (larger) selection, not the one of
/// the `allLists` documents.
async fn plain_has_the_full_selection(sub: &mut Sub, app: &TestApp, user: &TestUser) -> bool {
    let id = app.create_todo_titled(user, "selection").await;
    let event = next_event(&mut sub.client, &sub.id).await;
    event["todoId"] == id.as_str() && event["todo"]["title"] == "selection"
}

#[tokio::test]
async fn a_late_follower_gets_only_later_events() {
    let app = TestApp::spawn().await;
    let user = app.register("late").await;
    let mut first = Sub::open(&app, &user, TRANSPORT_WS, "a", EVENTS, json!({})).await;
    live(&app, &user, &mut [&mut first]).await;
    let before = app.create_todo_titled(&user, "before").await;
    assert_eq!(
        next_event(&mut first.client, "a").await["todoId"],
        before.as_str()
    );

    let mut late = Sub::open(&app, &user, LEGACY_WS, "b", EVENTS, json!({})).await;
    live(&app, &user, &mut [&mut first, &mut late]).await;
    assert_eq!(app.state.shared.running(), 1, "the late one joined the run");
    let after = app.create_todo_titled(&user, "after").await;
    for sub in [&mut first, &mut late] {
        let event = next_event(&mut sub.client, &sub.id).await;
        assert_eq!(event["todoId"], after.as_str(), "{}: {event}", sub.id);
        sub.assert_nothing().await;
    }
}

#[tokio::test]
async fn followers_leave_alone_and_the_last_one_stops_the_run() {
    let app = TestApp::spawn().await;
    let user = app.register("leaving").await;
    let mut a = Sub::open(&app, &user, TRANSPORT_WS, "a", EVENTS, json!({})).await;
    let mut b = Sub::open(&app, &user, TRANSPORT_WS, "b", EVENTS, json!({})).await;
    let mut c = Sub::open(&app, &user, LEGACY_WS, "c", EVENTS, json!({})).await;
    live(&app, &user, &mut [&mut a, &mut b, &mut c]).await;
    assert_eq!(app.state.shared.running(), 1);

    // One completes, one disconnects: the third goes on.
    a.client.complete("a").await;
    assert_eq!(a.client.barrier().await, Vec::<Value>::new());
    b.client.close().await;
    let todo = app.create_todo_titled(&user, "still here").await;
    assert_eq!(
        next_event(&mut c.client, "c").await["todoId"],
        todo.as_str()
    );
    a.assert_nothing().await;
    assert_eq!(app.state.shared.running(), 1);

    // The last one leaves: the run stops.
    c.client.complete("c").await;
    runs_become(&app, 0).await;
    c.assert_nothing().await;

    // A new subscriber starts a new run, which works.
    a.client.subscribe("a2", EVENTS, json!({})).await;
    a.id = "a2".into();
    live(&app, &user, &mut [&mut a]).await;
    assert_eq!(app.state.shared.running(), 1);
    let todo = app.create_todo_titled(&user, "new run").await;
    assert_eq!(
        next_event(&mut a.client, "a2").await["todoId"],
        todo.as_str()
    );
    a.client.close().await;
    c.client.close().await;
    runs_become(&app, 0).await;
}

#[tokio::test]
async fn an_invalid_document_is_an_error_for_every_subscriber() {
    let app = TestApp::spawn().await;
    let user = app.register("invalid").await;
    let invalid = "subscription { todoEvents { nope } }";
    let mut a = Sub::open(&app, &user, TRANSPORT_WS, "a", invalid, json!({})).await;
    let mut b = Sub::open(&app, &user, LEGACY_WS, "b", invalid, json!({})).await;
    for sub in [&mut a, &mut b] {
        let message = sub.client.recv().await;
        assert_eq!(message["type"], "error", "{message}");
        assert_eq!(message["id"], sub.id.as_str(), "{message}");
        sub.assert_nothing().await;
    }
    runs_become(&app, 0).await;
}

/// Like `termination::a_slow_consumer_ends_with_a_resumable_error`, with a
/// second socket in the same run that keeps reading: the slow one falls
/// behind the run's buffer (`SUBSCRIPTION_BUFFER` batches) and is told
/// where to resume; the fast one gets every event.
#[tokio::test]
async fn a_slow_follower_ends_with_a_resumable_error_and_the_others_go_on() {
    const TODOS: usize = 100;
    const ROUNDS: usize = 20;
    let app = TestApp::spawn_with(&[("SUBSCRIPTION_BUFFER", "2")]).await;
    let user = app.register("slowfollower").await;
    big_todos(&app, &user, TODOS).await;
    let mut slow = Sub {
        client: slow_subscriber(&app, &user).await,
        id: "s".into(),
    };
    let mut fast = Sub::open(&app, &user, TRANSPORT_WS, "f", BIG_EVENTS, json!({})).await;
    live(&app, &user, &mut [&mut slow, &mut fast]).await;
    assert_eq!(app.state.shared.running(), 1);

    // The fast one reads each round before the next; the slow one reads
    // nothing.
    for round in 0..ROUNDS {
        assert_eq!(app.toggle_all(&user, round % 2 == 0).await, TODOS as i64);
        let events = next_events(&mut fast.client, "f", TODOS).await;
        assert!(
            events
                .iter()
                .all(|e| e["todo"]["completed"] == (round % 2 == 0))
        );
    }
    assert_eq!(fast.client.barrier().await, Vec::<Value>::new());

    let mut received: Vec<Value> = Vec::new();
    let resume_from = loop {
        assert!(
            received.len() < TODOS * ROUNDS,
            "all events arrived without SLOW_CONSUMER"
        );
        let message = slow.client.recv().await;
        assert_eq!(message["id"], "s", "{message}");
        assert_eq!(message["type"], "next", "{message}");
        if message["payload"]["errors"].is_null() {
            received.push(message["payload"]["data"]["todoEvents"].clone());
            continue;
        }
        assert_eq!(
            error_code(&message["payload"]),
            "SLOW_CONSUMER",
            "{message}"
        );
        assert_eq!(
            message["payload"]["errors"][0]["path"],
            json!(["todoEvents"])
        );
        break message["payload"]["errors"][0]["extensions"]["cursor"].clone();
    };
    slow.client.expect_complete("s").await;
    if let Some(last) = received.last() {
        assert_eq!(
            last["cursor"], resume_from,
            "resume after the last one handed over"
        );
    }
    // The fast one is still subscribed, alone in the run.
    assert_eq!(app.state.shared.running(), 1);

    slow.client
        .subscribe("r", BIG_EVENTS, json!({ "after": resume_from }))
        .await;
    while received.len() < TODOS * ROUNDS {
        received.push(next_event(&mut slow.client, "r").await);
    }
    assert_eq!(slow.client.barrier().await, Vec::<Value>::new());
    assert_distinct_cursors(&received);
    let per_round: Vec<HashSet<String>> = received
        .chunks(TODOS)
        .map(|batch| {
            batch
                .iter()
                .map(|e| e["todoId"].as_str().unwrap().to_owned())
                .collect()
        })
        .collect();
    assert!(per_round.iter().all(|ids| ids.len() == TODOS));
}
