//! The platform core: every capability an Actor or a client has is a method
//! here. The HTTP API (`crate::api`) and the WIT host (in the component
//! executor) are thin doors onto it; executors run below it, behind
//! [`executors::Executor`].

pub mod access;
mod actor_stats;
pub mod actors;
pub mod audit;
pub mod auth;
pub mod charging;
pub mod db;
pub mod durability;
pub mod error;
pub mod events;
pub mod executors;
pub mod logs;
pub(crate) mod names;
pub mod outbound;
pub mod quotas;
pub mod runs;
pub mod schedules;
pub mod secrets;
pub mod sessions;
pub mod standby;
pub mod storage;
mod supervisor;
pub mod tasks;
pub mod usage;
pub mod users;
pub mod web_servers;
pub mod webhooks;

use parking_lot::Mutex;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Weak};

use tokio::sync::Semaphore;

use self::db::Db;
use self::error::{PlatformError, Result};
use self::executors::Executors;
use self::logs::LogStore;
use self::storage::dataset::{Datasets, PreparedItems};
use self::storage::kv::KvStores;
use self::supervisor::ActiveRuns;
use crate::definition::InputSchema;
use crate::ids;
use crate::limits::Limits;

/// What a compute unit costs unless the server is told otherwise (Apify's list price).
pub const DEFAULT_COMPUTE_UNIT_PRICE_USD: f64 = 0.4;

/// How a server is set up.
#[derive(Debug, Clone)]
pub struct PlatformOptions {
    pub data_dir: PathBuf,
    /// Fixed API token; generated and stored on first start when `None`.
    pub token: Option<String>,
    /// The base URL clients see (console and record URLs are built on it).
    pub public_url: String,
    /// Where containers reach the API when it differs from `public_url`: a
    /// plain loopback listener beside an HTTPS one, so a container need not
    /// trust the server's certificate (see `server::run`).
    pub internal_url: Option<String>,
    pub username: String,
    /// Standby URLs are `<username>--<actor>.<standby_domain>`.
    pub standby_domain: String,
    /// Docker network mode of container runs (`host`: they reach the API on 127.0.0.1).
    pub docker_network: String,
    /// Let guests' outbound requests reach loopback and private addresses (development only).
    pub allow_private_outbound: bool,
    pub limits: Limits,
    pub durability: durability::Durability,
    /// What one compute unit (1 GB of memory for an hour) costs, for runs' `usageUsd`.
    pub compute_unit_price_usd: f64,
    pub webhook_delivery: webhooks::delivery::DeliveryOptions,
    /// The keys secrets are sealed with at rest.
    pub secrets_key: secrets::KeySource,
}

/// Settled configuration, read by every part of the core.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    /// SHA-256 of the admin's token: what presented tokens are compared with
    /// (the token itself is never stored).
    pub token_digest: [u8; 32],
    /// The admin's token when this start generated it, to show once.
    pub new_token: Option<String>,
    /// The secret keyed run URLs are derived from (see `auth::run_key`).
    pub(crate) url_key: String,
    pub public_url: String,
    /// What container runs are given as their API base URL.
    pub container_api_url: String,
    pub username: String,
    pub user_id: String,
    pub standby_domain: String,
    pub docker_network: String,
    pub allow_private_outbound: bool,
    pub limits: Limits,
    pub compute_unit_price_usd: f64,
}

