//! A small GraphQL-over-WebSocket client for the subscription tests: it
//! connects to `/graphql` with a subprotocol (optionally an `Authorization`
//! header, optionally a tiny TCP receive buffer), sends and receives JSON
//! with timeouts, and reports how the server closed the socket.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::{
    WebSocketStream, client_async,
    tungstenite::{Message, client::IntoClientRequest, http::HeaderValue},
};

use super::app::{TestApp, TestUser};

/// The modern subprotocol (the `graphql-ws` library's).
pub const TRANSPORT_WS: &str = "graphql-transport-ws";
/// The legacy subprotocol (subscriptions-transport-ws).
pub const LEGACY_WS: &str = "graphql-ws";
/// How long a receive waits before the test fails.
pub const WAIT: Duration = Duration::from_secs(5);

/// How to open a socket.
#[derive(Debug, Default, Clone)]
pub struct Connect {
    /// `Sec-WebSocket-Protocol`; none when `None`.
    pub protocol: Option<&'static str>,
    /// An `Authorization` header on the upgrade request.
    pub authorization: Option<String>,
    /// `SO_RCVBUF` of the client socket, set before connecting (so the TCP
    /// window stays small and a client that stops reading pushes back).
    pub recv_buffer: Option<u32>,
}

impl Connect {
    /// The given subprotocol, nothing else.
    pub fn protocol(protocol: &'static str) -> Self {
        Self {
            protocol: Some(protocol),
            ..Self::default()
        }
    }
}

/// How the server ended the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    /// The close code (1005 when the close frame had none).
    pub code: u16,
    /// The close reason.
    pub reason: String,
    /// Text messages that arrived before the close, parsed as JSON.
    pub before: Vec<Value>,
}

/// What arrived next.
#[derive(Debug)]
pub enum Incoming {
    /// A text message, as JSON.
    Message(Value),
    /// The server closed the socket.
    Closed(Closed),
    /// Nothing within the wait.
    Timeout,
}

/// One WebSocket connection.
pub struct WsClient {
    ws: WebSocketStream<TcpStream>,
    /// The subprotocol the server selected.
    pub protocol: Option<String>,
}

/// `ws://127.0.0.1:<port>/graphql` for an app at `http://127.0.0.1:<port>`.
pub fn ws_url(app: &TestApp) -> String {
    format!("{}/graphql", app.address.replacen("http://", "ws://", 1))
}

impl WsClient {
    /// Opens a socket to `app` as `options` says.
    pub async fn open(app: &TestApp, options: Connect) -> Self {
        let mut request = ws_url(app).into_client_request().unwrap();
        if let Some(protocol) = options.protocol {
            request
                .headers_mut()
                .insert("Sec-WebSocket-Protocol", HeaderValue::from_static(protocol));
        }
        if let Some(authorization) = &options.authorization {
            request.headers_mut().insert(
                "Authorization",
                HeaderValue::from_str(authorization).unwrap(),
            );
        }
        let addr: std::net::SocketAddr = app
            .address
            .trim_start_matches("http://")
            .parse()
            .expect("the app address is ip:port");
        let socket = TcpSocket::new_v4().unwrap();
        if let Some(size) = options.recv_buffer {
            socket.set_recv_buffer_size(size).unwrap();
        }
        let stream = socket.connect(addr).await.expect("TCP connect");
        let (ws, response) = tokio::time::timeout(WAIT, client_async(request, stream))
            .await
            .expect("WebSocket handshake timed out")
            .expect("WebSocket handshake");
        let protocol = response
            .headers()
            .get("Sec-WebSocket-Protocol")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Self { ws, protocol }
    }

    /// Opens a socket with `protocol`.
    pub async fn connect(app: &TestApp, protocol: &'static str) -> Self {
        Self::open(app, Connect::protocol(protocol)).await
    }

    /// A `graphql-transport-ws` socket, initialised as `user` and acknowledged.
    pub async fn ready(app: &TestApp, user: &TestUser) -> Self {
        let mut client = Self::connect(app, TRANSPORT_WS).await;
        client.init(&user.access_token).await;
        client
    }

    /// Sends a text frame.
    pub async fn send_text(&mut self, raw: &str) {
        self.ws
            .send(Message::text(raw.to_owned()))
            .await
            .expect("send a text frame");
    }

    /// Sends a JSON message.
    pub async fn send(&mut self, message: Value) {
        self.send_text(&message.to_string()).await;
    }

    /// Sends a binary frame.
    pub async fn send_binary(&mut self, bytes: &[u8]) {
        self.ws
            .send(Message::binary(bytes.to_vec()))
            .await
            .expect("send a binary frame");
    }

    /// Sends `connection_init` with `{"Authorization": "Bearer <token>"}`
    /// and expects `connection_ack` (and, for the legacy protocol, `ka`).
    pub async fn init(&mut self, token: &str) {
        self.send(json!({
            "type": "connection_init",
            "payload": { "Authorization": format!("Bearer {token}") },
        }))
        .await;
        let ack = self.recv_raw().await;
        assert_eq!(ack["type"], "connection_ack", "{ack}");
    }

