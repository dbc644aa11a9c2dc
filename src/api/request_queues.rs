//! `/v2/request-queues` (and a run's `/request-queue`): requests with
//! `uniqueKey` deduplication, `forefront`, head, locks by `clientKey`.
//! The handlers take the queue from `{id}` or, under a run, from the run's
//! default queue, so both route sets share them.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::Router;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use super::body::read_body;
use super::error::{ApiError, ApiResult};
use super::params::Params;
use super::storages::{self, StorageApi};
use super::views;
use crate::platform::storage::catalog::Catalog;
use crate::platform::storage::queue::{Head, ListFilter, Processed, QueueMeta, MAX_BATCH_REQUESTS, MAX_HEAD_LIMIT, MAX_LOCK_LIMIT};
use crate::platform::Platform;

type P = State<Arc<Platform>>;
type Ids = Path<HashMap<String, String>>;

pub struct QueueApi;

impl StorageApi for QueueApi {
    type Meta = QueueMeta;
    const KIND: crate::platform::access::StorageKind = crate::platform::access::StorageKind::RequestQueue;
    fn catalog(p: &Platform) -> &Catalog<QueueMeta> {
        &p.queues
    }
    fn view(p: &Platform, meta: &QueueMeta) -> Value {
        views::request_queue(p, meta)
    }
    fn delete(p: &Platform, reference: &str) -> crate::platform::error::Result<()> {
        p.queues.delete(reference)
    }
}

pub fn routes() -> Router<Arc<Platform>> {
    storages::collection_routes::<QueueApi>().merge(content_routes("/{id}"))
}

/// Everything inside one queue, under `base` (`/{id}` or a run's `/{run}/request-queue`).
pub fn content_routes(base: &str) -> Router<Arc<Platform>> {
    Router::new()
        .route(&format!("{base}/head"), get(head))
        .route(&format!("{base}/head/lock"), post(lock_head))
        .route(&format!("{base}/requests"), get(list_requests).post(add_request))
        .route(&format!("{base}/requests/batch"), post(batch_add).delete(batch_delete))
        .route(&format!("{base}/requests/unlock"), post(unlock_all))
        .route(&format!("{base}/requests/{{request}}"), get(get_request).put(update_request).delete(delete_request))
        .route(&format!("{base}/requests/{{request}}/lock"), put(prolong_lock).delete(delete_lock))
}

/// The queue a request is about: `{id}`, or the default queue of `{run}`.
fn queue_id(p: &Platform, ids: &HashMap<String, String>) -> ApiResult<String> {
    match (ids.get("id"), ids.get("run")) {
        (Some(reference), _) => Ok(p.queues.get(reference)?.info.id),
        (None, Some(run)) => Ok(p.get_run(run)?.default_request_queue_id),
        (None, None) => Err(ApiError::not_found("No request queue in the path")),
    }
}

/// `clientKey` (at most 32 characters, as the SDKs send it); none is a client of its own.
fn client_key(q: &Params) -> ApiResult<String> {
    let key = q.str("clientKey").unwrap_or_default();
    if key.len() > 32 {
        return Err(ApiError::bad_request("invalid-client-key", "clientKey must be at most 32 characters"));
    }
    Ok(key.to_owned())
}

fn limit(q: &Params, default: u64) -> ApiResult<usize> {
    Ok(q.u64("limit")?.unwrap_or(default).clamp(1, MAX_HEAD_LIMIT as u64) as usize)
}

fn lock_secs(q: &Params) -> ApiResult<u64> {
    q.u64("lockSecs")?.ok_or_else(|| ApiError::bad_request("invalid-parameter", "Query parameter \"lockSecs\" is required"))
}

async fn json(p: &Platform, body: Body) -> ApiResult<Value> {
    let bytes = read_body(body, p.config.limits.max_push_bytes).await?;
    serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_request("invalid-value", format!("The body is not valid JSON: {e}")))
}

fn object(v: Value, what: &str) -> ApiResult<Map<String, Value>> {
    match v {
        Value::Object(m) => Ok(m),
        _ => Err(ApiError::bad_request("invalid-value", format!("{what} must be a JSON object"))),
    }
}

/// What an add or an update did (`RequestQueueOperationInfo`); in a batch
/// answer it also names the request's `uniqueKey`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProcessedView<'a> {
    pub request_id: &'a str,
    pub was_already_present: bool,
    pub was_already_handled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unique_key: Option<&'a str>,
}

