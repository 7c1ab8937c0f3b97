//! The lists feature's error type.

use super::{
    access::{Action, Denied},
    guard::Refused,
    position::PositionError,
};
use crate::{
    db::DbError,
    error::{ClientError, ErrorCode},
};

/// Why a list operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    /// An input field failed validation, or the list's state does not allow
    /// the operation (deleting a default list, the owner leaving, …).
    #[error("{field}: {message}")]
    Invalid {
        /// The input field at fault.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// No such list among the caller's (or no such member, invitation).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The caller's role does not allow this; nothing changed.
    #[error("only {0} of this list may do this")]
    Forbidden(&'static str),
    /// `expectedVersion` did not match; nothing changed.
    #[error("version conflict: expected version {expected}, but the list is at version {actual}")]
    VersionConflict {
        /// What the client expected.
        expected: i32,
        /// The current version.
        actual: i32,
    },
    /// Already a member, or already invited.
    #[error("{0}")]
    Conflict(&'static str),
    /// A per-user limit was reached.
    #[error("{0}")]
    RateLimited(String),
    /// The caller's email is not verified (invitations go to whoever
    /// proved they own the address).
    #[error("verify your email address first (verifyEmail)")]
    EmailNotVerified,
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl ListError {
    /// A validation error on `field`.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            message: message.into(),
        }
    }
}

impl From<Denied> for ListError {
    fn from(d: Denied) -> Self {
        match d {
            Denied::Missing => Self::NotFound("list"),
            Denied::Forbidden(Action::WriteTodos | Action::Rename) => {
                Self::Forbidden("the OWNER or an EDITOR")
            }
            Denied::Forbidden(_) => Self::Forbidden("the OWNER"),
        }
    }
}

impl From<Refused> for ListError {
    fn from(e: Refused) -> Self {
        match e {
            Refused::Denied(d) => d.into(),
            Refused::Db(e) => e.into(),
        }
    }
}

impl From<PositionError> for ListError {
    fn from(e: PositionError) -> Self {
        Self::invalid("position", e.to_string())
    }
}

impl From<diesel::result::Error> for ListError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(DbError::Query(e))
    }
}

/// The codes clients see for each case.
impl ClientError for ListError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid { .. } => ErrorCode::BadUserInput,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::VersionConflict { .. } | Self::Conflict(_) => ErrorCode::Conflict,
            Self::RateLimited(_) => ErrorCode::RateLimited,
            Self::EmailNotVerified => ErrorCode::EmailNotVerified,
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
