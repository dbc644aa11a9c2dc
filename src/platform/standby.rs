//! Platform layer: Standby, Actors that serve HTTP on their own URL.
//!
//! A request for an Actor goes to one of its Standby runs (ordinary runs
//! with `meta.origin = STANDBY`, their own storages and log). Each Actor has
//! a `Pool` of serving runs: a request takes a slot of a run that has one
//! (at most `maxRequestsPerActorRun` per run), a new run is started when
//! the concurrent requests exceed `desiredRequestsPerActorRun` per run, and
//! a run without requests for `idleTimeoutSecs` gets `aborting` and
//! finishes. Beyond the limits, requests wait in a bounded queue, then get
//! 503 with `Retry-After`. The executor only answers the request
//! ([`HttpServer`]); picking, scaling and idling are here, whatever the executor.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::actors::{Actor, Build};
use super::error::{PlatformError, Result};
use super::events::RunEvent;
use super::executors::{Execution, HttpRequest, HttpResponse, HttpServer, Outcome, Report, RunJob, RunMode, ServeError, StopReason};
use super::runs::{RunOrigin, RunStatus, StartOptions, NO_TIMEOUT};
use super::web_servers::WebServerSlot;
use super::{sleep_until, Platform};
use crate::limits::{
    MAX_STANDBY_IDLE_TIMEOUT_SECS, MAX_STANDBY_REQUESTS_PER_INSTANCE, MAX_STANDBY_REQUESTS_PER_RUN, MAX_STANDBY_REQUEST_TIMEOUT_SECS,
};

/// Apify's defaults for `actorStandby`.
const DEFAULT_MAX_REQUESTS_PER_RUN: u32 = 4;
const DEFAULT_DESIRED_REQUESTS_PER_RUN: u32 = 3;
const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 300;

/// An Actor's Standby settings, resolved: the Actor's own over its build's
/// actor.json over the defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct StandbySettings {
    pub max_requests_per_run: usize,
    pub desired_requests_per_run: usize,
    pub idle_timeout: Duration,
    pub request_timeout: Duration,
    /// Requests one instance answers before a fresh one takes over (1: a fresh instance each).
    pub max_requests_per_instance: u32,
    pub build: Option<String>,
    pub memory_mbytes: Option<u32>,
    pub is_public: bool,
    pub pass_actor_input: bool,
}

/// Why a Standby request got no answer from the Actor.
#[derive(Debug)]
pub enum StandbyError {
    /// No such Actor, Standby not enabled, bad settings.
    Platform(PlatformError),
    /// Every run is at its limit and the queue wait ran out.
    Overloaded {
        retry_after_secs: u64,
    },
    Serve(ServeError),
    /// The Actor's last Standby run failed before it could serve (the reason).
    StartFailed {
        why: String,
        retry_after_secs: u64,
    },
}

impl From<PlatformError> for StandbyError {
    fn from(e: PlatformError) -> Self {
        StandbyError::Platform(e)
    }
}

/// Serving Standby runs, per Actor.
#[derive(Default)]
pub(crate) struct StandbyPools {
    pools: Mutex<HashMap<String, Arc<Pool>>>,
    /// Resolved targets by the reference requests use, valid while the
    /// platform's Actor version is unchanged (saves two reads and JSON
    /// parses per request).
    targets: Mutex<HashMap<String, CachedTarget>>,
}

struct CachedTarget {
    version: u64,
    actor: Arc<Actor>,
    settings: StandbySettings,
}

/// Distinct references cached at most; beyond, the cache starts over.
const MAX_CACHED_TARGETS: usize = 4096;

impl StandbyPools {
    fn pool(&self, actor_id: &str) -> Arc<Pool> {
        self.pools.lock().entry(actor_id.to_owned()).or_default().clone()
    }

    fn existing(&self, actor_id: &str) -> Option<Arc<Pool>> {
        self.pools.lock().get(actor_id).cloned()
    }

    /// A run ended (or never got to serve): it takes no more requests.
    pub(crate) fn forget_run(&self, actor_id: &str, run_id: &str) {
        if let Some(pool) = self.existing(actor_id) {
            pool.remove(run_id);
        }
    }

