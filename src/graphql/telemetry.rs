//! A span per GraphQL operation (after the OpenTelemetry GraphQL semantic
//! conventions: named by operation type, with `graphql.operation.type`,
//! `graphql.operation.name` and, in development only, `graphql.document`)
//! and the operation metrics: `graphql.operations` by type, name and error
//! code, `graphql.operation.duration`, and `todoql.subscriptions.active`.
//!
//! async-graphql's own `opentelemetry` extension pins an older
//! OpenTelemetry, and its `Tracing` extension adds a span per resolved
//! field, far too many for a list query; this one adds one span per
//! operation and lets SQL and Redis spans nest under it.

use std::{
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Instant,
};

use async_graphql::{
    Response, ServerError,
    futures_util::stream::{BoxStream, Stream, StreamExt},
    parser::types::{DocumentOperations, ExecutableDocument, OperationType},
};
use opentelemetry::trace::TraceContextExt;
use tracing::{Span, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::telemetry::Metrics;

/// What every operation's telemetry needs.
#[derive(Clone)]
pub struct OperationTelemetry {
    /// Whether the document text goes on the span (development only: it
    /// may hold personal data in literals).
    pub record_document: bool,
    /// The app's instruments.
    pub metrics: Metrics,
}

impl OperationTelemetry {
    /// The state of one operation, its span started.
    pub(crate) fn start(&self) -> Operation {
        let span = tracing::info_span!(
            "GraphQL Operation",
            otel.status_code = Empty,
            graphql.operation.type = Empty,
            graphql.operation.name = Empty,
            error.type = Empty,
        );
        Operation {
            record_document: self.record_document,
            state: Arc::new(Mutex::new(OperationState {
                span,
                kind: None,
                name: None,
                started: Instant::now(),
                subscribed: false,
                finished: false,
                metrics: self.metrics.clone(),
            })),
        }
    }
}

/// What is known of one operation so far.
struct OperationState {
    span: Span,
    kind: Option<OperationType>,
    name: Option<String>,
    started: Instant,
    /// A validated subscription, counted in the active gauge.
    subscribed: bool,
    /// Counted in `graphql.operations` already.
    finished: bool,
    metrics: Metrics,
}

impl OperationState {
    fn kind_name(&self) -> &'static str {
        match self.kind {
            Some(OperationType::Query) => "query",
            Some(OperationType::Mutation) => "mutation",
            Some(OperationType::Subscription) => "subscription",
            None => "unknown",
        }
    }

    /// Counts the operation once, with its first error's code.
    fn finish(&mut self, response: &Response) {
        if self.finished {
            return;
        }
        self.finished = true;
        let code = first_code(&response.errors);
        if let Some(code) = &code {
            self.span.record("error.type", code.as_str());
            self.span.record("otel.status_code", "ERROR");
        }
        let elapsed =
            (self.kind != Some(OperationType::Subscription)).then(|| self.started.elapsed());
        self.metrics.graphql_operation(
            self.kind_name(),
            self.name.as_deref(),
            code.as_deref(),
            elapsed,
        );
    }
}

fn first_code(errors: &[ServerError]) -> Option<String> {
    let error = errors.first()?;
    match error.extensions.as_ref().and_then(|e| e.get("code")) {
        Some(async_graphql::Value::String(code)) => Some(code.clone()),
        _ => Some("UNKNOWN".to_owned()),
    }
}

/// One operation's telemetry; the schema's extension
/// ([`super::pipeline`]) calls it from its hooks.
pub(crate) struct Operation {
    record_document: bool,
    state: Arc<Mutex<OperationState>>,
}

impl Operation {
    fn with_state<T>(&self, f: impl FnOnce(&mut OperationState) -> T) -> Option<T> {
        self.state.lock().ok().map(|mut s| f(&mut s))
    }

    /// The operation's span, to run the request in.
    pub(crate) fn span(&self) -> Span {
        self.with_state(|s| s.span.clone())
            .unwrap_or_else(Span::none)
    }

    /// Counts the finished request.
    pub(crate) fn finish(&self, response: &Response) {
        self.with_state(|s| s.finish(response));
    }

