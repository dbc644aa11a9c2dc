//! Key-value stores: records with a content type, binary values, keys listed in
//! UTF-8 binary order.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{validate_storage_name, StorageRef};
use crate::ids::{self, ts};
use crate::platform::db::{get_json, owned_key, owner_prefix, put_json, Db};
use crate::platform::error::{PlatformError, Result};

/// Metadata of a key-value store, stored as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KvStoreMeta {
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
    let ok = !key.is_empty()
        && key.len() <= 256
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b"!-_.'()".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(PlatformError::invalid_kind(
            "invalid-record-key",
            format!("The record key \"{}\" is not valid: use 1-256 characters of a-z, A-Z, 0-9 and !-_.'()", key.chars().take(300).collect::<String>()),
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
    Ok(Record {
        content_type: String::from_utf8_lossy(&raw[1..1 + n]).into_owned(),
        value: raw[1 + n..].to_vec(),
    })
}

fn record_size(raw: &[u8]) -> u64 {
    let n = raw.first().copied().unwrap_or(0) as usize;
    raw.len().saturating_sub(1 + n) as u64
}

/// The key-value store half of the storage layer.
#[derive(Clone)]
pub struct KvStores {
    db: Db,
    user_id: String,
    username: String,
}

impl KvStores {
    pub fn new(db: Db, user_id: String, username: String) -> Self {
        KvStores { db, user_id, username }
    }

    /// Creates a new unnamed store, optionally linked to a run.
    pub fn create(&self, act_id: Option<&str>, act_run_id: Option<&str>) -> Result<KvStoreMeta> {
        let now = ids::now();
        let meta = KvStoreMeta {
            id: ids::new_id(),
            name: None,
            user_id: self.user_id.clone(),
            username: self.username.clone(),
            created_at: now,
            modified_at: now,
            accessed_at: now,
            act_id: act_id.map(str::to_owned),
            act_run_id: act_run_id.map(str::to_owned),
        };
        put_json(&self.db.kv_stores, &meta.id, &meta)?;
        Ok(meta)
    }

    /// Gets the store named `name`, creating it if needed. Returns whether it was created.
    pub fn get_or_create_named(&self, name: &str) -> Result<(KvStoreMeta, bool)> {
        validate_storage_name(name)?;
        loop {
            if let Some(id) = self.db.kv_names.get(name)? {
                let id = String::from_utf8_lossy(&id).into_owned();
                if let Some(meta) = get_json::<KvStoreMeta>(&self.db.kv_stores, &id)? {
                    return Ok((meta, false));
                }
                // A dangling name (store deleted mid-way): drop it and retry.
                let _ = self.db.kv_names.compare_and_swap(name, Some(id.as_bytes()), None as Option<&[u8]>)?;
                continue;
            }
            let mut meta = self.create(None, None)?;
            meta.name = Some(name.to_owned());
            // Claim the name atomically; a concurrent creator wins and we drop ours.
            match self.db.kv_names.compare_and_swap(name, None as Option<&[u8]>, Some(meta.id.as_bytes()))? {
                Ok(()) => {
                    put_json(&self.db.kv_stores, &meta.id, &meta)?;
                    return Ok((meta, true));
                }
                Err(_) => {
                    self.db.kv_stores.remove(&meta.id)?;
                }
            }
        }
    }

    /// Resolves an ID, `username~name` or bare name.
    pub fn get(&self, reference: &str) -> Result<KvStoreMeta> {
        let id = match StorageRef::parse(reference) {
            StorageRef::Id(id) => {
                if let Some(meta) = get_json(&self.db.kv_stores, id)? {
                    return Ok(meta);
                }
                // A bare name is accepted too.
                self.db.kv_names.get(id)?
            }
            StorageRef::Name(name) => self.db.kv_names.get(name)?,
        };
        let not_found = || PlatformError::not_found(format!("Key-value store was not found: {reference}"));
        let id = id.ok_or_else(not_found)?;
        get_json(&self.db.kv_stores, &id)?.ok_or_else(not_found)
    }

    pub fn list(&self, unnamed: bool) -> Result<Vec<KvStoreMeta>> {
        let mut out: Vec<KvStoreMeta> = Vec::new();
        for item in self.db.kv_stores.iter() {
            let (_, v) = item?;
            let meta: KvStoreMeta = serde_json::from_slice(&v)?;
            if unnamed || meta.name.is_some() {
                out.push(meta);
            }
        }
        out.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Renames a store (or makes it unnamed with `None`).
    pub fn rename(&self, reference: &str, name: Option<&str>) -> Result<KvStoreMeta> {
        let mut meta = self.get(reference)?;
        if meta.name.as_deref() == name {
            return Ok(meta);
        }
        if let Some(name) = name {
            validate_storage_name(name)?;
            if self.db.kv_names.compare_and_swap(name, None as Option<&[u8]>, Some(meta.id.as_bytes()))?.is_err() {
                return Err(PlatformError::Conflict(format!("Key-value store named \"{name}\" already exists")));
            }
        }
        if let Some(old) = &meta.name {
            self.db.kv_names.remove(old.as_str())?;
        }
        meta.name = name.map(str::to_owned);
        meta.modified_at = ids::now();
        put_json(&self.db.kv_stores, &meta.id, &meta)?;
        Ok(meta)
    }

    pub fn delete(&self, reference: &str) -> Result<()> {
        let meta = self.get(reference)?;
        if let Some(name) = &meta.name {
            self.db.kv_names.remove(name.as_str())?;
        }
        self.db.kv_stores.remove(&meta.id)?;
        let mut batch = sled::Batch::default();
        for item in self.db.kv_records.scan_prefix(owner_prefix(&meta.id)) {
            batch.remove(item?.0);
        }
        self.db.kv_records.apply_batch(batch)?;
        Ok(())
    }

    pub fn get_record(&self, store_id: &str, key: &str) -> Result<Option<Record>> {
        validate_key(key)?;
        match self.db.kv_records.get(owned_key(store_id, key.as_bytes()))? {
            Some(raw) => Ok(Some(decode_record(&raw)?)),
            None => Ok(None),
        }
    }

    pub fn set_record(&self, store_id: &str, key: &str, value: &[u8], content_type: &str, max_bytes: usize) -> Result<()> {
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
        self.touch(store_id, true)?;
        self.db.kv_records.insert(owned_key(store_id, key.as_bytes()), encode_record(content_type, value))?;
        Ok(())
    }

    pub fn delete_record(&self, store_id: &str, key: &str) -> Result<()> {
        validate_key(key)?;
        self.touch(store_id, true)?;
        self.db.kv_records.remove(owned_key(store_id, key.as_bytes()))?;
        Ok(())
    }

    /// Keys after `exclusive_start_key`, in UTF-8 binary order.
    pub fn list_keys(&self, store_id: &str, exclusive_start_key: Option<&str>, limit: usize, prefix: Option<&str>) -> Result<KeyPage> {
        let owner = owner_prefix(store_id);
        let scan_prefix = owned_key(store_id, prefix.unwrap_or("").as_bytes());
        let mut items = Vec::new();
        let mut is_truncated = false;
        let iter = match exclusive_start_key {
            Some(start) => {
                let mut from = owned_key(store_id, start.as_bytes());
                from.push(0); // first key strictly after `start`
                self.db.kv_records.range(from..)
            }
            None => self.db.kv_records.range(scan_prefix.clone()..),
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

    /// Bumps the store's access (and modification) time; fails if the store is gone.
    fn touch(&self, store_id: &str, modified: bool) -> Result<()> {
        let mut meta = get_json::<KvStoreMeta>(&self.db.kv_stores, store_id)?
            .ok_or_else(|| PlatformError::not_found(format!("Key-value store was not found: {store_id}")))?;
        let now = ids::now();
        meta.accessed_at = now;
        if modified {
            meta.modified_at = now;
        }
        put_json(&self.db.kv_stores, store_id, &meta)
    }
}
