//! Key-value stores: records with a content type, binary values, keys listed in
//! UTF-8 binary order.

use std::ops::Deref;

use serde::{Deserialize, Serialize};

use super::catalog::{Catalog, StorageInfo, StorageMeta};
use crate::platform::db::{owned_key, owner_prefix, remove_owned, Db};
use crate::platform::error::{PlatformError, Result};

/// Metadata of a key-value store, stored as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KvStoreMeta {
    #[serde(flatten)]
    pub info: StorageInfo,
    /// The store's schema (`.actor/key_value_store_schema.json`): its `collections` name key sets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<serde_json::Value>,
}

impl StorageMeta for KvStoreMeta {
    const KIND: &'static str = "Key-value store";
    fn new(info: StorageInfo) -> Self {
        KvStoreMeta { info, schema: None }
    }
    fn info(&self) -> &StorageInfo {
        &self.info
    }
    fn info_mut(&mut self) -> &mut StorageInfo {
        &mut self.info
    }
}

/// A stored record.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub value: Vec<u8>,
    pub content_type: String,
}

#[derive(Debug, Clone)]
pub struct KeyInfo {
    pub key: String,
    pub size: u64,
}

#[derive(Debug, Clone)]
pub struct KeyPage {
    pub items: Vec<KeyInfo>,
    pub limit: usize,
    pub exclusive_start_key: Option<String>,
    pub is_truncated: bool,
    pub next_exclusive_start_key: Option<String>,
}

/// Apify's record-key charset: `^[a-zA-Z0-9!\-_.'()]{1,256}$`.
pub fn validate_key(key: &str) -> Result<()> {
    let ok = !key.is_empty() && key.len() <= 256 && key.bytes().all(|b| b.is_ascii_alphanumeric() || b"!-_.'()".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(PlatformError::invalid_kind(
            "invalid-record-key",
            format!(
                "The record key \"{}\" is not valid: use 1-256 characters of a-z, A-Z, 0-9 and !-_.'()",
                key.chars().take(300).collect::<String>()
            ),
        ))
    }
}

fn encode_record(content_type: &str, value: &[u8]) -> Vec<u8> {
    let ct = content_type.as_bytes();
    let mut out = Vec::with_capacity(1 + ct.len() + value.len());
    out.push(ct.len() as u8);
    out.extend_from_slice(ct);
    out.extend_from_slice(value);
    out
}

fn decode_record(raw: &[u8]) -> Result<Record> {
    let n = *raw.first().ok_or_else(|| PlatformError::internal("empty stored record"))? as usize;
    if raw.len() < 1 + n {
        return Err(PlatformError::internal("truncated stored record"));
    }
    Ok(Record { content_type: String::from_utf8_lossy(&raw[1..1 + n]).into_owned(), value: raw[1 + n..].to_vec() })
}

fn record_size(raw: &[u8]) -> u64 {
    let n = raw.first().copied().unwrap_or(0) as usize;
    raw.len().saturating_sub(1 + n) as u64
}

/// Key-value stores: the shared catalog (metadata, names) plus records.
#[derive(Clone)]
pub struct KvStores {
    catalog: Catalog<KvStoreMeta>,
    records: sled::Tree,
    /// The largest record a client or guest may store.
    max_record_bytes: usize,
    /// The most keys one page lists.
    max_keys_per_page: usize,
    bytes: std::sync::Arc<super::bytes::StorageBytes>,
}

impl Deref for KvStores {
    type Target = Catalog<KvStoreMeta>;
    fn deref(&self) -> &Self::Target {
        &self.catalog
    }
}

impl KvStores {
    pub fn new(db: &Db, limits: &crate::limits::Limits, bytes: std::sync::Arc<super::bytes::StorageBytes>) -> Result<Self> {
        Ok(KvStores {
            bytes,
            catalog: Catalog::open(db.kv_stores.clone(), db.kv_names.clone(), db.user_names.clone())?,
            records: db.kv_records.clone(),
            max_record_bytes: limits.max_record_bytes,
            max_keys_per_page: limits.max_keys_per_page,
        })
    }

    /// The largest record `set_record` takes.
    pub fn max_record_bytes(&self) -> usize {
        self.max_record_bytes
    }

    /// Deletes the store and all its records.
    pub fn delete(&self, reference: &str) -> Result<()> {
        let meta = self.catalog.remove(reference)?;
        remove_owned(&self.records, &meta.info.id)?;
        self.bytes.remove_storage(&meta.info.user_id, &meta.info.id)
    }

    pub fn get_record(&self, store_id: &str, key: &str) -> Result<Option<Record>> {
        validate_key(key)?;
        match self.records.get(owned_key(store_id, key.as_bytes()))? {
            Some(raw) => Ok(Some(decode_record(&raw)?)),
            None => Ok(None),
        }
    }

