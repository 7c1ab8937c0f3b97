//! Accounts and sessions as tests make them: unique addresses, `register`,
//! `login`, `refreshToken` and `logout` over GraphQL (each selecting what
//! the caller asks of its payload), and access-token claims to sign.

use chrono::Utc;
use serde_json::{Value, json};
use todoql::auth::token::{AUDIENCE, Claims, ISSUER};
use uuid::Uuid;

use super::app::{TestApp, TestUser};

/// The password of every test user.
pub const PASSWORD: &str = "correct horse battery";

/// What most tests select of a session payload (`register`, `login`,
/// `refreshToken`, `resetPassword`). It reads no todo counts, so signing
/// up leaves the read cache and the query counts as they were.
pub const SESSION: &str = "accessToken refreshToken user { id email }";

/// A unique, lowercase address based on `name`.
pub fn unique_email(name: &str) -> String {
    format!(
        "{name}.{}@example.com",
        &Uuid::new_v4().simple().to_string()[..8]
    )
}

/// `register(input:)` selecting `select` of its payload.
pub fn register_query(select: &str) -> String {
    format!("mutation($input: RegisterInput!) {{ register(input: $input) {{ {select} }} }}")
}

/// `login(input:)` selecting `select` of its payload.
pub fn login_query(select: &str) -> String {
    format!("mutation($input: LoginInput!) {{ login(input: $input) {{ {select} }} }}")
}

/// Claims of a valid access token for `user`, issued now, for ten minutes.
pub fn claims_for(user: &TestUser) -> Claims {
    let now = Utc::now().timestamp();
    Claims {
        sub: user.id.parse().unwrap(),
        iat: now,
        exp: now + 600,
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
    }
}

impl TestApp {
    /// Registers a user with a unique email based on `name` (also the
    /// display name) and [`PASSWORD`].
    pub async fn register(&self, name: &str) -> TestUser {
        let email = unique_email(name);
        let body = self
            .register_with(&email, PASSWORD, Some(name), SESSION)
            .await;
        let payload = &body["data"]["register"];
        assert!(payload.is_object(), "register failed: {body}");
        TestUser {
            id: payload["user"]["id"].as_str().unwrap().to_owned(),
            email,
            access_token: payload["accessToken"].as_str().unwrap().to_owned(),
            refresh_token: payload["refreshToken"].as_str().unwrap().to_owned(),
        }
    }

    /// `register`, selecting `select` of the payload; returns the whole
    /// body.
    pub async fn register_with(
        &self,
        email: &str,
        password: &str,
        display_name: Option<&str>,
        select: &str,
    ) -> Value {
        self.gql(
            &register_query(select),
            json!({ "input": { "email": email, "password": password, "displayName": display_name } }),
        )
        .await
    }

    /// `login`, selecting `select` of the payload; returns the whole body.
    pub async fn login(&self, email: &str, password: &str, select: &str) -> Value {
        self.gql(
            &login_query(select),
            json!({ "input": { "email": email, "password": password } }),
        )
        .await
    }

    /// `refreshToken`, selecting `select` of the payload; returns the
    /// whole body.
    pub async fn refresh(&self, refresh_token: &str, select: &str) -> Value {
        self.gql(
            &format!("mutation($t: String!) {{ refreshToken(refreshToken: $t) {{ {select} }} }}"),
            json!({ "t": refresh_token }),
        )
        .await
    }

    /// `logout`; returns the whole body.
    pub async fn logout(&self, refresh_token: &str) -> Value {
        self.gql(
            "mutation($t: String!) { logout(refreshToken: $t) }",
            json!({ "t": refresh_token }),
        )
        .await
    }
}
