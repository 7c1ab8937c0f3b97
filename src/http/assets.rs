//! Files compiled into the binary (GraphiQL's vendored bundle, the web
//! app), served from fixed tables so a path can never reach outside them.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

/// Serves `path` from an embedded asset table (name, content type, bytes)
/// with `cache_control`; anything not in the table is a 404, so a path can
/// never reach outside it.
pub fn serve_embedded(
    assets: &[(&str, &'static str, &'static [u8])],
    path: &str,
    cache_control: &'static str,
) -> Response {
    match assets.iter().find(|(name, _, _)| *name == path) {
        Some((_, content_type, bytes)) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static(cache_control),
                ),
            ],
            *bytes,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
