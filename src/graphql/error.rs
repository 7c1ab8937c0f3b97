//! The one mapping from feature errors to client-facing codes: GraphQL
//! `extensions.code` and, for the REST facade, HTTP statuses. Internal
//! errors (database, hashing) are logged here with their cause and reach
//! clients only as `INTERNAL_SERVER_ERROR` with a fixed message.

use async_graphql::ErrorExtensions;
use axum::http::StatusCode;

use crate::{auth::AuthError, events::EventError, todos::TodoError};

/// Every code a client can see (the contract's list).
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
    /// Anything else; details are only in the logs.
    InternalServerError,
}

impl ErrorCode {
    /// The `extensions.code` string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::NotFound => "NOT_FOUND",
            Self::BadUserInput => "BAD_USER_INPUT",
            Self::Conflict => "CONFLICT",
            Self::RateLimited => "RATE_LIMITED",
            Self::GraphqlValidationFailed => "GRAPHQL_VALIDATION_FAILED",
            Self::GraphqlParseFailed => "GRAPHQL_PARSE_FAILED",
            Self::PersistedQueryNotFound => "PERSISTED_QUERY_NOT_FOUND",
            Self::CursorExpired => "CURSOR_EXPIRED",
            Self::SlowConsumer => "SLOW_CONSUMER",
            Self::Timeout => "TIMEOUT",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::InternalServerError => "INTERNAL_SERVER_ERROR",
        }
    }

    /// The HTTP status the REST facade answers with.
    pub fn http_status(self) -> StatusCode {
        match self {
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
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

impl ClientError for AuthError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid { .. } => ErrorCode::BadUserInput,
            Self::EmailTaken => ErrorCode::Conflict,
            Self::InvalidCredentials
            | Self::MissingToken
            | Self::InvalidToken
            | Self::InvalidRefreshToken
            | Self::InvalidResetToken => ErrorCode::Unauthenticated,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::Internal(_) | Self::Db(_) => ErrorCode::InternalServerError,
        }
    }

    fn field(&self) -> Option<&'static str> {
        match self {
            Self::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }

    fn extensions(&self) -> Vec<(&'static str, serde_json::Value)> {
        match self {
            Self::RateLimited { retry_after_secs } => {
                vec![("retryAfter", (*retry_after_secs).into())]
            }
            _ => Vec::new(),
        }
    }
}

impl ClientError for TodoError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid { .. } => ErrorCode::BadUserInput,
            Self::NotFound => ErrorCode::NotFound,
            Self::VersionConflict { .. } => ErrorCode::Conflict,
            Self::Db(_) => ErrorCode::InternalServerError,
        }
    }

    fn field(&self) -> Option<&'static str> {
        match self {
            Self::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }
}

impl ClientError for EventError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidCursor => ErrorCode::BadUserInput,
            Self::CursorExpired => ErrorCode::CursorExpired,
            Self::SlowConsumer { .. } => ErrorCode::SlowConsumer,
            Self::Db(_) => ErrorCode::InternalServerError,
        }
    }

    fn field(&self) -> Option<&'static str> {
        matches!(self, Self::InvalidCursor).then_some("after")
    }

    fn extensions(&self) -> Vec<(&'static str, serde_json::Value)> {
        match self {
            Self::SlowConsumer { cursor } => vec![("cursor", cursor.clone().into())],
            _ => Vec::new(),
        }
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
