//! GraphQL over HTTP (`POST` and `GET /graphql`), following the GraphQL
//! over HTTP spec as the `graphql-http` audit checks it: content
//! negotiation (`negotiate`), 4xx for malformed requests, request errors
//! (parse, validation) as 400 without `data` under the new media type and as
//! 200 under the legacy one (Apollo Client reports a non-2xx legacy JSON
//! answer as a network error and would hide `extensions.code`), and 405 for
//! a mutation sent with `GET`. Browsers asking for HTML get GraphiQL.
//!
//! What a request may do is decided by the one admission pipeline
//! ([`crate::graphql::admission`]); this module reads the HTTP request into
//! it and renders its outcome (`outcome`). A mutation's `Idempotency-Key`
//! header goes to the pipeline too, which claims it and keeps the rendered
//! response (status, media type, body) or answers the stored one.
//!
//! A JSON array of up to `GRAPHQL_BATCH_MAX` operations (Apollo's
//! `BatchHttpLink`) runs them in order, each with its own key in
//! `extensions.idempotencyKey`; a header key on an array is refused.

pub mod negotiate;
mod outcome;

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value};

use super::{
    body,
    client::{CSRF_MESSAGE, client_addr, is_json_content_type, preflighted},
    graphiql,
};
use crate::{
    error::ErrorCode,
    graphql::{
        ClientAddr,
        admission::{Executed, Keepable, Once, Transport},
    },
    state::AppState,
};
pub use outcome::IDEMPOTENT_REPLAYED;
use {
    negotiate::{MediaType, Negotiated, negotiate},
    outcome::{Answer, Outcome},
};

/// The request header carrying a mutation's idempotency key.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

fn not_acceptable() -> Response {
    (
        StatusCode::NOT_ACCEPTABLE,
        "Supported media types: application/graphql-response+json, application/json",
    )
        .into_response()
}

/// A response for a request that is not a well-formed GraphQL request.
fn malformed(status: StatusCode, media: MediaType, message: &str) -> Response {
    Outcome::error(status, ErrorCode::BadUserInput, message).into_response(media)
}

/// `GET /graphql`: a WebSocket upgrade, the GraphiQL page, or a query.
pub async fn get(State(state): State<AppState>, request: axum::extract::Request) -> Response {
    let (mut parts, _) = request.into_parts();
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let client = client_addr(&parts.headers, peer, state.config.trusted_proxy_hops);
    let is_upgrade = parts
        .headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if is_upgrade {
        use axum::extract::FromRequestParts;
        return match axum::extract::ws::WebSocketUpgrade::from_request_parts(&mut parts, &state)
            .await
        {
            Ok(ws) => super::ws::upgrade(state, ws, &parts.headers, client),
            Err(rejection) => rejection.into_response(),
        };
    }
    let headers = parts.headers;
    let query = parts.uri.query().map(str::to_owned);
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let media = match negotiate(accept) {
        Negotiated::Html if state.config.graphiql => return graphiql::page(),
        Negotiated::Html | Negotiated::NotAcceptable => return not_acceptable(),
        Negotiated::Graphql(media) => media,
    };
    if !preflighted(&headers) {
        return Outcome::error(StatusCode::BAD_REQUEST, ErrorCode::CsrfError, CSRF_MESSAGE)
            .into_response(media);
    }
    let params: Vec<(String, String)> =
        match serde_urlencoded::from_str(query.as_deref().unwrap_or_default()) {
            Ok(params) => params,
            Err(_) => return malformed(StatusCode::BAD_REQUEST, media, "malformed query string"),
        };
    let mut body = Map::new();
    for (key, value) in params {
        // An empty parameter is the same as an absent one.
        if value.is_empty() {
            continue;
        }
        let value = match key.as_str() {
            "variables" | "extensions" => match serde_json::from_str::<Value>(&value) {
                Ok(v) => v,
                Err(_) => {
                    return malformed(
                        StatusCode::BAD_REQUEST,
                        media,
                        &format!("`{key}` is not valid JSON"),
                    );
                }
            },
            _ => Value::String(value),
        };
        body.insert(key, value);
    }
    let call = Call {
        state: &state,
        headers: &headers,
        transport: Transport::HttpGet,
        media,
        client,
    };
    call.one(Value::Object(body), None)
        .await
        .into_response(media)
}

