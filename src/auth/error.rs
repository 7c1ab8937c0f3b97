//! The auth feature's error type.

use crate::{
    db::DbError,
    error::{ClientError, ErrorCode},
};

/// Why an auth operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// An input field failed validation.
    #[error("{field}: {message}")]
    Invalid {
        /// The input field at fault.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The email address already has an account.
    #[error("an account with this email already exists")]
    EmailTaken,
    /// Wrong email or password; deliberately the same for both.
    #[error("invalid email or password")]
    InvalidCredentials,
    /// No access token was presented.
    #[error("authentication required: send `Authorization: Bearer <accessToken>`")]
    MissingToken,
    /// The access token is malformed, forged, expired, or its user is gone.
    #[error("the access token is invalid or expired")]
    InvalidToken,
    /// The refresh token is unknown, expired, rotated or revoked.
    #[error("the refresh token is invalid, expired or revoked")]
    InvalidRefreshToken,
    /// The password-reset token is unknown, used or expired.
    #[error("the reset token is invalid, used or expired")]
    InvalidResetToken,
    /// The email verification code is wrong, used, expired or replaced.
    #[error(
        "the verification code is wrong, used or expired: check it, or ask for a new one (resendVerification)"
    )]
    InvalidVerificationCode,
    /// The account asked for too many verification emails this hour.
    #[error(
        "at most {max} verification emails per hour: try again in {retry_after_secs} s, or use the code already sent"
    )]
    VerificationEmailLimit {
        /// The hourly limit.
        max: i64,
        /// Seconds until the oldest email of the hour leaves the window.
        retry_after_secs: u64,
    },
    /// The caller has not proved that its email address is theirs.
    #[error("verify your email address first (verifyEmail, with the code emailed to you)")]
    EmailNotVerified,
    /// Too many attempts; try again after this many seconds.
    #[error("too many attempts; try again in {retry_after_secs} s")]
    RateLimited {
        /// Seconds to wait.
        retry_after_secs: u64,
    },
    /// Hashing failed, a blocking task died, or a loader failed.
    #[error("internal: {0}")]
    Internal(String),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for AuthError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(DbError::Query(e))
    }
}

/// The codes clients see for each case.
impl ClientError for AuthError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid { .. } | Self::InvalidVerificationCode => ErrorCode::BadUserInput,
            Self::EmailTaken => ErrorCode::Conflict,
            Self::InvalidCredentials
            | Self::MissingToken
            | Self::InvalidToken
            | Self::InvalidRefreshToken
            | Self::InvalidResetToken => ErrorCode::Unauthenticated,
            Self::RateLimited { .. } | Self::VerificationEmailLimit { .. } => {
                ErrorCode::RateLimited
            }
            Self::EmailNotVerified => ErrorCode::EmailNotVerified,
            Self::Internal(_) | Self::Db(_) => ErrorCode::InternalServerError,
        }
    }

    fn field(&self) -> Option<&'static str> {
        match self {
            Self::Invalid { field, .. } => Some(field),
            Self::InvalidVerificationCode => Some("code"),
            _ => None,
        }
    }

    fn extensions(&self) -> Vec<(&'static str, serde_json::Value)> {
        match self {
            Self::RateLimited { retry_after_secs }
            | Self::VerificationEmailLimit {
                retry_after_secs, ..
            } => {
                vec![("retryAfter", (*retry_after_secs).into())]
            }
            _ => Vec::new(),
        }
    }
}
