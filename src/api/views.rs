//! JSON shapes the clients validate: the stored records plus computed fields
//! (console and public URLs, storage IDs), inside `{"data": ...}` envelopes.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::{json, Value};

use chrono::{DateTime, Utc};
use serde_json::Map;
use utoipa::ToSchema;

use super::params::Page;
use crate::ids::ts;
use crate::platform::actors::{Actor, ActorStats, Build, BuildMeta, BuildStatus};
use crate::platform::runs::{GeneralAccess, Run, RunMeta, RunStatus};
use crate::platform::storage::catalog::StorageInfo;
use crate::platform::storage::dataset::DatasetMeta;
use crate::platform::storage::kv::KvStoreMeta;
use crate::platform::storage::queue::QueueMeta;
use crate::platform::tasks::{Task, TaskStats};
use crate::platform::Platform;

pub fn to_value<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// `{"data": v}` with 200.
pub fn data(v: Value) -> Response {
    Json(json!({ "data": v })).into_response()
}

/// `{"data": v}` of anything serialisable, without building a `Value` first.
pub fn raw_data<T: serde::Serialize>(v: &T) -> Response {
    #[derive(serde::Serialize)]
    struct Envelope<'a, T> {
        data: &'a T,
    }
    Json(Envelope { data: v }).into_response()
}

/// `{"data": v}` with 201.
pub fn created(v: Value) -> Response {
    (StatusCode::CREATED, Json(json!({ "data": v }))).into_response()
}

/// `{"data": v}` of anything serialisable, with 201.
pub fn raw_created<T: serde::Serialize>(v: &T) -> Response {
    let mut resp = raw_data(v);
    *resp.status_mut() = StatusCode::CREATED;
    resp
}

/// An offset-paginated list: `{total, offset, limit, count, desc, items}`.
pub fn paginated(mut all: Vec<Value>, page: &Page) -> Response {
    let total = all.len();
    if page.desc {
        all.reverse();
    }
    let items: Vec<Value> = all.into_iter().skip(page.offset).take(page.limit).collect();
    data(json!({
        "total": total,
        "offset": page.offset,
        "limit": page.limit,
        "count": items.len(),
        "desc": page.desc,
        "items": items,
    }))
}

/// An Actor as `GET /actors/{id}` shows it: the record plus its Standby URL.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActorView<'a> {
    #[serde(flatten)]
    pub actor: &'a Actor,
    /// Null when Standby is off for the Actor.
    pub standby_url: Option<String>,
}

pub fn actor(p: &Platform, a: &Actor) -> Value {
    let standby = matches!(p.standby_settings(a), Ok(Some(_)));
    masked(to_value(&ActorView { actor: a, standby_url: standby.then(|| p.standby_url(&a.username, &a.name)) }))
}

/// A view with every sealed secret in it shown as the mask.
fn masked(mut v: Value) -> Value {
    crate::platform::secrets::mask(&mut v);
    v
}

/// An Actor in a list (`ActorListItem`).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActorShort<'a> {
    pub id: &'a str,
    #[serde(with = "ts")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "ts")]
    pub modified_at: DateTime<Utc>,
    pub name: &'a str,
    pub username: &'a str,
    pub title: Option<&'a str>,
    pub stats: &'a ActorStats,
}

pub fn actor_short(a: &Actor) -> Value {
    to_value(&ActorShort {
        id: &a.id,
        created_at: a.created_at,
        modified_at: a.modified_at,
        name: &a.name,
        username: &a.username,
        title: a.title.as_deref(),
        stats: &a.stats,
    })
}

pub fn build(b: &Build) -> Value {
    masked(to_value(b))
}

/// A build in a list (`BuildListItem`).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BuildShort<'a> {
    pub id: &'a str,
    pub act_id: &'a str,
    pub user_id: &'a str,
    pub status: BuildStatus,
    #[serde(with = "ts")]
    pub started_at: DateTime<Utc>,
    #[serde(with = "ts::option")]
    pub finished_at: Option<DateTime<Utc>>,
    pub usage_total_usd: f64,
    pub build_number: &'a str,
    /// The build number as one integer that sorts like it (`1.2.3` is `100020003`).
    pub build_number_int: u64,
    pub meta: &'a BuildMeta,
}

pub fn build_short(b: &Build) -> Value {
    let number_int =
        b.build_number.split('.').filter_map(|n| n.parse::<u64>().ok()).fold(0u64, |acc, n| acc.saturating_mul(10_000).saturating_add(n));
    to_value(&BuildShort {
        id: &b.id,
        act_id: &b.act_id,
        user_id: &b.user_id,
        status: b.status,
        started_at: b.started_at,
        finished_at: b.finished_at,
        usage_total_usd: 0.0,
        build_number: &b.build_number,
        build_number_int: number_int,
        meta: &b.meta,
    })
}

pub fn run(p: &Platform, r: &Run) -> Value {
    p.run_view(r)
}

