//! GraphQL over HTTP (`POST` and `GET /graphql`), following the GraphQL
//! over HTTP spec as the `graphql-http` audit checks it: content
//! negotiation between `application/graphql-response+json` and
//! `application/json`, 4xx for malformed requests, request errors (parse,
//! validation) as 400 without `data` under the new media type and as 200
//! under the legacy one (Apollo Client reports a non-2xx legacy JSON answer
//! as a network error and would hide `extensions.code`), and 405 for a
//! mutation sent with `GET`. Browsers asking for HTML get GraphiQL.

use async_graphql::{
    Request, Variables,
    parser::types::{DocumentOperations, OperationType},
};
use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value, json};

use super::graphiql;
use crate::{
    app::AppState,
    auth::{graphql::Credentials, token},
    graphql::{ExecutionMarker, error::ErrorCode, prepare_request},
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

/// A response for a request that is not a well-formed GraphQL request.
fn malformed(status: StatusCode, media: MediaType, message: impl Into<String>) -> Response {
    let body = json!({
        "errors": [{
            "message": message.into(),
            "extensions": { "code": ErrorCode::BadUserInput.as_str() },
        }]
    });
    (
        status,
        [(header::CONTENT_TYPE, media.content_type())],
        body.to_string(),
    )
        .into_response()
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
            Ok(ws) => super::ws::upgrade(state, ws, &parts.headers),
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
    execute(&state, &headers, Method::GET, media, Value::Object(body)).await
}

/// `POST /graphql`.
pub async fn post(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let media = match negotiate(accept) {
        Negotiated::Graphql(media) => media,
        // A POST is never a page view.
        Negotiated::Html | Negotiated::NotAcceptable => return not_acceptable(),
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
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
    execute(&state, &headers, Method::POST, media, body).await
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
/// spec calls "not a GraphQL request".
pub(crate) fn parse_request(body: Value) -> Result<Request, String> {
    let Value::Object(mut map) = body else {
        return Err("the request must be a JSON object".into());
    };
    let query = match map.remove("query") {
        Some(Value::String(q)) => q,
        Some(_) => return Err("`query` must be a string".into()),
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
    match map.remove("extensions") {
        None | Some(Value::Null) => {}
        Some(Value::Object(ext)) => {
            for (k, v) in ext {
                if let Ok(v) = async_graphql::Value::from_json(v) {
                    request.extensions.insert(k, v);
                }
            }
        }
        Some(_) => return Err("`extensions` must be an object".into()),
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

async fn execute(
    state: &AppState,
    headers: &HeaderMap,
    method: Method,
    media: MediaType,
    body: Value,
) -> Response {
    let mut request = match parse_request(body) {
        Ok(request) => request,
        Err(message) => return malformed(StatusCode::BAD_REQUEST, media, message),
    };
    // Look at the operation before running it: GET may not mutate, and
    // subscriptions need the WebSocket transport.
    let operation_name = request.operation_name.clone();
    if let Ok(doc) = request.parsed_query() {
        let selected = match (&doc.operations, operation_name.as_deref()) {
            (DocumentOperations::Single(op), _) => Some(op.node.ty),
            (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| op.node.ty),
            (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
                ops.values().next().map(|op| op.node.ty)
            }
            _ => None,
        };
        match selected {
            Some(OperationType::Mutation) if method == Method::GET => {
                return (
                    StatusCode::METHOD_NOT_ALLOWED,
                    [(header::ALLOW, HeaderValue::from_static("POST"))],
                    "mutations must be sent with POST",
                )
                    .into_response();
            }
            Some(OperationType::Subscription) => {
                let body = json!({ "errors": [{
                    "message": "subscriptions are served over WebSocket at /graphql",
                    "extensions": { "code": ErrorCode::GraphqlValidationFailed.as_str() },
                }]});
                return graphql_response(media, body, false);
            }
            _ => {}
        }
    }
    let marker = ExecutionMarker::default();
    let request = prepare_request(
        request,
        &state.auth,
        credentials(state, headers),
        marker.clone(),
    );
    let response = state.schema.execute(request).await;
    let executed = marker.executed();
    let body = if executed {
        serde_json::to_value(&response)
    } else {
        // Operation selection errors come from the library without a code.
        let errors: Vec<_> = response
            .errors
            .into_iter()
            .map(|mut e| {
                let ext = e.extensions.get_or_insert_with(Default::default);
                if ext.get("code").is_none() {
                    ext.set("code", ErrorCode::GraphqlValidationFailed.as_str());
                }
                e
            })
            .collect();
        serde_json::to_value(json!({ "errors": errors }))
    };
    match body {
        Ok(body) => graphql_response(media, body, executed),
        Err(e) => {
            crate::graphql::error::log_internal(&e);
            (StatusCode::INTERNAL_SERVER_ERROR, "Internal server error").into_response()
        }
    }
}

fn graphql_response(media: MediaType, body: Value, executed: bool) -> Response {
    let status = if executed || media == MediaType::Json {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    (
        status,
        [(header::CONTENT_TYPE, media.content_type())],
        body.to_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
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
