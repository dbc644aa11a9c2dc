//! Test harness: real guests built from the repo, a real `wactor serve`
//! process on 127.0.0.1:0, and a client for it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;

pub mod pushed;
pub mod receiver;

pub const TOKEN: &str = "test-token-0123456789";

/// How long a test waits for a run to finish before it fails.
pub const RUN_DEADLINE: Duration = Duration::from_secs(180);
/// How long a server may take to exit after SIGTERM (grace periods are short in tests).
const STOP_DEADLINE: Duration = Duration::from_secs(60);

/// The examples written in Rust, which every test server preloads.
pub const RUST_EXAMPLES: &[&str] =
    &["examples/counter", "examples/hello", "examples/kv-api", "examples/long-job", "examples/standby-hello"];

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Builds every guest component once per test binary, by the script that
/// keeps the one list of them (cargo makes repeats no-ops).
pub fn build_guests() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let status = Command::new(repo().join("scripts/build-guests.sh"))
            .env("CARGO", env!("CARGO"))
            .status()
            .expect("running scripts/build-guests.sh");
        assert!(status.success(), "building guest components failed (rustup target add wasm32-wasip2?)");
    });
}

pub struct Server {
    child: Child,
    pub url: String,
    pub data_dir: PathBuf,
    pub http: reqwest::Client,
    /// The server's own log (its stderr), printed when the test fails.
    log: tempfile::NamedTempFile,
    /// A data dir this server was started on by `start`: removed only after the server is gone.
    _owned_dir: Option<std::sync::Arc<tempfile::TempDir>>,
}

impl Server {
    /// Starts a server on a fresh data dir with the examples and the probe
    /// preloaded. The dir is shared with the server, so it outlives the
    /// server process whichever is dropped first.
    pub fn start() -> (Server, std::sync::Arc<tempfile::TempDir>) {
        let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
        let mut server = Server::start_in(dir.path(), true);
        server._owned_dir = Some(dir.clone());
        (server, dir)
    }

    pub fn start_in(data_dir: &Path, preload: bool) -> Server {
        Server::start_with(data_dir, preload, &[])
    }

