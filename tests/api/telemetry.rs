//! OpenTelemetry export, checked against a real OTLP/gRPC receiver running
//! in the test (opentelemetry-proto's tonic server types): the spans of a
//! GraphQL request continue the caller's `traceparent`, carry their
//! semantic-convention attributes and nest; the metrics arrive with their
//! names, units and buckets; a collector that hangs neither slows requests
//! nor goes unnoticed.
//!
//! Each test's app has a pipeline of its own (`TestApp::spawn_exporting`:
//! its own providers and instruments, its own `tracing` subscriber on the
//! threads of its own runtime), so these tests run beside every other test
//! in one process.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use opentelemetry_proto::tonic::{
    collector::{
        metrics::v1::{
            ExportMetricsServiceRequest, ExportMetricsServiceResponse,
            metrics_service_server::{MetricsService, MetricsServiceServer},
        },
        trace::v1::{
            ExportTraceServiceRequest, ExportTraceServiceResponse,
            trace_service_server::{TraceService, TraceServiceServer},
        },
    },
    common::v1::{AnyValue, KeyValue, any_value},
    metrics::v1::{Metric, NumberDataPoint, metric::Data, number_data_point},
    trace::v1::{Span, span::SpanKind},
};
use serde_json::{Value, json};
use todoql::telemetry::{
    OtlpProtocol, Telemetry, TelemetryConfig,
    metrics::{DURATION_BUCKETS, FAST_BUCKETS},
};

use crate::support::{PASSWORD, TestApp, TestUser, unique_email, ws_client::WsClient};

/// A received span with its resource's attributes.
type ReceivedSpan = (Vec<KeyValue>, Span);

/// What the receiver got.
#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
    metrics: Arc<Mutex<Vec<ExportMetricsServiceRequest>>>,
    /// While set, exports are accepted and never answered.
    hang: Arc<AtomicBool>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        if self.hang.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        let mut spans = self.spans.lock().unwrap();
        for resource_spans in request.into_inner().resource_spans {
            let resource = resource_spans
                .resource
                .map(|r| r.attributes)
                .unwrap_or_default();
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    spans.push((resource.clone(), span));
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        if self.hang.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        self.metrics.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

impl Collector {
    /// Serves OTLP/gRPC on a free port; returns the receiver and its URL.
    async fn start() -> (Self, String) {
        let collector = Self::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(collector.clone()))
            .add_service(MetricsServiceServer::new(collector.clone()))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener));
        tokio::spawn(server);
        (collector, url)
    }

    fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans.lock().unwrap().clone()
    }

    /// Every metric of the latest export that has it (cumulative
    /// temporality: the latest is the total).
    fn metric(&self, name: &str) -> Option<Metric> {
        let exports = self.metrics.lock().unwrap();
        exports.iter().rev().find_map(|export| {
            export
                .resource_metrics
                .iter()
                .flat_map(|r| &r.scope_metrics)
                .flat_map(|s| &s.metrics)
                .find(|m| m.name == name)
                .cloned()
        })
    }

    fn metric_resource(&self) -> Vec<KeyValue> {
        let exports = self.metrics.lock().unwrap();
        exports
            .last()
            .and_then(|e| e.resource_metrics.first())
            .and_then(|r| r.resource.clone())
            .map(|r| r.attributes)
            .unwrap_or_default()
    }
}

/// The pipeline of an app exporting to `url`; metrics are pushed when the
/// test flushes.
fn exporting_to(url: &str, export_timeout: Duration) -> TelemetryConfig {
    TelemetryConfig {
        endpoint: Some(url.to_owned()),
        protocol: OtlpProtocol::Grpc,
        service_name: "todoql-test".into(),
        resource_attributes: vec![("deployment.environment.name".into(), "test".into())],
        metric_export_interval: Duration::from_secs(3600),
        export_timeout,
        ..TelemetryConfig::default()
    }
}

/// Exports everything pending (blocking, so on a blocking thread).
async fn flush(telemetry: &Arc<Telemetry>) {
    let telemetry = telemetry.clone();
    tokio::task::spawn_blocking(move || telemetry.flush())
        .await
        .unwrap();
}

fn text(value: &Option<AnyValue>) -> String {
    match value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}

