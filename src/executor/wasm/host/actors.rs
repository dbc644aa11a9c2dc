//! `wactor:actor/actors` over the platform's runs: a component starts,
//! waits for, reads and aborts runs as its token would over HTTP.

use std::time::Duration;

use super::bindings::wactor::actor::actors::{Host, Run as WitRun, StartOptions as WitStartOptions};
use super::{ActorHost, HostError, HostResult};
use crate::definition::input::JSON_CONTENT_TYPE;
use crate::executor::wasm::Interrupted;
use crate::platform::access::Action;
use crate::platform::error::PlatformError;
use crate::platform::executors::StopReason;
use crate::platform::runs::{Run, RunOrigin, StartOptions};
use crate::platform::webhooks::{Condition, WebhookSpec};

/// How long `wait-secs: none` waits: the caller's own timeout ends it sooner.
const WAIT_UNTIL_FINISHED: Duration = Duration::from_secs(30 * 24 * 3600);

fn wit_run(run: &Run) -> HostResult<WitRun> {
    Ok(WitRun {
        id: run.id.clone(),
        actor_id: run.act_id.clone(),
        status: run.status.as_str().to_owned(),
        status_message: run.status_message.clone(),
        exit_code: run.exit_code,
        default_key_value_store_id: run.default_key_value_store_id.clone(),
        default_dataset_id: run.default_dataset_id.clone(),
        default_request_queue_id: run.default_request_queue_id.clone(),
        json: serde_json::to_string(run).map_err(PlatformError::from)?,
    })
}

fn wait_for(secs: Option<u32>) -> Duration {
    secs.map_or(WAIT_UNTIL_FINISHED, |s| Duration::from_secs(s as u64))
}

impl ActorHost<'_> {
    /// Records a call that acts beyond the run's own storages in the audit
    /// log, with how it ended (an interrupt that ends this run is its success).
    fn audited<T>(&self, function: &str, resource: &str, result: HostResult<T>) -> HostResult<T> {
        let grant = self.ctx.grant.get_or_init(|| self.ctx.platform.grant_of(&self.ctx.run)).clone();
        let (status, error) = match &result {
            Err(HostError::Guest(e)) => (e.http_status(), Some(e.to_string())),
            Ok(_) | Err(HostError::Trap(_)) => (200, None),
        };
        let caller = crate::platform::access::Caller::Run(std::sync::Arc::new(grant));
        self.ctx.platform.audit(&caller, crate::platform::audit::Door::Wit, function, resource, status, error.as_deref());
        result
    }

    async fn start_child(&mut self, actor: &str, input: Option<String>, options: WitStartOptions) -> HostResult<Run> {
        self.authorize(Action::StartRun)?;
        // The child may read what this run wrote: it is on disk first.
        self.ctx.platform.settle(&self.ctx.writes).await;
        let webhooks = match &options.webhooks {
            Some(text) => {
                let specs: Vec<WebhookSpec> = serde_json::from_str(text).map_err(|e| {
                    PlatformError::invalid_kind("invalid-webhook", format!("webhooks must be a JSON array of webhooks: {e}"))
                })?;
                self.ctx.platform.check_ad_hoc_webhooks(&specs).await?;
                specs
            }
            None => Vec::new(),
        };
        let opts = StartOptions {
            webhooks,
            input: input.map(|i| (i.into_bytes(), JSON_CONTENT_TYPE.to_owned())),
            build: options.build,
            timeout_secs: options.timeout_secs,
            memory_mbytes: options.memory_mbytes,
            max_items: options.max_items,
            max_total_charge_usd: options.max_total_charge_usd,
            origin: Some(RunOrigin::Actor),
            parent_run_id: Some(self.ctx.run.id.clone()),
            // The child is the same user's, whoever owns the Actor it runs.
            user: Some(self.ctx.platform.get_user(&self.ctx.run.user_id)?),
            ..Default::default()
        };
        let run = self.ctx.platform.start_run(actor, opts)?;
        // Its start is acknowledged, as an API start would be.
        self.ctx.platform.commit().await;
        Ok(run)
    }

    async fn wait_run(&mut self, run_id: &str, secs: Option<u32>) -> HostResult<Run> {
        self.authorize(Action::ReadRun(run_id))?;
        Ok(self.ctx.platform.wait_for_finish(run_id, wait_for(secs)).await?)
    }
}

