//! The service's metric instruments, named after the OpenTelemetry semantic
//! conventions where one exists (`http.server.*`, `db.client.connection.*`)
//! and under `todoql.*` otherwise. Durations are histograms in seconds with
//! explicit buckets (the SDK's defaults are meant for milliseconds).
//!
//! There is no global: each app's pipeline ([`super::Telemetry`]) builds one
//! [`Metrics`] from its own meter provider, the app keeps it in `AppState`
//! and hands a clone (an `Arc`) to every service and component that
//! records. Two apps in one process (the integration tests) therefore
//! record into their own exporters. Without an OTLP metrics endpoint the
//! instruments come from a no-op provider and cost a few nanoseconds.
//!
//! The README's metric table lists each instrument with the Prometheus
//! series it becomes after OTLP ingestion.

use std::{sync::Arc, time::Duration};

use opentelemetry::{
    KeyValue,
    metrics::{Counter, Histogram, Meter, MeterProvider, UpDownCounter},
};

/// Histogram bucket bounds in seconds, from the HTTP semantic conventions.
pub const DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Finer bounds for sub-millisecond waits (event delivery, pool checkout).
pub const FAST_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Every instrument the service records; cloning shares them.
#[derive(Clone)]
pub struct Metrics(Arc<Instruments>);

/// The instruments of one meter.
struct Instruments {
    /// Whether a real meter provider (one that exports) made them.
    exporting: bool,
    meter: Meter,
    http_duration: Histogram<f64>,
    http_active: UpDownCounter<i64>,
    graphql_operations: Counter<u64>,
    graphql_duration: Histogram<f64>,
    ws_connections: UpDownCounter<i64>,
    subscriptions: UpDownCounter<i64>,
    delivery_lag: Histogram<f64>,
    events_delivered: Counter<u64>,
    cache_requests: Counter<u64>,
    pool_wait: Histogram<f64>,
    login_failures: Counter<u64>,
    rate_limit_refusals: Counter<u64>,
    jobs_completed: Counter<u64>,
    jobs_duration: Histogram<f64>,
    dropped: Counter<u64>,
}

fn seconds(
    meter: &Meter,
    name: &'static str,
    description: &'static str,
    buckets: &[f64],
) -> Histogram<f64> {
    meter
        .f64_histogram(name)
        .with_unit("s")
        .with_description(description)
        .with_boundaries(buckets.to_vec())
        .build()
}

impl Metrics {
    /// The instruments of `provider`'s `todoql` meter; `exporting` says
    /// whether that provider exports (pool gauges are only registered then).
    pub fn new(provider: &impl MeterProvider, exporting: bool) -> Self {
        Self(Arc::new(Instruments::new(
            provider.meter("todoql"),
            exporting,
        )))
    }

    /// Instruments that record nothing (no metrics endpoint; unit tests).
    pub fn noop() -> Self {
        Self::new(
            &opentelemetry::metrics::noop::NoopMeterProvider::new(),
            false,
        )
    }

    /// Whether the instruments are exported.
    pub fn exporting(&self) -> bool {
        self.0.exporting
    }

    /// The `todoql.telemetry.dropped` counter, for the exporters that count
    /// what they lose (see `export`).
    pub(super) fn dropped(&self) -> Counter<u64> {
        self.0.dropped.clone()
    }
}

