//! Personalize's REST-JSON error shape for every non-2xx answer: status, `x-amzn-ErrorType`
//! header and a `{"message"}` body. SDKs read the header to pick the exception; an answer
//! without it (axum's bare 404/405/413) surfaces as an unnamed error with a text body.

use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tailor_core::api::text::{message_bounded, shown};
use tailor_core::{Error, ErrorKind};

pub(crate) const ERROR_TYPE: &str = "x-amzn-ErrorType";

/// The answer for a core error. Internal errors are logged (escaped and bounded: their text
/// can carry client input such as a storage key) and summarised to the client.
pub fn error_response(e: Error) -> Response {
    let kind = e.kind();
    if kind == ErrorKind::Internal {
        tracing::error!(error = %message_bounded(&e.to_string()), "request failed");
    }
    let status =
        StatusCode::from_u16(kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    wire_error(status, kind.name(), &e.client_message())
}

/// One error answer. The message is bounded here, once for every door, whatever echoes of
/// client input it holds.
pub fn wire_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    let body = serde_json::json!({
        "message": message_bounded(message),
        "__type": error_type,
    });
    let mut resp = (status, body.to_string()).into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(error_type) {
        headers.insert(ERROR_TYPE, v);
    }
    resp
}

/// The exception name for an HTTP status that no Personalize operation produced (routing,
/// framing, limits). Personalize defines none of these; the names follow AWS's usage.
pub(crate) fn type_of_status(status: StatusCode) -> &'static str {
    match status.as_u16() {
        404 => "UnknownOperationException",
        405 => "MethodNotAllowedException",
        408 => "RequestTimeoutException",
        413 => "RequestEntityTooLargeException",
        415 => "UnsupportedMediaTypeException",
        431 => "RequestHeaderFieldsTooLargeException",
        503 => "ServiceUnavailableException",
        s if s >= 500 => ErrorKind::Internal.name(),
        _ => ErrorKind::InvalidInput.name(),
    }
}

/// An error answer for `status` with its conventional exception name.
pub(crate) fn status_error(status: StatusCode, message: &str) -> Response {
    wire_error(status, type_of_status(status), message)
}

/// Personalize's REST paths (runtime and events) of operations tailor does not implement yet.
/// The names clients might guess for them (`/get-action-recommendations`) are answered too:
/// a user trying one learns the operation is missing, not that they mistyped a path.
const NOT_IMPLEMENTED: &[(&str, &str)] = &[
    ("/action-recommendations", "GetActionRecommendations"),
    ("/get-action-recommendations", "GetActionRecommendations"),
    ("/action-interactions", "PutActionInteractions"),
    ("/put-action-interactions", "PutActionInteractions"),
    ("/actions", "PutActions"),
    ("/put-actions", "PutActions"),
];

/// The control plane's JSON protocol: `POST /` naming the operation in this header.
pub(crate) const TARGET: &str = "x-amz-target";

/// A Personalize operation, named by `X-Amz-Target`, that tailor does not serve over HTTP.
pub(crate) fn not_served(target: &str) -> Response {
    let op = target.rsplit('.').next().unwrap_or_default();
    wire_error(
        StatusCode::BAD_REQUEST,
        "UnknownOperationException",
        &format!(
            "operation {} ({}) is not served by tailor over HTTP yet; the `tailor` CLI covers \
             the rest of the control plane (`tailor --help`)",
            shown(op),
            shown(target)
        ),
    )
}

/// The router's fallback: no route for this path. A Personalize operation tailor does not
/// serve is named in the message, so an SDK user sees which call is missing.
pub(crate) async fn unknown_operation(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    if let Some(target) = headers.get(TARGET) {
        return not_served(&String::from_utf8_lossy(target.as_bytes()));
    }
    let path = uri.path().trim_end_matches('/');
    if let Some((_, op)) = NOT_IMPLEMENTED.iter().find(|(p, _)| *p == path) {
        return wire_error(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            &format!("{op} is a Personalize operation tailor does not implement yet"),
        );
    }
    status_error(
        StatusCode::NOT_FOUND,
        &format!("no operation at {method} {}", shown(uri.path())),
    )
}

/// A known path asked with the wrong method (axum adds the `Allow` header).
pub(crate) async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    status_error(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("{} does not answer {method}", shown(uri.path())),
    )
}

/// The last layer: any error answer still without Personalize's shape (an extractor or a
/// layer of axum's) gets it, keeping the status and headers such as `Allow`. Its body is
/// replaced: axum's texts name Rust types and internals.
pub(crate) async fn personalize_shape(resp: Response) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error())
        || resp.headers().contains_key(ERROR_TYPE)
    {
        return resp;
    }
    let (mut parts, _) = resp.into_parts();
    let reason = status.canonical_reason().unwrap_or("request failed");
    let fresh = status_error(status, reason);
    let (fresh_parts, body) = fresh.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    for (name, value) in fresh_parts.headers.iter() {
        parts.headers.insert(name.clone(), value.clone());
    }
    Response::from_parts(parts, body)
}
