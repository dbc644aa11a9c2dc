//! Runs: the record, its status state machine, and starting one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use std::collections::BTreeMap;

use super::access::PermissionLevel;
use super::charging::pricing::{self, FrozenPricing, PricingInfo, PricingModel};
use super::db::{get_json, owned_key, put_json};
use super::error::{PlatformError, Result};
use super::Platform;
use crate::definition::input::JSON_CONTENT_TYPE;
use crate::ids::{self, ts};

/// `READY → RUNNING → SUCCEEDED | FAILED | TIMING-OUT → TIMED-OUT | ABORTING → ABORTED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING-KEBAB-CASE")]
pub enum RunStatus {
    Ready,
    Running,
    Succeeded,
    Failed,
    TimingOut,
    TimedOut,
    Aborting,
    Aborted,
}

impl RunStatus {
    pub fn is_terminal(self) -> bool {
        matches!(self, RunStatus::Succeeded | RunStatus::Failed | RunStatus::TimedOut | RunStatus::Aborted)
    }

    /// The transitions the state machine allows.
    pub fn can_become(self, next: RunStatus) -> bool {
        use RunStatus::*;
        match (self, next) {
            (Ready, Running | Aborting | Aborted | Failed) => true,
            (Running, Succeeded | Failed | TimingOut | TimedOut | Aborting | Aborted) => true,
            (TimingOut, TimedOut | Failed | Aborted) => true,
            (Aborting, Aborted | Failed) => true,
            // Resurrection brings a finished run back.
            (Succeeded | Failed | TimedOut | Aborted, Ready) => true,
            _ => false,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Ready => "READY",
            RunStatus::Running => "RUNNING",
            RunStatus::Succeeded => "SUCCEEDED",
            RunStatus::Failed => "FAILED",
            RunStatus::TimingOut => "TIMING-OUT",
            RunStatus::TimedOut => "TIMED-OUT",
            RunStatus::Aborting => "ABORTING",
            RunStatus::Aborted => "ABORTED",
        }
    }

    pub fn parse(s: &str) -> Option<RunStatus> {
        serde_json::from_value(Value::String(s.to_owned())).ok()
    }
}

/// Where a run came from (`meta.origin`), in Apify's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunOrigin {
    Development,
    Web,
    Api,
    Scheduler,
    Test,
    Webhook,
    Actor,
    Cli,
    /// Started by a request to the Actor's Standby URL.
    Standby,
}

impl RunOrigin {
    pub fn parse(s: &str) -> Option<RunOrigin> {
        serde_json::from_value(Value::String(s.to_owned())).ok()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RunOrigin::Development => "DEVELOPMENT",
            RunOrigin::Web => "WEB",
            RunOrigin::Api => "API",
            RunOrigin::Scheduler => "SCHEDULER",
            RunOrigin::Test => "TEST",
            RunOrigin::Webhook => "WEBHOOK",
            RunOrigin::Actor => "ACTOR",
            RunOrigin::Cli => "CLI",
            RunOrigin::Standby => "STANDBY",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunMeta {
    pub origin: RunOrigin,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunOptions {
    pub build: String,
    pub timeout_secs: u64,
    pub memory_mbytes: u32,
    pub disk_mbytes: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_items: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_total_charge_usd: Option<f64>,
    /// wactor: how often this run gets `persist-state` (default: the server's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persist_state_interval_millis: Option<u64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub restart_on_error: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunStats {
    #[serde(default)]
    pub input_body_len: u64,
    #[serde(default)]
    pub restart_count: u32,
    #[serde(default)]
    pub resurrect_count: u32,
    #[serde(default)]
    pub migration_count: u32,
    #[serde(default)]
    pub reboot_count: u32,
    /// How many times the run metamorphed.
    #[serde(default)]
    pub metamorph: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_millis: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_time_secs: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_max_bytes: Option<u64>,
    #[serde(default)]
    pub compute_units: f64,
    /// wactor: outbound HTTP requests the Actor sent.
    #[serde(default)]
    pub outbound_requests: u64,
}

/// A run, stored in the shape the API returns (computed fields are added by the API).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    pub id: String,
    pub act_id: String,
    pub user_id: String,
    pub actor_task_id: Option<String>,
    #[serde(with = "ts")]
    pub started_at: DateTime<Utc>,
    #[serde(with = "ts::option")]
    pub finished_at: Option<DateTime<Utc>>,
    pub status: RunStatus,
    pub status_message: Option<String>,
    pub is_status_message_terminal: Option<bool>,
    pub meta: RunMeta,
    pub stats: RunStats,
    pub options: RunOptions,
    pub build_id: String,
    pub build_number: String,
    pub exit_code: Option<i32>,
    pub default_key_value_store_id: String,
    pub default_dataset_id: String,
    pub default_request_queue_id: String,
    pub general_access: GeneralAccess,
    pub usage_total_usd: f64,
    /// The record key of the run's input in its default store (`INPUT`).
    pub input_key: String,
    /// When the timeout starts counting: the start, or the last resurrection.
    #[serde(default, with = "ts::option", skip_serializing_if = "Option::is_none")]
    pub timeout_counts_from: Option<DateTime<Utc>>,
    /// The Actor's pricing in force when the run started; none for a free Actor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<PricingInfo>)]
    pub pricing_info: Option<FrozenPricing>,
    /// What the run was charged per event (read from the charges, see `charging`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charged_event_counts: Option<BTreeMap<String, u64>>,
    /// wactor: charged to this run and the runs it started, what counts against `maxTotalChargeUsd`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_charge_usd: Option<f64>,
    /// wactor: the run that started this one; this run's charges come out of its allowance too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_run_id: Option<String>,
    /// wactor: how many runs started the chain down to this one (0: started by a user).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub call_depth: u32,
    /// What the run's token may do (see `access`).
    #[serde(default)]
    pub permission_level: PermissionLevel,
    /// Each metamorph of the run, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metamorphs: Vec<Metamorph>,
    /// The output schema's properties with their templates filled in: where the run's results are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<serde_json::Map<String, Value>>,
    /// Platform usage by kind (`ACTOR_COMPUTE_UNITS`), and what it cost.
    #[serde(default)]
    pub usage: BTreeMap<String, f64>,
    #[serde(default)]
    pub usage_usd: BTreeMap<String, f64>,
}

/// `{{a.b}}` replaced by the text of `vars.a.b` (an unknown variable by nothing).
fn fill_template(template: &str, vars: &Value) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start + 2..].find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let path = rest[start + 2..start + 2 + len].trim();
        let value = path.split('.').try_fold(vars, |v, key| v.get(key));
        match value {
            Some(Value::String(s)) => out.push_str(s),
            Some(Value::Null) | None => {}
            Some(other) => out.push_str(&other.to_string()),
        }
        rest = &rest[start + 2 + len + 2..];
    }
    out.push_str(rest);
    out
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// One metamorph: the run went on as this Actor's build, with this input.
/// A run as the API and webhooks show it: the record plus where its
/// container server and storages are.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = RunView)]
pub struct RunView<'a> {
    #[serde(flatten)]
    pub run: &'a Run,
    pub container_url: String,
    pub is_container_server_ready: bool,
    pub storage_ids: StorageIds,
}

