//! JavaScript component Actors: the examples and a probe pushed with
//! `wactor push` (the npm toolchain installed into a cache that starts empty
//! in every run of this binary), run over the API of a real server.

mod common;

use std::time::Duration;

use common::pushed::{actor_dir, items, push, push_ok, record, server, standby};
use common::{Server, TOKEN};
use serde_json::{json, Value};

#[tokio::test]
async fn js_hello_is_pushed_and_runs_with_its_input_schema() {
    let (s, _dir) = server();
    push_ok(&s, "examples/js-hello").await;

    let run = s.run("js-hello", "", &json!({ "name": "JS", "count": 3 })).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run:#}");
    assert_eq!(run["statusMessage"], "Greeted JS 3 time(s)");
    let got = items(&s, &run).await;
    assert_eq!(got.len(), 3);
    assert_eq!(got[2], json!({ "greeting": "Hello, JS!", "index": 2 }));
    assert_eq!(record(&s, &run, "OUTPUT").await, json!({ "greeting": "Hello, JS!", "count": 3 }));
    let log = s.get(&format!("/actor-runs/{}/log", run["id"].as_str().unwrap())).await.text().await.unwrap();
    assert!(log.contains("Hello, JS!"), "console.log reaches the run log:\n{log}");

    // Defaults come from the input schema; a wrong type is refused before a run exists.
    let run = s.run("js-hello", "", &json!({})).await;
    assert_eq!(record(&s, &run, "OUTPUT").await, json!({ "greeting": "Hello, world!", "count": 1 }));
    let resp = s.post_json("/acts/js-hello/runs", &json!({ "name": 5 })).await;
    let message = common::assert_error(resp, 400, "invalid-input").await;
    assert!(message.contains("name"), "{message}");
}

#[tokio::test]
async fn js_standby_answers_on_its_standby_url() {
    let (s, _dir) = server();
    push_ok(&s, "examples/js-standby").await;
    let (http, _) = standby(&s, "js-standby", "/");
    let url = |path: &str| standby(&s, "js-standby", path).1;

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
    s.run("js-probe", query, &input).await
}

#[tokio::test]
async fn the_js_sdk_behaves_as_the_rust_one() {
    let (s, _dir) = server();
    push_ok(&s, "tests/js/probe").await;

    // A thrown exception, Actor.fail and a non-zero exit code end the run FAILED with the message.
    let run = probe(&s, json!({ "mode": "throw" }), "").await;
    assert_eq!((run["status"].as_str(), run["statusMessage"].as_str()), (Some("FAILED"), Some("the probe threw on purpose")));
    let run = probe(&s, json!({ "mode": "fail" }), "").await;
    assert_eq!((run["status"].as_str(), run["statusMessage"].as_str()), (Some("FAILED"), Some("the probe failed on purpose")));
    let run = probe(&s, json!({ "mode": "exit-code" }), "").await;
    assert_eq!(run["status"], "FAILED");
    // An endless loop is stopped at the timeout; a memory bomb at the memory limit; the server lives on.
    let run = probe(&s, json!({ "mode": "loop" }), "timeout=2").await;
    assert_eq!(run["status"], "TIMED-OUT", "{run:#}");
    let run = probe(&s, json!({ "mode": "bomb" }), "").await;
    assert_eq!(run["status"], "FAILED");
    assert!(run["statusMessage"].as_str().unwrap().contains("memory"), "{run:#}");
    // A missing required field: 400, no run.
    let resp = s.post_json("/acts/js-probe/runs", &json!({})).await;
    common::assert_error(resp, 400, "invalid-input").await;

    // Named and default storages, every value kind, the request queue.
    let run = probe(&s, json!({ "mode": "storages" }), "").await;
    assert_eq!(run["status"], "SUCCEEDED", "{run:#}");
    assert_eq!(run["statusMessage"], "probe done");
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
    let text = s.get("/key-value-stores/js-probe-store/records/text").await;
    assert_eq!(text.headers()["content-type"].to_str().unwrap(), "text/plain");
    assert_eq!(text.text().await.unwrap(), "plain text");
    let named = s.get_json("/datasets/js-probe-items/items").await;
    assert_eq!(named, json!([{ "n": 1 }, { "n": 2 }]));

    // pushData with a charged event pushes what the allowance pays for.
    let run = probe(&s, json!({ "mode": "charge" }), "maxTotalChargeUsd=0.25").await;
    assert_eq!(run["status"], "SUCCEEDED", "{run:#}");
    assert_eq!(items(&s, &run).await.len(), 2);
    let out = record(&s, &run, "OUTPUT").await;
    assert_eq!((out["result"]["chargedCount"].as_u64(), out["counted"].as_u64()), (Some(2), Some(2)));
    assert_eq!(out["result"]["eventChargeLimitReached"], true);

    // Outbound HTTP with fetch (loopback allowed on this server).
    let run = probe(&s, json!({ "mode": "fetch", "url": format!("{}/health", s.url) }), "").await;
    assert_eq!(run["status"], "SUCCEEDED", "{run:#}");
    assert_eq!(record(&s, &run, "OUTPUT").await["status"], 200);

    // Persisted state and status messages.
    let run = probe(&s, json!({ "mode": "state", "steps": 3 }), "").await;
    assert_eq!(record(&s, &run, "OUTPUT").await, json!({ "steps": 3 }));
    assert_eq!(record(&s, &run, "STATE").await["step"], 3);
}

