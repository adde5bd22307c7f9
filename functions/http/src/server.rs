//! The local server's connections: HTTP/1.1 over hyper with timeouts and a connection cap.
//!
//! `axum::serve` has neither: an idle or slow connection is kept for ever, so a few hundred
//! of them exhaust the open-file limit and every new client waits in the accept queue. Here
//! each connection has one phase at a time, and the phase has a deadline:
//!
//! - idle (no byte of a next request yet): closed after `idle_timeout`;
//! - reading a request head: closed `header_timeout` after its first byte (slowloris);
//! - in a request: the body must arrive and the answer be ready `request_timeout` after the
//!   request's first byte, else 408 / 503 (the operation itself runs to its end, detached:
//!   an append half done because a client left is worse than a late one);
//! - writing the answer: closed if the client has not taken it `request_timeout` later.
//!
//! At most `max_connections` are open (and fewer when the open-file limit is lower). A new
//! connection at the cap closes the connection that has waited longest without a request in
//! progress; if every connection is mid-request it waits `admission_wait` for one to finish,
//! then gets a 503. Requests on busy connections are never stalled by idle ones.
//!
//! HTTP/1.1 only. The SDKs speak HTTP/1.1 to a plain `http://` endpoint; HTTP/2 without TLS
//! (h2c, prior knowledge) has no client among them, and would be one more parser to expose.
//! In AWS, TLS and HTTP/2 end at API Gateway, in front of the Lambdas. An h2c preface is
//! not HTTP/1.1 and the connection is closed.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::response::Response;
use axum::Router;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tower::Service;

use crate::errors::status_error;
use crate::limits::{too_large, MAX_BODY_BYTES};

/// The server's limits; see the module comment for what each bounds.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub request_timeout: Duration,
    pub admission_wait: Duration,
}

impl Default for ServeConfig {
    /// Header 10 s: a request head is a few hundred bytes, so any client that is not stalling
    /// on purpose sends it in well under a second. Idle 60 s: API Gateway's and load
    /// balancers' idle timeout, which SDK connection pools are tuned to. Request 30 s: about
    /// API Gateway's integration timeout, far above any warm answer (milliseconds).
    /// 1024 connections: more than a local server's clients need, bounded by the open-file
    /// limit at start.
    fn default() -> Self {
        ServeConfig {
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(30),
            admission_wait: Duration::from_secs(1),
        }
    }
}

/// File descriptors kept for the server's own files (store, logs) under the open-file limit.
const RESERVED_FDS: u64 = 64;

/// The HTTP parser's hard limits. Above the router's own ([`crate::limits`]) so that
/// oversized headers usually get Personalize's 431; past these hyper answers a bare one.
const MAX_BUF_BYTES: usize = 64 << 10;
const PARSER_MAX_HEADERS: usize = 128;

/// How long connections get to finish their requests at shutdown.
const DRAIN: Duration = Duration::from_secs(5);

/// The connection cap in force: `wanted`, lowered to fit the open-file limit.
pub fn effective_max_connections(wanted: usize) -> usize {
    let wanted = wanted.max(1);
    match open_file_limit() {
        Some(limit) => {
            let fit = limit.saturating_sub(RESERVED_FDS).max(1);
            wanted.min(usize::try_from(fit).unwrap_or(usize::MAX))
        }
        None => wanted,
    }
}

#[cfg(unix)]
fn open_file_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

