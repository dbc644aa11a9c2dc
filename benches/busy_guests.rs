//! API latency while guests keep every core busy (issue 10): 32 probe runs
//! spin in an endless loop, and meanwhile `/health` and `GET /v2/actors`
//! are timed from one client, sequentially, against a real `wactor serve`
//! on 127.0.0.1. Guests run on their own threads at a lower priority, so
//! the API should answer as on an idle machine.
//!
//! Run with `cargo bench --bench busy_guests` (`-- --guests N --requests N`).
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

#[tokio::main]
async fn main() {
    // `cargo test --all-targets` builds and runs this without `--bench`: compiling is the check.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let guests = arg("--guests", 32);
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
        .args(["serve", "--listen", "127.0.0.1:0", "--token", TOKEN, "--preload", "tests/guests/probe", "--data-dir"])
        .arg(dir.path())
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
    let http = reqwest::Client::new();
    let health = format!("{url}/health");
    let actors = format!("{url}/v2/actors");

    let idle_health = timed(&http, &health, requests).await;
    let idle_actors = timed(&http, &actors, requests).await;

    let mut run_ids = Vec::new();
    for _ in 0..guests {
        let resp = http
            .post(format!("{url}/v2/actors/probe/runs?timeout=600"))
            .bearer_auth(TOKEN)
            .json(&json!({"mode": "loop"}))
            .send()
            .await
            .unwrap();
        let run: Value = resp.json().await.unwrap();
        run_ids.push(run["data"]["id"].as_str().unwrap().to_owned());
    }
    // Every guest spinning before the measurement starts.
    for id in &run_ids {
        loop {
            let run: Value = http.get(format!("{url}/v2/actor-runs/{id}")).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
            if run["data"]["status"] == "RUNNING" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let busy_health = timed(&http, &health, requests).await;
    let busy_actors = timed(&http, &actors, requests).await;
    for id in &run_ids {
        let _ = http.post(format!("{url}/v2/actor-runs/{id}/abort")).bearer_auth(TOKEN).send().await;
    }
    let _ = child.kill();
    let _ = child.wait();

    println!("| request ({requests} sequential) | idle p50 | idle p99 | {guests} busy guests p50 | {guests} busy guests p99 |");
    println!("|---|---|---|---|---|");
    for (name, idle, busy) in [("GET /health", &idle_health, &busy_health), ("GET /v2/actors", &idle_actors, &busy_actors)] {
        println!(
            "| {name} | {} | {} | {} | {} |",
            ms(percentile(idle, 0.5)),
            ms(percentile(idle, 0.99)),
            ms(percentile(busy, 0.5)),
            ms(percentile(busy, 0.99))
        );
    }
}
