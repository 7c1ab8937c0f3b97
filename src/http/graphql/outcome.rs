//! How one GraphQL operation's outcome becomes an HTTP answer: status,
//! extra headers and a JSON body written straight from the response (no
//! `serde_json::Value` in between, whose sorted maps would lose the
//! selection order and cost a second tree per response).

use async_graphql::{Response as GqlResponse, ServerError};
use axum::{
    http::{HeaderName, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

use super::negotiate::MediaType;
use crate::{
    error::{ClientError, ErrorBody, ErrorCode},
    graphql::admission::Refusal,
    idempotency::{IdempotencyError, Stored, Transport, replay::mark_replayed},
};

/// The header that marks a replayed response.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// One operation's answer over HTTP: run now, or replayed from its key.
pub enum Answer {
    /// The outcome of running it (or of refusing it).
    Outcome(Outcome),
    /// A stored response.
    Replayed(Stored),
}

impl Answer {
    /// The HTTP response to a single operation, in `media`. A replay is the
    /// stored body byte for byte, with the stored status and media type
    /// when the key was first used over HTTP (else 200 in `media`), and
    /// `Idempotent-Replayed: true`.
    pub fn into_response(self, media: MediaType) -> Response {
        match self {
            Self::Outcome(outcome) => outcome.into_response(media),
            Self::Replayed(stored) => {
                let (status, content_type) = match stored.transport {
                    Transport::Http | Transport::Rest => (
                        StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK),
                        HeaderValue::from_str(&stored.media_type)
                            .unwrap_or_else(|_| media.content_type()),
                    ),
                    Transport::Ws => (StatusCode::OK, media.content_type()),
                };
                let mut response = (status, stored.body).into_response();
                let headers = response.headers_mut();
                headers.insert(header::CONTENT_TYPE, content_type);
                headers.insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
                response
            }
        }
    }

    /// The body as one element of a batch: a replay carries
    /// `extensions.idempotentReplayed: true`.
    pub fn into_batch_element(self) -> Vec<u8> {
        match self {
            Self::Outcome(outcome) => outcome.body,
            Self::Replayed(stored) => mark_replayed(&stored.body),
        }
    }
}

/// The body of a request error: only `errors`, no `data`.
#[derive(Serialize)]
struct RequestErrors<'a> {
    errors: &'a [ServerError],
}

/// What is sent when a body cannot be serialised (it never should be).
const UNSERIALISABLE: &[u8] =
    br#"{"errors":[{"message":"Internal server error","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}"#;

/// The result of one operation: status, extra headers and the JSON body.
pub struct Outcome {
    /// The status.
    pub status: StatusCode,
    /// Headers beside `Content-Type`.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The JSON body.
    pub body: Vec<u8>,
}

impl Outcome {
    /// One error with `code`.
    pub fn error(status: StatusCode, code: ErrorCode, message: &str) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: ErrorBody::new(code, message).to_json().into_bytes(),
        }
    }

    /// A request error (nothing executed): 400 under the GraphQL response
    /// media type, 200 under legacy JSON.
    fn request_error(media: MediaType, body: Vec<u8>) -> Self {
        let status = match media {
            MediaType::GraphqlResponseJson => StatusCode::BAD_REQUEST,
            MediaType::Json => StatusCode::OK,
        };
        Self {
            status,
            headers: Vec::new(),
            body,
        }
    }

    /// A request the admission pipeline refused.
    pub fn refusal(refusal: &Refusal, media: MediaType) -> Self {
        let body = refusal.with_body(|b| b.to_json().into_bytes());
        match refusal {
            Refusal::Malformed(_) | Refusal::InvalidIdempotencyKey(_) => Self {
                status: StatusCode::BAD_REQUEST,
                headers: Vec::new(),
                body,
            },
            // APQ misses are HTTP 200, never cached.
            Refusal::PersistedQueryNotSupported | Refusal::PersistedQueryNotFound => Self {
                status: StatusCode::OK,
                headers: vec![(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("private, no-cache, must-revalidate"),
                )],
                body,
            },
            Refusal::MutationOverGet => Self {
                status: StatusCode::METHOD_NOT_ALLOWED,
                headers: vec![(header::ALLOW, HeaderValue::from_static("POST"))],
                body,
            },
            Refusal::Limit(_) | Refusal::SubscriptionOverHttp => Self::request_error(media, body),
        }
    }

    /// An executed operation (`executed`), or a request error the library
    /// found (parse, validation, operation selection).
    pub fn response(response: &GqlResponse, executed: bool, media: MediaType) -> Self {
        let retry_after = retry_after(response);
        let mut outcome = if executed {
            Self {
                status: StatusCode::OK,
                headers: Vec::new(),
                body: to_json(response),
            }
        } else {
            // Operation selection errors come from the library without a code.
            let mut errors = response.errors.clone();
            for e in &mut errors {
                let ext = e.extensions.get_or_insert_with(Default::default);
                if ext.get("code").is_none() {
                    ext.set("code", ErrorCode::GraphqlValidationFailed.as_str());
                }
            }
            Self::request_error(media, to_json(&RequestErrors { errors: &errors }))
        };
        if let Some(secs) = retry_after {
            if !executed && media == MediaType::GraphqlResponseJson {
                outcome.status = StatusCode::TOO_MANY_REQUESTS;
            }
            if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
                outcome.headers.push((header::RETRY_AFTER, value));
            }
        }
        outcome
    }

    /// A refused idempotency key (reused, in use, or the store failed).
    pub fn idempotency(error: &IdempotencyError) -> Self {
        Self::error(error.status(), error.code(), &error.client_message())
    }

    /// The HTTP response, in `media`.
    pub fn into_response(self, media: MediaType) -> Response {
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, media.content_type())],
            self.body,
        )
            .into_response();
        response.headers_mut().extend(self.headers);
        response
    }
}

/// `value` as JSON bytes, written straight from the value.
fn to_json(value: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_else(|e| {
        crate::error::log_internal(&e);
        UNSERIALISABLE.to_vec()
    })
}

/// The `retryAfter` of a `RATE_LIMITED` error, for the `Retry-After` header.
fn retry_after(response: &GqlResponse) -> Option<u64> {
    response.errors.iter().find_map(|e| {
        let ext = e.extensions.as_ref()?;
        match ext.get("code")? {
            async_graphql::Value::String(c) if c == ErrorCode::RateLimited.as_str() => {}
            _ => return None,
        }
        match ext.get("retryAfter")? {
            async_graphql::Value::Number(n) => n.as_u64(),
            _ => None,
        }
    })
}
