//! Test support, shared by every test module: the app spawned on port 0
//! against a fresh database ([`TestApp`]), the requests tests make of it
//! over GraphQL, HTTP and WebSocket, and the servers and processes some
//! tests start themselves (Redis, SMTP, the `todoql` binary, Node scripts).
//!
//! Request helpers are methods of [`TestApp`], defined beside the kind of
//! request they make: `graphql` (`gql*`, `data_as`), `accounts`
//! (`register*`, `login`, `refresh`, `logout`), `todos` (`create_todo*`,
//! `update_todo*`, `delete_todo*`, `toggle_all`, `todo_counts`), `lists`
//! (`create_list*`, `invite*`, `move_todo*`, `list_todos*`,
//! `verify_email_in_db`) and `http` (`post_graphql`, `get_graphql`,
//! `rest_*`, `readyz`). Position keys as clients compute them are in
//! `fractional_index`.

pub mod accounts;
pub mod app;
pub mod db;
pub mod fractional_index;
pub mod graphql;
pub mod http;
pub mod lists;
pub mod pg_proxy;
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
