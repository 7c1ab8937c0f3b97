//! Keys over HTTP: replays byte for byte, reuse, errors, bad keys,
//! queries, scopes, concurrency, two instances and a restart.

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

use super::{REPLAYED, create, keyed, post_keyed, total};
use crate::support::{PASSWORD, SESSION, TestApp, error_code, unique_email};

#[tokio::test]
async fn a_repeated_key_replays_the_stored_response_byte_for_byte() {
    let app = TestApp::spawn().await;
    let user = app.register("replay").await;
    let first = keyed(&app, &user, "key-1", &create("once")).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert!(first.header(REPLAYED).is_none());
    assert!(
        first.body["data"]["createTodo"]["id"].is_string(),
        "{}",
        first.text
    );
    for _ in 0..2 {
        let again = keyed(&app, &user, "key-1", &create("once")).await;
        assert_eq!(again.status, first.status);
        assert_eq!(again.header(REPLAYED), Some("true"));
        assert_eq!(again.header("content-type"), first.header("content-type"));
        assert_eq!(again.text, first.text, "the stored bytes");
    }
    assert_eq!(total(&app, &user).await, 1, "ran once");
    // The same body under another key is another write.
    let other = keyed(&app, &user, "key-2", &create("once")).await;
    assert!(other.header(REPLAYED).is_none());
    assert_ne!(other.text, first.text);
    assert_eq!(total(&app, &user).await, 2);
}

#[tokio::test]
async fn a_keyed_mutation_costs_two_statements_and_marks_the_claim_in_its_write() {
    let app = TestApp::spawn().await;
    let user = app.register("rounds").await;
    let stats = app.state.db.stats();
    stats.reset();
    keyed(&app, &user, "k", &create("counted")).await;
    // One claim, one store; the event insert carries the claim (no
    // statement of its own).
    assert_eq!(stats.count_matching("INSERT INTO idempotency_keys"), 1);
    assert_eq!(stats.count_matching("WITH claim AS"), 1);
    assert_eq!(stats.count_matching("UPDATE \"idempotency_keys\""), 1);
    assert_eq!(stats.count_matching("INSERT INTO \"todo_events\""), 0);
    stats.reset();
    // A replay: the claim attempt and one read.
    keyed(&app, &user, "k", &create("counted")).await;
    assert_eq!(stats.count_matching("idempotency_keys"), 2);
    assert_eq!(stats.count_matching("todo_events"), 0);
    stats.reset();
    // Without a key, nothing of the sort.
    post_keyed(&app, Some(&user.access_token), None, &create("plain")).await;
    assert_eq!(stats.count_matching("idempotency_keys"), 0);
    assert_eq!(stats.count_matching("INSERT INTO \"todo_events\""), 1);
}

#[tokio::test]
async fn the_same_key_for_another_operation_is_refused_with_422() {
    let app = TestApp::spawn().await;
    let user = app.register("reuse").await;
    keyed(&app, &user, "k", &create("first")).await;
    for other in [
        create("second"),
        json!({ "query": "mutation($input: CreateTodoInput!) { createTodo(input: $input) { id title } }",
                "variables": { "input": { "title": "first" } } }),
    ] {
        let answer = keyed(&app, &user, "k", &other).await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            answer.text
        );
        assert_eq!(error_code(&answer.body), "IDEMPOTENCY_KEY_REUSED");
        assert!(answer.header(REPLAYED).is_none());
    }
    // Framing is not the operation: extensions and variable order differ.
    let mut same = create("first");
    same["extensions"] = json!({ "tracing": true });
    let answer = keyed(&app, &user, "k", &same).await;
    assert_eq!(answer.header(REPLAYED), Some("true"), "{}", answer.text);
    assert_eq!(total(&app, &user).await, 1);
}

