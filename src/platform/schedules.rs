//! Schedules: cron expressions (with optional seconds and `@daily`-style
//! nicknames, parsed by `croner`) in an IANA time zone, each firing a list
//! of actions that run an Actor or a task.
//!
//! The timer is durable and fires each due time once:
//! - a firing is claimed by one compare-and-swap of the schedule's record,
//!   which moves `nextRunAt` to the first tick after *now* and records the
//!   firing as pending; it is committed before any action starts. Ticks
//!   missed while the server was down are one firing, not one per tick.
//! - each action that starts writes a log entry naming the firing; the
//!   pending mark is cleared when all are done. A server that dies in the
//!   middle finishes the firing at its next start, skipping the actions
//!   whose entries exist. (An action whose run started but whose entry was
//!   not yet written when the server died is started again: the window is
//!   one sled insert wide.)

use std::str::FromStr;
use std::sync::{Arc, Weak};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::db::{get_json, owned_key, put_json, remove_owned};
use super::error::{PlatformError, Result};
use super::runs::{RunOrigin, StartOptions};
use super::tasks::TaskOptions;
use super::Platform;
use crate::ids::{self, ts};

/// Log entries kept per schedule (the oldest go first).
const MAX_LOG_ENTRIES: usize = 1000;
/// Actions per schedule, at most.
const MAX_ACTIONS: usize = 20;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}

/// What a firing does.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ScheduleAction {
    #[serde(rename_all = "camelCase")]
    RunActor {
        #[serde(default)]
        id: String,
        actor_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        run_input: Option<RunInput>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        run_options: Option<TaskOptions>,
    },
    #[serde(rename_all = "camelCase")]
    RunActorTask {
        #[serde(default)]
        id: String,
        actor_task_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        input: Option<Value>,
    },
}

impl ScheduleAction {
    fn id(&self) -> &str {
        match self {
            ScheduleAction::RunActor { id, .. } | ScheduleAction::RunActorTask { id, .. } => id,
        }
    }

    fn id_mut(&mut self) -> &mut String {
        match self {
            ScheduleAction::RunActor { id, .. } | ScheduleAction::RunActorTask { id, .. } => id,
        }
    }
}

/// A claimed firing not yet finished.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Firing {
    #[serde(with = "ts")]
    pub due_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Schedule {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub cron_expression: String,
    pub timezone: String,
    pub is_enabled: bool,
    pub is_exclusive: bool,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub notifications: Option<Value>,
    #[serde(with = "ts")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "ts")]
    pub modified_at: DateTime<Utc>,
    #[serde(default, with = "ts::option")]
    pub next_run_at: Option<DateTime<Utc>>,
    #[serde(default, with = "ts::option")]
    pub last_run_at: Option<DateTime<Utc>>,
    pub actions: Vec<ScheduleAction>,
    /// wactor: the firing claimed and not yet finished (see the module's doc).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
    pub pending_firing: Option<Firing>,
    /// wactor: the run each action started last (for `isExclusive`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    #[schema(ignore)]
    pub last_runs: std::collections::BTreeMap<String, String>,
}

/// A create or update body; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SchedulePatch {
    pub name: Option<String>,
    pub cron_expression: Option<String>,
    pub timezone: Option<String>,
    pub is_enabled: Option<bool>,
    pub is_exclusive: Option<bool>,
    pub description: Option<String>,
    pub title: Option<String>,
    pub notifications: Option<Value>,
    pub actions: Option<Vec<ScheduleAction>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    pub message: String,
    pub level: String,
    #[serde(with = "ts")]
    pub created_at: DateTime<Utc>,
    /// wactor: the firing and action this entry is about, and the run it started.
    #[serde(default, with = "ts::option", skip_serializing_if = "Option::is_none")]
    pub due_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

fn invalid(message: String) -> PlatformError {
    PlatformError::invalid_kind("invalid-schedule", message)
}

/// A parsed cron expression: five fields, six with seconds first, or a nickname.
fn parse_cron(expr: &str) -> Result<croner::Cron> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Optional)
        .build()
        .parse(expr)
        .map_err(|e| invalid(format!("cronExpression \"{expr}\" is not a valid cron expression: {e}")))
}

fn parse_timezone(tz: &str) -> Result<chrono_tz::Tz> {
    chrono_tz::Tz::from_str(tz)
        .map_err(|_| invalid(format!("timezone \"{tz}\" is not a time zone of the IANA database (e.g. Europe/Prague)")))
}

