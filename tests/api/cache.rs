//! The Redis read cache: todo counts and first pages are served from Redis
//! on repeat reads, every write is read back fresh on every instance, the
//! cache can be turned off, and a Redis outage (a Redis server this module
//! starts, stops and restarts itself) costs nothing but cache hits.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{OwnedRedis, PASSWORD, TestApp, TestUser, redis_url, shared_prefix};

/// What a todo app loads on every screen: counts, the first page and its
/// total (two cached reads: the counts, and the page with its total).
const READ: &str = "{ me { todoCounts { total active completed } } \
    todos(first: 20) { totalCount nodes { id title completed } } }";

/// These tests count cache errors and expect none: a Redis call that a busy
/// CI machine delays past the production default (50 ms) would fall back
/// to PostgreSQL and count as one, which is not what they test.
const RELAXED_CACHE_TIMEOUT: (&str, &str) = ("CACHE_TIMEOUT_MS", "2000");

/// Hits, misses and errors of an instance's read cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stats {
    hits: u64,
    misses: u64,
    errors: u64,
}

fn stats(app: &TestApp) -> Stats {
    let s = app.state.cache.stats();
    Stats {
        hits: s.hits(),
        misses: s.misses(),
        errors: s.errors(),
    }
}

async fn read(app: &TestApp, user: &TestUser) -> Value {
    app.data_as(user, READ, json!({})).await
}

/// Reads twice and asserts the second read came from the cache.
async fn warm(app: &TestApp, user: &TestUser) -> Value {
    let first = read(app, user).await;
    let before = stats(app);
    let second = read(app, user).await;
    let after = stats(app);
    assert_eq!(first, second, "a cached read differs from the database");
    assert_eq!(
        after.hits - before.hits,
        2,
        "the repeat read was not served from the cache: {before:?} -> {after:?}"
    );
    second
}

