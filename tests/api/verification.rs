//! Email verification end to end: the code in the welcome email (read from
//! a real SMTP sink), `verifyEmail` with right, wrong, used, expired and
//! replaced codes, `resendVerification` and its hourly limit (counted in
//! PostgreSQL, so a second instance sees it too), authentication,
//! accounts from before verification existed, and the migration's way down
//! and up again.

use std::time::Duration;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{
    JWT_SECRET, TestApp, TestUser, claims_for, error_code,
    smtp_sink::{Mail, SmtpSink},
};

const JOBS_ON: (&str, &str) = ("JOBS_IN_PROCESS", "true");
const FAST_POLL: (&str, &str) = ("JOB_POLL_INTERVAL_MS", "100");
const APP_URL: &str = "https://todo.example";
const VERIFY: &str =
    "mutation($code: String!) { verifyEmail(code: $code) { id email emailVerified } }";
const RESEND: &str = "mutation { resendVerification }";
const MIGRATION: &str = "2026-12-04-000002_email_verification";

/// An app whose workers send email to `sink`, linking to [`APP_URL`].
async fn app_with_mail(sink: &SmtpSink) -> TestApp {
    let smtp = sink.url();
    TestApp::spawn_with(&[
        JOBS_ON,
        FAST_POLL,
        ("SMTP_URL", &smtp),
        ("APP_URL", APP_URL),
    ])
    .await
}

/// Every row of `sql` on the app's database, every column as text.
async fn rows(app: &TestApp, sql: &str) -> Vec<Vec<Option<String>>> {
    let (client, connection) = tokio_postgres::connect(&app.database_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).map(str::to_owned))
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

/// The first column of the first row.
async fn value(app: &TestApp, sql: &str) -> Option<String> {
    rows(app, sql)
        .await
        .into_iter()
        .next()
        .and_then(|r| r.into_iter().next().flatten())
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    value(app, sql).await.unwrap().parse().unwrap()
}

/// `users.email_verified_at` and `updated_at` of a user, as text.
async fn verified_at(app: &TestApp, user: &TestUser) -> (Option<String>, Option<String>) {
    let row = rows(
        app,
        &format!(
            "SELECT email_verified_at, updated_at FROM users WHERE id = '{}'",
            user.id
        ),
    )
    .await;
    (row[0][0].clone(), row[0][1].clone())
}

async fn verify(app: &TestApp, user: &TestUser, code: &str) -> Value {
    app.gql_as(user, VERIFY, json!({ "code": code })).await
}

async fn me_verified(app: &TestApp, user: &TestUser) -> bool {
    app.data_as(user, "{ me { emailVerified } }", json!({}))
        .await["me"]["emailVerified"]
        .as_bool()
        .unwrap()
}

/// The emails sent to `to` so far, once there are `n`.
async fn mails_to(sink: &SmtpSink, to: &str, n: usize) -> Vec<Mail> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mails: Vec<Mail> = sink
            .messages()
            .iter()
            .filter(|m| m.to.iter().any(|r| r == to))
            .map(|m| m.mail())
            .collect();
        if mails.len() >= n {
            return mails;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {n} emails to {to}",
            mails.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The code of a verification email: the one line of its text part that
/// is a code (`ABCDE-FGH12`).
fn code_of(mail: &Mail) -> String {
    let text = mail.text.as_deref().expect("a text/plain part");
    let codes: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.len() == 11
                && l.as_bytes()[5] == b'-'
                && l.chars()
                    .enumerate()
                    .all(|(i, c)| i == 5 || c.is_ascii_digit() || c.is_ascii_uppercase())
        })
        .collect();
    assert_eq!(codes.len(), 1, "one code line expected in:\n{text}");
    codes[0].to_owned()
}

