//! The wasm executor: Actors as WASI components in wasmtime.
//!
//! One [`Engine`] per process (pooling allocator, epoch interruption driven
//! by one ticker thread). Components are compiled once when pushed; the
//! serialized artifact is cached next to the upload and an `InstancePre` is
//! kept per build, so starting a run is instantiate + call.

mod host;
mod limiter;
mod output;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use self::host::{bindings::ActorPre, HostCtx};
use self::limiter::{MemoryLimitExceeded, MemoryLimiter};
use super::{Outcome, Report, RunJob, StopReason};
use crate::limits::Limits;
use crate::platform::error::{PlatformError, Result};

/// How often the epoch advances. A busy guest yields to tokio this often and
/// notices a timeout or abort within one tick.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Core instances, memories and tables one component may have: Rust guests
/// have one of each; componentize-py and JS guests have a handful.
const MAX_CORE_INSTANCES_PER_COMPONENT: u32 = 64;
const MAX_MEMORIES_PER_COMPONENT: u32 = 16;
const MAX_TABLES_PER_COMPONENT: u32 = 16;

/// Store data of one run.
pub struct RunState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: MemoryLimiter,
    host: HostCtx,
}

impl WasiView for RunState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
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
    pres: Mutex<HashMap<String, ActorPre<RunState>>>,
}

impl WasmExecutor {
    pub fn new(dir: &Path, limits: &Limits) -> anyhow::Result<WasmExecutor> {
        std::fs::create_dir_all(dir)?;
        let engine = Engine::new(&engine_config(limits))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        host::add_to_linker(&mut linker)?;
        spawn_epoch_ticker(engine.weak());
        Ok(WasmExecutor { engine, linker, dir: dir.to_path_buf(), pres: Mutex::new(HashMap::new()) })
    }

    fn paths(&self, build_id: &str) -> (PathBuf, PathBuf) {
        (self.dir.join(format!("{build_id}.wasm")), self.dir.join(format!("{build_id}.cwasm")))
    }

    /// Compiles an uploaded component, caches the artifact and its
    /// `InstancePre`. A malformed or incompatible component is an error here,
    /// at push time, never at run time.
    pub async fn prepare_build(&self, build_id: &str, component: Vec<u8>) -> Result<()> {
        let engine = self.engine.clone();
        let compiled = tokio::task::spawn_blocking(move || engine.precompile_component(&component).map(|c| (component, c)))
            .await
            .map_err(|e| PlatformError::internal(format!("compiler task failed: {e}")))?
            .map_err(|e| PlatformError::invalid_kind("invalid-component", format!("The component is not valid: {e:#}")))?;
        let (original, artifact) = compiled;
        let (wasm_path, cwasm_path) = self.paths(build_id);
        std::fs::write(&wasm_path, &original).map_err(|e| PlatformError::internal(format!("saving component: {e}")))?;
        std::fs::write(&cwasm_path, &artifact).map_err(|e| PlatformError::internal(format!("saving compiled component: {e}")))?;
        let pre = self.instantiate_pre(&cwasm_path)?;
        self.pres.lock().expect("pre cache poisoned").insert(build_id.to_owned(), pre);
        Ok(())
    }

    fn instantiate_pre(&self, cwasm: &Path) -> Result<ActorPre<RunState>> {
        // SAFETY: the file was written by `precompile_component` of an engine
        // with this configuration, into the server's own data directory.
        let component = unsafe { Component::deserialize_file(&self.engine, cwasm) }
            .map_err(|e| PlatformError::internal(format!("loading compiled component: {e:#}")))?;
        let pre = self.linker.instantiate_pre(&component).map_err(|e| {
            PlatformError::invalid_kind("invalid-component", format!("The component does not fit the wactor:actor world: {e:#}"))
        })?;
        ActorPre::new(pre).map_err(|e| {
            PlatformError::invalid_kind("invalid-component", format!("The component does not export the actor world's run: {e:#}"))
        })
    }

    /// The cached `InstancePre`, loading (or recompiling, after an engine
    /// upgrade) from disk after a restart.
    fn load(&self, build_id: &str) -> Result<ActorPre<RunState>> {
        if let Some(pre) = self.pres.lock().expect("pre cache poisoned").get(build_id) {
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
        self.pres.lock().expect("pre cache poisoned").insert(build_id.to_owned(), pre.clone());
        Ok(pre)
    }

    pub fn forget_build(&self, build_id: &str) {
        self.pres.lock().expect("pre cache poisoned").remove(build_id);
    }

    /// Runs the component's `run` export to completion, a trap, or a stop.
    pub async fn execute(&self, job: RunJob) -> Report {
        let memory_limit = job.run.options.memory_mbytes as u64 * 1024 * 1024;
        let pre = match self.load(&job.build.id) {
            Ok(pre) => pre,
            Err(e) => return Report { outcome: Outcome::Crashed(format!("The component could not be loaded: {e}")), mem_max_bytes: 0 },
        };
        let wasi = output::wasi_ctx(&job);
        let mut store = Store::new(
            &self.engine,
            RunState {
                wasi,
                table: ResourceTable::new(),
                limiter: MemoryLimiter::new(memory_limit, job.usage.clone()),
                host: HostCtx::new(&job),
            },
        );
        store.limiter(|s| &mut s.limiter);
        let stop = job.stop.clone();
        let deadline = job.deadline;
        let usage = job.usage.clone();
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            // Called once per tick the guest spends executing: its CPU time.
            usage.busy_ticks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if let Some(reason) = *stop.borrow() {
                return Err(Interrupted(reason).into());
            }
            if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                return Err(Interrupted(StopReason::Timeout).into());
            }
            Ok(UpdateDeadline::Yield(1))
        });

        let result = async {
            let actor = pre.instantiate_async(&mut store).await?;
            actor.call_run(&mut store).await
        }
        .await;
        let mem_max_bytes = store.data().limiter.peak();
        let outcome = match result {
            Ok(Ok(())) => Outcome::Exited { exit_code: 0, message: None },
            Ok(Err(message)) => Outcome::Exited { exit_code: 1, message: Some(message) },
            Err(e) => classify_error(&e, &job, memory_limit),
        };
        drop(store); // flushes the guest's last partial output lines into the log
        Report { outcome, mem_max_bytes }
    }
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
    let instances = limits.max_concurrent_runs.max(1);
    pool.total_component_instances(instances)
        .total_core_instances(instances * 4)
        .total_memories(instances * 2)
        .total_tables(instances * 2)
        .total_stacks(instances)
        .max_core_instances_per_component(MAX_CORE_INSTANCES_PER_COMPONENT)
        .max_memories_per_component(MAX_MEMORIES_PER_COMPONENT)
        .max_tables_per_component(MAX_TABLES_PER_COMPONENT)
        .max_memory_size(limits.max_memory_mbytes as usize * 1024 * 1024);
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