#[tokio::test]
async fn errors_are_replayed_as_they_were() {
    let app = TestApp::spawn().await;
    let user = app.register("errors").await;
    let first = keyed(&app, &user, "bad-title", &create("   ")).await;
    assert_eq!(error_code(&first.body), "BAD_USER_INPUT", "{}", first.text);
    let again = keyed(&app, &user, "bad-title", &create("   ")).await;
    assert_eq!(again.header(REPLAYED), Some("true"));
    assert_eq!((again.status, &again.text), (first.status, &first.text));
    // A request error (validation) too, with its status.
    let invalid = json!({ "query": "mutation { createTodo { nope } }" });
    let first = keyed(&app, &user, "invalid", &invalid).await;
    assert_eq!(first.status, StatusCode::BAD_REQUEST, "{}", first.text);
    let again = keyed(&app, &user, "invalid", &invalid).await;
    assert_eq!(again.header(REPLAYED), Some("true"));
    assert_eq!((again.status, &again.text), (first.status, &first.text));
    assert_eq!(total(&app, &user).await, 0);
}

#[tokio::test]
async fn bad_keys_are_refused_with_400_and_nothing_runs() {
    let app = TestApp::spawn().await;
    let user = app.register("badkeys").await;
    let long = "k".repeat(256);
    for key in ["", long.as_str(), "tab\there"] {
        let answer = keyed(&app, &user, key, &create("never")).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{key:?}: {}",
            answer.text
        );
        assert_eq!(error_code(&answer.body), "BAD_USER_INPUT");
        assert!(
            answer.body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("key")
        );
    }
    // Non-ASCII and control characters, in the header or the extension.
    let request = app
        .graphql_request(Some(&user.access_token), &create("never"))
        .header("accept", crate::support::GRJ)
        .header(
            "Idempotency-Key",
            reqwest::header::HeaderValue::from_bytes("clé".as_bytes()).unwrap(),
        );
    let answer = crate::support::send(request).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    for key in ["bell\u{7}", "é", ""] {
        let mut body = create("never");
        body["extensions"] = json!({ "idempotencyKey": key });
        let answer = post_keyed(&app, Some(&user.access_token), None, &body).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{key:?}: {}",
            answer.text
        );
        assert_eq!(error_code(&answer.body), "BAD_USER_INPUT");
    }
    // The longest key is fine.
    let longest = "k".repeat(255);
    let answer = keyed(&app, &user, &longest, &create("once")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(total(&app, &user).await, 1, "only the good key ran");
}

#[tokio::test]
async fn queries_ignore_the_key() {
    let app = TestApp::spawn().await;
    let user = app.register("queries").await;
    let stats = app.state.db.stats();
    stats.reset();
    let query = json!({ "query": "{ me { id } }" });
    for key in ["q", "q", "bad\tkey"] {
        let answer = keyed(&app, &user, key, &query).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert!(answer.header(REPLAYED).is_none());
        assert_eq!(answer.body["data"]["me"]["id"], user.id.as_str());
    }
    assert_eq!(stats.count_matching("idempotency_keys"), 0, "no round trip");
    // The key is still free for a mutation.
    let answer = keyed(&app, &user, "q", &create("after")).await;
    assert!(answer.header(REPLAYED).is_none());
    assert_eq!(total(&app, &user).await, 1);
}

#[tokio::test]
async fn keys_are_scoped_per_user() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let a = keyed(&app, &alice, "shared", &create("same")).await;
    let b = keyed(&app, &bob, "shared", &create("same")).await;
    assert!(b.header(REPLAYED).is_none(), "bob's write runs: {}", b.text);
    assert_ne!(a.text, b.text);
    assert_eq!(total(&app, &alice).await, 1);
    assert_eq!(total(&app, &bob).await, 1);
}