#[tokio::test]
async fn counts_and_first_pages_are_served_from_the_cache_on_repeat_reads() {
    assert!(redis_url().is_some(), "this test needs TEST_REDIS_URL");
    let app = TestApp::spawn_with(&[RELAXED_CACHE_TIMEOUT]).await;
    let user = app.register("cached").await;
    for title in ["one", "two", "three"] {
        app.create_todo_titled(&user, title).await;
    }

    let counts = "{ me { todoCounts { total active completed } } }";
    let s0 = stats(&app);
    let first = app.data_as(&user, counts, json!({})).await;
    let s1 = stats(&app);
    assert_eq!(
        (s1.misses - s0.misses, s1.hits - s0.hits),
        (1, 0),
        "first read"
    );
    let second = app.data_as(&user, counts, json!({})).await;
    let s2 = stats(&app);
    assert_eq!(
        (s2.misses - s1.misses, s2.hits - s1.hits),
        (0, 1),
        "second read"
    );
    assert_eq!(first, second);
    assert_eq!(first["me"]["todoCounts"]["total"], 3);

    let page = "{ todos(first: 20) { totalCount nodes { id title } } }";
    let first = app.data_as(&user, page, json!({})).await;
    let s3 = stats(&app);
    assert_eq!(
        (s3.misses - s2.misses, s3.hits - s2.hits),
        (1, 0),
        "page and total (one entry), first read"
    );
    let second = app.data_as(&user, page, json!({})).await;
    let s4 = stats(&app);
    assert_eq!(
        (s4.misses - s3.misses, s4.hits - s3.hits),
        (0, 1),
        "page and total (one entry), second read"
    );
    assert_eq!(first, second);
    assert_eq!(first["todos"]["nodes"].as_array().unwrap().len(), 3);

    // The same list through `me.todos` and REST uses the same entries.
    let rest_page = app
        .rest_ok(&user, reqwest::Method::GET, "/todos?first=20", None)
        .await;
    let s5 = stats(&app);
    assert_eq!(s5.hits - s4.hits, 1, "REST list from the cache");
    let ids = |nodes: &Value| -> Vec<Value> {
        nodes
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["id"].clone())
            .collect()
    };
    assert_eq!(ids(&rest_page["items"]), ids(&first["todos"]["nodes"]));

    // Only first pages are cached.
    let cursor = app
        .data_as(
            &user,
            "{ todos(first: 1) { pageInfo { endCursor } } }",
            json!({}),
        )
        .await["todos"]["pageInfo"]["endCursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let later = format!("{{ todos(first: 1, after: \"{cursor}\") {{ nodes {{ id }} }} }}");
    let before = stats(&app);
    for _ in 0..2 {
        app.data_as(&user, &later, json!({})).await;
    }
    let after = stats(&app);
    assert_eq!(
        (after.hits, after.misses),
        (before.hits, before.misses),
        "later pages do not touch the cache"
    );
    assert_eq!(after.errors, 0);
}

#[tokio::test]
async fn every_write_is_read_back_fresh_on_another_instance() {
    assert!(redis_url().is_some(), "this test needs TEST_REDIS_URL");
    let prefix = shared_prefix();
    let shared = [("REDIS_KEY_PREFIX", prefix.as_str()), RELAXED_CACHE_TIMEOUT];
    let a = TestApp::spawn_with(&shared).await;
    let b = TestApp::spawn_on(a.database_url.clone(), &shared).await;
    // The database's answer, never cached.
    let truth = TestApp::spawn_on(a.database_url.clone(), &[("CACHE", "false")]).await;
    let user = a.register("everywhere").await;
    a.create_todo_titled(&user, "seed").await;

    let mut previous = read(&truth, &user).await;
    let mut step = 0;
    loop {
        warm(&a, &user).await;
        warm(&b, &user).await;
        let what = match step {
            0 => {
                a.create_todo_titled(&user, "created with GraphQL").await;
                "createTodo"
            }
            1 => {
                a.rest_ok(
                    &user,
                    reqwest::Method::POST,
                    "/todos",
                    Some(json!({ "title": "created with REST" })),
                )
                .await;
                "POST /todos"
            }
            2 => {
                let id = previous["todos"]["nodes"][0]["id"].clone();
                a.data_as(
                    &user,
                    "mutation($id: ID!) { updateTodo(id: $id, input: { completed: true }) { id } }",
                    json!({ "id": id }),
                )
                .await;
                "updateTodo completed"
            }
            3 => {
                let id = previous["todos"]["nodes"][1]["id"].clone();
                a.data_as(
                    &user,
                    "mutation($id: ID!) { updateTodo(id: $id, input: { title: \"renamed\" }) { id } }",
                    json!({ "id": id }),
                )
                .await;
                "updateTodo title"
            }
            4 => {
                a.data_as(
                    &user,
                    "mutation { toggleAllTodos(completed: true) }",
                    json!({}),
                )
                .await;
                "toggleAllTodos"
            }
            5 => {
                let id = previous["todos"]["nodes"][0]["id"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                a.rest_ok(
                    &user,
                    reqwest::Method::PATCH,
                    &format!("/todos/{id}"),
                    Some(json!({ "completed": false, "title": "patched" })),
                )
                .await;
                "PATCH /todos/{id}"
            }
            6 => {
                // The other way round: written on B, read on A.
                b.create_todo_titled(&user, "created on B").await;
                "createTodo on the other instance"
            }
            7 => {
                let id = previous["todos"]["nodes"][0]["id"].clone();
                a.data_as(
                    &user,
                    "mutation($id: ID!) { deleteTodo(id: $id) }",
                    json!({ "id": id }),
                )
                .await;
                "deleteTodo"
            }
            8 => {
                a.data_as(&user, "mutation { clearCompletedTodos }", json!({}))
                    .await;
                "clearCompletedTodos"
            }
            9 => {
                a.rest_ok(&user, reqwest::Method::DELETE, "/todos", None)
                    .await;
                "DELETE /todos"
            }
            10 => {
                a.create_todo_titled(&user, "last").await;
                "createTodo after emptying"
            }
            11 => {
                let id = previous["todos"]["nodes"][0]["id"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                a.rest_ok(
                    &user,
                    reqwest::Method::DELETE,
                    &format!("/todos/{id}"),
                    None,
                )
                .await;
                "DELETE /todos/{id}"
            }
            _ => break,
        };
        let now = read(&truth, &user).await;
        assert_ne!(now, previous, "{what} changed nothing visible");
        assert_eq!(
            read(&b, &user).await,
            now,
            "stale read on the other instance after {what}"
        );
        assert_eq!(
            read(&a, &user).await,
            now,
            "stale read on the writing instance after {what}"
        );
        previous = now;
        step += 1;
    }
    assert_eq!(previous["me"]["todoCounts"]["total"], 0);
    assert_eq!(stats(&a).errors + stats(&b).errors, 0);
}

#[tokio::test]
async fn cached_reads_are_kept_apart_per_user_and_per_filter() {
    let prefix = shared_prefix();
    let shared = [("REDIS_KEY_PREFIX", prefix.as_str()), RELAXED_CACHE_TIMEOUT];
    let app = TestApp::spawn_with(&shared).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let done = app.create_todo_titled(&alice, "alice done").await;
    app.create_todo_titled(&alice, "alice open").await;
    app.create_todo_titled(&bob, "bob open").await;
    app.data_as(
        &alice,
        "mutation($id: ID!) { updateTodo(id: $id, input: { completed: true }) { id } }",
        json!({ "id": done }),
    )
    .await;

    let titles =
        |filter: &str| format!("{{ todos(first: 20{filter}) {{ totalCount nodes {{ title }} }} }}");
    let cases = [
        (&alice, "", vec!["alice open", "alice done"]),
        (&alice, ", filter: { completed: true }", vec!["alice done"]),
        (&alice, ", filter: { completed: false }", vec!["alice open"]),
        (&alice, ", filter: { search: \"OPEN\" }", vec!["alice open"]),
        (&bob, "", vec!["bob open"]),
        (&bob, ", filter: { completed: true }", vec![]),
    ];
    for round in 0..2 {
        for (user, filter, want) in &cases {
            let before = stats(&app);
            let got = app.data_as(user, &titles(filter), json!({})).await;
            let after = stats(&app);
            let got_titles: Vec<&str> = got["todos"]["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["title"].as_str().unwrap())
                .collect();
            assert_eq!(&got_titles, want, "round {round}, {} {filter}", user.email);
            assert_eq!(
                got["todos"]["totalCount"],
                want.len(),
                "round {round} {filter}"
            );
            if round == 1 {
                assert_eq!(
                    after.hits - before.hits,
                    1,
                    "second round from the cache: {filter}"
                );
            }
        }
    }
}

#[tokio::test]
async fn the_cache_can_be_turned_off() {
    let app = TestApp::spawn_with(&[("CACHE", "false")]).await;
    let user = app.register("uncached").await;
    app.create_todo_titled(&user, "one").await;
    for _ in 0..3 {
        let body = read(&app, &user).await;
        assert_eq!(body["todos"]["totalCount"], 1);
    }
    app.create_todo_titled(&user, "two").await;
    assert_eq!(read(&app, &user).await["me"]["todoCounts"]["total"], 2);
    assert_eq!(
        stats(&app),
        Stats {
            hits: 0,
            misses: 0,
            errors: 0
        },
        "CACHE=false still used the cache"
    );
}

#[tokio::test]
async fn a_redis_outage_falls_back_to_postgres_and_caching_resumes() {
    let mut redis = OwnedRedis::start().await;
    let url = redis.url();
    let app = TestApp::spawn_with(&[("REDIS_URL", &url)]).await;
    let user = app.register("outage").await;
    app.create_todo_titled(&user, "before").await;
    warm(&app, &user).await;
    let (status, body) = app.readyz().await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["checks"]["redis"], "up");

    redis.stop().await;
    let (status, body) = app.readyz().await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["checks"]["redis"], "down");
    assert_eq!(body["checks"]["postgres"], "up");

    let errors = stats(&app).errors;
    let during = read(&app, &user).await;
    assert_eq!(during["todos"]["totalCount"], 1, "{during}");
    assert!(stats(&app).errors > errors, "Redis errors are counted");
    // Writes, REST, and sign-ins (rate limits count in memory) still work.
    app.create_todo_titled(&user, "during").await;
    let during = read(&app, &user).await;
    assert_eq!(during["me"]["todoCounts"]["total"], 2, "{during}");
    assert_eq!(during["todos"]["nodes"][0]["title"], "during");
    let listed = app
        .rest_ok(&user, reqwest::Method::GET, "/todos", None)
        .await;
    assert_eq!(listed["totalCount"], 2, "{listed}");
    let login = app.login(&user.email, PASSWORD, "accessToken").await;
    assert!(login["data"]["login"]["accessToken"].is_string(), "{login}");
    app.register("newcomer").await;

    redis.restart().await;
    let mut ready = None;
    for _ in 0..100 {
        let (status, body) = app.readyz().await;
        if status == StatusCode::OK {
            ready = Some(body);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let body = ready.expect("ready again once Redis is back");
    assert_eq!(body["checks"]["redis"], "up");

    // Caching resumes: a miss, then hits, with every write in place.
    let mut resumed = false;
    for _ in 0..20 {
        let before = stats(&app);
        let now = read(&app, &user).await;
        assert_eq!(now["me"]["todoCounts"]["total"], 2, "{now}");
        assert_eq!(now["todos"]["nodes"][0]["title"], "during", "{now}");
        if stats(&app).hits - before.hits == 2 {
            resumed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        resumed,
        "no cache hits after Redis came back: {:?}",
        stats(&app)
    );
    app.create_todo_titled(&user, "after").await;
    assert_eq!(read(&app, &user).await["me"]["todoCounts"]["total"], 3);
}

/// Makes `redis` refuse writes but still answer reads: full, with
/// `maxmemory-policy noeviction` (as a Redis at its memory limit is).
async fn refuse_writes(redis: &OwnedRedis) {
    redis
        .command(&["CONFIG", "SET", "maxmemory-policy", "noeviction"])
        .await
        .unwrap();
    redis
        .command(&["CONFIG", "SET", "maxmemory", "1"])
        .await
        .unwrap();
    assert!(
        redis.command(&["INCR", "probe"]).await.is_err(),
        "Redis should refuse writes now"
    );
    assert!(redis.command(&["GET", "probe"]).await.is_ok());
}

/// Sets up a warm cache, makes Redis refuse writes, and writes a todo:
/// the write's invalidation cannot be recorded.
async fn write_while_redis_refuses_writes() -> (OwnedRedis, TestApp, TestUser) {
    let redis = OwnedRedis::start().await;
    let url = redis.url();
    let app = TestApp::spawn_with(&[("REDIS_URL", &url)]).await;
    let user = app.register("full").await;
    app.create_todo_titled(&user, "before").await;
    warm(&app, &user).await;
    refuse_writes(&redis).await;
    app.create_todo_titled(&user, "while full").await;
    (redis, app, user)
}

fn assert_fresh(now: &Value, context: &str) {
    assert_eq!(
        now["me"]["todoCounts"]["total"], 2,
        "stale counts {context}: {now}"
    );
    assert_eq!(
        now["todos"]["totalCount"], 2,
        "stale total {context}: {now}"
    );
    assert_eq!(
        now["todos"]["nodes"][0]["title"], "while full",
        "stale first page {context}: {now}"
    );
}

/// A write whose invalidation Redis refuses must not leave the entries
/// cached before it readable: reads fall back to PostgreSQL instead.
#[tokio::test]
async fn a_write_whose_invalidation_fails_is_not_read_stale_while_redis_refuses_writes() {
    let (_redis, app, user) = write_while_redis_refuses_writes().await;
    for attempt in 0..3 {
        let now = read(&app, &user).await;
        assert_fresh(
            &now,
            &format!("while Redis refuses writes (read {attempt})"),
        );
    }
}

/// Nor once Redis accepts writes again.
#[tokio::test]
async fn a_write_whose_invalidation_failed_is_not_read_stale_after_redis_recovers() {
    let (redis, app, user) = write_while_redis_refuses_writes().await;
    redis
        .command(&["CONFIG", "SET", "maxmemory", "0"])
        .await
        .unwrap();
    for attempt in 0..3 {
        let now = read(&app, &user).await;
        assert_fresh(&now, &format!("after Redis recovered (read {attempt})"));
    }
}
