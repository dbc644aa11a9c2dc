//! Promises the README makes that had no test of their own: each one here
//! against a real server on 127.0.0.1.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Server, TOKEN};
use serde_json::{json, Value};

async fn output(s: &Server, run: &Value) -> Value {
    s.get_json(&format!("/key-value-stores/{}/records/OUTPUT", run["defaultKeyValueStoreId"].as_str().unwrap())).await
}

/// SIGTERM and SIGINT are migrations: the guest hears `Migrating` and
/// `PersistState{isMigrating: true}` before it is stopped, and resumes after.
#[tokio::test(flavor = "multi_thread")]
async fn a_shutdown_tells_the_guest_before_it_stops_it() {
    for signal in [15, 2] {
        let dir = tempfile::tempdir().unwrap();
        let s = Server::start_in(dir.path(), true);
        let id = s.start_run("probe", "", &json!({"mode": "migration-events"})).await;
        s.wait_status(&id, "RUNNING").await;
        s.stop_with_signal(signal);
        let s = Server::start_in(dir.path(), false);
        let run = s.wait_terminal(&id, common::RUN_DEADLINE).await;
        assert_eq!(run["status"], "SUCCEEDED", "signal {signal}: {run}");
        let seen = output(&s, &run).await;
        let seen: Vec<&str> = seen.as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
        assert!(seen.iter().any(|e| e.starts_with("Migrating")), "signal {signal}: {seen:?}");
        assert!(seen.contains(&"PersistState { is_migrating: true }"), "signal {signal}: {seen:?}");
        assert_eq!(run["stats"]["migrationCount"], 1);
    }
}

/// During the grace period of a shutdown, new runs are refused with a 503 clients retry.
#[tokio::test(flavor = "multi_thread")]
async fn new_runs_are_refused_during_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_with(dir.path(), true, &["--shutdown-grace-secs", "5"]);
    let id = s.start_run("probe", "", &json!({"mode": "migration-events"})).await;
    s.wait_status(&id, "RUNNING").await;
    s.signal(15);
    let deadline = Instant::now() + Duration::from_secs(4);
    let refused = loop {
        let resp = s.post_json("/acts/hello/runs", &json!({})).await;
        if resp.status() == 503 {
            break resp.json::<Value>().await.unwrap();
        }
        assert!(Instant::now() < deadline, "runs were still accepted: {}", resp.status());
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(refused["error"]["type"], "server-shutting-down", "{refused}");
    s.stop();
}

/// A server started without a token makes one, keeps it, and takes it after a restart.
#[tokio::test(flavor = "multi_thread")]
async fn the_token_made_on_first_start_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    common::build_guests();
    let serve = || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wactor"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .env_remove("WACTOR_TOKEN")
            .env("RUST_LOG", "wactor=warn")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        // Read the banner up to its last line; the token appears in it only
        // at the first start (only its digest is kept).
        let (mut url, mut token) = (None, None);
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        loop {
            let line = lines.next().expect("the server ended its banner early").unwrap();
            if let Some(u) = line.strip_prefix("wactor listening on ") {
                url = Some(u.trim().to_owned());
            }
            if line.starts_with("API token (") {
                token = line.rsplit(": ").next().map(str::to_owned);
            }
            if line.starts_with("data dir: ") {
                break;
            }
        }
        (child, url.unwrap(), token)
    };
    let (mut first, url, token) = serve();
    let token = token.expect("the first start prints the admin's token");
    assert!(token.starts_with("wactor_") && token.len() > 30, "{token}");
    let resp = reqwest::Client::new().get(format!("{url}/v2/actors")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    first.kill().unwrap();
    first.wait().unwrap();
    let (mut second, url, again) = serve();
    assert_eq!(again, None, "a later start cannot print a token it does not keep");
    let resp = reqwest::Client::new().get(format!("{url}/v2/actors")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    second.kill().unwrap();
    second.wait().unwrap();
}

/// `--durability periodic` serves as usual, and a clean stop keeps every write.
#[tokio::test(flavor = "multi_thread")]
async fn periodic_durability_serves_and_a_clean_stop_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_with(dir.path(), true, &["--durability", "periodic"]);
    let ds: Value = s.post_json("/datasets?name=periodic", &json!({})).await.json().await.unwrap();
    let ds = ds["data"]["id"].as_str().unwrap().to_owned();
    for b in 0..10 {
        let items: Vec<Value> = (0..100).map(|i| json!({"n": b * 100 + i})).collect();
        assert_eq!(s.post_json(&format!("/datasets/{ds}/items"), &json!(items)).await.status(), 201);
    }
    assert_eq!(s.run("hello", "", &json!({"name": "p"})).await["status"], "SUCCEEDED");
    s.stop();
    let s = Server::start_in(dir.path(), false);
    assert_eq!(s.get_json(&format!("/datasets/{ds}")).await["data"]["itemCount"], 1000);
}

