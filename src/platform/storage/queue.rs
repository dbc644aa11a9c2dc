//! Request queues: the requests a crawler still has to handle. Deduplicated
//! by `uniqueKey` (the request ID is derived from it exactly as the Apify SDK
//! derives it, so the SDK can address requests it never read back), kept in
//! order with `forefront` requests first (newest first), and lockable by one
//! client at a time for a while (`head/lock`).
//!
//! Every change is one sled transaction over the metadata (counts), the
//! requests and the order index, under one writer lock, so counts never
//! disagree with the requests. Locks live in memory: they last seconds to
//! minutes, and a restarted server simply starts with none.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::ops::Deref;

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use super::catalog::{Catalog, StorageInfo, StorageMeta};
use crate::ids;
use crate::platform::db::{get_json, owned_key, owner_prefix, remove_owned, Db};
use crate::platform::error::{PlatformError, Result};

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueueMeta {
    #[serde(flatten)]
    pub info: StorageInfo,
    pub total_request_count: u64,
    pub handled_request_count: u64,
    pub pending_request_count: u64,
    pub had_multiple_clients: bool,
}

impl StorageMeta for QueueMeta {
    const KIND: &'static str = "Request queue";
    fn new(info: StorageInfo) -> Self {
        QueueMeta { info, total_request_count: 0, handled_request_count: 0, pending_request_count: 0, had_multiple_clients: false }
    }
    fn info(&self) -> &StorageInfo {
        &self.info
    }
    fn info_mut(&mut self) -> &mut StorageInfo {
        &mut self.info
    }
}

/// Requests one batch add takes; the rest come back unprocessed (the SDKs resend them).
pub const MAX_BATCH_REQUESTS: usize = 25;
/// Largest `head` / `list` page.
pub const MAX_HEAD_LIMIT: usize = 10_000;
/// Most requests one `head/lock` locks, as on Apify.
pub const MAX_LOCK_LIMIT: usize = 25;
/// Longest lock a client may take.
pub const MAX_LOCK_SECS: u64 = 24 * 3600;
/// Stored requests one page of `list_requests` reads at most (a bound on one request's work).
pub const MAX_SCANNED_PER_PAGE: usize = 100_000;

/// The request ID the Apify SDK computes for a `uniqueKey`: SHA-256, base64,
/// without `+`, `/` and `=`, first 15 characters.
pub fn request_id(unique_key: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(unique_key.as_bytes());
    let b64 = base64::engine::general_purpose::STANDARD.encode(digest);
    b64.chars().filter(|c| !matches!(c, '+' | '/' | '=')).take(15).collect()
}

/// What an add did with one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Processed {
    pub request_id: String,
    pub unique_key: String,
    pub was_already_present: bool,
    pub was_already_handled: bool,
}

/// A request at the head of the queue.
#[derive(Debug, Clone, PartialEq)]
pub struct HeadItem {
    pub id: String,
    pub unique_key: String,
    pub url: String,
    pub method: String,
    pub retry_count: u64,
    pub lock_expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct Head {
    pub items: Vec<HeadItem>,
    pub queue_modified_at: DateTime<Utc>,
    pub had_multiple_clients: bool,
    /// After a `lock_head`: whether any request of the queue is locked now.
    pub queue_has_locked_requests: bool,
}

/// A page of `list_requests`.
#[derive(Debug, Clone)]
pub struct RequestsPage {
    pub items: Vec<Map<String, Value>>,
    /// The ID to continue after, when there may be more.
    pub next_cursor: Option<String>,
}

/// Which requests `list_requests` shows.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListFilter {
    pub pending: bool,
    pub locked: bool,
}

/// What an add did with each request, and the requests past the batch cap it did not take.
pub type Added = (Vec<Processed>, Vec<Map<String, Value>>);

/// A request as stored: its position while pending, and the request verbatim.
#[derive(Serialize, Deserialize)]
struct Stored {
    /// Key in the order index; `None` once handled.
    order: Option<u64>,
    request: Map<String, Value>,
}

/// Order keys: appended requests count up from the middle, forefront ones
/// count down from it, so the newest forefront request comes first.
const ORDER_MIDDLE: u64 = 1 << 62;

