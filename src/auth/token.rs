//! Access tokens (HS256 JWTs) and opaque refresh tokens.
//!
//! Following RFC 8725: one pinned algorithm (the token's own `alg` is never
//! trusted, so `none` and RS/ES tokens fail), a key of at least 256 bits,
//! `iss`, `aud`, `sub` and `exp` required and checked, and an explicit
//! `typ` of `at+jwt` so no other JWT kind can pass for an access token.

use std::{
    num::NonZeroUsize,
    sync::{Arc, Mutex},
    time::Duration,
};

use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use lru::LruCache;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Issuer written into and required of every access token.
pub const ISSUER: &str = "todoql";
/// Audience written into and required of every access token.
pub const AUDIENCE: &str = "todoql-api";
/// The JWT `typ` header of access tokens (RFC 9068).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The user's id.
    pub sub: Uuid,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Expires at (seconds since the epoch).
    pub exp: i64,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
}

/// Why an access token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Expired.
    #[error("token expired")]
    Expired,
    /// Anything else: bad signature, wrong algorithm, claims or type.
    #[error("token invalid: {0}")]
    Invalid(String),
}

/// Issues and verifies access tokens with one HMAC key. Cheap to clone:
/// services holding it are cloned per request (axum's `State`, the
/// request's DataLoader), and the keys and `Validation` (sets of claims,
/// key bytes) would otherwise be copied each time.
#[derive(Clone)]
pub struct AccessTokens(Arc<Keys>);

struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
    /// Tokens that passed [`AccessTokens::verify`], with their claims.
    verified: Mutex<LruCache<Box<str>, Claims>>,
}

/// How many verified tokens [`AccessTokens::verify`] remembers (about
/// 400 bytes each): a client sends the same token with every request for
/// its lifetime, and decoding and checking it again (base64, two JSON
/// documents, an HMAC key schedule and digest) was 3.6 % of a list
/// request's instructions (docs/benchmarks.md, sixth session).
const VERIFIED_TOKENS: NonZeroUsize = NonZeroUsize::new(1024).unwrap();

impl AccessTokens {
    /// Keys from the configured secret; `ttl` is each token's lifetime.
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // One issuer is also the only verifier, so clocks agree: no leeway.
        validation.leeway = 0;
        Self(Arc::new(Keys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
            verified: Mutex::new(LruCache::new(VERIFIED_TOKENS)),
        }))
    }

    /// Seconds each token lives.
    pub fn ttl_secs(&self) -> i64 {
        i64::try_from(self.0.ttl.as_secs()).unwrap_or(i64::MAX)
    }

    /// Signs a token for `user_id`, valid from now for the configured lifetime.
    pub fn issue(&self, user_id: Uuid) -> Result<String, TokenError> {
        let now = chrono::Utc::now().timestamp();
        self.sign(&Claims {
            sub: user_id,
            iat: now,
            exp: now.saturating_add(self.ttl_secs()),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
        })
    }

    /// Signs arbitrary claims (tests use it to forge expired tokens).
    pub fn sign(&self, claims: &Claims) -> Result<String, TokenError> {
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some(ACCESS_TOKEN_TYP.into());
        jsonwebtoken::encode(&header, claims, &self.0.encoding)
            .map_err(|e| TokenError::Invalid(e.to_string()))
    }

    /// Verifies signature, algorithm, type and claims.
    ///
    /// A token verified before is looked up instead: the same text with
    /// the same key gives the same answer, except for expiry, which is
    /// checked again (with no leeway, as `Validation` has it). Only tokens
    /// that passed every check are remembered, by their whole text.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        if let Ok(mut verified) = self.0.verified.lock()
            && let Some(claims) = verified.get(token)
        {
            if claims.exp < chrono::Utc::now().timestamp() {
                verified.pop(token);
                return Err(TokenError::Expired);
            }
            return Ok(claims.clone());
        }
        let claims = self.decode(token)?;
        if let Ok(mut verified) = self.0.verified.lock() {
            verified.put(token.into(), claims.clone());
        }
        Ok(claims)
    }

    /// Decodes `token` and checks signature, algorithm, type and claims.
    fn decode(&self, token: &str) -> Result<Claims, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.0.decoding, &self.0.validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid(e.to_string()),
            })?;
        if data.header.typ.as_deref() != Some(ACCESS_TOKEN_TYP) {
            return Err(TokenError::Invalid("wrong token type".into()));
        }
        Ok(data.claims)
    }
}

