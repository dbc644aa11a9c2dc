//! Guest toolchains that `wactor push` installs on first use: pinned
//! versions from the npm registry or PyPI, in wactor's cache directory,
//! never global installs. A toolchain's directory is named after the hash of
//! what wactor puts in it, so a wactor that pins other versions installs
//! beside the old one instead of mixing with it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

/// A file the toolchain directory gets from the wactor binary itself.
pub struct Embedded {
    pub path: &'static str,
    pub contents: &'static [u8],
}

/// `WACTOR_CACHE_DIR`, else `$XDG_CACHE_HOME/wactor`, else `~/.cache/wactor`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("WACTOR_CACHE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("wactor");
    }
    match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        Some(home) => PathBuf::from(home).join(".cache").join("wactor"),
        None => std::env::temp_dir().join("wactor-cache"),
    }
}

/// The toolchain's directory, installed if it is not yet: the embedded
/// files are written to a fresh directory, `install` runs in it, and only
/// then is it renamed into place (a crash or a concurrent push never leaves
/// a half-installed toolchain that looks ready).
pub fn ensure(name: &str, files: &[Embedded], install: impl FnOnce(&Path) -> Result<()>) -> Result<PathBuf> {
    let mut hash = Sha256::new();
    for f in files {
        hash.update(f.path.as_bytes());
        hash.update((f.contents.len() as u64).to_le_bytes());
        hash.update(f.contents);
    }
    let digest = hash.finalize();
    let tag: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    let root = cache_dir().join("toolchains");
    let dir = root.join(format!("{name}-{tag}"));
    if dir.join(".ready").exists() {
        return Ok(dir);
    }
    std::fs::create_dir_all(&root).with_context(|| format!("creating the cache directory {}", root.display()))?;
    let staging = tempfile::Builder::new().prefix(&format!(".{name}-")).tempdir_in(&root)?;
    for f in files {
        let path = staging.path().join(f.path);
        std::fs::create_dir_all(path.parent().expect("embedded paths have a parent"))?;
        std::fs::write(&path, f.contents)?;
    }
    eprintln!("Installing the {name} toolchain into {} (first use only)", dir.display());
    install(staging.path()).with_context(|| format!("installing the {name} toolchain"))?;
    std::fs::write(staging.path().join(".ready"), b"")?;
    let staged = staging.keep();
    match std::fs::rename(&staged, &dir) {
        Ok(()) => Ok(dir),
        // Another push installed it meanwhile: use theirs.
        Err(_) if dir.join(".ready").exists() => {
            let _ = std::fs::remove_dir_all(&staged);
            Ok(dir)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staged);
            Err(e).with_context(|| format!("moving the {name} toolchain into {}", dir.display()))
        }
    }
}

/// Runs a toolchain command with its output captured; a failure carries
/// the command's own error lines (syntax errors with file and line).
pub fn run(mut cmd: Command, what: &str) -> Result<Output> {
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("starting {what} ({:?})", cmd.get_program()))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let errors: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        // The tool's own `error:` lines say it best; otherwise its last lines.
        let reported: Vec<&str> = errors.iter().copied().filter(|l| l.starts_with("error")).collect();
        let shown = if reported.is_empty() { errors[errors.len().saturating_sub(12)..].join("\n") } else { reported.join("\n") };
        bail!("{what} failed:\n{shown}");
    }
    Ok(out)
}

/// Whether `program --version` runs; its first line.
pub fn version_of(program: &str) -> Option<String> {
    let out = Command::new(program).arg("--version").stdin(Stdio::null()).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or_default().trim().to_owned())
}

/// Directories a build never reads its sources from.
const NOT_SOURCES: &[&str] = &["node_modules", ".git", "storage", "target", "__pycache__", ".venv", "wactor-data"];

/// A hash of every source file under `dir` (names and contents, in order),
/// with `extra` (the toolchain, the world): the key of a cached build.
pub fn sources_key(dir: &Path, extra: &[&[u8]]) -> Result<String> {
    let mut hash = Sha256::new();
    for e in extra {
        hash.update((e.len() as u64).to_le_bytes());
        hash.update(e);
    }
    let mut stack = vec![dir.to_path_buf()];
    let mut files = Vec::new();
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let entry = entry?;
            let name = entry.file_name();
            let kind = entry.file_type()?;
            if kind.is_dir() {
                if !NOT_SOURCES.contains(&name.to_string_lossy().as_ref()) {
                    stack.push(entry.path());
                }
            } else if kind.is_file() {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    for f in files {
        let rel = f.strip_prefix(dir).unwrap_or(&f).to_string_lossy().into_owned();
        let contents = std::fs::read(&f).with_context(|| format!("reading {}", f.display()))?;
        hash.update((rel.len() as u64).to_le_bytes());
        hash.update(rel.as_bytes());
        hash.update((contents.len() as u64).to_le_bytes());
        hash.update(&contents);
    }
    Ok(hash.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

fn build_path(key: &str) -> PathBuf {
    cache_dir().join("builds").join(format!("{key}.wasm"))
}

/// A component built before from the same sources, if the cache has it.
pub fn cached_build(key: &str) -> Option<Vec<u8>> {
    std::fs::read(build_path(key)).ok()
}

/// Keeps a built component for the next build of the same sources (best effort).
pub fn cache_build(key: &str, component: &[u8]) {
    let path = build_path(key);
    let Some(parent) = path.parent() else { return };
    if std::fs::create_dir_all(parent).is_err() {
        return;
    }
    if let Ok(mut tmp) = tempfile::NamedTempFile::new_in(parent) {
        use std::io::Write;
        if tmp.write_all(component).is_ok() {
            let _ = tmp.persist(&path);
        }
    }
}

/// What a JavaScript or Python build reports besides the component.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildReport {
    pub bytes: u64,
    pub bundle_bytes: u64,
    pub total_millis: u64,
}

/// Runs a toolchain's build script on the Actor in `dir` (the Standby world
/// when `standby`): `script(request)` is the command, given the build's
/// request as JSON (`actorDir`, `out`, `standby`). A build of the same
/// sources with the same toolchain comes from the cache.
pub fn build_component(
    dir: &Path,
    standby: bool,
    toolchain: &Path,
    what: &str,
    script: impl FnOnce(String) -> Command,
) -> Result<(Vec<u8>, BuildReport)> {
    let key = sources_key(dir, &[toolchain.to_string_lossy().as_bytes(), &[standby as u8]])?;
    if let Some(component) = cached_build(&key) {
        let bytes = component.len() as u64;
        return Ok((component, BuildReport { bytes, bundle_bytes: 0, total_millis: 0 }));
    }
    let out = tempfile::Builder::new().prefix("wactor-build-").suffix(".wasm").tempfile()?;
    let request = serde_json::json!({
        "actorDir": dir.canonicalize().with_context(|| format!("{}: no such directory", dir.display()))?,
        "out": out.path(),
        "standby": standby,
    });
    let mut cmd = script(request.to_string());
    cmd.current_dir(dir);
    let output = run(cmd, &format!("the {what} build of {}", dir.display()))?;
    for line in String::from_utf8_lossy(&output.stderr).lines().filter(|l| l.starts_with("warning")) {
        eprintln!("{line}");
    }
    let report: BuildReport = String::from_utf8_lossy(&output.stdout)
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .with_context(|| format!("the {what} build reported nothing"))?;
    let component = std::fs::read(out.path())?;
    cache_build(&key, &component);
    Ok((component, report))
}
