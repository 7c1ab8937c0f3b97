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
    /// No such todo among the caller's lists (a todo of a list the caller
    /// is not a member of is reported the same).
    #[error("todo not found")]
    NotFound,
    /// No such list among the caller's.
    #[error("list not found")]
    ListNotFound,
    /// The caller's role in the list does not allow this; nothing changed.
    #[error("your role in this list does not allow this")]
    Forbidden,
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

impl From<crate::lists::guard::Refused> for TodoError {
    fn from(e: crate::lists::guard::Refused) -> Self {
        use crate::lists::{access::Denied, guard::Refused};
        match e {
            Refused::Denied(Denied::Missing) => Self::ListNotFound,
            Refused::Denied(Denied::Forbidden(_)) => Self::Forbidden,
            Refused::Db(e) => e.into(),
        }
    }
}

impl From<crate::lists::position::PositionError> for TodoError {
    fn from(e: crate::lists::position::PositionError) -> Self {
        Self::invalid("position", e.to_string())
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
            Self::NotFound | Self::ListNotFound => ErrorCode::NotFound,
            Self::Forbidden => ErrorCode::Forbidden,
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
