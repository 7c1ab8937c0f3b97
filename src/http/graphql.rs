//! GraphQL over HTTP (`POST` and `GET /graphql`), following the GraphQL
//! over HTTP spec as the `graphql-http` audit checks it: content
//! negotiation between `application/graphql-response+json` and
//! `application/json`, 4xx for malformed requests, request errors (parse,
//! validation) as 400 without `data` under the new media type and as 200
//! under the legacy one (Apollo Client reports a non-2xx legacy JSON answer
//! as a network error and would hide `extensions.code`), and 405 for a
//! mutation sent with `GET`. Browsers asking for HTML get GraphiQL.

use std::net::{IpAddr, SocketAddr};

use async_graphql::{
    Request, ServerError, Variables,
    parser::types::{DocumentOperations, OperationType},
};
use axum::{
    extract::{ConnectInfo, State},
    http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use serde_json::{Map, Value};

use super::{body, graphiql};
use crate::{
    app::AppState,
    auth::{Credentials, token},
    cache::apq,
    error::ErrorCode,
    graphql::{ClientAddr, ExecutionMarker, limits, prepare_request},
};

/// The two response media types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    /// `application/graphql-response+json`: statuses mirror the outcome.
    GraphqlResponseJson,
    /// `application/json`: every well-formed request gets 200.
    Json,
}

impl MediaType {
    fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Self::GraphqlResponseJson => "application/graphql-response+json; charset=utf-8",
            Self::Json => "application/json; charset=utf-8",
        })
    }
}

/// What the `Accept` header asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Negotiated {
    /// A GraphQL response in this media type.
    Graphql(MediaType),
    /// The GraphiQL page (a browser navigating to the endpoint).
    Html,
    /// Nothing we can produce.
    NotAcceptable,
}

/// Picks the highest-priority supported type from `Accept` (absent, empty
/// or `*/*` means `application/json`).
pub fn negotiate(accept: Option<&str>) -> Negotiated {
    let Some(accept) = accept.map(str::trim).filter(|a| !a.is_empty()) else {
        return Negotiated::Graphql(MediaType::Json);
    };
    let mut ranges: Vec<(String, f32)> = accept
        .split(',')
        .filter_map(|range| {
            let mut parts = range.split(';');
            let media = parts.next()?.trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            (!media.is_empty() && q > 0.0).then_some((media, q))
        })
        .collect();
    // Stable: among equal weights the client's order decides.
    ranges.sort_by(|a, b| b.1.total_cmp(&a.1));
    for (media, _) in ranges {
        match media.as_str() {
            "application/graphql-response+json" => {
                return Negotiated::Graphql(MediaType::GraphqlResponseJson);
            }
            "application/json" | "application/*" | "*/*" => {
                return Negotiated::Graphql(MediaType::Json);
            }
            "text/html" => return Negotiated::Html,
            _ => {}
        }
    }
    Negotiated::NotAcceptable
}

/// A response body with one error: `{"errors":[{"message":…,
/// "extensions":{"code":…}}]}` (plus `limit` for a document limit).
#[derive(Serialize)]
struct OneError<'a> {
    errors: [ErrorEntry<'a>; 1],
}

#[derive(Serialize)]
struct ErrorEntry<'a> {
    message: &'a str,
    extensions: ErrorExtensions<'a>,
}

#[derive(Serialize)]
struct ErrorExtensions<'a> {
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<&'a str>,
}

/// The body of a request error: only `errors`, no `data`.
#[derive(Serialize)]
struct RequestErrors<'a> {
    errors: &'a [ServerError],
}

/// What is sent when a body cannot be serialised (it never should be).
const UNSERIALISABLE: &[u8] =
    br#"{"errors":[{"message":"Internal server error","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}"#;

/// `value` as JSON bytes, written straight from the value: no
/// `serde_json::Value` in between, whose sorted maps would lose the
/// selection order (and cost a second tree per response).
fn to_json(value: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_else(|e| {
        crate::error::log_internal(&e);
        UNSERIALISABLE.to_vec()
    })
}

/// The body of one error with `code`.
fn error_body(code: &str, message: &str, limit: Option<&str>) -> Vec<u8> {
    to_json(&OneError {
        errors: [ErrorEntry {
            message,
            extensions: ErrorExtensions { code, limit },
        }],
    })
}