/// 256 random bits, base64url without padding (43 characters).
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The SHA-256 of an opaque token: what the database stores. A fast hash is
/// right here because the token already has 256 bits of entropy.
pub fn hash_opaque(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The token from an `Authorization: Bearer <token>` header value (scheme
/// case-insensitive, as RFC 7235 says).
pub fn bearer(header_value: &str) -> Option<&str> {
    let (scheme, token) = header_value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> AccessTokens {
        AccessTokens::new(&[7u8; 32], Duration::from_secs(900))
    }

    fn b64(json: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    #[test]
    fn round_trip() {
        let k = keys();
        let id = Uuid::now_v7();
        let claims = k.verify(&k.issue(id).unwrap()).unwrap();
        assert_eq!(claims.sub, id);
        assert_eq!(claims.exp - claims.iat, 900);
        assert_eq!(claims.iss, ISSUER);
    }

    #[test]
    fn a_remembered_token_is_checked_for_expiry_again() {
        let k = keys();
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: Uuid::now_v7(),
            iat: now - 100,
            exp: now + 100,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
        };
        let token = k.sign(&claims).unwrap();
        assert_eq!(k.verify(&token), Ok(claims.clone()));
        // Remembered: the same answer without decoding.
        assert_eq!(k.verify(&token), Ok(claims.clone()));
        // Its expiry passes while it is remembered.
        let remembered = Claims {
            exp: now - 1,
            ..claims
        };
        k.0.verified
            .lock()
            .unwrap()
            .put(token.as_str().into(), remembered);
        assert_eq!(k.verify(&token), Err(TokenError::Expired));
        assert!(k.0.verified.lock().unwrap().peek(token.as_str()).is_none());
    }

    #[test]
    fn refused_tokens_are_not_remembered() {
        let k = keys();
        let good = k.issue(Uuid::now_v7()).unwrap();
        let mut parts: Vec<&str> = good.split('.').collect();
        parts[2] = "AAAA";
        let forged = parts.join(".");
        assert!(k.verify(&forged).is_err());
        assert!(k.verify(&forged).is_err());
        assert_eq!(k.0.verified.lock().unwrap().len(), 0);
    }

    #[test]
    fn expired_is_refused() {
        let k = keys();
        let now = chrono::Utc::now().timestamp();
        let token = k
            .sign(&Claims {
                sub: Uuid::now_v7(),
                iat: now - 100,
                exp: now - 1,
                iss: ISSUER.into(),
                aud: AUDIENCE.into(),
            })
            .unwrap();
        assert_eq!(k.verify(&token), Err(TokenError::Expired));
    }

    #[test]
    fn alg_none_and_other_keys_are_refused() {
        let k = keys();
        let good = k.issue(Uuid::now_v7()).unwrap();
        let payload = good.split('.').nth(1).unwrap();
        let none = format!("{}.{payload}.", b64(r#"{"alg":"none","typ":"at+jwt"}"#));
        assert!(matches!(k.verify(&none), Err(TokenError::Invalid(_))));
        let other = AccessTokens::new(&[8u8; 32], Duration::from_secs(900));
        assert!(matches!(
            k.verify(&other.issue(Uuid::now_v7()).unwrap()),
            Err(TokenError::Invalid(_))
        ));
        // Tampered payload under the original signature.
        let mut parts: Vec<&str> = good.split('.').collect();
        let forged = b64(&format!(
            r#"{{"sub":"{}","iat":1,"exp":99999999999,"iss":"todoql","aud":"todoql-api"}}"#,
            Uuid::now_v7()
        ));
        parts[1] = &forged;
        assert!(k.verify(&parts.join(".")).is_err());
    }

    #[test]
    fn wrong_audience_issuer_or_type_is_refused() {
        let k = keys();
        let now = chrono::Utc::now().timestamp();
        let base = Claims {
            sub: Uuid::now_v7(),
            iat: now,
            exp: now + 60,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
        };
        let wrong_aud = Claims {
            aud: "other".into(),
            ..base.clone()
        };
        let wrong_iss = Claims {
            iss: "other".into(),
            ..base.clone()
        };
        assert!(k.verify(&k.sign(&wrong_aud).unwrap()).is_err());
        assert!(k.verify(&k.sign(&wrong_iss).unwrap()).is_err());
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some("JWT".into());
        let plain =
            jsonwebtoken::encode(&header, &base, &EncodingKey::from_secret(&[7u8; 32])).unwrap();
        assert!(k.verify(&plain).is_err());
    }

    #[test]
    fn opaque_tokens_are_random_and_hashed() {
        let a = random_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token());
        assert_eq!(hash_opaque(&a).len(), 32);
        assert_eq!(hash_opaque(&a), hash_opaque(&a));
    }

    #[test]
    fn bearer_header_parsing() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer   abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("abc"), None);
    }
}
