//! Webhooks end to end: a real receiver on 127.0.0.1 (the server started
//! with `--allow-private-webhook-urls`), run events with the default and a
//! custom template, retries recorded as calls, ad-hoc webhooks, `/test`,
//! refusals that name what is wrong, and dispatches that survive SIGKILL.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::receiver::Receiver;
use common::{assert_error, eventually, Server, TOKEN};
use serde_json::{json, Value};

fn server(dir: &std::path::Path) -> Server {
    Server::start_with(dir, true, &["--allow-private-webhook-urls", "--webhook-retry-base-millis", "200"])
}

async fn create(s: &Server, body: &Value) -> Value {
    let resp = s.post_json("/webhooks", body).await;
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    resp.json::<Value>().await.unwrap()["data"].clone()
}

const ENDS: [&str; 4] = ["ACTOR.RUN.SUCCEEDED", "ACTOR.RUN.FAILED", "ACTOR.RUN.ABORTED", "ACTOR.RUN.TIMED_OUT"];

#[tokio::test]
async fn every_run_ending_reaches_the_receiver_in_the_default_and_a_custom_template() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(dir.path());
    let plain = Receiver::start(0).await;
    let custom = Receiver::start(0).await;
    let probe = s.get_json("/acts/probe").await["data"]["id"].as_str().unwrap().to_owned();
    let hook = create(&s, &json!({"eventTypes": ENDS, "condition": {"actorId": probe}, "requestUrl": plain.url})).await;
    assert_eq!((hook["ignoreSslErrors"].as_bool(), hook["isAdHoc"].as_bool()), (Some(false), Some(false)), "{hook}");
    let template = r#"{"run": {{resource.id}}, "status": "{{resource.status}}", "text": "run {{resource.id}} is {{resource.status}}", "event": {{eventType}}}"#;
    create(
        &s,
        &json!({"eventTypes": ENDS, "condition": {"actorId": probe}, "requestUrl": custom.url, "payloadTemplate": template,
        "shouldInterpolateStrings": true, "headersTemplate": r#"{"X-Run": "{{resource.id}}"}"#}),
    )
    .await;

    let ok = s.run("probe", "", &json!({"mode": "ok"})).await;
    let failed = s.run("probe", "", &json!({"mode": "fail"})).await;
    let sleeping = s.start_run("probe", "", &json!({"mode": "sleep"})).await;
    s.wait_status(&sleeping, "RUNNING").await;
    assert_eq!(s.http.post(s.api(&format!("/actor-runs/{sleeping}/abort"))).bearer_auth(TOKEN).send().await.unwrap().status(), 200);
    let aborted = s.wait_terminal(&sleeping, common::RUN_DEADLINE).await;
    let timed_out = s.run("probe", "timeout=1", &json!({"mode": "sleep"})).await;
    let runs = [(&ok, "SUCCEEDED"), (&failed, "FAILED"), (&aborted, "ABORTED"), (&timed_out, "TIMED-OUT")];

    let got = plain.wait_for(4).await;
    for (run, status) in runs {
        let d = got.iter().find(|r| r.body["resource"]["id"] == run["id"]).unwrap_or_else(|| panic!("no delivery for {run}"));
        let event = format!("ACTOR.RUN.{}", status.replace('-', "_"));
        assert_eq!((&d.body["eventType"], &d.body["resource"]["status"]), (&json!(event), &json!(status)), "{:?}", d.body);
        assert_eq!(d.body["eventData"], json!({"actorId": probe, "actorTaskId": null, "actorRunId": run["id"]}));
        assert_eq!(d.body["userId"], run["userId"]);
        assert_eq!(d.headers["x-apify-webhook"], hook["id"].as_str().unwrap());
        assert_eq!(d.headers["content-type"], "application/json");
        assert_eq!(d.headers["x-apify-request-origin"], "WEBHOOK");
        let dispatch_id = d.headers["x-apify-webhook-dispatch-id"].to_str().unwrap();
        let dispatch = s.get_json(&format!("/webhook-dispatches/{dispatch_id}")).await["data"].clone();
        assert_eq!((&dispatch["status"], &dispatch["eventType"]), (&json!("SUCCEEDED"), &json!(event)), "{dispatch}");
        assert_eq!(dispatch["calls"][0]["responseStatus"], 200);
    }
    let got = custom.wait_for(4).await;
    for (run, status) in runs {
        let d = got.iter().find(|r| r.body["run"] == run["id"]).unwrap_or_else(|| panic!("no custom delivery for {run}"));
        let id = run["id"].as_str().unwrap();
        assert_eq!(d.body["text"], format!("run {id} is {status}"));
        assert_eq!(d.body["status"], status);
        assert_eq!(d.headers["x-run"], id, "the headers template");
    }
    let listed = s.get_json(&format!("/webhooks/{}/dispatches", hook["id"].as_str().unwrap())).await;
    assert_eq!(listed["data"]["total"], 4, "{listed}");
    assert_eq!(s.get_json(&format!("/acts/{probe}/webhooks")).await["data"]["total"], 2);
}

#[tokio::test]
async fn a_failing_receiver_is_retried_and_every_call_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(dir.path());
    let flaky = Receiver::start(2).await;
    let hook =
        create(&s, &json!({"eventTypes": ["ACTOR.RUN.SUCCEEDED"], "condition": {"actorId": "probe"}, "requestUrl": flaky.url})).await;
    s.run("probe", "", &json!({"mode": "ok"})).await;
    let got = flaky.wait_for(3).await;
    let ids: Vec<&str> = got.iter().map(|r| r.headers["x-apify-webhook-dispatch-id"].to_str().unwrap()).collect();
    assert!(ids.iter().all(|i| *i == ids[0]), "one dispatch, delivered again: {ids:?}");
    let dispatch_path = format!("/webhook-dispatches/{}", ids[0]);
    let (s, p) = (&s, &dispatch_path);
    eventually("the dispatch to succeed", || async move { s.get_json(p).await["data"]["status"] == "SUCCEEDED" }).await;
    let dispatch = s.get_json(&format!("/webhook-dispatches/{}", ids[0])).await["data"].clone();
    let statuses: Vec<&Value> = dispatch["calls"].as_array().unwrap().iter().map(|c| &c["responseStatus"]).collect();
    assert_eq!(statuses, [&json!(500), &json!(500), &json!(200)], "{dispatch}");
    assert_eq!(dispatch["webhookId"], hook["id"]);

    // doNotRetry: one call, then FAILED.
    let once = Receiver::start(usize::MAX).await;
    create(
        s,
        &json!({"eventTypes": ["ACTOR.RUN.SUCCEEDED"], "condition": {"actorId": "probe"}, "requestUrl": once.url, "doNotRetry": true}),
    )
    .await;
    s.run("probe", "", &json!({"mode": "ok"})).await;
    let got = once.wait_for(1).await;
    let id = got[0].headers["x-apify-webhook-dispatch-id"].to_str().unwrap().to_owned();
    let path = format!("/webhook-dispatches/{id}");
    let p = &path;
    eventually("the dispatch to fail", || async move { s.get_json(p).await["data"]["status"] == "FAILED" }).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(once.received().len(), 1, "doNotRetry");
}

