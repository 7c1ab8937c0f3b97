//! The HTTP router: GraphQL (`/graphql`), the GraphiQL assets, health
//! endpoints, and the REST facade; plus the middleware every route shares.

pub mod graphiql;
pub mod graphql;
pub mod rest;
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
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};

use crate::app::AppState;

/// Builds the router over `state`.
pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let cors = if state.config.is_production() {
        CorsLayer::new()
    } else {
        CorsLayer::very_permissive()
    };
    Router::new()
        .route("/graphql", get(graphql::get).post(graphql::post))
        .route("/graphiql/{file}", get(graphiql::asset))
        .route("/ping", get(ping))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route(
            "/todos",
            get(rest::list).post(rest::create).delete(rest::delete_all),
        )
        .route(
            "/todos/{id}",
            get(rest::get).patch(rest::patch).delete(rest::delete),
        )
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(cors)
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http())
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        // A bug must cost one request a 500, never the connection or process.
        .layer(CatchPanicLayer::new())
        .with_state(state)
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
