//! Auth use cases on parsed input. Knows nothing of GraphQL or HTTP.

use std::{net::IpAddr, time::Duration};

use chrono::Utc;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::AsyncConnection;
use uuid::Uuid;

use super::{
    AuthError,
    default_lists::DefaultLists,
    domain::{DisplayName, Email, Password},
    model::{self, NewRefreshToken, NewUser, User},
    password,
    token::{self, AccessTokens, Claims, TokenError},
    verification_code::code_expiry,
};
use crate::{
    config::AuthLimits,
    db::{Conn, Db},
    jobs::{self, queue::Job},
    rate_limit::{Limited, RateLimiter},
    telemetry::Metrics,
};

impl From<Limited> for AuthError {
    fn from(l: Limited) -> Self {
        Self::RateLimited {
            retry_after_secs: l.retry_after_secs(),
        }
    }
}

/// A signed-in session: what register, login and refresh return.
#[derive(Debug, Clone)]
pub struct Session {
    /// JWT for the `Authorization` header.
    pub access_token: String,
    /// Opaque refresh token (shown once; only its hash is stored).
    pub refresh_token: String,
    /// Seconds until `access_token` expires.
    pub expires_in: i64,
    /// The signed-in user.
    pub user: User,
}

/// Accounts and sessions.
#[derive(Clone)]
pub struct AuthService {
    pub(super) db: Db,
    tokens: AccessTokens,
    refresh_ttl: Duration,
    limiter: RateLimiter,
    limits: AuthLimits,
    metrics: Metrics,
    default_lists: DefaultLists,
}

/// What a refresh-token exchange found, decided inside its transaction.
enum Exchange {
    Rotated(Box<Session>),
    /// A rotated or revoked token came back: its family is now revoked.
    Reused {
        user_id: Uuid,
    },
    Refused,
}

impl AuthService {
    /// The service over `db`, signing with `tokens`, limiting attempts
    /// with `limiter`, counting failed logins in `metrics`.
    pub fn new(
        db: Db,
        tokens: AccessTokens,
        refresh_ttl: Duration,
        limiter: RateLimiter,
        limits: AuthLimits,
        metrics: Metrics,
    ) -> Self {
        Self {
            db,
            tokens,
            refresh_ttl,
            limiter,
            limits,
            metrics,
            default_lists: DefaultLists::default(),
        }
    }

    /// `user`'s default list, when this process has read their row through
    /// [`Self::users_by_ids`] before (see [`DefaultLists`]).
    pub fn known_default_list(&self, user: Uuid) -> Option<Uuid> {
        self.default_lists.get(user)
    }

    /// The access-token keys (tests forge tokens with them).
    pub fn tokens(&self) -> &AccessTokens {
        &self.tokens
    }

