//! W3C trace context: continuing a caller's trace from its `traceparent`
//! header, and carrying the current trace into jobs.

use opentelemetry::{
    Context,
    propagation::{Extractor, Injector, TextMapPropagator},
    trace::TraceContextExt,
};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::exporting_traces;

/// Reads W3C trace context from HTTP headers.
struct HeaderExtractor<'a>(&'a axum::http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// Makes `span` continue the trace of an incoming `traceparent` header, if
/// any (and valid).
pub fn continue_trace(span: &tracing::Span, headers: &axum::http::HeaderMap) {
    if !exporting_traces() {
        return;
    }
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
}

/// A `traceparent` value for the current span, to store with work done
/// later (jobs); `None` when not tracing.
pub fn current_traceparent() -> Option<String> {
    if !exporting_traces() {
        return None;
    }
    struct One(Option<String>);
    impl Injector for One {
        fn set(&mut self, key: &str, value: String) {
            if key == "traceparent" {
                self.0 = Some(value);
            }
        }
    }
    let mut carrier = One(None);
    TraceContextPropagator::new().inject_context(&tracing::Span::current().context(), &mut carrier);
    carrier.0
}

/// Links `span` to the trace a stored `traceparent` names (a job to the
/// request that enqueued it).
pub fn link_to(span: &tracing::Span, traceparent: &str) {
    if !exporting_traces() {
        return;
    }
    struct One<'a>(&'a str);
    impl Extractor for One<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            (key == "traceparent").then_some(self.0)
        }
        fn keys(&self) -> Vec<&str> {
            vec!["traceparent"]
        }
    }
    let cx: Context = TraceContextPropagator::new().extract(&One(traceparent));
    let linked = cx.span().span_context().clone();
    if linked.is_valid() {
        span.add_link(linked);
    }
}
