//! Datasets: append-only lists of JSON objects. A push writes its items
//! past the item count and then moves the count in one atomic update, so a
//! crash never leaves a half-pushed batch visible or a count that disagrees
//! with the items.
//!
//! Items are stored in chunks of up to [`MAX_CHUNK_BYTES`], keyed by the
//! index of their first item: a push of 1,000 small items is one sled
//! insert, not 1,000 (each insert copies the tree node it lands in).

use std::ops::Deref;

use serde::{Deserialize, Serialize};

use super::catalog::{Catalog, StorageInfo, StorageMeta};
use crate::ids;
use crate::platform::db::{get_json, owned_key, remove_owned, Db};
use crate::platform::error::{PlatformError, Result};

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatasetMeta {
    #[serde(flatten)]
    pub info: StorageInfo,
    pub item_count: u64,
    /// Items with at least one field not hidden (`#…`); absent in datasets
    /// from before it was counted, which count as all clean.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clean_item_count: Option<u64>,
    /// The dataset schema (`.actor/dataset_schema.json`): `fields` validates each pushed item, `views` name item views.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<serde_json::Value>,
    /// Per field of the schema's `fields`, kept up to date by each push (`GET …/statistics`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_statistics: Option<std::collections::BTreeMap<String, FieldStat>>,
}

/// What Apify measures of a schema field: `min`/`max` of numbers, and of the
/// length of strings and arrays and the key count of objects; items where it
/// is null or absent; items where it is empty (`""`, `[]`, `{}`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FieldStat {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    pub null_count: u64,
    pub empty_count: u64,
}

impl FieldStat {
    fn add(&mut self, v: Option<&serde_json::Value>) {
        use serde_json::Value;
        let measure = match v {
            None | Some(Value::Null) => {
                self.null_count += 1;
                return;
            }
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) => Some(s.chars().count() as f64),
            Some(Value::Array(a)) => Some(a.len() as f64),
            Some(Value::Object(o)) => Some(o.len() as f64),
            Some(Value::Bool(_)) => None,
        };
        if matches!(v, Some(Value::String(s)) if s.is_empty())
            || matches!(v, Some(Value::Array(a)) if a.is_empty())
            || matches!(v, Some(Value::Object(o)) if o.is_empty())
        {
            self.empty_count += 1;
        }
        if let Some(m) = measure {
            self.min = Some(self.min.map_or(m, |x| x.min(m)));
            self.max = Some(self.max.map_or(m, |x| x.max(m)));
        }
    }

    fn merge(&mut self, other: &FieldStat) {
        self.null_count += other.null_count;
        self.empty_count += other.empty_count;
        for (mine, theirs, pick) in [(&mut self.min, other.min, f64::min as fn(f64, f64) -> f64), (&mut self.max, other.max, f64::max)] {
            if let Some(t) = theirs {
                *mine = Some(mine.map_or(t, |m| pick(m, t)));
            }
        }
    }
}

/// The statistics of `items` for the fields a schema's `fields` names.
fn field_stats(schema: &serde_json::Value, items: &PreparedItems) -> Result<Option<std::collections::BTreeMap<String, FieldStat>>> {
    let Some(props) = schema.get("fields").and_then(|f| f.get("properties")).and_then(|p| p.as_object()) else { return Ok(None) };
    let mut stats: std::collections::BTreeMap<String, FieldStat> = props.keys().map(|k| (k.clone(), FieldStat::default())).collect();
    for raw in items.iter() {
        let item: serde_json::Value = serde_json::from_slice(raw)?;
        for (field, stat) in stats.iter_mut() {
            stat.add(item.get(field));
        }
    }
    Ok(Some(stats))
}

impl DatasetMeta {
    pub fn clean_item_count(&self) -> u64 {
        self.clean_item_count.unwrap_or(self.item_count)
    }
}

impl StorageMeta for DatasetMeta {
    const KIND: &'static str = "Dataset";
    fn new(info: StorageInfo) -> Self {
        DatasetMeta { info, item_count: 0, clean_item_count: Some(0), schema: None, field_statistics: None }
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

    /// Keeps the first `n` items only.
    pub fn truncate(&mut self, n: usize) {
        if n < self.ends.len() {
            self.ends.truncate(n);
            self.bytes.truncate(self.ends.last().copied().unwrap_or(0));
        }
    }

    /// Items that are not empty once hidden fields are dropped (`cleanItemCount`).
    pub fn clean_count(&self) -> u64 {
        self.iter().filter(|item| is_clean(item)).count() as u64
    }

    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(self.ends.iter().copied()).map(|(a, b)| &self.bytes[a..b])
    }