/// The run's storages by kind, as `{"default": id}`.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageIds {
    pub key_value_stores: StorageIdsOfKind,
    pub datasets: StorageIdsOfKind,
    pub request_queues: StorageIdsOfKind,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct StorageIdsOfKind {
    pub default: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Metamorph {
    #[serde(with = "ts")]
    pub created_at: DateTime<Utc>,
    pub actor_id: String,
    pub build_id: String,
    pub input_key: String,
}

/// The usage kind of compute: GB of memory × hours.
pub const COMPUTE_UNITS: &str = "ACTOR_COMPUTE_UNITS";

impl Run {
    /// When this run times out, if it has a timeout.
    /// A timeout too far away to represent (only stored data from before
    /// options were range-checked can have one) counts as none.
    pub fn timeout_at(&self) -> Option<DateTime<Utc>> {
        if self.options.timeout_secs == NO_TIMEOUT {
            return None;
        }
        let secs = i64::try_from(self.options.timeout_secs).ok()?;
        self.timeout_counts_from.unwrap_or(self.started_at).checked_add_signed(chrono::TimeDelta::try_seconds(secs)?)
    }
}

/// `timeoutSecs` of a run that never times out (a Standby run ends by idling out).
pub const NO_TIMEOUT: u64 = 0;

/// The record key of a run's input in its default key-value store.
pub const INPUT_KEY: &str = "INPUT";

/// The IDs of a run's default storages.
/// What a start runs and for whom (see `Platform::start_target`).
type StartTarget = (std::sync::Arc<super::actors::Actor>, std::sync::Arc<super::actors::Build>, super::users::User);

struct RunStorages {
    kv: String,
    dataset: String,
    queue: String,
}

/// Who may read a run and its storages besides its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum GeneralAccess {
    Restricted,
    AnyoneWithIdCanRead,
    AnyoneWithNameCanRead,
    FollowUserSetting,
}

impl GeneralAccess {
    pub fn parse(s: &str) -> Result<GeneralAccess> {
        serde_json::from_value(Value::String(s.to_owned()))
            .map_err(|_| PlatformError::invalid_kind("invalid-value", format!("Unknown generalAccess \"{s}\"")))
    }
}

