//! `tailor console --endpoint`: the proxy serves the embedded console itself and forwards the
//! page's API calls to the stack signed with SigV4 — here to a stand-in stack on loopback that
//! records what reached it.

use std::sync::{Arc, Mutex};

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::IntoResponse;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

type Seen = Arc<Mutex<Vec<(String, HeaderMap, Bytes)>>>;

async fn stack(seen: Seen) -> std::net::SocketAddr {
    let app = axum::Router::new().fallback(move |req: Request<Body>| {
        let seen = seen.clone();
        async move {
            let (parts, body) = req.into_parts();
            let body = body.collect().await.unwrap().to_bytes();
            seen.lock()
                .unwrap()
                .push((parts.uri.to_string(), parts.headers, body));
            (
                StatusCode::OK,
                [
                    ("content-type", "application/x-amz-json-1.1"),
                    ("x-amzn-requestid", "req-1"),
                    ("set-cookie", "kept=upstream"),
                ],
                r#"{"datasetGroups":[]}"#,
            )
                .into_response()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_is_local_and_its_calls_reach_the_stack_signed() {
    let seen: Seen = Arc::default();
    let upstream = stack(seen.clone()).await;
    let config = aws_config::SdkConfig::builder()
        .region(aws_config::Region::new("eu-west-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKIDTAILORTEST",
            "secret",
            None,
            None,
            "test",
        )))
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build();
    let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
    let (_stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        tailor_aws::console_proxy::serve_with(
            &format!("http://{upstream}"),
            config,
            0,
            |addr| addr_tx.send(addr).unwrap(),
            async {
                let _ = stop_rx.await;
            },
        )
        .await
        .unwrap();
    });
    let proxy = addr_rx.await.unwrap();
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();

    // The page itself never leaves the machine.
    let page = client
        .get(format!("http://{proxy}/console").parse().unwrap())
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.into_body().collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&html).contains("<main id=\"page\""));
    assert!(seen.lock().unwrap().is_empty());

    // A control-plane call: forwarded with its target and body, signed for execute-api.
    let call = Request::post(format!("http://{proxy}/?x=1"))
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", "AmazonPersonalize.ListDatasetGroups")
        .header("cookie", "local=only")
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    let answer = client.request(call).await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.headers()["content-type"],
        "application/x-amz-json-1.1"
    );
    assert_eq!(answer.headers()["x-amzn-requestid"], "req-1");
    assert!(answer.headers().get("set-cookie").is_none());
    let body = answer.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], br#"{"datasetGroups":[]}"#);

    let seen = seen.lock().unwrap();
    let (uri, headers, body) = &seen[0];
    assert_eq!(uri, "/?x=1");
    assert_eq!(&body[..], b"{}");
    assert_eq!(
        headers["x-amz-target"],
        "AmazonPersonalize.ListDatasetGroups"
    );
    assert!(
        headers.get("cookie").is_none(),
        "browser headers stay local"
    );
    let auth = headers["authorization"].to_str().unwrap();
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDTAILORTEST/"),
        "{auth}"
    );
    assert!(
        auth.contains("/eu-west-1/execute-api/aws4_request"),
        "{auth}"
    );
    let signed = auth.split("SignedHeaders=").nth(1).unwrap();
    for h in ["content-type", "host", "x-amz-date", "x-amz-target"] {
        assert!(signed.contains(h), "{h} not signed: {auth}");
    }
    assert!(headers.contains_key("x-amz-date"));
}
