//! Run logs: one append-only file per run, every line prefixed with a UTC
//! ISO timestamp (`2026-01-01T00:00:00.000Z`) so the Apify clients can split
//! a streamed log into messages.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::ids;

#[derive(Clone)]
pub struct LogStore {
    dir: PathBuf,
    max_bytes: u64,
}

impl LogStore {
    pub fn new(dir: &Path, max_bytes: u64) -> std::io::Result<LogStore> {
        std::fs::create_dir_all(dir)?;
        Ok(LogStore { dir: dir.to_path_buf(), max_bytes })
    }

    pub fn path(&self, run_id: &str) -> PathBuf {
        self.dir.join(format!("{run_id}.log"))
    }

    /// Opens (or reopens, after a restart) the log of a run for appending.
    pub fn writer(&self, run_id: &str) -> std::io::Result<RunLog> {
        let path = self.path(run_id);
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let written = file.metadata()?.len();
        Ok(RunLog { inner: Arc::new(Mutex::new(LogInner { file, written, max: self.max_bytes, truncated: false })) })
    }

    /// The log from byte `from` on (empty when the run has no log yet).
    pub fn read_from(&self, run_id: &str, from: u64) -> std::io::Result<Vec<u8>> {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = match File::open(self.path(run_id)) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        file.seek(SeekFrom::Start(from))?;
        let mut out = Vec::new();
        file.read_to_end(&mut out)?;
        Ok(out)
    }

    pub fn remove(&self, run_id: &str) {
        let _ = std::fs::remove_file(self.path(run_id));
    }
}

struct LogInner {
    file: File,
    written: u64,
    max: u64,
    truncated: bool,
}

/// A run's log writer; cheap to clone.
#[derive(Clone)]
pub struct RunLog {
    inner: Arc<Mutex<LogInner>>,
}

impl RunLog {
    /// Appends one line (without its newline), timestamped now.
    pub fn line(&self, text: &str) {
        let mut buf = Vec::with_capacity(text.len() + 26);
        buf.extend_from_slice(ids::format_ts(&ids::now()).as_bytes());
        buf.push(b' ');
        buf.extend_from_slice(text.trim_end_matches(['\r', '\n']).as_bytes());
        buf.push(b'\n');
        self.append(&buf);
    }

    /// A platform message, marked the way Apify marks its own (`ACTOR: ...`).
    pub fn system(&self, text: &str) {
        self.line(&format!("ACTOR: {text}"));
    }

    fn append(&self, bytes: &[u8]) {
        let Ok(mut inner) = self.inner.lock() else { return };
        if inner.truncated {
            return;
        }
        if inner.written + bytes.len() as u64 > inner.max {
            inner.truncated = true;
            let notice =
                format!("{} ACTOR: Log limit of {} bytes reached; further output is dropped.\n", ids::format_ts(&ids::now()), inner.max);
            let _ = inner.file.write_all(notice.as_bytes());
            return;
        }
        // A failed log write must not fail the run; the run's status still tells the story.
        if inner.file.write_all(bytes).is_ok() {
            inner.written += bytes.len() as u64;
        }
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
