//! Actors calling Actors through WIT: start, call, wait, read, abort; the
//! child's parent link, depth limit, allowance; and what is refused.

mod common;

use common::Server;
use serde_json::{json, Value};

async fn output(s: &Server, run: &Value) -> Value {
    let kv = run["defaultKeyValueStoreId"].as_str().unwrap();
    s.get_json(&format!("/key-value-stores/{kv}/records/OUTPUT")).await
}

#[tokio::test]
async fn a_component_calls_a_component_and_reads_its_dataset() {
    let (s, _dir) = Server::start();
    let run = s.run("probe", "", &json!({"mode": "call", "actor": "probe", "child_input": {"mode": "push", "items": 3}})).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    let out = output(&s, &run).await;
    assert_eq!(out["status"], "SUCCEEDED", "{out}");
    assert_eq!(out["items"].as_array().unwrap().len(), 3, "{out}");
    assert_eq!(out["items"][2]["i"], 2);
    assert_eq!((&out["origin"], &out["parent"]), (&json!("ACTOR"), &run["id"]), "{out}");
    // The child as the API shows it.
    let child = s.get_json(&format!("/actor-runs/{}", out["id"].as_str().unwrap())).await["data"].clone();
    assert_eq!((&child["meta"]["origin"], &child["parentRunId"], &child["status"]), (&json!("ACTOR"), &run["id"], &json!("SUCCEEDED")));
    let parent = s.get_json(&format!("/datasets/{}/items", run["defaultDatasetId"].as_str().unwrap())).await;
    assert_eq!(parent, json!([{"called": "probe"}]));
}

#[tokio::test]
async fn a_component_starts_reads_and_aborts_another_run() {
    let (s, _dir) = Server::start();
    let run = s.run("probe", "", &json!({"mode": "start-abort", "actor": "probe", "child_input": {"mode": "sleep"}})).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    let out = output(&s, &run).await;
    assert!(out["seen"] == "READY" || out["seen"] == "RUNNING", "{out}");
    assert_eq!(out["ended"], "ABORTED", "{out}");
    let child = s.get_json(&format!("/actor-runs/{}", out["child"].as_str().unwrap())).await;
    assert_eq!(child["data"]["status"], "ABORTED");
}

/// Each level calls the next; past the depth limit the start is refused
/// with a clear error the deepest caller sees, and every level ends.
#[tokio::test]
async fn recursion_past_the_depth_limit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_with(dir.path(), true, &["--max-call-depth", "2"]);
    let mut input = json!({"mode": "ok"});
    for _ in 0..4 {
        input = json!({"mode": "call", "actor": "probe", "child_input": input});
    }
    let run = s.run("probe", "", &input).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    // Depth 0 → 1 → 2 succeeded; depth 2's call of a third level was refused.
    let mut out = output(&s, &run).await;
    for level in 1..=2 {
        assert_eq!(out["status"], "SUCCEEDED", "level {level}: {out}");
        let child = s.get_json(&format!("/actor-runs/{}", out["id"].as_str().unwrap())).await["data"].clone();
        out = output(&s, &child).await;
    }
    let error = out["error"].as_str().unwrap_or_default();
    assert!(error.contains("at most 2 deep"), "{out}");
    let runs = s.get_json("/actor-runs").await;
    assert_eq!(runs["data"]["total"], 3, "no run past the limit was created: {runs}");
}

#[tokio::test]
async fn calling_a_missing_actor_or_build_is_a_clear_error() {
    let (s, _dir) = Server::start();
    let run = s.run("probe", "", &json!({"mode": "call", "actor": "no-such-actor", "child_input": {}})).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    let out = output(&s, &run).await;
    assert!(out["error"].as_str().unwrap().starts_with("not found:"), "{out}");
    let run = s.run("probe", "", &json!({"mode": "call", "actor": "probe", "build": "9.9.9", "child_input": {"mode": "ok"}})).await;
    let out = output(&s, &run).await;
    assert!(out["error"].as_str().unwrap().contains("9.9.9"), "{out}");
    assert_eq!(s.get_json("/actor-runs").await["data"]["total"], 2, "no child was created");
}

