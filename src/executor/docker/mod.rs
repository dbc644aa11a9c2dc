//! The Docker executor: classic image-based Actors, one container per run,
//! driven through `bollard`. The container gets the `ACTOR_*`/`APIFY_*`
//! environment of API-COMPAT §3.1 and talks back to the HTTP API (the
//! platform's other door), so the real Apify SDKs work unchanged.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::definition::ActorDefinition;
use crate::platform::actors::ComponentExports;
use crate::platform::error::{PlatformError, Result};
use crate::platform::executors::{
    Artifact, BuildJob, BuildPace, Built, ContainerImage, Execution, Executor, HttpRequest, HttpResponse, HttpServer, Outcome, Report,
    RunJob, RunMode, ServeError, ServerReadySender,
};
use crate::platform::logs::LineSplitter;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    BuildImageOptionsBuilder, CreateContainerOptionsBuilder, ListContainersOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder, StatsOptionsBuilder, StopContainerOptionsBuilder,
};
use bollard::Docker;
use futures::StreamExt;

/// Processes one container may have: a fork bomb stops here, not at the host's limit.
const PIDS_LIMIT: i64 = 1024;
/// Memory per CPU core, as on Apify: a 4 GB run gets one full core.
const MBYTES_PER_CORE: i64 = 4096;
/// How long a stopped container gets between SIGTERM and SIGKILL (within
/// the supervisor's own stop grace).
const STOP_TIMEOUT_SECS: i32 = 1;
/// Names the server (its user ID) a container belongs to: several servers may share a Docker host.
const SERVER_LABEL: &str = "wactor.server";

pub struct DockerExecutor {
    docker: Docker,
    /// `host` in tests and on single machines: the container reaches the API on 127.0.0.1.
    network_mode: String,
}

impl DockerExecutor {
    /// Connects lazily to the local daemon (`DOCKER_HOST` or the default socket).
    pub fn new(network_mode: &str) -> Result<DockerExecutor> {
        let docker = Docker::connect_with_local_defaults().map_err(|e| not_available(&e))?;
        Ok(DockerExecutor { docker, network_mode: network_mode.to_owned() })
    }

    /// Removes the containers an earlier process of this server left behind
    /// (it was killed): their runs resume in new containers.
    async fn remove_containers_of(&self, server_id: &str) -> usize {
        let filters = HashMap::from([("label".to_owned(), vec![format!("{SERVER_LABEL}={server_id}")])]);
        let opts = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
        let Ok(containers) = self.docker.list_containers(Some(opts)).await else { return 0 };
        let mut removed = 0;
        for id in containers.into_iter().filter_map(|c| c.id) {
            let opts = RemoveContainerOptionsBuilder::default().force(true).build();
            if self.docker.remove_container(&id, Some(opts)).await.is_ok() {
                removed += 1;
            }
        }
        removed
    }

    /// Resolves an image present on the Docker host.
    async fn resolve_image(&self, reference: &str) -> Result<ContainerImage> {
        match self.docker.inspect_image(reference).await {
            Ok(image) => Ok(ContainerImage { tag: reference.to_owned(), image_id: image.id.unwrap_or_default() }),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Err(PlatformError::invalid_kind(
                "image-not-found",
                format!("The image \"{reference}\" is not on the Docker host (no registry is used: build or load it there first)"),
            )),
            Err(e) => Err(not_available(&e)),
        }
    }

