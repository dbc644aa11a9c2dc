//! Datasets: append-only lists of JSON objects. A push is one sled
//! transaction over the metadata (item count) and the items, so a crash
//! never leaves a half-pushed batch or a count that disagrees with the items.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use super::{validate_storage_name, StorageRef};
use crate::ids::{self, ts};
use crate::platform::db::{get_json, owned_key, owner_prefix, put_json, Db};
use crate::platform::error::{PlatformError, Result};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatasetMeta {
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
    pub item_count: u64,
    pub act_id: Option<String>,
    pub act_run_id: Option<String>,
}

/// A page of items as stored JSON texts, with the numbers pagination needs.
#[derive(Debug, Clone)]
pub struct ItemsPage {
    pub items: Vec<Vec<u8>>,
    pub total: u64,
    pub offset: u64,
}

/// Checks a push body and returns each item serialised, ready to store.
/// The batch is all-or-nothing: one bad item rejects it.
pub fn prepare_items(body: Value) -> Result<Vec<Vec<u8>>> {
    let items = match body {
        Value::Array(items) => items,
        obj @ Value::Object(_) => vec![obj],
        _ => return Err(PlatformError::invalid_kind("invalid-value", "Dataset items must be a JSON object or an array of objects")),
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::Object(_) => Ok(serde_json::to_vec(&item)?),
            _ => Err(PlatformError::invalid_kind("invalid-value", format!("Dataset item at index {i} is not a JSON object"))),
        })
        .collect()
}

fn item_key(dataset_id: &str, index: u64) -> Vec<u8> {
    owned_key(dataset_id, &index.to_be_bytes())
}

#[derive(Clone)]
pub struct Datasets {
    db: Db,
    user_id: String,
    username: String,
}

impl Datasets {
    pub fn new(db: Db, user_id: String, username: String) -> Self {
        Datasets { db, user_id, username }
    }

    pub fn create(&self, act_id: Option<&str>, act_run_id: Option<&str>) -> Result<DatasetMeta> {
        let now = ids::now();
        let meta = DatasetMeta {
            id: ids::new_id(),
            name: None,
            user_id: self.user_id.clone(),
            username: self.username.clone(),
            created_at: now,
            modified_at: now,
            accessed_at: now,
            item_count: 0,
            act_id: act_id.map(str::to_owned),
            act_run_id: act_run_id.map(str::to_owned),
        };
        put_json(&self.db.datasets, &meta.id, &meta)?;
        Ok(meta)
    }

    pub fn get_or_create_named(&self, name: &str) -> Result<(DatasetMeta, bool)> {
        validate_storage_name(name)?;
        loop {
            if let Some(id) = self.db.dataset_names.get(name)? {
                let id = String::from_utf8_lossy(&id).into_owned();
                if let Some(meta) = get_json::<DatasetMeta>(&self.db.datasets, &id)? {
                    return Ok((meta, false));
                }
                let _ = self.db.dataset_names.compare_and_swap(name, Some(id.as_bytes()), None as Option<&[u8]>)?;
                continue;
            }
            let mut meta = self.create(None, None)?;
            meta.name = Some(name.to_owned());
            match self.db.dataset_names.compare_and_swap(name, None as Option<&[u8]>, Some(meta.id.as_bytes()))? {
                Ok(()) => {
                    put_json(&self.db.datasets, &meta.id, &meta)?;
                    return Ok((meta, true));
                }
                Err(_) => {
                    self.db.datasets.remove(&meta.id)?;
                }
            }
        }
    }

    pub fn get(&self, reference: &str) -> Result<DatasetMeta> {
        let id = match StorageRef::parse(reference) {
            StorageRef::Id(id) => {
                if let Some(meta) = get_json(&self.db.datasets, id)? {
                    return Ok(meta);
                }
                self.db.dataset_names.get(id)?
            }
            StorageRef::Name(name) => self.db.dataset_names.get(name)?,
        };
        let not_found = || PlatformError::not_found(format!("Dataset was not found: {reference}"));
        let id = id.ok_or_else(not_found)?;
        get_json(&self.db.datasets, &id)?.ok_or_else(not_found)
    }

