//! The lease: a claim whose run died before its write committed is taken
//! over once the lease ends; one whose write committed but whose response
//! was lost is never run again; a run whose claim was taken over cannot
//! apply its write. States a crash would leave are made with SQL.

use reqwest::StatusCode;
use serde_json::{Value, json};
use todoql::{
    idempotency::Fingerprint,
    todos::domain::NewTodo,
    write_claim::{self, WriteClaim},
};
use uuid::Uuid;

use super::{REPLAYED, create, keyed, total};
use crate::support::{CREATE_TODO, TestApp, TestUser, error_code};

/// Leaves a running claim of `user`'s key `key` for `createTodo(title)`,
/// its lease ended `ago_secs` ago (negative: still running), applied or
/// not. Returns the claim's token.
async fn running_claim(
    app: &TestApp,
    user: &TestUser,
    (key, title): (&str, &str),
    ago_secs: i64,
    applied: bool,
) -> Uuid {
    let variables: Value = json!({ "input": { "title": title } });
    let fingerprint = Fingerprint::graphql(CREATE_TODO, None, Some(&variables));
    let hex: String = fingerprint.0.iter().map(|b| format!("{b:02x}")).collect();
    let token = Uuid::now_v7();
    let applied = if applied { "now()" } else { "NULL" };
    app.sql(&format!(
        "INSERT INTO idempotency_keys (scope, key, fingerprint, token, transport, lease_until, applied_at) \
         VALUES ('user:{}', '{key}', '\\x{hex}', '{token}', 'http', now() - interval '{ago_secs} seconds', {applied})",
        user.id
    ))
    .await;
    token
}