struct Lock {
    client: String,
    expires: DateTime<Utc>,
}

#[derive(Default)]
struct QueueLocks {
    by_request: HashMap<String, Lock>,
    /// The first client key seen: a second one makes `hadMultipleClients`.
    first_client: Option<String>,
}

impl QueueLocks {
    fn live(&self, request_id: &str, now: DateTime<Utc>) -> Option<&Lock> {
        self.by_request.get(request_id).filter(|l| l.expires > now)
    }
}

/// Request queues: the shared catalog plus requests, order and locks.
pub struct RequestQueues {
    catalog: Catalog<QueueMeta>,
    requests: sled::Tree,
    order: sled::Tree,
    ids: sled::Db,
    /// One writer at a time: transactions never conflict, locks stay consistent with them.
    writes: Mutex<()>,
    locks: Mutex<HashMap<String, QueueLocks>>,
    /// The largest request one add takes, as JSON text.
    max_request_bytes: usize,
    bytes: std::sync::Arc<super::bytes::StorageBytes>,
}

impl Deref for RequestQueues {
    type Target = Catalog<QueueMeta>;
    fn deref(&self) -> &Self::Target {
        &self.catalog
    }
}

fn invalid(message: impl Into<String>) -> PlatformError {
    PlatformError::invalid_kind("invalid-value", message)
}

fn order_key(queue_id: &str, order: u64) -> Vec<u8> {
    owned_key(queue_id, &order.to_be_bytes())
}

/// Checks a request body and fills in what the API defaults (`uniqueKey`
/// from the URL, `method`, `retryCount`), with the ID derived from `uniqueKey`.
fn normalize(mut request: Map<String, Value>) -> Result<(String, Map<String, Value>)> {
    let url = match request.get("url") {
        Some(Value::String(u)) if !u.is_empty() => u.clone(),
        _ => return Err(invalid("A request needs a \"url\" (a non-empty string)")),
    };
    let unique_key = match request.get("uniqueKey") {
        Some(Value::String(k)) if !k.is_empty() => k.clone(),
        None | Some(Value::Null) => url,
        _ => return Err(invalid("\"uniqueKey\" must be a non-empty string")),
    };
    let id = request_id(&unique_key);
    if let Some(given) = request.get("id").filter(|v| !v.is_null()) {
        if given.as_str() != Some(id.as_str()) {
            return Err(invalid(format!("The request ID {given} does not belong to uniqueKey \"{unique_key}\" (its ID is {id})")));
        }
    }
    request.insert("id".into(), Value::String(id.clone()));
    request.insert("uniqueKey".into(), Value::String(unique_key));
    if !matches!(request.get("method"), Some(Value::String(_))) {
        request.insert("method".into(), Value::String("GET".into()));
    }
    if !matches!(request.get("retryCount"), Some(Value::Number(_))) {
        request.insert("retryCount".into(), Value::from(0));
    }
    Ok((id, request))
}

fn is_handled(request: &Map<String, Value>) -> bool {
    request.get("handledAt").is_some_and(|v| !v.is_null())
}

fn head_item(request: &Map<String, Value>, lock_expires_at: Option<DateTime<Utc>>) -> HeadItem {
    let s = |k: &str| request.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    HeadItem {
        id: s("id"),
        unique_key: s("uniqueKey"),
        url: s("url"),
        method: s("method"),
        retry_count: request.get("retryCount").and_then(Value::as_u64).unwrap_or(0),
        lock_expires_at,
    }
}

type TxResult<T> = std::result::Result<T, ConflictableTransactionError<PlatformError>>;

fn tx_json<T: serde::de::DeserializeOwned>(v: Option<sled::IVec>) -> TxResult<Option<T>> {
    v.map(|b| serde_json::from_slice(&b)).transpose().map_err(|e| ConflictableTransactionError::Abort(e.into()))
}

fn tx_bytes<T: Serialize>(v: &T) -> TxResult<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| ConflictableTransactionError::Abort(e.into()))
}

fn tx_error(e: TransactionError<PlatformError>) -> PlatformError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => e.into(),
    }
}

