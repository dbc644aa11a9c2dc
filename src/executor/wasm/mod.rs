//! The wasm executor: Actors as WASI components in wasmtime.
//!
//! One [`Engine`] per process (pooling allocator, epoch interruption driven
//! by one ticker thread). Components are compiled once when pushed; the
//! serialized artifact is cached next to the upload and an `InstancePre` is
//! kept per build, so starting a run is instantiate + call.

mod host;
mod limiter;
mod outbound;
mod output;
mod standby;
mod threads;

use parking_lot::Mutex;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use self::host::{bindings::ActorPre, HostCtx};
use self::limiter::{MemoryLimitExceeded, MemoryLimiter};
use self::outbound::{OutboundHttp, OutboundShared};
use crate::definition::ActorDefinition;
use crate::limits::Limits;
use crate::platform::actors::ComponentExports;
use crate::platform::error::{PlatformError, Result};
use crate::platform::executors::{
    Artifact, BuildJob, BuildPace, Built, Execution, Executor, HttpServer, Outcome, Report, RunJob, RunMode, StopReason,
};

/// How often the epoch advances. A busy guest yields to tokio this often and
/// notices a timeout or abort within one tick.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Core instances, memories and tables one component may have: Rust guests
/// have one of each; componentize-py and JS guests have a handful.
const MAX_CORE_INSTANCES_PER_COMPONENT: u32 = 64;
const MAX_MEMORIES_PER_COMPONENT: u32 = 16;
const MAX_TABLES_PER_COMPONENT: u32 = 16;

/// Linear memory a freed pool slot keeps resident (reset in place on reuse).
const KEEP_RESIDENT_BYTES: usize = 2 * 1024 * 1024;
const KEEP_RESIDENT_TABLE_BYTES: usize = 64 * 1024;

/// Store data of one instance: a batch run, or one Standby request.
pub struct RunState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    limiter: MemoryLimiter,
    host: HostCtx,
    outbound: OutboundHttp,
    /// When the epoch interrupt stops this instance: the run's deadline, or
    /// the current request's (a reused Standby instance gets one per request).
    deadline: Option<tokio::time::Instant>,
}

impl WasiView for RunState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for RunState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.outbound }
    }
}

/// A build ready to instantiate, through whichever entry points it has.
#[derive(Clone)]
struct Prepared {
    batch: Option<ActorPre<RunState>>,
    http: Option<ProxyPre<RunState>>,
}

impl Prepared {
    fn exports(&self) -> ComponentExports {
        ComponentExports { run: self.batch.is_some(), http: self.http.is_some() }
    }
}

/// Raised from the epoch callback (or a host call) to stop a guest.
#[derive(Debug)]
pub(crate) struct Interrupted(pub(crate) StopReason);

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "run interrupted: {:?}", self.0)
    }
}
impl std::error::Error for Interrupted {}

pub struct WasmExecutor {
    engine: Engine,
    linker: Linker<RunState>,
    dir: PathBuf,
    pres: Mutex<HashMap<String, Prepared>>,
    /// Standby handler instances executing at once (their share of the instance pool).
    standby_slots: Arc<Semaphore>,
}

impl WasmExecutor {
    pub fn new(dir: &Path, limits: &Limits) -> anyhow::Result<WasmExecutor> {
        std::fs::create_dir_all(dir)?;
        let engine = Engine::new(&engine_config(limits))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        // wasi:http types for Standby handlers, and outbound HTTP for every Actor.
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        host::add_to_linker(&mut linker)?;
        spawn_epoch_ticker(engine.weak());
        Ok(WasmExecutor {
            engine,
            linker,
            dir: dir.to_path_buf(),
            pres: Mutex::new(HashMap::new()),
            standby_slots: Arc::new(Semaphore::new(limits.max_standby_instances as usize)),
        })
    }

    fn paths(&self, build_id: &str) -> (PathBuf, PathBuf) {
        (self.dir.join(format!("{build_id}.wasm")), self.dir.join(format!("{build_id}.cwasm")))
    }

