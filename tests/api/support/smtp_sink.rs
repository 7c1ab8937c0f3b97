//! A real, minimal SMTP server for the job tests: it listens on
//! `127.0.0.1`, speaks just enough SMTP for lettre (greeting, EHLO/HELO,
//! MAIL, RCPT, DATA with dot-unstuffing, RSET, NOOP, QUIT) and keeps every
//! message it accepts. It can stop (the port then refuses connections and
//! open sessions are cut) and start again on the same port, to play an
//! SMTP server that is down for a while. [`Mail`] decodes enough MIME
//! (multipart, quoted-printable, base64, encoded words) to assert on.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use base64::Engine;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
    sync::Notify,
    task::{JoinHandle, JoinSet},
};

/// A message as received: the envelope and the raw data.
#[derive(Debug, Clone)]
pub struct Received {
    /// `MAIL FROM` address.
    pub from: String,
    /// `RCPT TO` addresses.
    pub to: Vec<String>,
    /// The message after `DATA`, dot-unstuffed.
    pub data: String,
}

impl Received {
    /// The decoded message.
    pub fn mail(&self) -> Mail {
        Mail::parse(&self.data)
    }
}

#[derive(Default)]
struct Shared {
    messages: Mutex<Vec<Received>>,
    arrived: Notify,
}

/// The server. Dropping it stops it.
pub struct SmtpSink {
    /// The port it listens on (kept across stop and start).
    pub port: u16,
    shared: Arc<Shared>,
    server: Option<JoinHandle<()>>,
}

impl SmtpSink {
    /// Starts on a free port.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared::default());
        let server = Some(tokio::spawn(serve(listener, shared.clone())));
        Self {
            port,
            shared,
            server,
        }
    }

    /// `smtp://127.0.0.1:<port>` (plaintext, no authentication).
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Stops: the port refuses connections and open sessions are closed.
    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
            let _ = server.await;
        }
        // The listener is closed once the task is gone: check it.
        assert!(
            TcpStream::connect(("127.0.0.1", self.port)).await.is_err(),
            "the stopped SMTP sink still accepts connections"
        );
    }

    /// Starts again on the same port, keeping the messages received so far.
    pub async fn restart(&mut self) {
        assert!(self.server.is_none(), "the SMTP sink is already running");
        let mut bound = None;
        for _ in 0..50 {
            match TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(listener) => {
                    bound = Some(listener);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        let listener = bound.unwrap_or_else(|| panic!("port {} stays taken", self.port));
        self.server = Some(tokio::spawn(serve(listener, self.shared.clone())));
    }

    /// Everything received so far.
    pub fn messages(&self) -> Vec<Received> {
        self.shared.messages.lock().unwrap().clone()
    }

    /// Waits until at least `n` messages have arrived; panics after `timeout`.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let arrived = self.shared.arrived.notified();
            let messages = self.messages();
            if messages.len() >= n {
                return messages;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                let messages = self.messages();
                assert!(
                    messages.len() >= n,
                    "{} of {n} email(s) after {timeout:?}: {messages:#?}",
                    messages.len()
                );
                return messages;
            }
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

/// Accepts connections until aborted; aborting drops the listener and, with
/// the `JoinSet`, every session.
async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let mut sessions = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    sessions.spawn(session(stream, shared.clone()));
                }
            }
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
        }
    }
}

/// One SMTP session; returns when the client quits or disconnects.
async fn session(stream: TcpStream, shared: Arc<Shared>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    write
        .write_all(b"220 localhost todoql test sink\r\n")
        .await?;
    let mut from = String::new();
    let mut to = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if read.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let command = String::from_utf8_lossy(&line).trim_end().to_owned();
        let verb = command
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-localhost\r\n250 8BITMIME\r\n",
            "HELO" => b"250 localhost\r\n",
            "MAIL" => {
                from = address(&command);
                to.clear();
                b"250 OK\r\n"
            }
            "RCPT" => {
                to.push(address(&command));
                b"250 OK\r\n"
            }
            "DATA" => {
                write
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let Some(data) = read_data(&mut read).await? else {
                    return Ok(());
                };
                shared.messages.lock().unwrap().push(Received {
                    from: std::mem::take(&mut from),
                    to: std::mem::take(&mut to),
                    data,
                });
                shared.arrived.notify_waiters();
                b"250 OK: queued\r\n"
            }
            "RSET" => {
                from.clear();
                to.clear();
                b"250 OK\r\n"
            }
            "NOOP" => b"250 OK\r\n",
            "QUIT" => {
                write.write_all(b"221 Bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 Command not implemented\r\n",
        };
        write.write_all(reply).await?;
    }
}

