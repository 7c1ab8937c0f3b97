//! The messages of the two GraphQL-over-WebSocket subprotocols, as typed
//! serde enums, and their close codes as named constants:
//!
//! - `graphql-transport-ws` (the `graphql-ws` library's protocol,
//!   <https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md>);
//! - legacy `graphql-ws` (subscriptions-transport-ws): `start`/`stop`,
//!   `data`, `ka` keep-alives, `connection_error`.
//!
//! Parsing is per protocol: a legacy message type on a
//! `graphql-transport-ws` socket is as invalid as an unknown one.

use async_graphql::{Response as GqlResponse, ServerError};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::error::ErrorCode;

/// Close codes (the `graphql-transport-ws` protocol's, and RFC 6455's).
pub mod close {
    /// The client closed normally (legacy `connection_terminate`).
    pub const NORMAL: u16 = 1000;
    /// A server error (legacy `connection_error`).
    pub const INTERNAL_ERROR: u16 = 1011;
    /// The server is shutting down: reconnect elsewhere.
    pub const SERVICE_RESTART: u16 = 1012;
    /// A message that is not valid in the protocol.
    pub const INVALID_MESSAGE: u16 = 4400;
    /// `subscribe` before `connection_ack`.
    pub const UNAUTHORIZED: u16 = 4401;
    /// `connection_init` refused, or the access token expired.
    pub const FORBIDDEN: u16 = 4403;
    /// No supported subprotocol was offered.
    pub const SUBPROTOCOL_NOT_ACCEPTABLE: u16 = 4406;
    /// No `connection_init` within `WS_INIT_TIMEOUT_SECS`.
    pub const INIT_TIMEOUT: u16 = 4408;
    /// An operation id that is already running.
    pub const SUBSCRIBER_EXISTS: u16 = 4409;
    /// A second `connection_init`, or too many sockets of one user.
    pub const TOO_MANY_REQUESTS: u16 = 4429;
}

/// The two subprotocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `graphql-transport-ws`.
    TransportWs,
    /// Legacy `graphql-ws` (subscriptions-transport-ws).
    Legacy,
}

impl Protocol {
    /// The subprotocol's name, as negotiated.
    pub fn name(self) -> &'static str {
        match self {
            Self::TransportWs => "graphql-transport-ws",
            Self::Legacy => "graphql-ws",
        }
    }

    /// The protocol chosen from the offered subprotocols: the modern one
    /// when both are offered.
    pub fn choose<'a>(offered: impl IntoIterator<Item = &'a str> + Clone) -> Option<Self> {
        if offered
            .clone()
            .into_iter()
            .any(|p| p == "graphql-transport-ws")
        {
            Some(Self::TransportWs)
        } else if offered.into_iter().any(|p| p == "graphql-ws") {
            Some(Self::Legacy)
        } else {
            None
        }
    }
}

/// An operation id: a non-empty string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OperationId(pub String);

impl<'de> Deserialize<'de> for OperationId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let id = String::deserialize(deserializer)?;
        if id.is_empty() {
            return Err(serde::de::Error::custom("id must be a non-empty string"));
        }
        Ok(Self(id))
    }
}

/// A client message of `graphql-transport-ws`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum TransportWsMessage {
    ConnectionInit {
        #[serde(default)]
        payload: Option<Value>,
    },
    Ping {
        #[serde(default)]
        payload: Option<Value>,
    },
    Pong {
        #[serde(default)]
        #[allow(dead_code)]
        payload: Option<Value>,
    },
    Subscribe {
        id: OperationId,
        payload: Value,
    },
    Complete {
        id: OperationId,
    },
}

/// A client message of the legacy `graphql-ws` protocol.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum LegacyMessage {
    ConnectionInit {
        #[serde(default)]
        payload: Option<Value>,
    },
    Start {
        id: OperationId,
        payload: Value,
    },
    Stop {
        id: OperationId,
    },
    ConnectionTerminate,
}

