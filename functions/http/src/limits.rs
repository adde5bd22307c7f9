//! What a request must look like before any operation reads it: size, headers, content type.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::Request;
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use crate::errors::status_error;

/// The largest body read. Personalize's largest request is PutItems: 10 items of 32,000
/// characters of properties, which JSON-in-JSON escaping can double; 2 MiB holds that with
/// room and keeps one request's memory small.
pub const MAX_BODY_BYTES: usize = 2 << 20;

/// Header limits answered in Personalize's error shape (431). The server's HTTP parser has
/// higher hard limits ([`crate::server`]); past those it answers a bare 431 and closes.
pub const MAX_HEADERS: usize = 100;
pub const MAX_HEADER_BYTES: usize = 16 << 10;

/// Content types taken as JSON: what the SDKs send to Personalize's REST-JSON endpoints
/// (`application/json`), and the AWS JSON-protocol types some clients send to any AWS
/// endpoint. Anything else, or none, is refused: a browser page can POST `text/plain` or a
/// typeless body to 127.0.0.1 without a CORS preflight, so without this check any web page
/// open on a developer's machine could write events into the local server.
const JSON_TYPES: [&str; 3] = [
    "application/json",
    "application/x-amz-json-1.0",
    "application/x-amz-json-1.1",
];

/// Refuses requests with more or larger headers than [`MAX_HEADERS`] / [`MAX_HEADER_BYTES`].
pub(crate) async fn check_headers(req: Request, next: Next) -> Response {
    let headers = req.headers();
    let bytes: usize = headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.as_bytes().len() + 4)
        .sum();
    if headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        return status_error(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            &format!(
                "request headers must be at most {MAX_HEADERS} fields and {MAX_HEADER_BYTES} bytes, but are {} fields and {bytes} bytes",
                headers.len()
            ),
        );
    }
    next.run(req).await
}

/// The body of an operation's request, or the error answer for it: a JSON content type and
/// a body within [`MAX_BODY_BYTES`].
// The error is the answer itself, returned at once by the handler: boxing it buys nothing.
#[allow(clippy::result_large_err)]
pub(crate) fn json_body(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Bytes, Response> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
    match content_type {
        Some(t) if JSON_TYPES.contains(&t.as_str()) => {}
        _ => {
            return Err(status_error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Type must be application/json",
            ))
        }
    }
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            status_error(
                StatusCode::BAD_REQUEST,
                "the request body could not be read",
            )
        }
    })
}

pub(crate) fn too_large() -> Response {
    status_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!("the request body must be at most {MAX_BODY_BYTES} bytes"),
    )
}
