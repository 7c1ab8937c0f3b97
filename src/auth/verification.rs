//! Email verification use cases: proving an address with a code
//! ([`AuthService::verify_email`]), asking for a new code
//! ([`AuthService::resend_verification`]) and minting the code an email
//! carries ([`AuthService::issue_verification_code`], called by the email
//! job). Knows nothing of GraphQL or HTTP.
//!
//! Each email asked for is a row of `email_verification_codes`, written in
//! the transaction that asks (registration, resend) together with the job
//! that sends it; the job mints the code and stores its hash in that row,
//! so no usable code ever sits in the queue. Counting those rows is the
//! hourly limit, so it holds across instances; the user row is locked
//! while counting, so two concurrent resends cannot both pass it.

use std::time::Duration;

use chrono::Utc;
use diesel_async::AsyncConnection;
use uuid::Uuid;

use super::{
    AuthError, AuthService,
    model::{self, User},
    verification_code::{
        MAX_EMAILS_PER_HOUR, MAX_WRONG_CODES_PER_HOUR, VerificationCode, code_expiry,
        email_window_start, retry_after_secs,
    },
};
use crate::{
    jobs::{self, queue::Job},
    rate_limit::Limited,
};

/// What `resend_verification` decided inside its transaction.
enum Resend {
    AlreadyVerified,
    Limited { retry_after_secs: u64 },
    Sent,
}

impl AuthService {
    /// Marks the user's email verified when `code` is the user's current,
    /// unused and unexpired code. An already verified user is returned
    /// unchanged, whatever the code. A wrong code is
    /// `InvalidVerificationCode` and changes nothing; past
    /// [`MAX_WRONG_CODES_PER_HOUR`] wrong codes, `RateLimited`.
    #[tracing::instrument(skip_all, fields(user.id = %user_id))]
    pub async fn verify_email(&self, user_id: Uuid, code: &str) -> Result<User, AuthError> {
        let mut conn = self.db.conn().await?;
        let user = model::find_by_ids(&conn, &[user_id])
            .await?
            .pop()
            .ok_or(AuthError::InvalidToken)?;
        if user.email_verified() {
            return Ok(user);
        }
        let failures_key = format!("verify:acct:{user_id}");
        let window = Duration::from_secs(3600);
        let (failures, left) = self.limiter().peek(&failures_key, window).await;
        if failures >= MAX_WRONG_CODES_PER_HOUR {
            self.metrics().rate_limited("verify_email");
            return Err(Limited { retry_after: left }.into());
        }
        let Some(code) = VerificationCode::parse(code) else {
            self.limiter().add(&failures_key, 1, window).await;
            return Err(AuthError::InvalidVerificationCode);
        };
        let hash = code.hash();
        let verified = conn
            .transaction::<_, AuthError, _>(async |conn| {
                let user = model::lock_user(conn, user_id)
                    .await?
                    .ok_or(AuthError::InvalidToken)?;
                if user.email_verified() {
                    return Ok(Some(user));
                }
                let now = Utc::now();
                if !model::use_verification_code(conn, user_id, &hash, now).await? {
                    return Ok(None);
                }
                model::cancel_verification_codes(conn, user_id, None, now).await?;
                Ok(Some(model::set_email_verified(conn, user_id, now).await?))
            })
            .await?;
        match verified {
            Some(user) => {
                tracing::info!("email verified");
                Ok(user)
            }
            None => {
                tracing::info!("wrong email verification code");
                self.limiter().add(&failures_key, 1, window).await;
                Err(AuthError::InvalidVerificationCode)
            }
        }
    }

