//! Python Actors: `guest-sdk/python` (the `wactor` package, which `apify`
//! also names in a build) and its build script, embedded in the binary, are
//! installed with componentize-py into a venv in wactor's cache on first
//! use; a build adds the Actor's pure-Python dependencies and componentizes it.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Result};

use super::toolchain::{self, BuildReport, Embedded};

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
    toolchain::build_component(dir, standby, &tc, "Python", |request| {
        let mut python = Command::new(tc.join("venv/bin/python"));
        python.arg(tc.join("build.py")).arg(request);
        python
    })
}
