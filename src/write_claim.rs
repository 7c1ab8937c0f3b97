//! The idempotency claim a request runs under, as a task-local: set by the
//! admission pipeline around a keyed mutation's execution
//! ([`crate::graphql::admission`]) and read by the one function every write
//! transaction calls, `events::service::record`, which marks the claim
//! applied in the same statement that inserts the events (a CTE, so no
//! extra round trip). A leaf module: it knows no feature, so `events`
//! need not depend on `idempotency`, and nothing depends back.
//!
//! Why it exists: the claim's row must say whether the write committed, and
//! only the write's own transaction can say that atomically. A crash after
//! COMMIT but before the response is stored then leaves `applied_at` set
//! (the key is answered 409, never run again); a crash before COMMIT leaves
//! it unset (the key is taken over once its lease ends, and runs).

use std::future::Future;

use uuid::Uuid;

/// One claimed idempotency key: its row and the run's token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteClaim {
    /// The key's scope (`user:<uuid>` or `addr:<address>`).
    pub scope: String,
    /// The key.
    pub key: String,
    /// This run's token: a takeover replaces it, and the write of a run
    /// whose claim was taken over then fails instead of applying.
    pub token: Uuid,
}

tokio::task_local! {
    static CLAIM: WriteClaim;
}

/// Runs `future` with `claim` as the current claim (or none).
pub async fn scope<F: Future>(claim: Option<WriteClaim>, future: F) -> F::Output {
    match claim {
        Some(claim) => CLAIM.scope(claim, future).await,
        None => future.await,
    }
}

/// The claim of the request being executed, when it carries a key.
pub fn current() -> Option<WriteClaim> {
    CLAIM.try_with(Clone::clone).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn scoped_to_the_future() {
        assert_eq!(current(), None);
        let claim = WriteClaim {
            scope: "user:x".into(),
            key: "k".into(),
            token: Uuid::nil(),
        };
        let seen = scope(Some(claim.clone()), async { current() }).await;
        assert_eq!(seen, Some(claim));
        assert_eq!(scope(None, async { current() }).await, None);
        assert_eq!(current(), None);
    }
}
