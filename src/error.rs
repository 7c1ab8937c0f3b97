//! The error catalogue: every code a client can see ([`ErrorCode`]), the
//! trait each feature's error implements beside its own type
//! ([`ClientError`], as `auth::error`, `todos::error`, `events::error` do),
//! and the one function that builds an error body for HTTP, WebSocket and
//! the REST facade ([`ErrorBody`]). Internal errors (database, hashing) are
//! logged with their cause ([`log_internal`]) and reach clients only as
//! `INTERNAL_SERVER_ERROR` with a fixed message.
//!
//! A leaf module: it knows no feature and no transport, so every layer may
//! depend on it.

use async_graphql::ErrorExtensions;
use axum::http::StatusCode;
use serde::Serialize;

/// Every code a client can see, as `extensions.code` (GraphQL) or `code`
/// (REST). The README's error table is checked against [`ErrorCode::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// No, or no valid, credentials.
    Unauthenticated,
    /// Authenticated but not allowed.
    Forbidden,
    /// No such object (or not the caller's).
    NotFound,
    /// Input failed validation.
    BadUserInput,
    /// A uniqueness or version conflict.
    Conflict,
    /// Too many requests.
    RateLimited,
    /// The caller's email address is not verified (invitations).
    EmailNotVerified,
    /// The document is not valid against the schema.
    GraphqlValidationFailed,
    /// The document does not parse.
    GraphqlParseFailed,
    /// An APQ hash with no stored query.
    PersistedQueryNotFound,
    /// An event cursor older than the retained events: refetch.
    CursorExpired,
    /// A subscriber fell behind its buffer: resume from `extensions.cursor`.
    SlowConsumer,
    /// A query ran past `GRAPHQL_TIMEOUT_MS`.
    Timeout,
    /// The request body exceeds `MAX_BODY_BYTES` (HTTP 413, GraphQL and
    /// REST alike).
    PayloadTooLarge,
    /// A `GET` (or a simple `POST`) a browser could send cross-site without
    /// a CORS preflight.
    CsrfError,
    /// A persisted query sent while `APQ=false`.
    PersistedQueryNotSupported,
    /// REST: a body or query string that is not what the route takes.
    BadRequest,
    /// An `Idempotency-Key` already used for a different operation (HTTP
    /// 422), also while that operation still runs.
    IdempotencyKeyReused,
    /// An `Idempotency-Key` whose operation is still running, or whose
    /// first run was applied but its response lost (HTTP 409): retry later,
    /// or read the current state.
    IdempotencyKeyInUse,
    /// Anything else; details are only in the logs.
    InternalServerError,
}

impl ErrorCode {
    /// Every code, in the README's order.
    pub const ALL: [Self; 20] = [
        Self::Unauthenticated,
        Self::Forbidden,
        Self::NotFound,
        Self::BadUserInput,
        Self::Conflict,
        Self::EmailNotVerified,
        Self::GraphqlValidationFailed,
        Self::GraphqlParseFailed,
        Self::RateLimited,
        Self::PersistedQueryNotFound,
        Self::PersistedQueryNotSupported,
        Self::CursorExpired,
        Self::SlowConsumer,
        Self::Timeout,
        Self::CsrfError,
        Self::PayloadTooLarge,
        Self::BadRequest,
        Self::IdempotencyKeyReused,
        Self::IdempotencyKeyInUse,
        Self::InternalServerError,
    ];

    /// The `extensions.code` string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::NotFound => "NOT_FOUND",
            Self::BadUserInput => "BAD_USER_INPUT",
            Self::Conflict => "CONFLICT",
            Self::RateLimited => "RATE_LIMITED",
            Self::EmailNotVerified => "EMAIL_NOT_VERIFIED",
            Self::GraphqlValidationFailed => "GRAPHQL_VALIDATION_FAILED",
            Self::GraphqlParseFailed => "GRAPHQL_PARSE_FAILED",
            Self::PersistedQueryNotFound => "PERSISTED_QUERY_NOT_FOUND",
            Self::CursorExpired => "CURSOR_EXPIRED",
            Self::SlowConsumer => "SLOW_CONSUMER",
            Self::Timeout => "TIMEOUT",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::CsrfError => "CSRF_ERROR",
            Self::PersistedQueryNotSupported => "PERSISTED_QUERY_NOT_SUPPORTED",
            Self::BadRequest => "BAD_REQUEST",
            Self::IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            Self::IdempotencyKeyInUse => "IDEMPOTENCY_KEY_IN_USE",
            Self::InternalServerError => "INTERNAL_SERVER_ERROR",
        }
    }

    /// The HTTP status the REST facade answers with.
    pub fn http_status(self) -> StatusCode {
        match self {
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::EmailNotVerified => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::BadUserInput => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Conflict => StatusCode::CONFLICT,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::GraphqlValidationFailed | Self::GraphqlParseFailed => StatusCode::BAD_REQUEST,
            Self::PersistedQueryNotFound => StatusCode::OK,
            Self::CursorExpired => StatusCode::GONE,
            Self::SlowConsumer => StatusCode::SERVICE_UNAVAILABLE,
            Self::Timeout => StatusCode::GATEWAY_TIMEOUT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::CsrfError | Self::BadRequest => StatusCode::BAD_REQUEST,
            Self::PersistedQueryNotSupported => StatusCode::OK,
            Self::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Self::IdempotencyKeyInUse => StatusCode::CONFLICT,
            Self::InternalServerError => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// An error a client may see, with its code.
pub trait ClientError: std::error::Error + Send + Sync + 'static {
    /// The code.
    fn code(&self) -> ErrorCode;

    /// For `BAD_USER_INPUT`: the input field at fault.
    fn field(&self) -> Option<&'static str> {
        None
    }

    /// Extra `extensions` entries (e.g. the cursor to resume from).
    fn extensions(&self) -> Vec<(&'static str, serde_json::Value)> {
        Vec::new()
    }

    /// What the client is told; internal errors are logged here and replaced
    /// by a fixed message.
    fn client_message(&self) -> String
    where
        Self: Sized,
    {
        if self.code() == ErrorCode::InternalServerError {
            log_internal(self);
            "Internal server error".to_owned()
        } else {
            self.to_string()
        }
    }
}

