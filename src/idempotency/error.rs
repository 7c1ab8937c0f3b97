//! The idempotency feature's error type.

use crate::{
    db::DbError,
    error::{ClientError, ErrorCode},
};

/// Why a keyed request was not run (nothing ran).
#[derive(Debug, thiserror::Error)]
pub enum IdempotencyError {
    /// The key is not 1–255 printable ASCII characters (HTTP 400).
    #[error("Idempotency-Key: {0}")]
    InvalidKey(String),
    /// The key was used for a different operation (HTTP 422).
    #[error("this Idempotency-Key was already used for a different operation; use a new key")]
    Reused,
    /// The key's first run is still running (HTTP 409).
    #[error("a request with this Idempotency-Key is still running; retry later")]
    InUse,
    /// The key's first run was applied but its response was lost (a crash
    /// between the commit and storing it): it is never run again (HTTP 409).
    #[error(
        "the first request with this Idempotency-Key was applied but its response was lost; \
         read the current state instead of retrying"
    )]
    ResponseLost,
    /// The keyed run's task failed (a bug); logged.
    #[error("the keyed operation was interrupted")]
    Interrupted,
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for IdempotencyError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(DbError::Query(e))
    }
}

impl ClientError for IdempotencyError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidKey(_) => ErrorCode::BadUserInput,
            Self::Reused => ErrorCode::IdempotencyKeyReused,
            Self::InUse | Self::ResponseLost => ErrorCode::IdempotencyKeyInUse,
            Self::Interrupted | Self::Db(_) => ErrorCode::InternalServerError,
        }
    }
}

impl IdempotencyError {
    /// The HTTP status (GraphQL over HTTP and REST alike).
    pub fn status(&self) -> axum::http::StatusCode {
        use axum::http::StatusCode;
        match self {
            Self::InvalidKey(_) => StatusCode::BAD_REQUEST,
            Self::Reused => StatusCode::UNPROCESSABLE_ENTITY,
            Self::InUse | Self::ResponseLost => StatusCode::CONFLICT,
            Self::Interrupted | Self::Db(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}
