//! `Idempotency-Key` on the REST facade's writes (`POST`, `PATCH`,
//! `DELETE`): the same idempotency service as GraphQL, with the operation's
//! fingerprint made of the method, the path (with its query string) and the
//! body bytes. The first request claims the key and runs under the claim
//! (its write marks the claim applied, see [`crate::write_claim`]); its
//! response (status, media type, body) is kept, and a repeat gets it back
//! with `Idempotent-Replayed: true`.

use axum::{
    body::Body,
    extract::{Request, State},
    http::{HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

use tracing::Instrument;

use super::{graphql::IDEMPOTENCY_KEY, rest::RestError};
use crate::{
    idempotency::{Begin, Fingerprint, IdempotencyError, IdempotencyKey, KeyScope, Transport},
    state::AppState,
    write_claim,
};

/// The middleware: passes requests without a key (and reads) through.
pub async fn once(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(raw) = request.headers().get(IDEMPOTENCY_KEY).cloned() else {
        return next.run(request).await;
    };
    if !matches!(
        *request.method(),
        Method::POST | Method::PATCH | Method::DELETE
    ) {
        return next.run(request).await;
    }
    let parsed = raw
        .to_str()
        .map_err(|_| "the idempotency key must be printable ASCII characters".to_owned())
        .and_then(IdempotencyKey::parse);
    let key = match parsed {
        Ok(key) => key,
        Err(message) => {
            return RestError::idempotency(&IdempotencyError::InvalidKey(message)).into_response();
        }
    };
    // The key space is the caller's: without a valid token the request
    // fails authentication anyway, so it runs unkeyed.
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let user = match state.auth.credentials(authorization).claims() {
        Ok(claims) => claims.sub,
        Err(_) => return next.run(request).await,
    };
    let (parts, body) = request.into_parts();
    let limit = state.config.max_body_bytes;
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        return RestError::too_large(limit).into_response();
    };
    let path = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());
    let fingerprint = Fingerprint::rest(parts.method.as_str(), &path, &bytes);
    let keys = state.idempotency.clone();
    // Detached, like GraphQL's keyed runs: a client that goes away does not
    // cut the run between its claim, its commit and the kept response.
    let run = async move {
        match keys
            .begin(KeyScope::User(user), &key, fingerprint, Transport::Rest)
            .await
        {
            Err(e) => RestError::idempotency(&e).into_response(),
            Ok(Begin::Replay(stored)) => {
                let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
                let mut response = (status, stored.body).into_response();
                let headers = response.headers_mut();
                if let Ok(media) = HeaderValue::from_str(&stored.media_type) {
                    headers.insert(header::CONTENT_TYPE, media);
                }
                headers.insert(
                    super::graphql::IDEMPOTENT_REPLAYED,
                    HeaderValue::from_static("true"),
                );
                response
            }
            Ok(Begin::Run(claim)) => {
                let request = Request::from_parts(parts, Body::from(bytes));
                let response = write_claim::scope(Some(claim.clone()), next.run(request)).await;
                let (parts, body) = response.into_parts();
                let bytes = axum::body::to_bytes(body, usize::MAX)
                    .await
                    .unwrap_or_default();
                let media = parts
                    .headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("application/json");
                // Nothing ran on a refusal for load or a failure: free the key.
                let retryable =
                    parts.status == StatusCode::TOO_MANY_REQUESTS || parts.status.is_server_error();
                keys.complete(&claim, (parts.status.as_u16(), media, &bytes), retryable)
                    .await;
                Response::from_parts(parts, Body::from(bytes))
            }
        }
    };
    tokio::spawn(run.instrument(tracing::Span::current()))
        .await
        .unwrap_or_else(|_| RestError::idempotency(&IdempotencyError::Interrupted).into_response())
}
