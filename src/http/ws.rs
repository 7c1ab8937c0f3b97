//! GraphQL over WebSocket on `/graphql`, for both subprotocols:
//!
//! - `graphql-transport-ws` (the `graphql-ws` library's protocol), with the
//!   close codes its reference client expects: 4400 invalid message, 4401
//!   subscribe before ack, 4403 init rejected or token expired, 4406 no
//!   subprotocol, 4408 init timeout, 4409 duplicate operation id, 4429 second
//!   init (or too many connections), 1012 on server shutdown;
//! - legacy `graphql-ws` (subscriptions-transport-ws): `start`/`stop`,
//!   `data`, `ka` keep-alives, `connection_error` then 1011.
//!
//! async-graphql's own handler closes with 1002/1011, has no 4408 or 4409
//! and never pings, so the protocol is implemented here over axum's socket,
//! with `Schema::execute_stream` running each operation in a task of its
//! own. Outgoing messages go through one bounded queue, so a client that
//! stops reading slows only its own operations (which then end with
//! `SLOW_CONSUMER`) and the server's memory stays bounded.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_graphql::Response as GqlResponse;
use axum::{
    extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade},
    http::{HeaderMap, header},
    response::Response,
};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::{sync::mpsc, task::AbortHandle, time::Instant};
use uuid::Uuid;

use crate::{
    app::AppState,
    auth::{Credentials, token},
    error::ErrorCode,
    graphql::{ClientAddr, ExecutionMarker, limits, prepare_request},
};

/// The two subprotocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// `graphql-transport-ws`.
    TransportWs,
    /// Legacy `graphql-ws` (subscriptions-transport-ws).
    Legacy,
}

/// Messages queued for one socket before its operations wait.
const OUTBOX: usize = 64;

/// Initial read buffer of each socket. tungstenite's default (128 KiB) is
/// sized for high read load and is touched on the first read, so it was
/// most of an idle socket's ~150 KB (`scripts/bench.sh`, idle memory);
/// clients here send only small control messages, and the buffer still
/// grows for a larger one.
const READ_BUFFER: usize = 4 * 1024;

/// Upgrades the connection and runs the protocol.
pub fn upgrade(
    state: AppState,
    ws: WebSocketUpgrade,
    headers: &HeaderMap,
    client: ClientAddr,
) -> Response {
    let offered: Vec<String> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_owned())
        .collect();
    // Offered both: the modern protocol wins.
    let protocol = if offered.iter().any(|p| p == "graphql-transport-ws") {
        Some(Protocol::TransportWs)
    } else if offered.iter().any(|p| p == "graphql-ws") {
        Some(Protocol::Legacy)
    } else {
        None
    };
    let header_token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // Shared, not copied: the state is ~1 KB and an idle socket's task
    // would otherwise carry it inline for its whole life.
    let state = Arc::new(state);
    ws.protocols(["graphql-transport-ws", "graphql-ws"])
        .read_buffer_size(READ_BUFFER)
        .on_upgrade(move |socket| async move {
            match protocol {
                Some(protocol) => {
                    Connection::new(state, protocol, header_token, client)
                        .run(socket)
                        .await
                }
                None => {
                    let (mut sink, _) = socket.split();
                    let _ = sink.send(close(4406, "Subprotocol not acceptable")).await;
                }
            }
        })
}

fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from(reason),
    }))
}

fn text(value: Value) -> Message {
    Message::Text(Utf8Bytes::from(value.to_string()))
}

/// An `error` message for operation `id` with `errors` (a JSON array).
fn error_message(protocol: Protocol, id: &str, errors: Value) -> Value {
    match protocol {
        Protocol::TransportWs => json!({ "type": "error", "id": id, "payload": errors }),
        Protocol::Legacy => {
            let message = errors[0]["message"].as_str().unwrap_or("error").to_owned();
            json!({ "type": "error", "id": id, "payload": { "message": message, "errors": errors } })
        }
    }
}

/// The errors of a response that could not be serialised (it never should
/// be): details are logged.
fn internal_errors(error: &serde_json::Error) -> Value {
    crate::error::log_internal(error);
    json!([{
        "message": "Internal server error",
        "extensions": { "code": ErrorCode::InternalServerError.as_str() },
    }])
}

/// Why the read loop stopped.
enum Stop {
    /// Close the socket with this code and reason.
    Close(u16, String),
    /// The client went away.
    Gone,
}

