//! Run logs: every line prefixed with a UTC ISO timestamp
//! (`2026-01-01T00:00:00.000Z`) so the Apify clients can split a streamed
//! log into messages.
//!
//! Logs live in sled, as chunks keyed `run id ++ 0 ++ byte offset (BE)`:
//! no file (and inode) per run, and the same group commit as every other
//! write, so a crash never leaves a log that disagrees with its run.
//!
//! Lines are written behind: a writer gathers them and they go into sled as
//! one chunk right before the next group commit (and at least every quarter
//! second, or once a chunk's worth waits), so a run that logs three lines
//! makes one insert, not three. Readers see the gathered lines too.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use crate::ids;
use crate::platform::db::{owned_key, owner_prefix, remove_owned};

#[derive(Clone)]
pub struct LogStore {
    chunks: sled::Tree,
    max_bytes: u64,
    /// The writers open now: every writer of one run is the same one, so
    /// two never append at the same offset (and overwrite each other).
    open: Arc<Mutex<OpenWriters>>,
    /// Writers holding lines not yet in sled (each listed once).
    dirty: Arc<Mutex<Vec<Weak<Mutex<LogInner>>>>>,
    /// Whether lines wait for [`Self::write_pending`] (a group commit calls it); else each goes to sled at once.
    write_behind: bool,
}

/// Gathered lines go into sled once this many bytes wait, commit or not.
const MAX_PENDING_BYTES: usize = 16 * 1024;

#[derive(Default)]
struct OpenWriters {
    by_run: HashMap<String, Weak<Mutex<LogInner>>>,
    /// Closed writers' entries are pruned when the map reaches this size
    /// (then twice the size left), not on every open: with thousands of
    /// runs at once a prune per run start would cost each start O(runs).
    prune_at: usize,
}

fn chunk_key(run_id: &str, offset: u64) -> Vec<u8> {
    owned_key(run_id, &offset.to_be_bytes())
}

fn chunk_offset(key: &[u8]) -> u64 {
    let tail: [u8; 8] = key[key.len() - 8..].try_into().unwrap_or([0; 8]);
    u64::from_be_bytes(tail)
}

impl LogStore {
    pub fn new(chunks: sled::Tree, max_bytes: u64, write_behind: bool) -> LogStore {
        LogStore { chunks, max_bytes, open: Arc::default(), dirty: Arc::default(), write_behind }
    }

    /// The log of a run for appending: the writer already open for it, or
    /// a new one that goes on after what is stored (after a restart).
    pub fn writer(&self, run_id: &str) -> sled::Result<RunLog> {
        self.open_writer(run_id, false)
    }

    /// [`Self::writer`] for a run that has never logged (a first start):
    /// no need to look for the end of what is stored (a reverse scan, the
    /// dearest part of opening a log).
    pub fn writer_of_new_run(&self, run_id: &str) -> sled::Result<RunLog> {
        self.open_writer(run_id, true)
    }

    fn open_writer(&self, run_id: &str, new: bool) -> sled::Result<RunLog> {
        let mut open = self.open.lock();
        if let Some(inner) = open.by_run.get(run_id).and_then(Weak::upgrade) {
            return Ok(RunLog { inner });
        }
        if open.by_run.len() >= open.prune_at {
            open.by_run.retain(|_, w| w.strong_count() > 0);
            open.prune_at = (open.by_run.len() * 2).max(64);
        }
        let log = self.new_writer(run_id, new)?;
        open.by_run.insert(run_id.to_owned(), Arc::downgrade(&log.inner));
        Ok(log)
    }

    fn new_writer(&self, run_id: &str, new: bool) -> sled::Result<RunLog> {
        let stored_end = if new { None } else { self.chunks.scan_prefix(owner_prefix(run_id)).next_back() };
        let written = match stored_end {
            Some(entry) => {
                let (k, v) = entry?;
                chunk_offset(&k) + v.len() as u64
            }
            None => 0,
        };
        Ok(RunLog {
            inner: Arc::new(Mutex::new(LogInner {
                chunks: self.chunks.clone(),
                run_id: run_id.to_owned(),
                written,
                max: self.max_bytes,
                truncated: false,
                masks: Vec::new(),
                pending: Vec::new(),
                dirty: self.dirty.clone(),
                write_behind: self.write_behind,
            })),
        })
    }

    /// Puts every writer's gathered lines into sled (the group commit calls this right before it flushes).
    pub fn write_pending(&self) {
        // Held throughout: a commit that finds the list empty must not overtake lines another is writing.
        let mut dirty = self.dirty.lock();
        for inner in dirty.drain(..).filter_map(|w| w.upgrade()) {
            inner.lock().write_pending();
        }
    }