pub struct Platform {
    pub config: Config,
    pub(crate) db: Db,
    commits: Arc<durability::GroupCommit>,
    pub kv: KvStores,
    pub datasets: Datasets,
    pub queues: storage::queue::RequestQueues,
    pub logs: LogStore,
    pub(crate) charging: charging::Charging,
    pub(crate) webhooks: webhooks::Webhooks,
    pub(crate) schedules: schedules::ScheduleTimer,
    /// Seals secret env vars and input fields at rest.
    pub(crate) secrets: secrets::Secrets,
    /// What runs builds, by the artifact they made.
    executors: Executors,
    pub(crate) active: ActiveRuns,
    pub(crate) standby: standby::StandbyPools,
    web_servers: web_servers::WebServers,
    run_slots: Arc<Semaphore>,
    input_schemas: Mutex<HashMap<String, Arc<InputSchema>>>,
    /// The account's limits as last read or set (see `usage::account_limits`).
    account_limits: parking_lot::RwLock<HashMap<String, usage::AccountLimits>>,
    /// Default datasets of running runs with `maxItems` → that cap.
    max_items_of: parking_lot::RwLock<HashMap<String, u64>>,
    /// This month's usage total and when it was summed (see `usage::check_usage_limit`).
    usage_checked: Mutex<HashMap<String, (std::time::Instant, f64)>>,
    /// (Actor reference, build asked for) → the Actor and build a run starts with (see `run_target`).
    run_targets: Mutex<actors::RunTargets>,
    /// Background builds going on, to abort them.
    running_builds: Mutex<HashMap<String, tokio::task::AbortHandle>>,
    /// Woken whenever a build finishes (`wait_for_build`).
    builds_finished: tokio::sync::Notify,
    /// Bumped by every change to an Actor or its builds; caches of derived
    /// values (Standby and run targets) compare against it.
    actors_version: std::sync::atomic::AtomicU64,
    shutting_down: std::sync::atomic::AtomicBool,
    /// The admin user, whom the server's own token names.
    pub(crate) admin: users::User,
    pub(crate) audit: audit::AuditLog,
    /// Actors' run stats, written behind.
    pub(crate) actor_stats: actor_stats::ActorRunStats,
    /// Bytes each storage and each user holds, against storage quotas.
    pub(crate) storage_bytes: Arc<storage::bytes::StorageBytes>,
    /// Signed-in console browsers (see `sessions`).
    pub sessions: sessions::ConsoleSessions,
    this: Weak<Platform>,
}

impl Platform {
    /// Opens (or creates) the data directory and brings the platform up
    /// with the executors the server has.
    pub fn open(opts: PlatformOptions, executors: Executors) -> anyhow::Result<Arc<Platform>> {
        std::fs::create_dir_all(&opts.data_dir)?;
        let db = Db::open(&opts.data_dir)?;
        let config = Self::config(&opts, &db)?;
        let user_id = config.user_id.clone();
        let commits = durability::GroupCommit::new(db.inner.clone(), opts.durability);
        let logs = LogStore::new(db.log_chunks.clone(), opts.limits.max_log_bytes_per_run, commits.writes_behind());
        let webhooks = webhooks::Webhooks::open(&db, opts.webhook_delivery.clone())?;
        let admin = users::ensure_admin(&db, &user_id, &opts.username)?;
        let secrets = secrets::Secrets::load(&opts.secrets_key, &opts.data_dir)?;
        let storage_bytes = Arc::new(storage::bytes::StorageBytes::open(&db, commits.writes_behind())?);
        let actor_stats = actor_stats::ActorRunStats::new(db.actor_run_stats.clone(), commits.writes_behind());
        let kv = KvStores::new(&db, &opts.limits, storage_bytes.clone())?;
        let datasets = Datasets::new(&db, storage_bytes.clone())?;
        let queues = storage::queue::RequestQueues::new(&db, &opts.limits, storage_bytes.clone())?;
        actors::migrate_names(&db)?;
        let platform = Arc::new_cyclic(|this| Platform {
            sessions: sessions::ConsoleSessions::default(),
            admin,
            audit: audit::AuditLog::default(),
            actor_stats,
            storage_bytes,
            commits,
            kv,
            datasets,
            queues,
            logs,
            charging: charging::Charging::new(db.charges.clone()),
            webhooks,
            schedules: schedules::ScheduleTimer::default(),
            secrets,
            executors,
            active: ActiveRuns::default(),
            standby: standby::StandbyPools::default(),
            web_servers: web_servers::WebServers::default(),
            run_slots: Arc::new(Semaphore::new(opts.limits.max_concurrent_runs as usize)),
            input_schemas: Mutex::new(HashMap::new()),
            usage_checked: Mutex::default(),
            max_items_of: parking_lot::RwLock::new(HashMap::new()),
            account_limits: Default::default(),
            run_targets: Mutex::new(HashMap::new()),
            builds_finished: tokio::sync::Notify::new(),
            running_builds: Mutex::new(HashMap::new()),
            actors_version: std::sync::atomic::AtomicU64::new(0),
            shutting_down: std::sync::atomic::AtomicBool::new(false),
            this: this.clone(),
            config,
            db,
        });
        // What is written behind goes into sled with every group commit.
        let this = Arc::downgrade(&platform);
        platform.commits.before_each_flush(move || {
            if let Some(p) = this.upgrade() {
                p.write_behind();
            }
        });
        for user in platform.list_users()? {
            platform.refresh_storage_limit(&user.id)?;
        }
        let interrupted = platform.fail_interrupted_builds()?;
        if interrupted > 0 {
            tracing::warn!(builds = interrupted, "builds interrupted by the last shutdown were marked FAILED");
        }
        let collected = platform.collect_build_garbage();
        if collected > 0 {
            tracing::info!(files = collected, "removed build artifacts no build references");
        }
        Ok(platform)
    }

