//! Oversized request bodies as a raw TCP client sees them (issue 13, item
//! 2): a declared `Content-Length` over `MAX_BODY_BYTES` is refused at once,
//! before any `100 Continue`, with a GraphQL-shaped 413 in the negotiated
//! media type; a chunked body that crosses the limit mid-way gets the same
//! 413, and a client still writing when it comes can read it (the server
//! drains for a moment instead of resetting the connection). The REST
//! facade shares the limit and behaves the same with its own error shape.

use std::time::Duration;

use serde_json::Value;
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::oneshot,
};

use crate::support::TestApp;

const GRJ: &str = "application/graphql-response+json";
const JSON: &str = "application/json";
/// What the review sent: 10 MB, over the default 1 MiB limit.
const TEN_MB: usize = 10 * 1024 * 1024;
/// The size of each write of a streaming client.
const CHUNK: usize = 64 * 1024;
/// How long a client keeps writing after the answer arrived: a client
/// that notices the answer late (Node's reads and writes interleave on one
/// event loop) must not get EPIPE in the meantime.
const NOTICED_LATE: Duration = Duration::from_millis(100);
/// How long a test waits for an answer.
const WAIT: Duration = Duration::from_secs(10);

/// The first HTTP/1.1 response on a connection, as bytes arrived.
#[derive(Debug)]
struct RawResponse {
    status_line: String,
    /// Lower-case names.
    headers: Vec<(String, String)>,
    body: String,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("the body is not JSON ({e}): {self:?}"))
    }
}