/// What a caller asks for when starting a run. `None` means "the Actor's default".
#[derive(Debug, Default, Clone)]
pub struct StartOptions {
    /// The raw input body and its content type.
    pub input: Option<(Vec<u8>, String)>,
    pub build: Option<String>,
    pub timeout_secs: Option<u64>,
    pub memory_mbytes: Option<u32>,
    pub max_items: Option<u64>,
    pub max_total_charge_usd: Option<f64>,
    pub persist_state_interval_millis: Option<u64>,
    pub origin: Option<RunOrigin>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    /// Use these existing storages instead of creating new defaults.
    pub key_value_store_id: Option<String>,
    pub dataset_id: Option<String>,
    /// The run starting this one: the new run's allowance comes out of its own.
    pub parent_run_id: Option<String>,
    /// `forcePermissionLevel`: overrides the Actor's `permissions`.
    pub permission_level: Option<PermissionLevel>,
    /// Ad-hoc webhooks of the run, checked with `check_ad_hoc_webhooks` (the `webhooks` parameter).
    pub webhooks: Vec<super::webhooks::WebhookSpec>,
    /// The task this run is of (set by `start_task`).
    pub actor_task_id: Option<String>,
    /// `restartOnError`: a FAILED run is started again, a bounded number of times.
    pub restart_on_error: Option<bool>,
    /// Who starts the run: it, its storages and its charges are theirs. Unset: the Actor's owner.
    pub user: Option<super::users::User>,
}

/// What a resurrection may change; `None` keeps the run's original value.
#[derive(Debug, Default, Clone)]
pub struct ResurrectOptions {
    pub build: Option<String>,
    pub timeout_secs: Option<u64>,
    pub memory_mbytes: Option<u32>,
    pub max_items: Option<u64>,
    pub max_total_charge_usd: Option<f64>,
}

/// Filters for listing runs.
#[derive(Debug, Default, Clone)]
pub struct RunFilter {
    /// Only this user's runs.
    pub user_id: Option<String>,
    pub act_id: Option<String>,
    pub statuses: Option<Vec<RunStatus>>,
    pub started_after: Option<DateTime<Utc>>,
    pub started_before: Option<DateTime<Utc>>,
    pub origin: Option<RunOrigin>,
    pub actor_task_id: Option<String>,
}

pub use crate::limits::MIN_MEMORY_MBYTES;

fn run_index_key(started_at: &DateTime<Utc>, run_id: &str) -> Vec<u8> {
    let mut k = (started_at.timestamp_millis() as u64).to_be_bytes().to_vec();
    k.extend_from_slice(run_id.as_bytes());
    k
}

/// The largest `maxTotalChargeUsd` a run may have.
pub const MAX_TOTAL_CHARGE_USD: f64 = 1e9;

pub(crate) fn check_max_total_charge(max: f64) -> Result<()> {
    if !max.is_finite() || !(0.0..=MAX_TOTAL_CHARGE_USD).contains(&max) {
        return Err(invalid_value(format!("maxTotalChargeUsd must be a number from 0 to {MAX_TOTAL_CHARGE_USD}, not {max}")));
    }
    Ok(())
}

/// A number out of range, as the API reports it.
pub(crate) fn invalid_value(message: String) -> PlatformError {
    PlatformError::invalid_kind("invalid-value", message)
}

fn missing_storage(kind: &str, reference: &str) -> PlatformError {
    PlatformError::invalid_kind("invalid-parameter", format!("The {kind} \"{reference}\" to run with does not exist"))
}

fn is_json_content_type(ct: &str) -> bool {
    let ct = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    ct == "application/json" || ct.ends_with("+json")
}

impl Platform {
    /// The run as `GET /v2/actor-runs/{id}` shows it: the record and what is
    /// derived from it (also a webhook's `resource`).
    pub fn run_view(&self, r: &Run) -> Value {
        let default = |id: &str| StorageIdsOfKind { default: id.to_owned() };
        serde_json::to_value(RunView {
            run: r,
            container_url: self.container_url(&r.id),
            is_container_server_ready: !r.status.is_terminal() && self.is_container_server_ready(&r.id),
            storage_ids: StorageIds {
                key_value_stores: default(&r.default_key_value_store_id),
                datasets: default(&r.default_dataset_id),
                request_queues: default(&r.default_request_queue_id),
            },
        })
        .unwrap_or(Value::Null)
    }

    /// The run, with what it has been charged so far.
    pub fn get_run(&self, run_id: &str) -> Result<Run> {
        let mut run = self.get_stored_run(run_id)?;
        self.overlay_status(&mut run);
        self.overlay_charges(&mut run)?;
        Ok(run)
    }

    /// A live run's status as its supervisor knows it. RUNNING is kept in
    /// memory only: on disk a started run stays READY until it times out,
    /// is aborted or ends, so starting costs no record write (after a crash
    /// a READY and a RUNNING run resume alike).
    pub(crate) fn overlay_status(&self, run: &mut Run) {
        if run.status == RunStatus::Ready {
            if let Some(live) = self.active.status(&run.id).filter(|s| !s.is_terminal()) {
                run.status = live;
            }
        }
    }

    /// The run's record as stored (its charge fields as of its last write).
    pub(crate) fn get_stored_run(&self, run_id: &str) -> Result<Run> {
        get_json(&self.db.runs, run_id)?.ok_or_else(|| PlatformError::not_found(format!("Actor run was not found: {run_id}")))
    }

