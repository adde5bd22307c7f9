//! The local server's access log: one line per request, so a user debugging a client sees
//! what the server made of each call (a 404 for a mistyped path, a 400 for a bad body) without
//! turning on debug logs. Bodies are never logged: they carry user ids and events.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tailor_core::api::text::shown;

/// The tracing target of access lines: `TAILOR_LOG` can turn them off on its own
/// (`warn,tailor::access=off`).
pub const TARGET: &str = "tailor::access";

/// The header Personalize names its request id with; the SDKs report it with every error.
pub const REQUEST_ID: &str = "x-amzn-RequestId";

/// Middleware (`axum::middleware::from_fn(access::log)`, outermost): gives the request an id,
/// answers with it in `x-amzn-RequestId`, and logs method, route, status, latency and the id.
/// The route is the matched route, or the path as asked (escaped and bounded: it is the
/// client's text) when no route matched.
pub async fn log(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let method = shown(req.method().as_str());
    let route = match req.extensions().get::<MatchedPath>() {
        Some(p) => p.as_str().to_string(),
        None => shown(req.uri().path()),
    };
    let mut resp = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert(REQUEST_ID, v);
    }
    tracing::info!(
        target: TARGET,
        method = %method,
        route = %route,
        status = resp.status().as_u16(),
        latency_ms = (started.elapsed().as_secs_f64() * 1e5).round() / 100.0,
        request_id = %request_id,
    );
    resp
}
