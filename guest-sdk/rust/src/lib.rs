//! `wactor-sdk`: write wactor Actors in Rust.
//!
//! An Actor is a plain function from its typed input to a `Result`:
//!
//! ```ignore
//! use serde::Deserialize;
//! use wactor_sdk::{push_data, set_value};
//!
//! #[derive(Deserialize)]
//! struct Input { name: String }
//!
//! fn main(input: Input) -> wactor_sdk::Result<()> {
//!     push_data(&serde_json::json!({ "greeting": format!("Hello, {}!", input.name) }))?;
//!     set_value("OUTPUT", &serde_json::json!({ "done": true }))?;
//!     Ok(())
//! }
//!
//! wactor_sdk::actor!(main);
//! ```
//!
//! `Ok` ends the run SUCCEEDED; `Err` ends it FAILED with the error as its
//! status message. Output printed with `println!`/`eprintln!` lands in the
//! run log.

use std::cell::OnceCell;
use std::fmt;

use serde::de::DeserializeOwned;
use serde::Serialize;

#[doc(hidden)]
pub mod bindings {
    // Imports only: a batch Actor's `run` export comes from `actor!`, a
    // Standby Actor's HTTP export from `standby!`, so a component carries
    // exactly the exports it implements.
    wit_bindgen::generate!({
        path: "../../wit",
        world: "actor-imports",
        with: { "wasi:io/poll@0.2.12": wasip2::io::poll },
    });
}

pub mod actors;
pub mod charging;
pub mod fetch;
pub mod http;

pub use charging::{charge, push_data_charged, ChargeResult};

#[doc(hidden)]
pub use wasip2 as __wasip2;
#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

use bindings::wactor::actor::{
    dataset as wit_dataset, events as wit_events, key_value_store as wit_kv, request_queue as wit_queue, runtime, types,
};

pub use runtime::RunInfo;

/// An error an Actor can return or get from the platform.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// The storage, record or run does not exist.
    NotFound(String),
    /// An argument was rejected (bad key, invalid JSON, schema mismatch).
    InvalidInput(String),
    /// A size or count limit was hit.
    LimitExceeded(String),
    Forbidden(String),
    /// The platform failed.
    Internal(String),
    /// (De)serialisation on the guest side failed.
    Serde(String),
    /// The Actor's own failure.
    Message(String),
}

