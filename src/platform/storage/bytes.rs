//! How many bytes each storage holds, and each user in all their storages,
//! against the user's `maxStorageBytes` quota.
//!
//! Every write path of the three storage kinds counts what it adds or
//! removes (the stored value's length) before it writes, so a write past
//! the quota is refused whole and leaves nothing; both doors share it, as
//! they share the storages. `storage id → bytes (i64 BE)` is persisted; a
//! user's total is summed from their storages once per process, then kept
//! in memory. Data directories from before this count are counted once at
//! the first start.
//!
//! With acknowledged durability the per-storage counts are written behind:
//! deltas gather in memory and go into sled just before each group commit
//! (and at least every 250 ms), so a run's many writes to its storages
//! cost one count write per storage and commit, not one per write. Reads
//! add what is pending. A crash loses only deltas of writes that were never
//! acknowledged (the commit writes the deltas with the data), except that
//! sled's own background flush may persist data whose delta was still pending.

use std::collections::HashMap;

use parking_lot::{Mutex, RwLock};

use crate::platform::db::Db;
use crate::platform::error::{PlatformError, Result};

/// The meta key that says every storage's bytes are counted.
const COUNTED: &str = "storage-bytes-counted";

pub struct StorageBytes {
    counts: sled::Tree,
    /// The storages' metadata trees, to find a user's storages.
    metas: [sled::Tree; 3],
    /// Users whose total is loaded → bytes.
    totals: Mutex<HashMap<String, u64>>,
    /// Users with a storage quota → their limit.
    limits: RwLock<HashMap<String, u64>>,
    /// Deltas not yet in `counts` (write-behind, see the module docs).
    pending: Mutex<HashMap<String, i64>>,
    /// Whether deltas wait for [`Self::write_pending`]; else each goes to sled at once.
    write_behind: bool,
}

fn read_count(v: Option<&[u8]>) -> u64 {
    v.and_then(|v| v.try_into().ok()).map_or(0, u64::from_be_bytes)
}

/// The storage a content key (`storage id ++ 0 ++ …`) belongs to.
fn owner_of(key: &[u8]) -> &[u8] {
    key.split(|b| *b == 0).next().unwrap_or(key)
}

impl StorageBytes {
    /// The counts of `db`; `write_behind` when a group commit calls [`Self::write_pending`].
    pub fn open(db: &Db, write_behind: bool) -> Result<StorageBytes> {
        let bytes = StorageBytes {
            counts: db.inner.open_tree("storage_bytes")?,
            metas: [db.kv_stores.clone(), db.datasets.clone(), db.queues.clone()],
            totals: Mutex::default(),
            limits: RwLock::default(),
            pending: Mutex::default(),
            write_behind,
        };
        if db.meta.get(COUNTED)?.is_none() {
            bytes.count_all(&[&db.kv_records, &db.dataset_items, &db.queue_requests])?;
            db.meta.insert(COUNTED, &[1])?;
        }
        Ok(bytes)
    }

    /// Counts every storage's content from scratch (once, for data from before the count).
    fn count_all(&self, contents: &[&sled::Tree]) -> Result<()> {
        let mut sums: HashMap<Vec<u8>, u64> = HashMap::new();
        for tree in contents {
            for kv in tree.iter() {
                let (k, v) = kv?;
                *sums.entry(owner_of(&k).to_vec()).or_default() += v.len() as u64;
            }
        }
        self.counts.clear()?;
        for (id, n) in sums {
            self.counts.insert(id, &n.to_be_bytes())?;
        }
        Ok(())
    }

    /// Sets (or with `None` lifts) a user's limit.
    pub fn set_limit(&self, user_id: &str, max_bytes: Option<u64>) {
        let mut limits = self.limits.write();
        match max_bytes {
            Some(max) => limits.insert(user_id.to_owned(), max),
            None => limits.remove(user_id),
        };
    }

    /// The user's bytes in all their storages.
    pub fn of_user(&self, user_id: &str) -> Result<u64> {
        let mut totals = self.totals.lock();
        self.loaded(&mut totals, user_id)
    }

    fn loaded(&self, totals: &mut HashMap<String, u64>, user_id: &str) -> Result<u64> {
        if let Some(n) = totals.get(user_id) {
            return Ok(*n);
        }
        let mut sum = 0;
        for tree in &self.metas {
            for kv in tree.iter() {
                let (id, meta) = kv?;
                let owner: serde_json::Value = serde_json::from_slice(&meta)?;
                if owner["userId"] == user_id {
                    sum += self.of_storage(std::str::from_utf8(&id).unwrap_or_default())?;
                }
            }
        }
        totals.insert(user_id.to_owned(), sum);
        Ok(sum)
    }

