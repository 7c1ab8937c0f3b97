//! Accounts and sessions over GraphQL: register, login, refresh-token
//! rotation and theft detection, logout, access-token (JWT) attacks,
//! authentication of every protected operation, and exotic input.

use base64::Engine;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::header::AUTHORIZATION;
use serde_json::{Value, json};
use todoql::auth::token::{AUDIENCE, Claims, ISSUER};
use uuid::Uuid;

use crate::support::{
    JWT_SECRET, PASSWORD, TODO_FIELDS, TestApp, TestUser, claims_for, error_code, unique_email,
};

/// Every field of `User` the tests look at.
macro_rules! user_fields {
    () => {
        "id email displayName createdAt todoCounts { total }"
    };
}

const USER_FIELDS: &str = user_fields!();

/// What `register` and `login` select here: the whole session and user.
const SESSION_FIELDS: &str = concat!(
    "accessToken refreshToken tokenType expiresIn user { ",
    user_fields!(),
    " }"
);

/// What `refreshToken` selects here.
const REFRESHED: &str = "accessToken refreshToken tokenType expiresIn user { id email }";

fn me_query() -> String {
    format!("{{ me {{ {USER_FIELDS} }} }}")
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

async fn me(app: &TestApp, token: Option<&str>) -> Value {
    app.gql_with(token, &me_query(), json!({})).await
}

/// `me` with a raw `Authorization` header value.
async fn me_with_header(app: &TestApp, authorization: &str) -> Value {
    let response = app
        .graphql_request(None, &json!({ "query": me_query() }))
        .header(AUTHORIZATION, authorization)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    response.json().await.unwrap()
}

/// Asserts an error with exactly this code and no data for the field.
#[track_caller]
fn assert_refused(body: &Value, code: &str, context: &str) {
    assert_eq!(error_code(body), code, "{context}: {body}");
    assert!(
        body["data"].is_null()
            || body["data"]
                .as_object()
                .unwrap()
                .values()
                .all(Value::is_null),
        "{context}: data leaked: {body}"
    );
}

/// `me` with this token is refused as UNAUTHENTICATED.
async fn assert_me_refused(app: &TestApp, token: &str, context: &str) {
    let body = me(app, Some(token)).await;
    assert_refused(&body, "UNAUTHENTICATED", context);
}

/// `me` with this token answers as `user`.
async fn assert_me_is(app: &TestApp, token: &str, user: &TestUser, context: &str) {
    let body = me(app, Some(token)).await;
    assert!(body["errors"].is_null(), "{context}: {body}");
    assert_eq!(body["data"]["me"]["id"], user.id, "{context}: {body}");
}

/// Signs `claims` with `jsonwebtoken` directly.
fn encode(
    alg: Algorithm,
    typ: Option<&str>,
    claims: &impl serde::Serialize,
    secret: &[u8],
) -> String {
    let mut header = Header::new(alg);
    header.typ = typ.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret)).unwrap()
}

fn payload_of(body: &Value, field: &str) -> Value {
    let payload = body["data"][field].clone();
    assert!(payload.is_object(), "{field} failed: {body}");
    payload
}

