//! Python component Actors: the examples and a probe pushed with `wactor
//! push` (componentize-py installed into a cache that starts empty in every
//! run of this binary), run over the API of a real server.

mod common;

use std::time::Duration;

use common::pushed::{actor_dir, items, push, push_ok, record, server, standby};
use common::{Server, TOKEN};
use serde_json::{json, Value};

#[tokio::test]
async fn py_hello_is_pushed_and_runs_with_its_input_schema() {
    let (s, _dir) = server();
    push_ok(&s, "examples/py-hello").await;

    let run = s.run("py-hello", "", &json!({ "name": "Py", "count": 3 })).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run:#}");
    assert_eq!(run["statusMessage"], "Greeted Py 3 time(s)");
    let got = items(&s, &run).await;
    assert_eq!(got.len(), 3);
    assert_eq!(got[2], json!({ "greeting": "Hello, Py!", "index": 2 }));
    assert_eq!(record(&s, &run, "OUTPUT").await, json!({ "greeting": "Hello, Py!", "count": 3 }));
    let log = s.get(&format!("/actor-runs/{}/log", run["id"].as_str().unwrap())).await.text().await.unwrap();
    assert!(log.contains("Hello, Py!"), "print reaches the run log:\n{log}");

    let run = s.run("py-hello", "", &json!({})).await;
    assert_eq!(record(&s, &run, "OUTPUT").await, json!({ "greeting": "Hello, world!", "count": 1 }));
    let resp = s.post_json("/acts/py-hello/runs", &json!({ "count": "many" })).await;
    let message = common::assert_error(resp, 400, "invalid-input").await;
    assert!(message.contains("count"), "{message}");
}

