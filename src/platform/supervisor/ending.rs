//! Platform layer: how a run ends: its status moves only as the state
//! machine allows, its end is recorded once, and waiters are woken.

use std::time::Duration;

use tokio::time::Instant;

use crate::ids;
use crate::platform::error::{PlatformError, Result};
use crate::platform::executors::{Outcome, Report, StopReason};
use crate::platform::runs::{Run, RunStatus, COMPUTE_UNITS};
use crate::platform::Platform;

/// The status message of an aborted run.
pub(super) const ABORTED_MESSAGE: &str = "The run was aborted";

/// The status message of a run that timed out.
pub(super) fn timed_out_message(timeout_secs: u64) -> String {
    format!("The run timed out after {timeout_secs} s")
}

impl Platform {
    /// Moves a run to `next` if the state machine allows it.
    pub(crate) fn transition(&self, run_id: &str, next: RunStatus) -> Result<Run> {
        let live = self.active.status(run_id).filter(|s| !s.is_terminal());
        let run = self.modify_run(run_id, |run| {
            // A READY record of a run its supervisor started is RUNNING (see `mark_running`).
            let current = match (run.status, live) {
                (RunStatus::Ready, Some(live)) => live,
                (stored, _) => stored,
            };
            if current == next || current.can_become(next) {
                run.status = next;
                Ok(())
            } else {
                Err(PlatformError::Conflict(format!("The run is {} and cannot become {}", current.as_str(), next.as_str())))
            }
        })?;
        self.active.set_status(run_id, next);
        Ok(Run { status: next, ..run })
    }

    /// The run's code starts: RUNNING, in memory only (the record stays
    /// READY until the run's next status is written, see `overlay_status`).
    pub(super) fn mark_running(&self, mut run: Run) -> Run {
        self.active.set_status(&run.id, RunStatus::Running);
        run.status = RunStatus::Running;
        run
    }

    /// Records the end of a run and wakes everyone waiting for it.
    pub(super) fn finish_run(
        &self,
        run_id: &str,
        status: RunStatus,
        exit_code: Option<i32>,
        default_message: Option<String>,
        usage: Option<(Duration, u64, u64)>,
    ) -> Result<Run> {
        let run = self.record_end(run_id, status, exit_code, default_message, usage)?;
        self.announce_end(&run);
        Ok(run)
    }

    /// Records the end of a run (once: a terminal run stays as it is).
    pub(super) fn record_end(
        &self,
        run_id: &str,
        status: RunStatus,
        exit_code: Option<i32>,
        default_message: Option<String>,
        usage: Option<(Duration, u64, u64)>,
    ) -> Result<Run> {
        let now = ids::now();
        let cu_price = self.config.compute_unit_price_usd;
        let mut booked = 0.0;
        let run = self.modify_run(run_id, |run| {
            booked = 0.0;
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
                // Apify's compute unit: 1 GB of memory for one hour; a resurrected run's lives add up.
                let before = run.usage.get(COMPUTE_UNITS).copied().unwrap_or(0.0);
                let units = before + run.options.memory_mbytes as f64 / 1024.0 * elapsed.as_secs_f64() / 3600.0;
                run.stats.compute_units = units;
                run.usage.insert(COMPUTE_UNITS.to_owned(), units);
                run.usage_usd.insert(COMPUTE_UNITS.to_owned(), units * cu_price);
            }
            // What this end adds to the Actor's usage: the compute and charges since the last end.
            let before = run.usage_total_usd;
            self.overlay_charges(run)?;
            if run.pricing_info.is_none() {
                run.usage_total_usd = run.usage_usd.get(COMPUTE_UNITS).copied().unwrap_or(0.0);
            }
            booked = run.usage_total_usd - before;
            Ok(())
        })?;
        self.note_actor_usage(&run.act_id, booked)?;
        // Written before the end is committed, so the end's commit carries them.
        if let Some(event) = crate::platform::webhooks::run_event(run.status) {
            self.fire_run_event(event, &run);
        }
        Ok(run)
    }

    /// Lets go of an ended run and wakes everyone waiting for its end.
    pub(super) fn announce_end(&self, run: &Run) {
        self.standby.forget_run(&run.act_id, &run.id);
        self.charging_run_ended(run);
        self.cap_default_dataset(run, false);
        // What the run fetched from request queues and did not handle goes back to their heads.
        self.queues.release_client(&run.id);
        self.active.finish(&run.id, run.status);
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
}

/// Status, exit code and default status message from how the run ended.
pub(super) fn conclude(
    stopping: Option<StopReason>,
    report: Option<&Report>,
    timeout_secs: u64,
) -> (RunStatus, Option<i32>, Option<String>) {
    match stopping {
        Some(StopReason::Timeout) => (RunStatus::TimedOut, None, Some(timed_out_message(timeout_secs))),
        Some(StopReason::Abort) => (RunStatus::Aborted, None, Some(ABORTED_MESSAGE.into())),
        Some(StopReason::Migrate | StopReason::Reboot | StopReason::Metamorph) => {
            unreachable!("migrating, rebooting and metamorphing runs go on, they are not concluded")
        }
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
            Some(Outcome::Stopped(StopReason::Timeout)) => (RunStatus::TimedOut, None, Some(timed_out_message(timeout_secs))),
            Some(Outcome::Stopped(StopReason::Abort)) => (RunStatus::Aborted, None, Some(ABORTED_MESSAGE.into())),
            Some(Outcome::Stopped(StopReason::Migrate | StopReason::Reboot | StopReason::Metamorph)) => {
                unreachable!("migrating, rebooting and metamorphing runs go on, they are not concluded")
            }
            None => (RunStatus::Failed, None, Some("The run stopped without a result".into())),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::conclude;
    use crate::platform::executors::{Outcome, Report, StopReason};
    use crate::platform::runs::RunStatus::{self, *};

    fn report(outcome: Outcome) -> Option<Report> {
        Some(Report { outcome, mem_max_bytes: 0 })
    }

    /// How each way of ending becomes a status, an exit code and a message.
    #[test]
    fn each_ending_concludes_as_apify_reports_it() {
        let exited = |code, message: Option<&str>| report(Outcome::Exited { exit_code: code, message: message.map(str::to_owned) });
        type Case<'a> = (Option<StopReason>, Option<Report>, RunStatus, Option<i32>, &'a str);
        let cases: Vec<Case> = vec![
            (None, exited(0, None), Succeeded, Some(0), "Actor finished successfully (exit code 0)"),
            (None, exited(3, None), Failed, Some(3), "Actor finished with exit code 3"),
            (None, exited(1, Some("bad input")), Failed, Some(1), "bad input"),
            (None, report(Outcome::Crashed("out of memory".into())), Failed, Some(1), "out of memory"),
            (None, report(Outcome::Stopped(StopReason::Timeout)), TimedOut, None, "The run timed out after 30 s"),
            (None, report(Outcome::Stopped(StopReason::Abort)), Aborted, None, "The run was aborted"),
            (None, None, Failed, None, "The run stopped without a result"),
            // A stop the platform asked for wins over how the code says it ended.
            (Some(StopReason::Timeout), exited(0, None), TimedOut, None, "The run timed out after 30 s"),
            (Some(StopReason::Abort), exited(0, None), Aborted, None, "The run was aborted"),
            (Some(StopReason::Abort), None, Aborted, None, "The run was aborted"),
        ];
        for (stopping, report, status, code, message) in cases {
            let got = conclude(stopping, report.as_ref(), 30);
            assert_eq!(got, (status, code, Some(message.to_owned())), "{stopping:?} {report:?}");
        }
    }
}