    /// Fills a priced run's charge fields from its charges, and adds them to its usage total.
    pub(crate) fn overlay_charges(&self, run: &mut Run) -> Result<()> {
        if run.pricing_info.is_none() {
            return Ok(());
        }
        let totals = self.run_charges(&run.id)?;
        run.usage_total_usd = run.usage_usd.get(COMPUTE_UNITS).copied().unwrap_or(0.0) + totals.own_usd();
        run.total_charge_usd = Some(totals.total_usd());
        run.charged_event_counts = Some(totals.counts);
        Ok(())
    }

    /// Read-modify-write of a run record, atomic against concurrent writers.
    /// The closure sees the record as stored; the run returned is as [`Self::get_run`] shows it.
    pub(crate) fn modify_run(&self, run_id: &str, f: impl FnMut(&mut Run) -> Result<()>) -> Result<Run> {
        let mut run = super::db::modify_json(&self.db.runs, run_id, f)?
            .ok_or_else(|| PlatformError::not_found(format!("Actor run was not found: {run_id}")))?;
        self.overlay_status(&mut run);
        self.overlay_charges(&mut run)?;
        Ok(run)
    }

    /// Runs in start order, filtered.
    pub fn list_runs(&self, filter: &RunFilter) -> Result<Vec<Run>> {
        let mut runs = self.list_stored_runs(filter)?;
        for run in &mut runs {
            if !run.status.is_terminal() {
                self.overlay_charges(run)?;
            }
        }
        Ok(runs)
    }

    fn list_stored_runs(&self, filter: &RunFilter) -> Result<Vec<Run>> {
        let keys: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> = match &filter.act_id {
            Some(act) => Box::new(self.db.actor_run_index.scan_prefix(owned_key(act, &[]))),
            None => Box::new(self.db.run_index.iter()),
        };
        let mut out = Vec::new();
        for entry in keys {
            let (k, _) = entry?;
            let run_id = &k[k.len() - 17..];
            let Some(mut run) = get_json::<Run>(&self.db.runs, run_id)? else { continue };
            self.overlay_status(&mut run);
            if let Some(statuses) = &filter.statuses {
                if !statuses.contains(&run.status) {
                    continue;
                }
            }
            if filter.started_after.is_some_and(|t| run.started_at <= t) || filter.started_before.is_some_and(|t| run.started_at >= t) {
                continue;
            }
            if filter.origin.is_some_and(|o| run.meta.origin != o) {
                continue;
            }
            if filter.user_id.as_ref().is_some_and(|u| *u != run.user_id) {
                continue;
            }
            if filter.actor_task_id.as_ref().is_some_and(|t| run.actor_task_id.as_ref() != Some(t)) {
                continue;
            }
            out.push(run);
        }
        Ok(out)
    }

    /// Validates the input against the build's schema, creates the run and its
    /// storages, stores the input, and hands the run to the supervisor.
    /// Nothing is created when the input is rejected.
    pub fn start_run(&self, actor_ref: &str, mut opts: StartOptions) -> Result<Run> {
        let (actor, build, user) = self.start_target(actor_ref, &mut opts)?;
        let input_len = opts.input.as_ref().map_or(0, |(b, _)| b.len());
        let max_input = self.config.limits.max_input_bytes;
        check_input_size(input_len, max_input)?;
        let input = self.prepare_input(&build, &user.id, opts.input.take())?;
        let now = ids::now();
        let pricing_info = pricing::in_force(&actor.pricing_infos, now).filter(|p| !p.is_free()).cloned();
        let options = self.run_options(&actor, &build, &opts, pricing_info.as_ref())?;
        let call_depth = self.check_run_admission(&user.id, &opts)?;
        // Held until the run's supervisor counts it, so concurrent starts see it meanwhile.
        let _admitted = self.admit_run(&user.id, options.memory_mbytes, opts.origin == Some(RunOrigin::Standby))?;
        let permission_level = match opts.permission_level {
            Some(level) => level,
            None => build.actor_definition.permission_level()?,
        };
        let run_id = ids::new_id();
        let storages = self.run_storages(&user, &actor.id, &run_id, &opts, &build)?;
        if let Some((body, content_type)) = &input {
            let max = max_input.max(self.config.limits.max_record_bytes);
            if let Err(e) = self.kv.set_record_within(&storages.kv, INPUT_KEY, body, content_type, max) {
                // Refused here (the storage quota, say), the start leaves no storage behind.
                self.drop_new_storages(&run_id, &storages);
                return Err(e);
            }
        }
        let run = Run {
            id: run_id,
            act_id: actor.id.clone(),
            user_id: user.id.clone(),
            actor_task_id: opts.actor_task_id.clone(),
            started_at: now,
            finished_at: None,
            status: RunStatus::Ready,
            status_message: None,
            is_status_message_terminal: None,
            meta: RunMeta {
                origin: opts.origin.unwrap_or(RunOrigin::Api),
                client_ip: opts.client_ip.take(),
                user_agent: opts.user_agent.take(),
            },
            stats: RunStats { input_body_len: input_len as u64, ..Default::default() },
            options,
            build_id: build.id.clone(),
            build_number: build.build_number.clone(),
            exit_code: None,
            default_key_value_store_id: storages.kv,
            default_dataset_id: storages.dataset,
            default_request_queue_id: storages.queue,
            general_access: GeneralAccess::Restricted,
            usage_total_usd: 0.0,
            input_key: INPUT_KEY.to_owned(),
            timeout_counts_from: None,
            pricing_info: pricing_info.as_ref().map(FrozenPricing::new),
            charged_event_counts: None,
            total_charge_usd: None,
            parent_run_id: opts.parent_run_id.clone(),
            metamorphs: Vec::new(),
            call_depth,
            permission_level,
            usage: BTreeMap::new(),
            usage_usd: BTreeMap::new(),
            output: None,
        };
        let mut run = run;
        run.output = self.render_output(&build.actor_definition, &run);
        self.record_new_run(&actor, &run, std::mem::take(&mut opts.webhooks), now)?;
        self.supervise(run.clone(), build);
        Ok(run)
    }