/// The first tick of `expr` in `tz` strictly after `after`.
pub fn next_tick(expr: &str, tz: &str, after: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
    let cron = parse_cron(expr)?;
    let tz = parse_timezone(tz)?;
    Ok(cron.find_next_occurrence(&after.with_timezone(&tz), false).ok().map(|t| t.with_timezone(&Utc)))
}

impl Schedule {
    fn check(&self) -> Result<()> {
        crate::definition::validate_actor_name(&self.name).map_err(|m| invalid(m.replace("Actor", "schedule")))?;
        parse_cron(&self.cron_expression)?;
        parse_timezone(&self.timezone)?;
        if self.actions.len() > MAX_ACTIONS {
            return Err(invalid(format!("A schedule has at most {MAX_ACTIONS} actions")));
        }
        Ok(())
    }

    /// `nextRunAt` as of `now`: the next tick while enabled, none otherwise.
    fn plan_next(&mut self, now: DateTime<Utc>) -> Result<()> {
        self.next_run_at = match self.is_enabled {
            true => next_tick(&self.cron_expression, &self.timezone, now)?,
            false => None,
        };
        Ok(())
    }
}

/// The schedules' timer, woken whenever one changes.
#[derive(Default)]
pub struct ScheduleTimer {
    wake: Arc<tokio::sync::Notify>,
}

fn log_key(schedule_id: &str, at: DateTime<Utc>, seq: u64) -> Vec<u8> {
    let mut rest = (at.timestamp_millis() as u64).to_be_bytes().to_vec();
    rest.extend_from_slice(&seq.to_be_bytes());
    owned_key(schedule_id, &rest)
}

impl Platform {
    /// A schedule by ID or `username~name` (the API has made its bare names IDs, see `api::names`).
    pub fn get_schedule(&self, reference: &str) -> Result<Schedule> {
        self.get_schedule_in(None, reference)
    }

    /// [`Self::get_schedule`], where a bare name is one of the user `namespace`'s schedules.
    pub fn get_schedule_in(&self, namespace: Option<&str>, reference: &str) -> Result<Schedule> {
        if let Some(s) = get_json::<Schedule>(&self.db.schedules, reference)? {
            return Ok(s);
        }
        let owner = match reference.split_once(['~', '/']) {
            Some((user, name)) => self.get_user(user).ok().map(|u| (u.id, name)),
            None => namespace.map(|ns| (ns.to_owned(), reference)),
        };
        let found =
            owner.and_then(|(user_id, name)| self.list_schedules().ok()?.into_iter().find(|s| s.user_id == user_id && s.name == name));
        found.ok_or_else(|| PlatformError::not_found(format!("Schedule was not found: {reference}")))
    }

