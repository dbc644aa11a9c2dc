//! `/v2/key-value-stores`: stores, keys, records (raw bodies, stored content types).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use serde_json::json;

use super::body::{content_type, read_body};
use super::error::{ApiError, ApiResult};
use super::params::Params;
use super::views;
use crate::platform::Platform;

type P = State<Arc<Platform>>;

pub fn routes() -> Router<Arc<Platform>> {
    Router::new()
        .route("/", get(list).post(get_or_create))
        .route("/{store}", get(get_one).put(update).delete(delete))
        .route("/{store}/keys", get(keys))
        .route("/{store}/records/{key}", get(get_record).put(set_record).post(set_record).delete(delete_record))
}

async fn list(State(p): P, q: Params) -> ApiResult<Response> {
    let page = q.page(p.config.limits.max_list_limit)?;
    let stores = p.kv.list(q.flag("unnamed")?)?;
    Ok(views::paginated(stores.iter().map(|s| views::kv_store_list_item(&p, s)).collect(), &page))
}

/// Named: get-or-create (200 if it existed, 201 if created). Unnamed: a new store.
async fn get_or_create(State(p): P, q: Params) -> ApiResult<Response> {
    match q.str("name") {
        Some(name) => {
            let (store, created) = p.kv.get_or_create_named(name)?;
            let v = views::kv_store(&p, &store);
            Ok(if created { views::created(v) } else { views::data(v) })
        }
        None => Ok(views::created(views::kv_store(&p, &p.kv.create(None, None)?))),
    }
}

async fn get_one(State(p): P, Path(store): Path<String>) -> ApiResult<Response> {
    Ok(views::data(views::kv_store(&p, &p.kv.get(&store)?)))
}

#[derive(Deserialize)]
struct StoreUpdate {
    name: Option<String>,
}

async fn update(State(p): P, Path(store): Path<String>, body: Body) -> ApiResult<Response> {
    let upd: StoreUpdate = super::actors::json_body(body, p.config.limits.max_request_bytes).await?;
    let meta = match upd.name {
        Some(name) => p.kv.rename(&store, Some(&name).filter(|n| !n.is_empty()).map(String::as_str))?,
        None => p.kv.get(&store)?,
    };
    Ok(views::data(views::kv_store(&p, &meta)))
}

async fn delete(State(p): P, Path(store): Path<String>) -> ApiResult<StatusCode> {
    p.kv.delete(&store)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn keys(State(p): P, Path(store): Path<String>, q: Params) -> ApiResult<Response> {
    let id = p.kv.get(&store)?.info.id;
    keys_response(&p, &id, &q)
}

pub(super) fn keys_response(p: &Platform, store_id: &str, q: &Params) -> ApiResult<Response> {
    let max = p.config.limits.max_keys_per_page;
    let limit = q.u64("limit")?.map(|l| (l as usize).clamp(1, max)).unwrap_or(max);
    let page = p.kv.list_keys(store_id, q.str("exclusiveStartKey"), limit, q.str("prefix"))?;
    let base = &p.config.public_url;
    let items: Vec<_> = page
        .items
        .iter()
        .map(|k| json!({"key": k.key, "size": k.size, "recordPublicUrl": format!("{base}/v2/key-value-stores/{store_id}/records/{}", k.key)}))
        .collect();
    Ok(views::data(json!({
        "items": items,
        "count": items.len(),
        "limit": page.limit,
        "exclusiveStartKey": page.exclusive_start_key,
        "isTruncated": page.is_truncated,
        "nextExclusiveStartKey": page.next_exclusive_start_key,
    })))
}

async fn get_record(State(p): P, Path((store, key)): Path<(String, String)>, q: Params) -> ApiResult<Response> {
    let id = p.kv.get(&store)?.info.id;
    record_response(&p, &id, &key, &q)
}

/// The record's raw bytes with its stored content type (HEAD: headers only).
pub(super) fn record_response(p: &Platform, store_id: &str, key: &str, q: &Params) -> ApiResult<Response> {
    let record = p.kv.get_record(store_id, key)?.ok_or_else(|| ApiError::not_found(format!("Record \"{key}\" was not found")))?;
    let mut resp = (StatusCode::OK, record.value).into_response();
    let ct = HeaderValue::from_str(&record.content_type).unwrap_or(HeaderValue::from_static("application/octet-stream"));
    resp.headers_mut().insert(header::CONTENT_TYPE, ct);
    if q.flag("attachment")? {
        if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{key}\"")) {
            resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
        }
    }
    Ok(resp)
}

async fn set_record(State(p): P, Path((store, key)): Path<(String, String)>, headers: HeaderMap, body: Body) -> ApiResult<Response> {
    let id = p.kv.get(&store)?.info.id;
    put_record(&p, &id, &key, &headers, body).await
}

/// Stores the decoded body under `key` with the request's content type.
pub(super) async fn put_record(p: &Platform, store_id: &str, key: &str, headers: &HeaderMap, body: Body) -> ApiResult<Response> {
    crate::platform::storage::kv::validate_key(key)?;
    let max = p.config.limits.max_record_bytes;
    let bytes = read_body(body, max + 1).await.map_err(|e| {
        if e.status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "record-too-large", format!("The record is over the limit of {max} bytes"))
        } else {
            e
        }
    })?;
    let ct = content_type(headers, "application/octet-stream");
    p.kv.set_record(store_id, key, &bytes, &ct, max)?;
    Ok((StatusCode::CREATED, axum::Json(json!({}))).into_response())
}

async fn delete_record(State(p): P, Path((store, key)): Path<(String, String)>) -> ApiResult<StatusCode> {
    let id = p.kv.get(&store)?.info.id;
    p.kv.delete_record(&id, &key)?;
    Ok(StatusCode::NO_CONTENT)
}
