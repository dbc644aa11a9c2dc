//! Durability check against a real `wactor serve` on 127.0.0.1.
//!
//! 1. Crash trials: a client pushes dataset items (batches of 100, each item
//!    numbered) as fast as it can and counts the acknowledged ones; the
//!    server is SIGKILLed at a random moment, restarted on the same data dir,
//!    and every acknowledged item must be there. 20 trials by default.
//! 2. Push throughput with `--durability acknowledged` (group commit) next
//!    to `--durability periodic` (sled's background flush).
//! 3. Time from a restart to every migrated run running again.
//!
//! `cargo bench --bench durability [-- --trials N]`

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::{json, Value};

const TOKEN: &str = "bench-token";

struct Server {
    child: Child,
    url: String,
    /// The server's stdout lines after the listening line.
    lines: std::sync::mpsc::Receiver<String>,
}

fn start(dir: &Path, durability: &str, preload: bool) -> (Server, Duration) {
    let t = Instant::now();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wactor"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--token",
            TOKEN,
            "--durability",
            durability,
            "--shutdown-grace-secs",
            "1",
            "--data-dir",
        ])
        .arg(dir)
        .env("RUST_LOG", "wactor=error")
        .stdout(Stdio::piped());
    if preload {
        cmd.args(["--preload", "examples/long-job"]);
    }
    let mut child = cmd.spawn().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut before = Vec::new();
    let url = loop {
        let line = rx.recv_timeout(Duration::from_secs(300)).expect("server did not start");
        if let Some(u) = line.strip_prefix("wactor listening on ") {
            break u.trim().to_owned();
        }
        before.push(line);
    };
    let took = t.elapsed();
    let (tx2, rx2) = std::sync::mpsc::channel();
    for l in before {
        let _ = tx2.send(l);
    }
    std::thread::spawn(move || {
        for l in rx {
            let _ = tx2.send(l);
        }
    });
    (Server { child, url, lines: rx2 }, took)
}

async fn push_until_killed(http: &reqwest::Client, url: &str, dataset: &str, acked: Arc<AtomicU64>) {
    let mut next = 0u64;
    loop {
        let batch: Vec<Value> = (next..next + 100).map(|n| json!({"n": n})).collect();
        let resp = http.post(format!("{url}/v2/datasets/{dataset}/items")).bearer_auth(TOKEN).json(&batch).send().await;
        match resp {
            Ok(r) if r.status().as_u16() == 201 => {
                next += 100;
                acked.store(next, Ordering::SeqCst);
            }
            _ => return,
        }
    }
}

async fn throughput(durability: &str, batch: u64, secs: u64) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, _) = start(dir.path(), durability, false);
    let http = reqwest::Client::new();
    let ds: Value =
        http.post(format!("{}/v2/datasets", s.url)).bearer_auth(TOKEN).json(&json!({})).send().await.unwrap().json().await.unwrap();
    let id = ds["data"]["id"].as_str().unwrap().to_owned();
    let body = serde_json::to_vec(&(0..batch).map(|n| json!({"n": n, "text": "lorem ipsum"})).collect::<Vec<_>>()).unwrap();
    let t = Instant::now();
    let mut items = 0;
    while t.elapsed() < Duration::from_secs(secs) {
        let r = http
            .post(format!("{}/v2/datasets/{id}/items", s.url))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
        items += batch;
    }
    let rate = items as f64 / t.elapsed().as_secs_f64();
    let _ = s.child.kill();
    let _ = s.child.wait();
    rate
}

