//! `tailor serve`: the runtime and events APIs over HTTP on 127.0.0.1, wire-compatible with
//! Personalize so the AWS SDKs work with `endpoint_url` pointed here.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use tailor_core::serving::Runtime;
use tailor_core::{Error, Result, Tailor};
use tailor_http::{router, Metrics, Routes};

#[derive(Debug, clap::Args)]
pub struct Serve {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8787)]
    pub port: u16,
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
    axum::serve(listener, router(runtime, Routes::ALL, Metrics::Off))
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