/// A site of `pages` pages on 127.0.0.1, each linking to three others (and
/// off-site), answering each page after `delay`.
async fn site(pages: usize, delay: Duration) -> String {
    use axum::extract::Path as UrlPath;
    let app = axum::Router::new().route(
        "/p/{n}",
        axum::routing::get(move |UrlPath(n): UrlPath<usize>| async move {
            tokio::time::sleep(delay).await;
            let links: String = [(n + 1) % pages, (2 * n + 1) % pages, (3 * n + 7) % pages]
                .iter()
                .map(|l| format!(r#"<a href="/p/{l}#top">page {l}</a> "#))
                .collect();
            axum::response::Html(format!(
                "<html><head><title>Page {n}</title></head><body><h1>Heading {n}</h1>{links}<a href=\"https://off.example/\">off</a></body></html>"
            ))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_crawler_survives_a_migration_with_every_page_once() {
    let dir = tempfile::tempdir().unwrap();
    let pages = 120;
    let origin = site(pages, Duration::from_millis(15)).await;
    let s = Server::start_with(dir.path(), false, &["--allow-private-outbound"]);
    push_ok(&s, "examples/js-crawler").await;
    let run_id = s.start_run("js-crawler", "", &json!({ "startUrls": [{ "url": format!("{origin}/p/0") }] })).await;
    let run = s.get_json(&format!("/actor-runs/{run_id}")).await["data"].clone();
    let dataset = run["defaultDatasetId"].as_str().unwrap().to_owned();
    common::eventually("the crawl under way", || async {
        s.get_json(&format!("/datasets/{dataset}")).await["data"]["itemCount"].as_u64().unwrap_or(0) >= 20
    })
    .await;

    // SIGTERM: the run gets `migrating`, stops between pages, and resumes after the restart.
    s.stop();
    let s = Server::start_with(dir.path(), false, &["--allow-private-outbound"]);
    let run = s.wait_terminal(&run_id, Duration::from_secs(120)).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run:#}");
    assert_eq!(run["stats"]["migrationCount"], 1, "{run:#}");
    let got = items(&s, &run).await;
    let mut urls: Vec<String> = got.iter().map(|i| i["url"].as_str().unwrap().to_owned()).collect();
    urls.sort();
    let total = urls.len();
    urls.dedup();
    assert_eq!((total, urls.len()), (pages, pages), "every page exactly once");
    let first = got.iter().find(|i| i["url"] == format!("{origin}/p/0")).unwrap();
    assert_eq!((first["title"].as_str(), first["heading"].as_str(), first["links"].as_u64()), (Some("Page 0"), Some("Heading 0"), Some(3)));
    assert_eq!(record(&s, &run, "OUTPUT").await, json!({ "pages": pages, "failed": 0 }));
}

#[tokio::test]
async fn bad_js_actors_are_refused_with_the_reason_and_nothing_is_registered() {
    let (s, _dir) = server();
    let cases = [
        (
            actor_dir("js-syntax", &[("package.json", "{}"), ("main.js", "import { Actor } from 'wactor-sdk';\n\nconst x = {;\n")]),
            "main.js:3:",
        ),
        (actor_dir("js-no-entry", &[("package.json", r#"{"name":"js-no-entry","type":"module"}"#)]), "no entry point"),
        (
            actor_dir(
                "js-node-fs",
                &[("package.json", "{}"), ("main.js", "import { readFileSync } from 'fs';\nreadFileSync('/etc/passwd');\n")],
            ),
            "\"fs\"",
        ),
        (
            actor_dir(
                "js-native",
                &[
                    ("package.json", "{}"),
                    ("main.js", "import native from 'native-thing';\nnative();\n"),
                    ("node_modules/native-thing/package.json", r#"{"name":"native-thing","main":"index.js"}"#),
                    ("node_modules/native-thing/index.js", "module.exports = require('./build/Release/thing.node');\n"),
                    ("node_modules/native-thing/build/Release/thing.node", "\x7fELF"),
                ],
            ),
            "native-thing",
        ),
    ];
    for (dir, expected) in &cases {
        let p = push(&s, dir.path()).await;
        assert!(!p.ok, "a bad Actor was pushed:\n{}", p.output);
        assert!(p.output.contains(expected), "the error names {expected:?}:\n{}", p.output);
    }
    for name in ["js-syntax", "js-no-entry", "js-node-fs", "js-native"] {
        assert_eq!(s.get(&format!("/acts/{name}")).await.status(), 404, "{name} was registered");
    }
}