#[cfg(not(unix))]
fn open_file_limit() -> Option<u64> {
    None
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets open requests finish
/// (up to 5 s).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let cap = effective_max_connections(config.max_connections);
    if cap < config.max_connections {
        tracing::warn!(
            wanted = config.max_connections,
            cap,
            "connection cap lowered to fit the open-file limit"
        );
    }
    let shared = Arc::new(Shared {
        app,
        config,
        conns: Mutex::new(HashMap::new()),
        next_id: AtomicU64::new(0),
    });
    let permits = Arc::new(Semaphore::new(cap));
    let (stop_tx, stop_rx) = watch::channel(false);
    let reaper = tokio::spawn(reap(shared.clone(), stop_rx.clone()));
    tokio::pin!(shutdown);
    let mut last_warned: Option<Instant> = None;
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    accept_failed(&shared, &e, &mut last_warned).await;
                    continue;
                }
            },
        };
        let permit = match permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                shared.evict_one();
                match tokio::time::timeout(
                    shared.config.admission_wait,
                    permits.clone().acquire_owned(),
                )
                .await
                {
                    Ok(Ok(p)) => p,
                    _ => {
                        refuse(&stream);
                        continue;
                    }
                }
            }
        };
        tokio::spawn(connection(shared.clone(), stream, permit, stop_rx.clone()));
    }
    let _ = stop_tx.send(true);
    reaper.abort();
    let all = u32::try_from(cap).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(DRAIN, permits.acquire_many(all)).await;
    Ok(())
}