impl<'a> ProcessedView<'a> {
    fn of(r: &'a Processed) -> Self {
        ProcessedView {
            request_id: &r.request_id,
            was_already_present: r.was_already_present,
            was_already_handled: r.was_already_handled,
            unique_key: None,
        }
    }
}

/// A request at the queue's head.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HeadItemView<'a> {
    pub id: &'a str,
    pub unique_key: &'a str,
    pub url: &'a str,
    pub method: &'a str,
    pub retry_count: u64,
    /// Only for a request locked by this call.
    #[serde(with = "crate::ids::ts::option", skip_serializing_if = "Option::is_none")]
    pub lock_expires_at: Option<DateTime<Utc>>,
}

/// `GET …/head` and, with the lock fields, `POST …/head/lock`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HeadView<'a> {
    pub limit: usize,
    #[serde(with = "crate::ids::ts")]
    pub queue_modified_at: DateTime<Utc>,
    pub had_multiple_clients: bool,
    pub items: Vec<HeadItemView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_has_locked_requests: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_key: Option<&'a str>,
}

fn head_view<'a>(head: &'a Head, limit: usize, lock_secs: Option<u64>, client: &'a str) -> HeadView<'a> {
    let items = head
        .items
        .iter()
        .map(|i| HeadItemView {
            id: &i.id,
            unique_key: &i.unique_key,
            url: &i.url,
            method: &i.method,
            retry_count: i.retry_count,
            lock_expires_at: i.lock_expires_at,
        })
        .collect();
    let locked = lock_secs.is_some();
    HeadView {
        limit,
        queue_modified_at: head.queue_modified_at,
        had_multiple_clients: head.had_multiple_clients,
        items,
        lock_secs,
        queue_has_locked_requests: locked.then_some(head.queue_has_locked_requests),
        client_key: locked.then_some(client),
    }
}

/// A stored request as the queue keeps it: the fields the queue reads, and
/// whatever else the client sent (`userData`, `headers`, ...), kept as sent.
#[derive(ToSchema)]
#[schema(as = Request, rename_all = "camelCase")]
#[allow(dead_code)] // a schema of the stored JSON object, never built in Rust
pub struct RequestSchema {
    id: String,
    unique_key: String,
    url: String,
    method: String,
    retry_count: Option<u64>,
    /// Null until the request is handled.
    handled_at: Option<String>,
    #[schema(value_type = Option<Object>)]
    user_data: Option<Value>,
}

/// A request that a batch did not process, as the client sent it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnprocessedView {
    pub unique_key: Option<Value>,
    pub url: Option<Value>,
    pub method: Value,
}

/// `POST …/requests/batch`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchAddView<'a> {
    pub processed_requests: Vec<ProcessedView<'a>>,
    pub unprocessed_requests: Vec<UnprocessedView>,
}

/// `DELETE …/requests/batch`: the requests as they were sent.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchDeleteView<'a> {
    #[schema(value_type = Vec<Object>)]
    pub processed_requests: Vec<Value>,
    #[schema(value_type = Vec<Object>)]
    pub unprocessed_requests: Vec<&'a RawValue>,
}

/// `PUT …/requests/{request}/lock`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LockView {
    #[serde(with = "crate::ids::ts")]
    pub lock_expires_at: DateTime<Utc>,
}

/// `POST …/requests/unlock`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnlockView {
    pub unlocked_count: u64,
}

/// `GET …/requests`: a page by cursor.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestsPageView<'a> {
    #[schema(value_type = Vec<RequestSchema>)]
    pub items: Vec<Map<String, Value>>,
    pub limit: usize,
    pub next_cursor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<&'a str>,
    /// The same as `cursor`, under the older name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exclusive_start_id: Option<&'a str>,
}

async fn head(State(p): P, Path(ids): Ids, q: Params) -> ApiResult<Response> {
    let id = queue_id(&p, &ids)?;
    let (limit, client) = (limit(&q, 100)?, client_key(&q)?);
    Ok(views::raw_data(&head_view(&p.queues.head(&id, limit, &client)?, limit, None, &client)))
}

