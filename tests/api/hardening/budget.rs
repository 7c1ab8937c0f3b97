//! The per-user budget across instances and through a Redis outage: each
//! instance counts locally and syncs with Redis in batches, so these tests
//! read the shared counter in Redis and wait for it (polling, never timed)
//! where a decision depends on a sync.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{Answer, GRJ, OwnedRedis, TestApp, TestUser, error_code};

/// 2 + 10 × 2 = 22 complexity points.
fn big() -> serde_json::Value {
    json!({ "query": "{ todos(first: 10) { nodes { id } } }" })
}

async fn spend(app: &TestApp, user: &TestUser) -> Answer {
    app.post_graphql(GRJ, Some(&user.access_token), &big())
        .await
}

fn admitted(answer: &Answer) -> bool {
    answer.status == StatusCode::OK && answer.body["errors"].is_null()
}

fn refused(answer: &Answer) -> bool {
    answer.status == StatusCode::TOO_MANY_REQUESTS
        && error_code(&answer.body) == "RATE_LIMITED"
        && answer.body["errors"][0]["extensions"]["retryAfter"].as_u64() >= Some(1)
}

/// The one budget counter under `prefix` in `redis` (each test has one
/// user), 0 while there is none.
async fn counter(redis: &OwnedRedis, prefix: &str) -> u64 {
    let pattern = format!("{prefix}rl:budget:*");
    let keys = match redis.command(&["KEYS", &pattern]).await {
        Ok(redis::Value::Array(keys)) => keys,
        other => panic!("KEYS: {other:?}"),
    };
    let Some(redis::Value::BulkString(key)) = keys.first() else {
        return 0;
    };
    let key = String::from_utf8_lossy(key).into_owned();
    match redis.command(&["GET", &key]).await {
        Ok(redis::Value::BulkString(n)) => String::from_utf8_lossy(&n).parse().unwrap_or(0),
        Ok(redis::Value::Nil) => 0,
        other => panic!("GET: {other:?}"),
    }
}

/// Waits until the shared counter reads `want` (the instances' syncs run
/// every few milliseconds here).
async fn wait_for(redis: &OwnedRedis, prefix: &str, want: u64) {
    let mut last = 0;
    for _ in 0..400 {
        last = counter(redis, prefix).await;
        if last == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the shared budget counter stayed at {last}, expected {want}");
}

async fn two_instances(limit: &str) -> (OwnedRedis, String, TestApp, TestApp) {
    let redis = OwnedRedis::start().await;
    let url = redis.url();
    let prefix = format!("test:{}:", uuid::Uuid::new_v4().simple());
    let extra = [
        ("REDIS_URL", url.as_str()),
        ("REDIS_KEY_PREFIX", prefix.as_str()),
        ("USER_BUDGET_PER_MINUTE", limit),
        ("USER_BUDGET_SYNC_MS", "20"),
    ];
    let a = TestApp::spawn_with(&extra).await;
    let b = TestApp::spawn_on(a.database_url.clone(), &extra).await;
    (redis, prefix, a, b)
}

#[tokio::test]
async fn an_instance_starts_from_what_the_others_spent() {
    let (redis, prefix, a, b) = two_instances("50").await;
    let user = a.register("twice").await;
    assert!(admitted(&spend(&a, &user).await));
    assert!(admitted(&spend(&a, &user).await));
    wait_for(&redis, &prefix, 44).await;
    // 44 spent on A: B's first 22 would pass alone, not with A's share.
    let answer = spend(&b, &user).await;
    assert!(refused(&answer), "{}", answer.text);
    wait_for(&redis, &prefix, 66).await;
}

#[tokio::test]
async fn instances_learn_each_others_spend_at_each_sync() {
    let (redis, prefix, a, b) = two_instances("100").await;
    let user = a.register("shared").await;
    assert!(admitted(&spend(&a, &user).await));
    assert!(admitted(&spend(&b, &user).await));
    wait_for(&redis, &prefix, 44).await;
    assert!(admitted(&spend(&a, &user).await));
    assert!(admitted(&spend(&a, &user).await));
    wait_for(&redis, &prefix, 88).await;
    // B last saw 44: by its own count this one (110) still fits, and it
    // learns the global count when it syncs it.
    assert!(admitted(&spend(&b, &user).await));
    wait_for(&redis, &prefix, 110).await;
    // Cheap requests (2 points) until B has read that answer: by its own
    // count (66) it would admit 17 more of them.
    let cheap = json!({ "query": "{ me { id } }" });
    let mut answer = b.post_graphql(GRJ, Some(&user.access_token), &cheap).await;
    for _ in 0..4 {
        if refused(&answer) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
        answer = b.post_graphql(GRJ, Some(&user.access_token), &cheap).await;
    }
    assert!(refused(&answer), "{}", answer.text);
}

#[tokio::test]
async fn the_budget_counts_locally_while_redis_is_down_and_syncs_after() {
    let mut redis = OwnedRedis::start().await;
    let url = redis.url();
    let prefix = format!("test:{}:", uuid::Uuid::new_v4().simple());
    let app = TestApp::spawn_with(&[
        ("REDIS_URL", url.as_str()),
        ("REDIS_KEY_PREFIX", prefix.as_str()),
        ("USER_BUDGET_PER_MINUTE", "50"),
        ("USER_BUDGET_SYNC_MS", "20"),
    ])
    .await;
    let user = app.register("outage").await;
    redis.stop().await;
    assert!(admitted(&spend(&app, &user).await));
    assert!(admitted(&spend(&app, &user).await));
    let answer = spend(&app, &user).await;
    assert!(refused(&answer), "{}", answer.text);
    // What was spent meanwhile reaches Redis once it is back.
    redis.restart().await;
    wait_for(&redis, &prefix, 66).await;
}
