//! The one authentication path: an `Authorization` value (the HTTP header,
//! the WebSocket `connection_init` payload or upgrade header, the REST
//! facade's header) becomes [`Credentials`] through
//! [`AuthService::credentials`] (Bearer scheme, signature and every RFC 8725
//! claim check), and credentials become the signed-in [`User`] through
//! [`AuthService::authenticate`] or, where a request batches its user
//! lookups, [`signed_in`] over the looked-up row. The user must still
//! exist: deleting an account ends its tokens at once.

use super::{
    AuthError, AuthService,
    model::User,
    token::{self, Claims, TokenError},
};

/// What a request presented, decoded by its transport before execution.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// No token was sent.
    Anonymous,
    /// A token was sent; verified or not.
    Token(Result<Claims, TokenError>),
}

impl Credentials {
    /// The verified claims, or why there are none.
    pub fn claims(&self) -> Result<&Claims, AuthError> {
        match self {
            Self::Anonymous => Err(AuthError::MissingToken),
            Self::Token(Err(_)) => Err(AuthError::InvalidToken),
            Self::Token(Ok(claims)) => Ok(claims),
        }
    }
}

/// The signed-in user, given the row looked up for the claims' subject
/// (`None` when the account is gone).
pub fn signed_in<U>(credentials: &Credentials, row: Option<U>) -> Result<U, AuthError> {
    credentials.claims()?;
    row.ok_or(AuthError::InvalidToken)
}

impl AuthService {
    /// Decodes an `Authorization` value (`Bearer <accessToken>`).
    pub fn credentials(&self, authorization: Option<&str>) -> Credentials {
        match authorization {
            None => Credentials::Anonymous,
            Some(value) => Credentials::Token(
                token::bearer(value)
                    .ok_or_else(|| TokenError::Invalid("not a Bearer token".into()))
                    .and_then(|t| self.verify_access_token(t)),
            ),
        }
    }

    /// The signed-in user behind `credentials`, read from PostgreSQL.
    pub async fn authenticate(&self, credentials: &Credentials) -> Result<User, AuthError> {
        let claims = credentials.claims()?;
        let row = self.users_by_ids(&[claims.sub]).await?.pop();
        signed_in(credentials, row)
    }
}
