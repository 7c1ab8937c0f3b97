//! GraphQL types and resolvers for accounts and sessions: `me`, `register`,
//! `login`, `refreshToken`, `logout`, password reset and email
//! verification (`verifyEmail`, `resendVerification`). The `User` type
//! they return is `graphql::objects::UserObject`.

use async_graphql::{Context, InputObject, Object, SimpleObject};

use super::{AuthService, service::Session};
use crate::{
    error::GqlResultExt,
    graphql::{
        context::{client_ip as client, viewer},
        objects::UserObject,
    },
};

/// Input of `register`.
#[derive(InputObject)]
pub struct RegisterInput {
    /// A valid address of at most 254 characters; unique, compared case-insensitively.
    pub email: String,
    /// 8 to 128 characters.
    pub password: String,
    /// Up to 100 characters.
    pub display_name: Option<String>,
}

/// Input of `login`.
#[derive(InputObject)]
pub struct LoginInput {
    /// The account's email.
    pub email: String,
    /// The account's password.
    pub password: String,
}

/// A signed-in session.
#[derive(SimpleObject)]
pub struct AuthPayload {
    /// A JWT for the Authorization header.
    access_token: String,
    /// An opaque token for refreshToken and logout.
    refresh_token: String,
    /// Always Bearer.
    token_type: &'static str,
    /// Seconds until the access token expires.
    expires_in: i32,
    /// The signed-in user.
    user: UserObject,
}

impl From<Session> for AuthPayload {
    fn from(s: Session) -> Self {
        Self {
            access_token: s.access_token,
            refresh_token: s.refresh_token,
            token_type: "Bearer",
            expires_in: i32::try_from(s.expires_in).unwrap_or(i32::MAX),
            user: UserObject::caller(s.user),
        }
    }
}

/// Auth queries.
#[derive(Default)]
pub struct AuthQuery;

#[Object]
impl AuthQuery {
    /// The signed-in user. UNAUTHENTICATED without a valid access token.
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<UserObject> {
        Ok(UserObject::caller(viewer(ctx).await?))
    }
}

/// Auth mutations.
#[derive(Default)]
pub struct AuthMutation;

#[Object]
impl AuthMutation {
    /// Creates an account and signs it in. CONFLICT when the email is taken.
    async fn register(
        &self,
        ctx: &Context<'_>,
        input: RegisterInput,
    ) -> async_graphql::Result<AuthPayload> {
        let auth = ctx.data::<AuthService>()?;
        let session = auth
            .register(
                &input.email,
                &input.password,
                input.display_name.as_deref(),
                client(ctx),
            )
            .await
            .gql()?;
        Ok(session.into())
    }

    /// UNAUTHENTICATED for a wrong email or password alike; RATE_LIMITED after repeated failures.
    async fn login(
        &self,
        ctx: &Context<'_>,
        input: LoginInput,
    ) -> async_graphql::Result<AuthPayload> {
        let auth = ctx.data::<AuthService>()?;
        Ok(auth
            .login(&input.email, &input.password, client(ctx))
            .await
            .gql()?
            .into())
    }

    /// Exchanges a refresh token for a new pair; the old refresh token stops working.
    async fn refresh_token(
        &self,
        ctx: &Context<'_>,
        refresh_token: String,
    ) -> async_graphql::Result<AuthPayload> {
        let auth = ctx.data::<AuthService>()?;
        Ok(auth
            .refresh(&refresh_token, client(ctx))
            .await
            .gql()?
            .into())
    }

    /// Emails a password-reset code when the address has an account. Always
    /// true, whether or not it has one; RATE_LIMITED when asked too often.
    async fn request_password_reset(
        &self,
        ctx: &Context<'_>,
        email: String,
    ) -> async_graphql::Result<bool> {
        let auth = ctx.data::<AuthService>()?;
        auth.request_password_reset(&email, client(ctx))
            .await
            .gql()?;
        Ok(true)
    }

    /// Sets a new password with the code from the reset email (single use,
    /// valid 30 minutes), signs out every session, and signs in.
    async fn reset_password(
        &self,
        ctx: &Context<'_>,
        token: String,
        new_password: String,
    ) -> async_graphql::Result<AuthPayload> {
        let auth = ctx.data::<AuthService>()?;
        Ok(auth
            .reset_password(&token, &new_password, client(ctx))
            .await
            .gql()?
            .into())
    }

    /// Proves the caller owns its email with the code from the verification email (sent at
    /// registration, and again by resendVerification; single use, valid 48 hours; a resend
    /// cancels the codes sent before). A wrong, used or expired code: BAD_USER_INPUT. A caller
    /// that is already verified gets the user, unchanged, whatever the code.
    async fn verify_email(
        &self,
        ctx: &Context<'_>,
        code: String,
    ) -> async_graphql::Result<UserObject> {
        let caller = viewer(ctx).await?;
        let auth = ctx.data::<AuthService>()?;
        let user = auth.verify_email(caller.id, &code).await.gql()?;
        Ok(UserObject::caller(user))
    }

    /// Sends a new verification email with a new code; false when already verified (whatever
    /// the limit). RATE_LIMITED past 5 verification emails per account per hour, the one sent
    /// at registration included.
    async fn resend_verification(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        let caller = viewer(ctx).await?;
        let auth = ctx.data::<AuthService>()?;
        auth.resend_verification(caller.id).await.gql()
    }

    /// Revokes a refresh token. True when it was active.
    async fn logout(
        &self,
        ctx: &Context<'_>,
        refresh_token: String,
    ) -> async_graphql::Result<bool> {
        let auth = ctx.data::<AuthService>()?;
        auth.logout(&refresh_token).await.gql()
    }
}