impl RequestQueues {
    pub fn new(db: &Db, limits: &crate::limits::Limits, bytes: std::sync::Arc<super::bytes::StorageBytes>) -> Result<Self> {
        Ok(RequestQueues {
            bytes,
            max_request_bytes: limits.max_push_bytes,
            catalog: Catalog::open(db.queues.clone(), db.queue_names.clone(), db.user_names.clone())?,
            requests: db.queue_requests.clone(),
            order: db.queue_order.clone(),
            ids: db.inner.clone(),
            writes: Mutex::new(()),
            locks: Mutex::new(HashMap::new()),
        })
    }

    /// Notes the client key a call came with (`hadMultipleClients`).
    fn seen_client(&self, queue_id: &str, client: &str) -> Result<()> {
        let second = {
            let mut locks = self.locks.lock();
            let q = locks.entry(queue_id.to_owned()).or_default();
            match &q.first_client {
                None => {
                    q.first_client = Some(client.to_owned());
                    false
                }
                Some(first) => first != client,
            }
        };
        if second {
            let meta = self.catalog.get(queue_id)?;
            if !meta.had_multiple_clients {
                let _w = self.writes.lock();
                let mut meta = self.catalog.get(queue_id)?;
                meta.had_multiple_clients = true;
                crate::platform::db::put_json(self.catalog.metas(), queue_id, &meta)?;
            }
        }
        Ok(())
    }

    /// One transaction over a queue's metadata, requests and order, under the writer lock.
    fn change<T>(
        &self,
        queue_id: &str,
        f: impl Fn(&mut QueueMeta, &sled::transaction::TransactionalTree, &sled::transaction::TransactionalTree) -> TxResult<T>,
    ) -> Result<T> {
        let _w = self.writes.lock();
        let metas = self.catalog.metas();
        (metas, &self.requests, &self.order)
            .transaction(|(m, r, o)| {
                let mut meta: QueueMeta = tx_json(m.get(queue_id)?)?.ok_or_else(|| {
                    ConflictableTransactionError::Abort(PlatformError::not_found(format!("Request queue was not found: {queue_id}")))
                })?;
                let out = f(&mut meta, r, o)?;
                meta.info.modified_at = ids::now();
                meta.info.accessed_at = meta.info.modified_at;
                m.insert(queue_id.as_bytes(), tx_bytes(&meta)?)?;
                Ok(out)
            })
            .map_err(tx_error)
    }

    fn next_order(&self, forefront: bool) -> Result<u64> {
        let seq = self.ids.generate_id()? + 1;
        Ok(if forefront { ORDER_MIDDLE - seq } else { ORDER_MIDDLE + seq })
    }