#[tokio::test]
async fn ad_hoc_webhooks_on_start_and_test_dispatches() {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    let s = server(dir.path());
    let r = Receiver::start(0).await;
    let hooks = json!([{"eventTypes": ["ACTOR.RUN.CREATED", "ACTOR.RUN.SUCCEEDED"], "requestUrl": r.url}]);
    let encoded = base64::engine::general_purpose::STANDARD.encode(hooks.to_string());
    let run = s.run("probe", &format!("webhooks={encoded}"), &json!({"mode": "ok"})).await;
    s.run("probe", "", &json!({"mode": "ok"})).await; // another run: not this webhook's
    let got = r.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got_now = r.received();
    assert_eq!(got_now.len(), 2, "only the run's own events: {got:?}");
    let mut events: Vec<&str> = got_now.iter().map(|d| d.body["eventType"].as_str().unwrap()).collect();
    events.sort();
    assert_eq!(events, ["ACTOR.RUN.CREATED", "ACTOR.RUN.SUCCEEDED"]);
    assert!(got_now.iter().all(|d| d.body["resource"]["id"] == run["id"]));
    let listed = s.get_json("/webhooks").await;
    let ad_hoc = listed["data"]["items"].as_array().unwrap().iter().find(|w| w["condition"]["actorRunId"] == run["id"]).cloned().unwrap();
    assert_eq!(ad_hoc["isAdHoc"], true);

    // /test sends a TEST event now.
    let resp = s.http.post(s.api(&format!("/webhooks/{}/test", ad_hoc["id"].as_str().unwrap()))).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(resp.status(), 201);
    let dispatch: Value = resp.json().await.unwrap();
    assert_eq!(dispatch["data"]["eventType"], "TEST");
    let got = r.wait_for(3).await;
    assert_eq!(got[2].headers["x-apify-webhook-dispatch-id"], dispatch["data"]["id"].as_str().unwrap());
}

