//! Python Actors: `guest-sdk/python` (the `wactor` package, which `apify`
//! also names in a build) and its build script, embedded in the binary, are
//! installed with componentize-py into a venv in wactor's cache on first
//! use; a build adds the Actor's pure-Python dependencies and componentizes it.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use super::js::BuildReport;
use super::toolchain::{self, Embedded};

const FILES: &[Embedded] = &[
    Embedded { path: "requirements.txt", contents: include_bytes!("../../guest-sdk/python/toolchain/requirements.txt") },
    Embedded { path: "build.py", contents: include_bytes!("../../guest-sdk/python/toolchain/build.py") },
    Embedded { path: "wit/actor.wit", contents: include_bytes!("../../wit/actor.wit") },
    Embedded { path: "wit/python.wit", contents: include_bytes!("../../guest-sdk/python/toolchain/wit/python.wit") },
    Embedded { path: "wit/deps/io/io.wit", contents: include_bytes!("../../guest-sdk/python/toolchain/wit/deps/io/io.wit") },
    Embedded {
        path: "wit/deps/clocks/clocks.wit",
        contents: include_bytes!("../../guest-sdk/python/toolchain/wit/deps/clocks/clocks.wit"),
    },
    Embedded { path: "wit/deps/http/http.wit", contents: include_bytes!("../../guest-sdk/python/toolchain/wit/deps/http/http.wit") },
    Embedded { path: "sdk/wactor/__init__.py", contents: include_bytes!("../../guest-sdk/python/wactor/__init__.py") },
    Embedded { path: "sdk/wactor/_actor.py", contents: include_bytes!("../../guest-sdk/python/wactor/_actor.py") },
    Embedded { path: "sdk/wactor/_loop.py", contents: include_bytes!("../../guest-sdk/python/wactor/_loop.py") },
    Embedded { path: "sdk/wactor/_run.py", contents: include_bytes!("../../guest-sdk/python/wactor/_run.py") },
    Embedded { path: "sdk/wactor/http.py", contents: include_bytes!("../../guest-sdk/python/wactor/http.py") },
];

/// The toolchain's directory, with componentize-py in its own venv.
pub fn toolchain() -> Result<PathBuf> {
    let python = std::env::var("WACTOR_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let Some(version) = toolchain::version_of(&python) else {
        bail!("Python Actors are built with Python 3.11 or newer, and `{python}` was not found (apt-get install python3 python3-venv)");
    };
    let minor: u32 = version.strip_prefix("Python 3.").and_then(|v| v.split('.').next()).and_then(|m| m.parse().ok()).unwrap_or(0);
    if minor < 11 {
        bail!("Python Actors are built with Python 3.11 or newer; `{python}` is {version}");
    }
    toolchain::ensure("python", FILES, |dir| {
        let mut venv = Command::new(&python);
        venv.args(["-m", "venv"]).arg(dir.join("venv"));
        toolchain::run(venv, "python3 -m venv")?;
        let mut pip = Command::new(dir.join("venv/bin/pip"));
        pip.args(["install", "--quiet", "--disable-pip-version-check", "-r"]).arg(dir.join("requirements.txt"));
        toolchain::run(pip, "pip install componentize-py").map(drop)
    })
}

/// Builds the Python Actor in `dir` into a component (the Standby world when `standby`).
pub fn build(dir: &Path, standby: bool) -> Result<(Vec<u8>, BuildReport)> {
    let tc = toolchain()?;
    let key = toolchain::sources_key(dir, &[tc.to_string_lossy().as_bytes(), &[standby as u8]])?;
    if let Some(component) = toolchain::cached_build(&key) {
        let bytes = component.len() as u64;
        return Ok((component, BuildReport { bytes, bundle_bytes: 0, total_millis: 0 }));
    }
    let out = tempfile::Builder::new().prefix("wactor-py-").suffix(".wasm").tempfile()?;
    let request = serde_json::json!({
        "actorDir": dir.canonicalize().with_context(|| format!("{}: no such directory", dir.display()))?,
        "out": out.path(),
        "standby": standby,
    });
    let mut python = Command::new(tc.join("venv/bin/python"));
    python.arg(tc.join("build.py")).arg(request.to_string()).current_dir(dir);
    let output = toolchain::run(python, &format!("the Python build of {}", dir.display()))?;
    let report: BuildReport = String::from_utf8_lossy(&output.stdout)
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .context("the Python build reported nothing")?;
    let component = std::fs::read(out.path())?;
    toolchain::cache_build(&key, &component);
    Ok((component, report))
}
