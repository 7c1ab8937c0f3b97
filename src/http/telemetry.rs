//! The server span and metrics of every HTTP request, after the
//! OpenTelemetry HTTP semantic conventions: span `{method} {http.route}`,
//! `http.server.request.duration` and `http.server.active_requests`; an
//! incoming W3C `traceparent` continues the caller's trace.

use std::{net::SocketAddr, time::Instant};

use axum::{
    extract::{ConnectInfo, MatchedPath, Request, State},
    http::{Method, header},
    middleware::Next,
    response::Response,
};
use tracing::{Instrument, field::Empty};

use crate::telemetry::{self, Metrics};

/// The method as the conventions name it: one of the standard ones, else
/// `_OTHER` (so a client cannot mint label values).
fn method_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "_OTHER",
    }
}

/// Makes `x-request-id` values: random (version 4) UUIDs, as
/// `tower_http`'s `MakeRequestUuid` does, but from the thread's
/// cryptographically seeded generator (`rand::random`) instead of a
/// `getrandom` system call per request (`uuid` without its `fast-rng`
/// feature).
#[derive(Clone, Copy, Default)]
pub struct MakeRequestUuid;

impl tower_http::request_id::MakeRequestId for MakeRequestUuid {
    fn make_request_id<B>(
        &mut self,
        _request: &axum::http::Request<B>,
    ) -> Option<tower_http::request_id::RequestId> {
        let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
        let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let text = id.hyphenated().encode_lower(&mut text);
        axum::http::HeaderValue::from_str(text)
            .ok()
            .map(tower_http::request_id::RequestId::new)
    }
}

/// The span name the conventions ask for: `{method} {http.route}`.
struct SpanName<'r> {
    method: &'static str,
    route: Option<&'r str>,
}

impl std::fmt::Display for SpanName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.route, self.method) {
            (_, "_OTHER") => f.write_str("HTTP"),
            (Some(route), method) => write!(f, "{method} {route}"),
            (None, method) => f.write_str(method),
        }
    }
}

/// Decrements `http.server.active_requests` however the request ends
/// (including a client that hangs up and drops the future).
struct Active(&'static str, Metrics);

impl Drop for Active {
    fn drop(&mut self) {
        self.1.http_active(self.0, -1);
    }
}

/// Middleware: wraps the request in its server span and records its
/// metrics in the app's instruments (the middleware's state).
pub async fn trace(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    let method = method_name(request.method());
    // An `Arc` clone; the name is formatted only where a layer records it
    // (no `String`s built per request for what nothing may read).
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map(MatchedPath::as_str);
    let name = SpanName { method, route };
    let headers = request.headers();
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| tracing::field::display(peer.ip()));
    // `url.query` is left out on purpose: GraphQL GET requests carry
    // variables there, which may be personal data.
    let span = tracing::info_span!(
        "HTTP request",
        otel.name = %name,
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = method,
        http.route = route,
        http.response.status_code = Empty,
        url.path = request.uri().path(),
        url.scheme = "http",
        client.address = client,
        user_agent.original = text(header::USER_AGENT),
        request_id = text(header::HeaderName::from_static("x-request-id")),
        error.type = Empty,
    );
    telemetry::continue_trace(&span, headers);

    metrics.http_active(method, 1);
    let _active = Active(method, metrics.clone());
    let started = Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    // 4xx is the client's doing and leaves the status unset; 5xx is ours.
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
        span.record("error.type", status.as_str());
    }
    metrics.http_request(method, route, status.as_u16(), started.elapsed());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_collapse_to_other() {
        assert_eq!(method_name(&Method::POST), "POST");
        let odd = Method::from_bytes(b"BREW").unwrap_or(Method::GET);
        assert_eq!(method_name(&odd), "_OTHER");
    }

    #[test]
    fn request_ids_are_distinct_v4_uuids() {
        use tower_http::request_id::MakeRequestId;
        let request = axum::http::Request::new(());
        let mut make = MakeRequestUuid;
        let id = |make: &mut MakeRequestUuid| {
            make.make_request_id(&request)
                .and_then(|id| id.header_value().to_str().ok().map(str::to_owned))
                .unwrap_or_default()
        };
        let (a, b) = (id(&mut make), id(&mut make));
        assert_ne!(a, b);
        let parsed = uuid::Uuid::parse_str(&a).unwrap_or_default();
        assert_eq!(parsed.get_version_num(), 4, "{a}");
        assert_eq!(a, parsed.hyphenated().to_string());
    }

    #[test]
    fn span_names_follow_the_conventions() {
        let name = |method, route| SpanName { method, route }.to_string();
        assert_eq!(name("POST", Some("/graphql")), "POST /graphql");
        assert_eq!(name("GET", None), "GET");
        assert_eq!(name("_OTHER", Some("/graphql")), "HTTP");
    }
}