#[tokio::test]
async fn bad_webhooks_are_refused_with_the_reason_and_nothing_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(dir.path());
    let base = json!({"eventTypes": ["ACTOR.RUN.SUCCEEDED"], "condition": {"actorId": "probe"}, "requestUrl": "http://127.0.0.1:9/x"});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let msg =
        assert_error(s.post_json("/webhooks", &with("payloadTemplate", json!(r#"{"a": {{secret}}}"#))).await, 400, "invalid-webhook").await;
    assert!(msg.contains("\"secret\""), "{msg}");
    let msg =
        assert_error(s.post_json("/webhooks", &with("payloadTemplate", json!(r#"{"a": {{resource}}"#))).await, 400, "invalid-webhook")
            .await;
    assert!(msg.contains("not valid JSON"), "{msg}");
    assert_error(s.post_json("/webhooks", &with("requestUrl", json!("not a url"))).await, 400, "invalid-webhook").await;
    assert_error(s.post_json("/webhooks", &with("requestUrl", json!("ftp://example.com/"))).await, 400, "invalid-webhook").await;
    assert_error(s.post_json("/webhooks", &with("eventTypes", json!(["ACTOR.RUN.EXPLODED"]))).await, 400, "invalid-webhook").await;
    assert_error(s.post_json("/webhooks", &with("condition", json!({"actorId": "nope"}))).await, 400, "invalid-webhook").await;
    let resp = s.post_json("/acts/probe/runs?webhooks=%%%", &json!({"mode": "ok"})).await;
    assert_error(resp, 400, "invalid-webhook").await;
    assert_eq!(s.get_json("/webhooks").await["data"]["total"], 0);
    assert_eq!(s.get_json("/actor-runs").await["data"]["total"], 0, "no run was started with bad webhooks");

    // The same idempotency key gives the same webhook.
    let a = create(&s, &with("idempotencyKey", json!("k1"))).await;
    let b = create(&s, &with("idempotencyKey", json!("k1"))).await;
    assert_eq!(a["id"], b["id"]);
    assert_eq!(s.get_json("/webhooks").await["data"]["total"], 1);

    // Without --allow-private-webhook-urls, loopback and private receivers are refused.
    let dir = tempfile::tempdir().unwrap();
    let strict = Server::start_in(dir.path(), true);
    for url in ["http://127.0.0.1:8080/", "http://10.1.2.3/", "http://169.254.169.254/latest", "http://[::1]/", "http://localhost:1/"] {
        let msg = assert_error(strict.post_json("/webhooks", &with("requestUrl", json!(url))).await, 400, "invalid-webhook").await;
        assert!(msg.contains("--allow-private-webhook-urls"), "{url}: {msg}");
    }
}

/// A dispatch written before a SIGKILL is delivered after the restart,
/// under the same dispatch ID; none is lost.
#[tokio::test]
async fn dispatches_survive_a_crash_and_are_delivered_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(dir.path());
    // Failing until told otherwise: the dispatches stay ACTIVE, waiting for a retry.
    let r = Receiver::start(usize::MAX).await;
    create(&s, &json!({"eventTypes": ["ACTOR.RUN.SUCCEEDED"], "condition": {"actorId": "probe"}, "requestUrl": r.url})).await;
    let mut runs = Vec::new();
    for _ in 0..5 {
        runs.push(s.run("probe", "", &json!({"mode": "ok"})).await["id"].as_str().unwrap().to_owned());
    }
    r.wait_for(5).await;
    let before = s.get_json("/webhook-dispatches").await["data"]["items"].clone();
    assert_eq!(before.as_array().unwrap().len(), 5);
    s.crash();
    r.fail_first.store(0, Ordering::SeqCst);
    r.got.lock().clear();

    let s = server(dir.path());
    let got = r.wait_for(5).await;
    let mut delivered: Vec<String> = got.iter().map(|d| d.headers["x-apify-webhook-dispatch-id"].to_str().unwrap().to_owned()).collect();
    delivered.sort();
    delivered.dedup();
    let mut expected: Vec<String> = before.as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap().to_owned()).collect();
    expected.sort();
    assert_eq!(delivered, expected, "every dispatch from before the crash, under its own ID");
    let mut resources: Vec<String> = got.iter().map(|d| d.body["resource"]["id"].as_str().unwrap().to_owned()).collect();
    resources.sort();
    resources.dedup();
    runs.sort();
    assert_eq!(resources, runs);
    let s = &s;
    eventually("all dispatches SUCCEEDED", || async move {
        s.get_json("/webhook-dispatches").await["data"]["items"].as_array().unwrap().iter().all(|d| d["status"] == "SUCCEEDED")
    })
    .await;
}

/// A component adds a webhook to its own run and one to a child through
/// WIT; an idempotency key adds it once; a bad URL is a typed error.
#[tokio::test]
async fn a_component_adds_webhooks_through_wit() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(dir.path());
    let r = Receiver::start(0).await;
    let run = s.run("probe", "", &json!({"mode": "webhooks", "actor": "probe", "urls": [r.url]})).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    let kv = run["defaultKeyValueStoreId"].as_str().unwrap();
    let out = s.get_json(&format!("/key-value-stores/{kv}/records/OUTPUT")).await;
    assert_eq!(out["own"], out["again"], "{out}");
    assert!(out["bad"].as_str().unwrap().contains("requestUrl"), "{out}");
    let got = r.wait_for(2).await;
    let mut ids: Vec<&Value> = got.iter().map(|d| &d.body["resource"]["id"]).collect();
    ids.sort_by_key(|v| v.to_string());
    let mut want = vec![&run["id"], &out["child"]];
    want.sort_by_key(|v| v.to_string());
    assert_eq!(ids, want);
}

/// Build and resurrection events reach the Actor's webhooks too.
#[tokio::test]
async fn builds_and_resurrections_are_events_too() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(dir.path());
    let r = Receiver::start(0).await;
    let events = ["ACTOR.BUILD.CREATED", "ACTOR.BUILD.SUCCEEDED", "ACTOR.RUN.RESURRECTED"];
    create(&s, &json!({"eventTypes": events, "condition": {"actorId": "probe"}, "requestUrl": r.url})).await;
    let wasm = std::fs::read(common::repo().join("target/wasm32-wasip2/release/probe.wasm")).unwrap();
    let resp = s
        .http
        .post(s.api("/acts/probe/builds?version=0.1"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/wasm")
        .body(wasm)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let build: Value = resp.json().await.unwrap();
    let run = s.run("probe", "", &json!({"mode": "ok"})).await;
    let resp =
        s.http.post(s.api(&format!("/actor-runs/{}/resurrect", run["id"].as_str().unwrap()))).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let got = r.wait_for(3).await;
    let mut seen: Vec<(String, Value)> =
        got.iter().map(|d| (d.body["eventType"].as_str().unwrap().to_owned(), d.body["eventData"].clone())).collect();
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(seen[0].0, "ACTOR.BUILD.CREATED");
    assert_eq!(seen[1], ("ACTOR.BUILD.SUCCEEDED".to_owned(), json!({"actorId": run["actId"], "actorBuildId": build["data"]["id"]})));
    assert_eq!(seen[2].0, "ACTOR.RUN.RESURRECTED");
    assert_eq!(seen[2].1["actorRunId"], run["id"]);
}

/// A receiver that answers with an endless body costs the server 1 KiB:
/// the call is recorded with the start of the answer and the dispatch ends.
#[tokio::test]
async fn an_endless_answer_is_cut_at_a_kilobyte() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(dir.path());
    let endless = axum::Router::new().fallback(|| async {
        let chunks = futures::stream::repeat_with(|| Ok::<_, std::io::Error>(axum::body::Bytes::from_static(&[b'x'; 65536])));
        axum::body::Body::from_stream(chunks)
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, endless).await.unwrap() });
    let hook = create(&s, &json!({"eventTypes": ["ACTOR.RUN.SUCCEEDED"], "condition": {"actorId": "probe"}, "requestUrl": url})).await;
    let resp = s.http.post(s.api(&format!("/webhooks/{}/test", hook["id"].as_str().unwrap()))).bearer_auth(TOKEN).send().await.unwrap();
    let id = resp.json::<Value>().await.unwrap()["data"]["id"].as_str().unwrap().to_owned();
    let (s, path) = (&s, format!("/webhook-dispatches/{id}"));
    let p = &path;
    eventually("the dispatch to succeed", || async move { s.get_json(p).await["data"]["status"] == "SUCCEEDED" }).await;
    let dispatch = s.get_json(p).await["data"].clone();
    assert_eq!(dispatch["calls"][0]["responseBody"].as_str().unwrap().len(), 1024, "{}", dispatch["calls"][0]["responseStatus"]);
}
