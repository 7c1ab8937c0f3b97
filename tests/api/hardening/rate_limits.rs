//! Rate limits: login failures per account and per address (behind a
//! trusted proxy, per forwarded address), registration and refresh per
//! address, and the per-user budget.

use std::time::Duration;

use reqwest::{
    StatusCode,
    header::{ACCEPT, RETRY_AFTER},
};
use serde_json::json;

use crate::support::{
    Answer, GRJ, JSON, PASSWORD, TestApp,
    accounts::{login_query, register_query},
    error_code, send,
};

/// `login` from an optional `X-Forwarded-For` address.
async fn login(app: &TestApp, email: &str, password: &str, forwarded: Option<&str>) -> Answer {
    let mut request = app
        .graphql_request(
            None,
            &json!({ "query": login_query("accessToken"), "variables": { "input": { "email": email, "password": password } } }),
        )
        .header(ACCEPT, JSON);
    if let Some(address) = forwarded {
        request = request.header("x-forwarded-for", address);
    }
    send(request).await
}

/// The code of a login answer ("OK" when it signed in).
fn outcome(answer: &Answer) -> String {
    if answer.body["data"]["login"]["accessToken"].is_string() {
        "OK".into()
    } else {
        error_code(&answer.body).to_owned()
    }
}

/// Asserts `RATE_LIMITED` with `extensions.retryAfter` (whole seconds, at
/// most `window`) and the same `Retry-After` header; returns the seconds.
fn assert_rate_limited(answer: &Answer, window: u64, context: &str) -> u64 {
    assert_eq!(
        error_code(&answer.body),
        "RATE_LIMITED",
        "{context}: {}",
        answer.text
    );
    let secs = answer.body["errors"][0]["extensions"]["retryAfter"]
        .as_u64()
        .unwrap_or_else(|| panic!("{context}: no numeric retryAfter in {}", answer.text));
    assert!((1..=window).contains(&secs), "{context}: retryAfter {secs}");
    let header = answer
        .header(RETRY_AFTER)
        .unwrap_or_else(|| panic!("{context}: no Retry-After header"));
    assert_eq!(header.parse::<u64>().ok(), Some(secs), "{context}");
    secs
}

#[tokio::test]
async fn login_failures_lock_the_account_even_for_the_right_password() {
    // Each attempt from its own address, so only the account counts.
    let app =
        TestApp::spawn_with(&[("LOGIN_MAX_FAILURES", "3"), ("TRUSTED_PROXY_HOPS", "1")]).await;
    let user = app.register("locked").await;
    let other = app.register("bystander").await;
    for i in 0..3 {
        let answer = login(
            &app,
            &user.email,
            "wrong password",
            Some(&format!("203.0.113.{i}")),
        )
        .await;
        assert_eq!(
            outcome(&answer),
            "UNAUTHENTICATED",
            "failure {i}: {}",
            answer.text
        );
        assert!(answer.header(RETRY_AFTER).is_none());
    }
    let answer = login(&app, &user.email, PASSWORD, Some("203.0.113.50")).await;
    assert_rate_limited(&answer, 900, "right password after 3 failures");
    assert!(answer.body["data"].is_null(), "{}", answer.text);
    // The email is compared as typed by people: case and spaces don't help.
    let shouted = format!("  {}  ", user.email.to_uppercase());
    let answer = login(&app, &shouted, PASSWORD, Some("203.0.113.51")).await;
    assert_rate_limited(&answer, 900, "same account in capitals");
    // Other accounts are not affected.
    let answer = login(&app, &other.email, PASSWORD, Some("203.0.113.52")).await;
    assert_eq!(outcome(&answer), "OK", "{}", answer.text);
}