    /// Stores a new run with its ad-hoc webhooks, its creation event, its
    /// start charge and its places in the run indexes.
    fn record_new_run(&self, actor: &super::actors::Actor, run: &Run, webhooks: Vec<super::webhooks::WebhookSpec>, now: DateTime<Utc>) -> Result<()> {
        put_json(&self.db.runs, &run.id, run)?;
        // Before the run can end: its own webhooks must see every event.
        self.add_ad_hoc_webhooks(&run.id, &run.user_id, webhooks)?;
        self.fire_run_event("ACTOR.RUN.CREATED", run);
        self.charge_run_start(run)?;
        self.db.run_index.insert(run_index_key(&run.started_at, &run.id), &[])?;
        self.db.actor_run_index.insert(owned_key(&actor.id, &run_index_key(&run.started_at, &run.id)), &[])?;
        self.note_actor_run(actor, now)
    }

    /// What a start runs, and for whom: the Actor and build it names (as the
    /// caller's namespace resolves them), the user the run belongs to (the
    /// caller's, else the Actor owner's), if it may start at all.
    fn start_target(&self, actor_ref: &str, opts: &mut StartOptions) -> Result<StartTarget> {
        if self.is_shutting_down() {
            return Err(PlatformError::Unavailable("The server is shutting down; start the run again in a moment".into()));
        }
        let namespace = opts.user.as_ref().map(|u| u.id.clone());
        let (actor, build) = self.run_target(namespace.as_deref(), actor_ref, opts.build.as_deref())?;
        let user = match opts.user.take() {
            Some(u) => u,
            None => self.get_user(&actor.user_id)?,
        };
        // Another user's Actor runs only when it is public; otherwise it is not there for them.
        if user.id != actor.user_id && !actor.is_public {
            return Err(PlatformError::not_found(format!("Actor was not found: {actor_ref}")));
        }
        self.check_startable(&actor, &build, opts.origin)?;
        Ok((actor, build, user))
    }

    /// Deletes the default storages made for a run that then did not start
    /// (those given by the caller stay).
    fn drop_new_storages(&self, run_id: &str, storages: &RunStorages) {
        let made_for = |act_run_id: &Option<String>| act_run_id.as_deref() == Some(run_id);
        if self.kv.get(&storages.kv).is_ok_and(|m| made_for(&m.info.act_run_id)) {
            let _ = self.kv.delete(&storages.kv);
        }
        if self.datasets.get(&storages.dataset).is_ok_and(|m| made_for(&m.info.act_run_id)) {
            let _ = self.datasets.delete(&storages.dataset);
        }
        if self.queues.get(&storages.queue).is_ok_and(|m| made_for(&m.info.act_run_id)) {
            let _ = self.queues.delete(&storages.queue);
        }
    }

    /// The output schema's templates for this run: `{{links.apiDefaultDatasetUrl}}`
    /// and the other links, and `{{run.<field>}}`. Every link is known at
    /// the start, so the output is rendered once, then stored with the run.
    pub(crate) fn render_output(&self, def: &crate::definition::ActorDefinition, run: &Run) -> Option<serde_json::Map<String, Value>> {
        let props = def.output.as_ref()?.get("properties")?.as_object()?;
        let api = &self.config.public_url;
        let links = serde_json::json!({
            "publicRunUrl": format!("{api}/view/runs/{}", run.id),
            "consoleRunUrl": format!("{api}/actors/runs/{}", run.id),
            "apiRunUrl": format!("{api}/v2/actor-runs/{}", run.id),
            "apiDefaultDatasetUrl": format!("{api}/v2/datasets/{}", run.default_dataset_id),
            "apiDefaultKeyValueStoreUrl": format!("{api}/v2/key-value-stores/{}", run.default_key_value_store_id),
            "containerRunUrl": self.container_url(&run.id),
        });
        // The run's own fields only when a template names one (serialising the run is most of the cost).
        let templates = || props.values().filter_map(|p| p.get("template").and_then(Value::as_str));
        let run_fields = match templates().any(|t| t.contains("run.")) {
            true => serde_json::to_value(run).unwrap_or(Value::Null),
            false => Value::Null,
        };
        let vars = serde_json::json!({"links": links, "run": run_fields});
        let mut out = serde_json::Map::new();
        for (name, prop) in props {
            let Some(template) = prop.get("template").and_then(Value::as_str) else { continue };
            out.insert(name.clone(), Value::String(fill_template(template, &vars)));
        }
        Some(out)
    }

