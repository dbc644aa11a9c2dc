//! The part every storage kind shares: metadata records, names unique per
//! user, and resolving an ID, `username~name` or a bare name (the caller's). Key-value stores,
//! datasets and request queues differ only in their content.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use parking_lot::Mutex;

use chrono::{DateTime, Utc};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use super::validate_storage_name;
use crate::ids::{self, ts};
use crate::platform::db::{get_json, put_json};
use crate::platform::error::{PlatformError, Result};
use crate::platform::names::Names;
use crate::platform::users::User;

/// Fields every storage's metadata has, in the API's shape.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageInfo {
    pub id: String,
    pub name: Option<String>,
    pub user_id: String,
    pub username: String,
    #[serde(with = "ts")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "ts")]
    pub modified_at: DateTime<Utc>,
    #[serde(with = "ts")]
    pub accessed_at: DateTime<Utc>,
    pub act_id: Option<String>,
    pub act_run_id: Option<String>,
    /// Who besides its owner may read it (`generalAccess`); unset follows the user's setting (restricted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub general_access: Option<crate::platform::runs::GeneralAccess>,
}

/// How fresh `accessedAt` and `modifiedAt` are kept, as `relatime` keeps a
/// file's: a store written many times a second has its metadata rewritten
/// once a second, not with every record (it was a rewrite per write).
pub const TOUCH_GRANULARITY_MS: i64 = 1000;

/// A storage kind's metadata record.
pub trait StorageMeta: Serialize + DeserializeOwned + Clone {
    /// How errors name the kind ("Dataset").
    const KIND: &'static str;
    fn new(info: StorageInfo) -> Self;
    fn info(&self) -> &StorageInfo;
    fn info_mut(&mut self) -> &mut StorageInfo;
}

/// Metadata and names of one storage kind.
pub struct Catalog<M> {
    metas: sled::Tree,
    names: Names,
    /// When each storage written lately was last touched, with its owner:
    /// a write within the granularity reads no metadata at all.
    touched: Arc<Mutex<Touched>>,
    _kind: PhantomData<fn() -> M>,
}

/// Storage ID → (owner, `accessedAt` and `modifiedAt` in ms, as stored).
#[derive(Default)]
struct Touched {
    by_id: HashMap<String, (String, i64, i64)>,
}

/// At most this many storages' touch times are kept (then the map starts over).
const MAX_TOUCHED: usize = 16_384;

impl<M> Clone for Catalog<M> {
    fn clone(&self) -> Self {
        Catalog { metas: self.metas.clone(), names: self.names.clone(), touched: self.touched.clone(), _kind: PhantomData }
    }
}

impl<M: StorageMeta> Catalog<M> {
    /// The catalog over `metas` (ID → metadata) and `names`; names kept
    /// before they were per user move to their owner's namespace.
    pub fn open(metas: sled::Tree, names: sled::Tree, user_names: sled::Tree) -> Result<Self> {
        let names = Names::new(names, user_names);
        names.migrate(|id| crate::platform::names::owner_in(&metas, id))?;
        Ok(Catalog { metas, names, touched: Arc::default(), _kind: PhantomData })
    }

    pub(crate) fn metas(&self) -> &sled::Tree {
        &self.metas
    }

    fn not_found(reference: &str) -> PlatformError {
        PlatformError::not_found(format!("{} was not found: {reference}", M::KIND))
    }

    /// A new unnamed storage of `owner`, optionally linked to the run it is the default of.
    pub fn create(&self, owner: &User, act_id: Option<&str>, act_run_id: Option<&str>) -> Result<M> {
        self.create_with(owner, act_id, act_run_id, |_| ())
    }

    /// [`Self::create`], with `init` filling in kind-specific fields before the one write.
    pub fn create_with(&self, owner: &User, act_id: Option<&str>, act_run_id: Option<&str>, init: impl FnOnce(&mut M)) -> Result<M> {
        let mut meta = self.fresh(owner, act_id, act_run_id);
        init(&mut meta);
        put_json(&self.metas, &meta.info().id, &meta)?;
        self.remember_touch(&meta);
        Ok(meta)
    }

    fn remember_touch(&self, meta: &M) {
        let info = meta.info();
        let mut touched = self.touched.lock();
        if touched.by_id.len() >= MAX_TOUCHED {
            touched.by_id.clear();
        }
        let times = (info.user_id.clone(), info.accessed_at.timestamp_millis(), info.modified_at.timestamp_millis());
        touched.by_id.insert(info.id.clone(), times);
    }

    fn fresh(&self, owner: &User, act_id: Option<&str>, act_run_id: Option<&str>) -> M {
        let now = ids::now();
        M::new(StorageInfo {
            id: ids::new_id(),
            name: None,
            user_id: owner.id.clone(),
            username: owner.username.clone(),
            created_at: now,
            modified_at: now,
            accessed_at: now,
            act_id: act_id.map(str::to_owned),
            act_run_id: act_run_id.map(str::to_owned),
            general_access: None,
        })
    }

