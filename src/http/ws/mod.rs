//! GraphQL over WebSocket on `/graphql`, for both subprotocols
//! ([`protocol`]): `graphql-transport-ws` with the close codes its
//! reference client expects, and legacy `graphql-ws`.
//!
//! async-graphql's own handler closes with 1002/1011, has no 4408 or 4409
//! and never pings, so the protocol is implemented here over axum's socket.
//! Each operation goes through the one admission pipeline
//! ([`crate::graphql::admission`]) and runs in a task of its own
//! (`operation`). Outgoing messages go through one bounded queue, so a
//! client that stops reading slows only its own operations (which then end
//! with `SLOW_CONSUMER`) and the server's memory stays bounded.

mod follow;
mod operation;
pub mod protocol;
mod session;

use std::{collections::HashMap, sync::Arc, time::Duration};

use async_graphql::parser::types::OperationType;
use axum::{
    extract::ws::{Message, WebSocket, WebSocketUpgrade},
    http::{HeaderMap, header},
    response::Response,
};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::{sync::mpsc, task::AbortHandle, time::Instant};

use crate::{
    auth::Credentials,
    error::ErrorCode,
    graphql::{
        ClientAddr,
        admission::{Refusal, Transport},
        shared_key,
    },
    state::AppState,
};
use {
    operation::{Done, Live},
    protocol::{
        ClientMessage, ErrorPayload, OperationId, Protocol, ServerMessage, close, close_frame,
        coded_error,
    },
    session::{OpenConnection, Session, Slot},
};

/// Messages queued for one socket before its operations wait.
const OUTBOX: usize = 64;

/// Initial read buffer of each socket. tungstenite's default (128 KiB) is
/// sized for high read load and is touched on the first read, so it was
/// most of an idle socket's ~150 KB (`scripts/bench.sh`, idle memory);
/// clients here send only small control messages (`connection_init` with
/// a token, `subscribe`, `pong`: well under 1 KiB mostly), and the buffer
/// still grows for a larger one. 4 KiB was a quarter of a subscribed
/// socket's memory.
const READ_BUFFER: usize = 1024;

/// How much the writer gathers before writing to the socket, when it
/// feeds several queued messages before one flush. tungstenite's default
/// (128 KiB) would let a burst grow each socket's write buffer that far,
/// and a buffer keeps its capacity; a few KiB still makes one write of
/// several events.
const WRITE_BUFFER: usize = 4 * 1024;

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
    let protocol = Protocol::choose(offered.iter().map(String::as_str));
    let header_token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // Shared, not copied: the state is ~1 KB and an idle socket's task
    // would otherwise carry it inline for its whole life.
    let state = Arc::new(state);
    ws.protocols(["graphql-transport-ws", "graphql-ws"])
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .on_upgrade(move |socket| async move {
            match protocol {
                Some(protocol) => {
                    Connection::new(state, protocol, header_token, client)
                        .run(socket)
                        .await
                }
                None => {
                    let (mut sink, _) = socket.split();
                    let _ = sink
                        .send(close_frame(
                            close::SUBPROTOCOL_NOT_ACCEPTABLE,
                            "Subprotocol not acceptable",
                        ))
                        .await;
                }
            }
        })
}

