//! Platform layer: graceful shutdown. Runs are told `migrating`, get a
//! grace period, and are then stopped as migrations: they resume on the
//! next start.

use std::time::Duration;

use super::STOP_GRACE;
use crate::platform::Platform;

impl Platform {
    /// Graceful shutdown: no new runs; every running run is stopped as a
    /// migration (it stays RUNNING and resumes on the next start).
    pub async fn shutdown(&self, grace: Duration) {
        self.shutting_down.store(true, std::sync::atomic::Ordering::SeqCst);
        // Standby runs hold no work of their own: they answer what they have and finish.
        self.close_standby();
        // Tell every run first; those that finish within the grace period end normally.
        let n = self.active.begin_migration(grace);
        if n > 0 {
            tracing::info!(runs = n, "migrating running runs");
            self.active.wait_empty(grace).await;
        }
        self.active.stop_all_for_migration();
        if !self.active.wait_empty(STOP_GRACE).await {
            tracing::warn!("some runs did not stop within the grace period");
        }
        if let Err(e) = self.flush().await {
            tracing::error!(error = %e, "flushing storage at shutdown");
        }
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(std::sync::atomic::Ordering::SeqCst)
    }
}