fn refresh_token_of(body: &Value, field: &str) -> String {
    payload_of(body, field)["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned()
}

// --- register, me, login ----------------------------------------------------

#[tokio::test]
async fn register_returns_a_session_and_me_returns_the_same_user() {
    let app = TestApp::spawn().await;
    let before = Utc::now();
    let body = app
        .register_with(
            "Ada.Lovelace@Example.com",
            PASSWORD,
            Some("Ada"),
            SESSION_FIELDS,
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let payload = payload_of(&body, "register");

    assert_eq!(payload["tokenType"], "Bearer");
    assert_eq!(payload["expiresIn"], 900);
    let access = payload["accessToken"].as_str().unwrap();
    let refresh_token = payload["refreshToken"].as_str().unwrap();
    assert_eq!(access.split('.').count(), 3, "a JWT: {access}");
    assert!(refresh_token.len() >= 32, "{refresh_token}");
    assert_ne!(access, refresh_token);

    let user = &payload["user"];
    Uuid::parse_str(user["id"].as_str().unwrap()).expect("id is a UUID");
    assert_eq!(user["email"], "Ada.Lovelace@Example.com");
    assert_eq!(user["displayName"], "Ada");
    assert_eq!(user["todoCounts"]["total"], 0);
    let created: DateTime<Utc> = user["createdAt"].as_str().unwrap().parse().unwrap();
    assert!(
        (before - chrono::Duration::seconds(5)..=Utc::now() + chrono::Duration::seconds(5))
            .contains(&created),
        "createdAt {created} is not now"
    );

    let me_body = me(&app, Some(access)).await;
    assert!(me_body["errors"].is_null(), "{me_body}");
    assert_eq!(&me_body["data"]["me"], user);
}

#[tokio::test]
async fn register_without_display_name_gives_null() {
    let app = TestApp::spawn().await;
    let body = app
        .register_with(&unique_email("anon"), PASSWORD, None, SESSION_FIELDS)
        .await;
    let user = &payload_of(&body, "register")["user"];
    assert!(user["displayName"].is_null(), "{body}");
}

#[tokio::test]
async fn register_validation_names_the_field_and_creates_nothing() {
    let app = TestApp::spawn().await;

    // 64 + 1 + 63 + 1 + 63 + 1 + 62 = 255 characters, otherwise well formed.
    let local = "l".repeat(64);
    let too_long_email = format!(
        "{local}@{}.{}.{}",
        "a".repeat(63),
        "b".repeat(63),
        "c".repeat(62)
    );
    assert_eq!(too_long_email.chars().count(), 255);
    let longest_email = format!(
        "{local}@{}.{}.{}",
        "a".repeat(63),
        "b".repeat(63),
        "c".repeat(61)
    );
    assert_eq!(longest_email.chars().count(), 254);

    let bad_emails = [
        "",
        "   ",
        "plain",
        "@example.com",
        "a@",
        "a@b",
        "a@@b.com",
        "a b@c.com",
        "a@b..com",
        "a@-b.com",
        ".a@b.com",
        "a..b@c.com",
        "<a@b.com>",
        "a@b.com; DROP TABLE users",
        too_long_email.as_str(),
    ];
    for email in bad_emails {
        let body = app
            .register_with(email, PASSWORD, Some("x"), SESSION_FIELDS)
            .await;
        assert_refused(&body, "BAD_USER_INPUT", &format!("email {email:?}"));
        assert_eq!(
            body["errors"][0]["extensions"]["field"], "email",
            "{email:?}: {body}"
        );
    }
    // Nothing was created: no account to sign in to.
    for email in ["a@b.com", too_long_email.as_str()] {
        let body = app.login(email, PASSWORD, SESSION_FIELDS).await;
        assert_refused(&body, "UNAUTHENTICATED", &format!("login {email:?}"));
    }

    let short_pw = unique_email("shortpw");
    let long_pw = unique_email("longpw");
    let long_name = unique_email("longname");
    let cases = [
        (short_pw.as_str(), "1234567".to_owned(), None, "password"),
        (short_pw.as_str(), String::new(), None, "password"),
        (long_pw.as_str(), "p".repeat(129), None, "password"),
        (
            long_name.as_str(),
            PASSWORD.to_owned(),
            Some("n".repeat(101)),
            "displayName",
        ),
    ];
    for (email, password, name, field) in &cases {
        let body = app
            .register_with(email, password, name.as_deref(), SESSION_FIELDS)
            .await;
        assert_refused(&body, "BAD_USER_INPUT", &format!("{field} for {email}"));
        assert_eq!(body["errors"][0]["extensions"]["field"], *field, "{body}");
    }

    // The same addresses are still free, and the bounds themselves are
    // accepted: 8 and 128 character passwords, a 100 character name, a
    // 254 character address.
    let body = app
        .register_with(&short_pw, "12345678", None, SESSION_FIELDS)
        .await;
    assert!(body["errors"].is_null(), "8 char password: {body}");
    let pw128 = "p".repeat(128);
    let body = app
        .register_with(&long_pw, &pw128, None, SESSION_FIELDS)
        .await;
    assert!(body["errors"].is_null(), "128 char password: {body}");
    let name100 = "n".repeat(100);
    let body = app
        .register_with(&long_name, PASSWORD, Some(&name100), SESSION_FIELDS)
        .await;
    assert!(body["errors"].is_null(), "100 char name: {body}");
    assert_eq!(
        payload_of(&body, "register")["user"]["displayName"],
        name100
    );
    let body = app
        .register_with(&longest_email, PASSWORD, None, SESSION_FIELDS)
        .await;
    assert!(body["errors"].is_null(), "254 char email: {body}");

    // The 128 character password is stored whole, not truncated.
    let body = app.login(&long_pw, &pw128, SESSION_FIELDS).await;
    assert!(body["errors"].is_null(), "{body}");
    let body = app.login(&long_pw, &pw128[..127], SESSION_FIELDS).await;
    assert_refused(&body, "UNAUTHENTICATED", "127 char prefix of the password");
}

#[tokio::test]
async fn taken_email_is_a_conflict_whatever_the_case_or_spacing() {
    let app = TestApp::spawn().await;
    let body = app
        .register_with("Taken@Example.com", PASSWORD, Some("first"), SESSION_FIELDS)
        .await;
    let first = payload_of(&body, "register");

    for email in [
        "Taken@Example.com",
        "taken@example.com",
        "TAKEN@EXAMPLE.COM",
        "  taken@example.com  ",
        "\ttAkEn@ExAmPlE.cOm\n",
    ] {
        let body = app
            .register_with(email, "another password", Some("second"), SESSION_FIELDS)
            .await;
        assert_refused(&body, "CONFLICT", &format!("{email:?}"));
    }

    // The account is untouched: the first password works, the second does not.
    let body = app
        .login("taken@example.com", PASSWORD, SESSION_FIELDS)
        .await;
    let user = &payload_of(&body, "login")["user"];
    assert_eq!(user["id"], first["user"]["id"]);
    assert_eq!(user["displayName"], "first");
    let body = app
        .login("taken@example.com", "another password", SESSION_FIELDS)
        .await;
    assert_refused(&body, "UNAUTHENTICATED", "the conflicting password");
}

#[tokio::test]
async fn login_succeeds_and_failures_are_indistinguishable() {
    let app = TestApp::spawn().await;
    let user = app.register("login").await;

    let body = app.login(&user.email, PASSWORD, SESSION_FIELDS).await;
    assert!(body["errors"].is_null(), "{body}");
    let payload = payload_of(&body, "login");
    assert_eq!(payload["user"]["id"], user.id);
    assert_eq!(payload["tokenType"], "Bearer");
    assert_eq!(payload["expiresIn"], 900);
    assert_ne!(payload["refreshToken"], user.refresh_token);
    assert_me_is(
        &app,
        payload["accessToken"].as_str().unwrap(),
        &user,
        "login token",
    )
    .await;

    // Case-insensitive, surrounding spaces ignored.
    let shouted = format!("  {}  ", user.email.to_uppercase());
    let body = app.login(&shouted, PASSWORD, SESSION_FIELDS).await;
    assert_eq!(payload_of(&body, "login")["user"]["id"], user.id, "{body}");

    let wrong_password = app
        .login(&user.email, "correct horse battery!", SESSION_FIELDS)
        .await;
    let unknown_email = app
        .login("nobody@example.com", PASSWORD, SESSION_FIELDS)
        .await;
    let empty = app.login("", "", SESSION_FIELDS).await;
    for (body, what) in [
        (&wrong_password, "wrong password"),
        (&unknown_email, "unknown email"),
        (&empty, "empty input"),
    ] {
        assert_refused(body, "UNAUTHENTICATED", what);
    }
    let message = &wrong_password["errors"][0]["message"];
    assert!(message.is_string());
    assert_eq!(message, &unknown_email["errors"][0]["message"]);
    assert_eq!(
        wrong_password["errors"][0]["extensions"],
        unknown_email["errors"][0]["extensions"]
    );
    // Passwords are not trimmed or case-folded.
    let body = app
        .login(&user.email, &format!(" {PASSWORD}"), SESSION_FIELDS)
        .await;
    assert_refused(&body, "UNAUTHENTICATED", "password with a leading space");
    let body = app
        .login(&user.email, &PASSWORD.to_uppercase(), SESSION_FIELDS)
        .await;
    assert_refused(&body, "UNAUTHENTICATED", "upper-cased password");
}

// --- refresh tokens and logout ---------------------------------------------

#[tokio::test]
async fn refresh_rotates_the_pair() {
    let app = TestApp::spawn().await;
    let user = app.register("rotate").await;

    let body = app.refresh(&user.refresh_token, REFRESHED).await;
    assert!(body["errors"].is_null(), "{body}");
    let payload = payload_of(&body, "refreshToken");
    assert_eq!(payload["tokenType"], "Bearer");
    assert_eq!(payload["expiresIn"], 900);
    assert_eq!(payload["user"]["id"], user.id);
    assert_eq!(payload["user"]["email"], user.email);
    let second = payload["refreshToken"].as_str().unwrap().to_owned();
    assert_ne!(second, user.refresh_token);
    assert_me_is(
        &app,
        payload["accessToken"].as_str().unwrap(),
        &user,
        "refreshed token",
    )
    .await;

    // The new token can itself be exchanged, again for a different one.
    let third = refresh_token_of(&app.refresh(&second, REFRESHED).await, "refreshToken");
    assert_ne!(third, second);
    assert_ne!(third, user.refresh_token);
}

#[tokio::test]
async fn replaying_a_rotated_refresh_token_revokes_its_family_only() {
    let app = TestApp::spawn().await;
    let user = app.register("theft").await;
    // A second, independent session (another token family).
    let other_session = refresh_token_of(
        &app.login(&user.email, PASSWORD, SESSION_FIELDS).await,
        "login",
    );

    let second = refresh_token_of(
        &app.refresh(&user.refresh_token, REFRESHED).await,
        "refreshToken",
    );
    let third = refresh_token_of(&app.refresh(&second, REFRESHED).await, "refreshToken");

    // The rotated token no longer works...
    let replay = app.refresh(&user.refresh_token, REFRESHED).await;
    assert_refused(&replay, "UNAUTHENTICATED", "replayed rotated token");
    // ...and its replay revoked the whole family, including the newest token.
    let body = app.refresh(&third, REFRESHED).await;
    assert_refused(&body, "UNAUTHENTICATED", "newest token of a revoked family");
    let body = app.refresh(&second, REFRESHED).await;
    assert_refused(&body, "UNAUTHENTICATED", "middle token of a revoked family");

    // The other session is unaffected, before and after rotating it.
    let body = app.refresh(&other_session, REFRESHED).await;
    assert!(body["errors"].is_null(), "other family: {body}");
    let next = refresh_token_of(&body, "refreshToken");
    let body = app.refresh(&next, REFRESHED).await;
    assert!(body["errors"].is_null(), "other family, rotated: {body}");
}

#[tokio::test]
async fn garbage_refresh_tokens_are_unauthenticated() {
    let app = TestApp::spawn().await;
    let user = app.register("garbage").await;
    let random = B64.encode(rand_bytes());
    let truncated = &user.refresh_token[..user.refresh_token.len() - 1];
    for token in [
        "",
        "garbage",
        random.as_str(),
        user.access_token.as_str(),
        truncated,
        "' OR '1'='1",
    ] {
        let body = app.refresh(token, REFRESHED).await;
        assert_refused(&body, "UNAUTHENTICATED", &format!("refresh with {token:?}"));
    }
    // None of that disturbed the real token.
    let body = app.refresh(&user.refresh_token, REFRESHED).await;
    assert!(body["errors"].is_null(), "{body}");
}

fn rand_bytes() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(Uuid::new_v4().as_bytes());
    bytes
}

#[tokio::test]
async fn logout_revokes_an_active_refresh_token_once() {
    let app = TestApp::spawn().await;
    let user = app.register("logout").await;
    let other_session = refresh_token_of(
        &app.login(&user.email, PASSWORD, SESSION_FIELDS).await,
        "login",
    );

    let body = app.logout(&user.refresh_token).await;
    assert_eq!(body["data"]["logout"], true, "{body}");
    let body = app.refresh(&user.refresh_token, REFRESHED).await;
    assert_refused(&body, "UNAUTHENTICATED", "refresh after logout");

    let body = app.logout(&user.refresh_token).await;
    assert_eq!(body["data"]["logout"], false, "second logout: {body}");
    assert!(body["errors"].is_null(), "{body}");
    let body = app.logout("no-such-token").await;
    assert_eq!(body["data"]["logout"], false, "unknown token: {body}");
    assert!(body["errors"].is_null(), "{body}");

    // The other session still works.
    let body = app.refresh(&other_session, REFRESHED).await;
    assert!(body["errors"].is_null(), "{body}");
}

#[tokio::test]
async fn logout_of_a_rotated_session_revokes_the_current_token() {
    let app = TestApp::spawn().await;
    let user = app.register("logout2").await;
    let second = refresh_token_of(
        &app.refresh(&user.refresh_token, REFRESHED).await,
        "refreshToken",
    );

    let body = app.logout(&second).await;
    assert_eq!(body["data"]["logout"], true, "{body}");
    let body = app.refresh(&second, REFRESHED).await;
    assert_refused(&body, "UNAUTHENTICATED", "refresh after logout");
}

// --- access tokens -----------------------------------------------------------

#[tokio::test]
async fn missing_or_non_bearer_credentials_are_unauthenticated() {
    let app = TestApp::spawn().await;
    let user = app.register("bearer").await;

    let body = me(&app, None).await;
    assert_refused(&body, "UNAUTHENTICATED", "no Authorization header");

    let basic = B64.encode(format!("{}:{PASSWORD}", user.email));
    for header in [
        format!("Basic {basic}"),
        format!("Basic {}", user.access_token),
        format!("Token {}", user.access_token),
        user.access_token.clone(),
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        "Bearer garbage".to_owned(),
        "Bearer a.b.c".to_owned(),
        format!("Bearer {}x", user.access_token),
        format!("Bearer {}", user.refresh_token),
    ] {
        let body = me_with_header(&app, &header).await;
        assert_refused(&body, "UNAUTHENTICATED", &header);
    }

    // The scheme is case-insensitive (RFC 7235): the control case works.
    let body = me_with_header(&app, &format!("bearer {}", user.access_token)).await;
    assert_eq!(body["data"]["me"]["id"], user.id, "{body}");
}

#[tokio::test]
async fn alg_none_token_is_refused() {
    let app = TestApp::spawn().await;
    let user = app.register("none").await;
    let claims = serde_json::to_string(&claims_for(&user)).unwrap();
    let payload = B64.encode(&claims);
    for header in [
        r#"{"alg":"none","typ":"at+jwt"}"#,
        r#"{"alg":"None","typ":"at+jwt"}"#,
        r#"{"alg":"none"}"#,
    ] {
        let head = B64.encode(header);
        assert_me_refused(&app, &format!("{head}.{payload}."), header).await;
        assert_me_refused(&app, &format!("{head}.{payload}"), header).await;
    }
    // The same claims, properly signed, are accepted.
    let good = encode(
        Algorithm::HS256,
        Some("at+jwt"),
        &claims_for(&user),
        JWT_SECRET.as_bytes(),
    );
    assert_me_is(&app, &good, &user, "control").await;
}

#[tokio::test]
async fn token_signed_with_another_key_is_refused() {
    let app = TestApp::spawn().await;
    let user = app.register("otherkey").await;
    let claims = claims_for(&user);
    for key in [
        [7u8; 32].as_slice(),
        b"test-secret-of-at-least-thirty-two-bytes?".as_slice(),
    ] {
        let token = encode(Algorithm::HS256, Some("at+jwt"), &claims, key);
        assert_me_refused(&app, &token, &format!("key {key:?}")).await;
    }
}

#[tokio::test]
async fn token_with_another_algorithm_and_the_right_secret_is_refused() {
    let app = TestApp::spawn().await;
    let user = app.register("alg").await;
    let claims = claims_for(&user);
    for alg in [Algorithm::HS512, Algorithm::HS384] {
        let token = encode(alg, Some("at+jwt"), &claims, JWT_SECRET.as_bytes());
        assert_me_refused(&app, &token, &format!("{alg:?}")).await;
    }
    let good = encode(
        Algorithm::HS256,
        Some("at+jwt"),
        &claims,
        JWT_SECRET.as_bytes(),
    );
    assert_me_is(&app, &good, &user, "control").await;
}

#[tokio::test]
async fn expired_token_is_refused() {
    let app = TestApp::spawn().await;
    let user = app.register("expired").await;
    let tokens = app.state.auth.tokens();
    let now = Utc::now().timestamp();
    for (iat, exp) in [(now - 1000, now - 100), (now - 900, now - 1)] {
        let token = tokens
            .sign(&Claims {
                exp,
                iat,
                ..claims_for(&user)
            })
            .unwrap();
        assert_me_refused(&app, &token, &format!("exp now{:+}", exp - now)).await;
    }
    let fresh = tokens.sign(&claims_for(&user)).unwrap();
    assert_me_is(&app, &fresh, &user, "control").await;
}

#[tokio::test]
async fn wrong_audience_or_issuer_is_refused() {
    let app = TestApp::spawn().await;
    let user = app.register("audiss").await;
    let tokens = app.state.auth.tokens();
    let cases = [
        (
            "audience",
            Claims {
                aud: "other-api".into(),
                ..claims_for(&user)
            },
        ),
        (
            "empty audience",
            Claims {
                aud: String::new(),
                ..claims_for(&user)
            },
        ),
        (
            "issuer",
            Claims {
                iss: "evil".into(),
                ..claims_for(&user)
            },
        ),
        (
            "issuer case",
            Claims {
                iss: "TodoQL".into(),
                ..claims_for(&user)
            },
        ),
    ];
    for (what, claims) in cases {
        let token = tokens.sign(&claims).unwrap();
        assert_me_refused(&app, &token, what).await;
    }

    // Missing required claims.
    let now = Utc::now().timestamp();
    for (what, claims) in [
        (
            "no aud",
            json!({ "sub": user.id, "iat": now, "exp": now + 600, "iss": ISSUER }),
        ),
        (
            "no iss",
            json!({ "sub": user.id, "iat": now, "exp": now + 600, "aud": AUDIENCE }),
        ),
        (
            "no exp",
            json!({ "sub": user.id, "iat": now, "iss": ISSUER, "aud": AUDIENCE }),
        ),
        (
            "no sub",
            json!({ "iat": now, "exp": now + 600, "iss": ISSUER, "aud": AUDIENCE }),
        ),
    ] {
        let token = encode(
            Algorithm::HS256,
            Some("at+jwt"),
            &claims,
            JWT_SECRET.as_bytes(),
        );
        assert_me_refused(&app, &token, what).await;
    }
}

#[tokio::test]
async fn token_without_the_access_token_type_is_refused() {
    let app = TestApp::spawn().await;
    let user = app.register("typ").await;
    let claims = claims_for(&user);
    for typ in [None, Some("JWT"), Some("at+JWT"), Some("refresh+jwt")] {
        let token = encode(Algorithm::HS256, typ, &claims, JWT_SECRET.as_bytes());
        assert_me_refused(&app, &token, &format!("typ {typ:?}")).await;
    }
    let good = encode(
        Algorithm::HS256,
        Some("at+jwt"),
        &claims,
        JWT_SECRET.as_bytes(),
    );
    assert_me_is(&app, &good, &user, "control").await;
}

#[tokio::test]
async fn token_of_a_deleted_user_is_refused() {
    let app = TestApp::spawn().await;
    let user = app.register("deleted").await;
    assert_me_is(&app, &user.access_token, &user, "before deletion").await;
    let todo = app.create_todo_titled(&user, "kept").await;
    let lists = app
        .data_as(&user, "{ lists { nodes { id } } }", json!({}))
        .await;
    let inbox = lists["lists"]["nodes"][0]["id"].clone();

    app.sql(&format!("DELETE FROM users WHERE id = '{}'", user.id))
        .await;
    assert_me_refused(&app, &user.access_token, "deleted user").await;
    let body = app
        .gql_as(&user, "{ todos { totalCount } }", json!({}))
        .await;
    assert_refused(&body, "UNAUTHENTICATED", "todos of a deleted user");
    let body = app
        .gql_as(
            &user,
            "mutation { createTodo(input: { title: \"ghost\" }) { id } }",
            json!({}),
        )
        .await;
    assert_refused(&body, "UNAUTHENTICATED", "createTodo of a deleted user");
    // Writes that check access without reading the caller's row first
    // answer the same, not NOT_FOUND.
    let writes = [
        (
            "mutation($list: ID!) { createTodo(input: { title: \"ghost\", listId: $list }) { id } }",
            json!({ "list": inbox }),
        ),
        (
            "mutation($id: ID!) { updateTodo(id: $id, input: { title: \"ghost\" }) { id } }",
            json!({ "id": todo }),
        ),
        (
            "mutation($id: ID!) { deleteTodo(id: $id) }",
            json!({ "id": todo }),
        ),
    ];
    for (mutation, variables) in writes {
        let body = app.gql_as(&user, mutation, variables).await;
        assert_refused(&body, "UNAUTHENTICATED", mutation);
    }

    // A token for an id that never existed is refused the same way.
    let stranger = app.state.auth.tokens().issue(Uuid::now_v7()).unwrap();
    assert_me_refused(&app, &stranger, "never-existing user").await;
}

#[tokio::test]
async fn tampered_token_is_refused() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let parts: Vec<&str> = alice.access_token.split('.').collect();
    assert_eq!(parts.len(), 3);

    // Bob's identity under Alice's signature.
    let as_bob = B64.encode(serde_json::to_string(&claims_for(&bob)).unwrap());
    let forged = format!("{}.{as_bob}.{}", parts[0], parts[2]);
    assert_me_refused(&app, &forged, "payload swapped for bob's").await;

    // Alice's own claims with a far-away expiry.
    let mut claims: Value = serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
    claims["exp"] = json!(99_999_999_999_i64);
    let extended = B64.encode(claims.to_string());
    let forged = format!("{}.{extended}.{}", parts[0], parts[2]);
    assert_me_refused(&app, &forged, "extended expiry").await;

    // A flipped signature character.
    let mut signature = parts[2].to_owned();
    let last = signature.pop().unwrap();
    signature.push(if last == 'A' { 'B' } else { 'A' });
    let forged = format!("{}.{}.{signature}", parts[0], parts[1]);
    assert_me_refused(&app, &forged, "flipped signature").await;

    // Header switched to another typ under the same signature.
    let header = B64.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
    let forged = format!("{header}.{}.{}", parts[1], parts[2]);
    assert_me_refused(&app, &forged, "rewritten header").await;

    // The untouched tokens still work.
    assert_me_is(&app, &alice.access_token, &alice, "alice").await;
    assert_me_is(&app, &bob.access_token, &bob, "bob").await;
}

