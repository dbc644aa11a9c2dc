//! The Docker executor against a real `dockerd` (scripts/test.sh installs
//! and starts it): a busybox shell Actor, built locally with `docker import`
//! (no registry), runs through the same API as component Actors.
//!
//! Without a reachable daemon these tests are skipped, unless
//! `WACTOR_REQUIRE_DOCKER=1` (set by scripts/test.sh) makes that a failure.

mod common;

use std::process::{Command, Stdio};
use std::sync::OnceLock;

use common::{Server, TOKEN};
use serde_json::{json, Value};
use sha2::Digest;

const IMAGE: &str = "wactor-test/shell-actor:1";

/// Whether Docker is usable; builds the test image once.
/// A test that cannot run here says so (and `scripts/test.sh` counts it);
/// with `WACTOR_REQUIRE_DOCKER` set (CI, or whenever the script can start
/// dockerd) it fails instead.
fn docker_ready() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    let ready = *READY.get_or_init(|| {
        let up = Command::new("docker").arg("info").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success());
        if !up {
            assert!(std::env::var("WACTOR_REQUIRE_DOCKER").is_err(), "WACTOR_REQUIRE_DOCKER is set but no Docker daemon answers");
            return false;
        }
        build_shell_image();
        true
    });
    if !ready {
        common::record_skip("no Docker daemon answers (scripts/test.sh starts one when run as root)");
    }
    ready
}

/// A busybox rootfs with `add`'s files, imported as an image running `cmd` (no registry needed).
fn import_busybox_image(image: &str, cmd: &str, applets: &[&str], add: impl FnOnce(&std::path::Path)) {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    for d in ["bin", "tmp", "actor", "proc"] {
        std::fs::create_dir_all(r.join(d)).unwrap();
    }
    let busybox = ["/bin/busybox", "/usr/bin/busybox"].into_iter().find(|p| std::path::Path::new(p).exists()).expect("busybox-static");
    std::fs::copy(busybox, r.join("bin/busybox")).unwrap();
    for applet in applets {
        std::os::unix::fs::symlink("busybox", r.join("bin").join(applet)).unwrap();
    }
    add(r);
    let mut tar = Command::new("tar").arg("-C").arg(r).args(["-c", "."]).stdout(Stdio::piped()).spawn().unwrap();
    let status = Command::new("docker")
        .args(["import", "--change", &format!(r#"CMD ["/bin/sh", "{cmd}"]"#), "-", image])
        .stdin(tar.stdout.take().unwrap())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(tar.wait().unwrap().success(), "tar of {image}'s root failed");
    assert!(status.success(), "docker import of {image} failed");
}

/// The shell Actor (tests/docker/shell-actor).
fn build_shell_image() {
    let applets = [
        "sh",
        "wget",
        "cat",
        "echo",
        "sleep",
        "env",
        "printf",
        "seq",
        "sed",
        "head",
        "tail",
        "ls",
        "grep",
        "httpd",
        "mkdir",
        "sha256sum",
        "cut",
    ];
    import_busybox_image(IMAGE, "/actor/main.sh", &applets, |r| {
        std::fs::copy(common::repo().join("tests/docker/shell-actor/main.sh"), r.join("actor/main.sh")).unwrap();
    });
}

async fn create_container_actor(s: &Server, name: &str, image: &str) -> reqwest::Response {
    let actor = json!({
        "name": name,
        "versions": [{"versionNumber": "0.1", "sourceType": "SOURCE_FILES",
                      "actorDefinition": {"name": name, "version": "0.1", "image": image}}],
    });
    let resp = s.post_json("/acts", &actor).await;
    assert_eq!(resp.status(), 201);
    s.http.post(s.api(&format!("/acts/{name}/builds?version=0.1"))).bearer_auth(TOKEN).send().await.unwrap()
}

async fn log_of(s: &Server, run: &Value) -> String {
    s.get(&format!("/logs/{}", run["id"].as_str().unwrap())).await.text().await.unwrap()
}

fn containers_left() -> String {
    let out = Command::new("docker").args(["ps", "-a", "--filter", "label=wactor.run-id", "--format", "{{.Names}}"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test]
async fn a_shell_actor_reads_its_input_and_pushes_items_through_the_api() {
    if !docker_ready() {
        return;
    }
    let (s, _dir) = Server::start();
    let build = create_container_actor(&s, "shell", IMAGE).await;
    assert_eq!(build.status(), 201);
    let build: Value = build.json().await.unwrap();
    assert_eq!(build["data"]["status"], "SUCCEEDED");
    assert!(build["data"]["image"]["imageId"].as_str().unwrap().starts_with("sha256:"));

    let run = s.run("shell", "", &json!({"count": 3})).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    assert_eq!(run["exitCode"], 0);
    let items = s.get_json(&format!("/datasets/{}/items", run["defaultDatasetId"].as_str().unwrap())).await;
    assert_eq!(items, json!([{"i": 1, "env": "me/shell"}, {"i": 2, "env": "me/shell"}, {"i": 3, "env": "me/shell"}]));
    let log = log_of(&s, &run).await;
    assert!(log.contains("input: {\"count\":3}") && log.contains("pushed 3 items"), "{log}");
    common::assert_timestamped(&log);
    wait_containers_gone(run["id"].as_str().unwrap()).await;
}

#[tokio::test]
async fn exit_codes_oom_and_the_pids_limit_end_the_run_failed_with_reasons() {
    if !docker_ready() {
        return;
    }
    let (s, _dir) = Server::start();
    assert_eq!(create_container_actor(&s, "shell-bad", IMAGE).await.status(), 201);

    let run = s.run("shell-bad", "", &json!({"mode": "fail", "code": 7})).await;
    assert_eq!((run["status"].as_str(), run["exitCode"].as_i64()), (Some("FAILED"), Some(7)));
    assert_eq!(run["statusMessage"], "Actor finished with exit code 7");
    assert!(log_of(&s, &run).await.contains("failing on purpose"));

    let run = s.run("shell-bad", "memory=128", &json!({"mode": "oom"})).await;
    assert_eq!(run["status"], "FAILED");
    assert!(run["statusMessage"].as_str().unwrap().contains("ran out of memory"), "{run}");

    // A fork bomb is held by the pids limit; the run fails, the server stays up.
    let run = s.run("shell-bad", "", &json!({"mode": "forks"})).await;
    assert_eq!(run["status"], "FAILED", "{run}");
    assert!(log_of(&s, &run).await.contains("can't fork"));
    assert_eq!(s.get("/acts/shell-bad").await.status(), 200);
}

#[tokio::test]
async fn timeout_and_abort_stop_the_container() {
    if !docker_ready() {
        return;
    }
    let (s, _dir) = Server::start();
    assert_eq!(create_container_actor(&s, "shell-slow", IMAGE).await.status(), 201);
    let run = s.run("shell-slow", "timeout=2", &json!({"mode": "sleep", "secs": 60})).await;
    assert_eq!(run["status"], "TIMED-OUT", "{run}");

    let resp = s.post_json("/acts/shell-slow/runs", &json!({"mode": "sleep", "secs": 60})).await;
    let run: Value = resp.json().await.unwrap();
    let id = run["data"]["id"].as_str().unwrap().to_owned();
    s.wait_status(&id, "RUNNING").await;
    let aborted = s.http.post(s.api(&format!("/actor-runs/{id}/abort"))).bearer_auth(TOKEN).send().await.unwrap();
    let aborted: Value = aborted.json().await.unwrap();
    assert_eq!(aborted["data"]["status"], "ABORTED", "{aborted}");
    wait_containers_gone(&id).await;
}

#[tokio::test]
async fn a_missing_image_is_a_clear_build_error() {
    if !docker_ready() {
        return;
    }
    let (s, _dir) = Server::start();
    let resp = create_container_actor(&s, "shell-missing", "wactor-test/does-not-exist:1").await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["type"], "image-not-found");
    assert!(body["error"]["message"].as_str().unwrap().contains("does-not-exist"));
}

/// The run log's line that starts with `prefix`, waiting for it to appear.
async fn wait_log_line(s: &Server, run_id: &str, prefix: &str) -> String {
    for _ in 0..100 {
        let log = s.get(&format!("/logs/{run_id}")).await.text().await.unwrap();
        if let Some(line) = log.lines().find_map(|l| l.split_once(' ').map(|(_, rest)| rest).filter(|r| r.starts_with(prefix))) {
            return line[prefix.len()..].trim().to_owned();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no log line starting with {prefix:?}");
}

/// The next JSON frame, or `None` when the socket closes or stays silent for 10 s.
async fn next_frame<S>(ws: &mut S) -> Option<Value>
where
    S: futures::Stream<Item = Result<tokio_tungstenite::tungstenite::Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    use futures::StreamExt;
    match tokio::time::timeout(std::time::Duration::from_secs(10), ws.next()).await {
        Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t)))) => Some(serde_json::from_str::<Value>(&t).unwrap()),
        _ => None,
    }
}

#[tokio::test]
async fn the_events_websocket_sends_system_info_and_aborting() {
    if !docker_ready() {
        return;
    }
    let (s, _dir) = Server::start();
    assert_eq!(create_container_actor(&s, "shell-events", IMAGE).await.status(), 201);
    let resp = s.post_json("/acts/shell-events/runs", &json!({"mode": "sleep", "secs": 60})).await;
    let run: Value = resp.json().await.unwrap();
    let run_id = run["data"]["id"].as_str().unwrap().to_owned();
    let url = wait_log_line(&s, &run_id, "events: ").await;
    assert!(url.starts_with("ws://127.0.0.1:") && url.contains(&run_id), "{url}");

    // The URL authorises exactly this run.
    let forged = format!("{}/events/{run_id}/00000000000000000000000000000000", s.url.replacen("http://", "ws://", 1));
    match tokio_tungstenite::connect_async(&forged).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 401),
        other => panic!("a forged events URL was not refused: {:?}", other.map(|(_, r)| r.status())),
    }

    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.expect("connecting to the events websocket");
    let mut info = None;
    for _ in 0..30 {
        if info.is_some() {
            break;
        }
        let frame = next_frame(&mut ws).await.expect("a frame");
        if frame["name"] == "systemInfo" && frame["data"]["memCurrentBytes"].as_u64().unwrap_or(0) > 0 {
            info = Some(frame);
        }
    }
    let info = info.expect("no systemInfo with the memory in use among 30 frames");
    assert!(info["createdAt"].as_str().unwrap().ends_with('Z'));
    assert!(info["data"]["memMaxBytes"].as_u64().unwrap() >= 128 * 1024 * 1024, "{info}");

    let resp = s.http.post(s.api(&format!("/actor-runs/{run_id}/abort?gracefully=true"))).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut names = Vec::new();
    while let Some(frame) = next_frame(&mut ws).await {
        names.push(frame["name"].as_str().unwrap().to_owned());
        if names.iter().any(|n| n == "aborting") {
            break;
        }
    }
    assert!(names.contains(&"aborting".to_owned()), "{names:?}");
    let run = s.get_json(&format!("/actor-runs/{run_id}?waitForFinish=30")).await;
    assert_eq!(run["data"]["status"], "ABORTED");
}

