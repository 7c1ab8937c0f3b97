//! A TCP proxy in front of the test PostgreSQL that counts the app's
//! writes: each read of the app's bytes is one write of the app's (the
//! app waits for an answer before it writes again, except when it sends
//! several statements in one write, which is what pipelining is). So the
//! count is the number of round trips the app made to PostgreSQL.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

/// A running proxy; it stops with the test's runtime.
pub struct PgProxy {
    /// The database URL that goes through the proxy.
    pub url: String,
    writes: Arc<AtomicU64>,
}

impl PgProxy {
    /// Starts a proxy to the server of `database_url`.
    pub async fn start(database_url: &str) -> Self {
        // postgres://user@host:port/db
        let (head, tail) = database_url.split_once('@').expect("a user in the URL");
        let (target, db) = tail.split_once('/').expect("a database in the URL");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("{head}@{}/{db}", listener.local_addr().unwrap());
        let target = target.to_owned();
        let writes = Arc::new(AtomicU64::new(0));
        let counted = writes.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let server = TcpStream::connect(&target).await.unwrap();
                client.set_nodelay(true).unwrap();
                server.set_nodelay(true).unwrap();
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let counted = counted.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n) = client_read.read(&mut buf).await {
                        if n == 0 || server_write.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                        counted.fetch_add(1, Ordering::SeqCst);
                    }
                });
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
                });
            }
        });
        Self { url, writes }
    }

    /// The app's writes to PostgreSQL so far.
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::SeqCst)
    }
}
