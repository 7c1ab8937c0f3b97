//! Telemetry: logs, traces and metrics.
//!
//! Logs go to stdout through `tracing-subscriber` — readable in development,
//! JSON in production, filtered by `RUST_LOG` — and carry the trace and span
//! ids of the span they were written in. Spans and metrics are exported over
//! OTLP (gRPC or HTTP/protobuf) when `OTEL_EXPORTER_OTLP_ENDPOINT` (or a
//! signal-specific endpoint) is set; otherwise nothing is exported and
//! instruments are no-ops.
//!
//! A [`Telemetry`] is one app's pipeline: its tracer and meter providers,
//! the [`Metrics`] made from that meter provider (the app keeps them in
//! `AppState` and hands them to what records), and the `tracing` subscriber
//! ([`Telemetry::dispatch`]) that exports spans through that tracer.
//! Building one touches no process-global state. The binary installs its
//! one app's subscriber as the global default ([`init`]); the integration
//! tests run each exporting app on a runtime whose threads use that app's
//! subscriber, so several pipelines live in one process. Whether spans are
//! exported ([`exporting_traces`]) is asked of the current subscriber.
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
use export::{Dropped, meter_provider, resource, tracer_provider};
pub use metrics::Metrics;
pub use propagation::{continue_trace, current_traceparent, link_to};

use std::io::IsTerminal;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::{
    metrics::SdkMeterProvider, propagation::TraceContextPropagator, trace::SdkTracerProvider,
};
use tracing::Dispatch;
use tracing_subscriber::{EnvFilter, prelude::*};

/// Marks a subscriber that exports spans; [`exporting_traces`] looks for
/// it in the current one. It does nothing itself.
struct ExportsSpans;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for ExportsSpans {}

/// Whether the current subscriber (this app's) exports spans;
/// instrumentation that costs something per call (a span per SQL statement
/// or Redis command) is skipped otherwise. A thread-local lookup and a few
/// type id comparisons.
pub fn exporting_traces() -> bool {
    tracing::dispatcher::get_default(Dispatch::is::<ExportsSpans>)
}

/// Where a subscriber's log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logs {
    /// Nowhere (test apps, unless `TEST_LOG` is set).
    Off,
    /// Stdout, readable (development).
    Text,
    /// Stdout, one JSON object per line (production).
    Json,
}

/// One app's pipeline; flush or shut it down before the app ends.
#[must_use = "dropping the pipeline does not flush; call `shutdown`"]
pub struct Telemetry {
    tracer: Option<SdkTracerProvider>,
    meter: Option<SdkMeterProvider>,
    metrics: Metrics,
}

impl Telemetry {
    /// Builds the exporters `config` asks for and the instruments over
    /// them, touching no process-global state. Call it inside the Tokio
    /// runtime (the gRPC exporter's channel runs on it).
    pub fn new(config: &TelemetryConfig) -> anyhow::Result<Self> {
        let resource = resource(config);
        let dropped = Dropped::default();
        let tracer = match config.traces_url() {
            None => None,
            Some(url) => Some(tracer_provider(
                config,
                &url,
                resource.clone(),
                dropped.clone(),
            )?),
        };
        let meter = match config.metrics_url() {
            None => None,
            Some(url) => Some(meter_provider(config, &url, resource, dropped.clone())?),
        };
        let metrics = match &meter {
            Some(provider) => Metrics::new(provider, true),
            None => Metrics::noop(),
        };
        dropped.count_with(metrics.dropped());
        Ok(Self {
            tracer,
            meter,
            metrics,
        })
    }

    /// A pipeline that exports nothing (its instruments are no-ops).
    pub fn disabled() -> Self {
        Self {
            tracer: None,
            meter: None,
            metrics: Metrics::noop(),
        }
    }

    /// The instruments, made from this pipeline's meter provider.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Whether anything (spans or metrics) is exported.
    pub fn exports(&self) -> bool {
        self.tracer.is_some() || self.meter.is_some()
    }

    /// The `tracing` subscriber recording into this pipeline: the
    /// `RUST_LOG` filter, span export through this pipeline's tracer (when
    /// configured), and log lines as `logs` says. Install it globally
    /// ([`init`]) or as the default of the threads that run the app.
    pub fn dispatch(&self, logs: Logs) -> Dispatch {
        let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
            // The exporter's own HTTP/2 and gRPC stacks stay quiet unless asked.
            EnvFilter::new("info,h2=warn,hyper=warn,tonic=warn,tower=warn,opentelemetry=warn")
        });
        let otel_layer = self.tracer.as_ref().map(|provider| {
            tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("todoql"))
                .with_location(false)
                .with_threads(false)
                .with_target(false)
        });
        let marker = self.tracer.as_ref().map(|_| ExportsSpans);
        let slot = logfmt::DispatchSlot::default();
        let fmt_layer = match logs {
            Logs::Off => None,
            Logs::Text => Some(log_layer(
                false,
                std::io::stdout,
                std::io::stdout().is_terminal(),
                slot.clone(),
            )),
            Logs::Json => Some(log_layer(true, std::io::stdout, false, slot.clone())),
        };
        let dispatch = Dispatch::new(
            tracing_subscriber::registry()
                .with(filter)
                .with(otel_layer)
                .with(marker)
                .with(fmt_layer),
        );
        if self.tracer.is_some() {
            slot.fill(&dispatch);
        }
        dispatch
    }

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
    pub fn shutdown(&self) {
        if let Some(tracer) = &self.tracer
            && let Err(e) = tracer.shutdown()
        {
            eprintln!("telemetry: shutting down the tracer: {e}");
        }
        if let Some(meter) = &self.meter
            && let Err(e) = meter.shutdown()
        {
            eprintln!("telemetry: shutting down the meter: {e}");
        }
    }
}

/// The binary's telemetry: builds the pipeline of `config` and installs its
/// subscriber (logs on stdout) as the process's global default, which the
/// one app of the process records into. Call it inside the Tokio runtime.
/// When a global subscriber exists already (a test harness), that one is
/// kept and the returned pipeline exports nothing.
pub fn init(config: &TelemetryConfig, production: bool) -> anyhow::Result<Telemetry> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let telemetry = Telemetry::new(config)?;
    let logs = if production { Logs::Json } else { Logs::Text };
    if telemetry.dispatch(logs).try_init().is_err() {
        telemetry.shutdown();
        return Ok(Telemetry::disabled());
    }
    Ok(telemetry)
}

/// The log layer: JSON lines in production, readable text otherwise, both
/// with trace and span ids.
fn log_layer<S, W>(
    production: bool,
    writer: W,
    ansi: bool,
    dispatch: logfmt::DispatchSlot,
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
            .event_format(logfmt::WithTraceIds::json(dispatch))
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .with_ansi(ansi)
            .with_writer(writer)
            .event_format(logfmt::WithTraceIds::text(dispatch))
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
        let subscriber = tracing_subscriber::registry().with(log_layer(
            production,
            move || sink.clone(),
            false,
            Default::default(),
        ));
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