    /// Builds an image from a build context (a tar of the Actor directory),
    /// streaming the builder's output into `log`. `Err` says why it failed.
    async fn build_image(
        &self,
        context: Vec<u8>,
        dockerfile: &str,
        tag: &str,
        log: &crate::platform::logs::RunLog,
    ) -> std::result::Result<ContainerImage, String> {
        let options = BuildImageOptionsBuilder::default().dockerfile(dockerfile).t(tag).rm(true).forcerm(true).build();
        let mut stream = std::pin::pin!(self.docker.build_image(options, None, Some(bollard::body_full(context.into()))));
        let mut lines = LineSplitter::new(log.clone());
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(text) = info.stream.as_deref().or(info.status.as_deref()) {
                        lines.write(text.as_bytes());
                    }
                    if let Some(detail) = info.error_detail {
                        lines.flush();
                        return Err(detail.message.unwrap_or_else(|| "the image build failed".into()));
                    }
                }
                Err(e) => {
                    lines.flush();
                    return Err(match e {
                        bollard::errors::Error::DockerStreamError { error } => error,
                        e => e.to_string(),
                    });
                }
            }
        }
        lines.flush();
        self.resolve_image(tag).await.map_err(|e| e.to_string())
    }

    /// Runs the build's image for one run: create, start, stream the output
    /// into the run log, wait for the exit or a stop, remove. Once the
    /// container's web server is up (per `probe`), a proxy to it is sent to
    /// `ready`.
    async fn execute(&self, job: RunJob, ready: ServerReadySender, probe: Probe) -> Report {
        let Some(Artifact::Image(image)) = job.build.artifact.clone() else {
            return Report::crashed("The build has no container image");
        };
        let name = format!("wactor-run-{}", job.run.id.to_ascii_lowercase());
        // A container left over from a crash of this server under the same name goes first.
        let _ = self.docker.remove_container(&name, Some(RemoveContainerOptionsBuilder::default().force(true).build())).await;
        let memory = job.run.options.memory_mbytes as i64 * 1024 * 1024;
        let host_config = HostConfig {
            memory: Some(memory),
            memory_swap: Some(memory),
            nano_cpus: Some((job.run.options.memory_mbytes as i64 * 1_000_000_000 / MBYTES_PER_CORE).max(100_000_000)),
            pids_limit: Some(PIDS_LIMIT),
            privileged: Some(false),
            security_opt: Some(vec!["no-new-privileges".to_owned()]),
            network_mode: Some(self.network_mode.clone()),
            ..Default::default()
        };
        let labels = HashMap::from([
            (SERVER_LABEL.to_owned(), job.platform.config.user_id.clone()),
            ("wactor.run-id".to_owned(), job.run.id.clone()),
            ("wactor.actor-id".to_owned(), job.run.act_id.clone()),
            ("wactor.build-id".to_owned(), job.build.id.clone()),
        ]);
        let port = free_port();
        // The container acts as its run, never as the admin (see `platform::access`).
        let token = match job.platform.issue_run_token(&job.run) {
            Ok(t) => t,
            Err(e) => return Report::crashed(format!("The run's API token could not be issued: {e}")),
        };
        let env = container_env(&job, port, token).into_iter().map(|(k, v)| format!("{k}={v}")).collect();
        let body = ContainerCreateBody {
            image: Some(image.image_id.clone()),
            env: Some(env),
            labels: Some(labels),
            host_config: Some(host_config),
            ..Default::default()
        };
        let create = self.docker.create_container(Some(CreateContainerOptionsBuilder::default().name(&name).build()), body).await;
        if let Err(e) = create {
            return Report::crashed(format!("The container could not be created: {e}"));
        }
        let cleanup = RemoveOnDrop { docker: self.docker.clone(), name: name.clone() };
        let proxy = ContainerProxy::new(port, probe.request_timeout());
        // Lives as long as this call: `ready` is dropped early only when the probe gives up.
        let _probe = AbortOnDrop(tokio::spawn(probe.wait_until_up(proxy, ready)));
        let outcome = self.run_container(&name, &job).await;
        // Removed before the run is reported ended (a migration may be the process's last act).
        cleanup.remove_now().await;
        if let Err(e) = job.platform.revoke_run_tokens(&job.run.id) {
            tracing::warn!(run = %job.run.id, error = %e, "revoking the run's tokens failed; they stop working with the run anyway");
        }
        Report { outcome, mem_max_bytes: job.usage.mem_peak_bytes.load(std::sync::atomic::Ordering::Relaxed) }
    }

    async fn run_container(&self, name: &str, job: &RunJob) -> Outcome {
        if let Err(e) = self.docker.start_container(name, None).await {
            return Outcome::Crashed(format!("The container could not start: {e}"));
        }
        // The output goes into the run log line by line, stdout and stderr each on their own.
        let logs = self.docker.logs(name, Some(LogsOptionsBuilder::default().follow(true).stdout(true).stderr(true).build()));
        let log = job.log.clone();
        let pump = tokio::spawn(async move {
            let (mut out, mut err) = (LineSplitter::new(log.clone()), LineSplitter::new(log));
            let mut logs = std::pin::pin!(logs);
            while let Some(Ok(chunk)) = logs.next().await {
                match chunk {
                    bollard::container::LogOutput::StdErr { message } => err.write(&message),
                    other => out.write(&other.into_bytes()),
                }
            }
            out.flush();
            err.flush();
        });
        // The container's real memory and CPU, for `systemInfo` and the run's stats.
        let stats = {
            let (docker, name, usage) = (self.docker.clone(), name.to_owned(), job.usage.clone());
            tokio::spawn(async move {
                let mut stream = std::pin::pin!(docker.stats(&name, Some(StatsOptionsBuilder::default().stream(true).build())));
                while let Some(Ok(s)) = stream.next().await {
                    use std::sync::atomic::Ordering::Relaxed;
                    if let Some(mem) = s.memory_stats.and_then(|m| m.usage) {
                        usage.mem_current_bytes.store(mem, Relaxed);
                        usage.mem_peak_bytes.fetch_max(mem, Relaxed);
                    }
                    if let Some(cpu_ns) = s.cpu_stats.and_then(|c| c.cpu_usage).and_then(|u| u.total_usage) {
                        usage.cpu_busy_nanos.store(cpu_ns, Relaxed);
                    }
                }
            })
        };
        let _stats = AbortOnDrop(stats);
        let mut stop = job.stop.clone();
        let mut wait = self.docker.wait_container(name, None);
        let stopped = tokio::select! {
            _ = wait.next() => None,
            reason = stop.wait_for(Option::is_some) => reason.ok().and_then(|r| *r),
        };
        if let Some(reason) = stopped {
            let opts = StopContainerOptionsBuilder::default().t(STOP_TIMEOUT_SECS).build();
            let _ = self.docker.stop_container(name, Some(opts)).await;
            let _ = pump.await;
            return Outcome::Stopped(reason);
        }
        let _ = pump.await;
        let state = match self.docker.inspect_container(name, None).await {
            Ok(c) => c.state.unwrap_or_default(),
            Err(e) => return Outcome::Crashed(format!("The container's end could not be read: {e}")),
        };
        if state.oom_killed == Some(true) {
            return Outcome::Crashed(format!(
                "The Actor ran out of memory: the container was killed at its limit of {} MB",
                job.run.options.memory_mbytes
            ));
        }
        match state.exit_code {
            Some(code) => Outcome::Exited { exit_code: code as i32, message: None },
            None => Outcome::Crashed("The container ended without an exit code".into()),
        }
    }
}

