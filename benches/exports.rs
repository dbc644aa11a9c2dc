//! Dataset export throughput against a real `wactor serve` on 127.0.0.1:
//! one dataset of N items (1,000,000 by default) pushed through the API in
//! batches of 1,000, then exported once in each format, read to the end by
//! one client. For each: items/s (first byte asked → last byte read), bytes,
//! and the server's peak RSS over its RSS before the export, sampled every 20 ms.
//!
//! `cargo bench --bench exports` (`-- --items N` to change the count).

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{rss_kib, Server, TOKEN};
use futures::StreamExt;
use serde_json::json;

#[tokio::main]
async fn main() {
    if !common::asked_to_run() {
        return;
    }
    let items: u64 = common::arg("--items").unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&[], dir.path());
    let http = reqwest::Client::new();
    let url = &server.url;
    let ds: serde_json::Value =
        http.post(format!("{url}/v2/datasets?name=export-bench")).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    let id = ds["data"]["id"].as_str().unwrap().to_owned();

    let t = Instant::now();
    let mut next = 0;
    while next < items {
        let batch: Vec<_> = (next..(next + 1000).min(items))
            .map(|i| {
                json!({"url": format!("https://example.com/page/{i}"), "title": format!("Page number {i}"), "n": i,
                       "ok": i % 2 == 0, "tags": ["alpha", "beta"], "meta": {"lang": "en", "depth": i % 5}})
            })
            .collect();
        next += batch.len() as u64;
        let resp = http.post(format!("{url}/v2/datasets/{id}/items")).bearer_auth(TOKEN).json(&batch).send().await.unwrap();
        assert_eq!(resp.status(), 201);
    }
    println!("pushed {items} items in {:.1} s", t.elapsed().as_secs_f64());

    println!("| format | items/s | bytes | peak RSS growth |");
    println!("|---|---|---|---|");
    for format in ["json", "jsonl", "csv", "html", "xml", "rss", "xlsx"] {
        let pid = server.pid();
        let before = rss_kib(pid);
        let peak = Arc::new(AtomicU64::new(before));
        let done = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (peak, done) = (peak.clone(), done.clone());
            std::thread::spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        };
        let t = Instant::now();
        let resp = http.get(format!("{url}/v2/datasets/{id}/items?format={format}")).bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{format}");
        assert_eq!(resp.headers()["x-apify-pagination-count"].to_str().unwrap(), items.to_string(), "{format}: one response");
        let mut stream = resp.bytes_stream();
        let mut bytes = 0u64;
        while let Some(chunk) = stream.next().await {
            bytes += chunk.unwrap().len() as u64;
        }
        let secs = t.elapsed().as_secs_f64();
        done.store(true, Ordering::Relaxed);
        sampler.join().unwrap();
        let growth = peak.load(Ordering::Relaxed).saturating_sub(before);
        println!("| {format} | {:.0} | {bytes} | {:.1} MiB |", items as f64 / secs, growth as f64 / 1024.0);
    }
}
