//! Datasets: append-only lists of JSON objects. A push writes its items
//! past the item count and then moves the count in one atomic update, so a
//! crash never leaves a half-pushed batch visible or a count that disagrees
//! with the items.

use std::ops::Deref;

use serde::{Deserialize, Serialize};

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

/// The first byte of a JSON object and of a JSON array.
const OBJECT_OPEN: u8 = 0x7b;
const ARRAY_OPEN: u8 = 0x5b;

/// Items in their stored form (compact JSON objects), back to back in one
/// buffer: a push costs about its own size in memory, never a tree of values.
#[derive(Debug, Default)]
pub struct PreparedItems {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl PreparedItems {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Bytes of all items in stored form.
    pub fn byte_len(&self) -> usize {
        self.bytes.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(self.ends.iter().copied()).map(|(a, b)| &self.bytes[a..b])
    }

    /// Transcodes one JSON value from `de` onto the end of the buffer; it must be an object.
    fn push_from<'de, D: serde::Deserializer<'de>>(&mut self, de: D) -> std::result::Result<(), String> {
        let start = self.bytes.len();
        serde_transcode::transcode(de, &mut serde_json::Serializer::new(&mut self.bytes)).map_err(|e| e.to_string())?;
        if self.bytes.get(start) != Some(&OBJECT_OPEN) {
            self.bytes.truncate(start);
            return Err(format!("Dataset item at index {} is not a JSON object", self.ends.len()));
        }
        self.ends.push(self.bytes.len());
        Ok(())
    }

    /// A push body: one JSON object or an array of objects, parsed once,
    /// straight into stored form. All or nothing: one bad item rejects it.
    pub fn from_body(body: &[u8]) -> Result<PreparedItems> {
        let invalid = |m: String| PlatformError::invalid_kind("invalid-value", m);
        let mut items = PreparedItems { bytes: Vec::with_capacity(body.len()), ends: Vec::new() };
        let mut de = serde_json::Deserializer::from_slice(body);
        match body.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(&ARRAY_OPEN) => {
                serde::Deserializer::deserialize_seq(&mut de, ItemsVisitor(&mut items))
                    .map_err(|e| invalid(format!("The items are not valid: {e}")))?;
            }
            Some(&OBJECT_OPEN) => items.push_from(&mut de).map_err(|e| invalid(format!("The item is not valid JSON: {e}")))?,
            _ => return Err(invalid("Dataset items must be a JSON object or an array of objects".into())),
        }
        de.end().map_err(|e| invalid(format!("The request body is not valid JSON: {e}")))?;
        Ok(items)
    }

    /// Items given one JSON text each (the WIT door), parsed once into stored form.
    pub fn from_texts<'a>(texts: impl IntoIterator<Item = &'a str>) -> Result<PreparedItems> {
        let mut items = PreparedItems::default();
        for (i, text) in texts.into_iter().enumerate() {
            let mut de = serde_json::Deserializer::from_str(text);
            let parsed = items.push_from(&mut de).and_then(|()| de.end().map_err(|e| e.to_string()));
            if let Err(e) = parsed {
                return Err(PlatformError::invalid_kind("invalid-value", format!("Dataset item at index {i} is not valid: {e}")));
            }
        }
        Ok(items)
    }
}

/// Stored items in the order a read asked for, read from sled as iterated.
pub struct ItemScan {
    /// Items in the dataset.
    pub total: u64,
    /// The indexes of the items scanned.
    pub range: std::ops::Range<u64>,
    iter: sled::Iter,
    desc: bool,
}

impl Iterator for ItemScan {
    type Item = Result<sled::IVec>;

    fn next(&mut self) -> Option<Self::Item> {
        let entry = if self.desc { self.iter.next_back() } else { self.iter.next() };
        entry.map(|e| e.map(|(_, v)| v).map_err(PlatformError::from))
    }
}

/// Transcodes each element of the top-level array as it is parsed.
struct ItemsVisitor<'a>(&'a mut PreparedItems);

impl<'de> serde::de::Visitor<'de> for ItemsVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of JSON objects")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        while seq.next_element_seed(ItemSeed(&mut *self.0))?.is_some() {}
        Ok(())
    }
}

struct ItemSeed<'a>(&'a mut PreparedItems);

impl<'de> serde::de::DeserializeSeed<'de> for ItemSeed<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, de: D) -> std::result::Result<(), D::Error> {
        self.0.push_from(de).map_err(serde::de::Error::custom)
    }
}

/// Locks that serialise pushes per dataset (by hash: a bounded table).
const PUSH_LOCK_SHARDS: usize = 64;

fn shard(dataset_id: &str) -> usize {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    dataset_id.hash(&mut h);
    h.finish() as usize % PUSH_LOCK_SHARDS
}

fn item_key(dataset_id: &str, index: u64) -> Vec<u8> {
    owned_key(dataset_id, &index.to_be_bytes())
}

