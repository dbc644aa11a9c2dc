//! sled trees and the JSON codec the core stores its records with.
//!
//! Keys that must sort by time use big-endian millisecond prefixes; record
//! keys are `<owner id> 0x00 <key>` so a prefix scan lists one owner's keys.

use serde::{de::DeserializeOwned, Serialize};
use std::path::Path;

use super::error::Result;

/// The open database and every tree the core uses.
#[derive(Clone)]
pub struct Db {
    pub(crate) inner: sled::Db,
    /// Server-wide values: token, user id.
    pub(crate) meta: sled::Tree,
    /// Actor id → Actor JSON.
    pub(crate) actors: sled::Tree,
    /// Actor name → Actor id.
    pub(crate) actor_names: sled::Tree,
    /// Actor id → its run count (u64 BE) and last run's start (ms, i64 BE):
    /// 16 bytes a run start updates, instead of the Actor's whole record.
    pub(crate) actor_run_stats: sled::Tree,
    /// Build id → Build JSON.
    pub(crate) builds: sled::Tree,
    /// Run id → Run JSON.
    pub(crate) runs: sled::Tree,
    /// started-at ms (BE) ++ run id → () : all runs in start order.
    pub(crate) run_index: sled::Tree,
    /// actor id ++ 0 ++ started-at ms (BE) ++ run id → () : one actor's runs in start order.
    pub(crate) actor_run_index: sled::Tree,
    pub(crate) kv_stores: sled::Tree,
    pub(crate) kv_names: sled::Tree,
    /// store id ++ 0 ++ key → content-type length (u8) ++ content type ++ value.
    pub(crate) kv_records: sled::Tree,
    pub(crate) datasets: sled::Tree,
    pub(crate) dataset_names: sled::Tree,
    /// dataset id ++ 0 ++ item index (u64 BE) → item JSON.
    pub(crate) dataset_items: sled::Tree,
    pub(crate) queues: sled::Tree,
    pub(crate) queue_names: sled::Tree,
    /// queue id ++ 0 ++ request id → the request and its position.
    pub(crate) queue_requests: sled::Tree,
    /// queue id ++ 0 ++ order (u64 BE) → request id : pending requests in queue order.
    pub(crate) queue_order: sled::Tree,
    /// run or build id ++ 0 ++ byte offset (u64 BE) → a chunk of its log.
    pub(crate) log_chunks: sled::Tree,
    /// run id → what it was charged; run id ++ 0 ++ idempotency key → that charge (see `charging`).
    pub(crate) charges: sled::Tree,
    /// Run tokens by digest, and each run's tokens (see `access`).
    pub(crate) run_tokens: sled::Tree,
    /// Webhook id → Webhook JSON; user ++ 0 ++ idempotency key → webhook id.
    pub(crate) webhooks: sled::Tree,
    pub(crate) webhook_keys: sled::Tree,
    /// Dispatch id → the dispatch and its request; due ms (BE) ++ dispatch id → () (see `webhooks`).
    pub(crate) webhook_dispatches: sled::Tree,
    pub(crate) webhook_queue: sled::Tree,
    /// Task id → Task JSON; task name → task id.
    pub(crate) tasks: sled::Tree,
    pub(crate) task_names: sled::Tree,
    /// Schedule id → Schedule JSON; schedule id ++ 0 ++ ms (BE) ++ seq (BE) → log entry.
    pub(crate) schedules: sled::Tree,
    pub(crate) schedule_log: sled::Tree,
    /// User id → User JSON; username → user id.
    pub(crate) users: sled::Tree,
    pub(crate) user_names: sled::Tree,
    /// User tokens by digest, and each user's tokens (see `users`).
    pub(crate) api_tokens: sled::Tree,
    /// ms (BE) ++ seq (BE) → audit entry (see `audit`).
    pub(crate) audit: sled::Tree,
}

