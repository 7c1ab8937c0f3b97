//! The one admission pipeline for GraphQL requests, whatever the transport:
//! JSON parameters → a GraphQL request (the spec's "well-formed request"
//! rules) → automatic persisted queries → document limits → the
//! transport's operation rules (no mutation over `GET`, subscriptions only
//! over WebSocket) → the per-request data (credentials, address, loaders).
//! The outcome is an [`Admitted`] request or a typed [`Refusal`]; each
//! transport only renders it (status and media type for HTTP, a message or
//! a close code for WebSocket). [`Gateway::execute`] then runs an admitted
//! query or mutation under the query timeout and registers its persisted
//! query once it validated.

use std::time::Duration;

use async_graphql::{
    Request, Response, Variables,
    parser::types::{DocumentOperations, OperationType},
};
use futures_util::Stream;
use serde_json::{Map, Value};

use super::{
    AppSchema,
    context::{ClientAddr, ExecutionMarker, prepare_request},
    limits::{self, LimitExceeded, Limits},
};
use crate::{
    auth::{AuthService, Credentials},
    cache::apq::{self, PersistedQueries},
    error::{ErrorBody, ErrorCode},
    lists::ListService,
};

/// Where a request came from: what it may do depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `GET /graphql`: queries only.
    HttpGet,
    /// `POST /graphql`: queries and mutations.
    HttpPost,
    /// A WebSocket operation: everything, subscriptions included.
    WebSocket,
}

/// Why a request was not admitted. Nothing ran.
#[derive(Debug)]
pub enum Refusal {
    /// Not a well-formed GraphQL request (HTTP 400, `BAD_USER_INPUT`).
    Malformed(String),
    /// A persisted query while `APQ=false`.
    PersistedQueryNotSupported,
    /// A persisted-query hash the server does not know: send the query.
    PersistedQueryNotFound,
    /// The document is over a limit (a request error).
    Limit(LimitExceeded),
    /// A mutation sent with `GET` (HTTP 405).
    MutationOverGet,
    /// A subscription sent over HTTP (a request error).
    SubscriptionOverHttp,
}

impl Refusal {
    /// The client-facing code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Malformed(_) | Self::MutationOverGet => ErrorCode::BadUserInput,
            Self::PersistedQueryNotSupported => ErrorCode::PersistedQueryNotSupported,
            Self::PersistedQueryNotFound => ErrorCode::PersistedQueryNotFound,
            Self::Limit(_) | Self::SubscriptionOverHttp => ErrorCode::GraphqlValidationFailed,
        }
    }

    /// The message. APQ misses use the exact texts clients match on (urql
    /// retries only on `PersistedQueryNotFound`).
    pub fn message(&self) -> String {
        match self {
            Self::Malformed(message) => message.clone(),
            Self::PersistedQueryNotSupported => "PersistedQueryNotSupported".into(),
            Self::PersistedQueryNotFound => "PersistedQueryNotFound".into(),
            Self::Limit(limit) => limit.to_string(),
            Self::MutationOverGet => "mutations must be sent with POST".into(),
            Self::SubscriptionOverHttp => {
                "subscriptions are served over WebSocket at /graphql".into()
            }
        }
    }

    /// Renders the error body (`{"errors":[…]}` with the code and, for a
    /// limit, its name) with `render`.
    pub fn with_body<R>(&self, render: impl FnOnce(&ErrorBody<'_>) -> R) -> R {
        let message = self.message();
        let body = ErrorBody::new(self.code(), &message);
        match self {
            Self::Limit(limit) => render(&body.with_limit(limit.name())),
            _ => render(&body),
        }
    }
}

/// A request ready to run.
pub struct Admitted {
    request: Request,
    operation: Option<OperationType>,
    /// A persisted query to register (hash, text) once it validated.
    register: Option<(String, String)>,
    marker: ExecutionMarker,
}

impl Admitted {
    /// The operation's type, when the document names one unambiguously.
    pub fn operation(&self) -> Option<OperationType> {
        self.operation
    }
}

/// How an admitted request ended.
pub enum Executed {
    /// The response; `executed` is false for a request error (parse,
    /// validation, operation selection), which has no `data`.
    Response {
        /// The response (boxed: it is far larger than the other variant).
        response: Box<Response>,
        /// Whether execution started.
        executed: bool,
    },
    /// A query ran past the timeout and was stopped.
    TimedOut,
}

