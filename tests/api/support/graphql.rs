//! GraphQL requests as a client sends them: `POST /graphql` anonymously or
//! as a user, returning the body, or only `data` when nothing may fail.

use serde_json::{Value, json};

use super::app::{TestApp, TestUser};

impl TestApp {
    /// `POST /graphql` as JSON, with an optional token; returns the body.
    pub async fn gql_with(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let response = self
            .graphql_request(token, &json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("POST /graphql");
        assert!(
            response.status().is_success(),
            "status {} for {query}",
            response.status()
        );
        response.json().await.expect("JSON body")
    }

    /// `POST /graphql` anonymously.
    pub async fn gql(&self, query: &str, variables: Value) -> Value {
        self.gql_with(None, query, variables).await
    }

    /// `POST /graphql` as `user`.
    pub async fn gql_as(&self, user: &TestUser, query: &str, variables: Value) -> Value {
        self.gql_with(Some(&user.access_token), query, variables)
            .await
    }

    /// Runs `query` as `user`; it must succeed. Returns `data`.
    pub async fn data_as(&self, user: &TestUser, query: &str, variables: Value) -> Value {
        let body = self.gql_as(user, query, variables).await;
        assert!(body["errors"].is_null(), "{query}: {body}");
        body["data"].clone()
    }
}

/// The `extensions.code` of the first error.
pub fn error_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body}"))
}
