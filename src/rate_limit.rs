//! Fixed-window rate-limit counters, shared by every instance through
//! Redis; in memory per instance without Redis, or while Redis fails (an
//! outage must not switch limits off, nor fail requests).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use tracing::Instrument;

use crate::{cache::Redis, telemetry::Metrics};

/// A refusal: try again after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// Time until the window resets.
    pub retry_after: Duration,
}

impl Limited {
    /// Whole seconds to wait, at least one.
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after.as_secs_f64().ceil().max(1.0) as u64
    }
}

/// Rate-limit counters.
#[derive(Clone)]
pub struct RateLimiter {
    redis: Option<Redis>,
    timeout: Duration,
    local: Arc<Mutex<HashMap<String, (u64, Instant)>>>,
    metrics: Metrics,
}

impl RateLimiter {
    /// Counters in `redis` when given, else in memory; refusals are
    /// counted in `metrics`.
    pub fn new(redis: Option<Redis>, timeout: Duration, metrics: Metrics) -> Self {
        Self {
            redis,
            timeout,
            local: Arc::default(),
            metrics,
        }
    }

    /// Adds `amount` to `key`'s counter for the current window of length
    /// `window`; returns the new count and the time left in the window.
    pub async fn add(&self, key: &str, amount: u64, window: Duration) -> (u64, Duration) {
        if let Some(redis) = &self.redis {
            let full = redis.key(&format!("rl:{key}"));
            let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
            let call = async {
                let mut conn = redis.conn().await?;
                let mut pipe = redis::pipe();
                add_to_window(pipe.atomic(), &full, amount, window_ms);
                let (count, ttl): (u64, i64) = pipe.query_async(&mut *conn).await?;
                anyhow::Ok((count, ttl))
            };
            let span = crate::client_span!("EVAL", "redis", "MULTI");
            match tokio::time::timeout(self.timeout, call.instrument(span)).await {
                Ok(Ok((count, ttl))) => {
                    let left = Duration::from_millis(u64::try_from(ttl).unwrap_or(window_ms));
                    return (count, left);
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "rate limit in Redis failed; counting in memory")
                }
                Err(_) => tracing::warn!("rate limit in Redis timed out; counting in memory"),
            }
        }
        self.add_local(key, amount, window)
    }

    fn add_local(&self, key: &str, amount: u64, window: Duration) -> (u64, Duration) {
        let now = Instant::now();
        let mut map = self.local.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 100_000 {
            map.retain(|_, (_, start)| now.duration_since(*start) < window);
        }
        let entry = map.entry(key.to_owned()).or_insert((0, now));
        if now.duration_since(entry.1) >= window {
            *entry = (0, now);
        }
        entry.0 = entry.0.saturating_add(amount);
        (entry.0, window.saturating_sub(now.duration_since(entry.1)))
    }

    /// The current count of `key` (0 when none).
    pub async fn peek(&self, key: &str, window: Duration) -> (u64, Duration) {
        self.add(key, 0, window).await
    }

    /// Counts `amount` against `key` and refuses once the window's total
    /// exceeds `limit`.
    pub async fn check(
        &self,
        key: &str,
        amount: u64,
        limit: u64,
        window: Duration,
    ) -> Result<(), Limited> {
        let (count, left) = self.add(key, amount, window).await;
        if count > limit {
            self.metrics.rate_limited(limit_name(key));
            Err(Limited { retry_after: left })
        } else {
            Ok(())
        }
    }

    /// Forgets `key`'s counter.
    pub async fn reset(&self, key: &str) {
        if let Some(redis) = &self.redis {
            let full = redis.key(&format!("rl:{key}"));
            let call = async {
                let mut conn = redis.conn().await?;
                redis::cmd("DEL")
                    .arg(&full)
                    .query_async::<()>(&mut *conn)
                    .await?;
                anyhow::Ok(())
            };
            let span = crate::client_span!("DEL", "redis", "DEL");
            if !matches!(
                tokio::time::timeout(self.timeout, call.instrument(span)).await,
                Ok(Ok(()))
            ) {
                tracing::warn!("rate limit reset in Redis failed");
            }
        }
        self.local
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

/// The limit a counter key belongs to, for the refusal metric (keys are
/// `<limit>:<scope>:<who>`; the who is never a label).
pub fn limit_name(key: &str) -> &'static str {
    match key.split(':').next().unwrap_or_default() {
        "login" => "login",
        "register" => "register",
        "refresh" => "refresh",
        "reset" | "reset-use" => "password_reset",
        "budget" => "complexity",
        _ => "other",
    }
}

/// Appends to `pipe` the commands that add `amount` to the fixed window
/// counted at `key` (starting a window of `window_ms` when there is none)
/// and answer the new count and the milliseconds left: the one window
/// rule of the rate limits and of the budget's sync (`crate::budget`).
pub(crate) fn add_to_window(pipe: &mut redis::Pipeline, key: &str, amount: u64, window_ms: u64) {
    pipe.cmd("SET")
        .arg(key)
        .arg(0)
        .arg("PX")
        .arg(window_ms)
        .arg("NX")
        .ignore()
        .cmd("INCRBY")
        .arg(key)
        .arg(amount)
        .cmd("PTTL")
        .arg(key);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_names_come_from_the_key_prefix() {
        assert_eq!(limit_name("login:acct:a@b.c"), "login");
        assert_eq!(limit_name("reset-use:ip:::1"), "password_reset");
        assert_eq!(limit_name("budget:0190"), "complexity");
        assert_eq!(limit_name("whatever"), "other");
    }

    #[tokio::test]
    async fn local_windows_count_refuse_and_reset() {
        let limiter = RateLimiter::new(None, Duration::from_millis(50), Metrics::noop());
        let window = Duration::from_secs(60);
        for _ in 0..3 {
            assert!(limiter.check("k", 1, 3, window).await.is_ok());
        }
        let refused = limiter.check("k", 1, 3, window).await.unwrap_err();
        assert!(refused.retry_after <= window && refused.retry_after_secs() >= 1);
        assert_eq!(limiter.peek("k", window).await.0, 4);
        limiter.reset("k").await;
        assert_eq!(limiter.peek("k", window).await.0, 0);
        // Weighted: one call may spend several units.
        assert!(limiter.check("w", 10, 10, window).await.is_ok());
        assert!(limiter.check("w", 1, 10, window).await.is_err());
    }

    #[tokio::test]
    async fn local_windows_expire() {
        let limiter = RateLimiter::new(None, Duration::from_millis(50), Metrics::noop());
        let window = Duration::from_millis(30);
        assert!(limiter.check("e", 2, 1, window).await.is_err());
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert!(limiter.check("e", 1, 1, window).await.is_ok());
    }
}
