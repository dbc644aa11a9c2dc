//! `/v2/users/me`: the account, its limits and the month's usage, in the
//! shapes of Apify's `UserPrivateInfo`, `AccountLimits` and `MonthlyUsage`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::auth::Acting;
use super::error::{ApiError, ApiResult};
use super::params::Params;
use super::{actors, views};
use crate::platform::runs::COMPUTE_UNITS;
use crate::platform::usage::UsageItem;
use crate::platform::users::{ApiToken, TokenScopes, User};
use crate::platform::Platform;

type P = State<Arc<Platform>>;

pub fn routes() -> Router<Arc<Platform>> {
    Router::new()
        .route("/", get(list_users).post(create_user))
        .route("/{user}", axum::routing::delete(remove_user))
        .route("/{user}/quota", get(get_quota).put(set_quota))
        .route("/me/tokens", get(list_tokens).post(create_token))
        .route("/me/tokens/{token}", axum::routing::delete(revoke_token))
        .route("/me", get(me))
        .route("/me/usage/monthly", get(monthly_usage))
        .route("/me/limits", get(limits).put(set_limits))
}

/// The plan part of the user: what this server allows a run.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanView {
    pub id: &'static str,
    pub description: &'static str,
    pub is_enabled: bool,
    #[schema(value_type = Object)]
    pub available_proxy_groups: Value,
    pub max_actor_memory_gbytes: f64,
    pub max_concurrent_actor_runs: u32,
    pub max_monthly_usage_usd: Option<f64>,
}

/// The proxy part of the user: this server has no proxy, so it is empty.
#[derive(Serialize, ToSchema)]
pub struct ProxyView {
    pub password: &'static str,
    pub groups: Vec<String>,
}

/// `GET /users/me`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserView<'a> {
    pub id: &'a str,
    pub username: &'a str,
    #[schema(value_type = Object)]
    pub profile: Value,
    pub email: Option<String>,
    pub proxy: ProxyView,
    pub plan: PlanView,
    pub is_paying: bool,
}

async fn me(State(p): P, Acting(user): Acting) -> Response {
    let limits = &p.config.limits;
    views::raw_data(&UserView {
        id: &user.id,
        username: &user.username,
        profile: Value::Object(Default::default()),
        email: None,
        proxy: ProxyView { password: "", groups: Vec::new() },
        plan: PlanView {
            id: "wactor",
            description: "A self-hosted wactor server",
            is_enabled: true,
            available_proxy_groups: Value::Object(Default::default()),
            max_actor_memory_gbytes: limits.max_memory_mbytes as f64 / 1024.0,
            max_concurrent_actor_runs: limits.max_concurrent_runs,
            max_monthly_usage_usd: p.account_limits(&user.id).ok().and_then(|l| l.max_monthly_usage_usd),
        },
        is_paying: false,
    })
}

/// A month's start and last millisecond.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CycleView {
    #[serde(with = "crate::ids::ts")]
    pub start_at: DateTime<Utc>,
    #[serde(with = "crate::ids::ts")]
    pub end_at: DateTime<Utc>,
}

/// What the account may use; no limit is shown as the largest number.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LimitsOfAccount {
    pub max_monthly_usage_usd: f64,
    pub max_monthly_actor_compute_units: f64,
    pub max_monthly_external_data_transfer_gbytes: f64,
    pub max_monthly_proxy_serps: u64,
    pub max_monthly_residential_proxy_gbytes: f64,
    pub max_actor_memory_gbytes: f64,
    pub max_actor_count: u32,
    pub max_actor_task_count: u32,
    pub max_concurrent_actor_jobs: u32,
    pub max_team_account_seat_count: u32,
    pub data_retention_days: u32,
}

/// What the account uses now.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CurrentUse {
    pub monthly_usage_usd: f64,
    pub monthly_actor_compute_units: f64,
    pub monthly_external_data_transfer_gbytes: f64,
    pub monthly_proxy_serps: u64,
    pub monthly_residential_proxy_gbytes: f64,
    pub actor_memory_gbytes: f64,
    pub actor_count: usize,
    pub actor_task_count: usize,
    pub active_actor_job_count: usize,
    pub team_account_seat_count: u32,
    pub schedule_count: usize,
}

/// `GET /users/me/limits`: the month's cycle, the limits, and what is used of them.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LimitsView {
    pub monthly_usage_cycle: CycleView,
    pub limits: LimitsOfAccount,
    pub current: CurrentUse,
}