/// Datasets: the shared catalog (metadata, names) plus items.
#[derive(Clone)]
pub struct Datasets {
    catalog: Catalog<DatasetMeta>,
    items: sled::Tree,
    push_locks: std::sync::Arc<[parking_lot::Mutex<()>; PUSH_LOCK_SHARDS]>,
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
            push_locks: std::sync::Arc::new(std::array::from_fn(|_| parking_lot::Mutex::new(()))),
        }
    }

    /// Deletes the dataset and all its items.
    pub fn delete(&self, reference: &str) -> Result<()> {
        let meta = self.catalog.remove(reference)?;
        remove_owned(&self.items, &meta.info.id)
    }

    /// Appends prepared items; returns the new item count. All or nothing:
    /// the items are written past the current count, where nobody reads,
    /// and then the count moves past them in one atomic update. A crash before that leaves nothing visible, and the next
    /// push writes over what it left.
    pub fn push(&self, dataset_id: &str, items: &PreparedItems) -> Result<u64> {
        // One pusher per dataset at a time, so the indexes it writes are its own.
        let _pushing = self.push_locks[shard(dataset_id)].lock();
        let first = self.meta(dataset_id)?.item_count;
        // One insert per item: sled's batches and transactions hold
        // kilobytes per key in memory until applied (a 9 MB push of small
        // items took gigabytes); single inserts cost a couple hundred bytes.
        for (i, item) in items.iter().enumerate() {
            self.items.insert(item_key(dataset_id, first + i as u64), item)?;
        }
        let count = first + items.len() as u64;
        loop {
            let Some(old) = self.catalog.metas().get(dataset_id)? else {
                // Deleted meanwhile: what was written goes with it.
                remove_owned(&self.items, dataset_id)?;
                return Err(PlatformError::not_found(format!("Dataset was not found: {dataset_id}")));
            };
            let mut meta: DatasetMeta = serde_json::from_slice(&old)?;
            meta.item_count = count;
            let now = ids::now();
            meta.info.modified_at = now;
            meta.info.accessed_at = now;
            if self.catalog.metas().compare_and_swap(dataset_id, Some(&old), Some(serde_json::to_vec(&meta)?))?.is_ok() {
                return Ok(count);
            }
        }
    }

    fn meta(&self, dataset_id: &str) -> Result<DatasetMeta> {
        get_json(self.catalog.metas(), dataset_id)?.ok_or_else(|| PlatformError::not_found(format!("Dataset was not found: {dataset_id}")))
    }

    /// The stored items `offset..offset+limit` (counted from the end when
    /// `desc`), read lazily as the scan is iterated.
    pub fn scan_items(&self, dataset_id: &str, offset: u64, limit: u64, desc: bool) -> Result<ItemScan> {
        let total = self.meta(dataset_id)?.item_count;
        let count = if offset < total { limit.min(total - offset) } else { 0 };
        // Newest first: offset 0 is the last item.
        let start = if desc { total - offset.min(total) - count } else { offset.min(total) };
        Ok(self.scan_range(dataset_id, start..start + count, desc, total))
    }

    /// Items by their index in the dataset, `range.start` first (last when `desc`).
    pub fn scan_range(&self, dataset_id: &str, range: std::ops::Range<u64>, desc: bool, total: u64) -> ItemScan {
        let iter = self.items.range(item_key(dataset_id, range.start)..item_key(dataset_id, range.end));
        ItemScan { total, range, iter, desc }
    }

    /// Items as [`Self::scan_items`] reads them, at most `max_bytes` of them
    /// (but always the first one, which no push made larger than a push).
    pub fn get_items(&self, dataset_id: &str, offset: u64, limit: u64, desc: bool, max_bytes: usize) -> Result<ItemsPage> {
        let scan = self.scan_items(dataset_id, offset, limit, desc)?;
        let total = scan.total;
        let (mut items, mut bytes) = (Vec::new(), 0usize);
        for item in scan {
            let item = item?;
            bytes = bytes.saturating_add(item.len());
            if bytes > max_bytes && !items.is_empty() {
                break;
            }
            items.push(item.to_vec());
        }
        Ok(ItemsPage { items, total, offset })
    }
}

#[cfg(test)]
mod tests {
    use super::PreparedItems;

    fn stored(items: &PreparedItems) -> Vec<String> {
        items.iter().map(|b| String::from_utf8(b.to_vec()).unwrap()).collect()
    }

    #[test]
    fn a_body_becomes_compact_objects_in_one_pass() {
        let items = PreparedItems::from_body(br#" [ {"a": 1, "b": [1, 2]}, {"c": {"d": "e"}} ] "#).unwrap();
        assert_eq!(stored(&items), [r#"{"a":1,"b":[1,2]}"#, r#"{"c":{"d":"e"}}"#]);
        assert_eq!(stored(&PreparedItems::from_body(br#"{"x": null}"#).unwrap()), [r#"{"x":null}"#]);
        assert!(PreparedItems::from_body(b"[]").unwrap().is_empty());
    }

    #[test]
    fn anything_but_objects_is_rejected_whole() {
        for bad in [&b"[{\"a\":1}, 2]"[..], b"[[1]]", b"\"x\"", b"{\"a\":1} {}", b"[{\"a\":1}", b"", b"1"] {
            assert!(PreparedItems::from_body(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        assert!(PreparedItems::from_texts(["{}", "[1]"]).is_err());
        assert!(PreparedItems::from_texts(["{\"a\":1} x"]).is_err());
        assert_eq!(stored(&PreparedItems::from_texts([" { \"a\" : 1 } "]).unwrap()), [r#"{"a":1}"#]);
    }
}
