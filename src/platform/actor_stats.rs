//! Platform layer: an Actor's run stats (`stats.totalRuns`,
//! `lastRunStartedAt`, `totalUsageUsd`), kept apart from its record (see
//! `Db::actor_run_stats`) and written behind: every run's start and end add
//! to a delta in memory, and the deltas go into sled right before the next
//! group commit. Many runs of one Actor between two commits cost one write,
//! not two each, and never contend on one key. Reads add what is pending.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;

use super::actors::ActorStats;
use super::error::Result;

/// What runs added to one Actor's stats since they were last written.
#[derive(Default)]
struct Delta {
    runs: u64,
    last_run_started_at: Option<DateTime<Utc>>,
    usage_usd: f64,
    /// The stats to start from when the tree has none yet (Actors counted before the tree).
    seed: Option<ActorStats>,
}

impl Delta {
    fn apply(&self, stats: &mut ActorStats) {
        stats.total_runs = stats.total_runs.saturating_add(self.runs);
        if self.last_run_started_at > stats.last_run_started_at {
            stats.last_run_started_at = self.last_run_started_at;
        }
        stats.total_usage_usd += self.usage_usd;
    }
}

/// The run stats tree with its pending deltas; cheap to clone.
#[derive(Clone)]
pub(crate) struct ActorRunStats {
    tree: sled::Tree,
    pending: Arc<Mutex<HashMap<String, Delta>>>,
    write_behind: bool,
}

impl ActorRunStats {
    /// The stats in `tree`; `write_behind` when a group commit calls [`Self::write_pending`].
    pub fn new(tree: sled::Tree, write_behind: bool) -> ActorRunStats {
        ActorRunStats { tree, pending: Arc::default(), write_behind }
    }

    /// Counts a run started `at`; `seed` is the Actor record's stats, for an Actor not yet in the tree.
    pub fn run_started(&self, actor_id: &str, at: DateTime<Utc>, seed: &ActorStats) -> Result<()> {
        self.add(actor_id, |d| {
            d.runs += 1;
            d.last_run_started_at = d.last_run_started_at.max(Some(at));
            d.seed.get_or_insert_with(|| ActorStats { last_run_started_at: None, ..seed.clone() });
        })
    }

    /// Books what a run's end cost to its Actor.
    pub fn usage(&self, actor_id: &str, usd: f64) -> Result<()> {
        self.add(actor_id, |d| d.usage_usd += usd)
    }

    fn add(&self, actor_id: &str, change: impl FnOnce(&mut Delta)) -> Result<()> {
        let mut pending = self.pending.lock();
        change(pending.entry(actor_id.to_owned()).or_default());
        if !self.write_behind {
            let delta = pending.remove(actor_id).unwrap_or_default();
            drop(pending);
            return self.write(actor_id, &delta);
        }
        Ok(())
    }

    fn write(&self, actor_id: &str, delta: &Delta) -> Result<()> {
        self.tree.fetch_and_update(actor_id.as_bytes(), |old| {
            // Usage alone of an Actor with no stats (deleted meanwhile) has nothing to add to.
            let mut stats = match old.and_then(ActorStats::decode) {
                Some(stats) => stats,
                None => delta.seed.clone()?,
            };
            delta.apply(&mut stats);
            Some(stats.encode().to_vec())
        })?;
        Ok(())
    }

    /// The Actor's stats as stored plus what is pending; `None` if it has none anywhere.
    pub fn get(&self, actor_id: &str) -> Result<Option<ActorStats>> {
        let pending = self.pending.lock();
        let stored = self.tree.get(actor_id.as_bytes())?.and_then(|v| ActorStats::decode(&v));
        let Some(delta) = pending.get(actor_id) else { return Ok(stored) };
        let Some(mut stats) = stored.or_else(|| delta.seed.clone()) else { return Ok(None) };
        delta.apply(&mut stats);
        Ok(Some(stats))
    }

    /// Forgets a deleted Actor's stats.
    pub fn remove(&self, actor_id: &str) -> Result<()> {
        let mut pending = self.pending.lock();
        pending.remove(actor_id);
        self.tree.remove(actor_id.as_bytes())?;
        Ok(())
    }

    /// Writes the pending deltas (the group commit calls this right before it flushes).
    pub fn write_pending(&self) {
        let mut pending = self.pending.lock();
        for (actor_id, delta) in pending.drain() {
            if let Err(e) = self.write(&actor_id, &delta) {
                tracing::error!(actor_id, error = %e, "writing an Actor's run stats failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_count_in_reads_and_go_into_sled_in_one_write() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let tree = db.open_tree("stats").unwrap();
        let stats = ActorRunStats::new(tree.clone(), true);
        let seed = ActorStats { total_runs: 5, last_run_started_at: None, total_usage_usd: 1.0 };
        let at = Utc::now();
        for _ in 0..3 {
            stats.run_started("a", at, &seed).unwrap();
        }
        stats.usage("a", 0.5).unwrap();
        stats.usage("gone", 0.5).unwrap();
        assert!(tree.is_empty(), "nothing written before a commit");
        let read = stats.get("a").unwrap().unwrap();
        assert_eq!((read.total_runs, read.total_usage_usd), (8, 1.5), "the record's counts plus three runs");
        assert_eq!(read.last_run_started_at.map(|t| t.timestamp_millis()), Some(at.timestamp_millis()));
        stats.write_pending();
        assert_eq!(tree.len(), 1, "usage of an Actor with no stats adds nothing");
        let stored = stats.get("a").unwrap().unwrap();
        assert_eq!((stored.total_runs, stored.total_usage_usd), (8, 1.5));
        stats.run_started("a", at, &seed).unwrap();
        stats.remove("a").unwrap();
        stats.write_pending();
        assert!(tree.is_empty() && stats.get("a").unwrap().is_none(), "a deleted Actor's pending runs go with it");
    }
}
