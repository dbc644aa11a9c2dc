//! Platform layer: hands a run's code to the executor its build needs.

use std::sync::Arc;

use crate::platform::executors::{Execution, Report, RunJob, RunMode};
use crate::platform::runs::RunOrigin;
use crate::platform::Platform;

impl Platform {
    /// Executes the run: a Standby run serves requests, any other runs its code once.
    pub(super) async fn execute(self: Arc<Self>, job: RunJob) -> Report {
        if job.run.meta.origin == RunOrigin::Standby && job.build.exports.http {
            return self.serve_standby(job).await;
        }
        let executor = match self.executors.for_build(&job.build) {
            Ok(executor) => executor.clone(),
            Err(e) => return Report::crashed(e.to_string()),
        };
        let run_id = job.run.id.clone();
        let Execution { ended, server, at_container_url } = executor.start(job, RunMode::Batch);
        let Some(server) = server.filter(|_| at_container_url) else { return ended.await };
        // The run's `containerUrl` reaches its web server once it listens.
        let web_server = self.open_web_server(&run_id);
        let serve_when_ready = async move {
            if let Ok(Ok(server)) = server.await {
                web_server.ready(server);
            }
            std::future::pending::<()>().await
        };
        tokio::select! {
            report = ended => report,
            _ = serve_when_ready => unreachable!("never resolves"),
        }
    }
}
