//! Todo operations many tests share, over GraphQL as `user`: create,
//! update, delete, toggle all, and the counts.

use serde_json::{Value, json};

use super::app::{TestApp, TestUser};

/// Every scalar field of `Todo`.
pub const TODO_FIELDS: &str =
    "id title description completed dueAt completedAt createdAt updatedAt version";

/// `createTodo(input:)` selecting only the id.
pub const CREATE_TODO: &str =
    "mutation($input: CreateTodoInput!) { createTodo(input: $input) { id } }";

impl TestApp {
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

    /// Creates a todo titled `title`; returns its id.
    pub async fn create_todo_titled(&self, user: &TestUser, title: &str) -> String {
        let todo = self.create_todo(user, json!({ "title": title })).await;
        todo["id"].as_str().unwrap().to_owned()
    }

    /// [`CREATE_TODO`], returning the whole body (for error cases).
    pub async fn try_create_todo(&self, user: &TestUser, input: Value) -> Value {
        self.gql_as(user, CREATE_TODO, json!({ "input": input }))
            .await
    }

    /// `updateTodo`, returning the whole body.
    pub async fn update_todo(&self, user: &TestUser, id: &str, input: Value) -> Value {
        self.gql_as(
            user,
            &format!(
                "mutation($id: ID!, $input: UpdateTodoInput!) {{
                    updateTodo(id: $id, input: $input) {{ {TODO_FIELDS} }} }}"
            ),
            json!({ "id": id, "input": input }),
        )
        .await
    }

    /// `updateTodo` that must succeed; returns the todo.
    pub async fn update_todo_ok(&self, user: &TestUser, id: &str, input: Value) -> Value {
        let body = self.update_todo(user, id, input).await;
        assert!(body["errors"].is_null(), "updateTodo failed: {body}");
        body["data"]["updateTodo"].clone()
    }

    /// `deleteTodo`, returning the whole body.
    pub async fn delete_todo(&self, user: &TestUser, id: &str) -> Value {
        self.gql_as(
            user,
            "mutation($id: ID!) { deleteTodo(id: $id) }",
            json!({ "id": id }),
        )
        .await
    }

    /// `deleteTodo` that must succeed and answer the id.
    pub async fn delete_todo_ok(&self, user: &TestUser, id: &str) {
        let body = self.delete_todo(user, id).await;
        assert!(body["errors"].is_null(), "deleteTodo failed: {body}");
        assert_eq!(body["data"]["deleteTodo"], id);
    }

    /// `toggleAllTodos` that must succeed; returns how many changed.
    pub async fn toggle_all(&self, user: &TestUser, completed: bool) -> i64 {
        let body = self
            .gql_as(
                user,
                "mutation($c: Boolean!) { toggleAllTodos(completed: $c) }",
                json!({ "c": completed }),
            )
            .await;
        assert!(body["errors"].is_null(), "toggleAllTodos failed: {body}");
        body["data"]["toggleAllTodos"].as_i64().unwrap()
    }

    /// `me { todoCounts }` as (total, active, completed).
    pub async fn todo_counts(&self, user: &TestUser) -> (i64, i64, i64) {
        let body = self
            .gql_as(
                user,
                "{ me { todoCounts { total active completed } } }",
                json!({}),
            )
            .await;
        assert!(body["errors"].is_null(), "todoCounts failed: {body}");
        let c = &body["data"]["me"]["todoCounts"];
        (
            c["total"].as_i64().unwrap(),
            c["active"].as_i64().unwrap(),
            c["completed"].as_i64().unwrap(),
        )
    }
}
