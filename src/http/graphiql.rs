//! The GraphiQL playground, compiled into the binary so it works with no
//! internet access (no CDN): the page and its vendored scripts and styles
//! from `static/graphiql/`.

use axum::{
    extract::Path,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};

const INDEX: &str = include_str!("../../static/graphiql/index.html");

/// (file name, content type, bytes) of every asset.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "react.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/graphiql/react.production.min.js"),
    ),
    (
        "react-dom.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/graphiql/react-dom.production.min.js"),
    ),
    (
        "graphiql.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/graphiql/graphiql.min.js"),
    ),
    (
        "graphiql.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../../static/graphiql/graphiql.min.css"),
    ),
    (
        "graphql-ws.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/graphiql/graphql-ws.min.js"),
    ),
    (
        "LICENSES.txt",
        "text/plain; charset=utf-8",
        include_bytes!("../../static/graphiql/LICENSES.txt"),
    ),
];

/// The playground page.
pub fn page() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        INDEX,
    )
        .into_response()
}

/// `GET /graphiql/{file}`: versioned vendor files, cached for a day.
pub async fn asset(Path(file): Path<String>) -> Response {
    super::assets::serve_embedded(ASSETS, &file, "public, max-age=86400")
}