fn ppe(event_price: f64) -> Value {
    json!({
        "pricingModel": "PAY_PER_EVENT",
        "pricingPerEvent": {"actorChargeEvents": {
            "page": {"eventTitle": "Page", "eventPriceUsd": event_price},
        }},
    })
}

async fn priced_probe(s: &Server, name: &str, pricing: Value) {
    let definition = json!({"actorSpecification": 1, "name": name, "version": "0.1"});
    let body = json!({"name": name, "versions": [{"versionNumber": "0.1", "actorDefinition": definition}], "pricingInfos": [pricing]});
    s.create_probe_actor(&body).await;
}

/// A priced parent with a $1 allowance calls a priced child that tries to
/// charge $2: the child gets what the parent has left, and the parent's
/// total counts the child's charges.
#[tokio::test]
async fn a_child_charges_within_its_parents_allowance() {
    let (s, _dir) = Server::start();
    priced_probe(&s, "parent", ppe(0.1)).await;
    priced_probe(&s, "child", ppe(0.1)).await;
    // The parent spends $0.30 of its $1 itself, then calls the child that wants 20 × $0.10.
    let child_input = json!({"mode": "charge", "charges": [["page", 20]]});
    let input = json!({"mode": "call", "actor": "child", "charges": [["page", 3]], "child_input": child_input});
    let run = s.run("parent", "maxTotalChargeUsd=1", &input).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    let out = output(&s, &run).await;
    let child = s.get_json(&format!("/actor-runs/{}", out["id"].as_str().unwrap())).await["data"].clone();
    let child_out = output(&s, &child).await;
    // What was left when it started bounds the child: $0.70 at most, so 7 pages.
    assert!(child["options"]["maxTotalChargeUsd"].as_f64().unwrap() <= 0.7 + 1e-9, "{child}");
    assert_eq!(child_out["results"][0]["charged"], 7, "{child_out}");
    assert_eq!(child_out["results"][0]["limitReached"], true);
    assert_eq!(child["chargedEventCounts"]["page"], 7);
    let total = run["totalChargeUsd"].as_f64().unwrap();
    assert!((total - 1.0).abs() < 1e-9, "the parent's total counts its own $0.30 and the child's $0.70: {run}");
}

/// A component with limited permissions opens only its own storages (and
/// those its input names) through WIT, as a container's token does over HTTP.
#[tokio::test]
async fn a_limited_component_opens_only_its_own_storages() {
    let (s, _dir) = Server::start();
    let foreign =
        s.post_json("/datasets?name=foreign", &json!({})).await.json::<Value>().await.unwrap()["data"]["id"].as_str().unwrap().to_owned();
    let rev = |x: &str| x.chars().rev().collect::<String>();
    let input = json!({"mode": "open-datasets", "urls": [rev(&foreign)], "event": rev("foreign")});
    let full = s.run("probe", "", &input).await;
    assert_eq!(output(&s, &full).await, json!({"byId": ["ok"], "byName": "ok"}));
    let limited = s.run("probe", "forcePermissionLevel=LIMITED_PERMISSIONS", &input).await;
    assert_eq!(limited["status"], "SUCCEEDED", "{limited}");
    assert_eq!(output(&s, &limited).await, json!({"byId": ["Forbidden"], "byName": "Forbidden"}));
    // Named in its input, the same dataset opens.
    let named = json!({"mode": "open-datasets", "urls": [rev(&foreign)], "event": rev("foreign"), "key": foreign});
    let limited = s.run("probe", "forcePermissionLevel=LIMITED_PERMISSIONS", &named).await;
    assert_eq!(output(&s, &limited).await, json!({"byId": ["ok"], "byName": "ok"}));
}

