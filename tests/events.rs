//! System events reach component Actors through the WIT `events` interface;
//! graceful aborts let an Actor save its state, and a deaf one is stopped
//! at the hard deadline.

mod common;

use std::time::{Duration, Instant};

use common::{Server, TOKEN};
use serde_json::{json, Value};

async fn output(s: &Server, run: &Value) -> Value {
    s.get(&format!("/key-value-stores/{}/records/OUTPUT", run["defaultKeyValueStoreId"].as_str().unwrap())).await.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn system_info_and_persist_state_arrive() {
    let (s, _dir) = Server::start();
    let run = s.run("probe", "persistStateIntervalMillis=300", &json!({"mode": "events"})).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    let memory_limit = 128u64 * 1024 * 1024;
    assert_eq!(output(&s, &run).await, json!(["persistState:false", format!("systemInfo:{memory_limit}")]));
}

#[tokio::test(flavor = "multi_thread")]
async fn graceful_abort_lets_the_actor_save_its_state() {
    let (s, _dir) = Server::start();
    let resp = s.post_json("/actors/probe/runs", &json!({"mode": "abortable"})).await;
    let id = resp.json::<Value>().await.unwrap()["data"]["id"].as_str().unwrap().to_owned();
    s.wait_status(&id, "RUNNING").await;
    let resp = s.http.post(s.api(&format!("/actor-runs/{id}/abort?gracefully=true"))).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(resp.json::<Value>().await.unwrap()["data"]["status"], "ABORTING");
    let run = s.get_json(&format!("/actor-runs/{id}?waitForFinish=30")).await["data"].clone();
    assert_eq!(run["status"], "ABORTED");
    let out = output(&s, &run).await;
    let stopped_at = out["stoppedAt"].as_u64().unwrap();
    assert!(stopped_at > 0, "{out}");
    // The state was saved when `aborting` arrived.
    let state: Value =
        s.get(&format!("/key-value-stores/{}/records/STATE", run["defaultKeyValueStoreId"].as_str().unwrap())).await.json().await.unwrap();
    assert_eq!(state.as_u64(), Some(stopped_at));

    // Resurrected, it continues counting from the saved state.
    s.http.post(s.api(&format!("/actor-runs/{id}/resurrect"))).bearer_auth(TOKEN).send().await.unwrap();
    s.wait_status(&id, "RUNNING").await;
    s.http.post(s.api(&format!("/actor-runs/{id}/abort?gracefully=true"))).bearer_auth(TOKEN).send().await.unwrap();
    let run = s.get_json(&format!("/actor-runs/{id}?waitForFinish=30")).await["data"].clone();
    assert_eq!(run["status"], "ABORTED");
    assert!(output(&s, &run).await["stoppedAt"].as_u64().unwrap() > stopped_at);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_actor_ignoring_aborting_is_stopped_at_the_hard_deadline() {
    let (s, _dir) = Server::start();
    let resp = s.post_json("/actors/probe/runs", &json!({"mode": "loop"})).await;
    let id = resp.json::<Value>().await.unwrap()["data"]["id"].as_str().unwrap().to_owned();
    s.wait_status(&id, "RUNNING").await;
    let asked = Instant::now();
    s.http.post(s.api(&format!("/actor-runs/{id}/abort?gracefully=true"))).bearer_auth(TOKEN).send().await.unwrap();
    let run = s.get_json(&format!("/actor-runs/{id}?waitForFinish=30")).await["data"].clone();
    assert_eq!(run["status"], "ABORTED");
    let took = asked.elapsed();
    // The test server's abort grace period is 2 s.
    assert!(took >= Duration::from_secs(2) && took < Duration::from_secs(6), "stopped after {took:?}");
}
