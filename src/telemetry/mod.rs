//! Telemetry: logs, traces and metrics.
//!
//! Logs go to stdout through `tracing-subscriber` — readable in development,
//! JSON in production, filtered by `RUST_LOG` — and carry the trace and span
//! ids of the span they were written in. Spans and metrics are exported over
//! OTLP (gRPC or HTTP/protobuf) when `OTEL_EXPORTER_OTLP_ENDPOINT` (or a
//! signal-specific endpoint) is set; otherwise nothing is exported and
//! instruments are no-ops.
//!
//! Export never sits on a request's path: spans queue in a bounded buffer
//! drained by the SDK's own thread, metrics are collected by a periodic
//! reader on its own thread, and what a down or slow collector makes us drop
//! is counted in `todoql.telemetry.dropped`.

pub mod config;
mod export;
mod logfmt;
pub mod metrics;
mod propagation;

pub use config::{OtlpProtocol, TelemetryConfig};
use export::{meter_provider, resource, tracer_provider};
pub use propagation::{continue_trace, current_traceparent, link_to};

use std::{
    io::IsTerminal,
    sync::atomic::{AtomicBool, Ordering},
};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::{
    metrics::SdkMeterProvider, propagation::TraceContextPropagator, trace::SdkTracerProvider,
};
use tracing_subscriber::{EnvFilter, prelude::*};

/// Whether spans are exported; instrumentation that costs something per call
/// (a span per SQL statement or Redis command) is skipped otherwise.
static EXPORTING_TRACES: AtomicBool = AtomicBool::new(false);

/// Whether spans are being exported.
pub fn exporting_traces() -> bool {
    EXPORTING_TRACES.load(Ordering::Relaxed)
}

/// Whether metrics are exported (pool gauges are only registered then).
static EXPORTING_METRICS: AtomicBool = AtomicBool::new(false);

/// Whether metrics are being exported.
pub fn exporting_metrics() -> bool {
    EXPORTING_METRICS.load(Ordering::Relaxed)
}

/// The installed pipeline; flush or shut it down before the process ends.
#[must_use = "dropping the guard does not flush; call `shutdown`"]
pub struct Telemetry {
    tracer: Option<SdkTracerProvider>,
    meter: Option<SdkMeterProvider>,
}

impl Telemetry {
    /// Exports everything recorded so far (blocking; tests and shutdown).
    pub fn flush(&self) {
        if let Some(tracer) = &self.tracer
            && let Err(e) = tracer.force_flush()
        {
            tracing::warn!(error = %e, "flushing spans failed");
        }
        if let Some(meter) = &self.meter
            && let Err(e) = meter.force_flush()
        {
            tracing::warn!(error = %e, "flushing metrics failed");
        }
    }

    /// Flushes and stops the exporters. Blocking: call it from a blocking
    /// thread inside the runtime (gRPC export runs on the runtime).
    pub fn shutdown(self) {
        if let Some(tracer) = self.tracer
            && let Err(e) = tracer.shutdown()
        {
            eprintln!("telemetry: shutting down the tracer: {e}");
        }
        if let Some(meter) = self.meter
            && let Err(e) = meter.shutdown()
        {
            eprintln!("telemetry: shutting down the meter: {e}");
        }
    }
}

