//! A socket's operation that follows a shared run
//! ([`crate::graphql::shared`]): the run's results, serialised once, each
//! wrapped in this socket's own message (`next` or legacy `data`, with its
//! operation id) — the same bytes a private operation would send.
//!
//! A follower that falls behind the run's buffer ends as a private
//! subscription that falls behind the feed does: a result with the
//! `SLOW_CONSUMER` error and the cursor of the last event it was handed (or
//! of its start), then `complete`.

use std::sync::Arc;

use async_graphql::{PathSegment, Response as GqlResponse, ServerError};
use axum::extract::ws::{Message, Utf8Bytes};
use chrono::Utc;
use tokio::{sync::broadcast::error::RecvError, task::AbortHandle};
use uuid::Uuid;

use super::{
    operation::{self, Ends},
    protocol::{ErrorPayload, Protocol, ServerMessage, result_message},
};
use crate::{
    error::GqlResultExt,
    events::{EventError, cursor},
    graphql::{
        admission::Admitted,
        shared::{Item, Member, Output, Ready},
        shared_key::Shareable,
    },
    state::AppState,
};

/// Joins (or starts) the run of `share` for `user` and follows it until
/// it ends or is aborted.
pub fn spawn(
    state: &Arc<AppState>,
    share: Shareable,
    admitted: Admitted,
    user: Uuid,
    ends: Ends,
) -> AbortHandle {
    let Shareable { key, root, pos } = share;
    let name = key.operation_name().map(str::to_owned);
    let (member, admitted) = state.shared.join(key, &state.gateway, admitted);
    let state = state.clone();
    tokio::spawn(async move {
        // Boxed: what getting ready holds (a pooled connection's future) is
        // large, and inline it would stay reserved in the task all its life.
        let ready = Box::pin(member.ready(&state.schema, &state.events, user)).await;
        let start = match ready {
            Ready::Start(start) => start,
            Ready::Refused(error) => {
                let code = error
                    .extensions
                    .as_ref()
                    .and_then(|e| e.get("code"))
                    .map(|c| c.to_string().trim_matches('"').to_owned());
                state.metrics.graphql_operation(
                    "subscription",
                    name.as_deref(),
                    code.as_deref(),
                    None,
                );
                drop(member);
                let response = GqlResponse::from_errors(vec![error]);
                if !ends.is_live() {
                    return;
                }
                if ends
                    .out
                    .send(result_message(ends.protocol, &ends.id, &response).encode())
                    .await
                    .is_ok()
                {
                    ends.release();
                    let message = ServerMessage::Complete { id: &ends.id }.encode();
                    let _ = ends.out.send(message).await;
                }
                return;
            }
            Ready::Private => {
                drop(member);
                if let Some(admitted) = admitted {
                    Box::pin(operation::run(state.gateway.execute_stream(admitted), ends)).await;
                }
                return;
            }
        };
        drop(admitted);
        if !member.is_first() {
            // The run counted its first subscriber's operation.
            state
                .metrics
                .graphql_operation("subscription", name.as_deref(), None, None);
        }
        let _active = Active::new(&state.metrics);
        follow(member, start, (&root, pos), &ends, &state.metrics).await;
    })
    .abort_handle()
}

/// Counts the follower in `todoql.subscriptions.active` while it lives.
struct Active(crate::telemetry::Metrics);

impl Active {
    fn new(metrics: &crate::telemetry::Metrics) -> Self {
        metrics.subscription(1);
        Self(metrics.clone())
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        self.0.subscription(-1);
    }
}

