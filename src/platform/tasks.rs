//! Actor tasks: an Actor with saved input and run options, run by name.
//!
//! A task run is an ordinary run of the task's Actor that records
//! `actorTaskId`. Its input is the task's saved input with the caller's
//! override merged over it (top-level fields), then, like any input, the
//! Actor's input-schema defaults filled in and the result validated.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::db::{get_json, put_json};
use super::error::{PlatformError, Result};
use super::names::Names;
use super::runs::{Run, StartOptions};
use super::Platform;
use crate::ids::{self, ts};

/// A task's run options; unset ones fall through to the Actor's.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mbytes: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_items: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_total_charge_usd: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_on_error: Option<bool>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskStats {
    pub total_runs: u64,
    #[serde(default, with = "ts::option", skip_serializing_if = "Option::is_none")]
    pub last_run_started_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    pub id: String,
    pub user_id: String,
    pub act_id: String,
    pub name: String,
    pub username: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(with = "ts")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "ts")]
    pub modified_at: DateTime<Utc>,
    #[serde(default)]
    pub options: TaskOptions,
    /// The saved input (a JSON object), if any.
    #[serde(default)]
    pub input: Option<Value>,
    #[serde(default)]
    pub stats: TaskStats,
    /// Per-task Standby settings, kept as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_standby: Option<Value>,
}

/// A create or update body (`TaskCreate`/`TaskUpdate`); absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskPatch {
    pub act_id: Option<String>,
    /// An Actor name's rules (`validate_actor_name`).
    #[schema(pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    pub name: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub options: Option<TaskOptions>,
    pub input: Option<Value>,
    pub actor_standby: Option<Value>,
}

fn check_name(name: &str) -> Result<()> {
    crate::definition::validate_actor_name(name).map_err(|m| PlatformError::invalid(m.replace("Actor", "task")))
}

fn check_input_object(input: &Value) -> Result<()> {
    match input {
        Value::Object(_) => Ok(()),
        _ => Err(PlatformError::invalid_kind("invalid-input", "A task's input must be a JSON object")),
    }
}

/// The caller's override merged over the saved input, top-level field by field (as Apify merges).
pub fn merge_input(saved: Option<&Value>, over: Option<Value>) -> Option<Value> {
    match (saved, over) {
        (Some(Value::Object(saved)), Some(Value::Object(over))) => {
            let mut merged: Map<String, Value> = saved.clone();
            merged.extend(over);
            Some(Value::Object(merged))
        }
        (_, Some(over)) => Some(over),
        (saved, None) => saved.cloned(),
    }
}

impl Platform {
    /// A task by ID or `username~name` (the API has made its bare names IDs, see `api::names`).
    pub fn get_task(&self, reference: &str) -> Result<Task> {
        self.get_task_in(None, reference)
    }

    /// [`Self::get_task`], where a bare name is one of the user `namespace`'s tasks.
    pub fn get_task_in(&self, namespace: Option<&str>, reference: &str) -> Result<Task> {
        self.find_task(namespace, reference)?.ok_or_else(|| PlatformError::not_found(format!("Actor task was not found: {reference}")))
    }

    fn find_task(&self, namespace: Option<&str>, reference: &str) -> Result<Option<Task>> {
        if let Some(task) = get_json::<Task>(&self.db.tasks, reference)? {
            return Ok(Some(task));
        }
        match self.task_names().lookup(namespace, reference)? {
            Some(id) => get_json(&self.db.tasks, &id),
            None => Ok(None),
        }
    }

    fn task_names(&self) -> Names {
        Names::new(self.db.task_names.clone(), self.db.user_names.clone())
    }