    /// Adds one request given as JSON text (a JSON object with a `url`):
    /// size-checked on the raw bytes before it is parsed, through either door.
    pub fn add_json(&self, queue_id: &str, request: &[u8], forefront: bool, client: &str) -> Result<Processed> {
        let max = self.max_request_bytes;
        if request.len() > max {
            return Err(PlatformError::too_large("request-too-large", format!("The request is over the limit of {max} bytes")));
        }
        let request = match serde_json::from_slice(request) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return Err(invalid("The request must be a JSON object with a \"url\"")),
            Err(e) => return Err(invalid(format!("The request is not valid JSON: {e}"))),
        };
        let (mut processed, _) = self.add(queue_id, vec![request], forefront, client)?;
        Ok(processed.remove(0))
    }

    /// Adds requests (deduplicated by `uniqueKey`). Beyond `MAX_BATCH_REQUESTS`
    /// they come back unprocessed; an invalid one rejects the whole call.
    pub fn add(&self, queue_id: &str, requests: Vec<Map<String, Value>>, forefront: bool, client: &str) -> Result<Added> {
        self.seen_client(queue_id, client)?;
        let mut requests = requests;
        let unprocessed = if requests.len() > MAX_BATCH_REQUESTS { requests.split_off(MAX_BATCH_REQUESTS) } else { Vec::new() };
        let mut prepared = Vec::with_capacity(requests.len());
        for (i, r) in requests.into_iter().enumerate() {
            let (id, r) = normalize(r).map_err(|e| invalid(format!("Request at index {i}: {e}")))?;
            let order = (!is_handled(&r)).then(|| self.next_order(forefront)).transpose()?;
            let unique_key = r["uniqueKey"].as_str().unwrap_or_default().to_owned();
            let stored = serde_json::to_vec(&Stored { order, request: r })?;
            prepared.push((id, order, unique_key, stored));
        }
        // Counted against the owner's storage quota as if every one were new;
        // what was already there is given back after.
        let owner = self.catalog.get(queue_id)?.info.user_id;
        let reserved: i64 = prepared.iter().map(|p| p.3.len() as i64).sum();
        self.bytes.add(&owner, queue_id, reserved)?;
        let added = self.change(queue_id, |meta, r, o| {
            let (mut out, mut written) = (Vec::with_capacity(prepared.len()), 0i64);
            for (id, order, unique_key, stored) in &prepared {
                let key = owned_key(queue_id, id.as_bytes());
                let unique_key = unique_key.clone();
                if let Some(existing) = tx_json::<Stored>(r.get(&key)?)? {
                    out.push(Processed {
                        request_id: id.clone(),
                        unique_key,
                        was_already_present: true,
                        was_already_handled: is_handled(&existing.request),
                    });
                    continue;
                }
                r.insert(key, stored.as_slice())?;
                written += stored.len() as i64;
                meta.total_request_count += 1;
                match order {
                    Some(order) => {
                        o.insert(order_key(queue_id, *order), id.as_bytes())?;
                        meta.pending_request_count += 1;
                    }
                    None => meta.handled_request_count += 1,
                }
                out.push(Processed { request_id: id.clone(), unique_key, was_already_present: false, was_already_handled: false });
            }
            Ok((out, written))
        });
        let written = added.as_ref().map_or(0, |(_, written)| *written);
        self.bytes.add(&owner, queue_id, written - reserved)?;
        Ok((added?.0, unprocessed))
    }

    pub fn get_request(&self, queue_id: &str, request_id: &str) -> Result<Option<Map<String, Value>>> {
        Ok(get_json::<Stored>(&self.requests, owned_key(queue_id, request_id.as_bytes()))?.map(|s| s.request))
    }

    fn must_exist(&self, queue_id: &str) -> Result<()> {
        self.catalog.get(queue_id).map(|_| ())
    }

    /// Replaces a request (its ID and `uniqueKey` stay). `handledAt` set marks
    /// it handled and drops its lock; a pending one moves to the end, or to
    /// the front with `forefront` (as on Apify).
    pub fn update(
        &self,
        queue_id: &str,
        request_id: &str,
        request: Map<String, Value>,
        forefront: bool,
        client: &str,
    ) -> Result<Processed> {
        self.seen_client(queue_id, client)?;
        let (id, request) = normalize(request)?;
        let unique_key = request["uniqueKey"].as_str().unwrap_or_default().to_owned();
        if id != request_id {
            return Err(invalid(format!("The request's uniqueKey belongs to ID {id}, not to {request_id}")));
        }
        if self.lock_of(queue_id, &id).is_some_and(|holder| holder != client) {
            return Err(PlatformError::Locked(format!("Request {request_id} is locked by another client")));
        }
        let handled = is_handled(&request);
        let new_order = self.next_order(forefront)?;
        let order = (!handled).then_some(new_order);
        let stored = serde_json::to_vec(&Stored { order, request })?;
        let key = owned_key(queue_id, id.as_bytes());
        // The new version is counted whole first, the old one given back after.
        let owner = self.catalog.get(queue_id)?.info.user_id;
        self.bytes.add(&owner, queue_id, stored.len() as i64)?;
        let changed = self.change(queue_id, |meta, r, o| {
            let Some(old) = tx_json::<Stored>(r.get(&key)?)? else {
                return Err(ConflictableTransactionError::Abort(PlatformError::not_found(format!("Request was not found: {request_id}"))));
            };
            let was_handled = old.order.is_none();
            if old.order != order {
                if let Some(old_order) = old.order {
                    o.remove(order_key(queue_id, old_order))?;
                }
                if let Some(order) = order {
                    o.insert(order_key(queue_id, order), id.as_bytes())?;
                }
            }
            match (was_handled, handled) {
                (false, true) => {
                    meta.pending_request_count -= 1;
                    meta.handled_request_count += 1;
                }
                (true, false) => {
                    meta.handled_request_count -= 1;
                    meta.pending_request_count += 1;
                }
                _ => {}
            }
            let replaced = r.insert(key.clone(), stored.as_slice())?.map_or(0, |old| old.len() as i64);
            Ok((was_handled, replaced))
        });
        let given_back = changed.as_ref().map_or(stored.len() as i64, |(_, replaced)| *replaced);
        self.bytes.add(&owner, queue_id, -given_back)?;
        let (was_handled, _) = changed?;
        if handled {
            self.drop_lock(queue_id, &id);
        }
        Ok(Processed { request_id: id, unique_key, was_already_present: true, was_already_handled: was_handled })
    }

    /// Deletes a request; `false` if it was not there.
    pub fn delete_request(&self, queue_id: &str, request_id: &str, client: &str) -> Result<bool> {
        self.seen_client(queue_id, client)?;
        if let Some(lock) = self.lock_of(queue_id, request_id) {
            if lock != client {
                return Err(PlatformError::Locked(format!("Request {request_id} is locked by another client")));
            }
        }
        let key = owned_key(queue_id, request_id.as_bytes());
        let removed = self.change(queue_id, |meta, r, o| {
            let Some(raw) = r.remove(key.clone())? else { return Ok(None) };
            let Some(old) = tx_json::<Stored>(Some(raw.clone()))? else { return Ok(None) };
            meta.total_request_count -= 1;
            match old.order {
                Some(order) => {
                    o.remove(order_key(queue_id, order))?;
                    meta.pending_request_count -= 1;
                }
                None => meta.handled_request_count -= 1,
            }
            Ok(Some(raw.len() as i64))
        })?;
        self.drop_lock(queue_id, request_id);
        if let Some(freed) = removed {
            let owner = self.catalog.get(queue_id)?.info.user_id;
            self.bytes.add(&owner, queue_id, -freed)?;
        }
        Ok(removed.is_some())
    }

    /// Pending requests in queue order, without those other clients hold locked.
    pub fn head(&self, queue_id: &str, limit: usize, client: &str) -> Result<Head> {
        self.seen_client(queue_id, client)?;
        let meta = self.catalog.get(queue_id)?;
        let now = Utc::now();
        let locks = self.locks.lock();
        let q = locks.get(queue_id);
        let mut items = Vec::new();
        for entry in self.order.scan_prefix(owner_prefix(queue_id)) {
            if items.len() >= limit.min(MAX_HEAD_LIMIT) {
                break;
            }
            let id = String::from_utf8_lossy(&entry?.1).into_owned();
            if q.and_then(|q| q.live(&id, now)).is_some_and(|l| l.client != client) {
                continue;
            }
            if let Some(stored) = get_json::<Stored>(&self.requests, owned_key(queue_id, id.as_bytes()))? {
                items.push(head_item(&stored.request, None));
            }
        }
        Ok(Head {
            items,
            queue_modified_at: meta.info.modified_at,
            had_multiple_clients: meta.had_multiple_clients,
            queue_has_locked_requests: false,
        })
    }

    /// Whether no pending request is free to take now: the next
    /// [`Self::lock_head`] would find none (locked ones are not free,
    /// whoever holds them; the queue may still not be finished).
    pub fn is_empty(&self, queue_id: &str) -> Result<bool> {
        self.must_exist(queue_id)?;
        let now = Utc::now();
        let locks = self.locks.lock();
        let q = locks.get(queue_id);
        for entry in self.order.scan_prefix(owner_prefix(queue_id)) {
            let id = String::from_utf8_lossy(&entry?.1).into_owned();
            if q.and_then(|q| q.live(&id, now)).is_none() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Takes up to `limit` pending requests nobody holds and locks them for `lock_secs`.
    pub fn lock_head(&self, queue_id: &str, limit: usize, lock_secs: u64, client: &str) -> Result<Head> {
        self.seen_client(queue_id, client)?;
        let meta = self.catalog.get(queue_id)?;
        let now = Utc::now();
        let limit = limit.clamp(1, MAX_LOCK_LIMIT);
        let expires = now + chrono::Duration::seconds(lock_secs.min(MAX_LOCK_SECS) as i64);
        let _w = self.writes.lock();
        let mut locks = self.locks.lock();
        let q = locks.entry(queue_id.to_owned()).or_default();
        q.by_request.retain(|_, l| l.expires > now);
        let mut items = Vec::new();
        for entry in self.order.scan_prefix(owner_prefix(queue_id)) {
            if items.len() >= limit {
                break;
            }
            let id = String::from_utf8_lossy(&entry?.1).into_owned();
            if q.live(&id, now).is_some() {
                continue;
            }
            if let Some(stored) = get_json::<Stored>(&self.requests, owned_key(queue_id, id.as_bytes()))? {
                q.by_request.insert(id, Lock { client: client.to_owned(), expires });
                items.push(head_item(&stored.request, Some(expires)));
            }
        }
        Ok(Head {
            items,
            queue_modified_at: meta.info.modified_at,
            had_multiple_clients: meta.had_multiple_clients,
            queue_has_locked_requests: !q.by_request.is_empty(),
        })
    }

    fn lock_of(&self, queue_id: &str, request_id: &str) -> Option<String> {
        let locks = self.locks.lock();
        locks.get(queue_id).and_then(|q| q.live(request_id, Utc::now())).map(|l| l.client.clone())
    }

    fn drop_lock(&self, queue_id: &str, request_id: &str) {
        if let Some(q) = self.locks.lock().get_mut(queue_id) {
            q.by_request.remove(request_id);
        }
    }

    /// The lock `client` holds on a request, or why it holds none.
    fn own_lock<'a>(q: Option<&'a mut QueueLocks>, request_id: &str, client: &str) -> Result<&'a mut Lock> {
        let now = Utc::now();
        match q.and_then(|q| q.by_request.get_mut(request_id)).filter(|l| l.expires > now) {
            Some(l) if l.client == client => Ok(l),
            Some(_) => Err(PlatformError::Locked(format!("Request {request_id} is locked by another client"))),
            None => Err(PlatformError::Locked(format!("Request {request_id} is not locked (or its lock expired)"))),
        }
    }

    /// Extends `client`'s lock on a request to `lock_secs` from now.
    pub fn prolong_lock(&self, queue_id: &str, request_id: &str, lock_secs: u64, client: &str) -> Result<DateTime<Utc>> {
        self.must_exist(queue_id)?;
        let mut locks = self.locks.lock();
        let lock = Self::own_lock(locks.get_mut(queue_id), request_id, client)?;
        lock.expires = Utc::now() + chrono::Duration::seconds(lock_secs.min(MAX_LOCK_SECS) as i64);
        Ok(lock.expires)
    }

    /// Releases `client`'s lock; with `forefront` the request goes back to the front.
    pub fn delete_lock(&self, queue_id: &str, request_id: &str, forefront: bool, client: &str) -> Result<()> {
        self.must_exist(queue_id)?;
        {
            let mut locks = self.locks.lock();
            Self::own_lock(locks.get_mut(queue_id), request_id, client)?;
            if let Some(q) = locks.get_mut(queue_id) {
                q.by_request.remove(request_id);
            }
        }
        if forefront {
            if let Some(request) = self.get_request(queue_id, request_id)? {
                if !is_handled(&request) {
                    self.update(queue_id, request_id, request, true, client)?;
                }
            }
        }
        Ok(())
    }

    /// Releases every lock `client` holds in any queue (a run that ended
    /// gives back what it fetched and did not handle); how many.
    pub fn release_client(&self, client: &str) -> usize {
        let mut locks = self.locks.lock();
        let mut released = 0;
        for q in locks.values_mut() {
            let before = q.by_request.len();
            q.by_request.retain(|_, l| l.client != client);
            released += before - q.by_request.len();
        }
        released
    }

    /// Releases every lock `client` holds in the queue; how many.
    pub fn unlock_all(&self, queue_id: &str, client: &str) -> Result<usize> {
        self.must_exist(queue_id)?;
        let mut locks = self.locks.lock();
        let Some(q) = locks.get_mut(queue_id) else { return Ok(0) };
        let now = Utc::now();
        let mine = q.by_request.values().filter(|l| l.client == client && l.expires > now).count();
        q.by_request.retain(|_, l| l.client != client && l.expires > now);
        Ok(mine)
    }

    /// Requests in ID order after `cursor`, optionally only pending and/or locked ones.
    pub fn list_requests(&self, queue_id: &str, limit: usize, cursor: Option<&str>, filter: ListFilter) -> Result<RequestsPage> {
        self.must_exist(queue_id)?;
        let prefix = owner_prefix(queue_id);
        let start = match cursor {
            Some(c) => {
                let mut k = owned_key(queue_id, c.as_bytes());
                k.push(0); // just after the cursor
                k
            }
            None => prefix.clone(),
        };
        // The live locks are copied out, so the scan holds no lock other queues wait for.
        let now = Utc::now();
        let locked_ids: std::collections::HashSet<String> = self
            .locks
            .lock()
            .get(queue_id)
            .map(|q| q.by_request.iter().filter(|(_, l)| l.expires > now).map(|(id, _)| id.clone()).collect())
            .unwrap_or_default();
        let limit = limit.clamp(1, MAX_HEAD_LIMIT);
        let mut items = Vec::new();
        let mut last_scanned: Option<String> = None;
        let mut more = false;
        for (scanned, entry) in self.requests.range(start..).enumerate() {
            let (key, value) = entry?;
            if !key.starts_with(&prefix) {
                break;
            }
            // A filter that matches little must not scan a huge queue in one
            // request: the page ends early and its cursor continues the scan.
            if items.len() == limit || scanned == MAX_SCANNED_PER_PAGE {
                more = true;
                break;
            }
            let stored: Stored = serde_json::from_slice(&value)?;
            let id = stored.request.get("id").and_then(Value::as_str).unwrap_or_default();
            last_scanned = Some(id.to_owned());
            let pending = stored.order.is_some();
            if (filter.pending && !pending) || (filter.locked && !locked_ids.contains(id)) {
                continue;
            }
            items.push(stored.request);
        }
        let next_cursor = if more { last_scanned } else { None };
        Ok(RequestsPage { items, next_cursor })
    }

    /// Marks a request handled (`handledAt` now); it leaves the pending requests and its lock goes.
    pub fn mark_handled(&self, queue_id: &str, request_id: &str, client: &str) -> Result<()> {
        let mut request = self
            .get_request(queue_id, request_id)?
            .ok_or_else(|| PlatformError::not_found(format!("Request was not found: {request_id}")))?;
        if !is_handled(&request) {
            request.insert("handledAt".into(), Value::String(ids::format_ts(&ids::now())));
            self.update(queue_id, request_id, request, false, client)?;
        }
        Ok(())
    }

    /// Gives a request back for another try: retry count + 1, unlocked, at the front with `forefront`.
    pub fn reclaim(&self, queue_id: &str, request_id: &str, forefront: bool, client: &str) -> Result<()> {
        let mut request = self
            .get_request(queue_id, request_id)?
            .ok_or_else(|| PlatformError::not_found(format!("Request was not found: {request_id}")))?;
        let retries = request.get("retryCount").and_then(Value::as_u64).unwrap_or(0) + 1;
        request.insert("retryCount".into(), Value::from(retries));
        request.remove("handledAt");
        self.update(queue_id, request_id, request, forefront, client)?;
        self.drop_lock(queue_id, request_id);
        Ok(())
    }

    /// Deletes the queue with its requests.
    pub fn delete(&self, reference: &str) -> Result<()> {
        let _w = self.writes.lock();
        let meta = self.catalog.remove(reference)?;
        remove_owned(&self.requests, &meta.info.id)?;
        remove_owned(&self.order, &meta.info.id)?;
        self.locks.lock().remove(&meta.info.id);
        self.bytes.remove_storage(&meta.info.user_id, &meta.info.id)
    }
}

#[cfg(test)]
mod tests {
    use super::request_id;

    #[test]
    fn request_ids_follow_the_sdk_formula() {
        // base64(sha256("https://example.com")) = "EAaArVRs5qV39C9S3zO0z9ynVoWeZkuNfeMpsVDQnOk=" → strip, 15 chars.
        assert_eq!(request_id("https://example.com"), "EAaArVRs5qV39C9");
        assert_eq!(request_id("x").len(), 15);
        assert!(request_id("anything").chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
