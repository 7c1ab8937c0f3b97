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
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let name = match (&route, method) {
        (_, "_OTHER") => "HTTP".to_owned(),
        (Some(route), _) => format!("{method} {route}"),
        (None, _) => method.to_owned(),
    };
    let headers = request.headers();
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip().to_string());
    // `url.query` is left out on purpose: GraphQL GET requests carry
    // variables there, which may be personal data.
    let span = tracing::info_span!(
        "HTTP request",
        otel.name = %name,
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = method,
        http.route = route.as_deref(),
        http.response.status_code = Empty,
        url.path = request.uri().path(),
        url.scheme = "http",
        client.address = client.as_deref(),
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
    metrics.http_request(method, route.as_deref(), status.as_u16(), started.elapsed());
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
}