fn attr(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .map(|kv| text(&kv.value))
}

fn has(attributes: &[KeyValue], pairs: &[(&str, &str)]) -> bool {
    pairs
        .iter()
        .all(|(k, v)| attr(attributes, k).as_deref() == Some(v))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn number(point: &NumberDataPoint) -> f64 {
    match point.value {
        Some(number_data_point::Value::AsInt(i)) => i as f64,
        Some(number_data_point::Value::AsDouble(d)) => d,
        None => f64::NAN,
    }
}

/// The value of the sum or gauge point of `metric` matching `pairs`.
fn point_value(metric: &Metric, pairs: &[(&str, &str)]) -> Option<f64> {
    let points = match metric.data.as_ref()? {
        Data::Sum(sum) => &sum.data_points,
        Data::Gauge(gauge) => &gauge.data_points,
        _ => return None,
    };
    points
        .iter()
        .find(|p| has(&p.attributes, pairs))
        .map(number)
}

/// Asserts `metric` is an explicit-bucket histogram in seconds with
/// `bounds`, with a point matching `pairs`; returns that point's count.
fn histogram_count(metric: &Metric, bounds: &[f64], pairs: &[(&str, &str)]) -> u64 {
    assert_eq!(metric.unit, "s", "{} unit", metric.name);
    let Some(Data::Histogram(histogram)) = &metric.data else {
        panic!("{} is not a histogram: {:?}", metric.name, metric.data);
    };
    let point = histogram
        .data_points
        .iter()
        .find(|p| has(&p.attributes, pairs))
        .unwrap_or_else(|| {
            panic!(
                "{}: no point with {pairs:?} in {:?}",
                metric.name, histogram.data_points
            )
        });
    assert_eq!(point.explicit_bounds, bounds, "{} buckets", metric.name);
    point.count
}

async fn post_graphql(
    app: &TestApp,
    token: Option<&str>,
    traceparent: Option<&str>,
    body: Value,
) -> Value {
    let mut request = app.graphql_request(token, &body);
    if let Some(traceparent) = traceparent {
        request = request.header("traceparent", traceparent);
    }
    request.send().await.unwrap().json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graphql_request_is_traced_and_measured_over_otlp() {
    let (collector, url) = Collector::start().await;
    let app = TestApp::spawn_exporting(
        exporting_to(&url, Duration::from_secs(5)),
        &[("JOBS_IN_PROCESS", "true"), ("LOGIN_MAX_FAILURES", "1")],
    )
    .await;
    let telemetry = app.telemetry.clone();

    // A caller with a trace of its own registers.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let traceparent = format!("00-{trace_id}-{caller_span}-01");
    let email = unique_email("otel");
    let body = post_graphql(
        &app,
        None,
        Some(&traceparent),
        json!({
            "query": "mutation SignUp($input: RegisterInput!) { register(input: $input) { accessToken user { id } } }",
            "operationName": "SignUp",
            "variables": { "input": { "email": email, "password": PASSWORD, "displayName": "Otel" } },
        }),
    )
    .await;
    let token = body["data"]["register"]["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("register: {body}"))
        .to_owned();
    let user = TestUser {
        id: body["data"]["register"]["user"]["id"]
            .as_str()
            .unwrap()
            .to_owned(),
        email: email.clone(),
        access_token: token.clone(),
        refresh_token: String::new(),
    };

    // A subscriber, kept open while metrics are collected.
    let mut socket = WsClient::ready(&app, &user).await;
    socket
        .subscribe("events", "subscription { todoEvents { kind } }", json!({}))
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.create_todo(&user, json!({ "title": "observe me" }))
        .await;
    let event = socket.recv_raw_within(Duration::from_secs(5)).await;
    assert_eq!(
        event
            .as_ref()
            .map(|e| e["payload"]["data"]["todoEvents"]["kind"].clone()),
        Some(json!("CREATED")),
        "{event:?}"
    );

    // The same list twice: a cache miss, then a hit.
    for _ in 0..2 {
        let list = post_graphql(
            &app,
            Some(&token),
            None,
            json!({ "query": "query MyTodos { todos(first: 5) { totalCount nodes { id } } }" }),
        )
        .await;
        assert_eq!(list["data"]["todos"]["totalCount"], 1, "{list}");
    }
    // Bad input, then a failed login and a refused one.
    let bad = post_graphql(
        &app,
        Some(&token),
        None,
        json!({ "query": "mutation Bad { createTodo(input: { title: \"\" }) { id } }" }),
    )
    .await;
    assert_eq!(bad["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    for _ in 0..2 {
        post_graphql(
            &app,
            None,
            None,
            json!({ "query": "mutation { login(input: { email: \"nobody@example.com\", password: \"wrong password\" }) { accessToken } }" }),
        )
        .await;
    }

    // The welcome email job runs in the background; wait for its span.
    let deadline = Instant::now() + Duration::from_secs(20);
    let job_span = loop {
        flush(&telemetry).await;
        let spans = collector.spans();
        if let Some((_, span)) = spans.iter().find(|(_, s)| s.name == "job welcome_email") {
            break span.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no job span among {} spans",
            spans.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    // --- Spans -----------------------------------------------------------
    let spans = collector.spans();
    let in_trace: Vec<&ReceivedSpan> = spans
        .iter()
        .filter(|(_, s)| hex(&s.trace_id) == trace_id)
        .collect();
    let (resource, http) = in_trace
        .iter()
        .find(|(_, s)| s.name == "POST /graphql")
        .unwrap_or_else(|| {
            panic!(
                "no HTTP span in the caller's trace: {:?}",
                in_trace.iter().map(|(_, s)| &s.name).collect::<Vec<_>>()
            )
        });
    assert_eq!(
        hex(&http.parent_span_id),
        caller_span,
        "traceparent honoured"
    );
    assert_eq!(http.kind, SpanKind::Server as i32);
    assert!(
        has(
            &http.attributes,
            &[
                ("http.request.method", "POST"),
                ("http.route", "/graphql"),
                ("http.response.status_code", "200"),
                ("url.path", "/graphql"),
                ("url.scheme", "http"),
            ]
        ),
        "HTTP span attributes: {:?}",
        http.attributes
    );
    assert!(
        has(
            resource,
            &[
                ("service.name", "todoql-test"),
                ("deployment.environment.name", "test")
            ]
        ),
        "{resource:?}"
    );
    assert!(attr(resource, "service.instance.id").is_some_and(|id| !id.is_empty()));

    let (_, operation) = in_trace
        .iter()
        .find(|(_, s)| s.name == "mutation")
        .unwrap_or_else(|| {
            panic!(
                "no GraphQL operation span named after its type: {:?}",
                in_trace
                    .iter()
                    .map(|(_, s)| (&s.name, hex(&s.parent_span_id)))
                    .collect::<Vec<_>>()
            )
        });
    assert_eq!(
        operation.parent_span_id, http.span_id,
        "nested in the HTTP span"
    );
    assert!(
        has(
            &operation.attributes,
            &[
                ("graphql.operation.type", "mutation"),
                ("graphql.operation.name", "SignUp"),
            ]
        ),
        "{:?}",
        operation.attributes
    );
    // Development mode records the document.
    assert!(
        attr(&operation.attributes, "graphql.document").is_some_and(|d| d.contains("register"))
    );

    let sql: Vec<&Span> = in_trace
        .iter()
        .map(|(_, s)| s)
        .filter(|s| attr(&s.attributes, "db.system.name").as_deref() == Some("postgresql"))
        .collect();
    assert!(!sql.is_empty(), "no SQL spans in the request's trace");
    assert!(sql.iter().all(|s| s.kind == SpanKind::Client as i32));
    let ids: Vec<&Vec<u8>> = in_trace.iter().map(|(_, s)| &s.span_id).collect();
    assert!(
        sql.iter().all(|s| ids.contains(&&s.parent_span_id)),
        "SQL spans hang off spans of the same trace"
    );
    assert!(
        sql.iter()
            .all(|s| attr(&s.attributes, "db.query.text").is_some_and(|q| !q.contains("binds"))),
        "statement text without bind values"
    );
    // The job runs later, in a trace of its own linked to the request's.
    assert_ne!(hex(&job_span.trace_id), trace_id);
    assert!(
        job_span.links.iter().any(|l| hex(&l.trace_id) == trace_id),
        "job span links to the enqueuing trace: {:?}",
        job_span.links
    );
    // The list query's Redis calls are client spans too.
    assert!(
        spans
            .iter()
            .any(|(_, s)| attr(&s.attributes, "db.system.name").as_deref() == Some("redis")),
        "no Redis spans"
    );

    // --- Metrics ---------------------------------------------------------
    let metric = |name: &str| {
        collector
            .metric(name)
            .unwrap_or_else(|| panic!("metric {name} was not exported"))
    };
    let requests = histogram_count(
        &metric("http.server.request.duration"),
        &DURATION_BUCKETS,
        &[
            ("http.request.method", "POST"),
            ("http.route", "/graphql"),
            ("http.response.status_code", "200"),
        ],
    );
    assert!(requests >= 5, "{requests} POST /graphql requests recorded");
    let active = metric("http.server.active_requests");
    assert_eq!(active.unit, "{request}");
    assert_eq!(
        point_value(&active, &[("http.request.method", "POST")]),
        Some(0.0)
    );

    let operations = metric("graphql.operations");
    assert_eq!(operations.unit, "{operation}");
    assert_eq!(
        point_value(
            &operations,
            &[
                ("graphql.operation.type", "mutation"),
                ("graphql.operation.name", "SignUp")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        point_value(
            &operations,
            &[
                ("graphql.operation.name", "Bad"),
                ("error.type", "BAD_USER_INPUT")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        point_value(&operations, &[("graphql.operation.type", "subscription")]),
        Some(1.0)
    );
    assert_eq!(
        histogram_count(
            &metric("graphql.operation.duration"),
            &DURATION_BUCKETS,
            &[
                ("graphql.operation.type", "query"),
                ("graphql.operation.name", "MyTodos")
            ],
        ),
        2
    );

    assert_eq!(
        point_value(
            &metric("todoql.websocket.connections"),
            &[("network.protocol.name", "graphql-transport-ws")]
        ),
        Some(1.0)
    );
    assert_eq!(
        point_value(&metric("todoql.subscriptions.active"), &[]),
        Some(1.0)
    );
    assert!(histogram_count(&metric("todoql.events.delivery_lag"), &FAST_BUCKETS, &[]) >= 1);
    assert!(point_value(&metric("todoql.events.delivered"), &[]).is_some_and(|n| n >= 1.0));

    let cache = metric("todoql.cache.requests");
    for result in ["miss", "hit"] {
        assert!(
            point_value(&cache, &[("cache.name", "reads"), ("cache.result", result)])
                .is_some_and(|n| n >= 1.0),
            "cache {result}"
        );
    }

    let pool = [("db.client.connection.pool.name", "postgres")];
    let connections = metric("db.client.connection.count");
    assert!(
        point_value(
            &connections,
            &[pool[0], ("db.client.connection.state", "idle")]
        )
        .is_some_and(|n| n >= 1.0)
    );
    assert_eq!(
        point_value(&metric("db.client.connection.max"), &pool),
        Some(f64::from(app.state.config.database.pool_size))
    );
    assert!(
        histogram_count(
            &metric("db.client.connection.wait_time"),
            &FAST_BUCKETS,
            &pool
        ) >= 1
    );

    assert!(point_value(&metric("todoql.auth.login_failures"), &[]).is_some_and(|n| n >= 1.0));
    assert_eq!(
        point_value(
            &metric("todoql.rate_limit.refusals"),
            &[("todoql.rate_limit.name", "login")]
        ),
        Some(1.0)
    );
    assert_eq!(
        point_value(
            &metric("todoql.jobs.completed"),
            &[
                ("todoql.job.kind", "welcome_email"),
                ("todoql.job.outcome", "succeeded")
            ]
        ),
        Some(1.0)
    );
    assert!(has(
        &collector.metric_resource(),
        &[("service.name", "todoql-test")]
    ));

    socket.complete("events").await;
    drop(socket);
    app.stop().await.unwrap();
}

/// Sequential list queries; their latencies, sorted.
async fn latencies(app: &TestApp, token: &str, n: usize) -> Vec<Duration> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let body = post_graphql(
            app,
            Some(token),
            None,
            json!({ "query": "{ todos(first: 5) { nodes { id title } } }" }),
        )
        .await;
        out.push(started.elapsed());
        assert!(body["data"]["todos"].is_object(), "{body}");
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_collector_neither_slows_requests_nor_goes_unnoticed() {
    let (collector, url) = Collector::start().await;
    let app = TestApp::spawn_exporting(exporting_to(&url, Duration::from_millis(1500)), &[]).await;
    let telemetry = app.telemetry.clone();
    let user = app.register("slowcollector").await;
    app.create_todo(&user, json!({ "title": "one" })).await;
    latencies(&app, &user.access_token, 10).await; // warm-up
    let healthy = latencies(&app, &user.access_token, 40).await;
    flush(&telemetry).await;
    assert!(
        !collector.spans().is_empty(),
        "the healthy collector got spans"
    );

    // The collector now takes every export and never answers: the SDK's
    // export thread blocks until its timeout while requests go on.
    collector.hang.store(true, Ordering::SeqCst);
    latencies(&app, &user.access_token, 5).await; // spans to export
    let stuck = {
        let telemetry = telemetry.clone();
        tokio::task::spawn_blocking(move || telemetry.flush())
    };
    let hanging = latencies(&app, &user.access_token, 40).await;
    stuck.await.unwrap();
    collector.hang.store(false, Ordering::SeqCst);

    // Compared within this run (no absolute limit on a shared machine):
    // the median request must not pay for the export timeout.
    let median = |l: &[Duration]| l[l.len() / 2];
    println!(
        "median request latency: healthy collector {:?}, hanging collector {:?}",
        median(&healthy),
        median(&hanging)
    );
    assert!(
        median(&hanging) <= median(&healthy) * 3 + Duration::from_millis(5),
        "median latency {:?} with a hanging collector vs {:?} with a healthy one",
        median(&hanging),
        median(&healthy)
    );

    // Once it answers again, the loss is reported.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        flush(&telemetry).await;
        let dropped = collector
            .metric("todoql.telemetry.dropped")
            .and_then(|m| point_value(&m, &[("signal", "traces")]));
        if dropped.is_some_and(|n| n >= 1.0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "dropped spans were not counted: {dropped:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.stop().await.unwrap();
}

/// An exporting app beside a plain one in the same process: each records
/// into its own pipeline, and the plain app reaching a span first (on a
/// thread without a subscriber) does not switch that span off for the
/// exporting one (`tracing-core` caches each span's interest process-wide).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exporting_app_beside_a_plain_one_exports_only_its_own() {
    let (collector, url) = Collector::start().await;
    let exporting = TestApp::spawn_exporting(exporting_to(&url, Duration::from_secs(5)), &[]).await;
    let plain = TestApp::spawn().await;
    let query = json!({ "query": "query Typename { __typename }" });
    for _ in 0..3 {
        let body = post_graphql(&plain, None, None, query.clone()).await;
        assert_eq!(body["data"]["__typename"], "Query", "{body}");
    }

    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let traceparent = format!("00-{trace_id}-b7ad6b7169203331-01");
    let body = post_graphql(&exporting, None, Some(&traceparent), query).await;
    assert_eq!(body["data"]["__typename"], "Query", "{body}");
    flush(&exporting.telemetry).await;

    let spans = collector.spans();
    assert!(
        spans
            .iter()
            .any(|(_, s)| s.name == "POST /graphql" && hex(&s.trace_id) == trace_id),
        "no HTTP span in the caller's trace: {:?}",
        spans.iter().map(|(_, s)| &s.name).collect::<Vec<_>>()
    );
    assert_eq!(
        spans
            .iter()
            .filter(|(_, s)| s.name == "POST /graphql")
            .count(),
        1,
        "the plain app's requests are not exported"
    );
    let requests = collector
        .metric("http.server.request.duration")
        .expect("http.server.request.duration was not exported");
    assert_eq!(
        histogram_count(
            &requests,
            &DURATION_BUCKETS,
            &[("http.request.method", "POST"), ("http.route", "/graphql")],
        ),
        1,
        "only the exporting app's request is measured"
    );
    plain.stop().await.unwrap();
    exporting.stop().await.unwrap();
}
