//! `/v2/key-value-stores`: stores, keys, records (raw bodies, stored content types).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Extension, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use super::body::{content_type, read_body};
use super::error::{ApiError, ApiResult};
use super::params::Params;
use super::storages::{self, StorageApi};
use super::views;
use crate::platform::access::Caller;
use crate::platform::secrets::Viewer;
use crate::platform::storage::catalog::Catalog;
use crate::platform::storage::kv::KvStoreMeta;
use crate::platform::Platform;

type P = State<Arc<Platform>>;

pub struct KvApi;

impl StorageApi for KvApi {
    type Meta = KvStoreMeta;
    const KIND: crate::platform::access::StorageKind = crate::platform::access::StorageKind::KeyValueStore;
    fn catalog(p: &Platform) -> &Catalog<KvStoreMeta> {
        &p.kv
    }
    fn view(p: &Platform, meta: &KvStoreMeta) -> Value {
        views::kv_store(p, meta)
    }
    fn delete(p: &Platform, reference: &str) -> crate::platform::error::Result<()> {
        p.kv.delete(reference)
    }
    fn check_schema(_p: &Platform, schema: &Value) -> crate::platform::error::Result<()> {
        match schema.get("collections") {
            None | Some(Value::Object(_)) if schema.is_object() => Ok(()),
            _ => Err(crate::platform::error::PlatformError::invalid_kind(
                "invalid-schema",
                "A key-value store schema is an object whose collections are an object",
            )),
        }
    }
    fn attach_schema(p: &Platform, id: &str, schema: Value) -> crate::platform::error::Result<KvStoreMeta> {
        p.kv.update(id, |m| m.schema = Some(schema.clone()))
    }
}

pub fn routes() -> Router<Arc<Platform>> {
    storages::collection_routes::<KvApi>()
        .route("/{id}/keys", get(keys))
        .route("/{id}/records", get(records_zip))
        .route("/{id}/records/{key}", get(get_record).put(set_record).post(set_record).delete(delete_record))
}

async fn keys(State(p): P, Path(store): Path<String>, q: Params) -> ApiResult<Response> {
    let id = p.kv.get(&store)?.info.id;
    keys_response(&p, &id, &q)
}

pub(super) fn keys_response(p: &Platform, store_id: &str, q: &Params) -> ApiResult<Response> {
    use crate::platform::storage::schema::{collection, Collection};
    // `collection`: the keys its schema names, an exact key or a prefix (within `prefix`, if both are given).
    let (prefix, exact, outside) = match q.str("collection") {
        Some(name) => match collection(p.kv.get(store_id)?.schema.as_ref(), name)? {
            Collection::Key(k) => (Some(k.clone()), Some(k), false),
            Collection::Prefix(pre) => match q.str("prefix") {
                Some(given) => (Some(given.to_owned()), None, !given.starts_with(&pre)),
                None => (Some(pre), None, false),
            },
        },
        None => (q.str("prefix").map(str::to_owned), None, false),
    };
    let mut page = p.kv.list_keys(store_id, q.str("exclusiveStartKey"), q.u64("limit")?, prefix.as_deref())?;
    // A prefix outside the collection's names none of its keys.
    if outside {
        page.items.clear();
        page.is_truncated = false;
        page.next_exclusive_start_key = None;
    }
    if let Some(key) = exact {
        page.items.retain(|k| k.key == key);
        page.is_truncated = false;
        page.next_exclusive_start_key = None;
    }
    let base = &p.config.public_url;
    let items = page
        .items
        .iter()
        .map(|k| KeyView {
            key: &k.key,
            size: k.size,
            record_public_url: format!("{base}/v2/key-value-stores/{store_id}/records/{}", k.key),
        })
        .collect::<Vec<_>>();
    Ok(views::raw_data(&KeysPageView {
        count: items.len(),
        items,
        limit: page.limit,
        exclusive_start_key: page.exclusive_start_key,
        is_truncated: page.is_truncated,
        next_exclusive_start_key: page.next_exclusive_start_key,
    }))
}

/// A key in a listing.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyView<'a> {
    pub key: &'a str,
    pub size: u64,
    pub record_public_url: String,
}

