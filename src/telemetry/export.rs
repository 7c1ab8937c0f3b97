//! The OTLP pipelines: the resource every signal carries, the span and
//! metric exporters over gRPC or HTTP/protobuf, and the wrappers that count
//! what a failed export drops.

use std::{
    sync::{Arc, OnceLock},
    time::Duration,
};

use anyhow::Context as _;
use opentelemetry::{KeyValue, metrics::Counter};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::{
    Resource,
    error::OTelSdkResult,
    metrics::{PeriodicReader, SdkMeterProvider, Temporality, exporter::PushMetricExporter},
    trace::{BatchSpanProcessor, Sampler, SdkTracerProvider, SpanData, SpanExporter},
};

use super::config::{OtlpProtocol, TelemetryConfig};

/// Where the counting exporters record what they lose
/// (`todoql.telemetry.dropped`). The counter comes from the pipeline's own
/// meter provider, which contains the metric exporter, so it is handed over
/// once that provider is built ([`Dropped::count_with`]). It holds the
/// counter alone, not the whole `Metrics`: the meter would make the
/// provider own itself through its exporter.
#[derive(Clone, Debug, Default)]
pub struct Dropped(Arc<OnceLock<Counter<u64>>>);

impl Dropped {
    /// Counts into `counter` from now on.
    pub fn count_with(&self, counter: Counter<u64>) {
        let _ = self.0.set(counter);
    }

    fn add(&self, items: u64, signal: &'static str) {
        if let Some(counter) = self.0.get() {
            counter.add(items, &[KeyValue::new("signal", signal)]);
        }
    }
}

/// `service.*` attributes plus `OTEL_RESOURCE_ATTRIBUTES`; every process
/// gets its own `service.instance.id` so instances stay apart in metrics.
pub fn resource(config: &TelemetryConfig) -> Resource {
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

/// The tracer provider exporting to `url`.
pub fn tracer_provider(
    config: &TelemetryConfig,
    url: &str,
    resource: Resource,
    dropped: Dropped,
) -> anyhow::Result<SdkTracerProvider> {
    let exporter = otlp_exporter!(opentelemetry_otlp::SpanExporter, config, url)
        .context("building the OTLP span exporter")?;
    // Bounded queue (OTEL_BSP_MAX_QUEUE_SIZE, default 2048) drained by the
    // SDK's own thread: a request only ever does a non-blocking enqueue.
    let processor = BatchSpanProcessor::builder(CountingSpanExporter(exporter, dropped)).build();
    let sampler = Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
        config.traces_sample_ratio,
    )));
    Ok(SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_sampler(sampler)
        .with_resource(resource)
        .build())
}

/// The meter provider exporting to `url`.
pub fn meter_provider(
    config: &TelemetryConfig,
    url: &str,
    resource: Resource,
    dropped: Dropped,
) -> anyhow::Result<SdkMeterProvider> {
    let exporter = otlp_exporter!(opentelemetry_otlp::MetricExporter, config, url)
        .context("building the OTLP metric exporter")?;
    let reader = PeriodicReader::builder(CountingMetricExporter(exporter, dropped))
        .with_interval(config.metric_export_interval)
        .build();
    Ok(SdkMeterProvider::builder()
        .with_reader(reader)
        .with_resource(resource)
        .build())
}

/// A span exporter that counts the spans of failed exports as dropped.
#[derive(Debug)]
struct CountingSpanExporter<E>(E, Dropped);

impl<E: SpanExporter> SpanExporter for CountingSpanExporter<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let n = batch.len() as u64;
        let result = self.0.export(batch).await;
        if result.is_err() {
            self.1.add(n, "traces");
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
struct CountingMetricExporter<E>(E, Dropped);

impl<E: PushMetricExporter> PushMetricExporter for CountingMetricExporter<E> {
    async fn export(
        &self,
        metrics: &opentelemetry_sdk::metrics::data::ResourceMetrics,
    ) -> OTelSdkResult {
        let result = self.0.export(metrics).await;
        if result.is_err() {
            let points: usize = metrics.scope_metrics().flat_map(|s| s.metrics()).count();
            self.1.add(points as u64, "metrics");
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