#[tokio::test]
async fn the_welcome_email_carries_a_code_and_a_link_that_verify_the_address() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink).await;
    let body = app
        .register_with(
            &crate::support::unique_email("vera"),
            crate::support::PASSWORD,
            Some("<Vera & co>"),
            "accessToken refreshToken user { id email emailVerified }",
        )
        .await;
    let payload = &body["data"]["register"];
    assert_eq!(payload["user"]["emailVerified"], false, "{body}");
    let user = TestUser {
        id: payload["user"]["id"].as_str().unwrap().to_owned(),
        email: payload["user"]["email"].as_str().unwrap().to_owned(),
        access_token: payload["accessToken"].as_str().unwrap().to_owned(),
        refresh_token: payload["refreshToken"].as_str().unwrap().to_owned(),
    };
    assert!(!me_verified(&app, &user).await);

    // One email at registration: the welcome, with the code.
    let mail = mails_to(&sink, &user.email, 1).await.remove(0);
    assert_eq!(mail.subject(), "Welcome to todoql");
    assert_eq!(mail.content_type, "multipart/alternative", "{mail:#?}");
    let code = code_of(&mail);
    let text = mail.text.as_deref().unwrap();
    let html = mail.html.as_deref().expect("a text/html part");
    let link = format!("{APP_URL}/app#verify={code}");
    assert!(text.lines().any(|l| l == link), "no link line in:\n{text}");
    assert!(text.contains("Hi <Vera & co>,"), "{text}");
    assert!(html.contains(&format!("<code>{code}</code>")), "{html}");
    assert!(html.contains(&format!(r#"<a href="{link}">"#)), "{html}");
    assert!(html.contains("Hi &lt;Vera &amp; co&gt;,"), "{html}");
    assert!(!html.contains("<Vera"), "unescaped name in HTML:\n{html}");

    // Stored as the SHA-256 of the code (without its hyphen), valid 48
    // hours; never in clear, neither in the code table nor in the queue.
    let canonical = code.replace('-', "");
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT count(*) FROM email_verification_codes WHERE user_id = '{}'
                 AND code_hash = sha256(convert_to('{canonical}', 'UTF8'))
                 AND expires_at - now() BETWEEN interval '47 hours 59 minutes' AND interval '48 hours'",
                user.id
            )
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT (SELECT count(*) FROM jobs WHERE payload::text LIKE '%{canonical}%'
                            OR payload::text LIKE '%{code}%')
                      + (SELECT count(*) FROM email_verification_codes
                         WHERE position(convert_to('{canonical}', 'UTF8') IN code_hash) > 0)"
            )
        )
        .await,
        0,
        "the code is stored in clear"
    );

    // Typed by hand: lowercase, a space for the hyphen.
    let typed = code.to_lowercase().replace('-', " ");
    let body = verify(&app, &user, &typed).await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(
        body["data"]["verifyEmail"],
        json!({ "id": user.id, "email": user.email, "emailVerified": true })
    );
    assert!(me_verified(&app, &user).await);
    assert!(verified_at(&app, &user).await.0.is_some());
    // Only one email was sent.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.messages().len(), 1, "{:#?}", sink.messages());
    app.stop().await.unwrap();
}

