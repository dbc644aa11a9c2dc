//! `/v2/datasets`: datasets, pushing items, listing them in export formats
//! with the `X-Apify-Pagination-*` headers the clients require.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
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
use crate::platform::error::PlatformError;
use crate::platform::storage::catalog::Catalog;
use crate::platform::storage::dataset::{DatasetMeta, FieldStat};
use crate::platform::storage::export::{self, Export, Format, ItemView, ResponseCaps};
use crate::platform::Platform;

type P = State<Arc<Platform>>;

/// Apify's "no limit" for items.
const NO_LIMIT: u64 = 999_999_999_999;

/// An export is rendered in chunks of about this size...
const EXPORT_CHUNK_BYTES: usize = 64 * 1024;
/// ...and at most this many wait for a slow client (the memory one export holds).
const EXPORT_CHUNKS_IN_FLIGHT: usize = 8;

pub struct DatasetApi;

impl StorageApi for DatasetApi {
    type Meta = DatasetMeta;
    const KIND: crate::platform::access::StorageKind = crate::platform::access::StorageKind::Dataset;
    fn catalog(p: &Platform) -> &Catalog<DatasetMeta> {
        &p.datasets
    }
    fn view(p: &Platform, meta: &DatasetMeta) -> Value {
        views::dataset(p, meta)
    }
    fn delete(p: &Platform, reference: &str) -> crate::platform::error::Result<()> {
        p.datasets.delete(reference)
    }
    fn check_schema(p: &Platform, schema: &Value) -> crate::platform::error::Result<()> {
        p.datasets.validators.check(schema)
    }
    fn attach_schema(p: &Platform, id: &str, schema: Value) -> crate::platform::error::Result<DatasetMeta> {
        p.datasets.set_schema(id, schema)
    }
}

pub fn routes() -> Router<Arc<Platform>> {
    storages::collection_routes::<DatasetApi>().route("/{id}/items", get(items).post(push_items)).route("/{id}/statistics", get(statistics))
}

async fn items(State(p): P, Path(dataset): Path<String>, q: Params) -> ApiResult<Response> {
    let id = p.datasets.get(&dataset)?.info.id;
    items_response(&p, &id, &q).await
}

/// Field statistics are measured, push by push, for the fields of a dataset's schema; a dataset without one has none.
/// `GET …/statistics`: per field of the dataset schema, null when the dataset has no schema with fields.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatisticsView {
    pub field_statistics: Option<BTreeMap<String, FieldStat>>,
}

async fn statistics(State(p): P, Path(dataset): Path<String>) -> ApiResult<Response> {
    let meta = p.datasets.get(&dataset)?;
    let field_statistics = match (&meta.schema, meta.field_statistics) {
        (Some(_), Some(stats)) => Some(stats),
        (Some(schema), None) if schema.pointer("/fields/properties").is_some() => Some(BTreeMap::new()),
        _ => None,
    };
    Ok(views::raw_data(&StatisticsView { field_statistics }))
}

async fn push_items(State(p): P, Path(dataset): Path<String>, body: Body) -> ApiResult<Response> {
    let id = p.datasets.get(&dataset)?.info.id;
    push(&p, &id, body).await
}

/// Pushes a JSON object or array of objects; all or nothing.
pub(super) async fn push(p: &Platform, dataset_id: &str, body: Body) -> ApiResult<Response> {
    let bytes = read_body(body, p.config.limits.max_push_bytes).await?;
    let pushed = p.push_items_body(dataset_id, &bytes)?;
    let mut resp = (StatusCode::CREATED, axum::Json(json!({}))).into_response();
    // Past the run's maxItems: what was dropped is said (the SDKs read the body as nothing).
    if pushed.dropped > 0 {
        let h = resp.headers_mut();
        h.insert("x-wactor-items-stored", HeaderValue::from(pushed.stored));
        h.insert("x-wactor-items-dropped", HeaderValue::from(pushed.dropped));
    }
    Ok(resp)
}

/// The item view of the query, over the named `view` of the dataset's schema when it names one
/// (what the query says itself wins).
fn view_from(q: &Params, base: ItemView) -> ApiResult<ItemView> {
    let clean = q.flag("clean")?;
    let or_base = |given: Vec<String>, base: Vec<String>| if given.is_empty() { base } else { given };
    let mut fields = or_base(q.list("fields"), base.fields.unwrap_or_default());
    let mut unwind = or_base(q.list("unwind"), base.unwind);
    // The legacy crawler format: the page function's results, one row each, with the page's URL and error.
    if q.flag("simplified")? {
        if fields.is_empty() {
            fields = ["url", "pageFunctionResult", "errorInfo"].map(String::from).to_vec();
        }
        if unwind.is_empty() {
            unwind = vec!["pageFunctionResult".into()];
        }
    }
    let output_fields = q.list("outputFields");
    if !output_fields.is_empty() && output_fields.len() != fields.len() {
        return Err(ApiError::bad_request(
            "invalid-parameter",
            format!("outputFields names the fields by position: it needs as many names as fields has ({})", fields.len()),
        ));
    }
    Ok(ItemView {
        fields: (!fields.is_empty()).then_some(fields),
        omit: or_base(q.list("omit"), base.omit),
        unwind,
        flatten: or_base(q.list("flatten"), base.flatten),
        skip_hidden: clean || q.flag("skipHidden")?,
        skip_empty: clean || q.flag("skipEmpty")?,
        skip_failed: q.flag("skipFailedPages")?,
        output_fields: (!output_fields.is_empty()).then_some(output_fields),
    })
}

