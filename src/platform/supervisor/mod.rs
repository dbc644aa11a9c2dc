//! Platform layer: the run supervisor. It takes a READY run through its
//! lifecycle: waits for a slot, starts the code on its executor, sends
//! system events, enforces the timeout, relays stops, and records how the
//! run ended. Executors only execute.
//!
//! - `active`: the runs that have a supervisor, and the shutdown phase
//! - `dispatch`: which executor runs the code
//! - `usage`: `system-info` samples
//! - `ending`: status transitions and the record of a run's end
//! - `lifecycle`: abort, reboot, resurrect, resume after a restart
//! - `shutdown`: graceful shutdown as a migration

mod active;
mod dispatch;
mod ending;
mod lifecycle;
mod shutdown;
mod usage;

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

pub(crate) use self::active::ActiveRuns;
use self::active::{StopReceiver, StopSender};
use self::usage::UsageSampler;
use super::actors::Build;
use super::error::{PlatformError, Result};
use super::events::{EventQueue, RunEvent, RunUsage};
use super::executors::{Outcome, Report, RunJob, StopReason};
use super::logs::RunLog;
use super::runs::{Run, RunStatus};
use super::{sleep_until, Platform};

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

/// How long a stopped guest may take to unwind before it is dropped (a
/// guest blocked inside a host call does not see the epoch interrupt).
const STOP_GRACE: Duration = Duration::from_secs(2);

/// The channels of one supervised run.
struct RunChannels {
    stop_tx: StopSender,
    stop_rx: StopReceiver,
    events: EventQueue,
}

/// How a run's code stopped: its report (none if it had to be dropped
/// after the stop grace) and why the platform stopped it, if it did.
struct Stopped {
    report: Option<Report>,
    reason: Option<StopReason>,
    /// How long this instance lived.
    lived: Duration,
}

impl Platform {
    /// Hands a READY run to a new supervisor task.
    /// A failure or a panic anywhere in the run's task ends that run FAILED
    /// with the reason, never leaves it running (and so never replays it at
    /// the next start).
    pub(crate) fn supervise(&self, run: Run, build: Arc<Build>) {
        self.supervise_after(run, build, Duration::ZERO)
    }