/// A metamorph keeps the run (ID, storages, timeout), records the step,
/// and the target reads `INPUT-METAMORPH-1`; a SIGKILL after it goes on
/// with the target. Bad targets are refused and change nothing.
#[tokio::test]
async fn a_metamorph_keeps_the_run_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in(dir.path(), true);
    let definition = json!({"actorSpecification": 1, "name": "probe-b", "version": "0.1"});
    s.create_probe_actor(&json!({"name": "probe-b", "versions": [{"versionNumber": "0.1", "actorDefinition": definition}]})).await;

    let run = s.run("probe", "", &json!({"mode": "metamorph", "actor": "probe-b", "child_input": {"mode": "push", "items": 2}})).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    let items = s.get_json(&format!("/datasets/{}/items", run["defaultDatasetId"].as_str().unwrap())).await;
    let items = items.as_array().unwrap();
    assert_eq!(items[0], json!({"stage": "probe", "inputKey": "INPUT"}));
    assert_eq!(items.len(), 3, "the target pushed into the same dataset: {items:?}");
    assert_eq!(run["metamorphs"].as_array().unwrap().len(), 1, "{run}");
    assert_eq!(run["metamorphs"][0]["inputKey"], "INPUT-METAMORPH-1");
    assert_eq!((&run["inputKey"], &run["stats"]["metamorph"]), (&json!("INPUT-METAMORPH-1"), &json!(1)));
    let b = s.get_json("/acts/probe-b").await["data"].clone();
    assert_eq!(run["metamorphs"][0]["actorId"], b["id"]);
    let input =
        s.get_json(&format!("/key-value-stores/{}/records/INPUT-METAMORPH-1", run["defaultKeyValueStoreId"].as_str().unwrap())).await;
    assert_eq!(input, json!({"mode": "push", "items": 2}));

    // Refused, nothing changed: a missing target, a missing build, a run that is not running.
    let id = run["id"].as_str().unwrap();
    let resp = s.post_json(&format!("/actor-runs/{id}/metamorph?targetActorId=probe-b"), &json!({})).await;
    common::assert_error(resp, 400, "invalid-run-status").await;
    let sleeping = s.start_run("probe", "", &json!({"mode": "sleep"})).await;
    s.wait_status(&sleeping, "RUNNING").await;
    let resp = s.post_json(&format!("/actor-runs/{sleeping}/metamorph?targetActorId=nope"), &json!({})).await;
    assert_eq!(resp.status(), 404);
    let resp = s.post_json(&format!("/actor-runs/{sleeping}/metamorph?targetActorId=probe-b&build=7.7.7"), &json!({})).await;
    common::assert_error(resp, 400, "build-not-found").await;
    let still = s.get_json(&format!("/actor-runs/{sleeping}")).await["data"].clone();
    assert!(still.get("metamorphs").is_none() && still["inputKey"] == "INPUT", "{still}");

    // Over HTTP, into a sleeping target, then SIGKILL: the run goes on as the target after the restart.
    let resp = s.post_json(&format!("/actor-runs/{sleeping}/metamorph?targetActorId=probe-b"), &json!({"mode": "sleep"})).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let (s2, sleeping2) = (&s, sleeping.clone());
    common::eventually("the target to run", || {
        let id = sleeping2.clone();
        async move { s2.get(&format!("/logs/{id}")).await.text().await.unwrap().contains("Metamorphing into") }
    })
    .await;
    s.wait_status(&sleeping, "RUNNING").await;
    s.crash();
    let s = Server::start_in(dir.path(), false);
    let resumed = s.wait_status(&sleeping, "RUNNING").await;
    assert_eq!(
        (&resumed["buildId"], &resumed["inputKey"]),
        (&b["taggedBuilds"]["latest"]["buildId"], &json!("INPUT-METAMORPH-1")),
        "{resumed}"
    );
    assert_eq!(resumed["stats"]["migrationCount"], 1);
    assert_eq!(s.http.post(s.api(&format!("/actor-runs/{sleeping}/abort"))).bearer_auth(common::TOKEN).send().await.unwrap().status(), 200);
    assert_eq!(s.wait_terminal(&sleeping, common::RUN_DEADLINE).await["status"], "ABORTED");
}
