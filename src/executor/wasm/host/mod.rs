//! The WIT host: a thin adapter from the `wactor:actor` interfaces onto the
//! platform core. One file per interface; each call runs inside a tracing
//! span (bindgen's `tracing` flag), checks its caps, and returns
//! guest-visible errors as the WIT `error` variant, never as traps.

mod actors;
mod charging;
mod dataset;
mod events;
mod kv;
mod queue;
mod runtime;

use std::sync::Arc;

use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

use super::RunState;
use crate::platform::access::{Action, RunGrant, StorageKind};
use crate::platform::durability::UnsyncedWrites;
use crate::platform::error::PlatformError;
use crate::platform::executors::RunJob;
use crate::platform::runs::Run;
use crate::platform::storage::catalog::{Catalog, StorageMeta};
use crate::platform::Platform;

pub mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "actor",
        imports: { default: async | trappable | tracing },
        exports: { default: async },
        trappable_error_type: { "wactor:actor/types.error" => super::HostError },
        with: {
            "wasi:io/poll": wasmtime_wasi::p2::bindings::io::poll,
            "wactor:actor/key-value-store.store": super::kv::KvHandle,
            "wactor:actor/dataset.dataset": super::dataset::DatasetHandle,
            "wactor:actor/request-queue.queue": super::queue::QueueHandle,
        },
    });
}

use bindings::wactor::actor::types;

/// What a host call failed with: a platform error the guest sees as the WIT
/// `error` variant, or a trap that ends the run.
#[derive(Debug)]
pub enum HostError {
    Guest(PlatformError),
    Trap(wasmtime::Error),
}

impl From<PlatformError> for HostError {
    fn from(e: PlatformError) -> Self {
        HostError::Guest(e)
    }
}

impl From<wasmtime::component::ResourceTableError> for HostError {
    fn from(e: wasmtime::component::ResourceTableError) -> Self {
        HostError::Trap(e.into())
    }
}

pub type HostResult<T> = Result<T, HostError>;

/// Per-instance host state: who the guest is and how many handles it holds.
/// Cloned per Standby request (the shared parts are `Arc`s).
#[derive(Clone)]
pub struct HostCtx {
    pub(super) platform: Arc<Platform>,
    pub(super) run: Arc<Run>,
    pub(super) actor_full_name: Arc<str>,
    pub(super) open_handles: usize,
    pub(super) events: crate::platform::events::EventQueue,
    /// This instance's writes not yet known durable; a fresh set per instance.
    pub(crate) writes: UnsyncedWrites,
    /// What the run may do (as its token would); worked out on first need.
    grant: Arc<std::sync::OnceLock<RunGrant>>,
}

impl HostCtx {
    pub fn new(job: &RunJob) -> Self {
        HostCtx {
            platform: job.platform.clone(),
            run: Arc::new(job.run.clone()),
            actor_full_name: job.actor_full_name.as_str().into(),
            open_handles: 0,
            events: job.events.clone(),
            writes: UnsyncedWrites::default(),
            grant: Arc::default(),
        }
    }

    /// The host state of one more instance of the same run (a Standby request's).
    pub fn for_instance(&self) -> Self {
        HostCtx { writes: UnsyncedWrites::default(), ..self.clone() }
    }
}

/// The narrow view host calls get: the run's host state and the resource table.
pub struct ActorHost<'a> {
    pub(super) ctx: &'a mut HostCtx,
    pub(super) table: &'a mut ResourceTable,
}