const PYTHON_SDK_IMAGE: &str = "wactor-test/python-sdk:1";
const PYTHON_IMAGE: &str = "wactor-test/python-actor:2";

/// The Python SDK image (built once per Docker host: debootstrap + pip, a few minutes).
fn python_image_ready() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    *READY.get_or_init(|| sdk_image_ready(PYTHON_SDK_IMAGE, "tests/docker/python-actor", PYTHON_IMAGE, "main.py"))
}

/// An SDK image built once per Docker host by `<dir>/build-image.sh` (minutes),
/// with the test's `main` file put on top each time (a second) as `image`.
fn sdk_image_ready(sdk_image: &str, dir: &str, image: &str, main: &str) -> bool {
    if !docker_ready() {
        return false;
    }
    let dir = common::repo().join(dir);
    let have = Command::new("docker").args(["image", "inspect", sdk_image]).stdout(Stdio::null()).stderr(Stdio::null()).status();
    if !have.is_ok_and(|s| s.success()) {
        let status = Command::new(dir.join("build-image.sh")).arg(sdk_image).status().unwrap();
        assert!(status.success(), "building {sdk_image} failed");
    }
    let mut build = Command::new("docker")
        .args(["build", "-q", "-t", image, "-f", "-"])
        .arg(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    write!(build.stdin.take().unwrap(), "FROM {sdk_image}\nCOPY {main} /actor/{main}\n").unwrap();
    assert!(build.wait().unwrap().success(), "adding {main} to {sdk_image} failed");
    true
}

#[tokio::test]
async fn the_real_python_sdk_runs_unchanged_in_a_container() {
    if !python_image_ready() {
        return;
    }
    let (s, _dir) = Server::start();
    assert_eq!(create_container_actor(&s, "py", PYTHON_IMAGE).await.status(), 201);

    let run = s.run("py", "memory=512", &json!({"name": "Ann", "count": 2})).await;
    let log = log_of(&s, &run).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run}\n{log}");
    assert_eq!(run["statusMessage"], "Greeting");
    let items = s.get_json(&format!("/datasets/{}/items", run["defaultDatasetId"].as_str().unwrap())).await;
    assert_eq!(items, json!([{"i": 0, "greeting": "Hello, Ann!"}, {"i": 1, "greeting": "Hello, Ann!"}]));
    let output = s.get_json(&format!("/key-value-stores/{}/records/OUTPUT", run["defaultKeyValueStoreId"].as_str().unwrap())).await;
    // Actor.init() connected to the events websocket and a systemInfo event arrived.
    // The SDK's request queue: deduplicated, one request reclaimed and handled later, all handled.
    let handled = json!(["https://example.com/a", "https://example.com/b", "https://example.com/c"]);
    assert_eq!(output, json!({"events": ["systemInfo"], "runId": run["id"], "handled": handled}), "{log}");
    let queue = s.get_json(&format!("/actor-runs/{}/request-queue", run["id"].as_str().unwrap())).await;
    let counts = (&queue["data"]["totalRequestCount"], &queue["data"]["handledRequestCount"], &queue["data"]["pendingRequestCount"]);
    assert_eq!(counts, (&json!(3), &json!(3), &json!(0)), "{queue}");

    let run = s.run("py", "memory=512", &json!({"fail": true})).await;
    assert_eq!(run["status"], "FAILED", "{run}");
    assert_eq!(run["statusMessage"], "Failed on purpose");
    assert_eq!(run["exitCode"], 1);
}