    /// Creates an account and signs it in. `EmailTaken` when the address
    /// (compared case-insensitively) already has one. The welcome email
    /// carries the first email verification code.
    #[tracing::instrument(skip_all)]
    pub async fn register(
        &self,
        email: &str,
        password: &str,
        display_name: Option<&str>,
        client: IpAddr,
    ) -> Result<Session, AuthError> {
        self.limiter
            .check(
                &format!("register:ip:{client}"),
                1,
                self.limits.register_per_hour,
                Duration::from_secs(3600),
            )
            .await?;
        let email = Email::parse(email)?;
        let password = Password::parse(password)?;
        let display_name = DisplayName::parse(display_name)?.map(DisplayName::into_inner);
        let password_hash = password::hash(password.expose().to_owned()).await?;
        let mut conn = self.db.conn().await?;
        let session = conn
            .transaction::<_, AuthError, _>(async |conn| {
                let user = model::insert_user(
                    conn,
                    &NewUser {
                        id: Uuid::now_v7(),
                        email: email.as_str(),
                        password_hash: &password_hash,
                        display_name: display_name.as_deref(),
                    },
                )
                .await
                .map_err(|e| match e {
                    DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                        AuthError::EmailTaken
                    }
                    other => other.into(),
                })?;
                // The welcome email is the first verification email: its
                // code row counts towards the hourly limit. Sent only if
                // the account commits.
                let now = Utc::now();
                let code_id =
                    model::insert_verification_code(conn, user.id, now, code_expiry(now)).await?;
                let welcome = Job::WelcomeEmail {
                    user_id: user.id,
                    code_id: Some(code_id),
                };
                jobs::queue::enqueue(conn, &welcome, None, None).await?;
                self.start_session(conn, user, Uuid::now_v7()).await
            })
            .await?;
        tracing::info!(user.id = %session.user.id, "account registered");
        Ok(session)
    }

    /// Signs in. A wrong email and a wrong password give the same error and
    /// take the same time. Failures count per account (known or not, so
    /// the limit reveals nothing) and per client address; past the limit,
    /// `RateLimited` until the window ends.
    #[tracing::instrument(skip_all)]
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        client: IpAddr,
    ) -> Result<Session, AuthError> {
        let account_key = format!("login:acct:{}", email.trim().to_lowercase());
        let address_key = format!("login:ip:{client}");
        let (max, window) = (self.limits.login_max_failures, self.limits.login_window);
        for key in [&account_key, &address_key] {
            let (failures, left) = self.limiter.peek(key, window).await;
            if failures >= max {
                tracing::info!("login refused: too many failures");
                self.metrics.rate_limited("login");
                return Err(Limited { retry_after: left }.into());
            }
        }
        // Over-long input is refused before hashing, so it cannot buy CPU.
        if password.chars().count() > Password::MAX_CHARS
            || email.chars().count() > Email::MAX_CHARS
        {
            self.count_failure(&account_key, &address_key).await;
            return Err(AuthError::InvalidCredentials);
        }
        let mut conn = self.db.conn().await?;
        let user = model::find_by_email(&mut conn, email.trim()).await?;
        // Don't hold a pooled connection across ~50 ms of hashing.
        drop(conn);
        let stored = user.as_ref().map(|u| u.password_hash.clone());
        if !password::verify(password.to_owned(), stored).await? {
            tracing::info!("login failed");
            self.count_failure(&account_key, &address_key).await;
            return Err(AuthError::InvalidCredentials);
        }
        let user = user.ok_or(AuthError::InvalidCredentials)?;
        self.limiter.reset(&account_key).await;
        let mut conn = self.db.conn().await?;
        self.start_session(&mut conn, user, Uuid::now_v7()).await
    }

    async fn count_failure(&self, account_key: &str, address_key: &str) {
        self.metrics.login_failed();
        let window = self.limits.login_window;
        self.limiter.add(account_key, 1, window).await;
        self.limiter.add(address_key, 1, window).await;
    }

    /// Exchanges a refresh token for a new pair. The presented token stops
    /// working; presenting it again revokes its whole family (RFC 9700
    /// §4.14.2: a replay means the token was stolen, or the thief was first).
    #[tracing::instrument(skip_all)]
    pub async fn refresh(&self, refresh_token: &str, client: IpAddr) -> Result<Session, AuthError> {
        self.limiter
            .check(
                &format!("refresh:ip:{client}"),
                1,
                self.limits.refresh_per_minute,
                Duration::from_secs(60),
            )
            .await?;
        let hash = token::hash_opaque(refresh_token);
        let mut conn = self.db.conn().await?;
        let exchange = conn
            .transaction::<_, AuthError, _>(async |conn| {
                let now = Utc::now();
                let Some(stored) = model::lock_refresh_token(conn, &hash).await? else {
                    return Ok(Exchange::Refused);
                };
                if stored.rotated_at.is_some() || stored.revoked_at.is_some() {
                    model::revoke_family(conn, stored.family_id, now).await?;
                    return Ok(Exchange::Reused {
                        user_id: stored.user_id,
                    });
                }
                if stored.expires_at <= now {
                    return Ok(Exchange::Refused);
                }
                model::mark_rotated(conn, stored.id, now).await?;
                let Some(user) = model::find_by_ids(conn, &[stored.user_id]).await?.pop() else {
                    return Ok(Exchange::Refused);
                };
                let session = self.start_session(conn, user, stored.family_id).await?;
                Ok(Exchange::Rotated(Box::new(session)))
            })
            .await?;
        match exchange {
            Exchange::Rotated(session) => Ok(*session),
            Exchange::Reused { user_id } => {
                tracing::warn!(user.id = %user_id, "refresh token reuse: token family revoked");
                Err(AuthError::InvalidRefreshToken)
            }
            Exchange::Refused => Err(AuthError::InvalidRefreshToken),
        }
    }

    /// Revokes the session a refresh token belongs to. True when the token
    /// was active.
    #[tracing::instrument(skip_all)]
    pub async fn logout(&self, refresh_token: &str) -> Result<bool, AuthError> {
        let hash = token::hash_opaque(refresh_token);
        let mut conn = self.db.conn().await?;
        conn.transaction::<_, AuthError, _>(async |conn| {
            let now = Utc::now();
            let Some(stored) = model::lock_refresh_token(conn, &hash).await? else {
                return Ok(false);
            };
            let active = stored.is_active(now);
            // A replayed rotated token revokes the family here too.
            if active || stored.revoked_at.is_none() {
                model::revoke_family(conn, stored.family_id, now).await?;
            }
            Ok(active)
        })
        .await
    }

    /// Checks an access token's signature and claims (no database).
    pub fn verify_access_token(&self, token: &str) -> Result<Claims, TokenError> {
        self.tokens.verify(token)
    }

    /// Starts a password reset: when the address has an account, a job
    /// emails it a code. The answer is the same either way, and limited per
    /// address and per account, so it reveals nothing.
    #[tracing::instrument(skip_all)]
    pub async fn request_password_reset(
        &self,
        email: &str,
        client: IpAddr,
    ) -> Result<(), AuthError> {
        let hour = Duration::from_secs(3600);
        let per_hour = self.limits.reset_per_hour;
        self.limiter
            .check(&format!("reset:ip:{client}"), 1, per_hour, hour)
            .await?;
        self.limiter
            .check(
                &format!("reset:acct:{}", email.trim().to_lowercase()),
                1,
                per_hour,
                hour,
            )
            .await?;
        if email.chars().count() > Email::MAX_CHARS {
            return Ok(());
        }
        let mut conn = self.db.conn().await?;
        if let Some(user) = model::find_by_email(&mut conn, email.trim()).await? {
            jobs::queue::enqueue(
                &conn,
                &Job::PasswordResetEmail { user_id: user.id },
                None,
                None,
            )
            .await?;
        }
        Ok(())
    }

    /// Mints a single-use reset token for a user (the email job calls this,
    /// so the token only ever exists in the email); `None` when the user is
    /// gone.
    pub async fn issue_reset_token(
        &self,
        user_id: Uuid,
    ) -> Result<Option<(User, String)>, AuthError> {
        let mut conn = self.db.conn().await?;
        let Some(user) = model::find_by_ids(&conn, &[user_id]).await?.pop() else {
            return Ok(None);
        };
        let token = token::random_token();
        let ttl = chrono::Duration::from_std(self.limits.reset_ttl)
            .map_err(|e| AuthError::Internal(e.to_string()))?;
        model::insert_reset(
            &mut conn,
            user_id,
            &token::hash_opaque(&token),
            Utc::now() + ttl,
        )
        .await?;
        Ok(Some((user, token)))
    }

    /// Sets a new password with a reset token (single use, unexpired),
    /// revokes every session of the account, and signs in.
    #[tracing::instrument(skip_all)]
    pub async fn reset_password(
        &self,
        reset_token: &str,
        new_password: &str,
        client: IpAddr,
    ) -> Result<Session, AuthError> {
        self.limiter
            .check(
                &format!("reset-use:ip:{client}"),
                1,
                self.limits.reset_per_hour.saturating_mul(3),
                Duration::from_secs(3600),
            )
            .await?;
        let password = Password::parse(new_password)?;
        let hash = password::hash(password.expose().to_owned()).await?;
        let token_hash = token::hash_opaque(reset_token.trim());
        let mut conn = self.db.conn().await?;
        let session = conn
            .transaction::<_, AuthError, _>(async |conn| {
                let user_id = model::consume_reset(conn, &token_hash)
                    .await?
                    .ok_or(AuthError::InvalidResetToken)?;
                model::set_password(conn, user_id, &hash).await?;
                model::void_resets(conn, user_id).await?;
                model::revoke_all_sessions(conn, user_id).await?;
                let user = model::find_by_ids(conn, &[user_id])
                    .await?
                    .pop()
                    .ok_or(AuthError::InvalidResetToken)?;
                self.start_session(conn, user, Uuid::now_v7()).await
            })
            .await?;
        tracing::info!(user.id = %session.user.id, "password reset; all other sessions revoked");
        Ok(session)
    }

    /// The shared rate limiter.
    pub fn limiter(&self) -> &RateLimiter {
        &self.limiter
    }

    /// The app's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Users by id, for the DataLoader.
    pub async fn users_by_ids(&self, ids: &[Uuid]) -> Result<Vec<User>, AuthError> {
        let conn = self.db.conn().await?;
        let users = model::find_by_ids(&conn, ids).await?;
        for user in &users {
            self.default_lists.remember(user.id, user.default_list_id);
        }
        Ok(users)
    }

    /// [`Self::users_by_ids`] on a connection the caller holds (shared, so
    /// the read can be pipelined with the caller's own statements).
    pub async fn users_on(conn: &Conn, ids: &[Uuid]) -> Result<Vec<User>, AuthError> {
        Ok(model::find_by_ids(conn, ids).await?)
    }

    /// Stores a new refresh token in `family` and signs an access token.
    async fn start_session(
        &self,
        conn: &mut Conn,
        user: User,
        family_id: Uuid,
    ) -> Result<Session, AuthError> {
        let refresh_token = token::random_token();
        let refresh_ttl = chrono::Duration::from_std(self.refresh_ttl)
            .map_err(|e| AuthError::Internal(e.to_string()))?;
        model::insert_refresh_token(
            conn,
            &NewRefreshToken {
                id: Uuid::now_v7(),
                user_id: user.id,
                family_id,
                token_hash: &token::hash_opaque(&refresh_token),
                expires_at: Utc::now() + refresh_ttl,
            },
        )
        .await?;
        let access_token = self
            .tokens
            .issue(user.id)
            .map_err(|e| AuthError::Internal(e.to_string()))?;
        Ok(Session {
            access_token,
            refresh_token,
            expires_in: self.tokens.ttl_secs(),
            user,
        })
    }
}
