//! Personalize's runtime and events APIs (GetRecommendations, GetPersonalizedRanking,
//! PutEvents, PutItems, PutUsers) and the part of its control plane tailor serves (`POST /`
//! with `X-Amz-Target: AmazonPersonalize.<Operation>`, `tailor_core::api::control`) as one
//! axum router over a [`Runtime`], with Personalize's paths, bodies and errors. `tailor serve`
//! serves all of it; each HTTP Lambda serves its share of the routes through `lambda_http`.

pub mod access;
pub mod console;
mod errors;
pub mod limits;
mod metrics;
pub mod server;

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap};
use axum::middleware::{from_fn, map_response};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tailor_core::api::parse_json;
use tailor_core::serving::Runtime;
use tailor_core::Error;

pub use errors::{error_response, wire_error};
pub use metrics::Operation;

/// Which operations a router answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Routes {
    pub recommendations: bool,
    pub ranking: bool,
    pub events: bool,
    /// `POST /` with Personalize's `X-Amz-Target`: the control plane.
    pub control: bool,
    /// `GET /console`: the console's embedded page (it calls the other routes).
    pub console: bool,
}

impl Routes {
    /// Everything: the local server.
    pub const ALL: Routes = Routes {
        recommendations: true,
        ranking: true,
        events: true,
        control: true,
        console: true,
    };
    /// `POST /recommendations`.
    pub const RECOMMEND: Routes = Routes {
        recommendations: true,
        ranking: false,
        events: false,
        control: false,
        console: false,
    };
    /// `POST /personalize-ranking`.
    pub const RANK: Routes = Routes {
        recommendations: false,
        ranking: true,
        events: false,
        control: false,
        console: false,
    };
    /// `POST /events`, `/items`, `/users`.
    pub const EVENTS: Routes = Routes {
        recommendations: false,
        ranking: false,
        events: true,
        control: false,
        console: false,
    };
    /// `POST /` with `X-Amz-Target: AmazonPersonalize.<Operation>`.
    pub const CONTROL: Routes = Routes {
        recommendations: false,
        ranking: false,
        events: false,
        control: true,
        console: true,
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
    /// Runs one operation on a checked body and turns its result into Personalize's
    /// response or error.
    async fn answer<T: serde::Serialize>(
        &self,
        op: Operation,
        body: Result<Bytes, Response>,
        work: impl AsyncFnOnce(Bytes) -> tailor_core::Result<T>,
    ) -> Response {
        let started = Instant::now();
        let resp = match body {
            Err(refused) => refused,
            Ok(body) => match work(body).await {
                Ok(value) => json(&value),
                Err(e) => error_response(e),
            },
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
    if routes.control {
        r = r.route("/", post(control));
    }
    if routes.console {
        r = r.merge(console::router());
    }
    // Layers apply outside-in from the last: every answer, the fallbacks' included, leaves
    // through `personalize_shape`.
    r.fallback(errors::unknown_operation)
        .method_not_allowed_fallback(errors::method_not_allowed)
        .layer(DefaultBodyLimit::max(limits::MAX_BODY_BYTES))
        .layer(from_fn(limits::check_headers))
        .layer(map_response(errors::personalize_shape))
        .with_state(App { runtime, metrics })
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

type Body = Result<Bytes, BytesRejection>;

async fn recommendations(State(app): State<App>, headers: HeaderMap, body: Body) -> Response {
    let rt = &app.runtime;
    let body = limits::json_body(&headers, body);
    app.answer(Operation::GetRecommendations, body, async |b| {
        rt.get_recommendations(&parse_json(&b)?).await
    })
    .await
}

async fn ranking(State(app): State<App>, headers: HeaderMap, body: Body) -> Response {
    let rt = &app.runtime;
    let body = limits::json_body(&headers, body);
    app.answer(Operation::GetPersonalizedRanking, body, async |b| {
        rt.get_personalized_ranking(&parse_json(&b)?).await
    })
    .await
}

async fn events(State(app): State<App>, headers: HeaderMap, body: Body) -> Response {
    let rt = &app.runtime;
    let body = limits::json_body(&headers, body);
    app.answer(Operation::PutEvents, body, async |b| {
        rt.put_events(&parse_json(&b)?).await.map(|()| Empty {})
    })
    .await
}

async fn items(State(app): State<App>, headers: HeaderMap, body: Body) -> Response {
    let rt = &app.runtime;
    let body = limits::json_body(&headers, body);
    app.answer(Operation::PutItems, body, async |b| {
        rt.put_items(&parse_json(&b)?).await.map(|()| Empty {})
    })
    .await
}

async fn users(State(app): State<App>, headers: HeaderMap, body: Body) -> Response {
    let rt = &app.runtime;
    let body = limits::json_body(&headers, body);
    app.answer(Operation::PutUsers, body, async |b| {
        rt.put_users(&parse_json(&b)?).await.map(|()| Empty {})
    })
    .await
}

/// The control plane: the operation named by `X-Amz-Target`, answered in AWS JSON 1.1 (client
/// errors are 400 with `__type`, as botocore's JSON protocol expects).
async fn control(State(app): State<App>, headers: HeaderMap, body: Body) -> Response {
    let Some(target) = headers.get(errors::TARGET).and_then(|v| v.to_str().ok()) else {
        return errors::status_error(
            axum::http::StatusCode::BAD_REQUEST,
            "POST / needs X-Amz-Target: AmazonPersonalize.<Operation>",
        );
    };
    let target = target.to_string();
    let body = match limits::json_body(&headers, body) {
        Ok(b) => b,
        Err(refused) => return refused,
    };
    let op = target
        .strip_prefix(tailor_core::api::control::TARGET_PREFIX)
        .unwrap_or(&target);
    match tailor_core::api::control::dispatch(&app.runtime.tailor, op, &body).await {
        None => errors::not_served(&target),
        Some(Ok(value)) => match serde_json::to_vec(&value) {
            Ok(bytes) => (
                [(header::CONTENT_TYPE, "application/x-amz-json-1.1")],
                bytes,
            )
                .into_response(),
            Err(e) => error_response(Error::Internal(e.to_string())),
        },
        Some(Err(e)) => {
            let mut resp = error_response(e);
            if resp.status().is_client_error() {
                *resp.status_mut() = axum::http::StatusCode::BAD_REQUEST;
            }
            resp
        }
    }
}
