//! Crash durability: every write the server acknowledged is on disk when it
//! is killed (`kill -9`) right after the acknowledgement.
//!
//! Each trial starts a server, writes through every door as fast as it can —
//! API dataset pushes, key-value puts and request-queue adds, and a guest's
//! dataset pushes through the WIT host call (the guest reports each
//! acknowledged push to a listener of this test, over loopback, so the
//! acknowledgement is known outside the server) — kills the server right
//! after an acknowledgement, restarts it on the same data directory and
//! checks that every acknowledged write is there.
//!
//! The test guards group commit: with it disabled the server acknowledges
//! before the disk has the write, and this test fails. See for yourself:
//!
//! ```sh
//! WACTOR_TEST_DURABILITY=periodic cargo test --test durability
//! ```

mod common;

use std::io::{Read, Write};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use common::{Server, TOKEN};
use serde_json::{json, Value};

/// Trials per run of the test; each kills the server once.
const TRIALS: usize = 4;

/// A listener the guest reports its acknowledged pushes to (`GET /<n>`): the highest `n` seen.
fn ack_listener() -> (u16, Arc<AtomicI64>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let highest = Arc::new(AtomicI64::new(-1));
    let seen = highest.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut buf = [0u8; 1024];
            let n = conn.read(&mut buf).unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]);
            if let Some(k) = head.strip_prefix("GET /").and_then(|r| r.split(' ').next()).and_then(|k| k.parse::<i64>().ok()) {
                seen.fetch_max(k, Ordering::SeqCst);
            }
            let _ = conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (port, highest)
}

#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_writes_survive_kill_9() {
    let durability = std::env::var("WACTOR_TEST_DURABILITY").unwrap_or_else(|_| "acknowledged".into());
    let dir = tempfile::tempdir().unwrap();
    let flags = ["--durability", durability.as_str(), "--allow-private-outbound"];
    let mut s = Server::start_with(dir.path(), true, &flags);
    let id_of = |v: &Value| v["data"]["id"].as_str().unwrap().to_owned();
    let dataset = id_of(&s.post_json("/datasets?name=acked", &json!({})).await.json().await.unwrap());
    let store = id_of(&s.post_json("/key-value-stores?name=acked", &json!({})).await.json().await.unwrap());
    let queue = id_of(&s.post_json("/request-queues?name=acked", &json!({})).await.json().await.unwrap());
    let (port, guest_acked) = ack_listener();

    let (mut pushed, mut puts, mut adds) = (0u64, 0u64, 0u64);
    for trial in 0..TRIALS {
        // The guest pushes one item per host call and reports each one acknowledged.
        let run = s
            .post_json(
                "/acts/probe/runs?timeout=120",
                &json!({"mode": "push-report", "items": 1_000_000, "urls": [format!("http://127.0.0.1:{port}/")]}),
            )
            .await;
        assert_eq!(run.status(), 201);
        let run_dataset = run.json::<Value>().await.unwrap()["data"]["defaultDatasetId"].as_str().unwrap().to_owned();
        guest_acked.store(-1, Ordering::SeqCst);
        // Write through the API until the guest has a few pushes acknowledged too, then kill at once.
        let mut round = 0u64;
        loop {
            let items: Vec<Value> = (0..10).map(|i| json!({"n": pushed + i})).collect();
            let resp = s.post_json(&format!("/datasets/{dataset}/items"), &json!(items)).await;
            assert_eq!(resp.status(), 201);
            pushed += 10;
            let resp = s
                .http
                .put(s.api(&format!("/key-value-stores/{store}/records/k{puts}")))
                .bearer_auth(TOKEN)
                .json(&json!({"n": puts}))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 201);
            puts += 1;
            let resp =
                s.post_json(&format!("/request-queues/{queue}/requests"), &json!({"url": format!("https://acked.test/{adds}")})).await;
            assert_eq!(resp.status(), 201);
            adds += 1;
            round += 1;
            if round >= 20 && guest_acked.load(Ordering::SeqCst) >= 20 {
                break;
            }
            assert!(round < 20_000, "the guest acknowledged no push");
        }
        let guest_items = guest_acked.load(Ordering::SeqCst) + 1;
        s.crash();
        s = Server::start_with(dir.path(), false, &flags);

        let count = s.get_json(&format!("/datasets/{dataset}")).await["data"]["itemCount"].as_u64().unwrap();
        assert!(count >= pushed, "trial {trial}: {pushed} items acknowledged over the API, {count} on disk");
        // What a crash left half done stays invisible: the count and the items agree.
        let last: Value = s.get(&format!("/datasets/{dataset}/items?offset={}&limit=1", count - 1)).await.json().await.unwrap();
        assert_eq!(last[0]["n"], count - 1, "trial {trial}");
        pushed = count;
        let record = s.get(&format!("/key-value-stores/{store}/records/k{}", puts - 1)).await;
        assert_eq!(record.status(), 200, "trial {trial}: the last acknowledged record (k{}) is lost", puts - 1);
        let q = s.get_json(&format!("/request-queues/{queue}")).await;
        let total = q["data"]["totalRequestCount"].as_u64().unwrap();
        assert!(total >= adds, "trial {trial}: {adds} requests acknowledged, {total} on disk");
        adds = total;
        let on_disk = s.get_json(&format!("/datasets/{run_dataset}")).await["data"]["itemCount"].as_i64().unwrap();
        assert!(on_disk >= guest_items, "trial {trial}: the guest had {guest_items} pushes acknowledged, {on_disk} on disk");
        // The interrupted guest run resumes; stop it before the next trial.
        let runs = s.get_json("/acts/probe/runs?status=READY,RUNNING").await;
        for r in runs["data"]["items"].as_array().unwrap() {
            let _ = s.http.post(s.api(&format!("/actor-runs/{}/abort", r["id"].as_str().unwrap()))).bearer_auth(TOKEN).send().await;
        }
    }
}