    /// The storage `owner` named `name`, created if needed (linked to the
    /// run that creates it, if one does); also says whether it was created.
    pub fn get_or_create_named(&self, owner: &User, name: &str, act_run_id: Option<&str>) -> Result<(M, bool)> {
        validate_storage_name(name)?;
        loop {
            if let Some(id) = self.names.lookup(Some(&owner.id), name)? {
                if let Some(meta) = get_json::<M>(&self.metas, &id)? {
                    return Ok((meta, false));
                }
                // A name left dangling by a deletion half-done: drop it and retry.
                self.names.release_dangling(&owner.id, name, &id)?;
                continue;
            }
            let mut meta = self.fresh(owner, None, act_run_id);
            meta.info_mut().name = Some(name.to_owned());
            // The storage exists before its name points at it, so a name
            // without a storage is only ever a deletion left half done (a
            // concurrent creator that had claimed the name first but not yet
            // written its storage was taken for one). When a concurrent
            // creator wins the name, ours goes and theirs is used.
            put_json(&self.metas, &meta.info().id, &meta)?;
            if self.names.claim(&owner.id, name, &meta.info().id)? {
                return Ok((meta, true));
            }
            self.metas.remove(meta.info().id.as_bytes())?;
        }
    }

    /// Resolves an ID or `username~name`; a bare name only in `namespace`
    /// (a user id), as the door that knows the caller asks.
    pub fn resolve(&self, namespace: Option<&str>, reference: &str) -> Result<M> {
        if let Some(meta) = get_json(&self.metas, reference)? {
            return Ok(meta);
        }
        let id = self.names.lookup(namespace, reference)?.ok_or_else(|| Self::not_found(reference))?;
        get_json(&self.metas, &id)?.ok_or_else(|| Self::not_found(reference))
    }

    /// Resolves an ID or `username~name` (the API has made its bare names IDs, see `api::names`).
    pub fn get(&self, reference: &str) -> Result<M> {
        self.resolve(None, reference)
    }

    /// Named storages (and unnamed ones too with `unnamed`), oldest first.
    pub fn list(&self, unnamed: bool) -> Result<Vec<M>> {
        let mut out: Vec<M> = Vec::new();
        for item in self.metas.iter() {
            let meta: M = serde_json::from_slice(&item?.1)?;
            if unnamed || meta.info().name.is_some() {
                out.push(meta);
            }
        }
        out.sort_by(|a, b| a.info().created_at.cmp(&b.info().created_at).then(a.info().id.cmp(&b.info().id)));
        Ok(out)
    }

    /// Renames a storage; `None` makes it unnamed.
    pub fn rename(&self, reference: &str, name: Option<&str>) -> Result<M> {
        let mut meta = self.get(reference)?;
        if meta.info().name.as_deref() == name {
            return Ok(meta);
        }
        if let Some(name) = name {
            validate_storage_name(name)?;
            if !self.names.claim(&meta.info().user_id, name, &meta.info().id)? {
                return Err(PlatformError::Conflict(format!("{} named \"{name}\" already exists", M::KIND)));
            }
        }
        if let Some(old) = meta.info().name.clone() {
            self.names.release(&meta.info().user_id, &old, &meta.info().id)?;
        }
        let info = meta.info_mut();
        info.name = name.map(str::to_owned);
        info.modified_at = ids::now();
        put_json(&self.metas, &meta.info().id, &meta)?;
        Ok(meta)
    }

    /// Sets who besides its owner may read the storage.
    pub fn set_general_access(&self, reference: &str, access: crate::platform::runs::GeneralAccess) -> Result<M> {
        self.update(reference, |meta| meta.info_mut().general_access = Some(access))
    }

    /// Changes a storage's metadata by compare-and-swap (no concurrent change is lost).
    pub fn update(&self, reference: &str, change: impl Fn(&mut M)) -> Result<M> {
        let id = self.get(reference)?.info().id.clone();
        loop {
            let old = self.metas.get(id.as_str())?.ok_or_else(|| Self::not_found(&id))?;
            let mut meta: M = serde_json::from_slice(&old)?;
            change(&mut meta);
            meta.info_mut().modified_at = ids::now();
            if self.metas.compare_and_swap(id.as_str(), Some(old), Some(serde_json::to_vec(&meta)?))?.is_ok() {
                return Ok(meta);
            }
        }
    }

    /// Removes the metadata and the name; the caller removes the content.
    pub fn remove(&self, reference: &str) -> Result<M> {
        let meta = self.get(reference)?;
        if let Some(name) = &meta.info().name {
            self.names.release(&meta.info().user_id, name, &meta.info().id)?;
        }
        self.touched.lock().by_id.remove(&meta.info().id);
        self.metas.remove(meta.info().id.as_str())?;
        Ok(meta)
    }

    /// Bumps access (and modification) times; fails if the storage is gone.
    /// Times within [`TOUCH_GRANULARITY_MS`] of now stay as they are.
    pub fn touch(&self, id: &str, modified: bool) -> Result<String> {
        let now = ids::now();
        let recent = |t: i64| now.timestamp_millis() - t < TOUCH_GRANULARITY_MS;
        if let Some((owner, accessed, modified_at)) = self.touched.lock().by_id.get(id) {
            if recent(*accessed) && (!modified || recent(*modified_at)) {
                return Ok(owner.clone());
            }
        }
        let mut meta: M = get_json(&self.metas, id)?.ok_or_else(|| Self::not_found(id))?;
        let recent = |t: DateTime<Utc>| recent(t.timestamp_millis());
        if !(recent(meta.info().accessed_at) && (!modified || recent(meta.info().modified_at))) {
            let info = meta.info_mut();
            info.accessed_at = now;
            if modified {
                info.modified_at = now;
            }
            put_json(&self.metas, id, &meta)?;
        }
        self.remember_touch(&meta);
        Ok(meta.info().user_id.clone())
    }
}