    /// The items in stored chunks of at most `max_bytes` of items each (an
    /// item bigger than that is a chunk of its own): how many each holds, and its bytes.
    fn chunks(&self, max_bytes: usize) -> impl Iterator<Item = (usize, Vec<u8>)> + '_ {
        let mut next = 0;
        std::iter::from_fn(move || {
            let first = next;
            let start = if first == 0 { 0 } else { *self.ends.get(first - 1)? };
            if first >= self.ends.len() {
                return None;
            }
            let mut last = first + 1;
            while last < self.ends.len() && self.ends[last] - start <= max_bytes {
                last += 1;
            }
            next = last;
            Some((last - first, encode_chunk(&self.bytes[start..self.ends[last - 1]], &self.ends[first..last], start)))
        })
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

/// Whether a stored item (a compact JSON object) has a field not starting
/// with `#`. Nearly always the first key tells; only otherwise is it parsed.
fn is_clean(item: &[u8]) -> bool {
    // Stored items are compact objects: two bytes is the empty one.
    if item.len() <= 2 {
        return false;
    }
    if item.get(1) == Some(&b'"') && item.get(2).is_some_and(|c| *c != b'#') {
        return true;
    }
    serde_json::from_slice::<std::collections::HashMap<String, serde::de::IgnoredAny>>(item)
        .map(|o| o.keys().any(|k| !k.starts_with('#')))
        .unwrap_or(true)
}

/// Items stored per chunk, at most (a bigger item is a chunk of its own).
pub const MAX_CHUNK_BYTES: usize = 64 * 1024;

/// The first byte of a chunk of several items. A chunk of one item is the
/// item itself (a JSON object, so `{`), as items were stored one per key
/// before chunks: those read as chunks of one.
const CHUNK_TAG: u8 = 0;

/// `CHUNK_TAG`, the item count (u32 LE), each item's end offset in the
/// items (u32 LE), then the items back to back. `ends` are offsets into the
/// push's buffer, of which `items` starts at `base`.
fn encode_chunk(items: &[u8], ends: &[usize], base: usize) -> Vec<u8> {
    if ends.len() == 1 {
        return items.to_vec();
    }
    let mut out = Vec::with_capacity(1 + 4 + 4 * ends.len() + items.len());
    out.push(CHUNK_TAG);
    out.extend_from_slice(&(ends.len() as u32).to_le_bytes());
    for end in ends {
        out.extend_from_slice(&((end - base) as u32).to_le_bytes());
    }
    out.extend_from_slice(items);
    out
}

/// One stored chunk: the index of its first item and its bytes.
struct Chunk {
    first: u64,
    value: sled::IVec,
}

impl Chunk {
    fn decode(key: &[u8], value: sled::IVec) -> Result<Chunk> {
        let first = key.len().checked_sub(8).map(|at| u64::from_be_bytes(key[at..].try_into().expect("8 bytes")));
        let first = first.ok_or_else(|| PlatformError::internal("a dataset chunk key without an index"))?;
        let chunk = Chunk { first, value };
        if chunk.is_many() && chunk.value.len() < 5 + 4 * chunk.len() as usize {
            return Err(PlatformError::internal(format!("the dataset chunk at item {first} is damaged")));
        }
        Ok(chunk)
    }

    fn is_many(&self) -> bool {
        self.value.first() == Some(&CHUNK_TAG)
    }

    fn len(&self) -> u64 {
        match self.is_many() {
            true => self.value.get(1..5).map_or(0, |n| u32::from_le_bytes(n.try_into().expect("4 bytes")) as u64),
            false => 1,
        }
    }

