//! `wactor:actor/runtime`: the guest's own run.

use super::bindings::wactor::actor::runtime::{Host, RunInfo, StoredValue};
use super::{ActorHost, HostError, HostResult};
use crate::executor::wasm::Interrupted;
use crate::ids;
use crate::platform::executors::StopReason;
use crate::platform::secrets::Viewer;

impl Host for ActorHost<'_> {
    async fn info(&mut self) -> wasmtime::Result<RunInfo> {
        let run = &self.ctx.run;
        let timeout_at = run.timeout_at().unwrap_or(run.started_at + chrono::Duration::days(365 * 100));
        Ok(RunInfo {
            run_id: run.id.clone(),
            actor_id: run.act_id.clone(),
            actor_name: self.ctx.actor_full_name.to_string(),
            build_id: run.build_id.clone(),
            build_number: run.build_number.clone(),
            default_key_value_store_id: run.default_key_value_store_id.clone(),
            default_dataset_id: run.default_dataset_id.clone(),
            default_request_queue_id: run.default_request_queue_id.clone(),
            input_key: run.input_key.clone(),
            memory_mbytes: run.options.memory_mbytes,
            timeout_secs: run.options.timeout_secs,
            started_at: ids::format_ts(&run.started_at),
            timeout_at: ids::format_ts(&timeout_at),
        })
    }

    async fn input(&mut self) -> HostResult<Option<StoredValue>> {
        let run = &self.ctx.run;
        let record = self.ctx.platform.kv.get_record(&run.default_key_value_store_id, &run.input_key)?;
        // The run's own secrets open here, for the run only.
        let seen = |r| self.ctx.platform.record_as_seen(Viewer::Run { user_id: &run.user_id }, r);
        Ok(record.map(seen).map(|r| StoredValue { value: r.value, content_type: r.content_type }))
    }

    async fn set_status_message(&mut self, message: String, is_terminal: bool) -> HostResult<()> {
        let run_id = self.ctx.run.id.clone();
        self.ctx.platform.set_status_message(&run_id, &message, is_terminal)?;
        self.ctx.writes.note();
        Ok(())
    }

    async fn reboot(&mut self) -> HostResult<()> {
        let run_id = self.ctx.run.id.clone();
        self.ctx.platform.settle(&self.ctx.writes).await;
        self.ctx.platform.reboot_run(&run_id).await?;
        // The run restarts; no more of this instance's code runs.
        Err(HostError::Trap(Interrupted(StopReason::Reboot).into()))
    }

    async fn abort(&mut self, run_id: String, gracefully: bool) -> HostResult<()> {
        // Another run stopping is seen outside; what this one wrote comes first.
        self.authorize(crate::platform::access::Action::ControlRun(&run_id))?;
        self.ctx.platform.settle(&self.ctx.writes).await;
        self.ctx.platform.abort_run_nowait(&run_id, gracefully)?;
        if run_id == self.ctx.run.id && !gracefully {
            return Err(HostError::Trap(Interrupted(StopReason::Abort).into()));
        }
        Ok(())
    }
}