/// Pay-per-event with the real SDK: `Actor.charge` and a charged
/// `Actor.push_data`, clamped by the SDK and the platform alike, and the run
/// object's counts match what the Actor was told.
#[tokio::test]
async fn the_real_python_sdk_charges_per_event_within_the_allowance() {
    if !python_image_ready() {
        return;
    }
    let (s, _dir) = Server::start();
    assert_eq!(create_container_actor(&s, "py-priced", PYTHON_IMAGE).await.status(), 201);
    let pricing = json!({"pricingModel": "PAY_PER_EVENT", "pricingPerEvent": {"actorChargeEvents": {
        "page": {"eventTitle": "Page", "eventDescription": "A page", "eventPriceUsd": 0.1},
        "apify-actor-start": {"eventTitle": "Start", "eventPriceUsd": 0.01},
        "apify-default-dataset-item": {"eventTitle": "Item", "eventPriceUsd": 0.01},
    }}});
    let resp = s.http.put(s.api("/acts/py-priced")).bearer_auth(TOKEN).json(&json!({"pricingInfos": [pricing]})).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    // $1: start $0.01, then 5 pages ($0.50), then 10 asked of which 4 fit ($0.40), then none.
    let input = json!({"charges": [["page", 5], ["page", 10], ["page", 1]], "items": 3});
    let run = s.run("py-priced", "memory=512&maxTotalChargeUsd=1", &input).await;
    let log = log_of(&s, &run).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run}\n{log}");
    let output = s.get_json(&format!("/key-value-stores/{}/records/OUTPUT", run["defaultKeyValueStoreId"].as_str().unwrap())).await;
    let results = json!([
        {"charged": 5, "limitReached": false},
        {"charged": 4, "limitReached": true},
        {"charged": 0, "limitReached": true},
    ]);
    assert_eq!(output["results"], results, "{output}\n{log}");
    assert_eq!(output["model"], "PAY_PER_EVENT");
    assert_eq!(output["maxTotalChargeUsd"], "1");
    // $0.09 left, $0.11 per item (page + item): the SDK pushes none.
    assert_eq!(output["push"], json!({"charged": 0, "limitReached": true}), "{output}");
    assert_eq!(output["pages"], 9);
    assert_eq!(run["chargedEventCounts"], json!({"apify-actor-start": 1, "page": 9}), "{run}");
    assert!((run["totalChargeUsd"].as_f64().unwrap() - 0.91).abs() < 1e-9, "{run}");

    // Started with no allowance: the SDK charges nothing and calls nothing.
    let run = s.run("py-priced", "memory=512", &json!({"charges": [["page", 1]], "items": 2})).await;
    let output = s.get_json(&format!("/key-value-stores/{}/records/OUTPUT", run["defaultKeyValueStoreId"].as_str().unwrap())).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    assert_eq!(output["results"], json!([{"charged": 0, "limitReached": true}]), "{output}");
    assert_eq!(run["chargedEventCounts"], json!({}));
    let items = s.get_json(&format!("/datasets/{}/items", run["defaultDatasetId"].as_str().unwrap())).await;
    assert_eq!(items, json!([]), "nothing pushed that could not be paid for");
}

