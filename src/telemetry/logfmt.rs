//! Log line formats that carry the OpenTelemetry trace and span ids of the
//! span an event was written in, so a log line leads to its trace.

use std::{
    fmt,
    sync::{Arc, OnceLock},
};

use opentelemetry::trace::TraceContextExt;
use tracing::{Dispatch, Event, Subscriber, dispatcher::WeakDispatch};
use tracing_subscriber::{
    fmt::{
        FmtContext, FormatEvent, FormatFields,
        format::{self, Writer},
    },
    registry::LookupSpan,
};

/// The dispatcher the formatter's subscriber became: the OpenTelemetry
/// layer's span contexts are reached through it, and a formatter runs
/// inside event dispatch, where the current dispatcher cannot be looked up.
/// Filled once the dispatcher is built; weak, since that dispatcher owns
/// the formatter. Each app's subscriber has its own (no global).
#[derive(Clone, Default)]
pub struct DispatchSlot(Arc<OnceLock<WeakDispatch>>);

impl DispatchSlot {
    /// Remembers `dispatch`, the subscriber holding the formatter.
    pub fn fill(&self, dispatch: &Dispatch) {
        let _ = self.0.set(dispatch.downgrade());
    }

    fn get(&self) -> Option<Dispatch> {
        self.0.get()?.upgrade()
    }
}

/// Wraps a `tracing-subscriber` format, adding `trace_id` and `span_id`.
pub struct WithTraceIds<F> {
    inner: F,
    json: bool,
    dispatch: DispatchSlot,
}

impl WithTraceIds<format::Format<format::Json>> {
    /// One JSON object per line (production).
    pub fn json(dispatch: DispatchSlot) -> Self {
        Self {
            inner: format::format()
                .json()
                .with_current_span(true)
                .with_span_list(false),
            json: true,
            dispatch,
        }
    }
}

impl WithTraceIds<format::Format<format::Full>> {
    /// The readable format (development).
    pub fn text(dispatch: DispatchSlot) -> Self {
        Self {
            inner: format::format(),
            json: false,
            dispatch,
        }
    }
}

impl<S, N, F> FormatEvent<S, N> for WithTraceIds<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let ids = ctx
            .lookup_current()
            .zip(self.dispatch.get())
            .and_then(|(span, dispatch)| {
                let cx = tracing_opentelemetry::get_otel_context(&span.id(), &dispatch)?;
                let span_context = cx.span().span_context().clone();
                span_context
                    .is_valid()
                    .then(|| (span_context.trace_id(), span_context.span_id()))
            });
        let Some((trace_id, span_id)) = ids else {
            return self.inner.format_event(ctx, writer, event);
        };
        let mut line = String::new();
        self.inner
            .format_event(ctx, Writer::new(&mut line), event)?;
        if self.json {
            match line.strip_prefix('{') {
                Some(rest) => write!(
                    writer,
                    "{{\"trace_id\":\"{trace_id}\",\"span_id\":\"{span_id}\",{rest}"
                ),
                None => writer.write_str(&line),
            }
        } else {
            let body = line.trim_end_matches('\n');
            writeln!(writer, "{body} trace_id={trace_id} span_id={span_id}")
        }
    }
}
