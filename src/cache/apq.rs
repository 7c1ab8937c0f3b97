//! Automatic persisted queries (Apollo's APQ protocol): query texts by
//! their SHA-256, in Redis so every instance shares them, with a small
//! in-process LRU in front. Without Redis, the LRU alone.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use sha2::{Digest, Sha256};
use tracing::Instrument;

use super::Redis;
use crate::telemetry::Metrics;

/// Entries the in-process LRU keeps.
const LRU_CAPACITY: usize = 1_000;
/// How long Redis keeps a registered query.
const TTL_SECS: u64 = 7 * 24 * 3600;

/// The hex SHA-256 of a query text.
pub fn sha256_hex(query: &str) -> String {
    Sha256::digest(query.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The persisted-query store.
#[derive(Clone)]
pub struct PersistedQueries {
    redis: Option<Redis>,
    timeout: Duration,
    lru: Arc<Mutex<Lru>>,
    metrics: Metrics,
}

#[derive(Default)]
struct Lru {
    entries: HashMap<String, (Arc<str>, u64)>,
    tick: u64,
}

impl Lru {
    fn get(&mut self, hash: &str) -> Option<Arc<str>> {
        self.tick += 1;
        let tick = self.tick;
        self.entries.get_mut(hash).map(|(query, used)| {
            *used = tick;
            query.clone()
        })
    }

    fn put(&mut self, hash: &str, query: Arc<str>) {
        self.tick += 1;
        if self.entries.len() >= LRU_CAPACITY && !self.entries.contains_key(hash) {
            // Capacity is small, so a scan for the least recent is cheap.
            if let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone())
            {
                self.entries.remove(&oldest);
            }
        }
        self.entries.insert(hash.to_owned(), (query, self.tick));
    }
}

impl PersistedQueries {
    /// A store over `redis` (when given), counting lookups in `metrics`.
    pub fn new(redis: Option<Redis>, timeout: Duration, metrics: Metrics) -> Self {
        Self {
            redis,
            timeout,
            lru: Arc::default(),
            metrics,
        }
    }

    /// The query registered under `hash`.
    pub async fn get(&self, hash: &str) -> Option<Arc<str>> {
        let metrics = &self.metrics;
        if let Some(query) = self.lru.lock().ok()?.get(hash) {
            metrics.cache("apq", "hit");
            return Some(query);
        }
        let Some(redis) = self.redis.as_ref() else {
            metrics.cache("apq", "miss");
            return None;
        };
        let key = redis.key(&format!("apq:{hash}"));
        let call = async {
            let mut conn = redis.conn().await?;
            let query: Option<String> = redis::cmd("GET").arg(&key).query_async(&mut *conn).await?;
            anyhow::Ok(query)
        };
        let span = crate::client_span!("GET", "redis", "GET");
        match tokio::time::timeout(self.timeout, call.instrument(span)).await {
            Ok(Ok(Some(query))) => {
                metrics.cache("apq", "hit");
                let query: Arc<str> = query.into();
                if let Ok(mut lru) = self.lru.lock() {
                    lru.put(hash, query.clone());
                }
                Some(query)
            }
            Ok(Ok(None)) => {
                metrics.cache("apq", "miss");
                None
            }
            Ok(Err(e)) => {
                metrics.cache("apq", "error");
                tracing::warn!(error = %e, "persisted query lookup in Redis failed");
                None
            }
            Err(_) => {
                metrics.cache("apq", "error");
                tracing::warn!("persisted query lookup in Redis timed out");
                None
            }
        }
    }

    /// Registers `query` under `hash` (already verified to match).
    pub async fn put(&self, hash: &str, query: &str) {
        if let Ok(mut lru) = self.lru.lock() {
            lru.put(hash, query.into());
        }
        let Some(redis) = &self.redis else { return };
        let key = redis.key(&format!("apq:{hash}"));
        let call = async {
            let mut conn = redis.conn().await?;
            redis::cmd("SET")
                .arg(&key)
                .arg(query)
                .arg("EX")
                .arg(TTL_SECS)
                .query_async::<()>(&mut *conn)
                .await?;
            anyhow::Ok(())
        };
        let span = crate::client_span!("SET", "redis", "SET");
        if !matches!(
            tokio::time::timeout(self.timeout, call.instrument(span)).await,
            Ok(Ok(()))
        ) {
            tracing::warn!("persisting a query in Redis failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_is_lowercase_hex() {
        assert_eq!(
            sha256_hex("{ __typename }"),
            "7f56e67dd21ab3f30d1ff8b7bed08893f0a0db86449836189b361dd1e56ddb4b"
        );
    }

    #[tokio::test]
    async fn lru_keeps_recent_entries() {
        let store = PersistedQueries::new(None, Duration::from_millis(50), Metrics::noop());
        store.put("a", "{ a }").await;
        assert_eq!(store.get("a").await.as_deref(), Some("{ a }"));
        assert_eq!(store.get("b").await, None);
        for i in 0..LRU_CAPACITY {
            store.get("a").await;
            store.put(&format!("k{i}"), "{ k }").await;
        }
        assert!(store.get("a").await.is_some(), "recently used survives");
        assert!(
            store.get("k0").await.is_none(),
            "least recently used is evicted"
        );
    }
}
