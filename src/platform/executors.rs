//! Platform layer: the executor interface. The core owns a run's lifecycle
//! (the supervisor) and the Standby pools; an executor only builds artifacts
//! and executes code, behind [`Executor`]. The executors themselves live
//! below the core (the crate's `executor` modules) and are wired in at server start
//! ([`Executors`]); nothing in the core names one.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use super::actors::{Build, ComponentExports};
use super::error::{PlatformError, Result};
use super::events::{EventQueue, RunUsage};
use super::logs::RunLog;
use super::runs::Run;
use super::Platform;
use crate::definition::ActorDefinition;

/// What a build runs: the artifact its executor made from the upload.
#[derive(Debug, Clone, PartialEq)]
pub enum Artifact {
    /// A WASI component, kept (compiled) by the component executor under the build's ID.
    Component,
    /// A container image on the Docker host.
    Image(ContainerImage),
}

impl Artifact {
    pub fn kind(&self) -> ArtifactKind {
        match self {
            Artifact::Component => ArtifactKind::Component,
            Artifact::Image(_) => ArtifactKind::Image,
        }
    }
}

/// Which executor makes and runs an artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArtifactKind {
    Component,
    Image,
}

impl ArtifactKind {
    /// What a definition builds: an image for `image`/`dockerfile`, else a component.
    pub fn of(definition: &ActorDefinition) -> ArtifactKind {
        match definition.image.is_some() || definition.dockerfile.is_some() {
            true => ArtifactKind::Image,
            false => ArtifactKind::Component,
        }
    }

    fn name(self) -> &'static str {
        match self {
            ArtifactKind::Component => "component",
            ArtifactKind::Image => "container image",
        }
    }
}

/// The image a build runs: the reference it was built from and the image ID it resolved to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainerImage {
    pub tag: String,
    pub image_id: String,
}

/// Everything an executor needs to build an artifact.
pub struct BuildJob {
    pub build_id: String,
    /// `0.1.3`: names what the build produces (an image tag, say).
    pub build_number: String,
    pub actor_name: String,
    pub definition: ActorDefinition,
    /// The request body: a component, a build context (tar), or nothing (an image reference).
    pub upload: Vec<u8>,
    /// The build's log, which `GET /logs/{buildId}` follows.
    pub log: RunLog,
}

/// What a successful build made.
#[derive(Debug, Clone, PartialEq)]
pub struct Built {
    pub artifact: Artifact,
    /// The entry points the artifact has (a batch `run`, an HTTP server).
    pub exports: ComponentExports,
}

/// How long building takes, which decides how the platform answers a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildPace {
    /// Seconds at most: the push waits, and an upload that fails is no build.
    Quick,
    /// Minutes, perhaps: the build is recorded RUNNING and ends in the
    /// background; a failure is a FAILED build, its log says why.
    Background,
}

/// Why the platform stops a run before it ends by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    Timeout,
    Abort,
    /// The server is going down: the run stops here and goes on after the restart.
    Migrate,
    /// The run restarts in place with the same storages.
    Reboot,
    /// The run goes on as another build (its record already names it), same storages.
    Metamorph,
}

/// Everything an executor needs for one run.
#[derive(Clone)]
pub struct RunJob {
    pub platform: Arc<Platform>,
    pub run: Run,
    pub build: std::sync::Arc<Build>,
    pub actor_full_name: String,
    pub log: RunLog,
    /// Becomes `Some` when the platform wants the run stopped.
    pub stop: watch::Receiver<Option<StopReason>>,
    /// When the run times out (`None`: no timeout).
    pub deadline: Option<Instant>,
    /// System events for the guest.
    pub events: EventQueue,
    /// What the executor measures (memory, CPU), for system-info.
    pub usage: Arc<RunUsage>,
}

/// How a run executes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    /// The code runs once, to its end.
    Batch,
    /// The code serves HTTP (a Standby run): it must answer within
    /// `ready_within`, and each request within `request_timeout`. An
    /// executor that instantiates per request may answer up to
    /// `max_requests_per_instance` requests with one instance, one at a time
    /// (a container is one instance for all its requests anyway).
    Serve { ready_within: Duration, request_timeout: Duration, max_requests_per_instance: u32 },
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
    /// Peak memory, bytes.
    pub mem_max_bytes: u64,
}

impl Report {
    /// A run that ended before its code could start.
    pub fn crashed(why: impl Into<String>) -> Report {
        Report { outcome: Outcome::Crashed(why.into()), mem_max_bytes: 0 }
    }
}