/// The address between `<` and `>` of `MAIL FROM:<a> …` or `RCPT TO:<a>`.
fn address(command: &str) -> String {
    command
        .split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(address, _)| address.to_owned())
        .unwrap_or_default()
}

/// Reads message data up to the `.` line, undoing dot-stuffing; `None`
/// when the client hangs up first.
async fn read_data<R: AsyncBufReadExt + Unpin>(read: &mut R) -> std::io::Result<Option<String>> {
    let mut data = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if read.read_until(b'\n', &mut line).await? == 0 {
            return Ok(None);
        }
        if line == b".\r\n" || line == b".\n" {
            return Ok(Some(String::from_utf8_lossy(&data).into_owned()));
        }
        let unstuffed = if line.first() == Some(&b'.') {
            &line[1..]
        } else {
            &line[..]
        };
        data.extend_from_slice(unstuffed);
    }
}

/// A decoded message: headers, and the text and HTML parts.
#[derive(Debug, Clone)]
pub struct Mail {
    headers: Vec<(String, String)>,
    /// The top-level `Content-Type` (lowercase, without parameters).
    pub content_type: String,
    /// The decoded `text/plain` part.
    pub text: Option<String>,
    /// The decoded `text/html` part.
    pub html: Option<String>,
}

impl Mail {
    /// Parses raw message data.
    pub fn parse(data: &str) -> Self {
        let (headers, body) = split_entity(data);
        let content_type = header_of(&headers, "content-type").unwrap_or("text/plain");
        let mut mail = Self {
            content_type: media_type(content_type),
            text: None,
            html: None,
            headers: headers.clone(),
        };
        mail.collect_parts(&headers, body);
        mail
    }

    /// A header's value, with encoded words decoded.
    pub fn header(&self, name: &str) -> Option<String> {
        header_of(&self.headers, name).map(decode_words)
    }

    /// The `Subject`.
    pub fn subject(&self) -> String {
        self.header("subject").unwrap_or_default()
    }

    fn collect_parts(&mut self, headers: &[(String, String)], body: &str) {
        let content_type = header_of(headers, "content-type").unwrap_or("text/plain");
        let media = media_type(content_type);
        if media.starts_with("multipart/") {
            let boundary = parameter(content_type, "boundary")
                .unwrap_or_else(|| panic!("multipart without a boundary: {content_type}"));
            for part in multipart_parts(body, &boundary) {
                let (part_headers, part_body) = split_entity(part);
                self.collect_parts(&part_headers, part_body);
            }
            return;
        }
        let encoding = header_of(headers, "content-transfer-encoding")
            .unwrap_or("7bit")
            .trim()
            .to_ascii_lowercase();
        let decoded = decode_body(body, &encoding);
        match media.as_str() {
            "text/plain" if self.text.is_none() => self.text = Some(decoded),
            "text/html" if self.html.is_none() => self.html = Some(decoded),
            _ => {}
        }
    }
}

/// Splits an entity into unfolded headers and its body.
fn split_entity(entity: &str) -> (Vec<(String, String)>, &str) {
    let (head, body) = entity
        .split_once("\r\n\r\n")
        .or_else(|| entity.split_once("\n\n"))
        .unwrap_or((entity, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    (headers, body)
}

fn header_of<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// A parameter of a header value (`boundary="…"`).
fn parameter(value: &str, name: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

/// The parts between `--boundary` lines.
fn multipart_parts<'a>(body: &'a str, boundary: &str) -> Vec<&'a str> {
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    for (i, chunk) in body.split(delimiter.as_str()).enumerate() {
        // Before the first delimiter: the preamble; after `--`: the end.
        if i == 0 || chunk.starts_with("--") {
            continue;
        }
        let chunk = chunk.strip_prefix("\r\n").unwrap_or(chunk);
        let chunk = chunk.strip_suffix("\r\n").unwrap_or(chunk);
        parts.push(chunk);
    }
    parts
}

fn decode_body(body: &str, encoding: &str) -> String {
    match encoding {
        "quoted-printable" => {
            String::from_utf8(quoted_printable(body.as_bytes(), false)).expect("UTF-8 text")
        }
        "base64" => {
            let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(compact)
                    .expect("valid base64"),
            )
            .expect("UTF-8 text")
        }
        _ => body.to_owned(),
    }
}

