//! The foundation end to end: component Actors pushed, run over HTTP and
//! the CLI, results read back; bad input, bad guests and restarts.

mod common;

use std::time::{Duration, Instant};

use common::{assert_timestamped, Server, TOKEN};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread")]
async fn hello_runs_over_http_with_items_output_and_log() {
    let (s, _dir) = Server::start();
    let run = s.run("hello", "", &json!({"name": "Ann"})).await;
    assert_eq!(run["status"], "SUCCEEDED");
    assert_eq!(run["exitCode"], 0);
    assert_eq!(run["statusMessage"], "Greeted Ann 1 time(s)");
    assert_eq!(run["isStatusMessageTerminal"], true);
    assert!(run["startedAt"].as_str().unwrap().ends_with('Z'));
    assert!(run["finishedAt"].as_str().unwrap().ends_with('Z'));

    // The schema default (count = 1) was applied and stored with the input.
    let kv = run["defaultKeyValueStoreId"].as_str().unwrap();
    let input: Value = s.get(&format!("/key-value-stores/{kv}/records/INPUT")).await.json().await.unwrap();
    assert_eq!(input, json!({"name": "Ann", "count": 1}));
    let output: Value = s.get(&format!("/key-value-stores/{kv}/records/OUTPUT")).await.json().await.unwrap();
    assert_eq!(output, json!({"greeting": "Hello, Ann!", "count": 1}));

    let ds = run["defaultDatasetId"].as_str().unwrap();
    let resp = s.get(&format!("/datasets/{ds}/items")).await;
    for h in ["total", "offset", "count", "limit", "desc"] {
        assert!(resp.headers().contains_key(format!("x-apify-pagination-{h}").as_str()), "missing pagination header {h}");
    }
    let items: Value = resp.json().await.unwrap();
    assert_eq!(items, json!([{"greeting": "Hello, Ann!", "index": 0}]));

    let log = s.get(&format!("/actor-runs/{}/log", run["id"].as_str().unwrap())).await.text().await.unwrap();
    assert!(log.contains("Hello, Ann!"), "{log}");
    assert!(log.contains("SUCCEEDED"), "{log}");
    assert_timestamped(&log);
}

