//! Charging benchmark against a real `wactor serve` on 127.0.0.1, durable
//! acknowledgement on (the default):
//!
//! - charges/s through WIT: one probe run charging one event per host call
//!   (each charge is a sled batch; the guest's writes are committed in
//!   groups, before anything it does is seen outside and before its end);
//! - charges/s through `POST /v2/actor-runs/{id}/charge`, 32 concurrent
//!   clients, each charge with its own idempotency key and committed before
//!   its 201; and one client's p50;
//! - the run-latency cost of a priced run: the probe as a free Actor and as
//!   a pay-per-event one (its start charged), sequential runs alternating.
//!
//! `cargo bench --bench charging` (`-- --charges N --runs N` to change the counts).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{ms, percentile, Server, TOKEN};
use serde_json::{json, Value};

async fn create_probe_actor(http: &reqwest::Client, url: &str, name: &str, pricing: Option<Value>) {
    let mut actor = json!({"name": name, "versions": [{"versionNumber": "0.1",
        "actorDefinition": {"actorSpecification": 1, "name": name, "version": "0.1"}}]});
    if let Some(p) = pricing {
        actor["pricingInfos"] = json!([p]);
    }
    let resp = http.post(format!("{url}/v2/acts")).bearer_auth(TOKEN).json(&actor).send().await.unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    let wasm = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/target/wasm32-wasip2/release/probe.wasm")).unwrap();
    let resp = http
        .post(format!("{url}/v2/acts/{name}/builds?version=0.1"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/wasm")
        .body(wasm)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
}

async fn run(http: &reqwest::Client, url: &str, actor: &str, query: &str, input: &Value) -> (Value, Duration) {
    let t = Instant::now();
    let resp =
        http.post(format!("{url}/v2/acts/{actor}/runs?waitForFinish=60&{query}")).bearer_auth(TOKEN).json(input).send().await.unwrap();
    let run: Value = resp.json().await.unwrap();
    let elapsed = t.elapsed();
    assert_eq!(run["data"]["status"], "SUCCEEDED", "{run}");
    (run["data"].clone(), elapsed)
}

#[tokio::main]
async fn main() {
    if !common::asked_to_run() {
        return;
    }
    let charges: u64 = common::arg("--charges").unwrap_or(200_000);
    let runs: usize = common::arg("--runs").unwrap_or(1000);
    common::build_guests(&["probe"]);
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&[], dir.path());
    let url = server.url.clone();
    let http = reqwest::Client::builder().pool_max_idle_per_host(64).build().unwrap();
    let both_free = std::env::var("BENCH_BOTH_FREE").is_ok();
    let pricing = json!({"pricingModel": "PAY_PER_EVENT", "pricingPerEvent": {"actorChargeEvents": {
        "page": {"eventTitle": "Page", "eventPriceUsd": 0.000001},
        "apify-actor-start": {"eventTitle": "Start", "eventPriceUsd": 0.00005},
    }}});
    create_probe_actor(&http, &url, "free-probe", None).await;
    create_probe_actor(&http, &url, "priced-probe", (!both_free).then_some(pricing)).await;

    // Experiment: `BENCH_BOTH_FREE=1` prices neither Actor (what alternating two Actors costs alone).
    let mut rows = Vec::new();
    if !both_free {
        rows = charge_rates(&http, &url, charges, runs).await;
    }

    // A priced run against a free one: the same guest, alternating.
    let ok = json!({"mode": "ok"});
    for _ in 0..50 {
        run(&http, &url, "free-probe", "", &ok).await;
        run(&http, &url, "priced-probe", "maxTotalChargeUsd=1", &ok).await;
    }
    let (mut free, mut priced) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
    for _ in 0..runs {
        free.push(run(&http, &url, "free-probe", "", &ok).await.1);
        let (r, d) = run(&http, &url, "priced-probe", "maxTotalChargeUsd=1", &ok).await;
        assert!(both_free || r["chargedEventCounts"]["apify-actor-start"] == 1);
        priced.push(d);
    }
    free.sort();
    priced.sort();
    let (f50, p50) = (percentile(&free, 0.5), percentile(&priced, 0.5));
    drop(server);

    println!("| measurement | value |");
    println!("|---|---|");
    for row in rows {
        println!("{row}");
    }
    println!("| run latency p50, free / priced ({runs} runs each, alternating) | {} / {} |", ms(f50), ms(p50));
    println!("| run latency p99, free / priced | {} / {} |", ms(percentile(&free, 0.99)), ms(percentile(&priced, 0.99)));
    println!("| priced run's extra latency at p50 | {:+.1} % |", (p50.as_secs_f64() / f50.as_secs_f64() - 1.0) * 100.0);
}

/// Charges/s through WIT and through the API, as table rows.
async fn charge_rates(http: &reqwest::Client, url: &str, charges: u64, runs: usize) -> Vec<String> {
    // Through WIT: one run, one charge per host call.
    let (wit_run, _) =
        run(http, url, "priced-probe", "maxTotalChargeUsd=1000", &json!({"mode": "charge-loop", "items": charges, "event": "page"})).await;
    assert_eq!(wit_run["chargedEventCounts"]["page"], charges, "{wit_run}");
    let wit_rate = charges as f64 / wit_run["stats"]["runTimeSecs"].as_f64().unwrap();

    // Through the API: a sleeping priced run charged by 32 clients.
    let resp: Value = http
        .post(format!("{url}/v2/acts/priced-probe/runs?maxTotalChargeUsd=1000"))
        .bearer_auth(TOKEN)
        .json(&json!({"mode": "sleep"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let run_id = resp["data"]["id"].as_str().unwrap().to_owned();
    let charge_url = Arc::new(format!("{url}/v2/actor-runs/{run_id}/charge"));
    let one = |http: reqwest::Client, url: Arc<String>, key: String| async move {
        let t = Instant::now();
        let resp = http
            .post(url.as_str())
            .bearer_auth(TOKEN)
            .header("idempotency-key", key)
            .json(&json!({"eventName": "page"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
        t.elapsed()
    };
    for i in 0..50 {
        one(http.clone(), charge_url.clone(), format!("warm-{i}")).await;
    }
    let api_charges = (charges / 10).max(320);
    let clients = 32u64;
    let t = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (http, charge_url) = (http.clone(), charge_url.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..api_charges / clients {
                one(http.clone(), charge_url.clone(), format!("c{c}-{i}")).await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let api_rate = (api_charges / clients * clients) as f64 / t.elapsed().as_secs_f64();
    let mut seq = Vec::new();
    for i in 0..runs.min(1000) {
        seq.push(one(http.clone(), charge_url.clone(), format!("seq-{i}")).await);
    }
    seq.sort();
    let counted: Value = http.get(format!("{url}/v2/actor-runs/{run_id}")).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    let expected = 50 + api_charges / clients * clients + seq.len() as u64;
    assert_eq!(counted["data"]["chargedEventCounts"]["page"], expected);
    http.post(format!("{url}/v2/actor-runs/{run_id}/abort")).bearer_auth(TOKEN).send().await.unwrap();
    let clients_total = api_charges / clients * clients;
    vec![
        format!("| charges/s through WIT, one run, {charges} charges of 1 | {wit_rate:.0} |"),
        format!(
            "| charges/s through the API, {clients} clients, {clients_total} charges, each with its own idempotency key | {api_rate:.0} |"
        ),
        format!("| one API charge, sequential, p50 / p99 | {} / {} |", ms(percentile(&seq, 0.5)), ms(percentile(&seq, 0.99))),
    ]
}
