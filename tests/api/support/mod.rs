//! Test support, shared by every test module: the app spawned on port 0
//! against a fresh database ([`TestApp`]), the requests tests make of it
//! over GraphQL, HTTP and WebSocket, and the servers and processes some
//! tests start themselves (Redis, SMTP, the `todoql` binary, Node scripts).

pub mod app;
pub mod db;
pub mod graphql;
pub mod process;
pub mod redis;
pub mod smtp_sink;
pub mod ws_client;

pub use app::{TestApp, TestUser};
pub use db::{admin_url, fresh_database};
pub use graphql::{TODO_FIELDS, error_code};
pub use process::node_script;
pub use redis::{OwnedRedis, redis_url};
