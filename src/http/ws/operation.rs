//! One WebSocket operation, run in a task of its own: its results as
//! `next`/`data` messages, a request error as one `error` message, then
//! `complete` — each only while the client still wants the operation.
//!
//! A mutation with `extensions.idempotencyKey` runs through
//! [`Gateway::execute_once`] instead ([`spawn_keyed`]): its result is kept
//! with the key, and a repeat is answered with the kept result (`next`
//! with `extensions.idempotentReplayed: true`, then `complete`) or, for a
//! reused or busy key, an `error` with the code.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use async_graphql::Response as GqlResponse;
use axum::extract::ws::Message;
use futures_util::StreamExt;
use tokio::{sync::mpsc, task::AbortHandle};

use super::protocol::{ErrorPayload, Protocol, ServerMessage, coded_error, result_message};
use crate::{
    error::{ClientError, ErrorCode},
    graphql::{
        admission::{Admitted, Executed, Gateway, Keepable, Once},
        shared::is_request_error,
    },
    idempotency::replay::mark_replayed,
};

/// The ids of operations whose messages may still be sent, each with the
/// flag its operation reads before every message (cleared, and the id
/// removed, on the client's `complete`, so nothing follows it). A flag
/// rather than a look-up of the id: the check runs once per delivered
/// event, and locking the socket's set and hashing the id there was 2 % of
/// the server's time in a fan-out (docs/benchmarks.md).
pub type Live = Arc<Mutex<HashMap<String, Arc<AtomicBool>>>>;

/// An operation's end, as its task reports it.
pub struct Done {
    /// The operation id.
    pub id: String,
    /// The generation that started it.
    pub generation: u64,
}

/// Where an operation's messages and its end go.
pub struct Ends {
    /// The socket's protocol.
    pub protocol: Protocol,
    /// The operation id.
    pub id: String,
    /// The generation that started it.
    pub generation: u64,
    /// The socket's live ids.
    pub live: Live,
    /// This operation's entry in `live`.
    pub flag: Arc<AtomicBool>,
    /// The socket's outgoing queue.
    pub out: mpsc::Sender<Message>,
    /// Where the end is reported.
    pub done: mpsc::UnboundedSender<Done>,
}

impl Ends {
    /// Whether the client still wants the operation's messages.
    pub fn is_live(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    /// Frees the id before the client can see the end, so it may reuse
    /// the id as soon as it does.
    pub fn release(&self) {
        self.flag.store(false, Ordering::Release);
        if let Ok(mut l) = self.live.lock()
            && l.get(&self.id).is_some_and(|f| Arc::ptr_eq(f, &self.flag))
        {
            // Only its own entry: the id may be a later operation's by now.
            l.remove(&self.id);
        }
        let _ = self.done.send(Done {
            id: self.id.clone(),
            generation: self.generation,
        });
    }
}

/// Runs `admitted` until it ends or is aborted.
pub fn spawn(gateway: &Gateway, admitted: Admitted, ends: Ends) -> AbortHandle {
    let stream = gateway.execute_stream(admitted);
    tokio::spawn(run(stream, ends)).abort_handle()
}

/// Sends the results of `stream` as the operation's messages.
pub async fn run(stream: impl futures_util::Stream<Item = GqlResponse>, ends: Ends) {
    let mut stream = std::pin::pin!(stream);
    let mut first = true;
    while let Some(response) = stream.next().await {
        if !ends.is_live() {
            return;
        }
        if first && is_request_error(&response) {
            let message = ServerMessage::Error {
                id: Some(&ends.id),
                payload: ErrorPayload::for_operation(ends.protocol, &response.errors),
            }
            .encode();
            ends.release();
            let _ = ends.out.send(message).await;
            return;
        }
        first = false;
        let message = result_message(ends.protocol, &ends.id, &response).encode();
        if ends.out.send(message).await.is_err() {
            return;
        }
    }
    let still_live = ends.is_live();
    ends.release();
    if still_live {
        let message = ServerMessage::Complete { id: &ends.id }.encode();
        let _ = ends.out.send(message).await;
    }
}

/// A keyed operation's rendering, as its key keeps it: status 200 and the
/// result, or 400 and a request error's `{"errors": […]}`.
struct Rendered {
    status: u16,
    body: Vec<u8>,
}

impl Keepable for Rendered {
    fn kept(&self) -> (u16, &str, &[u8]) {
        (self.status, "application/json", &self.body)
    }
}

impl Rendered {
    fn of(executed: Executed) -> Self {
        let response = match executed {
            Executed::Response { response, .. } => *response,
            // Mutations are never cut off; a query has no key.
            Executed::TimedOut => GqlResponse::from_errors(vec![coded_error(
                ErrorCode::Timeout,
                "the operation took too long and was stopped",
            )]),
        };
        let (status, body) = if is_request_error(&response) {
            (
                400,
                serde_json::to_vec(&RequestErrors {
                    errors: &response.errors,
                }),
            )
        } else {
            (200, serde_json::to_vec(&response))
        };
        Self {
            status,
            body: body.unwrap_or_else(|e| {
                crate::error::log_internal(&e);
                br#"{"errors":[{"message":"Internal server error","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}"#.to_vec()
            }),
        }
    }
}

/// A request error's body: only `errors`.
#[derive(serde::Serialize)]
struct RequestErrors<'a> {
    errors: &'a [async_graphql::ServerError],
}