#[tokio::test]
async fn wactor_push_builds_a_dockerfile_and_a_failed_build_says_why() {
    if !docker_ready() {
        return;
    }
    let (s, _dir) = Server::start();
    let out = s.cli().args(["push", "tests/docker/dockerfile-actor"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    // The builder's output is shown, and the build kept with its image.
    assert!(stdout.contains("COPY greet.sh"), "{stdout}");
    assert!(stdout.contains("Pushed me/dockerfile-shell build 0.1.1"), "{stdout}");
    let build = s.get_json("/acts/dockerfile-shell/builds/default").await;
    assert_eq!(build["data"]["status"], "SUCCEEDED");
    assert_eq!(build["data"]["image"]["tag"], "wactor/dockerfile-shell:0.1.1");
    let run = s.run("dockerfile-shell", "", &json!({})).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    let items = s.get_json(&format!("/datasets/{}/items", run["defaultDatasetId"].as_str().unwrap())).await;
    assert_eq!(items, json!([{"greeting": "built from a Dockerfile"}]));

    let out = s.cli().args(["push", "tests/docker/broken-dockerfile-actor"]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stderr.contains("failed") && stderr.contains("non-zero code: 3"), "{stderr}");
    assert!(stdout.contains("about to fail"), "{stdout}");

    // Over the API a Dockerfile build runs in the background: RUNNING at once,
    // its log streams while it runs, and only a succeeded build runs.
    let context = Command::new("tar").args(["-C", "tests/docker/broken-dockerfile-actor", "-c", "."]).output().unwrap().stdout;
    let resp = s
        .http
        .post(s.api("/acts/broken-dockerfile/builds?version=0.1"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/x-tar")
        .body(context)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let build = resp.json::<Value>().await.unwrap()["data"].clone();
    assert_eq!((build["status"].as_str(), build["finishedAt"].as_str()), (Some("RUNNING"), None), "{build}");
    let build_id = build["id"].as_str().unwrap().to_owned();
    let resp = s.post_json(&format!("/acts/broken-dockerfile/runs?build={build_id}"), &json!({})).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["type"], "build-not-finished");
    let mut log = s.http.get(s.api(&format!("/logs/{build_id}?stream=1"))).bearer_auth(TOKEN).send().await.unwrap();
    let mut seen = String::new();
    // Each chunk within the deadline a build step may take.
    let chunk_deadline = std::time::Duration::from_secs(120);
    while !seen.contains("about to fail") {
        let chunk = tokio::time::timeout(chunk_deadline, log.chunk()).await.expect("no log output for 120 s");
        seen.push_str(&String::from_utf8_lossy(&chunk.unwrap().expect("the log ended early")));
    }
    assert_eq!(s.get_json(&format!("/actor-builds/{build_id}")).await["data"]["status"], "RUNNING", "the log came only at the end");
    while let Some(chunk) = tokio::time::timeout(chunk_deadline, log.chunk()).await.expect("no log output for 120 s").unwrap() {
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("The build failed"), "{seen}");
    let build = s.get_json(&format!("/actor-builds/{build_id}?waitForFinish=30")).await["data"].clone();
    assert_eq!(build["status"], "FAILED", "{build}");
    let resp = s.post_json(&format!("/acts/broken-dockerfile/runs?build={build_id}"), &json!({})).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["type"], "build-failed");
}

const STANDBY_IMAGE: &str = "wactor-test/standby-shell:1";

/// busybox httpd with an echoing CGI, as a Standby container image. `/` is
/// a CGI too (httpd runs `cgi-bin/index.cgi` when there is no index.html),
/// which notes whether the readiness-probe header came.
fn build_standby_image() {
    import_busybox_image(STANDBY_IMAGE, "/actor/serve.sh", &["sh", "httpd", "echo", "printf"], |r| {
        let dir = common::repo().join("tests/docker/standby-shell");
        std::fs::create_dir_all(r.join("www/cgi-bin")).unwrap();
        std::fs::copy(dir.join("serve.sh"), r.join("actor/serve.sh")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        for (cgi, name) in [("echo.cgi", "echo"), ("index.cgi", "index.cgi")] {
            let target = r.join("www/cgi-bin").join(name);
            std::fs::copy(dir.join(cgi), &target).unwrap();
            std::fs::set_permissions(target, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    });
}

#[tokio::test]
async fn a_standby_container_answers_through_the_standby_url() {
    if !docker_ready() {
        return;
    }
    build_standby_image();
    let (s, _dir) = Server::start();
    let actor = json!({
        "name": "standby-shell",
        "versions": [{"versionNumber": "0.1", "sourceType": "SOURCE_FILES",
                      "actorDefinition": {"name": "standby-shell", "version": "0.1", "image": STANDBY_IMAGE,
                                          "usesStandbyMode": true, "actorStandby": {"idleTimeoutSecs": 2}}}],
    });
    assert_eq!(s.post_json("/acts", &actor).await.status(), 201);
    let build = s.http.post(s.api("/acts/standby-shell/builds?version=0.1")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(build.status(), 201);

    let url = format!("{}/standby/me~standby-shell/cgi-bin/echo/deep?x=1", s.url);
    let resp = s.http.get(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(text.contains("method=GET path=/deep query=x=1"), "{text}");
    // The container was only sent traffic after its readiness probe, which
    // carried Apify's header; no client request reached `/`.
    let root: Vec<&str> = text.lines().filter(|l| l.starts_with("root: ")).collect();
    assert_eq!(root, ["root: probe-header=1"], "{text}");
    let run_id = text.trim().rsplit("run=").next().unwrap().to_owned();
    let second = s.http.post(&url).bearer_auth(TOKEN).body("x").send().await.unwrap().text().await.unwrap();
    assert!(second.contains("method=POST") && second.contains(&run_id), "{second}");

    let run = s.get_json(&format!("/actor-runs/{run_id}")).await;
    assert_eq!(run["data"]["meta"]["origin"], "STANDBY");
    // Idle for 2 s: the run finishes and its container goes.
    let run = s.get_json(&format!("/actor-runs/{run_id}?waitForFinish=20")).await;
    assert_eq!(run["data"]["status"], "SUCCEEDED", "{run}");
    wait_containers_gone(&run_id).await;
}

/// A client that reaches a run's `containerUrl` host at the test server, on loopback.
fn container_client(s: &Server, container_url: &str) -> reqwest::Client {
    let host = container_url.trim_start_matches("http://").split(':').next().unwrap().to_owned();
    let addr: std::net::SocketAddr = s.url.trim_start_matches("http://").parse().unwrap();
    reqwest::Client::builder().resolve(&host, addr).build().unwrap()
}

async fn start_run(s: &Server, actor: &str, input: &Value) -> Value {
    let resp = s.post_json(&format!("/acts/{actor}/runs"), input).await;
    assert_eq!(resp.status(), 201);
    resp.json::<Value>().await.unwrap()["data"].clone()
}

#[tokio::test]
async fn a_container_runs_web_server_answers_at_its_container_url() {
    if !docker_ready() {
        return;
    }
    let (s, _dir) = Server::start();
    assert_eq!(create_container_actor(&s, "shell-web", IMAGE).await.status(), 201);
    let run = start_run(&s, "shell-web", &json!({"mode": "serve", "secs": 60})).await;
    let run_id = run["id"].as_str().unwrap().to_owned();
    let url = run["containerUrl"].as_str().unwrap().to_owned();
    let port = s.url.rsplit(':').next().unwrap();
    let key = url.trim_start_matches("http://").split('.').next().unwrap();
    assert!(key.len() == 32 && key.bytes().all(|b| b.is_ascii_hexdigit()), "{url}");
    assert_eq!(url, format!("http://{key}.localhost:{port}"));
    assert_eq!(run["isContainerServerReady"], false);
    let client = container_client(&s, &url);

    // Before the Actor listens: a clear "not yet", with Retry-After.
    wait_log_line(&s, &run_id, "shell actor: run").await;
    let resp = client.get(format!("{url}/")).send().await.unwrap();
    assert_eq!(resp.status(), 503);
    assert!(resp.headers().contains_key("retry-after"));
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["type"], "container-server-not-ready");

    // Once it listens, the run says so and the URL reaches it (no API token needed).
    let mut ready = false;
    for _ in 0..100 {
        ready = s.get_json(&format!("/actor-runs/{run_id}")).await["data"]["isContainerServerReady"] == true;
        if ready {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ready, "the run's web server never became ready");
    let page = client.get(format!("{url}/index.html")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    // The Actor was told the same public URL (ACTOR_WEB_SERVER_URL = containerUrl).
    assert_eq!(page.text().await.unwrap().trim(), format!("web server of {run_id} at {url}"));
    assert_eq!(client.get(format!("{url}/missing")).send().await.unwrap().status(), 404);

    // A guessed key reaches nothing; after the run, neither does the real one.
    let guessed = url.replace(key, &"0".repeat(32));
    let resp = container_client(&s, &guessed).get(format!("{guessed}/")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    let aborted = s.http.post(s.api(&format!("/actor-runs/{run_id}/abort"))).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(aborted.json::<Value>().await.unwrap()["data"]["status"], "ABORTED");
    let run = s.get_json(&format!("/actor-runs/{run_id}")).await;
    assert_eq!(run["data"]["isContainerServerReady"], false);
    assert_eq!(client.get(format!("{url}/")).send().await.unwrap().status(), 404);
}

/// Items the `starts` mode pushed: one per start of the Actor.
async fn starts_of(s: &Server, run: &Value) -> usize {
    let items = s.get_json(&format!("/datasets/{}/items", run["defaultDatasetId"].as_str().unwrap())).await;
    items.as_array().unwrap().len()
}

async fn wait_starts(s: &Server, run: &Value, n: usize) {
    for _ in 0..150 {
        if starts_of(s, run).await >= n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the Actor did not start {n} times");
}

/// Waits (at most 15 s) until no container of the run is left.
async fn wait_containers_gone(run_id: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while containers_of(run_id) > 0 {
        assert!(std::time::Instant::now() < deadline, "the container of run {run_id} was not removed: {}", containers_left());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn containers_of(run_id: &str) -> usize {
    containers_left().lines().filter(|l| l.contains(&run_id.to_ascii_lowercase())).count()
}

#[tokio::test]
async fn reboot_restarts_the_container_with_the_same_storages() {
    if !docker_ready() {
        return;
    }
    let (s, _dir) = Server::start();
    assert_eq!(create_container_actor(&s, "shell-reboot", IMAGE).await.status(), 201);
    let run = start_run(&s, "shell-reboot", &json!({"mode": "starts", "secs": 60})).await;
    let run_id = run["id"].as_str().unwrap().to_owned();
    wait_starts(&s, &run, 1).await;
    let resp = s.http.post(s.api(&format!("/actor-runs/{run_id}/reboot"))).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    // The Actor starts again in a new container, writing to the same dataset.
    wait_starts(&s, &run, 2).await;
    let now = s.get_json(&format!("/actor-runs/{run_id}")).await["data"].clone();
    assert_eq!((now["status"].as_str(), now["stats"]["rebootCount"].as_u64()), (Some("RUNNING"), Some(1)), "{now}");
    assert_eq!(containers_of(&run_id), 1, "the old container is gone, one runs");
    let aborted = s.http.post(s.api(&format!("/actor-runs/{run_id}/abort"))).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(aborted.json::<Value>().await.unwrap()["data"]["status"], "ABORTED");
    wait_containers_gone(&run_id).await;
    assert_eq!(starts_of(&s, &run).await, 2);
}

#[tokio::test]
async fn a_container_run_migrates_with_the_server_and_resumes_after_restart() {
    if !docker_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in(dir.path(), false);
    assert_eq!(create_container_actor(&s, "shell-migrate", IMAGE).await.status(), 201);
    let run = start_run(&s, "shell-migrate", &json!({"mode": "starts", "secs": 60})).await;
    let run_id = run["id"].as_str().unwrap().to_owned();
    wait_starts(&s, &run, 1).await;
    // A graceful stop: the container is stopped and removed, the run stays unfinished.
    s.stop();
    assert_eq!(containers_of(&run_id), 0, "the container outlived its server");

    let s = Server::start_in(dir.path(), false);
    wait_starts(&s, &run, 2).await;
    let now = s.get_json(&format!("/actor-runs/{run_id}")).await["data"].clone();
    assert_eq!((now["status"].as_str(), now["stats"]["migrationCount"].as_u64()), (Some("RUNNING"), Some(1)), "{now}");
    let log = s.get(&format!("/logs/{run_id}")).await.text().await.unwrap();
    assert!(log.contains("goes on when the server is back") && log.matches("started").count() >= 2, "{log}");

    // A killed server leaves its container running; the next start removes it and runs the Actor anew.
    s.crash();
    assert_eq!(containers_of(&run_id), 1);
    let s = Server::start_in(dir.path(), false);
    wait_starts(&s, &run, 3).await;
    assert_eq!(containers_of(&run_id), 1);
    let aborted = s.http.post(s.api(&format!("/actor-runs/{run_id}/abort"))).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(aborted.json::<Value>().await.unwrap()["data"]["status"], "ABORTED");
    wait_containers_gone(&run_id).await;
}

async fn create_standby_container_actor(s: &Server, name: &str, extra: Value, standby: Value) {
    let mut actor = json!({
        "name": name,
        "versions": [{"versionNumber": "0.1", "sourceType": "SOURCE_FILES",
                      "actorDefinition": {"name": name, "version": "0.1", "image": IMAGE,
                                          "usesStandbyMode": true, "actorStandby": standby}}],
    });
    actor.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    assert_eq!(s.post_json("/acts", &actor).await.status(), 201);
    let build = s.http.post(s.api(&format!("/acts/{name}/builds?version=0.1"))).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(build.status(), 201);
}

async fn standby_get(s: &Server, actor: &str) -> (u16, Value) {
    let resp = s.http.get(format!("{}/standby/me~{actor}/", s.url)).bearer_auth(TOKEN).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_standby_container_that_never_serves_fails_its_run_and_its_requests_say_why() {
    if !docker_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_with(dir.path(), false, &["--standby-readiness-timeout-secs", "2"]);

    // Without input the shell Actor exits at once and never listens.
    create_standby_container_actor(&s, "standby-exits", json!({}), json!({})).await;
    let (status, body) = standby_get(&s, "standby-exits").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["type"], "actor-standby-start-failed");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("exited with code 0 before its web server answered the readiness probe"), "{message}");
    // Right after, requests get the same answer at once instead of starting run after run.
    let (status, _) = standby_get(&s, "standby-exits").await;
    assert_eq!(status, 503);
    let runs = s.get_json("/acts/standby-exits/runs").await;
    assert_eq!(runs["data"]["total"], 1, "{runs}");
    assert_eq!(runs["data"]["items"][0]["status"], "FAILED");

    // Up but silent: the readiness probe gives up after 2 s, the run fails saying so.
    let input = json!({"exampleRunInput": {"body": "{\"mode\": \"sleep\", \"secs\": 60}", "contentType": "application/json"}});
    create_standby_container_actor(&s, "standby-silent", input, json!({"shouldPassActorInput": true})).await;
    let asked = std::time::Instant::now();
    let (status, body) = standby_get(&s, "standby-silent").await;
    assert_eq!(status, 503, "{body}");
    assert!(asked.elapsed() >= std::time::Duration::from_secs(2));
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("did not answer the readiness probe (GET / on ACTOR_WEB_SERVER_PORT) within 2 s"), "{message}");
    let runs = s.get_json("/acts/standby-silent/runs").await;
    let run_id = runs["data"]["items"][0]["id"].as_str().unwrap().to_owned();
    let run = s.get_json(&format!("/actor-runs/{run_id}?waitForFinish=10")).await["data"].clone();
    assert_eq!(run["status"], "FAILED", "{run}");
    assert!(run["statusMessage"].as_str().unwrap().contains("readiness probe"), "{run}");
    wait_containers_gone(&run_id).await;
}

const JS_SDK_IMAGE: &str = "wactor-test/js-sdk:1";
const JS_IMAGE: &str = "wactor-test/js-actor:1";

/// The JavaScript SDK image (this machine's Node.js and the `apify` package; built once per Docker host).
fn js_image_ready() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    *READY.get_or_init(|| sdk_image_ready(JS_SDK_IMAGE, "tests/docker/js-actor", JS_IMAGE, "main.mjs"))
}

/// Issue 10, defect 14: the real JavaScript SDK answers `migrating` with
/// `Actor.reboot()`; during a shutdown that reboot must become the migration,
/// never a new container on the server going down.
#[tokio::test]
async fn the_real_js_sdk_rebooting_on_migrating_joins_the_migration() {
    if !js_image_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in(dir.path(), false);
    assert_eq!(create_container_actor(&s, "js", JS_IMAGE).await.status(), 201);
    let run = start_run(&s, "js", &json!({})).await;
    let run_id = run["id"].as_str().unwrap().to_owned();
    // Wait for the first start to be up (its log says so).
    let mut up = false;
    for _ in 0..600 {
        if log_of(&s, &run).await.contains("start 1") {
            up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(up, "the JavaScript Actor did not start: {}", log_of(&s, &run).await);
    s.stop();
    assert_eq!(containers_of(&run_id), 0, "a container outlived its server");
    let s = Server::start_in(dir.path(), false);
    let done = s.get_json(&format!("/actor-runs/{run_id}?waitForFinish=60")).await["data"].clone();
    let log = log_of(&s, &run).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}\n{log}");
    assert!(log.contains("A reboot was asked for while the server shuts down"), "{log}");
    // One container before the shutdown, one after it.
    assert_eq!(log.matches("start 1").count(), 1, "{log}");
    assert_eq!(log.matches("start 2").count(), 1, "{log}");
    let output = s.get_json(&format!("/key-value-stores/{}/records/OUTPUT", run["defaultKeyValueStoreId"].as_str().unwrap())).await;
    assert_eq!(output, json!({"starts": 2}));
}

/// A run's container gets the limits the README promises: memory without
/// swap, a CPU share, a pids limit, no privileges, no mounts.
#[tokio::test]
async fn a_runs_container_is_confined() {
    if !docker_ready() {
        return;
    }
    let (s, _dir) = Server::start();
    assert_eq!(create_container_actor(&s, "shell-confined", IMAGE).await.status(), 201);
    let resp = s.post_json("/acts/shell-confined/runs?memory=512", &json!({"mode": "sleep", "secs": 60})).await;
    let run: Value = resp.json().await.unwrap();
    let run_id = run["data"]["id"].as_str().unwrap().to_owned();
    let name = format!("wactor-run-{}", run_id.to_ascii_lowercase());
    let mut inspected = Value::Null;
    for _ in 0..200 {
        let out = Command::new("docker").args(["inspect", &name]).output().unwrap();
        if out.status.success() {
            inspected = serde_json::from_slice::<Value>(&out.stdout).unwrap()[0].clone();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let host = &inspected["HostConfig"];
    assert_eq!(host["Memory"], 512u64 << 20, "{host}");
    assert_eq!(host["MemorySwap"], 512u64 << 20, "no swap beyond the memory limit: {host}");
    assert!(host["NanoCpus"].as_u64().unwrap() > 0, "{host}");
    assert!(host["PidsLimit"].as_u64().unwrap() > 0, "{host}");
    assert_eq!(host["Privileged"], false);
    assert!(host["SecurityOpt"].as_array().unwrap().iter().any(|o| o == "no-new-privileges"), "{host}");
    assert!(host["Binds"].is_null() || host["Binds"].as_array().is_some_and(|b| b.is_empty()), "{host}");
    assert!(inspected["Mounts"].as_array().is_some_and(|m| m.is_empty()), "{}", inspected["Mounts"]);
    assert_eq!(inspected["Config"]["Labels"]["wactor.run-id"], run_id.as_str());
    let _ = s.http.post(s.api(&format!("/actor-runs/{run_id}/abort"))).bearer_auth(TOKEN).send().await;
}

/// A container gets a token of its own run, never the admin's: it may not
/// touch Actors or list them, and its token dies with the run. With limited
/// permissions it reaches only its own storages, those it creates and
/// those its input names.
#[tokio::test]
async fn a_containers_token_acts_for_its_run_only() {
    if !python_image_ready() {
        return;
    }
    let (s, _dir) = Server::start();
    assert_eq!(create_container_actor(&s, "py-token", PYTHON_IMAGE).await.status(), 201);
    let dataset = |name: &'static str| {
        let s = &s;
        async move {
            s.post_json(&format!("/datasets?name={name}"), &json!({})).await.json::<Value>().await.unwrap()["data"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let (foreign, named) = (dataset("foreign-ds").await, dataset("named-ds").await);
    let reversed = |s: &str| s.chars().rev().collect::<String>();
    let input = |new_name: &str| {
        json!({"mode": "token", "victim": "py-token", "admin": TOKEN, "foreignReversed": reversed(&foreign),
               "foreignNameReversed": reversed("foreign-ds"), "named": named, "newName": new_name})
    };

    let run = s.run("py-token", "memory=512", &input("made-by-full")).await;
    let log = log_of(&s, &run).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run}\n{log}");
    let out = s.get_json(&format!("/key-value-stores/{}/records/OUTPUT", run["defaultKeyValueStoreId"].as_str().unwrap())).await;
    let token = out["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("wactor_run_") && token != TOKEN, "{out}");
    assert!(!log.contains(&token) && !log.contains(TOKEN), "a token reached the run's log");
    let expect = json!({"listActors": 403, "deleteActor": 403, "updateActor": 403, "meHasToken": false, "envHasAdmin": false,
                        "ownDataset": 200, "foreign": 200, "named": 200, "openForeign": 200, "created": 200});
    for (k, v) in expect.as_object().unwrap() {
        assert_eq!(&out[k], v, "{k}: {out}");
    }
    assert_eq!(s.get_json("/acts/py-token").await["data"]["title"], Value::Null, "the Actor was changed");
    // The token died with its run.
    let after = s.http.get(s.api("/datasets")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(after.status(), 401);

    // Limited: its own and the input's storages only.
    let run = s.run("py-token", "memory=512&forcePermissionLevel=LIMITED_PERMISSIONS", &input("made-by-limited")).await;
    let log = log_of(&s, &run).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run}\n{log}");
    let out = s.get_json(&format!("/key-value-stores/{}/records/OUTPUT", run["defaultKeyValueStoreId"].as_str().unwrap())).await;
    let expect = json!({"listActors": 403, "deleteActor": 403, "ownDataset": 200, "foreign": 403, "named": 200, "created": 200});
    for (k, v) in expect.as_object().unwrap() {
        assert_eq!(&out[k], v, "{k}: {out}");
    }
    assert_ne!(out["openForeign"], 200, "{out}");
    let items = s.get_json(&format!("/datasets/{foreign}/items")).await;
    assert_eq!(items.as_array().unwrap().len(), 1, "only the full run wrote to the foreign dataset: {items}");
    let made = s.get_json("/datasets/made-by-limited").await;
    assert_eq!(made["data"]["actRunId"], run["id"], "{made}");
    let bad = s.post_json("/acts/py-token/runs?forcePermissionLevel=SOME", &json!({})).await;
    assert_eq!(bad.status(), 400);
}

/// The real SDK's `Actor.call`/`start`/`abort` at home, with the run's own
/// token, on a component child; and a component calling a container.
#[tokio::test]
async fn containers_and_components_call_each_other() {
    if !python_image_ready() {
        return;
    }
    let (s, _dir) = Server::start();
    assert_eq!(create_container_actor(&s, "py-call", PYTHON_IMAGE).await.status(), 201);
    let input = json!({"mode": "call", "actor": "probe", "childInput": {"mode": "push", "items": 2}});
    let run = s.run("py-call", "memory=512", &input).await;
    let log = log_of(&s, &run).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run}\n{log}");
    let out = s.get_json(&format!("/key-value-stores/{}/records/OUTPUT", run["defaultKeyValueStoreId"].as_str().unwrap())).await;
    assert_eq!((&out["status"], &out["origin"]), (&json!("SUCCEEDED"), &json!("ACTOR")), "{out}");
    assert_eq!(out["items"].as_array().unwrap().len(), 2, "{out}");
    // `Actor.abort(status_message=...)` set the child's message first (a refusal would have failed the parent).
    assert_eq!((&out["aborting"], &out["aborted"]), (&json!("ABORTED"), &json!("ABORTED")), "{out}");
    let child = s.get_json(&format!("/actor-runs/{}", out["id"].as_str().unwrap())).await["data"].clone();
    assert_eq!(child["parentRunId"], run["id"]);

    // Priced, with a $1 allowance, the container calls a priced child that wants $2: it gets $1.
    let ppe = json!({"pricingModel": "PAY_PER_EVENT", "pricingPerEvent": {"actorChargeEvents": {"page": {"eventTitle": "Page", "eventPriceUsd": 0.1}}}});
    let resp = s.http.put(s.api("/acts/py-call")).bearer_auth(TOKEN).json(&json!({"pricingInfos": [ppe]})).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let definition = json!({"actorSpecification": 1, "name": "priced-child", "version": "0.1"});
    s.create_probe_actor(
        &json!({"name": "priced-child", "versions": [{"versionNumber": "0.1", "actorDefinition": definition}], "pricingInfos": [ppe]}),
    )
    .await;
    let input = json!({"mode": "call", "actor": "priced-child", "childInput": {"mode": "charge", "charges": [["page", 20]]}});
    let run = s.run("py-call", "memory=512&maxTotalChargeUsd=1", &input).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run}\n{}", log_of(&s, &run).await);
    let out = s.get_json(&format!("/key-value-stores/{}/records/OUTPUT", run["defaultKeyValueStoreId"].as_str().unwrap())).await;
    let child = s.get_json(&format!("/actor-runs/{}", out["id"].as_str().unwrap())).await["data"].clone();
    assert_eq!(child["chargedEventCounts"]["page"], 10, "{child}");
    assert!((run["totalChargeUsd"].as_f64().unwrap() - 1.0).abs() < 1e-9, "the parent's total counts the child's charges: {run}");

    // The other way round: a component calls the container Actor.
    let input = json!({"mode": "call", "actor": "py-call", "child_input": {"name": "Bo", "count": 1}});
    let run = s.run("probe", "", &input).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    let out = s.get_json(&format!("/key-value-stores/{}/records/OUTPUT", run["defaultKeyValueStoreId"].as_str().unwrap())).await;
    assert_eq!(out["status"], "SUCCEEDED", "{out}");
    assert_eq!(out["items"], json!([{"i": 0, "greeting": "Hello, Bo!"}]), "{out}");
}

/// Metamorph across executors: a component hands its run to a container on
/// the real SDK (`Actor.metamorph`), which hands it back to a component.
/// One run ID and one dataset throughout; each step reads its own input.
#[tokio::test]
async fn a_run_metamorphs_from_component_to_container_and_back() {
    if !python_image_ready() {
        return;
    }
    let (s, _dir) = Server::start();
    assert_eq!(create_container_actor(&s, "py-meta", PYTHON_IMAGE).await.status(), 201);
    let last = json!({"mode": "push", "items": 2});
    let python = json!({"mode": "metamorph", "actor": "probe", "childInput": last});
    let run = s.run("probe", "memory=512", &json!({"mode": "metamorph", "actor": "py-meta", "child_input": python})).await;
    let log = log_of(&s, &run).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run}\n{log}");
    let items = s.get_json(&format!("/datasets/{}/items", run["defaultDatasetId"].as_str().unwrap())).await;
    let items = items.as_array().unwrap();
    assert_eq!(items[0], json!({"stage": "probe", "inputKey": "INPUT"}), "{items:?}");
    assert_eq!(items[1], json!({"stage": "python", "inputKey": "INPUT-METAMORPH-1"}), "{items:?}");
    assert_eq!(items.len(), 4, "{items:?}");
    let keys: Vec<&Value> = run["metamorphs"].as_array().unwrap().iter().map(|m| &m["inputKey"]).collect();
    assert_eq!(keys, [&json!("INPUT-METAMORPH-1"), &json!("INPUT-METAMORPH-2")], "{run}");
    let py = s.get_json("/acts/py-meta").await["data"]["id"].clone();
    assert_eq!(run["metamorphs"][0]["actorId"], py);
    let kv = run["defaultKeyValueStoreId"].as_str().unwrap();
    assert_eq!(s.get_json(&format!("/key-value-stores/{kv}/records/INPUT-METAMORPH-2")).await, last);
    let id = run["id"].as_str().unwrap();
    let out = Command::new("docker").args(["ps", "-aq", "--filter", &format!("label=wactor.run-id={id}")]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "", "the container was removed when the run moved on");
}

/// The real SDK's `Actor.add_webhook` at home: an ad-hoc webhook on the
/// run, delivered to a receiver on 127.0.0.1 when the run succeeds.
#[tokio::test]
async fn the_real_python_sdk_adds_a_webhook_to_its_run() {
    if !python_image_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_with(dir.path(), true, &["--allow-private-webhook-urls"]);
    assert_eq!(create_container_actor(&s, "py-hook", PYTHON_IMAGE).await.status(), 201);
    let receiver = common::receiver::Receiver::start(0).await;
    let run = s.run("py-hook", "memory=512", &json!({"mode": "webhook", "url": receiver.url})).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run}\n{}", log_of(&s, &run).await);
    let got = receiver.wait_for(1).await;
    assert_eq!(got[0].body, json!({"run": run["id"], "status": "SUCCEEDED", "event": "ACTOR.RUN.SUCCEEDED"}));
    let hooks = s.get_json("/webhooks").await;
    assert_eq!(hooks["data"]["items"][0]["condition"]["actorRunId"], run["id"], "{hooks}");
    assert_eq!(hooks["data"]["items"][0]["isAdHoc"], true);
}

/// A running Dockerfile build is aborted: ABORTED at once and for good (the
/// builder's work is dropped), nothing runs on it, and it can be deleted.
#[tokio::test]
async fn a_running_build_is_aborted_and_deleted() {
    if !docker_ready() {
        return;
    }
    let (s, _dir) = Server::start();
    build_shell_image();
    let resp = s
        .post_json(
            "/acts",
            &json!({"name": "abort-me", "versions": [{"versionNumber": "0.1", "sourceType": "SOURCE_FILES",
        "actorDefinition": {"actorSpecification": 1, "name": "abort-me", "version": "0.1", "dockerfile": "./Dockerfile"}}]}),
        )
        .await;
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    let context = Command::new("tar").args(["-C", "tests/docker/broken-dockerfile-actor", "-c", "."]).output().unwrap().stdout;
    let resp = s
        .http
        .post(s.api("/acts/abort-me/builds?version=0.1"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/x-tar")
        .body(context)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let id = resp.json::<Value>().await.unwrap()["data"]["id"].as_str().unwrap().to_owned();
    let aborted = s.http.post(s.api(&format!("/actor-builds/{id}/abort"))).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(aborted.status(), 200);
    let aborted: Value = aborted.json().await.unwrap();
    assert_eq!(aborted["data"]["status"], "ABORTED", "{aborted}");
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    assert_eq!(s.get_json(&format!("/actor-builds/{id}")).await["data"]["status"], "ABORTED", "the dropped build does not come back");
    let listed = s.get_json("/acts/abort-me/builds").await["data"]["items"].clone();
    assert_eq!(listed[0]["status"], "ABORTED", "{listed}");
    let resp = s.post_json(&format!("/acts/abort-me/runs?build={id}"), &json!({})).await;
    assert_eq!(resp.status(), 400);
    let resp = s.http.delete(s.api(&format!("/actor-builds/{id}"))).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(s.get(&format!("/actor-builds/{id}")).await.status(), 404);
}

/// A user's request with their own token, retried after `Retry-After` when the
/// token's rate limit answers 429 (as the Apify clients do).
async fn send_as(s: &Server, token: &str, method: reqwest::Method, path: &str, body: Option<&Value>) -> reqwest::Response {
    loop {
        let mut req = s.http.request(method.clone(), s.api(path)).bearer_auth(token);
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.unwrap();
        if resp.status() == 429 {
            let secs: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
            tokio::time::sleep(std::time::Duration::from_secs(secs)).await;
            continue;
        }
        assert!(resp.status().is_success(), "{method} {path}: {}", resp.status());
        return resp;
    }
}

/// A user's container run acts with that user's rights through its run token:
/// each of another user's resources answers it 404, as if it did not exist,
/// and its own many storage calls are never held back by the per-token rate
/// limit that bounds the user's token.
#[tokio::test]
async fn a_users_container_run_sees_only_their_resources_and_is_not_rate_limited() {
    if !docker_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_with(dir.path(), true, &["--rate-limit-per-token", "2"]);
    // The admin's resources, one of each kind.
    let id = |v: Value| v["data"]["id"].as_str().unwrap().to_owned();
    let created = |path: &'static str, body: Value| {
        let s = &s;
        async move {
            let resp = s.post_json(path, &body).await;
            assert!(resp.status().is_success(), "{path}: {}", resp.status());
            id(resp.json().await.unwrap())
        }
    };
    let dataset = created("/datasets?name=admins-own", json!({})).await;
    let store = created("/key-value-stores?name=admins-own", json!({})).await;
    let queue = created("/request-queues?name=admins-own", json!({})).await;
    let hello = s.get_json("/acts/hello").await["data"]["id"].as_str().unwrap().to_owned();
    let run = s.run("hello", "", &json!({"name": "admin"})).await["id"].as_str().unwrap().to_owned();
    let task = created("/actor-tasks", json!({"actId": hello, "name": "admins-task"})).await;
    let schedule = created(
        "/schedules",
        json!({"name": "admins-schedule", "cronExpression": "0 0 1 1 *",
        "actions": [{"type": "RUN_ACTOR", "actorId": hello}]}),
    )
    .await;
    let hook = created(
        "/webhooks",
        json!({"eventTypes": ["ACTOR.RUN.SUCCEEDED"], "condition": {"actorId": hello},
        "requestUrl": "https://example.com/hook"}),
    )
    .await;
    let theirs = [
        format!("datasets/{dataset}"),
        format!("key-value-stores/{store}"),
        format!("request-queues/{queue}"),
        format!("acts/{hello}"),
        format!("actor-runs/{run}"),
        format!("actor-runs/{run}/log"),
        format!("actor-tasks/{task}"),
        format!("schedules/{schedule}"),
        format!("webhooks/{hook}"),
    ];

    let alice: Value = s.post_json("/users", &json!({"username": "alice"})).await.json().await.unwrap();
    let alice = alice["data"]["token"].as_str().unwrap();
    let actor = json!({"name": "shell", "versions": [{"versionNumber": "0.1", "sourceType": "SOURCE_FILES",
        "actorDefinition": {"name": "shell", "version": "0.1", "image": IMAGE}}]});
    send_as(&s, alice, reqwest::Method::POST, "/acts", Some(&actor)).await;
    let build: Value = send_as(&s, alice, reqwest::Method::POST, "/acts/shell/builds?version=0.1", None).await.json().await.unwrap();
    assert_eq!(build["data"]["status"], "SUCCEEDED", "{build}");
    let input = json!({"mode": "peek", "paths": theirs.join("|"), "count": 25});
    let run: Value =
        send_as(&s, alice, reqwest::Method::POST, "/acts/shell/runs?waitForFinish=60", Some(&input)).await.json().await.unwrap();
    let run = &run["data"];
    assert_eq!(run["status"], "SUCCEEDED", "25 pushes at once through the run token pass a user budget of 2/s: {run}");
    let log = send_as(&s, alice, reqwest::Method::GET, &format!("/logs/{}", run["id"].as_str().unwrap()), None).await;
    let log = log.text().await.unwrap();
    for path in &theirs {
        assert!(log.contains(&format!("peek {path}: 404")), "{path} through the run token: {log}");
    }
    assert!(log.contains("pushed 25 items"), "{log}");
    let path = format!("/datasets/{}", run["defaultDatasetId"].as_str().unwrap());
    let items: Value = send_as(&s, alice, reqwest::Method::GET, &path, None).await.json().await.unwrap();
    assert_eq!(items["data"]["itemCount"], 25, "{items}");
    wait_containers_gone(run["id"].as_str().unwrap()).await;
}

/// Under TLS a container reaches the API on the plain loopback listener, so
/// it needs no certificate of the server's; the API itself answers https.
#[tokio::test]
async fn a_container_run_reaches_the_api_when_the_server_serves_https() {
    if !docker_ready() {
        return;
    }
    let (dir, certs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (cert, key, root) = common::self_signed_cert(certs.path());
    let mut s = Server::start_with(dir.path(), false, &["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()]);
    assert!(s.url.starts_with("https://"), "{}", s.url);
    s.http = reqwest::Client::builder().add_root_certificate(root).build().unwrap();
    let build = create_container_actor(&s, "shell", IMAGE).await;
    assert_eq!(build.status(), 201);
    let run = s.run("shell", "", &json!({"count": 2})).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    let items = s.get_json(&format!("/datasets/{}/items", run["defaultDatasetId"].as_str().unwrap())).await;
    assert_eq!(items.as_array().map(Vec::len), Some(2), "{items}");
    wait_containers_gone(run["id"].as_str().unwrap()).await;
}

/// A container gets its Actor's secret env var and secret input field in
/// clear (the input read from the API with its run token) while its log shows
/// them masked.
#[tokio::test]
async fn a_container_gets_its_secrets_in_clear_and_its_log_masks_them() {
    const ENV_SECRET: &str = "sk-container-env-5d2a";
    const INPUT_SECRET: &str = "pw-container-input-8c1e";
    if !docker_ready() {
        return;
    }
    let (s, _dir) = Server::start();
    let schema = json!({"title": "secrets", "type": "object", "schemaVersion": 1, "properties": {
        "mode": {"type": "string", "editor": "textfield"},
        "password": {"type": "string", "editor": "textfield", "isSecret": true}
    }});
    let actor = json!({"name": "shell-secrets", "versions": [{"versionNumber": "0.1", "sourceType": "SOURCE_FILES",
        "envVars": [{"name": "API_KEY", "value": ENV_SECRET, "isSecret": true}],
        "actorDefinition": {"name": "shell-secrets", "version": "0.1", "image": IMAGE, "input": schema}}]});
    assert_eq!(s.post_json("/acts", &actor).await.status(), 201);
    let build = s.http.post(s.api("/acts/shell-secrets/builds?version=0.1")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(build.status(), 201);
    let run = s.run("shell-secrets", "", &json!({"mode": "secret", "password": INPUT_SECRET})).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    let digest = |v: &str| sha2::Sha256::digest(v.as_bytes()).iter().map(|b| format!("{b:02x}")).collect::<String>();
    let items = s.get_json(&format!("/datasets/{}/items", run["defaultDatasetId"].as_str().unwrap())).await;
    assert_eq!(items, json!([{"input": digest(INPUT_SECRET), "env": digest(ENV_SECRET)}]), "the container saw both in clear");
    let log = log_of(&s, &run).await;
    assert!(log.contains("secret input: ********, secret env: ********"), "{log}");
    assert!(!log.contains(INPUT_SECRET) && !log.contains(ENV_SECRET), "{log}");
    wait_containers_gone(run["id"].as_str().unwrap()).await;
}
