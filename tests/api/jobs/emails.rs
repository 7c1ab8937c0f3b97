//! The emails jobs send: a welcome on registration (and none for a failed
//! one), and password reset by email.

use std::time::Duration;

use serde_json::json;

use super::{
    Db, FAST_POLL, JOBS_ON, is_pool_name, request_reset, reset_password, reset_token_of, sent_to,
};
use crate::support::{
    PASSWORD, SESSION, TestApp, error_code,
    smtp_sink::{Mail, SmtpSink},
    unique_email,
};

// --- Welcome email ----------------------------------------------------------

#[tokio::test]
async fn registering_sends_a_welcome_email_with_the_name_escaped_in_html() {
    let sink = SmtpSink::start().await;
    let smtp = sink.url();
    let app = TestApp::spawn_with(&[
        JOBS_ON,
        FAST_POLL,
        ("SMTP_URL", &smtp),
        ("MAIL_FROM", "todoql tests <robot@todoql.test>"),
    ])
    .await;
    let db = Db::connect(&app.database_url).await;
    let name = r#"<b>Ann & "Co"</b>"#;
    let email = unique_email("ann");
    let body = app
        .register_with(&email, PASSWORD, Some(name), SESSION)
        .await;
    assert!(body["errors"].is_null(), "register failed: {body}");
    let user_id = body["data"]["register"]["user"]["id"].as_str().unwrap();

    let messages = sink.wait_for(1, Duration::from_secs(10)).await;
    let received = &messages[0];
    assert_eq!(received.to, [email.as_str()], "envelope recipients");
    assert_eq!(received.from, "robot@todoql.test", "envelope sender");
    let mail = received.mail();
    assert_eq!(mail.subject(), "Welcome to todoql");
    assert_eq!(mail.content_type, "multipart/alternative", "{mail:#?}");
    let to = mail.header("to").unwrap();
    assert!(to.contains(&email), "To: {to}");
    let from = mail.header("from").unwrap();
    assert!(from.contains("robot@todoql.test"), "From: {from}");

    let text = mail.text.as_deref().expect("a text/plain part");
    let html = mail.html.as_deref().expect("a text/html part");
    // Raw in the text part, escaped in the HTML one.
    assert!(text.contains(&format!("Hi {name},")), "text part:\n{text}");
    assert!(text.contains(&email), "text part:\n{text}");
    assert!(
        html.contains("Hi &lt;b&gt;Ann &amp; &quot;Co&quot;&lt;/b&gt;,"),
        "HTML part:\n{html}"
    );
    assert!(!html.contains("<b>Ann"), "unescaped name in HTML:\n{html}");
    assert!(html.contains(&format!("<code>{email}</code>")), "{html}");
    assert!(
        !text.contains("{{") && !html.contains("{{"),
        "unfilled placeholders"
    );

    // The job is recorded as done, first time.
    let jobs = db.jobs_where("welcome_email", "user_id", user_id).await;
    assert_eq!(jobs.len(), 1, "{jobs:#?}");
    let job = db
        .wait_job(&jobs[0].id, Duration::from_secs(5), |j| {
            j.state == "succeeded"
        })
        .await;
    assert_eq!(
        (job.kind.as_str(), job.attempts),
        ("welcome_email", 1),
        "{job:#?}"
    );
    assert!(
        job.last_error.is_none() && job.finished_at.is_some(),
        "{job:#?}"
    );
    assert!(is_pool_name(job.pool()), "{job:#?}");

    // And only one email.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.messages().len(), 1, "{:#?}", sink.messages());
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_registration_that_fails_enqueues_no_welcome_email() {
    // No workers: what is enqueued stays in the table to be counted.
    let app = TestApp::spawn().await;
    let db = Db::connect(&app.database_url).await;
    let email = unique_email("taken");
    let first = app
        .register_with(&email, PASSWORD, Some("First"), SESSION)
        .await;
    assert!(first["errors"].is_null(), "{first}");
    let user_id = first["data"]["register"]["user"]["id"].as_str().unwrap();

    for again in [email.clone(), email.to_uppercase()] {
        let body = app
            .register_with(&again, PASSWORD, Some("Second"), SESSION)
            .await;
        assert_eq!(error_code(&body), "CONFLICT", "{body}");
    }
    // Invalid input fails before anything is written.
    let weak = app
        .gql(
            "mutation($input: RegisterInput!) { register(input: $input) { accessToken } }",
            json!({ "input": { "email": unique_email("weak"), "password": "x" } }),
        )
        .await;
    assert_eq!(error_code(&weak), "BAD_USER_INPUT", "{weak}");

    let all = db
        .rows("SELECT payload ->> 'user_id', state FROM jobs WHERE kind = 'welcome_email'")
        .await;
    assert_eq!(
        all,
        [vec![Some(user_id.to_owned()), Some("queued".to_owned())]],
        "exactly the first registration's job"
    );
    assert_eq!(db.count("SELECT count(*) FROM jobs").await, 1);
    assert_eq!(db.count("SELECT count(*) FROM users").await, 1);
    // And one verification code row: the welcome email's.
    assert_eq!(
        db.count("SELECT count(*) FROM email_verification_codes")
            .await,
        1
    );
}

// --- Password reset ----------------------------------------------------------

#[tokio::test]
async fn a_password_reset_by_email_replaces_the_password_and_every_session() {
    let sink = SmtpSink::start().await;
    let smtp = sink.url();
    let app = TestApp::spawn_with(&[
        JOBS_ON,
        FAST_POLL,
        ("SMTP_URL", &smtp),
        ("PASSWORD_RESET_TTL_SECS", "600"),
        ("PASSWORD_RESET_MAX_PER_HOUR", "100"),
    ])
    .await;
    let db = Db::connect(&app.database_url).await;
    let user = app.register("resetter").await;
    let second = app.login(&user.email, PASSWORD, SESSION).await;
    let second_refresh = second["data"]["login"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let welcome = sink.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(welcome.len(), 1);

    // Two requests: two emails, two different codes.
    for _ in 0..2 {
        let body = request_reset(&app, &user.email).await;
        assert_eq!(body["data"]["requestPasswordReset"], true, "{body}");
    }
    let messages = sink.wait_for(3, Duration::from_secs(10)).await;
    let resets: Vec<Mail> = sent_to(&messages, &user.email)
        .into_iter()
        .filter(|m| m.subject() == "Reset your todoql password")
        .collect();
    assert_eq!(resets.len(), 2, "{messages:#?}");
    let tokens: Vec<String> = resets.iter().map(reset_token_of).collect();
    assert_ne!(tokens[0], tokens[1], "each email has its own code");
    for (mail, token) in resets.iter().zip(&tokens) {
        let html = mail.html.as_deref().expect("an HTML part");
        assert!(html.contains(&format!("<code>{token}</code>")), "{html}");
        assert!(html.contains(&user.email), "{html}");
    }
    // The codes exist only in the emails: hashed in the database, never in
    // the queue; they last PASSWORD_RESET_TTL_SECS.
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM password_resets WHERE user_id = '{}'
             AND expires_at - created_at BETWEEN interval '599 seconds' AND interval '601 seconds'",
            user.id
        ))
        .await,
        2
    );
    for token in &tokens {
        let leaks = db
            .count(&format!(
                "SELECT (SELECT count(*) FROM jobs WHERE payload::text LIKE '%{token}%')
                      + (SELECT count(*) FROM password_resets
                         WHERE position(convert_to('{token}', 'UTF8') IN token_hash) > 0)"
            ))
            .await;
        assert_eq!(leaks, 0, "the reset code is stored in clear");
    }

    // The second code works, and signs in.
    let body = reset_password(&app, &tokens[1], "a brand new passphrase").await;
    assert!(body["errors"].is_null(), "resetPassword failed: {body}");
    let session = &body["data"]["resetPassword"];
    assert_eq!(session["user"]["id"], user.id.as_str());
    let new_access = session["accessToken"].as_str().unwrap();
    let new_refresh = session["refreshToken"].as_str().unwrap().to_owned();
    let me = app
        .gql_with(Some(new_access), "{ me { id } }", json!({}))
        .await;
    assert_eq!(me["data"]["me"]["id"], user.id.as_str(), "{me}");

    // Single use; and it voided the other outstanding code.
    for token in [&tokens[1], &tokens[0]] {
        let again = reset_password(&app, token, "yet another passphrase").await;
        assert_eq!(error_code(&again), "UNAUTHENTICATED", "{again}");
    }
    // Every earlier session is signed out; the new one works.
    for old in [&user.refresh_token, &second_refresh] {
        let body = app.refresh(old, SESSION).await;
        assert_eq!(error_code(&body), "UNAUTHENTICATED", "{body}");
    }
    let body = app.refresh(&new_refresh, SESSION).await;
    assert!(
        body["errors"].is_null(),
        "the new session must work: {body}"
    );

    // The password changed.
    let old = app.login(&user.email, PASSWORD, SESSION).await;
    assert_eq!(error_code(&old), "UNAUTHENTICATED", "{old}");
    let new = app
        .login(&user.email, "a brand new passphrase", SESSION)
        .await;
    assert!(new["errors"].is_null(), "{new}");

    let jobs = db
        .jobs_where("password_reset_email", "user_id", &user.id)
        .await;
    assert_eq!(jobs.len(), 2);
    assert!(
        jobs.iter()
            .all(|j| j.state == "succeeded" && j.attempts == 1),
        "{jobs:#?}"
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn expired_and_unknown_reset_codes_and_unknown_addresses_get_nothing() {
    let sink = SmtpSink::start().await;
    let smtp = sink.url();
    let app = TestApp::spawn_with(&[
        JOBS_ON,
        FAST_POLL,
        ("SMTP_URL", &smtp),
        ("PASSWORD_RESET_TTL_SECS", "1"),
        ("PASSWORD_RESET_MAX_PER_HOUR", "100"),
    ])
    .await;
    let db = Db::connect(&app.database_url).await;
    let user = app.register("forgetful").await;
    sink.wait_for(1, Duration::from_secs(10)).await;

    // An address without an account: the same answer, no job, no email.
    let stranger = unique_email("stranger");
    let body = request_reset(&app, &stranger).await;
    assert_eq!(body, json!({ "data": { "requestPasswordReset": true } }));
    assert_eq!(
        db.count("SELECT count(*) FROM jobs WHERE kind = 'password_reset_email'")
            .await,
        0
    );

    let body = request_reset(&app, &user.email).await;
    assert_eq!(body, json!({ "data": { "requestPasswordReset": true } }));
    let messages = sink.wait_for(2, Duration::from_secs(10)).await;
    let token = reset_token_of(&sent_to(&messages, &user.email)[1]);
    assert!(sent_to(&messages, &stranger).is_empty());

    // Wait out PASSWORD_RESET_TTL_SECS=1.
    db.wait_count(
        &format!(
            "SELECT count(*) FROM password_resets WHERE user_id = '{}' AND expires_at < now()",
            user.id
        ),
        1,
        Duration::from_secs(5),
    )
    .await;
    let expired = reset_password(&app, &token, "a brand new passphrase").await;
    assert_eq!(error_code(&expired), "UNAUTHENTICATED", "{expired}");
    assert!(expired["data"].is_null(), "{expired}");
    let unknown =
        reset_password(&app, "not-a-code-anyone-was-sent", "a brand new passphrase").await;
    assert_eq!(error_code(&unknown), "UNAUTHENTICATED", "{unknown}");
    assert_eq!(
        expired["errors"][0]["message"], unknown["errors"][0]["message"],
        "expired and unknown codes must look alike"
    );

    // Nothing changed.
    let still = app.login(&user.email, PASSWORD, SESSION).await;
    assert!(still["errors"].is_null(), "{still}");
    assert!(app.refresh(&user.refresh_token, SESSION).await["errors"].is_null());
    assert_eq!(sink.messages().len(), 2, "{:#?}", sink.messages());
    app.stop().await.unwrap();
}

#[tokio::test]
async fn password_reset_requests_are_rate_limited() {
    let app = TestApp::spawn_with(&[("PASSWORD_RESET_MAX_PER_HOUR", "2")]).await;
    let db = Db::connect(&app.database_url).await;
    let user = app.register("hammer").await;
    for _ in 0..2 {
        let body = request_reset(&app, &user.email).await;
        assert_eq!(body["data"]["requestPasswordReset"], true, "{body}");
    }
    let limited = request_reset(&app, &user.email).await;
    assert_eq!(error_code(&limited), "RATE_LIMITED", "{limited}");
    assert!(
        limited["errors"][0]["extensions"]["retryAfter"]
            .as_u64()
            .is_some(),
        "{limited}"
    );
    // The refused request enqueued nothing.
    assert_eq!(
        db.count("SELECT count(*) FROM jobs WHERE kind = 'password_reset_email'")
            .await,
        2
    );
}