async fn lock_head(State(p): P, Path(ids): Ids, q: Params) -> ApiResult<Response> {
    let id = queue_id(&p, &ids)?;
    let (limit, secs, client) = (limit(&q, 25)?.min(MAX_LOCK_LIMIT), lock_secs(&q)?, client_key(&q)?);
    let head = p.queues.lock_head(&id, limit, secs, &client)?;
    Ok(views::raw_created(&head_view(&head, limit, Some(secs), &client)))
}

async fn add_request(State(p): P, Path(ids): Ids, q: Params, body: Body) -> ApiResult<Response> {
    let id = queue_id(&p, &ids)?;
    // One byte past the cap, so the queue's own check gives the verdict.
    let bytes = read_body(body, p.config.limits.max_push_bytes + 1).await?;
    let processed = p.queues.add_json(&id, &bytes, q.flag("forefront")?, &client_key(&q)?)?;
    Ok(views::raw_created(&ProcessedView::of(&processed)))
}

/// A batch body: a JSON array, split without parsing its elements. The
/// first `MAX_BATCH_REQUESTS` are processed; the rest are only looked at for
/// what the answer reports, so a 9 MB body never becomes a tree of values.
async fn batch_body(p: &Platform, body: Body, what: &str) -> ApiResult<Vec<Box<RawValue>>> {
    let bytes = read_body(body, p.config.limits.max_push_bytes).await?;
    serde_json::from_slice::<Vec<Box<RawValue>>>(&bytes)
        .map_err(|e| ApiError::bad_request("invalid-value", format!("The body must be a JSON array of {what}: {e}")))
}

/// What the answer says of a request left unprocessed.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Unprocessed {
    unique_key: Option<Value>,
    url: Option<Value>,
    method: Option<Value>,
}

impl Unprocessed {
    fn view(self) -> UnprocessedView {
        UnprocessedView { unique_key: self.unique_key.or(self.url.clone()), url: self.url, method: self.method.unwrap_or(json!("GET")) }
    }
}

fn unprocessed_view(raw: &RawValue) -> ApiResult<UnprocessedView> {
    let r: Unprocessed =
        serde_json::from_str(raw.get()).map_err(|_| ApiError::bad_request("invalid-value", "Each request must be a JSON object"))?;
    Ok(r.view())
}

