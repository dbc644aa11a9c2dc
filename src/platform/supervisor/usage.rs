//! Platform layer: what a running run is told about its own load
//! (`system-info`), sampled from what its executor measures.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, Interval};

use crate::ids;
use crate::platform::events::{RunUsage, SystemInfo};

/// How often a running Actor gets `system-info`.
const SYSTEM_INFO_EVERY: Duration = Duration::from_secs(1);

/// CPU use at which a run counts as overloaded, percent of one core.
const CPU_OVERLOADED_PERCENT: f64 = 95.0;

/// Samples a run's usage once per [`SYSTEM_INFO_EVERY`], keeping averages and maxima.
pub(super) struct UsageSampler {
    usage: Arc<RunUsage>,
    tick: Interval,
    /// The run's memory limit, bytes.
    mem_max_bytes: u64,
    last_cpu_nanos: u64,
    n: u64,
    mem_sum: f64,
    cpu_sum: f64,
    cpu_max: f64,
}

impl UsageSampler {
    pub(super) fn new(usage: Arc<RunUsage>, started: Instant, mem_max_bytes: u64) -> Self {
        let tick = tokio::time::interval_at(started + SYSTEM_INFO_EVERY, SYSTEM_INFO_EVERY);
        UsageSampler { usage, tick, mem_max_bytes, last_cpu_nanos: 0, n: 0, mem_sum: 0.0, cpu_sum: 0.0, cpu_max: 0.0 }
    }

    /// The next sample, when it is due.
    pub(super) async fn next(&mut self) -> SystemInfo {
        self.tick.tick().await;
        let cpu_nanos = self.usage.cpu_busy_nanos.load(Relaxed);
        let busy = cpu_nanos.saturating_sub(self.last_cpu_nanos);
        self.last_cpu_nanos = cpu_nanos;
        let cpu = busy as f64 / SYSTEM_INFO_EVERY.as_nanos() as f64 * 100.0;
        let mem = self.usage.mem_current_bytes.load(Relaxed);
        self.n += 1;
        self.mem_sum += mem as f64;
        self.cpu_sum += cpu;
        self.cpu_max = self.cpu_max.max(cpu);
        SystemInfo {
            mem_current_bytes: mem,
            mem_avg_bytes: self.mem_sum / self.n as f64,
            mem_max_bytes: self.mem_max_bytes,
            cpu_current_usage: cpu,
            cpu_avg_usage: self.cpu_sum / self.n as f64,
            cpu_max_usage: self.cpu_max,
            is_cpu_overloaded: cpu >= CPU_OVERLOADED_PERCENT,
            created_at: ids::format_ts(&ids::now()),
        }
    }
}
