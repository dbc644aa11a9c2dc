//! Turns an Actor directory into what a build needs: its definition and its
//! compiled component (built first from a cargo crate, a JavaScript package
//! or a Python project), or for a Dockerfile Actor the directory as a build
//! context.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::definition::{ActorDefinition, ActorDir, SourceKind};

pub struct Package {
    pub definition: ActorDefinition,
    /// What the build uploads: the component, a Dockerfile Actor's build
    /// context (a tar of its directory), or nothing for an image Actor.
    pub component: Vec<u8>,
    pub content_type: &'static str,
}

/// Reads the definition and builds or locates the component.
pub fn prepare(dir: &Path) -> Result<Package> {
    let mut actor = ActorDir::load(dir)?;
    if actor.definition.image.is_some() {
        return Ok(Package { definition: actor.definition, component: Vec::new(), content_type: "application/octet-stream" });
    }
    if let Some(dockerfile) = actor.definition.dockerfile.clone() {
        // actor.json names it relative to `.actor/`; the builder wants it relative to the context.
        let path = dir.join(".actor").join(&dockerfile);
        let path = path.canonicalize().with_context(|| format!("{}: no Dockerfile at {}", dir.display(), path.display()))?;
        let root = dir.canonicalize()?;
        let relative =
            path.strip_prefix(&root).with_context(|| format!("the Dockerfile {} is outside the Actor directory", path.display()))?;
        actor.definition.dockerfile = Some(relative.to_string_lossy().into_owned());
        let mut context = tar::Builder::new(Vec::new());
        context.follow_symlinks(false);
        context.append_dir_all(".", &root).with_context(|| format!("packing {}", root.display()))?;
        let component = context.into_inner()?;
        return Ok(Package { definition: actor.definition, component, content_type: "application/x-tar" });
    }
    let component = match actor.source_kind() {
        Some(SourceKind::Rust) => {
            let path = cargo_build(dir)?;
            std::fs::read(&path).with_context(|| format!("reading component {}", path.display()))?
        }
        Some(SourceKind::JavaScript) => super::js::build(dir, actor.is_standby())?.0,
        Some(SourceKind::Python) => super::python::build(dir, actor.is_standby())?.0,
        None => {
            let rel = actor.definition.component.as_deref().with_context(|| {
                format!(
                    "{}: .actor/actor.json names no \"component\" and the directory has no Cargo.toml, package.json, pyproject.toml or main.py",
                    dir.display()
                )
            })?;
            let path = dir.join(rel);
            std::fs::read(&path).with_context(|| format!("reading component {}", path.display()))?
        }
    };
    Ok(Package { definition: actor.definition, component, content_type: "application/wasm" })
}

/// `cargo build --release --target wasm32-wasip2` and the path of the `.wasm` it produced.
fn cargo_build(dir: &Path) -> Result<PathBuf> {
    let manifest = dir.join("Cargo.toml").canonicalize()?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args(["build", "--release", "--target", "wasm32-wasip2", "--message-format=json-render-diagnostics", "--manifest-path"])
        .arg(&manifest)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()
        .context("running cargo (is the Rust toolchain installed?)")?;
    if !out.status.success() {
        bail!("cargo build of {} failed (rustup target add wasm32-wasip2 may be missing)", dir.display());
    }
    let mut found = None;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        if msg["reason"] != "compiler-artifact" || msg["manifest_path"].as_str().map(Path::new) != Some(manifest.as_path()) {
            continue;
        }
        if let Some(files) = msg["filenames"].as_array() {
            for f in files.iter().filter_map(|f| f.as_str()) {
                if f.ends_with(".wasm") {
                    found = Some(PathBuf::from(f));
                }
            }
        }
    }
    found.with_context(|| format!("cargo built {} but produced no .wasm (is crate-type = [\"cdylib\"] set?)", dir.display()))
}