/// `POST /graphql`. The body is read only once the answer's media type
/// is known, so an oversized one is refused in it (see [`body`]).
pub async fn post(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: axum::extract::Request,
) -> Response {
    let accept = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let media = match negotiate(accept) {
        Negotiated::Graphql(media) => media,
        // A POST is never a page view.
        Negotiated::Html | Negotiated::NotAcceptable => return not_acceptable(),
    };
    let limit = state.config.max_body_bytes;
    let (parts, read) = body::read(request, limit).await;
    let body = match read {
        Ok(body) => body,
        Err(body::Refusal::TooLarge) => {
            let mut outcome = Outcome::error(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::PayloadTooLarge,
                &format!("the request body exceeds {limit} bytes"),
            );
            outcome.headers.push(body::connection_close());
            return outcome.into_response(media);
        }
        Err(body::Refusal::Unreadable(e)) => {
            tracing::debug!(error = %e, "request body unreadable");
            return malformed(
                StatusCode::BAD_REQUEST,
                media,
                "the request body could not be read",
            );
        }
    };
    let headers = parts.headers;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    // Only JSON is accepted, which browsers cannot send cross-site without
    // a CORS preflight: that is the CSRF protection for POST.
    if !is_json_content_type(content_type) {
        return malformed(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            media,
            "send the request as Content-Type: application/json",
        );
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return malformed(StatusCode::BAD_REQUEST, media, "the body is not valid JSON");
    };
    let call = Call {
        state: &state,
        headers: &headers,
        transport: Transport::HttpPost,
        media,
        client: client_addr(&headers, Some(peer), state.config.trusted_proxy_hops),
    };
    let header_key = match headers.get(IDEMPOTENCY_KEY).map(|v| v.to_str()) {
        None => None,
        Some(Ok(key)) => Some(key),
        Some(Err(_)) => {
            return malformed(
                StatusCode::BAD_REQUEST,
                media,
                "Idempotency-Key: the idempotency key must be printable ASCII characters",
            );
        }
    };
    match body {
        Value::Array(_) if header_key.is_some() => malformed(
            StatusCode::BAD_REQUEST,
            media,
            "an Idempotency-Key header cannot key a batch: give each operation its own \
             `extensions.idempotencyKey`",
        ),
        Value::Array(items) => call.batch(items).await,
        single => call.one(single, header_key).await.into_response(media),
    }
}

/// An HTTP rendering, as a key keeps it.
struct Rendered {
    outcome: Outcome,
    media: MediaType,
}

impl Keepable for Rendered {
    fn kept(&self) -> (u16, &str, &[u8]) {
        (
            self.outcome.status.as_u16(),
            self.media.as_str(),
            &self.outcome.body,
        )
    }
}

/// One HTTP call's context.
struct Call<'a> {
    state: &'a AppState,
    headers: &'a HeaderMap,
    transport: Transport,
    media: MediaType,
    client: ClientAddr,
}

impl Call<'_> {
    /// A JSON-array batch (only when `GRAPHQL_BATCH_MAX` allows it).
    async fn batch(&self, items: Vec<Value>) -> Response {
        let max = self.state.config.graphql.batch_max;
        if max == 0 {
            return malformed(
                StatusCode::BAD_REQUEST,
                self.media,
                "batched requests are not enabled",
            );
        }
        if items.is_empty() || items.len() > max {
            return malformed(
                StatusCode::BAD_REQUEST,
                self.media,
                &format!("a batch holds 1 to {max} operations"),
            );
        }
        // Each result is already JSON: the array is written around them.
        let mut body = Vec::from(*b"[");
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(&self.one(item, None).await.into_batch_element());
        }
        body.push(b']');
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, self.media.content_type())],
            body,
        )
            .into_response()
    }

    /// One operation, from its JSON parameters (and its `Idempotency-Key`
    /// header) to its answer.
    async fn one(&self, params: Value, header_key: Option<&str>) -> Answer {
        let gateway = &self.state.gateway;
        let authorization = self
            .headers
            .get(header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap_or_default());
        let credentials = gateway.credentials(authorization);
        let admitted = match gateway
            .admit(
                params,
                self.transport,
                (credentials, self.client),
                header_key,
            )
            .await
        {
            Ok(admitted) => admitted,
            Err(refusal) => return Answer::Outcome(Outcome::refusal(&refusal, self.media)),
        };
        let media = self.media;
        let render = move |executed| Rendered {
            outcome: match executed {
                Executed::TimedOut => Outcome::error(
                    StatusCode::OK,
                    ErrorCode::Timeout,
                    "the operation took too long and was stopped",
                ),
                Executed::Response { response, executed } => {
                    Outcome::response(&response, executed, media)
                }
            },
            media,
        };
        match gateway.execute_once(admitted, render).await {
            Once::Ran(rendered) => Answer::Outcome(rendered.outcome),
            Once::Replayed(stored) => Answer::Replayed(stored),
            Once::Refused(error) => Answer::Outcome(Outcome::idempotency(&error)),
        }
    }
}