/// Runs a keyed mutation once per key (see the module's documentation).
/// Aborting this task (the client's `complete`, the socket closing) stops
/// only the messages: the run itself is detached in `execute_once`.
pub fn spawn_keyed(gateway: &Gateway, admitted: Admitted, ends: Ends) -> AbortHandle {
    let gateway = gateway.clone();
    tokio::spawn(async move {
        let (message, is_error) = match gateway.execute_once(admitted, Rendered::of).await {
            Once::Ran(rendered) => result_or_error(&ends, &rendered.body, false),
            Once::Replayed(stored) => result_or_error(&ends, &stored.body, true),
            Once::Refused(error) => {
                let errors = [coded_error(error.code(), error.client_message())];
                (error_message(&ends, &errors), true)
            }
        };
        if !ends.is_live() {
            return;
        }
        if is_error {
            ends.release();
            let _ = ends.out.send(message).await;
            return;
        }
        if ends.out.send(message).await.is_err() {
            return;
        }
        ends.release();
        let _ = ends
            .out
            .send(ServerMessage::Complete { id: &ends.id }.encode())
            .await;
    })
    .abort_handle()
}

/// The message for a kept body: a result (`next`, or legacy `data`),
/// marked as replayed when it is one, or an `error` for a request error
/// (then true).
fn result_or_error(ends: &Ends, body: &[u8], replayed: bool) -> (Message, bool) {
    #[derive(serde::Deserialize)]
    struct Shape {
        data: Option<serde::de::IgnoredAny>,
        #[serde(default)]
        errors: Vec<async_graphql::ServerError>,
    }
    match serde_json::from_slice::<Shape>(body) {
        Ok(Shape { data: None, errors }) if !errors.is_empty() => {
            (error_message(ends, &errors), true)
        }
        _ => {
            let payload = if replayed {
                mark_replayed(body)
            } else {
                body.to_vec()
            };
            let kind = match ends.protocol {
                Protocol::TransportWs => "next",
                Protocol::Legacy => "data",
            };
            let id = serde_json::Value::String(ends.id.clone()).to_string();
            let mut text = format!(r#"{{"type":"{kind}","id":{id},"payload":"#).into_bytes();
            text.extend_from_slice(&payload);
            text.push(b'}');
            match String::from_utf8(text) {
                Ok(text) => (Message::Text(text.into()), false),
                Err(_) => {
                    let errors = [coded_error(
                        ErrorCode::InternalServerError,
                        "Internal server error",
                    )];
                    (error_message(ends, &errors), true)
                }
            }
        }
    }
}

fn error_message(ends: &Ends, errors: &[async_graphql::ServerError]) -> Message {
    ServerMessage::Error {
        id: Some(&ends.id),
        payload: ErrorPayload::for_operation(ends.protocol, errors),
    }
    .encode()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ends(live: &Live, id: &str) -> (Ends, mpsc::UnboundedReceiver<Done>) {
        let flag = Arc::new(AtomicBool::new(true));
        live.lock().unwrap().insert(id.into(), flag.clone());
        let (out, _) = mpsc::channel(1);
        let (done, ended) = mpsc::unbounded_channel();
        let ends = Ends {
            protocol: Protocol::TransportWs,
            id: id.into(),
            generation: 1,
            live: live.clone(),
            flag,
            out,
            done,
        };
        (ends, ended)
    }

    #[test]
    fn releasing_frees_the_id_and_silences_the_operation() {
        let live = Live::default();
        let (first, mut ended) = ends(&live, "1");
        assert!(first.is_live());
        first.release();
        assert!(!first.is_live());
        assert!(live.lock().unwrap().is_empty());
        assert_eq!(ended.try_recv().map(|d| d.id).ok().as_deref(), Some("1"));
    }

    #[test]
    fn a_late_release_leaves_the_ids_next_operation_alone() {
        let live = Live::default();
        let (old, _) = ends(&live, "1");
        // The client completed "1" (entry removed, flag cleared) and
        // subscribed with "1" again before the old operation ended.
        if let Some(flag) = live.lock().unwrap().remove("1") {
            flag.store(false, Ordering::Release);
        }
        let (new, _) = ends(&live, "1");
        assert!(!old.is_live());
        old.release();
        assert!(new.is_live(), "the new operation still sends");
        assert!(live.lock().unwrap().contains_key("1"));
    }
}