/// What a client asked for, in either protocol.
#[derive(Debug)]
pub enum ClientMessage {
    /// `connection_init`, with its payload (credentials).
    Init(Option<Value>),
    /// `ping` (answered with `pong` and the same payload).
    Ping(Option<Value>),
    /// `pong`.
    Pong,
    /// `subscribe` / legacy `start`: run an operation.
    Subscribe {
        /// The operation id.
        id: OperationId,
        /// The GraphQL request parameters.
        payload: Value,
    },
    /// `complete` / legacy `stop`: stop an operation.
    Complete(OperationId),
    /// Legacy `connection_terminate`.
    Terminate,
}

impl ClientMessage {
    /// Parses a text message of `protocol`; the error says what is wrong.
    pub fn parse(protocol: Protocol, raw: &str) -> Result<Self, String> {
        let error = |e: serde_json::Error| e.to_string();
        Ok(match protocol {
            Protocol::TransportWs => match serde_json::from_str(raw).map_err(error)? {
                TransportWsMessage::ConnectionInit { payload } => Self::Init(payload),
                TransportWsMessage::Ping { payload } => Self::Ping(payload),
                TransportWsMessage::Pong { .. } => Self::Pong,
                TransportWsMessage::Subscribe { id, payload } => Self::Subscribe { id, payload },
                TransportWsMessage::Complete { id } => Self::Complete(id),
            },
            Protocol::Legacy => match serde_json::from_str(raw).map_err(error)? {
                LegacyMessage::ConnectionInit { payload } => Self::Init(payload),
                LegacyMessage::Start { id, payload } => Self::Subscribe { id, payload },
                LegacyMessage::Stop { id } => Self::Complete(id),
                LegacyMessage::ConnectionTerminate => Self::Terminate,
            },
        })
    }
}

/// The payload of an `error` message.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum ErrorPayload<'a> {
    /// `graphql-transport-ws`: the errors.
    Errors(&'a [ServerError]),
    /// Legacy: the first message beside the errors.
    Legacy {
        /// The first error's message.
        message: &'a str,
        /// The errors.
        errors: &'a [ServerError],
    },
    /// Legacy: a protocol problem, no operation behind it.
    Reason {
        /// What is wrong.
        message: &'a str,
    },
}

impl<'a> ErrorPayload<'a> {
    /// The payload of an operation's `error` message in `protocol`.
    pub fn for_operation(protocol: Protocol, errors: &'a [ServerError]) -> Self {
        match protocol {
            Protocol::TransportWs => Self::Errors(errors),
            Protocol::Legacy => Self::Legacy {
                message: errors.first().map_or("error", |e| e.message.as_str()),
                errors,
            },
        }
    }
}

/// A server message, in either protocol.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage<'a> {
    /// `connection_init` accepted.
    ConnectionAck,
    /// Legacy: `connection_init` refused.
    ConnectionError {
        /// Why.
        payload: ErrorPayload<'a>,
    },
    /// Legacy keep-alive.
    Ka,
    /// `graphql-transport-ws` keep-alive.
    Ping,
    /// The answer to a client's `ping`.
    Pong {
        /// The ping's payload, echoed.
        #[serde(skip_serializing_if = "Option::is_none")]
        payload: Option<Value>,
    },
    /// A result (`graphql-transport-ws`).
    Next {
        /// The operation.
        id: &'a str,
        /// The result.
        payload: &'a GqlResponse,
    },
    /// A result (legacy).
    Data {
        /// The operation.
        id: &'a str,
        /// The result.
        payload: &'a GqlResponse,
    },
    /// An operation failed before it ran (or a legacy protocol problem).
    Error {
        /// The operation, when there is one.
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<&'a str>,
        /// The errors.
        payload: ErrorPayload<'a>,
    },
    /// The operation ended.
    Complete {
        /// The operation.
        id: &'a str,
    },
}

/// The message that carries a result in `protocol`.
pub fn result_message<'a>(
    protocol: Protocol,
    id: &'a str,
    payload: &'a GqlResponse,
) -> ServerMessage<'a> {
    match protocol {
        Protocol::TransportWs => ServerMessage::Next { id, payload },
        Protocol::Legacy => ServerMessage::Data { id, payload },
    }
}

