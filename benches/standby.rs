//! Standby benchmark: the `standby-hello` example component served by a
//! real `wactor serve` and by `wasmtime serve` (wasmtime-cli 48.0.8), side
//! by side in one run, over loopback.
//!
//! - cold start: a request to the Standby URL while the Actor has no run and
//!   no instance (each measured request starts a Standby run; the run is
//!   aborted before the next one, outside the measurement), on a fresh
//!   connection, end to end; `wasmtime serve` instantiates per request, so
//!   every request there is its cold start;
//! - warm throughput and p99 latency with `wrk -t2 -c64 --latency`, with
//!   a fresh instance per request (the default) and then, apart, with the
//!   opt-in instance reuse (`actorStandby.maxRequestsPerInstance` 1000);
//! - resident memory of an idle Standby Actor (the server's RSS with one
//!   idle Standby run, minus before it started).
//!
//! Run with `benches/standby.sh` (installs wrk, wasmtime-cli 48.0.8 and
//! wac-cli if missing, and plugs the stub of the wactor imports into the
//! component for `wasmtime serve`). `--no-wasmtime` measures wactor alone
//! (the short run in the test suite, which keeps the benchmark working).

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{arg, percentile, rss_kib, TOKEN};
use serde_json::Value;

const HOST: &str = "me--standby-hello.localhost";

