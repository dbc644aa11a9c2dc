//! Many runs at once (issue 13): N probe runs each sleep in a host call
//! (`{"mode": "sleep"}`, a WASI poll), all RUNNING together on one real
//! `wactor serve` on 127.0.0.1; meanwhile `/health` and `GET /v2/actors`
//! are timed from one client, and the server's resident memory is read
//! from `/proc` before and with the runs.
//!
//! Run with `cargo bench --bench concurrent` (`-- --runs N --requests N`).
//! Prints a Markdown table for benches/RESULTS.md.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const TOKEN: &str = "bench-token";

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

async fn timed(http: &reqwest::Client, url: &str, n: usize) -> Vec<Duration> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let resp = http.get(url).bearer_auth(TOKEN).send().await.expect("request");
        assert!(resp.status().is_success(), "{url}: {}", resp.status());
        resp.bytes().await.unwrap();
        out.push(t.elapsed());
    }
    out.sort();
    out
}

/// How many of the Actor's runs are RUNNING (the list's total).
async fn running(http: &reqwest::Client, url: &str) -> u64 {
    let list: Value =
        http.get(format!("{url}/v2/acts/probe/runs?status=RUNNING&limit=1")).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    list["data"]["total"].as_u64().unwrap()
}

#[tokio::main]
async fn main() {
    // `cargo test --all-targets` builds and runs this without `--bench`: compiling is the check.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let runs = arg("--runs", 10_000);
    let requests = arg("--requests", 500);
    let repo = env!("CARGO_MANIFEST_DIR");
    let status = Command::new(env!("CARGO"))
        .current_dir(repo)
        .args(["build", "--release", "--target", "wasm32-wasip2", "-p", "probe"])
        .status()
        .unwrap();
    assert!(status.success());
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_wactor"))
        .current_dir(repo)
        .args(["serve", "--listen", "127.0.0.1:0", "--token", TOKEN, "--preload", "tests/guests/probe"])
        .args(["--max-concurrent-runs", &runs.to_string(), "--data-dir"])
        .arg(dir.path())
        .env("RUST_LOG", "wactor=warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("server exited").unwrap();
        if let Some(u) = line.strip_prefix("wactor listening on ") {
            break u.trim().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let http = reqwest::Client::builder().pool_max_idle_per_host(64).build().unwrap();
    let health = format!("{url}/health");
    let actors = format!("{url}/v2/actors");
    let idle_health = timed(&http, &health, requests).await;
    let idle_actors = timed(&http, &actors, requests).await;
    let rss_before = rss_kib(pid);

    // Start them from 32 clients, with a small memory limit each (the sleep needs little).
    let started = Instant::now();
    let clients = 32;
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (http, url) = (http.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            for _ in (c..runs).step_by(clients) {
                let resp = http
                    .post(format!("{url}/v2/actors/probe/runs?timeout=600&memory=128"))
                    .bearer_auth(TOKEN)
                    .json(&json!({"mode": "sleep"}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let start_wall = started.elapsed();
    loop {
        let n = running(&http, &url).await;
        if n as usize >= runs {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(300), "only {n} of {runs} runs RUNNING after 5 minutes");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let all_running = started.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_with = rss_kib(pid);
    let busy_health = timed(&http, &health, requests).await;
    let busy_actors = timed(&http, &actors, requests).await;
    let _ = child.kill();
    let _ = child.wait();

    println!("| measurement | value |");
    println!("|---|---|");
    println!("| runs sleeping in a host call at once | {runs} |");
    println!(
        "| time to start them (32 clients) / until all RUNNING | {:.2} s / {:.2} s |",
        start_wall.as_secs_f64(),
        all_running.as_secs_f64()
    );
    println!("| server RSS before / with the runs | {} MiB / {} MiB |", rss_before / 1024, rss_with / 1024);
    println!("| RSS per sleeping run | {} KiB |", (rss_with.saturating_sub(rss_before)) / runs.max(1) as u64);
    for (name, idle, busy) in [("GET /health", &idle_health, &busy_health), ("GET /v2/actors", &idle_actors, &busy_actors)] {
        println!("| {name} ({requests} sequential) p50 / p99, idle | {} / {} |", ms(percentile(idle, 0.5)), ms(percentile(idle, 0.99)));
        println!("| {name} p50 / p99, with {runs} runs | {} / {} |", ms(percentile(busy, 0.5)), ms(percentile(busy, 0.99)));
    }
}
