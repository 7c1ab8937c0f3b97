//! The per-user complexity budget: a fixed window per user (one minute)
//! shared by every instance through Redis, counted locally and reconciled
//! with Redis in batches, so a request costs no Redis round trip.
//!
//! The published "local counters with periodic global sync" scheme: each
//! instance keeps, per user, the global count it last saw in Redis and what
//! it spent since; a decision compares their sum with the limit. A
//! background task sends every user's pending spend to Redis in one
//! pipelined transaction per sync interval (`USER_BUDGET_SYNC_MS`) and
//! learns the global counts back. The first request of a user in a window
//! on an instance asks Redis directly (as every request did before), so an
//! instance that has not seen a user yet starts from the global count, not
//! from zero. What other instances spent since the last sync is not seen:
//! across `n` instances a user may overspend by what the other `n - 1`
//! instances admitted within one sync interval. On one instance decisions
//! are exact. While Redis fails, the local counts still decide and the
//! pending spend is sent once it answers again.
//!
//! Written by hand: `governor` (GCRA) and the other limiter crates count in
//! one process only, and the Redis-backed ones (`redis-cell`, …) make a
//! round trip per decision, which is what this module exists to avoid. The
//! exact per-call limits (login, register, password reset) stay in
//! [`crate::rate_limit`]: they are rare and security-relevant.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, Weak},
    time::{Duration, Instant},
};

use tracing::Instrument;
use uuid::Uuid;

use crate::{cache::Redis, rate_limit::Limited, telemetry::Metrics};

/// The budget's window.
const WINDOW: Duration = Duration::from_secs(60);

/// The budget counters of one instance; cheap to clone.
#[derive(Clone)]
pub struct Budget {
    inner: Arc<Inner>,
}

struct Inner {
    redis: Option<Redis>,
    timeout: Duration,
    limit: u64,
    window: Duration,
    users: Mutex<HashMap<Uuid, Entry>>,
    metrics: Metrics,
}

/// One user's window as this instance knows it.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// The global count at the last answer from Redis (our own synced
    /// spend included).
    seen: u64,
    /// Spend sent to Redis, not yet acknowledged.
    in_flight: u64,
    /// Spend not yet sent.
    pending: u64,
    /// When the window ends (from Redis' `PTTL` when it answered).
    ends: Instant,
    /// Tells a sync's answer for this window from one for an entry that
    /// replaced it meanwhile.
    generation: u64,
}

impl Entry {
    fn total(&self) -> u64 {
        self.seen
            .saturating_add(self.in_flight)
            .saturating_add(self.pending)
    }
}

impl Budget {
    /// A budget of `limit` points per user per minute, shared through
    /// `redis` when given (then synced every `sync_interval` by a task that
    /// ends with the last clone), else counted in this process only.
    /// With Redis, call it inside the Tokio runtime.
    pub fn new(
        redis: Option<Redis>,
        timeout: Duration,
        limit: u64,
        sync_interval: Duration,
        metrics: Metrics,
    ) -> Self {
        Self::with_window(redis, timeout, limit, WINDOW, sync_interval, metrics)
    }

    fn with_window(
        redis: Option<Redis>,
        timeout: Duration,
        limit: u64,
        window: Duration,
        sync_interval: Duration,
        metrics: Metrics,
    ) -> Self {
        let inner = Arc::new(Inner {
            redis,
            timeout,
            limit,
            window,
            users: Mutex::default(),
            metrics,
        });
        if inner.redis.is_some() {
            tokio::spawn(sync_loop(Arc::downgrade(&inner), sync_interval));
        }
        Self { inner }
    }