/// Reads the first response (an interim `100 Continue` counts: the tests
/// want none): its head, then `Content-Length` bytes of body. `Err` says
/// what ended the read early (a reset, the end of the stream, the wait).
async fn read_response(reader: &mut (impl AsyncRead + Unpin)) -> Result<RawResponse, String> {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        if let Some(response) = complete_response(&buf) {
            return Ok(response);
        }
        let seen = String::from_utf8_lossy(&buf).into_owned();
        match tokio::time::timeout_at(deadline, reader.read(&mut chunk)).await {
            Err(_) => return Err(format!("no complete answer within {WAIT:?}; got {seen:?}")),
            Ok(Err(e)) => return Err(format!("read failed ({e}) after {seen:?}")),
            Ok(Ok(0)) => return Err(format!("the server closed after {seen:?}")),
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// The response in `buf`, once all of it has arrived.
fn complete_response(buf: &[u8]) -> Option<RawResponse> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map_or(0, |(_, v)| v.parse::<usize>().unwrap());
    let body = buf.get(end + 4..end + 4 + length)?;
    Some(RawResponse {
        status_line,
        headers,
        body: String::from_utf8_lossy(body).into_owned(),
    })
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// A request head for `POST path` with a JSON body and `extra` headers.
fn request_head(path: &str, accept: &str, token: Option<&str>, extra: &[&str]) -> String {
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Accept: {accept}\r\n"
    );
    if let Some(token) = token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    for header in extra {
        head.push_str(header);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    head
}

/// How a body is framed.
#[derive(Debug, Clone, Copy)]
enum Framing {
    /// `Transfer-Encoding: chunked`, chunks until told to stop.
    Chunked,
    /// `Content-Length: 10 MB`, sent at once (no `Expect`).
    Declared,
}

/// What a client streaming a body got back.
struct Upload {
    answer: Result<RawResponse, String>,
    /// The first failed write, if any, up to [`NOTICED_LATE`] after the
    /// answer.
    write_error: Option<String>,
}

/// Sends `head` and streams a body in [`CHUNK`]s while reading, as a client
/// that keeps writing until it sees an answer; after the answer it goes on
/// writing for [`NOTICED_LATE`].
async fn upload(app: &TestApp, head: String, framing: Framing) -> Upload {
    let (mut reader, mut writer) = connect(app).await.into_split();
    let (stop_tx, mut stop) = oneshot::channel::<()>();
    let writing = tokio::spawn(async move {
        let data = vec![b' '; CHUNK];
        let frame = match framing {
            Framing::Chunked => {
                let mut frame = format!("{CHUNK:x}\r\n").into_bytes();
                frame.extend_from_slice(&data);
                frame.extend_from_slice(b"\r\n");
                frame
            }
            Framing::Declared => data,
        };
        let sent = async {
            writer.write_all(head.as_bytes()).await?;
            let mut left = TEN_MB;
            while left > 0 {
                writer.write_all(&frame).await?;
                if let Framing::Declared = framing {
                    left -= CHUNK;
                }
            }
            std::future::pending::<std::io::Result<()>>().await
        };
        tokio::select! {
            result = sent => result.err().map(|e| e.to_string()),
            _ = &mut stop => None,
        }
    });
    let answer = read_response(&mut reader).await;
    tokio::time::sleep(NOTICED_LATE).await;
    let _ = stop_tx.send(());
    let write_error = writing.await.unwrap();
    Upload {
        answer,
        write_error,
    }
}

/// Asserts a 413 with `Connection: close`, in `accept`'s media type, whose
/// JSON body `code` finds the code in.
fn assert_413(response: &RawResponse, media: &str, code: impl Fn(&Value) -> &Value) {
    assert!(
        response.status_line.starts_with("HTTP/1.1 413"),
        "the first answer must be the 413: {response:?}"
    );
    let content_type = response.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with(media),
        "media type {content_type:?}, wanted {media}: {response:?}"
    );
    assert_eq!(response.header("connection"), Some("close"), "{response:?}");
    let body = response.json();
    assert_eq!(code(&body), "PAYLOAD_TOO_LARGE", "{body}");
}

fn graphql_code(body: &Value) -> &Value {
    assert!(body["errors"][0]["message"].is_string(), "{body}");
    &body["errors"][0]["extensions"]["code"]
}

fn rest_code(body: &Value) -> &Value {
    assert!(body["message"].is_string(), "{body}");
    &body["code"]
}

/// Asserts an upload was answered with the 413 and never reset.
fn assert_upload_refused(upload: Upload, media: &str, code: impl Fn(&Value) -> &Value) {
    let response = upload
        .answer
        .unwrap_or_else(|e| panic!("the client could not read an answer: {e}"));
    assert_413(&response, media, code);
    assert_eq!(
        upload.write_error, None,
        "the server reset the connection while the client was still writing \
         (it must drain briefly after answering)"
    );
}

#[tokio::test]
async fn a_declared_length_over_the_limit_is_refused_before_100_continue() {
    let app = TestApp::spawn().await;
    for accept in [GRJ, JSON] {
        let mut stream = connect(&app).await;
        let length = format!("Content-Length: {TEN_MB}");
        let head = request_head("/graphql", accept, None, &[&length, "Expect: 100-continue"]);
        stream.write_all(head.as_bytes()).await.unwrap();
        let response = read_response(&mut stream)
            .await
            .unwrap_or_else(|e| panic!("{accept}: {e}"));
        assert_413(&response, accept, graphql_code);
    }
}

#[tokio::test]
async fn a_declared_length_over_the_limit_is_refused_while_the_body_streams() {
    let app = TestApp::spawn().await;
    for accept in [GRJ, JSON] {
        let length = format!("Content-Length: {TEN_MB}");
        let head = request_head("/graphql", accept, None, &[&length]);
        let upload = upload(&app, head, Framing::Declared).await;
        assert_upload_refused(upload, accept, graphql_code);
    }
}

#[tokio::test]
async fn a_chunked_body_crossing_the_limit_gets_a_readable_413() {
    let app = TestApp::spawn().await;
    for accept in [GRJ, JSON] {
        let head = request_head("/graphql", accept, None, &["Transfer-Encoding: chunked"]);
        let upload = upload(&app, head, Framing::Chunked).await;
        assert_upload_refused(upload, accept, graphql_code);
    }
    // The server is still fine, and the limit is still the configured one.
    let body = app.gql("{ __typename }", serde_json::json!({})).await;
    assert_eq!(body["data"]["__typename"], "Query");
}

#[tokio::test]
async fn the_limit_is_configurable() {
    let app = TestApp::spawn_with(&[("MAX_BODY_BYTES", "1000")]).await;
    let mut stream = connect(&app).await;
    let head = request_head(
        "/graphql",
        GRJ,
        None,
        &["Content-Length: 1001", "Expect: 100-continue"],
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let response = read_response(&mut stream).await.unwrap();
    assert_413(&response, GRJ, graphql_code);

    let head = request_head("/graphql", JSON, None, &["Transfer-Encoding: chunked"]);
    let upload = upload(&app, head, Framing::Chunked).await;
    assert_upload_refused(upload, JSON, graphql_code);
}

#[tokio::test]
async fn the_rest_facade_refuses_oversized_bodies_the_same_way() {
    let app = TestApp::spawn().await;
    let user = app.register("rest-limit").await;
    let token = Some(user.access_token.as_str());

    let mut stream = connect(&app).await;
    let length = format!("Content-Length: {TEN_MB}");
    let head_with = |extra: &[&str]| request_head("/todos", JSON, token, extra);
    let head = head_with(&[&length, "Expect: 100-continue"]);
    stream.write_all(head.as_bytes()).await.unwrap();
    let response = read_response(&mut stream).await.unwrap();
    assert_413(&response, JSON, rest_code);

    let upload = upload(
        &app,
        head_with(&["Transfer-Encoding: chunked"]),
        Framing::Chunked,
    )
    .await;
    assert_upload_refused(upload, JSON, rest_code);
}
