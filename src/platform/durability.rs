//! Group commit: a write is acknowledged only once it is on disk. Writers
//! take a ticket and wait; one flusher task fsyncs sled for everyone who
//! arrived before the flush started, so concurrent writers share an fsync.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};

/// When acknowledged writes reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Durability {
    /// Before the write is acknowledged (group commit). Survives `kill -9` and power loss.
    Acknowledged,
    /// Within sled's background flush (every 500 ms); faster, may lose the last moments on a crash.
    Periodic,
}

pub struct GroupCommit {
    db: sled::Db,
    mode: Durability,
    requested: AtomicU64,
    flushed: watch::Sender<u64>,
    wake: Notify,
}

/// Pause before retrying a failed flush; waiters keep waiting meanwhile.
const FLUSH_RETRY: Duration = Duration::from_millis(100);

impl GroupCommit {
    pub fn new(db: sled::Db, mode: Durability) -> Arc<GroupCommit> {
        let (flushed, _) = watch::channel(0);
        Arc::new(GroupCommit { db, mode, requested: AtomicU64::new(0), flushed, wake: Notify::new() })
    }

    /// Runs the flusher; spawn once.
    pub async fn run_flusher(self: Arc<Self>) {
        loop {
            self.wake.notified().await;
            // Everything requested before this load is covered by the flush below.
            let target = self.requested.load(Ordering::SeqCst);
            loop {
                match self.db.flush_async().await {
                    Ok(_) => break,
                    Err(e) => {
                        tracing::error!(error = %e, "flushing storage failed; retrying");
                        tokio::time::sleep(FLUSH_RETRY).await;
                    }
                }
            }
            self.flushed.send_replace(target);
        }
    }

    /// Returns once everything written before the call is on disk.
    pub async fn commit(&self) {
        if self.mode == Durability::Periodic {
            return;
        }
        let ticket = self.requested.fetch_add(1, Ordering::SeqCst) + 1;
        let mut rx = self.flushed.subscribe();
        self.wake.notify_one();
        let _ = rx.wait_for(|&done| done >= ticket).await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Durability, GroupCommit};

    fn db() -> (tempfile::TempDir, sled::Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).flush_every_ms(None).open().unwrap();
        (dir, db)
    }

    #[tokio::test]
    async fn every_commit_waits_for_a_flush_that_covers_it_and_many_share_one() {
        let (_dir, db) = db();
        let commits = GroupCommit::new(db.clone(), Durability::Acknowledged);
        // Without the flusher nothing is acknowledged.
        let t = db.open_tree("t").unwrap();
        t.insert("a", "1").unwrap();
        assert!(tokio::time::timeout(Duration::from_millis(200), commits.commit()).await.is_err(), "acknowledged before any flush");
        tokio::spawn(commits.clone().run_flusher());
        let waiters: Vec<_> = (0..64)
            .map(|i| {
                let (commits, t) = (commits.clone(), t.clone());
                tokio::spawn(async move {
                    t.insert(format!("k{i}"), "v").unwrap();
                    commits.commit().await;
                })
            })
            .collect();
        for w in waiters {
            tokio::time::timeout(Duration::from_secs(10), w).await.expect("a commit never returned").unwrap();
        }
        assert!(*commits.flushed.borrow() >= 65, "the flushes covered every ticket");
        // Nothing is left unwritten: sled has no dirty data after the last acknowledged commit.
        assert_eq!(db.flush().unwrap(), 0);
    }

    #[tokio::test]
    async fn periodic_mode_does_not_wait() {
        let (_dir, db) = db();
        let commits = GroupCommit::new(db, Durability::Periodic);
        tokio::time::timeout(Duration::from_millis(50), commits.commit()).await.expect("periodic commits return at once");
    }
}