    pub fn list_schedules(&self) -> Result<Vec<Schedule>> {
        let mut out = Vec::new();
        for item in self.db.schedules.iter() {
            out.push(serde_json::from_slice::<Schedule>(&item?.1)?);
        }
        out.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Every action must name an Actor (the owner's, or a public one) or a
    /// task of the owner's that exists.
    fn check_actions(&self, owner_id: &str, actions: &mut [ScheduleAction]) -> Result<()> {
        use super::access::{Resource, Use};
        for action in actions.iter_mut() {
            match action {
                ScheduleAction::RunActor { actor_id, run_input, .. } => {
                    self.check_visible(Some(owner_id), None, Resource::Actor(actor_id), Use::Run)?;
                    *actor_id = self.get_actor_in(Some(owner_id), actor_id)?.id;
                    if let Some(RunInput { body: Some(body), content_type }) = run_input {
                        let json = content_type.as_deref().is_none_or(|ct| ct.contains("json"));
                        if json && serde_json::from_str::<Value>(body).is_err() {
                            return Err(invalid("runInput.body is not valid JSON".into()));
                        }
                    }
                }
                ScheduleAction::RunActorTask { actor_task_id, input, .. } => {
                    self.check_visible(Some(owner_id), None, Resource::Task(actor_task_id), Use::Run)?;
                    *actor_task_id = self.get_task_in(Some(owner_id), actor_task_id)?.id;
                    if input.as_ref().is_some_and(|i| !i.is_object() && !i.is_null()) {
                        return Err(invalid("A task action's input must be a JSON object".into()));
                    }
                }
            }
            if action.id().is_empty() {
                *action.id_mut() = ids::new_id();
            }
        }
        Ok(())
    }

    pub fn create_schedule(&self, owner: &super::users::User, patch: SchedulePatch) -> Result<Schedule> {
        let now = ids::now();
        let mut schedule = Schedule {
            id: ids::new_id(),
            user_id: owner.id.clone(),
            name: patch.name.unwrap_or_else(|| format!("schedule-{}", ids::new_id().to_ascii_lowercase())),
            cron_expression: patch.cron_expression.ok_or_else(|| invalid("The schedule needs a \"cronExpression\"".into()))?,
            timezone: patch.timezone.unwrap_or_else(|| "UTC".into()),
            is_enabled: patch.is_enabled.unwrap_or(false),
            is_exclusive: patch.is_exclusive.unwrap_or(false),
            description: patch.description,
            title: patch.title,
            notifications: patch.notifications,
            created_at: now,
            modified_at: now,
            next_run_at: None,
            last_run_at: None,
            actions: patch.actions.unwrap_or_default(),
            pending_firing: None,
            last_runs: Default::default(),
        };
        schedule.check()?;
        self.check_actions(&owner.id, &mut schedule.actions)?;
        if self.list_schedules()?.iter().any(|s| s.user_id == owner.id && s.name == schedule.name) {
            return Err(PlatformError::Conflict(format!("A schedule named \"{}\" already exists", schedule.name)));
        }
        schedule.plan_next(now)?;
        put_json(&self.db.schedules, &schedule.id, &schedule)?;
        self.schedules.wake.notify_one();
        Ok(schedule)
    }

    pub fn update_schedule(&self, reference: &str, patch: SchedulePatch) -> Result<Schedule> {
        let current = self.get_schedule(reference)?;
        let id = current.id.clone();
        if let Some(name) = &patch.name {
            if self.list_schedules()?.iter().any(|s| s.user_id == current.user_id && &s.name == name && s.id != id) {
                return Err(PlatformError::Conflict(format!("A schedule named \"{name}\" already exists")));
            }
        }
        let mut actions = patch.actions.clone();
        if let Some(a) = &mut actions {
            self.check_actions(&current.user_id, a)?;
        }
        let updated = self.modify_schedule(&id, |s| {
            let timing_changed = patch.cron_expression.is_some() || patch.timezone.is_some() || patch.is_enabled.is_some();
            if let Some(v) = &patch.name {
                s.name = v.clone();
            }
            if let Some(v) = &patch.cron_expression {
                s.cron_expression = v.clone();
            }
            if let Some(v) = &patch.timezone {
                s.timezone = v.clone();
            }
            if let Some(v) = patch.is_enabled {
                s.is_enabled = v;
            }
            if let Some(v) = patch.is_exclusive {
                s.is_exclusive = v;
            }
            if patch.description.is_some() {
                s.description = patch.description.clone();
            }
            if patch.title.is_some() {
                s.title = patch.title.clone();
            }
            if patch.notifications.is_some() {
                s.notifications = patch.notifications.clone();
            }
            if let Some(a) = &actions {
                s.actions = a.clone();
            }
            s.check()?;
            let now = ids::now();
            s.modified_at = now;
            if timing_changed {
                s.plan_next(now)?;
            }
            Ok(())
        })?;
        self.schedules.wake.notify_one();
        Ok(updated)
    }

    pub fn delete_schedule(&self, reference: &str) -> Result<()> {
        let s = self.get_schedule(reference)?;
        self.db.schedules.remove(s.id.as_str())?;
        remove_owned(&self.db.schedule_log, &s.id)?;
        self.schedules.wake.notify_one();
        Ok(())
    }

    /// The schedule's log, oldest first.
    pub fn schedule_log(&self, reference: &str) -> Result<Vec<LogEntry>> {
        let s = self.get_schedule(reference)?;
        let mut out = Vec::new();
        for entry in self.db.schedule_log.scan_prefix(owned_key(&s.id, &[])) {
            out.push(serde_json::from_slice(&entry?.1)?);
        }
        Ok(out)
    }

    /// Changes a stored schedule by compare-and-swap: concurrent changes
    /// (an update and a firing, two firings) are applied one after the other.
    fn modify_schedule(&self, id: &str, mut change: impl FnMut(&mut Schedule) -> Result<()>) -> Result<Schedule> {
        loop {
            let old = self.db.schedules.get(id)?.ok_or_else(|| PlatformError::not_found(format!("Schedule was not found: {id}")))?;
            let mut s: Schedule = serde_json::from_slice(&old)?;
            change(&mut s)?;
            if self.db.schedules.compare_and_swap(id, Some(old), Some(serde_json::to_vec(&s)?))?.is_ok() {
                return Ok(s);
            }
        }
    }

    fn log_schedule(&self, id: &str, level: &str, message: String, firing: Option<(&Firing, &str, Option<&str>)>) -> Result<()> {
        let now = ids::now();
        let entry = LogEntry {
            message,
            level: level.into(),
            created_at: now,
            due_at: firing.map(|f| f.0.due_at),
            action_id: firing.map(|f| f.1.to_owned()),
            run_id: firing.and_then(|f| f.2.map(str::to_owned)),
        };
        let seq = self.db.inner.generate_id()?;
        put_json(&self.db.schedule_log, log_key(id, now, seq), &entry)?;
        // Bounded: the oldest entries go.
        let prefix = owned_key(id, &[]);
        let count = self.db.schedule_log.scan_prefix(&prefix).keys().count();
        for key in self.db.schedule_log.scan_prefix(&prefix).keys().take(count.saturating_sub(MAX_LOG_ENTRIES)) {
            self.db.schedule_log.remove(key?)?;
        }
        Ok(())
    }

    /// Whether an action of `firing` already has its entry (it ran, or was skipped).
    fn action_done(&self, id: &str, firing: &Firing, action_id: &str) -> Result<bool> {
        for entry in self.db.schedule_log.scan_prefix(owned_key(id, &[])).rev() {
            let e: LogEntry = serde_json::from_slice(&entry?.1)?;
            if e.due_at == Some(firing.due_at) && e.action_id.as_deref() == Some(action_id) {
                return Ok(true);
            }
            if e.created_at < firing.due_at {
                break;
            }
        }
        Ok(false)
    }

    /// Claims the firing of a due schedule: moves `nextRunAt` past now and
    /// marks the firing pending, in one swap. `None` when it is not due (any more).
    fn claim_firing(&self, id: &str, now: DateTime<Utc>) -> Result<Option<Schedule>> {
        let mut claimed = false;
        let s = self.modify_schedule(id, |s| {
            claimed = false;
            let due = match s.next_run_at {
                Some(due) if s.is_enabled && due <= now && s.pending_firing.is_none() => due,
                _ => return Ok(()),
            };
            s.pending_firing = Some(Firing { due_at: due });
            s.last_run_at = Some(now);
            s.next_run_at = next_tick(&s.cron_expression, &s.timezone, now)?;
            claimed = true;
            Ok(())
        })?;
        Ok(claimed.then_some(s))
    }

    /// Runs the actions of the schedule's pending firing that have not run, then clears it.
    async fn finish_firing(&self, mut s: Schedule) -> Result<()> {
        let Some(firing) = s.pending_firing.clone() else { return Ok(()) };
        // The claim is on disk before anything starts: a crash now finishes this firing, never repeats it.
        self.commit().await;
        for action in s.actions.clone() {
            let action_id = action.id().to_owned();
            if self.action_done(&s.id, &firing, &action_id)? {
                continue;
            }
            if s.is_exclusive {
                if let Some(prev) = s.last_runs.get(&action_id) {
                    if self.get_run(prev).is_ok_and(|r| !r.status.is_terminal()) {
                        let msg =
                            format!("Skipped action {action_id}: its previous run {prev} is still running (the schedule is exclusive)");
                        self.log_schedule(&s.id, "WARNING", msg, Some((&firing, &action_id, None)))?;
                        continue;
                    }
                }
            }
            match self.start_scheduled(&s.user_id, &action) {
                Ok(run_id) => {
                    let what = match &action {
                        ScheduleAction::RunActor { actor_id, .. } => format!("Actor {actor_id}"),
                        ScheduleAction::RunActorTask { actor_task_id, .. } => format!("task {actor_task_id}"),
                    };
                    self.log_schedule(
                        &s.id,
                        "INFO",
                        format!("Started run {run_id} of {what}"),
                        Some((&firing, &action_id, Some(&run_id))),
                    )?;
                    s.last_runs.insert(action_id, run_id);
                }
                Err(e) => {
                    let msg = format!("Action {action_id} could not start: {e}");
                    tracing::warn!(schedule = %s.id, "{msg}");
                    self.log_schedule(&s.id, "ERROR", msg, Some((&firing, &action_id, None)))?;
                }
            }
        }
        let last_runs = s.last_runs.clone();
        self.modify_schedule(&s.id, |stored| {
            if stored.pending_firing.as_ref() == Some(&firing) {
                stored.pending_firing = None;
            }
            stored.last_runs.extend(last_runs.clone());
            Ok(())
        })?;
        self.commit().await;
        Ok(())
    }

    /// Starts an action's run as the schedule's owner: a public Actor's run is theirs, not the Actor's owner's.
    fn start_scheduled(&self, owner_id: &str, action: &ScheduleAction) -> Result<String> {
        let user = Some(self.get_user(owner_id)?);
        let base = StartOptions { origin: Some(RunOrigin::Scheduler), user, ..Default::default() };
        let run = match action {
            ScheduleAction::RunActor { actor_id, run_input, run_options, .. } => {
                let o = run_options.clone().unwrap_or_default();
                let input = run_input.as_ref().and_then(|i| {
                    i.body.clone().map(|b| (b.into_bytes(), i.content_type.clone().unwrap_or_else(|| "application/json".into())))
                });
                let opts = StartOptions {
                    input,
                    build: o.build,
                    timeout_secs: o.timeout_secs,
                    memory_mbytes: o.memory_mbytes,
                    max_items: o.max_items,
                    max_total_charge_usd: o.max_total_charge_usd,
                    restart_on_error: o.restart_on_error,
                    ..base
                };
                self.start_run(actor_id, opts)?
            }
            ScheduleAction::RunActorTask { actor_task_id, input, .. } => {
                self.start_task(actor_task_id, input.clone().filter(|i| !i.is_null()), base)?
            }
        };
        Ok(run.id)
    }

    /// Starts the schedules' timer: firings left pending by the last server first, then each due time.
    pub fn start_schedules(self: &Arc<Self>) {
        tokio::spawn(timer_loop(Arc::downgrade(self)));
    }

    /// Fires what is due; returns when the next schedule is due.
    async fn fire_due(&self) -> Result<Option<DateTime<Utc>>> {
        let now = ids::now();
        let mut next: Option<DateTime<Utc>> = None;
        for s in self.list_schedules()? {
            if s.pending_firing.is_some() {
                self.finish_firing(s).await?;
                continue;
            }
            match s.next_run_at {
                Some(due) if s.is_enabled && due <= now => {
                    if let Some(claimed) = self.claim_firing(&s.id, now)? {
                        let following = claimed.next_run_at;
                        self.finish_firing(claimed).await?;
                        next = earliest(next, following);
                    }
                }
                Some(due) if s.is_enabled => next = earliest(next, Some(due)),
                _ => {}
            }
        }
        Ok(next)
    }
}

fn earliest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

async fn timer_loop(platform: Weak<Platform>) {
    loop {
        let Some(p) = platform.upgrade() else { return };
        if p.is_shutting_down() {
            return;
        }
        let wake = p.schedules.wake.clone();
        let notified = wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let next = match p.fire_due().await {
            Ok(next) => next,
            Err(e) => {
                tracing::error!("the schedule timer failed: {e}; it tries again in a second");
                Some(ids::now() + chrono::Duration::seconds(1))
            }
        };
        // At most a minute asleep: the wall clock may jump, and is read again on waking.
        let wait = next.map_or(std::time::Duration::from_secs(60), |at| {
            (at - ids::now()).to_std().unwrap_or_default().min(std::time::Duration::from_secs(60))
        });
        drop(p);
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn ticks_follow_the_time_zone_and_seconds_and_nicknames() {
        let t = next_tick("0 9 * * *", "Europe/Prague", at("2026-07-01T10:00:00Z")).unwrap().unwrap();
        assert_eq!(t, at("2026-07-02T07:00:00Z"), "09:00 in summer Prague is 07:00 UTC");
        let t = next_tick("*/10 * * * * *", "UTC", at("2026-07-01T10:00:03Z")).unwrap().unwrap();
        assert_eq!(t, at("2026-07-01T10:00:10Z"));
        let t = next_tick("@daily", "UTC", at("2026-07-01T10:00:00Z")).unwrap().unwrap();
        assert_eq!(t, at("2026-07-02T00:00:00Z"));
    }

    #[test]
    fn bad_cron_and_zones_name_themselves() {
        let e = next_tick("61 * * * *", "UTC", Utc::now()).unwrap_err().to_string();
        assert!(e.contains("61 * * * *"), "{e}");
        let e = next_tick("* * * * *", "Mars/Olympus", Utc::now()).unwrap_err().to_string();
        assert!(e.contains("Mars/Olympus"), "{e}");
    }
}
