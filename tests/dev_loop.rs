//! The developer's loop: `wactor create` for each template, then `wactor
//! run` in the new directory (toolchains from a cache that starts empty in
//! every run of this binary), and what `wactor run` keeps between runs.

mod common;

use std::path::Path;
use std::process::Command;

use common::pushed::{actor_dir, cache_dir};
use serde_json::{json, Value};

fn wactor(args: &[&str], cwd: &Path) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_wactor"))
        .args(args)
        .current_dir(cwd)
        .env("WACTOR_CACHE_DIR", cache_dir())
        // The Rust template's crate shares the suite's target dir (its dependencies are built there already).
        .env("CARGO_TARGET_DIR", std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| common::repo().join("target").display().to_string()))
        .env_remove("WACTOR_URL")
        .env_remove("WACTOR_TOKEN")
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn output_of(stdout: &str) -> Value {
    let line = stdout.lines().find_map(|l| l.strip_prefix("OUTPUT: ")).unwrap_or_else(|| panic!("no OUTPUT in:\n{stdout}"));
    serde_json::from_str(line).unwrap()
}

#[test]
fn every_template_creates_an_actor_that_runs_as_it_is() {
    let root = tempfile::tempdir().unwrap();
    for template in ["rust", "js", "python"] {
        let name = format!("my-{template}-actor");
        let (ok, _, err) = wactor(&["create", &name, "--template", template], root.path());
        assert!(ok, "wactor create --template {template}: {err}");
        let dir = root.path().join(&name);
        assert!(dir.join(".actor/actor.json").exists());
        let (ok, out, err) = wactor(&["run", "--input", r#"{"name":"Dev","count":2}"#], &dir);
        assert!(ok, "wactor run of the {template} template failed:\n{err}\n{out}");
        assert!(out.contains("Hello, Dev!") && out.contains("Run finished: SUCCEEDED"), "the log is streamed:\n{out}");
        assert_eq!(output_of(&out), json!({ "greeting": "Hello, Dev!", "count": 2 }), "{template}");
        assert!(dir.join("storage").is_dir(), "the storages live in the Actor directory");
    }
    // A non-empty directory is not overwritten.
    let (ok, _, err) = wactor(&["create", "my-js-actor", "--template", "js"], root.path());
    assert!(!ok && err.contains("not empty"), "{err}");
}

#[test]
fn wactor_run_keeps_named_storages_and_purge_clears_the_defaults() {
    let main = r#"import { Actor } from 'wactor-sdk';
await Actor.init();
const kv = await Actor.openKeyValueStore('dev-loop-state');
const runs = ((await kv.getValue('runs')) ?? 0) + 1;
const previous = await kv.getValue('previousDataset');
let previousExists = null;
if (previous) {
  try { await Actor.openDataset(previous, { forceId: true }); previousExists = true; } catch { previousExists = false; }
}
await kv.setValue('runs', runs);
await kv.setValue('previousDataset', Actor.getEnv().defaultDatasetId);
await Actor.pushData({ runs });
await Actor.setValue('OUTPUT', { runs, previousExists });
await Actor.exit();
"#;
    let dir = actor_dir("dev-loop", &[("package.json", r#"{"type":"module","main":"main.js"}"#), ("main.js", main)]);
    let run = |extra: &[&str]| {
        let mut args = vec!["run"];
        args.extend_from_slice(extra);
        let (ok, out, err) = wactor(&args, dir.path());
        assert!(ok, "wactor run failed:\n{err}\n{out}");
        output_of(&out)
    };
    assert_eq!(run(&[]), json!({ "runs": 1, "previousExists": null }));
    assert_eq!(run(&[]), json!({ "runs": 2, "previousExists": true }), "the named store and the last run's dataset are kept");
    assert_eq!(run(&["--purge"]), json!({ "runs": 3, "previousExists": false }), "--purge took the earlier default dataset");

    // Bad input and a broken Actor: a non-zero exit with the reason.
    let (ok, _, err) = wactor(&["run", "--input", "{not json"], dir.path());
    assert!(!ok && err.contains("not valid JSON"), "{err}");
}

#[test]
fn wactor_run_refuses_an_actor_that_cannot_build_and_names_the_problem() {
    let cases = [
        (actor_dir("run-js-syntax", &[("package.json", "{}"), ("main.js", "const = 1;\n")]), "main.js:1:"),
        (actor_dir("run-js-no-entry", &[("package.json", r#"{"type":"module"}"#)]), "no entry point"),
        (actor_dir("run-js-node-fs", &[("package.json", "{}"), ("main.js", "import fs from 'node:fs';\nfs.readFileSync('x');\n")]), "\"node:fs\""),
        (actor_dir("run-py-syntax", &[("main.py", "async def main(:\n    pass\n")]), "main.py:1:"),
        (actor_dir("run-py-no-entry", &[("requirements.txt", "")]), "no entry point"),
        (
            actor_dir("run-py-native", &[("main.py", "import numpy\n"), ("requirements.txt", "numpy==2.1.3\n")]),
            "numpy",
        ),
    ];
    for (dir, expected) in &cases {
        let (ok, out, err) = wactor(&["run"], dir.path());
        assert!(!ok, "a broken Actor ran:\n{out}");
        assert!(err.contains(expected), "the error names {expected:?}:\n{err}");
        assert!(!out.contains("Run finished"), "nothing ran:\n{out}");
    }
}
