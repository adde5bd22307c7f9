//! The console: a page, a script and a style sheet, embedded in the binary, served at
//! `/console`. It calls the same endpoints boto3 calls (`POST /` for the control plane,
//! `POST /recommendations` and `/personalize-ranking` for the runtime): no side door, no CDN,
//! nothing fetched from anywhere else.

use axum::http::header;
use axum::response::{IntoResponse, Response};

const INDEX: &str = include_str!("../console/index.html");
const SCRIPT: &str = include_str!("../console/console.js");
const STYLE: &str = include_str!("../console/console.css");

/// Every embedded asset: (path under /console, content type, body).
pub const ASSETS: [(&str, &str, &str); 3] = [
    ("", "text/html; charset=utf-8", INDEX),
    ("console.js", "text/javascript; charset=utf-8", SCRIPT),
    ("console.css", "text/css; charset=utf-8", STYLE),
];

fn asset(path: &str) -> Response {
    let Some((_, content_type, body)) = ASSETS.iter().find(|(p, _, _)| *p == path) else {
        return (axum::http::StatusCode::NOT_FOUND, "no such console file").into_response();
    };
    (
        [
            (header::CONTENT_TYPE, *content_type),
            // The page may only talk to this origin and run its own files.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        *body,
    )
        .into_response()
}

/// The console's routes, for any server that serves them (the local one, the stack's control
/// function, `tailor console`'s proxy).
pub fn router<S: Clone + Send + Sync + 'static>() -> axum::Router<S> {
    use axum::routing::get;
    axum::Router::new()
        .route("/console", get(index))
        .route("/console/", get(index))
        .route("/console/{file}", get(file))
}

pub(crate) async fn index() -> Response {
    asset("")
}

pub(crate) async fn file(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    asset(&name)
}

/// Bytes of the embedded assets.
pub fn embedded_bytes() -> usize {
    ASSETS.iter().map(|(_, _, body)| body.len()).sum()
}
