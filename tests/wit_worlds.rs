//! The WIT worlds guests build against: `wactor:actor/actor` and
//! `wactor:standby/standby-actor` resolve, the latter against the standard
//! WASI 0.2 packages exactly as the host ships them (wasmtime-wasi-http's
//! own WIT, found through `cargo metadata`, so nothing is vendored here).

use std::path::{Path, PathBuf};
use std::process::Command;

use wit_parser::Resolve;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `wit/deps` of the wasmtime-wasi-http crate this build links.
fn host_wasi_wit() -> PathBuf {
    let out = Command::new(env!("CARGO")).current_dir(repo()).args(["metadata", "--format-version", "1"]).output().unwrap();
    assert!(out.status.success(), "cargo metadata failed");
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let manifest = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "wasmtime-wasi-http")
        .and_then(|p| p["manifest_path"].as_str())
        .expect("wasmtime-wasi-http in the dependency graph");
    Path::new(manifest).parent().unwrap().join("wit/deps")
}

fn world_names(resolve: &Resolve, world: wit_parser::WorldId) -> (Vec<String>, Vec<String>) {
    let w = &resolve.worlds[world];
    let imports = w.imports.keys().map(|k| resolve.name_world_key(k)).collect();
    let exports = w.exports.keys().map(|k| resolve.name_world_key(k)).collect();
    (imports, exports)
}

#[test]
fn the_actor_world_exports_run_and_imports_the_platform() {
    let mut resolve = Resolve::new();
    let (pkg, _) = resolve.push_dir(repo().join("wit")).unwrap();
    let world = resolve.select_world(&[pkg], Some("actor")).unwrap();
    let (imports, exports) = world_names(&resolve, world);
    assert_eq!(exports, ["run"]);
    for i in ["key-value-store", "dataset", "runtime", "events"] {
        assert!(imports.contains(&format!("wactor:actor/{i}@0.1.0")), "{imports:?}");
    }
}

#[test]
fn the_standby_world_is_the_actor_imports_plus_the_wasi_http_handler() {
    let dir = tempfile::tempdir().unwrap();
    let deps = dir.path().join("deps");
    std::fs::create_dir_all(deps.join("wactor-actor")).unwrap();
    std::fs::copy(repo().join("wit/standby-actor/world.wit"), dir.path().join("world.wit")).unwrap();
    // The full wasi:io comes with the host's packages; wit/deps/io holds only the subset `events` uses.
    std::fs::copy(repo().join("wit/actor.wit"), deps.join("wactor-actor/actor.wit")).unwrap();
    for entry in std::fs::read_dir(host_wasi_wit()).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, deps.join(path.file_name().unwrap())).unwrap();
    }
    let mut resolve = Resolve::new();
    let (pkg, _) = resolve.push_dir(dir.path()).unwrap();
    let world = resolve.select_world(&[pkg], Some("standby-actor")).unwrap();
    let (imports, exports) = world_names(&resolve, world);
    assert_eq!(exports, ["wasi:http/incoming-handler@0.2.12"]);
    for i in ["key-value-store", "dataset", "runtime", "events"] {
        assert!(imports.contains(&format!("wactor:actor/{i}@0.1.0")), "{imports:?}");
    }
    assert!(!exports.contains(&"run".to_owned()));
}
