//! Accounts and sessions: registration, login, argon2id password hashes,
//! JWT access tokens and rotating refresh tokens, email verification.
//!
//! `domain` parses client input, `model` holds the Diesel rows and queries,
//! `service` the use cases (`verification` those of email verification,
//! over the codes of `verification_code`), `graphql` the schema types and
//! resolvers, `loader` the per-request user loader that removes N+1 owner
//! queries, and `default_lists` every account's default list, remembered.

pub mod credentials;
pub mod default_lists;
pub mod domain;
pub mod error;
pub mod graphql;
pub mod loader;
pub mod model;
pub mod password;
pub mod service;
pub mod token;
pub mod verification;
pub mod verification_code;

pub use credentials::Credentials;
pub use error::AuthError;
pub use service::AuthService;