#[tokio::test]
async fn wrong_expired_and_used_codes_are_bad_user_input_and_change_nothing() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink).await;
    let user = app.register("wrong").await;
    let code = code_of(&mails_to(&sink, &user.email, 1).await[0]);
    let before = verified_at(&app, &user).await;
    assert_eq!(before.0, None);

    let mut wrong = code.clone().into_bytes();
    wrong[0] = if wrong[0] == b'A' { b'B' } else { b'A' };
    let wrong = String::from_utf8(wrong).unwrap();
    for bad in [wrong.as_str(), "not a code", "", "ABCDE-FGHIJ-KLMNO"] {
        let body = verify(&app, &user, bad).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{bad:?}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], "code", "{body}");
        assert!(body["data"].is_null(), "{body}");
    }

    // Expired: the right code, past its 48 hours.
    app.sql(&format!(
        "UPDATE email_verification_codes SET expires_at = now() - interval '1 second'
         WHERE user_id = '{}'",
        user.id
    ))
    .await;
    let body = verify(&app, &user, &code).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(
        body["errors"][0]["message"],
        verify(&app, &user, &wrong).await["errors"][0]["message"],
        "expired and wrong codes look alike"
    );
    assert_eq!(verified_at(&app, &user).await, before, "nothing changed");
    assert!(!me_verified(&app, &user).await);
    let unused = format!(
        "SELECT count(*) FROM email_verification_codes
         WHERE user_id = '{}' AND used_at IS NULL AND cancelled_at IS NULL",
        user.id
    );
    assert_eq!(count(&app, &unused).await, 1);

    // Back within its time, it works once.
    app.sql(&format!(
        "UPDATE email_verification_codes SET expires_at = now() + interval '1 hour'
         WHERE user_id = '{}'",
        user.id
    ))
    .await;
    let body = verify(&app, &user, &code).await;
    assert_eq!(body["data"]["verifyEmail"]["emailVerified"], true, "{body}");
    assert_eq!(count(&app, &unused).await, 0);

    // Used: were the account unverified again (say, a changed address),
    // the code would not verify it a second time.
    app.sql(&format!(
        "UPDATE users SET email_verified_at = NULL WHERE id = '{}'",
        user.id
    ))
    .await;
    let body = verify(&app, &user, &code).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    assert!(!me_verified(&app, &user).await);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn an_already_verified_caller_gets_itself_unchanged_whatever_the_code() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink).await;
    let user = app.register("done").await;
    let code = code_of(&mails_to(&sink, &user.email, 1).await[0]);
    let body = verify(&app, &user, &code).await;
    assert_eq!(body["data"]["verifyEmail"]["emailVerified"], true, "{body}");
    let after = verified_at(&app, &user).await;

    for any in [code.as_str(), "ZZZZZ-ZZZZZ", "anything at all", ""] {
        let body = verify(&app, &user, any).await;
        assert!(body["errors"].is_null(), "{any:?}: {body}");
        assert_eq!(
            body["data"]["verifyEmail"],
            json!({ "id": user.id, "email": user.email, "emailVerified": true })
        );
    }
    assert_eq!(verified_at(&app, &user).await, after, "nothing changed");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_resend_sends_a_new_code_and_cancels_the_ones_before() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink).await;
    let user = app.register("again").await;
    let first = code_of(&mails_to(&sink, &user.email, 1).await[0]);

    let body = app.gql_as(&user, RESEND, json!({})).await;
    assert_eq!(body, json!({ "data": { "resendVerification": true } }));
    let mails = mails_to(&sink, &user.email, 2).await;
    let mail = &mails[1];
    assert_eq!(mail.subject(), "Verify your todoql email address");
    assert_eq!(mail.content_type, "multipart/alternative", "{mail:#?}");
    let second = code_of(mail);
    assert_ne!(first, second);
    let link = format!("{APP_URL}/app#verify={second}");
    assert!(mail.text.as_deref().unwrap().lines().any(|l| l == link));
    let html = mail.html.as_deref().unwrap();
    assert!(html.contains(&format!("<code>{second}</code>")), "{html}");
    assert!(html.contains(&format!(r#"href="{link}""#)), "{html}");
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT count(*) FROM jobs WHERE kind = 'verification_email'
                 AND payload ->> 'user_id' = '{}'",
                user.id
            )
        )
        .await,
        1
    );

    // The first code was cancelled by the resend.
    let body = verify(&app, &user, &first).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    assert!(!me_verified(&app, &user).await);
    let body = verify(&app, &user, &second).await;
    assert_eq!(body["data"]["verifyEmail"]["emailVerified"], true, "{body}");

    // Verified: resending is pointless, and says so.
    let body = app.gql_as(&user, RESEND, json!({})).await;
    assert_eq!(body, json!({ "data": { "resendVerification": false } }));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(mails_to(&sink, &user.email, 2).await.len(), 2);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn the_sixth_verification_email_within_an_hour_is_rate_limited_on_every_instance() {
    // No workers: the limit counts what was asked for, sent or not.
    let app = TestApp::spawn().await;
    let user = app.register("eager").await;
    for i in 2..=5 {
        let body = app.gql_as(&user, RESEND, json!({})).await;
        assert_eq!(
            body["data"]["resendVerification"], true,
            "email {i}: {body}"
        );
    }
    let body = app.gql_as(&user, RESEND, json!({})).await;
    assert_eq!(error_code(&body), "RATE_LIMITED", "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("5 verification emails per hour"),
        "{message}"
    );
    let retry = body["errors"][0]["extensions"]["retryAfter"]
        .as_u64()
        .unwrap();
    assert!((3500..=3600).contains(&retry), "retryAfter {retry}");
    let codes = format!(
        "SELECT count(*) FROM email_verification_codes WHERE user_id = '{}'",
        user.id
    );
    assert_eq!(
        count(&app, &codes).await,
        5,
        "the refused one wrote nothing"
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM jobs WHERE kind = 'verification_email'"
        )
        .await,
        4
    );

    // Another instance (its own Redis keys) counts the same rows.
    let other = TestApp::spawn_on(app.database_url.clone(), &[]).await;
    let body = other.gql_as(&user, RESEND, json!({})).await;
    assert_eq!(error_code(&body), "RATE_LIMITED", "{body}");

    // A rolling hour: once the first email is 59 minutes old, a minute to wait.
    app.sql(&format!(
        "UPDATE email_verification_codes SET created_at = now() - interval '59 minutes'
         WHERE id = (SELECT id FROM email_verification_codes WHERE user_id = '{}'
                     ORDER BY created_at LIMIT 1)",
        user.id
    ))
    .await;
    let body = app.gql_as(&user, RESEND, json!({})).await;
    let retry = body["errors"][0]["extensions"]["retryAfter"]
        .as_u64()
        .unwrap();
    assert!((50..=60).contains(&retry), "retryAfter {retry}: {body}");
    // Past the hour, one more.
    app.sql(&format!(
        "UPDATE email_verification_codes SET created_at = now() - interval '61 minutes'
         WHERE id = (SELECT id FROM email_verification_codes WHERE user_id = '{}'
                     ORDER BY created_at LIMIT 1)",
        user.id
    ))
    .await;
    let body = other.gql_as(&user, RESEND, json!({})).await;
    assert_eq!(body["data"]["resendVerification"], true, "{body}");
    let body = app.gql_as(&user, RESEND, json!({})).await;
    assert_eq!(error_code(&body), "RATE_LIMITED", "{body}");
    other.stop().await.unwrap();
    app.stop().await.unwrap();
}

