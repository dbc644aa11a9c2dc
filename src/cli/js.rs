//! JavaScript Actors: `guest-sdk/js` and its build script, embedded in the
//! binary, are installed with their pinned npm toolchain (esbuild,
//! componentize-js) on first use; a build bundles the Actor with its npm
//! dependencies and componentizes it with SpiderMonkey.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

use super::toolchain::{self, Embedded};

const FILES: &[Embedded] = &[
    Embedded { path: "package.json", contents: include_bytes!("../../guest-sdk/js/toolchain/package.json") },
    Embedded { path: "package-lock.json", contents: include_bytes!("../../guest-sdk/js/toolchain/package-lock.json") },
    Embedded { path: "build.mjs", contents: include_bytes!("../../guest-sdk/js/toolchain/build.mjs") },
    Embedded { path: "sdk/index.js", contents: include_bytes!("../../guest-sdk/js/index.js") },
    Embedded { path: "sdk/index.d.ts", contents: include_bytes!("../../guest-sdk/js/index.d.ts") },
    Embedded { path: "sdk/package.json", contents: include_bytes!("../../guest-sdk/js/package.json") },
    Embedded { path: "wit/actor.wit", contents: include_bytes!("../../wit/actor.wit") },
];

/// What a build reports besides the component.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildReport {
    pub bytes: u64,
    pub bundle_bytes: u64,
    pub total_millis: u64,
}

/// The toolchain's directory, installed with `npm ci` on first use.
pub fn toolchain() -> Result<std::path::PathBuf> {
    let Some(node) = toolchain::version_of("node") else {
        bail!("JavaScript Actors are built with Node.js 18 or newer and npm, and `node` was not found (apt-get install nodejs npm)");
    };
    let major: u32 = node.trim_start_matches('v').split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0);
    if major < 18 {
        bail!("JavaScript Actors are built with Node.js 18 or newer; this machine has {node}");
    }
    toolchain::ensure("js", FILES, |dir| {
        let mut npm = Command::new("npm");
        // Scripts stay off: nothing the toolchain needs runs an install script.
        npm.args(["ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"]).current_dir(dir);
        toolchain::run(npm, "npm ci").map(drop)
    })
}

/// Builds the JavaScript Actor in `dir` into a component (the Standby world
/// when `standby`). A build of the same sources with the same toolchain is
/// taken from the cache: componentizing takes seconds.
pub fn build(dir: &Path, standby: bool) -> Result<(Vec<u8>, BuildReport)> {
    let tc = toolchain()?;
    let key = toolchain::sources_key(dir, &[tc.to_string_lossy().as_bytes(), &[standby as u8]])?;
    if let Some(component) = toolchain::cached_build(&key) {
        let bytes = component.len() as u64;
        return Ok((component, BuildReport { bytes, bundle_bytes: 0, total_millis: 0 }));
    }
    let out = tempfile::Builder::new().prefix("wactor-js-").suffix(".wasm").tempfile()?;
    let request = serde_json::json!({
        "actorDir": dir.canonicalize().with_context(|| format!("{}: no such directory", dir.display()))?,
        "out": out.path(),
        "standby": standby,
    });
    let mut node = Command::new("node");
    node.arg(tc.join("build.mjs")).arg(request.to_string()).current_dir(dir);
    let output = toolchain::run(node, &format!("the JavaScript build of {}", dir.display()))?;
    for line in String::from_utf8_lossy(&output.stderr).lines().filter(|l| l.starts_with("warning")) {
        eprintln!("{line}");
    }
    let report: BuildReport = String::from_utf8_lossy(&output.stdout)
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .context("the JavaScript build reported nothing")?;
    let component = std::fs::read(out.path())?;
    toolchain::cache_build(&key, &component);
    Ok((component, report))
}