/// A run in a list (`ActorRunListItem`).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunShort<'a> {
    pub id: &'a str,
    pub act_id: &'a str,
    pub user_id: &'a str,
    pub actor_task_id: Option<&'a str>,
    pub status: RunStatus,
    #[serde(with = "ts")]
    pub started_at: DateTime<Utc>,
    #[serde(with = "ts::option")]
    pub finished_at: Option<DateTime<Utc>>,
    pub build_id: &'a str,
    pub build_number: &'a str,
    pub meta: &'a RunMeta,
    pub usage_total_usd: f64,
    pub default_key_value_store_id: &'a str,
    pub default_dataset_id: &'a str,
    pub default_request_queue_id: &'a str,
}

pub fn run_short(r: &Run) -> Value {
    to_value(&RunShort {
        id: &r.id,
        act_id: &r.act_id,
        user_id: &r.user_id,
        actor_task_id: r.actor_task_id.as_deref(),
        status: r.status,
        started_at: r.started_at,
        finished_at: r.finished_at,
        build_id: &r.build_id,
        build_number: &r.build_number,
        meta: &r.meta,
        usage_total_usd: r.usage_total_usd,
        default_key_value_store_id: &r.default_key_value_store_id,
        default_dataset_id: &r.default_dataset_id,
        default_request_queue_id: &r.default_request_queue_id,
    })
}

/// What every storage view adds to the stored metadata.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageLinks {
    pub console_url: String,
    /// As set on the storage, else `FOLLOW_USER_SETTING` (restricted).
    pub general_access: GeneralAccess,
    /// Kept for the clients' models; wactor reports no storage stats yet.
    pub stats: Map<String, Value>,
}

impl StorageLinks {
    fn new(p: &Platform, kind: &str, info: &StorageInfo) -> StorageLinks {
        StorageLinks {
            console_url: format!("{}/storage/{kind}/{}", p.config.public_url, info.id),
            general_access: info.general_access.unwrap_or(GeneralAccess::FollowUserSetting),
            stats: Map::new(),
        }
    }
}

/// A key-value store as the API shows it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KvStoreView<'a> {
    #[serde(flatten)]
    pub store: &'a KvStoreMeta,
    #[serde(flatten)]
    pub links: StorageLinks,
    pub keys_public_url: String,
    pub records_public_url: String,
}

pub fn kv_store(p: &Platform, s: &KvStoreMeta) -> Value {
    let base = &p.config.public_url;
    to_value(&KvStoreView {
        store: s,
        links: StorageLinks::new(p, "key-value-stores", &s.info),
        keys_public_url: format!("{base}/v2/key-value-stores/{}/keys", s.info.id),
        records_public_url: format!("{base}/v2/key-value-stores/{}/records", s.info.id),
    })
}

/// A request queue as the API shows it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueueView<'a> {
    #[serde(flatten)]
    pub queue: &'a QueueMeta,
    #[serde(flatten)]
    pub links: StorageLinks,
}

pub fn request_queue(p: &Platform, q: &QueueMeta) -> Value {
    to_value(&QueueView { queue: q, links: StorageLinks::new(p, "request-queues", &q.info) })
}

/// A dataset as the API shows it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatasetView<'a> {
    #[serde(flatten)]
    pub dataset: &'a DatasetMeta,
    #[serde(flatten)]
    pub links: StorageLinks,
    /// Items that are not empty objects.
    pub clean_item_count: u64,
    pub items_public_url: String,
}

pub fn dataset(p: &Platform, d: &DatasetMeta) -> Value {
    to_value(&DatasetView {
        dataset: d,
        links: StorageLinks::new(p, "datasets", &d.info),
        clean_item_count: d.clean_item_count(),
        items_public_url: format!("{}/v2/datasets/{}/items", p.config.public_url, d.info.id),
    })
}

/// A task as stored (options, input, stats).
pub fn task(_p: &Platform, t: &Task) -> Value {
    masked(to_value(t))
}

/// A task in a list (`TaskListItem`): with its Actor's name.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskShort<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub act_id: &'a str,
    pub name: &'a str,
    pub username: &'a str,
    pub act_name: Option<String>,
    pub act_username: Option<String>,
    pub title: Option<&'a str>,
    #[serde(with = "ts")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "ts")]
    pub modified_at: DateTime<Utc>,
    pub stats: &'a TaskStats,
}

pub fn task_short(p: &Platform, t: &Task) -> Value {
    let actor = p.get_actor(&t.act_id).ok();
    to_value(&TaskShort {
        id: &t.id,
        user_id: &t.user_id,
        act_id: &t.act_id,
        name: &t.name,
        username: &t.username,
        act_name: actor.as_ref().map(|a| a.name.clone()),
        act_username: actor.as_ref().map(|a| a.username.clone()),
        title: t.title.as_deref(),
        created_at: t.created_at,
        modified_at: t.modified_at,
        stats: &t.stats,
    })
}

/// A schedule as clients see it (the timer's own bookkeeping left out).
pub fn schedule(s: &crate::platform::schedules::Schedule) -> Value {
    let mut v = to_value(s);
    if let Some(o) = v.as_object_mut() {
        o.remove("pendingFiring");
        o.remove("lastRuns");
    }
    v
}