#[tokio::test]
async fn concurrent_resends_cannot_pass_the_limit_together() {
    let app = TestApp::spawn().await;
    let user = app.register("racer").await;
    let answers =
        futures_util::future::join_all((0..10).map(|_| app.gql_as(&user, RESEND, json!({})))).await;
    let sent = answers
        .iter()
        .filter(|b| b["data"]["resendVerification"] == true)
        .count();
    let limited = answers
        .iter()
        .filter(|b| b["errors"][0]["extensions"]["code"] == "RATE_LIMITED")
        .count();
    assert_eq!((sent, limited), (4, 6), "{answers:#?}");
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT count(*) FROM email_verification_codes WHERE user_id = '{}'",
                user.id
            )
        )
        .await,
        5
    );
    // Only the newest code is outstanding.
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM email_verification_codes WHERE cancelled_at IS NULL"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn a_verified_caller_gets_false_from_resend_whatever_the_limit() {
    let app = TestApp::spawn().await;
    let user = app.register("verified").await;
    app.sql(&format!(
        "UPDATE users SET email_verified_at = now() WHERE id = '{}'",
        user.id
    ))
    .await;
    app.sql(&format!(
        "INSERT INTO email_verification_codes (id, user_id, expires_at)
         SELECT gen_random_uuid(), '{}', now() + interval '48 hours' FROM generate_series(1, 10)",
        user.id
    ))
    .await;
    let body = app.gql_as(&user, RESEND, json!({})).await;
    assert_eq!(body, json!({ "data": { "resendVerification": false } }));
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM jobs WHERE kind = 'verification_email'"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn wrong_codes_are_limited_per_account() {
    let app = TestApp::spawn().await;
    let user = app.register("guesser").await;
    for i in 0..20 {
        let body = verify(&app, &user, &format!("AAAAA-AAA{i:02}")).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "guess {i}: {body}");
    }
    let body = verify(&app, &user, "AAAAA-AAA99").await;
    assert_eq!(error_code(&body), "RATE_LIMITED", "{body}");
    assert!(
        body["errors"][0]["extensions"]["retryAfter"]
            .as_u64()
            .is_some(),
        "{body}"
    );
    // Another account is not affected.
    let other = app.register("innocent").await;
    let body = verify(&app, &other, "AAAAA-AAAAA").await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
}