#[tokio::test]
async fn unknown_emails_are_limited_exactly_like_known_ones() {
    let app =
        TestApp::spawn_with(&[("LOGIN_MAX_FAILURES", "3"), ("TRUSTED_PROXY_HOPS", "1")]).await;
    let user = app.register("known").await;
    let unknown = format!("nobody.{}@example.com", uuid::Uuid::new_v4().simple());
    let mut seen = Vec::new();
    for (label, email) in [
        ("known", user.email.as_str()),
        ("unknown", unknown.as_str()),
    ] {
        let mut outcomes = Vec::new();
        let mut messages = Vec::new();
        for i in 0..5 {
            let address = format!("198.51.100.{}", 10 * seen.len() + i);
            let answer = login(&app, email, "wrong password", Some(&address)).await;
            outcomes.push(outcome(&answer));
            messages.push(answer.body["errors"][0]["message"].clone());
            if i >= 3 {
                assert_rate_limited(&answer, 900, label);
            }
        }
        seen.push((outcomes, messages));
    }
    assert_eq!(
        seen[0].0,
        [
            "UNAUTHENTICATED",
            "UNAUTHENTICATED",
            "UNAUTHENTICATED",
            "RATE_LIMITED",
            "RATE_LIMITED"
        ]
    );
    assert_eq!(
        seen[0].0, seen[1].0,
        "outcomes reveal whether the account exists"
    );
    assert_eq!(
        seen[0].1[..3],
        seen[1].1[..3],
        "messages reveal whether the account exists"
    );
}

#[tokio::test]
async fn a_successful_login_resets_the_account_counter() {
    let app =
        TestApp::spawn_with(&[("LOGIN_MAX_FAILURES", "3"), ("TRUSTED_PROXY_HOPS", "1")]).await;
    let user = app.register("reset").await;
    let mut address = 0;
    let mut next = || {
        address += 1;
        format!("192.0.2.{address}")
    };
    for round in 0..3 {
        for _ in 0..2 {
            let answer = login(&app, &user.email, "wrong password", Some(&next())).await;
            assert_eq!(
                outcome(&answer),
                "UNAUTHENTICATED",
                "round {round}: {}",
                answer.text
            );
        }
        let answer = login(&app, &user.email, PASSWORD, Some(&next())).await;
        assert_eq!(outcome(&answer), "OK", "round {round}: {}", answer.text);
    }
    for _ in 0..3 {
        login(&app, &user.email, "wrong password", Some(&next())).await;
    }
    let answer = login(&app, &user.email, PASSWORD, Some(&next())).await;
    assert_rate_limited(&answer, 900, "three failures in a row");
}

#[tokio::test]
async fn login_limits_end_with_their_window() {
    let app = TestApp::spawn_with(&[("LOGIN_MAX_FAILURES", "2"), ("LOGIN_WINDOW_SECS", "1")]).await;
    let user = app.register("window").await;
    for _ in 0..2 {
        let answer = login(&app, &user.email, "wrong password", None).await;
        assert_eq!(outcome(&answer), "UNAUTHENTICATED", "{}", answer.text);
    }
    let answer = login(&app, &user.email, PASSWORD, None).await;
    assert_rate_limited(&answer, 1, "inside the window");
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let answer = login(&app, &user.email, PASSWORD, None).await;
    assert_eq!(outcome(&answer), "OK", "after the window: {}", answer.text);
}