/// A response for a request that is not a well-formed GraphQL request.
fn malformed(status: StatusCode, media: MediaType, message: impl Into<String>) -> Response {
    Outcome::error(status, ErrorCode::BadUserInput.as_str(), message).into_response(media)
}

/// 413 for a body over `MAX_BODY_BYTES`, in the negotiated media type;
/// the connection closes after it (see [`body`]).
fn too_large(media: MediaType, limit: usize) -> Response {
    let mut outcome = Outcome::error(
        StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::PayloadTooLarge.as_str(),
        format!("the request body exceeds {limit} bytes"),
    );
    outcome.headers.push(body::connection_close());
    outcome.into_response(media)
}

fn not_acceptable() -> Response {
    (
        StatusCode::NOT_ACCEPTABLE,
        "Supported media types: application/graphql-response+json, application/json",
    )
        .into_response()
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
        return malformed_with_code(StatusCode::BAD_REQUEST, media, CSRF_MESSAGE, "CSRF_ERROR");
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
                        format!("`{key}` is not valid JSON"),
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
        method: Method::GET,
        media,
        client,
    };
    call.one(Value::Object(body)).await.into_response(media)
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
        Err(body::Refusal::TooLarge) => return too_large(media, limit),
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
        method: Method::POST,
        media,
        client: client_addr(&headers, Some(peer), state.config.trusted_proxy_hops),
    };
    match body {
        Value::Array(items) => call.batch(items).await,
        single => call.one(single).await.into_response(media),
    }
}

const CSRF_MESSAGE: &str = "This operation has been blocked as a potential Cross-Site Request \
    Forgery (CSRF). Please either specify a 'content-type' header (with a type that is not one \
    of application/x-www-form-urlencoded, multipart/form-data, text/plain) or provide a \
    non-empty value for one of the following headers: x-apollo-operation-name, \
    apollo-require-preflight, authorization";

/// Whether a browser would have sent a CORS preflight for this request, so
/// it cannot be a cross-site forgery: a non-simple content type, or a
/// header outside the CORS safelist that clients send on purpose.
pub fn preflighted(headers: &HeaderMap) -> bool {
    let content_type_forces = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .is_some_and(|media| {
            !media.is_empty()
                && !matches!(
                    media.as_str(),
                    "application/x-www-form-urlencoded" | "multipart/form-data" | "text/plain"
                )
        });
    let header_forces = [
        "x-apollo-operation-name",
        "apollo-require-preflight",
        "authorization",
    ]
    .iter()
    .any(|name| headers.get(*name).is_some_and(|v| !v.is_empty()));
    content_type_forces || header_forces
}

/// The client's address: the socket peer, or with `hops` trusted proxies in
/// front, the address the outermost of them saw (from `X-Forwarded-For`).
pub fn client_addr(headers: &HeaderMap, peer: Option<SocketAddr>, hops: usize) -> ClientAddr {
    let peer_ip = peer.map_or(IpAddr::from([0, 0, 0, 0]), |p| p.ip());
    if hops == 0 {
        return ClientAddr(peer_ip);
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    // Each proxy appends the address it received the request from, so of
    // the last `hops` entries (appended by our proxies) the first is the
    // client as the outermost trusted proxy saw it.
    let ip = match forwarded.len().checked_sub(hops) {
        Some(i) => forwarded[i],
        None => forwarded.first().copied().unwrap_or(peer_ip),
    };
    ClientAddr(ip)
}

/// `application/json`, optionally with `charset=utf-8`.
fn is_json_content_type(value: &str) -> bool {
    let mut parts = value.split(';');
    let media = parts.next().unwrap_or_default().trim();
    let charset_ok = parts.all(|p| {
        let p = p.trim().to_ascii_lowercase();
        !p.starts_with("charset=") || matches!(p.as_str(), "charset=utf-8" | "charset=\"utf-8\"")
    });
    media.eq_ignore_ascii_case("application/json") && charset_ok
}

/// Turns the JSON parameters into a GraphQL request, refusing the shapes the
/// spec calls "not a GraphQL request". `query` may be absent only when the
/// request names a persisted query.
pub(crate) fn parse_request(body: Value) -> Result<Request, String> {
    let Value::Object(mut map) = body else {
        return Err("the request must be a JSON object".into());
    };
    let extensions = match map.remove("extensions") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(ext)) => ext,
        Some(_) => return Err("`extensions` must be an object".into()),
    };
    let query = match map.remove("query") {
        Some(Value::String(q)) => q,
        Some(_) => return Err("`query` must be a string".into()),
        None if extensions.contains_key("persistedQuery") => String::new(),
        None => return Err("`query` is required".into()),
    };
    let mut request = Request::new(query);
    match map.remove("operationName") {
        None | Some(Value::Null) => {}
        Some(Value::String(name)) => request = request.operation_name(name),
        Some(_) => return Err("`operationName` must be a string".into()),
    }
    match map.remove("variables") {
        None | Some(Value::Null) => {}
        Some(v @ Value::Object(_)) => request = request.variables(Variables::from_json(v)),
        Some(_) => return Err("`variables` must be an object".into()),
    }
    for (k, v) in extensions {
        if let Ok(v) = async_graphql::Value::from_json(v) {
            request.extensions.insert(k, v);
        }
    }
    Ok(request)
}