    /// Compiles an uploaded component, caches the artifact and its
    /// `InstancePre`, and says which entry points it has. A malformed or
    /// incompatible component is an error here, at push time, never at run
    /// time, and leaves no file behind: the artifacts are written under
    /// temporary names and renamed only once the component links.
    pub async fn prepare_build(&self, build_id: &str, component: Vec<u8>) -> Result<ComponentExports> {
        let engine = self.engine.clone();
        let compiled = tokio::task::spawn_blocking(move || engine.precompile_component(&component).map(|c| (component, c)))
            .await
            .map_err(|e| PlatformError::internal(format!("compiler task failed: {e}")))?
            .map_err(|e| PlatformError::invalid_kind("invalid-component", format!("The component is not valid: {e:#}")))?;
        let (original, artifact) = compiled;
        let (wasm_path, cwasm_path) = self.paths(build_id);
        let (wasm_tmp, cwasm_tmp) = (partial(&wasm_path), partial(&cwasm_path));
        let linked = (|| {
            std::fs::write(&wasm_tmp, &original).map_err(|e| PlatformError::internal(format!("saving component: {e}")))?;
            std::fs::write(&cwasm_tmp, &artifact).map_err(|e| PlatformError::internal(format!("saving compiled component: {e}")))?;
            let pre = self.instantiate_pre(&cwasm_tmp)?;
            std::fs::rename(&wasm_tmp, &wasm_path).map_err(|e| PlatformError::internal(format!("saving component: {e}")))?;
            std::fs::rename(&cwasm_tmp, &cwasm_path).map_err(|e| PlatformError::internal(format!("saving compiled component: {e}")))?;
            Ok(pre)
        })();
        let pre = match linked {
            Ok(pre) => pre,
            Err(e) => {
                for path in [&wasm_tmp, &cwasm_tmp, &wasm_path, &cwasm_path] {
                    let _ = std::fs::remove_file(path);
                }
                return Err(e);
            }
        };
        let exports = pre.exports();
        self.pres.lock().insert(build_id.to_owned(), pre);
        Ok(exports)
    }

    /// Drops a build's cached `InstancePre` and deletes its artifacts.
    fn delete_build(&self, build_id: &str) {
        self.forget_build(build_id);
        let (wasm_path, cwasm_path) = self.paths(build_id);
        for path in [partial(&wasm_path), partial(&cwasm_path), wasm_path, cwasm_path] {
            let _ = std::fs::remove_file(path);
        }
    }