    /// Sets who besides its owner may read the run (`generalAccess`, parsed by [`GeneralAccess::parse`]).
    pub fn set_general_access(&self, run_id: &str, access: GeneralAccess) -> Result<Run> {
        self.modify_run(run_id, |r| {
            r.general_access = access;
            Ok(())
        })
    }

    /// Whether one more run may start: the user's unfinished runs and, for
    /// a run started by a run, the chain's depth stay within their limits.
    /// The new run's depth.
    fn check_run_admission(&self, user_id: &str, opts: &StartOptions) -> Result<u32> {
        let limits = &self.config.limits;
        // A Standby run serves requests already admitted; the limit stops new work.
        if opts.origin != Some(RunOrigin::Standby) {
            self.check_usage_limit(user_id)?;
        }
        let active = self.active.loads.of(user_id).runs;
        if active >= limits.max_active_runs_per_user {
            return Err(PlatformError::limit(
                "concurrent-runs-limit-exceeded",
                format!(
                    "You have {active} unfinished runs, the most allowed at once ({}); wait for some to finish",
                    limits.max_active_runs_per_user
                ),
            ));
        }
        let Some(parent) = &opts.parent_run_id else { return Ok(0) };
        let depth = self.get_stored_run(parent)?.call_depth + 1;
        if depth > limits.max_call_depth {
            return Err(PlatformError::limit(
                "run-depth-limit-exceeded",
                format!("Actors may start Actors at most {} deep; run {parent} is already that deep", limits.max_call_depth),
            ));
        }
        Ok(depth)
    }

    /// A build that only serves HTTP starts only as a Standby run.
    fn check_startable(&self, actor: &super::actors::Actor, build: &super::actors::Build, origin: Option<RunOrigin>) -> Result<()> {
        if build.exports.run || origin == Some(RunOrigin::Standby) {
            return Ok(());
        }
        Err(PlatformError::invalid_kind(
            "actor-standby-only",
            format!(
                "Actor {} only serves HTTP: it runs in Standby mode, started on demand by requests to {}",
                actor.full_name(),
                self.standby_url(&actor.username, &actor.name)
            ),
        ))
    }

    /// The run's options: the caller's, over the Actor's defaults, over its
    /// build's actor.json, over the server's; each range-checked.
    fn run_options(
        &self,
        actor: &super::actors::Actor,
        build: &super::actors::Build,
        opts: &StartOptions,
        pricing: Option<&PricingInfo>,
    ) -> Result<RunOptions> {
        let limits = &self.config.limits;
        let (own, built) = (&actor.default_run_options, &build.actor_definition.default_run_options);
        let memory_mbytes = opts.memory_mbytes.or(own.memory_mbytes).or(built.memory_mbytes).unwrap_or(limits.default_memory_mbytes);
        limits.check_memory_mbytes("memory", memory_mbytes as u64).map_err(invalid_value)?;
        let timeout_secs = opts.timeout_secs.or(own.timeout_secs).or(built.timeout_secs).unwrap_or(limits.default_timeout_secs);
        limits.check_timeout_secs("timeout", timeout_secs).map_err(invalid_value)?;
        if let Some(millis) = opts.persist_state_interval_millis {
            limits.check_persist_state_interval("persistStateIntervalMillis", millis).map_err(invalid_value)?;
        }
        let asked = opts.max_total_charge_usd.or(own.max_total_charge_usd).or(built.max_total_charge_usd);
        let max_total_charge_usd = self.max_total_charge(asked, opts, pricing)?;
        Ok(RunOptions {
            build: opts.build.clone().or(own.build.clone()).unwrap_or_else(|| super::actors::LATEST_TAG.to_owned()),
            timeout_secs,
            memory_mbytes,
            disk_mbytes: memory_mbytes.saturating_mul(2),
            max_items: opts.max_items.or(own.max_items).or(built.max_items),
            max_total_charge_usd,
            persist_state_interval_millis: opts.persist_state_interval_millis,
            restart_on_error: opts.restart_on_error.or(own.restart_on_error).unwrap_or(false),
        })
    }

    /// A run's charge cap: what was asked for (checked), within the
    /// allowance of the run starting it; a pay-per-event run that asks for
    /// none may charge nothing, as a user who allowed nothing expects.
    fn max_total_charge(&self, asked: Option<f64>, opts: &StartOptions, pricing: Option<&PricingInfo>) -> Result<Option<f64>> {
        if let Some(max) = asked {
            check_max_total_charge(max)?;
        }
        let capped = match &opts.parent_run_id {
            Some(parent) => self.child_allowance(parent, asked)?,
            None => asked,
        };
        let per_event = pricing.is_some_and(|p| matches!(p.model, PricingModel::PayPerEvent { .. }));
        Ok(if per_event { Some(capped.unwrap_or(0.0)) } else { capped })
    }