/// The CLI: `--input-file`, a FAILED run's exit code, and `logs --follow` until the run ends.
#[tokio::test(flavor = "multi_thread")]
async fn the_cli_reads_input_files_follows_logs_and_reports_failure() {
    let (s, dir) = Server::start();
    let input = dir.path().join("input.json");
    std::fs::write(&input, r#"{"name": "File", "count": 2}"#).unwrap();
    let out = s.cli().args(["call", "hello", "--input-file"]).arg(&input).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Hello, File!"));

    std::fs::write(&input, r#"{"mode": "fail"}"#).unwrap();
    let out = s.cli().args(["call", "probe", "--input-file"]).arg(&input).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("Status: FAILED") && stderr.contains("probe failed on purpose"), "{stderr}");

    let out = s.cli().args(["call", "probe", "--input-file"]).arg(dir.path().join("missing.json")).output().unwrap();
    assert_eq!(out.status.code(), Some(1));

    let id = s.start_run("long-job", "", &json!({"steps": 6, "stepMillis": 150})).await;
    let t = Instant::now();
    let out = s.cli().args(["logs", &id, "--follow"]).output().unwrap();
    assert!(out.status.success());
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(log.contains("Run finished: SUCCEEDED"), "{log}");
    assert!(t.elapsed() >= Duration::from_millis(500), "the log ended before the run did");
}

/// Over-limit host calls are `limit-exceeded` errors to the guest, not traps.
#[tokio::test(flavor = "multi_thread")]
async fn limits_reach_the_guest_as_typed_errors() {
    let (s, _dir) = Server::start();
    let run = s.run("probe", "memory=256", &json!({"mode": "limits"})).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    let out = output(&s, &run).await;
    assert!(out["record"].as_str().unwrap().starts_with("limit exceeded:"), "{out}");
    assert!(out["handles"].as_str().unwrap().starts_with("limit exceeded:"), "{out}");
    assert_eq!(out["opened"], 256);
}

/// Request bodies compressed with deflate (zlib), as with gzip and br.
#[tokio::test(flavor = "multi_thread")]
async fn deflate_bodies_are_decoded() {
    let (s, _dir) = Server::start();
    let ds: Value = s.post_json("/datasets?name=deflated", &json!({})).await.json().await.unwrap();
    let ds = ds["data"]["id"].as_str().unwrap().to_owned();
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(br#"[{"a": 1}, {"a": 2}]"#).unwrap();
    let resp = s
        .http
        .post(s.api(&format!("/datasets/{ds}/items")))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .header("content-encoding", "deflate")
        .body(z.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let items: Value = s.get(&format!("/datasets/{ds}/items")).await.json().await.unwrap();
    assert_eq!(items, json!([{"a": 1}, {"a": 2}]));
}

/// `waitForFinish` holds a request at most 60 s and then answers with the run as it is.
#[tokio::test(flavor = "multi_thread")]
async fn wait_for_finish_is_capped() {
    let (s, _dir) = Server::start();
    let id = s.start_run("probe", "timeout=120", &json!({"mode": "loop"})).await;
    let t = Instant::now();
    let run = s.get_json(&format!("/actor-runs/{id}?waitForFinish=999999")).await["data"].clone();
    let waited = t.elapsed();
    assert_eq!(run["status"], "RUNNING");
    assert!(waited >= Duration::from_secs(59) && waited < Duration::from_secs(75), "waited {waited:?}");
    let _ = s.http.post(s.api(&format!("/actor-runs/{id}/abort"))).bearer_auth(TOKEN).send().await;
}

/// DELETE of a finished run (its storages stay), of a running one (refused), and of storages.
#[tokio::test(flavor = "multi_thread")]
async fn runs_and_storages_can_be_deleted() {
    let (s, _dir) = Server::start();
    let run = s.run("hello", "", &json!({"name": "gone"})).await;
    let id = run["id"].as_str().unwrap();
    assert_eq!(s.http.delete(s.api(&format!("/actor-runs/{id}"))).bearer_auth(TOKEN).send().await.unwrap().status(), 204);
    let resp = s.get(&format!("/actor-runs/{id}")).await;
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["type"], "record-not-found");
    let ds = run["defaultDatasetId"].as_str().unwrap();
    assert_eq!(s.get(&format!("/datasets/{ds}")).await.status(), 200, "a deleted run's storages stay");

    let running = s.start_run("probe", "", &json!({"mode": "loop"})).await;
    s.wait_status(&running, "RUNNING").await;
    let resp = s.http.delete(s.api(&format!("/actor-runs/{running}"))).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(resp.status(), 409);
    assert_eq!(s.get_json(&format!("/actor-runs/{running}")).await["data"]["status"], "RUNNING");
    let _ = s.http.post(s.api(&format!("/actor-runs/{running}/abort"))).bearer_auth(TOKEN).send().await;

    for (kind, path) in [("datasets", "items"), ("key-value-stores", "keys"), ("request-queues", "head")] {
        let created: Value = s.post_json(&format!("/{kind}?name=doomed-{kind}"), &json!({})).await.json().await.unwrap();
        let sid = created["data"]["id"].as_str().unwrap();
        assert_eq!(s.http.delete(s.api(&format!("/{kind}/{sid}"))).bearer_auth(TOKEN).send().await.unwrap().status(), 204);
        assert_eq!(s.get(&format!("/{kind}/{sid}")).await.status(), 404, "{kind}");
        assert_eq!(s.get(&format!("/{kind}/{sid}/{path}")).await.status(), 404, "{kind}");
        assert_eq!(s.get(&format!("/{kind}/doomed-{kind}")).await.status(), 404, "{kind}: the name is free");
    }
}

/// Runs beyond `--max-concurrent-runs` wait READY and start when a slot frees.
#[tokio::test(flavor = "multi_thread")]
async fn runs_beyond_the_concurrency_limit_wait_ready() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_with(dir.path(), true, &["--max-concurrent-runs", "2"]);
    let a = s.start_run("probe", "", &json!({"mode": "loop"})).await;
    let b = s.start_run("probe", "", &json!({"mode": "loop"})).await;
    s.wait_status(&a, "RUNNING").await;
    s.wait_status(&b, "RUNNING").await;
    let c = s.start_run("probe", "", &json!({"mode": "ok"})).await;
    // Not a synchronisation: a window in which it must stay READY.
    for _ in 0..10 {
        assert_eq!(s.get_json(&format!("/actor-runs/{c}")).await["data"]["status"], "READY");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let _ = s.http.post(s.api(&format!("/actor-runs/{a}/abort"))).bearer_auth(TOKEN).send().await;
    let run = s.wait_terminal(&c, Duration::from_secs(30)).await;
    assert_eq!(run["status"], "SUCCEEDED");
    let _ = s.http.post(s.api(&format!("/actor-runs/{b}/abort"))).bearer_auth(TOKEN).send().await;
}

/// Past `--max-in-flight-requests`, requests are shed at once with a 503 clients retry.
#[tokio::test(flavor = "multi_thread")]
async fn overload_is_shed_with_503() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_with(dir.path(), true, &["--max-in-flight-requests", "2"]);
    // The run times out by itself: while both places are held, an abort would be shed too.
    let id = s.start_run("probe", "timeout=12", &json!({"mode": "loop"})).await;
    s.wait_status(&id, "RUNNING").await;
    // Two long polls hold both places until the run ends (later than the shedding is looked for).
    let polls: Vec<_> = (0..2)
        .map(|_| {
            let (http, url) = (s.http.clone(), s.api(&format!("/actor-runs/{id}?waitForFinish=30")));
            // A poll that arrives while the request before it still holds its place is
            // shed itself; it tries again, as clients do, until it holds one.
            tokio::spawn(async move {
                loop {
                    let status = http.get(&url).bearer_auth(TOKEN).send().await.unwrap().status();
                    if status != 503 {
                        return status;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(9);
    let shed = loop {
        let resp = s.get("/actors").await;
        if resp.status() == 503 {
            break resp;
        }
        assert!(Instant::now() < deadline, "nothing was shed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    common::assert_error(shed, 503, "server-overloaded").await;
    for p in polls {
        assert_eq!(p.await.unwrap(), 200);
    }
    assert_eq!(s.get("/actors").await.status(), 200, "served again once the load is gone");
}