    /// [`Self::supervise`], starting the run's code no sooner than `delay` from now.
    fn supervise_after(&self, run: Run, build: Arc<Build>, delay: Duration) {
        use futures::FutureExt;
        let standby = run.meta.origin == crate::platform::runs::RunOrigin::Standby;
        let load = self.active.loads.add_unchecked(&run.user_id, crate::platform::quotas::Load::of_run(run.options.memory_mbytes, standby));
        let (stop_tx, stop_rx, events) = self.active.insert_with_load(&run.id, run.status, Some(load));
        let channels = RunChannels { stop_tx, stop_rx, events };
        let platform = self.arc();
        tokio::spawn(async move {
            let run_id = run.id.clone();
            let driven = std::panic::AssertUnwindSafe(platform.clone().drive(run, build, channels, delay)).catch_unwind().await;
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

    /// A run's whole life under this supervisor: a slot, the code, its end.
    async fn drive(self: Arc<Self>, run: Run, build: Arc<Build>, mut channels: RunChannels, delay: Duration) -> Result<()> {
        // A run's first start has no log yet; a restart of any kind goes on after what it has.
        let first_start = run.stats.migration_count == 0
            && run.stats.reboot_count == 0
            && run.stats.resurrect_count == 0
            && run.stats.restart_count == 0
            && run.metamorphs.is_empty();
        let log = if first_start { self.logs.writer_of_new_run(&run.id) } else { self.logs.writer(&run.id) };
        let log = log.map_err(|e| PlatformError::internal(format!("opening the run log: {e}")))?;
        log.mask(self.run_secret_values(&run, &build));
        #[cfg(test)]
        if run.id == tests::PANIC_RUN_ID {
            panic!("a fault injected by a test");
        }
        self.charging_run_started(&run);
        self.cap_default_dataset(&run, true);
        let Some(permit) = self.wait_for_slot(&run, &log, &mut channels, delay).await? else { return Ok(()) };
        let actor_full_name = self.actor_full_name(&run.act_id);
        let run = self.mark_running(run);
        let started = Instant::now();
        log.system(&format!(
            "Run {} of {} started (build {}, {} MB memory, timeout {} s).",
            run.id, actor_full_name, run.build_number, run.options.memory_mbytes, run.options.timeout_secs
        ));
        // The timeout counts from the run's start (or resurrection), also across restarts.
        let deadline = run.timeout_at().and_then(|end| started.checked_add((end - chrono::Utc::now()).to_std().unwrap_or(Duration::ZERO)));
        let job = RunJob {
            platform: self.clone(),
            run: run.clone(),
            build,
            actor_full_name,
            log: log.clone(),
            stop: channels.stop_rx.clone(),
            deadline,
            events: channels.events.clone(),
            usage: Arc::new(RunUsage::default()),
        };
        let usage = job.usage.clone();
        let stopped = self.clone().watch(job, &mut channels, started).await?;
        drop(permit);
        match stopped.reason {
            Some(StopReason::Migrate) => {
                log.system("The server is shutting down: the run stops here and goes on when the server is back (migration).");
                self.detach_run(&run);
                Ok(())
            }
            Some(StopReason::Reboot) => self.reboot_in_place(&run, stopped.lived, &log),
            Some(StopReason::Metamorph) => self.metamorph_in_place(&run, &log),
            _ => self.conclude_run(&run, stopped, &usage, &log).await,
        }
    }

    /// Waits out `delay`, then for a run slot. `None`: the run was stopped
    /// meanwhile and this supervisor is done with it.
    ///
    /// A run started by a live run takes no slot: its parent holds one and
    /// may be waiting for it, so parents filling every slot would otherwise
    /// wait for children that never start. The depth limit and the
    /// per-user limit of unfinished runs bound them instead.
    async fn wait_for_slot(
        &self,
        run: &Run,
        log: &RunLog,
        channels: &mut RunChannels,
        delay: Duration,
    ) -> Result<Option<Option<tokio::sync::OwnedSemaphorePermit>>> {
        let parent_live = run.parent_run_id.as_deref().and_then(|p| self.active.status(p)).is_some_and(|s| !s.is_terminal());
        let slot = async {
            // Not even a zero sleep: the timer would hold the start to its next tick (~1 ms).
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            if parent_live {
                return Ok(None);
            }
            self.run_slots.clone().acquire_owned().await.map(Some)
        };
        tokio::pin!(slot);
        loop {
            tokio::select! {
                p = &mut slot => return Ok(Some(p.map_err(|_| PlatformError::internal("run slots closed"))?)),
                reason = channels.stop_rx.wait_for(Option::is_some) => match reason.ok().and_then(|r| *r) {
                    // The server is going down while the run waited: it starts when the server is back.
                    Some(StopReason::Migrate) => {
                        self.active.detach(&run.id);
                        return Ok(None);
                    }
                    // A reboot asked for during a reboot's backoff: that restart is already on its way.
                    Some(StopReason::Reboot) => {
                        channels.stop_tx.send_replace(None);
                    }
                    _ => {
                        log.system("Aborted before it started.");
                        self.finish_run(&run.id, RunStatus::Aborted, None, Some("The run was aborted before it started".into()), None)?;
                        return Ok(None);
                    }
                },
            }
        }
    }

    /// Runs the code and watches it: periodic `persistState` and
    /// `systemInfo`, the timeout, stop requests, and the stop grace.
    async fn watch(self: Arc<Self>, job: RunJob, channels: &mut RunChannels, started: Instant) -> Result<Stopped> {
        let (run, deadline, events) = (job.run.clone(), job.deadline, channels.events.clone());
        let mut sampler = UsageSampler::new(job.usage.clone(), started, run.options.memory_mbytes as u64 * 1024 * 1024);
        let persist_every = Duration::from_millis(
            run.options.persist_state_interval_millis.unwrap_or(self.config.limits.persist_state_interval_millis).max(100),
        );
        let mut persist_tick = tokio::time::interval_at(started + persist_every, persist_every);
        // Boxed so it can be dropped (and the guest's store freed) as soon as the run stops.
        let mut exec = Box::pin(self.clone().execute(job));
        let stop_rx = &mut channels.stop_rx;
        let mut stopping: Option<StopReason> = None;
        let report = loop {
            tokio::select! {
                report = &mut exec => break Some(report),
                _ = persist_tick.tick(), if stopping.is_none() => events.push(RunEvent::PersistState { is_migrating: false }),
                info = sampler.next(), if stopping.is_none() => events.push(RunEvent::SystemInfo(info)),
                _ = sleep_until(deadline), if stopping.is_none() => {
                    stopping = Some(StopReason::Timeout);
                    self.transition(&run.id, RunStatus::TimingOut)?;
                    channels.stop_tx.send_replace(Some(StopReason::Timeout));
                }
                Ok(()) = stop_rx.changed(), if stopping.is_none() => stopping = *stop_rx.borrow(),
                _ = tokio::time::sleep(STOP_GRACE), if stopping.is_some() => break None,
            }
        };
        drop(exec);
        let reason = stopping.or(*stop_rx.borrow()).or(match &report {
            Some(Report { outcome: Outcome::Stopped(reason), .. }) => Some(*reason),
            _ => None,
        });
        Ok(Stopped { report, reason, lived: started.elapsed() })
    }

    /// The run leaves this server unfinished (a migration): it goes on after the restart.
    fn detach_run(&self, run: &Run) {
        self.standby.forget_run(&run.act_id, &run.id);
        self.charging_run_ended(run);
        self.cap_default_dataset(run, false);
        self.active.detach(&run.id);
    }

    /// Starts the run again with the same storages, after a backoff if it
    /// reboots in a loop; on a server going down, at the next start instead.
    fn reboot_in_place(&self, run: &Run, lived: Duration, log: &RunLog) -> Result<()> {
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
            self.detach_run(&run);
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
        let build = Arc::new(self.get_build(&run.build_id)?);
        // The new supervisor replaces this one's entry; waiters move over to it.
        self.supervise_after(run, build, backoff);
        Ok(())
    }

    /// `restartOnError`: a failed run starts again in place (same ID and
    /// storages), at most `max_restarts_on_error` times. Whether it did.
    fn restart_on_error(&self, run: &Run, lived: Duration, why: Option<&str>, log: &RunLog) -> Result<bool> {
        let max = self.config.limits.max_restarts_on_error;
        let current = self.get_stored_run(&run.id)?;
        if !run.options.restart_on_error || current.stats.restart_count >= max || self.is_shutting_down() {
            return Ok(false);
        }
        let run = self.modify_run(&run.id, |r| {
            r.stats.restart_count = r.stats.restart_count.saturating_add(1);
            Ok(())
        })?;
        let backoff = reboot_backoff(run.stats.restart_count, lived);
        log.system(&format!(
            "The run failed ({}); restarting it in {:.2} s, restart {} of at most {max} (restartOnError).",
            why.unwrap_or("no reason given"),
            backoff.as_secs_f64(),
            run.stats.restart_count
        ));
        let build = Arc::new(self.get_build(&run.build_id)?);
        self.supervise_after(run, build, backoff);
        Ok(true)
    }

    /// Starts the run again as the build its record now names (see `metamorph_run`).
    fn metamorph_in_place(&self, run: &Run, log: &RunLog) -> Result<()> {
        let run = self.get_stored_run(&run.id)?;
        if self.is_shutting_down() {
            log.system("The server is shutting down: the metamorphosed run starts when the server is back (migration).");
            self.detach_run(&run);
            return Ok(());
        }
        let build = Arc::new(self.get_build(&run.build_id)?);
        self.supervise_after(run, build, Duration::ZERO);
        Ok(())
    }

    /// Records how the run ended: status, exit code, message, usage. Its
    /// end is on disk, with all it wrote, before anyone learns of it.
    async fn conclude_run(&self, run: &Run, stopped: Stopped, usage: &RunUsage, log: &RunLog) -> Result<()> {
        let mut reason = stopped.reason;
        // An Actor that ends by itself after a graceful abort request was aborted all the same.
        if reason.is_none() && self.active.status(&run.id) == Some(RunStatus::Aborting) {
            reason = Some(StopReason::Abort);
        }
        let (status, exit_code, message) = ending::conclude(reason, stopped.report.as_ref(), run.options.timeout_secs);
        if status == RunStatus::Failed && self.restart_on_error(run, stopped.lived, message.as_deref(), log)? {
            return Ok(());
        }
        let mem = stopped.report.map(|r| r.mem_max_bytes).unwrap_or(0);
        let outbound = usage.outbound_requests.load(std::sync::atomic::Ordering::Relaxed);
        let finished = self.record_end(&run.id, status, exit_code, message, Some((stopped.lived, mem, outbound)))?;
        log.system(&format!(
            "Run finished: {}{}",
            finished.status.as_str(),
            finished.status_message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default()
        ));
        self.commit().await;
        self.announce_end(&finished);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use crate::platform::runs::{Run, RunStatus};

    /// This run panics in its supervisor (a fault only tests inject).
    pub(super) const PANIC_RUN_ID: &str = "panickingRun00001";

    #[tokio::test]
    async fn a_panic_in_a_runs_task_fails_that_run_and_is_not_replayed() {
        let (platform, _dir) = crate::testing::open_temp();
        let now = crate::ids::format_ts(&crate::ids::now());
        let run: Run = serde_json::from_value(json!({
            "id": PANIC_RUN_ID, "actId": "a", "userId": "u", "actorTaskId": null, "startedAt": now, "finishedAt": null,
            "status": "READY", "statusMessage": null, "isStatusMessageTerminal": null, "meta": {"origin": "API"},
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
        platform.supervise(run.clone(), std::sync::Arc::new(build));
        let ended = platform.wait_for_finish(&run.id, Duration::from_secs(10)).await.unwrap();
        assert_eq!(ended.status, RunStatus::Failed);
        let message = ended.status_message.unwrap();
        assert!(message.contains("internal error: a fault injected by a test"), "{message}");
        assert_eq!(platform.resume_interrupted_runs().await.unwrap(), 0, "a failed run is not resumed");
        let log = String::from_utf8(platform.logs.read_from(&run.id, 0).unwrap()).unwrap();
        assert!(log.contains("a fault injected by a test"), "{log}");
    }
}