    /// The run's default storages: those the caller names (which must
    /// exist; checked before anything is created), else new ones.
    fn run_storages(
        &self,
        user: &super::users::User,
        actor_id: &str,
        run_id: &str,
        opts: &StartOptions,
        build: &super::actors::Build,
    ) -> Result<RunStorages> {
        // Only the user's own storages: another's are not there for them.
        let named_kv = opts
            .key_value_store_id
            .as_deref()
            .map(|r| {
                self.kv
                    .resolve(Some(&user.id), r)
                    .ok()
                    .filter(|m| m.info.user_id == user.id)
                    .ok_or_else(|| missing_storage("key-value store", r))
            })
            .transpose()?;
        let named_dataset = opts
            .dataset_id
            .as_deref()
            .map(|r| {
                self.datasets
                    .resolve(Some(&user.id), r)
                    .ok()
                    .filter(|m| m.info.user_id == user.id)
                    .ok_or_else(|| missing_storage("dataset", r))
            })
            .transpose()?;
        // New default storages carry the build's schemas (checked when it was built).
        let kv = match named_kv {
            Some(kv) => kv,
            None => {
                let schema = build.actor_definition.key_value_store_schema();
                self.kv.create_with(user, Some(actor_id), Some(run_id), |m| m.schema = schema.cloned())?
            }
        };
        let dataset = match named_dataset {
            Some(d) => d,
            None => self.datasets.create_with_schema(user, Some(actor_id), Some(run_id), build.actor_definition.dataset_schema())?,
        };
        let queue = self.queues.create(user, Some(actor_id), Some(run_id))?;
        Ok(RunStorages { kv: kv.info.id, dataset: dataset.info.id, queue: queue.info.id })
    }

    /// Checks an input as a run of `build` for the user `owner` would, without starting anything.
    pub fn check_input(&self, build: &super::actors::Build, owner: &str, input: Option<(Vec<u8>, String)>) -> Result<()> {
        self.prepare_input(build, owner, input).map(|_| ())
    }

    /// Applies the input schema (defaults, validation) and decides what is
    /// stored as INPUT: secret fields sealed for `owner`, the run's user.
    pub(crate) fn prepare_input(
        &self,
        build: &super::actors::Build,
        owner: &str,
        input: Option<(Vec<u8>, String)>,
    ) -> Result<Option<(Vec<u8>, String)>> {
        let input = input.filter(|(body, _)| !body.iter().all(u8::is_ascii_whitespace));
        let schema = self.input_schema(build)?;
        let Some(schema) = schema else {
            // No schema: stored verbatim, except that JSON must at least parse and `null` means none.
            return match input {
                Some((body, ct)) if is_json_content_type(&ct) => {
                    let v: Value = serde_json::from_slice(&body).map_err(|e| {
                        PlatformError::invalid_kind("run-input-body-not-valid-json", format!("The input is not valid JSON: {e}"))
                    })?;
                    Ok((!v.is_null()).then_some((body, ct)))
                }
                other => Ok(other),
            };
        };
        let mut parsed =
            match input {
                None => None,
                Some((body, _ct)) => Some(serde_json::from_slice::<Value>(&body).map_err(|e| {
                    PlatformError::invalid_kind("run-input-body-not-valid-json", format!("The input is not valid JSON: {e}"))
                })?),
            };
        // A task's saved secrets come sealed: checked in clear, stored sealed again.
        if let Some(v) = &mut parsed {
            self.open_secrets(owner, v)?;
        }
        let mut prepared = schema.prepare(parsed).map_err(|m| PlatformError::invalid_kind("invalid-input", m))?;
        self.seal_input_secrets(build, owner, &mut prepared)?;
        Ok(Some((serde_json::to_vec(&prepared)?, JSON_CONTENT_TYPE.to_owned())))
    }

    pub(crate) fn input_schema(&self, build: &super::actors::Build) -> Result<Option<std::sync::Arc<crate::definition::InputSchema>>> {
        let Some(schema) = &build.actor_definition.input else { return Ok(None) };
        let mut cache = self.input_schemas.lock();
        if let Some(s) = cache.get(&build.id) {
            return Ok(Some(s.clone()));
        }
        let compiled = std::sync::Arc::new(
            crate::definition::InputSchema::compile(schema).map_err(|e| PlatformError::internal(format!("input schema: {e}")))?,
        );
        cache.insert(build.id.clone(), compiled.clone());
        Ok(Some(compiled))
    }

    /// Counts a run of the Actor in its run stats (see [`Db::actor_run_stats`](super::db::Db)).
    fn note_actor_run(&self, actor: &super::actors::Actor, at: DateTime<Utc>) -> Result<()> {
        self.actor_stats.run_started(&actor.id, at, &actor.stats)
    }

