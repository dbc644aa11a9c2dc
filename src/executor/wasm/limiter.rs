//! The per-run memory limit (`memoryMbytes`), over all of a component's
//! linear memories together.

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

pub struct MemoryLimiter {
    limit: u64,
    used: u64,
    peak: u64,
    usage: Arc<RunUsage>,
}

impl MemoryLimiter {
    pub fn new(limit: u64, usage: Arc<RunUsage>) -> Self {
        MemoryLimiter { limit, used: 0, peak: 0, usage }
    }

    pub fn peak(&self) -> u64 {
        self.peak
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let next = self.used.saturating_sub(current as u64).saturating_add(desired as u64);
        if next > self.limit {
            return Err(MemoryLimitExceeded { limit: self.limit, wanted: next }.into());
        }
        self.used = next;
        self.peak = self.peak.max(next);
        self.usage.mem_current_bytes.store(next, std::sync::atomic::Ordering::Relaxed);
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}