#[tokio::test]
async fn a_signed_out_register_is_scoped_by_client_address() {
    let app = TestApp::spawn().await;
    let email = unique_email("signedout");
    let register = |email: &str| {
        json!({
            "query": crate::support::accounts::register_query(SESSION),
            "variables": { "input": { "email": email, "password": PASSWORD } },
        })
    };
    let first = post_keyed(&app, None, Some("reg-1"), &register(&email)).await;
    assert!(
        first.body["data"]["register"]["accessToken"].is_string(),
        "{}",
        first.text
    );
    let again = post_keyed(&app, None, Some("reg-1"), &register(&email)).await;
    assert_eq!(again.header(REPLAYED), Some("true"));
    assert_eq!(again.text, first.text, "the same tokens, not EMAIL_TAKEN");
    let other = post_keyed(&app, None, Some("reg-1"), &register(&unique_email("x"))).await;
    assert_eq!(
        other.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        other.text
    );
    // A signed-in user's key space is another one.
    let token = first.body["data"]["register"]["accessToken"]
        .as_str()
        .unwrap();
    let mine = post_keyed(&app, Some(token), Some("reg-1"), &create("mine")).await;
    assert!(
        mine.body["data"]["createTodo"]["id"].is_string(),
        "{}",
        mine.text
    );
}

#[tokio::test]
async fn concurrent_requests_with_one_key_run_once() {
    let app = TestApp::spawn().await;
    let user = app.register("race").await;
    let body = create("raced");
    let answers = join_all((0..6).map(|_| keyed(&app, &user, "race", &body))).await;
    let mut ran = 0;
    for answer in &answers {
        match answer.status {
            StatusCode::OK => {
                assert!(
                    answer.body["data"]["createTodo"]["id"].is_string(),
                    "{}",
                    answer.text
                );
                if answer.header(REPLAYED).is_none() {
                    ran += 1;
                }
            }
            StatusCode::CONFLICT => {
                assert_eq!(error_code(&answer.body), "IDEMPOTENCY_KEY_IN_USE");
            }
            other => panic!("{other}: {}", answer.text),
        }
    }
    assert_eq!(ran, 1, "exactly one ran");
    assert_eq!(total(&app, &user).await, 1);
    // While it runs, another body under the key is 422, not 409: covered
    // by the crash tests' running claim; afterwards it replays.
    let after = keyed(&app, &user, "race", &create("raced")).await;
    assert_eq!(after.header(REPLAYED), Some("true"));
}

#[tokio::test]
async fn two_instances_run_a_key_once() {
    let one = TestApp::spawn().await;
    let two = TestApp::spawn_on(one.database_url.clone(), &[]).await;
    let user = one.register("instances").await;
    let body = create("everywhere");
    let answers = join_all([
        keyed(&one, &user, "k", &body),
        keyed(&two, &user, "k", &body),
        keyed(&one, &user, "k", &body),
        keyed(&two, &user, "k", &body),
    ])
    .await;
    let ran = answers
        .iter()
        .filter(|a| a.status == StatusCode::OK && a.header(REPLAYED).is_none())
        .count();
    assert_eq!(ran, 1);
    for answer in &answers {
        assert!(
            matches!(answer.status, StatusCode::OK | StatusCode::CONFLICT),
            "{}",
            answer.text
        );
    }
    assert_eq!(total(&one, &user).await, 1);
    let first = answers
        .iter()
        .find(|a| a.status == StatusCode::OK && a.header(REPLAYED).is_none())
        .unwrap();
    for app in [&one, &two] {
        let again = keyed(app, &user, "k", &body).await;
        assert_eq!(again.header(REPLAYED), Some("true"));
        assert_eq!(again.text, first.text);
    }
}

#[tokio::test]
async fn a_replay_survives_a_server_restart() {
    let app = TestApp::spawn().await;
    let user = app.register("restart").await;
    let first = keyed(&app, &user, "k", &create("durable")).await;
    let url = app.database_url.clone();
    app.stop().await.unwrap();
    let app = TestApp::spawn_on(url, &[]).await;
    let again = keyed(&app, &user, "k", &create("durable")).await;
    assert_eq!(again.header(REPLAYED), Some("true"));
    assert_eq!(again.text, first.text);
    assert_eq!(total(&app, &user).await, 1);
}
