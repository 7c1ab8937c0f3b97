//! The todo web app (`/app`), compiled into the binary so it works with no
//! internet access: plain HTML, CSS and ES modules from `static/app/`, plus
//! the vendored ESM build of the `graphql-ws` client.

use axum::{
    extract::Path,
    http::{HeaderValue, header},
    response::{IntoResponse, Redirect, Response},
};

const INDEX: &str = include_str!("../../static/app/index.html");

/// The page's Content-Security-Policy (`'self'` covers same-origin `ws:`).
const CSP: &str = "default-src 'self'; img-src 'self' data:; connect-src 'self'; \
    base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'";

const JS: &str = "text/javascript; charset=utf-8";

/// (path under `/app/`, content type, bytes) of every asset. Nothing else
/// is served, so a path can never reach outside this list.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../../static/app/app.css"),
    ),
    ("app.js", JS, include_bytes!("../../static/app/app.js")),
    ("api.js", JS, include_bytes!("../../static/app/api.js")),
    ("store.js", JS, include_bytes!("../../static/app/store.js")),
    ("ui.js", JS, include_bytes!("../../static/app/ui.js")),
    ("live.js", JS, include_bytes!("../../static/app/live.js")),
    ("todos.js", JS, include_bytes!("../../static/app/todos.js")),
    (
        "outbox.js",
        JS,
        include_bytes!("../../static/app/outbox.js"),
    ),
    (
        "conflicts.js",
        JS,
        include_bytes!("../../static/app/conflicts.js"),
    ),
    (
        "reorder.js",
        JS,
        include_bytes!("../../static/app/reorder.js"),
    ),
    ("lists.js", JS, include_bytes!("../../static/app/lists.js")),
    ("share.js", JS, include_bytes!("../../static/app/share.js")),
    (
        "invitations.js",
        JS,
        include_bytes!("../../static/app/invitations.js"),
    ),
    (
        "verify.js",
        JS,
        include_bytes!("../../static/app/verify.js"),
    ),
    (
        "icon.svg",
        "image/svg+xml",
        include_bytes!("../../static/app/icon.svg"),
    ),
    (
        "vendor/graphql-ws/client.js",
        JS,
        include_bytes!("../../static/app/vendor/graphql-ws/client.js"),
    ),
    (
        "vendor/graphql-ws/common-CGW11Fyb.js",
        JS,
        include_bytes!("../../static/app/vendor/graphql-ws/common-CGW11Fyb.js"),
    ),
    (
        "vendor/graphql-ws/LICENSE.md",
        "text/plain; charset=utf-8",
        include_bytes!("../../static/app/vendor/graphql-ws/LICENSE.md"),
    ),
];

/// `GET /`: the app is the front door.
pub async fn root() -> Redirect {
    Redirect::to("/app")
}

/// `GET /app`: the page. `no-cache` so a new binary's page (and through
/// it, the current assets) is picked up on the next load.
pub async fn page() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            // Only this origin's scripts, styles and sockets: the refresh
            // token in localStorage is as safe as the code that can run here.
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            ),
        ],
        INDEX,
    )
        .into_response()
}

/// `GET /app/{*path}`. Assets revalidate (`no-cache`) rather than being
/// cached for a day like GraphiQL's: their names carry no version, and a
/// stale `app.js` next to a new page would break the app after an upgrade.
pub async fn asset(Path(path): Path<String>) -> Response {
    super::assets::serve_embedded(ASSETS, &path, "no-cache")
}
