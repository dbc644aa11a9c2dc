//! The Apify-compatible HTTP API: one router file per resource, one error
//! type, token auth, request-body decoding. Handlers are thin: they parse,
//! call one platform method, and shape the answer (see `views`).

mod actors;
mod audit;
pub(crate) mod auth;
mod body;
mod containers;
mod datasets;
pub mod error;
mod events;
mod kv;
mod logs;
mod names;
mod openapi;
mod params;
mod rate_limit;
mod request_queues;
mod runs;
mod schedules;
mod standby;
mod storages;
mod tasks;
mod users;
mod views;
mod webhooks;

use std::sync::Arc;

use axum::error_handling::HandleErrorLayer;
use axum::extract::State;
use axum::http::StatusCode;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tower::ServiceBuilder;
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::trace::TraceLayer;

use self::error::ApiError;
use crate::platform::Platform;

/// The whole HTTP surface.
pub fn app(platform: Arc<Platform>) -> Router {
    let actor_routes = actors::routes();
    let v2 = Router::new()
        .nest("/actors", actor_routes.clone())
        // The deprecated prefix older clients still call.
        .nest("/acts", actor_routes)
        .nest("/actor-tasks", tasks::routes())
        .nest("/schedules", schedules::routes())
        .nest("/actor-runs", runs::routes())
        .nest("/actor-builds", actors::build_routes())
        .nest("/key-value-stores", kv::routes())
        .nest("/datasets", datasets::routes())
        .nest("/request-queues", request_queues::routes())
        .nest("/webhooks", webhooks::routes())
        .nest("/webhook-dispatches", webhooks::dispatch_routes())
        .route("/logs/{id}", get(logs::get_log))
        .nest("/users", users::routes())
        .route("/openapi.json", get(openapi_json))
        .route("/audit-log", get(audit::list))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(platform.clone(), commit_writes));
    // Inside the token check, which names whose budget a request spends.
    let v2 = match rate_limit::TokenRate::new(platform.config.limits.max_requests_per_second_per_token) {
        Some(rate) => v2.layer(from_fn_with_state(rate, rate_limit::limit_token_rate)),
        None => v2,
    };
    let v2 = v2
        .layer(from_fn_with_state(platform.clone(), auth::require_token))
        // Outside the token check, so refused writes are entries too.
        .layer(from_fn_with_state(platform.clone(), audit::record));
    let routes = Router::new()
        .nest("/v2", v2)
        .route("/health", get(|| async { "ok" }))
        // A run's events websocket; the URL itself authorises it (see `events`).
        .route("/events/{run_id}/{secret}", get(events::events))
        // The web console at `/`: a client of `/v2` in the browser.
        .merge(crate::console::routes())
        .fallback(not_found)
        .layer(RequestDecompressionLayer::new())
        .layer(from_fn(body::check_content_encoding))
        // Standby requests go to their Actor as they came (no decoding, no API auth).
        .layer(from_fn_with_state(platform.clone(), standby::route))
        // The span names the path only: a query may carry a token, and tokens never reach a log.
        .layer(TraceLayer::new_for_http().make_span_with(
            |req: &axum::extract::Request| tracing::debug_span!("request", method = %req.method(), path = %req.uri().path()),
        ))
        .layer(contain_panics())
        .with_state(platform.clone());
    // One limit for the whole server (a `Router::layer` would give every route its own).
    let limited = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(|_: tower::BoxError| async {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "server-overloaded", "The server is overloaded; retry shortly")
        }))
        .load_shed()
        .concurrency_limit(platform.config.limits.max_in_flight_requests)
        // Before routing, so the handlers' path parameters carry the IDs.
        .layer(from_fn_with_state(platform.clone(), names::resolve_bare_names))
        .service(routes);
    Router::new().fallback_service(limited)
}

/// Runs storage work whose cost grows with the data (scans, deletes of
/// whole storages) on the blocking pool, so no request holds a thread that
/// serves HTTP for long.
pub(crate) async fn blocking<T: Send + 'static>(
    p: &Arc<Platform>,
    work: impl FnOnce(&Platform) -> crate::platform::error::Result<T> + Send + 'static,
) -> crate::platform::error::Result<T> {
    let p = p.clone();
    tokio::task::spawn_blocking(move || work(&p))
        .await
        .map_err(|e| crate::platform::error::PlatformError::internal(format!("a storage task failed: {e}")))?
}

/// A panic in a handler answers 500 with Apify's error body (and is
/// logged) instead of dropping the connection; the server goes on.
pub fn contain_panics() -> tower_http::catch_panic::CatchPanicLayer<fn(Box<dyn std::any::Any + Send>) -> Response> {
    fn answer(panic: Box<dyn std::any::Any + Send>) -> Response {
        let what = format!("a request handler panicked: {}", crate::panic_message(&panic));
        axum::response::IntoResponse::into_response(ApiError::internal(&what))
    }
    tower_http::catch_panic::CatchPanicLayer::custom(answer as fn(_) -> _)
}

/// A write is acknowledged only once it is durable (see `platform::durability`).
async fn commit_writes(State(p): State<Arc<Platform>>, req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let writes = !matches!(*req.method(), axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS);
    let resp = next.run(req).await;
    if writes && resp.status().is_success() {
        p.commit().await;
    }
    resp
}

/// An unknown route is not a missing record: the JS client turns
/// `record-not-found` into a silent `undefined`, so it gets a type of its own.
pub(super) async fn not_found(req: axum::extract::Request) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "page-not-found", format!("The API endpoint {} {} does not exist", req.method(), req.uri().path()))
}

pub(super) async fn method_not_allowed(req: axum::extract::Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        format!("The API endpoint {} does not take {} requests", req.uri().path(), req.method()),
    )
}

async fn openapi_json(State(p): State<Arc<Platform>>) -> Response {
    axum::Json(openapi::document(&p.config.public_url)).into_response()
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod panic_tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    #[tokio::test]
    async fn a_panicking_handler_answers_500_and_the_router_goes_on() {
        let app = axum::Router::new()
            .route("/boom", axum::routing::get(|| async { panic!("on purpose") as &'static str }))
            .route("/ok", axum::routing::get(|| async { "ok" }))
            .layer(super::contain_panics());
        let resp = app.clone().oneshot(Request::get("/boom").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(resp.status(), 500);
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["type"], "internal-server-error");
        let resp = app.oneshot(Request::get("/ok").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(resp.status(), 200);
    }
}