    /// The item at `index` (of the dataset), as a view into the chunk's bytes.
    fn item(&self, index: u64) -> Result<sled::IVec> {
        if !self.is_many() {
            return Ok(self.value.clone());
        }
        let (i, n) = ((index - self.first) as usize, self.len() as usize);
        let end_at = |j: usize| u32::from_le_bytes(self.value[5 + 4 * j..9 + 4 * j].try_into().expect("4 bytes")) as usize;
        let items_at = 5 + 4 * n;
        let (start, end) = (if i == 0 { 0 } else { end_at(i - 1) }, end_at(i));
        if start > end || items_at + end > self.value.len() {
            return Err(PlatformError::internal(format!("the dataset chunk at item {} is damaged", self.first)));
        }
        Ok(self.value.subslice(items_at + start, end - start))
    }
}

/// Stored items in the order a read asked for, read from sled as iterated.
pub struct ItemScan {
    /// Items in the dataset.
    pub total: u64,
    /// The indexes of the items scanned.
    pub range: std::ops::Range<u64>,
    /// Chunks from the one holding `range.start` to the one holding the end.
    iter: sled::Iter,
    desc: bool,
    /// The chunk being read and the indexes of it still to yield.
    current: Option<(Chunk, std::ops::Range<u64>)>,
}

impl Iterator for ItemScan {
    type Item = Result<sled::IVec>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some((chunk, left)) = &mut self.current {
                if let Some(index) = if self.desc { left.next_back() } else { left.next() } {
                    return Some(chunk.item(index));
                }
                self.current = None;
            }
            let entry = if self.desc { self.iter.next_back()? } else { self.iter.next()? };
            let chunk = match entry.map_err(PlatformError::from).and_then(|(k, v)| Chunk::decode(&k, v)) {
                Ok(chunk) => chunk,
                Err(e) => return Some(Err(e)),
            };
            let left = chunk.first.max(self.range.start)..chunk.first.saturating_add(chunk.len()).min(self.range.end);
            self.current = Some((chunk, left));
        }
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
    pub validators: std::sync::Arc<super::schema::FieldValidators>,
    bytes: std::sync::Arc<super::bytes::StorageBytes>,
    /// Datasets known to hold nothing past their count (made by this
    /// process, or swept once): their pushes skip the sweep for leftovers.
    tidy: std::sync::Arc<parking_lot::Mutex<std::collections::HashSet<String>>>,
}

/// At most this many datasets are remembered as tidy (then the set starts over).
const MAX_TIDY: usize = 16_384;

impl Deref for Datasets {
    type Target = Catalog<DatasetMeta>;
    fn deref(&self) -> &Self::Target {
        &self.catalog
    }
}

impl Datasets {
    pub fn new(db: &Db, bytes: std::sync::Arc<super::bytes::StorageBytes>) -> Result<Self> {
        Ok(Datasets {
            bytes,
            catalog: Catalog::open(db.datasets.clone(), db.dataset_names.clone(), db.user_names.clone())?,
            items: db.dataset_items.clone(),
            push_locks: std::sync::Arc::new(std::array::from_fn(|_| parking_lot::Mutex::new(()))),
            validators: Default::default(),
            tidy: Default::default(),
        })
    }

    /// Attaches a dataset schema (checked first): pushes are validated against its `fields` from now on.
    /// A new dataset with its schema (if any) in its first write.
    pub fn create_with_schema(
        &self,
        owner: &crate::platform::users::User,
        act_id: Option<&str>,
        act_run_id: Option<&str>,
        schema: Option<&serde_json::Value>,
    ) -> Result<DatasetMeta> {
        if let Some(schema) = schema {
            self.validators.check(schema)?;
        }
        let meta = self.catalog.create_with(owner, act_id, act_run_id, |m| m.schema = schema.cloned())?;
        self.mark_tidy(&meta.info.id, true);
        Ok(meta)
    }

    fn mark_tidy(&self, dataset_id: &str, tidy: bool) {
        let mut set = self.tidy.lock();
        if !tidy {
            set.remove(dataset_id);
            return;
        }
        if set.len() >= MAX_TIDY {
            set.clear();
        }
        set.insert(dataset_id.to_owned());
    }

    pub fn set_schema(&self, reference: &str, schema: serde_json::Value) -> Result<DatasetMeta> {
        self.validators.check(&schema)?;
        self.catalog.update(reference, |m| m.schema = Some(schema.clone()))
    }

    /// Deletes the dataset and all its items.
    pub fn delete(&self, reference: &str) -> Result<()> {
        let meta = self.catalog.remove(reference)?;
        remove_owned(&self.items, &meta.info.id)?;
        self.bytes.remove_storage(&meta.info.user_id, &meta.info.id)
    }

    /// Appends prepared items; returns the new item count. All or nothing:
    /// the items are written past the current count, where nobody reads,
    /// and then the count moves past them in one atomic update. A crash before that leaves nothing visible, and the next
    /// push writes over what it left.
    pub fn push(&self, dataset_id: &str, items: &PreparedItems) -> Result<u64> {
        self.push_within(dataset_id, items, None).map(|(count, _)| count)
    }

