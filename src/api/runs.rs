//! Runs: start (async and sync), get with `waitForFinish`, list, update the
//! status message, abort, delete, and the run's own storages.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Extension, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use super::body::{content_type, read_body};
use super::error::{ApiError, ApiResult};
use super::params::Params;
use super::{datasets, kv, logs, views};
use crate::platform::access::{Caller, PermissionLevel};
use crate::platform::runs::{GeneralAccess, ResurrectOptions, Run, RunFilter, RunOrigin, RunStatus, StartOptions};
use crate::platform::webhooks::WebhookSpec;
use crate::platform::Platform;

type P = State<Arc<Platform>>;

pub fn routes() -> Router<Arc<Platform>> {
    Router::new()
        .route("/", get(list_all))
        .route("/{run}", get(get_one).put(update).delete(delete))
        .route("/{run}/abort", post(abort))
        .route("/{run}/reboot", post(reboot))
        .route("/{run}/resurrect", post(resurrect))
        .route("/{run}/charge", post(charge))
        .route("/{run}/metamorph", post(metamorph))
        .route("/{run}/log", get(logs::get_run_log))
        .route("/{run}/dataset", get(run_dataset))
        .route("/{run}/dataset/items", get(run_dataset_items).post(run_dataset_push))
        .route("/{run}/request-queue", get(super::request_queues::run_queue))
        .merge(super::request_queues::content_routes("/{run}/request-queue"))
        .route("/{run}/key-value-store", get(run_kv))
        .route("/{run}/key-value-store/keys", get(run_kv_keys))
        .route("/{run}/key-value-store/records/{key}", get(run_kv_record_get).put(run_kv_record_put).delete(run_kv_record_delete))
}

/// The run options of the start and sync endpoints, from the query and body.
async fn start_options(p: &Platform, caller: &Caller, q: &Params, headers: &HeaderMap, body: Body) -> ApiResult<StartOptions> {
    // Read one byte past the input limit so an oversized input is a clear 413.
    let bytes = read_body(body, p.config.limits.max_input_bytes + 1).await.map_err(|e| {
        if e.status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "input-too-large",
                format!("The input is over the limit of {} bytes", p.config.limits.max_input_bytes),
            )
        } else {
            e
        }
    })?;
    let memory = q.u64("memory")?.map(|m| m.min(u32::MAX as u64) as u32);
    Ok(StartOptions {
        input: (!bytes.is_empty()).then(|| (bytes.to_vec(), content_type(headers, "application/json"))),
        build: q.str("build").map(str::to_owned),
        timeout_secs: q.u64("timeout")?,
        memory_mbytes: memory,
        max_items: q.u64("maxItems")?,
        max_total_charge_usd: q.f64("maxTotalChargeUsd")?,
        persist_state_interval_millis: q.u64("persistStateIntervalMillis")?,
        // A run's token starts a child of that run: it records its parent and draws on its allowance.
        origin: Some(if caller.run().is_some() { RunOrigin::Actor } else { RunOrigin::Api }),
        client_ip: None,
        user_agent: headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned),
        // wactor: run on existing storages instead of new default ones.
        key_value_store_id: q.str("defaultKeyValueStoreId").map(str::to_owned),
        dataset_id: q.str("defaultDatasetId").map(str::to_owned),
        parent_run_id: caller.run().map(|g| g.run_id.clone()),
        permission_level: q.str("forcePermissionLevel").map(PermissionLevel::parse).transpose()?,
        webhooks: ad_hoc_webhooks(p, q).await?,
        actor_task_id: None,
        restart_on_error: q.bool("restartOnError")?,
        user: Some(p.acting_user(caller)?),
    })
}

/// What a start route runs: an Actor, or a task (whose body is an input override).
#[derive(Clone, Copy)]
pub(super) enum Target<'a> {
    Actor(&'a str),
    Task(&'a str),
}

/// Starts the run of `target` with `opts`.
fn launch(p: &Platform, target: Target, mut opts: StartOptions) -> ApiResult<Run> {
    match target {
        Target::Actor(actor) => Ok(p.start_run(actor, opts)?),
        Target::Task(task) => {
            let over = match opts.input.take() {
                Some((body, _)) => {
                    let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
                        ApiError::bad_request("invalid-input", format!("A task's input override must be a JSON object: {e}"))
                    })?;
                    (!v.is_null()).then_some(v)
                }
                None => None,
            };
            Ok(p.start_task(task, over, opts)?)
        }
    }
}