/// Why the read loop stopped.
enum Stop {
    /// Close the socket with this code and reason.
    Close(u16, String),
    /// The client went away.
    Gone,
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
    live: Live,
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
        let _open = OpenConnection::new(self.protocol, &self.state.metrics);
        let (mut sink, mut source) = socket.split();
        let (out, mut outbox) = mpsc::channel::<Message>(OUTBOX);
        let writer = tokio::spawn(async move {
            // Everything queued goes out with one flush (one socket write
            // for a burst of events, not one per message).
            'write: while let Some(message) = outbox.recv().await {
                let mut closing = matches!(message, Message::Close(_));
                if sink.feed(message).await.is_err() {
                    break;
                }
                while !closing && let Ok(message) = outbox.try_recv() {
                    closing = matches!(message, Message::Close(_));
                    if sink.feed(message).await.is_err() {
                        break 'write;
                    }
                }
                if sink.flush().await.is_err() || closing {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
        let init_deadline = Instant::now() + self.state.config.ws.init_timeout;
        let ping_every = self.state.config.ws.ping_interval;
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
                    break Stop::Close(close::INIT_TIMEOUT, "Connection initialisation timeout".into());
                }
                _ = keepalive.tick(), if self.session.is_some() => {
                    let message = match self.protocol {
                        Protocol::TransportWs => ServerMessage::Ping,
                        Protocol::Legacy => ServerMessage::Ka,
                    };
                    if out.send(message.encode()).await.is_err() {
                        break Stop::Gone;
                    }
                }
                () = sleep_until_opt(expires) => {
                    // End every operation with UNAUTHENTICATED, then 4403 so
                    // clients reconnect with a fresh token.
                    let errors = [coded_error(ErrorCode::Unauthenticated, "the access token expired")];
                    for id in self.ops.keys() {
                        let _ = out.send(self.error_message(id, &errors)).await;
                    }
                    break Stop::Close(close::FORBIDDEN, "Forbidden: access token expired".into());
                }
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        break Stop::Close(close::SERVICE_RESTART, "Service restart".into());
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
            let _ = out.send(close_frame(code, &reason)).await;
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

    /// An `error` message ending operation `id`.
    fn error_message(&self, id: &str, errors: &[async_graphql::ServerError]) -> Message {
        ServerMessage::Error {
            id: Some(id),
            payload: ErrorPayload::for_operation(self.protocol, errors),
        }
        .encode()
    }

    /// A message the protocol does not allow: `graphql-transport-ws`
    /// closes with 4400; the legacy protocol answers with an error.
    async fn invalid(&self, reason: &str, out: &mpsc::Sender<Message>) -> Result<(), Stop> {
        match self.protocol {
            Protocol::TransportWs => Err(Stop::Close(
                close::INVALID_MESSAGE,
                format!("Invalid message received: {reason}"),
            )),
            Protocol::Legacy => {
                let message = ServerMessage::Error {
                    id: None,
                    payload: ErrorPayload::Reason { message: reason },
                };
                let _ = out.send(message.encode()).await;
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
        let message = match ClientMessage::parse(self.protocol, raw) {
            Ok(message) => message,
            Err(reason) => return self.invalid(&reason, out).await,
        };
        let send =
            |message: Message| async move { out.send(message).await.map_err(|_| Stop::Gone) };
        match message {
            ClientMessage::Init(payload) => {
                if self.init_received {
                    return Err(Stop::Close(
                        close::TOO_MANY_REQUESTS,
                        "Too many initialisation requests".into(),
                    ));
                }
                self.init_received = true;
                match self.authenticate(payload.as_ref()).await {
                    Ok(session) => {
                        let Some(slot) = Slot::take(&self.state, session.user) else {
                            return Err(Stop::Close(
                                close::TOO_MANY_REQUESTS,
                                "Too many connections for this user".into(),
                            ));
                        };
                        self.slot = Some(slot);
                        self.session = Some(session);
                        send(ServerMessage::ConnectionAck.encode()).await?;
                        if self.protocol == Protocol::Legacy {
                            send(ServerMessage::Ka.encode()).await?;
                        }
                        Ok(())
                    }
                    Err(reason) => match self.protocol {
                        Protocol::TransportWs => Err(Stop::Close(
                            close::FORBIDDEN,
                            format!("Forbidden: {reason}"),
                        )),
                        Protocol::Legacy => {
                            let error = ServerMessage::ConnectionError {
                                payload: ErrorPayload::Reason { message: &reason },
                            };
                            send(error.encode()).await?;
                            Err(Stop::Close(close::INTERNAL_ERROR, reason))
                        }
                    },
                }
            }
            ClientMessage::Ping(payload) => send(ServerMessage::Pong { payload }.encode()).await,
            ClientMessage::Pong => Ok(()),
            ClientMessage::Subscribe { id, payload } => {
                self.subscribe(id, payload, out, done).await
            }
            ClientMessage::Complete(OperationId(id)) => {
                if let Some((_, handle)) = self.ops.remove(&id) {
                    handle.abort();
                }
                if let Ok(mut live) = self.live.lock()
                    && let Some(flag) = live.remove(&id)
                {
                    flag.store(false, std::sync::atomic::Ordering::Release);
                }
                Ok(())
            }
            ClientMessage::Terminate => Err(Stop::Close(close::NORMAL, "Normal closure".into())),
        }
    }

    /// `subscribe` (legacy `start`): admits the operation and starts it.
    async fn subscribe(
        &mut self,
        OperationId(id): OperationId,
        payload: Value,
        out: &mpsc::Sender<Message>,
        done: &mpsc::UnboundedSender<Done>,
    ) -> Result<(), Stop> {
        let Some(session) = &self.session else {
            return match self.protocol {
                Protocol::TransportWs => {
                    Err(Stop::Close(close::UNAUTHORIZED, "Unauthorized".into()))
                }
                Protocol::Legacy => {
                    let errors = [coded_error(
                        ErrorCode::Unauthenticated,
                        "send connection_init first",
                    )];
                    let message = self.error_message(&id, &errors);
                    out.send(message).await.map_err(|_| Stop::Gone)
                }
            };
        };
        if let Some((_, existing)) = self.ops.get(&id) {
            match self.protocol {
                Protocol::TransportWs => {
                    return Err(Stop::Close(
                        close::SUBSCRIBER_EXISTS,
                        format!("Subscriber for {id} already exists"),
                    ));
                }
                // The legacy server replaced the old operation.
                Protocol::Legacy => existing.abort(),
            }
        }
        let credentials = Credentials::Token(Ok(session.claims.clone()));
        let user = session.user;
        // Read before admission takes the payload: whether the operation may
        // follow a shared run (subscriptions without a cursor).
        let share = shared_key::shareable(user, &payload);
        let admitted = match self
            .state
            .gateway
            .admit(
                payload,
                Transport::WebSocket,
                (credentials, self.client),
                None,
            )
            .await
        {
            Ok(admitted) => admitted,
            Err(Refusal::Malformed(_)) => {
                return self
                    .invalid("the payload is not a GraphQL request", out)
                    .await;
            }
            Err(refusal) => {
                let mut error = coded_error(refusal.code(), refusal.message());
                if let Refusal::Limit(limit) = &refusal {
                    error
                        .extensions
                        .get_or_insert_with(Default::default)
                        .set("limit", limit.name());
                }
                let errors = [error];
                let message = self.error_message(&id, &errors);
                return out.send(message).await.map_err(|_| Stop::Gone);
            }
        };
        if self.ops.len() >= self.state.config.ws.max_subscriptions {
            let errors = [coded_error(
                ErrorCode::RateLimited,
                "too many operations on this connection",
            )];
            let message = self.error_message(&id, &errors);
            return out.send(message).await.map_err(|_| Stop::Gone);
        }
        let flag = Arc::new(std::sync::atomic::AtomicBool::new(true));
        if let Ok(mut live) = self.live.lock()
            && let Some(earlier) = live.insert(id.clone(), flag.clone())
        {
            // The legacy protocol's replaced operation (aborted above):
            // nothing more of it goes out, even if it is mid-send.
            earlier.store(false, std::sync::atomic::Ordering::Release);
        }
        self.generation += 1;
        let ends = operation::Ends {
            protocol: self.protocol,
            id: id.clone(),
            generation: self.generation,
            live: self.live.clone(),
            flag,
            out: out.clone(),
            done: done.clone(),
        };
        // A mutation with `extensions.idempotencyKey` runs once per key.
        let handle = if admitted.is_keyed() {
            operation::spawn_keyed(&self.state.gateway, admitted, ends)
        } else if let (Some(share), Some(OperationType::Subscription)) =
            (share, admitted.operation())
        {
            follow::spawn(&self.state, share, admitted, user, ends)
        } else {
            operation::spawn(&self.state.gateway, admitted, ends)
        };
        self.ops.insert(id, (self.generation, handle));
        Ok(())
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
        Session::start(&self.state.auth, &value).await
    }
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
