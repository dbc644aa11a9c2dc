//! API latency while guests keep every core busy (issue 10): 32 probe runs
//! spin in an endless loop, and meanwhile `/health` and `GET /v2/actors`
//! are timed from one client, sequentially, against a real `wactor serve`
//! on 127.0.0.1. Guests run on their own threads at a lower priority, so
//! the API should answer as on an idle machine.
//!
//! Run with `cargo bench --bench busy_guests` (`-- --guests N --requests N`).
//! Prints a Markdown table for benches/RESULTS.md.

mod common;

use std::time::Duration;

use common::{ms, percentile, timed, Server, TOKEN};
use serde_json::{json, Value};

#[tokio::main]
async fn main() {
    if !common::asked_to_run() {
        return;
    }
    let guests: usize = common::arg("--guests").unwrap_or(32);
    let requests: usize = common::arg("--requests").unwrap_or(500);
    common::build_guests(&["probe"]);
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&["--preload", "tests/guests/probe"], dir.path());
    let url = server.url.clone();
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
    drop(server);

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