/// The `webhooks` parameter: base64 of a JSON array of webhooks bound to the new run, checked before it starts.
async fn ad_hoc_webhooks(p: &Platform, q: &Params) -> ApiResult<Vec<WebhookSpec>> {
    let Some(encoded) = q.str("webhooks") else { return Ok(Vec::new()) };
    use base64::Engine;
    let bad = |why: String| {
        ApiError::bad_request("invalid-webhook", format!("The webhooks parameter must be base64 of a JSON array of webhooks: {why}"))
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(encoded.trim()))
        .map_err(|e| bad(e.to_string()))?;
    let specs: Vec<WebhookSpec> = serde_json::from_slice(&raw).map_err(|e| bad(e.to_string()))?;
    p.check_ad_hoc_webhooks(&specs).await?;
    Ok(specs)
}

pub(super) fn wait_secs(p: &Platform, q: &Params) -> ApiResult<Option<Duration>> {
    Ok(q.u64("waitForFinish")?.map(|s| Duration::from_secs(s.min(p.config.limits.max_wait_for_finish_secs))))
}

pub async fn start(
    State(p): P,
    Extension(caller): Extension<Caller>,
    Path(actor): Path<String>,
    q: Params,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    start_target(&p, &caller, Target::Actor(&actor), &q, &headers, body).await
}

pub(super) async fn start_target(
    p: &Arc<Platform>,
    caller: &Caller,
    target: Target<'_>,
    q: &Params,
    headers: &HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let opts = start_options(p, caller, q, headers, body).await?;
    let wait = wait_secs(p, q)?;
    let mut run = launch(p, target, opts)?;
    if let Some(wait) = wait {
        run = p.wait_for_finish(&run.id, wait).await?;
    }
    let location = format!("{}/v2/actor-runs/{}", p.config.public_url, run.id);
    let mut resp = views::created(views::run(p, &run));
    if let Ok(v) = location.parse() {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// Starts a run and waits for it (up to the sync limit); the caller gets
/// its result instead of the run.
async fn start_and_wait(
    p: &Arc<Platform>,
    caller: &Caller,
    target: Target<'_>,
    q: &Params,
    headers: &HeaderMap,
    body: Body,
) -> ApiResult<Run> {
    let opts = start_options(p, caller, q, headers, body).await?;
    let run = launch(p, target, opts)?;
    let run = p.wait_for_finish(&run.id, Duration::from_secs(p.config.limits.run_sync_timeout_secs)).await?;
    match run.status {
        RunStatus::Succeeded => Ok(run),
        s if !s.is_terminal() => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "run-timeout-exceeded",
            format!("The run {} did not finish within {} s; it goes on running", run.id, p.config.limits.run_sync_timeout_secs),
        )),
        s => Err(ApiError::bad_request(
            "run-failed",
            format!(
                "Actor run did not succeed (run ID: {}, status: {}){}",
                run.id,
                s.as_str(),
                run.status_message.as_deref().map(|m| format!(": {m}")).unwrap_or_default()
            ),
        )),
    }
}

/// `run-sync`: the run's output record (default `OUTPUT`) as its body, 201.
pub async fn run_sync(
    State(p): P,
    Extension(caller): Extension<Caller>,
    Path(actor): Path<String>,
    q: Params,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    sync_output(&p, &caller, Target::Actor(&actor), &q, &headers, body).await
}

pub(super) async fn sync_output(
    p: &Arc<Platform>,
    caller: &Caller,
    target: Target<'_>,
    q: &Params,
    headers: &HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let run = start_and_wait(p, caller, target, q, headers, body).await?;
    let key = q.str("outputRecordKey").unwrap_or("OUTPUT");
    let record = p.kv.get_record(&run.default_key_value_store_id, key)?;
    Ok(match record {
        Some(r) => (StatusCode::CREATED, [(header::CONTENT_TYPE, r.content_type)], r.value).into_response(),
        None => StatusCode::CREATED.into_response(),
    })
}

