//! Every limit in one place, each with the reason for its value.
//!
//! Both doors (the WIT host and the HTTP API) read their caps from [`Limits`],
//! so a guest and an HTTP client hit the same wall at the same size.

use serde::{Deserialize, Serialize};

/// What one user's runs and storages may hold at once; `None` is no limit. The admin sets
/// it per user (`PUT /v2/users/{user}/quota`); unset fields take the
/// server's defaults (`--user-max-*`), which do not apply to the admin.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Quota {
    /// Unfinished runs at once (waiting ones included), Standby runs among them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent_runs: Option<u32>,
    /// Memory of the unfinished runs together (MB), as they asked for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_total_memory_mbytes: Option<u64>,
    /// Standby runs at once, over all the user's Standby Actors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_standby_runs: Option<u32>,
    /// Bytes in all the user's key-value stores, datasets and request queues.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_storage_bytes: Option<u64>,
}

impl Quota {
    /// Each field of `self`, else of `defaults`.
    pub fn over(&self, defaults: &Quota) -> Quota {
        Quota {
            max_concurrent_runs: self.max_concurrent_runs.or(defaults.max_concurrent_runs),
            max_total_memory_mbytes: self.max_total_memory_mbytes.or(defaults.max_total_memory_mbytes),
            max_standby_runs: self.max_standby_runs.or(defaults.max_standby_runs),
            max_storage_bytes: self.max_storage_bytes.or(defaults.max_storage_bytes),
        }
    }
}

