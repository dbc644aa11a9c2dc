//! Executors run a build's code for one run. The supervisor
//! (`platform::supervisor`) owns the run's lifecycle; an executor only
//! executes and reports how the code ended.

pub mod docker;
pub mod env;
pub mod wasm;

use std::sync::Arc;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::platform::actors::Build;
use crate::platform::logs::RunLog;
use crate::platform::runs::Run;
use crate::platform::Platform;

/// Why the platform stops a run before it ends by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    Timeout,
    Abort,
    /// The server is going down: the run stops here and goes on after the restart.
    Migrate,
    /// The run restarts in place with the same storages.
    Reboot,
}

/// Everything an executor needs for one run.
#[derive(Clone)]
pub struct RunJob {
    pub platform: Arc<Platform>,
    pub run: Run,
    pub build: Build,
    pub actor_full_name: String,
    pub log: RunLog,
    /// Becomes `Some` when the platform wants the run stopped.
    pub stop: watch::Receiver<Option<StopReason>>,
    /// When the run times out (`None`: no timeout).
    pub deadline: Option<Instant>,
    /// System events for the guest.
    pub events: crate::platform::events::EventQueue,
    /// What the executor measures (memory, CPU), for system-info.
    pub usage: Arc<crate::platform::events::RunUsage>,
}

/// How the Actor's code ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// It returned or exited with this code; `message` is its own failure message (`err(msg)`).
    Exited { exit_code: i32, message: Option<String> },
    /// It crashed (trap, limit kill, failed to start); the text says why.
    Crashed(String),
    /// The platform stopped it.
    Stopped(StopReason),
}

#[derive(Debug, Clone)]
pub struct Report {
    pub outcome: Outcome,
    /// Peak linear memory, bytes.
    pub mem_max_bytes: u64,
}

/// A run that serves HTTP (a Standby run): the executor's half of a
/// request. The platform picks the run; the server answers.
#[async_trait::async_trait]
pub trait HttpServer: Send + Sync {
    async fn handle(&self, request: HttpRequest) -> Result<HttpResponse, ServeError>;
}

pub type HttpRequest = axum::http::Request<axum::body::Body>;
pub type HttpResponse = axum::http::Response<axum::body::Body>;

/// Why a request got no response from the Actor.
#[derive(Debug, Clone, PartialEq)]
pub enum ServeError {
    /// The handler trapped, ran out of memory, or returned no response.
    Crashed(String),
    /// The handler did not answer within the request deadline.
    TimedOut(std::time::Duration),
    /// The run is stopping or has no capacity left; another run may answer.
    Unavailable(String),
}
