//! Personalize's control plane (`POST /` with `X-Amz-Target: AmazonPersonalize.<Operation>`)
//! behind an API Gateway HTTP API: the same operations as `tailor serve`, on the deployment's
//! tables, bucket and key. Import jobs and solution versions answer CREATE PENDING and run in
//! the import and train functions (`TAILOR_IMPORT_FUNCTION`, `TAILOR_TRAIN_FUNCTION`).

use std::sync::Arc;

use tailor_core::serving::{Runtime, Sharing};
use tailor_http::{router, Metrics, Routes};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    tailor_aws::init_lambda_logs();
    let deployment = tailor_aws::Deployment::from_env()?;
    let jobs = tailor_aws::LambdaJobs::from_env().await?;
    let tailor = deployment.tailor().await.with_jobs(Arc::new(jobs));
    let sharing = Sharing::Shared {
        campaign_refresh: tailor_aws::campaign_refresh_from_env(),
    };
    let runtime = Arc::new(Runtime::with_sharing(tailor, sharing));
    lambda_http::run(router(runtime, Routes::CONTROL, Metrics::Emf)).await
}