/// Sends the run's results after `start` until the run ends, this
/// follower falls behind, or the client stops the operation.
async fn follow(
    mut member: Member,
    start: Option<i64>,
    root: (&str, async_graphql::Pos),
    ends: &Ends,
    metrics: &crate::telemetry::Metrics,
) {
    let mut last = start;
    let prefix = frame_prefix(ends);
    loop {
        match member.results.recv().await {
            Ok(Item::Results(batch)) => {
                for Output { event, payload } in batch.iter() {
                    if let (Some((seq, _)), Some(start)) = (event, start)
                        && *seq <= start
                    {
                        // Committed before this follower subscribed.
                        continue;
                    }
                    if !ends.is_live() {
                        return;
                    }
                    if ends.out.send(frame_with(&prefix, payload)).await.is_err() {
                        return;
                    }
                    if let Some((seq, at)) = event {
                        last = Some(*seq);
                        metrics.event_delivered((Utc::now() - *at).to_std().ok());
                    }
                }
            }
            Ok(Item::RequestError(errors)) => {
                if !ends.is_live() {
                    return;
                }
                let message = ServerMessage::Error {
                    id: Some(&ends.id),
                    payload: ErrorPayload::for_operation(ends.protocol, &errors),
                }
                .encode();
                ends.release();
                let _ = ends.out.send(message).await;
                return;
            }
            Ok(Item::End) | Err(RecvError::Closed) => break,
            Err(RecvError::Lagged(_)) => {
                drop(member);
                if !ends.is_live() {
                    return;
                }
                let response = GqlResponse::from_errors(vec![slow_consumer(last, root)]);
                let message = result_message(ends.protocol, &ends.id, &response).encode();
                if ends.out.send(message).await.is_err() {
                    return;
                }
                break;
            }
        }
    }
    let still_live = ends.is_live();
    ends.release();
    if still_live {
        let message = ServerMessage::Complete { id: &ends.id }.encode();
        let _ = ends.out.send(message).await;
    }
}

/// `{"type":"next","id":…,"payload":…}` (legacy: `data`) around a payload
/// serialised once for the run: the bytes `ServerMessage::encode` would
/// write for the same response.
#[cfg(test)]
fn frame(ends: &Ends, payload: &str) -> Message {
    frame_with(&frame_prefix(ends), payload)
}

/// What comes before the payload in each of this operation's messages
/// (`{"type":"next","id":"1","payload":`): built once per follower, not
/// once per delivery.
fn frame_prefix(ends: &Ends) -> String {
    let kind = match ends.protocol {
        Protocol::TransportWs => "next",
        Protocol::Legacy => "data",
    };
    let id = serde_json::Value::String(ends.id.clone()).to_string();
    format!(r#"{{"type":"{kind}","id":{id},"payload":"#)
}

/// The message of `payload` after `prefix` ([`frame_prefix`]).
fn frame_with(prefix: &str, payload: &str) -> Message {
    let mut text = String::with_capacity(prefix.len() + payload.len() + 1);
    text.push_str(prefix);
    text.push_str(payload);
    text.push('}');
    Message::Text(Utf8Bytes::from(text))
}

/// The error a private subscription gets when it falls behind, at its root
/// field: resume after `last` (the last event handed over, or the start).
fn slow_consumer(last: Option<i64>, (root, pos): (&str, async_graphql::Pos)) -> ServerError {
    let error = EventError::SlowConsumer {
        cursor: cursor::encode(last.unwrap_or(0)),
    };
    let mut error = match Err::<(), _>(error).gql() {
        Err(e) => e.into_server_error(pos),
        Ok(()) => ServerError::new("the subscriber fell behind", Some(pos)),
    };
    error.path = vec![PathSegment::Field(root.to_owned())];
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_payload_is_framed_as_a_private_result() {
        let response =
            GqlResponse::new(async_graphql::value!({ "todoEvents": { "kind": "CREATED" } }));
        let payload = serde_json::to_string(&response).unwrap();
        for protocol in [Protocol::TransportWs, Protocol::Legacy] {
            let (out, _rx) = tokio::sync::mpsc::channel(1);
            let (done, _) = tokio::sync::mpsc::unbounded_channel();
            let ends = Ends {
                protocol,
                id: "a\"1".into(),
                generation: 1,
                live: Arc::default(),
                flag: Arc::new(true.into()),
                out,
                done,
            };
            let private = result_message(protocol, &ends.id, &response).encode();
            assert_eq!(frame(&ends, &payload), private, "{protocol:?}");
        }
    }

    #[test]
    fn a_slow_follower_is_told_where_to_resume() {
        let pos = async_graphql::Pos {
            line: 1,
            column: 16,
        };
        let error = slow_consumer(Some(41), ("todoEvents", pos));
        let json = serde_json::to_value(&error).unwrap();
        assert_eq!(json["extensions"]["code"], "SLOW_CONSUMER");
        assert_eq!(json["extensions"]["cursor"], cursor::encode(41));
        assert_eq!(json["path"], serde_json::json!(["todoEvents"]));
        assert_eq!(
            json["locations"],
            serde_json::json!([{ "line": 1, "column": 16 }])
        );
    }
}
