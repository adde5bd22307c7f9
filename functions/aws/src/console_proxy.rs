//! `tailor console --endpoint URL`: the console for a deployed stack, on loopback. The stack's
//! HTTP API takes only SigV4-signed requests (its IAM authorizer), which a browser cannot make;
//! this serves the embedded console itself and forwards each of the page's API calls to the
//! stack, signed with the caller's own AWS credentials (the SDK's default chain: environment,
//! profile, SSO, instance role). The credentials never reach the browser, and the stack keeps
//! no other way in.

use std::net::SocketAddr;
use std::time::SystemTime;

use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tailor_core::{Error, Result};

/// Headers of the page's request that the stack reads; the rest (cookies, the browser's
/// own) stay on loopback.
const FORWARDED: [&str; 3] = ["content-type", "x-amz-target", "accept"];

#[derive(Clone)]
struct Proxy {
    endpoint: Uri,
    region: String,
    config: aws_config::SdkConfig,
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

/// Serves the console on 127.0.0.1:`port` for the stack at `endpoint` until interrupted,
/// signing with the environment's AWS configuration.
pub async fn serve(endpoint: &str, port: u16, ready: impl FnOnce(SocketAddr)) -> Result<()> {
    let config = crate::sdk_config_from_env().await;
    serve_with(endpoint, config, port, ready, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}

/// [`serve`] with a given AWS configuration, until `stop`.
pub async fn serve_with(
    endpoint: &str,
    config: aws_config::SdkConfig,
    port: u16,
    ready: impl FnOnce(SocketAddr),
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let endpoint: Uri = endpoint
        .trim_end_matches('/')
        .parse()
        .map_err(|e| Error::InvalidInput(format!("--endpoint {endpoint}: {e}")))?;
    if endpoint.host().is_none() {
        return Err(Error::InvalidInput(format!(
            "--endpoint {endpoint}: give the HTTP API's URL, e.g. https://abc.execute-api.us-east-1.amazonaws.com"
        )));
    }
    let region = config.region().map(|r| r.to_string()).ok_or_else(|| {
        Error::InvalidInput("no AWS region: set AWS_REGION or a profile's".into())
    })?;
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|e| Error::Internal(format!("the system's root certificates: {e}")))?
        .https_or_http()
        .enable_http1()
        .build();
    let proxy = Proxy {
        endpoint,
        region,
        config,
        client: Client::builder(TokioExecutor::new()).build(https),
    };
    let app = tailor_http::console::router()
        .fallback(forward)
        .with_state(proxy);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| Error::InvalidInput(format!("cannot listen on 127.0.0.1:{port}: {e}")))?;
    ready(
        listener
            .local_addr()
            .map_err(|e| Error::Internal(e.to_string()))?,
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
        .map_err(|e| Error::Internal(e.to_string()))
}

/// One of the page's calls, signed and sent to the stack; its answer, as the stack gave it.
async fn forward(State(p): State<Proxy>, req: Request<Body>) -> Response {
    match send(&p, req).await {
        Ok(r) => r,
        Err(e) => (StatusCode::BAD_GATEWAY, format!("tailor console: {e}")).into_response(),
    }
}

async fn send(p: &Proxy, req: Request<Body>) -> std::result::Result<Response, String> {
    let (parts, body) = req.into_parts();
    if parts.method != Method::POST {
        return Ok((StatusCode::NOT_FOUND, "the console forwards POST only").into_response());
    }
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    let path = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let base = p.endpoint.to_string();
    let uri = format!("{}{path}", base.trim_end_matches('/'));
    let mut out = Request::post(&uri)
        .body(Full::new(body.clone()))
        .map_err(|e| e.to_string())?;
    for name in FORWARDED {
        if let Some(v) = parts.headers.get(name) {
            out.headers_mut().insert(name, v.clone());
        }
    }
    let host = p
        .endpoint
        .authority()
        .map(|a| a.to_string())
        .unwrap_or_default();
    out.headers_mut().insert(
        "host",
        HeaderValue::from_str(&host).map_err(|e| e.to_string())?,
    );
    sign_request(p, &mut out, &body).await?;
    let answer = p.client.request(out).await.map_err(|e| e.to_string())?;
    let (parts, body) = answer.into_parts();
    let bytes = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    let mut headers = HeaderMap::new();
    for name in ["content-type", "x-amzn-errortype", "x-amzn-requestid"] {
        if let Some(v) = parts.headers.get(name) {
            headers.insert(name, v.clone());
        }
    }
    Ok((parts.status, headers, bytes).into_response())
}

/// SigV4 for API Gateway (`execute-api`) with the default chain's credentials.
async fn sign_request(
    p: &Proxy,
    req: &mut Request<Full<Bytes>>,
    body: &[u8],
) -> std::result::Result<(), String> {
    let provider = p
        .config
        .credentials_provider()
        .ok_or("no AWS credentials: configure a profile or the environment")?;
    let credentials = provider
        .provide_credentials()
        .await
        .map_err(|e| format!("AWS credentials: {e}"))?;
    let identity = credentials.into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&p.region)
        .name("execute-api")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let signable = SignableRequest::new(
        req.method().as_str(),
        req.uri().to_string(),
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .map_err(|e| e.to_string())?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    instructions.apply_to_request_http1x(req);
    Ok(())
}