    /// Sends the user a new verification email with a new code, cancelling
    /// the codes sent before. False when the email is already verified
    /// (whatever the limit); `VerificationEmailLimit` past
    /// [`MAX_EMAILS_PER_HOUR`] emails in the last hour, the registration
    /// one included.
    #[tracing::instrument(skip_all, fields(user.id = %user_id))]
    pub async fn resend_verification(&self, user_id: Uuid) -> Result<bool, AuthError> {
        let mut conn = self.db.conn().await?;
        let outcome = conn
            .transaction::<_, AuthError, _>(async |conn| {
                let user = model::lock_user(conn, user_id)
                    .await?
                    .ok_or(AuthError::InvalidToken)?;
                if user.email_verified() {
                    return Ok(Resend::AlreadyVerified);
                }
                let now = Utc::now();
                let (sent, oldest) =
                    model::count_verification_codes_since(conn, user_id, email_window_start(now))
                        .await?;
                if sent >= MAX_EMAILS_PER_HOUR {
                    return Ok(Resend::Limited {
                        retry_after_secs: retry_after_secs(oldest.unwrap_or(now), now),
                    });
                }
                let code_id =
                    model::insert_verification_code(conn, user_id, now, code_expiry(now)).await?;
                model::cancel_verification_codes(conn, user_id, Some(code_id), now).await?;
                // Sent only if the code row commits.
                jobs::queue::enqueue(
                    conn,
                    &Job::VerificationEmail { user_id, code_id },
                    None,
                    None,
                )
                .await?;
                Ok(Resend::Sent)
            })
            .await?;
        match outcome {
            Resend::AlreadyVerified => Ok(false),
            Resend::Limited { retry_after_secs } => {
                tracing::info!("verification email refused: hourly limit");
                self.metrics().rate_limited("resend_verification");
                Err(AuthError::VerificationEmailLimit {
                    max: MAX_EMAILS_PER_HOUR,
                    retry_after_secs,
                })
            }
            Resend::Sent => {
                tracing::info!("verification email enqueued");
                Ok(true)
            }
        }
    }

    /// Mints the code of one verification email (the email job calls this,
    /// so the code only ever exists in the email): stores its hash in the
    /// row `code_id` and restarts its 48 hours. `None` when there is
    /// nothing to send: the user is gone or verified, or the row was used
    /// or cancelled by a newer one. A job that runs twice mints twice, and
    /// only the last email's code works, as after a resend.
    ///
    /// Without `code_id` (welcome emails enqueued before verification
    /// existed), a new row is written first.
    pub async fn issue_verification_code(
        &self,
        user_id: Uuid,
        code_id: Option<Uuid>,
    ) -> Result<Option<(User, VerificationCode)>, AuthError> {
        let mut conn = self.db.conn().await?;
        conn.transaction::<_, AuthError, _>(async |conn| {
            let Some(user) = model::lock_user(conn, user_id).await? else {
                return Ok(None);
            };
            if user.email_verified() {
                return Ok(None);
            }
            let now = Utc::now();
            let code_id = match code_id {
                Some(id) => id,
                None => {
                    let id = model::insert_verification_code(conn, user_id, now, code_expiry(now))
                        .await?;
                    model::cancel_verification_codes(conn, user_id, Some(id), now).await?;
                    id
                }
            };
            let code = VerificationCode::generate();
            let minted = model::mint_verification_code(
                conn,
                user_id,
                code_id,
                &code.hash(),
                code_expiry(now),
            )
            .await?;
            Ok(minted.then_some((user, code)))
        })
        .await
    }
}

/// The user, or `EmailNotVerified` when the address is not proved yet:
/// for operations that need a verified address (invitations).
pub fn require_verified(user: &User) -> Result<&User, AuthError> {
    if user.email_verified() {
        Ok(user)
    } else {
        Err(AuthError::EmailNotVerified)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_verified_address_passes() {
        let now = Utc::now();
        let mut user = User {
            id: Uuid::now_v7(),
            email: "a@b.co".into(),
            password_hash: String::new(),
            display_name: None,
            created_at: now,
            updated_at: now,
            event_seq: 0,
            default_list_id: Uuid::now_v7(),
            email_verified_at: None,
        };
        assert!(matches!(
            require_verified(&user),
            Err(AuthError::EmailNotVerified)
        ));
        user.email_verified_at = Some(now);
        assert!(require_verified(&user).is_ok());
    }
}