/// The format and its options from the query.
fn export_from(q: &Params, meta: &DatasetMeta) -> ApiResult<Export> {
    let format = Format::parse(q.str("format").unwrap_or("json"))?;
    let label = meta.info.name.as_deref().unwrap_or(&meta.info.id);
    let mut export = Export::new(format, &meta.info.id, label);
    if let Some(bom) = q.bool("bom")? {
        export.bom = bom;
    }
    if let Some(d) = q.0.get("delimiter").filter(|d| !d.is_empty()) {
        export.set_delimiter(d)?;
    }
    export.skip_header = q.flag("skipHeaderRow")?;
    export.set_xml_names(q.str("xmlRoot"), q.str("xmlRow"))?;
    if let Some(t) = q.str("feedTitle") {
        export.feed_title = t.to_owned();
    }
    if let Some(d) = q.str("feedDescription") {
        export.feed_description = d.to_owned();
    }
    Ok(export)
}

/// Items as a raw body (no envelope) with the five pagination headers,
/// streamed: a blocking task first plans how many stored items fit in one
/// response (`export::plan`, bounded by the response caps), the headers go
/// out with that count, then the same items are rendered in chunks as the
/// client reads them.
pub(super) async fn items_response(p: &Arc<Platform>, dataset_id: &str, q: &Params) -> ApiResult<Response> {
    let meta = p.datasets.get(dataset_id)?;
    let export = export_from(q, &meta)?;
    let format = export.format;
    let named = match q.str("view") {
        Some(name) => {
            let schema = meta
                .schema
                .as_ref()
                .ok_or_else(|| ApiError::bad_request("invalid-parameter", format!("The dataset has no schema, so no view \"{name}\"")))?;
            Some(crate::platform::storage::schema::view(schema, name)?)
        }
        None => None,
    };
    let (base, view_limit, view_desc) = match named {
        Some(v) => (v.items, v.limit, v.desc),
        None => (ItemView::default(), None, None),
    };
    let view = view_from(q, base)?;
    let offset = q.u64("offset")?.unwrap_or(0);
    let limit = q.u64("limit")?.or(view_limit).unwrap_or(NO_LIMIT);
    let desc = q.bool("desc")?.or(view_desc).unwrap_or(false);
    let attachment = q.flag("attachment")?;
    let caps = ResponseCaps { max_rows: p.config.limits.max_export_rows, max_bytes: p.config.limits.max_export_bytes };
    let (head_tx, head_rx) = tokio::sync::oneshot::channel();
    let (body_tx, body_rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(EXPORT_CHUNKS_IN_FLIGHT);
    let (platform, id) = (p.clone(), dataset_id.to_owned());
    tokio::task::spawn_blocking(move || {
        let planned = platform.datasets.scan_items(&id, offset, limit, desc).and_then(|scan| {
            let (total, range) = (scan.total, scan.range.clone());
            export::plan(scan, &view, format, caps).map(|plan| (plan, total, range))
        });
        let (plan, total, range) = match planned {
            Ok(p) => p,
            Err(e) => return drop(head_tx.send(Err(e))),
        };
        if head_tx.send(Ok((plan.items, total))).is_err() {
            return;
        }
        // The same items, by index, so pushes meanwhile change nothing.
        let range = if desc { range.end - plan.items..range.end } else { range.start..range.start + plan.items };
        let fail = |e: PlatformError| drop(body_tx.blocking_send(Err(std::io::Error::other(e.to_string()))));
        let mut emit = |chunk: Vec<u8>| body_tx.blocking_send(Ok(Bytes::from(chunk))).is_ok();
        let mut renderer = match export::Renderer::new(&view, &export, plan.columns, EXPORT_CHUNK_BYTES) {
            Ok(r) => r,
            Err(e) => return fail(e),
        };
        for raw in platform.datasets.scan_range(&id, range, desc, total) {
            let going = raw.and_then(|raw| renderer.item(&raw, &mut emit));
            match going {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => return fail(e),
            }
        }
        if let Err(e) = renderer.finish(&mut emit) {
            fail(e)
        }
    });
    let (planned_items, total) = head_rx.await.map_err(|_| ApiError::from(PlatformError::internal("the export task failed")))??;
    let mut resp = (StatusCode::OK, Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(body_rx))).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
    let mut set = |name: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(HeaderName::from_static(name), v);
        }
    };
    set("x-apify-pagination-total", total.to_string());
    set("x-apify-pagination-offset", offset.to_string());
    // Stored items this response covers, not output rows: the Python iterator advances by it.
    set("x-apify-pagination-count", planned_items.to_string());
    set("x-apify-pagination-limit", limit.to_string());
    set("x-apify-pagination-desc", desc.to_string());
    if attachment {
        set("content-disposition", format!("attachment; filename=\"dataset_{dataset_id}.{}\"", format.extension()));
    }
    Ok(resp)
}
