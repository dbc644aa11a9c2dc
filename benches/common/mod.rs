//! What the benchmarks share: arguments, percentiles, a real `wactor serve`
//! on 127.0.0.1 and the guest components it preloads.
// Each benchmark uses part of this.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const TOKEN: &str = "bench-token";

/// The value after `name` on the command line, if it parses.
pub fn arg<T: std::str::FromStr>(name: &str) -> Option<T> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok())
}

/// `cargo test --all-targets` builds and runs benchmarks without `--bench`: compiling is the check.
pub fn asked_to_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// Resident memory of a process, in KiB (0 once it is gone).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()).unwrap_or(0)
}

/// Builds guest components (release, wasm32-wasip2): `packages` as `-p` names.
pub fn build_guests(packages: &[&str]) {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR")).args(["build", "--release", "--target", "wasm32-wasip2"]);
    for p in packages {
        cmd.args(["-p", p]);
    }
    assert!(cmd.status().unwrap().success(), "building {packages:?}");
}

/// A `wactor serve` of this build, killed when dropped.
pub struct Server {
    child: Child,
    pub url: String,
}

impl Server {
    /// Starts `wactor serve` on a free loopback port with `args` after the
    /// listener and token, on `data_dir`, and waits until it listens.
    pub fn start(args: &[&str], data_dir: &Path) -> Server {
        // `WACTOR_BIN` measures another build (a commit before a change, say) with the same benchmark.
        let bin = std::env::var("WACTOR_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_wactor").to_owned());
        let mut child = Command::new(bin)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["serve", "--listen", "127.0.0.1:0", "--token", TOKEN])
            .args(args)
            .arg("--data-dir")
            .arg(data_dir)
            .env("RUST_LOG", "wactor=warn")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = loop {
            let line = lines.next().expect("server exited").unwrap();
            if let Some(u) = line.strip_prefix("wactor listening on ") {
                break u.trim().to_owned();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Server { child, url }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `n` sequential GETs of `url`, each checked, sorted by latency.
pub async fn timed(http: &reqwest::Client, url: &str, n: usize) -> Vec<Duration> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = std::time::Instant::now();
        let resp = http.get(url).bearer_auth(TOKEN).send().await.expect("request");
        assert!(resp.status().is_success(), "{url}: {}", resp.status());
        resp.bytes().await.unwrap();
        out.push(t.elapsed());
    }
    out.sort();
    out
}
