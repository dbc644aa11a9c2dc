//! Datasets: append-only lists of JSON objects. A push is one sled
//! transaction over the metadata (item count) and the items, so a crash
//! never leaves a half-pushed batch or a count that disagrees with the items.

use std::ops::Deref;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use super::catalog::{Catalog, StorageInfo, StorageMeta};
use crate::ids;
use crate::platform::db::{get_json, owned_key, remove_owned, Db};
use crate::platform::error::{PlatformError, Result};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatasetMeta {
    #[serde(flatten)]
    pub info: StorageInfo,
    pub item_count: u64,
}

impl StorageMeta for DatasetMeta {
    const KIND: &'static str = "Dataset";
    fn new(info: StorageInfo) -> Self {
        DatasetMeta { info, item_count: 0 }
    }
    fn info(&self) -> &StorageInfo {
        &self.info
    }
    fn info_mut(&mut self) -> &mut StorageInfo {
        &mut self.info
    }
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

/// Datasets: the shared catalog (metadata, names) plus items.
#[derive(Clone)]
pub struct Datasets {
    catalog: Catalog<DatasetMeta>,
    items: sled::Tree,
}

impl Deref for Datasets {
    type Target = Catalog<DatasetMeta>;
    fn deref(&self) -> &Self::Target {
        &self.catalog
    }
}

impl Datasets {
    pub fn new(db: &Db, user_id: String, username: String) -> Self {
        Datasets {
            catalog: Catalog::new(db.datasets.clone(), db.dataset_names.clone(), user_id, username),
            items: db.dataset_items.clone(),
        }
    }

    /// Deletes the dataset and all its items.
    pub fn delete(&self, reference: &str) -> Result<()> {
        let meta = self.catalog.remove(reference)?;
        remove_owned(&self.items, &meta.info.id)
    }

    /// Appends already-validated items (see [`prepare_items`]). Returns the new item count.
    pub fn push(&self, dataset_id: &str, items: &[Vec<u8>]) -> Result<u64> {
        let result = (self.catalog.metas(), &self.items).transaction(|(metas, store)| {
            let raw = metas.get(dataset_id)?.ok_or_else(|| {
                ConflictableTransactionError::Abort(PlatformError::not_found(format!("Dataset was not found: {dataset_id}")))
            })?;
            let mut meta: DatasetMeta =
                serde_json::from_slice(&raw).map_err(|e| ConflictableTransactionError::Abort(PlatformError::from(e)))?;
            for (i, item) in items.iter().enumerate() {
                store.insert(item_key(dataset_id, meta.item_count + i as u64), item.as_slice())?;
            }
            meta.item_count += items.len() as u64;
            let now = ids::now();
            meta.info.modified_at = now;
            meta.info.accessed_at = now;
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
        let meta: DatasetMeta = get_json(self.catalog.metas(), dataset_id)?
            .ok_or_else(|| PlatformError::not_found(format!("Dataset was not found: {dataset_id}")))?;
        let total = meta.item_count;
        let mut items = Vec::new();
        if offset < total && limit > 0 {
            let count = limit.min(total - offset);
            if desc {
                // Newest first: offset 0 is the last item.
                let hi = total - offset; // exclusive
                let lo = hi - count;
                let iter = self.items.range(item_key(dataset_id, lo)..item_key(dataset_id, hi));
                for entry in iter.rev() {
                    items.push(entry?.1.to_vec());
                }
            } else {
                let iter = self.items.range(item_key(dataset_id, offset)..item_key(dataset_id, offset + count));
                for entry in iter {
                    items.push(entry?.1.to_vec());
                }
            }
        }
        Ok(ItemsPage { items, total, offset })
    }
}