    /// Adds what a run's end booked (compute and charges) to its Actor's usage.
    pub(crate) fn note_actor_usage(&self, actor_id: &str, usd: f64) -> Result<()> {
        if usd <= 0.0 {
            return Ok(());
        }
        self.actor_stats.usage(actor_id, usd)
    }

    /// Sets the status message (from the Actor or an API client).
    pub fn set_status_message(&self, run_id: &str, message: &str, is_terminal: bool) -> Result<Run> {
        if message.len() > 1024 * 8 {
            return Err(PlatformError::too_large("invalid-value", "The status message is over 8 KB"));
        }
        self.modify_run(run_id, |run| {
            if run.status.is_terminal() && run.is_status_message_terminal == Some(true) {
                return Err(PlatformError::invalid_kind("invalid-value", "The run has finished and its status message is final"));
            }
            run.status_message = Some(message.to_owned());
            run.is_status_message_terminal = Some(is_terminal);
            Ok(())
        })
    }

    /// Deletes a finished run and its log (its storages stay, as on Apify).
    pub fn delete_run(&self, run_id: &str) -> Result<()> {
        let run = self.get_run(run_id)?;
        if !run.status.is_terminal() {
            return Err(PlatformError::Conflict("The run has not finished yet; abort it first".to_owned()));
        }
        self.db.runs.remove(run_id)?;
        self.db.run_index.remove(run_index_key(&run.started_at, &run.id))?;
        self.db.actor_run_index.remove(owned_key(&run.act_id, &run_index_key(&run.started_at, &run.id)))?;
        self.logs.remove(run_id);
        self.forget_charges(run_id)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::RunStatus::{self, *};

    #[test]
    fn terminal_statuses_only_move_by_resurrection() {
        for s in [Succeeded, Failed, TimedOut, Aborted] {
            assert!(s.is_terminal());
            for n in [Running, Succeeded, Failed, TimingOut, TimedOut, Aborting, Aborted] {
                assert!(!s.can_become(n), "{s:?} -> {n:?}");
            }
            assert!(s.can_become(Ready));
        }
    }

    #[test]
    fn statuses_serialise_as_apify_does() {
        assert_eq!(serde_json::to_string(&TimingOut).unwrap(), "\"TIMING-OUT\"");
        assert_eq!(super::RunStatus::parse("TIMED-OUT"), Some(TimedOut));
    }

    const ALL: [RunStatus; 8] = [Ready, Running, Succeeded, Failed, TimingOut, TimedOut, Aborting, Aborted];

    /// Every move the state machine allows, and nothing else.
    #[test]
    fn the_status_machine_allows_exactly_the_documented_moves() {
        let allowed = [
            (Ready, &[Running, Aborting, Aborted, Failed][..]),
            (Running, &[Succeeded, Failed, TimingOut, TimedOut, Aborting, Aborted]),
            (TimingOut, &[TimedOut, Failed, Aborted]),
            (Aborting, &[Aborted, Failed]),
            (Succeeded, &[Ready]),
            (Failed, &[Ready]),
            (TimedOut, &[Ready]),
            (Aborted, &[Ready]),
        ];
        for (from, to) in allowed {
            for next in ALL {
                assert_eq!(from.can_become(next), to.contains(&next), "{from:?} -> {next:?}");
            }
        }
    }

    #[test]
    fn terminal_statuses_are_the_four_ends_and_round_trip_their_names() {
        for s in ALL {
            assert_eq!(s.is_terminal(), matches!(s, Succeeded | Failed | TimedOut | Aborted), "{s:?}");
            assert_eq!(RunStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(RunStatus::parse("DONE"), None);
    }

    #[test]
    fn output_templates_fill_links_and_run_fields() {
        let vars = serde_json::json!({"links": {"apiDefaultDatasetUrl": "http://h/v2/datasets/D"}, "run": {"id": "R", "stats": {"n": 3}}});
        assert_eq!(super::fill_template("{{links.apiDefaultDatasetUrl}}/items?view=a", &vars), "http://h/v2/datasets/D/items?view=a");
        assert_eq!(super::fill_template("run {{ run.id }} n={{run.stats.n}} x={{nope.x}} {{open", &vars), "run R n=3 x= {{open");
    }

    #[test]
    fn general_access_and_origin_parse_apify_names_only() {
        assert_eq!(super::GeneralAccess::parse("ANYONE_WITH_ID_CAN_READ").unwrap(), super::GeneralAccess::AnyoneWithIdCanRead);
        assert!(matches!(
            super::GeneralAccess::parse("PUBLIC"),
            Err(crate::platform::error::PlatformError::Invalid { kind: "invalid-value", .. })
        ));
        assert_eq!(super::RunOrigin::parse("STANDBY"), Some(super::RunOrigin::Standby));
        assert_eq!(super::RunOrigin::parse("standby"), None);
    }
}

/// A run's input is refused whole when it is over the limit, before it is parsed.
fn check_input_size(len: usize, max: usize) -> Result<()> {
    if len > max {
        return Err(PlatformError::too_large("input-too-large", format!("The input is {len} bytes, over the limit of {max} bytes")));
    }
    Ok(())
}