    pub fn list_tasks(&self) -> Result<Vec<Task>> {
        let mut out = Vec::new();
        for item in self.db.tasks.iter() {
            out.push(serde_json::from_slice::<Task>(&item?.1)?);
        }
        out.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Checks a task's saved input and options against its Actor as a run would
    /// (schema, ranges), so a task that saves is a task that starts; seals
    /// the input's secret fields.
    fn check_task(&self, task: &mut Task) -> Result<()> {
        check_name(&task.name)?;
        if let Some(input) = &task.input {
            check_input_object(input)?;
        }
        let actor = self.get_actor(&task.act_id)?;
        let limits = &self.config.limits;
        if let Some(m) = task.options.memory_mbytes {
            limits.check_memory_mbytes("options.memoryMbytes", m as u64).map_err(|m| PlatformError::invalid_kind("invalid-value", m))?;
        }
        if let Some(t) = task.options.timeout_secs {
            limits.check_timeout_secs("options.timeoutSecs", t).map_err(|m| PlatformError::invalid_kind("invalid-value", m))?;
        }
        // Only when the Actor has a build to check against: a task may be made before the first build.
        if let Ok(build) = self.resolve_build(&actor, task.options.build.as_deref()) {
            let body = task.input.as_ref().map(|i| (serde_json::to_vec(i).unwrap_or_default(), "application/json".to_owned()));
            self.prepare_input(&build, &task.user_id, body)?;
            if let Some(input) = &mut task.input {
                self.seal_input_secrets(&build, &task.user_id, input)?;
            }
        } else if let Some(input) = &mut task.input {
            // No build yet: the versions' own definitions say which fields are secret.
            for schema in actor.versions.iter().filter_map(|v| v.actor_definition.as_ref()?.input.as_ref()) {
                let compiled = crate::definition::InputSchema::compile(schema).map_err(|e| {
                    PlatformError::invalid_kind("invalid-input-schema", format!("The Actor's input schema is not valid: {e}"))
                })?;
                self.seal_secret_fields(&compiled, &task.user_id, input)?;
            }
        }
        Ok(())
    }

    /// Seals the fields `build`'s input schema marks secret in the inputs of
    /// its Actor's tasks: a task made before the Actor's first build (or
    /// before a field was marked secret) keeps no clear secret once it is done.
    pub(crate) fn seal_task_inputs(&self, build: &super::actors::Build) -> Result<()> {
        if self.input_schema(build)?.is_none_or(|schema| schema.secret_fields().next().is_none()) {
            return Ok(());
        }
        for entry in self.db.tasks.iter() {
            let (id, raw) = entry?;
            let task: Task = serde_json::from_slice(&raw)?;
            if task.act_id != build.act_id || task.input.is_none() {
                continue;
            }
            super::db::modify_json(&self.db.tasks, &id, |t: &mut Task| match &mut t.input {
                Some(input) => self.seal_input_secrets(build, &t.user_id, input),
                None => Ok(()),
            })?;
        }
        Ok(())
    }

    pub fn create_task(&self, owner: &super::users::User, patch: TaskPatch) -> Result<Task> {
        let act = patch.act_id.clone().ok_or_else(|| PlatformError::invalid("The task needs \"actId\", the Actor it runs"))?;
        // A task may run the owner's Actors and public ones.
        self.check_visible(Some(&owner.id), None, super::access::Resource::Actor(&act), super::access::Use::Run)?;
        let actor = self.get_actor_in(Some(&owner.id), &act)?;
        let name = patch.name.clone().ok_or_else(|| PlatformError::invalid("The task needs a \"name\""))?;
        let now = ids::now();
        let mut task = Task {
            id: ids::new_id(),
            user_id: owner.id.clone(),
            act_id: actor.id,
            name: name.clone(),
            username: owner.username.clone(),
            title: patch.title,
            description: patch.description,
            created_at: now,
            modified_at: now,
            options: patch.options.unwrap_or_default(),
            input: patch.input.filter(|i| !i.is_null()),
            stats: TaskStats::default(),
            actor_standby: patch.actor_standby,
        };
        self.check_task(&mut task)?;
        if !self.task_names().claim(&owner.id, &name, &task.id)? {
            return Err(PlatformError::Conflict(format!("You already have a task named \"{name}\"")));
        }
        put_json(&self.db.tasks, &task.id, &task)?;
        Ok(task)
    }

    pub fn update_task(&self, reference: &str, patch: TaskPatch) -> Result<Task> {
        let current = self.get_task(reference)?;
        let mut task = current.clone();
        if let Some(act) = &patch.act_id {
            self.check_visible(Some(&current.user_id), None, super::access::Resource::Actor(act), super::access::Use::Run)?;
            task.act_id = self.get_actor_in(Some(&current.user_id), act)?.id;
        }
        if let Some(name) = patch.name {
            task.name = name;
        }
        if patch.title.is_some() {
            task.title = patch.title;
        }
        if patch.description.is_some() {
            task.description = patch.description;
        }
        if let Some(options) = patch.options {
            task.options = options;
        }
        if let Some(mut input) = patch.input {
            // A secret field sent back as the API showed it (masked) keeps its saved value.
            if let (Value::Object(fields), Some(Value::Object(saved))) = (&mut input, &current.input) {
                for (name, v) in fields.iter_mut() {
                    if v.as_str() == Some(super::secrets::MASK) {
                        if let Some(old) = saved.get(name).filter(|o| o.as_str().is_some_and(super::secrets::is_sealed)) {
                            *v = old.clone();
                        }
                    }
                }
            }
            task.input = (!input.is_null()).then_some(input);
        }
        if patch.actor_standby.is_some() {
            task.actor_standby = patch.actor_standby;
        }
        task.modified_at = ids::now();
        self.check_task(&mut task)?;
        self.save_task(&current, task)
    }

    /// Stores `task` over `current`, moving its name if it changed; a
    /// concurrent change of the same task wins and this one is a conflict.
    fn save_task(&self, current: &Task, task: Task) -> Result<Task> {
        let renamed = task.name != current.name;
        if renamed && !self.task_names().claim(&task.user_id, &task.name, &task.id)? {
            return Err(PlatformError::Conflict(format!("You already have a task named \"{}\"", task.name)));
        }
        let old = serde_json::to_vec(current)?;
        let swapped = self.db.tasks.compare_and_swap(task.id.as_str(), Some(old), Some(serde_json::to_vec(&task)?))?;
        if swapped.is_err() {
            if renamed {
                self.task_names().release(&task.user_id, &task.name, &task.id)?;
            }
            return Err(PlatformError::Conflict(format!("The task {} was changed meanwhile; read it again", task.id)));
        }
        if renamed {
            self.task_names().release(&current.user_id, &current.name, &current.id)?;
        }
        Ok(task)
    }

    pub fn delete_task(&self, reference: &str) -> Result<()> {
        let task = self.get_task(reference)?;
        self.task_names().release(&task.user_id, &task.name, &task.id)?;
        self.db.tasks.remove(task.id.as_str())?;
        Ok(())
    }

    /// Replaces the saved input (`PUT …/input`), checked like any task change.
    pub fn set_task_input(&self, reference: &str, input: Value) -> Result<Task> {
        check_input_object(&input)?;
        self.update_task(reference, TaskPatch { input: Some(input), ..Default::default() })
    }

    /// Starts a run of the task: its options under the caller's, its input
    /// under the caller's override (`input`, a JSON object or nothing).
    pub fn start_task(&self, reference: &str, input: Option<Value>, mut opts: StartOptions) -> Result<Run> {
        let task = self.get_task(reference)?;
        if let Some(over) = &input {
            check_input_object(over)?;
        }
        let merged = merge_input(task.input.as_ref(), input);
        opts.input = merged.map(|v| (serde_json::to_vec(&v).unwrap_or_default(), "application/json".to_owned()));
        let o = &task.options;
        opts.build = opts.build.or_else(|| o.build.clone());
        opts.timeout_secs = opts.timeout_secs.or(o.timeout_secs);
        opts.memory_mbytes = opts.memory_mbytes.or(o.memory_mbytes);
        opts.max_items = opts.max_items.or(o.max_items);
        opts.max_total_charge_usd = opts.max_total_charge_usd.or(o.max_total_charge_usd);
        opts.restart_on_error = opts.restart_on_error.or(o.restart_on_error);
        opts.actor_task_id = Some(task.id.clone());
        if opts.user.is_none() {
            opts.user = Some(self.get_user(&task.user_id)?);
        }
        let run = self.start_run(&task.act_id, opts)?;
        // The count is a statistic: a lost race costs one count, never the run.
        let mut counted = task.clone();
        counted.stats.total_runs += 1;
        counted.stats.last_run_started_at = Some(run.started_at);
        let _ = self.save_task(&task, counted);
        Ok(run)
    }
}

#[cfg(test)]
mod tests {
    use super::merge_input;
    use serde_json::json;

    #[test]
    fn an_override_replaces_top_level_fields_only() {
        let saved = json!({"a": 1, "nested": {"x": 1, "y": 2}});
        let merged = merge_input(Some(&saved), Some(json!({"nested": {"x": 9}, "b": 2}))).unwrap();
        assert_eq!(merged, json!({"a": 1, "nested": {"x": 9}, "b": 2}));
        assert_eq!(merge_input(Some(&saved), None).unwrap(), saved);
        assert_eq!(merge_input(None, None), None);
    }
}