/// An authenticated socket's user and token expiry.
struct Session {
    user: Uuid,
    claims: token::Claims,
    expires: Instant,
}

/// Releases a user's connection slot when the socket ends.
struct Slot {
    connections: Arc<Mutex<HashMap<Uuid, usize>>>,
    user: Uuid,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut map) = self.connections.lock()
            && let Some(n) = map.get_mut(&self.user)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.user);
            }
        }
    }
}

/// Counts the socket in `todoql.websocket.connections` while it lives.
struct OpenConnection(&'static str);

impl OpenConnection {
    fn new(protocol: Protocol) -> Self {
        let name = match protocol {
            Protocol::TransportWs => "graphql-transport-ws",
            Protocol::Legacy => "graphql-ws",
        };
        crate::telemetry::metrics::get().ws_connection(name, 1);
        Self(name)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        crate::telemetry::metrics::get().ws_connection(self.0, -1);
    }
}

/// An operation's end, as its task reports it.
struct Done {
    id: String,
    generation: u64,
}

struct Connection {
    state: Arc<AppState>,
    protocol: Protocol,
    header_token: Option<String>,
    client: ClientAddr,
    session: Option<Session>,
    slot: Option<Slot>,
    init_received: bool,
    /// Running operations by id, with the generation that started them.
    ops: HashMap<String, (u64, AbortHandle)>,
    /// Counts started operations, so a late notice of an old operation's
    /// end never removes a newer one under the same id.
    generation: u64,
    /// Ids whose messages may still be sent (removed on the client's
    /// `complete`, so nothing follows it).
    live: Arc<Mutex<std::collections::HashSet<String>>>,
}

impl Connection {
    fn new(
        state: Arc<AppState>,
        protocol: Protocol,
        header_token: Option<String>,
        client: ClientAddr,
    ) -> Self {
        Self {
            state,
            protocol,
            header_token,
            client,
            session: None,
            slot: None,
            init_received: false,
            ops: HashMap::new(),
            generation: 0,
            live: Arc::default(),
        }
    }

    async fn run(mut self, socket: WebSocket) {
        let _open = OpenConnection::new(self.protocol);
        let (mut sink, mut source) = socket.split();
        let (out, mut outbox) = mpsc::channel::<Message>(OUTBOX);
        let writer = tokio::spawn(async move {
            while let Some(message) = outbox.recv().await {
                let closing = matches!(message, Message::Close(_));
                if sink.send(message).await.is_err() || closing {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
        let init_deadline = Instant::now() + self.state.config.ws_init_timeout;
        let ping_every = self.state.config.ws_ping_interval;
        let mut keepalive = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
        let mut shutdown = self.state.shutdown.clone();

        let stop = loop {
            let expires = self.session.as_ref().map(|s| s.expires);
            tokio::select! {
                message = source.next() => {
                    let flow = match message {
                        Some(Ok(Message::Text(t))) => {
                            // Operations that finished before this message
                            // was read are over: their ids are free again.
                            while let Ok(done) = done_rx.try_recv() {
                                self.finished(done);
                            }
                            // Boxed: the message handler's future (it may
                            // authenticate against PostgreSQL) is large, and
                            // inline it would be reserved in every idle
                            // socket's task for the socket's whole life.
                            Box::pin(self.on_text(t.as_str(), &out, &done_tx)).await
                        }
                        Some(Ok(Message::Binary(_))) => self.invalid("binary messages are not supported", &out).await,
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => Ok(()),
                        Some(Ok(Message::Close(_))) | None | Some(Err(_)) => Err(Stop::Gone),
                    };
                    if let Err(stop) = flow {
                        break stop;
                    }
                }
                () = tokio::time::sleep_until(init_deadline), if !self.init_received => {
                    break Stop::Close(4408, "Connection initialisation timeout".into());
                }
                _ = keepalive.tick(), if self.session.is_some() => {
                    let message = match self.protocol {
                        Protocol::TransportWs => json!({ "type": "ping" }),
                        Protocol::Legacy => json!({ "type": "ka" }),
                    };
                    if out.send(text(message)).await.is_err() {
                        break Stop::Gone;
                    }
                }
                () = sleep_until_opt(expires) => {
                    // End every operation with UNAUTHENTICATED, then 4403 so
                    // clients reconnect with a fresh token.
                    for id in self.ops.keys() {
                        let error = json!([{
                            "message": "the access token expired",
                            "extensions": { "code": ErrorCode::Unauthenticated.as_str() },
                        }]);
                        let _ = out.send(text(self.error_message(id, error))).await;
                    }
                    break Stop::Close(4403, "Forbidden: access token expired".into());
                }
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        break Stop::Close(1012, "Service restart".into());
                    }
                }
                Some(done) = done_rx.recv() => self.finished(done),
            }
        };
        for (_, handle) in self.ops.values() {
            handle.abort();
        }
        if let Stop::Close(code, reason) = stop {
            // Queued after everything already sent, so in-flight messages
            // are flushed first.
            let _ = out.send(close(code, &reason)).await;
        }
        drop(out);
        let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
    }

    /// Forgets a finished operation, unless its id was reused since.
    fn finished(&mut self, done: Done) {
        if self
            .ops
            .get(&done.id)
            .is_some_and(|(g, _)| *g == done.generation)
        {
            self.ops.remove(&done.id);
        }
    }

    /// Sends an `error` for operation `id`.
    fn error_message(&self, id: &str, errors: Value) -> Value {
        error_message(self.protocol, id, errors)
    }

    async fn invalid(&self, reason: &str, out: &mpsc::Sender<Message>) -> Result<(), Stop> {
        match self.protocol {
            Protocol::TransportWs => Err(Stop::Close(
                4400,
                format!("Invalid message received: {reason}"),
            )),
            Protocol::Legacy => {
                let _ = out
                    .send(text(
                        json!({ "type": "error", "payload": { "message": reason } }),
                    ))
                    .await;
                Ok(())
            }
        }
    }

    async fn on_text(
        &mut self,
        raw: &str,
        out: &mpsc::Sender<Message>,
        done: &mpsc::UnboundedSender<Done>,
    ) -> Result<(), Stop> {
        let Ok(Value::Object(mut message)) = serde_json::from_str::<Value>(raw) else {
            return self.invalid("not a JSON object", out).await;
        };
        let Some(Value::String(kind)) = message.remove("type") else {
            return self.invalid("missing type", out).await;
        };
        let id = match message.remove("id") {
            None => None,
            Some(Value::String(id)) if !id.is_empty() => Some(id),
            Some(_) => return self.invalid("id must be a non-empty string", out).await,
        };
        let payload = message.remove("payload");
        let send =
            |value: Value| async move { out.send(text(value)).await.map_err(|_| Stop::Gone) };
        match (self.protocol, kind.as_str()) {
            (_, "connection_init") => {
                if self.init_received {
                    return Err(Stop::Close(4429, "Too many initialisation requests".into()));
                }
                self.init_received = true;
                match self.authenticate(payload.as_ref()).await {
                    Ok(session) => {
                        self.take_slot(session.user)?;
                        self.session = Some(session);
                        send(json!({ "type": "connection_ack" })).await?;
                        if self.protocol == Protocol::Legacy {
                            send(json!({ "type": "ka" })).await?;
                        }
                        Ok(())
                    }
                    Err(reason) => match self.protocol {
                        Protocol::TransportWs => {
                            Err(Stop::Close(4403, format!("Forbidden: {reason}")))
                        }
                        Protocol::Legacy => {
                            send(json!({ "type": "connection_error", "payload": { "message": reason } }))
                                .await?;
                            Err(Stop::Close(1011, reason))
                        }
                    },
                }
            }
            (Protocol::TransportWs, "ping") => {
                let mut pong = json!({ "type": "pong" });
                if let Some(p) = payload {
                    pong["payload"] = p;
                }
                send(pong).await
            }
            (Protocol::TransportWs, "pong") => Ok(()),
            (Protocol::TransportWs, "subscribe") | (Protocol::Legacy, "start") => {
                let Some(id) = id else {
                    return self.invalid("operations need an id", out).await;
                };
                if self.session.is_none() {
                    return match self.protocol {
                        Protocol::TransportWs => Err(Stop::Close(4401, "Unauthorized".into())),
                        Protocol::Legacy => {
                            let error = json!([{ "message": "send connection_init first",
                                "extensions": { "code": ErrorCode::Unauthenticated.as_str() } }]);
                            send(self.error_message(&id, error)).await
                        }
                    };
                }
                if let Some((_, existing)) = self.ops.get(&id) {
                    match self.protocol {
                        Protocol::TransportWs => {
                            return Err(Stop::Close(
                                4409,
                                format!("Subscriber for {id} already exists"),
                            ));
                        }
                        // The legacy server replaced the old operation.
                        Protocol::Legacy => existing.abort(),
                    }
                }
                let Some(request) = payload.and_then(|p| super::graphql::parse_request(p).ok())
                else {
                    return self
                        .invalid("the payload is not a GraphQL request", out)
                        .await;
                };
                if self.ops.len() >= self.state.config.ws_max_subscriptions {
                    let error = json!([{ "message": "too many operations on this connection",
                        "extensions": { "code": ErrorCode::RateLimited.as_str() } }]);
                    return send(self.error_message(&id, error)).await;
                }
                self.start(id, request, out.clone(), done.clone());
                Ok(())
            }
            (Protocol::TransportWs, "complete") | (Protocol::Legacy, "stop") => {
                if let Some(id) = id {
                    if let Some((_, handle)) = self.ops.remove(&id) {
                        handle.abort();
                    }
                    if let Ok(mut live) = self.live.lock() {
                        live.remove(&id);
                    }
                }
                Ok(())
            }
            (Protocol::Legacy, "connection_terminate") => {
                Err(Stop::Close(1000, "Normal closure".into()))
            }
            _ => {
                self.invalid(&format!("unexpected message type {kind}"), out)
                    .await
            }
        }
    }

    /// The token from the `connection_init` payload (`Authorization`, any
    /// case) or the upgrade request's header; the user must exist.
    async fn authenticate(&self, payload: Option<&Value>) -> Result<Session, String> {
        let from_payload = payload.and_then(Value::as_object).and_then(|p| {
            p.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
                .and_then(|(_, v)| v.as_str())
                .map(str::to_owned)
        });
        let Some(value) = from_payload.or_else(|| self.header_token.clone()) else {
            return Err(
                "send {\"Authorization\": \"Bearer <accessToken>\"} in connection_init".into(),
            );
        };
        let token = token::bearer(&value).ok_or("not a Bearer token")?;
        let claims = self
            .state
            .auth
            .verify_access_token(token)
            .map_err(|_| "the access token is invalid or expired".to_owned())?;
        match self.state.auth.users_by_ids(&[claims.sub]).await {
            Ok(users) if !users.is_empty() => {}
            Ok(_) => return Err("the access token is invalid or expired".into()),
            Err(e) => {
                crate::error::log_internal(&e);
                return Err("internal server error".into());
            }
        }
        let remaining = claims.exp - chrono::Utc::now().timestamp();
        let expires = Instant::now() + Duration::from_secs(u64::try_from(remaining).unwrap_or(0));
        Ok(Session {
            user: claims.sub,
            claims,
            expires,
        })
    }

    /// Counts this socket against the user's limit.
    fn take_slot(&mut self, user: Uuid) -> Result<(), Stop> {
        let limit = self.state.config.ws_max_connections_per_user;
        let mut map = self
            .state
            .ws_connections
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let n = map.entry(user).or_insert(0);
        if *n >= limit {
            return Err(Stop::Close(
                4429,
                "Too many connections for this user".into(),
            ));
        }
        *n += 1;
        drop(map);
        self.slot = Some(Slot {
            connections: self.state.ws_connections.clone(),
            user,
        });
        Ok(())
    }

    /// Runs one operation in a task of its own.
    fn start(
        &mut self,
        id: String,
        request: async_graphql::Request,
        out: mpsc::Sender<Message>,
        done: mpsc::UnboundedSender<Done>,
    ) {
        let Some(session) = &self.session else { return };
        let mut request = request;
        if let Err(limit) = limits::check(&mut request, &self.state.limits) {
            let errors = json!([{ "message": limit.to_string(), "extensions": {
                "code": ErrorCode::GraphqlValidationFailed.as_str(), "limit": limit.name() } }]);
            let message = text(self.error_message(&id, errors));
            tokio::spawn(async move {
                let _ = out.send(message).await;
            });
            return;
        }
        let request = prepare_request(
            request,
            &self.state.auth,
            Credentials::Token(Ok(session.claims.clone())),
            self.client,
            ExecutionMarker::default(),
        );
        let schema = self.state.schema.clone();
        let protocol = self.protocol;
        let live = self.live.clone();
        if let Ok(mut set) = live.lock() {
            set.insert(id.clone());
        }
        let op_id = id.clone();
        self.generation += 1;
        let generation = self.generation;
        let is_live = move |live: &Arc<Mutex<std::collections::HashSet<String>>>, id: &str| {
            live.lock().map(|l| l.contains(id)).unwrap_or(false)
        };
        let handle = tokio::spawn(async move {
            let mut stream = schema.execute_stream(request);
            let mut first = true;
            while let Some(response) = stream.next().await {
                if !is_live(&live, &op_id) {
                    return;
                }
                let message = if first && is_request_error(&response) {
                    let message = request_error_message(protocol, &op_id, &response);
                    // Free the id before the client can see the end.
                    if let Ok(mut l) = live.lock() {
                        l.remove(&op_id);
                    }
                    let _ = done.send(Done {
                        id: op_id.clone(),
                        generation,
                    });
                    let _ = out.send(message).await;
                    return;
                } else {
                    let kind = match protocol {
                        Protocol::TransportWs => "next",
                        Protocol::Legacy => "data",
                    };
                    data_message(kind, &op_id, &response)
                };
                first = false;
                if out.send(message).await.is_err() {
                    return;
                }
            }
            // Free the id before the client can see `complete`, so it may
            // reuse the id as soon as it does.
            let still_live = is_live(&live, &op_id);
            if let Ok(mut l) = live.lock() {
                l.remove(&op_id);
            }
            let _ = done.send(Done {
                id: op_id.clone(),
                generation,
            });
            if still_live {
                let _ = out
                    .send(text(json!({ "type": "complete", "id": op_id })))
                    .await;
            }
        });
        self.ops.insert(id, (generation, handle.abort_handle()));
    }
}

/// A `next` (or legacy `data`) message carrying `response`.
#[derive(serde::Serialize)]
struct DataMessage<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    payload: &'a GqlResponse,
}

/// Serialises a data message straight to text: a subscription event is
/// written once per subscriber, and building a `serde_json::Value` tree
/// first doubled the allocations of each delivery (and its sorted maps
/// would lose the selection order of the payload).
fn data_message(kind: &'static str, id: &str, response: &GqlResponse) -> Message {
    let message = DataMessage {
        kind,
        id,
        payload: response,
    };
    match serde_json::to_string(&message) {
        Ok(raw) => Message::Text(Utf8Bytes::from(raw)),
        Err(e) => text(json!({ "type": kind, "id": id,
            "payload": { "errors": internal_errors(&e) } })),
    }
}

/// An `error` message for a request error (`payload` is the errors; the
/// legacy protocol wraps them with the first message).
#[derive(serde::Serialize)]
struct ErrorMessage<'a, P> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    payload: P,
}

/// The legacy protocol's error payload.
#[derive(serde::Serialize)]
struct LegacyErrors<'a> {
    message: &'a str,
    errors: &'a [async_graphql::ServerError],
}

