//! Pay-per-event charging end to end: a priced component Actor charging
//! through WIT, the HTTP charge endpoint with idempotency keys, pay per
//! result, clear refusals, and charges that survive `kill -9`.

mod common;

use std::time::Duration;

use common::{assert_error, Server, TOKEN};
use serde_json::{json, Value};

fn ppe_pricing() -> Value {
    json!({
        "pricingModel": "PAY_PER_EVENT",
        "pricingPerEvent": {"actorChargeEvents": {
            "page": {"eventTitle": "Page scraped", "eventDescription": "One page", "eventPriceUsd": 0.1},
            "apify-actor-start": {"eventTitle": "Start", "eventPriceUsd": 0.01},
            "apify-default-dataset-item": {"eventTitle": "Result", "eventPriceUsd": 0.001},
        }},
    })
}

/// Creates an Actor from the probe component with these `pricingInfos`.
async fn priced_probe(s: &Server, name: &str, pricing: Value) {
    let definition = json!({"actorSpecification": 1, "name": name, "version": "0.1"});
    let body = json!({"name": name, "versions": [{"versionNumber": "0.1", "actorDefinition": definition}], "pricingInfos": [pricing]});
    s.create_probe_actor(&body).await;
}

async fn output(s: &Server, run: &Value) -> Value {
    let kv = run["defaultKeyValueStoreId"].as_str().unwrap();
    s.get_json(&format!("/key-value-stores/{kv}/records/OUTPUT")).await
}

