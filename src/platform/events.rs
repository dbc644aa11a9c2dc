//! Platform layer: system events to a running Actor (persist-state,
//! migrating, aborting, system-info). The supervisor is the one event
//! source; each executor delivers them its own way (the WIT `events`
//! interface for components, the events websocket for containers).

use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::Arc;

use serde_json::{json, Value};
use tokio::sync::Notify;

use super::auth::KeyPurpose;
use super::runs::RunStatus;
use super::Platform;
use crate::ids;

#[derive(Debug, Clone, PartialEq)]
pub enum RunEvent {
    PersistState { is_migrating: bool },
    Migrating { time_remaining_secs: f64 },
    Aborting,
    SystemInfo(SystemInfo),
}

#[derive(Debug, Clone, PartialEq)]
pub struct SystemInfo {
    pub mem_current_bytes: u64,
    /// Average over the run so far (the SDKs require it).
    pub mem_avg_bytes: f64,
    /// The run's memory limit (crawlee's autoscaling reads it as the total).
    pub mem_max_bytes: u64,
    pub cpu_current_usage: f64,
    pub cpu_avg_usage: f64,
    pub cpu_max_usage: f64,
    pub is_cpu_overloaded: bool,
    pub created_at: String,
}

impl RunEvent {
    /// The JSON frame Apify's events websocket sends: `{name, data, createdAt}`.
    pub fn to_frame(&self) -> Value {
        let (name, data) = match self {
            RunEvent::PersistState { is_migrating } => ("persistState", json!({"isMigrating": is_migrating})),
            RunEvent::Migrating { time_remaining_secs } => ("migrating", json!({"timeRemainingSecs": time_remaining_secs})),
            RunEvent::Aborting => ("aborting", json!({})),
            RunEvent::SystemInfo(i) => (
                "systemInfo",
                json!({
                    "memAvgBytes": i.mem_avg_bytes, "memCurrentBytes": i.mem_current_bytes, "memMaxBytes": i.mem_max_bytes,
                    "cpuAvgUsage": i.cpu_avg_usage, "cpuMaxUsage": i.cpu_max_usage,
                    "cpuCurrentUsage": i.cpu_current_usage, "isCpuOverloaded": i.is_cpu_overloaded,
                    "createdAt": i.created_at,
                }),
            ),
        };
        json!({"name": name, "data": data, "createdAt": ids::format_ts(&ids::now())})
    }
}

/// Events a run's guest has not read yet. Bounded: when the guest does not
/// read, the oldest `system-info` go first, then the oldest of any kind.
#[derive(Clone, Default)]
pub struct EventQueue {
    inner: Arc<(Mutex<VecDeque<RunEvent>>, Notify)>,
}

/// Unread events kept per run.
const MAX_QUEUED_EVENTS: usize = 64;

impl EventQueue {
    pub fn push(&self, event: RunEvent) {
        let (queue, notify) = &*self.inner;
        {
            let mut q = queue.lock();
            if q.len() >= MAX_QUEUED_EVENTS {
                match q.iter().position(|e| matches!(e, RunEvent::SystemInfo(_))) {
                    Some(i) => {
                        q.remove(i);
                    }
                    None => {
                        q.pop_front();
                    }
                }
            }
            q.push_back(event);
        }
        notify.notify_waiters();
    }

    pub fn pop(&self) -> Option<RunEvent> {
        self.inner.0.lock().pop_front()
    }

    /// Resolves when an event is waiting.
    pub async fn ready(&self) {
        let (queue, notify) = &*self.inner;
        loop {
            let notified = notify.notified();
            if !queue.lock().is_empty() {
                return;
            }
            notified.await;
        }
    }
}

/// What the executor measures of a running guest, read by the supervisor
/// for `system-info` and the run's stats.
#[derive(Default)]
pub struct RunUsage {
    /// Linear memory in use, bytes, over all of the run's instances (a
    /// Standby run has one per request in flight); the run's limit caps the sum.
    pub mem_current_bytes: std::sync::atomic::AtomicU64,
    /// The most `mem_current_bytes` has been.
    pub mem_peak_bytes: std::sync::atomic::AtomicU64,
    /// CPU time the guest has used, nanoseconds.
    pub cpu_busy_nanos: std::sync::atomic::AtomicU64,
    /// Outbound HTTP requests the guest sent.
    pub outbound_requests: std::sync::atomic::AtomicU64,
}

impl Platform {
    /// The events of a running run, for its events websocket.
    pub fn run_event_source(&self, run_id: &str) -> Option<(EventQueue, tokio::sync::watch::Receiver<RunStatus>)> {
        self.active.event_source(run_id)
    }

    /// The secret in a run's events URL: derived from the server's token, so
    /// it needs no storage and names exactly one run.
    pub fn run_events_secret(&self, run_id: &str) -> String {
        self.run_key(KeyPurpose::EventsUrl, run_id)
    }

    /// `ACTOR_EVENTS_WEBSOCKET_URL` of a (container) run.
    pub fn run_events_url(&self, run_id: &str) -> String {
        let base = &self.config.container_api_url;
        let ws = base.strip_prefix("https://").map(|r| format!("wss://{r}")).unwrap_or_else(|| base.replacen("http://", "ws://", 1));
        format!("{ws}/events/{run_id}/{}", self.run_events_secret(run_id))
    }
}