/// The caller's credentials from the `Authorization` header.
pub fn credentials(state: &AppState, headers: &HeaderMap) -> Credentials {
    match headers.get(header::AUTHORIZATION) {
        None => Credentials::Anonymous,
        Some(value) => Credentials::Token(
            value
                .to_str()
                .ok()
                .and_then(token::bearer)
                .ok_or_else(|| token::TokenError::Invalid("not a Bearer token".into()))
                .and_then(|t| state.auth.verify_access_token(t)),
        ),
    }
}

/// One HTTP call's context.
struct Call<'a> {
    state: &'a AppState,
    headers: &'a HeaderMap,
    method: Method,
    media: MediaType,
    client: ClientAddr,
}

/// The result of one operation: status, extra headers and the JSON body.
struct Outcome {
    status: StatusCode,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Vec<u8>,
}

impl Outcome {
    fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: error_body(code, &message.into(), None),
        }
    }

    fn malformed(message: impl Into<String>) -> Self {
        Self::error(
            StatusCode::BAD_REQUEST,
            ErrorCode::BadUserInput.as_str(),
            message,
        )
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

    fn into_response(self, media: MediaType) -> Response {
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

/// Apollo's APQ extension, as sent.
struct PersistedQuery {
    hash: String,
}

fn persisted_query(request: &Request) -> Option<Result<PersistedQuery, String>> {
    let pq = request.extensions.get("persistedQuery")?;
    let async_graphql::Value::Object(pq) = pq else {
        return Some(Err("`extensions.persistedQuery` must be an object".into()));
    };
    let version = pq.get("version").and_then(|v| match v {
        async_graphql::Value::Number(n) => n.as_i64(),
        _ => None,
    });
    if version != Some(1) {
        return Some(Err("Unsupported persisted query version".into()));
    }
    match pq.get("sha256Hash") {
        Some(async_graphql::Value::String(hash))
            if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            Some(Ok(PersistedQuery {
                hash: hash.to_ascii_lowercase(),
            }))
        }
        _ => Some(Err("`sha256Hash` must be a hex SHA-256".into())),
    }
}

impl Call<'_> {
    /// A JSON-array batch (only when `GRAPHQL_BATCH_MAX` allows it).
    async fn batch(&self, items: Vec<Value>) -> Response {
        let max = self.state.config.graphql_batch_max;
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
                format!("a batch holds 1 to {max} operations"),
            );
        }
        // Each result is already JSON: the array is written around them.
        let mut body = Vec::from(*b"[");
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(&self.one(item).await.body);
        }
        body.push(b']');
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, self.media.content_type())],
            body,
        )
            .into_response()
    }

    /// One operation, from its JSON parameters to its outcome.
    async fn one(&self, body: Value) -> Outcome {
        let state = self.state;
        let mut request = match parse_request(body) {
            Ok(request) => request,
            Err(message) => return Outcome::malformed(message),
        };
        // Automatic persisted queries: fill in the query from its hash, or
        // check the hash of the query sent to register it.
        let mut register = None;
        if let Some(pq) = persisted_query(&request) {
            let pq = match pq {
                Ok(pq) => pq,
                Err(message) => return Outcome::malformed(message),
            };
            if !state.config.apq {
                return not_found_persisted(
                    "PersistedQueryNotSupported",
                    "PERSISTED_QUERY_NOT_SUPPORTED",
                );
            }
            if request.query.is_empty() {
                match state.persisted.get(&pq.hash).await {
                    Some(query) => request.query = query.to_string(),
                    None => {
                        return not_found_persisted(
                            "PersistedQueryNotFound",
                            ErrorCode::PersistedQueryNotFound.as_str(),
                        );
                    }
                }
            } else if apq::sha256_hex(&request.query) != pq.hash {
                return Outcome::malformed("provided sha does not match query");
            } else {
                register = Some(pq.hash);
            }
        }
        if let Err(limit) = limits::check(&mut request, &state.limits) {
            let body = error_body(
                ErrorCode::GraphqlValidationFailed.as_str(),
                &limit.to_string(),
                Some(limit.name()),
            );
            return Outcome::request_error(self.media, body);
        }
        // Look at the operation before running it: GET may not mutate, and
        // subscriptions need the WebSocket transport.
        let operation_name = request.operation_name.clone();
        let mut operation = None;
        if let Ok(doc) = request.parsed_query() {
            operation = match (&doc.operations, operation_name.as_deref()) {
                (DocumentOperations::Single(op), _) => Some(op.node.ty),
                (DocumentOperations::Multiple(ops), Some(name)) => {
                    ops.get(name).map(|op| op.node.ty)
                }
                (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
                    ops.values().next().map(|op| op.node.ty)
                }
                _ => None,
            };
        }
        match operation {
            Some(OperationType::Mutation) if self.method == Method::GET => {
                let mut outcome = Outcome::error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    ErrorCode::BadUserInput.as_str(),
                    "mutations must be sent with POST",
                );
                outcome
                    .headers
                    .push((header::ALLOW, HeaderValue::from_static("POST")));
                return outcome;
            }
            Some(OperationType::Subscription) => {
                let body = error_body(
                    ErrorCode::GraphqlValidationFailed.as_str(),
                    "subscriptions are served over WebSocket at /graphql",
                    None,
                );
                return Outcome::request_error(self.media, body);
            }
            _ => {}
        }
        let query_text = register.as_ref().map(|_| request.query.clone());
        let marker = ExecutionMarker::default();
        let request = prepare_request(
            request,
            &state.auth,
            credentials(state, self.headers),
            self.client,
            marker.clone(),
        );
        // Queries are bounded in time; a mutation is never cut off half-way.
        let response = if operation == Some(OperationType::Mutation) {
            state.schema.execute(request).await
        } else {
            match tokio::time::timeout(state.config.graphql_timeout, state.schema.execute(request))
                .await
            {
                Ok(response) => response,
                Err(_) => {
                    tracing::warn!("query timed out");
                    return Outcome::error(
                        StatusCode::OK,
                        ErrorCode::Timeout.as_str(),
                        "the operation took too long and was stopped",
                    );
                }
            }
        };
        let executed = marker.executed();
        // Store a registered query only once it validated.
        if let (Some(hash), Some(query), true) = (register, query_text, executed) {
            state.persisted.put(&hash, &query).await;
        }
        let retry_after = response.errors.iter().find_map(|e| {
            let ext = e.extensions.as_ref()?;
            match ext.get("code")? {
                async_graphql::Value::String(c) if c == ErrorCode::RateLimited.as_str() => {}
                _ => return None,
            }
            match ext.get("retryAfter")? {
                async_graphql::Value::Number(n) => n.as_u64(),
                _ => None,
            }
        });
        // Written straight from the response, so objects keep the order of
        // the selection set.
        let body = if executed {
            serde_json::to_vec(&response)
        } else {
            // Operation selection errors come from the library without a code.
            let mut errors = response.errors;
            for e in &mut errors {
                let ext = e.extensions.get_or_insert_with(Default::default);
                if ext.get("code").is_none() {
                    ext.set("code", ErrorCode::GraphqlValidationFailed.as_str());
                }
            }
            serde_json::to_vec(&RequestErrors { errors: &errors })
        };
        let body = match body {
            Ok(body) => body,
            Err(e) => {
                crate::error::log_internal(&e);
                return Outcome::error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorCode::InternalServerError.as_str(),
                    "Internal server error",
                );
            }
        };
        let mut outcome = if executed {
            Outcome {
                status: StatusCode::OK,
                headers: Vec::new(),
                body,
            }
        } else {
            Outcome::request_error(self.media, body)
        };
        if let Some(secs) = retry_after {
            if !executed && self.media == MediaType::GraphqlResponseJson {
                outcome.status = StatusCode::TOO_MANY_REQUESTS;
            }
            if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
                outcome.headers.push((header::RETRY_AFTER, value));
            }
        }
        outcome
    }
}

