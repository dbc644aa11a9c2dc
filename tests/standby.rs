//! Standby: component Actors answering HTTP on their Standby URL, against a
//! real server with the real example and test components.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{Server, TOKEN};
use serde_json::{json, Value};

fn addr(s: &Server) -> SocketAddr {
    s.url.trim_start_matches("http://").parse().unwrap()
}

/// A client that reaches `<host>` (a Standby host name) at the test server, on loopback.
fn client_for(s: &Server, host: &str) -> reqwest::Client {
    reqwest::Client::builder().resolve(host, addr(s)).build().unwrap()
}

fn by_host(s: &Server, actor: &str, path: &str) -> (reqwest::Client, String) {
    let host = format!("me--{actor}.localhost");
    (client_for(s, &host), format!("http://{host}:{}{path}", addr(s).port()))
}

fn by_path(s: &Server, actor: &str, path: &str) -> String {
    format!("{}/standby/me~{actor}{path}", s.url)
}

async fn set_standby(s: &Server, actor: &str, settings: Value) {
    let resp =
        s.http.put(s.api(&format!("/acts/{actor}"))).bearer_auth(TOKEN).json(&json!({ "actorStandby": settings })).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
}

async fn standby_runs(s: &Server, actor: &str) -> Vec<Value> {
    let runs = s.get_json(&format!("/acts/{actor}/runs")).await;
    runs["data"]["items"].as_array().unwrap().iter().filter(|r| r["meta"]["origin"] == "STANDBY").cloned().collect()
}

async fn wait_terminal(s: &Server, run_id: &str, max: Duration) -> Value {
    let start = Instant::now();
    loop {
        let run = s.get_json(&format!("/actor-runs/{run_id}")).await["data"].clone();
        if common::is_terminal(&run) || start.elapsed() > max {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn host_and_path_routing_reach_the_handler_with_method_path_query_and_body() {
    let (s, _dir) = Server::start();
    let (client, url) = by_host(&s, "standby-probe", "/echo/deep?a=b%20c&n=1");
    let resp = client.patch(&url).bearer_auth(TOKEN).header("content-type", "text/plain").body("hello body").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let echo: Value = resp.json().await.unwrap();
    assert_eq!(echo["method"], "PATCH");
    assert_eq!(echo["path"], "/echo/deep");
    assert_eq!(echo["query"], "a=b%20c&n=1");
    assert_eq!(echo["params"], json!([["a", "b c"], ["n", "1"]]));
    assert_eq!(echo["body"], "hello body");
    assert_eq!(echo["contentType"], "text/plain");
    // The Actor never sees the caller's API token.
    assert_eq!(echo["authorization"], Value::Null);
    assert_eq!(echo["origin"], "STANDBY");
    let port = addr(&s).port();
    assert_eq!(echo["standbyUrl"], format!("http://me--standby-probe.localhost:{port}"));

    // The same Actor by path, with the token in the query (taken out before the Actor sees it).
    let resp = s.http.post(by_path(&s, "standby-probe", "/x?token=") + TOKEN + "&keep=1").body("{}").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let echo2: Value = resp.json().await.unwrap();
    assert_eq!(echo2["path"], "/x");
    assert_eq!(echo2["query"], "keep=1");
    // Sequential requests stay on the one Standby run.
    assert_eq!(echo2["runId"], echo["runId"]);

    let actor = s.get_json("/acts/standby-probe").await;
    assert_eq!(actor["data"]["standbyUrl"], format!("http://me--standby-probe.localhost:{port}"));
    assert_eq!(s.get_json("/acts/hello").await["data"]["standbyUrl"], Value::Null);

    // The Standby run is an ordinary run: listed, RUNNING, with its own storages and log.
    let runs = standby_runs(&s, "standby-probe").await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["id"], echo["runId"]);
    assert_eq!(runs[0]["status"], "RUNNING");
    assert_eq!(runs[0]["defaultKeyValueStoreId"], echo["defaultKeyValueStoreId"]);
    let log = s.get(&format!("/logs/{}", echo["runId"].as_str().unwrap())).await.text().await.unwrap();
    assert!(log.contains("Serving Standby requests"), "{log}");
}

#[tokio::test]
async fn the_examples_answer_on_their_standby_urls() {
    let (s, _dir) = Server::start();
    let (client, url) = by_host(&s, "standby-hello", "/count");
    for expected in 1..=3 {
        let v: Value = client.get(&url).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
        assert_eq!(v["count"], expected);
    }
    let store = s.get_json("/key-value-stores/standby-hello/records/COUNT").await;
    assert_eq!(store, json!(3));
    let v: Value = s.http.get(by_path(&s, "standby-hello", "/hi?x=1")).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    assert_eq!((v["method"].as_str(), v["path"].as_str(), v["query"].as_str()), (Some("GET"), Some("/hi"), Some("x=1")));

    // The JSON API: a round trip through its store, and a log line into its run's dataset.
    let api = |p: &str| by_path(&s, "kv-api", p);
    let put = s.http.put(api("/items/alpha")).bearer_auth(TOKEN).json(&json!({"n": 1})).send().await.unwrap();
    assert_eq!(put.status(), 200);
    let got: Value = s.http.get(api("/items/alpha")).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    assert_eq!(got, json!({"n": 1}));
    let list: Value = s.http.get(api("/items")).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["items"][0]["key"], "alpha");
    let bad = s.http.put(api("/items/beta")).bearer_auth(TOKEN).body("not json").send().await.unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(s.http.delete(api("/items/alpha")).bearer_auth(TOKEN).send().await.unwrap().status(), 204);
    assert_eq!(s.http.get(api("/items/alpha")).bearer_auth(TOKEN).send().await.unwrap().status(), 404);
    assert_eq!(s.http.post(api("/log")).bearer_auth(TOKEN).json(&json!({"event": "hit"})).send().await.unwrap().status(), 201);
    let run = &standby_runs(&s, "kv-api").await[0];
    let items = s.get_json(&format!("/datasets/{}/items", run["defaultDatasetId"].as_str().unwrap())).await;
    assert_eq!(items, json!([{"event": "hit"}]));
}

#[tokio::test]
async fn auth_is_required_unless_the_actor_is_public() {
    let (s, _dir) = Server::start();
    let url = by_path(&s, "standby-probe", "/echo");
    let resp = s.http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["type"], "token-not-provided");
    let resp = s.http.get(&url).bearer_auth("wrong").send().await.unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["type"], "token-not-valid");
    let (client, host_url) = by_host(&s, "standby-probe", "/echo?token=wrong");
    assert_eq!(client.get(&host_url).send().await.unwrap().status(), 401);
    // No run was started for the rejected requests.
    assert!(standby_runs(&s, "standby-probe").await.is_empty());

    set_standby(&s, "standby-probe", json!({"isPublic": true})).await;
    let resp = s.http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    // A caller's own Authorization header reaches a public Actor untouched.
    let echo: Value = s.http.get(&url).bearer_auth("their-own").send().await.unwrap().json().await.unwrap();
    assert_eq!(echo["authorization"], "Bearer their-own");
}

