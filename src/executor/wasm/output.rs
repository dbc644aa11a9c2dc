//! The guest's WASI context: `ACTOR_*` environment, stdout/stderr into the
//! run log, no filesystem, no sockets (outbound HTTP comes through
//! wasi-http under a host policy, not raw sockets).

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder};

use crate::executor::RunJob;
use crate::ids;
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

/// The environment of API-COMPAT §3.1 that makes sense inside a component.
pub fn actor_env(job: &RunJob) -> Vec<(String, String)> {
    let run = &job.run;
    let timeout_at = run.timeout_at().unwrap_or(run.started_at + chrono::Duration::days(365 * 100));
    let mut env = vec![
        ("ACTOR_RUN_ID", run.id.clone()),
        ("ACTOR_ID", run.act_id.clone()),
        ("ACTOR_FULL_NAME", job.actor_full_name.clone()),
        ("ACTOR_BUILD_ID", run.build_id.clone()),
        ("ACTOR_BUILD_NUMBER", run.build_number.clone()),
        ("ACTOR_DEFAULT_KEY_VALUE_STORE_ID", run.default_key_value_store_id.clone()),
        ("ACTOR_DEFAULT_DATASET_ID", run.default_dataset_id.clone()),
        ("ACTOR_DEFAULT_REQUEST_QUEUE_ID", run.default_request_queue_id.clone()),
        ("ACTOR_INPUT_KEY", run.input_key.clone()),
        ("ACTOR_MEMORY_MBYTES", run.options.memory_mbytes.to_string()),
        ("ACTOR_STARTED_AT", ids::format_ts(&run.started_at)),
        ("ACTOR_TIMEOUT_AT", ids::format_ts(&timeout_at)),
        ("APIFY_USER_ID", run.user_id.clone()),
        ("APIFY_META_ORIGIN", run.meta.origin.clone()),
        ("APIFY_IS_AT_HOME", "1".to_owned()),
        (
            "ACTOR_PERSIST_STATE_INTERVAL_MILLIS",
            run.options.persist_state_interval_millis.unwrap_or(job.platform.config.limits.persist_state_interval_millis).to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect::<Vec<_>>();
    if job.build.exports.http {
        let name = job.actor_full_name.rsplit('/').next().unwrap_or(&job.actor_full_name);
        env.push(("ACTOR_STANDBY_URL".to_owned(), job.platform.standby_url(name)));
    }
    if let Some(vars) = &job.build.actor_definition.environment_variables {
        for (k, v) in vars {
            let v = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            env.push((k.clone(), v));
        }
    }
    env
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
        if let Ok(mut s) = self.splitter.lock() {
            s.write(bytes);
        }
    }

    fn flush(&self) {
        if let Ok(mut s) = self.splitter.lock() {
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