/// APQ misses are HTTP 200 with an exact message clients match on (urql
/// retries only on `PersistedQueryNotFound`), never cached.
fn not_found_persisted(message: &str, code: &str) -> Outcome {
    let mut outcome = Outcome::error(StatusCode::OK, code, message);
    outcome.headers.push((
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache, must-revalidate"),
    ));
    outcome
}

/// A refusal with a specific code.
fn malformed_with_code(
    status: StatusCode,
    media: MediaType,
    message: &str,
    code: &str,
) -> Response {
    Outcome::error(status, code, message).into_response(media)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn negotiation() {
        use MediaType::*;
        use Negotiated::*;
        assert_eq!(negotiate(None), Graphql(Json));
        assert_eq!(negotiate(Some("")), Graphql(Json));
        assert_eq!(negotiate(Some("*/*")), Graphql(Json));
        assert_eq!(negotiate(Some("application/json")), Graphql(Json));
        assert_eq!(
            negotiate(Some(
                "application/graphql-response+json, application/json;q=0.9"
            )),
            Graphql(GraphqlResponseJson)
        );
        assert_eq!(
            negotiate(Some(
                "application/json;q=0.5, application/graphql-response+json"
            )),
            Graphql(GraphqlResponseJson)
        );
        assert_eq!(
            negotiate(Some(
                "application/graphql-response+json;q=0.1, application/json"
            )),
            Graphql(Json)
        );
        assert_eq!(
            negotiate(Some(
                "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
            )),
            Html
        );
        assert_eq!(negotiate(Some("text/plain")), NotAcceptable);
        assert_eq!(negotiate(Some("application/json;q=0")), NotAcceptable);
    }

    #[test]
    fn csrf_preflight_rule() {
        let with = |pairs: &[(&str, &str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(
                    HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                );
            }
            preflighted(&h)
        };
        assert!(!with(&[]));
        assert!(!with(&[("content-type", "text/plain")]));
        assert!(!with(&[(
            "content-type",
            "application/x-www-form-urlencoded"
        )]));
        assert!(!with(&[(
            "content-type",
            "multipart/form-data; boundary=x"
        )]));
        assert!(!with(&[("x-apollo-operation-name", "")]));
        assert!(with(&[("content-type", "application/json")]));
        assert!(with(&[("apollo-require-preflight", "true")]));
        assert!(with(&[("x-apollo-operation-name", "Q")]));
        assert!(with(&[("authorization", "Bearer x")]));
    }

    #[test]
    fn client_address_behind_proxies() {
        let peer: SocketAddr = "10.0.0.9:5000".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.1.1.1, 203.0.113.7, 10.0.0.2"),
        );
        assert_eq!(client_addr(&h, Some(peer), 0).0.to_string(), "10.0.0.9");
        assert_eq!(client_addr(&h, Some(peer), 1).0.to_string(), "10.0.0.2");
        assert_eq!(client_addr(&h, Some(peer), 2).0.to_string(), "203.0.113.7");
        assert_eq!(client_addr(&h, Some(peer), 3).0.to_string(), "1.1.1.1");
        assert_eq!(client_addr(&h, Some(peer), 5).0.to_string(), "1.1.1.1");
        assert_eq!(
            client_addr(&HeaderMap::new(), Some(peer), 1).0.to_string(),
            "10.0.0.9"
        );
    }

    #[test]
    fn json_content_types() {
        assert!(is_json_content_type("application/json"));
        assert!(is_json_content_type("application/json; charset=utf-8"));
        assert!(is_json_content_type("Application/JSON;charset=UTF-8"));
        assert!(!is_json_content_type("application/json; charset=latin1"));
        assert!(!is_json_content_type("text/plain"));
        assert!(!is_json_content_type(""));
    }

    #[test]
    fn request_shapes() {
        assert!(parse_request(json!({"query": "{a}"})).is_ok());
        assert!(
            parse_request(json!({"query": "{a}", "operationName": null, "variables": null, "extensions": null, "unknown": 1}))
                .is_ok()
        );
        for bad in [
            json!([]),
            json!("q"),
            json!({}),
            json!({"qeury": "{a}"}),
            json!({"query": 1}),
            json!({"query": "{a}", "variables": "x"}),
            json!({"query": "{a}", "variables": []}),
            json!({"query": "{a}", "operationName": 1}),
            json!({"query": "{a}", "extensions": "x"}),
        ] {
            assert!(parse_request(bad.clone()).is_err(), "{bad}");
        }
    }
}