/// Installs logging and, when an endpoint is configured, OTLP export of
/// spans and metrics. Call it inside the Tokio runtime (the gRPC exporter
/// captures it). A second call in one process only returns a guard with
/// nothing to flush (tests).
pub fn init(config: &TelemetryConfig, production: bool) -> anyhow::Result<Telemetry> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let resource = resource(config);
    let tracer = match config.traces_url() {
        None => None,
        Some(url) => Some(tracer_provider(config, &url, resource.clone())?),
    };
    let meter = match config.metrics_url() {
        None => None,
        Some(url) => Some(meter_provider(config, &url, resource)?),
    };

    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        // The exporter's own HTTP/2 and gRPC stacks stay quiet unless asked.
        EnvFilter::new("info,h2=warn,hyper=warn,tonic=warn,tower=warn,opentelemetry=warn")
    });
    let otel_layer = tracer.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("todoql"))
            .with_location(false)
            .with_threads(false)
            .with_target(false)
    });
    let fmt_layer = log_layer(production, std::io::stdout, std::io::stdout().is_terminal());
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(otel_layer)
        .with(fmt_layer)
        .try_init()
        .is_ok();
    if !installed {
        // Someone (a test harness) was first: keep theirs, export nothing.
        if let Some(tracer) = tracer {
            let _ = tracer.shutdown();
        }
        if let Some(meter) = meter {
            let _ = meter.shutdown();
        }
        return Ok(Telemetry {
            tracer: None,
            meter: None,
        });
    }
    if let Some(provider) = &tracer {
        opentelemetry::global::set_tracer_provider(provider.clone());
        EXPORTING_TRACES.store(true, Ordering::Relaxed);
        logfmt::remember_dispatch();
    }
    if let Some(provider) = &meter {
        opentelemetry::global::set_meter_provider(provider.clone());
        EXPORTING_METRICS.store(true, Ordering::Relaxed);
    }
    Ok(Telemetry { tracer, meter })
}

/// The log layer: JSON lines in production, readable text otherwise, both
/// with trace and span ids.
fn log_layer<S, W>(
    production: bool,
    writer: W,
    ansi: bool,
) -> Box<dyn tracing_subscriber::Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    if production {
        // `json()` also switches span fields to JSON, which the JSON event
        // format requires (it panics on fields stored as text).
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(writer)
            .event_format(logfmt::WithTraceIds::json())
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .with_ansi(ansi)
            .with_writer(writer)
            .event_format(logfmt::WithTraceIds::text())
            .boxed()
    }
}

/// A client span for one call to PostgreSQL or Redis, or a disabled span
/// when spans are not exported (so the hot path pays nothing).
#[macro_export]
macro_rules! client_span {
    ($name:expr, $system:expr, $operation:expr) => {
        if $crate::telemetry::exporting_traces() {
            tracing::info_span!(
                "client call",
                otel.name = $name,
                otel.kind = "client",
                db.system.name = $system,
                db.operation.name = $operation,
                otel.status_code = tracing::field::Empty,
            )
        } else {
            tracing::Span::none()
        }
    };
}
#[cfg(test)]
mod tests {
    use super::*;

    /// Captured log output.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut out) = self.0.lock() {
                out.extend_from_slice(buf);
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn log_in_span(production: bool) -> String {
        let captured = Captured::default();
        let sink = captured.clone();
        let subscriber =
            tracing_subscriber::registry().with(log_layer(production, move || sink.clone(), false));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                "HTTP request",
                http.route = "/graphql",
                status = tracing::field::Empty
            );
            span.record("status", 200);
            let _entered = span.enter();
            tracing::info!(answer = 42, "inside");
        });
        let bytes = captured.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8(bytes).unwrap_or_default()
    }

    #[test]
    fn production_logs_are_json_with_span_fields() {
        let line = log_in_span(true);
        let json: serde_json::Value = serde_json::from_str(line.trim()).unwrap_or_default();
        assert_eq!(json["fields"]["message"], "inside", "{line}");
        assert_eq!(json["fields"]["answer"], 42);
        assert_eq!(json["span"]["http.route"], "/graphql");
        assert_eq!(json["span"]["status"], 200);
    }

    #[test]
    fn development_logs_are_text_without_escapes() {
        let line = log_in_span(false);
        assert!(
            line.contains("inside") && line.contains("answer=42"),
            "{line}"
        );
        assert!(line.contains("http.route=\"/graphql\""), "{line}");
        assert!(!line.contains('\u{1b}'), "{line}");
    }
}