/// The run's HTTP server once it answers, or why it never will.
pub type ServerReady = oneshot::Receiver<std::result::Result<Arc<dyn HttpServer>, String>>;
pub type ServerReadySender = oneshot::Sender<std::result::Result<Arc<dyn HttpServer>, String>>;

/// A run's code, executing.
pub struct Execution {
    /// Resolves when the code ends, crashes or is stopped. Dropping it
    /// releases everything the run holds (a guest's store, a container).
    pub ended: Pin<Box<dyn Future<Output = Report> + Send>>,
    /// The run's HTTP server, once it answers; `None`: this run serves no HTTP.
    pub server: Option<ServerReady>,
    /// Whether that server also answers at the run's `containerUrl` (a
    /// container's web server does; a component's Standby handler is
    /// reached through its Standby URL only).
    pub at_container_url: bool,
}

impl Execution {
    /// An execution that ended before it began.
    pub fn failed(why: impl Into<String>) -> Execution {
        let report = Report::crashed(why);
        Execution { ended: Box::pin(async move { report }), server: None, at_container_url: false }
    }
}

/// A run that serves HTTP: the executor's half of a request. The platform
/// picks the run; the server answers.
#[async_trait::async_trait]
pub trait HttpServer: Send + Sync {
    async fn handle(&self, request: HttpRequest) -> std::result::Result<HttpResponse, ServeError>;
}

pub type HttpRequest = axum::http::Request<axum::body::Body>;
pub type HttpResponse = axum::http::Response<axum::body::Body>;

/// Why a request got no response from the Actor.
#[derive(Debug, Clone, PartialEq)]
pub enum ServeError {
    /// The handler trapped, ran out of memory, or returned no response.
    Crashed(String),
    /// The handler did not answer within the request deadline.
    TimedOut(Duration),
    /// The run is stopping or has no capacity left; another run may answer.
    Unavailable(String),
}

/// What runs Actors' code: builds artifacts from uploads and executes runs.
#[async_trait::async_trait]
pub trait Executor: Send + Sync {
    /// Whether building `definition` is quick enough to wait for.
    fn build_pace(&self, definition: &ActorDefinition) -> BuildPace;

    /// Makes the build's artifact from its upload; `Err` says why it cannot.
    async fn build(&self, job: BuildJob) -> Result<Built>;

    /// Starts a run's code.
    fn start(self: Arc<Self>, job: RunJob, mode: RunMode) -> Execution;

    /// Forgets a build that is gone (deleted, or rejected after building):
    /// its cached form and stored files.
    fn remove_build(&self, build_id: &str);

    /// Deletes stored artifacts of builds `is_live` does not know (rejected
    /// uploads, deleted Actors, a crash mid-upload); how many went.
    fn collect_garbage(&self, _is_live: &dyn Fn(&str) -> bool) -> usize {
        0
    }

    /// Cleans up what a killed earlier process of this server (`server_id`)
    /// left running, before its runs resume; how much went.
    async fn remove_leftovers(&self, _server_id: &str) -> usize {
        0
    }
}

/// The executors a server has, by the artifact they run. Wired in at start-up.
#[derive(Default)]
pub struct Executors {
    by_kind: HashMap<ArtifactKind, Arc<dyn Executor>>,
    /// Why an executor is missing here (no Docker on this host, say).
    missing: HashMap<ArtifactKind, String>,
}

impl Executors {
    pub fn with(mut self, kind: ArtifactKind, executor: Arc<dyn Executor>) -> Self {
        self.by_kind.insert(kind, executor);
        self
    }

    /// Records that `kind` cannot run on this server, and why.
    pub fn without(mut self, kind: ArtifactKind, why: impl Into<String>) -> Self {
        self.missing.insert(kind, why.into());
        self
    }

    /// The executor for artifacts of `kind`.
    pub fn get(&self, kind: ArtifactKind) -> Result<&Arc<dyn Executor>> {
        self.by_kind.get(&kind).ok_or_else(|| {
            let why = self.missing.get(&kind).cloned().unwrap_or_else(|| "no executor is configured for it".into());
            match kind {
                ArtifactKind::Image => PlatformError::ExecutorMissing { kind: "docker-not-available", message: why },
                _ => PlatformError::ExecutorMissing {
                    kind: "executor-not-available",
                    message: format!("This server cannot run {}s: {why}", kind.name()),
                },
            }
        })
    }

    /// The executor that made (or is making) `build`, and runs it.
    pub fn for_build(&self, build: &Build) -> Result<&Arc<dyn Executor>> {
        self.get(build.artifact_kind())
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<dyn Executor>> {
        self.by_kind.values()
    }
}