async fn charge(s: &Server, run_id: &str, body: Value, key: Option<&str>) -> reqwest::Response {
    let mut req = s.http.post(s.api(&format!("/actor-runs/{run_id}/charge"))).bearer_auth(TOKEN).json(&body);
    if let Some(key) = key {
        req = req.header("idempotency-key", key);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn a_component_charges_through_wit_within_its_allowance() {
    let (s, _dir) = Server::start();
    priced_probe(&s, "priced", ppe_pricing()).await;
    let charges = json!([["page", 3], ["page", 5], ["page", 1], ["nope", 1], ["apify-actor-start", 1]]);
    let run = s.run("priced", "maxTotalChargeUsd=0.5", &json!({"mode": "charge", "charges": charges})).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run:#}");
    let out = output(&s, &run).await;
    let results = out["results"].as_array().unwrap();
    // $0.50: the start ($0.01), three pages, then one of five fits, then none.
    assert_eq!(
        results[0],
        json!({"charged": 3, "limitReached": false, "chargeable": {"apify-actor-start": 19, "apify-default-dataset-item": 190, "page": 1}})
    );
    assert_eq!((results[1]["charged"].as_u64(), results[1]["limitReached"].as_bool()), (Some(1), Some(true)));
    assert_eq!(results[2]["kind"], "LimitExceeded", "{}", results[2]);
    assert_eq!(results[3]["kind"], "InvalidInput", "{}", results[3]);
    assert!(results[3]["error"].as_str().unwrap().contains("no event \"nope\""), "{}", results[3]);
    assert_eq!(results[4]["kind"], "InvalidInput", "a platform event cannot be charged by the Actor: {}", results[4]);
    assert_eq!(out["model"], "PricingModel::PayPerEvent");
    assert_eq!(out["env"], "0.5");
    // What the Actor was told is what the run object says.
    assert_eq!(run["chargedEventCounts"], json!({"apify-actor-start": 1, "page": 4}));
    assert_eq!(out["counts"], run["chargedEventCounts"]);
    assert_eq!(run["options"]["maxTotalChargeUsd"], 0.5);
    assert_eq!(run["pricingInfo"]["pricingModel"], "PAY_PER_EVENT");
    assert_eq!(run["pricingInfo"]["pricingPerEvent"]["actorChargeEvents"]["page"]["eventPriceUsd"], 0.1);
    assert!(run["pricingInfo"]["startedAt"].is_string() && run["pricingInfo"]["createdAt"].is_string());
    assert!((run["totalChargeUsd"].as_f64().unwrap() - 0.41).abs() < 1e-9, "{run:#}");
    let compute = run["usageUsd"]["ACTOR_COMPUTE_UNITS"].as_f64().unwrap();
    assert!((run["usageTotalUsd"].as_f64().unwrap() - (0.41 + compute)).abs() < 1e-9, "{run:#}");
    assert!(run["usage"]["ACTOR_COMPUTE_UNITS"].as_f64().unwrap() > 0.0);
    // The Actor's stats and the month's usage add it up.
    let actor = s.get_json("/acts/priced").await["data"].clone();
    assert!((actor["stats"]["totalUsageUsd"].as_f64().unwrap() - run["usageTotalUsd"].as_f64().unwrap()).abs() < 1e-6, "{actor:#}");
    let usage = s.get_json("/users/me/usage/monthly").await["data"].clone();
    assert_eq!(usage["monthlyServiceUsage"]["PAY_PER_EVENT"]["quantity"], 5.0, "{usage:#}");
    assert!(usage["monthlyServiceUsage"]["ACTOR_COMPUTE_UNITS"]["quantity"].as_f64().unwrap() > 0.0);
    assert!(usage["totalUsageCreditsUsdAfterVolumeDiscount"].as_f64().unwrap() >= 0.41);
    assert_eq!(usage["dailyServiceUsages"].as_array().unwrap().len(), 1);
    assert_error(s.get("/users/me/usage/monthly?date=yesterday").await, 400, "invalid-parameter").await;

    // Started with no allowance, a priced Actor charges nothing, its start included.
    let run = s.run("priced", "", &json!({"mode": "charge", "charges": [["page", 1]]})).await;
    let out = output(&s, &run).await;
    assert_eq!(run["options"]["maxTotalChargeUsd"], 0.0);
    assert_eq!(out["results"][0]["kind"], "LimitExceeded", "{out:#}");
    assert_eq!(run["chargedEventCounts"], json!({}));

    // Through WIT too, an idempotency key charges once.
    let input = json!({"mode": "charge", "charges": [["page", 2], ["page", 2]], "key": "retry-me"});
    let run = s.run("priced", "maxTotalChargeUsd=1", &input).await;
    let out = output(&s, &run).await;
    assert_eq!(out["results"][0], out["results"][1]);
    assert_eq!(run["chargedEventCounts"], json!({"apify-actor-start": 1, "page": 2}));

    // The SDK's push: only what the allowance pays for goes in, each item charged twice over (page + item).
    let run = s.run("priced", "maxTotalChargeUsd=0.35", &json!({"mode": "charge-push", "items": 10, "event": "page"})).await;
    let out = output(&s, &run).await;
    // $0.35 - $0.01 start = $0.34 at $0.101 per item: 3 items.
    assert_eq!(out, json!({"charged": 3, "limitReached": true}));
    assert_eq!(run["chargedEventCounts"], json!({"apify-actor-start": 1, "apify-default-dataset-item": 3, "page": 3}));
    let ds = run["defaultDatasetId"].as_str().unwrap();
    assert_eq!(s.get_json(&format!("/datasets/{ds}")).await["data"]["itemCount"], 3);
}

#[tokio::test]
async fn the_charge_endpoint_is_idempotent_and_refuses_bad_charges() {
    let (s, _dir) = Server::start();
    priced_probe(&s, "priced", ppe_pricing()).await;
    let run_id = s.start_run("priced", "maxTotalChargeUsd=1", &json!({"mode": "sleep"})).await;
    s.wait_status(&run_id, "RUNNING").await;
    let resp = charge(&s, &run_id, json!({"eventName": "page", "count": 2}), Some("key-1")).await;
    assert_eq!(resp.status(), 201);
    let first: Value = resp.json().await.unwrap();
    assert_eq!(first["data"]["chargedCount"], 2);
    // The same key again: the same answer, nothing more charged.
    let again: Value = charge(&s, &run_id, json!({"eventName": "page", "count": 2}), Some("key-1")).await.json().await.unwrap();
    assert_eq!(again, first);
    assert_error(charge(&s, &run_id, json!({"eventName": "page", "count": 3}), Some("key-1")).await, 409, "conflict").await;
    // No key: each call charges (count defaults to 1).
    assert_eq!(charge(&s, &run_id, json!({"eventName": "page"}), None).await.status(), 201);
    for (body, kind) in [
        (json!({"eventName": "page", "count": 0}), "invalid-value"),
        (json!({"eventName": "page", "count": -1}), "invalid-value"),
        (json!({"eventName": "page", "count": 1.5}), "invalid-value"),
        (json!({"eventName": "page", "count": 1_000_000_000_000u64}), "invalid-value"),
        (json!({"eventName": "page", "count": "2"}), "invalid-value"),
        (json!({"count": 1}), "invalid-value"),
        (json!({"eventName": "apify-actor-start"}), "cannot-charge-apify-event"),
        (json!({"eventName": "apify-default-dataset-item"}), "cannot-charge-apify-event"),
        (json!({"eventName": "unheard-of"}), "unknown-charge-event"),
    ] {
        let message = assert_error(charge(&s, &run_id, body.clone(), None).await, 400, kind).await;
        assert!(!message.is_empty(), "{body}");
    }
    // Past the allowance: what fits is charged, then nothing more is.
    let clamped: Value = charge(&s, &run_id, json!({"eventName": "page", "count": 100}), None).await.json().await.unwrap();
    assert_eq!((&clamped["data"]["chargedCount"], &clamped["data"]["eventChargeLimitReached"]), (&json!(6), &json!(true)));
    let message = assert_error(charge(&s, &run_id, json!({"eventName": "page"}), None).await, 400, "max-total-charge-reached").await;
    assert!(message.contains("maxTotalChargeUsd of $1"), "{message}");
    let run = s.get_json(&format!("/actor-runs/{run_id}")).await["data"].clone();
    // 1 start + 9 pages: the refused ones charged nothing.
    assert_eq!(run["chargedEventCounts"], json!({"apify-actor-start": 1, "page": 9}));
    assert_error(charge(&s, "noSuchRun", json!({"eventName": "page"}), None).await, 404, "record-not-found").await;

    // A finished run cannot be charged.
    s.http.post(s.api(&format!("/actor-runs/{run_id}/abort"))).bearer_auth(TOKEN).send().await.unwrap();
    s.wait_status(&run_id, "ABORTED").await;
    assert_error(charge(&s, &run_id, json!({"eventName": "page"}), None).await, 400, "invalid-run-status").await;
    // Resurrected with a new allowance, the run is charged its start again.
    let resp = s.http.post(s.api(&format!("/actor-runs/{run_id}/resurrect?maxTotalChargeUsd=2"))).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let run = s.wait_status(&run_id, "RUNNING").await;
    assert_eq!(run["options"]["maxTotalChargeUsd"], 2.0);
    assert_eq!(run["chargedEventCounts"]["apify-actor-start"], 2);
    assert_eq!(charge(&s, &run_id, json!({"eventName": "page", "count": 10}), None).await.status(), 201);
    s.http.post(s.api(&format!("/actor-runs/{run_id}/abort"))).bearer_auth(TOKEN).send().await.unwrap();

    // A free Actor's run cannot charge.
    let free_id = s.start_run("probe", "", &json!({"mode": "sleep"})).await;
    s.wait_status(&free_id, "RUNNING").await;
    assert_error(charge(&s, &free_id, json!({"eventName": "page"}), None).await, 400, "cannot-charge-non-pay-per-event-actor").await;
    let free = s.get_json(&format!("/actor-runs/{free_id}")).await["data"].clone();
    assert!(free.get("pricingInfo").is_none() && free.get("chargedEventCounts").is_none(), "{free:#}");
    s.http.post(s.api(&format!("/actor-runs/{free_id}/abort"))).bearer_auth(TOKEN).send().await.unwrap();
}

#[tokio::test]
async fn pricing_is_validated_and_a_running_run_keeps_the_pricing_it_started_with() {
    let (s, _dir) = Server::start();
    let bad = [
        (
            json!({"pricingModel": "PAY_PER_EVENT", "pricingPerEvent": {"actorChargeEvents": {"page": {"eventTitle": "P", "eventPriceUsd": -0.1}}}}),
            "eventPriceUsd",
        ),
        (
            json!({"pricingModel": "PAY_PER_EVENT", "pricingPerEvent": {"actorChargeEvents": {"apify-extra": {"eventTitle": "P", "eventPriceUsd": 1}}}}),
            "reserved prefix",
        ),
        (
            json!({"pricingModel": "PAY_PER_EVENT", "pricingPerEvent": {"actorChargeEvents": {"bad name!": {"eventTitle": "P", "eventPriceUsd": 1}}}}),
            "letters, digits",
        ),
        (json!({"pricingModel": "PRICE_PER_DATASET_ITEM", "pricePerUnitUsd": -1}), "pricePerUnitUsd"),
    ];
    for (pricing, needle) in bad {
        let resp = s.post_json("/acts", &json!({"name": "bad-pricing", "pricingInfos": [pricing]})).await;
        let message = assert_error(resp, 400, "invalid-pricing").await;
        assert!(message.contains(needle), "{message}");
    }
    let resp = s.post_json("/acts", &json!({"name": "bad-pricing", "pricingInfos": [{"pricingModel": "FLAT_RATE"}]})).await;
    assert_eq!(resp.status(), 400);
    assert!(s.get("/acts/bad-pricing").await.status() == 404, "a refused Actor is not created");

    priced_probe(&s, "priced", ppe_pricing()).await;
    let run_id = s.start_run("priced", "maxTotalChargeUsd=5", &json!({"mode": "sleep"})).await;
    s.wait_status(&run_id, "RUNNING").await;
    // The price of a page goes up while the run runs.
    let mut dearer = ppe_pricing();
    dearer["pricingPerEvent"]["actorChargeEvents"]["page"]["eventPriceUsd"] = json!(1.0);
    let resp = s.http.put(s.api("/acts/priced")).bearer_auth(TOKEN).json(&json!({"pricingInfos": [dearer]})).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    assert_eq!(charge(&s, &run_id, json!({"eventName": "page", "count": 10}), None).await.status(), 201);
    let run = s.get_json(&format!("/actor-runs/{run_id}")).await["data"].clone();
    assert_eq!(run["pricingInfo"]["pricingPerEvent"]["actorChargeEvents"]["page"]["eventPriceUsd"], 0.1);
    assert!((run["totalChargeUsd"].as_f64().unwrap() - 1.01).abs() < 1e-9, "charged at the old price: {run:#}");
    s.http.post(s.api(&format!("/actor-runs/{run_id}/abort"))).bearer_auth(TOKEN).send().await.unwrap();
    // The next run pays the new price.
    let next = s.run("priced", "maxTotalChargeUsd=5", &json!({"mode": "charge", "charges": [["page", 2]]})).await;
    assert!((next["totalChargeUsd"].as_f64().unwrap() - 2.01).abs() < 1e-9, "{next:#}");
}

#[tokio::test]
async fn pay_per_result_charges_default_dataset_items_up_to_max_items() {
    let (s, _dir) = Server::start();
    let pricing = json!({"pricingModel": "PRICE_PER_DATASET_ITEM", "unitName": "result", "pricePerUnitUsd": 0.01});
    priced_probe(&s, "per-result", pricing).await;
    let run = s.run("per-result", "maxItems=10", &json!({"mode": "push", "items": 25, "batch": 7})).await;
    // The push that crosses maxItems stores what fits and tells the guest (a typed error it did not catch).
    assert_eq!(run["status"], "FAILED", "{run:#}");
    assert!(run["statusMessage"].as_str().unwrap().contains("maxItems is reached: 3 of these 7 items were stored"), "{run:#}");
    assert_eq!(run["chargedEventCounts"], json!({"apify-default-dataset-item": 10}));
    assert!((run["totalChargeUsd"].as_f64().unwrap() - 0.1).abs() < 1e-9);
    let ds = run["defaultDatasetId"].as_str().unwrap();
    assert_eq!(s.get_json(&format!("/datasets/{ds}")).await["data"]["itemCount"], 10, "items past maxItems are dropped");
    // Pushes over the API to the run's dataset count too; a named dataset's do not.
    let run_id = s.start_run("per-result", "maxItems=100", &json!({"mode": "sleep"})).await;
    let run = s.wait_status(&run_id, "RUNNING").await;
    let ds = run["defaultDatasetId"].as_str().unwrap();
    let resp = s.post_json(&format!("/datasets/{ds}/items"), &json!([{"a": 1}, {"a": 2}, {"a": 3}])).await;
    assert_eq!(resp.status(), 201);
    let resp = s.post_json(&format!("/actor-runs/{run_id}/dataset/items"), &json!({"a": 4})).await;
    assert_eq!(resp.status(), 201);
    let run = s.get_json(&format!("/actor-runs/{run_id}")).await["data"].clone();
    assert_eq!(run["chargedEventCounts"], json!({"apify-default-dataset-item": 4}));
    s.http.post(s.api(&format!("/actor-runs/{run_id}/abort"))).bearer_auth(TOKEN).send().await.unwrap();
}

/// Every acknowledged charge is in the totals after `kill -9`, exactly once:
/// the stream's keys, sent again after the restart, charge nothing more.
#[tokio::test]
async fn acknowledged_charges_survive_kill_9_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in(dir.path(), true);
    priced_probe(&s, "priced", ppe_pricing()).await;
    let run_id = s.start_run("priced", "maxTotalChargeUsd=100000", &json!({"mode": "sleep"})).await;
    s.wait_status(&run_id, "RUNNING").await;
    let acked = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut streams = Vec::new();
    for stream in 0..4 {
        let (http, url, acked, sent) = (s.http.clone(), s.api(&format!("/actor-runs/{run_id}/charge")), acked.clone(), sent.clone());
        streams.push(tokio::spawn(async move {
            for i in 0.. {
                sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let resp = http
                    .post(&url)
                    .bearer_auth(TOKEN)
                    .header("idempotency-key", format!("s{stream}-{i}"))
                    .json(&json!({"eventName": "page", "count": 1}))
                    .send()
                    .await;
                match resp {
                    Ok(r) if r.status() == 201 => acked.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
                    _ => return i + 1,
                };
            }
            unreachable!()
        }));
    }
    while acked.load(std::sync::atomic::Ordering::SeqCst) < 300 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let at_kill = acked.load(std::sync::atomic::Ordering::SeqCst);
    s.crash();
    let mut per_stream = Vec::new();
    for stream in streams {
        per_stream.push(stream.await.unwrap());
    }
    let acked = acked.load(std::sync::atomic::Ordering::SeqCst);
    assert!(acked >= at_kill);

    let s = Server::start_in(dir.path(), false);
    let run = s.wait_status(&run_id, "RUNNING").await;
    let after_restart = run["chargedEventCounts"]["page"].as_u64().unwrap();
    assert!(after_restart >= acked, "{acked} charges were acknowledged, {after_restart} survived");
    // Every key sent (acknowledged or cut off) once more.
    for (stream, &tried) in per_stream.iter().enumerate() {
        for i in 0..tried {
            let resp = charge(&s, &run_id, json!({"eventName": "page", "count": 1}), Some(&format!("s{stream}-{i}"))).await;
            assert_eq!(resp.status(), 201);
        }
    }
    let total: u64 = per_stream.iter().sum();
    let run = s.get_json(&format!("/actor-runs/{run_id}")).await["data"].clone();
    assert_eq!(run["chargedEventCounts"]["page"], total, "each key charged once, {acked} of them before the crash");
    assert_eq!(run["chargedEventCounts"]["apify-actor-start"], 1, "a migration is no new start");
    s.http.post(s.api(&format!("/actor-runs/{run_id}/abort"))).bearer_auth(TOKEN).send().await.unwrap();
}

/// `pricing` in actor.json prices an Actor pushed with `wactor push`; its
/// Standby runs take their allowance from the Actor's run defaults.
#[tokio::test]
async fn wactor_push_takes_pricing_from_actor_json_and_standby_runs_their_allowance_from_the_actor() {
    let (s, _dir) = Server::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".actor")).unwrap();
    let wasm = common::repo().join("target/wasm32-wasip2/release/standby_probe.wasm");
    let definition = json!({
        "actorSpecification": 1, "name": "priced-standby", "version": "0.1", "usesStandbyMode": true,
        "component": wasm, "defaultRunOptions": {"maxTotalChargeUsd": 2.5},
        "pricing": ppe_pricing(),
    });
    std::fs::write(dir.path().join(".actor/actor.json"), definition.to_string()).unwrap();
    let out = s.cli().arg("push").arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let actor = s.get_json("/acts/priced-standby").await["data"].clone();
    assert_eq!(actor["pricingInfos"][0]["pricingModel"], "PAY_PER_EVENT", "{actor:#}");
    let started = actor["pricingInfos"][0]["startedAt"].clone();
    // Pushed again unchanged, the pricing keeps its dates.
    assert!(s.cli().arg("push").arg(dir.path()).output().unwrap().status.success());
    assert_eq!(s.get_json("/acts/priced-standby").await["data"]["pricingInfos"][0]["startedAt"], started);

    let resp = s.http.get(format!("{}/standby/me~priced-standby/echo", s.url)).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let runs = s.get_json("/acts/priced-standby/runs").await["data"]["items"].clone();
    let run_id = runs[0]["id"].as_str().unwrap();
    let run = s.get_json(&format!("/actor-runs/{run_id}")).await["data"].clone();
    assert_eq!(run["meta"]["origin"], "STANDBY");
    assert_eq!(run["options"]["maxTotalChargeUsd"], 2.5);
    assert_eq!(run["chargedEventCounts"], json!({"apify-actor-start": 1}), "{run:#}");
    // A bad pricing in actor.json stops the push with the field named.
    let mut bad = definition.clone();
    bad["pricing"]["pricingPerEvent"]["actorChargeEvents"]["page"]["eventPriceUsd"] = json!(-5);
    std::fs::write(dir.path().join(".actor/actor.json"), bad.to_string()).unwrap();
    let out = s.cli().arg("push").arg(dir.path()).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("eventPriceUsd"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// `maxItems` holds for any run's default dataset, free Actors' too, through
/// both doors: what goes past it is dropped and the pusher is told.
#[tokio::test]
async fn max_items_caps_a_runs_default_dataset_through_both_doors() {
    let (s, _dir) = Server::start();
    let run_id = s.start_run("probe", "maxItems=3", &json!({"mode": "sleep"})).await;
    let run = s.wait_status(&run_id, "RUNNING").await;
    let ds = run["defaultDatasetId"].as_str().unwrap();
    let resp = s.post_json(&format!("/datasets/{ds}/items"), &json!([{"a": 1}, {"a": 2}])).await;
    assert_eq!(resp.status(), 201);
    assert!(resp.headers().get("x-wactor-items-dropped").is_none());
    let resp = s.post_json(&format!("/datasets/{ds}/items"), &json!([{"a": 3}, {"a": 4}, {"a": 5}])).await;
    assert_eq!(resp.status(), 201);
    assert_eq!(
        (resp.headers()["x-wactor-items-stored"].to_str().unwrap(), resp.headers()["x-wactor-items-dropped"].to_str().unwrap()),
        ("1", "2")
    );
    let items = s.get_json(&format!("/datasets/{ds}/items")).await;
    assert_eq!(items, json!([{"a": 1}, {"a": 2}, {"a": 3}]));
    s.http.post(s.api(&format!("/actor-runs/{run_id}/abort"))).bearer_auth(TOKEN).send().await.unwrap();
    s.wait_terminal(&run_id, common::RUN_DEADLINE).await;
    // Once the run is over, its dataset is an ordinary one again.
    assert_eq!(s.post_json(&format!("/datasets/{ds}/items"), &json!([{"a": 6}])).await.status(), 201);
    assert_eq!(s.get_json(&format!("/datasets/{ds}")).await["data"]["itemCount"], 4);

    let run = s.run("probe", "maxItems=5", &json!({"mode": "push", "items": 5, "batch": 5})).await;
    assert_eq!(run["status"], "SUCCEEDED", "exactly maxItems is fine: {run:#}");
}
