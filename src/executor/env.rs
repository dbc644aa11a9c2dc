//! The run environment every executor gives an Actor (API-COMPAT §3.1):
//! IDs, storages, input key, memory, times; a component sees it through
//! `wasi:cli/environment`, a container as its process environment.

use crate::ids;
use crate::platform::executors::RunJob;

/// The `ACTOR_*` environment of a run (with the Actor's own `environmentVariables`).
pub fn actor_env(job: &RunJob) -> Vec<(String, String)> {
    let run = &job.run;
    let timeout_at = run.timeout_at().unwrap_or(run.started_at + chrono::Duration::days(365 * 100));
    let mut env = vec![
        ("ACTOR_RUN_ID", run.id.clone()),
        ("ACTOR_ID", run.act_id.clone()),
        ("ACTOR_FULL_NAME", job.actor_full_name.clone()),
        ("ACTOR_BUILD_ID", run.build_id.clone()),
        ("ACTOR_BUILD_NUMBER", run.build_number.clone()),
        ("ACTOR_DEFAULT_KEY_VALUE_STORE_ID", run.default_key_value_store_id.clone()),
        ("ACTOR_DEFAULT_DATASET_ID", run.default_dataset_id.clone()),
        ("ACTOR_DEFAULT_REQUEST_QUEUE_ID", run.default_request_queue_id.clone()),
        ("ACTOR_INPUT_KEY", run.input_key.clone()),
        ("ACTOR_MEMORY_MBYTES", run.options.memory_mbytes.to_string()),
        ("ACTOR_STARTED_AT", ids::format_ts(&run.started_at)),
        ("ACTOR_TIMEOUT_AT", ids::format_ts(&timeout_at)),
        ("APIFY_USER_ID", run.user_id.clone()),
        ("APIFY_META_ORIGIN", run.meta.origin.as_str().to_owned()),
        ("APIFY_IS_AT_HOME", "1".to_owned()),
        ("ACTOR_RESTART_ON_ERROR", u8::from(run.options.restart_on_error).to_string()),
        (
            "ACTOR_PERSIST_STATE_INTERVAL_MILLIS",
            run.options.persist_state_interval_millis.unwrap_or(job.platform.config.limits.persist_state_interval_millis).to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect::<Vec<_>>();
    if let Some(task) = &run.actor_task_id {
        env.push(("ACTOR_TASK_ID".to_owned(), task.clone()));
    }
    // Pricing, charges so far and the allowance: the SDK needs no start-up call for them.
    env.extend(job.platform.charging_env(run));
    if job.build.exports.http {
        let (username, name) = job.actor_full_name.split_once('/').unwrap_or(("", &job.actor_full_name));
        env.push(("ACTOR_STANDBY_URL".to_owned(), job.platform.standby_url(username, name)));
    }
    if let Some(vars) = &job.build.actor_definition.environment_variables {
        for (k, v) in vars.iter().filter(|(_, v)| !v.is_null()) {
            // A secret is opened here, into the run that needs it, and nowhere else.
            if let Some(v) = job.platform.env_value(&job.build, v) {
                env.push((k.clone(), v));
            }
        }
    }
    env
}