#[tokio::test]
async fn a_claim_abandoned_before_its_write_is_taken_over_after_its_lease() {
    let app = TestApp::spawn().await;
    let user = app.register("takeover").await;
    running_claim(&app, &user, ("k", "retried"), 5, false).await;
    let answer = keyed(&app, &user, "k", &create("retried")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert!(answer.header(REPLAYED).is_none(), "it ran");
    assert!(answer.body["data"]["createTodo"]["id"].is_string());
    let again = keyed(&app, &user, "k", &create("retried")).await;
    assert_eq!(again.header(REPLAYED), Some("true"));
    assert_eq!(again.text, answer.text);
    assert_eq!(total(&app, &user).await, 1);
}

#[tokio::test]
async fn a_claim_applied_but_without_its_response_is_never_run_again() {
    let app = TestApp::spawn().await;
    let user = app.register("lost").await;
    running_claim(&app, &user, ("k", "applied"), 5, true).await;
    for _ in 0..2 {
        let answer = keyed(&app, &user, "k", &create("applied")).await;
        assert_eq!(answer.status, StatusCode::CONFLICT, "{}", answer.text);
        assert_eq!(error_code(&answer.body), "IDEMPOTENCY_KEY_IN_USE");
        let message = answer.body["errors"][0]["message"].as_str().unwrap();
        assert!(
            message.contains("applied") && message.contains("lost"),
            "{message}"
        );
    }
    assert_eq!(total(&app, &user).await, 0, "not run (again)");
}

#[tokio::test]
async fn a_claim_still_in_its_lease_is_in_use_and_another_body_is_reused() {
    let app = TestApp::spawn().await;
    let user = app.register("inuse").await;
    running_claim(&app, &user, ("k", "running"), -60, false).await;
    let answer = keyed(&app, &user, "k", &create("running")).await;
    assert_eq!(answer.status, StatusCode::CONFLICT, "{}", answer.text);
    assert_eq!(error_code(&answer.body), "IDEMPOTENCY_KEY_IN_USE");
    let answer = keyed(&app, &user, "k", &create("something else")).await;
    assert_eq!(
        answer.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        answer.text
    );
    assert_eq!(error_code(&answer.body), "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(total(&app, &user).await, 0);
}

#[tokio::test]
async fn a_run_whose_claim_was_taken_over_cannot_apply_its_write() {
    let app = TestApp::spawn().await;
    let user = app.register("overtaken").await;
    // The row now belongs to a later run (another token).
    running_claim(&app, &user, ("k", "late"), -60, false).await;
    let owner: Uuid = user.id.parse().unwrap();
    let list: Uuid = app.default_list_id(&user).await.parse().unwrap();
    let stale = WriteClaim {
        scope: format!("user:{}", user.id),
        key: "k".into(),
        token: Uuid::now_v7(),
    };
    let todo = NewTodo::parse("late", None, None).unwrap();
    let written = write_claim::scope(Some(stale), app.state.todos.create(owner, list, todo)).await;
    assert!(written.is_err(), "the stale run's write must fail");
    assert_eq!(total(&app, &user).await, 0, "and roll back");
    // The claim's own run writes, and marks it applied in that write.
    let token: Uuid = {
        use diesel::prelude::*;
        use diesel_async::{AsyncConnection, RunQueryDsl};
        use todoql::schema::idempotency_keys::dsl as k;
        let mut conn = todoql::db::Conn::establish(&app.database_url)
            .await
            .unwrap();
        k::idempotency_keys
            .select(k::token)
            .first(&mut conn)
            .await
            .unwrap()
    };
    let current = WriteClaim {
        scope: format!("user:{}", user.id),
        key: "k".into(),
        token,
    };
    let todo = NewTodo::parse("late", None, None).unwrap();
    write_claim::scope(Some(current), app.state.todos.create(owner, list, todo))
        .await
        .unwrap();
    assert_eq!(total(&app, &user).await, 1);
    let answer = keyed(&app, &user, "k", &create("late")).await;
    assert_eq!(
        answer.status,
        StatusCode::CONFLICT,
        "still running: {}",
        answer.text
    );
}

#[tokio::test]
async fn old_keys_are_pruned() {
    let app = TestApp::spawn().await;
    let user = app.register("prune").await;
    keyed(&app, &user, "old", &create("a")).await;
    keyed(&app, &user, "new", &create("b")).await;
    app.sql(
        "UPDATE idempotency_keys SET claimed_at = now() - interval '25 hours' WHERE key = 'old'",
    )
    .await;
    assert_eq!(app.state.idempotency.prune().await.unwrap(), 1);
    // The pruned key is free again; the other still replays.
    let old = keyed(&app, &user, "old", &create("c")).await;
    assert!(old.header(REPLAYED).is_none(), "{}", old.text);
    let new = keyed(&app, &user, "new", &create("b")).await;
    assert_eq!(new.header(REPLAYED), Some("true"));
}

#[tokio::test]
async fn a_refusal_for_the_budget_frees_the_key_for_a_retry() {
    let app = TestApp::spawn_with(&[("USER_BUDGET_PER_MINUTE", "3")]).await;
    let user = app.register("budget").await;
    // Spend the budget, then a keyed write is refused for it.
    let mut refused = None;
    for i in 0..5 {
        let answer = keyed(&app, &user, &format!("k{i}"), &create("spend")).await;
        if answer.body.to_string().contains("RATE_LIMITED") {
            refused = Some(i);
            break;
        }
    }
    let i = refused.expect("the budget runs out");
    let key = format!("k{i}");
    let count = |app: &TestApp| {
        let url = app.database_url.clone();
        let key = key.clone();
        async move {
            use diesel::prelude::*;
            use diesel_async::{AsyncConnection, RunQueryDsl};
            use todoql::schema::idempotency_keys::dsl as k;
            let mut conn = todoql::db::Conn::establish(&url).await.unwrap();
            k::idempotency_keys
                .filter(k::key.eq(key))
                .count()
                .get_result::<i64>(&mut conn)
                .await
                .unwrap()
        }
    };
    assert_eq!(count(&app).await, 0, "the refused key was released");
    // The keys that ran are kept.
    if i > 0 {
        let again = keyed(&app, &user, "k0", &create("spend")).await;
        assert_eq!(again.header(REPLAYED), Some("true"), "{}", again.text);
    }
}