/// Admits and runs GraphQL requests for every transport.
#[derive(Clone)]
pub struct Gateway {
    schema: AppSchema,
    auth: AuthService,
    lists: ListService,
    limits: Limits,
    persisted: PersistedQueries,
    apq: bool,
    timeout: Duration,
}

impl Gateway {
    /// The pipeline over `schema`; `apq` turns persisted queries on, and
    /// queries run at most `timeout`.
    pub fn new(
        schema: AppSchema,
        (auth, lists): (AuthService, ListService),
        limits: Limits,
        persisted: PersistedQueries,
        apq: bool,
        timeout: Duration,
    ) -> Self {
        Self {
            schema,
            auth,
            lists,
            limits,
            persisted,
            apq,
            timeout,
        }
    }

    /// Decodes the caller's `Authorization` value (the one token path).
    pub fn credentials(&self, authorization: Option<&str>) -> Credentials {
        self.auth.credentials(authorization)
    }

    /// Admits one request given as its JSON parameters (`query`,
    /// `operationName`, `variables`, `extensions`).
    pub async fn admit(
        &self,
        params: Value,
        transport: Transport,
        credentials: Credentials,
        client: ClientAddr,
    ) -> Result<Admitted, Refusal> {
        let mut request = parse_request(params).map_err(Refusal::Malformed)?;
        // Automatic persisted queries: fill in the query from its hash, or
        // check the hash of the query sent to register it.
        let mut register = None;
        if let Some(pq) = persisted_query(&request) {
            let hash = pq.map_err(Refusal::Malformed)?;
            if !self.apq {
                return Err(Refusal::PersistedQueryNotSupported);
            }
            if request.query.is_empty() {
                match self.persisted.get(&hash).await {
                    Some(query) => request.query = query.to_string(),
                    None => return Err(Refusal::PersistedQueryNotFound),
                }
            } else if apq::sha256_hex(&request.query) != hash {
                return Err(Refusal::Malformed(
                    "provided sha does not match query".into(),
                ));
            } else {
                register = Some((hash, request.query.clone()));
            }
        }
        limits::check(&mut request, &self.limits).map_err(Refusal::Limit)?;
        let operation = operation_type(&mut request);
        match (operation, transport) {
            (Some(OperationType::Mutation), Transport::HttpGet) => {
                return Err(Refusal::MutationOverGet);
            }
            (Some(OperationType::Subscription), Transport::HttpGet | Transport::HttpPost) => {
                return Err(Refusal::SubscriptionOverHttp);
            }
            _ => {}
        }
        let marker = ExecutionMarker::default();
        let request = prepare_request(
            request,
            (&self.auth, &self.lists),
            credentials,
            client,
            marker.clone(),
        );
        Ok(Admitted {
            request,
            operation,
            register,
            marker,
        })
    }

    /// Runs an admitted query or mutation. Queries are bounded in time; a
    /// mutation is never cut off half-way.
    pub async fn execute(&self, admitted: Admitted) -> Executed {
        let Admitted {
            request,
            operation,
            register,
            marker,
        } = admitted;
        let response = if operation == Some(OperationType::Mutation) {
            self.schema.execute(request).await
        } else {
            match tokio::time::timeout(self.timeout, self.schema.execute(request)).await {
                Ok(response) => response,
                Err(_) => {
                    tracing::warn!("query timed out");
                    return Executed::TimedOut;
                }
            }
        };
        let executed = marker.executed();
        // Store a registered query only once it validated.
        if let (Some((hash, query)), true) = (register, executed) {
            self.persisted.put(&hash, &query).await;
        }
        Executed::Response {
            response: Box::new(response),
            executed,
        }
    }

    /// Runs an admitted operation as a stream (WebSocket: subscriptions,
    /// and queries and mutations as one-item streams).
    pub fn execute_stream(&self, admitted: Admitted) -> impl Stream<Item = Response> + use<> {
        self.schema.execute_stream(admitted.request)
    }
}

/// The operation a request will run, when the document says unambiguously.
fn operation_type(request: &mut Request) -> Option<OperationType> {
    let name = request.operation_name.clone();
    let doc = request.parsed_query().ok()?;
    match (&doc.operations, name.as_deref()) {
        (DocumentOperations::Single(op), _) => Some(op.node.ty),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| op.node.ty),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            ops.values().next().map(|op| op.node.ty)
        }
        _ => None,
    }
}