impl ActorHost<'_> {
    /// Whether this run may do `action`: the same check its token gets at the HTTP door.
    fn authorize(&self, action: Action<'_>) -> HostResult<()> {
        let grant = self.ctx.grant.get_or_init(|| self.ctx.platform.grant_of(&self.ctx.run));
        Ok(self.ctx.platform.authorize_run(grant, action)?)
    }

    /// The named storage, created if needed (linked to this run), if the run may use it.
    fn open_named<M: StorageMeta>(&self, catalog: &Catalog<M>, kind: StorageKind, name: &str) -> HostResult<String> {
        let owner = self.ctx.platform.get_user(&self.ctx.run.user_id)?;
        let (meta, created) = catalog.get_or_create_named(&owner, name, Some(&self.ctx.run.id))?;
        if !created {
            self.authorize(Action::UseStorage(kind, &meta.info().id))?;
        }
        Ok(meta.info().id.clone())
    }

    /// An existing storage by ID or name, if the run may use it.
    fn open_existing<M: StorageMeta>(&self, catalog: &Catalog<M>, kind: StorageKind, reference: &str) -> HostResult<String> {
        let meta = catalog.resolve(Some(&self.ctx.run.user_id), reference)?;
        self.authorize(Action::UseStorage(kind, &meta.info().id))?;
        Ok(meta.info().id.clone())
    }

    /// Pushes a handle, enforcing the per-run handle cap.
    fn push_handle<T: Send + 'static>(&mut self, handle: T) -> HostResult<Resource<T>> {
        let max = self.ctx.platform.config.limits.max_open_handles_per_run;
        if self.ctx.open_handles >= max {
            return Err(PlatformError::too_large(
                "limit-exceeded",
                format!("A run may hold at most {max} open storage handles; drop some first"),
            )
            .into());
        }
        let r = self.table.push(handle)?;
        self.ctx.open_handles += 1;
        Ok(r)
    }

    fn drop_handle<T: 'static>(&mut self, r: Resource<T>) -> wasmtime::Result<()> {
        self.table.delete(r)?;
        self.ctx.open_handles = self.ctx.open_handles.saturating_sub(1);
        Ok(())
    }
}

struct HostData;

impl HasData for HostData {
    type Data<'a> = ActorHost<'a>;
}

fn host_view(s: &mut RunState) -> ActorHost<'_> {
    ActorHost { ctx: &mut s.host, table: &mut s.table }
}

/// Adds the `wactor:actor` interfaces (WASI, `wasi:io` included, is linked separately).
pub fn add_to_linker(linker: &mut Linker<RunState>) -> wasmtime::Result<()> {
    use bindings::wactor::actor::{actors, charging, dataset, events, key_value_store, request_queue, runtime};
    types::add_to_linker::<RunState, HostData>(linker, host_view)?;
    key_value_store::add_to_linker::<RunState, HostData>(linker, host_view)?;
    dataset::add_to_linker::<RunState, HostData>(linker, host_view)?;
    request_queue::add_to_linker::<RunState, HostData>(linker, host_view)?;
    runtime::add_to_linker::<RunState, HostData>(linker, host_view)?;
    charging::add_to_linker::<RunState, HostData>(linker, host_view)?;
    actors::add_to_linker::<RunState, HostData>(linker, host_view)?;
    events::add_to_linker::<RunState, HostData>(linker, host_view)
}

impl types::Host for ActorHost<'_> {
    fn convert_error(&mut self, err: HostError) -> wasmtime::Result<types::Error> {
        let e = match err {
            HostError::Trap(e) => return Err(e),
            HostError::Guest(e) => e,
        };
        Ok(match e {
            PlatformError::NotFound(m) => types::Error::NotFound(m),
            PlatformError::Invalid { message, .. } => types::Error::InvalidInput(message),
            PlatformError::SchemaValidation { message, invalid_items } => types::Error::InvalidInput(format!("{message}: {invalid_items}")),
            PlatformError::Conflict(m) | PlatformError::Locked(m) => types::Error::InvalidInput(m),
            PlatformError::TooLarge { message, .. } | PlatformError::Limit { message, .. } | PlatformError::OverQuota { message, .. } => {
                types::Error::LimitExceeded(message)
            }
            PlatformError::Forbidden(m) => types::Error::Forbidden(m),
            PlatformError::Unavailable(m) | PlatformError::ExecutorMissing { message: m, .. } => types::Error::Internal(m),
            e @ (PlatformError::Storage(_) | PlatformError::Internal(_)) => {
                tracing::error!(error = %e, "host call failed");
                types::Error::Internal(e.to_string())
            }
        })
    }
}