    /// Deletes every artifact whose build `is_live` does not know (builds
    /// rejected or deleted, uploads a crash cut short). Returns how many files went.
    fn delete_unreferenced(&self, is_live: &dyn Fn(&str) -> bool) -> usize {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return 0 };
        let mut removed = 0;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let build_id = name.split('.').next().unwrap_or_default();
            let finished = name.ends_with(".wasm") || name.ends_with(".cwasm");
            if finished && is_live(build_id) {
                continue;
            }
            if std::fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        removed
    }

    fn instantiate_pre(&self, cwasm: &Path) -> Result<Prepared> {
        // SAFETY: the file was written by `precompile_component` of an engine
        // with this configuration, into the server's own data directory.
        let component = unsafe { Component::deserialize_file(&self.engine, cwasm) }
            .map_err(|e| PlatformError::internal(format!("loading compiled component: {e:#}")))?;
        let pre = self.linker.instantiate_pre(&component).map_err(|e| {
            PlatformError::invalid_kind(
                "invalid-component",
                format!("The component imports something wactor does not provide (see the wactor:actor worlds): {e:#}"),
            )
        })?;
        let prepared = Prepared { batch: ActorPre::new(pre.clone()).ok(), http: ProxyPre::new(pre).ok() };
        if prepared.batch.is_none() && prepared.http.is_none() {
            return Err(PlatformError::invalid_kind(
                "invalid-component",
                "The component exports neither `run` (wactor:actor/actor) nor wasi:http/incoming-handler (wactor:standby/standby-actor)",
            ));
        }
        Ok(prepared)
    }

    /// The cached `InstancePre`, loading (or recompiling, after an engine
    /// upgrade) from disk after a restart.
    fn load(&self, build_id: &str) -> Result<Prepared> {
        if let Some(pre) = self.pres.lock().get(build_id) {
            return Ok(pre.clone());
        }
        let (wasm_path, cwasm_path) = self.paths(build_id);
        let pre = match self.instantiate_pre(&cwasm_path) {
            Ok(pre) => pre,
            Err(_) => {
                let original = std::fs::read(&wasm_path)
                    .map_err(|e| PlatformError::internal(format!("component of build {build_id} is missing: {e}")))?;
                let artifact = self
                    .engine
                    .precompile_component(&original)
                    .map_err(|e| PlatformError::internal(format!("recompiling build {build_id}: {e:#}")))?;
                std::fs::write(&cwasm_path, artifact).map_err(|e| PlatformError::internal(format!("saving compiled component: {e}")))?;
                self.instantiate_pre(&cwasm_path)?
            }
        };
        self.pres.lock().insert(build_id.to_owned(), pre.clone());
        Ok(pre)
    }

    pub fn forget_build(&self, build_id: &str) {
        self.pres.lock().remove(build_id);
    }

    /// Runs the component's `run` export to completion, a trap, or a stop,
    /// on the guest threads (never the ones serving HTTP).
    async fn execute(self: Arc<Self>, job: RunJob) -> Report {
        match threads::spawn(async move { self.execute_here(job).await }).await {
            Ok(report) => report,
            Err(panic) => Report::crashed(format!("The executor failed (internal error: {panic})")),
        }
    }

    /// A Standby run: requests get instances of their own (see `standby`);
    /// the run itself lasts until the platform stops it.
    fn serve(self: Arc<Self>, job: RunJob, request_timeout: Duration, max_requests_per_instance: u32) -> Execution {
        let server = match self.http_server(&job, request_timeout, max_requests_per_instance) {
            Ok(server) => server,
            Err(e) => return Execution::failed(format!("The Standby server could not start: {e}")),
        };
        let (ready, server_ready) = tokio::sync::oneshot::channel();
        let _ = ready.send(Ok(server));
        let (mut stop, usage) = (job.stop.clone(), job.usage.clone());
        let ended = Box::pin(async move {
            let reason = stop.wait_for(Option::is_some).await.ok().and_then(|r| *r).unwrap_or(StopReason::Abort);
            Report { outcome: Outcome::Stopped(reason), mem_max_bytes: usage.mem_peak_bytes.load(std::sync::atomic::Ordering::Relaxed) }
        });
        Execution { ended, server: Some(server_ready), at_container_url: false }
    }

    async fn execute_here(&self, job: RunJob) -> Report {
        let memory_limit = job.run.options.memory_mbytes as u64 * 1024 * 1024;
        let pre = match self.load(&job.build.id) {
            Ok(Prepared { batch: Some(pre), .. }) => pre,
            Ok(Prepared { batch: None, .. }) => {
                return Report::crashed("This Actor only serves HTTP: it runs in Standby mode, started by requests to its Standby URL")
            }
            Err(e) => return Report::crashed(format!("The component could not be loaded: {e}")),
        };
        let env = crate::executor::env::actor_env(&job);
        let mut store = self.new_store(
            output::wasi_ctx(&env, &job),
            HostCtx::new(&job),
            OutboundShared::for_run(&job),
            memory_limit,
            &job,
            job.deadline,
        );
        let result = async {
            let actor = pre.instantiate_async(&mut store).await?;
            actor.call_run(&mut store).await
        }
        .await;
        let mem_max_bytes = job.usage.mem_peak_bytes.load(std::sync::atomic::Ordering::Relaxed);
        let outcome = match result {
            Ok(Ok(())) => Outcome::Exited { exit_code: 0, message: None },
            Ok(Err(message)) => Outcome::Exited { exit_code: 1, message: Some(message) },
            Err(e) => classify_error(&e, &job, memory_limit),
        };
        drop(store); // flushes the guest's last partial output lines into the log
        Report { outcome, mem_max_bytes }
    }

    /// A store for one instance, under the run's memory budget, stopped by
    /// the run's stop signal and by `deadline` (the run's, or a request's).
    fn new_store(
        &self,
        wasi: WasiCtx,
        host: HostCtx,
        outbound: Arc<OutboundShared>,
        memory_limit: u64,
        job: &RunJob,
        deadline: Option<tokio::time::Instant>,
    ) -> Store<RunState> {
        let (usage, stop) = (job.usage.clone(), job.stop.clone());
        let limiter = MemoryLimiter::new(memory_limit, usage.clone());
        let outbound = OutboundHttp { shared: outbound, writes: host.writes.clone(), platform: job.platform.clone() };
        let mut store = Store::new(
            &self.engine,
            RunState { wasi, http: WasiHttpCtx::new(), table: ResourceTable::new(), limiter, host, outbound, deadline },
        );
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |store| {
            // Called once per tick the guest spends executing: its CPU time.
            usage.cpu_busy_nanos.fetch_add(EPOCH_TICK.as_nanos() as u64, std::sync::atomic::Ordering::Relaxed);
            if let Some(reason) = *stop.borrow() {
                return Err(Interrupted(reason).into());
            }
            if store.data().deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                return Err(Interrupted(StopReason::Timeout).into());
            }
            Ok(UpdateDeadline::Yield(1))
        });
        store
    }

    /// The server that answers a Standby run's requests: a fresh instance
    /// per request (or per `max_requests_per_instance`), from the build's cached `InstancePre`.
    fn http_server(
        self: &Arc<Self>,
        job: &RunJob,
        request_timeout: Duration,
        max_requests_per_instance: u32,
    ) -> Result<Arc<dyn HttpServer>> {
        let pre = self.load(&job.build.id)?.http.ok_or_else(|| {
            PlatformError::invalid_kind("invalid-component", "The build's component does not export wasi:http/incoming-handler")
        })?;
        Ok(Arc::new(standby::WasmHttpServer::new(self.clone(), pre, job.clone(), request_timeout, max_requests_per_instance)))
    }
}