/// Turns the JSON parameters into a GraphQL request, refusing the shapes the
/// spec calls "not a GraphQL request". `query` may be absent only when the
/// request names a persisted query.
pub fn parse_request(body: Value) -> Result<Request, String> {
    let Value::Object(mut map) = body else {
        return Err("the request must be a JSON object".into());
    };
    let extensions = match map.remove("extensions") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(ext)) => ext,
        Some(_) => return Err("`extensions` must be an object".into()),
    };
    let query = match map.remove("query") {
        Some(Value::String(q)) => q,
        Some(_) => return Err("`query` must be a string".into()),
        None if extensions.contains_key("persistedQuery") => String::new(),
        None => return Err("`query` is required".into()),
    };
    let mut request = Request::new(query);
    match map.remove("operationName") {
        None | Some(Value::Null) => {}
        Some(Value::String(name)) => request = request.operation_name(name),
        Some(_) => return Err("`operationName` must be a string".into()),
    }
    match map.remove("variables") {
        None | Some(Value::Null) => {}
        Some(v @ Value::Object(_)) => request = request.variables(Variables::from_json(v)),
        Some(_) => return Err("`variables` must be an object".into()),
    }
    for (k, v) in extensions {
        if let Ok(v) = async_graphql::Value::from_json(v) {
            request.extensions.insert(k, v);
        }
    }
    Ok(request)
}

/// Apollo's APQ extension: the lower-case hash it names, or why it is
/// malformed; `None` without the extension.
fn persisted_query(request: &Request) -> Option<Result<String, String>> {
    let pq = request.extensions.get("persistedQuery")?;
    let async_graphql::Value::Object(pq) = pq else {
        return Some(Err("`extensions.persistedQuery` must be an object".into()));
    };
    let version = pq.get("version").and_then(|v| match v {
        async_graphql::Value::Number(n) => n.as_i64(),
        _ => None,
    });
    if version != Some(1) {
        return Some(Err("Unsupported persisted query version".into()));
    }
    match pq.get("sha256Hash") {
        Some(async_graphql::Value::String(hash))
            if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            Some(Ok(hash.to_ascii_lowercase()))
        }
        _ => Some(Err("`sha256Hash` must be a hex SHA-256".into())),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn request_shapes() {
        assert!(parse_request(json!({"query": "{a}"})).is_ok());
        assert!(
            parse_request(json!({"query": "{a}", "operationName": null, "variables": null, "extensions": null, "unknown": 1}))
                .is_ok()
        );
        for bad in [
            json!([]),
            json!("q"),
            json!({}),
            json!({"qeury": "{a}"}),
            json!({"query": 1}),
            json!({"query": "{a}", "variables": "x"}),
            json!({"query": "{a}", "variables": []}),
            json!({"query": "{a}", "operationName": 1}),
            json!({"query": "{a}", "extensions": "x"}),
        ] {
            assert!(parse_request(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn operation_types() {
        let op = |q: &str, name: Option<&str>| {
            let mut r = Request::new(q);
            if let Some(name) = name {
                r = r.operation_name(name);
            }
            operation_type(&mut r)
        };
        assert_eq!(op("{ a }", None), Some(OperationType::Query));
        assert_eq!(op("mutation { a }", None), Some(OperationType::Mutation));
        assert_eq!(
            op("query A { a } subscription B { b }", Some("B")),
            Some(OperationType::Subscription)
        );
        assert_eq!(op("query A { a } mutation B { b }", None), None);
        assert_eq!(op("{", None), None);
    }

    #[test]
    fn persisted_query_extension() {
        let with = |ext: Value| {
            let mut r = Request::new("");
            r.extensions.insert(
                "persistedQuery".into(),
                async_graphql::Value::from_json(ext).unwrap(),
            );
            persisted_query(&r)
        };
        let hash = "A".repeat(64);
        assert_eq!(
            with(json!({"version": 1, "sha256Hash": hash})),
            Some(Ok("a".repeat(64)))
        );
        assert!(matches!(
            with(json!({"version": 2, "sha256Hash": hash})),
            Some(Err(_))
        ));
        assert!(matches!(
            with(json!({"version": 1, "sha256Hash": "x"})),
            Some(Err(_))
        ));
        assert!(persisted_query(&Request::new("{a}")).is_none());
    }
}