/// Platform-wide limits. One baseline; the server config may override fields.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Limits {
    /// Largest run input in bytes. The Actor model's documented default is 1,000,000 characters.
    pub max_input_bytes: usize,
    /// Largest key-value record. Apify caps a record at 9 MB; clients chunk below that.
    pub max_record_bytes: usize,
    /// Largest dataset push (one request or one host call). Apify's 9 MB payload cap.
    pub max_push_bytes: usize,
    /// Largest single HTTP request body outside uploads (record PUT, push, input).
    pub max_request_bytes: usize,
    /// Largest uploaded component: the Python guest toolchain produces ~18 MB, leave headroom.
    pub max_component_bytes: usize,
    /// HTTP requests in flight before new ones are shed with 503 (clients retry
    /// 5xx with backoff). Long polls (`waitForFinish`, log streams) count, so it is generous.
    pub max_in_flight_requests: usize,
    /// API requests one user token may make a second (as many may come at
    /// once); past it `429` with `Retry-After`. 0 is no limit. Run tokens and
    /// the admin are never limited (see `api::rate_limit`).
    pub max_requests_per_second_per_token: u32,
    /// Days the audit log keeps an entry (0: for ever).
    pub audit_retention_days: u32,
    /// Runs executing at once; more wait in READY. Bounded by the instance pool.
    pub max_concurrent_runs: u32,
    /// Runs of one user that may be unfinished at once (waiting included): a
    /// start past it is refused, so Actors starting Actors cannot fork-bomb.
    pub max_active_runs_per_user: u32,
    /// How deep Actors may start Actors (a run started by a run started by ...).
    pub max_call_depth: u32,
    /// Every user's quota unless the admin sets theirs (the admin has none).
    pub default_user_quota: Quota,
    /// Times a failed run with `restartOnError` is started again.
    pub max_restarts_on_error: u32,
    /// Memory a run may ask for (MB); at least 128, Apify's minimum. wasm32 linear memory cannot exceed 4 GiB.
    pub max_memory_mbytes: u32,
    /// Memory a run gets when neither the caller nor the Actor says.
    pub default_memory_mbytes: u32,
    /// Timeout when neither the caller nor the Actor says (seconds); Apify's default is 3600.
    pub default_timeout_secs: u64,
    /// Longest timeout a run may ask for (0 means none at all). Bounded so every
    /// deadline the core computes is representable; a month covers the longest crawls.
    pub max_timeout_secs: u64,
    /// Reboots one run may do; a guest rebooting itself in a loop is refused after this.
    pub max_reboots_per_run: u32,
    /// Open storage handles per run: a guest that leaks handles is stopped, not the host.
    pub max_open_handles_per_run: usize,
    /// Bytes a run's log keeps; the rest is dropped with a notice (a chatty guest must not fill the disk).
    pub max_log_bytes_per_run: u64,
    /// Items per page when the caller gives no limit on paginated collections (Apify: 1000).
    pub max_list_limit: usize,
    /// Key-value keys per `list-keys` page (Apify: 1000).
    pub max_keys_per_page: usize,
    /// Items a guest may read in one `get-items` call.
    pub max_items_per_guest_read: u32,
    /// Largest body of one outbound request a guest sends.
    pub max_outbound_request_bytes: u64,
    /// Largest body of one outbound response a guest receives (a page, a file).
    pub max_outbound_response_bytes: u64,
    /// Outbound requests one run may have in flight: each holds a socket.
    pub max_outbound_requests_in_flight: usize,
    /// Longest an outbound connection (DNS, TCP, TLS) may take.
    pub outbound_connect_timeout_secs: u64,
    /// Longest an outbound response may take to start, or pause between chunks.
    pub outbound_response_timeout_secs: u64,
    /// Rows one dataset export response holds at most (`unwind` multiplies
    /// rows; the pagination headers tell the client where to continue).
    pub max_export_rows: u64,
    /// Bytes one dataset export response holds at most: a response a client can hold.
    pub max_export_bytes: u64,
    /// Bytes one guest read (`get-items`) returns at most: the host holds them
    /// all before the guest gets any, so the cap bounds host memory per call.
    pub max_guest_read_bytes: usize,
    /// How long `waitForFinish` may hold a request (Apify documents 60 s).
    pub max_wait_for_finish_secs: u64,
    /// How long `run-sync` waits before answering 408 (Apify: 300 s).
    pub run_sync_timeout_secs: u64,
    /// How often a run gets `persist-state` (the Actor model's default: 60 s).
    pub persist_state_interval_millis: u64,
    /// How long a gracefully aborted run may take to finish before it is stopped (Apify: 30 s).
    pub abort_grace_secs: u64,
    /// Standby handler instances executing at once over all Actors; each holds a slot of the instance pool.
    pub max_standby_instances: u32,
    /// Standby runs one Actor may have at once; beyond, requests queue (each run takes a run slot).
    pub max_standby_runs_per_actor: usize,
    /// Standby requests waiting per Actor for a free run before new ones get 503 right away.
    pub max_standby_queue_per_actor: usize,
    /// How long a Standby request waits in that queue before a 503 with `Retry-After`
    /// (Apify gives run selection up to 2 minutes; a local server should tell sooner).
    pub standby_queue_wait_secs: u64,
    /// Largest Standby request body forwarded to a handler (the guest SDK reads up to the same).
    pub max_standby_request_bytes: usize,
    /// How long a Standby request may take when the Actor does not say (Apify: 5 minutes to the first byte).
    pub standby_request_timeout_secs: u64,
    /// How long a Standby container may take to answer its readiness probe
    /// (images that install or compile at start are slow; beyond, the run fails).
    pub standby_readiness_timeout_secs: u64,
    /// After a Standby run failed to start, how long requests get that failure
    /// at once instead of starting another run (a broken Actor is not restarted in a loop).
    pub standby_start_backoff_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_input_bytes: 1_000_000,
            max_record_bytes: 9 * 1024 * 1024,
            max_push_bytes: 9 * 1024 * 1024,
            max_request_bytes: 10 * 1024 * 1024,
            max_component_bytes: 64 * 1024 * 1024,
            max_in_flight_requests: 4096,
            max_concurrent_runs: 256,
            max_active_runs_per_user: 10_000,
            max_requests_per_second_per_token: 400,
            audit_retention_days: 90,
            max_call_depth: 10,
            default_user_quota: Quota::default(),
            max_restarts_on_error: 3,
            max_memory_mbytes: 4096,
            default_memory_mbytes: 256,
            default_timeout_secs: 3600,
            max_timeout_secs: 30 * 24 * 3600,
            max_reboots_per_run: 50,
            max_open_handles_per_run: 256,
            max_log_bytes_per_run: 16 * 1024 * 1024,
            max_list_limit: 1000,
            max_keys_per_page: 1000,
            max_items_per_guest_read: 10_000,
            max_guest_read_bytes: 16 * 1024 * 1024,
            max_outbound_request_bytes: 16 * 1024 * 1024,
            max_outbound_response_bytes: 128 * 1024 * 1024,
            max_outbound_requests_in_flight: 64,
            outbound_connect_timeout_secs: 30,
            outbound_response_timeout_secs: 300,
            max_export_rows: 1_000_000,
            max_export_bytes: 256 * 1024 * 1024,
            max_wait_for_finish_secs: 60,
            run_sync_timeout_secs: 300,
            persist_state_interval_millis: 60_000,
            abort_grace_secs: 30,
            max_standby_instances: 512,
            max_standby_runs_per_actor: 16,
            max_standby_queue_per_actor: 1024,
            standby_queue_wait_secs: 30,
            max_standby_request_bytes: 16 * 1024 * 1024,
            standby_request_timeout_secs: 300,
            standby_readiness_timeout_secs: 120,
            standby_start_backoff_secs: 5,
        }
    }
}

