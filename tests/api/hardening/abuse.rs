//! Abusive requests against a `todoql serve` process of their own: refused
//! while the server keeps answering `/ping`, and never crashing it.

use std::{process::Stdio, time::Duration};

use reqwest::{
    StatusCode,
    header::{ACCEPT, CONTENT_TYPE},
};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::support::{Answer, BIN, GRJ, JSON, error_code, free_port, fresh_database};

/// `todoql serve` as a child process, so that a request that crashes or
/// wedges the server fails the test instead of the test process.
struct Server {
    child: Child,
    address: String,
    client: reqwest::Client,
    log: std::path::PathBuf,
}

impl Server {
    async fn start(extra: &[(&str, &str)]) -> Self {
        let database_url = fresh_database().await;
        let port = free_port();
        let log = std::env::temp_dir().join(format!(
            "todoql-hardening-{}.log",
            uuid::Uuid::new_v4().simple()
        ));
        let mut command = Command::new(BIN);
        command
            .arg("serve")
            .env("DATABASE_URL", &database_url)
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("JWT_SECRET", "x".repeat(40))
            .env("RUST_LOG", "warn")
            .env_remove("REDIS_URL")
            .env_remove("APP_ENV")
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
            .kill_on_drop(true);
        for (name, value) in extra {
            command.env(name, value);
        }
        let child = command.spawn().expect("start todoql serve");
        let server = Self {
            child,
            address: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            log,
        };
        for _ in 0..150 {
            if server.ping().await {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the server never answered /ping: {}", server.log_tail());
    }

    async fn ping(&self) -> bool {
        match self
            .client
            .get(format!("{}/ping", self.address))
            .timeout(Duration::from_secs(5))
            .send()
            .await
        {
            Ok(res) => {
                res.status() == StatusCode::OK && res.text().await.is_ok_and(|t| t == "pong")
            }
            Err(_) => false,
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = text.len().saturating_sub(2000);
        text[text.floor_char_boundary(start)..].to_owned()
    }

    /// Posts `body` (raw) and returns the answer; a dropped connection or
    /// no answer fails the test with the server's state.
    async fn post(&mut self, accept: &str, body: String) -> Answer {
        let request = self
            .client
            .post(format!("{}/graphql", self.address))
            .header(CONTENT_TYPE, JSON)
            .header(ACCEPT, accept)
            .body(body);
        let ping = async {
            // Meanwhile, the server keeps answering.
            tokio::time::sleep(Duration::from_millis(20)).await;
            self.ping().await
        };
        let (response, pinged) = tokio::join!(request.send(), ping);
        let response = match response {
            Ok(response) => response,
            Err(e) => {
                let exited = self.child.try_wait().ok().flatten();
                panic!(
                    "no answer ({e}); server exit status: {exited:?}; log: {}",
                    self.log_tail()
                );
            }
        };
        assert!(pinged, "/ping went unanswered during the request");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        Answer::new(status, headers, text)
    }

    /// Posts a body the server answers before reading it all (so may
    /// reset the connection while the client still writes): over a raw
    /// socket, writing and reading independently; returns the status.
    async fn post_unread(&mut self, body: Vec<u8>) -> StatusCode {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let host = self.address.trim_start_matches("http://").to_owned();
        let stream = tokio::net::TcpStream::connect(&host).await.unwrap();
        let (mut reader, mut writer) = stream.into_split();
        let head = format!(
            "POST /graphql HTTP/1.1\r\nHost: {host}\r\nContent-Type: {JSON}\r\n\
             Accept: {GRJ}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let write = tokio::spawn(async move {
            // The server may stop reading: write errors are expected.
            if writer.write_all(head.as_bytes()).await.is_ok() {
                let _ = writer.write_all(&body).await;
            }
        });
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        let read = tokio::time::timeout(Duration::from_secs(10), async {
            while !answer.windows(2).any(|w| w == b"\r\n") {
                match reader.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => answer.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await;
        write.abort();
        let line = String::from_utf8_lossy(&answer)
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned();
        assert!(
            read.is_ok() && line.starts_with("HTTP/1.1 "),
            "no status line (got {line:?}); server exit status: {:?}; log: {}",
            self.child.try_wait().ok().flatten(),
            self.log_tail()
        );
        assert!(self.ping().await, "/ping unanswered after the upload");
        line.split(' ')
            .nth(1)
            .and_then(|code| code.parse::<u16>().ok())
            .and_then(|code| StatusCode::from_u16(code).ok())
            .unwrap_or_else(|| panic!("bad status line {line:?}"))
    }

    async fn assert_healthy(&mut self) {
        assert!(self.ping().await, "/ping unanswered: {}", self.log_tail());
        assert!(
            self.child.try_wait().unwrap().is_none(),
            "the server exited: {}",
            self.log_tail()
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.log);
    }
}

fn query_body(query: &str) -> String {
    json!({ "query": query }).to_string()
}

fn assert_limit(answer: &Answer, limit: Option<&str>, what: &str) {
    assert_eq!(
        answer.status,
        StatusCode::BAD_REQUEST,
        "{what}: {}",
        answer.text
    );
    assert!(answer.body.get("data").is_none(), "{what}: {}", answer.text);
    assert_eq!(
        error_code(&answer.body),
        "GRAPHQL_VALIDATION_FAILED",
        "{what}"
    );
    if let Some(limit) = limit {
        assert_eq!(
            answer.body["errors"][0]["extensions"]["limit"], limit,
            "{what}: {}",
            answer.text
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abusive_requests_are_refused_while_ping_keeps_answering() {
    let mut server = Server::start(&[]).await;

    let aliases: Vec<String> = (0..1000).map(|i| format!("a{i}: id")).collect();
    let answer = server
        .post(
            GRJ,
            query_body(&format!("{{ me {{ {} }} }}", aliases.join(" "))),
        )
        .await;
    assert_limit(&answer, Some("aliases"), "1,000 aliases");

    let root_aliases: Vec<String> = (0..1000).map(|i| format!("a{i}: __typename")).collect();
    let answer = server
        .post(
            GRJ,
            query_body(&format!("{{ {} }}", root_aliases.join(" "))),
        )
        .await;
    assert_eq!(
        error_code(&answer.body),
        "GRAPHQL_VALIDATION_FAILED",
        "{}",
        answer.text
    );

    let deep = format!("{{ {} id {} }}", "me { ".repeat(50), "} ".repeat(50));
    let answer = server.post(GRJ, query_body(&deep)).await;
    assert_limit(&answer, Some("depth"), "50 levels");

    let directives = format!("{{ __typename {} }}", "@x ".repeat(1000));
    let answer = server.post(GRJ, query_body(&directives)).await;
    assert_limit(&answer, Some("directives"), "1,000 directives");

    let tokens = format!("{{ {} }}", "a ".repeat(6000));
    let answer = server.post(GRJ, query_body(&tokens)).await;
    assert_limit(&answer, Some("tokens"), "6,000 fields");

    let long = format!("{{ __typename }} #{}", "x".repeat(70_000));
    let answer = server.post(GRJ, query_body(&long)).await;
    assert_limit(&answer, Some("queryBytes"), "70 kB query");

    let mut bomb = String::from("{ me { ...F0 } }");
    for i in 0..30 {
        bomb.push_str(&format!(
            " fragment F{i} on User {{ id ...F{n} ...F{n} }}",
            n = i + 1
        ));
    }
    bomb.push_str(" fragment F30 on User { id }");
    let answer = server.post(GRJ, query_body(&bomb)).await;
    assert_limit(&answer, Some("expansion"), "fragment bomb");

    let wide = "{ todos(first: 100) { nodes { owner { todos(first: 100) { nodes { owner { todos(first: 100) { nodes { id } } } } } } } } }";
    let answer = server.post(GRJ, query_body(wide)).await;
    assert_limit(&answer, None, "complexity bomb");

    let huge = format!(
        "{{\"query\":\"{{ __typename }} #{}\"}}",
        "x".repeat(10 << 20)
    );
    let status = server.post_unread(huge.into_bytes()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "10 MB body");

    let batch = Value::Array(vec![json!({ "query": "{ __typename }" }); 500]).to_string();
    let answer = server.post(GRJ, batch).await;
    assert_eq!(
        answer.status,
        StatusCode::BAD_REQUEST,
        "500-operation batch: {}",
        answer.text
    );
    assert!(answer.body.get("data").is_none());

    server.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_batches_are_refused_when_batching_is_on() {
    let mut server = Server::start(&[("GRAPHQL_BATCH_MAX", "10")]).await;
    let batch = Value::Array(vec![json!({ "query": "{ __typename }" }); 500]).to_string();
    let answer = server.post(GRJ, batch).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    let batch = Value::Array(vec![json!({ "query": "{ __typename }" }); 10]).to_string();
    let answer = server.post(GRJ, batch).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body.as_array().map(Vec::len), Some(10));
    server.assert_healthy().await;
}

/// A fragment that spreads itself at the root is invalid (a cycle); it
/// must be refused, not recursed into until the stack overflows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fragment_cycle_at_the_root_is_refused_without_crashing() {
    let mut server = Server::start(&[]).await;
    for query in [
        "{ ...A } fragment A on Query { ...A }",
        "{ ...A } fragment A on Query { __typename ...B } fragment B on Query { ...A }",
        "{ ... on Query { ...A } } fragment A on Query { ... on Query { ...A } }",
    ] {
        let answer = server.post(GRJ, query_body(query)).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{query}: {}",
            answer.text
        );
        assert!(answer.body.get("data").is_none(), "{query}");
        assert!(
            matches!(
                error_code(&answer.body),
                "GRAPHQL_VALIDATION_FAILED" | "GRAPHQL_PARSE_FAILED"
            ),
            "{query}: {}",
            answer.text
        );
    }
    server.assert_healthy().await;
}

/// Fragments that each spread the next one twice, at the root: 2^40 root
/// fields once expanded, in a few hundred bytes. Must be refused like the
/// same bomb below a field is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fragment_bomb_at_the_root_is_refused() {
    let mut server = Server::start(&[]).await;
    let mut bomb = String::from("{ ...F0 }");
    for i in 0..40 {
        bomb.push_str(&format!(
            " fragment F{i} on Query {{ ...F{n} ...F{n} }}",
            n = i + 1
        ));
    }
    bomb.push_str(" fragment F40 on Query { __typename }");
    let answer = server.post(GRJ, query_body(&bomb)).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    assert!(answer.body.get("data").is_none());
    assert_eq!(
        error_code(&answer.body),
        "GRAPHQL_VALIDATION_FAILED",
        "{}",
        answer.text
    );
    server.assert_healthy().await;
}