async fn limits(State(p): P, Acting(user): Acting) -> ApiResult<Response> {
    let usage = p.monthly_usage(&user.id, None)?;
    let total = usage.total();
    let own = p.account_limits(&user.id)?;
    let (active_runs, active_memory_mbytes) = p.active_load_of(&user.id);
    let l = &p.config.limits;
    Ok(views::raw_data(&LimitsView {
        monthly_usage_cycle: CycleView { start_at: usage.start_at, end_at: usage.end_at },
        limits: LimitsOfAccount {
            max_monthly_usage_usd: own.max_monthly_usage_usd.unwrap_or(f64::MAX),
            max_monthly_actor_compute_units: f64::MAX,
            max_monthly_external_data_transfer_gbytes: f64::MAX,
            max_monthly_proxy_serps: 0,
            max_monthly_residential_proxy_gbytes: 0.0,
            max_actor_memory_gbytes: l.max_memory_mbytes as f64 / 1024.0,
            max_actor_count: u32::MAX,
            max_actor_task_count: u32::MAX,
            max_concurrent_actor_jobs: l.max_concurrent_runs,
            max_team_account_seat_count: 1,
            data_retention_days: 0,
        },
        current: CurrentUse {
            monthly_usage_usd: total.values().map(|i| i.amount_usd).sum(),
            monthly_actor_compute_units: total.get(COMPUTE_UNITS).map_or(0.0, |i| i.quantity),
            monthly_external_data_transfer_gbytes: 0.0,
            monthly_proxy_serps: 0,
            monthly_residential_proxy_gbytes: 0.0,
            actor_memory_gbytes: active_memory_mbytes as f64 / 1024.0,
            actor_count: p.list_actors()?.iter().filter(|a| a.user_id == user.id).count(),
            actor_task_count: p.list_tasks()?.iter().filter(|t| t.user_id == user.id).count(),
            active_actor_job_count: active_runs as usize,
            team_account_seat_count: 1,
            schedule_count: p.list_schedules()?.iter().filter(|s| s.user_id == user.id).count(),
        },
    }))
}

/// Sets `maxMonthlyUsageUsd` (enforced at every run start). Data retention
/// is not something this server does, so asking for it is refused, not ignored.
async fn set_limits(State(p): P, Acting(user): Acting, body: Body) -> ApiResult<StatusCode> {
    let v: Value = actors::json_body(body, p.config.limits.max_request_bytes).await?;
    let obj = v.as_object().ok_or_else(|| ApiError::bad_request("invalid-value", "The limits must be a JSON object"))?;
    let mut own = p.account_limits(&user.id)?;
    for (k, v) in obj {
        match k.as_str() {
            "maxMonthlyUsageUsd" => {
                own.max_monthly_usage_usd =
                    match v {
                        Value::Null => None,
                        v => Some(v.as_f64().ok_or_else(|| {
                            ApiError::bad_request("invalid-value", format!("maxMonthlyUsageUsd must be a number, not {v}"))
                        })?),
                    }
            }
            "dataRetentionDays" => {
                return Err(ApiError::bad_request(
                    "invalid-value",
                    "dataRetentionDays is not supported: this server keeps storages until they are deleted",
                ))
            }
            other => return Err(ApiError::bad_request("invalid-value", format!("Unknown limit \"{other}\""))),
        }
    }
    p.set_account_limits(&user.id, &own)?;
    Ok(StatusCode::NO_CONTENT)
}

/// One kind of usage in a month or a day.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageItemView {
    pub quantity: f64,
    pub base_amount_usd: f64,
    /// Set for compute units, the one kind with a price per unit.
    pub base_unit_price_usd: Option<f64>,
    pub amount_after_volume_discount_usd: f64,
}

/// One day of the month's usage.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DailyUsageView {
    /// The day's midnight, UTC.
    pub date: String,
    pub service_usage: BTreeMap<String, UsageItemView>,
    pub total_usage_credits_usd: f64,
}

/// `GET /users/me/usage/monthly`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MonthlyUsageView {
    pub usage_cycle: CycleView,
    pub monthly_service_usage: BTreeMap<String, UsageItemView>,
    pub daily_service_usages: Vec<DailyUsageView>,
    pub total_usage_credits_usd_before_volume_discount: f64,
    pub total_usage_credits_usd_after_volume_discount: f64,
}