/// Decodes quoted-printable (`q_words`: the `Q` encoding of headers, where
/// `_` is a space).
fn quoted_printable(input: &[u8], q_words: bool) -> Vec<u8> {
    let hex = |b: u8| {
        char::from(b)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'=' if input[i + 1..].starts_with(b"\r\n") => i += 3,
            b'=' if input[i + 1..].starts_with(b"\n") => i += 2,
            b'=' => {
                match (
                    input.get(i + 1).copied().and_then(hex),
                    input.get(i + 2).copied().and_then(hex),
                ) {
                    (Some(hi), Some(lo)) => {
                        out.push(hi * 16 + lo);
                        i += 3;
                    }
                    _ => {
                        out.push(b'=');
                        i += 1;
                    }
                }
            }
            b'_' if q_words => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// Decodes RFC 2047 encoded words (`=?utf-8?b?…?=`, `=?utf-8?q?…?=`);
/// whitespace between two encoded words disappears.
fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    let mut after_word = false;
    while let Some(start) = rest.find("=?") {
        let Some(word) = encoded_word(&rest[start..]) else {
            out.push_str(&rest[..start + 2]);
            rest = &rest[start + 2..];
            after_word = false;
            continue;
        };
        let between = &rest[..start];
        if !(after_word && between.trim().is_empty()) {
            out.push_str(between);
        }
        out.push_str(&word.0);
        rest = &rest[start + word.1..];
        after_word = true;
    }
    out.push_str(rest);
    out
}

/// One encoded word at the start of `s`: its text and its length.
fn encoded_word(s: &str) -> Option<(String, usize)> {
    let inner = s.strip_prefix("=?")?;
    let (_charset, inner) = inner.split_once('?')?;
    let (encoding, inner) = inner.split_once('?')?;
    let end = inner.find("?=")?;
    let text = &inner[..end];
    let bytes = match encoding.to_ascii_lowercase().as_str() {
        "b" => base64::engine::general_purpose::STANDARD
            .decode(text)
            .ok()?,
        "q" => quoted_printable(text.as_bytes(), true),
        _ => return None,
    };
    let len = s.len() - inner.len() + end + 2;
    Some((String::from_utf8_lossy(&bytes).into_owned(), len))
}

#[test]
fn decodes_what_lettre_may_write() {
    let data = concat!(
        "From: todoql <a@b.c>\r\n",
        "Subject: =?utf-8?b?SMOpbGxv?= =?utf-8?q?_w=C3=B6rld?=\r\n",
        "Content-Type: multipart/alternative;\r\n",
        " boundary=\"XyZ\"\r\n",
        "\r\n",
        "--XyZ\r\n",
        "Content-Type: text/plain; charset=utf-8\r\n",
        "Content-Transfer-Encoding: quoted-printable\r\n",
        "\r\n",
        "caf=C3=A9 & a long =\r\nline\r\n",
        "--XyZ\r\n",
        "Content-Type: text/html; charset=utf-8\r\n",
        "Content-Transfer-Encoding: base64\r\n",
        "\r\n",
        "PHA+Y2Fmw6k8L3A+\r\n",
        "--XyZ--\r\n",
    );
    let mail = Mail::parse(data);
    assert_eq!(mail.subject(), "Héllo wörld");
    assert_eq!(mail.content_type, "multipart/alternative");
    assert_eq!(mail.text.as_deref(), Some("café & a long line"));
    assert_eq!(mail.html.as_deref(), Some("<p>café</p>"));
    assert_eq!(mail.header("from").as_deref(), Some("todoql <a@b.c>"));
}