impl ServerMessage<'_> {
    /// The message as a text frame, written straight to JSON: a
    /// subscription event is written once per subscriber, and a
    /// `serde_json::Value` tree first would double its allocations (and its
    /// sorted maps would lose the selection order of the payload).
    pub fn encode(&self) -> Message {
        match serde_json::to_string(self) {
            Ok(raw) => Message::Text(Utf8Bytes::from(raw)),
            Err(e) => {
                // Plain structs and responses serialise; should one ever
                // not, the client still learns that something failed.
                crate::error::log_internal(&e);
                Message::Text(Utf8Bytes::from_static(
                    r#"{"type":"error","payload":[{"message":"Internal server error","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}"#,
                ))
            }
        }
    }
}

/// One error with `code` (and `extensions.limit` for a document limit).
pub fn coded_error(code: ErrorCode, message: impl Into<String>) -> ServerError {
    let mut error = ServerError::new(message, None);
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", code.as_str());
    error
}

/// The longest close reason: a close frame's payload is at most 125 bytes
/// (RFC 6455, 5.5), two of them the code.
const MAX_REASON: usize = 123;

/// A close frame; a longer reason is cut at a character boundary so the
/// frame stays valid.
pub fn close_frame(code: u16, reason: &str) -> Message {
    let mut end = reason.len().min(MAX_REASON);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from(&reason[..end]),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing_is_per_protocol() {
        let start = r#"{"type":"start","id":"1","payload":{"query":"{a}"}}"#;
        assert!(ClientMessage::parse(Protocol::TransportWs, start).is_err());
        assert!(matches!(
            ClientMessage::parse(Protocol::Legacy, start),
            Ok(ClientMessage::Subscribe { .. })
        ));
        let subscribe = r#"{"type":"subscribe","id":"1","payload":{"query":"{a}"}}"#;
        assert!(ClientMessage::parse(Protocol::Legacy, subscribe).is_err());
        for bad in [
            "{not json",
            "[1]",
            r#"{"id":"1"}"#,
            r#"{"type":5}"#,
            r#"{"type":"subscribe","id":1,"payload":{}}"#,
            r#"{"type":"subscribe","id":"","payload":{}}"#,
            r#"{"type":"subscribe","payload":{}}"#,
            r#"{"type":"subscribe","id":"1"}"#,
        ] {
            assert!(
                ClientMessage::parse(Protocol::TransportWs, bad).is_err(),
                "{bad}"
            );
        }
        assert!(matches!(
            ClientMessage::parse(
                Protocol::TransportWs,
                r#"{"type":"ping","payload":{"a":1}}"#
            ),
            Ok(ClientMessage::Ping(Some(_)))
        ));
    }

    #[test]
    fn server_messages() {
        let text = |m: ServerMessage<'_>| match m.encode() {
            Message::Text(t) => t.to_string(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            text(ServerMessage::ConnectionAck),
            r#"{"type":"connection_ack"}"#
        );
        assert_eq!(
            text(ServerMessage::Pong { payload: None }),
            r#"{"type":"pong"}"#
        );
        assert_eq!(
            text(ServerMessage::Complete { id: "7" }),
            r#"{"type":"complete","id":"7"}"#
        );
        let errors = [coded_error(ErrorCode::RateLimited, "slow down")];
        assert_eq!(
            text(ServerMessage::Error {
                id: Some("1"),
                payload: ErrorPayload::for_operation(Protocol::Legacy, &errors),
            }),
            r#"{"type":"error","id":"1","payload":{"message":"slow down","errors":[{"message":"slow down","extensions":{"code":"RATE_LIMITED"}}]}}"#
        );
    }

    #[test]
    fn close_reasons_fit_a_control_frame() {
        let long = "é".repeat(100);
        let Message::Close(Some(frame)) = close_frame(close::INVALID_MESSAGE, &long) else {
            panic!("not a close frame");
        };
        assert!(frame.reason.len() <= MAX_REASON);
        assert!(frame.reason.as_str().starts_with("éé"));
    }

    #[test]
    fn protocol_choice() {
        assert_eq!(
            Protocol::choose(["graphql-ws", "graphql-transport-ws"]),
            Some(Protocol::TransportWs)
        );
        assert_eq!(Protocol::choose(["graphql-ws"]), Some(Protocol::Legacy));
        assert_eq!(Protocol::choose(["x"]), None);
    }
}
