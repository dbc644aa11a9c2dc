//! Runs survive the server: a graceful stop (SIGTERM) migrates them, a crash
//! (SIGKILL) interrupts them, and either way they resume on the next start
//! with the same run ID, storages and input, and finish without losing or
//! repeating work.

mod common;

use std::time::Duration;

use common::Server;
use serde_json::{json, Value};

async fn start_job(s: &Server, steps: u64) -> String {
    let resp = s.post_json("/actors/long-job/runs", &json!({"steps": steps, "stepMillis": 100})).await;
    assert_eq!(resp.status(), 201);
    resp.json::<Value>().await.unwrap()["data"]["id"].as_str().unwrap().to_owned()
}

async fn wait_for_items(s: &Server, run_id: &str, at_least: u64) {
    for _ in 0..200 {
        let run = s.get_json(&format!("/actor-runs/{run_id}/dataset")).await;
        if run["data"]["itemCount"].as_u64().unwrap() >= at_least {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the job made no progress");
}

/// Waits for the resumed run and checks every step is there exactly once.
async fn assert_finishes_exactly_once(s: &Server, run_id: &str, steps: u64) -> Value {
    let run = s.get_json(&format!("/actor-runs/{run_id}?waitForFinish=60")).await["data"].clone();
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    let items: Value = s.get(&format!("/actor-runs/{run_id}/dataset/items")).await.json().await.unwrap();
    let got: Vec<u64> = items.as_array().unwrap().iter().map(|i| i["step"].as_u64().unwrap()).collect();
    assert_eq!(got, (0..steps).collect::<Vec<_>>(), "every step once, in order");
    // The persisted running total, reconciled across restarts, adds up.
    let out: Value =
        s.get(&format!("/key-value-stores/{}/records/OUTPUT", run["defaultKeyValueStoreId"].as_str().unwrap())).await.json().await.unwrap();
    assert_eq!(out["total"].as_u64(), Some((0..steps).map(|i| i * i).sum::<u64>()), "{out}");
    run
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_migrates_the_run_and_it_resumes_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in(dir.path(), true);
    let run_id = start_job(&s, 30).await;
    wait_for_items(&s, &run_id, 5).await;
    s.stop();

    let s = Server::start_in(dir.path(), false);
    let run = assert_finishes_exactly_once(&s, &run_id, 30).await;
    assert_eq!(run["stats"]["migrationCount"], 1);
    let log = s.get(&format!("/logs/{run_id}")).await.text().await.unwrap();
    assert!(log.contains("goes on when the server is back"), "{log}");
    assert!(log.contains("Resuming at step"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crashed_server_resumes_its_runs() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in(dir.path(), true);
    let run_id = start_job(&s, 30).await;
    wait_for_items(&s, &run_id, 10).await;
    // No pause for sled's write-back: what was acknowledged is on disk (group commit).
    s.crash();

    let s = Server::start_in(dir.path(), false);
    assert_finishes_exactly_once(&s, &run_id, 30).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_concurrent_runs_migrate_and_finish() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in(dir.path(), true);
    let mut ids = Vec::new();
    for _ in 0..20 {
        ids.push(start_job(&s, 15).await);
    }
    for id in &ids {
        wait_for_items(&s, id, 2).await;
    }
    s.stop();

    let s = Server::start_in(dir.path(), false);
    for id in &ids {
        assert_finishes_exactly_once(&s, id, 15).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn reboot_restarts_the_run_in_place() {
    let (s, _dir) = Server::start();
    let run_id = start_job(&s, 20).await;
    wait_for_items(&s, &run_id, 4).await;
    let resp = s.http.post(s.api(&format!("/actor-runs/{run_id}/reboot"))).bearer_auth(common::TOKEN).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let run = assert_finishes_exactly_once(&s, &run_id, 20).await;
    assert_eq!(run["stats"]["rebootCount"], 1);
    // Only running runs reboot.
    let resp = s.http.post(s.api(&format!("/actor-runs/{run_id}/reboot"))).bearer_auth(common::TOKEN).send().await.unwrap();
    common::assert_error(resp, 400, "invalid-run-status").await;
    assert_eq!(s.get_json(&format!("/actor-runs/{run_id}")).await["data"]["stats"]["rebootCount"], 1, "unchanged");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resurrected_run_continues_where_it_stopped() {
    let (s, _dir) = Server::start();
    let resp = s.post_json("/actors/long-job/runs?timeout=1", &json!({"steps": 30, "stepMillis": 100})).await;
    let run_id = resp.json::<Value>().await.unwrap()["data"]["id"].as_str().unwrap().to_owned();
    let run = s.get_json(&format!("/actor-runs/{run_id}?waitForFinish=30")).await["data"].clone();
    assert_eq!(run["status"], "TIMED-OUT");
    // A resurrection's timeout counts from the resurrection.
    let resp = s.http.post(s.api(&format!("/actor-runs/{run_id}/resurrect?timeout=60"))).bearer_auth(common::TOKEN).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert!(matches!(body["data"]["status"].as_str(), Some("READY" | "RUNNING")), "{body}");
    assert_eq!(body["data"]["finishedAt"], Value::Null);
    let run = assert_finishes_exactly_once(&s, &run_id, 30).await;
    assert_eq!(run["stats"]["resurrectCount"], 1);
    assert_eq!(run["defaultDatasetId"], body["data"]["defaultDatasetId"]);
    // A resurrection asking for an impossible memory is refused, the run unchanged.
    let resp = s.http.post(s.api(&format!("/actor-runs/{run_id}/resurrect?memory=1"))).bearer_auth(common::TOKEN).send().await.unwrap();
    let message = common::assert_error(resp, 400, "invalid-value").await;
    assert!(message.contains("memory"), "{message}");
    assert_eq!(s.get_json(&format!("/actor-runs/{run_id}")).await["data"]["stats"]["resurrectCount"], 1);
    // Only finished runs can be resurrected: a running one is refused as it is.
    let running = s.start_run("probe", "", &json!({"mode": "loop"})).await;
    s.wait_status(&running, "RUNNING").await;
    let resp = s.http.post(s.api(&format!("/actor-runs/{running}/resurrect"))).bearer_auth(common::TOKEN).send().await.unwrap();
    common::assert_error(resp, 400, "invalid-run-status").await;
    let still = s.get_json(&format!("/actor-runs/{running}")).await["data"].clone();
    assert_eq!((still["status"].as_str(), still["stats"]["resurrectCount"].as_u64()), (Some("RUNNING"), Some(0)));
    let _ = s.http.post(s.api(&format!("/actor-runs/{running}/abort"))).bearer_auth(common::TOKEN).send().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_guest_reboots_and_aborts_its_own_run_through_wit() {
    let (s, _dir) = Server::start();
    let run = s.run("probe", "", &json!({"mode": "reboot"})).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    assert_eq!(run["stats"]["rebootCount"], 1);
    let out: Value =
        s.get(&format!("/key-value-stores/{}/records/OUTPUT", run["defaultKeyValueStoreId"].as_str().unwrap())).await.json().await.unwrap();
    assert_eq!(out, json!({"starts": 2}));

    let run = s.run("probe", "", &json!({"mode": "abort-self"})).await;
    assert_eq!(run["status"], "ABORTED", "{run}");
}