    /// The server's settings: the options given, with the admin's identity,
    /// token digest and URL key as the data directory keeps them.
    fn config(opts: &PlatformOptions, db: &Db) -> anyhow::Result<Config> {
        let user_id = meta_value(db, "user-id", ids::new_id)?;
        let (token_digest, new_token) = admin_token(db, opts.token.clone().filter(|t| !t.is_empty()))?;
        // Keyed URLs of runs are derived from this; a data dir of before keeps the key it had.
        let legacy_token = db.meta.get("token")?.map(|t| String::from_utf8_lossy(&t).into_owned());
        let url_key = meta_value(db, "url-key", || legacy_token.unwrap_or_else(|| ids::new_secret(32)))?;
        db.meta.remove("token")?;
        Ok(Config {
            data_dir: opts.data_dir.clone(),
            token_digest,
            new_token,
            url_key,
            public_url: opts.public_url.trim_end_matches('/').to_owned(),
            container_api_url: opts.internal_url.as_deref().unwrap_or(&opts.public_url).trim_end_matches('/').to_owned(),
            username: opts.username.clone(),
            user_id,
            standby_domain: opts.standby_domain.trim_matches('.').to_ascii_lowercase(),
            docker_network: opts.docker_network.clone(),
            allow_private_outbound: opts.allow_private_outbound,
            limits: opts.limits.clone(),
            compute_unit_price_usd: opts.compute_unit_price_usd,
        })
    }

    fn arc(&self) -> Arc<Platform> {
        self.this.upgrade().expect("platform used after drop")
    }

    /// Appends the items of a push body (one JSON object or an array of
    /// them) to a dataset. The size is checked on the raw bytes, before any
    /// parsing, and the body is parsed once, straight into stored form.
    pub fn push_items_body(&self, dataset_id: &str, body: &[u8]) -> Result<Pushed> {
        self.check_push_size(body.len())?;
        self.push_prepared(dataset_id, &PreparedItems::from_body(body)?)
    }

    /// Appends items given as one JSON text each (the WIT door), checked and parsed as [`Self::push_items_body`].
    pub fn push_items_texts(&self, dataset_id: &str, texts: &[String]) -> Result<Pushed> {
        self.check_push_size(texts.iter().map(String::len).fold(0usize, usize::saturating_add))?;
        self.push_prepared(dataset_id, &PreparedItems::from_texts(texts.iter().map(String::as_str))?)
    }

    /// Appends the items; in a priced run's default dataset they are charged
    /// (what fits). A running run's default dataset holds at most its
    /// `maxItems`: what would go past it is dropped, and the pusher told.
    fn push_prepared(&self, dataset_id: &str, items: &PreparedItems) -> Result<Pushed> {
        let cap = self.max_items_of.read().get(dataset_id).copied();
        let (count, stored) = self.datasets.push_within(dataset_id, items, cap)?;
        self.charge_dataset_items(dataset_id, stored)?;
        Ok(Pushed { item_count: count, stored, dropped: items.len() as u64 - stored })
    }