#[tokio::main]
async fn main() {
    // `cargo test --all-targets` builds and runs this without `--bench`: compiling is the check.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let args: Vec<String> = std::env::args().collect();
    let trials: usize = args.iter().position(|a| a == "--trials").and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(20);
    let status = Command::new(env!("CARGO"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "--release", "--target", "wasm32-wasip2", "-p", "long-job"])
        .status()
        .unwrap();
    assert!(status.success());
    let http = reqwest::Client::new();

    // 1. Crash trials.
    let mut total_acked = 0;
    let mut total_missing = 0;
    for trial in 0..trials {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _) = start(dir.path(), "acknowledged", false);
        let ds: Value = http
            .post(format!("{}/v2/datasets?name=trial", s.url))
            .bearer_auth(TOKEN)
            .json(&json!({}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = ds["data"]["id"].as_str().unwrap().to_owned();
        let acked = Arc::new(AtomicU64::new(0));
        let pusher = tokio::spawn({
            let (http, url, id, acked) = (http.clone(), s.url.clone(), id.clone(), acked.clone());
            async move { push_until_killed(&http, &url, &id, acked).await }
        });
        let wait = rand::thread_rng().gen_range(200..1500);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        let _ = s.child.kill(); // SIGKILL
        let _ = s.child.wait();
        let _ = pusher.await;
        let acked = acked.load(Ordering::SeqCst);

        let (mut s, _) = start(dir.path(), "acknowledged", false);
        let items: Vec<Value> =
            http.get(format!("{}/v2/datasets/{id}/items?fields=n", s.url)).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
        // Acknowledged items form a prefix 0..acked; count how many of them are missing.
        let present = items
            .iter()
            .take_while(|it| it["n"].as_u64().is_some())
            .enumerate()
            .take_while(|(i, it)| it["n"].as_u64() == Some(*i as u64))
            .count() as u64;
        let missing = acked.saturating_sub(present);
        println!(
            "trial {:>2}: killed after {wait:>4} ms, acknowledged {acked:>6}, stored {:>6}, missing {missing}",
            trial + 1,
            items.len()
        );
        total_acked += acked;
        total_missing += missing;
        let _ = s.child.kill();
        let _ = s.child.wait();
    }

    // 2. Throughput, each mode for 5 s, one client.
    let ack_100 = throughput("acknowledged", 100, 5).await;
    let per_100 = throughput("periodic", 100, 5).await;
    let ack_1 = throughput("acknowledged", 1, 5).await;
    let per_1 = throughput("periodic", 1, 5).await;

    // 3. Restart to running again: 20 long runs, SIGTERM, restart.
    let dir = tempfile::tempdir().unwrap();
    let (mut s, _) = start(dir.path(), "acknowledged", true);
    let mut ids = Vec::new();
    for _ in 0..20 {
        let r: Value = http
            .post(format!("{}/v2/actors/long-job/runs", s.url))
            .bearer_auth(TOKEN)
            .json(&json!({"steps": 1000, "stepMillis": 50}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(r["data"]["id"].as_str().unwrap().to_owned());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = Command::new("kill").args(["-15", &s.child.id().to_string()]).status();
    let _ = s.child.wait();
    let (mut s, took) = start(dir.path(), "acknowledged", false);
    let resumed_line = s.lines.try_iter().find(|l| l.starts_with("Resumed"));
    for id in &ids {
        let r: Value = http.get(format!("{}/v2/actor-runs/{id}", s.url)).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
        assert_eq!(r["data"]["status"], "RUNNING");
    }
    let _ = s.child.kill();
    let _ = s.child.wait();

    println!();
    println!("| measurement | value |");
    println!("|---|---|");
    println!("| crash trials (SIGKILL during pushes) | {trials} |");
    println!("| acknowledged items, all trials | {total_acked} |");
    println!("| acknowledged items missing after restart | {total_missing} |");
    println!("| push, batches of 100, `--durability acknowledged` | {ack_100:.0} items/s |");
    println!("| push, batches of 100, `--durability periodic` | {per_100:.0} items/s |");
    println!("| push, single items, `--durability acknowledged` | {ack_1:.0} items/s |");
    println!("| push, single items, `--durability periodic` | {per_1:.0} items/s |");
    println!(
        "| restart until all 20 migrated runs RUNNING again (process start to listening; {}) | {:.0} ms |",
        resumed_line.unwrap_or_default(),
        took.as_secs_f64() * 1000.0
    );
    assert_eq!(total_missing, 0, "acknowledged items were lost");
}
