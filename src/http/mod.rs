//! The HTTP router: GraphQL (`/graphql`), the GraphiQL assets, the web app
//! (`/app`), health endpoints, and the REST facade; plus the middleware every route shares,
//! the request body limit ([`body`]) and the listener whose connections
//! drain a refused upload before closing ([`linger`]).

pub mod assets;
pub mod body;
pub mod client;
pub mod graphiql;
pub mod graphql;
pub mod linger;
pub mod rest;
pub mod rest_keys;
pub mod telemetry;
pub mod webapp;
pub mod ws;

use std::time::Duration;

use axum::{
    Router,
    extract::{DefaultBodyLimit, State},
    http::{HeaderName, StatusCode},
    response::IntoResponse,
    routing::get,
};
use serde_json::json;
use tower_http::{
    catch_panic::CatchPanicLayer,
    cors::CorsLayer,
    request_id::{PropagateRequestIdLayer, SetRequestIdLayer},
};

use crate::state::AppState;

/// Builds the router over `state`.
pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let cors = cors(&state.config);
    Router::new()
        .route("/graphql", get(graphql::get).post(graphql::post))
        .route("/graphiql/{file}", get(graphiql::asset))
        .route("/", get(webapp::root))
        .route("/app", get(webapp::page))
        .route("/app/{*path}", get(webapp::asset))
        .route("/ping", get(ping))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(
            Router::new()
                .route(
                    "/todos",
                    get(rest::list).post(rest::create).delete(rest::delete_all),
                )
                .route(
                    "/todos/{id}",
                    get(rest::get).patch(rest::patch).delete(rest::delete),
                )
                .route_layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    rest_keys::once,
                )),
        )
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(cors)
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        // A bug must cost one request a 500, never the connection or process.
        .layer(CatchPanicLayer::new())
        // Router layers run after routing, so the span and metrics know the
        // matched route; outside the panic catcher, so they see its 500.
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            telemetry::trace,
        ))
        .layer(SetRequestIdLayer::new(
            request_id,
            telemetry::MakeRequestUuid,
        ))
        .with_state(state)
}

/// CORS: the configured origins; with none configured, any origin in
/// development and none (same-origin only) in production.
fn cors(config: &crate::config::Config) -> CorsLayer {
    use axum::http::{HeaderValue, Method, header};
    let origins: Vec<HeaderValue> = config
        .cors_allowed_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    if origins.is_empty() {
        return if config.is_production() {
            CorsLayer::new()
        } else {
            CorsLayer::very_permissive()
        };
    }
    CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            header::ACCEPT,
            HeaderName::from_static("apollo-require-preflight"),
            HeaderName::from_static("x-apollo-operation-name"),
            HeaderName::from_static(graphql::IDEMPOTENCY_KEY),
        ])
        .expose_headers([header::RETRY_AFTER, graphql::IDEMPOTENT_REPLAYED])
        .max_age(Duration::from_secs(600))
}

/// `GET /ping`: the REST-era liveness check.
async fn ping() -> &'static str {
    "pong"
}

/// `GET /healthz`: answers while the process runs.
async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

use axum::Json;

/// `GET /readyz`: 200 while PostgreSQL (and Redis, when configured) answer
/// within a second, 503 otherwise.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let limit = Duration::from_secs(1);
    let postgres = matches!(
        tokio::time::timeout(limit, state.db.ping()).await,
        Ok(Ok(()))
    );
    let redis = match &state.redis {
        None => None,
        Some(redis) => Some(matches!(
            tokio::time::timeout(limit, crate::cache::ping(redis)).await,
            Ok(Ok(()))
        )),
    };
    let ready = postgres && redis.unwrap_or(true);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let word = |ok: bool| if ok { "up" } else { "down" };
    let mut checks = json!({ "postgres": word(postgres) });
    if let Some(redis) = redis {
        checks["redis"] = json!(word(redis));
    }
    (
        status,
        Json(json!({ "status": if ready { "ready" } else { "unavailable" }, "checks": checks })),
    )
}