    /// The log from byte `from` on (empty when the run has no log yet).
    pub fn read_from(&self, run_id: &str, from: u64) -> sled::Result<Vec<u8>> {
        let writer = self.open.lock().by_run.get(run_id).and_then(Weak::upgrade);
        // Held while reading, so its gathered lines cannot move into sled unseen meanwhile.
        let writer = writer.as_ref().map(|w| w.lock());
        let mut out = self.read_stored(run_id, from)?;
        if let Some(w) = writer {
            let pending_from = w.written - w.pending.len() as u64;
            let skip = from.saturating_sub(pending_from) as usize;
            if skip < w.pending.len() {
                out.extend_from_slice(&w.pending[skip..]);
            }
        }
        Ok(out)
    }

    fn read_stored(&self, run_id: &str, from: u64) -> sled::Result<Vec<u8>> {
        // Start at the chunk holding `from`: the last one starting at or before it.
        let start = match self.chunks.range(owner_prefix(run_id)..=chunk_key(run_id, from)).next_back() {
            Some(entry) => entry?.0.to_vec(),
            None => chunk_key(run_id, 0),
        };
        let mut out = Vec::new();
        for entry in self.chunks.range(start..) {
            let (k, v) = entry?;
            if !k.starts_with(&owner_prefix(run_id)) || k.len() != run_id.len() + 1 + 8 {
                break;
            }
            let offset = chunk_offset(&k);
            let skip = from.saturating_sub(offset) as usize;
            if skip < v.len() {
                out.extend_from_slice(&v[skip..]);
            }
        }
        Ok(out)
    }

    pub fn remove(&self, run_id: &str) {
        let writer = self.open.lock().by_run.get(run_id).and_then(Weak::upgrade);
        if let Some(w) = writer {
            let mut w = w.lock();
            let gathered = w.pending.len() as u64;
            w.pending.clear();
            w.written -= gathered;
        }
        let _ = remove_owned(&self.chunks, run_id);
    }
}

struct LogInner {
    chunks: sled::Tree,
    run_id: String,
    written: u64,
    max: u64,
    truncated: bool,
    /// Secrets of the run, longest first: printed, they are logged as the mask.
    masks: Vec<String>,
    /// Lines not yet in sled: the bytes before `written`.
    pending: Vec<u8>,
    dirty: Arc<Mutex<Vec<Weak<Mutex<LogInner>>>>>,
    write_behind: bool,
}

impl LogInner {
    fn write_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let at = self.written - self.pending.len() as u64;
        // A failed log write must not fail the run; the run's status still tells the story.
        if let Err(e) = self.chunks.insert(chunk_key(&self.run_id, at), self.pending.as_slice()) {
            tracing::warn!(run_id = %self.run_id, error = %e, "writing a run's log failed");
            self.written = at;
        }
        self.pending.clear();
    }
}

impl Drop for LogInner {
    fn drop(&mut self) {
        self.write_pending();
    }
}

/// A run's log writer; cheap to clone.
#[derive(Clone)]
pub struct RunLog {
    inner: Arc<Mutex<LogInner>>,
}

impl RunLog {
    /// From now on, these secrets of the run are logged as the mask when printed.
    pub fn mask(&self, secrets: Vec<String>) {
        self.inner.lock().masks = secrets;
    }

    /// Appends one line (without its newline), timestamped now.
    pub fn line(&self, text: &str) {
        let masked = self.masked(text.trim_end_matches(['\r', '\n']));
        let mut buf = Vec::with_capacity(masked.len() + 26);
        buf.extend_from_slice(ids::format_ts(&ids::now()).as_bytes());
        buf.push(b' ');
        buf.extend_from_slice(masked.as_bytes());
        buf.push(b'\n');
        self.append(&buf);
    }

    /// A platform message, marked the way Apify marks its own (`ACTOR: ...`).
    pub fn system(&self, text: &str) {
        self.line(&format!("ACTOR: {text}"));
    }

    fn masked<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        let inner = self.inner.lock();
        let mut out = std::borrow::Cow::Borrowed(text);
        for secret in &inner.masks {
            if out.contains(secret.as_str()) {
                out = std::borrow::Cow::Owned(out.replace(secret.as_str(), crate::platform::secrets::MASK));
            }
        }
        out
    }

    fn append(&self, bytes: &[u8]) {
        // Listed as dirty after the writer's lock is let go (the drain locks the list, then writers).
        if self.append_locked(bytes) {
            let dirty = self.inner.lock().dirty.clone();
            dirty.lock().push(Arc::downgrade(&self.inner));
        }
    }

    /// Appends under the writer's lock; whether the writer now needs listing as dirty.
    fn append_locked(&self, bytes: &[u8]) -> bool {
        let mut inner = self.inner.lock();
        if inner.truncated {
            return false;
        }
        let notice;
        let bytes = if inner.written + bytes.len() as u64 > inner.max {
            inner.truncated = true;
            notice =
                format!("{} ACTOR: Log limit of {} bytes reached; further output is dropped.\n", ids::format_ts(&ids::now()), inner.max);
            notice.as_bytes()
        } else {
            bytes
        };
        let newly_dirty = inner.pending.is_empty() && inner.write_behind;
        inner.pending.extend_from_slice(bytes);
        inner.written += bytes.len() as u64;
        if inner.pending.len() >= MAX_PENDING_BYTES || !inner.write_behind {
            inner.write_pending();
            return false;
        }
        newly_dirty
    }
}

