//! `tailor serve`: the runtime and events APIs over HTTP on 127.0.0.1, wire-compatible with
//! Personalize so the AWS SDKs work with `endpoint_url` pointed here.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::middleware::from_fn;
use tailor_core::serving::Runtime;
use tailor_core::{Error, Result, Tailor};
use tailor_http::server::{effective_max_connections, ServeConfig};
use tailor_http::{router, Metrics, Routes};

#[derive(Debug, clap::Args)]
pub struct Serve {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8787)]
    pub port: u16,
    #[command(flatten)]
    pub limits: Limits,
    /// Compact every dataset group's events and put records into its datasets this often
    /// (seconds; unset: only on demand, with `tailor compact`, and before training).
    #[arg(long, env = "TAILOR_COMPACT_EVERY", value_parser = seconds)]
    pub compact_every: Option<f64>,
}

/// Connection limits of the local server (defaults in `tailor_http::server::ServeConfig`).
#[derive(Debug, Clone, clap::Args)]
pub struct Limits {
    /// Most connections open at once; lowered to fit the open-file limit. At the cap, a new
    /// connection closes the longest-idle one.
    #[arg(long, env = "TAILOR_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// Seconds a client has to send a request's headers, from their first byte.
    #[arg(long, env = "TAILOR_HEADER_TIMEOUT", default_value_t = 10.0, value_parser = seconds)]
    pub header_timeout: f64,
    /// Seconds an idle keep-alive connection stays open.
    #[arg(long, env = "TAILOR_IDLE_TIMEOUT", default_value_t = 60.0, value_parser = seconds)]
    pub idle_timeout: f64,
    /// Seconds for a whole request: its body in (else 408) and its answer out (else 503).
    #[arg(long, env = "TAILOR_REQUEST_TIMEOUT", default_value_t = 30.0, value_parser = seconds)]
    pub request_timeout: f64,
}

impl Default for Limits {
    fn default() -> Self {
        let c = ServeConfig::default();
        Limits {
            max_connections: c.max_connections,
            header_timeout: c.header_timeout.as_secs_f64(),
            idle_timeout: c.idle_timeout.as_secs_f64(),
            request_timeout: c.request_timeout.as_secs_f64(),
        }
    }
}

fn seconds(s: &str) -> std::result::Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 86_400.0 => Ok(v),
        _ => Err(format!("'{s}' is not a number of seconds in (0, 86400]")),
    }
}

impl Limits {
    fn config(&self) -> ServeConfig {
        ServeConfig {
            max_connections: self.max_connections,
            header_timeout: Duration::from_secs_f64(self.header_timeout),
            idle_timeout: Duration::from_secs_f64(self.idle_timeout),
            request_timeout: Duration::from_secs_f64(self.request_timeout),
            ..ServeConfig::default()
        }
    }
}

/// Binds 127.0.0.1:`port` and serves until Ctrl-C, with the default limits.
pub async fn serve(tailor: &Tailor, port: u16, ready: impl FnOnce(SocketAddr)) -> Result<ExitCode> {
    serve_with(tailor, port, &Limits::default(), ready).await
}

/// Binds 127.0.0.1:`port` and serves until Ctrl-C.
pub async fn serve_with(
    tailor: &Tailor,
    port: u16,
    limits: &Limits,
    ready: impl FnOnce(SocketAddr),
) -> Result<ExitCode> {
    let runtime = Arc::new(Runtime::new(tailor.clone()));
    let loaded = runtime.warm().await?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| Error::InvalidInput(format!("cannot listen on 127.0.0.1:{port}: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Internal(e.to_string()))?;
    let config = limits.config();
    tracing::info!(
        %addr,
        campaigns = loaded,
        max_connections = effective_max_connections(config.max_connections),
        "serving"
    );
    ready(addr);
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    tailor_http::server::serve(
        listener,
        router(runtime, Routes::ALL, Metrics::Off).layer(from_fn(tailor_http::access::log)),
        config,
        shutdown,
    )
    .await
    .map_err(|e| Error::Internal(e.to_string()))?;
    Ok(ExitCode::SUCCESS)
}

impl Serve {
    pub async fn run(self, tailor: &Tailor) -> Result<ExitCode> {
        if let Some(every) = self.compact_every {
            let (tailor, every) = (tailor.clone(), Duration::from_secs_f64(every));
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    compact_all(&tailor).await;
                }
            });
        }
        // performAutoTraining: every minute, start the automatic trainings that are due.
        let auto = tailor.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                if let Err(e) = auto.auto_train(tailor_core::domain::now_epoch()).await {
                    tracing::error!(error = %e, "automatic training tick");
                }
            }
        });
        serve_with(tailor, self.port, &self.limits, |addr| {
            crate::commands::say(&format!(
                "tailor serving the runtime and events APIs on http://{addr}\n\
                 the console: http://{addr}/console\n"
            ));
        })
        .await
    }
}

/// One scheduled compaction of every dataset group; a failure is logged and retried next time.
async fn compact_all(tailor: &Tailor) {
    let groups = match tailor.list_dataset_groups().await {
        Ok(g) => g,
        Err(e) => return tracing::error!(error = %e, "scheduled compaction: cannot list groups"),
    };
    for g in groups {
        if let Err(e) = tailor.compact(&g.dataset_group_arn).await {
            tracing::error!(group = g.dataset_group_arn, error = %e, "scheduled compaction failed");
        }
    }
}
