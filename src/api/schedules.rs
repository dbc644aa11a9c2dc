//! `/v2/schedules`: schedules and their logs (the timer is `platform::schedules`).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use super::auth::Acting;
use super::error::ApiResult;
use super::params::Params;
use super::views;
use crate::platform::schedules::SchedulePatch;
use crate::platform::Platform;

type P = State<Arc<Platform>>;

pub fn routes() -> Router<Arc<Platform>> {
    Router::new()
        .route("/", get(list).post(create))
        .route("/{schedule}", get(get_one).put(update).delete(delete))
        .route("/{schedule}/log", get(log))
}

async fn list(State(p): P, Acting(user): Acting, q: Params) -> ApiResult<Response> {
    let page = q.page(p.config.limits.max_list_limit)?;
    let own = p.list_schedules()?.into_iter().filter(|s| s.user_id == user.id);
    Ok(views::paginated(own.map(|s| views::schedule(&s)).collect(), &page))
}

async fn create(State(p): P, Acting(user): Acting, body: Body) -> ApiResult<Response> {
    let patch: SchedulePatch = super::actors::json_body(body, p.config.limits.max_request_bytes).await?;
    Ok(views::created(views::schedule(&p.create_schedule(&user, patch)?)))
}

async fn get_one(State(p): P, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(views::data(views::schedule(&p.get_schedule(&id)?)))
}

async fn update(State(p): P, Path(id): Path<String>, body: Body) -> ApiResult<Response> {
    let patch: SchedulePatch = super::actors::json_body(body, p.config.limits.max_request_bytes).await?;
    Ok(views::data(views::schedule(&p.update_schedule(&id, patch)?)))
}

async fn delete(State(p): P, Path(id): Path<String>) -> ApiResult<StatusCode> {
    p.delete_schedule(&id)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn log(State(p): P, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(views::data(views::to_value(&p.schedule_log(&id)?)))
}
