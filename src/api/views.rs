//! JSON shapes the clients validate: the stored records plus computed fields
//! (console and public URLs, storage IDs), inside `{"data": ...}` envelopes.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::{json, Value};

use super::params::Page;
use crate::platform::actors::{Actor, Build};
use crate::platform::runs::Run;
use crate::platform::storage::dataset::DatasetMeta;
use crate::platform::storage::kv::KvStoreMeta;
use crate::platform::storage::queue::QueueMeta;
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

/// An Actor with its `standbyUrl` (null when Standby is off for it).
pub fn actor(p: &Platform, a: &Actor) -> Value {
    let mut v = to_value(a);
    let standby = matches!(p.standby_settings(a), Ok(Some(_)));
    v["standbyUrl"] = if standby { Value::String(p.standby_url(&a.name)) } else { Value::Null };
    v
}

pub fn actor_short(a: &Actor) -> Value {
    json!({
        "id": a.id,
        "createdAt": crate::ids::format_ts(&a.created_at),
        "modifiedAt": crate::ids::format_ts(&a.modified_at),
        "name": a.name,
        "username": a.username,
        "title": a.title,
        "stats": to_value(&a.stats),
    })
}

pub fn build(b: &Build) -> Value {
    to_value(b)
}

/// A build in a list (`BuildListItem`).
pub fn build_short(b: &Build) -> Value {
    let number_int = b.build_number.split('.').filter_map(|n| n.parse::<u64>().ok()).fold(0u64, |acc, n| acc * 10_000 + n);
    json!({
        "id": b.id, "actId": b.act_id, "userId": b.user_id, "status": b.status,
        "startedAt": crate::ids::format_ts(&b.started_at), "finishedAt": b.finished_at.as_ref().map(crate::ids::format_ts),
        "usageTotalUsd": 0.0, "buildNumber": b.build_number, "buildNumberInt": number_int, "meta": to_value(&b.meta),
    })
}

pub fn run(p: &Platform, r: &Run) -> Value {
    p.run_view(r)
}

pub fn run_short(r: &Run) -> Value {
    json!({
        "id": r.id,
        "actId": r.act_id,
        "userId": r.user_id,
        "actorTaskId": r.actor_task_id,
        "status": r.status,
        "startedAt": crate::ids::format_ts(&r.started_at),
        "finishedAt": r.finished_at.as_ref().map(crate::ids::format_ts),
        "buildId": r.build_id,
        "buildNumber": r.build_number,
        "meta": to_value(&r.meta),
        "usageTotalUsd": r.usage_total_usd,
        "defaultKeyValueStoreId": r.default_key_value_store_id,
        "defaultDatasetId": r.default_dataset_id,
        "defaultRequestQueueId": r.default_request_queue_id,
    })
}

/// A storage's `generalAccess`: as set, else the user's setting (restricted).
fn general_access(info: &crate::platform::storage::catalog::StorageInfo) -> Value {
    info.general_access.map_or(json!("FOLLOW_USER_SETTING"), |a| to_value(&a))
}

pub fn kv_store(p: &Platform, s: &KvStoreMeta) -> Value {
    let base = &p.config.public_url;
    let mut v = to_value(s);
    v["consoleUrl"] = json!(format!("{base}/storage/key-value-stores/{}", s.info.id));
    v["keysPublicUrl"] = json!(format!("{base}/v2/key-value-stores/{}/keys", s.info.id));
    v["recordsPublicUrl"] = json!(format!("{base}/v2/key-value-stores/{}/records", s.info.id));
    v["generalAccess"] = general_access(&s.info);
    v["stats"] = json!({});
    v
}

pub fn request_queue(p: &Platform, q: &QueueMeta) -> Value {
    let mut v = to_value(q);
    v["consoleUrl"] = json!(format!("{}/storage/request-queues/{}", p.config.public_url, q.info.id));
    v["generalAccess"] = general_access(&q.info);
    v["stats"] = json!({});
    v
}

pub fn dataset(p: &Platform, d: &DatasetMeta) -> Value {
    let base = &p.config.public_url;
    let mut v = to_value(d);
    v["cleanItemCount"] = json!(d.clean_item_count());
    v["consoleUrl"] = json!(format!("{base}/storage/datasets/{}", d.info.id));
    v["itemsPublicUrl"] = json!(format!("{base}/v2/datasets/{}/items", d.info.id));
    v["generalAccess"] = general_access(&d.info);
    v["stats"] = json!({});
    v
}

/// A task as stored (options, input, stats).
pub fn task(_p: &Platform, t: &crate::platform::tasks::Task) -> Value {
    to_value(t)
}

/// A task in a list (`TaskListItem`): with its Actor's name.
pub fn task_short(p: &Platform, t: &crate::platform::tasks::Task) -> Value {
    let actor = p.get_actor(&t.act_id).ok();
    json!({
        "id": t.id, "userId": t.user_id, "actId": t.act_id, "name": t.name, "username": t.username,
        "actName": actor.as_ref().map(|a| a.name.clone()), "actUsername": actor.as_ref().map(|a| a.username.clone()),
        "title": t.title, "createdAt": crate::ids::format_ts(&t.created_at), "modifiedAt": crate::ids::format_ts(&t.modified_at),
        "stats": t.stats,
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
