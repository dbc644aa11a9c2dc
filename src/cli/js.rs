//! JavaScript Actors: `guest-sdk/js` and its build script, embedded in the
//! binary, are installed with their pinned npm toolchain (esbuild,
//! componentize-js) on first use; a build bundles the Actor with its npm
//! dependencies and componentizes it with SpiderMonkey.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Result};

use super::toolchain::{self, BuildReport, Embedded};

const FILES: &[Embedded] = &[
    Embedded { path: "package.json", contents: include_bytes!("../../guest-sdk/js/toolchain/package.json") },
    Embedded { path: "package-lock.json", contents: include_bytes!("../../guest-sdk/js/toolchain/package-lock.json") },
    Embedded { path: "build.mjs", contents: include_bytes!("../../guest-sdk/js/toolchain/build.mjs") },
    Embedded { path: "sdk/index.js", contents: include_bytes!("../../guest-sdk/js/index.js") },
    Embedded { path: "sdk/index.d.ts", contents: include_bytes!("../../guest-sdk/js/index.d.ts") },
    Embedded { path: "sdk/package.json", contents: include_bytes!("../../guest-sdk/js/package.json") },
    Embedded { path: "wit/actor.wit", contents: include_bytes!("../../wit/actor.wit") },
];

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

/// Builds the JavaScript Actor in `dir` into a component (the Standby world when `standby`).
pub fn build(dir: &Path, standby: bool) -> Result<(Vec<u8>, BuildReport)> {
    let tc = toolchain()?;
    toolchain::build_component(dir, standby, &tc, "JavaScript", |request| {
        let mut node = Command::new("node");
        node.arg(tc.join("build.mjs")).arg(request);
        node
    })
}
