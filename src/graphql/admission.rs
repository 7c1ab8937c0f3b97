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
//!
//! Idempotency keys are handled here too, so every transport behaves
//! alike: `admit` reads the key (the HTTP header, or
//! `extensions.idempotencyKey`) of a mutation and computes its scope and
//! fingerprint (queries and subscriptions ignore it); [`Gateway::execute_once`]
//! claims it, runs the mutation under the claim and keeps the rendered
//! response, or answers the stored one ([`crate::idempotency`]).

mod request;

use std::{any::TypeId, time::Duration};

use async_graphql::{Request, Response, parser::types::OperationType};
use futures_util::{FutureExt, Stream};
use serde_json::Value;
use tracing::Instrument;

pub use self::request::parse_request;
use self::request::{operation_type, persisted_query, raw_key};

use uuid::Uuid;

use super::{
    Schemas,
    context::{ClientAddr, ExecutionMarker, prepare_request},
    documents::SharedDocument,
    limits::{self, LimitExceeded, Limits},
    pipeline,
    shapes::ShapeKey,
};
use crate::{
    auth::{AuthService, Credentials, loader::UserDataLoader},
    cache::apq::{self, PersistedQueries},
    error::{ErrorBody, ErrorCode},
    idempotency::{
        self, Begin, Fingerprint, IdempotencyError, IdempotencyKey, IdempotencyService, KeyScope,
        Stored,
    },
    lists::ListService,
    write_claim,
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
    /// A mutation's idempotency key is not 1–255 printable ASCII
    /// characters (HTTP 400, `BAD_USER_INPUT`).
    InvalidIdempotencyKey(String),
}

