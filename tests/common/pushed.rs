//! Actor directories pushed with `wactor push`, building their components
//! with toolchains installed into a cache that starts empty in every run of
//! the test binary; and reading a run's default storages.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;

use super::{repo, Server};

/// The toolchain cache: `WACTOR_TEST_CACHE_DIR`, which `scripts/test.sh`
/// empties at the start of every run and shares between the test binaries;
/// else one empty cache for this test binary.
pub fn cache_dir() -> &'static Path {
    static DIR: OnceLock<(PathBuf, Option<tempfile::TempDir>)> = OnceLock::new();
    &DIR.get_or_init(|| match std::env::var_os("WACTOR_TEST_CACHE_DIR") {
        Some(dir) => (PathBuf::from(dir), None),
        None => {
            let dir = tempfile::tempdir().unwrap();
            (dir.path().to_path_buf(), Some(dir))
        }
    })
    .0
}

/// Pushes are serialised: the first installs the toolchain, the rest reuse it.
static PUSH: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub struct Pushed {
    pub ok: bool,
    /// What `wactor push` printed (stderr, then stdout).
    pub output: String,
}

pub async fn push(s: &Server, dir: &Path) -> Pushed {
    let _one = PUSH.lock().await;
    let mut cmd = s.cli();
    cmd.env("WACTOR_CACHE_DIR", cache_dir()).arg("push").arg(dir);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
    let output = format!("{}{}", String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&out.stdout));
    Pushed { ok: out.status.success(), output }
}

/// Pushes a directory of the repo, failing the test with the build's output if it fails.
pub async fn push_ok(s: &Server, dir: &str) {
    let p = push(s, &repo().join(dir)).await;
    assert!(p.ok, "wactor push {dir} failed:\n{}", p.output);
}

/// A server that lets guests' HTTP reach loopback (the tests' own sites).
pub fn server() -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_with(dir.path(), false, &["--allow-private-outbound"]);
    (s, dir)
}

pub async fn items(s: &Server, run: &Value) -> Vec<Value> {
    let id = run["defaultDatasetId"].as_str().unwrap();
    s.get_json(&format!("/datasets/{id}/items?limit=10000")).await.as_array().unwrap().clone()
}

pub async fn record(s: &Server, run: &Value, key: &str) -> Value {
    let id = run["defaultKeyValueStoreId"].as_str().unwrap();
    s.get_json(&format!("/key-value-stores/{id}/records/{key}")).await
}

/// An Actor directory in a temp dir: `.actor/actor.json` naming `name`, then the given (path, contents) files.
pub fn actor_dir(name: &str, files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let def = serde_json::json!({ "actorSpecification": 1, "name": name, "version": "0.1" });
    let mut all = vec![(".actor/actor.json".to_owned(), def.to_string())];
    all.extend(files.iter().map(|(p, c)| ((*p).to_owned(), (*c).to_owned())));
    for (rel, contents) in all {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }
    dir
}

/// A client for `actor`'s Standby URL on the test server, and the URL of `path` there.
pub fn standby(s: &Server, actor: &str, path: &str) -> (reqwest::Client, String) {
    let addr: std::net::SocketAddr = s.url.trim_start_matches("http://").parse().unwrap();
    let host = format!("me--{actor}.localhost");
    let http = reqwest::Client::builder().resolve(&host, addr).build().unwrap();
    (http, format!("http://{host}:{}{path}", addr.port()))
}