    /// Every serving run stops taking requests and finishes once its last one is answered.
    fn close_all(&self) {
        let pools: Vec<Arc<Pool>> = self.pools.lock().values().cloned().collect();
        for pool in pools {
            pool.close_all();
        }
    }
}

/// One Actor's Standby runs.
#[derive(Default)]
struct Pool {
    state: Mutex<PoolState>,
    /// Woken when a slot frees, a run starts serving, or a run goes.
    changed: Notify,
    /// Requests waiting for a slot (the bounded queue).
    waiting: AtomicUsize,
}

#[derive(Default)]
struct PoolState {
    runs: Vec<Serving>,
    /// Runs started for this pool that do not serve yet.
    starting: Vec<String>,
    /// Runs being started right now (decided under the lock, so two
    /// requests never start one run each for the same demand).
    pending: usize,
    /// The last run that ended before it could serve: when, and why.
    start_failure: Option<(Instant, String)>,
}

struct Serving {
    run_id: String,
    server: Arc<dyn HttpServer>,
    max: usize,
    desired: usize,
    in_flight: usize,
    last_active: Instant,
    accepting: bool,
}

impl Pool {
    /// A free slot, if any, and whether this request should start another run.
    /// `Err`: no run serves and one failed to start within `backoff`.
    fn pick(
        self: &Arc<Self>,
        settings: &StandbySettings,
        max_runs: usize,
        queued: usize,
        backoff: Duration,
    ) -> std::result::Result<(Option<Lease>, bool), String> {
        let mut st = self.state.lock();
        let accepting = st.runs.iter().filter(|r| r.accepting).count();
        if accepting == 0 {
            if let Some((at, why)) = &st.start_failure {
                if at.elapsed() < backoff {
                    return Err(why.clone());
                }
            }
        }
        let in_flight: usize = st.runs.iter().filter(|r| r.accepting).map(|r| r.in_flight).sum();
        // Fill the oldest run up to `desired`, then spread up to `max`.
        let slot = st.runs.iter().position(|r| r.accepting && r.in_flight < r.desired).or_else(|| {
            (0..st.runs.len())
                .filter(|&i| st.runs[i].accepting && st.runs[i].in_flight < st.runs[i].max)
                .min_by_key(|&i| st.runs[i].in_flight)
        });
        // Scale out when demand (this request and the queue included) exceeds `desired` per run.
        let demand = in_flight + queued + 1;
        let capacity_runs = accepting + st.starting.len() + st.pending;
        let start = demand > settings.desired_requests_per_run * capacity_runs && st.runs.len() + st.starting.len() + st.pending < max_runs;
        if start {
            st.pending += 1;
        }
        let lease = slot.map(|i| {
            let r = &mut st.runs[i];
            r.in_flight += 1;
            Lease { pool: self.clone(), run_id: r.run_id.clone(), server: r.server.clone() }
        });
        Ok((lease, start))
    }

    /// A run ended before it could serve; waiting requests learn why.
    fn start_failed(&self, run_id: &str, why: &str) {
        let mut st = self.state.lock();
        st.starting.retain(|id| id != run_id);
        st.start_failure = Some((Instant::now(), why.to_owned()));
        drop(st);
        self.changed.notify_waiters();
    }

    /// A start decided by `pick` went through (with the new run's ID) or failed.
    fn started(&self, run_id: Option<&str>) {
        let mut st = self.state.lock();
        st.pending -= 1;
        if let Some(id) = run_id {
            // It may serve already.
            if !st.runs.iter().any(|r| r.run_id == id) {
                st.starting.push(id.to_owned());
            }
        }
    }

    fn register(&self, run_id: &str, server: Arc<dyn HttpServer>, settings: &StandbySettings) {
        let mut st = self.state.lock();
        st.starting.retain(|id| id != run_id);
        st.runs.push(Serving {
            run_id: run_id.to_owned(),
            server,
            max: settings.max_requests_per_run,
            desired: settings.desired_requests_per_run,
            in_flight: 0,
            last_active: Instant::now(),
            accepting: true,
        });
        drop(st);
        self.changed.notify_waiters();
    }