#[tokio::test]
async fn py_standby_answers_on_its_standby_url() {
    let (s, _dir) = server();
    push_ok(&s, "examples/py-standby").await;
    let (http, _) = standby(&s, "py-standby", "/");
    let url = |path: &str| standby(&s, "py-standby", path).1;

    let echo: Value = http.get(url("/hello?a=1")).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    assert_eq!((echo["method"].as_str(), echo["path"].as_str(), &echo["query"]), (Some("GET"), Some("/hello"), &json!({ "a": "1" })));
    let posted: Value = http.post(url("/p")).bearer_auth(TOKEN).body("payload").send().await.unwrap().json().await.unwrap();
    assert_eq!(posted["body"], "payload");
    for expected in 1..=3 {
        let count: Value = http.get(url("/count")).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
        assert_eq!(count["count"], expected);
    }
    let failed = http.get(url("/fail")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(failed.status(), 500);
    let body: Value = failed.json().await.unwrap();
    assert_eq!(body["error"]["message"], "asked to fail");
}

async fn probe(s: &Server, input: Value, query: &str) -> Value {
    s.run("py-probe", query, &input).await
}

#[tokio::test]
async fn the_python_sdk_behaves_as_the_rust_one() {
    let (s, _dir) = server();
    push_ok(&s, "tests/python/probe").await;

    let run = probe(&s, json!({ "mode": "throw" }), "").await;
    assert_eq!((run["status"].as_str(), run["statusMessage"].as_str()), (Some("FAILED"), Some("the probe threw on purpose")));
    let log = s.get(&format!("/actor-runs/{}/log", run["id"].as_str().unwrap())).await.text().await.unwrap();
    assert!(log.contains("ValueError") && log.contains("six 1.16.0"), "the traceback and the bundled dependency:\n{log}");
    let run = probe(&s, json!({ "mode": "fail" }), "").await;
    assert_eq!((run["status"].as_str(), run["statusMessage"].as_str()), (Some("FAILED"), Some("the probe failed on purpose")));
    let run = probe(&s, json!({ "mode": "loop" }), "timeout=2").await;
    assert_eq!(run["status"], "TIMED-OUT", "{run:#}");
    let run = probe(&s, json!({ "mode": "bomb" }), "").await;
    assert_eq!(run["status"], "FAILED");
    assert!(run["statusMessage"].as_str().unwrap().contains("memory"), "{run:#}");
    let resp = s.post_json("/acts/py-probe/runs", &json!({})).await;
    common::assert_error(resp, 400, "invalid-input").await;

    let run = probe(&s, json!({ "mode": "storages" }), "").await;
    assert_eq!(run["status"], "SUCCEEDED", "{run:#}");
    let out = record(&s, &run, "OUTPUT").await;
    assert_eq!(out["text"], "plain text");
    assert_eq!(out["bytes"], json!([1, 2, 3]));
    assert_eq!(out["json"], json!({ "a": 1 }));
    assert_eq!(out["missing"], Value::Null);
    assert_eq!(out["page"], json!([{ "n": 2 }]));
    assert_eq!((out["added"].as_bool(), out["again"].as_bool()), (Some(false), Some(true)));
    assert_eq!(out["fetched"], json!({ "depth": 1 }));
    assert_eq!(out["finished"], true);
    assert_eq!(out["held"], json!({ "empty": true, "finished": false }), "a request held by its lock: empty, not finished");
    assert_eq!(s.get_json("/datasets/py-probe-items/items").await, json!([{ "n": 1 }, { "n": 2 }]));

    let run = probe(&s, json!({ "mode": "charge" }), "maxTotalChargeUsd=0.25").await;
    assert_eq!(items(&s, &run).await.len(), 2);
    assert_eq!(record(&s, &run, "OUTPUT").await, json!({ "chargedCount": 2, "limitReached": true, "counted": 2 }));

    let run = probe(&s, json!({ "mode": "fetch", "url": format!("{}/health", s.url) }), "").await;
    assert_eq!(run["status"], "SUCCEEDED", "{run:#}");
    assert_eq!(record(&s, &run, "OUTPUT").await["status"], 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_state_survives_a_migration() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_with(dir.path(), false, &["--allow-private-outbound"]);
    push_ok(&s, "tests/python/probe").await;
    let run_id = s.start_run("py-probe", "", &json!({ "mode": "state", "steps": 15 })).await;
    s.wait_until(&run_id, "a few steps", |r| r["statusMessage"].as_str().is_some_and(|m| m.starts_with("step ") && m != "step 1")).await;
    s.stop();
    let s = Server::start_with(dir.path(), false, &["--allow-private-outbound"]);
    let run = s.wait_terminal(&run_id, Duration::from_secs(120)).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run:#}");
    assert_eq!(run["stats"]["migrationCount"], 1);
    assert_eq!(record(&s, &run, "OUTPUT").await, json!({ "steps": 15 }));
    let state = record(&s, &run, "STATE").await;
    assert_eq!(state["step"], 15);
    assert!(state["persisted"].as_u64().unwrap() >= 1, "persistState reached the handler before the migration: {state}");
}

#[tokio::test]
async fn bad_python_actors_are_refused_with_the_reason_and_nothing_is_registered() {
    let (s, _dir) = server();
    let cases = [
        (actor_dir("py-syntax", &[("main.py", "from wactor import Actor\n\ndef main(:\n    pass\n")]), "main.py:3:"),
        (actor_dir("py-no-entry", &[("requirements.txt", "")]), "no entry point"),
        (
            actor_dir("py-native", &[("main.py", "import numpy\nasync def main():\n    pass\n"), ("requirements.txt", "numpy==2.1.3\n")]),
            "numpy",
        ),
        (actor_dir("py-missing", &[("main.py", "import not_installed_anywhere\nasync def main():\n    pass\n")]), "not_installed_anywhere"),
    ];
    for (dir, expected) in &cases {
        let p = push(&s, dir.path()).await;
        assert!(!p.ok, "a bad Actor was pushed:\n{}", p.output);
        assert!(p.output.contains(expected), "the error names {expected:?}:\n{}", p.output);
    }
    for name in ["py-syntax", "py-no-entry", "py-native", "py-missing"] {
        assert_eq!(s.get(&format!("/acts/{name}")).await.status(), 404, "{name} was registered");
    }
}