impl Instruments {
    fn new(meter: Meter, exporting: bool) -> Self {
        Self {
            exporting,
            http_duration: seconds(
                &meter,
                "http.server.request.duration",
                "Duration of HTTP server requests.",
                &DURATION_BUCKETS,
            ),
            http_active: meter
                .i64_up_down_counter("http.server.active_requests")
                .with_unit("{request}")
                .with_description("Number of active HTTP server requests.")
                .build(),
            graphql_operations: meter
                .u64_counter("graphql.operations")
                .with_unit("{operation}")
                .with_description("GraphQL operations, by type, name and error code.")
                .build(),
            graphql_duration: seconds(
                &meter,
                "graphql.operation.duration",
                "Duration of GraphQL queries and mutations.",
                &DURATION_BUCKETS,
            ),
            ws_connections: meter
                .i64_up_down_counter("todoql.websocket.connections")
                .with_unit("{connection}")
                .with_description("Open GraphQL WebSocket connections.")
                .build(),
            subscriptions: meter
                .i64_up_down_counter("todoql.subscriptions.active")
                .with_unit("{subscription}")
                .with_description("Running subscriptions.")
                .build(),
            delivery_lag: seconds(
                &meter,
                "todoql.events.delivery_lag",
                "Time from a change's commit to its event being sent to a subscriber.",
                &FAST_BUCKETS,
            ),
            events_delivered: meter
                .u64_counter("todoql.events.delivered")
                .with_unit("{event}")
                .with_description("Events sent to subscribers.")
                .build(),
            cache_requests: meter
                .u64_counter("todoql.cache.requests")
                .with_unit("{request}")
                .with_description("Cache lookups, by cache and result (hit, miss, error).")
                .build(),
            pool_wait: seconds(
                &meter,
                "db.client.connection.wait_time",
                "Time it took to obtain a connection from a pool.",
                &FAST_BUCKETS,
            ),
            login_failures: meter
                .u64_counter("todoql.auth.login_failures")
                .with_unit("{failure}")
                .with_description("Failed logins (wrong email or password).")
                .build(),
            rate_limit_refusals: meter
                .u64_counter("todoql.rate_limit.refusals")
                .with_unit("{refusal}")
                .with_description("Requests refused by a rate limit, by limit.")
                .build(),
            jobs_completed: meter
                .u64_counter("todoql.jobs.completed")
                .with_unit("{job}")
                .with_description("Job attempts that ended, by kind and outcome.")
                .build(),
            jobs_duration: seconds(
                &meter,
                "todoql.jobs.duration",
                "Duration of job attempts.",
                &DURATION_BUCKETS,
            ),
            dropped: meter
                .u64_counter("todoql.telemetry.dropped")
                .with_unit("{item}")
                .with_description("Spans and metric streams lost because an export failed.")
                .build(),
            meter,
        }
    }
}

impl Metrics {
    /// One finished HTTP request. `route` is the matched route template
    /// (never the raw path, which would explode cardinality).
    pub fn http_request(
        &self,
        method: &'static str,
        route: Option<&str>,
        status: u16,
        elapsed: Duration,
    ) {
        if !self.0.exporting {
            // No-op instruments: skip building the attributes.
            return;
        }
        let mut attributes = vec![
            KeyValue::new("http.request.method", method),
            KeyValue::new("url.scheme", "http"),
            KeyValue::new("http.response.status_code", i64::from(status)),
        ];
        if let Some(route) = route {
            attributes.push(KeyValue::new("http.route", route.to_owned()));
        }
        if status >= 500 {
            attributes.push(KeyValue::new("error.type", status.to_string()));
        }
        self.0
            .http_duration
            .record(elapsed.as_secs_f64(), &attributes);
    }

    /// An HTTP request started (`+1`) or ended (`-1`).
    pub fn http_active(&self, method: &'static str, delta: i64) {
        self.0.http_active.add(
            delta,
            &[
                KeyValue::new("http.request.method", method),
                KeyValue::new("url.scheme", "http"),
            ],
        );
    }

    /// One GraphQL operation ended (or, for a subscription, started).
    /// `error_code` is the first error's `extensions.code`.
    pub fn graphql_operation(
        &self,
        kind: &'static str,
        name: Option<&str>,
        error_code: Option<&str>,
        elapsed: Option<Duration>,
    ) {
        if !self.0.exporting {
            // No-op instruments: skip building the attributes.
            return;
        }
        let mut attributes = vec![KeyValue::new("graphql.operation.type", kind)];
        if let Some(name) = name {
            attributes.push(KeyValue::new("graphql.operation.name", truncate(name)));
        }
        if let Some(elapsed) = elapsed {
            self.0
                .graphql_duration
                .record(elapsed.as_secs_f64(), &attributes);
        }
        if let Some(code) = error_code {
            attributes.push(KeyValue::new("error.type", truncate(code)));
        }
        self.0.graphql_operations.add(1, &attributes);
    }

    /// A WebSocket connection opened (`+1`) or closed (`-1`).
    pub fn ws_connection(&self, protocol: &'static str, delta: i64) {
        self.0
            .ws_connections
            .add(delta, &[KeyValue::new("network.protocol.name", protocol)]);
    }

