//! Platform layer: the registry of runs that have a supervisor task, with
//! their stop, status and event channels, and where a graceful shutdown is.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::migration_notice;
use crate::platform::events::{EventQueue, RunEvent};
use crate::platform::executors::StopReason;
use crate::platform::runs::RunStatus;

pub(super) type StopSender = Arc<watch::Sender<Option<StopReason>>>;
pub(super) type StopReceiver = watch::Receiver<Option<StopReason>>;

struct ActiveRun {
    /// The run's share of its user's load, given back when it leaves this registry.
    _load: Option<crate::platform::quotas::Admission>,
    stop: StopSender,
    status: watch::Sender<RunStatus>,
    events: EventQueue,
}

impl ActiveRun {
    /// The first stop request wins; later ones (e.g. a timeout during an abort) change nothing.
    fn request_stop(&self, reason: StopReason) {
        self.stop.send_if_modified(|s| {
            let first = s.is_none();
            if first {
                *s = Some(reason);
            }
            first
        });
    }

    fn deliver(&self, events: &[RunEvent]) {
        for e in events {
            self.events.push(e.clone());
        }
    }
}

/// Where a graceful shutdown is: runs that start while it goes on (a
/// reboot already on its way, say) join the migration at once.
#[derive(Debug, Clone, Copy, Default)]
enum ShutdownPhase {
    #[default]
    Serving,
    /// Runs were told `migrating`; they are stopped at this instant.
    Migrating { stop_at: Instant },
    /// Runs are being stopped as migrations.
    Stopping,
}

/// Runs that have a supervisor task, with their stop and status channels.
#[derive(Default)]
pub(crate) struct ActiveRuns {
    runs: Mutex<HashMap<String, ActiveRun>>,
    /// Each user's load of runs, for their quota.
    pub(crate) loads: crate::platform::quotas::Loads,
    phase: Mutex<ShutdownPhase>,
    changed: tokio::sync::Notify,
}

impl ActiveRuns {
    #[cfg(test)]
    pub(crate) fn insert(&self, run_id: &str, status: RunStatus) -> (StopSender, StopReceiver, EventQueue) {
        self.insert_with_load(run_id, status, None)
    }

    /// [`Self::insert`] holding the run's share of its user's load while it is here.
    pub(crate) fn insert_with_load(
        &self,
        run_id: &str,
        status: RunStatus,
        load: Option<crate::platform::quotas::Admission>,
    ) -> (StopSender, StopReceiver, EventQueue) {
        let (stop_tx, stop_rx) = watch::channel(None);
        let stop_tx = Arc::new(stop_tx);
        let (status_tx, _) = watch::channel(status);
        let events = EventQueue::default();
        let run = ActiveRun { _load: load, stop: stop_tx.clone(), status: status_tx, events: events.clone() };
        // Under the phase lock, so a shutdown cannot move on between the check and the insert.
        let phase = self.phase.lock();
        match *phase {
            ShutdownPhase::Serving => {}
            ShutdownPhase::Migrating { stop_at } => run.deliver(&migration_notice(stop_at.saturating_duration_since(Instant::now()))),
            ShutdownPhase::Stopping => run.request_stop(StopReason::Migrate),
        }
        self.runs.lock().insert(run_id.to_owned(), run);
        drop(phase);
        (stop_tx, stop_rx, events)
    }

    /// Tells every run (and every run that starts from now on) that it will be stopped after `grace`.
    pub(super) fn begin_migration(&self, grace: Duration) -> usize {
        let mut phase = self.phase.lock();
        *phase = ShutdownPhase::Migrating { stop_at: Instant::now() + grace };
        self.send_all(&migration_notice(grace))
    }

    /// Stops every run (and every run that starts from now on) as a migration.
    pub(super) fn stop_all_for_migration(&self) -> usize {
        let mut phase = self.phase.lock();
        *phase = ShutdownPhase::Stopping;
        self.stop_all(StopReason::Migrate)
    }

    /// Sends events to one run; false if it has no supervisor.
    pub(super) fn send(&self, run_id: &str, events: &[RunEvent]) -> bool {
        match self.runs.lock().get(run_id) {
            Some(r) => {
                r.deliver(events);
                true
            }
            None => false,
        }
    }

    pub(super) fn send_all(&self, events: &[RunEvent]) -> usize {
        let runs = self.runs.lock();
        for r in runs.values() {
            r.deliver(events);
        }
        runs.len()
    }

    pub(crate) fn subscribe(&self, run_id: &str) -> Option<watch::Receiver<RunStatus>> {
        self.runs.lock().get(run_id).map(|r| r.status.subscribe())
    }

    pub(super) fn stop(&self, run_id: &str, reason: StopReason) -> bool {
        match self.runs.lock().get(run_id) {
            Some(r) => {
                r.request_stop(reason);
                true
            }
            None => false,
        }
    }

    /// The run's event queue and status channel, while it has a supervisor.
    pub(crate) fn event_source(&self, run_id: &str) -> Option<(EventQueue, watch::Receiver<RunStatus>)> {
        self.runs.lock().get(run_id).map(|r| (r.events.clone(), r.status.subscribe()))
    }

    /// The status the run's supervisor last recorded.
    pub(crate) fn status(&self, run_id: &str) -> Option<RunStatus> {
        self.runs.lock().get(run_id).map(|r| *r.status.borrow())
    }

    pub(super) fn set_status(&self, run_id: &str, status: RunStatus) {
        if let Some(r) = self.runs.lock().get(run_id) {
            r.status.send_replace(status);
        }
    }

    pub(crate) fn finish(&self, run_id: &str, status: RunStatus) {
        if let Some(r) = self.runs.lock().remove(run_id) {
            r.status.send_replace(status);
        }
        self.changed.notify_waiters();
    }

    /// Drops a run that stops without ending (migration); its waiters see the channel close.
    pub(super) fn detach(&self, run_id: &str) {
        self.runs.lock().remove(run_id);
        self.changed.notify_waiters();
    }

    pub(super) fn stop_all(&self, reason: StopReason) -> usize {
        let runs = self.runs.lock();
        for r in runs.values() {
            r.request_stop(reason);
        }
        runs.len()
    }

    /// Waits until no run has a supervisor, or `max` passes.
    pub(super) async fn wait_empty(&self, max: Duration) -> bool {
        let deadline = Instant::now() + max;
        loop {
            let notified = self.changed.notified();
            if self.runs.lock().is_empty() {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return false;
            }
        }
    }
}