/// `GET …/keys`: a page by `exclusiveStartKey`.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeysPageView<'a> {
    pub items: Vec<KeyView<'a>>,
    pub count: usize,
    pub limit: usize,
    pub exclusive_start_key: Option<String>,
    pub is_truncated: bool,
    pub next_exclusive_start_key: Option<String>,
}

async fn get_record(
    State(p): P,
    caller: Option<Extension<Caller>>,
    Path((store, key)): Path<(String, String)>,
    q: Params,
) -> ApiResult<Response> {
    let id = p.kv.get(&store)?.info.id;
    record_response(&p, viewer(caller.as_deref()), &id, &key, &q)
}

/// Who reads: secrets in records open only for a run's own token.
pub(super) fn viewer(caller: Option<&Caller>) -> Viewer<'_> {
    caller.map_or(Viewer::Client, Viewer::of)
}

/// The record's raw bytes with its stored content type (HEAD: headers only);
/// sealed secrets in it as `viewer` may see them.
pub(super) fn record_response(p: &Platform, viewer: Viewer<'_>, store_id: &str, key: &str, q: &Params) -> ApiResult<Response> {
    let record = p.kv.get_record(store_id, key)?.ok_or_else(|| ApiError::not_found(format!("Record \"{key}\" was not found")))?;
    let record = p.record_as_seen(viewer, record);
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
    let max = p.kv.max_record_bytes();
    // Read one byte past the cap, so the store's own check sees the record is too large.
    let bytes = read_body(body, max + 1).await.map_err(|e| {
        if e.status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "record-too-large", format!("The record is over the limit of {max} bytes"))
        } else {
            e
        }
    })?;
    let ct = content_type(headers, "application/octet-stream");
    p.kv.set_record(store_id, key, &bytes, &ct)?;
    Ok((StatusCode::CREATED, axum::Json(json!({}))).into_response())
}

async fn delete_record(State(p): P, Path((store, key)): Path<(String, String)>) -> ApiResult<StatusCode> {
    let id = p.kv.get(&store)?.info.id;
    p.kv.delete_record(&id, &key)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Records a zip holds per chunk it sends (the zip is written as it is read).
const ZIP_CHUNK_BYTES: usize = 256 * 1024;

/// All records (or those under `prefix`) as one zip archive, streamed: a
/// blocking task reads the records one at a time and writes the archive in
/// chunks as the client takes them.
async fn records_zip(State(p): P, Path(store): Path<String>, q: Params) -> ApiResult<Response> {
    let meta = p.kv.get(&store)?;
    let id = meta.info.id.clone();
    let prefix = q.str("prefix").map(str::to_owned);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<axum::body::Bytes, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        struct Chunks(Vec<u8>, tokio::sync::mpsc::Sender<Result<axum::body::Bytes, std::io::Error>>);
        impl std::io::Write for Chunks {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.extend_from_slice(buf);
                if self.0.len() >= ZIP_CHUNK_BYTES {
                    self.flush()?;
                }
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                let chunk = std::mem::take(&mut self.0);
                if chunk.is_empty() {
                    return Ok(());
                }
                self.1.blocking_send(Ok(chunk.into())).map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "gone"))
            }
        }
        let tx2 = tx.clone();
        let mut zip = zip::ZipWriter::new_stream(Chunks(Vec::new(), tx));
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        let written = (|| -> Result<(), String> {
            for record in p.kv.scan_records(&id, prefix.as_deref()) {
                let (key, record) = record.map_err(|e| e.to_string())?;
                let record = p.record_as_seen(Viewer::Client, record);
                zip.start_file(key, options).map_err(|e| e.to_string())?;
                std::io::Write::write_all(&mut zip, &record.value).map_err(|e| e.to_string())?;
            }
            let mut out = zip.finish().map_err(|e| e.to_string())?;
            std::io::Write::flush(out.get_mut()).map_err(|e| e.to_string())
        })();
        if let Err(e) = written {
            let _ = tx2.blocking_send(Err(std::io::Error::other(e)));
        }
    });
    let mut resp = (StatusCode::OK, Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx))).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/zip"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}.zip\"", meta.info.name.as_deref().unwrap_or(&meta.info.id))) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}