    /// Starts an operation (`subscribe`, or `start` on the legacy protocol).
    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        let kind = if self.protocol.as_deref() == Some(LEGACY_WS) {
            "start"
        } else {
            "subscribe"
        };
        self.send(json!({
            "type": kind,
            "id": id,
            "payload": { "query": query, "variables": variables },
        }))
        .await;
    }

    /// Ends an operation (`complete`, or `stop` on the legacy protocol).
    pub async fn complete(&mut self, id: &str) {
        let kind = if self.protocol.as_deref() == Some(LEGACY_WS) {
            "stop"
        } else {
            "complete"
        };
        self.send(json!({ "type": kind, "id": id })).await;
    }

    /// The next text message within `wait`, as JSON; `None` on timeout.
    /// Panics when the socket closes or a non-text frame arrives.
    pub async fn recv_raw_within(&mut self, wait: Duration) -> Option<Value> {
        let text = self.recv_text_within(wait).await?;
        Some(serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}")))
    }

    /// The next text message within `wait`, verbatim (for what parsing
    /// would lose, such as the order of keys); `None` on timeout. Panics
    /// when the socket closes or a non-text frame arrives.
    pub async fn recv_text_within(&mut self, wait: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let frame = match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return None,
                Ok(frame) => frame,
            };
            match frame {
                Some(Ok(Message::Text(text))) => return Some(text.as_str().to_owned()),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(frame))) => panic!("socket closed: {frame:?}"),
                Some(Ok(other)) => panic!("unexpected frame {other:?}"),
                Some(Err(e)) => panic!("socket error: {e}"),
                None => panic!("socket ended"),
            }
        }
    }

    /// The next text message, keep-alives included.
    pub async fn recv_raw(&mut self) -> Value {
        self.recv_raw_within(WAIT)
            .await
            .unwrap_or_else(|| panic!("no message within {WAIT:?}"))
    }

    /// The next message within `wait` that is not a keep-alive (server
    /// `ping`, legacy `ka`); `None` on timeout.
    pub async fn recv_within(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let message = self.recv_raw_within(left).await?;
            if !is_keepalive(&message) {
                return Some(message);
            }
        }
    }

    /// The next message that is not a keep-alive.
    pub async fn recv(&mut self) -> Value {
        self.recv_within(WAIT)
            .await
            .unwrap_or_else(|| panic!("no message within {WAIT:?}"))
    }

    /// The next message, which must be a `next` (or legacy `data`) for `id`
    /// without errors: its `payload.data`.
    pub async fn next_data(&mut self, id: &str) -> Value {
        let message = self.recv().await;
        let kind = if self.protocol.as_deref() == Some(LEGACY_WS) {
            "data"
        } else {
            "next"
        };
        assert_eq!(message["type"], kind, "{message}");
        assert_eq!(message["id"], id, "{message}");
        assert!(message["payload"]["errors"].is_null(), "{message}");
        message["payload"]["data"].clone()
    }

    /// Expects `complete` for `id` next.
    pub async fn expect_complete(&mut self, id: &str) {
        let message = self.recv().await;
        assert_eq!(message, json!({ "type": "complete", "id": id }));
    }

    /// Waits for the server to close the socket; every text message before
    /// the close is kept. Panics when nothing closes within `wait`.
    pub async fn closed_within(&mut self, wait: Duration) -> Closed {
        let deadline = tokio::time::Instant::now() + wait;
        let mut before = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.incoming(left).await {
                Incoming::Message(message) => before.push(message),
                Incoming::Closed(closed) => return Closed { before, ..closed },
                Incoming::Timeout => panic!("not closed within {wait:?}; got {before:?}"),
            }
        }
    }

    /// The next text message or the close, whichever comes first.
    pub async fn incoming(&mut self, wait: Duration) -> Incoming {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let Ok(frame) = tokio::time::timeout_at(deadline, self.ws.next()).await else {
                return Incoming::Timeout;
            };
            match frame {
                Some(Ok(Message::Text(text))) => {
                    return Incoming::Message(
                        serde_json::from_str(text.as_str())
                            .unwrap_or_else(|_| Value::String(text.as_str().to_owned())),
                    );
                }
                Some(Ok(Message::Close(frame))) => {
                    return Incoming::Closed(Closed {
                        code: frame.as_ref().map_or(1005, |f| u16::from(f.code)),
                        reason: frame
                            .map(|f| f.reason.as_str().to_owned())
                            .unwrap_or_default(),
                        before: Vec::new(),
                    });
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("socket error: {e}"),
                None => panic!("socket ended without a close frame"),
            }
        }
    }

    /// Waits (up to [`WAIT`]) for the server to close the socket.
    pub async fn closed(&mut self) -> Closed {
        self.closed_within(WAIT).await
    }

    /// Asserts that nothing but keep-alives arrives for `wait`.
    pub async fn assert_silent(&mut self, wait: Duration) {
        if let Some(message) = self.recv_within(wait).await {
            panic!("expected silence, got {message}");
        }
    }

    /// `graphql-transport-ws` round trip: sends `ping`, returns every
    /// non-keep-alive message that arrives before the `pong`. Whatever the
    /// server had queued before it read the ping comes first.
    pub async fn barrier(&mut self) -> Vec<Value> {
        self.send(json!({ "type": "ping", "payload": { "barrier": true } }))
            .await;
        let mut before = Vec::new();
        loop {
            let message = self.recv().await;
            if message["type"] == "pong" {
                return before;
            }
            before.push(message);
        }
    }

    /// Closes the socket from the client side.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// A server keep-alive: `{"type":"ping"}` or legacy `{"type":"ka"}`.
pub fn is_keepalive(message: &Value) -> bool {
    message["type"] == "ka" || (message["type"] == "ping" && message.get("id").is_none())
}