    /// A WebSocket operation's responses, polled inside the span.
    pub(crate) fn stream<'s>(&self, inner: BoxStream<'s, Response>) -> BoxStream<'s, Response> {
        OperationStream {
            inner,
            span: self.span(),
            state: self.state.clone(),
        }
        .boxed()
    }

    /// The request's operation name, before parsing.
    pub(crate) fn prepared(&self, name: Option<String>) {
        self.with_state(|s| s.name = name);
    }

    /// Names the span after the operation `document` selects.
    pub(crate) fn parsed(&self, document: &ExecutableDocument, query: &str) {
        let record_document = self.record_document;
        self.with_state(|s| {
            let selected = match (&document.operations, s.name.as_deref()) {
                (DocumentOperations::Single(op), _) => Some((op.node.ty, None)),
                (DocumentOperations::Multiple(ops), Some(name)) => {
                    ops.get(name).map(|op| (op.node.ty, Some(name.to_owned())))
                }
                (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops
                    .iter()
                    .next()
                    .map(|(name, op)| (op.node.ty, Some(name.to_string()))),
                _ => None,
            };
            if let Some((kind, name)) = selected {
                s.kind = Some(kind);
                if name.is_some() {
                    s.name = name;
                }
                let kind_name = s.kind_name();
                // The span started before its type was known; the name is
                // set on the exported span itself.
                if crate::telemetry::exporting_traces() {
                    s.span.context().span().update_name(kind_name);
                }
                s.span.record("graphql.operation.type", kind_name);
            }
            if let Some(name) = &s.name {
                s.span.record("graphql.operation.name", name.as_str());
            }
            // An attribute of the exported span only: as a tracing field it
            // would be printed with every log line inside the operation.
            if record_document && crate::telemetry::exporting_traces() {
                s.span
                    .set_attribute("graphql.document", redact_literals(query));
            }
        });
    }

    /// After validation passed (and the budget admitted it): a
    /// subscription counts as one operation when it starts; its events are
    /// not operations of their own.
    pub(crate) fn validated(&self) {
        self.with_state(|s| {
            if s.kind == Some(OperationType::Subscription) && !s.finished {
                // A shared run's subscribers count themselves as active
                // (`graphql::shared`); the run is not one of them.
                s.subscribed = !crate::stream_tap::is_set();
                s.finished = true;
                if s.subscribed {
                    s.metrics.subscription(1);
                }
                s.metrics
                    .graphql_operation("subscription", s.name.as_deref(), None, None);
            }
        });
    }
}

/// The document with every string literal replaced by `"***"`, as the
/// conventions advise: passwords and tokens are often written inline.
fn redact_literals(document: &str) -> String {
    let mut out = String::with_capacity(document.len());
    let mut rest = document;
    while let Some(at) = rest.find(['"', '#']) {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        if rest.starts_with('#') {
            // A comment runs to the end of the line; quotes in it are text.
            let end = rest.find('\n').unwrap_or(rest.len());
            out.push_str(&rest[..end]);
            rest = &rest[end..];
        } else if let Some(body) = rest.strip_prefix("\"\"\"") {
            out.push_str("\"***\"");
            rest = body.find("\"\"\"").map_or("", |end| &body[end + 3..]);
        } else {
            out.push_str("\"***\"");
            let body = &rest[1..];
            let mut end = body.len();
            let mut escaped = false;
            for (i, c) in body.char_indices() {
                match c {
                    '\\' if !escaped => escaped = true,
                    '"' if !escaped => {
                        end = i + 1;
                        break;
                    }
                    _ => escaped = false,
                }
            }
            rest = &body[end.min(body.len())..];
        }
    }
    out.push_str(rest);
    out
}

/// A WebSocket operation's responses, polled inside its span; counts the
/// operation at its first response and the subscription's end on drop.
struct OperationStream<'s> {
    inner: BoxStream<'s, Response>,
    span: Span,
    state: Arc<Mutex<OperationState>>,
}

impl Stream for OperationStream<'_> {
    type Item = Response;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Response>> {
        let this = &mut *self;
        let polled = {
            let _entered = this.span.enter();
            this.inner.poll_next_unpin(cx)
        };
        if let Poll::Ready(Some(response)) = &polled
            && let Ok(mut state) = this.state.lock()
        {
            state.finish(response);
        }
        polled
    }
}

impl Drop for OperationStream<'_> {
    fn drop(&mut self) {
        if let Ok(s) = self.state.lock()
            && s.subscribed
        {
            s.metrics.subscription(-1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::redact_literals;

    #[test]
    fn string_literals_are_redacted() {
        assert_eq!(
            redact_literals(
                r#"mutation { login(input: { email: "a@b.co", password: "p\"w" }) { accessToken } }"#
            ),
            r#"mutation { login(input: { email: "***", password: "***" }) { accessToken } }"#
        );
        assert_eq!(
            redact_literals("{ a(x: \"\"\"multi \" line\"\"\", n: 3) } # \"kept\""),
            "{ a(x: \"***\", n: 3) } # \"kept\""
        );
        assert_eq!(
            redact_literals("query Q($v: Int) { a(n: $v) }"),
            "query Q($v: Int) { a(n: $v) }"
        );
        assert_eq!(redact_literals("{ a(x: \"unterminated"), "{ a(x: \"***\"");
    }
}