    /// A run with `maxItems` started or ended: its default dataset's cap is set or lifted.
    pub(crate) fn cap_default_dataset(&self, run: &runs::Run, running: bool) {
        let Some(max) = run.options.max_items else { return };
        let mut caps = self.max_items_of.write();
        if running {
            caps.insert(run.default_dataset_id.clone(), max);
        } else {
            caps.remove(&run.default_dataset_id);
        }
    }

    fn check_push_size(&self, bytes: usize) -> Result<()> {
        let max = self.config.limits.max_push_bytes;
        if bytes > max {
            return Err(PlatformError::too_large(
                "request-too-large",
                format!("The items are {bytes} bytes, over the limit of {max} bytes per push"),
            ));
        }
        Ok(())
    }

    /// Marks cached views of Actors stale.
    pub(crate) fn actors_changed(&self) {
        self.actors_version.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    pub(crate) fn actors_version(&self) -> u64 {
        self.actors_version.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Waits until every write made before the call is on disk (per the
    /// server's durability mode). Both doors call it before acknowledging.
    pub async fn commit(&self) {
        self.commits.commit().await
    }

    /// Commits a guest instance's writes if it made any since the last time (see `durability`).
    pub async fn settle(&self, writes: &durability::UnsyncedWrites) {
        writes.settle(&self.commits).await
    }

    /// Flushes storage to disk; called on shutdown.
    pub async fn flush(&self) -> Result<()> {
        self.write_behind();
        self.db.flush().await
    }

    /// Puts what is kept in memory until the next commit (log lines, Actor
    /// run stats, storage byte counts) into sled.
    fn write_behind(&self) {
        self.logs.write_pending();
        self.actor_stats.write_pending();
        self.storage_bytes.write_pending();
    }
}

/// What a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pushed {
    /// The dataset's item count after it.
    pub item_count: u64,
    pub stored: u64,
    /// Items past the run's `maxItems`, not stored.
    pub dropped: u64,
}

/// Sleeps until `at`; never, for `None` (a run without a timeout, say).
pub(crate) async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// A server-wide value from the meta tree, created on first use.
/// The digest of the admin's token: of `given` (`--token`), or the one kept
/// (a clear one from before is turned into its digest), or of a new token,
/// returned to be shown once.
fn admin_token(db: &Db, given: Option<String>) -> Result<([u8; 32], Option<String>)> {
    if let Some(t) = given {
        return Ok((auth::digest(&t), None));
    }
    let kept = match db.meta.get("token-digest")? {
        Some(d) => Some(d.to_vec()),
        None => db.meta.get("token")?.map(|t| auth::digest(&String::from_utf8_lossy(&t)).to_vec()),
    };
    if let Some(d) = kept.and_then(|d| <[u8; 32]>::try_from(d.as_slice()).ok()) {
        db.meta.insert("token-digest", &d[..])?;
        return Ok((d, None));
    }
    let token = format!("wactor_{}", ids::new_secret(32));
    let d = auth::digest(&token);
    db.meta.insert("token-digest", &d[..])?;
    db.inner.flush()?;
    Ok((d, Some(token)))
}

fn meta_value(db: &Db, key: &str, make: impl FnOnce() -> String) -> Result<String> {
    if let Some(v) = db.meta.get(key)? {
        return Ok(String::from_utf8_lossy(&v).into_owned());
    }
    let v = make();
    match db.meta.compare_and_swap(key, None as Option<&[u8]>, Some(v.as_bytes()))? {
        Ok(()) => {
            db.inner.flush()?;
            Ok(v)
        }
        Err(e) => Ok(String::from_utf8_lossy(&e.current.unwrap_or_default()).into_owned()),
    }
}