/// The `error` message ending an operation whose request failed (parse,
/// validation, operation selection), written straight from the errors.
fn request_error_message(protocol: Protocol, id: &str, response: &GqlResponse) -> Message {
    let errors = response.errors.as_slice();
    let raw = match protocol {
        Protocol::TransportWs => serde_json::to_string(&ErrorMessage {
            kind: "error",
            id,
            payload: errors,
        }),
        Protocol::Legacy => serde_json::to_string(&ErrorMessage {
            kind: "error",
            id,
            payload: LegacyErrors {
                message: errors.first().map_or("error", |e| e.message.as_str()),
                errors,
            },
        }),
    };
    match raw {
        Ok(raw) => Message::Text(Utf8Bytes::from(raw)),
        Err(e) => text(error_message(protocol, id, internal_errors(&e))),
    }
}

/// A response from before execution: parse, validation or operation
/// selection failed (no data, and only such codes).
fn is_request_error(response: &GqlResponse) -> bool {
    !response.errors.is_empty()
        && response.data == async_graphql::Value::Null
        && response.errors.iter().all(|e| {
            let code = e
                .extensions
                .as_ref()
                .and_then(|ext| ext.get("code"))
                .map(|c| c.to_string().trim_matches('"').to_owned());
            matches!(
                code.as_deref(),
                None | Some("GRAPHQL_PARSE_FAILED") | Some("GRAPHQL_VALIDATION_FAILED")
            )
        })
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
