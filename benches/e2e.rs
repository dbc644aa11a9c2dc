//! End-to-end benchmark against a real `wactor serve` on 127.0.0.1:
//!
//! - run latency: `POST /v2/actors/hello/runs?waitForFinish=60` until the run
//!   is SUCCEEDED, sequential and with 32 concurrent clients (p50/p99);
//! - dataset push throughput through the API (batches of 1,000 items) and
//!   through the guest host call (the probe Actor pushing in batches of 1,000).
//!
//! Run with `cargo bench --bench e2e` (add `-- --runs N` to change the count).
//! Prints a Markdown table for benches/RESULTS.md.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{ms, percentile, Server, TOKEN};
use serde_json::{json, Value};

async fn one_run(http: &reqwest::Client, url: &str) -> Duration {
    let t = Instant::now();
    let resp = http
        .post(format!("{url}/v2/actors/hello/runs?waitForFinish=60"))
        .bearer_auth(TOKEN)
        .json(&json!({"name": "bench"}))
        .send()
        .await
        .expect("request");
    let run: Value = resp.json().await.expect("json");
    let elapsed = t.elapsed();
    assert_eq!(run["data"]["status"], "SUCCEEDED", "{run}");
    elapsed
}

#[tokio::main]
async fn main() {
    if !common::asked_to_run() {
        return;
    }
    let runs: usize = common::arg("--runs").unwrap_or(1000);
    let durability: String = common::arg("--durability").unwrap_or_else(|| "acknowledged".into());
    common::build_guests(&["hello", "probe"]);
    let dir = tempfile::tempdir().unwrap();
    let server =
        Server::start(&["--preload", "examples/hello", "--preload", "tests/guests/probe", "--durability", &durability], dir.path());
    let url = server.url.clone();
    let http = reqwest::Client::builder().pool_max_idle_per_host(64).build().unwrap();
    for _ in 0..50 {
        one_run(&http, &url).await;
    }

    // Sequential.
    let mut seq = Vec::with_capacity(runs);
    for _ in 0..runs {
        seq.push(one_run(&http, &url).await);
    }
    seq.sort();

    // 32 concurrent clients.
    let clients = 32;
    let per_client = runs.div_ceil(clients);
    let t = Instant::now();
    let mut tasks = Vec::new();
    let url_arc = Arc::new(url.clone());
    for _ in 0..clients {
        let http = http.clone();
        let url = url_arc.clone();
        tasks.push(tokio::spawn(async move {
            let mut v = Vec::with_capacity(per_client);
            for _ in 0..per_client {
                v.push(one_run(&http, &url).await);
            }
            v
        }));
    }
    let mut conc = Vec::new();
    for t in tasks {
        conc.extend(t.await.unwrap());
    }
    let conc_wall = t.elapsed();
    conc.sort();

    // API push throughput: 100 batches of 1,000 items.
    let ds: Value = http.post(format!("{url}/v2/datasets")).bearer_auth(TOKEN).json(&json!({})).send().await.unwrap().json().await.unwrap();
    let ds_id = ds["data"]["id"].as_str().unwrap().to_owned();
    let batch: Vec<Value> = (0..1000).map(|i| json!({"i": i, "text": "lorem ipsum dolor sit amet"})).collect();
    let body = serde_json::to_vec(&batch).unwrap();
    let batches = 100;
    let t = Instant::now();
    for _ in 0..batches {
        let resp = http
            .post(format!("{url}/v2/datasets/{ds_id}/items"))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
    }
    let api_rate = (batches * 1000) as f64 / t.elapsed().as_secs_f64();

    // Guest push throughput: 100,000 items in batches of 1,000 through the host call.
    let items = 100_000u64;
    let resp: Value = http
        .post(format!("{url}/v2/actors/probe/runs?waitForFinish=60"))
        .bearer_auth(TOKEN)
        .json(&json!({"mode": "push", "items": items, "batch": 1000}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(resp["data"]["status"], "SUCCEEDED", "{resp}");
    let secs = resp["data"]["stats"]["runTimeSecs"].as_f64().unwrap();
    let guest_rate = items as f64 / secs;

    drop(server);

    println!("durability: {durability}");
    println!("| measurement | value |");
    println!("|---|---|");
    println!("| run latency, sequential, {} runs: p50 | {} |", seq.len(), ms(percentile(&seq, 0.5)));
    println!("| run latency, sequential: p99 | {} |", ms(percentile(&seq, 0.99)));
    println!("| run latency, 32 concurrent clients, {} runs: p50 | {} |", conc.len(), ms(percentile(&conc, 0.5)));
    println!("| run latency, 32 concurrent clients: p99 | {} |", ms(percentile(&conc, 0.99)));
    println!("| runs/s with 32 concurrent clients | {:.0} |", conc.len() as f64 / conc_wall.as_secs_f64());
    println!("| dataset push via API (batches of 1,000) | {:.0} items/s |", api_rate);
    println!("| dataset push via guest host call (batches of 1,000) | {:.0} items/s |", guest_rate);
}
