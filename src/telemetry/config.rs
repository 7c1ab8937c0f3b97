//! The OpenTelemetry part of the configuration: the standard `OTEL_*`
//! variables, parsed once into [`TelemetryConfig`].

use std::{str::FromStr, time::Duration};

use anyhow::{Context as _, bail};

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
    pub fn traces_url(&self) -> Option<String> {
        self.signal_url(self.traces_endpoint.as_deref(), "traces")
    }

    /// The URL metrics go to, if any.
    pub fn metrics_url(&self) -> Option<String> {
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
