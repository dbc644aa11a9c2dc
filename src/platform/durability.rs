//! Group commit: a write is acknowledged only once it is on disk. Writers
//! take a ticket and wait; one flusher thread fsyncs sled for everyone who
//! arrived before the flush started, so concurrent writers share an fsync.
//!
//! Guests get *output commit* instead of a wait per write (after "Rethink
//! the Sync", OSDI 2006): a host call that writes returns at once and marks
//! the instance's [`UnsyncedWrites`]; before anything the guest does can be
//! seen outside the platform (an outbound request, a Standby response, the
//! run's end) the writes are committed. Nobody outside can tell the
//! difference, and a guest writing in a loop pays one fsync, not one each.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::watch;

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
    requested: AtomicU64,
    flushed: watch::Sender<u64>,
    /// The flusher thread, unparked for every ticket (and on drop, to end).
    flusher: Option<std::thread::Thread>,
    /// Writes kept in memory until the next commit (write-behind): put into
    /// sled by every commit before it takes its ticket (so the flush that
    /// serves it covers them), and at least every [`WRITE_BEHIND_EVERY`].
    before_flush: std::sync::OnceLock<Box<dyn Fn() + Send + Sync>>,
}

/// How long write-behind state may wait for a commit before it goes into
/// sled anyway (where sled's own background flush takes it to disk).
const WRITE_BEHIND_EVERY: Duration = Duration::from_millis(250);

/// Pause before retrying a failed flush; waiters keep waiting meanwhile.
const FLUSH_RETRY: Duration = Duration::from_millis(100);

impl GroupCommit {
    /// The group commit of `db`; in acknowledged mode with its flusher
    /// thread running (it ends when this is dropped).
    pub fn new(db: sled::Db, mode: Durability) -> Arc<GroupCommit> {
        let (flushed, _) = watch::channel(0);
        Arc::new_cyclic(|this: &Weak<GroupCommit>| {
            let flusher = (mode == Durability::Acknowledged).then(|| {
                let this = this.clone();
                // A thread of its own: a flush blocks in fsync, and waking a
                // parked thread is one hop where a task on sled's pool was three.
                std::thread::Builder::new()
                    .name("wactor-commit".into())
                    .spawn(move || flush_loop(this))
                    .expect("starting the group-commit thread")
                    .thread()
                    .clone()
            });
            GroupCommit { db, requested: AtomicU64::new(0), flushed, flusher, before_flush: std::sync::OnceLock::new() }
        })
    }

    /// Returns once everything written before the call is on disk.
    pub async fn commit(&self) {
        let Some(flusher) = &self.flusher else { return };
        // The caller puts write-behind state into sled itself (callers do it
        // in parallel; the flusher's round is the critical path everyone waits on).
        self.write_behind_state();
        let ticket = self.requested.fetch_add(1, Ordering::SeqCst) + 1;
        let mut rx = self.flushed.subscribe();
        flusher.unpark();
        let _ = rx.wait_for(|&done| done >= ticket).await;
    }

    /// Sets what puts write-behind state into sled (once; called only in
    /// acknowledged mode: by each commit, and by the flusher now and then).
    /// It must finish its writes before it returns, also when another thread
    /// runs it at the same time, so a commit never overtakes a write it drained.
    pub fn before_each_flush(&self, write: impl Fn() + Send + Sync + 'static) {
        let _ = self.before_flush.set(Box::new(write));
    }

    /// Whether commits wait for a flush (acknowledged mode), so write-behind state gets written.
    pub fn writes_behind(&self) -> bool {
        self.flusher.is_some()
    }

    fn write_behind_state(&self) {
        if let Some(write) = self.before_flush.get() {
            write();
        }
    }

    /// One round of the flusher: everything requested so far, if anything
    /// is new since the last round.
    fn flush_requested(&self) {
        // Everything requested before this load is covered by the flush below.
        let target = self.requested.load(Ordering::SeqCst);
        if target <= *self.flushed.borrow() {
            return;
        }
        while let Err(e) = self.db.flush() {
            tracing::error!(error = %e, "flushing storage failed; retrying");
            std::thread::sleep(FLUSH_RETRY);
        }
        self.flushed.send_replace(target);
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        if let Some(flusher) = &self.flusher {
            flusher.unpark();
        }
    }
}

fn flush_loop(this: Weak<GroupCommit>) {
    loop {
        // A ticket taken between the round and the park unparks at once (park tokens stick).
        std::thread::park_timeout(WRITE_BEHIND_EVERY);
        let Some(commits) = this.upgrade() else { return };
        if commits.requested.load(Ordering::SeqCst) <= *commits.flushed.borrow() {
            // Woken by the timeout (or with nothing new): write-behind state still goes in now and then.
            commits.write_behind_state();
        }
        commits.flush_requested();
    }
}

/// Writes one guest instance made that may not be on disk yet. Host calls
/// that write [`note`](Self::note) them; whatever lets the outside see the
/// guest's effects [`settle`](Self::settle)s them first.
#[derive(Clone, Default)]
pub struct UnsyncedWrites(Arc<AtomicBool>);

impl UnsyncedWrites {
    pub fn note(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Returns once every write noted before the call is on disk.
    pub async fn settle(&self, commits: &GroupCommit) {
        if self.0.swap(false, Ordering::AcqRel) {
            commits.commit().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Durability, GroupCommit, UnsyncedWrites};

    fn db() -> (tempfile::TempDir, sled::Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).flush_every_ms(None).open().unwrap();
        (dir, db)
    }

    #[tokio::test]
    async fn every_commit_waits_for_a_flush_that_covers_it_and_many_share_one() {
        let (_dir, db) = db();
        let commits = GroupCommit::new(db.clone(), Durability::Acknowledged);
        let t = db.open_tree("t").unwrap();
        t.insert("a", "1").unwrap();
        commits.commit().await;
        // Nothing is left unwritten: sled has no dirty data after an acknowledged commit.
        assert_eq!(db.flush().unwrap(), 0, "a commit returned before its write was flushed");
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
        assert_eq!(db.flush().unwrap(), 0);
    }

    #[tokio::test]
    async fn settling_commits_only_what_was_noted() {
        let (_dir, db) = db();
        let commits = GroupCommit::new(db.clone(), Durability::Acknowledged);
        let writes = UnsyncedWrites::default();
        writes.settle(&commits).await;
        assert_eq!(*commits.flushed.borrow(), 0, "nothing noted, nothing to flush");
        db.open_tree("t").unwrap().insert("a", "1").unwrap();
        writes.note();
        writes.settle(&commits).await;
        assert_eq!(db.flush().unwrap(), 0, "the noted write is on disk once settled");
        assert_eq!(*commits.flushed.borrow(), 1);
    }

    #[tokio::test]
    async fn periodic_mode_does_not_wait() {
        let (_dir, db) = db();
        let commits = GroupCommit::new(db, Durability::Periodic);
        tokio::time::timeout(Duration::from_millis(50), commits.commit()).await.expect("periodic commits return at once");
    }

    #[test]
    fn the_flusher_thread_ends_with_its_group_commit() {
        let (_dir, db) = db();
        let commits = GroupCommit::new(db, Durability::Acknowledged);
        let weak = std::sync::Arc::downgrade(&commits);
        drop(commits);
        assert!(weak.upgrade().is_none());
    }
}
