//! The run supervisor: takes a READY run through its lifecycle, enforces its
//! timeout, relays aborts, and records how it ended. Executors only execute.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::actors::Build;
use super::error::{PlatformError, Result};
use super::events::{EventQueue, RunEvent, RunUsage, SystemInfo};
use super::runs::{ResurrectOptions, Run, RunStatus};
use super::Platform;
use crate::executor::docker::Probe;
use crate::executor::wasm::EPOCH_TICK;
use crate::executor::{Outcome, Report, RunJob, StopReason};
use crate::ids;

/// The events a run gets when the server is about to move it.
fn migration_notice(remaining: Duration) -> [RunEvent; 2] {
    [RunEvent::Migrating { time_remaining_secs: remaining.as_secs_f64() }, RunEvent::PersistState { is_migrating: true }]
}

/// A rebooted run whose last instance lived shorter than this restarts
/// after a backoff, so a guest rebooting itself in a loop cannot spin.
const QUICK_REBOOT: Duration = Duration::from_secs(60);
/// The first backoff, doubled with each reboot, up to the cap.
const REBOOT_BACKOFF: Duration = Duration::from_millis(250);
const MAX_REBOOT_BACKOFF: Duration = Duration::from_secs(30);

/// How long a reboot waits before the run's next instance starts.
fn reboot_backoff(reboot_count: u32, last_instance_lived: Duration) -> Duration {
    if reboot_count <= 1 || last_instance_lived >= QUICK_REBOOT {
        return Duration::ZERO;
    }
    REBOOT_BACKOFF.saturating_mul(1 << (reboot_count - 2).min(16)).min(MAX_REBOOT_BACKOFF)
}

/// How often a running Actor gets `system-info`.
const SYSTEM_INFO_EVERY: Duration = Duration::from_secs(1);

/// How long a stopped guest may take to unwind before it is dropped (a
/// guest blocked inside a host call does not see the epoch interrupt).
const STOP_GRACE: Duration = Duration::from_secs(2);

type StopSender = Arc<watch::Sender<Option<StopReason>>>;
type StopReceiver = watch::Receiver<Option<StopReason>>;

struct ActiveRun {
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
    phase: Mutex<ShutdownPhase>,
    changed: tokio::sync::Notify,
}

