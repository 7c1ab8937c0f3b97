//! Test support, shared by every test module: the app spawned on port 0
//! against a fresh database ([`TestApp`]), the requests tests make of it
//! over GraphQL, HTTP and WebSocket, and the servers and processes some
//! tests start themselves (Redis, SMTP, the `todoql` binary, Node scripts).
//!
//! Request helpers are methods of [`TestApp`], defined beside the kind of
//! request they make: `graphql` (`gql*`, `data_as`), `accounts`
//! (`register*`, `login`, `refresh`, `logout`), `todos` (`create_todo*`,
//! `update_todo*`, `delete_todo*`, `toggle_all`, `todo_counts`) and `http`
//! (`post_graphql`, `get_graphql`, `rest_*`, `readyz`).

pub mod accounts;
pub mod app;
pub mod db;
pub mod graphql;
pub mod http;
pub mod process;
pub mod redis;
pub mod smtp_sink;
pub mod todos;
pub mod ws_client;

pub use accounts::{PASSWORD, SESSION, claims_for, unique_email};
pub use app::{JWT_SECRET, TestApp, TestUser};
pub use db::{admin_conn, fresh_database};
pub use graphql::error_code;
pub use http::{Answer, GRJ, JSON, send};
pub use process::{BIN, free_port, node_script};
pub use redis::{OwnedRedis, redis_url, shared_prefix};
pub use todos::{CREATE_TODO, TODO_FIELDS};
