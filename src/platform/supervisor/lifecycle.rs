//! Platform layer: what a client (or a guest) asks of a run's lifecycle:
//! abort, reboot, resurrect, and resuming the runs a stopped server left.

use std::time::Duration;

use super::ending::{timed_out_message, ABORTED_MESSAGE};
use super::STOP_GRACE;
use crate::platform::error::{PlatformError, Result};
use crate::platform::events::RunEvent;
use crate::platform::executors::StopReason;
use crate::platform::runs::{ResurrectOptions, Run, RunStatus};
use crate::platform::Platform;

impl Platform {
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
            return self.finish_run(run_id, RunStatus::Aborted, None, Some(ABORTED_MESSAGE.into()), None);
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
            limits.check_memory_mbytes("memory", m as u64).map_err(crate::platform::runs::invalid_value)?;
        }
        if let Some(t) = overrides.timeout_secs {
            limits.check_timeout_secs("timeout", t).map_err(crate::platform::runs::invalid_value)?;
        }
        if let Some(max) = overrides.max_total_charge_usd {
            crate::platform::runs::check_max_total_charge(max)?;
        }
        // A run started by another stays within what that run has left.
        let max_total_charge_usd = match (&run.parent_run_id, overrides.max_total_charge_usd) {
            (Some(parent), asked) => self.child_allowance(parent, asked.or(run.options.max_total_charge_usd))?,
            (None, asked) => asked.or(run.options.max_total_charge_usd),
        };
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
            if let Some(max) = overrides.max_items {
                r.options.max_items = Some(max);
            }
            r.options.max_total_charge_usd = max_total_charge_usd;
            Ok(())
        })?;
        // A resurrection is a start: the platform's start event is charged again.
        self.charge_run_start(&run)?;
        self.fire_run_event("ACTOR.RUN.RESURRECTED", &run);
        if let Ok(log) = self.logs.writer(&run.id) {
            log.system(&format!("Resurrecting the run (resurrection {}).", run.stats.resurrect_count));
        }
        self.supervise(run.clone(), std::sync::Arc::new(build));
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
        self.remove_leftovers(&interrupted).await;
        let mut resumed = 0;
        for run in interrupted {
            resumed += self.resume_run(run)? as usize;
        }
        // What resuming recorded (migration counts, runs finished) survives another crash right away.
        self.commit().await;
        Ok(resumed)
    }

    /// What a killed process left running for `runs` (containers, say) goes
    /// first, or it would run on beside the resumed runs.
    async fn remove_leftovers(&self, runs: &[Run]) {
        let mut kinds = Vec::new();
        for run in runs {
            if let Some(kind) = self.get_build(&run.build_id).ok().map(|b| b.artifact_kind()) {
                if !kinds.contains(&kind) {
                    kinds.push(kind);
                }
            }
        }
        for kind in kinds {
            if let Ok(executor) = self.executors.get(kind) {
                let removed = executor.remove_leftovers(&self.config.user_id).await;
                if removed > 0 {
                    tracing::info!(removed, ?kind, "removed what the previous process left running");
                }
            }
        }
    }

    /// Resumes one interrupted run, or finishes it if it was on its way out; whether it resumed.
    fn resume_run(&self, run: Run) -> Result<bool> {
        match run.status {
            RunStatus::TimingOut => {
                self.finish_run(&run.id, RunStatus::TimedOut, None, Some(timed_out_message(run.options.timeout_secs)), None)?;
                Ok(false)
            }
            RunStatus::Aborting => {
                self.finish_run(&run.id, RunStatus::Aborted, None, Some(ABORTED_MESSAGE.into()), None)?;
                Ok(false)
            }
            _ => {
                let build = match self.get_build(&run.build_id) {
                    Ok(b) => b,
                    Err(e) => {
                        self.finish_run(&run.id, RunStatus::Failed, None, Some(format!("The run could not be resumed: {e}")), None)?;
                        return Ok(false);
                    }
                };
                let run = self.modify_run(&run.id, |r| {
                    r.stats.migration_count += 1;
                    Ok(())
                })?;
                if let Ok(log) = self.logs.writer(&run.id) {
                    log.system(&format!("Resuming the run after a server restart (migration {}).", run.stats.migration_count));
                }
                self.supervise(run, std::sync::Arc::new(build));
                Ok(true)
            }
        }
    }
}

impl Platform {
    /// Hands a RUNNING run over to another Actor (metamorph): the same run
    /// ID, default storages and timeout budget; the new input goes to
    /// `INPUT-METAMORPH-<n>` and the target's build runs next, whichever
    /// executor it needs. The record names the target before the current
    /// code is stopped, so a restart in between goes on with the target.
    pub fn metamorph_run(&self, run_id: &str, target: &str, build: Option<&str>, input: Option<(Vec<u8>, String)>) -> Result<Run> {
        if self.is_shutting_down() {
            return Err(PlatformError::Unavailable("The server is shutting down; metamorph again in a moment".into()));
        }
        let run = self.get_run(run_id)?;
        if run.status != RunStatus::Running {
            return Err(PlatformError::invalid_kind(
                "invalid-run-status",
                format!("Only a RUNNING run can metamorph; this one is {}", run.status.as_str()),
            ));
        }
        let (actor, target_build) = self.run_target(Some(&run.user_id), target, build)?;
        // Into the user's own Actors or public ones: another's private Actor is not there for them.
        if actor.user_id != run.user_id && !actor.is_public {
            return Err(PlatformError::not_found(format!("Actor was not found: {target}")));
        }
        if !target_build.exports.run {
            return Err(PlatformError::invalid_kind(
                "actor-standby-only",
                format!("Actor {} only serves HTTP (Standby); a run cannot metamorph into it", actor.full_name()),
            ));
        }
        if input.as_ref().is_some_and(|(b, _)| b.len() > self.config.limits.max_input_bytes) {
            return Err(PlatformError::too_large(
                "input-too-large",
                format!("The input is over {} bytes", self.config.limits.max_input_bytes),
            ));
        }
        let input = self.prepare_input(&target_build, &run.user_id, input)?;
        let key = format!("INPUT-METAMORPH-{}", run.metamorphs.len() + 1);
        if let Some((body, content_type)) = &input {
            let max = self.config.limits.max_input_bytes.max(self.config.limits.max_record_bytes);
            self.kv.set_record_within(&run.default_key_value_store_id, &key, body, content_type, max)?;
        }
        let step = super::super::runs::Metamorph {
            created_at: crate::ids::now(),
            actor_id: actor.id.clone(),
            build_id: target_build.id.clone(),
            input_key: key.clone(),
        };
        let run = self.modify_run(run_id, |r| {
            r.metamorphs.push(step.clone());
            r.stats.metamorph = r.stats.metamorph.saturating_add(1);
            r.build_id = target_build.id.clone();
            r.build_number = target_build.build_number.clone();
            r.input_key = key.clone();
            Ok(())
        })?;
        if let Ok(log) = self.logs.writer(run_id) {
            log.system(&format!("Metamorphing into {} (build {}), input {key}.", actor.full_name(), target_build.build_number));
        }
        if !self.active.stop(run_id, StopReason::Metamorph) {
            return Err(PlatformError::Unavailable("The run is not executing on this server right now".into()));
        }
        Ok(run)
    }
}