impl ActiveRuns {
    fn insert(&self, run_id: &str, status: RunStatus) -> (StopSender, StopReceiver, EventQueue) {
        let (stop_tx, stop_rx) = watch::channel(None);
        let stop_tx = Arc::new(stop_tx);
        let (status_tx, _) = watch::channel(status);
        let events = EventQueue::default();
        let run = ActiveRun { stop: stop_tx.clone(), status: status_tx, events: events.clone() };
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
    fn begin_migration(&self, grace: Duration) -> usize {
        let mut phase = self.phase.lock();
        *phase = ShutdownPhase::Migrating { stop_at: Instant::now() + grace };
        self.send_all(&migration_notice(grace))
    }

    /// Stops every run (and every run that starts from now on) as a migration.
    fn stop_all_for_migration(&self) -> usize {
        let mut phase = self.phase.lock();
        *phase = ShutdownPhase::Stopping;
        self.stop_all(StopReason::Migrate)
    }

    /// Sends events to one run; false if it has no supervisor.
    fn send(&self, run_id: &str, events: &[RunEvent]) -> bool {
        match self.runs.lock().get(run_id) {
            Some(r) => {
                r.deliver(events);
                true
            }
            None => false,
        }
    }

    fn send_all(&self, events: &[RunEvent]) -> usize {
        let runs = self.runs.lock();
        for r in runs.values() {
            r.deliver(events);
        }
        runs.len()
    }

    pub(super) fn subscribe(&self, run_id: &str) -> Option<watch::Receiver<RunStatus>> {
        self.runs.lock().get(run_id).map(|r| r.status.subscribe())
    }

    fn stop(&self, run_id: &str, reason: StopReason) -> bool {
        match self.runs.lock().get(run_id) {
            Some(r) => {
                r.request_stop(reason);
                true
            }
            None => false,
        }
    }

    /// The run's event queue and status channel, while it has a supervisor.
    fn event_source(&self, run_id: &str) -> Option<(EventQueue, watch::Receiver<RunStatus>)> {
        self.runs.lock().get(run_id).map(|r| (r.events.clone(), r.status.subscribe()))
    }

    /// The status the run's supervisor last recorded.
    fn status(&self, run_id: &str) -> Option<RunStatus> {
        self.runs.lock().get(run_id).map(|r| *r.status.borrow())
    }

    fn set_status(&self, run_id: &str, status: RunStatus) {
        if let Some(r) = self.runs.lock().get(run_id) {
            r.status.send_replace(status);
        }
    }

    fn finish(&self, run_id: &str, status: RunStatus) {
        if let Some(r) = self.runs.lock().remove(run_id) {
            r.status.send_replace(status);
        }
        self.changed.notify_waiters();
    }

    /// Drops a run that stops without ending (migration); its waiters see the channel close.
    fn detach(&self, run_id: &str) {
        self.runs.lock().remove(run_id);
        self.changed.notify_waiters();
    }

    fn stop_all(&self, reason: StopReason) -> usize {
        let runs = self.runs.lock();
        for r in runs.values() {
            r.request_stop(reason);
        }
        runs.len()
    }

    /// Waits until no run has a supervisor, or `max` passes.
    async fn wait_empty(&self, max: Duration) -> bool {
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

impl Platform {
    /// Hands a READY run to a new supervisor task.
    /// A failure or a panic anywhere in the run's task ends that run FAILED
    /// with the reason, never leaves it running (and so never replays it at
    /// the next start).
    pub(crate) fn supervise(&self, run: Run, build: Build) {
        self.supervise_after(run, build, Duration::ZERO)
    }

    /// [`Self::supervise`], starting the run's code no sooner than `delay` from now.
    fn supervise_after(&self, run: Run, build: Build, delay: Duration) {
        use futures::FutureExt;
        let (stop_tx, stop_rx, events) = self.active.insert(&run.id, run.status);
        let platform = self.arc();
        tokio::spawn(async move {
            let run_id = run.id.clone();
            let driven =
                std::panic::AssertUnwindSafe(platform.clone().drive(run, build, stop_tx, stop_rx, events, delay)).catch_unwind().await;
            let why = match driven {
                Ok(Ok(())) => return,
                Ok(Err(e)) => {
                    tracing::error!(run_id, error = %e, "supervisor failed");
                    format!("The platform failed: {e}")
                }
                Err(panic) => {
                    let what = crate::panic_message(&panic);
                    tracing::error!(run_id, panic = %what, "a run's task panicked");
                    format!("The platform failed while running this run (internal error: {what})")
                }
            };
            if let Ok(log) = platform.logs.writer(&run_id) {
                log.system(&why);
            }
            if let Err(e) = platform.finish_run(&run_id, RunStatus::Failed, None, Some(why), None) {
                tracing::error!(run_id, error = %e, "recording a failed run");
                platform.active.finish(&run_id, RunStatus::Failed);
            }
        });
    }

    async fn drive(
        self: Arc<Self>,
        run: Run,
        build: Build,
        stop_tx: StopSender,
        mut stop_rx: StopReceiver,
        events: EventQueue,
        delay: Duration,
    ) -> Result<()> {
        let log = self.logs.writer(&run.id).map_err(|e| PlatformError::internal(format!("opening the run log: {e}")))?;
        #[cfg(test)]
        if run.meta.origin == tests::PANIC_ORIGIN {
            panic!("a fault injected by a test");
        }
        // Wait out the delay, then for a slot; a stop while waiting ends the run right here.
        let slot = async {
            // Not even a zero sleep: the timer would hold the start to its next tick (~1 ms).
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            self.run_slots.clone().acquire_owned().await
        };
        tokio::pin!(slot);
        let permit = loop {
            tokio::select! {
                p = &mut slot => break p.map_err(|_| PlatformError::internal("run slots closed"))?,
                reason = stop_rx.wait_for(Option::is_some) => {
                    let reason = reason.ok().and_then(|r| *r);
                    match reason {
                        // The server is going down while the run waited: it starts when the server is back.
                        Some(StopReason::Migrate) => {
                            self.active.detach(&run.id);
                            return Ok(());
                        }
                        // A reboot asked for during a reboot's backoff: that restart is already on its way.
                        Some(StopReason::Reboot) => {
                            stop_tx.send_replace(None);
                            continue;
                        }
                        _ => {
                            log.system("Aborted before it started.");
                            self.finish_run(&run.id, RunStatus::Aborted, None, Some("The run was aborted before it started".into()), None)?;
                            return Ok(());
                        }
                    }
                }
            }
        };
        let actor_full_name = self.get_actor(&run.act_id).map(|a| a.full_name()).unwrap_or_else(|_| run.act_id.clone());
        let run = self.transition(&run.id, RunStatus::Running)?;
        let started = Instant::now();
        log.system(&format!(
            "Run {} of {} started (build {}, {} MB memory, timeout {} s).",
            run.id, actor_full_name, run.build_number, run.options.memory_mbytes, run.options.timeout_secs
        ));
        // The timeout counts from the run's start (or resurrection), also across restarts.
        let deadline = run.timeout_at().and_then(|end| started.checked_add((end - chrono::Utc::now()).to_std().unwrap_or(Duration::ZERO)));
        let usage = Arc::new(RunUsage::default());
        let job = RunJob {
            platform: self.clone(),
            run: run.clone(),
            build,
            actor_full_name,
            log: log.clone(),
            stop: stop_rx.clone(),
            deadline,
            events: events.clone(),
            usage: usage.clone(),
        };
        // Boxed so it can be dropped (and the guest's store freed) as soon as the run stops.
        let mut exec = Box::pin(self.clone().execute(job));
        let mut stopping: Option<StopReason> = None;
        let persist_every = Duration::from_millis(
            run.options.persist_state_interval_millis.unwrap_or(self.config.limits.persist_state_interval_millis).max(100),
        );
        let mut persist_tick = tokio::time::interval_at(started + persist_every, persist_every);
        let mut info_tick = tokio::time::interval_at(started + SYSTEM_INFO_EVERY, SYSTEM_INFO_EVERY);
        let mut last_ticks = 0u64;
        let mut samples = UsageSamples::default();
        let report = loop {
            tokio::select! {
                report = &mut exec => break Some(report),
                _ = persist_tick.tick(), if stopping.is_none() => {
                    events.push(RunEvent::PersistState { is_migrating: false });
                }
                _ = info_tick.tick(), if stopping.is_none() => {
                    let ticks = usage.busy_ticks.load(std::sync::atomic::Ordering::Relaxed);
                    let cpu = (ticks - last_ticks) as f64 * EPOCH_TICK.as_secs_f64() / SYSTEM_INFO_EVERY.as_secs_f64() * 100.0;
                    last_ticks = ticks;
                    let mem = usage.mem_current_bytes.load(std::sync::atomic::Ordering::Relaxed);
                    samples.add(mem, cpu);
                    events.push(RunEvent::SystemInfo(SystemInfo {
                        mem_current_bytes: mem,
                        mem_avg_bytes: samples.mem_avg(),
                        mem_max_bytes: run.options.memory_mbytes as u64 * 1024 * 1024,
                        cpu_current_usage: cpu,
                        cpu_avg_usage: samples.cpu_avg(),
                        cpu_max_usage: samples.cpu_max,
                        is_cpu_overloaded: cpu >= 95.0,
                        created_at: ids::format_ts(&ids::now()),
                    }));
                }
                _ = sleep_until_opt(deadline), if stopping.is_none() => {
                    stopping = Some(StopReason::Timeout);
                    self.transition(&run.id, RunStatus::TimingOut)?;
                    stop_tx.send_replace(Some(StopReason::Timeout));
                }
                Ok(()) = stop_rx.changed(), if stopping.is_none() => {
                    stopping = *stop_rx.borrow();
                }
                _ = tokio::time::sleep(STOP_GRACE), if stopping.is_some() => break None,
            }
        };
        drop(exec);
        drop(permit);
        if stopping.is_none() {
            stopping = *stop_rx.borrow();
        }
        if stopping.is_none() {
            if let Some(Report { outcome: Outcome::Stopped(reason), .. }) = &report {
                stopping = Some(*reason);
            }
        }
        if stopping == Some(StopReason::Migrate) {
            log.system("The server is shutting down: the run stops here and goes on when the server is back (migration).");
            self.standby.forget_run(&run.act_id, &run.id);
            self.active.detach(&run.id);
            return Ok(());
        }
        if stopping == Some(StopReason::Reboot) {
            let lived = started.elapsed();
            let run = self.modify_run(&run.id, |r| {
                r.stats.reboot_count = r.stats.reboot_count.saturating_add(1);
                Ok(())
            })?;
            if self.is_shutting_down() {
                // Nothing new starts on a server going down: the reboot is the restart after the migration.
                log.system(&format!(
                    "Rebooting the run (reboot {}) when the server is back: it is shutting down (migration).",
                    run.stats.reboot_count
                ));
                self.standby.forget_run(&run.act_id, &run.id);
                self.active.detach(&run.id);
                return Ok(());
            }
            let backoff = reboot_backoff(run.stats.reboot_count, lived);
            log.system(&match backoff.is_zero() {
                true => format!("Rebooting the run (reboot {}).", run.stats.reboot_count),
                false => format!(
                    "Rebooting the run (reboot {}) in {:.2} s: it rebooted soon after its last start.",
                    run.stats.reboot_count,
                    backoff.as_secs_f64()
                ),
            });
            let build = self.get_build(&run.build_id)?;
            // The new supervisor replaces this one's entry; waiters move over to it.
            self.supervise_after(run, build, backoff);
            return Ok(());
        }
        let elapsed = started.elapsed();
        // An Actor that ends by itself after a graceful abort request was aborted all the same.
        if stopping.is_none() && self.active.status(&run.id) == Some(RunStatus::Aborting) {
            stopping = Some(StopReason::Abort);
        }
        let (status, exit_code, message) = conclude(stopping, report.as_ref(), run.options.timeout_secs);
        let mem = report.map(|r| r.mem_max_bytes).unwrap_or(0);
        let outbound = usage.outbound_requests.load(std::sync::atomic::Ordering::Relaxed);
        let finished = self.finish_run(&run.id, status, exit_code, message, Some((elapsed, mem, outbound)))?;
        log.system(&format!(
            "Run finished: {}{}",
            finished.status.as_str(),
            finished.status_message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default()
        ));
        Ok(())
    }

    /// The events of a running run, for its events websocket.
    pub fn run_event_source(&self, run_id: &str) -> Option<(EventQueue, watch::Receiver<RunStatus>)> {
        self.active.event_source(run_id)
    }

    /// The secret in a run's events URL: derived from the server's token, so
    /// it needs no storage and names exactly one run.
    pub fn run_events_secret(&self, run_id: &str) -> String {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(format!("wactor-events/{}/{run_id}", self.config.token).as_bytes());
        digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
    }

    /// `ACTOR_EVENTS_WEBSOCKET_URL` of a run.
    pub fn run_events_url(&self, run_id: &str) -> String {
        let base = &self.config.public_url;
        let ws = base.strip_prefix("https://").map(|r| format!("wss://{r}")).unwrap_or_else(|| base.replacen("http://", "ws://", 1));
        format!("{ws}/events/{run_id}/{}", self.run_events_secret(run_id))
    }

    /// Executes the run: a Standby run serves requests, any other runs its code once.
    async fn execute(self: Arc<Self>, job: RunJob) -> Report {
        if job.run.meta.origin == "STANDBY" && job.build.exports.http {
            self.serve_standby(job).await
        } else if job.build.image.is_some() {
            let docker = match self.docker() {
                Ok(docker) => docker,
                Err(e) => return Report { outcome: Outcome::Crashed(e.to_string()), mem_max_bytes: 0 },
            };
            // The run's `containerUrl` reaches its web server once it listens.
            let web_server = self.open_web_server(&job.run.id);
            let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
            let serve_when_ready = async {
                if let Ok(server) = ready_rx.await {
                    web_server.ready(server);
                }
                std::future::pending::<()>().await
            };
            tokio::select! {
                report = docker.execute(job, ready_tx, Probe::Listening) => report,
                _ = serve_when_ready => unreachable!("never resolves"),
            }
        } else {
            self.executor.execute(job).await
        }
    }

    /// Moves a run to `next` if the state machine allows it.
    pub(crate) fn transition(&self, run_id: &str, next: RunStatus) -> Result<Run> {
        let run = self.modify_run(run_id, |run| {
            if run.status == next || run.status.can_become(next) {
                run.status = next;
                Ok(())
            } else {
                Err(PlatformError::Conflict(format!("The run is {} and cannot become {}", run.status.as_str(), next.as_str())))
            }
        })?;
        self.active.set_status(run_id, next);
        Ok(run)
    }

    /// Records the end of a run and wakes everyone waiting for it.
    fn finish_run(
        &self,
        run_id: &str,
        status: RunStatus,
        exit_code: Option<i32>,
        default_message: Option<String>,
        usage: Option<(Duration, u64, u64)>,
    ) -> Result<Run> {
        let now = ids::now();
        let run = self.modify_run(run_id, |run| {
            if run.status.is_terminal() {
                return Ok(());
            }
            run.status = status;
            run.exit_code = exit_code;
            run.finished_at = Some(now);
            // The Actor's own final message wins over the platform's default.
            // On success an Actor's last message stays, as on Apify.
            let keep = run.is_status_message_terminal == Some(true) || (status == RunStatus::Succeeded && run.status_message.is_some());
            if !keep {
                if let Some(m) = &default_message {
                    run.status_message = Some(m.clone());
                }
            }
            run.is_status_message_terminal = Some(true);
            if let Some((elapsed, mem, outbound)) = usage {
                run.stats.outbound_requests = outbound;
                run.stats.duration_millis = Some(elapsed.as_millis() as u64);
                run.stats.run_time_secs = Some(elapsed.as_secs_f64());
                run.stats.mem_max_bytes = Some(mem);
                // Apify's compute unit: 1 GB of memory for one hour.
                run.stats.compute_units = run.options.memory_mbytes as f64 / 1024.0 * elapsed.as_secs_f64() / 3600.0;
            }
            Ok(())
        })?;
        self.standby.forget_run(&run.act_id, run_id);
        // What the run fetched from request queues and did not handle goes back to their heads.
        self.queues.release_client(run_id);
        self.active.finish(run_id, run.status);
        Ok(run)
    }

    /// Waits until the run is terminal or `max` passes, then returns it as it is.
    pub async fn wait_for_finish(&self, run_id: &str, max: Duration) -> Result<Run> {
        let deadline = Instant::now() + max;
        while let Some(mut rx) = self.active.subscribe(run_id) {
            match tokio::time::timeout_at(deadline, rx.wait_for(|s| s.is_terminal())).await {
                // Finished, or out of time.
                Ok(Ok(_)) | Err(_) => break,
                // The supervisor went away: replaced by a reboot (follow the
                // new one) or detached by a migration (the run goes on later).
                Ok(Err(_)) if self.is_shutting_down() => break,
                Ok(Err(_)) => continue,
            }
        }
        self.get_run(run_id)
    }

    /// Aborts a run. Terminal runs are left as they are. Gracefully: the
    /// Actor gets `aborting` and `persist-state`, and is stopped only if it
    /// has not finished when the abort grace period ends.
    pub async fn abort_run(&self, run_id: &str, gracefully: bool) -> Result<Run> {
        let run = self.abort_run_nowait(run_id, gracefully)?;
        if run.status.is_terminal() || run.status == RunStatus::Aborting {
            return Ok(run);
        }
        self.wait_for_finish(run_id, STOP_GRACE + Duration::from_secs(1)).await
    }

    /// Requests the abort and returns the run as it is now.
    pub fn abort_run_nowait(&self, run_id: &str, gracefully: bool) -> Result<Run> {
        let run = self.get_run(run_id)?;
        if run.status.is_terminal() {
            return Ok(run);
        }
        if gracefully && run.status == RunStatus::Running {
            let run = self.transition(run_id, RunStatus::Aborting)?;
            if self.active.send(run_id, &[RunEvent::Aborting, RunEvent::PersistState { is_migrating: false }]) {
                let platform = self.arc();
                let id = run_id.to_owned();
                let grace = Duration::from_secs(self.config.limits.abort_grace_secs);
                tokio::spawn(async move {
                    tokio::time::sleep(grace).await;
                    platform.active.stop(&id, StopReason::Abort);
                });
                return Ok(run);
            }
        }
        if !self.active.stop(run_id, StopReason::Abort) {
            // No supervisor (e.g. left over from a crash): end it here.
            return self.finish_run(run_id, RunStatus::Aborted, None, Some("The run was aborted".into()), None);
        }
        self.get_run(run_id)
    }

    /// Restarts a RUNNING run in place: same run, storages and input.
    pub async fn reboot_run(&self, run_id: &str) -> Result<Run> {
        let run = self.get_run(run_id)?;
        if run.status != RunStatus::Running {
            return Err(PlatformError::invalid_kind(
                "invalid-run-status",
                format!("Only a RUNNING run can be rebooted; this one is {}", run.status.as_str()),
            ));
        }
        let max = self.config.limits.max_reboots_per_run;
        if run.stats.reboot_count >= max {
            return Err(PlatformError::limit(
                "reboot-limit-exceeded",
                format!("The run was rebooted {} times, the most one run may be; it goes on without a reboot", run.stats.reboot_count),
            ));
        }
        // During a shutdown the reboot is part of the migration: the run
        // stops here and starts afresh when the server is back, never on
        // this server going down.
        let reason = if self.is_shutting_down() { StopReason::Migrate } else { StopReason::Reboot };
        if !self.active.stop(run_id, reason) {
            return Err(PlatformError::Unavailable("The run is not executing on this server right now".into()));
        }
        if reason == StopReason::Migrate {
            if let Ok(log) = self.logs.writer(run_id) {
                log.system("A reboot was asked for while the server shuts down: the run starts again when the server is back.");
            }
        }
        self.get_run(run_id)
    }

    /// Brings a finished run back to life with the same storages; the
    /// timeout counts from now. `overrides` may change the run options.
    pub fn resurrect_run(&self, run_id: &str, overrides: ResurrectOptions) -> Result<Run> {
        if self.is_shutting_down() {
            return Err(PlatformError::Unavailable("The server is shutting down; try again in a moment".into()));
        }
        let run = self.get_run(run_id)?;
        if !run.status.is_terminal() {
            return Err(PlatformError::invalid_kind(
                "invalid-run-status",
                format!("Only a finished run can be resurrected; this one is {}", run.status.as_str()),
            ));
        }
        let limits = &self.config.limits;
        if let Some(m) = overrides.memory_mbytes {
            limits.check_memory_mbytes("memory", m as u64).map_err(super::runs::invalid_value)?;
        }
        if let Some(t) = overrides.timeout_secs {
            limits.check_timeout_secs("timeout", t).map_err(super::runs::invalid_value)?;
        }
        let actor = self.get_actor(&run.act_id)?;
        let build = match &overrides.build {
            Some(b) => self.resolve_build(&actor, Some(b))?,
            None => self.get_build(&run.build_id)?,
        };
        let now = crate::ids::now();
        let run = self.modify_run(run_id, |r| {
            if !r.status.is_terminal() {
                return Err(PlatformError::Conflict("The run was resurrected meanwhile".into()));
            }
            r.status = RunStatus::Ready;
            r.finished_at = None;
            r.exit_code = None;
            r.status_message = None;
            r.is_status_message_terminal = None;
            r.stats.resurrect_count += 1;
            r.timeout_counts_from = Some(now);
            r.build_id = build.id.clone();
            r.build_number = build.build_number.clone();
            if let Some(b) = &overrides.build {
                r.options.build = b.clone();
            }
            if let Some(t) = overrides.timeout_secs {
                r.options.timeout_secs = t;
            }
            if let Some(m) = overrides.memory_mbytes {
                r.options.memory_mbytes = m;
            }
            Ok(())
        })?;
        if let Ok(log) = self.logs.writer(&run.id) {
            log.system(&format!("Resurrecting the run (resurrection {}).", run.stats.resurrect_count));
        }
        self.supervise(run.clone(), build);
        Ok(run)
    }

    /// Restarts runs a previous process left unfinished (graceful shutdown or
    /// crash) with the same ID, storages and input; the timeout still counts
    /// from the original start. Runs that were on their way out are finished.
    pub async fn resume_interrupted_runs(&self) -> Result<usize> {
        let mut interrupted = Vec::new();
        for item in self.db.runs.iter() {
            let run: Run = serde_json::from_slice(&item?.1)?;
            if !run.status.is_terminal() && self.active.subscribe(&run.id).is_none() {
                interrupted.push(run);
            }
        }
        // Containers of a killed process would otherwise run on beside their resumed runs.
        let containers = interrupted.iter().any(|r| self.get_build(&r.build_id).is_ok_and(|b| b.image.is_some()));
        if containers {
            if let Ok(docker) = self.docker() {
                let removed = docker.remove_leftovers(&self.config.user_id).await;
                if removed > 0 {
                    tracing::info!(removed, "removed containers left by the previous process");
                }
            }
        }
        let mut resumed = 0;
        for run in interrupted {
            match run.status {
                RunStatus::TimingOut => {
                    self.finish_run(
                        &run.id,
                        RunStatus::TimedOut,
                        None,
                        Some(format!("The run timed out after {} s", run.options.timeout_secs)),
                        None,
                    )?;
                }
                RunStatus::Aborting => {
                    self.finish_run(&run.id, RunStatus::Aborted, None, Some("The run was aborted".into()), None)?;
                }
                _ => {
                    let build = match self.get_build(&run.build_id) {
                        Ok(b) => b,
                        Err(e) => {
                            self.finish_run(&run.id, RunStatus::Failed, None, Some(format!("The run could not be resumed: {e}")), None)?;
                            continue;
                        }
                    };
                    let run = self.modify_run(&run.id, |r| {
                        r.stats.migration_count += 1;
                        Ok(())
                    })?;
                    if let Ok(log) = self.logs.writer(&run.id) {
                        log.system(&format!("Resuming the run after a server restart (migration {}).", run.stats.migration_count));
                    }
                    self.supervise(run, build);
                    resumed += 1;
                }
            }
        }
        // What resuming recorded (migration counts, runs finished) survives another crash right away.
        self.commit().await;
        Ok(resumed)
    }

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

/// Running averages and maxima of a run's `system-info` samples.
#[derive(Default)]
struct UsageSamples {
    n: u64,
    mem_sum: f64,
    cpu_sum: f64,
    cpu_max: f64,
}

impl UsageSamples {
    fn add(&mut self, mem: u64, cpu: f64) {
        self.n += 1;
        self.mem_sum += mem as f64;
        self.cpu_sum += cpu;
        self.cpu_max = self.cpu_max.max(cpu);
    }

    fn mem_avg(&self) -> f64 {
        self.mem_sum / self.n.max(1) as f64
    }

    fn cpu_avg(&self) -> f64 {
        self.cpu_sum / self.n.max(1) as f64
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Status, exit code and default status message from how the run ended.
fn conclude(stopping: Option<StopReason>, report: Option<&Report>, timeout_secs: u64) -> (RunStatus, Option<i32>, Option<String>) {
    match stopping {
        Some(StopReason::Timeout) => (RunStatus::TimedOut, None, Some(format!("The run timed out after {timeout_secs} s"))),
        Some(StopReason::Abort) => (RunStatus::Aborted, None, Some("The run was aborted".into())),
        Some(StopReason::Migrate | StopReason::Reboot) => unreachable!("migrating and rebooting runs are detached, not concluded"),
        None => match report.map(|r| &r.outcome) {
            Some(Outcome::Exited { exit_code: 0, .. }) => {
                (RunStatus::Succeeded, Some(0), Some("Actor finished successfully (exit code 0)".into()))
            }
            Some(Outcome::Exited { exit_code, message }) => (
                RunStatus::Failed,
                Some(*exit_code),
                Some(message.clone().unwrap_or_else(|| format!("Actor finished with exit code {exit_code}"))),
            ),
            Some(Outcome::Crashed(why)) => (RunStatus::Failed, Some(1), Some(why.clone())),
            Some(Outcome::Stopped(StopReason::Timeout)) => {
                (RunStatus::TimedOut, None, Some(format!("The run timed out after {timeout_secs} s")))
            }
            Some(Outcome::Stopped(StopReason::Abort)) => (RunStatus::Aborted, None, Some("The run was aborted".into())),
            Some(Outcome::Stopped(StopReason::Migrate | StopReason::Reboot)) => {
                unreachable!("migrating and rebooting runs are detached, not concluded")
            }
            None => (RunStatus::Failed, None, Some("The run stopped without a result".into())),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use crate::platform::runs::{Run, RunStatus};
    use crate::platform::{Platform, PlatformOptions};

    /// Runs with this origin panic in their supervisor (a fault only tests inject).
    pub(super) const PANIC_ORIGIN: &str = "TEST-PANIC";

    #[tokio::test]
    async fn a_panic_in_a_runs_task_fails_that_run_and_is_not_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let platform = Platform::open(PlatformOptions {
            data_dir: dir.path().to_path_buf(),
            token: Some("t".into()),
            public_url: "http://127.0.0.1:1".into(),
            username: "me".into(),
            standby_domain: "localhost".into(),
            docker_network: "host".into(),
            allow_private_outbound: false,
            limits: Default::default(),
            durability: crate::platform::durability::Durability::Periodic,
        })
        .unwrap();
        let now = crate::ids::format_ts(&crate::ids::now());
        let run: Run = serde_json::from_value(json!({
            "id": "panickingRun00001", "actId": "a", "userId": "u", "actorTaskId": null, "startedAt": now, "finishedAt": null,
            "status": "READY", "statusMessage": null, "isStatusMessageTerminal": null, "meta": {"origin": PANIC_ORIGIN},
            "stats": {}, "options": {"build": "latest", "timeoutSecs": 60, "memoryMbytes": 128, "diskMbytes": 256},
            "buildId": "b", "buildNumber": "0.1.1", "exitCode": null, "defaultKeyValueStoreId": "k", "defaultDatasetId": "d",
            "defaultRequestQueueId": "q", "generalAccess": "RESTRICTED", "usageTotalUsd": 0.0, "inputKey": "INPUT",
        }))
        .unwrap();
        crate::platform::db::put_json(&platform.db.runs, &run.id, &run).unwrap();
        let build = serde_json::from_value(json!({
            "id": "b", "actId": "a", "userId": "u", "startedAt": now, "finishedAt": now, "status": "SUCCEEDED", "meta": {},
            "buildNumber": "0.1.1", "actorDefinition": {"name": "x"}, "componentBytes": 0, "componentSha256": "", "statusMessage": null,
        }))
        .unwrap();
        platform.supervise(run.clone(), build);
        let ended = platform.wait_for_finish(&run.id, Duration::from_secs(10)).await.unwrap();
        assert_eq!(ended.status, RunStatus::Failed);
        let message = ended.status_message.unwrap();
        assert!(message.contains("internal error: a fault injected by a test"), "{message}");
        assert_eq!(platform.resume_interrupted_runs().await.unwrap(), 0, "a failed run is not resumed");
        let log = String::from_utf8(platform.logs.read_from(&run.id, 0).unwrap()).unwrap();
        assert!(log.contains("a fault injected by a test"), "{log}");
    }
}