    /// [`Self::push`] into a dataset that holds at most `cap` items: what
    /// does not fit is dropped. The new item count, and how many were stored.
    pub fn push_within(&self, dataset_id: &str, items: &PreparedItems, cap: Option<u64>) -> Result<(u64, u64)> {
        // One pusher per dataset at a time, so the indexes it writes are its own.
        let _pushing = self.push_locks[shard(dataset_id)].lock();
        let raw = self
            .catalog
            .metas()
            .get(dataset_id)?
            .ok_or_else(|| PlatformError::not_found(format!("Dataset was not found: {dataset_id}")))?;
        let meta: DatasetMeta = serde_json::from_slice(&raw)?;
        if let Some(schema) = &meta.schema {
            self.validators.validate(schema, items.iter())?;
        }
        let first = meta.item_count;
        let room = cap.map_or(u64::MAX, |c| c.saturating_sub(first));
        let cut;
        let items = if (items.len() as u64) > room {
            let mut kept = PreparedItems { bytes: items.bytes.clone(), ends: items.ends.clone() };
            kept.truncate(room as usize);
            cut = kept;
            &cut
        } else {
            items
        };
        if items.is_empty() {
            return Ok((first, 0));
        }
        // Counted against the owner's storage quota before anything is written.
        let size: i64 = items.chunks(MAX_CHUNK_BYTES).map(|(_, chunk)| chunk.len() as i64).sum();
        self.bytes.add(&meta.info.user_id, dataset_id, size)?;
        let written = self.append(dataset_id, (raw, &meta), first, items);
        if written.is_err() {
            // What it wrote before failing lies past the count.
            self.mark_tidy(dataset_id, false);
        }
        if matches!(written, Err(ref e) if !matches!(e, PlatformError::NotFound(_))) {
            self.bytes.add(&meta.info.user_id, dataset_id, -size)?;
        }
        written
    }

