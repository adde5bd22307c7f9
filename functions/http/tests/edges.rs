//! The local server at its edges, over raw TCP on loopback: malformed ARNs, error shapes on
//! every non-2xx, content types, field limits, timeouts, a half-closing client, an
//! idle-connection flood and an HTTP/2 preface.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tailor_core::domain::ArnBuilder;
use tailor_core::serving::Runtime;
use tailor_core::{Stores, Tailor};
use tailor_http::server::{serve, ServeConfig};
use tailor_http::{router, Metrics, Routes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const CAMPAIGN: &str = "arn:aws:personalize:us-east-1:000000000000:campaign";

struct Server {
    addr: std::net::SocketAddr,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start(config: ServeConfig) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let tailor = Tailor::new(Stores::embedded(dir.path()).unwrap(), ArnBuilder::default());
    let app = router(Arc::new(Runtime::new(tailor)), Routes::ALL, Metrics::Off);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(listener, app, config, async {
        let _ = stopped.await;
    }));
    Server {
        addr,
        _dir: dir,
        _stop: stop,
    }
}

fn quick() -> ServeConfig {
    ServeConfig {
        max_connections: 16,
        header_timeout: Duration::from_millis(400),
        idle_timeout: Duration::from_millis(400),
        request_timeout: Duration::from_millis(800),
        admission_wait: Duration::from_millis(200),
    }
}

struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    fn message(&self) -> String {
        let v: serde_json::Value = serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body));
        v["message"].as_str().expect("no message").to_string()
    }

    /// Personalize's error shape: the type header and a JSON body with a message.
    fn assert_shaped(&self, status: u16, error_type: &str) {
        assert_eq!(self.status, status, "{}\n{}", self.head, self.body);
        assert_eq!(
            self.header("x-amzn-ErrorType"),
            Some(error_type),
            "{}",
            self.head
        );
        assert!(self
            .header("content-type")
            .unwrap()
            .starts_with("application/json"));
        let msg = self.message();
        assert!(!msg.is_empty());
        for leak in ["struct ", "usize", "Option<", "alloc::", "::", "Rejection"] {
            assert!(!msg.contains(leak), "message leaks {leak:?}: {msg}");
        }
    }
}

fn parse(raw: &[u8]) -> Answer {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    Answer {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

/// Sends `raw` on a fresh connection and reads until the server closes it.
async fn exchange(s: &Server, raw: &[u8]) -> Answer {
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    c.write_all(raw).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), c.read_to_end(&mut out))
        .await
        .expect("no answer within 10 s")
        .unwrap();
    parse(&out)
}