#[async_trait::async_trait]
impl Executor for WasmExecutor {
    /// Compiling takes well under the push's time: a component that does not compile is no build.
    fn build_pace(&self, _definition: &ActorDefinition) -> BuildPace {
        BuildPace::Quick
    }

    async fn build(&self, job: BuildJob) -> Result<Built> {
        let exports = self.prepare_build(&job.build_id, job.upload).await?;
        Ok(Built { artifact: Artifact::Component, exports })
    }

    fn start(self: Arc<Self>, job: RunJob, mode: RunMode) -> Execution {
        match mode {
            RunMode::Batch => Execution { ended: Box::pin(self.execute(job)), server: None, at_container_url: false },
            RunMode::Serve { request_timeout, max_requests_per_instance, .. } => {
                self.serve(job, request_timeout, max_requests_per_instance)
            }
        }
    }

    fn remove_build(&self, build_id: &str) {
        self.delete_build(build_id)
    }

    fn collect_garbage(&self, is_live: &dyn Fn(&str) -> bool) -> usize {
        self.delete_unreferenced(is_live)
    }
}

/// Where an artifact is written before it is known to be good.
fn partial(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

fn classify_error(e: &wasmtime::Error, job: &RunJob, memory_limit: u64) -> Outcome {
    if let Some(Interrupted(reason)) = e.downcast_ref::<Interrupted>() {
        return Outcome::Stopped(*reason);
    }
    if let Some(exit) = e.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return Outcome::Exited { exit_code: exit.0, message: None };
    }
    if e.downcast_ref::<MemoryLimitExceeded>().is_some() {
        job.log.system(&format!("The Actor exceeded its memory limit: {e:?}"));
        return Outcome::Crashed(format!(
            "The Actor ran out of memory: it tried to use more than its limit of {} MB",
            memory_limit / (1024 * 1024)
        ));
    }
    job.log.system(&format!("The Actor crashed: {e:?}"));
    let reason = match e.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => trap.to_string(),
        None => e.root_cause().to_string(),
    };
    Outcome::Crashed(format!("The Actor crashed: {reason}"))
}

fn engine_config(limits: &Limits) -> Config {
    let mut pool = PoolingAllocationConfig::new();
    // Batch runs and Standby request instances each hold one slot.
    let instances = limits.max_concurrent_runs.max(1) + limits.max_standby_instances;
    pool.total_component_instances(instances)
        .total_core_instances(instances * 4)
        .total_memories(instances * 2)
        .total_tables(instances * 2)
        .total_stacks(instances)
        .max_core_instances_per_component(MAX_CORE_INSTANCES_PER_COMPONENT)
        .max_memories_per_component(MAX_MEMORIES_PER_COMPONENT)
        .max_tables_per_component(MAX_TABLES_PER_COMPONENT)
        .max_memory_size(limits.max_memory_mbytes as usize * 1024 * 1024)
        // Reset the first pages of a freed slot in place instead of `madvise`:
        // decommits cost a TLB shootdown on every core, which dominated
        // per-request Standby instances. Small guests fit entirely.
        .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
        .table_keep_resident(KEEP_RESIDENT_TABLE_BYTES)
        // Only the pages a guest touched are reset (Linux 6.7+, else a plain memset).
        .pagemap_scan(wasmtime::Enabled::Auto);
    let mut config = Config::new();
    config.wasm_component_model(true).epoch_interruption(true).allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    config
}

/// One thread per engine advances the epoch; stops when the engine is dropped.
fn spawn_epoch_ticker(engine: wasmtime::EngineWeak) {
    std::thread::Builder::new()
        .name("wactor-epoch".into())
        .spawn(move || loop {
            std::thread::sleep(EPOCH_TICK);
            match engine.upgrade() {
                Some(engine) => engine.increment_epoch(),
                None => return,
            }
        })
        .expect("spawning the epoch ticker thread");
}