#[tokio::test(flavor = "multi_thread")]
async fn push_and_call_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in(dir.path(), false);
    let out = s.cli().args(["push", "examples/hello"]).output().unwrap();
    assert!(out.status.success(), "push: {}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Pushed me/hello build 0.1.1"));

    let out = s.cli().args(["call", "hello", "--input", r#"{"name":"CLI","count":2}"#]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "call: {stderr}");
    assert!(stderr.contains("Status: SUCCEEDED"), "{stderr}");
    let items: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(items.as_array().unwrap().len(), 2);

    let run_id = stderr.lines().find_map(|l| l.strip_prefix("Run ")).and_then(|l| l.split(' ').next()).unwrap().to_owned();
    let out = s.cli().args(["logs", &run_id]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("Hello, CLI!"));

    // Pushing again makes a new build; calling an unknown Actor fails clearly.
    let out = s.cli().args(["push", "examples/hello"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("build 0.1.2"));
    let out = s.cli().args(["call", "nope"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("was not found"));
    let out = s.cli().args(["call", "hello"]).env("WACTOR_TOKEN", "wrong").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not valid"));
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_input_is_rejected_and_creates_no_run() {
    let (s, _dir) = Server::start();
    let before = s.get_json("/actor-runs").await["data"]["total"].as_u64().unwrap();

    let resp = s.post_json("/actors/hello/runs", &json!({"name": 5, "count": -1})).await;
    assert_eq!(resp.status(), 400);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["error"]["type"], "invalid-input");
    let msg = err["error"]["message"].as_str().unwrap();
    assert!(msg.contains("input.name") && msg.contains("input.count"), "{msg}");

    let resp = s
        .http
        .post(s.api("/actors/hello/runs"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["type"], "run-input-body-not-valid-json");

    let big = json!({"name": "x".repeat(1_000_100)});
    let resp = s.post_json("/actors/hello/runs", &big).await;
    assert_eq!(resp.status(), 413);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["type"], "input-too-large");

    let after = s.get_json("/actor-runs").await["data"]["total"].as_u64().unwrap();
    assert_eq!(before, after, "a rejected input must not create a run");

    let resp = s.http.post(s.api("/actors/hello/validate-input")).bearer_auth(TOKEN).json(&json!({"name": "ok"})).send().await.unwrap();
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({"valid": true}));
}

#[tokio::test(flavor = "multi_thread")]
async fn misbehaving_guests_end_their_run_not_the_server() {
    let (s, _dir) = Server::start();

    let run = s.run("probe", "", &json!({"mode": "trap"})).await;
    assert_eq!(run["status"], "FAILED");
    assert!(run["statusMessage"].as_str().unwrap().contains("crashed"), "{run}");
    let log = s.get(&format!("/logs/{}", run["id"].as_str().unwrap())).await.text().await.unwrap();
    assert!(log.contains("probe panicked on purpose"), "{log}");

    let run = s.run("probe", "", &json!({"mode": "fail"})).await;
    assert_eq!(run["status"], "FAILED");
    assert_eq!(run["statusMessage"], "probe failed on purpose");

    let run = s.run("probe", "", &json!({"mode": "exit", "code": 3})).await;
    assert_eq!(run["status"], "FAILED");
    assert_eq!(run["statusMessage"], "Actor finished with exit code 1");

    let run = s.run("probe", "", &json!({"mode": "message"})).await;
    assert_eq!(run["statusMessage"], "custom final message");

    let started = Instant::now();
    let run = s.run("probe", "timeout=1", &json!({"mode": "loop"})).await;
    assert_eq!(run["status"], "TIMED-OUT");
    assert!(started.elapsed() < Duration::from_secs(5), "timed out too late: {:?}", started.elapsed());

    let run = s.run("probe", "timeout=1", &json!({"mode": "sleep"})).await;
    assert_eq!(run["status"], "TIMED-OUT");

    let run = s.run("probe", "memory=128", &json!({"mode": "memory"})).await;
    assert_eq!(run["status"], "FAILED");
    assert!(run["statusMessage"].as_str().unwrap().contains("memory"), "{run}");

    // Guest-visible errors come back typed, not as traps.
    let run = s.run("probe", "", &json!({"mode": "errors"})).await;
    assert_eq!(run["status"], "SUCCEEDED");
    let out: Value =
        s.get(&format!("/key-value-stores/{}/records/OUTPUT", run["defaultKeyValueStoreId"].as_str().unwrap())).await.json().await.unwrap();
    assert!(out["badKey"].as_str().unwrap().starts_with("invalid input"), "{out}");
    assert!(out["missingStore"].as_str().unwrap().starts_with("not found"), "{out}");
    assert!(out["badItem"].as_str().unwrap().contains("not a JSON object"), "{out}");

    // Still serving.
    let run = s.run("hello", "", &json!({})).await;
    assert_eq!(run["status"], "SUCCEEDED");
}

#[tokio::test(flavor = "multi_thread")]
async fn abort_stops_a_running_guest() {
    let (s, _dir) = Server::start();
    let resp = s.post_json("/actors/probe/runs", &json!({"mode": "loop"})).await;
    let run: Value = resp.json().await.unwrap();
    let id = run["data"]["id"].as_str().unwrap().to_owned();
    s.wait_status(&id, "RUNNING").await;
    // A running run is RUNNING wherever it is listed (the status lives in memory until the run's next write).
    let listed = s.get_json("/actor-runs?status=RUNNING").await["data"]["items"].clone();
    assert!(listed.as_array().unwrap().iter().any(|r| r["id"] == id), "{listed}");
    assert_eq!(s.get_json("/acts/probe/runs/last?status=RUNNING").await["data"]["id"], id);
    let resp =
        s.http.put(s.api(&format!("/actor-runs/{id}"))).bearer_auth(TOKEN).json(&json!({"statusMessage": "busy"})).send().await.unwrap();
    assert_eq!(resp.json::<Value>().await.unwrap()["data"]["status"], "RUNNING");
    let resp = s.http.post(s.api(&format!("/actor-runs/{id}/abort"))).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let run = s.get_json(&format!("/actor-runs/{id}?waitForFinish=10")).await;
    assert_eq!(run["data"]["status"], "ABORTED");
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_component_is_refused_at_push() {
    let (s, _dir) = Server::start();
    let def = json!({"name": "broken", "version": "0.1"});
    let resp = s
        .post_json(
            "/actors",
            &json!({"name": "broken", "versions": [{"versionNumber": "0.1", "sourceType": "WASM_COMPONENT", "actorDefinition": def}]}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let resp = s
        .http
        .post(s.api("/actors/broken/builds?version=0.1"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/wasm")
        .body(b"\0asm\x0d\0\x01\0garbage".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["error"]["type"], "invalid-component");
    // No build was recorded, so a run says so.
    let resp = s.post_json("/actors/broken/runs", &json!({})).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["type"], "build-not-found");
}

#[tokio::test(flavor = "multi_thread")]
async fn everything_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in(dir.path(), true);
    let run = s.run("counter", "", &json!({})).await;
    assert_eq!(run["status"], "SUCCEEDED");
    s.stop();

    let s = Server::start_in(dir.path(), false);
    let actors = s.get_json("/actors").await;
    assert!(actors["data"]["items"].as_array().unwrap().iter().any(|a| a["name"] == "counter"));
    let again = s.get_json(&format!("/actor-runs/{}", run["id"].as_str().unwrap())).await;
    assert_eq!(again["data"]["status"], "SUCCEEDED");
    let log = s.get(&format!("/logs/{}", run["id"].as_str().unwrap())).await.text().await.unwrap();
    assert!(log.contains("Counter is now 1"), "{log}");
    // The named store kept its value and the compiled build still runs.
    let run = s.run("counter", "", &json!({})).await;
    let out: Value =
        s.get(&format!("/key-value-stores/{}/records/OUTPUT", run["defaultKeyValueStoreId"].as_str().unwrap())).await.json().await.unwrap();
    assert_eq!(out, json!({"count": 2}));
    let store = s.get_json("/key-value-stores/me~example-counter").await;
    assert_eq!(store["data"]["name"], "example-counter");
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_need_the_token() {
    let (s, _dir) = Server::start();
    let resp = s.http.get(s.api("/actors")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["type"], "token-not-provided");
    let resp = s.http.get(s.api("/actors")).bearer_auth("nope").send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let resp = s.http.get(s.api(&format!("/actors?token={TOKEN}"))).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    // The deprecated /v2/acts prefix works too.
    let resp = s.http.get(s.api("/acts/hello")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

/// An Actor counts its runs (`stats.totalRuns`, `lastRunStartedAt`) in the
/// Actor object and in the list, and the count survives a restart.
#[tokio::test(flavor = "multi_thread")]
async fn an_actor_counts_its_runs_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in(dir.path(), true);
    let stats = |actor: &Value| actor["stats"].clone();
    let before = s.get_json("/acts/hello").await;
    assert_eq!(stats(&before["data"])["totalRuns"], 0, "{before}");
    let mut last_started = String::new();
    for _ in 0..3 {
        let run = s.run("hello", "", &json!({"name": "Ann"})).await;
        last_started = run["startedAt"].as_str().unwrap().to_owned();
    }
    let actor = s.get_json("/acts/hello").await;
    assert_eq!(stats(&actor["data"])["totalRuns"], 3, "{actor}");
    assert_eq!(stats(&actor["data"])["lastRunStartedAt"], last_started.as_str(), "{actor}");
    let listed = s.get_json("/acts").await;
    let item = listed["data"]["items"].as_array().unwrap().iter().find(|a| a["name"] == "hello").unwrap().clone();
    assert_eq!(stats(&item)["totalRuns"], 3, "{listed}");
    s.stop();
    let s = Server::start_in(dir.path(), false);
    s.run("hello", "", &json!({"name": "Bo"})).await;
    assert_eq!(stats(&s.get_json("/acts/hello").await["data"])["totalRuns"], 4);
}