#[tokio::test]
async fn login_failures_are_limited_per_address_across_accounts() {
    let app = TestApp::spawn_with(&[("LOGIN_MAX_FAILURES", "3")]).await;
    let user = app.register("sprayed").await;
    // Password spraying: one attempt per account, all from 127.0.0.1.
    for i in 0..3 {
        let email = format!("spray{i}.{}@example.com", uuid::Uuid::new_v4().simple());
        let answer = login(&app, &email, "wrong password", None).await;
        assert_eq!(outcome(&answer), "UNAUTHENTICATED", "{}", answer.text);
    }
    let answer = login(&app, &user.email, PASSWORD, None).await;
    assert_rate_limited(&answer, 900, "fourth account from the same address");
    // X-Forwarded-For is not trusted without TRUSTED_PROXY_HOPS.
    let answer = login(&app, &user.email, PASSWORD, Some("203.0.113.77")).await;
    assert_rate_limited(&answer, 900, "spoofed X-Forwarded-For");
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_address_has_its_own_counter() {
    let app =
        TestApp::spawn_with(&[("LOGIN_MAX_FAILURES", "2"), ("TRUSTED_PROXY_HOPS", "1")]).await;
    let user = app.register("proxied").await;
    for i in 0..2 {
        let email = format!("proxy{i}.{}@example.com", uuid::Uuid::new_v4().simple());
        let answer = login(&app, &email, "wrong password", Some("203.0.113.10")).await;
        assert_eq!(outcome(&answer), "UNAUTHENTICATED", "{}", answer.text);
    }
    let answer = login(&app, &user.email, PASSWORD, Some("203.0.113.10")).await;
    assert_rate_limited(&answer, 900, "the limited address");
    // What the client put in front of the proxy's entry changes nothing.
    let answer = login(
        &app,
        &user.email,
        PASSWORD,
        Some("198.51.100.1, 203.0.113.10"),
    )
    .await;
    assert_rate_limited(&answer, 900, "spoofed entry before the proxy's");
    let answer = login(&app, &user.email, PASSWORD, Some("203.0.113.11")).await;
    assert_eq!(outcome(&answer), "OK", "another address: {}", answer.text);
}

#[tokio::test]
async fn registration_is_limited_per_address() {
    let app = TestApp::spawn_with(&[("REGISTER_MAX_PER_HOUR", "2")]).await;
    app.register("first").await;
    app.register("second").await;
    let email = format!("third.{}@example.com", uuid::Uuid::new_v4().simple());
    let answer = app.post_graphql(
        JSON,
        None,
        &json!({ "query": register_query("accessToken"), "variables": { "input": { "email": email, "password": PASSWORD } } }),
    )
    .await;
    assert_rate_limited(&answer, 3600, "third registration");
    assert!(answer.body["data"].is_null());
    let answer = login(&app, &email, PASSWORD, None).await;
    assert_eq!(
        outcome(&answer),
        "UNAUTHENTICATED",
        "the account was not created"
    );
}

#[tokio::test]
async fn refresh_is_limited_per_address() {
    let app = TestApp::spawn_with(&[("REFRESH_MAX_PER_MINUTE", "2")]).await;
    let user = app.register("refresher").await;
    let refresh = "mutation($t: String!) { refreshToken(refreshToken: $t) { refreshToken } }";
    let mut token = user.refresh_token.clone();
    for i in 0..2 {
        let answer = app
            .post_graphql(
                JSON,
                None,
                &json!({ "query": refresh, "variables": { "t": token } }),
            )
            .await;
        token = answer.body["data"]["refreshToken"]["refreshToken"]
            .as_str()
            .unwrap_or_else(|| panic!("refresh {i}: {}", answer.text))
            .to_owned();
    }
    let answer = app
        .post_graphql(
            JSON,
            None,
            &json!({ "query": refresh, "variables": { "t": token } }),
        )
        .await;
    assert_rate_limited(&answer, 60, "third refresh");
}

#[tokio::test]
async fn the_per_user_budget_refuses_expensive_callers_with_429() {
    let app = TestApp::spawn_with(&[("USER_BUDGET_PER_MINUTE", "50")]).await;
    let spender = app.register("spender").await;
    let saver = app.register("saver").await;
    // 2 + 10 × 2 = 22 points: the third call in a minute is over 50.
    let big = json!({ "query": "{ todos(first: 10) { nodes { id } } }" });
    let first = app
        .post_graphql(GRJ, Some(&spender.access_token), &big)
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert!(first.body["errors"].is_null(), "{}", first.text);
    let mut refused = None;
    for _ in 0..5 {
        let answer = app
            .post_graphql(GRJ, Some(&spender.access_token), &big)
            .await;
        if answer.status != StatusCode::OK {
            refused = Some(answer);
            break;
        }
    }
    let refused = refused.expect("the budget never ran out");
    assert_eq!(
        refused.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        refused.text
    );
    assert!(refused.body.get("data").is_none(), "{}", refused.text);
    assert_rate_limited(&refused, 60, "over budget");
    // Legacy JSON: 200 with the same code and header.
    let legacy = app
        .post_graphql(JSON, Some(&spender.access_token), &big)
        .await;
    assert_eq!(legacy.status, StatusCode::OK);
    assert_rate_limited(&legacy, 60, "over budget, application/json");
    // Budgets are per user.
    let other = app.post_graphql(GRJ, Some(&saver.access_token), &big).await;
    assert_eq!(other.status, StatusCode::OK, "{}", other.text);
    assert!(other.body["errors"].is_null(), "{}", other.text);
}