/// `?date=YYYY-MM-DD` picks the month.
async fn monthly_usage(State(p): P, Acting(user): Acting, q: Params) -> ApiResult<Response> {
    let date = match q.str("date") {
        Some(d) => Some(
            chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .map_err(|_| ApiError::bad_request("invalid-parameter", format!("date must be YYYY-MM-DD, not \"{d}\"")))?,
        ),
        None => None,
    };
    let usage = p.monthly_usage(&user.id, date)?;
    let cu_price = p.config.compute_unit_price_usd;
    let items = |kinds: &BTreeMap<&'static str, UsageItem>| {
        kinds
            .iter()
            .map(|(kind, item)| {
                let view = UsageItemView {
                    quantity: item.quantity,
                    base_amount_usd: item.amount_usd,
                    base_unit_price_usd: (*kind == COMPUTE_UNITS).then_some(cu_price),
                    amount_after_volume_discount_usd: item.amount_usd,
                };
                (kind.to_string(), view)
            })
            .collect::<BTreeMap<_, _>>()
    };
    let total = usage.total();
    let total_usd: f64 = total.values().map(|i| i.amount_usd).sum();
    let daily_service_usages = usage
        .daily
        .iter()
        .map(|(day, kinds)| DailyUsageView {
            date: format!("{day}T00:00:00.000Z"),
            service_usage: items(kinds),
            total_usage_credits_usd: kinds.values().map(|i| i.amount_usd).sum(),
        })
        .collect();
    Ok(views::raw_data(&MonthlyUsageView {
        usage_cycle: CycleView { start_at: usage.start_at, end_at: usage.end_at },
        monthly_service_usage: items(&total),
        daily_service_usages,
        total_usage_credits_usd_before_volume_discount: total_usd,
        total_usage_credits_usd_after_volume_discount: total_usd,
    }))
}

/// `POST /users`'s body.
#[derive(serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    #[schema(pattern = "^[a-z0-9][a-z0-9._-]{2,29}$")]
    pub username: String,
}

/// A user as `POST /users` answers: with their first token, shown this once.
#[derive(Serialize, ToSchema)]
pub struct NewUserView<'a> {
    #[serde(flatten)]
    pub user: &'a User,
    pub token: &'a str,
}

async fn list_users(State(p): P, q: Params) -> ApiResult<Response> {
    let page = q.page(p.config.limits.max_list_limit)?;
    Ok(views::paginated(p.list_users()?.iter().map(views::to_value).collect(), &page))
}

async fn create_user(State(p): P, body: Body) -> ApiResult<Response> {
    let req: NewUser = actors::json_body(body, p.config.limits.max_request_bytes).await?;
    let (user, _, secret) = p.create_user(&req.username)?;
    Ok(views::raw_created(&NewUserView { user: &user, token: &secret }))
}

async fn remove_user(State(p): P, axum::extract::Path(user): axum::extract::Path<String>) -> ApiResult<StatusCode> {
    p.remove_user(&user)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /users/me/tokens`'s body.
#[derive(serde::Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewToken {
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub scopes: Option<TokenScopes>,
}

/// A token as `POST /users/me/tokens` answers: with its secret, shown this once.
#[derive(Serialize, ToSchema)]
pub struct NewTokenView<'a> {
    #[serde(flatten)]
    pub token: &'a ApiToken,
    /// The secret: shown once, stored only as its digest.
    #[serde(rename = "token")]
    pub secret: &'a str,
}

async fn list_tokens(State(p): P, Acting(user): Acting, q: Params) -> ApiResult<Response> {
    let page = q.page(p.config.limits.max_list_limit)?;
    Ok(views::paginated(p.list_tokens(&user.id)?.iter().map(views::to_value).collect(), &page))
}

async fn create_token(State(p): P, Acting(user): Acting, body: Body) -> ApiResult<Response> {
    let req: NewToken = actors::json_body(body, p.config.limits.max_request_bytes).await?;
    let (token, secret) = p.create_token(&user, &req.name, req.expires_at, req.scopes.unwrap_or_default())?;
    Ok(views::raw_created(&NewTokenView { token: &token, secret: &secret }))
}

async fn revoke_token(State(p): P, Acting(user): Acting, axum::extract::Path(token): axum::extract::Path<String>) -> ApiResult<StatusCode> {
    p.revoke_token(&user.id, &token)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /users/{user}/quota` (`me` for the caller's own): the quota in force and what is used of it.
async fn get_quota(State(p): P, Acting(caller): Acting, Path(user): Path<String>) -> ApiResult<Response> {
    let user = if user == "me" { caller.id } else { user };
    Ok(views::raw_data(&p.quota_view(&user)?))
}

/// `PUT /users/{user}/quota` (admin): `{"maxConcurrentRuns", "maxTotalMemoryMbytes", "maxStandbyRuns"}`;
/// a field left out takes the server's default.
async fn set_quota(State(p): P, Acting(caller): Acting, Path(user): Path<String>, body: axum::body::Body) -> ApiResult<Response> {
    let user = if user == "me" { caller.id } else { user };
    let quota: crate::limits::Quota = super::actors::json_body(body, p.config.limits.max_request_bytes).await?;
    p.set_quota(&user, quota)?;
    Ok(views::raw_data(&p.quota_view(&user)?))
}
