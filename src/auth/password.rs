//! Argon2id password hashing, run on the blocking pool: one hash costs tens
//! of milliseconds of CPU and must not stall the async workers.
//!
//! At most one hash runs per CPU at a time. More would not finish sooner
//! (each is pure CPU), but each holds 19 MiB that the allocator keeps per
//! thread afterwards: unbounded, a login burst grew the process by hundreds
//! of megabytes (measured by the benchmark: ~500 MB with 4 concurrent
//! logins on 2 cores). Waiters queue on a semaphore, off the CPU.

use std::sync::LazyLock;

use tokio::sync::Semaphore;

use argon2::{
    Argon2,
    password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash},
};

use super::AuthError;

/// Hashes a password with argon2id (OWASP parameters: 19 MiB, t=2, p=1) and
/// a fresh random salt, returning the PHC string.
pub async fn hash(password: String) -> Result<String, AuthError> {
    let _permit = permit().await?;
    tokio::task::spawn_blocking(move || hash_blocking(&password))
        .await
        .map_err(|e| AuthError::Internal(e.to_string()))?
}

/// One hash per CPU at a time.
static HASHING: LazyLock<Semaphore> = LazyLock::new(|| {
    Semaphore::new(std::thread::available_parallelism().map_or(2, std::num::NonZero::get))
});

async fn permit() -> Result<tokio::sync::SemaphorePermit<'static>, AuthError> {
    HASHING
        .acquire()
        .await
        .map_err(|e| AuthError::Internal(e.to_string()))
}

fn hash_blocking(password: &str) -> Result<String, AuthError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Internal(e.to_string()))
}

/// Checks a password against a PHC string. With no stored hash (unknown
/// email) it verifies against a dummy hash, so both cases take as long and
/// timing does not reveal which accounts exist.
pub async fn verify(password: String, stored: Option<String>) -> Result<bool, AuthError> {
    let _permit = permit().await?;
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let phc = match stored {
            Some(phc) => phc,
            None => DUMMY_HASH
                .clone()
                .map_err(|e| AuthError::Internal(e.to_string()))?,
        };
        let parsed = PasswordHash::new(&phc).map_err(|e| AuthError::Internal(e.to_string()))?;
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(known && matches)
    })
    .await
    .map_err(|e| AuthError::Internal(e.to_string()))?
}

/// A hash of a random password, computed once.
static DUMMY_HASH: LazyLock<Result<String, String>> =
    LazyLock::new(|| hash_blocking(&super::token::random_token()).map_err(|e| e.to_string()));

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_differ_by_salt() {
        let a = hash("correct horse".into()).await.unwrap();
        let b = hash("correct horse".into()).await.unwrap();
        assert!(a.starts_with("$argon2id$v=19$"));
        assert_ne!(a, b, "salts differ");
        assert!(
            verify("correct horse".into(), Some(a.clone()))
                .await
                .unwrap()
        );
        assert!(!verify("wrong horse".into(), Some(a)).await.unwrap());
    }

    #[tokio::test]
    async fn unknown_user_never_verifies() {
        assert!(!verify("anything".into(), None).await.unwrap());
    }
}
