//! `/v2/actors` (and `/v2/acts`): Actors, their builds, input validation;
//! the run-starting routes live in `runs`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::json;

use super::auth::Acting;
use super::body::{content_type, read_body};
use super::error::{ApiError, ApiResult};
use super::params::Params;
use super::{runs, views};
use crate::platform::actors::ActorPatch;
use crate::platform::Platform;

type P = State<Arc<Platform>>;

pub fn routes() -> Router<Arc<Platform>> {
    Router::new()
        .route("/", get(list).post(create))
        .route("/{actor}", get(get_one).put(update).delete(delete))
        .route("/{actor}/builds", post(build).get(list_actor_builds))
        .route("/{actor}/builds/default", get(default_build))
        .route("/{actor}/validate-input", post(validate_input))
        .route("/{actor}/webhooks", get(super::webhooks::list_for_actor))
        .route("/{actor}/runs", post(runs::start).get(runs::list_for_actor))
        .route("/{actor}/runs/last", get(runs::last))
        .route("/{actor}/runs/last/{*rest}", axum::routing::any(runs::last_sub_path_of_actor))
        .route("/{actor}/run-sync", post(runs::run_sync).get(runs::run_sync))
        .route("/{actor}/run-sync-get-dataset-items", post(runs::run_sync_items).get(runs::run_sync_items))
}

pub fn build_routes() -> Router<Arc<Platform>> {
    Router::new()
        .route("/", get(list_builds))
        .route("/{build}", get(get_build).delete(delete_build))
        .route("/{build}/abort", post(abort_build))
        .route("/{build}/log", get(super::logs::get_build_log))
}

/// `GET /actor-builds`: the caller's builds (of their own Actors).
async fn list_builds(State(p): P, Acting(user): Acting, q: Params) -> ApiResult<Response> {
    let page = q.page(p.config.limits.max_list_limit)?;
    let builds = super::blocking(&p, |p| p.list_builds(None)).await?;
    Ok(views::paginated(builds.iter().filter(|b| b.user_id == user.id).map(views::build_short).collect(), &page))
}

async fn list_actor_builds(State(p): P, Path(actor): Path<String>, q: Params) -> ApiResult<Response> {
    let actor = p.get_actor(&actor)?;
    let page = q.page(p.config.limits.max_list_limit)?;
    let builds = super::blocking(&p, move |p| p.list_builds(Some(&actor.id))).await?;
    Ok(views::paginated(builds.iter().map(views::build_short).collect(), &page))
}

async fn abort_build(State(p): P, Path(build): Path<String>) -> ApiResult<Response> {
    Ok(views::data(views::build(&p.abort_build(&build).await?)))
}

async fn delete_build(State(p): P, Path(build): Path<String>) -> ApiResult<axum::http::StatusCode> {
    p.delete_build(&build)?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

pub(super) async fn json_body<T: serde::de::DeserializeOwned>(body: Body, limit: usize) -> ApiResult<T> {
    let bytes = read_body(body, limit).await?;
    let bytes = if bytes.iter().all(u8::is_ascii_whitespace) { &b"{}"[..] } else { &bytes[..] };
    serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request("invalid-request", format!("The request body is not valid JSON: {e}")))
}

/// `my` (every Actor here is the user's own) and `sortBy` (`createdAt`, or `stats.lastRunStartedAt`).
async fn list(State(p): P, Acting(user): Acting, q: Params) -> ApiResult<Response> {
    let page = q.page(p.config.limits.max_list_limit)?;
    let _my = q.flag("my")?;
    let mut actors = p.list_actors()?;
    actors.retain(|a| a.user_id == user.id);
    match q.str("sortBy") {
        None | Some("createdAt") => {}
        Some("stats.lastRunStartedAt") | Some("lastRunStartedAt") => {
            actors.sort_by(|a, b| a.stats.last_run_started_at.cmp(&b.stats.last_run_started_at).then(a.created_at.cmp(&b.created_at)))
        }
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid-parameter",
                format!("sortBy must be createdAt or stats.lastRunStartedAt, not \"{other}\""),
            ))
        }
    }
    Ok(views::paginated(actors.iter().map(views::actor_short).collect(), &page))
}

async fn create(State(p): P, Acting(user): Acting, body: Body) -> ApiResult<Response> {
    let patch: ActorPatch = json_body(body, p.config.limits.max_request_bytes).await?;
    let actor = p.create_actor(&user, patch)?;
    Ok(views::created(views::actor(&p, &actor)))
}

async fn get_one(State(p): P, Acting(user): Acting, Path(actor): Path<String>) -> ApiResult<Response> {
    let mut actor = p.get_actor(&actor)?;
    if actor.user_id != user.id {
        // A public Actor seen by another user: what running it needs, not
        // its code and environment (source files, env vars), which stay the owner's.
        actor.versions.clear();
    }
    Ok(views::data(views::actor(&p, &actor)))
}

async fn update(State(p): P, Path(actor): Path<String>, body: Body) -> ApiResult<Response> {
    let patch: ActorPatch = json_body(body, p.config.limits.max_request_bytes).await?;
    Ok(views::data(views::actor(&p, &p.update_actor(&actor, patch)?)))
}

async fn delete(State(p): P, Path(actor): Path<String>) -> ApiResult<axum::http::StatusCode> {
    p.delete_actor(&actor)?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// Builds a version from an uploaded component (`Content-Type: application/wasm`).
async fn build(State(p): P, Path(actor): Path<String>, q: Params, headers: HeaderMap, body: Body) -> ApiResult<Response> {
    let ct = content_type(&headers, "");
    let ct_main = ct.split(';').next().unwrap_or("").trim();
    let component = read_body(body, p.config.limits.max_component_bytes).await?;
    // A component Actor uploads its component; a container Actor's build names its image in actor.json.
    if !component.is_empty() && !matches!(ct_main, "application/wasm" | "application/octet-stream" | "application/x-tar") {
        return Err(ApiError::bad_request(
            "invalid-request",
            "Upload the compiled component (Content-Type: application/wasm) or, for a Dockerfile Actor, the build context (application/x-tar)",
        ));
    }
    let mut build = p.build_actor(&actor, q.str("version"), q.str("tag"), component.to_vec()).await?;
    if let Some(wait) = super::runs::wait_secs(&p, &q)? {
        build = p.wait_for_build(&build.id, wait).await?;
    }
    Ok(views::created(views::build(&build)))
}

async fn default_build(State(p): P, Path(actor): Path<String>) -> ApiResult<Response> {
    let actor = p.get_actor(&actor)?;
    Ok(views::data(views::build(&p.resolve_build(&actor, None)?)))
}

async fn get_build(State(p): P, Path(build): Path<String>, q: Params) -> ApiResult<Response> {
    let build = match super::runs::wait_secs(&p, &q)? {
        Some(wait) => p.wait_for_build(&build, wait).await?,
        None => p.get_build(&build)?,
    };
    Ok(views::data(views::build(&build)))
}

/// `{"valid": true}` (no envelope) or a 400 naming the field.
async fn validate_input(
    State(p): P,
    Acting(user): Acting,
    Path(actor): Path<String>,
    q: Params,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let bytes = read_body(body, p.config.limits.max_input_bytes).await?;
    let actor = p.get_actor(&actor)?;
    let build = p.resolve_build(&actor, q.str("build"))?;
    p.check_input(&build, &user.id, Some((bytes.to_vec(), content_type(&headers, "application/json"))))?;
    Ok(axum::Json(json!({"valid": true})).into_response())
}
