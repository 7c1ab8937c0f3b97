//! Cache-aside for the reads that dominate a todo app: a user's todo
//! counts, the first page of each list (per filter, order and size) and its
//! total count.
//!
//! Invalidation is exact and free: every key of a user embeds the version
//! of the user's data — `users.event_seq`, which every change to their
//! todos increments in PostgreSQL in the same transaction — and each request
//! already holds it, from the user row it loads to validate the token. A
//! write therefore moves every reader, on every instance, to new keys the
//! moment it commits; old entries are never read again and expire by TTL.
//! There is no invalidation message that Redis could lose: a write during a
//! Redis outage cannot leave a stale entry behind. A value stored under
//! version N was read after N was observed, so it is never older than N.
//! Any Redis error or slowness (past `CACHE_TIMEOUT_MS`) falls back to
//! PostgreSQL, is logged and counted, and never fails a request.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use serde::{Serialize, de::DeserializeOwned};
use tracing::Instrument;
use uuid::Uuid;

use super::Redis;
use crate::telemetry::Metrics;

/// Hit, miss and error counts.
#[derive(Debug, Default)]
pub struct CacheStats {
    hits: AtomicU64,
    misses: AtomicU64,
    errors: AtomicU64,
}

impl CacheStats {
    /// Reads served from Redis.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Reads that went to PostgreSQL because Redis had nothing.
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }

    /// Redis calls that failed or timed out.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }
}

/// The read cache (a no-op without Redis or with `CACHE=false`).
#[derive(Clone)]
pub struct ReadCache {
    redis: Option<Redis>,
    ttl: Duration,
    timeout: Duration,
    stats: Arc<CacheStats>,
    metrics: Metrics,
}

/// A user's cache namespace at one data version.
#[derive(Debug, Clone)]
pub struct Scope {
    prefix: String,
}

impl ReadCache {
    /// A cache over `redis` (`None` disables it), counting lookups in
    /// `metrics`.
    pub fn new(redis: Option<Redis>, ttl: Duration, timeout: Duration, metrics: Metrics) -> Self {
        Self {
            redis,
            ttl,
            timeout,
            stats: Arc::default(),
            metrics,
        }
    }

    /// The counters.
    pub fn stats(&self) -> &CacheStats {
        &self.stats
    }

    /// The namespace of `user`'s data at `version`, or `None` when the
    /// cache is off.
    pub fn scope(&self, user: Uuid, version: i64) -> Option<Scope> {
        let redis = self.redis.as_ref()?;
        Some(Scope {
            prefix: redis.key(&format!("r:{user}:{version}:")),
        })
    }

    async fn call<T>(
        &self,
        what: &'static str,
        f: impl Future<Output = anyhow::Result<T>>,
    ) -> Option<T> {
        let span = crate::client_span!(what, "redis", what);
        match tokio::time::timeout(self.timeout, f.instrument(span)).await {
            Ok(Ok(value)) => Some(value),
            Ok(Err(e)) => {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, what, "redis cache call failed; using PostgreSQL");
                None
            }
            Err(_) => {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(what, "redis cache call timed out; using PostgreSQL");
                None
            }
        }
    }

    /// A cached value in `scope`.
    pub async fn get<T: DeserializeOwned>(&self, scope: &Scope, name: &str) -> Option<T> {
        let redis = self.redis.as_ref()?;
        let key = format!("{}{name}", scope.prefix);
        let metrics = &self.metrics;
        let Some(raw) = self
            .call("GET", async {
                let mut conn = redis.conn().await?;
                let raw: Option<Vec<u8>> =
                    redis::cmd("GET").arg(&key).query_async(&mut *conn).await?;
                anyhow::Ok(raw)
            })
            .await
        else {
            metrics.cache("reads", "error");
            self.stats.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        match raw.and_then(|raw| serde_json::from_slice(&raw).ok()) {
            Some(value) => {
                self.stats.hits.fetch_add(1, Ordering::Relaxed);
                metrics.cache("reads", "hit");
                Some(value)
            }
            None => {
                self.stats.misses.fetch_add(1, Ordering::Relaxed);
                metrics.cache("reads", "miss");
                None
            }
        }
    }

    /// Stores a value in `scope` for the TTL.
    pub async fn put<T: Serialize>(&self, scope: &Scope, name: &str, value: &T) {
        let Some(redis) = &self.redis else { return };
        let Ok(raw) = serde_json::to_vec(value) else {
            return;
        };
        let key = format!("{}{name}", scope.prefix);
        let ttl = self.ttl.as_secs().max(1);
        self.call("SET", async {
            let mut conn = redis.conn().await?;
            redis::cmd("SET")
                .arg(&key)
                .arg(raw)
                .arg("EX")
                .arg(ttl)
                .query_async::<()>(&mut *conn)
                .await?;
            anyhow::Ok(())
        })
        .await;
    }
}