    pub fn list(&self, unnamed: bool) -> Result<Vec<DatasetMeta>> {
        let mut out: Vec<DatasetMeta> = Vec::new();
        for item in self.db.datasets.iter() {
            let (_, v) = item?;
            let meta: DatasetMeta = serde_json::from_slice(&v)?;
            if unnamed || meta.name.is_some() {
                out.push(meta);
            }
        }
        out.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    pub fn rename(&self, reference: &str, name: Option<&str>) -> Result<DatasetMeta> {
        let mut meta = self.get(reference)?;
        if meta.name.as_deref() == name {
            return Ok(meta);
        }
        if let Some(name) = name {
            validate_storage_name(name)?;
            if self.db.dataset_names.compare_and_swap(name, None as Option<&[u8]>, Some(meta.id.as_bytes()))?.is_err() {
                return Err(PlatformError::Conflict(format!("Dataset named \"{name}\" already exists")));
            }
        }
        if let Some(old) = &meta.name {
            self.db.dataset_names.remove(old.as_str())?;
        }
        meta.name = name.map(str::to_owned);
        meta.modified_at = ids::now();
        put_json(&self.db.datasets, &meta.id, &meta)?;
        Ok(meta)
    }

    pub fn delete(&self, reference: &str) -> Result<()> {
        let meta = self.get(reference)?;
        if let Some(name) = &meta.name {
            self.db.dataset_names.remove(name.as_str())?;
        }
        self.db.datasets.remove(&meta.id)?;
        let mut batch = sled::Batch::default();
        for item in self.db.dataset_items.scan_prefix(owner_prefix(&meta.id)) {
            batch.remove(item?.0);
        }
        self.db.dataset_items.apply_batch(batch)?;
        Ok(())
    }

    /// Appends already-validated items (see [`prepare_items`]). Returns the new item count.
    pub fn push(&self, dataset_id: &str, items: &[Vec<u8>]) -> Result<u64> {
        let result = (&self.db.datasets, &self.db.dataset_items).transaction(|(metas, store)| {
            let raw = metas.get(dataset_id)?.ok_or_else(|| {
                ConflictableTransactionError::Abort(PlatformError::not_found(format!("Dataset was not found: {dataset_id}")))
            })?;
            let mut meta: DatasetMeta = serde_json::from_slice(&raw)
                .map_err(|e| ConflictableTransactionError::Abort(PlatformError::from(e)))?;
            for (i, item) in items.iter().enumerate() {
                store.insert(item_key(dataset_id, meta.item_count + i as u64), item.as_slice())?;
            }
            meta.item_count += items.len() as u64;
            let now = ids::now();
            meta.modified_at = now;
            meta.accessed_at = now;
            let encoded = serde_json::to_vec(&meta).map_err(|e| ConflictableTransactionError::Abort(PlatformError::from(e)))?;
            metas.insert(dataset_id.as_bytes(), encoded)?;
            Ok(meta.item_count)
        });
        match result {
            Ok(count) => Ok(count),
            Err(TransactionError::Abort(e)) => Err(e),
            Err(TransactionError::Storage(e)) => Err(e.into()),
        }
    }

    /// Items `offset..offset+limit` (or counted from the end when `desc`).
    pub fn get_items(&self, dataset_id: &str, offset: u64, limit: u64, desc: bool) -> Result<ItemsPage> {
        let meta: DatasetMeta = get_json(&self.db.datasets, dataset_id)?
            .ok_or_else(|| PlatformError::not_found(format!("Dataset was not found: {dataset_id}")))?;
        let total = meta.item_count;
        let mut items = Vec::new();
        if offset < total && limit > 0 {
            let count = limit.min(total - offset);
            if desc {
                // Newest first: offset 0 is the last item.
                let hi = total - offset; // exclusive
                let lo = hi - count;
                let iter = self.db.dataset_items.range(item_key(dataset_id, lo)..item_key(dataset_id, hi));
                for entry in iter.rev() {
                    items.push(entry?.1.to_vec());
                }
            } else {
                let iter = self.db.dataset_items.range(item_key(dataset_id, offset)..item_key(dataset_id, offset + count));
                for entry in iter {
                    items.push(entry?.1.to_vec());
                }
            }
        }
        Ok(ItemsPage { items, total, offset })
    }
}