/// Removes the run's container however the run ends, also when the
/// supervisor drops the executor's future after its stop grace.
struct RemoveOnDrop {
    docker: Docker,
    name: String,
}

impl RemoveOnDrop {
    async fn remove_now(mut self) {
        let opts = RemoveContainerOptionsBuilder::default().force(true).build();
        match self.docker.remove_container(&self.name, Some(opts)).await {
            Ok(()) => self.name.clear(),
            Err(e) => tracing::warn!(container = %self.name, error = %e, "removing a run's container"),
        }
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if self.name.is_empty() {
            return;
        }
        let (docker, name) = (self.docker.clone(), std::mem::take(&mut self.name));
        tokio::spawn(async move {
            let opts = RemoveContainerOptionsBuilder::default().force(true).build();
            if let Err(e) = docker.remove_container(&name, Some(opts)).await {
                tracing::warn!(container = %name, error = %e, "removing a run's container");
            }
        });
    }
}

/// How a container's web server is known to be up.
#[derive(Debug, Clone, Copy)]
enum Probe {
    /// Standby: `GET /` with the readiness-probe header gets an answer
    /// within `within`; requests time out after `request_timeout`.
    Readiness { within: Duration, request_timeout: Duration },
    /// Any run: its port accepts connections, whenever that happens (many
    /// Actors never open one).
    Listening,
}

/// How long a request through a run's `containerUrl` may take.
const WEB_SERVER_REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

impl Probe {
    fn request_timeout(self) -> Duration {
        match self {
            Probe::Readiness { request_timeout, .. } => request_timeout,
            Probe::Listening => WEB_SERVER_REQUEST_TIMEOUT,
        }
    }

