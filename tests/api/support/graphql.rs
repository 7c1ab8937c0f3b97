//! GraphQL requests as a client sends them: `POST /graphql` anonymously or
//! as a user, and the operations many tests share (sign-up, todos).

use serde_json::{Value, json};
use uuid::Uuid;

use super::app::{TestApp, TestUser};

impl TestApp {
    /// `POST /graphql` as JSON, with an optional token; returns the body.
    pub async fn gql_with(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.address))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("POST /graphql");
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

    /// Registers a user with a unique email based on `name`.
    pub async fn register(&self, name: &str) -> TestUser {
        let email = format!(
            "{name}.{}@example.com",
            &Uuid::new_v4().simple().to_string()[..8]
        );
        let body = self
            .gql(
                "mutation($input: RegisterInput!) { register(input: $input) {
                    accessToken refreshToken user { id email } } }",
                json!({ "input": { "email": email, "password": "correct horse battery", "displayName": name } }),
            )
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

    /// Creates a todo as `user` and returns it.
    pub async fn create_todo(&self, user: &TestUser, input: Value) -> Value {
        let body = self
            .gql_as(
                user,
                &format!("mutation($input: CreateTodoInput!) {{ createTodo(input: $input) {{ {TODO_FIELDS} }} }}"),
                json!({ "input": input }),
            )
            .await;
        assert!(body["errors"].is_null(), "createTodo failed: {body}");
        body["data"]["createTodo"].clone()
    }
}

/// Every scalar field of `Todo`.
pub const TODO_FIELDS: &str =
    "id title description completed dueAt completedAt createdAt updatedAt version";

/// The `extensions.code` of the first error.
pub fn error_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body}"))
}
