//! Claiming, replaying and storing idempotency keys.
//!
//! The first request with a key claims it with one `INSERT … ON CONFLICT
//! DO NOTHING` (the primary key is the arbiter, across instances), runs,
//! and stores its complete response. A repeat reads the row: a different
//! fingerprint is refused, a stored response is replayed, a running claim
//! is "in use".
//!
//! Crash safety. A claim carries a lease (the request timeout plus a
//! margin). The run's write marks the claim applied inside its own
//! transaction (`crate::write_claim`, folded into the event insert), so
//! the row always tells whether the write committed:
//! - a crash before the write commits leaves a running, unapplied claim:
//!   once its lease ends, the next request with the key takes it over and
//!   runs (the key is not blocked for 24 hours);
//! - a crash after the commit but before the response is stored leaves a
//!   running, applied claim: it is never run again, and the key answers
//!   409 saying the response was lost (a replay of a response that was
//!   never produced, or a second run, would both be wrong).
//!
//! A takeover changes the claim's token, so a run that outlived its lease
//! can neither apply its write (its event insert finds no claim and fails,
//! rolling the write back) nor store its response.

use std::time::Duration;

use chrono::Utc;
use uuid::Uuid;

use super::{
    IdempotencyError,
    domain::{Fingerprint, IdempotencyKey, KeyScope, Transport},
    model::{self, Completion, NewClaim},
};
use crate::{
    db::{Conn, Db, DbError},
    write_claim::WriteClaim,
};

/// How long keys are kept.
pub const RETENTION: Duration = Duration::from_secs(24 * 3600);

/// How many keys one pruning statement deletes.
const PRUNE_BATCH: i64 = 1000;

/// A stored response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Where the key was first used.
    pub transport: Transport,
    /// Its status (HTTP; 200 or 400 for WebSocket).
    pub status: u16,
    /// Its media type.
    pub media_type: String,
    /// Its body, byte for byte.
    pub body: Vec<u8>,
}

/// What to do with a keyed request.
#[derive(Debug)]
pub enum Begin {
    /// Run it under this claim, then [`IdempotencyService::complete`].
    Run(WriteClaim),
    /// Answer this stored response; nothing runs.
    Replay(Stored),
}

/// Idempotency keys over PostgreSQL.
#[derive(Clone)]
pub struct IdempotencyService {
    db: Db,
    lease: Duration,
}

impl IdempotencyService {
    /// Keys in `db`; a running claim may be taken over `lease` after it
    /// was made, unless its write was applied.
    pub fn new(db: Db, lease: Duration) -> Self {
        Self { db, lease }
    }

    /// Claims `key` in `scope` for the operation `fingerprint` arriving on
    /// `transport`, or says why not: a stored response to replay, or a
    /// refusal.
    pub async fn begin(
        &self,
        scope: KeyScope,
        key: &IdempotencyKey,
        fingerprint: Fingerprint,
        transport: Transport,
    ) -> Result<Begin, IdempotencyError> {
        let (begin, ()) = self
            .begin_with(scope, key, fingerprint, transport, async |_| ())
            .await?;
        Ok(begin)
    }

    /// [`Self::begin`], with `alongside` (statements of the caller's, e.g.
    /// the read of the viewer's row the operation will need) sent in the
    /// same write as the claim on the same connection: the claim then costs
    /// no round trip of its own. `alongside` runs whatever the claim's
    /// outcome; its answer comes back with it.
    pub async fn begin_with<T>(
        &self,
        scope: KeyScope,
        key: &IdempotencyKey,
        fingerprint: Fingerprint,
        transport: Transport,
        alongside: impl AsyncFnOnce(&Conn) -> T,
    ) -> Result<(Begin, T), IdempotencyError> {
        let scope = scope.to_string();
        let mut conn = self.db.conn().await?;
        let token = Uuid::now_v7();
        let new = NewClaim {
            scope: &scope,
            key: key.as_ref(),
            fingerprint: &fingerprint.0,
            token,
            transport: transport.as_str(),
            lease_secs: self.lease.as_secs_f64(),
        };
        let run = || {
            Begin::Run(WriteClaim {
                scope: scope.clone(),
                key: key.as_ref().to_owned(),
                token,
            })
        };
        let (first, along) = futures_util::join!(model::claim(&conn, &new), alongside(&conn));
        let mut first = Some(first?);
        // Twice at most: a row pruned, or taken over by another request,
        // between two statements is read again once.
        for _ in 0..2 {
            let won = match first.take() {
                Some(won) => won,
                None => model::claim(&conn, &new).await?,
            };
            if won {
                return Ok((run(), along));
            }
            let Some(row) = model::find(&mut conn, &scope, key.as_ref()).await? else {
                continue;
            };
            if row.fingerprint != fingerprint.0 {
                return Err(IdempotencyError::Reused);
            }
            if row.state == "done" {
                return match (row.status, row.body) {
                    (Some(status), Some(body)) => Ok((
                        Begin::Replay(Stored {
                            transport: Transport::from_stored(&row.transport),
                            status: u16::try_from(status).unwrap_or(200),
                            media_type: row.media_type.unwrap_or_default(),
                            body,
                        }),
                        along,
                    )),
                    // The table's CHECK makes this impossible.
                    _ => Err(IdempotencyError::InUse),
                };
            }
            if row.lease_until > Utc::now() {
                return Err(IdempotencyError::InUse);
            }
            if row.applied_at.is_some() {
                return Err(IdempotencyError::ResponseLost);
            }
            if model::take_over(&mut conn, &new, row.token).await? {
                tracing::warn!(
                    key = key.as_ref(),
                    "idempotency key taken over: its first run ended without applying its write"
                );
                return Ok((run(), along));
            }
        }
        Err(IdempotencyError::InUse)
    }

    /// Stores the response (status, media type, body) of the run holding
    /// `claim`. A `retryable` response (the budget, an internal failure)
    /// releases the key instead, so a retry runs, unless the run's write
    /// was applied: then it is stored like any other. Never fails: if
    /// nothing can be written, the claim stays running and the key behaves
    /// as after a crash (see the module's documentation).
    pub async fn complete(
        &self,
        claim: &WriteClaim,
        (status, media_type, body): (u16, &str, &[u8]),
        retryable: bool,
    ) {
        let done = Completion {
            status: i16::try_from(status).unwrap_or(500),
            media_type,
            body,
        };
        let key = (claim.scope.as_str(), claim.key.as_str(), claim.token);
        let stored = async {
            let mut conn = self.db.conn().await?;
            if retryable && model::release(&mut conn, key).await? {
                return Ok(true);
            }
            Ok::<_, DbError>(model::complete(&mut conn, key, &done).await?)
        }
        .await;
        match stored {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                key = %claim.key,
                "idempotency claim taken over before its response was stored"
            ),
            Err(e) => crate::error::log_internal(&e),
        }
    }

    /// Deletes keys older than [`RETENTION`], in batches; returns how many.
    pub async fn prune(&self) -> Result<usize, DbError> {
        let cutoff = Utc::now() - chrono::Duration::from_std(RETENTION).unwrap_or_default();
        let mut total = 0;
        loop {
            let mut conn = self.db.conn().await?;
            let n = model::prune(&mut conn, cutoff, PRUNE_BATCH).await?;
            total += n;
            if i64::try_from(n).unwrap_or(0) < PRUNE_BATCH {
                return Ok(total);
            }
        }
    }
}
