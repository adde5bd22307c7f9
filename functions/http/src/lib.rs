//! Personalize's runtime and events APIs (GetRecommendations, GetPersonalizedRanking,
//! PutEvents, PutItems, PutUsers) as one axum router over a [`Runtime`], with Personalize's
//! paths, bodies and errors. `tailor serve` serves all of it; each HTTP Lambda serves its
//! share of the routes through `lambda_http`.

mod metrics;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tailor_core::api::parse_json;
use tailor_core::serving::Runtime;
use tailor_core::Error;

pub use metrics::Operation;

/// Which operations a router answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Routes {
    pub recommendations: bool,
    pub ranking: bool,
    pub events: bool,
}

impl Routes {
    /// Everything: the local server.
    pub const ALL: Routes = Routes {
        recommendations: true,
        ranking: true,
        events: true,
    };
    /// `POST /recommendations`.
    pub const RECOMMEND: Routes = Routes {
        recommendations: true,
        ranking: false,
        events: false,
    };
    /// `POST /personalize-ranking`.
    pub const RANK: Routes = Routes {
        recommendations: false,
        ranking: true,
        events: false,
    };
    /// `POST /events`, `/items`, `/users`.
    pub const EVENTS: Routes = Routes {
        recommendations: false,
        ranking: false,
        events: true,
    };
}

/// How requests are measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metrics {
    /// Nothing beyond error logs.
    Off,
    /// One CloudWatch embedded-metric-format line per request on stdout, with Personalize's
    /// metric names (namespace `Tailor`).
    Emf,
}

#[derive(Clone)]
struct App {
    runtime: Arc<Runtime>,
    metrics: Metrics,
}

impl App {
    /// Runs one operation and turns its result into Personalize's response or error.
    async fn answer<T, F>(&self, op: Operation, work: F) -> Response
    where
        T: serde::Serialize,
        F: Future<Output = tailor_core::Result<T>>,
    {
        let started = Instant::now();
        let resp = match work.await {
            Ok(value) => json(&value),
            Err(e) => error_response(e),
        };
        if self.metrics == Metrics::Emf {
            println!("{}", op.emf_line(resp.status().as_u16(), started.elapsed()));
        }
        resp
    }
}

/// The router over a runtime.
pub fn router(runtime: Arc<Runtime>, routes: Routes, metrics: Metrics) -> Router {
    let mut r = Router::new().route("/ping", get(|| async { "ok" }));
    if routes.recommendations {
        r = r.route("/recommendations", post(recommendations));
    }
    if routes.ranking {
        r = r.route("/personalize-ranking", post(ranking));
    }
    if routes.events {
        r = r
            .route("/events", post(events))
            .route("/items", post(items))
            .route("/users", post(users));
    }
    r.with_state(App { runtime, metrics })
}

/// Personalize's REST-JSON error: status, `x-amzn-ErrorType` header, `{"message"}` body.
pub fn error_response(e: Error) -> Response {
    let kind = e.kind();
    if kind == tailor_core::ErrorKind::Internal {
        tracing::error!(error = %e, "request failed");
    }
    let body = serde_json::json!({ "message": e.client_message(), "__type": kind.name() });
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

fn json<T: serde::Serialize>(value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => ([(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(e) => error_response(Error::Internal(e.to_string())),
    }
}

/// The empty object Put* operations answer with.
#[derive(serde::Serialize)]
struct Empty {}

async fn recommendations(State(app): State<App>, body: Bytes) -> Response {
    let rt = &app.runtime;
    app.answer(Operation::GetRecommendations, async {
        rt.get_recommendations(&parse_json(&body)?).await
    })
    .await
}

async fn ranking(State(app): State<App>, body: Bytes) -> Response {
    let rt = &app.runtime;
    app.answer(Operation::GetPersonalizedRanking, async {
        rt.get_personalized_ranking(&parse_json(&body)?).await
    })
    .await
}

async fn events(State(app): State<App>, body: Bytes) -> Response {
    let rt = &app.runtime;
    app.answer(Operation::PutEvents, async {
        rt.put_events(&parse_json(&body)?).await.map(|()| Empty {})
    })
    .await
}

async fn items(State(app): State<App>, body: Bytes) -> Response {
    let rt = &app.runtime;
    app.answer(Operation::PutItems, async {
        rt.put_items(&parse_json(&body)?).await.map(|()| Empty {})
    })
    .await
}

async fn users(State(app): State<App>, body: Bytes) -> Response {
    let rt = &app.runtime;
    app.answer(Operation::PutUsers, async {
        rt.put_users(&parse_json(&body)?).await.map(|()| Empty {})
    })
    .await
}
