//! Redis: the connection pool and key naming. Optional for one instance;
//! later features (read cache, persisted queries, rate limits, pub/sub)
//! build on it.

pub mod apq;
pub mod reads;

use std::time::Duration;

use bb8_redis::RedisConnectionManager;

use crate::telemetry::Metrics;

/// Connections in each process's Redis pool.
pub const REDIS_POOL_SIZE: u32 = 16;

/// A Redis pool with the deployment's key prefix.
#[derive(Clone)]
pub struct Redis {
    pool: bb8::Pool<RedisConnectionManager>,
    prefix: String,
    metrics: Metrics,
}

impl Redis {
    /// Builds the pool without waiting for Redis, so the server starts (and
    /// reports not ready) while Redis is down. Checkout waits are recorded
    /// in `metrics`.
    pub fn connect(url: &str, prefix: &str, metrics: Metrics) -> anyhow::Result<Self> {
        let manager = RedisConnectionManager::new(url)?;
        let pool = bb8::Pool::builder()
            .max_size(REDIS_POOL_SIZE)
            .connection_timeout(Duration::from_millis(500))
            .build_unchecked(manager);
        Ok(Self {
            pool,
            prefix: prefix.to_owned(),
            metrics,
        })
    }

    /// A pooled connection.
    pub async fn conn(
        &self,
    ) -> Result<bb8::PooledConnection<'_, RedisConnectionManager>, bb8::RunError<redis::RedisError>>
    {
        let started = std::time::Instant::now();
        let conn = self.pool.get().await;
        self.metrics.pool_wait("redis", started.elapsed());
        conn
    }

    /// `(idle, used)` connections, for the pool gauges.
    pub fn pool_state(&self) -> (u32, u32) {
        let state = self.pool.state();
        (
            state.idle_connections,
            state.connections.saturating_sub(state.idle_connections),
        )
    }

    /// A key under this deployment's prefix.
    pub fn key(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.prefix)
    }
}

/// Answers when Redis answers `PING`.
pub async fn ping(redis: &Redis) -> anyhow::Result<()> {
    let mut conn = redis.pool.get().await?;
    let pong: String = redis::cmd("PING").query_async(&mut *conn).await?;
    anyhow::ensure!(pong == "PONG", "unexpected PING answer {pong}");
    Ok(())
}
