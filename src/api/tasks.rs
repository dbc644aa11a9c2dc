//! `/v2/actor-tasks`: tasks, their saved input, their runs (the start
//! routes are the Actor's, see `runs::Target`), and their webhooks.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::auth::Acting;
use super::error::ApiResult;
use super::params::Params;
use super::runs::{self, Target};
use super::views;
use crate::platform::access::Caller;
use crate::platform::tasks::TaskPatch;
use crate::platform::Platform;

type P = State<Arc<Platform>>;

pub fn routes() -> Router<Arc<Platform>> {
    Router::new()
        .route("/", get(list).post(create))
        .route("/{task}", get(get_one).put(update).delete(delete))
        .route("/{task}/input", get(get_input).put(put_input))
        .route("/{task}/webhooks", get(webhooks))
        .route("/{task}/runs", get(list_runs).post(start))
        .route("/{task}/runs/last", get(last))
        .route("/{task}/runs/last/{*rest}", axum::routing::any(last_sub_path))
        .route("/{task}/run-sync", get(run_sync).post(run_sync))
        .route("/{task}/run-sync-get-dataset-items", get(run_sync_items).post(run_sync_items))
}

async fn list(State(p): P, Acting(user): Acting, q: Params) -> ApiResult<Response> {
    let page = q.page(p.config.limits.max_list_limit)?;
    let tasks = p.list_tasks()?;
    let items = tasks.iter().filter(|t| t.user_id == user.id).map(|t| views::task_short(&p, t)).collect();
    Ok(views::paginated(items, &page))
}

async fn create(State(p): P, Acting(user): Acting, body: Body) -> ApiResult<Response> {
    let patch: TaskPatch = super::actors::json_body(body, p.config.limits.max_request_bytes).await?;
    Ok(views::created(views::task(&p, &p.create_task(&user, patch)?)))
}

async fn get_one(State(p): P, Path(task): Path<String>) -> ApiResult<Response> {
    Ok(views::data(views::task(&p, &p.get_task(&task)?)))
}

async fn update(State(p): P, Path(task): Path<String>, body: Body) -> ApiResult<Response> {
    let patch: TaskPatch = super::actors::json_body(body, p.config.limits.max_request_bytes).await?;
    Ok(views::data(views::task(&p, &p.update_task(&task, patch)?)))
}

async fn delete(State(p): P, Path(task): Path<String>) -> ApiResult<StatusCode> {
    p.delete_task(&task)?;
    Ok(StatusCode::NO_CONTENT)
}

/// The saved input as the body itself (no envelope), as Apify answers it.
async fn get_input(State(p): P, Path(task): Path<String>) -> ApiResult<Response> {
    let task = p.get_task(&task)?;
    Ok(axum::Json(masked_input(task.input)).into_response())
}

async fn put_input(State(p): P, Path(task): Path<String>, body: Body) -> ApiResult<Response> {
    let input: serde_json::Value = super::actors::json_body(body, p.config.limits.max_input_bytes).await?;
    let task = p.set_task_input(&task, input)?;
    Ok(axum::Json(masked_input(task.input)).into_response())
}

async fn webhooks(State(p): P, Path(task): Path<String>, q: Params) -> ApiResult<Response> {
    let task = p.get_task(&task)?;
    let page = q.page(p.config.limits.max_list_limit)?;
    let hooks =
        p.list_webhooks(None).into_iter().filter(|w| w.condition.actor_task_id.as_deref() == Some(&task.id) && w.user_id == task.user_id);
    Ok(views::paginated(hooks.map(|w| views::to_value(&w)).collect(), &page))
}

async fn list_runs(State(p): P, Extension(caller): Extension<Caller>, Path(task): Path<String>, q: Params) -> ApiResult<Response> {
    let task = p.get_task(&task)?;
    let page = q.page(p.config.limits.max_list_limit)?;
    let mut filter = runs::filter_from(&q, &caller, Some(task.act_id.clone()))?;
    filter.actor_task_id = Some(task.id);
    let list = super::blocking(&p, move |p| p.list_runs(&filter)).await?;
    Ok(views::paginated(list.iter().map(views::run_short).collect(), &page))
}

async fn start(
    State(p): P,
    Extension(caller): Extension<Caller>,
    Path(task): Path<String>,
    q: Params,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    runs::start_target(&p, &caller, Target::Task(&task), &q, &headers, body).await
}

async fn last(State(p): P, Extension(caller): Extension<Caller>, Path(task): Path<String>, q: Params) -> ApiResult<Response> {
    let run = runs::last_of(&p, &caller, Target::Task(&task), &q).await?;
    let run = match runs::wait_secs(&p, &q)? {
        Some(w) => p.wait_for_finish(&run.id, w).await?,
        None => run,
    };
    Ok(views::data(views::run(&p, &run)))
}

async fn last_sub_path(State(p): P, Path((task, rest)): Path<(String, String)>, req: axum::extract::Request) -> ApiResult<Response> {
    runs::last_sub_path(&p, Target::Task(&task), &rest, req).await
}

async fn run_sync(
    State(p): P,
    Extension(caller): Extension<Caller>,
    Path(task): Path<String>,
    q: Params,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    runs::sync_output(&p, &caller, Target::Task(&task), &q, &headers, body).await
}

async fn run_sync_items(
    State(p): P,
    Extension(caller): Extension<Caller>,
    Path(task): Path<String>,
    q: Params,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    runs::sync_items(&p, &caller, Target::Task(&task), &q, &headers, body).await
}

/// A task's saved input as the API shows it: secret fields masked.
fn masked_input(input: Option<serde_json::Value>) -> serde_json::Value {
    let mut input = input.unwrap_or_else(|| serde_json::json!({}));
    crate::platform::secrets::mask(&mut input);
    input
}