/// Out of file descriptors: free one by closing the longest-idle connection. Other errors
/// are the client's (a reset before accept) or passing; wait a little so a persistent one
/// does not spin the loop.
async fn accept_failed(shared: &Shared, e: &io::Error, last_warned: &mut Option<Instant>) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
    ) {
        return;
    }
    let out_of_files = matches!(e.raw_os_error(), Some(23 | 24));
    if last_warned.is_none_or(|t| t.elapsed() > Duration::from_secs(1)) {
        tracing::warn!(error = %e, "accept failed");
        *last_warned = Some(Instant::now());
    }
    if out_of_files && shared.evict_one() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    } else {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The answer to a connection over the cap: written without waiting (a fresh socket's send
/// buffer is empty), then the connection is closed.
fn refuse(stream: &TcpStream) {
    const BODY: &str = r#"{"message":"too many connections; retry shortly","__type":"ServiceUnavailableException"}"#;
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nx-amzn-ErrorType: ServiceUnavailableException\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = stream.try_write(answer.as_bytes());
}

struct Shared {
    app: Router,
    config: ServeConfig,
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
    next_id: AtomicU64,
}

impl Shared {
    fn conns(&self) -> MutexGuard<'_, HashMap<u64, Arc<Conn>>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Closes the connection that has waited longest without a request in progress (idle,
    /// or still sending a head); false if every connection is mid-request.
    fn evict_one(&self) -> bool {
        let oldest = self
            .conns()
            .values()
            .filter_map(|c| match c.phase() {
                Phase::Idle(t) | Phase::Head(t) => Some((t, c.clone())),
                Phase::Busy | Phase::Writing(_) => None,
            })
            .min_by_key(|(t, _)| *t);
        match oldest {
            Some((_, c)) => {
                c.close.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Where a connection is; the instant is when that phase began.
#[derive(Debug, Clone, Copy)]
enum Phase {
    Idle(Instant),
    Head(Instant),
    Busy,
    Writing(Instant),
}

struct Conn {
    phase: Mutex<Phase>,
    close: Notify,
}

impl Conn {
    fn phase(&self) -> Phase {
        *self.phase.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set(&self, phase: Phase) {
        *self.phase.lock().unwrap_or_else(|p| p.into_inner()) = phase;
    }

    /// Bytes arrived: an idle connection is now reading a head.
    fn on_read(&self) {
        let mut p = self.phase.lock().unwrap_or_else(|p| p.into_inner());
        if let Phase::Idle(_) = *p {
            *p = Phase::Head(Instant::now());
        }
    }

    /// The written answer reached the socket: back to idle.
    fn on_flushed(&self) {
        let mut p = self.phase.lock().unwrap_or_else(|p| p.into_inner());
        if let Phase::Writing(_) = *p {
            *p = Phase::Idle(Instant::now());
        }
    }

    /// A request head is parsed: returns when the request began (its first byte).
    fn begin_request(&self) -> Instant {
        let mut p = self.phase.lock().unwrap_or_else(|p| p.into_inner());
        let started = match *p {
            Phase::Head(t) => t,
            _ => Instant::now(),
        };
        *p = Phase::Busy;
        started
    }
}

/// Closes connections past their phase's deadline, a few times per shortest timeout.
async fn reap(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let c = &shared.config;
    let shortest = c.header_timeout.min(c.idle_timeout).min(c.request_timeout);
    let tick = (shortest / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
    let mut interval = tokio::time::interval(tick);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stop.changed() => return,
        }
        let now = Instant::now();
        for conn in shared.conns().values() {
            let expired = match conn.phase() {
                Phase::Idle(t) => now.duration_since(t) >= c.idle_timeout,
                Phase::Head(t) => now.duration_since(t) >= c.header_timeout,
                Phase::Writing(t) => now.duration_since(t) >= c.request_timeout,
                Phase::Busy => false,
            };
            if expired {
                conn.close.notify_one();
            }
        }
    }
}

async fn connection(
    shared: Arc<Shared>,
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let conn = Arc::new(Conn {
        phase: Mutex::new(Phase::Idle(Instant::now())),
        close: Notify::new(),
    });
    shared.conns().insert(id, conn.clone());
    let io = TokioIo::new(Tracked {
        inner: stream,
        conn: conn.clone(),
    });
    let service = {
        let shared = shared.clone();
        let conn = conn.clone();
        hyper::service::service_fn(move |req: Request<Incoming>| {
            let shared = shared.clone();
            let conn = conn.clone();
            async move { Ok::<_, Infallible>(request(&shared, &conn, req).await) }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        // A client that sends its request and then shuts its sending side (FIN) still
        // waits for the answer; without this hyper drops it.
        .half_close(true)
        .keep_alive(true)
        // Header and idle deadlines are the reaper's (hyper's one timer covers both at once).
        .header_read_timeout(None)
        .max_buf_size(MAX_BUF_BYTES)
        .max_headers(PARSER_MAX_HEADERS);
    let served = builder.serve_connection(io, service);
    tokio::pin!(served);
    tokio::select! {
        _ = served.as_mut() => {}
        () = conn.close.notified() => {}
        _ = stop.changed() => {
            served.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(DRAIN, served.as_mut()).await;
        }
    }
    shared.conns().remove(&id);
}

/// One request: the body read within the deadline, then the router, detached.
async fn request(shared: &Shared, conn: &Conn, req: Request<Incoming>) -> Response {
    let started = conn.begin_request();
    let deadline = started + shared.config.request_timeout;
    let resp = answer(shared, req, deadline).await;
    conn.set(Phase::Writing(Instant::now()));
    resp
}

async fn answer(shared: &Shared, req: Request<Incoming>, deadline: Instant) -> Response {
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return too_large();
    }
    let limited = Limited::new(body, MAX_BODY_BYTES).collect();
    let bytes = match tokio::time::timeout_at(deadline, limited).await {
        Err(_) => {
            return status_error(
                StatusCode::REQUEST_TIMEOUT,
                &format!(
                    "the request body did not arrive within {} s",
                    shared.config.request_timeout.as_secs_f64()
                ),
            )
        }
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => return too_large(),
        Ok(Err(_)) => {
            return status_error(
                StatusCode::BAD_REQUEST,
                "the request body could not be read",
            )
        }
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    let mut app = shared.app.clone();
    let req = Request::from_parts(parts, Body::from(bytes));
    let work = tokio::spawn(async move { app.call(req).await });
    match tokio::time::timeout_at(deadline, work).await {
        Ok(Ok(Ok(resp))) => resp,
        Ok(Ok(Err(never))) => match never {},
        Ok(Err(e)) => {
            tracing::error!(error = %e, "request handler failed");
            status_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error; see the service logs",
            )
        }
        Err(_) => status_error(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!(
                "the answer was not ready within {} s; retry shortly",
                shared.config.request_timeout.as_secs_f64()
            ),
        ),
    }
}

/// The socket, telling its connection's phase when bytes arrive and when an answer is out.
struct Tracked {
    inner: TcpStream,
    conn: Arc<Conn>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.conn.on_read();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    /// hyper flushes once its buffer of the answer is all written to the socket.
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        if matches!(polled, Poll::Ready(Ok(()))) {
            self.conn.on_flushed();
        }
        polled
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