    /// Stores a record of at most [`Self::max_record_bytes`].
    pub fn set_record(&self, store_id: &str, key: &str, value: &[u8], content_type: &str) -> Result<()> {
        self.set_record_within(store_id, key, value, content_type, self.max_record_bytes)
    }

    /// Stores a record of at most `max_bytes` (a run's input has a cap of its own).
    pub(crate) fn set_record_within(&self, store_id: &str, key: &str, value: &[u8], content_type: &str, max_bytes: usize) -> Result<()> {
        validate_key(key)?;
        if value.len() > max_bytes {
            return Err(PlatformError::too_large(
                "record-too-large",
                format!("The record \"{key}\" is {} bytes, over the limit of {max_bytes} bytes", value.len()),
            ));
        }
        if content_type.len() > 255 || content_type.bytes().any(|b| b.is_ascii_control()) {
            return Err(PlatformError::invalid_kind("invalid-content-type", "The content type is not valid"));
        }
        let owner = self.catalog.touch(store_id, true)?;
        let (key, record) = (owned_key(store_id, key.as_bytes()), encode_record(content_type, value));
        let len = record.len() as i64;
        if !self.bytes.is_limited(&owner) {
            // Nothing to refuse: counted by what the write replaced, with no read before it.
            let replaced = self.records.insert(key, record)?.map_or(0, |old| old.len() as i64);
            return self.bytes.add(&owner, store_id, len - replaced);
        }
        // The quota counts what the record adds over the one it replaces.
        let before = self.records.get(&key)?.map_or(0, |old| old.len() as i64);
        self.bytes.add(&owner, store_id, len - before)?;
        let replaced = match self.records.insert(key, record) {
            Ok(old) => old.map_or(0, |old| old.len() as i64),
            Err(e) => {
                self.bytes.add(&owner, store_id, before - len)?;
                return Err(e.into());
            }
        };
        // A concurrent write in between replaced another value than the one counted.
        self.bytes.add(&owner, store_id, before - replaced)
    }

    pub fn delete_record(&self, store_id: &str, key: &str) -> Result<()> {
        validate_key(key)?;
        let owner = self.catalog.touch(store_id, true)?;
        if let Some(old) = self.records.remove(owned_key(store_id, key.as_bytes()))? {
            self.bytes.add(&owner, store_id, -(old.len() as i64))?;
        }
        Ok(())
    }

    /// Keys after `exclusive_start_key`, in UTF-8 binary order. `limit` is
    /// clamped to 1..=the page maximum (the whole page when absent), as
    /// Apify does, through either door.
    pub fn list_keys(
        &self,
        store_id: &str,
        exclusive_start_key: Option<&str>,
        limit: Option<u64>,
        prefix: Option<&str>,
    ) -> Result<KeyPage> {
        let max = self.max_keys_per_page;
        let limit = limit.map_or(max, |l| usize::try_from(l).unwrap_or(max).clamp(1, max));
        let owner = owner_prefix(store_id);
        let scan_prefix = owned_key(store_id, prefix.unwrap_or("").as_bytes());
        let mut items = Vec::new();
        let mut is_truncated = false;
        let iter = match exclusive_start_key {
            Some(start) => {
                let mut from = owned_key(store_id, start.as_bytes());
                from.push(0); // first key strictly after `start`
                self.records.range(from..)
            }
            None => self.records.range(scan_prefix.clone()..),
        };
        for entry in iter {
            let (k, v) = entry?;
            if !k.starts_with(&scan_prefix) {
                if k.starts_with(&owner) && k[..] < scan_prefix[..] {
                    continue; // start key sorted before the prefix
                }
                break;
            }
            if items.len() == limit {
                is_truncated = true;
                break;
            }
            items.push(KeyInfo { key: String::from_utf8_lossy(&k[owner.len()..]).into_owned(), size: record_size(&v) });
        }
        let next = if is_truncated { items.last().map(|i| i.key.clone()) } else { None };
        Ok(KeyPage {
            items,
            limit,
            exclusive_start_key: exclusive_start_key.map(str::to_owned),
            is_truncated,
            next_exclusive_start_key: next,
        })
    }

    /// Every record whose key starts with `prefix`, in key order, read as iterated.
    pub fn scan_records(&self, store_id: &str, prefix: Option<&str>) -> impl Iterator<Item = Result<(String, Record)>> {
        let owner_len = owner_prefix(store_id).len();
        self.records.scan_prefix(owned_key(store_id, prefix.unwrap_or("").as_bytes())).map(move |entry| {
            let (k, v) = entry?;
            Ok((String::from_utf8_lossy(&k[owner_len..]).into_owned(), decode_record(&v)?))
        })
    }
}