/// Turns a byte stream (a guest's stdout) into timestamped log lines.
pub struct LineSplitter {
    log: RunLog,
    pending: Vec<u8>,
}

/// A line longer than this is cut and logged in pieces, so a guest printing
/// without newlines cannot grow host memory.
const MAX_PENDING_LINE: usize = 64 * 1024;

impl LineSplitter {
    pub fn new(log: RunLog) -> Self {
        LineSplitter { log, pending: Vec::new() }
    }

    pub fn write(&mut self, mut bytes: &[u8]) {
        while let Some(pos) = bytes.iter().position(|&b| b == b'\n') {
            self.pending.extend_from_slice(&bytes[..pos]);
            self.emit();
            bytes = &bytes[pos + 1..];
        }
        self.pending.extend_from_slice(bytes);
        if self.pending.len() >= MAX_PENDING_LINE {
            self.emit();
        }
    }

    pub fn flush(&mut self) {
        if !self.pending.is_empty() {
            self.emit();
        }
    }

    fn emit(&mut self) {
        let text = String::from_utf8_lossy(&self.pending);
        self.log.line(&text);
        self.pending.clear();
    }
}

impl Drop for LineSplitter {
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_from_any_offset_across_chunks_and_reopens() {
        for write_behind in [false, true] {
            reads_from_any_offset(write_behind);
        }
    }

    fn reads_from_any_offset(write_behind: bool) {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let store = LogStore::new(db.open_tree("logs").unwrap(), 1 << 20, write_behind);
        let log = store.writer("runA").unwrap();
        log.line("first");
        // Some lines in sled, the next still gathered: a read sees them as one log.
        store.write_pending();
        log.line("second");
        store.writer("runB").unwrap().line("other run");
        let all = store.read_from("runA", 0).unwrap();
        let text = String::from_utf8(all.clone()).unwrap();
        assert!(text.lines().count() == 2 && text.contains(" first\n") && text.ends_with(" second\n"), "{text}");
        for from in 0..=all.len() as u64 {
            assert_eq!(store.read_from("runA", from).unwrap(), all[from as usize..], "from {from}");
        }
        // A reopened writer appends after what is there.
        store.writer("runA").unwrap().line("third");
        assert!(String::from_utf8(store.read_from("runA", all.len() as u64).unwrap()).unwrap().ends_with(" third\n"));
        store.remove("runA");
        assert!(store.read_from("runA", 0).unwrap().is_empty());
        assert!(!store.read_from("runB", 0).unwrap().is_empty());
    }

    #[test]
    fn the_log_cap_drops_further_output_with_a_notice() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let store = LogStore::new(db.open_tree("logs").unwrap(), 100, true);
        let log = store.writer("r").unwrap();
        for _ in 0..10 {
            log.line("payload payload payload payload payload");
        }
        let text = String::from_utf8(store.read_from("r", 0).unwrap()).unwrap();
        assert!(text.contains("Log limit of 100 bytes reached"), "{text}");
        assert_eq!(text.lines().filter(|l| l.contains("payload")).count(), 1, "{text}");
    }

    #[test]
    fn gathered_lines_go_into_sled_as_one_chunk_before_a_commit_and_when_the_writer_closes() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let tree = db.open_tree("logs").unwrap();
        let store = LogStore::new(tree.clone(), 1 << 20, true);
        let log = store.writer("r").unwrap();
        for line in ["one", "two", "three"] {
            log.line(line);
        }
        assert_eq!(tree.len(), 0, "gathered, not yet written");
        assert_eq!(String::from_utf8(store.read_from("r", 0).unwrap()).unwrap().lines().count(), 3, "readers see gathered lines");
        store.write_pending();
        assert_eq!(tree.len(), 1, "three lines, one chunk");
        log.line("four");
        drop(log);
        assert_eq!(tree.len(), 2, "a closing writer writes what it gathered");
        assert_eq!(String::from_utf8(store.read_from("r", 0).unwrap()).unwrap().lines().count(), 4);
    }
}