impl Db {
    pub fn open(dir: &Path) -> Result<Db> {
        let inner = sled::Config::new().path(dir.join("db")).mode(sled::Mode::HighThroughput).open()?;
        let t = |name: &str| inner.open_tree(name);
        Ok(Db {
            meta: t("meta")?,
            actors: t("actors")?,
            actor_names: t("actor_names")?,
            actor_run_stats: t("actor_run_stats")?,
            builds: t("builds")?,
            runs: t("runs")?,
            run_index: t("run_index")?,
            actor_run_index: t("actor_run_index")?,
            kv_stores: t("kv_stores")?,
            kv_names: t("kv_names")?,
            kv_records: t("kv_records")?,
            datasets: t("datasets")?,
            dataset_names: t("dataset_names")?,
            dataset_items: t("dataset_items")?,
            log_chunks: t("log_chunks")?,
            queues: t("queues")?,
            queue_names: t("queue_names")?,
            queue_requests: t("queue_requests")?,
            queue_order: t("queue_order")?,
            charges: t("charges")?,
            run_tokens: t("run_tokens")?,
            webhooks: t("webhooks")?,
            webhook_keys: t("webhook_keys")?,
            webhook_dispatches: t("webhook_dispatches")?,
            webhook_queue: t("webhook_queue")?,
            tasks: t("tasks")?,
            task_names: t("task_names")?,
            schedules: t("schedules")?,
            schedule_log: t("schedule_log")?,
            users: t("users")?,
            user_names: t("user_names")?,
            api_tokens: t("api_tokens")?,
            audit: t("audit")?,
            inner,
        })
    }

    /// Writes everything acknowledged so far to disk.
    pub async fn flush(&self) -> Result<()> {
        self.inner.flush_async().await?;
        Ok(())
    }
}

pub(crate) fn get_json<T: DeserializeOwned>(tree: &sled::Tree, key: impl AsRef<[u8]>) -> Result<Option<T>> {
    match tree.get(key)? {
        Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
        None => Ok(None),
    }
}

pub(crate) fn put_json<T: Serialize>(tree: &sled::Tree, key: impl AsRef<[u8]>, value: &T) -> Result<()> {
    tree.insert(key.as_ref(), serde_json::to_vec(value)?)?;
    Ok(())
}

/// Read-modify-write of one JSON record with compare-and-swap: `change`
/// runs again on the newer value when a concurrent writer got there first,
/// so no update is lost. `None` when there is no record under `key`.
pub(crate) fn modify_json<T: Serialize + DeserializeOwned>(
    tree: &sled::Tree,
    key: impl AsRef<[u8]>,
    mut change: impl FnMut(&mut T) -> Result<()>,
) -> Result<Option<T>> {
    let key = key.as_ref();
    loop {
        let Some(old) = tree.get(key)? else { return Ok(None) };
        let mut value: T = serde_json::from_slice(&old)?;
        change(&mut value)?;
        let new = serde_json::to_vec(&value)?;
        if tree.compare_and_swap(key, Some(&old), Some(new))?.is_ok() {
            return Ok(Some(value));
        }
    }
}

/// `owner ++ 0x00 ++ rest`: the key of something owned by `owner`.
pub(crate) fn owned_key(owner: &str, rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(owner.len() + 1 + rest.len());
    k.extend_from_slice(owner.as_bytes());
    k.push(0);
    k.extend_from_slice(rest);
    k
}

/// The scan prefix of everything owned by `owner`.
pub(crate) fn owner_prefix(owner: &str) -> Vec<u8> {
    owned_key(owner, &[])
}

/// Removes everything owned by `owner` from `tree`, key by key: the owner's
/// record is gone first, so nothing reads these keys any more, and sled's
/// batches hold kilobytes per key in memory (a big storage's delete in one
/// batch would take gigabytes).
pub(crate) fn remove_owned(tree: &sled::Tree, owner: &str) -> Result<()> {
    for item in tree.scan_prefix(owner_prefix(owner)).keys() {
        tree.remove(item?)?;
    }
    Ok(())
}