/// `persistStateIntervalMillis` a run may ask for: often enough to be useful,
/// not so often that saving state is all the Actor does.
pub const PERSIST_STATE_INTERVAL_MILLIS: std::ops::RangeInclusive<u64> = 100..=24 * 3600 * 1000;

/// Apify's smallest run (the clients reject run objects below it).
pub const MIN_MEMORY_MBYTES: u32 = 128;

/// Concurrent requests one Standby run may take (`maxRequestsPerActorRun`,
/// `desiredRequestsPerActorRun`): beyond this a run is a thundering herd.
pub const MAX_STANDBY_REQUESTS_PER_RUN: u32 = 10_000;

/// Most `actorStandby.maxRequestsPerInstance`: a reused instance keeps
/// what its requests left in its memory, so even a long reuse ends.
pub const MAX_STANDBY_REQUESTS_PER_INSTANCE: u32 = 1_000_000;

/// Longest `actorStandby.requestTimeoutSecs` (Apify gives a request 5 minutes
/// to the first byte; a streaming answer may go on for an hour).
pub const MAX_STANDBY_REQUEST_TIMEOUT_SECS: u64 = 3600;

/// Longest `actorStandby.idleTimeoutSecs`: a week without a request.
pub const MAX_STANDBY_IDLE_TIMEOUT_SECS: u64 = 7 * 24 * 3600;

/// Checks of numbers a client or an Actor definition gives, done at the door
/// so the core only ever computes with values in range. Each error names
/// the field.
impl Limits {
    pub fn check_timeout_secs(&self, field: &str, secs: u64) -> Result<(), String> {
        if secs > self.max_timeout_secs {
            return Err(format!("{field} must be between 0 (no timeout) and {} seconds, got {secs}", self.max_timeout_secs));
        }
        Ok(())
    }

    pub fn check_memory_mbytes(&self, field: &str, mbytes: u64) -> Result<(), String> {
        if !(MIN_MEMORY_MBYTES as u64..=self.max_memory_mbytes as u64).contains(&mbytes) {
            return Err(format!("{field} must be between {MIN_MEMORY_MBYTES} and {} MB, got {mbytes}", self.max_memory_mbytes));
        }
        Ok(())
    }

    pub fn check_persist_state_interval(&self, field: &str, millis: u64) -> Result<(), String> {
        check_range(field, millis, PERSIST_STATE_INTERVAL_MILLIS, "milliseconds")
    }
}

/// `value` within `range`, or an error naming `field` and the range.
pub fn check_range(field: &str, value: u64, range: std::ops::RangeInclusive<u64>, unit: &str) -> Result<(), String> {
    if !range.contains(&value) {
        return Err(format!("{field} must be between {} and {} {unit}, got {value}", range.start(), range.end()));
    }
    Ok(())
}