#[tokio::test]
async fn concurrent_requests_spread_over_runs_by_the_limits() {
    // standby-probe: at most 2 requests per run, a new run past 1.
    let (s, _dir) = Server::start();
    let url = by_path(&s, "standby-probe", "/sleep?ms=1500");
    let requests = (0..6).map(|_| {
        let http = s.http.clone();
        let url = url.clone();
        tokio::spawn(async move { http.get(&url).bearer_auth(TOKEN).send().await.unwrap().json::<Value>().await.unwrap() })
    });
    let answers: Vec<Value> = futures::future::join_all(requests).await.into_iter().map(Result::unwrap).collect();
    let mut per_run: HashMap<String, usize> = HashMap::new();
    for a in &answers {
        assert_eq!(a["slept"], 1500, "{a}");
        *per_run.entry(a["runId"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    // Six requests held at once, at most two per run: at least three runs.
    assert!(per_run.len() >= 3, "runs used: {per_run:?}");
    let runs = standby_runs(&s, "standby-probe").await;
    assert!(runs.len() >= 3);
    assert!(runs.iter().all(|r| r["status"] == "RUNNING"));
}

#[tokio::test]
async fn beyond_the_limits_requests_queue_and_then_get_503_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_with(
        dir.path(),
        true,
        &["--standby-runs-per-actor", "1", "--standby-queue-wait-secs", "1", "--standby-queue-per-actor", "2"],
    );
    // One run, two requests at a time, two may wait: of five held requests, two are served,
    // two wait a second and give up, one is turned away at once.
    // The run is up first, so all five arrive at once at a serving run (no stagger to rely on).
    let warm = s.http.get(by_path(&s, "standby-probe", "/echo")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(warm.status(), 200);
    let url = by_path(&s, "standby-probe", "/sleep?ms=2000");
    let started = Instant::now();
    let requests = (0..5).map(|_| {
        let http = s.http.clone();
        let url = url.clone();
        tokio::spawn(async move {
            let resp = http.get(&url).bearer_auth(TOKEN).send().await.unwrap();
            let retry = resp.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
            (resp.status().as_u16(), retry, resp.json::<Value>().await.unwrap())
        })
    });
    let answers: Vec<_> = futures::future::join_all(requests).await.into_iter().map(Result::unwrap).collect();
    let ok = answers.iter().filter(|(st, _, _)| *st == 200).count();
    let busy: Vec<_> = answers.iter().filter(|(st, _, _)| *st == 503).collect();
    assert_eq!((ok, busy.len()), (2, 3), "{answers:?}");
    for (_, retry, body) in &busy {
        assert!(retry.as_deref().is_some_and(|r| r.parse::<u64>().unwrap() >= 1), "{retry:?}");
        assert_eq!(body["error"]["type"], "actor-standby-overloaded");
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    // Once the load is gone the Actor answers again.
    let resp = s.http.get(by_path(&s, "standby-probe", "/echo")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn an_idle_standby_run_gets_aborting_and_finishes() {
    let (s, _dir) = Server::start();
    set_standby(&s, "standby-probe", json!({"idleTimeoutSecs": 1})).await;
    let url = by_path(&s, "standby-probe", "/echo");
    let first: Value = s.http.get(&url).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    let run_id = first["runId"].as_str().unwrap().to_owned();
    let run = wait_terminal(&s, &run_id, Duration::from_secs(10)).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    assert!(run["statusMessage"].as_str().unwrap().contains("without requests"), "{run}");
    // The next request starts a new run.
    let second: Value = s.http.get(&url).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    assert_ne!(second["runId"], first["runId"]);
}

#[tokio::test]
async fn a_trapping_looping_or_greedy_handler_fails_only_its_request() {
    // standby-probe's requestTimeoutSecs is 3.
    let (s, _dir) = Server::start();
    let get = |p: &str| s.http.get(by_path(&s, "standby-probe", p)).bearer_auth(TOKEN).send();
    let echo: Value = get("/echo").await.unwrap().json().await.unwrap();

    let trap = get("/trap").await.unwrap();
    assert_eq!(trap.status(), 500);
    let body: Value = trap.json().await.unwrap();
    assert_eq!(body["error"]["type"], "actor-standby-handler-failed");
    assert!(body["error"]["message"].as_str().unwrap().contains("crashed"), "{body}");

    let memory = get("/memory?mb=512").await.unwrap();
    assert_eq!(memory.status(), 500);
    assert!(memory.json::<Value>().await.unwrap()["error"]["message"].as_str().unwrap().contains("out of memory"));

    // A spinning handler gets 504 at its deadline while another request is answered meanwhile.
    let started = Instant::now();
    let looping = tokio::spawn(s.http.get(by_path(&s, "standby-probe", "/loop")).bearer_auth(TOKEN).send());
    common::eventually("the /loop handler spinning", || async {
        let mut spinning = false;
        for run in standby_runs(&s, "standby-probe").await {
            let log = s.get(&format!("/logs/{}", run["id"].as_str().unwrap())).await.text().await.unwrap();
            spinning |= log.contains("spinning forever");
        }
        spinning
    })
    .await;
    let during = get("/echo").await.unwrap();
    assert_eq!(during.status(), 200);
    let looping = looping.await.unwrap().unwrap();
    assert_eq!(looping.status(), 504);
    assert_eq!(looping.json::<Value>().await.unwrap()["error"]["type"], "actor-standby-timeout");
    assert!(started.elapsed() < Duration::from_secs(8), "{:?}", started.elapsed());

    // The run keeps serving.
    let after: Value = get("/echo").await.unwrap().json().await.unwrap();
    let runs = standby_runs(&s, "standby-probe").await;
    assert!(runs.iter().any(|r| r["id"] == after["runId"] && r["status"] == "RUNNING"));
    assert!(runs.iter().any(|r| r["id"] == echo["runId"] && r["status"] == "RUNNING"), "{runs:?}");
    let log = s.get(&format!("/logs/{}", echo["runId"].as_str().unwrap())).await.text().await.unwrap();
    assert!(log.contains("panicked on purpose"), "{log}");
}

/// `actorStandby.maxRequestsPerInstance`: by default every request gets a
/// fresh instance; opted in, one instance answers that many requests in
/// turn, each under its own deadline, and one that fails is never reused.
#[tokio::test]
async fn instances_are_fresh_per_request_unless_reuse_is_opted_into() {
    let (s, _dir) = Server::start();
    let count = || async {
        let resp = s.http.get(by_path(&s, "standby-probe", "/count")).bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        resp.json::<Value>().await.unwrap()["answered"].as_u64().unwrap()
    };
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(count().await);
    }
    assert_eq!(seen, [1, 1, 1], "each request has an instance of its own");

    set_standby(&s, "standby-probe", json!({ "maxRequestsPerInstance": 3 })).await;
    let actor = s.get_json("/acts/standby-probe").await;
    assert_eq!(actor["data"]["actorStandby"]["maxRequestsPerInstance"], 3, "{actor}");
    // The settings reach new Standby runs: end the one that serves now.
    for run in standby_runs(&s, "standby-probe").await {
        s.http.post(s.api(&format!("/actor-runs/{}/abort", run["id"].as_str().unwrap()))).bearer_auth(TOKEN).send().await.unwrap();
    }
    let mut seen = Vec::new();
    for _ in 0..7 {
        seen.push(count().await);
    }
    assert_eq!(seen, [1, 2, 3, 1, 2, 3, 1], "an instance answers 3 requests, then a fresh one takes over");

    // A reused instance gets a deadline of its own per request: the probe's
    // requestTimeoutSecs is 3, so the first request's deadline has passed.
    tokio::time::sleep(Duration::from_millis(3200)).await;
    assert_eq!(count().await, 2);

    // A handler that traps ends its instance: the next request gets a fresh one.
    let trap = s.http.get(by_path(&s, "standby-probe", "/trap")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(trap.status(), 500);
    assert_eq!(count().await, 1, "a trapped instance is not reused");
    // So does one that overruns its deadline, on a reused instance too.
    let started = Instant::now();
    let looping = s.http.get(by_path(&s, "standby-probe", "/loop")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(looping.status(), 504);
    assert!(started.elapsed() < Duration::from_secs(6), "{:?}", started.elapsed());
    assert_eq!(count().await, 1, "an instance stopped at its deadline is not reused");
}

#[tokio::test]
async fn standby_runs_end_with_an_abort_and_the_actor_comes_back() {
    let (s, _dir) = Server::start();
    let url = by_path(&s, "standby-probe", "/echo");
    let first: Value = s.http.get(&url).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    let run_id = first["runId"].as_str().unwrap();
    let resp = s.http.post(s.api(&format!("/actor-runs/{run_id}/abort?gracefully=true"))).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let run = wait_terminal(&s, run_id, Duration::from_secs(10)).await;
    assert_eq!(run["status"], "ABORTED");
    let second: Value = s.http.get(&url).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    assert_ne!(second["runId"], first["runId"]);
}

#[tokio::test]
async fn actors_without_standby_get_clear_errors() {
    let (s, _dir) = Server::start();
    let resp = s.http.get(by_path(&s, "hello", "/")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["type"], "actor-standby-not-enabled");
    assert!(body["error"]["message"].as_str().unwrap().contains("usesStandbyMode"));

    let resp = s.http.get(by_path(&s, "no-such-actor", "/")).bearer_auth(TOKEN).send().await.unwrap();
    common::assert_error(resp, 404, "record-not-found").await;
    let (client, url) = by_host(&s, "no-such-actor", "/");
    assert_eq!(client.get(&url).bearer_auth(TOKEN).send().await.unwrap().status(), 404);
    let client = client_for(&s, "nodashes.localhost");
    let resp = client.get(format!("http://nodashes.localhost:{}/", addr(&s).port())).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(resp.status(), 404);

    // A Standby-only Actor cannot be started as a batch run.
    let resp = s.post_json("/acts/standby-hello/runs", &json!({})).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["type"], "actor-standby-only");

    // The API itself is unaffected by the Standby router.
    assert_eq!(s.get("/acts/hello").await.status(), 200);
}

/// `actorStandby.build`, `memoryMbytes` and `shouldPassActorInput` shape the Standby runs of a component Actor.
#[tokio::test]
async fn standby_settings_choose_the_build_memory_and_input_of_its_runs() {
    let (s, _dir) = Server::start();
    let build = s.get_json("/acts/standby-probe/builds/default").await["data"].clone();
    let number = build["buildNumber"].as_str().unwrap().to_owned();
    let resp = s
        .http
        .put(s.api("/acts/standby-probe"))
        .bearer_auth(TOKEN)
        .json(&json!({
            "actorStandby": {"build": number, "memoryMbytes": 512, "shouldPassActorInput": true},
            "exampleRunInput": {"body": "{\"greeting\": \"from the example\"}", "contentType": "application/json"},
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let echo: Value = s.http.get(by_path(&s, "standby-probe", "/echo")).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    let run = s.get_json(&format!("/actor-runs/{}", echo["runId"].as_str().unwrap())).await["data"].clone();
    assert_eq!(run["options"]["memoryMbytes"], 512, "{run}");
    assert_eq!(run["buildNumber"], number.as_str());
    assert_eq!(run["meta"]["origin"], "STANDBY");
    let store = run["defaultKeyValueStoreId"].as_str().unwrap();
    let input = s.get_json(&format!("/key-value-stores/{store}/records/INPUT")).await;
    assert_eq!(input, json!({"greeting": "from the example"}));
    let _ = s.http.post(s.api(&format!("/actor-runs/{}/abort", run["id"].as_str().unwrap()))).bearer_auth(TOKEN).send().await;
}
