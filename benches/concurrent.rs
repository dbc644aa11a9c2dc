//! Many runs at once (issue 13): N probe runs each sleep in a host call
//! (`{"mode": "sleep"}`, a WASI poll), all RUNNING together on one real
//! `wactor serve` on 127.0.0.1; meanwhile `/health` and `GET /v2/actors`
//! are timed from one client, and the server's resident memory is read
//! from `/proc` before and with the runs.
//!
//! Run with `cargo bench --bench concurrent` (`-- --runs N --requests N`).
//! Prints a Markdown table for benches/RESULTS.md.

mod common;

use std::time::{Duration, Instant};

use common::{ms, percentile, rss_kib, timed, Server, TOKEN};
use serde_json::{json, Value};

/// How many of the Actor's runs are RUNNING (the list's total).
async fn running(http: &reqwest::Client, url: &str) -> u64 {
    let list: Value =
        http.get(format!("{url}/v2/acts/probe/runs?status=RUNNING&limit=1")).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    list["data"]["total"].as_u64().unwrap()
}

#[tokio::main]
async fn main() {
    if !common::asked_to_run() {
        return;
    }
    let runs: usize = common::arg("--runs").unwrap_or(10_000);
    let requests: usize = common::arg("--requests").unwrap_or(500);
    common::build_guests(&["probe"]);
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &["--preload", "tests/guests/probe", "--max-concurrent-runs", &runs.to_string(), "--max-active-runs", &(runs + 100).to_string()],
        dir.path(),
    );
    let (url, pid) = (server.url.clone(), server.pid());
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
    drop(server);

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
