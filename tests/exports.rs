//! A 1,000,000-item dataset exported in one response, as CSV and XLSX,
//! read to the end while the server's resident memory is sampled: an
//! export streams, so it holds a few chunks and the column list, never the
//! items (the figures per format are in `benches/RESULTS.md`).

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{Server, TOKEN};
use serde_json::json;

const ITEMS: u64 = 1_000_000;
const BATCH: u64 = 25_000;

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()).unwrap_or(0)
}

#[tokio::test]
async fn a_million_item_export_streams_in_bounded_memory() {
    let (s, _dir) = Server::start();
    let created = s.http.post(s.api("/datasets?name=million")).bearer_auth(TOKEN).send().await.unwrap();
    let id = created.json::<serde_json::Value>().await.unwrap()["data"]["id"].as_str().unwrap().to_owned();
    let mut next = 0;
    while next < ITEMS {
        let batch: Vec<_> = (next..next + BATCH)
            .map(|i| json!({"url": format!("https://example.com/{i}"), "n": i, "tags": ["a", "b"], "meta": {"depth": i % 5}}))
            .collect();
        let resp = s.post_json(&format!("/datasets/{id}/items"), &json!(batch)).await;
        assert_eq!(resp.status(), 201);
        next += BATCH;
    }
    for (format, min_bytes) in [("csv", 35_000_000u64), ("xlsx", 10_000_000)] {
        let pid = s.pid();
        tokio::time::sleep(Duration::from_millis(200)).await;
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
        let mut resp = s.get(&format!("/datasets/{id}/items?format={format}")).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["x-apify-pagination-count"], ITEMS.to_string().as_str(), "{format}: all in one response");
        let (mut bytes, mut tail) = (0u64, Vec::new());
        while let Some(chunk) = resp.chunk().await.unwrap() {
            bytes += chunk.len() as u64;
            tail = chunk[chunk.len().saturating_sub(64)..].to_vec();
        }
        done.store(true, Ordering::Relaxed);
        sampler.join().unwrap();
        let growth_mib = peak.load(Ordering::Relaxed).saturating_sub(before) / 1024;
        assert!(bytes > min_bytes, "{format}: {bytes} bytes");
        if format == "csv" {
            assert!(
                String::from_utf8_lossy(&tail).ends_with("999999,a,b,4\n"),
                "{format} ends with the last item: {:?}",
                String::from_utf8_lossy(&tail)
            );
        }
        assert!(growth_mib < 64, "{format}: the export grew the server by {growth_mib} MiB");
    }
}

#[tokio::test]
async fn wactor_dataset_export_writes_the_format_to_a_file() {
    let (s, dir) = Server::start();
    let created = s.http.post(s.api("/datasets?name=small")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(created.status(), 201);
    assert_eq!(s.post_json("/datasets/small/items", &json!([{"a": 1, "n": {"x": "y"}}, {"a": 2}])).await.status(), 201);
    let file = dir.path().join("out.csv");
    let out = s.cli().args(["dataset", "export", "small", "--format", "csv", "--param", "bom=0", "-o"]).arg(&file).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "a,n/x\n1,y\n2,\n");
    let out = s.cli().args(["dataset", "export", "nope", "--format", "csv"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("was not found"), "{}", String::from_utf8_lossy(&out.stderr));
}