impl Refusal {
    /// The client-facing code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Malformed(_) | Self::MutationOverGet | Self::InvalidIdempotencyKey(_) => {
                ErrorCode::BadUserInput
            }
            Self::PersistedQueryNotSupported => ErrorCode::PersistedQueryNotSupported,
            Self::PersistedQueryNotFound => ErrorCode::PersistedQueryNotFound,
            Self::Limit(_) | Self::SubscriptionOverHttp => ErrorCode::GraphqlValidationFailed,
        }
    }

    /// The message. APQ misses use the exact texts clients match on (urql
    /// retries only on `PersistedQueryNotFound`).
    pub fn message(&self) -> String {
        match self {
            Self::Malformed(message) | Self::InvalidIdempotencyKey(message) => message.clone(),
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
    /// A mutation's idempotency key, with its scope and fingerprint.
    keyed: Option<Keyed>,
    /// Whose budget the operation is charged to: a valid token's user.
    payer: Option<Uuid>,
}

/// An admitted mutation's idempotency key.
struct Keyed {
    key: IdempotencyKey,
    scope: KeyScope,
    fingerprint: Fingerprint,
    transport: idempotency::Transport,
}

/// A transport's rendering of a response, which a key keeps byte for byte.
pub trait Keepable {
    /// The status (HTTP; WebSocket: 200 for a result, 400 for a request
    /// error), the media type and the body to keep.
    fn kept(&self) -> (u16, &str, &[u8]);
}

/// How [`Gateway::execute_once`] answered.
pub enum Once<T> {
    /// The request ran (with or without a key); the transport's rendering.
    Ran(T),
    /// The key's stored response; nothing ran.
    Replayed(Stored),
    /// The key was refused (reused, in use, or the store failed); nothing ran.
    Refused(IdempotencyError),
}

impl Admitted {
    /// The operation's type, when the document names one unambiguously.
    pub fn operation(&self) -> Option<OperationType> {
        self.operation
    }

    /// Whether it is a mutation with an idempotency key.
    pub fn is_keyed(&self) -> bool {
        self.keyed.is_some()
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
    schemas: Schemas,
    auth: AuthService,
    lists: ListService,
    idempotency: IdempotencyService,
    limits: Limits,
    persisted: PersistedQueries,
    apq: bool,
    timeout: Duration,
}

impl Gateway {
    /// The pipeline over `schemas`; `apq` turns persisted queries on, and
    /// queries run at most `timeout`.
    pub fn new(
        schemas: Schemas,
        (auth, lists, idempotency): (AuthService, ListService, IdempotencyService),
        limits: Limits,
        persisted: PersistedQueries,
        apq: bool,
        timeout: Duration,
    ) -> Self {
        Self {
            schemas,
            auth,
            lists,
            idempotency,
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
    /// `operationName`, `variables`, `extensions`); `header_key` is the
    /// HTTP `Idempotency-Key` header, if any.
    pub async fn admit(
        &self,
        params: Value,
        transport: Transport,
        (credentials, client): (Credentials, ClientAddr),
        header_key: Option<&str>,
    ) -> Result<Admitted, Refusal> {
        let raw_key = raw_key(&params, header_key).map_err(Refusal::Malformed)?;
        // What the fingerprint is made of, kept only when a key came.
        let operation_parts = raw_key.as_ref().map(|_| {
            let name = params.get("operationName").and_then(Value::as_str);
            (name.map(str::to_owned), params.get("variables").cloned())
        });
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
        // Queries and subscriptions ignore the key.
        let keyed = match (raw_key, operation_parts, operation) {
            (Some(raw), Some((name, variables)), Some(OperationType::Mutation)) => {
                let key = IdempotencyKey::parse(&raw).map_err(Refusal::InvalidIdempotencyKey)?;
                Some(Keyed {
                    key,
                    scope: match &credentials {
                        Credentials::Token(Ok(claims)) => KeyScope::User(claims.sub),
                        _ => KeyScope::Addr(client.0),
                    },
                    fingerprint: Fingerprint::graphql(
                        &request.query,
                        name.as_deref(),
                        variables.as_ref(),
                    ),
                    transport: match transport {
                        Transport::WebSocket => idempotency::Transport::Ws,
                        Transport::HttpGet | Transport::HttpPost => idempotency::Transport::Http,
                    },
                })
            }
            _ => None,
        };
        let marker = ExecutionMarker::default();
        let payer = match &credentials {
            Credentials::Token(Ok(claims)) => Some(claims.sub),
            _ => None,
        };
        let request = prepare_request(
            request,
            (&self.auth, &self.lists),
            credentials,
            client,
            marker.clone(),
            operation == Some(OperationType::Mutation),
        );
        Ok(Admitted {
            request,
            operation,
            register,
            marker,
            keyed,
            payer,
        })
    }

    /// Runs an admitted request, once per idempotency key: without a key,
    /// [`Self::execute`] and `render`; with one, the key is claimed first
    /// (or its stored response answered, or it is refused), the mutation
    /// runs under the claim (its writes mark it applied, see
    /// [`crate::write_claim`]) and what `render` made of it is kept.
    ///
    /// A keyed run is detached from the caller: a client that goes away
    /// (a dropped HTTP connection, a WebSocket `complete`) does not cut it
    /// between its claim, its commit and the stored response.
    pub async fn execute_once<T: Keepable + Send + 'static>(
        &self,
        mut admitted: Admitted,
        render: impl FnOnce(Executed) -> T + Send + 'static,
    ) -> Once<T> {
        let Some(keyed) = admitted.keyed.take() else {
            return Once::Ran(render(self.execute(admitted).await));
        };
        let gateway = self.clone();
        let run = async move {
            // A signed-in caller's row is read in the claim's write: the
            // mutation needs it first thing (`context::viewer`), and it
            // then costs no round trip of its own, nor the claim one.
            let viewer = match keyed.scope {
                KeyScope::User(id) => Some(id),
                KeyScope::Addr(_) => None,
            };
            let begin = gateway
                .idempotency
                .begin_with(
                    keyed.scope,
                    &keyed.key,
                    keyed.fingerprint,
                    keyed.transport,
                    async |conn| match viewer {
                        Some(id) => AuthService::users_on(conn, &[id]).await.ok(),
                        None => None,
                    },
                )
                .await;
            match begin {
                Ok((Begin::Replay(stored), _)) => Once::Replayed(stored),
                Err(refused) => Once::Refused(refused),
                Ok((Begin::Run(claim), viewer)) => {
                    if let Some(rows) = viewer {
                        prime_users(&admitted.request, rows).await;
                    }
                    let executed =
                        write_claim::scope(Some(claim.clone()), gateway.execute(admitted)).await;
                    let retryable = retryable(&executed);
                    let rendered = render(executed);
                    let (status, media_type, body) = rendered.kept();
                    gateway
                        .idempotency
                        .complete(&claim, (status, media_type, body), retryable)
                        .await;
                    Once::Ran(rendered)
                }
            }
        };
        tokio::spawn(run.instrument(tracing::Span::current()))
            .await
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "keyed operation task failed");
                Once::Refused(IdempotencyError::Interrupted)
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
            payer,
            ..
        } = admitted;
        let run = self.run(request, payer, &marker);
        let response = if operation == Some(OperationType::Mutation) {
            run.await
        } else {
            match tokio::time::timeout(self.timeout, run).await {
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

    /// Runs `request` on the schema without the extension when its exact
    /// shape got as far as execution before ([`super::shapes`]); else on
    /// the checked schema, and remembers the shape once it gets that far.
    async fn run(
        &self,
        request: Request,
        payer: Option<Uuid>,
        marker: &ExecutionMarker,
    ) -> Response {
        let document = request
            .data
            .get(&TypeId::of::<SharedDocument>())
            .and_then(|d| d.downcast_ref::<SharedDocument>())
            .cloned();
        // Each schema's execution is boxed: its future is tens of KB, and
        // two inline here would make every request's future (moved into
        // the HTTP stack's box) that much larger again. Without a cached
        // document (the cache is off, or the text did not parse), no shape.
        let Some(document) = document else {
            return self.schemas.checked.execute(request).boxed().await;
        };
        let shapes = &document.0.shapes;
        let name = request.operation_name.as_deref();
        let key = ShapeKey::of(&request.variables);
        if let Some(complexity) = key.and_then(|k| shapes.complexity(k, name, &request.variables)) {
            let schemas = &self.schemas;
            return pipeline::run_known(
                &schemas.known,
                &schemas.telemetry,
                (&document, complexity),
                payer,
                marker,
                request,
            )
            .boxed()
            .await;
        }
        let shape = key.map(|k| (k, request.operation_name.clone(), request.variables.clone()));
        let response = self.schemas.checked.execute(request).boxed().await;
        // Known once it got as far as execution: past validation, and past
        // choosing the operation, which comes after (`query A {…} query B
        // {…}` without a name validates, then fails there).
        if let (Some((key, name, variables)), Some(complexity), true) =
            (shape, marker.complexity(), marker.executed())
        {
            shapes.remember(key, name.as_deref(), variables, complexity);
        }
        response
    }

    /// Runs an admitted operation as a stream (WebSocket: subscriptions,
    /// and queries and mutations as one-item streams).
    pub fn execute_stream(&self, admitted: Admitted) -> impl Stream<Item = Response> + use<> {
        self.schemas.checked.execute_stream(admitted.request)
    }
}

/// Whether a response says "nothing ran, try again": the per-user budget
/// (`RATE_LIMITED`) or an internal failure. Its key is released rather
/// than kept, unless the write was applied after all.
fn retryable(executed: &Executed) -> bool {
    let Executed::Response { response, .. } = executed else {
        return true;
    };
    response.errors.iter().any(|e| {
        matches!(
            e.extensions.as_ref().and_then(|x| x.get("code")),
            Some(async_graphql::Value::String(code))
                if code == ErrorCode::RateLimited.as_str()
                    || code == ErrorCode::InternalServerError.as_str()
        )
    })
}

/// Primes `request`'s user DataLoader with `rows` (read by the caller in
/// a write it made anyway), so resolvers find them without a query. A
/// row missing here (a deleted account) is simply not primed: the
/// resolver then reads it, and answers as it always does.
async fn prime_users(request: &Request, rows: Vec<crate::auth::model::User>) {
    let loader = request
        .data
        .get(&std::any::TypeId::of::<UserDataLoader>())
        .and_then(|data| data.downcast_ref::<UserDataLoader>());
    if let Some(loader) = loader {
        loader.feed_many(rows);
    }
}