async fn batch_add(State(p): P, Path(ids): Ids, q: Params, body: Body) -> ApiResult<Response> {
    let id = queue_id(&p, &ids)?;
    let mut items = batch_body(&p, body, "requests").await?;
    let rest = items.split_off(items.len().min(MAX_BATCH_REQUESTS));
    let requests = items
        .iter()
        .map(|raw| {
            serde_json::from_str::<Value>(raw.get())
                .map_err(|e| ApiError::bad_request("invalid-value", e.to_string()))
                .and_then(|v| object(v, "Each request"))
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let rest = rest.iter().map(|raw| unprocessed_view(raw)).collect::<ApiResult<Vec<_>>>()?;
    let (processed, unprocessed) = p.queues.add(&id, requests, q.flag("forefront")?, &client_key(&q)?)?;
    let processed_requests = processed.iter().map(|r| ProcessedView { unique_key: Some(&r.unique_key), ..ProcessedView::of(r) }).collect();
    let mut unprocessed_requests: Vec<UnprocessedView> = unprocessed
        .into_iter()
        .map(|mut r| Unprocessed { unique_key: r.remove("uniqueKey"), url: r.remove("url"), method: r.remove("method") }.view())
        .collect();
    unprocessed_requests.extend(rest);
    Ok(views::raw_created(&BatchAddView { processed_requests, unprocessed_requests }))
}

async fn batch_delete(State(p): P, Path(ids): Ids, q: Params, body: Body) -> ApiResult<Response> {
    let id = queue_id(&p, &ids)?;
    let mut items = batch_body(&p, body, "{id} or {uniqueKey} objects").await?;
    let client = client_key(&q)?;
    // At most a batch's worth per request, as for adds; the rest comes back
    // unprocessed as it was sent. Every request of the batch is checked before any is deleted.
    let rest = items.split_off(items.len().min(MAX_BATCH_REQUESTS));
    let batch: Vec<(Value, String)> = items
        .iter()
        .map(|raw| {
            let item: Value = serde_json::from_str(raw.get()).map_err(|e| ApiError::bad_request("invalid-value", e.to_string()))?;
            let request_id = match (item.get("id").and_then(Value::as_str), item.get("uniqueKey").and_then(Value::as_str)) {
                (Some(id), _) => id.to_owned(),
                (None, Some(key)) => crate::platform::storage::queue::request_id(key),
                _ => return Err(ApiError::bad_request("invalid-value", "Each request to delete needs an \"id\" or a \"uniqueKey\"")),
            };
            Ok((item, request_id))
        })
        .collect::<ApiResult<_>>()?;
    let (mut processed, mut unprocessed) = (Vec::new(), Vec::<serde_json::Value>::new());
    for (item, request_id) in batch {
        match p.queues.delete_request(&id, &request_id, &client) {
            Ok(_) => processed.push(item),
            Err(crate::platform::error::PlatformError::Locked(_)) => unprocessed.push(item),
            Err(e) => return Err(e.into()),
        }
    }
    // The rest goes back byte for byte, never parsed.
    let unprocessed: Vec<Box<RawValue>> = unprocessed.iter().filter_map(|v| serde_json::value::to_raw_value(v).ok()).collect();
    let answer = BatchDeleteView {
        processed_requests: processed,
        unprocessed_requests: unprocessed.iter().map(AsRef::as_ref).chain(rest.iter().map(AsRef::as_ref)).collect(),
    };
    Ok(views::raw_data(&answer))
}

async fn get_request(State(p): P, Path(ids): Ids) -> ApiResult<Response> {
    let id = queue_id(&p, &ids)?;
    let request_id = &ids["request"];
    match p.queues.get_request(&id, request_id)? {
        Some(r) => Ok(views::data(Value::Object(r))),
        None => Err(ApiError::not_found(format!("Request was not found: {request_id}"))),
    }
}

async fn update_request(State(p): P, Path(ids): Ids, q: Params, body: Body) -> ApiResult<Response> {
    let id = queue_id(&p, &ids)?;
    let request = object(json(&p, body).await?, "The request")?;
    let done = p.queues.update(&id, &ids["request"], request, q.flag("forefront")?, &client_key(&q)?)?;
    Ok(views::raw_data(&ProcessedView::of(&done)))
}

async fn delete_request(State(p): P, Path(ids): Ids, q: Params) -> ApiResult<StatusCode> {
    let id = queue_id(&p, &ids)?;
    p.queues.delete_request(&id, &ids["request"], &client_key(&q)?)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn prolong_lock(State(p): P, Path(ids): Ids, q: Params) -> ApiResult<Response> {
    let id = queue_id(&p, &ids)?;
    let expires = p.queues.prolong_lock(&id, &ids["request"], lock_secs(&q)?, &client_key(&q)?)?;
    Ok(views::raw_data(&LockView { lock_expires_at: expires }))
}

async fn delete_lock(State(p): P, Path(ids): Ids, q: Params) -> ApiResult<StatusCode> {
    let id = queue_id(&p, &ids)?;
    p.queues.delete_lock(&id, &ids["request"], q.flag("forefront")?, &client_key(&q)?)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn unlock_all(State(p): P, Path(ids): Ids, q: Params) -> ApiResult<Response> {
    let id = queue_id(&p, &ids)?;
    let n = p.queues.unlock_all(&id, &client_key(&q)?)?;
    Ok(views::raw_data(&UnlockView { unlocked_count: n as u64 }))
}

async fn list_requests(State(p): P, Path(ids): Ids, q: Params) -> ApiResult<Response> {
    let id = queue_id(&p, &ids)?;
    let limit = limit(&q, 100)?;
    let cursor = q.str("cursor").or(q.str("exclusiveStartId"));
    let filters = q.list("filter");
    let filter = ListFilter { pending: filters.iter().any(|f| f == "pending"), locked: filters.iter().any(|f| f == "locked") };
    let owned_cursor = cursor.map(str::to_owned);
    let page = super::blocking(&p, move |p| p.queues.list_requests(&id, limit, owned_cursor.as_deref(), filter)).await?;
    Ok(views::raw_data(&RequestsPageView { items: page.items, limit, next_cursor: page.next_cursor, cursor, exclusive_start_id: cursor }))
}

/// `/v2/actor-runs/{run}/request-queue`: the run's default queue.
pub async fn run_queue(State(p): P, Path(run): Path<String>) -> ApiResult<Response> {
    let run = p.get_run(&run)?;
    Ok(views::data(views::request_queue(&p, &p.queues.get(&run.default_request_queue_id)?)))
}