    fn remove(&self, run_id: &str) {
        let mut st = self.state.lock();
        st.starting.retain(|id| id != run_id);
        st.runs.retain(|r| r.run_id != run_id);
        drop(st);
        self.changed.notify_waiters();
    }

    fn release(&self, run_id: &str) {
        let mut st = self.state.lock();
        if let Some(r) = st.runs.iter_mut().find(|r| r.run_id == run_id) {
            r.in_flight -= 1;
            r.last_active = Instant::now();
        }
        drop(st);
        self.changed.notify_waiters();
    }

    /// Stops routing requests to a run.
    fn close(&self, run_id: &str) {
        if let Some(r) = self.state.lock().runs.iter_mut().find(|r| r.run_id == run_id) {
            r.accepting = false;
        }
        self.changed.notify_waiters();
    }

    fn close_all(&self) {
        for r in self.state.lock().runs.iter_mut() {
            r.accepting = false;
        }
        self.changed.notify_waiters();
    }

    /// `(in_flight, last_active, accepting)` of a run.
    fn load(&self, run_id: &str) -> Option<(usize, Instant, bool)> {
        let st = self.state.lock();
        st.runs.iter().find(|r| r.run_id == run_id).map(|r| (r.in_flight, r.last_active, r.accepting))
    }

    /// Retires the run if it has been idle for `idle`; atomically with
    /// picking, so no request is routed to a run that is going away.
    fn retire_if_idle(&self, run_id: &str, idle: Duration) -> bool {
        let mut st = self.state.lock();
        match st.runs.iter_mut().find(|r| r.run_id == run_id) {
            Some(r) if r.accepting && r.in_flight == 0 && r.last_active.elapsed() >= idle => {
                r.accepting = false;
                true
            }
            _ => false,
        }
    }
}

/// A request's slot in a run; dropping it frees the slot.
struct Lease {
    pool: Arc<Pool>,
    run_id: String,
    server: Arc<dyn HttpServer>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.pool.release(&self.run_id);
    }
}

/// Keeps the queue count honest when a waiting request is cancelled.
struct Queued<'a>(&'a AtomicUsize);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Platform {
    /// The Actor's Standby URL: `<scheme>://<username>--<actor>.<standby domain>[:<port>]`.
    pub fn standby_url(&self, username: &str, actor_name: &str) -> String {
        self.host_url(&self.standby_label(username, actor_name))
    }

    /// `<username>--<actor>`: the host label that names an Actor's Standby URL.
    pub fn standby_label(&self, username: &str, actor_name: &str) -> String {
        format!("{username}--{actor_name}")
    }

