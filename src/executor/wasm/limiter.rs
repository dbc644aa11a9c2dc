//! The per-run memory limit (`memoryMbytes`), over all of a run's linear
//! memories together: one store's for a batch run, every in-flight
//! request's for a Standby run.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use wasmtime::ResourceLimiter;

use crate::platform::events::RunUsage;

/// Growing past the limit traps with this error, so the run's status can say
/// "out of memory" instead of an allocator's `unreachable`.
#[derive(Debug)]
pub struct MemoryLimitExceeded {
    pub limit: u64,
    pub wanted: u64,
}

impl std::fmt::Display for MemoryLimitExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "memory limit of {} bytes exceeded (wanted {} bytes)", self.limit, self.wanted)
    }
}
impl std::error::Error for MemoryLimitExceeded {}

/// Elements one table may hold; tables are small in practice, a runaway one is a bug.
const MAX_TABLE_ELEMENTS: usize = 1_000_000;

/// One store's share of its run's memory budget (`RunUsage::mem_current_bytes`).
pub struct MemoryLimiter {
    limit: u64,
    /// What this store holds, returned to the run when the store is dropped.
    held: u64,
    usage: Arc<RunUsage>,
}

impl MemoryLimiter {
    pub fn new(limit: u64, usage: Arc<RunUsage>) -> Self {
        MemoryLimiter { limit, held: 0, usage }
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let delta = (desired as u64).saturating_sub(current as u64);
        let total = &self.usage.mem_current_bytes;
        let mut now = total.load(Ordering::Relaxed);
        loop {
            let next = now.saturating_add(delta);
            if next > self.limit {
                return Err(MemoryLimitExceeded { limit: self.limit, wanted: next }.into());
            }
            match total.compare_exchange_weak(now, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => {
                    self.held += delta;
                    self.usage.mem_peak_bytes.fetch_max(next, Ordering::Relaxed);
                    return Ok(true);
                }
                Err(actual) => now = actual,
            }
        }
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

impl Drop for MemoryLimiter {
    fn drop(&mut self) {
        self.usage.mem_current_bytes.fetch_sub(self.held, Ordering::Relaxed);
    }
}
