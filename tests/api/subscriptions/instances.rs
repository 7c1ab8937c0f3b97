//! Events across instances and outages: two instances sharing Redis,
//! resumption after a cursor, and a Redis restart.

use std::{collections::HashSet, time::Duration};

use serde_json::{Value, json};
use tokio::time::Instant;

use super::{
    EVENTS, assert_distinct_cursors, expect, next_event, next_events, subscribed, summary, sync,
    without_time,
};
use crate::support::{OwnedRedis, TestApp, shared_prefix, ws_client::WsClient};

// --- 5. Two instances --------------------------------------------------------

#[tokio::test]
async fn events_cross_instances_through_redis() {
    assert!(
        crate::support::redis_url().is_some(),
        "TEST_REDIS_URL is not set: run ./scripts/test.sh"
    );
    let prefix = shared_prefix();
    let extra = [("REDIS_KEY_PREFIX", prefix.as_str())];
    let one = TestApp::spawn_with(&extra).await;
    let two = TestApp::spawn_on(one.database_url.clone(), &extra).await;
    let user = two.register("cross").await;

    let mut client = WsClient::ready(&one, &user).await;
    client.subscribe("s", EVENTS, json!({})).await;
    sync(&mut client, "s", &two, &user).await;

    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            two.create_todo_titled(&user, &format!("from two {i}"))
                .await,
        );
    }
    assert_eq!(two.toggle_all(&user, true).await, 5);
    two.delete_todo_ok(&user, &ids[2]).await;

    let events = next_events(&mut client, "s", 11).await;
    let kinds = summary(&events);
    let refs: Vec<&String> = ids.iter().collect();
    assert_eq!(kinds[..5], expect("CREATED", &refs)[..]);
    let mut toggled: Vec<String> = kinds[5..10].iter().map(|(_, id)| id.clone()).collect();
    toggled.sort();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(toggled, sorted);
    assert!(events[5..10].iter().all(|e| e["todo"]["completed"] == true));
    assert_eq!(kinds[10], ("DELETED".to_owned(), ids[2].clone()));
    assert_distinct_cursors(&events);
    // Each exactly once (the local and Redis copies are merged).
    client.assert_silent(Duration::from_millis(500)).await;

    // An instance on another Redis prefix is not heard live; the next
    // event that is heard reveals the gap, which is filled from PostgreSQL.
    let three = TestApp::spawn_on(one.database_url.clone(), &[]).await;
    let unheard = three.create_todo_titled(&user, "from three").await;
    client.assert_silent(Duration::from_millis(500)).await;
    let heard = two.create_todo_titled(&user, "from two again").await;
    let events = next_events(&mut client, "s", 2).await;
    assert_eq!(summary(&events), expect("CREATED", &[&unheard, &heard]));
    client.assert_silent(Duration::from_millis(300)).await;
}

/// Concurrent writers on two instances: every event arrives once, and the
/// live order is the commit (cursor) order that a replay reproduces.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_on_two_instances_arrive_once_in_commit_order() {
    const WRITES: usize = 40;
    let prefix = shared_prefix();
    let extra = [("REDIS_KEY_PREFIX", prefix.as_str())];
    let one = TestApp::spawn_with(&extra).await;
    let two = TestApp::spawn_on(one.database_url.clone(), &extra).await;
    let user = one.register("concurrent").await;
    let mut client = WsClient::ready(&one, &user).await;
    client.subscribe("s", EVENTS, json!({})).await;
    sync(&mut client, "s", &two, &user).await;
    let anchor = one.create_todo_titled(&user, "anchor").await;
    let anchor_event = next_event(&mut client, "s").await;
    assert_eq!(anchor_event["todoId"], anchor.as_str());

    let writes = (0..WRITES).map(|i| {
        let app = if i % 2 == 0 { &one } else { &two };
        let user = &user;
        async move {
            app.create_todo_titled(user, &format!("concurrent {i}"))
                .await
        }
    });
    let created: HashSet<String> = futures_util::future::join_all(writes)
        .await
        .into_iter()
        .collect();
    assert_eq!(created.len(), WRITES);

    let live = next_events(&mut client, "s", WRITES).await;
    let live_ids: HashSet<String> = summary(&live)
        .into_iter()
        .map(|(kind, id)| {
            assert_eq!(kind, "CREATED");
            id
        })
        .collect();
    assert_eq!(live_ids, created);
    assert_distinct_cursors(&live);
    client.assert_silent(Duration::from_millis(500)).await;

    client
        .subscribe("replay", EVENTS, json!({ "after": anchor_event["cursor"] }))
        .await;
    let replayed = next_events(&mut client, "replay", WRITES).await;
    assert_eq!(without_time(&replayed), without_time(&live));
}

// --- 6. Resumption -----------------------------------------------------------