    /// `<scheme>://<label>.<standby domain>[:<port>]`, scheme and port as in the public URL.
    pub(crate) fn host_url(&self, label: &str) -> String {
        let (scheme, rest) = self.config.public_url.split_once("://").unwrap_or(("http", &self.config.public_url));
        let host_port = rest.split('/').next().unwrap_or(rest);
        let port = match host_port.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || host.starts_with('[') => format!(":{port}"),
            _ => String::new(),
        };
        format!("{scheme}://{label}.{}{port}", self.config.standby_domain)
    }

    /// The Actor's Standby settings, or `None` when Standby is off for it.
    pub fn standby_settings(&self, actor: &Actor) -> Result<Option<(StandbySettings, Build)>> {
        let own = actor.actor_standby.clone().unwrap_or_default();
        let build = match self.resolve_build(actor, own.build.as_deref()) {
            Ok(b) => b,
            // No build yet: Standby cannot be on.
            Err(_) if own.is_enabled != Some(true) => return Ok(None),
            Err(e) => return Err(e),
        };
        let def = &build.actor_definition;
        let options = own.over(&def.actor_standby.clone().unwrap_or_default());
        let enabled = options.is_enabled.unwrap_or(def.uses_standby_mode == Some(true));
        if !enabled {
            return Ok(None);
        }
        if !build.exports.http {
            return Err(PlatformError::invalid_kind(
                "actor-standby-not-supported",
                format!(
                    "Build {} of {} does not serve HTTP (it exports no wasi:http/incoming-handler)",
                    build.build_number,
                    actor.full_name()
                ),
            ));
        }
        // Settings are range-checked when set; the clamps keep records stored before that in range too.
        let max =
            options.max_requests_per_actor_run.unwrap_or(DEFAULT_MAX_REQUESTS_PER_RUN).clamp(1, MAX_STANDBY_REQUESTS_PER_RUN) as usize;
        let desired =
            options.desired_requests_per_actor_run.unwrap_or(DEFAULT_DESIRED_REQUESTS_PER_RUN.min(max as u32)).clamp(1, max as u32);
        let settings = StandbySettings {
            max_requests_per_run: max,
            desired_requests_per_run: desired as usize,
            idle_timeout: Duration::from_secs(
                options.idle_timeout_secs.unwrap_or(DEFAULT_IDLE_TIMEOUT_SECS).clamp(1, MAX_STANDBY_IDLE_TIMEOUT_SECS),
            ),
            request_timeout: Duration::from_secs(
                options
                    .request_timeout_secs
                    .unwrap_or(self.config.limits.standby_request_timeout_secs)
                    .clamp(1, MAX_STANDBY_REQUEST_TIMEOUT_SECS),
            ),
            max_requests_per_instance: options.max_requests_per_instance.unwrap_or(1).clamp(1, MAX_STANDBY_REQUESTS_PER_INSTANCE),
            build: options.build.clone(),
            memory_mbytes: options.memory_mbytes,
            is_public: options.is_public == Some(true),
            pass_actor_input: options.should_pass_actor_input == Some(true),
        };
        Ok(Some((settings, build)))
    }

    /// The Actor and its settings for a Standby request, if Standby is on.
    pub fn standby_target(&self, actor_ref: &str) -> Result<(Arc<Actor>, StandbySettings)> {
        let version = self.actors_version();
        if let Some(t) = self.standby.targets.lock().get(actor_ref) {
            if t.version == version {
                return Ok((t.actor.clone(), t.settings.clone()));
            }
        }
        let actor = Arc::new(self.get_actor(actor_ref)?);
        match self.standby_settings(&actor)? {
            Some((settings, _)) => {
                let mut targets = self.standby.targets.lock();
                if targets.len() >= MAX_CACHED_TARGETS {
                    targets.clear();
                }
                targets.insert(actor_ref.to_owned(), CachedTarget { version, actor: actor.clone(), settings: settings.clone() });
                Ok((actor, settings))
            }
            None => Err(PlatformError::invalid_kind(
                "actor-standby-not-enabled",
                format!(
                    "Actor {} does not run in Standby mode: set \"usesStandbyMode\": true in its actor.json (or actorStandby.isEnabled) \
                     and push a build that exports wasi:http/incoming-handler",
                    actor.full_name()
                ),
            )),
        }
    }

    /// Answers one Standby request: picks (or starts) a run with a free
    /// slot, waiting in the Actor's bounded queue if there is none.
    pub async fn standby_request(
        &self,
        actor: &Actor,
        settings: &StandbySettings,
        request: HttpRequest,
    ) -> std::result::Result<HttpResponse, StandbyError> {
        let limits = &self.config.limits;
        let pool = self.standby.pool(&actor.id);
        let wait = Duration::from_secs(limits.standby_queue_wait_secs);
        let give_up = Instant::now() + wait;
        let mut queued: Option<Queued<'_>> = None;
        let lease = loop {
            if self.is_shutting_down() {
                return Err(PlatformError::Unavailable("The server is shutting down".into()).into());
            }
            let notified = pool.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let ahead = pool.waiting.load(Ordering::SeqCst) - queued.is_some() as usize;
            let backoff = Duration::from_secs(limits.standby_start_backoff_secs);
            let (lease, start) = pool
                .pick(settings, limits.max_standby_runs_per_actor, ahead, backoff)
                .map_err(|why| StandbyError::StartFailed { why, retry_after_secs: backoff.as_secs().max(1) })?;
            if start {
                self.start_standby_run(actor, settings, &pool)?;
            }
            if let Some(lease) = lease {
                break lease;
            }
            if queued.is_none() {
                if pool.waiting.fetch_add(1, Ordering::SeqCst) >= limits.max_standby_queue_per_actor {
                    pool.waiting.fetch_sub(1, Ordering::SeqCst);
                    return Err(StandbyError::Overloaded { retry_after_secs: retry_after(wait) });
                }
                queued = Some(Queued(&pool.waiting));
            }
            if tokio::time::timeout_at(give_up, notified).await.is_err() {
                return Err(StandbyError::Overloaded { retry_after_secs: retry_after(wait) });
            }
        };
        drop(queued);
        let response = lease.server.handle(request).await.map_err(StandbyError::Serve);
        drop(lease);
        response
    }

    fn start_standby_run(&self, actor: &Actor, settings: &StandbySettings, pool: &Pool) -> Result<()> {
        let input = if settings.pass_actor_input { example_input(actor) } else { None };
        let started = self.start_run(
            &actor.id,
            StartOptions {
                input,
                build: settings.build.clone(),
                memory_mbytes: settings.memory_mbytes,
                // A Standby run ends by idling out, not by a timeout.
                timeout_secs: Some(NO_TIMEOUT),
                origin: Some(RunOrigin::Standby),
                ..Default::default()
            },
        );
        pool.started(started.as_ref().ok().map(|r| r.id.as_str()));
        let run = started?;
        // The run may have ended already (it could not start): do not wait for it.
        if self.get_run(&run.id).is_ok_and(|r| r.status.is_terminal()) {
            pool.remove(&run.id);
        }
        tracing::info!(actor = %actor.full_name(), run_id = %run.id, "started a Standby run");
        Ok(())
    }

    /// A Standby run's life: start serving, then serve until idle, aborted or stopped.
    pub(super) async fn serve_standby(self: Arc<Self>, job: RunJob) -> Report {
        let report = |outcome| Report { outcome, mem_max_bytes: job.usage.mem_peak_bytes.load(Ordering::Relaxed) };
        let (actor, settings) = match self.standby_target(&job.run.act_id) {
            Ok(t) => t,
            Err(e) => return report(Outcome::Crashed(format!("The Actor cannot serve in Standby mode: {e}"))),
        };
        let pool = self.standby.pool(&actor.id);
        let (mut ended, server, web_server) = match self.start_serving(&job, &settings).await {
            Ok(serving) => serving,
            // A run that cannot serve fails, and the requests waiting for it are told why.
            Err(ServeStart::Failed(why)) => {
                pool.start_failed(&job.run.id, &why);
                return report(Outcome::Crashed(why));
            }
            Err(ServeStart::Stopped(reason)) => return report(Outcome::Stopped(reason)),
        };
        if let Some(slot) = &web_server {
            slot.ready(server.clone());
        }
        pool.register(&job.run.id, server, &settings);
        job.log.system(&format!(
            "Serving Standby requests at {} (at most {} at once, idle timeout {} s).",
            self.standby_url(&actor.username, &actor.name),
            settings.max_requests_per_run,
            settings.idle_timeout.as_secs()
        ));
        let outcome = self.serve_until_done(&job, &settings, &pool, &mut ended).await;
        pool.remove(&job.run.id);
        report(outcome)
    }

    /// Starts the run's code in serve mode and waits until it answers HTTP:
    /// its server, the code's execution (which lives on beside it), and the
    /// run's `containerUrl` slot if the server answers there too.
    async fn start_serving(
        &self,
        job: &RunJob,
        settings: &StandbySettings,
    ) -> std::result::Result<(BoxedExecution, Arc<dyn HttpServer>, Option<WebServerSlot>), ServeStart> {
        let executor = self.executors.for_build(&job.build).map_err(|e| ServeStart::Failed(e.to_string()))?.clone();
        let ready_within = Duration::from_secs(self.config.limits.standby_readiness_timeout_secs);
        let mode = RunMode::Serve {
            ready_within,
            request_timeout: settings.request_timeout,
            max_requests_per_instance: settings.max_requests_per_instance,
        };
        let Execution { mut ended, server, at_container_url } = executor.start(job.clone(), mode);
        let web_server = at_container_url.then(|| self.open_web_server(&job.run.id));
        let ready = async {
            match server {
                Some(server) => server.await,
                None => std::future::pending().await,
            }
        };
        let mut stop = job.stop.clone();
        let server = tokio::select! {
            // First: code that ended also drops its server's sender.
            biased;
            done = &mut ended => return Err(match done.outcome {
                Outcome::Exited { exit_code, .. } => {
                    ServeStart::Failed(format!("The Actor exited with code {exit_code} before its web server answered the readiness probe"))
                }
                Outcome::Crashed(why) => ServeStart::Failed(why),
                Outcome::Stopped(reason) => ServeStart::Stopped(reason),
            }),
            ready = ready => match ready {
                Ok(Ok(server)) => server,
                Ok(Err(why)) => return Err(ServeStart::Failed(why)),
                Err(_) => return Err(ServeStart::Failed("The run's HTTP server never came up".into())),
            },
            reason = stop.wait_for(Option::is_some) => {
                return Err(ServeStart::Stopped(reason.ok().and_then(|r| *r).unwrap_or(StopReason::Abort)));
            }
        };
        Ok((ended, server, web_server))
    }

    /// Serves until the run idles out, is aborted (it drains its requests
    /// first), is stopped, or its code ends; how it ended.
    async fn serve_until_done(&self, job: &RunJob, settings: &StandbySettings, pool: &Pool, ended: &mut BoxedExecution) -> Outcome {
        let run_id = &job.run.id;
        let mut stop = job.stop.clone();
        let mut status = self.active.subscribe(run_id);
        let mut draining = false;
        loop {
            let notified = pool.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let Some((in_flight, last_active, accepting)) = pool.load(run_id) else {
                return Outcome::Exited { exit_code: 0, message: None };
            };
            if !accepting && in_flight == 0 {
                return Outcome::Exited { exit_code: 0, message: None };
            }
            draining |= !accepting;
            let idle_at = (in_flight == 0 && !draining).then(|| last_active + settings.idle_timeout);
            let aborting = async {
                match status.as_mut() {
                    Some(rx) => {
                        let _ = rx.wait_for(|s| *s == RunStatus::Aborting).await;
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                reason = stop.wait_for(Option::is_some) => {
                    return Outcome::Stopped(reason.ok().and_then(|r| *r).unwrap_or(StopReason::Abort));
                }
                _ = aborting, if !draining => {
                    pool.close(run_id);
                    draining = true;
                }
                _ = sleep_until(idle_at) => {
                    if pool.retire_if_idle(run_id, settings.idle_timeout) {
                        self.idled_out(job, settings.idle_timeout);
                        return Outcome::Exited { exit_code: 0, message: None };
                    }
                }
                done = &mut *ended => return done.outcome,
                _ = notified => {}
            }
        }
    }

    /// A run without requests for `idle` finishes, and says so.
    fn idled_out(&self, job: &RunJob, idle: Duration) {
        let secs = idle.as_secs();
        job.events.push(RunEvent::Aborting);
        job.log.system(&format!("No Standby request for {secs} s: the run finishes."));
        let _ = self.set_status_message(&job.run.id, &format!("The Standby run finished after {secs} s without requests"), true);
    }

    /// Standby runs finish once their requests are answered (server shutdown).
    pub(super) fn close_standby(&self) {
        self.standby.close_all();
    }
}

/// A run's code, executing beside its server.
type BoxedExecution = Pin<Box<dyn Future<Output = Report> + Send>>;

/// Why a Standby run did not get to serve.
enum ServeStart {
    Failed(String),
    Stopped(StopReason),
}

fn retry_after(wait: Duration) -> u64 {
    wait.as_secs().clamp(1, 30)
}

/// The Actor's `exampleRunInput`, for `shouldPassActorInput`.
fn example_input(actor: &Actor) -> Option<(Vec<u8>, String)> {
    let example = actor.extra.get("exampleRunInput")?;
    let body = example.get("body")?.as_str()?.as_bytes().to_vec();
    let content_type = example.get("contentType").and_then(|c| c.as_str()).unwrap_or("application/json").to_owned();
    Some((body, content_type))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use tokio::time::Instant;

    use super::{Pool, StandbySettings};
    use crate::platform::executors::{HttpRequest, HttpResponse, HttpServer, ServeError};

    /// The decision under test never calls the server.
    struct Unused;

    #[async_trait::async_trait]
    impl HttpServer for Unused {
        async fn handle(&self, _: HttpRequest) -> Result<HttpResponse, ServeError> {
            unreachable!("pick only chooses a run")
        }
    }

    fn settings() -> StandbySettings {
        StandbySettings {
            max_requests_per_run: 4,
            desired_requests_per_run: 3,
            idle_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(30),
            max_requests_per_instance: 1,
            build: None,
            memory_mbytes: None,
            is_public: false,
            pass_actor_input: false,
        }
    }

    /// A pool whose serving runs `r0, r1, ...` hold these requests, with `pending` starts under way.
    fn pool(in_flight: &[usize], pending: usize) -> Arc<Pool> {
        let pool = Arc::new(Pool::default());
        for (i, n) in in_flight.iter().enumerate() {
            pool.register(&format!("r{i}"), Arc::new(Unused), &settings());
            pool.state.lock().runs[i].in_flight = *n;
        }
        pool.state.lock().pending = pending;
        pool
    }

    /// `(in flight per run, starts pending, queued requests)` → `(run picked, start another)`,
    /// with at most 3 runs: fill the oldest run up to `desired`, spread up to
    /// `max`, start a run when demand exceeds `desired` per run.
    /// In-flight requests per run, limits, what is picked, whether a new run may start.
    type PickCase<'a> = (&'a [usize], usize, usize, Option<&'a str>, bool);

    #[test]
    fn pick_fills_then_spreads_then_scales_out_within_the_limits() {
        let cases: &[PickCase] = &[
            (&[], 0, 0, None, true),
            (&[], 1, 0, None, false),
            (&[0], 0, 0, Some("r0"), false),
            (&[2], 0, 0, Some("r0"), false),
            (&[3], 0, 0, Some("r0"), true),
            (&[4], 0, 0, None, true),
            (&[4], 1, 0, None, false),
            (&[1, 0], 0, 0, Some("r0"), false),
            (&[3, 3], 0, 0, Some("r0"), true),
            (&[3, 2], 0, 0, Some("r1"), false),
            (&[4, 4, 4], 0, 0, None, false),
            (&[0], 0, 5, Some("r0"), true),
        ];
        for &(in_flight, pending, queued, picked, start) in cases {
            let pool = pool(in_flight, pending);
            let (lease, started) = pool.pick(&settings(), 3, queued, Duration::from_secs(5)).unwrap();
            let case = format!("{in_flight:?} pending {pending} queued {queued}");
            assert_eq!(lease.as_ref().map(|l| l.run_id.as_str()), picked, "{case}");
            assert_eq!(started, start, "{case}");
            assert_eq!(pool.state.lock().pending, pending + started as usize, "{case}: a start is counted at once");
        }
    }

    #[test]
    fn a_failed_start_is_reported_while_no_run_serves_until_the_backoff_ends() {
        let pool = pool(&[], 0);
        pool.start_failed("r9", "the Actor exited");
        assert_eq!(pool.pick(&settings(), 3, 0, Duration::from_secs(5)).err().as_deref(), Some("the Actor exited"));
        pool.state.lock().start_failure.as_mut().unwrap().0 = Instant::now() - Duration::from_secs(6);
        assert!(pool.pick(&settings(), 3, 0, Duration::from_secs(5)).is_ok(), "after the backoff a new run may start");
        // A serving run answers even while a recent start failure stands.
        let pool = pool_with_failure(&[0]);
        assert_eq!(pool.pick(&settings(), 3, 0, Duration::from_secs(5)).unwrap().0.map(|l| l.run_id.clone()), Some("r0".to_owned()));
    }

    fn pool_with_failure(in_flight: &[usize]) -> Arc<Pool> {
        let pool = pool(in_flight, 0);
        pool.start_failed("r9", "the Actor exited");
        pool
    }
}