    /// A subscription started (`+1`) or ended (`-1`).
    pub fn subscription(&self, delta: i64) {
        self.0.subscriptions.add(delta, &[]);
    }

    /// An event was handed to a subscriber's socket `lag` after its commit.
    pub fn event_delivered(&self, lag: Option<Duration>) {
        self.0.events_delivered.add(1, &[]);
        if let Some(lag) = lag {
            self.0.delivery_lag.record(lag.as_secs_f64(), &[]);
        }
    }

    /// A cache lookup: `cache` is `reads` or `apq`, `result` is `hit`,
    /// `miss` or `error`.
    pub fn cache(&self, cache: &'static str, result: &'static str) {
        self.0.cache_requests.add(
            1,
            &[
                KeyValue::new("cache.name", cache),
                KeyValue::new("cache.result", result),
            ],
        );
    }

    /// How long a checkout from pool `pool` (`postgres`, `redis`) waited.
    pub fn pool_wait(&self, pool: &'static str, waited: Duration) {
        self.0.pool_wait.record(
            waited.as_secs_f64(),
            &[KeyValue::new("db.client.connection.pool.name", pool)],
        );
    }

    /// A login failed on credentials.
    pub fn login_failed(&self) {
        self.0.login_failures.add(1, &[]);
    }

    /// A rate limit refused a request.
    pub fn rate_limited(&self, limit: &str) {
        if !self.0.exporting {
            // No-op instruments: skip building the attributes.
            return;
        }
        self.0.rate_limit_refusals.add(
            1,
            &[KeyValue::new("todoql.rate_limit.name", truncate(limit))],
        );
    }

    /// A job attempt ended: `outcome` is `succeeded`, `retried` or `dead`.
    pub fn job_finished(&self, kind: &str, outcome: &'static str, elapsed: Duration) {
        if !self.0.exporting {
            // No-op instruments: skip building the attributes.
            return;
        }
        let kind = KeyValue::new("todoql.job.kind", truncate(kind));
        self.0
            .jobs_duration
            .record(elapsed.as_secs_f64(), std::slice::from_ref(&kind));
        self.0
            .jobs_completed
            .add(1, &[kind, KeyValue::new("todoql.job.outcome", outcome)]);
    }

    /// Reports a connection pool's size on every collection:
    /// `db.client.connection.count` (by state) and `db.client.connection.max`.
    /// `state` returns `(idle, used)`.
    pub fn observe_pool(
        &self,
        pool: &'static str,
        max: u32,
        state: impl Fn() -> (u32, u32) + Send + Sync + 'static,
    ) {
        let name = KeyValue::new("db.client.connection.pool.name", pool);
        let count_name = name.clone();
        self.0
            .meter
            .i64_observable_up_down_counter("db.client.connection.count")
            .with_unit("{connection}")
            .with_description("Connections in the pool, by state.")
            .with_callback(move |observer| {
                let (idle, used) = state();
                observer.observe(
                    i64::from(idle),
                    &[
                        count_name.clone(),
                        KeyValue::new("db.client.connection.state", "idle"),
                    ],
                );
                observer.observe(
                    i64::from(used),
                    &[
                        count_name.clone(),
                        KeyValue::new("db.client.connection.state", "used"),
                    ],
                );
            })
            .build();
        self.0
            .meter
            .i64_observable_up_down_counter("db.client.connection.max")
            .with_unit("{connection}")
            .with_description("The most connections the pool may hold.")
            .with_callback(move |observer| {
                observer.observe(i64::from(max), std::slice::from_ref(&name))
            })
            .build();
    }
}

/// Caps client-chosen attribute values (operation names) so one request
/// cannot grow a series label without bound.
fn truncate(value: &str) -> String {
    const MAX: usize = 100;
    match value.char_indices().nth(MAX) {
        Some((at, _)) => value[..at].to_owned(),
        None => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_ascend() {
        assert!(DURATION_BUCKETS.windows(2).all(|w| w[0] < w[1]));
        assert!(FAST_BUCKETS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn long_names_are_cut() {
        assert_eq!(truncate("short"), "short");
        assert_eq!(truncate(&"é".repeat(150)).chars().count(), 100);
    }
}
