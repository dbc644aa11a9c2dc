//! The guest's WASI context: `ACTOR_*` environment, stdout/stderr into the
//! run log, no filesystem, no sockets (outbound HTTP comes through
//! wasi-http under a host policy, not raw sockets).

use parking_lot::Mutex;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder};

use crate::platform::executors::RunJob;
use crate::platform::logs::{LineSplitter, RunLog};

/// A guest's WASI context; `env` is [`actor_env`], computed once per run.
pub fn wasi_ctx(env: &[(String, String)], job: &RunJob) -> WasiCtx {
    let mut b = WasiCtxBuilder::new();
    b.envs(env);
    b.arg(&job.actor_full_name);
    b.stdout(LogOutput::new(job.log.clone()));
    b.stderr(LogOutput::new(job.log.clone()));
    b.allow_tcp(false).allow_udp(false).allow_ip_name_lookup(false);
    b.build()
}

/// stdout or stderr of a guest, written line by line into its run log.
#[derive(Clone)]
struct LogOutput {
    splitter: Arc<Mutex<LineSplitter>>,
}

impl LogOutput {
    fn new(log: RunLog) -> Self {
        LogOutput { splitter: Arc::new(Mutex::new(LineSplitter::new(log))) }
    }

    fn write(&self, bytes: &[u8]) {
        {
            let mut s = self.splitter.lock();
            s.write(bytes);
        }
    }

    fn flush(&self) {
        {
            let mut s = self.splitter.lock();
            s.flush();
        }
    }
}

impl IsTerminal for LogOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

/// The log is a local append: always writable, never blocks for long.
const WRITE_BUDGET: usize = 64 * 1024;

#[async_trait::async_trait]
impl Pollable for LogOutput {
    async fn ready(&mut self) {}
}

impl OutputStream for LogOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        LogOutput::write(self, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_BUDGET)
    }
}

impl AsyncWrite for LogOutput {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        LogOutput::write(&self, buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        LogOutput::flush(&self);
        Poll::Ready(Ok(()))
    }
}
