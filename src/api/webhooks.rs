//! Webhooks and their dispatches (API-COMPAT §2.7); the platform's
//! `webhooks` module does the work.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

use super::auth::Acting;
use super::error::ApiResult;
use super::params::Params;
use super::views;
use crate::platform::webhooks::WebhookSpec;
use crate::platform::Platform;

type P = State<Arc<Platform>>;

pub fn routes() -> Router<Arc<Platform>> {
    Router::new()
        .route("/", get(list).post(create))
        .route("/{id}", get(get_one).put(update).delete(delete))
        .route("/{id}/test", post(test))
        .route("/{id}/dispatches", get(dispatches_of))
}

pub fn dispatch_routes() -> Router<Arc<Platform>> {
    Router::new().route("/", get(all_dispatches)).route("/{id}", get(get_dispatch))
}

async fn list(State(p): P, Acting(user): Acting, q: Params) -> ApiResult<Response> {
    let page = q.page(p.config.limits.max_list_limit)?;
    let own = p.list_webhooks(None).into_iter().filter(|w| w.user_id == user.id);
    Ok(views::paginated(own.map(|w| views::to_value(&w)).collect(), &page))
}

/// `GET /v2/actors/{actorId}/webhooks`.
pub async fn list_for_actor(State(p): P, Acting(user): Acting, Path(actor): Path<String>, q: Params) -> ApiResult<Response> {
    let actor = p.get_actor(&actor)?;
    let page = q.page(p.config.limits.max_list_limit)?;
    let own = p.list_webhooks(Some(&actor.id)).into_iter().filter(|w| w.user_id == user.id);
    Ok(views::paginated(own.map(|w| views::to_value(&w)).collect(), &page))
}

/// 201 with the webhook; a repeated `idempotencyKey` answers with the webhook it made.
async fn create(State(p): P, Acting(user): Acting, body: Body) -> ApiResult<Response> {
    let spec: WebhookSpec = super::actors::json_body(body, p.config.limits.max_request_bytes).await?;
    let (hook, _created) = p.create_webhook(&user.id, spec).await?;
    Ok(views::created(views::to_value(&hook)))
}

async fn get_one(State(p): P, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(views::data(views::to_value(&p.get_webhook(&id)?)))
}

async fn update(State(p): P, Path(id): Path<String>, body: Body) -> ApiResult<Response> {
    let spec: WebhookSpec = super::actors::json_body(body, p.config.limits.max_request_bytes).await?;
    Ok(views::data(views::to_value(&p.update_webhook(&id, spec).await?)))
}

async fn delete(State(p): P, Path(id): Path<String>) -> ApiResult<StatusCode> {
    p.delete_webhook(&id)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn test(State(p): P, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(views::created(views::to_value(&p.test_webhook(&id)?)))
}

async fn dispatches_of(State(p): P, Path(id): Path<String>, q: Params) -> ApiResult<Response> {
    p.get_webhook(&id)?;
    let page = q.page(p.config.limits.max_list_limit)?;
    let all = super::blocking(&p, move |p| p.list_dispatches(Some(&id))).await?;
    Ok(views::paginated(all.iter().map(views::to_value).collect(), &page))
}

async fn all_dispatches(State(p): P, Acting(user): Acting, q: Params) -> ApiResult<Response> {
    let page = q.page(p.config.limits.max_list_limit)?;
    let all = super::blocking(&p, |p| p.list_dispatches(None)).await?;
    Ok(views::paginated(all.iter().filter(|d| d.user_id == user.id).map(views::to_value).collect(), &page))
}

async fn get_dispatch(State(p): P, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(views::data(views::to_value(&p.get_dispatch(&id)?)))
}