    /// Writes `items` past `first` and moves the count past them (see
    /// [`Self::push`]); `read` is the metadata as read for this push, raw and parsed.
    fn append(&self, dataset_id: &str, read: (sled::IVec, &DatasetMeta), first: u64, items: &PreparedItems) -> Result<(u64, u64)> {
        let (mut raw, meta) = (Some(read.0), read.1);
        // What a push cut short by a crash left past the count goes first:
        // a chunk of it could otherwise be taken for one of ours.
        if !self.tidy.lock().contains(dataset_id) {
            for stale in self.items.range(item_key(dataset_id, first)..=item_key(dataset_id, u64::MAX)).keys() {
                self.items.remove(stale?)?;
            }
            self.mark_tidy(dataset_id, true);
        }
        // One insert per chunk, not one batch: sled's batches hold
        // kilobytes per key in memory until applied.
        let mut index = first;
        for (len, chunk) in items.chunks(MAX_CHUNK_BYTES) {
            self.items.insert(item_key(dataset_id, index), chunk)?;
            index += len as u64;
        }
        let count = first + items.len() as u64;
        let clean = items.clean_count();
        let stats = match &meta.schema {
            Some(schema) => field_stats(schema, items)?,
            None => None,
        };
        loop {
            // The metadata this push read first (parsed already), then as it is now.
            let (old, mut meta) = match raw.take() {
                Some(read) => (read, meta.clone()),
                None => {
                    let Some(old) = self.catalog.metas().get(dataset_id)? else {
                        // Deleted meanwhile: what was written goes with it.
                        remove_owned(&self.items, dataset_id)?;
                        return Err(PlatformError::not_found(format!("Dataset was not found: {dataset_id}")));
                    };
                    let meta: DatasetMeta = serde_json::from_slice(&old)?;
                    (old, meta)
                }
            };
            meta.item_count = count;
            meta.clean_item_count = meta.clean_item_count.map(|c| c + clean);
            if let Some(delta) = &stats {
                let all = meta.field_statistics.get_or_insert_with(Default::default);
                for (field, d) in delta {
                    all.entry(field.clone()).or_default().merge(d);
                }
            }
            let now = ids::now();
            meta.info.modified_at = now;
            meta.info.accessed_at = now;
            if self.catalog.metas().compare_and_swap(dataset_id, Some(&old), Some(serde_json::to_vec(&meta)?))?.is_ok() {
                return Ok((count, items.len() as u64));
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
        // From the chunk that holds the first item asked for (it may start before it).
        let holding_start = match range.is_empty() {
            true => None,
            false => self.items.range(item_key(dataset_id, 0)..=item_key(dataset_id, range.start)).keys().next_back(),
        };
        let from = match holding_start {
            Some(Ok(key)) => key.to_vec(),
            _ => item_key(dataset_id, range.start),
        };
        let iter = self.items.range(from..item_key(dataset_id, range.end));
        ItemScan { total, range, iter, desc, current: None }
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
    use super::{item_key, PreparedItems, MAX_CHUNK_BYTES};

    /// Item `i` of the chunk tests: every tenth one big enough to need chunks of its own.
    fn item(i: u64) -> String {
        let pad = if i % 10 == 7 { MAX_CHUNK_BYTES + 5 } else { (i as usize * 37) % 3000 };
        format!(r#"{{"i":{i},"pad":"{}"}}"#, "x".repeat(pad))
    }

    /// Items as read back, each told by its start and length (whole items would flood a failure's output).
    fn read(d: &super::Datasets, id: &str, range: std::ops::Range<u64>, desc: bool, total: u64) -> Vec<String> {
        d.scan_range(id, range, desc, total).map(|v| short(std::str::from_utf8(&v.unwrap()).unwrap())).collect()
    }

    fn short(item: &str) -> String {
        format!("{}… ({} bytes)", &item[..item.len().min(12)], item.len())
    }

    #[test]
    fn chunked_items_read_back_in_any_range_and_order() {
        let (platform, _dir) = crate::testing::open_temp();
        let d = &platform.datasets;
        let id = d.create(&platform.admin, None, None).unwrap().info.id;
        let mut all = Vec::new();
        // A push of one item, one of many chunks, and one with items bigger than a chunk.
        for batch in [1u64, 180, 25] {
            let texts: Vec<String> = (all.len() as u64..all.len() as u64 + batch).map(item).collect();
            d.push(&id, &PreparedItems::from_texts(texts.iter().map(String::as_str)).unwrap()).unwrap();
            all.extend(texts);
        }
        let total = all.len() as u64;
        assert!(d.items.scan_prefix(crate::platform::db::owner_prefix(&id)).count() < all.len() / 4, "items are stored in chunks");
        for (a, b) in [(0, total), (0, 1), (1, 2), (3, 150), (100, 181), (180, 206), (199, 206), (205, 206), (50, 50)] {
            let want: Vec<String> = all[a as usize..b as usize].iter().map(|s| short(s)).collect();
            assert_eq!(read(d, &id, a..b, false, total), want, "{a}..{b}");
            let rev: Vec<String> = want.into_iter().rev().collect();
            assert_eq!(read(d, &id, a..b, true, total), rev, "{a}..{b} newest first");
        }
    }

    #[test]
    fn a_damaged_chunk_reads_as_an_error_not_a_panic() {
        let (platform, _dir) = crate::testing::open_temp();
        let d = &platform.datasets;
        let id = d.create(&platform.admin, None, None).unwrap().info.id;
        // A chunk that claims 2^32 - 1 items in five bytes.
        d.items.insert(item_key(&id, 0), &[super::CHUNK_TAG, 0xff, 0xff, 0xff, 0xff][..]).unwrap();
        let read: Vec<_> = d.scan_range(&id, 0..3, false, 3).collect();
        assert_eq!(read.len(), 1);
        let err = read.into_iter().next().unwrap().unwrap_err().to_string();
        assert!(err.contains("damaged"), "{err}");
    }

    #[test]
    fn items_stored_one_per_key_and_leftovers_of_a_crashed_push_read_right() {
        let (platform, _dir) = crate::testing::open_temp();
        let d = &platform.datasets;
        let id = d.create(&platform.admin, None, None).unwrap().info.id;
        // As items were stored before chunks: the JSON object under its own index.
        for i in 0..3 {
            d.items.insert(item_key(&id, i), item(i).as_bytes()).unwrap();
        }
        crate::platform::db::modify_json::<super::DatasetMeta>(d.catalog.metas(), &id, |m| {
            m.item_count = 3;
            Ok(())
        })
        .unwrap();
        // A push the crash cut short before its count moved: a chunk of four past the count.
        let stale = PreparedItems::from_texts(["{\"stale\":1}", "{\"stale\":2}", "{\"stale\":3}", "{\"stale\":4}"]).unwrap();
        let (_, bytes) = stale.chunks(MAX_CHUNK_BYTES).next().unwrap();
        d.items.insert(item_key(&id, 5), bytes).unwrap();
        let texts: Vec<String> = (3..9).map(item).collect();
        assert_eq!(d.push(&id, &PreparedItems::from_texts(texts.iter().map(String::as_str)).unwrap()).unwrap(), 9);
        let want: Vec<String> = (0..9).map(|i| short(&item(i))).collect();
        assert_eq!(read(d, &id, 0..9, false, 9), want);
        assert_eq!(read(d, &id, 4..7, true, 9), [want[6].clone(), want[5].clone(), want[4].clone()]);
    }

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
