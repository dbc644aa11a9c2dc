//! The Apify-compatible HTTP API: one router file per resource, one error
//! type, token auth, request-body decoding. Handlers are thin: they parse,
//! call one platform method, and shape the answer (see `views`).

mod actors;
mod auth;
mod body;
mod containers;
mod datasets;
pub mod error;
mod events;
mod kv;
mod logs;
mod openapi;
mod params;
mod request_queues;
mod runs;
mod schedules;
mod standby;
mod storages;
mod tasks;
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
use serde_json::json;
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
        .route("/users/me", get(me))
        .route("/users/me/usage/monthly", get(monthly_usage))
        .route("/users/me/limits", get(limits).put(set_limits))
        .route("/openapi.json", get(openapi_json))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(platform.clone(), commit_writes))
        .layer(from_fn_with_state(platform.clone(), auth::require_token));
    let routes = Router::new()
        .nest("/v2", v2)
        .route("/health", get(|| async { "ok" }))
        // A run's events websocket; the URL itself authorises it (see `events`).
        .route("/events/{run_id}/{secret}", get(events::events))
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

/// The one user of this server, in the shape of Apify's `UserPrivateInfo`.
async fn openapi_json(State(p): State<Arc<Platform>>) -> Response {
    axum::Json(openapi::document(&p.config.public_url)).into_response()
}

async fn me(State(p): State<Arc<Platform>>) -> Response {
    let limits = &p.config.limits;
    views::data(json!({
        "id": p.config.user_id,
        "username": p.config.username,
        "profile": {},
        "email": null,
        "proxy": {"password": "", "groups": []},
        "plan": {
            "id": "wactor",
            "description": "A self-hosted wactor server",
            "isEnabled": true,
            "availableProxyGroups": {},
            "maxActorMemoryGbytes": limits.max_memory_mbytes as f64 / 1024.0,
            "maxConcurrentActorRuns": limits.max_concurrent_runs,
            "maxMonthlyUsageUsd": p.account_limits().ok().and_then(|l| l.max_monthly_usage_usd),
        },
        "isPaying": false,
    }))
}

/// `AccountLimits`: the month's cycle, the limits, and what is used of them.
async fn limits(State(p): State<Arc<Platform>>) -> Result<Response, error::ApiError> {
    let usage = p.monthly_usage(None)?;
    let total = usage.total();
    let used_usd: f64 = total.values().map(|i| i.amount_usd).sum();
    let cu = total.get(crate::platform::runs::COMPUTE_UNITS).map_or(0.0, |i| i.quantity);
    let own = p.account_limits()?;
    let l = &p.config.limits;
    let actors = p.list_actors()?.len();
    let tasks = p.list_tasks()?.len();
    let schedules = p.list_schedules()?.len();
    Ok(views::data(json!({
        "monthlyUsageCycle": {"startAt": crate::ids::format_ts(&usage.start_at), "endAt": crate::ids::format_ts(&usage.end_at)},
        "limits": {
            "maxMonthlyUsageUsd": own.max_monthly_usage_usd.unwrap_or(f64::MAX),
            "maxMonthlyActorComputeUnits": f64::MAX,
            "maxMonthlyExternalDataTransferGbytes": f64::MAX,
            "maxMonthlyProxySerps": 0,
            "maxMonthlyResidentialProxyGbytes": 0.0,
            "maxActorMemoryGbytes": l.max_memory_mbytes as f64 / 1024.0,
            "maxActorCount": u32::MAX,
            "maxActorTaskCount": u32::MAX,
            "maxConcurrentActorJobs": l.max_concurrent_runs,
            "maxTeamAccountSeatCount": 1,
            "dataRetentionDays": 0,
        },
        "current": {
            "monthlyUsageUsd": used_usd,
            "monthlyActorComputeUnits": cu,
            "monthlyExternalDataTransferGbytes": 0.0,
            "monthlyProxySerps": 0,
            "monthlyResidentialProxyGbytes": 0.0,
            "actorMemoryGbytes": p.active_memory_mbytes() as f64 / 1024.0,
            "actorCount": actors,
            "actorTaskCount": tasks,
            "activeActorJobCount": p.active.count(),
            "teamAccountSeatCount": 1,
            "scheduleCount": schedules,
        },
    })))
}

/// Sets `maxMonthlyUsageUsd` (enforced at every run start). Data retention
/// is not something this server does, so asking for it is refused, not ignored.
async fn set_limits(State(p): State<Arc<Platform>>, body: axum::body::Body) -> Result<axum::http::StatusCode, error::ApiError> {
    let v: serde_json::Value = actors::json_body(body, p.config.limits.max_request_bytes).await?;
    let obj = v.as_object().ok_or_else(|| error::ApiError::bad_request("invalid-value", "The limits must be a JSON object"))?;
    let mut own = p.account_limits()?;
    for (k, v) in obj {
        match k.as_str() {
            "maxMonthlyUsageUsd" => {
                own.max_monthly_usage_usd = match v {
                    serde_json::Value::Null => None,
                    v => Some(v.as_f64().ok_or_else(|| {
                        error::ApiError::bad_request("invalid-value", format!("maxMonthlyUsageUsd must be a number, not {v}"))
                    })?),
                }
            }
            "dataRetentionDays" => {
                return Err(error::ApiError::bad_request(
                    "invalid-value",
                    "dataRetentionDays is not supported: this server keeps storages until they are deleted",
                ))
            }
            other => return Err(error::ApiError::bad_request("invalid-value", format!("Unknown limit \"{other}\""))),
        }
    }
    p.set_account_limits(&own)?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// The month's usage in Apify's shape (`MonthlyUsage`); `?date=YYYY-MM-DD` picks the month.
async fn monthly_usage(State(p): State<Arc<Platform>>, q: params::Params) -> Result<Response, error::ApiError> {
    let date = match q.str("date") {
        Some(d) => Some(
            chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .map_err(|_| error::ApiError::bad_request("invalid-parameter", format!("date must be YYYY-MM-DD, not \"{d}\"")))?,
        ),
        None => None,
    };
    let usage = p.monthly_usage(date)?;
    let cu_price = p.config.compute_unit_price_usd;
    let items = |kinds: &std::collections::BTreeMap<&'static str, crate::platform::usage::UsageItem>| {
        kinds
            .iter()
            .map(|(kind, item)| {
                let unit_price = (*kind == crate::platform::runs::COMPUTE_UNITS).then_some(cu_price);
                let v = json!({"quantity": item.quantity, "baseAmountUsd": item.amount_usd,
                    "baseUnitPriceUsd": unit_price, "amountAfterVolumeDiscountUsd": item.amount_usd});
                (kind.to_string(), v)
            })
            .collect::<serde_json::Map<_, _>>()
    };
    let total = usage.total();
    let total_usd: f64 = total.values().map(|i| i.amount_usd).sum();
    let daily: Vec<serde_json::Value> = usage
        .daily
        .iter()
        .map(|(day, kinds)| {
            json!({
                "date": format!("{day}T00:00:00.000Z"),
                "serviceUsage": items(kinds),
                "totalUsageCreditsUsd": kinds.values().map(|i| i.amount_usd).sum::<f64>(),
            })
        })
        .collect();
    Ok(views::data(json!({
        "usageCycle": {"startAt": crate::ids::format_ts(&usage.start_at), "endAt": crate::ids::format_ts(&usage.end_at)},
        "monthlyServiceUsage": items(&total),
        "dailyServiceUsages": daily,
        "totalUsageCreditsUsdBeforeVolumeDiscount": total_usd,
        "totalUsageCreditsUsdAfterVolumeDiscount": total_usd,
    })))
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
