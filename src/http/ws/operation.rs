//! One WebSocket operation, run in a task of its own: its results as
//! `next`/`data` messages, a request error as one `error` message, then
//! `complete` — each only while the client still wants the operation.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
};

use async_graphql::Response as GqlResponse;
use axum::extract::ws::Message;
use futures_util::StreamExt;
use tokio::{sync::mpsc, task::AbortHandle};

use super::protocol::{ErrorPayload, Protocol, ServerMessage, result_message};
use crate::{
    error::ErrorCode,
    graphql::admission::{Admitted, Gateway},
};

/// The ids of operations whose messages may still be sent (removed on the
/// client's `complete`, so nothing follows it).
pub type Live = Arc<Mutex<HashSet<String>>>;

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
    /// The socket's outgoing queue.
    pub out: mpsc::Sender<Message>,
    /// Where the end is reported.
    pub done: mpsc::UnboundedSender<Done>,
}

impl Ends {
    fn is_live(&self) -> bool {
        self.live
            .lock()
            .map(|l| l.contains(&self.id))
            .unwrap_or(false)
    }

    /// Frees the id before the client can see the end, so it may reuse
    /// the id as soon as it does.
    fn release(&self) {
        if let Ok(mut l) = self.live.lock() {
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
    let mut stream = gateway.execute_stream(admitted);
    tokio::spawn(async move {
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
    })
    .abort_handle()
}

/// A response from before execution: parse, validation or operation
/// selection failed (no data, and only such codes).
fn is_request_error(response: &GqlResponse) -> bool {
    !response.errors.is_empty()
        && response.data == async_graphql::Value::Null
        && response.errors.iter().all(|e| {
            match e.extensions.as_ref().and_then(|ext| ext.get("code")) {
                None => true,
                Some(async_graphql::Value::String(code)) => {
                    code == ErrorCode::GraphqlParseFailed.as_str()
                        || code == ErrorCode::GraphqlValidationFailed.as_str()
                }
                Some(_) => false,
            }
        })
}