    async fn wait_until_up(self, proxy: ContainerProxy, ready: ServerReadySender) {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], proxy.port));
        let started = tokio::time::Instant::now();
        let mut pause = Duration::from_millis(20);
        loop {
            let up = match self {
                Probe::Readiness { .. } => proxy
                    .client
                    .get(format!("http://{addr}/"))
                    .header("x-apify-container-server-readiness-probe", "1")
                    .timeout(Duration::from_secs(2))
                    .send()
                    .await
                    .is_ok(),
                Probe::Listening => tokio::net::TcpStream::connect(addr).await.is_ok(),
            };
            if up {
                let _ = ready.send(Ok(Arc::new(proxy)));
                return;
            }
            if let Probe::Readiness { within, .. } = self {
                if started.elapsed() >= within {
                    let _ = ready.send(Err(format!(
                        "The container's web server did not answer the readiness probe (GET / on ACTOR_WEB_SERVER_PORT) within {} s",
                        within.as_secs()
                    )));
                    return;
                }
            }
            tokio::time::sleep(pause).await;
            // Quick while a server is likely starting, then gentle on runs that never open one.
            pause = (pause * 2).min(match self {
                Probe::Readiness { .. } => Duration::from_millis(100),
                Probe::Listening => Duration::from_secs(1),
            });
        }
    }
}

/// Reverse proxy to a container's web server (on loopback: host networking).
/// Bodies stream both ways, so a large upload or download is never held in memory.
struct ContainerProxy {
    port: u16,
    client: reqwest::Client,
    timeout: Duration,
}

impl ContainerProxy {
    fn new(port: u16, timeout: Duration) -> ContainerProxy {
        // No automatic redirects: the caller gets the container's own answer.
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap_or_default();
        ContainerProxy { port, client, timeout }
    }
}

/// Headers that belong to one connection, not to the request.
const HOP_BY_HOP: &[&str] =
    &["connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade"];