// --- protected operations ----------------------------------------------------

#[tokio::test]
async fn protected_operations_require_authentication() {
    let app = TestApp::spawn().await;
    let user = app.register("owner").await;
    let todo = app
        .create_todo(&user, json!({ "title": "keep me", "description": "as is" }))
        .await;
    let id = todo["id"].as_str().unwrap();
    let done = app.create_todo(&user, json!({ "title": "done" })).await;
    let body = app
        .gql_as(
            &user,
            "mutation($id: ID!) { updateTodo(id: $id, input: { completed: true }) { version } }",
            json!({ "id": done["id"] }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");

    let operations = [
        ("me", "{ me { id } }".to_owned()),
        ("todo", format!("{{ todo(id: \"{id}\") {{ id title }} }}")),
        ("todos", "{ todos { totalCount nodes { id } } }".to_owned()),
        (
            "createTodo",
            "mutation { createTodo(input: { title: \"intruder\" }) { id } }".to_owned(),
        ),
        (
            "updateTodo",
            format!(
                "mutation {{ updateTodo(id: \"{id}\", input: {{ title: \"hacked\", description: null }}) {{ id }} }}"
            ),
        ),
        (
            "deleteTodo",
            format!("mutation {{ deleteTodo(id: \"{id}\") }}"),
        ),
        (
            "toggleAllTodos",
            "mutation { toggleAllTodos(completed: false) }".to_owned(),
        ),
        (
            "clearCompletedTodos",
            "mutation { clearCompletedTodos }".to_owned(),
        ),
    ];
    let expired = app
        .state
        .auth
        .tokens()
        .sign(&Claims {
            iat: 1,
            exp: 2,
            ..claims_for(&user)
        })
        .unwrap();
    for (name, query) in &operations {
        for token in [None, Some("garbage"), Some(expired.as_str())] {
            let body = app.gql_with(token, query, json!({})).await;
            assert_refused(&body, "UNAUTHENTICATED", &format!("{name} with {token:?}"));
        }
    }

    // Nothing changed.
    let body = app
        .gql_as(
            &user,
            &format!(
                "{{ todos(orderBy: CREATED_AT_ASC) {{ totalCount nodes {{ {TODO_FIELDS} }} }} }}"
            ),
            json!({}),
        )
        .await;
    assert_eq!(body["data"]["todos"]["totalCount"], 2, "{body}");
    let nodes = &body["data"]["todos"]["nodes"];
    assert_eq!(nodes[0], todo, "untouched todo");
    assert_eq!(nodes[1]["id"], done["id"]);
    assert_eq!(nodes[1]["completed"], true);
    assert_eq!(nodes[1]["version"], 2);
}

// --- exotic input ------------------------------------------------------------

#[tokio::test]
async fn exotic_display_names_round_trip_exactly() {
    let app = TestApp::spawn().await;
    let names = [
        r#"O'Brien "Bob" \ `x` '; DROP TABLE users; -- %_ $1"#,
        "🦀 Ferris 👩‍👩‍👧‍👦 🇺🇦 é (e\u{301})",
        "\u{200f}مرحبا بالعالم ‏שלום עולם abc 123",
    ];
    for name in names {
        let email = unique_email("o'neil");
        let body = app
            .register_with(&email, PASSWORD, Some(name), SESSION_FIELDS)
            .await;
        assert!(body["errors"].is_null(), "{name:?}: {body}");
        let payload = payload_of(&body, "register");
        assert_eq!(payload["user"]["displayName"], name);
        assert_eq!(payload["user"]["email"], email);

        let token = payload["accessToken"].as_str().unwrap();
        let body = me(&app, Some(token)).await;
        assert_eq!(body["data"]["me"]["displayName"], name, "{body}");

        let body = app.login(&email, PASSWORD, SESSION_FIELDS).await;
        assert_eq!(payload_of(&body, "login")["user"]["displayName"], name);
    }
    // The tables are still there.
    let user = app.register("after").await;
    assert_me_is(
        &app,
        &user.access_token,
        &user,
        "after the SQL-looking name",
    )
    .await;
}

#[tokio::test]
async fn exotic_passwords_work() {
    let app = TestApp::spawn().await;
    let email = unique_email("pw");
    // 8 characters, though many more bytes.
    let password = "🔑'\"; --é";
    assert_eq!(password.chars().count(), 8);
    let body = app
        .register_with(&email, password, None, SESSION_FIELDS)
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let body = app.login(&email, password, SESSION_FIELDS).await;
    assert!(body["errors"].is_null(), "{body}");
}
