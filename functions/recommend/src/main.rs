//! GetRecommendations (`POST /recommendations`) behind an API Gateway HTTP API.
//!
//! Models load on the first request of an execution environment and stay loaded; streamed
//! events written by other environments are read before every answer, and a campaign pointed at
//! a new version reloads within `TAILOR_CAMPAIGN_REFRESH_SECONDS`.

use std::sync::Arc;

use tailor_core::serving::{Runtime, Sharing};
use tailor_http::{router, Metrics, Routes};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    tailor_aws::init_lambda_logs();
    let deployment = tailor_aws::Deployment::from_env()?;
    let sharing = Sharing::Shared {
        campaign_refresh: tailor_aws::campaign_refresh_from_env(),
    };
    let runtime = Arc::new(Runtime::with_sharing(deployment.tailor().await, sharing));
    lambda_http::run(router(runtime, Routes::RECOMMEND, Metrics::Emf)).await
}