    /// Like `start_in`, with extra `wactor serve` flags.
    pub fn start_with(data_dir: &Path, preload: bool, extra: &[&str]) -> Server {
        build_guests();
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wactor"));
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--token", TOKEN]);
        // Defaults a test may override with its own `extra`; short grace periods keep the lifecycle tests quick.
        for (flag, value) in [("--max-concurrent-runs", "64"), ("--shutdown-grace-secs", "1"), ("--abort-grace-secs", "2")] {
            if !extra.contains(&flag) {
                cmd.args([flag, value]);
            }
        }
        cmd.arg("--data-dir")
            .arg(data_dir)
            .current_dir(repo())
            .env("RUST_LOG", "wactor=warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log.reopen().unwrap()));
        if preload {
            // The Rust examples and probes; the JavaScript and Python ones are pushed by their own tests (tests/js.rs).
            for dir in RUST_EXAMPLES.iter().chain(&["tests/guests/probe", "tests/guests/standby-probe"]) {
                cmd.args(["--preload", dir]);
            }
        }
        cmd.args(extra);
        let mut child = cmd.spawn().expect("starting wactor serve");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("wactor listening on ") {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(url.trim().to_owned());
                    }
                }
            }
        });
        let url = rx.recv_timeout(Duration::from_secs(300)).expect("server did not start");
        Server { child, url, data_dir: data_dir.to_path_buf(), http: reqwest::Client::new(), log, _owned_dir: None }
    }

    /// The server's process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's peak resident memory so far, in bytes (`VmHWM`).
    pub fn peak_rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let kb: u64 = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).unwrap().trim().trim_end_matches("kB").trim().parse().unwrap();
        kb * 1024
    }

    pub fn api(&self, path: &str) -> String {
        format!("{}/v2{}", self.url, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.api(path)).bearer_auth(TOKEN).send().await.unwrap()
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let resp = self.get(path).await;
        assert!(resp.status().is_success(), "GET {path}: {}", resp.status());
        resp.json().await.unwrap()
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http.post(self.api(path)).bearer_auth(TOKEN).json(body).send().await.unwrap()
    }

    /// Creates an Actor from `body` (its create request) and builds its
    /// version 0.1 from the probe component, checking both answers.
    pub async fn create_probe_actor(&self, body: &Value) {
        let resp = self.post_json("/acts", body).await;
        assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
        let name = body["name"].as_str().expect("the Actor's name");
        let wasm = std::fs::read(repo().join("target/wasm32-wasip2/release/probe.wasm")).unwrap();
        let resp = self
            .http
            .post(self.api(&format!("/acts/{name}/builds?version=0.1")))
            .bearer_auth(TOKEN)
            .header("content-type", "application/wasm")
            .body(wasm)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    }

    /// Starts a run and waits (up to 60 s) for it; returns the run object.
    pub async fn run(&self, actor: &str, query: &str, input: &Value) -> Value {
        let resp = self.post_json(&format!("/actors/{actor}/runs?waitForFinish=60&{query}"), input).await;
        assert_eq!(resp.status(), 201, "start {actor}: {}", resp.text().await.unwrap());
        let run: Value = resp.json().await.unwrap();
        self.wait_terminal(run["data"]["id"].as_str().unwrap(), RUN_DEADLINE).await
    }

    /// Starts a run without waiting; its ID.
    pub async fn start_run(&self, actor: &str, query: &str, input: &Value) -> String {
        let resp = self.post_json(&format!("/acts/{actor}/runs?{query}"), input).await;
        assert_eq!(resp.status(), 201, "start {actor}: {}", resp.text().await.unwrap());
        resp.json::<Value>().await.unwrap()["data"]["id"].as_str().unwrap().to_owned()
    }

    /// Polls a run until `ok` holds (at most 30 s; then fails, saying what it waited for).
    pub async fn wait_until(&self, run_id: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let run = self.get_json(&format!("/actor-runs/{run_id}")).await["data"].clone();
            if ok(&run) {
                return run;
            }
            assert!(std::time::Instant::now() < deadline, "run {run_id} never got {what}: {run:#}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Polls a run until it has `status`.
    pub async fn wait_status(&self, run_id: &str, status: &str) -> Value {
        self.wait_until(run_id, status, |r| r["status"] == status).await
    }

    /// Waits for a run to finish; past `within` it fails, printing the run and its log.
    pub async fn wait_terminal(&self, run_id: &str, within: Duration) -> Value {
        let deadline = std::time::Instant::now() + within;
        loop {
            let run = self.get_json(&format!("/actor-runs/{run_id}?waitForFinish=5")).await["data"].clone();
            if is_terminal(&run) {
                return run;
            }
            if std::time::Instant::now() >= deadline {
                let log = self.get(&format!("/logs/{run_id}")).await.text().await.unwrap_or_default();
                panic!("run {run_id} did not finish within {within:?}:\n{run:#}\nlog:\n{log}");
            }
        }
    }

    pub fn cli(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wactor"));
        cmd.env("WACTOR_URL", &self.url).env("WACTOR_TOKEN", TOKEN).current_dir(repo());
        cmd
    }

    /// SIGTERM, then wait (at most `STOP_DEADLINE`) for a clean exit.
    pub fn stop(self) {
        self.stop_with_signal(15)
    }

    /// Sends `signal` (15 SIGTERM, 2 SIGINT), then waits for a clean exit.
    pub fn stop_with_signal(mut self, signal: i32) {
        self.signal(signal);
        let deadline = std::time::Instant::now() + STOP_DEADLINE;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if std::time::Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!("the server did not exit within {STOP_DEADLINE:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "server exited with {status} after SIGTERM");
    }

    /// Sends a signal and returns at once.
    pub fn signal(&self, signal: i32) {
        unsafe_kill(self.child.id() as i32, signal);
    }

    /// SIGKILL: a crash.
    pub fn crash(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // A failed test's server stops gracefully, so it removes the containers it
            // started (a killed one would leave them on the Docker host).
            self.signal(15);
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while self.child.try_wait().ok().flatten().is_none() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.log.path()).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(200).collect();
            eprintln!("--- log of the server at {} (last {} lines) ---", self.url, tail.len());
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

fn unsafe_kill(pid: i32, sig: i32) {
    let _ = Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).status();
}

/// Records that the calling test could not run here and why: printed now,
/// and appended to `$WACTOR_SKIPPED_FILE` for the summary of `scripts/test.sh`.
pub fn record_skip(reason: &str) {
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    eprintln!("SKIPPED {test}: {reason}");
    if let Ok(path) = std::env::var("WACTOR_SKIPPED_FILE") {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
            let _ = writeln!(f, "{test}: {reason}");
        }
    }
}

/// Asserts an Apify error answer: its status and `error.type`; returns `error.message`.
pub async fn assert_error(resp: reqwest::Response, status: u16, kind: &str) -> String {
    let got = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    assert_eq!((got, body["error"]["type"].as_str().unwrap_or("")), (status, kind), "{body}");
    body["error"]["message"].as_str().unwrap_or_default().to_owned()
}

/// Polls `check` until it holds; fails after 30 s naming `what`.
pub async fn eventually<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(std::time::Instant::now() < deadline, "never saw {what} within 30 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn is_terminal(run: &Value) -> bool {
    matches!(run["status"].as_str(), Some("SUCCEEDED" | "FAILED" | "TIMED-OUT" | "ABORTED"))
}

/// Every non-empty log line starts with `2026-01-01T00:00:00.000Z `.
pub fn assert_timestamped(log: &str) {
    for line in log.lines().filter(|l| !l.is_empty()) {
        let ts = line.split(' ').next().unwrap();
        assert!(
            ts.len() == 24 && ts.ends_with('Z') && ts.as_bytes()[10] == b'T' && ts.as_bytes()[19] == b'.',
            "untimestamped log line: {line}"
        );
    }
}

/// A self-signed certificate for 127.0.0.1, localhost and `*.wactor.localhost`
/// (Standby host names under `--standby-domain wactor.localhost`; a wildcard
/// over one label alone is not valid), as `cert.pem` and `key.pem` in `dir`; also the
/// certificate for a client to trust.
pub fn self_signed_cert(dir: &Path) -> (PathBuf, PathBuf, reqwest::Certificate) {
    let names = vec!["127.0.0.1".to_owned(), "localhost".to_owned(), "*.wactor.localhost".to_owned()];
    let made = rcgen::generate_simple_self_signed(names).expect("generating a certificate");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    let root = reqwest::Certificate::from_pem(made.cert.pem().as_bytes()).unwrap();
    (cert, key, root)
}