#[async_trait::async_trait]
impl HttpServer for ContainerProxy {
    async fn handle(&self, request: HttpRequest) -> std::result::Result<HttpResponse, ServeError> {
        let (parts, body) = request.into_parts();
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut req = self
            .client
            .request(parts.method.clone(), format!("http://127.0.0.1:{}{path}", self.port))
            .body(reqwest::Body::wrap_stream(body.into_data_stream()));
        for (name, value) in parts.headers.iter().filter(|(n, _)| !HOP_BY_HOP.contains(&n.as_str())) {
            req = req.header(name, value);
        }
        // The deadline covers the response head; the body then streams at the client's pace.
        let resp = match tokio::time::timeout(self.timeout, req.send()).await {
            Ok(Ok(resp)) => resp,
            Ok(Err(e)) => return Err(ServeError::Unavailable(format!("The container's web server did not answer: {e}"))),
            Err(_) => return Err(ServeError::TimedOut(self.timeout)),
        };
        let mut out = axum::http::Response::builder().status(resp.status());
        for (name, value) in resp.headers().iter().filter(|(n, _)| !HOP_BY_HOP.contains(&n.as_str())) {
            out = out.header(name, value);
        }
        out.body(axum::body::Body::from_stream(resp.bytes_stream())).map_err(|e| ServeError::Crashed(e.to_string()))
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn not_available(e: &bollard::errors::Error) -> PlatformError {
    PlatformError::ExecutorMissing { kind: "docker-not-available", message: format!("Docker is not available: {e}") }
}

#[async_trait::async_trait]
impl Executor for DockerExecutor {
    /// An image reference resolves at once; a Dockerfile may take minutes.
    fn build_pace(&self, definition: &ActorDefinition) -> BuildPace {
        match definition.image {
            Some(_) => BuildPace::Quick,
            None => BuildPace::Background,
        }
    }

    async fn build(&self, job: BuildJob) -> Result<Built> {
        // A container serves HTTP (Standby) on its web server port when actor.json says so.
        let exports = ComponentExports { run: true, http: job.definition.uses_standby_mode == Some(true) };
        let image = match (&job.definition.image, &job.definition.dockerfile) {
            // Its image must be on the Docker host.
            (Some(reference), _) => self.resolve_image(reference).await?,
            // Built on the Docker host from the uploaded context; the log shows the progress.
            (None, Some(dockerfile)) => {
                let tag = format!("wactor/{}:{}", job.actor_name, job.build_number);
                job.log.system(&format!("Building image {tag} from {dockerfile} ({} bytes of context).", job.upload.len()));
                self.build_image(job.upload, dockerfile, &tag, &job.log)
                    .await
                    .map_err(|why| PlatformError::invalid_kind("build-failed", why))?
            }
            (None, None) => return Err(PlatformError::internal("The definition names neither an image nor a Dockerfile")),
        };
        Ok(Built { artifact: Artifact::Image(image), exports })
    }

    fn start(self: Arc<Self>, job: RunJob, mode: RunMode) -> Execution {
        let probe = match mode {
            RunMode::Batch => Probe::Listening,
            RunMode::Serve { ready_within, request_timeout, .. } => Probe::Readiness { within: ready_within, request_timeout },
        };
        let (ready, server) = tokio::sync::oneshot::channel();
        Execution { ended: Box::pin(async move { self.execute(job, ready, probe).await }), server: Some(server), at_container_url: true }
    }

    /// Images stay on the Docker host: other builds, or other tags, may use them.
    fn remove_build(&self, _build_id: &str) {}

    async fn remove_leftovers(&self, server_id: &str) -> usize {
        self.remove_containers_of(server_id).await
    }
}

/// API-COMPAT §3.1: what the Apify SDKs read at home, under every alias they accept.
fn container_env(job: &RunJob, port: u16, token: String) -> Vec<(String, String)> {
    let platform = &job.platform;
    let run = &job.run;
    let (base, public) = (platform.config.container_api_url.clone(), platform.config.public_url.clone());
    // The run's public URL for its web server (`Run.containerUrl`), as on Apify.
    let web_url = platform.container_url(&run.id);
    let mut env = super::env::actor_env(job);
    let by_name: HashMap<String, String> = env.iter().cloned().collect();
    let alias = |to: &str, from: &str| (to.to_owned(), by_name.get(from).cloned().unwrap_or_default());
    env.extend([
        ("APIFY_TOKEN".to_owned(), token),
        ("APIFY_API_BASE_URL".to_owned(), base),
        ("APIFY_API_PUBLIC_BASE_URL".to_owned(), public),
        alias("APIFY_ACTOR_RUN_ID", "ACTOR_RUN_ID"),
        alias("APIFY_ACT_RUN_ID", "ACTOR_RUN_ID"),
        alias("APIFY_ACTOR_ID", "ACTOR_ID"),
        alias("APIFY_ACTOR_TASK_ID", "ACTOR_TASK_ID"),
        alias("APIFY_ACT_ID", "ACTOR_ID"),
        alias("APIFY_ACTOR_BUILD_ID", "ACTOR_BUILD_ID"),
        alias("APIFY_ACTOR_BUILD_NUMBER", "ACTOR_BUILD_NUMBER"),
        alias("APIFY_DEFAULT_DATASET_ID", "ACTOR_DEFAULT_DATASET_ID"),
        alias("APIFY_DEFAULT_KEY_VALUE_STORE_ID", "ACTOR_DEFAULT_KEY_VALUE_STORE_ID"),
        alias("APIFY_DEFAULT_REQUEST_QUEUE_ID", "ACTOR_DEFAULT_REQUEST_QUEUE_ID"),
        alias("APIFY_INPUT_KEY", "ACTOR_INPUT_KEY"),
        alias("CRAWLEE_INPUT_KEY", "ACTOR_INPUT_KEY"),
        alias("APIFY_MEMORY_MBYTES", "ACTOR_MEMORY_MBYTES"),
        alias("CRAWLEE_MEMORY_MBYTES", "ACTOR_MEMORY_MBYTES"),
        alias("APIFY_STARTED_AT", "ACTOR_STARTED_AT"),
        alias("APIFY_TIMEOUT_AT", "ACTOR_TIMEOUT_AT"),
        alias("APIFY_PERSIST_STATE_INTERVAL_MILLIS", "ACTOR_PERSIST_STATE_INTERVAL_MILLIS"),
        ("ACTOR_WEB_SERVER_PORT".to_owned(), port.to_string()),
        ("ACTOR_STANDBY_PORT".to_owned(), port.to_string()),
        ("APIFY_CONTAINER_PORT".to_owned(), port.to_string()),
        ("ACTOR_WEB_SERVER_URL".to_owned(), web_url.clone()),
        ("APIFY_CONTAINER_URL".to_owned(), web_url),
        ("APIFY_HEADLESS".to_owned(), "1".to_owned()),
        ("APIFY_DISABLE_BROWSER_SANDBOX".to_owned(), "1".to_owned()),
        // The SDK sleeps this long after asking for a metamorph or reboot; the container is stopped well before.
        ("APIFY_METAMORPH_AFTER_SLEEP_MILLIS".to_owned(), "300000".to_owned()),
        ("ACTOR_EVENTS_WEBSOCKET_URL".to_owned(), platform.run_events_url(&run.id)),
        ("APIFY_ACTOR_EVENTS_WS_URL".to_owned(), platform.run_events_url(&run.id)),
    ]);
    env
}

/// A port for the container's web server; with host networking, runs must not share one.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(4321)
}
