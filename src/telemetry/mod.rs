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

mod logfmt;
pub mod metrics;

use std::{
    io::IsTerminal,
    str::FromStr,
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use anyhow::{Context as _, bail};
use opentelemetry::{
    Context, KeyValue,
    propagation::{Extractor, Injector, TextMapPropagator},
    trace::{TraceContextExt, TracerProvider as _},
};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::{
    Resource,
    error::OTelSdkResult,
    metrics::{PeriodicReader, SdkMeterProvider, Temporality, exporter::PushMetricExporter},
    propagation::TraceContextPropagator,
    trace::{BatchSpanProcessor, Sampler, SdkTracerProvider, SpanData, SpanExporter},
};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{EnvFilter, prelude::*};

/// How an OTLP exporter talks to the collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpProtocol {
    /// OTLP/gRPC (`grpc`), usually port 4317.
    Grpc,
    /// OTLP/HTTP with protobuf bodies (`http/protobuf`), usually port 4318.
    HttpProtobuf,
}

impl FromStr for OtlpProtocol {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "grpc" => Ok(Self::Grpc),
            "http/protobuf" => Ok(Self::HttpProtobuf),
            other => bail!("expected `grpc` or `http/protobuf`, got `{other}`"),
        }
    }
}

/// Telemetry settings, from the standard OpenTelemetry variables.
#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`: the collector's base URL (e.g.
    /// `http://lgtm:4317` for gRPC, `http://lgtm:4318` for HTTP, where
    /// `/v1/traces` and `/v1/metrics` are appended). Unset: nothing exported.
    pub endpoint: Option<String>,
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`: the traces URL, used verbatim;
    /// overrides the base endpoint for spans.
    pub traces_endpoint: Option<String>,
    /// `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`: the metrics URL, used verbatim;
    /// overrides the base endpoint for metrics.
    pub metrics_endpoint: Option<String>,
    /// `OTEL_EXPORTER_OTLP_PROTOCOL`: `grpc` or `http/protobuf` (default, as
    /// the OpenTelemetry specification says).
    pub protocol: OtlpProtocol,
    /// `OTEL_EXPORTER_OTLP_TIMEOUT`: milliseconds one export may take before
    /// it is abandoned. Default 10000.
    pub export_timeout: Duration,
    /// `OTEL_SERVICE_NAME`: `service.name` of every span and metric.
    /// Default `todoql`.
    pub service_name: String,
    /// `OTEL_RESOURCE_ATTRIBUTES`: extra resource attributes,
    /// `key=value,key=value` (values percent-decoded), e.g.
    /// `deployment.environment.name=staging`. A `service.instance.id` given
    /// here replaces the generated one.
    pub resource_attributes: Vec<(String, String)>,
    /// `OTEL_METRIC_EXPORT_INTERVAL`: milliseconds between metric exports.
    /// Default 15000 (the specification's 60 s is coarse for a dashboard).
    pub metric_export_interval: Duration,
    /// `OTEL_TRACES_SAMPLER_ARG`: the fraction (0–1) of new traces sampled;
    /// a caller's sampling decision in `traceparent` is always followed.
    /// Default 1.
    pub traces_sample_ratio: f64,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            endpoint: None,
            traces_endpoint: None,
            metrics_endpoint: None,
            protocol: OtlpProtocol::HttpProtobuf,
            export_timeout: Duration::from_secs(10),
            service_name: "todoql".into(),
            resource_attributes: Vec::new(),
            metric_export_interval: Duration::from_secs(15),
            traces_sample_ratio: 1.0,
        }
    }
}

impl TelemetryConfig {
    /// Reads the `OTEL_*` variables through `var` (empty values count as
    /// unset).
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let defaults = Self::default();
        let millis = |name: &str, default: Duration| -> anyhow::Result<Duration> {
            match var(name) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse::<u64>()
                    .map(Duration::from_millis)
                    .with_context(|| format!("{name}: expected milliseconds, got `{v}`")),
            }
        };
        let traces_sample_ratio = match var("OTEL_TRACES_SAMPLER_ARG") {
            None => defaults.traces_sample_ratio,
            Some(v) => match v.trim().parse::<f64>() {
                Ok(r) if (0.0..=1.0).contains(&r) => r,
                _ => bail!("OTEL_TRACES_SAMPLER_ARG: expected a number from 0 to 1, got `{v}`"),
            },
        };
        Ok(Self {
            endpoint: var("OTEL_EXPORTER_OTLP_ENDPOINT"),
            traces_endpoint: var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
            metrics_endpoint: var("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"),
            protocol: match var("OTEL_EXPORTER_OTLP_PROTOCOL") {
                None => defaults.protocol,
                Some(v) => v.parse().context("OTEL_EXPORTER_OTLP_PROTOCOL")?,
            },
            export_timeout: millis("OTEL_EXPORTER_OTLP_TIMEOUT", defaults.export_timeout)?,
            service_name: var("OTEL_SERVICE_NAME").unwrap_or(defaults.service_name),
            resource_attributes: match var("OTEL_RESOURCE_ATTRIBUTES") {
                None => Vec::new(),
                Some(v) => parse_resource_attributes(&v).context("OTEL_RESOURCE_ATTRIBUTES")?,
            },
            metric_export_interval: millis(
                "OTEL_METRIC_EXPORT_INTERVAL",
                defaults.metric_export_interval,
            )?,
            traces_sample_ratio,
        })
    }

    /// The URL spans go to, if any.
    fn traces_url(&self) -> Option<String> {
        self.signal_url(self.traces_endpoint.as_deref(), "traces")
    }

    /// The URL metrics go to, if any.
    fn metrics_url(&self) -> Option<String> {
        self.signal_url(self.metrics_endpoint.as_deref(), "metrics")
    }

    fn signal_url(&self, specific: Option<&str>, signal: &str) -> Option<String> {
        if let Some(url) = specific {
            return Some(url.to_owned());
        }
        let base = self.endpoint.as_deref()?.trim_end_matches('/');
        Some(match self.protocol {
            OtlpProtocol::Grpc => base.to_owned(),
            // The specification: the base URL gets `/v1/<signal>` over HTTP.
            OtlpProtocol::HttpProtobuf => format!("{base}/v1/{signal}"),
        })
    }
}

/// Parses `key=value,key=value` with percent-encoded values (W3C Baggage
/// octets, as the specification says).
fn parse_resource_attributes(text: &str) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, value)) = pair.split_once('=') else {
            bail!("expected key=value, got `{pair}`");
        };
        let key = key.trim();
        if key.is_empty() {
            bail!("empty key in `{pair}`");
        }
        out.push((key.to_owned(), percent_decode(value.trim())?));
    }
    Ok(out)
}

fn percent_decode(text: &str) -> anyhow::Result<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .with_context(|| format!("bad percent escape in `{text}`"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).with_context(|| format!("`{text}` is not UTF-8 once decoded"))
}

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

/// `service.*` attributes plus `OTEL_RESOURCE_ATTRIBUTES`; every process
/// gets its own `service.instance.id` so instances stay apart in metrics.
fn resource(config: &TelemetryConfig) -> Resource {
    let mut attributes = vec![
        KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
        KeyValue::new("service.instance.id", uuid::Uuid::now_v7().to_string()),
    ];
    for (key, value) in &config.resource_attributes {
        attributes.retain(|kv| kv.key.as_str() != key);
        attributes.push(KeyValue::new(key.clone(), value.clone()));
    }
    Resource::builder_empty()
        .with_service_name(config.service_name.clone())
        .with_attributes(attributes)
        .build()
}

/// Builds an OTLP exporter of type `$exporter` for `url` over the
/// configured protocol (the builders are distinct types per signal and
/// transport, so a function cannot take them).
macro_rules! otlp_exporter {
    ($exporter:path, $config:expr, $url:expr) => {{
        let builder = <$exporter>::builder();
        match $config.protocol {
            OtlpProtocol::Grpc => builder
                .with_tonic()
                .with_endpoint($url)
                .with_timeout($config.export_timeout)
                .build(),
            OtlpProtocol::HttpProtobuf => builder
                .with_http()
                .with_endpoint($url)
                .with_timeout($config.export_timeout)
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .build(),
        }
    }};
}

fn tracer_provider(
    config: &TelemetryConfig,
    url: &str,
    resource: Resource,
) -> anyhow::Result<SdkTracerProvider> {
    let exporter = otlp_exporter!(opentelemetry_otlp::SpanExporter, config, url)
        .context("building the OTLP span exporter")?;
    // Bounded queue (OTEL_BSP_MAX_QUEUE_SIZE, default 2048) drained by the
    // SDK's own thread: a request only ever does a non-blocking enqueue.
    let processor = BatchSpanProcessor::builder(CountingSpanExporter(exporter)).build();
    let sampler = Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
        config.traces_sample_ratio,
    )));
    Ok(SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_sampler(sampler)
        .with_resource(resource)
        .build())
}

fn meter_provider(
    config: &TelemetryConfig,
    url: &str,
    resource: Resource,
) -> anyhow::Result<SdkMeterProvider> {
    let exporter = otlp_exporter!(opentelemetry_otlp::MetricExporter, config, url)
        .context("building the OTLP metric exporter")?;
    let reader = PeriodicReader::builder(CountingMetricExporter(exporter))
        .with_interval(config.metric_export_interval)
        .build();
    Ok(SdkMeterProvider::builder()
        .with_reader(reader)
        .with_resource(resource)
        .build())
}

/// A span exporter that counts the spans of failed exports as dropped.
#[derive(Debug)]
struct CountingSpanExporter<E>(E);

impl<E: SpanExporter> SpanExporter for CountingSpanExporter<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let n = batch.len() as u64;
        let result = self.0.export(batch).await;
        if result.is_err() {
            metrics::get().telemetry_dropped(n, "traces");
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.0.set_resource(resource);
    }
}

/// A metric exporter that counts failed exports' data points as dropped.
struct CountingMetricExporter<E>(E);

impl<E: PushMetricExporter> PushMetricExporter for CountingMetricExporter<E> {
    async fn export(
        &self,
        metrics: &opentelemetry_sdk::metrics::data::ResourceMetrics,
    ) -> OTelSdkResult {
        let result = self.0.export(metrics).await;
        if result.is_err() {
            let points: usize = metrics.scope_metrics().flat_map(|s| s.metrics()).count();
            metrics::get().telemetry_dropped(points as u64, "metrics");
        }
        result
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn temporality(&self) -> Temporality {
        self.0.temporality()
    }
}

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

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn nothing_exported_without_an_endpoint() {
        let config = TelemetryConfig::from_lookup(lookup(&[])).unwrap_or_default();
        assert_eq!(config.traces_url(), None);
        assert_eq!(config.metrics_url(), None);
        assert_eq!(config.service_name, "todoql");
    }

    #[test]
    fn http_endpoints_get_signal_paths_and_grpc_does_not() {
        let http = TelemetryConfig::from_lookup(lookup(&[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "http://collector:4318/",
        )]))
        .unwrap_or_default();
        assert_eq!(
            http.traces_url().as_deref(),
            Some("http://collector:4318/v1/traces")
        );
        assert_eq!(
            http.metrics_url().as_deref(),
            Some("http://collector:4318/v1/metrics")
        );
        let grpc = TelemetryConfig::from_lookup(lookup(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://other:4317"),
        ]))
        .unwrap_or_default();
        assert_eq!(grpc.protocol, OtlpProtocol::Grpc);
        assert_eq!(grpc.traces_url().as_deref(), Some("http://collector:4317"));
        assert_eq!(grpc.metrics_url().as_deref(), Some("http://other:4317"));
    }

    #[test]
    fn bad_values_are_refused_with_the_variable_name() {
        for (name, value) in [
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "soon"),
            ("OTEL_TRACES_SAMPLER_ARG", "2"),
            ("OTEL_RESOURCE_ATTRIBUTES", "novalue"),
            ("OTEL_RESOURCE_ATTRIBUTES", "a=%zz"),
        ] {
            let error = TelemetryConfig::from_lookup(lookup(&[(name, value)]))
                .err()
                .map(|e| format!("{e:#}"))
                .unwrap_or_default();
            assert!(error.contains(name), "{name}={value}: {error}");
        }
    }

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

    #[test]
    fn resource_attributes_are_percent_decoded() {
        let config = TelemetryConfig::from_lookup(lookup(&[(
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment.name=staging, team=to%20do",
        )]))
        .unwrap_or_default();
        assert_eq!(
            config.resource_attributes,
            vec![
                (
                    "deployment.environment.name".to_owned(),
                    "staging".to_owned()
                ),
                ("team".to_owned(), "to do".to_owned()),
            ]
        );
    }
}