/// `run-sync-get-dataset-items`: the run's default dataset items, 201.
pub async fn run_sync_items(
    State(p): P,
    Extension(caller): Extension<Caller>,
    Path(actor): Path<String>,
    q: Params,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    sync_items(&p, &caller, Target::Actor(&actor), &q, &headers, body).await
}

pub(super) async fn sync_items(
    p: &Arc<Platform>,
    caller: &Caller,
    target: Target<'_>,
    q: &Params,
    headers: &HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let run = start_and_wait(p, caller, target, q, headers, body).await?;
    let mut resp = datasets::items_response(p, &run.default_dataset_id, q).await?;
    *resp.status_mut() = StatusCode::CREATED;
    Ok(resp)
}

/// The query's run filters, over the caller's own runs only.
pub(super) fn filter_from(q: &Params, caller: &Caller, act_id: Option<String>) -> ApiResult<RunFilter> {
    let statuses = q.list("status");
    let statuses = if statuses.is_empty() {
        None
    } else {
        Some(
            statuses
                .iter()
                .map(|s| {
                    RunStatus::parse(s).ok_or_else(|| ApiError::bad_request("invalid-parameter", format!("Unknown run status \"{s}\"")))
                })
                .collect::<ApiResult<Vec<_>>>()?,
        )
    };
    let origin = match q.str("origin") {
        Some(o) => {
            Some(RunOrigin::parse(o).ok_or_else(|| ApiError::bad_request("invalid-parameter", format!("Unknown run origin \"{o}\"")))?)
        }
        None => None,
    };
    Ok(RunFilter {
        user_id: Some(caller.user_id().unwrap_or_default().to_owned()),
        act_id,
        statuses,
        started_after: q.datetime("startedAfter")?,
        started_before: q.datetime("startedBefore")?,
        origin,
        actor_task_id: None,
    })
}

async fn list_all(State(p): P, Extension(caller): Extension<Caller>, q: Params) -> ApiResult<Response> {
    let page = q.page(p.config.limits.max_list_limit)?;
    let filter = filter_from(&q, &caller, None)?;
    let runs = super::blocking(&p, move |p| p.list_runs(&filter)).await?;
    Ok(views::paginated(runs.iter().map(views::run_short).collect(), &page))
}

pub async fn list_for_actor(
    State(p): P,
    Extension(caller): Extension<Caller>,
    Path(actor): Path<String>,
    q: Params,
) -> ApiResult<Response> {
    let actor = p.get_actor(&actor)?;
    let page = q.page(p.config.limits.max_list_limit)?;
    let filter = filter_from(&q, &caller, Some(actor.id))?;
    let runs = super::blocking(&p, move |p| p.list_runs(&filter)).await?;
    Ok(views::paginated(runs.iter().map(views::run_short).collect(), &page))
}

pub async fn last(State(p): P, Extension(caller): Extension<Caller>, Path(actor): Path<String>, q: Params) -> ApiResult<Response> {
    let run = last_of(&p, &caller, Target::Actor(&actor), &q).await?;
    let run = match wait_secs(&p, &q)? {
        Some(w) => p.wait_for_finish(&run.id, w).await?,
        None => run,
    };
    Ok(views::data(views::run(&p, &run)))
}

/// The newest run of an Actor or a task that matches the query's filters (`status`, `origin`).
pub(super) async fn last_of(p: &Arc<Platform>, caller: &Caller, target: Target<'_>, q: &Params) -> ApiResult<Run> {
    let (filter, what) = match target {
        Target::Actor(a) => {
            let actor = p.get_actor(a)?;
            (filter_from(q, caller, Some(actor.id.clone()))?, format!("Actor {}", actor.full_name()))
        }
        Target::Task(t) => {
            let task = p.get_task(t)?;
            let mut f = filter_from(q, caller, Some(task.act_id.clone()))?;
            f.actor_task_id = Some(task.id.clone());
            (f, format!("Task {}", task.name))
        }
    };
    let mut runs = super::blocking(p, move |p| p.list_runs(&filter)).await?;
    runs.pop().ok_or_else(|| ApiError::not_found(format!("{what} has no matching run")))
}