/// Logs an internal error with its whole source chain.
pub fn log_internal(error: &(dyn std::error::Error + 'static)) {
    let mut chain = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    tracing::error!(error = %chain, "internal error");
}

/// The JSON body of a refusal: `{"errors":[{"message","extensions":{"code",…}}]}`,
/// written directly (no `serde_json::Value` tree). HTTP, WebSocket and the
/// GraphQL side of every transport build their error bodies with it.
#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    errors: [ErrorEntry<'a>; 1],
}

#[derive(Debug, Serialize)]
struct ErrorEntry<'a> {
    message: &'a str,
    extensions: ErrorExtensionsBody<'a>,
}

#[derive(Debug, Serialize)]
struct ErrorExtensionsBody<'a> {
    code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<&'a str>,
}

impl<'a> ErrorBody<'a> {
    /// One error with `code` and `message`.
    pub fn new(code: ErrorCode, message: &'a str) -> Self {
        Self {
            errors: [ErrorEntry {
                message,
                extensions: ErrorExtensionsBody {
                    code: code.as_str(),
                    limit: None,
                },
            }],
        }
    }

    /// With `extensions.limit`: the document limit that refused a request.
    pub fn with_limit(mut self, limit: &'a str) -> Self {
        self.errors[0].extensions.limit = Some(limit);
        self
    }

    /// The body as JSON text.
    pub fn to_json(&self) -> String {
        // Serialising these plain structs cannot fail; the fallback keeps
        // that promise without a panic on the request path.
        serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"errors":[{"message":"Internal server error","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}"#.to_owned()
        })
    }
}

/// Turns a client error into a GraphQL error with `extensions.code` (and
/// `extensions.field` for invalid input).
pub fn to_graphql<E: ClientError>(error: E) -> async_graphql::Error {
    let code = error.code();
    let field = error.field();
    let extra = error.extensions();
    async_graphql::Error::new(error.client_message()).extend_with(|_, ext| {
        ext.set("code", code.as_str());
        if let Some(field) = field {
            ext.set("field", field);
        }
        for (key, value) in extra {
            if let Ok(value) = async_graphql::Value::from_json(value) {
                ext.set(key, value);
            }
        }
    })
}

/// `.gql()?` in resolvers: converts a feature result into a GraphQL one.
pub trait GqlResultExt<T> {
    /// Maps the error through [`to_graphql`].
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T, E: ClientError> GqlResultExt<T> for Result<T, E> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(to_graphql)
    }
}

/// A GraphQL error with a code and no feature behind it.
pub fn coded(code: ErrorCode, message: impl Into<String>) -> async_graphql::Error {
    async_graphql::Error::new(message).extend_with(|_, ext| ext.set("code", code.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_screaming_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "{s} twice");
            assert!(
                s.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'),
                "{s}"
            );
        }
    }

    #[test]
    fn the_readme_error_table_lists_exactly_the_catalogue() {
        let readme = include_str!("../README.md");
        let start = readme
            .find("| code | when |")
            .expect("README has the error table");
        let table: Vec<&str> = readme[start..]
            .lines()
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .filter_map(|l| l.split('`').nth(1))
            .collect();
        let catalogue: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(table, catalogue, "README error table vs ErrorCode::ALL");
    }

    #[test]
    fn error_bodies() {
        assert_eq!(
            ErrorBody::new(ErrorCode::CsrfError, "no").to_json(),
            r#"{"errors":[{"message":"no","extensions":{"code":"CSRF_ERROR"}}]}"#
        );
        assert_eq!(
            ErrorBody::new(ErrorCode::GraphqlValidationFailed, "deep")
                .with_limit("depth")
                .to_json(),
            r#"{"errors":[{"message":"deep","extensions":{"code":"GRAPHQL_VALIDATION_FAILED","limit":"depth"}}]}"#
        );
    }
}