/// Sub-millisecond figures: three decimals.
fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `wrk` for `secs` seconds at 64 connections: (requests/s, p99).
fn wrk(url: &str, headers: &[String], secs: u64) -> (f64, String) {
    let mut cmd = Command::new("wrk");
    cmd.args(["-t2", "-c64", &format!("-d{secs}s"), "--latency"]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    let out = cmd.arg(url).output().expect("running wrk (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!text.contains("Non-2xx"), "wrk saw errors:\n{text}");
    let rps = text.lines().find_map(|l| l.strip_prefix("Requests/sec:")).map(|v| v.trim().parse().unwrap()).unwrap_or(0.0);
    let p99 = text.lines().find_map(|l| l.trim().strip_prefix("99%")).map(|v| v.trim().to_owned()).unwrap_or_default();
    (rps, p99)
}

/// A running `wasmtime serve` and how to reach it.
struct WasmtimeServe {
    _child: Killed,
    pid: u32,
    url: String,
    version: String,
}

async fn start_wasmtime(api: &reqwest::Client, wasmtime: &str, component: &str) -> WasmtimeServe {
    let port = free_port();
    let child = Command::new(wasmtime)
        .args(["serve", "-Scli", "--addr", &format!("127.0.0.1:{port}")])
        .arg(component)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {wasmtime}: {e} (run benches/standby.sh to install wasmtime-cli 48.0.8)"));
    let pid = child.id();
    let url = format!("http://127.0.0.1:{port}/");
    let deadline = Instant::now() + Duration::from_secs(30);
    while api.get(&url).send().await.is_err() {
        assert!(Instant::now() < deadline, "wasmtime serve did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let version = String::from_utf8_lossy(&Command::new(wasmtime).arg("--version").output().unwrap().stdout).trim().to_owned();
    WasmtimeServe { _child: Killed(child), pid, url, version }
}

#[tokio::main]
async fn main() {
    if !common::asked_to_run() {
        return;
    }
    let cold_n: usize = arg("--cold").unwrap_or(300);
    let secs: u64 = arg("--secs").unwrap_or(10);
    let repo = env!("CARGO_MANIFEST_DIR");
    let wasmtime: Option<String> = match std::env::args().any(|a| a == "--no-wasmtime") {
        true => None,
        false => Some(arg("--wasmtime").unwrap_or_else(|| format!("{repo}/target/bench-tools/bin/wasmtime"))),
    };

    let status = Command::new(env!("CARGO"))
        .current_dir(repo)
        .args(["build", "--release", "--target", "wasm32-wasip2", "-p", "standby-hello"])
        .status()
        .unwrap();
    assert!(status.success());
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| format!("{repo}/target"));
    let component: String = arg("--wasmtime-component").unwrap_or_else(|| format!("{target}/bench-tools/standby_hello_plugged.wasm"));

    // wactor, with the example preloaded.
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_wactor"))
        .current_dir(repo)
        .args(["serve", "--listen", "127.0.0.1:0", "--token", TOKEN, "--preload", "examples/standby-hello", "--data-dir"])
        .arg(dir.path())
        .env("RUST_LOG", "wactor=warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let wactor_pid = child.id();
    let _wactor = Killed(child);
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        let line = lines.next().expect("server exited").unwrap();
        if let Some(u) = line.strip_prefix("wactor listening on ") {
            break u.trim().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let addr: SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    let standby_url = format!("http://{HOST}:{}/", addr.port());

    // wasmtime serve, on the same component.
    let api = reqwest::Client::new();
    let wt = match &wasmtime {
        Some(wasmtime) => Some(start_wasmtime(&api, wasmtime, &component).await),
        None => None,
    };
    let wt_version = wt.as_ref().map_or_else(|| "not measured".to_owned(), |w| w.version.clone());
    // A fresh connection per request: the cold start is end to end, connect included.
    let fresh = reqwest::Client::builder().resolve(HOST, addr).pool_max_idle_per_host(0).build().unwrap();

    // Idle memory: the server before any Standby run, and with one idle run.
    // One Standby run comes and goes first: the pool slot its instance used
    // stays resident for reuse by any Actor (that is the pool's, bounded by
    // the slots ever in use at once, not the idle run's).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_cold_server = rss_kib(wactor_pid);
    let resp = fresh.get(&standby_url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    abort_standby_runs(&api, &url).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = rss_kib(wactor_pid);
    let resp = fresh.get(&standby_url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let rss_idle = rss_kib(wactor_pid);
    abort_standby_runs(&api, &url).await;

    // Cold starts, on a kept-alive connection and on a fresh connection each.
    let kept = reqwest::Client::builder().resolve(HOST, addr).build().unwrap();
    let wt_fresh = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let wt_kept = reqwest::Client::new();
    let mut cold = Vec::new();
    for (label, wactor_client, wt_client) in [("kept-alive connection", &kept, &wt_kept), ("fresh connection each", &fresh, &wt_fresh)] {
        let mut wactor_cold = Vec::with_capacity(cold_n);
        for _ in 0..cold_n {
            let t = Instant::now();
            let resp = wactor_client.get(&standby_url).bearer_auth(TOKEN).send().await.unwrap();
            let body = resp.bytes().await.unwrap();
            wactor_cold.push(t.elapsed());
            assert!(body.starts_with(b"{"), "{body:?}");
            assert_eq!(abort_standby_runs(&api, &url).await, 1);
        }
        let mut wt_cold = Vec::with_capacity(cold_n);
        for _ in 0..wt.as_ref().map_or(0, |_| cold_n) {
            let wt_url = &wt.as_ref().unwrap().url;
            let t = Instant::now();
            let body = wt_client.get(wt_url).send().await.unwrap().bytes().await.unwrap();
            wt_cold.push(t.elapsed());
            assert!(body.starts_with(b"{"), "{body:?}");
        }
        wactor_cold.sort();
        wt_cold.sort();
        cold.push((label, wactor_cold, wt_cold));
    }
    let wt_rss = wt.as_ref().map(|w| rss_kib(w.pid));

    // Warm: alternate the two servers, twice each.
    let wactor_headers = vec![format!("Host: {HOST}"), format!("Authorization: Bearer {TOKEN}")];
    let mut warm = Vec::new();
    for round in 0..2 {
        let w = wrk(&format!("{url}/"), &wactor_headers, secs);
        let t = wt.as_ref().map(|wt| wrk(&wt.url, &[], secs));
        warm.push((round, w, t));
    }
    abort_standby_runs(&api, &url).await;

    // Opt-in instance reuse, measured apart (wasmtime serve has no such mode).
    let reuse = 1000;
    let resp = api
        .put(format!("{url}/v2/acts/standby-hello"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({ "actorStandby": { "maxRequestsPerInstance": reuse } }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let mut reused = Vec::new();
    for _ in 0..2 {
        reused.push(wrk(&format!("{url}/"), &wactor_headers, secs));
    }
    abort_standby_runs(&api, &url).await;

    println!("\n| measurement | wactor serve | wasmtime serve ({wt_version}) | ratio wactor/wasmtime |");
    println!("|---|---|---|---|");
    for (label, wactor_cold, wt_cold) in &cold {
        for (name, p) in [("cold start p50", 0.5), ("cold start p99", 0.99)] {
            let a = percentile(wactor_cold, p);
            match wt_cold.is_empty() {
                true => println!("| {name} ({cold_n} requests, {label}) | {} | | |", ms(a)),
                false => {
                    let b = percentile(wt_cold, p);
                    println!("| {name} ({cold_n} requests, {label}) | {} | {} | {:.2} |", ms(a), ms(b), a.as_secs_f64() / b.as_secs_f64());
                }
            }
        }
    }
    for (round, (w_rps, w_p99), t) in &warm {
        let (t_rps, t_p99) = t.clone().unwrap_or((f64::NAN, String::new()));
        println!("| warm requests/s, wrk -t2 -c64 -d{secs}s, round {} | {w_rps:.0} | {t_rps:.0} | {:.2} |", round + 1, w_rps / t_rps);
        println!("| warm p99 latency, round {} | {w_p99} | {t_p99} | |", round + 1);
    }
    for (round, (rps, p99)) in reused.iter().enumerate() {
        println!("| warm requests/s, maxRequestsPerInstance {reuse}, round {} | {rps:.0} | | |", round + 1);
        println!("| warm p99 latency, maxRequestsPerInstance {reuse}, round {} | {p99} | | |", round + 1);
    }
    println!("| RSS of the server, no Standby run yet | {} MiB | | |", rss_cold_server / 1024);
    println!("| RSS of the server after one Standby run came and went | {} MiB | | |", rss_before / 1024);
    println!("| RSS added by one idle Standby run (instance pool warm) | {} KiB | | |", rss_idle.saturating_sub(rss_before));
    println!(
        "| RSS of the process after the cold starts | {} MiB | {} MiB | |",
        rss_kib(wactor_pid) / 1024,
        wt_rss.map_or(String::new(), |r| (r / 1024).to_string())
    );
}

/// Aborts the Actor's RUNNING Standby runs and waits for them to end; returns how many.
async fn abort_standby_runs(api: &reqwest::Client, url: &str) -> usize {
    let runs: Value = api
        .get(format!("{url}/v2/acts/standby-hello/runs?status=RUNNING&desc=1&limit=10"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = runs["data"]["items"].as_array().cloned().unwrap_or_default();
    let mut n = 0;
    for r in items.iter().filter(|r| r["status"] == "RUNNING") {
        let id = r["id"].as_str().unwrap();
        let resp = api.post(format!("{url}/v2/actor-runs/{id}/abort")).bearer_auth(TOKEN).send().await.unwrap();
        let run: Value = resp.json().await.unwrap();
        assert_eq!(run["data"]["status"], "ABORTED", "{run}");
        n += 1;
    }
    n
}