/// `…/runs/last/{rest}`: the run routes (`dataset/items`, `key-value-store/records/…`,
/// `log`, …) of the newest matching run, answered as `/v2/actor-runs/{id}/{rest}` would be.
pub(super) async fn last_sub_path(p: &Arc<Platform>, target: Target<'_>, rest: &str, req: axum::extract::Request) -> ApiResult<Response> {
    use tower::ServiceExt;
    let q = Params::from_query(req.uri().query())?;
    let caller = req.extensions().get::<Caller>().cloned().unwrap_or(Caller::Anonymous);
    let run = last_of(p, &caller, target, &q).await?;
    let (parts, body) = req.into_parts();
    let query = parts.uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    // A new request, not the old one re-aimed: the outer route's path parameters must not come along.
    let mut inner = axum::extract::Request::new(body);
    *inner.method_mut() = parts.method;
    *inner.headers_mut() = parts.headers;
    *inner.uri_mut() =
        format!("/{}/{rest}{query}", run.id).parse().map_err(|_| ApiError::bad_request("invalid-request", "Malformed path"))?;
    if let Some(caller) = parts.extensions.get::<Caller>() {
        inner.extensions_mut().insert(caller.clone());
    }
    let router = routes().fallback(super::not_found).method_not_allowed_fallback(super::method_not_allowed);
    let resp = router.with_state(p.clone()).oneshot(inner).await;
    Ok(resp.unwrap_or_else(|never| match never {}))
}

pub async fn last_sub_path_of_actor(
    State(p): P,
    Path((actor, rest)): Path<(String, String)>,
    req: axum::extract::Request,
) -> ApiResult<Response> {
    last_sub_path(&p, Target::Actor(&actor), &rest, req).await
}

async fn get_one(State(p): P, Path(run): Path<String>, q: Params) -> ApiResult<Response> {
    let run = match wait_secs(&p, &q)? {
        Some(w) => p.wait_for_finish(&run, w).await?,
        None => p.get_run(&run)?,
    };
    Ok(views::data(views::run(&p, &run)))
}

/// `PUT /actor-runs/{id}`: what a client may change on a run.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct RunUpdate {
    status_message: Option<String>,
    is_status_message_terminal: Option<bool>,
    #[schema(value_type = Option<GeneralAccess>)]
    general_access: Option<String>,
}

/// `POST /actor-runs/{id}/charge`: which event, how many times (1 when left out).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct ChargeRequest {
    #[schema(value_type = String, min_length = 1)]
    event_name: Option<serde_json::Value>,
    #[schema(value_type = Option<u64>, minimum = 1)]
    count: Option<serde_json::Value>,
}

async fn update(State(p): P, Path(run): Path<String>, body: Body) -> ApiResult<Response> {
    let upd: RunUpdate = super::actors::json_body(body, p.config.limits.max_request_bytes).await?;
    // Parsed before anything changes: a bad value leaves the message as it was too.
    let access = upd.general_access.as_deref().map(GeneralAccess::parse).transpose()?;
    let mut current = p.get_run(&run)?;
    if let Some(msg) = &upd.status_message {
        current = p.set_status_message(&run, msg, upd.is_status_message_terminal.unwrap_or(false))?;
    }
    if let Some(access) = access {
        current = p.set_general_access(&run, access)?;
    }
    Ok(views::data(views::run(&p, &current)))
}

