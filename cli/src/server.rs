//! `tailor serve`: the runtime and events APIs over HTTP on 127.0.0.1, wire-compatible with
//! Personalize so the AWS SDKs work with `endpoint_url` pointed here.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tailor_core::api::parse_json;
use tailor_core::serving::Runtime;
use tailor_core::{Error, Result, Tailor};

#[derive(Debug, clap::Args)]
pub struct Serve {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8787)]
    pub port: u16,
}

/// The router over a runtime; also what tests and the demo start.
pub fn router(runtime: Arc<Runtime>) -> Router {
    Router::new()
        .route("/recommendations", post(recommendations))
        .route("/personalize-ranking", post(ranking))
        .route("/events", post(events))
        .route("/items", post(items))
        .route("/users", post(users))
        .route("/ping", get(|| async { "ok" }))
        .with_state(runtime)
}

/// Binds 127.0.0.1:`port` and serves until Ctrl-C.
pub async fn serve(tailor: &Tailor, port: u16, ready: impl FnOnce(SocketAddr)) -> Result<ExitCode> {
    let runtime = Arc::new(Runtime::new(tailor.clone()));
    let loaded = runtime.warm().await?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| Error::InvalidInput(format!("cannot listen on 127.0.0.1:{port}: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Internal(e.to_string()))?;
    tracing::info!(%addr, campaigns = loaded, "serving");
    ready(addr);
    axum::serve(listener, router(runtime))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))?;
    Ok(ExitCode::SUCCESS)
}

impl Serve {
    pub async fn run(self, tailor: &Tailor) -> Result<ExitCode> {
        serve(tailor, self.port, |addr| {
            crate::commands::say(&format!(
                "tailor serving the runtime and events APIs on http://{addr}\n"
            ));
        })
        .await
    }
}

/// Personalize's REST-JSON error: status, `x-amzn-ErrorType` header, `{"message"}` body.
struct ApiError(Error);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let kind = self.0.kind();
        if kind == tailor_core::ErrorKind::Internal {
            tracing::error!(error = %self.0, "request failed");
        }
        let body = serde_json::json!({ "message": self.0.client_message(), "__type": kind.name() });
        let mut resp = (
            StatusCode::from_u16(kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body.to_string(),
        )
            .into_response();
        let headers = resp.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Ok(v) = HeaderValue::from_str(kind.name()) {
            headers.insert("x-amzn-ErrorType", v);
        }
        resp
    }
}

fn json<T: serde::Serialize>(value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => ([(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(e) => ApiError(Error::Internal(e.to_string())).into_response(),
    }
}

fn empty() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], "{}").into_response()
}

async fn recommendations(State(rt): State<Arc<Runtime>>, body: Bytes) -> Response {
    let run = async { rt.get_recommendations(&parse_json(&body)?).await };
    match run.await {
        Ok(r) => json(&r),
        Err(e) => ApiError(e).into_response(),
    }
}

async fn ranking(State(rt): State<Arc<Runtime>>, body: Bytes) -> Response {
    let run = async { rt.get_personalized_ranking(&parse_json(&body)?).await };
    match run.await {
        Ok(r) => json(&r),
        Err(e) => ApiError(e).into_response(),
    }
}

async fn events(State(rt): State<Arc<Runtime>>, body: Bytes) -> Response {
    let run = async { rt.put_events(&parse_json(&body)?).await };
    match run.await {
        Ok(()) => empty(),
        Err(e) => ApiError(e).into_response(),
    }
}

async fn items(State(rt): State<Arc<Runtime>>, body: Bytes) -> Response {
    let run = async { rt.put_items(&parse_json(&body)?).await };
    match run.await {
        Ok(()) => empty(),
        Err(e) => ApiError(e).into_response(),
    }
}

async fn users(State(rt): State<Arc<Runtime>>, body: Bytes) -> Response {
    let run = async { rt.put_users(&parse_json(&body)?).await };
    match run.await {
        Ok(()) => empty(),
        Err(e) => ApiError(e).into_response(),
    }
}