#[tokio::test]
async fn verification_needs_a_signed_in_caller() {
    let app = TestApp::spawn().await;
    let user = app.register("someone").await;
    for token in [None, Some("not-a-token")] {
        for (query, vars) in [
            (VERIFY, json!({ "code": "ABCDE-FGH12" })),
            (RESEND, json!({})),
        ] {
            let body = app.gql_with(token, query, vars).await;
            assert_eq!(error_code(&body), "UNAUTHENTICATED", "{query}: {body}");
            assert!(body["data"].is_null(), "{body}");
        }
    }
    // Nothing was written for anyone.
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT count(*) FROM email_verification_codes WHERE user_id = '{}'",
                user.id
            )
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM jobs WHERE kind = 'verification_email'"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn accounts_from_before_verification_are_unverified_and_can_verify() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink).await;
    // A row as the previous version wrote it (no email_verified_at), and
    // the welcome job it enqueued (no code row, no code_id).
    let id = Uuid::now_v7();
    let email = crate::support::unique_email("old");
    app.sql(&format!(
        "INSERT INTO users (id, email, password_hash) VALUES ('{id}', '{email}', 'x')"
    ))
    .await;
    app.sql(&format!(
        "INSERT INTO jobs (id, kind, payload)
         VALUES (gen_random_uuid(), 'welcome_email', '{{\"user_id\": \"{id}\"}}')"
    ))
    .await;
    app.sql("NOTIFY todoql_jobs").await;
    let mut user = TestUser {
        id: id.to_string(),
        email: email.clone(),
        access_token: String::new(),
        refresh_token: String::new(),
    };
    let tokens =
        todoql::auth::token::AccessTokens::new(JWT_SECRET.as_bytes(), Duration::from_secs(600));
    user.access_token = tokens.sign(&claims_for(&user)).unwrap();
    assert!(!me_verified(&app, &user).await);

    // That welcome job still works, and now carries a code.
    let code = code_of(&mails_to(&sink, &email, 1).await[0]);
    let body = verify(&app, &user, &code).await;
    assert_eq!(body["data"]["verifyEmail"]["emailVerified"], true, "{body}");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn the_migration_goes_down_and_up_and_leaves_existing_accounts_unverified() {
    let app = TestApp::spawn().await;
    let user = app.register("migrated").await;
    app.sql(&format!(
        "UPDATE users SET email_verified_at = now() WHERE id = '{}'",
        user.id
    ))
    .await;
    let url = app.database_url.clone();
    app.stop().await.unwrap();

    // Down: every migration after this one, then this one.
    crate::support::db::revert_through(&url, MIGRATION).await;
    let gone = |table: &str, column: &str| {
        format!(
            "SELECT count(*) FROM information_schema.columns
             WHERE table_name = '{table}' AND column_name = '{column}'"
        )
    };
    // A plain client: spawning the app would migrate up again.
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let n = |rows: Vec<tokio_postgres::SimpleQueryMessage>| -> i64 {
        rows.into_iter()
            .find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(|v| v.parse().unwrap()),
                _ => None,
            })
            .unwrap()
    };
    for (table, column) in [
        ("users", "email_verified_at"),
        ("email_verification_codes", "id"),
    ] {
        let rows = client.simple_query(&gone(table, column)).await.unwrap();
        assert_eq!(n(rows), 0, "{table}.{column} after down");
    }

    // Up again: the account, from before, is unverified.
    crate::support::db::migrate_up(&url).await;
    let rows = client
        .simple_query(&format!(
            "SELECT count(*) FROM users WHERE id = '{}' AND email_verified_at IS NULL",
            user.id
        ))
        .await
        .unwrap();
    assert_eq!(n(rows), 1);
    let rows = client
        .simple_query(&gone("email_verification_codes", "code_hash"))
        .await
        .unwrap();
    assert_eq!(n(rows), 1);
}

#[tokio::test]
async fn an_email_whose_code_a_resend_replaced_before_it_went_out_is_not_sent() {
    // Workers off: both emails wait in the queue.
    let app = TestApp::spawn().await;
    let user = app.register("queued").await;
    let body = app.gql_as(&user, RESEND, json!({})).await;
    assert_eq!(body["data"]["resendVerification"], true, "{body}");

    // Now a worker instance: the welcome's code was cancelled by the resend,
    // so only the new code's email goes out.
    let sink = SmtpSink::start().await;
    let smtp = sink.url();
    let worker = TestApp::spawn_on(
        app.database_url.clone(),
        &[
            JOBS_ON,
            FAST_POLL,
            ("SMTP_URL", &smtp),
            ("APP_URL", APP_URL),
        ],
    )
    .await;
    let mail = mails_to(&sink, &user.email, 1).await.remove(0);
    assert_eq!(mail.subject(), "Verify your todoql email address");
    let succeeded = "SELECT count(*) FROM jobs WHERE state = 'succeeded'";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while count(&app, succeeded).await < 2 {
        assert!(tokio::time::Instant::now() < deadline, "jobs not done");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.messages().len(), 1, "{:#?}", sink.messages());
    let body = verify(&app, &user, &code_of(&mail)).await;
    assert_eq!(body["data"]["verifyEmail"]["emailVerified"], true, "{body}");
    worker.stop().await.unwrap();
    app.stop().await.unwrap();
}