    /// Counts `delta` bytes more (or fewer) in `storage_id` of `user_id`.
    /// Growth past the user's limit is refused and counts nothing; the
    /// caller writes only after this, and gives back with `-delta` if its
    /// write then fails.
    pub fn add(&self, user_id: &str, storage_id: &str, delta: i64) -> Result<()> {
        if delta == 0 {
            return Ok(());
        }
        let limit = self.limits.read().get(user_id).copied();
        {
            let mut totals = self.totals.lock();
            // Only users with a limit need their total before it is asked for.
            if limit.is_some() || totals.contains_key(user_id) {
                let now = self.loaded(&mut totals, user_id)?;
                let after = now.saturating_add_signed(delta);
                if let Some(max) = limit.filter(|max| delta > 0 && after > *max) {
                    return Err(PlatformError::OverQuota {
                        kind: "storage-limit-exceeded",
                        message: format!(
                            "This write of {delta} bytes would take your storages to {after} bytes, over your maxStorageBytes of {max}; \
                             delete data or ask the admin for more"
                        ),
                        payment: true,
                    });
                }
                totals.insert(user_id.to_owned(), after);
            }
        }
        if self.write_behind {
            *self.pending.lock().entry(storage_id.to_owned()).or_default() += delta;
            return Ok(());
        }
        self.write_count(storage_id, delta)
    }

    fn write_count(&self, storage_id: &str, delta: i64) -> Result<()> {
        self.counts.fetch_and_update(storage_id, |old| Some(read_count(old).saturating_add_signed(delta).to_be_bytes().to_vec()))?;
        Ok(())
    }

    /// Whether the user has a storage quota (only then must a write know its size before it is made).
    pub fn is_limited(&self, user_id: &str) -> bool {
        self.limits.read().contains_key(user_id)
    }

    /// Writes the pending deltas into sled (the group commit calls this
    /// right before it flushes). A delta that fails to write stays pending.
    pub fn write_pending(&self) {
        let mut pending = self.pending.lock();
        let mut failed = HashMap::new();
        for (id, delta) in pending.drain() {
            if let Err(e) = self.write_count(&id, delta) {
                tracing::error!(storage_id = %id, error = %e, "writing a storage's byte count failed; kept for the next commit");
                failed.insert(id, delta);
            }
        }
        *pending = failed;
    }

    /// Forgets a deleted storage's bytes.
    pub fn remove_storage(&self, user_id: &str, storage_id: &str) -> Result<()> {
        let had = {
            let mut pending = self.pending.lock();
            let delta = pending.remove(storage_id).unwrap_or(0);
            read_count(self.counts.remove(storage_id)?.as_deref()).saturating_add_signed(delta)
        };
        if let Some(total) = self.totals.lock().get_mut(user_id) {
            *total = total.saturating_sub(had);
        }
        Ok(())
    }

    /// One storage's bytes.
    pub fn of_storage(&self, storage_id: &str) -> Result<u64> {
        let pending = self.pending.lock();
        let stored = read_count(self.counts.get(storage_id)?.as_deref());
        Ok(stored.saturating_add_signed(pending.get(storage_id).copied().unwrap_or(0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_counted_per_storage_and_user_and_data_from_before_is_counted_once() {
        let (p, _dir) = crate::testing::open_temp();
        let owner = p.admin_principal().user.clone();
        let store = p.kv.create(&owner, None, None).unwrap().info.id;
        p.kv.set_record(&store, "a", &[7; 1000], "application/octet-stream").unwrap();
        p.kv.set_record(&store, "b", &[7; 500], "application/octet-stream").unwrap();
        p.kv.set_record(&store, "a", &[7; 100], "application/octet-stream").unwrap();
        let counted = p.storage_bytes.of_storage(&store).unwrap();
        assert!((600..700).contains(&counted), "two records of 100 and 500 bytes and their content types: {counted}");
        assert_eq!(p.storage_bytes.of_user(&owner.id).unwrap(), counted);

        // A limit refuses growth past it and counts nothing; shrinking is always allowed.
        p.storage_bytes.set_limit(&owner.id, Some(counted + 50));
        let e = p.kv.set_record(&store, "c", &[7; 100], "text/plain").unwrap_err();
        assert!(matches!(e, PlatformError::OverQuota { kind: "storage-limit-exceeded", .. }), "{e:?}");
        p.kv.delete_record(&store, "b").unwrap();
        assert!(p.storage_bytes.of_user(&owner.id).unwrap() < 200);

        // A data directory from before the count: counted from its content at the first start.
        let kept = p.storage_bytes.of_storage(&store).unwrap();
        p.storage_bytes.write_pending();
        assert_eq!(read_count(p.storage_bytes.counts.get(&store).unwrap().as_deref()), kept, "the pending deltas are written");
        p.db.meta.remove(COUNTED).unwrap();
        p.storage_bytes.counts.clear().unwrap();
        let recounted = StorageBytes::open(&p.db, true).unwrap();
        assert_eq!(recounted.of_storage(&store).unwrap(), kept, "the count from the content equals the count kept");
    }
}