impl Error {
    /// An Actor-defined failure with this message.
    pub fn msg(message: impl fmt::Display) -> Error {
        Error::Message(message.to_string())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotFound(m) => write!(f, "not found: {m}"),
            Error::InvalidInput(m) => write!(f, "invalid input: {m}"),
            Error::LimitExceeded(m) => write!(f, "limit exceeded: {m}"),
            Error::Forbidden(m) => write!(f, "forbidden: {m}"),
            Error::Internal(m) => write!(f, "platform error: {m}"),
            Error::Serde(m) => write!(f, "{m}"),
            Error::Message(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

impl From<types::Error> for Error {
    fn from(e: types::Error) -> Self {
        match e {
            types::Error::NotFound(m) => Error::NotFound(m),
            types::Error::InvalidInput(m) => Error::InvalidInput(m),
            types::Error::LimitExceeded(m) => Error::LimitExceeded(m),
            types::Error::Forbidden(m) => Error::Forbidden(m),
            types::Error::Internal(m) => Error::Internal(m),
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Serde(e.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A key-value store: records with content types.
pub struct KeyValueStore {
    inner: wit_kv::Store,
}

/// One page of keys.
pub struct KeyPage {
    pub keys: Vec<(String, u64)>,
    pub next_exclusive_start_key: Option<String>,
}

impl KeyValueStore {
    /// The run's default store.
    pub fn open_default() -> Result<KeyValueStore> {
        Ok(KeyValueStore { inner: wit_kv::Store::open(None)? })
    }

    /// The store with this name, created if needed; it outlives the run.
    pub fn open(name: &str) -> Result<KeyValueStore> {
        Ok(KeyValueStore { inner: wit_kv::Store::open(Some(name))? })
    }

    pub fn open_by_id(id: &str) -> Result<KeyValueStore> {
        Ok(KeyValueStore { inner: wit_kv::Store::open_by_id(id)? })
    }

    pub fn id(&self) -> String {
        self.inner.id()
    }

    /// A JSON record, deserialised.
    pub fn get_value<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        match self.inner.get(key)? {
            Some(v) => Ok(Some(serde_json::from_slice(&v.value)?)),
            None => Ok(None),
        }
    }

    /// Stores `value` as JSON.
    pub fn set_value<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<()> {
        let bytes = serde_json::to_vec(value)?;
        Ok(self.inner.set(key, &bytes, "application/json; charset=utf-8")?)
    }

    /// A record's raw bytes and content type.
    pub fn get_bytes(&self, key: &str) -> Result<Option<(Vec<u8>, String)>> {
        Ok(self.inner.get(key)?.map(|v| (v.value, v.content_type)))
    }

    pub fn set_bytes(&self, key: &str, value: &[u8], content_type: &str) -> Result<()> {
        Ok(self.inner.set(key, value, content_type)?)
    }

    pub fn delete(&self, key: &str) -> Result<()> {
        Ok(self.inner.delete(key)?)
    }

    pub fn list_keys(&self, exclusive_start_key: Option<&str>, limit: u32, prefix: Option<&str>) -> Result<KeyPage> {
        let page = self.inner.list_keys(exclusive_start_key, limit, prefix)?;
        Ok(KeyPage {
            keys: page.items.into_iter().map(|k| (k.key, k.size)).collect(),
            next_exclusive_start_key: page.next_exclusive_start_key,
        })
    }
}

/// A dataset: an append-only list of JSON objects.
pub struct Dataset {
    inner: wit_dataset::Dataset,
}

impl Dataset {
    pub fn open_default() -> Result<Dataset> {
        Ok(Dataset { inner: wit_dataset::Dataset::open(None)? })
    }

    /// The dataset with this name, created if needed.
    pub fn open(name: &str) -> Result<Dataset> {
        Ok(Dataset { inner: wit_dataset::Dataset::open(Some(name))? })
    }

    /// An existing dataset by its ID (another run's, say).
    pub fn open_by_id(id: &str) -> Result<Dataset> {
        Ok(Dataset { inner: wit_dataset::Dataset::open_by_id(id)? })
    }

    pub fn id(&self) -> String {
        self.inner.id()
    }

    /// Pushes one object, or each element of an array.
    pub fn push<T: Serialize + ?Sized>(&self, items: &T) -> Result<()> {
        let texts = match serde_json::to_value(items)? {
            serde_json::Value::Array(a) => a.iter().map(serde_json::to_string).collect::<std::result::Result<Vec<_>, _>>()?,
            one => vec![serde_json::to_string(&one)?],
        };
        Ok(self.inner.push_items(&texts)?)
    }

    /// Pushes items already serialised, one JSON object per text (no re-encoding).
    pub fn push_texts(&self, texts: Vec<String>) -> Result<()> {
        Ok(self.inner.push_items(&texts)?)
    }

    /// Items `offset..offset + limit`, deserialised.
    pub fn get_items<T: DeserializeOwned>(&self, offset: u64, limit: u32) -> Result<Vec<T>> {
        let page = self.inner.get_items(offset, limit)?;
        page.items.iter().map(|t| Ok(serde_json::from_str::<T>(t)?)).collect()
    }

    pub fn item_count(&self) -> Result<u64> {
        Ok(self.inner.item_count()?)
    }
}

/// A request queue: what a crawler still has to handle, deduplicated by `uniqueKey`.
///
/// ```ignore
/// let queue = RequestQueue::open_default()?;
/// queue.add_url("https://example.com/")?;
/// while let Some(request) = queue.fetch_next()? {
///     // ... handle request.url, add the links found ...
///     queue.mark_handled(&request)?;
/// }
/// ```
pub struct RequestQueue {
    inner: wit_queue::Queue,
}

/// A request fetched from a queue (held by this run until handled or reclaimed).
#[derive(Debug, Clone)]
pub struct QueuedRequest {
    pub id: String,
    pub unique_key: String,
    pub url: String,
    pub method: String,
    pub retry_count: u32,
    /// The whole request: `userData`, `headers`, `payload`, ...
    pub data: serde_json::Value,
}

/// What adding a request did.
#[derive(Debug, Clone, PartialEq)]
pub struct AddedRequest {
    pub request_id: String,
    pub was_already_present: bool,
    pub was_already_handled: bool,
}

/// How long a fetched request stays this run's before others may take it.
const FETCH_LOCK_SECS: u32 = 300;

impl RequestQueue {
    pub fn open_default() -> Result<RequestQueue> {
        Ok(RequestQueue { inner: wit_queue::Queue::open(None)? })
    }

    /// The queue with this name, created if needed; it outlives the run.
    pub fn open(name: &str) -> Result<RequestQueue> {
        Ok(RequestQueue { inner: wit_queue::Queue::open(Some(name))? })
    }

    pub fn id(&self) -> String {
        self.inner.id()
    }

    /// Adds a GET request for `url` (its own `uniqueKey`).
    pub fn add_url(&self, url: &str) -> Result<AddedRequest> {
        self.add(&serde_json::json!({ "url": url }), false)
    }

    /// Adds a request object (`url` required; `uniqueKey`, `method`, `userData`, ... optional).
    pub fn add<T: Serialize + ?Sized>(&self, request: &T, forefront: bool) -> Result<AddedRequest> {
        let added = self.inner.add(&serde_json::to_string(request)?, forefront)?;
        Ok(AddedRequest {
            request_id: added.request_id,
            was_already_present: added.was_already_present,
            was_already_handled: added.was_already_handled,
        })
    }

    /// The next request to handle, if one is available now.
    pub fn fetch_next(&self) -> Result<Option<QueuedRequest>> {
        let Some(r) = self.inner.fetch_next(FETCH_LOCK_SECS)? else { return Ok(None) };
        Ok(Some(QueuedRequest {
            id: r.id,
            unique_key: r.unique_key,
            url: r.url,
            method: r.method,
            retry_count: r.retry_count,
            data: serde_json::from_str(&r.json)?,
        }))
    }

    pub fn mark_handled(&self, request: &QueuedRequest) -> Result<()> {
        Ok(self.inner.mark_handled(&request.id)?)
    }

    /// Gives the request back for another try, at the front with `forefront`.
    pub fn reclaim(&self, request: &QueuedRequest, forefront: bool) -> Result<()> {
        Ok(self.inner.reclaim(&request.id, forefront)?)
    }

    /// Whether every request is handled.
    pub fn is_finished(&self) -> Result<bool> {
        Ok(self.inner.is_finished()?)
    }

    /// Whether no pending request is free to fetch now; requests other
    /// runs hold locked may still come back, so this is not [`Self::is_finished`].
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.inner.is_empty()?)
    }
}

thread_local! {
    static DEFAULT_DATASET: OnceCell<Dataset> = const { OnceCell::new() };
}

fn with_default_dataset<R>(f: impl FnOnce(&Dataset) -> Result<R>) -> Result<R> {
    DEFAULT_DATASET.with(|cell| {
        if cell.get().is_none() {
            let _ = cell.set(Dataset::open_default()?);
        }
        f(cell.get().expect("just set"))
    })
}

/// Pushes to the run's default dataset: one object, or each element of an array.
pub fn push_data<T: Serialize + ?Sized>(items: &T) -> Result<()> {
    with_default_dataset(|d| d.push(items))
}

/// A JSON record of the run's default store.
pub fn get_value<T: DeserializeOwned>(key: &str) -> Result<Option<T>> {
    get_value_in(None, key)
}

/// Stores a JSON record in the run's default store.
pub fn set_value<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<()> {
    set_value_in(None, key, value)
}

/// A JSON record of the named store (`None`: the run's default store),
/// without opening a handle.
pub fn get_value_in<T: DeserializeOwned>(store: Option<&str>, key: &str) -> Result<Option<T>> {
    match wit_kv::get_record(store, key)? {
        Some(v) => Ok(Some(serde_json::from_slice(&v.value)?)),
        None => Ok(None),
    }
}

/// Stores a JSON record in the named store (created if needed; `None`: the
/// run's default store), without opening a handle.
pub fn set_value_in<T: Serialize + ?Sized>(store: Option<&str>, key: &str, value: &T) -> Result<()> {
    let bytes = serde_json::to_vec(value)?;
    Ok(wit_kv::set_record(store, key, &bytes, "application/json; charset=utf-8")?)
}

/// The run's input, deserialised (`None` when the run has none).
pub fn get_input<T: DeserializeOwned>() -> Result<Option<T>> {
    match runtime::input()? {
        Some(v) => Ok(Some(serde_json::from_slice(&v.value)?)),
        None => Ok(None),
    }
}

/// Sets the run's status message, shown while it runs.
pub fn set_status_message(message: &str) -> Result<()> {
    Ok(runtime::set_status_message(message, false)?)
}

/// Sets the run's final status message; the platform keeps it when the run ends.
pub fn set_terminal_status_message(message: &str) -> Result<()> {
    Ok(runtime::set_status_message(message, true)?)
}

/// Restarts this run in place (same storages and input); does not return
/// on success. Save what you need first (see [`PersistedState`]).
pub fn reboot() -> Result<()> {
    Ok(runtime::reboot()?)
}

/// Aborts a run (possibly this one). Gracefully, it gets `aborting` first.
pub fn abort_run(run_id: &str, gracefully: bool) -> Result<()> {
    Ok(runtime::abort(run_id, gracefully)?)
}

/// IDs, limits and times of this run.
pub fn run_info() -> RunInfo {
    runtime::info()
}

/// A system event from the platform.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Save your state now; `is_migrating` when a migration follows.
    PersistState { is_migrating: bool },
    /// The run will be stopped and resumed elsewhere in this many seconds.
    Migrating { time_remaining_secs: f64 },
    /// The run is being aborted gracefully: finish up and return.
    Aborting,
    /// The run's resource use, about once a second.
    SystemInfo { mem_current_bytes: u64, mem_max_bytes: u64, cpu_current_usage: f64, is_cpu_overloaded: bool },
}

/// System events. Events queue from the start of the run; none is missed.
pub mod events {
    use super::{wit_events, Event};

    pub use wasip2::io::poll::Pollable;

    fn convert(e: wit_events::Event) -> Event {
        match e {
            wit_events::Event::PersistState(is_migrating) => Event::PersistState { is_migrating },
            wit_events::Event::Migrating(time_remaining_secs) => Event::Migrating { time_remaining_secs },
            wit_events::Event::Aborting => Event::Aborting,
            wit_events::Event::SystemInfo(i) => Event::SystemInfo {
                mem_current_bytes: i.mem_current_bytes,
                mem_max_bytes: i.mem_max_bytes,
                cpu_current_usage: i.cpu_current_usage,
                is_cpu_overloaded: i.is_cpu_overloaded,
            },
        }
    }

    /// The next waiting event, if any; never blocks.
    pub fn next() -> Option<Event> {
        wit_events::next().map(convert)
    }

    /// Blocks until an event arrives.
    pub fn wait() -> Event {
        loop {
            if let Some(e) = next() {
                return e;
            }
            subscribe().block();
        }
    }

    /// A `wasi:io` pollable that is ready when an event is waiting, to poll
    /// together with other pollables.
    pub fn subscribe() -> Pollable {
        wit_events::subscribe()
    }

    /// All waiting events, oldest first.
    pub fn drain() -> impl Iterator<Item = Event> {
        std::iter::from_fn(next)
    }
}

/// A typed value kept in the run's default key-value store under `key`:
/// loaded at start (a resumed, rebooted or resurrected run finds it again),
/// saved by [`checkpoint`](PersistedState::checkpoint) whenever the platform
/// asks (`persist-state`, `migrating`, `aborting`), and on normal exit.
///
/// ```ignore
/// let mut state = PersistedState::<Progress>::load("STATE")?;
/// while state.next_page < 100 {
///     state.next_page += 1;
///     if state.checkpoint()?.contains(&Event::Aborting) { break; }
/// }
/// state.finish()?;
/// ```
pub struct PersistedState<T: serde::Serialize> {
    key: String,
    value: T,
    saved: bool,
}

impl<T: Serialize + DeserializeOwned + Default> PersistedState<T> {
    /// Loads the state saved under `key`, or starts from `T::default()`.
    pub fn load(key: &str) -> Result<Self> {
        let value = get_value::<T>(key)?.unwrap_or_default();
        Ok(PersistedState { key: key.to_owned(), value, saved: true })
    }
}

impl<T: Serialize> PersistedState<T> {
    pub fn save(&mut self) -> Result<()> {
        set_value(&self.key, &self.value)?;
        self.saved = true;
        Ok(())
    }

    /// Handles waiting events: saves the state if any asks for it, and
    /// returns them all so the Actor can react (return on `Aborting`).
    pub fn checkpoint(&mut self) -> Result<Vec<Event>> {
        let events: Vec<Event> = events::drain().collect();
        if events.iter().any(|e| matches!(e, Event::PersistState { .. } | Event::Migrating { .. } | Event::Aborting)) {
            self.save()?;
        }
        Ok(events)
    }

    /// Saves one last time; call at the end of a successful run.
    pub fn finish(mut self) -> Result<()> {
        self.save()
    }
}

impl<T: Serialize> std::ops::Deref for PersistedState<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: Serialize> std::ops::DerefMut for PersistedState<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.saved = false;
        &mut self.value
    }
}

impl<T: Serialize> Drop for PersistedState<T> {
    /// Best effort for a run that returns without `finish` (errors cannot surface here).
    fn drop(&mut self) {
        if !self.saved {
            let _ = set_value(&self.key, &self.value);
        }
    }
}

#[doc(hidden)]
pub fn __run<I, E, F>(main: F) -> std::result::Result<(), String>
where
    I: DeserializeOwned,
    E: fmt::Display,
    F: FnOnce(I) -> std::result::Result<(), E>,
{
    let input = match runtime::input() {
        Ok(Some(v)) => serde_json::from_slice::<I>(&v.value),
        Ok(None) => serde_json::from_str::<I>("{}").or_else(|_| serde_json::from_str::<I>("null")),
        Err(e) => return Err(format!("Cannot read the input: {}", Error::from(e))),
    };
    let input = input.map_err(|e| format!("The input does not match what the Actor expects: {e}"))?;
    main(input).map_err(|e| e.to_string())
}

/// Declares the Actor's entry point: `fn(Input) -> Result<(), E>` where
/// `Input: Deserialize` and `E: Display`.
///
/// The `run` export is generated here, in the Actor's crate, so only batch
/// Actors carry it. (The generated glue names the SDK `wactor_sdk`: depend
/// on it under that name.)
#[macro_export]
macro_rules! actor {
    ($main:path) => {
        mod __wactor_run {
            $crate::__wit_bindgen::generate!({
                inline: "package wactor:actor-run; world actor-run { export run: func() -> result<_, string>; }",
                runtime_path: "wactor_sdk::__wit_bindgen::rt",
            });
        }
        struct __WactorActor;
        impl __wactor_run::Guest for __WactorActor {
            fn run() -> ::core::result::Result<(), ::std::string::String> {
                $crate::__run($main)
            }
        }
        __wactor_run::export!(__WactorActor with_types_in __wactor_run);
    };
}