impl Host for ActorHost<'_> {
    async fn start(&mut self, actor: String, input: Option<String>, options: WitStartOptions) -> HostResult<WitRun> {
        let started = self.start_child(&actor, input, options).await;
        wit_run(&self.audited("actors.start", &format!("acts/{actor}"), started)?)
    }

    async fn call(&mut self, actor: String, input: Option<String>, options: WitStartOptions, wait_secs: Option<u32>) -> HostResult<WitRun> {
        let started = self.start_child(&actor, input, options).await;
        let run = self.audited("actors.call", &format!("acts/{actor}"), started)?;
        wit_run(&self.wait_run(&run.id, wait_secs).await?)
    }

    async fn wait_for_finish(&mut self, run_id: String, wait_secs: Option<u32>) -> HostResult<WitRun> {
        wit_run(&self.wait_run(&run_id, wait_secs).await?)
    }

    async fn get_run(&mut self, run_id: String) -> HostResult<WitRun> {
        self.authorize(Action::ReadRun(&run_id))?;
        wit_run(&self.ctx.platform.get_run(&run_id)?)
    }

    async fn metamorph(&mut self, actor: String, input: Option<String>, build: Option<String>) -> HostResult<()> {
        let done = self.metamorph_into(&actor, input, build).await;
        self.audited("actors.metamorph", &format!("actor-runs/{}/metamorph/{actor}", self.ctx.run.id), done)
    }

    async fn add_webhook(&mut self, webhook: String) -> HostResult<String> {
        let added = self.add_run_webhook(webhook).await;
        self.audited("actors.add-webhook", &format!("actor-runs/{}/webhooks", self.ctx.run.id), added)
    }

    async fn abort_run(&mut self, run_id: String, gracefully: bool) -> HostResult<WitRun> {
        let aborted = self.abort(&run_id, gracefully).await;
        self.audited("actors.abort-run", &format!("actor-runs/{run_id}/abort"), aborted)
    }
}

impl ActorHost<'_> {
    async fn metamorph_into(&mut self, actor: &str, input: Option<String>, build: Option<String>) -> HostResult<()> {
        let run_id = self.ctx.run.id.clone();
        self.authorize(Action::ManageOwnRun(&run_id))?;
        // What this run wrote is on disk before the target can read it.
        self.ctx.platform.settle(&self.ctx.writes).await;
        let input = input.map(|i| (i.into_bytes(), JSON_CONTENT_TYPE.to_owned()));
        self.ctx.platform.metamorph_run(&run_id, actor, build.as_deref(), input)?;
        self.ctx.platform.commit().await;
        Err(HostError::Trap(Interrupted(StopReason::Metamorph).into()))
    }

    async fn add_run_webhook(&mut self, webhook: String) -> HostResult<String> {
        self.authorize(Action::Webhooks)?;
        let mut spec: WebhookSpec = serde_json::from_str(&webhook)
            .map_err(|e| PlatformError::invalid_kind("invalid-webhook", format!("The webhook is not valid JSON: {e}")))?;
        spec.condition = Some(Condition { actor_run_id: Some(self.ctx.run.id.clone()), ..Default::default() });
        spec.is_ad_hoc = Some(true);
        let (hook, _) = self.ctx.platform.create_webhook(&self.ctx.run.user_id, spec).await?;
        self.ctx.platform.commit().await;
        Ok(hook.id)
    }

    async fn abort(&mut self, run_id: &str, gracefully: bool) -> HostResult<WitRun> {
        self.authorize(Action::ControlRun(run_id))?;
        self.ctx.platform.settle(&self.ctx.writes).await;
        let run = self.ctx.platform.abort_run_nowait(run_id, gracefully)?;
        if run_id == self.ctx.run.id && !gracefully {
            return Err(HostError::Trap(Interrupted(StopReason::Abort).into()));
        }
        wit_run(&run)
    }
}
