//! Redis for tests: the shared throwaway server `scripts/test.sh` starts
//! (every app gets a key prefix of its own), key prefixes for apps that must
//! share one, and [`OwnedRedis`], a server of the test's own to stop and
//! restart.

use std::{process::Stdio, time::Duration};

use tokio::process::{Child, Command};
use uuid::Uuid;

use super::process::free_port;

/// The Redis URL of the throwaway server.
pub fn redis_url() -> Option<String> {
    std::env::var("TEST_REDIS_URL").ok()
}

/// A Redis key prefix of its own, for instances that must share their
/// cache, events or limits.
pub fn shared_prefix() -> String {
    format!("test:{}:", Uuid::new_v4().simple())
}

/// A `redis-server` of the test's own on a free port, which the test
/// stops and restarts (killed when dropped).
pub struct OwnedRedis {
    port: u16,
    child: Option<Child>,
}

impl OwnedRedis {
    /// Starts it on a free port.
    pub async fn start() -> Self {
        let mut redis = Self {
            port: free_port(),
            child: None,
        };
        redis.restart().await;
        redis
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts it (again) on the same port and waits for PING.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server (installed by scripts/test.sh)");
        self.child = Some(child);
        for _ in 0..100 {
            if self.command(&["PING"]).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server on port {} did not start", self.port);
    }

    /// Kills it.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.unwrap();
        }
    }

    /// Runs one command on the server.
    pub async fn command(&self, args: &[&str]) -> anyhow::Result<redis::Value> {
        let run = async {
            let client = redis::Client::open(self.url())?;
            let mut conn = client.get_multiplexed_async_connection().await?;
            let mut cmd = redis::cmd(args[0]);
            for arg in &args[1..] {
                cmd.arg(*arg);
            }
            anyhow::Ok(cmd.query_async::<redis::Value>(&mut conn).await?)
        };
        tokio::time::timeout(Duration::from_secs(2), run).await?
    }
}