    /// Charges `cost` points to `user` and refuses once the window's total
    /// (as far as this instance knows) exceeds the limit. Refused calls are
    /// charged too, as with the other limits: a caller that keeps trying
    /// keeps its window full.
    pub async fn charge(&self, user: Uuid, cost: u64) -> Result<(), Limited> {
        let now = Instant::now();
        let known = {
            let mut users = self.inner.lock();
            match users.get_mut(&user) {
                Some(entry) if now < entry.ends => {
                    entry.pending = entry.pending.saturating_add(cost);
                    Some((entry.total(), entry.ends - now))
                }
                _ => None,
            }
        };
        let (total, left) = match known {
            Some(known) => known,
            None => self.inner.first_charge(user, cost, now).await,
        };
        if total > self.inner.limit {
            self.inner.metrics.rate_limited("complexity");
            Err(Limited { retry_after: left })
        } else {
            Ok(())
        }
    }

    /// Sends the pending spend to Redis now (tests; the task does it every
    /// sync interval).
    pub async fn sync(&self) {
        self.inner.sync().await;
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Entry>> {
        self.users.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn redis_key(redis: &Redis, user: Uuid) -> String {
        // The key the per-request counter used, so instances of either
        // version share one window during a rolling deploy.
        redis.key(&format!("rl:budget:{user}"))
    }

    fn window_ms(&self) -> u64 {
        u64::try_from(self.window.as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    /// A user this instance has no current window for: asks Redis for the
    /// global count (charging `cost` to it), or starts a local window when
    /// there is no Redis or it fails (the sync sends the spend later).
    async fn first_charge(&self, user: Uuid, cost: u64, now: Instant) -> (u64, Duration) {
        let answer = match &self.redis {
            Some(redis) => {
                let keys = [(Self::redis_key(redis, user), cost)];
                self.exchange(redis, &keys)
                    .await
                    .and_then(|answers| answers.into_iter().next())
            }
            None => None,
        };
        let mut users = self.lock();
        if users.len() > 100_000 {
            users.retain(|_, e| now < e.ends);
        }
        let generation = next_generation();
        let entry = match answer {
            Some((count, left)) => Entry {
                seen: count,
                in_flight: 0,
                pending: 0,
                ends: now + left,
                generation,
            },
            None => Entry {
                seen: 0,
                in_flight: 0,
                pending: cost,
                ends: now + self.window,
                generation,
            },
        };
        // Another request of the same user may have started the window
        // meanwhile: keep its spend, and the larger count seen.
        let merged = users
            .entry(user)
            .and_modify(|e| {
                if now < e.ends {
                    if answer.is_some() {
                        e.seen = e.seen.max(entry.seen);
                    } else {
                        e.pending = e.pending.saturating_add(cost);
                    }
                } else {
                    *e = entry;
                }
            })
            .or_insert(entry);
        (merged.total(), merged.ends.saturating_duration_since(now))
    }

    /// One transaction adding each key's amount to its window in Redis
    /// (starting the window when there is none); the new counts and time
    /// left, in order. `None` (logged) when Redis fails or is slow.
    async fn exchange(
        &self,
        redis: &Redis,
        keys: &[(String, u64)],
    ) -> Option<Vec<(u64, Duration)>> {
        let window_ms = self.window_ms();
        let call = async {
            let mut conn = redis.conn().await?;
            let mut pipe = redis::pipe();
            pipe.atomic();
            for (key, amount) in keys {
                crate::rate_limit::add_to_window(&mut pipe, key, *amount, window_ms);
            }
            let flat: Vec<i64> = pipe.query_async(&mut *conn).await?;
            anyhow::Ok(flat)
        };
        let span = crate::client_span!("EVAL", "redis", "MULTI");
        match tokio::time::timeout(self.timeout, call.instrument(span)).await {
            Ok(Ok(flat)) if flat.len() == keys.len() * 2 => Some(
                flat.chunks_exact(2)
                    .map(|pair| {
                        let count = u64::try_from(pair[0]).unwrap_or(0);
                        let left = u64::try_from(pair[1]).unwrap_or(window_ms);
                        (count, Duration::from_millis(left))
                    })
                    .collect(),
            ),
            Ok(Ok(flat)) => {
                tracing::warn!(
                    answers = flat.len(),
                    "budget sync: Redis answered an unexpected number of replies"
                );
                None
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "budget sync with Redis failed; counting in memory");
                None
            }
            Err(_) => {
                tracing::warn!("budget sync with Redis timed out; counting in memory");
                None
            }
        }
    }

    /// Sends every user's pending spend in one transaction and records the
    /// global counts it answers; forgets windows that ended.
    async fn sync(&self) {
        let Some(redis) = &self.redis else { return };
        let now = Instant::now();
        let batch: Vec<(Uuid, u64, u64)> = {
            let mut users = self.lock();
            users.retain(|_, e| now < e.ends || e.pending > 0 || e.in_flight > 0);
            users
                .iter_mut()
                .filter(|(_, e)| e.pending > 0 && e.in_flight == 0)
                .map(|(user, e)| {
                    e.in_flight = std::mem::take(&mut e.pending);
                    (*user, e.in_flight, e.generation)
                })
                .collect()
        };
        if batch.is_empty() {
            return;
        }
        let keys: Vec<(String, u64)> = batch
            .iter()
            .map(|(user, amount, _)| (Self::redis_key(redis, *user), *amount))
            .collect();
        let answers = self.exchange(redis, &keys).await;
        let now = Instant::now();
        let mut users = self.lock();
        for (i, (user, _, generation)) in batch.iter().enumerate() {
            let Some(entry) = users.get_mut(user) else {
                continue;
            };
            if entry.generation != *generation {
                continue;
            }
            match answers.as_ref().and_then(|a| a.get(i)) {
                Some((count, left)) => {
                    entry.seen = *count;
                    entry.in_flight = 0;
                    entry.ends = now + *left;
                }
                None => {
                    // Sent again with the next sync.
                    entry.pending = entry.pending.saturating_add(entry.in_flight);
                    entry.in_flight = 0;
                }
            }
        }
        // A window that ended here while its spend was in flight: the
        // spend went into Redis' next window, and so will later requests.
        users.retain(|_, e| now < e.ends || e.pending > 0 || e.in_flight > 0);
    }
}

/// Distinct per entry, so a late sync answer never lands on a newer window.
fn next_generation() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Syncs every `interval` while the budget exists.
async fn sync_loop(inner: Weak<Inner>, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        inner.sync().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(limit: u64, window: Duration) -> Budget {
        Budget::with_window(
            None,
            Duration::from_millis(50),
            limit,
            window,
            Duration::from_millis(100),
            Metrics::noop(),
        )
    }

    #[tokio::test]
    async fn a_user_is_refused_once_the_window_total_passes_the_limit() {
        let budget = local(50, Duration::from_secs(60));
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        assert!(budget.charge(a, 22).await.is_ok());
        assert!(budget.charge(a, 22).await.is_ok());
        let refused = budget.charge(a, 22).await.unwrap_err();
        assert!(refused.retry_after <= Duration::from_secs(60));
        assert!(refused.retry_after_secs() >= 1);
        // Refused spend counts: the window stays full.
        assert!(budget.charge(a, 1).await.is_err());
        // Budgets are per user.
        assert!(budget.charge(b, 50).await.is_ok());
        assert!(budget.charge(b, 1).await.is_err());
    }

    #[tokio::test]
    async fn a_window_that_ended_starts_over() {
        let budget = local(5, Duration::from_millis(30));
        let user = Uuid::new_v4();
        assert!(budget.charge(user, 6).await.is_err());
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert!(budget.charge(user, 5).await.is_ok());
        // Without Redis there is nothing to sync; it changes nothing.
        budget.sync().await;
        assert!(budget.charge(user, 1).await.is_err());
    }

    #[tokio::test]
    async fn entry_totals_add_seen_in_flight_and_pending() {
        let entry = Entry {
            seen: 10,
            in_flight: 3,
            pending: 2,
            ends: Instant::now(),
            generation: 0,
        };
        assert_eq!(entry.total(), 15);
        let huge = Entry {
            seen: u64::MAX,
            ..entry
        };
        assert_eq!(huge.total(), u64::MAX);
    }
}
