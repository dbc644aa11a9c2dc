//! The collection endpoints every storage kind shares (list, get-or-create,
//! get, rename, delete), written once over the platform's storage catalog.
//! `kv` and `datasets` add their content endpoints.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use serde_json::Value;

use super::auth::Acting;
use super::error::ApiResult;
use super::params::Params;
use super::views;
use crate::platform::access::{Action, Caller, StorageKind};
use crate::platform::error::Result;
use crate::platform::storage::catalog::{Catalog, StorageMeta};
use crate::platform::Platform;

/// How the API shows one storage kind.
pub(super) trait StorageApi: Send + Sync + 'static {
    type Meta: StorageMeta + Send;
    const KIND: StorageKind;
    fn catalog(p: &Platform) -> &Catalog<Self::Meta>;
    fn view(p: &Platform, meta: &Self::Meta) -> Value;
    /// Lists need `name` as a string even for unnamed storages (Python client model).
    fn list_item(p: &Platform, meta: &Self::Meta) -> Value {
        let mut v = Self::view(p, meta);
        if meta.info().name.is_none() {
            v["name"] = Value::String(String::new());
        }
        v
    }
    /// Deletes the storage with its content.
    fn delete(p: &Platform, reference: &str) -> Result<()>;
    /// Attaches a schema given at creation (`{"schema": …}`), checked before anything is created.
    fn check_schema(_p: &Platform, _schema: &Value) -> Result<()> {
        Err(crate::platform::error::PlatformError::invalid_kind("invalid-schema", "This kind of storage takes no schema"))
    }
    fn attach_schema(_p: &Platform, _id: &str, _schema: Value) -> Result<Self::Meta> {
        Err(crate::platform::error::PlatformError::invalid_kind("invalid-schema", "This kind of storage takes no schema"))
    }
}

/// `/` and `/{id}` of a storage collection.
pub(super) fn collection_routes<K: StorageApi>() -> Router<Arc<Platform>> {
    Router::new().route("/", get(list::<K>).post(get_or_create::<K>)).route("/{id}", get(get_one::<K>).put(update::<K>).delete(delete::<K>))
}

async fn list<K: StorageApi>(State(p): State<Arc<Platform>>, Acting(user): Acting, q: Params) -> ApiResult<Response> {
    let page = q.page(p.config.limits.max_list_limit)?;
    let unnamed = q.flag("unnamed")?;
    // The user's own; a storage shared by ID is found by its ID, never listed.
    let shared_only = match q.str("ownership") {
        None | Some("OWNED_BY_ME") => false,
        Some("SHARED_WITH_ME") => true,
        Some(other) => {
            return Err(super::error::ApiError::bad_request(
                "invalid-parameter",
                format!("ownership must be OWNED_BY_ME or SHARED_WITH_ME, not \"{other}\""),
            ))
        }
    };
    if shared_only {
        return Ok(views::paginated(Vec::new(), &page));
    }
    let all = super::blocking(&p, move |p| K::catalog(p).list(unnamed)).await?;
    let own = all.iter().filter(|m| m.info().user_id == user.id);
    Ok(views::paginated(own.map(|m| K::list_item(&p, m)).collect(), &page))
}

/// Named: get-or-create (200 if it existed, 201 if created). Unnamed: a new storage.
/// A storage a run creates is linked to it (`actRunId`): a limited run may use what it created.
async fn get_or_create<K: StorageApi>(
    State(p): State<Arc<Platform>>,
    Extension(caller): Extension<Caller>,
    q: Params,
    body: Body,
) -> ApiResult<Response> {
    let catalog = K::catalog(&p);
    let creator = caller.run().map(|g| g.run_id.as_str());
    let owner = p.acting_user(&caller)?;
    let req: StorageCreate = super::actors::json_body(body, p.config.limits.max_request_bytes).await?;
    let schema = req.schema.filter(|s| !s.is_null());
    if let Some(s) = &schema {
        K::check_schema(&p, s)?;
    }
    let (mut meta, created) = match q.str("name") {
        Some(name) => {
            let (meta, created) = catalog.get_or_create_named(&owner, name, creator)?;
            if !created {
                p.authorize(&caller, Action::UseStorage(K::KIND, &meta.info().id))?;
            }
            (meta, created)
        }
        None => (catalog.create(&owner, None, creator)?, true),
    };
    // A schema goes on a storage made now; an existing one keeps its own.
    if let (Some(s), true) = (schema, created) {
        meta = K::attach_schema(&p, &meta.info().id.clone(), s)?;
    }
    let v = K::view(&p, &meta);
    Ok(if created { views::created(v) } else { views::data(v) })
}

async fn get_one<K: StorageApi>(State(p): State<Arc<Platform>>, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(views::data(K::view(&p, &K::catalog(&p).get(&id)?)))
}

/// `PUT` on a storage: a new name (empty: unnamed) and who may read it.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct StorageUpdate {
    name: Option<String>,
    #[schema(value_type = Option<crate::platform::runs::GeneralAccess>)]
    general_access: Option<String>,
}

/// `POST` of a storage: optionally its schema (a dataset's or a store's, as in `.actor/`).
#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct StorageCreate {
    #[schema(value_type = Option<Object>)]
    pub schema: Option<Value>,
}

/// Renames (an empty name makes the storage unnamed) and sets `generalAccess`.
async fn update<K: StorageApi>(State(p): State<Arc<Platform>>, Path(id): Path<String>, body: Body) -> ApiResult<Response> {
    let upd: StorageUpdate = super::actors::json_body(body, p.config.limits.max_request_bytes).await?;
    // Parsed before anything changes: a bad value leaves the name as it was too.
    let access = upd.general_access.as_deref().map(crate::platform::runs::GeneralAccess::parse).transpose()?;
    let catalog = K::catalog(&p);
    let mut meta = match upd.name {
        Some(name) => catalog.rename(&id, Some(name.as_str()).filter(|n| !n.is_empty()))?,
        None => catalog.get(&id)?,
    };
    if let Some(access) = access {
        meta = catalog.set_general_access(&id, access)?;
    }
    Ok(views::data(K::view(&p, &meta)))
}

async fn delete<K: StorageApi>(State(p): State<Arc<Platform>>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    super::blocking(&p, move |p| K::delete(p, &id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