#[tokio::test]
async fn resuming_after_a_cursor_replays_exactly_the_missed_events() {
    let app = TestApp::spawn().await;
    let user = app.register("resume").await;
    let mut client = subscribed(&app, &user, "s").await;
    let first = app.create_todo_titled(&user, "first").await;
    let second = app.create_todo_titled(&user, "second").await;
    let seen = next_events(&mut client, "s", 2).await;
    assert_eq!(summary(&seen), expect("CREATED", &[&first, &second]));
    client.close().await;

    let missed_a = app.create_todo_titled(&user, "missed a").await;
    let missed_b = app.create_todo_titled(&user, "missed b").await;
    app.delete_todo_ok(&user, &first).await;

    let mut client = WsClient::ready(&app, &user).await;
    client
        .subscribe("s", EVENTS, json!({ "after": seen[1]["cursor"] }))
        .await;
    let replayed = next_events(&mut client, "s", 3).await;
    assert_eq!(
        summary(&replayed),
        vec![
            ("CREATED".to_owned(), missed_a.clone()),
            ("CREATED".to_owned(), missed_b.clone()),
            ("DELETED".to_owned(), first.clone()),
        ]
    );
    assert_eq!(replayed[0]["todo"]["title"], "missed a");
    // Then live events, with no duplicate of the replayed ones.
    let live = app.create_todo_titled(&user, "live").await;
    let next = next_events(&mut client, "s", 1).await;
    assert_eq!(summary(&next), expect("CREATED", &[&live]));
    let mut all = seen.clone();
    all.extend(replayed);
    all.extend(next);
    assert_distinct_cursors(&all);
    assert_eq!(client.barrier().await, Vec::<Value>::new());
    client.assert_silent(Duration::from_millis(300)).await;
}

// --- 7. Redis restart --------------------------------------------------------

#[tokio::test]
async fn events_survive_a_redis_restart_exactly_once_in_order() {
    let mut redis = OwnedRedis::start().await;
    let url = redis.url();
    let prefix = shared_prefix();
    let extra = [
        ("REDIS_URL", url.as_str()),
        ("REDIS_KEY_PREFIX", prefix.as_str()),
    ];
    let one = TestApp::spawn_with(&extra).await;
    let two = TestApp::spawn_on(one.database_url.clone(), &extra).await;
    let three = TestApp::spawn_on(one.database_url.clone(), &[("REDIS_URL", url.as_str())]).await;
    let user = two.register("outage").await;
    let mut client = WsClient::ready(&one, &user).await;
    client.subscribe("s", EVENTS, json!({})).await;
    sync(&mut client, "s", &two, &user).await;

    let mut expected = Vec::new();
    for i in 0..3 {
        let id = two.create_todo_titled(&user, &format!("before {i}")).await;
        expected.push(("CREATED".to_owned(), id));
    }
    let mut events = next_events(&mut client, "s", 3).await;
    assert_eq!(summary(&events), expected);

    redis.stop().await;
    for i in 0..3 {
        let id = two.create_todo_titled(&user, &format!("during {i}")).await;
        expected.push(("CREATED".to_owned(), id));
    }
    let (_, last_during) = expected.last().unwrap().clone();
    two.delete_todo_ok(&user, &last_during).await;
    expected.push(("DELETED".to_owned(), last_during));
    // A last change whose message is lost for good (published under
    // another prefix, as if its publisher had died): only PostgreSQL has it.
    let lost = three.create_todo_titled(&user, "lost message").await;
    expected.push(("CREATED".to_owned(), lost));
    // Redis carried the events: without it, instance one hears nothing yet.
    client.assert_silent(Duration::from_millis(300)).await;
    redis.restart().await;
    // Once Redis is back the missed events arrive, with no further write
    // to reveal the gap (reconnection backs off up to 5 s: allow for it).
    events.extend(events_within(&mut client, "s", 5, Duration::from_secs(20)).await);
    assert_eq!(summary(&events), expected);

    for i in 0..3 {
        let id = two.create_todo_titled(&user, &format!("after {i}")).await;
        expected.push(("CREATED".to_owned(), id));
    }
    events.extend(events_within(&mut client, "s", 3, Duration::from_secs(20)).await);
    assert_eq!(summary(&events), expected);
    assert_distinct_cursors(&events);
    // No duplicates arrive late (the publisher's retried messages included).
    client.assert_silent(Duration::from_millis(1500)).await;
}

/// `n` events of subscription `id` within `wait`.
async fn events_within(client: &mut WsClient, id: &str, n: usize, wait: Duration) -> Vec<Value> {
    let deadline = Instant::now() + wait;
    let mut events = Vec::new();
    while events.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(message) = client.recv_within(left).await else {
            panic!(
                "only {} of {n} events within {wait:?}: {:?}",
                events.len(),
                summary(&events)
            );
        };
        assert_eq!(message["type"], "next", "{message}");
        assert_eq!(message["id"], id, "{message}");
        assert!(message["payload"]["errors"].is_null(), "{message}");
        events.push(message["payload"]["data"]["todoEvents"].clone());
    }
    events
}
