//! Executors, below the platform core: each implements the core's
//! [`Executor`](crate::platform::executors::Executor) interface for one kind
//! of artifact. The supervisor (`platform::supervisor`) owns the run's
//! lifecycle; an executor only builds and executes, and reports how the
//! code ended.
//!
//! - [`wasm`]: WASI components in wasmtime, in the server's process.
//! - [`docker`]: container images, one container per run, through bollard.

pub mod docker;
pub mod env;
pub mod wasm;

use std::sync::Arc;

use crate::platform::executors::{ArtifactKind, Executors};
use crate::platform::PlatformOptions;

/// The executors a server starts with: components always; containers when
/// a Docker client can be set up (it connects on first use).
pub fn standard(options: &PlatformOptions) -> anyhow::Result<Executors> {
    let components = wasm::WasmExecutor::new(&options.data_dir.join("components"), &options.limits)?;
    let executors = Executors::default().with(ArtifactKind::Component, Arc::new(components));
    Ok(match docker::DockerExecutor::new(&options.docker_network) {
        Ok(docker) => executors.with(ArtifactKind::Image, Arc::new(docker)),
        Err(why) => executors.without(ArtifactKind::Image, why.to_string()),
    })
}
