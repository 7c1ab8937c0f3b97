//! The events feature's error type.

use crate::{
    db::DbError,
    error::{ClientError, ErrorCode},
};

/// Why a subscription failed or ended.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// The `after` cursor is malformed.
    #[error("after: is not a valid event cursor")]
    InvalidCursor,
    /// A pull-feed page size outside 1..500.
    #[error("first: must be between 1 and 500")]
    InvalidFirst,
    /// The cursor points before the retained events: refetch, then
    /// subscribe without a cursor.
    #[error("the events after this cursor are no longer retained; refetch and subscribe again")]
    CursorExpired,
    /// The subscriber fell behind its bounded buffer; resume from `cursor`.
    #[error("the subscriber fell behind; resume with todoEvents(after:) from the cursor")]
    SlowConsumer {
        /// Resume after this cursor (the last event delivered, or the
        /// subscription's starting point).
        cursor: String,
    },
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for EventError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(DbError::Query(e))
    }
}

/// The codes clients see for each case.
impl ClientError for EventError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidCursor | Self::InvalidFirst => ErrorCode::BadUserInput,
            Self::CursorExpired => ErrorCode::CursorExpired,
            Self::SlowConsumer { .. } => ErrorCode::SlowConsumer,
            Self::Db(_) => ErrorCode::InternalServerError,
        }
    }

    fn field(&self) -> Option<&'static str> {
        match self {
            Self::InvalidCursor => Some("after"),
            Self::InvalidFirst => Some("first"),
            _ => None,
        }
    }

    fn extensions(&self) -> Vec<(&'static str, serde_json::Value)> {
        match self {
            Self::SlowConsumer { cursor } => vec![("cursor", cursor.clone().into())],
            _ => Vec::new(),
        }
    }
}
