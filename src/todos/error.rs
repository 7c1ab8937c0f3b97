//! The todos feature's error type.

use crate::{
    db::DbError,
    error::{ClientError, ErrorCode},
};

/// Why a todo operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TodoError {
    /// An input field failed validation.
    #[error("{field}: {message}")]
    Invalid {
        /// The input field at fault.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// No such todo among the caller's (another user's is reported the same).
    #[error("todo not found")]
    NotFound,
    /// `expectedVersion` did not match; nothing changed.
    #[error("version conflict: expected version {expected}, but the todo is at version {actual}")]
    VersionConflict {
        /// What the client expected.
        expected: i32,
        /// The todo's current version.
        actual: i32,
    },
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl TodoError {
    /// A validation error on `field`.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            message: message.into(),
        }
    }
}

impl From<diesel::result::Error> for TodoError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(DbError::Query(e))
    }
}

/// The codes clients see for each case.
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