fn post(path: &str, content_type: Option<&str>, body: &str) -> Vec<u8> {
    let ct = content_type
        .map(|t| format!("content-type: {t}\r\n"))
        .unwrap_or_default();
    format!(
        "POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\n{ct}content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

async fn recommend(s: &Server, body: serde_json::Value) -> Answer {
    exchange(
        s,
        &post(
            "/recommendations",
            Some("application/json"),
            &body.to_string(),
        ),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_arns_are_invalid_input_not_server_errors() {
    let s = start(quick()).await;
    let long = format!("{CAMPAIGN}/{}", "a".repeat(300));
    for arn in [
        format!("{CAMPAIGN}/"),
        format!("{CAMPAIGN}/a//b"),
        format!("{CAMPAIGN}//"),
        long.clone(),
        "not an arn".to_string(),
        format!("{CAMPAIGN}/x\n\u{1b}[31mFORGED"),
    ] {
        let a = recommend(&s, serde_json::json!({"campaignArn": arn, "userId": "u"})).await;
        a.assert_shaped(400, "InvalidInputException");
        let msg = a.message();
        assert!(msg.len() < 1024, "message of {} bytes", msg.len());
        assert!(
            !msg.chars().any(|c| c.is_control()),
            "raw control chars: {msg:?}"
        );
    }
    // A well-formed ARN of nothing is not found.
    let a = recommend(
        &s,
        serde_json::json!({"campaignArn": format!("{CAMPAIGN}/nothing"), "userId": "u"}),
    )
    .await;
    a.assert_shaped(404, "ResourceNotFoundException");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_status_has_personalize_shape() {
    let s = start(quick()).await;
    // 404: no such operation.
    exchange(&s, b"POST /nowhere HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}")
        .await
        .assert_shaped(404, "UnknownOperationException");
    // 405: a known path, another method.
    let a = exchange(
        &s,
        b"GET /recommendations HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    a.assert_shaped(405, "MethodNotAllowedException");
    // 413: over the body limit. Only the head is sent: the answer comes from the declared
    // length, and a client still writing megabytes the server will never read races the
    // server's close (a broken pipe, or a reset that can drop the answer) — the flake CI saw.
    exchange(
        &s,
        format!(
            "POST /events HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            3 << 20
        )
        .as_bytes(),
    )
    .await
    .assert_shaped(413, "RequestEntityTooLargeException");
    // 431: too many headers.
    let mut many = String::from("POST /events HTTP/1.1\r\nhost: x\r\n");
    for i in 0..110 {
        many.push_str(&format!("x-h{i}: v\r\n"));
    }
    many.push_str(
        "content-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
    );
    exchange(&s, many.as_bytes())
        .await
        .assert_shaped(431, "RequestHeaderFieldsTooLargeException");
    // 400: bad JSON types, named by field, no Rust names.
    let a = recommend(
        &s,
        serde_json::json!({"campaignArn": 5, "numResults": "many"}),
    )
    .await;
    a.assert_shaped(400, "InvalidInputException");
    assert!(a.message().contains("campaignArn"), "{}", a.message());
    let a = exchange(&s, &post("/events", Some("application/json"), "[1,2]")).await;
    a.assert_shaped(400, "InvalidInputException");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_json_content_types_are_read() {
    let s = start(quick()).await;
    let body = format!(r#"{{"campaignArn":"{CAMPAIGN}/nothing","userId":"u"}}"#);
    for ct in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        exchange(&s, &post("/recommendations", ct, &body))
            .await
            .assert_shaped(415, "UnsupportedMediaTypeException");
    }
    for ct in [
        "application/json",
        "application/json; charset=utf-8",
        "application/x-amz-json-1.1",
    ] {
        let a = exchange(&s, &post("/recommendations", Some(ct), &body)).await;
        assert_eq!(a.status, 404, "{ct}: {}", a.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclude_item_ids_are_bounded() {
    let s = start(quick()).await;
    let arn = format!("{CAMPAIGN}/nothing");
    let many: Vec<String> = (0..501).map(|i| format!("i{i}")).collect();
    let a = recommend(
        &s,
        serde_json::json!({"campaignArn": arn, "userId": "u", "excludeItemIds": many}),
    )
    .await;
    a.assert_shaped(400, "InvalidInputException");
    assert!(a.message().contains("excludeItemIds"), "{}", a.message());
    let long = vec!["x".repeat(257)];
    let a = recommend(
        &s,
        serde_json::json!({"campaignArn": arn, "userId": "u", "excludeItemIds": long}),
    )
    .await;
    a.assert_shaped(400, "InvalidInputException");
    assert!(a.message().contains("excludeItemIds[0]"), "{}", a.message());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_then_a_half_close_is_answered() {
    let s = start(quick()).await;
    for _ in 0..20 {
        let mut c = TcpStream::connect(s.addr).await.unwrap();
        let body = format!(r#"{{"campaignArn":"{CAMPAIGN}/nothing","userId":"u"}}"#);
        let req = format!(
            "POST /recommendations HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        c.write_all(req.as_bytes()).await.unwrap();
        c.shutdown().await.unwrap(); // FIN: nothing more will be sent
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut out))
            .await
            .expect("no answer after a half-close")
            .unwrap();
        parse(&out).assert_shaped(404, "ResourceNotFoundException");
    }
}

/// Whether the server has closed `c` (EOF, or reset) within `wait`.
async fn closed_within(c: &mut TcpStream, wait: Duration) -> bool {
    let mut buf = [0u8; 512];
    loop {
        match tokio::time::timeout(wait, c.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue, // an error answer (408) before the close
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_slow_and_stalled_connections_time_out() {
    let s = start(quick()).await;
    // Idle: connected, nothing sent.
    let mut idle = TcpStream::connect(s.addr).await.unwrap();
    let t = Instant::now();
    assert!(
        closed_within(&mut idle, Duration::from_secs(3)).await,
        "idle connection kept"
    );
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "closed too early: {:?}",
        t.elapsed()
    );
    // Slow head (slowloris): part of a request line, then nothing.
    let mut slow = TcpStream::connect(s.addr).await.unwrap();
    slow.write_all(b"POST /events HTTP/1.1\r\nhost:")
        .await
        .unwrap();
    assert!(
        closed_within(&mut slow, Duration::from_secs(3)).await,
        "slow head kept"
    );
    // Stalled body: a head promising 100 bytes, 10 sent.
    let mut stalled = TcpStream::connect(s.addr).await.unwrap();
    stalled
        .write_all(b"POST /events HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"a\":1234")
        .await
        .unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stalled.read_to_end(&mut out))
        .await
        .expect("stalled body kept")
        .ok();
    parse(&out).assert_shaped(408, "RequestTimeoutException");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_flood_does_not_block_valid_requests() {
    let config = ServeConfig {
        idle_timeout: Duration::from_secs(30), // the flood must be evicted, not timed out
        header_timeout: Duration::from_secs(30),
        ..quick()
    };
    let cap = config.max_connections;
    let s = start(config).await;
    let mut flood = Vec::new();
    for _ in 0..(cap * 8) {
        flood.push(TcpStream::connect(s.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let body = format!(r#"{{"campaignArn":"{CAMPAIGN}/nothing","userId":"u"}}"#);
    for _ in 0..10 {
        let t = Instant::now();
        let a = exchange(
            &s,
            &post("/recommendations", Some("application/json"), &body),
        )
        .await;
        assert_eq!(a.status, 404, "{}", a.body);
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "a valid request waited {:?}",
            t.elapsed()
        );
    }
    // The server holds at most `cap` of the flood open: the rest were closed.
    let mut open = 0;
    for c in &mut flood {
        if !closed_within(c, Duration::from_millis(20)).await {
            open += 1;
        }
    }
    assert!(
        open <= cap,
        "{open} flood connections still open (cap {cap})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_preface_is_not_served() {
    let s = start(quick()).await;
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    c.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut out))
        .await
        .expect("h2c connection kept open")
        .ok();
    // No HTTP/2 frames come back: at most an HTTP/1.1 error, then the close.
    assert!(
        out.is_empty() || out.starts_with(b"HTTP/1.1 "),
        "{:?}",
        String::from_utf8_lossy(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_tailor_lacks_are_named_in_personalize_shape() {
    let s = start(quick()).await;
    for (path, op) in [
        ("/action-recommendations", "GetActionRecommendations"),
        ("/get-action-recommendations", "GetActionRecommendations"),
        ("/action-interactions", "PutActionInteractions"),
        ("/put-action-interactions", "PutActionInteractions"),
        ("/actions", "PutActions"),
    ] {
        let a = exchange(&s, &post(path, Some("application/json"), "{}")).await;
        a.assert_shaped(400, "UnknownOperationException");
        assert!(a.message().contains(op), "{path}: {}", a.message());
    }
    // The control plane's JSON protocol: the operation is in X-Amz-Target, the path is `/`.
    let a = exchange(
        &s,
        b"POST / HTTP/1.1\r\nhost: x\r\nx-amz-target: AmazonPersonalize.CreateRecommender\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
    )
    .await;
    a.assert_shaped(400, "UnknownOperationException");
    assert!(a.message().contains("CreateRecommender"), "{}", a.message());
    let body: serde_json::Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!(body["__type"], "UnknownOperationException", "{body}");
    // A target's text is the client's: escaped and bounded in the answer.
    let long = format!("AmazonPersonalize.{}", "X".repeat(500));
    let raw = format!("POST / HTTP/1.1\r\nhost: x\r\nx-amz-target: {long}\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}");
    let a = exchange(&s, raw.as_bytes()).await;
    a.assert_shaped(400, "UnknownOperationException");
    assert!(!a.message().contains(&"X".repeat(300)), "{}", a.message());
    // Any other path stays a plain unknown path.
    exchange(&s, &post("/nowhere", Some("application/json"), "{}"))
        .await
        .assert_shaped(404, "UnknownOperationException");
}

/// The console's files: embedded, typed, under a policy that lets the page talk only to this
/// origin; a name that is not one of them is a 404 in Personalize's error shape.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_is_served_from_the_binary() {
    let s = start(quick()).await;
    let get = |path: &str| {
        format!("GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n").into_bytes()
    };
    for (path, kind, needle) in [
        ("/console", "text/html", "<main id=\"page\""),
        ("/console/", "text/html", "<main id=\"page\""),
        (
            "/console/console.js",
            "text/javascript",
            "AmazonPersonalize.",
        ),
        ("/console/console.css", "text/css", "--accent"),
    ] {
        let a = exchange(&s, &get(path)).await;
        assert_eq!(a.status, 200, "{path}: {}", a.head);
        assert!(
            a.header("content-type").unwrap().starts_with(kind),
            "{}",
            a.head
        );
        assert!(a.body.contains(needle), "{path}");
        let policy = a.header("content-security-policy").unwrap();
        assert!(policy.contains("connect-src 'self'"), "{policy}");
    }
    for path in [
        "/console/../Cargo.toml",
        "/console/secrets.txt",
        "/console/a/b",
    ] {
        let a = exchange(&s, &get(path)).await;
        assert_eq!(a.status, 404, "{path}: {}", a.head);
        assert!(a.header("x-amzn-ErrorType").is_some(), "{}", a.head);
        assert!(!a.body.contains("[package]"), "{path}");
    }
    assert!(tailor_http::console::embedded_bytes() > 10_000);
}
