//! Actors calling Actors and webhooks, against a real `wactor serve` on
//! 127.0.0.1 (durable acknowledgement on, the default):
//!
//! - call latency: a component parent calls a component child through WIT
//!   (`actors.call`), sequentially; parent start → child SUCCEEDED →
//!   parent SUCCEEDED, as the client sees it (`waitForFinish`);
//! - memory of N component runs each waiting in `call` on a sleeping child
//!   (2N live runs; the server's RSS before and with them);
//! - webhook dispatch throughput to a receiver on 127.0.0.1: N `TEST`
//!   dispatches written, from the first write to the last delivery.
//!
//! `cargo bench --bench actors` (`-- --calls N --waiting N --dispatches N`).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{ms, percentile, rss_kib, Server, TOKEN};
use serde_json::{json, Value};

async fn post(http: &reqwest::Client, url: &str, body: &Value) -> Value {
    let resp = http.post(url).bearer_auth(TOKEN).json(body).send().await.unwrap();
    assert!(resp.status().is_success(), "{url}: {}", resp.status());
    resp.json().await.unwrap()
}

#[tokio::main]
async fn main() {
    if !common::asked_to_run() {
        return;
    }
    let calls: usize = common::arg("--calls").unwrap_or(1000);
    let waiting: usize = common::arg("--waiting").unwrap_or(1000);
    let dispatches: usize = common::arg("--dispatches").unwrap_or(5000);
    common::build_guests(&["probe"]);
    let dir = tempfile::tempdir().unwrap();
    // Parents take run slots and children instances: room for both.
    let slots = (2 * waiting + 16).to_string();
    let server =
        Server::start(&["--preload", "tests/guests/probe", "--max-concurrent-runs", &slots, "--allow-private-webhook-urls"], dir.path());
    let url = server.url.clone();
    let http = reqwest::Client::builder().pool_max_idle_per_host(64).build().unwrap();

    // Call latency.
    let call = json!({"mode": "call", "actor": "probe", "child_input": {"mode": "ok"}});
    let start_url = format!("{url}/v2/acts/probe/runs?waitForFinish=60");
    for _ in 0..50 {
        post(&http, &start_url, &call).await;
    }
    let mut lat = Vec::with_capacity(calls);
    for _ in 0..calls {
        let t = Instant::now();
        let run = post(&http, &start_url, &call).await;
        lat.push(t.elapsed());
        assert_eq!(run["data"]["status"], "SUCCEEDED", "{run}");
    }
    lat.sort();

    // N parents, each waiting in `call` on a child that sleeps.
    let before = rss_kib(server.pid());
    let sleeper = json!({"mode": "call", "actor": "probe", "child_input": {"mode": "sleep"}});
    let runs_url = format!("{url}/v2/acts/probe/runs");
    let t = Instant::now();
    let mut parents = Vec::with_capacity(waiting);
    for chunk in (0..waiting).collect::<Vec<_>>().chunks(32) {
        let batch = chunk.iter().map(|_| post(&http, &runs_url, &sleeper));
        for run in futures::future::join_all(batch).await {
            parents.push(run["data"]["id"].as_str().unwrap().to_owned());
        }
    }
    // Every parent and every child running.
    loop {
        let listed = http.get(format!("{url}/v2/actor-runs?status=RUNNING&limit=1")).bearer_auth(TOKEN).send().await.unwrap();
        let total = listed.json::<Value>().await.unwrap()["data"]["total"].as_u64().unwrap_or(0) as usize;
        if total >= 2 * waiting {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(120), "only {total} of {} runs running", 2 * waiting);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let ready = t.elapsed();
    let with = rss_kib(server.pid());
    // The API stays quick meanwhile.
    let mut api = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        http.get(format!("{url}/v2/actors")).bearer_auth(TOKEN).send().await.unwrap();
        api.push(t.elapsed());
    }
    api.sort();
    for id in &parents {
        http.post(format!("{url}/v2/actor-runs/{id}/abort")).bearer_auth(TOKEN).send().await.unwrap();
    }

    // Webhook dispatch throughput.
    let got = Arc::new(AtomicUsize::new(0));
    let g = got.clone();
    let app = axum::Router::new().fallback(move || {
        let g = g.clone();
        async move {
            g.fetch_add(1, Ordering::Relaxed);
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let receiver = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let hook = post(
        &http,
        &format!("{url}/v2/webhooks"),
        &json!({"eventTypes": ["ACTOR.RUN.SUCCEEDED"],
        "condition": {"actorId": "probe"}, "requestUrl": receiver, "doNotRetry": true}),
    )
    .await;
    let test_url = Arc::new(format!("{url}/v2/webhooks/{}/test", hook["data"]["id"].as_str().unwrap()));
    let t = Instant::now();
    let per_client = dispatches.div_ceil(32);
    let clients = (0..32).map(|_| {
        let (http, test_url) = (http.clone(), test_url.clone());
        tokio::spawn(async move {
            for _ in 0..per_client {
                let resp = http.post(test_url.as_str()).bearer_auth(TOKEN).send().await.unwrap();
                assert_eq!(resp.status(), 201);
            }
        })
    });
    futures::future::join_all(clients).await;
    let written = t.elapsed();
    let total = per_client * 32;
    while got.load(Ordering::Relaxed) < total {
        assert!(t.elapsed() < Duration::from_secs(300), "{} of {total} delivered", got.load(Ordering::Relaxed));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let delivered = t.elapsed();
    drop(server);

    println!("| measurement | value |");
    println!("|---|---|");
    println!(
        "| call latency p50 / p99, parent start → child SUCCEEDED → parent SUCCEEDED ({calls} sequential) | {} / {} |",
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99))
    );
    println!("| {waiting} runs waiting in `call` on {waiting} sleeping children: all running after | {:.2} s |", ready.as_secs_f64());
    println!(
        "| server RSS before / with them | {} / {} MiB (+{} KiB per waiting pair) |",
        before / 1024,
        with / 1024,
        (with.saturating_sub(before)) / waiting as u64
    );
    println!("| `GET /v2/actors` p50 / p99 meanwhile | {} / {} |", ms(percentile(&api, 0.5)), ms(percentile(&api, 0.99)));
    println!("| webhook dispatches: {total} written (32 clients) in | {:.2} s |", written.as_secs_f64());
    println!("| webhook deliveries/s, first write → last delivery | {:.0} |", total as f64 / delivered.as_secs_f64());
}