async fn delete(State(p): P, Path(run): Path<String>) -> ApiResult<StatusCode> {
    p.delete_run(&run)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn abort(State(p): P, Path(run): Path<String>, q: Params) -> ApiResult<Response> {
    let run = p.abort_run(&run, q.flag("gracefully")?).await?;
    Ok(views::data(views::run(&p, &run)))
}

/// `POST /v2/actor-runs/{runId}/metamorph?targetActorId=&build=`, the body the new input.
async fn metamorph(State(p): P, Path(run): Path<String>, q: Params, headers: HeaderMap, body: Body) -> ApiResult<Response> {
    let target = q
        .str("targetActorId")
        .ok_or_else(|| ApiError::bad_request("invalid-parameter", "targetActorId names the Actor to metamorph into"))?
        .to_owned();
    let bytes = read_body(body, p.config.limits.max_input_bytes + 1).await?;
    let input = (!bytes.is_empty()).then(|| (bytes.to_vec(), content_type(&headers, "application/json")));
    let run = p.metamorph_run(&run, &target, q.str("build"), input)?;
    Ok(views::data(views::run(&p, &run)))
}

async fn reboot(State(p): P, Path(run): Path<String>) -> ApiResult<Response> {
    Ok(views::data(views::run(&p, &p.reboot_run(&run).await?)))
}

async fn resurrect(State(p): P, Path(run): Path<String>, q: Params) -> ApiResult<Response> {
    let overrides = ResurrectOptions {
        build: q.str("build").map(str::to_owned),
        timeout_secs: q.u64("timeout")?,
        memory_mbytes: q.u64("memory")?.map(|m| m.min(u32::MAX as u64) as u32),
        max_items: q.u64("maxItems")?,
        max_total_charge_usd: q.f64("maxTotalChargeUsd")?,
    };
    Ok(views::data(views::run(&p, &p.resurrect_run(&run, overrides)?)))
}

/// `POST /v2/actor-runs/{runId}/charge`: `{"eventName", "count"}`, deduplicated by the `idempotency-key` header.
async fn charge(State(p): P, Path(run): Path<String>, headers: HeaderMap, body: Body) -> ApiResult<Response> {
    let req: ChargeRequest = super::actors::json_body(body, p.config.limits.max_request_bytes).await?;
    let event = match req.event_name {
        Some(serde_json::Value::String(e)) if !e.is_empty() => e,
        _ => return Err(ApiError::bad_request("invalid-value", "The body needs \"eventName\", the name of the event to charge")),
    };
    let count = match &req.count {
        None | Some(serde_json::Value::Null) => 1,
        Some(c) => c
            .as_u64()
            .filter(|&c| c > 0)
            .ok_or_else(|| ApiError::bad_request("invalid-value", format!("\"count\" must be a whole number of at least 1, not {c}")))?,
    };
    let key = match headers.get("idempotency-key") {
        Some(v) => Some(v.to_str().map_err(|_| ApiError::bad_request("invalid-value", "The idempotency-key header is not text"))?),
        None => None,
    };
    let result = p.charge(&run, &event, count, key)?;
    // Durable before it is acknowledged.
    p.commit().await;
    Ok(views::created(views::to_value(&result)))
}

// The run's default storages, addressed through the run.

async fn run_dataset(State(p): P, Path(run): Path<String>) -> ApiResult<Response> {
    let run = p.get_run(&run)?;
    Ok(views::data(views::dataset(&p, &p.datasets.get(&run.default_dataset_id)?)))
}

async fn run_dataset_items(State(p): P, Path(run): Path<String>, q: Params) -> ApiResult<Response> {
    let run = p.get_run(&run)?;
    datasets::items_response(&p, &run.default_dataset_id, &q).await
}

async fn run_dataset_push(State(p): P, Path(run): Path<String>, body: Body) -> ApiResult<Response> {
    let run = p.get_run(&run)?;
    datasets::push(&p, &run.default_dataset_id, body).await
}

async fn run_kv(State(p): P, Path(run): Path<String>) -> ApiResult<Response> {
    let run = p.get_run(&run)?;
    Ok(views::data(views::kv_store(&p, &p.kv.get(&run.default_key_value_store_id)?)))
}

async fn run_kv_keys(State(p): P, Path(run): Path<String>, q: Params) -> ApiResult<Response> {
    let run = p.get_run(&run)?;
    kv::keys_response(&p, &run.default_key_value_store_id, &q)
}

async fn run_kv_record_get(
    State(p): P,
    caller: Option<Extension<Caller>>,
    Path((run, key)): Path<(String, String)>,
    q: Params,
) -> ApiResult<Response> {
    let run = p.get_run(&run)?;
    kv::record_response(&p, kv::viewer(caller.as_deref()), &run.default_key_value_store_id, &key, &q)
}

async fn run_kv_record_put(State(p): P, Path((run, key)): Path<(String, String)>, headers: HeaderMap, body: Body) -> ApiResult<Response> {
    let run = p.get_run(&run)?;
    kv::put_record(&p, &run.default_key_value_store_id, &key, &headers, body).await
}

async fn run_kv_record_delete(State(p): P, Path((run, key)): Path<(String, String)>) -> ApiResult<StatusCode> {
    let run = p.get_run(&run)?;
    p.kv.delete_record(&run.default_key_value_store_id, &key)?;
    Ok(StatusCode::NO_CONTENT)
}
