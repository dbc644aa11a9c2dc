//! `/v2/datasets`: datasets, pushing items, listing them in export formats
//! with the `X-Apify-Pagination-*` headers the clients require.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use super::body::read_body;
use super::error::{ApiError, ApiResult};
use super::params::Params;
use super::storages::{self, StorageApi};
use super::views;
use crate::platform::storage::catalog::Catalog;
use crate::platform::storage::dataset::DatasetMeta;
use crate::platform::storage::export::{self, Format, ItemView};
use crate::platform::Platform;

type P = State<Arc<Platform>>;

/// Apify's "no limit" for items.
const NO_LIMIT: u64 = 999_999_999_999;

pub struct DatasetApi;

impl StorageApi for DatasetApi {
    type Meta = DatasetMeta;
    fn catalog(p: &Platform) -> &Catalog<DatasetMeta> {
        &p.datasets
    }
    fn view(p: &Platform, meta: &DatasetMeta) -> Value {
        views::dataset(p, meta)
    }
    fn delete(p: &Platform, reference: &str) -> crate::platform::error::Result<()> {
        p.datasets.delete(reference)
    }
}

pub fn routes() -> Router<Arc<Platform>> {
    storages::collection_routes::<DatasetApi>().route("/{id}/items", get(items).post(push_items))
}

async fn items(State(p): P, Path(dataset): Path<String>, q: Params) -> ApiResult<Response> {
    let id = p.datasets.get(&dataset)?.info.id;
    items_response(&p, &id, &q)
}

async fn push_items(State(p): P, Path(dataset): Path<String>, body: Body) -> ApiResult<Response> {
    let id = p.datasets.get(&dataset)?.info.id;
    push(&p, &id, body).await
}

/// Pushes a JSON object or array of objects; all or nothing.
pub(super) async fn push(p: &Platform, dataset_id: &str, body: Body) -> ApiResult<Response> {
    let bytes = read_body(body, p.config.limits.max_push_bytes).await?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request("invalid-value", format!("The request body is not valid JSON: {e}")))?;
    p.push_items(dataset_id, value)?;
    Ok((StatusCode::CREATED, axum::Json(json!({}))).into_response())
}

fn view_from(q: &Params) -> ApiResult<ItemView> {
    let clean = q.flag("clean")?;
    let fields = q.list("fields");
    Ok(ItemView {
        fields: (!fields.is_empty()).then_some(fields),
        omit: q.list("omit"),
        unwind: q.list("unwind"),
        flatten: q.list("flatten"),
        skip_hidden: clean || q.flag("skipHidden")?,
        skip_empty: clean || q.flag("skipEmpty")?,
    })
}

/// Items as a raw body (no envelope) with the five pagination headers.
pub(super) fn items_response(p: &Platform, dataset_id: &str, q: &Params) -> ApiResult<Response> {
    let format = Format::parse(q.str("format").unwrap_or("json"))?;
    let view = view_from(q)?;
    let offset = q.u64("offset")?.unwrap_or(0);
    let limit = q.u64("limit")?.unwrap_or(NO_LIMIT);
    let desc = q.flag("desc")?;
    let page = p.datasets.get_items(dataset_id, offset, limit, desc)?;
    let body = export::render(&page.items, &view, format)?;
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
    let mut set = |name: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(HeaderName::from_static(name), v);
        }
    };
    set("x-apify-pagination-total", page.total.to_string());
    set("x-apify-pagination-offset", offset.to_string());
    // Stored items scanned, not output rows: the Python iterator advances by it.
    set("x-apify-pagination-count", page.items.len().to_string());
    set("x-apify-pagination-limit", limit.to_string());
    set("x-apify-pagination-desc", desc.to_string());
    if q.flag("attachment")? {
        set("content-disposition", format!("attachment; filename=\"dataset_{dataset_id}.{}\"", format.extension()));
    }
    Ok(resp)
}
