//! The same trivial Actor logic as a component and as a container, side by
//! side on one real `wactor serve`:
//! - run latency (read the input, push one item) from `POST …/runs?waitForFinish=60` to SUCCEEDED;
//! - Standby cold start (echo the request) from a request to the Standby URL,
//!   with no Standby run up, to its answer; the run is aborted after each.
//!
//! Needs a Docker daemon (scripts/test.sh shows how to start one) and
//! busybox-static. Run with `cargo bench --bench executors [-- --runs N]`.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{percentile, Server, TOKEN};
use serde_json::{json, Value};

const IMAGE: &str = "wactor-bench/shell-actor:1";
const STANDBY_IMAGE: &str = "wactor-bench/standby-shell:1";

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// The shell Actors of tests/docker on a busybox rootfs, imported (no registry):
/// the batch one and the Standby one (busybox httpd with an echoing CGI).
fn import_images(repo: &str) {
    import_image(IMAGE, "/actor/main.sh", |r| {
        std::fs::copy(format!("{repo}/tests/docker/shell-actor/main.sh"), r.join("actor/main.sh")).unwrap();
    });
    import_image(STANDBY_IMAGE, "/actor/serve.sh", |r| {
        let dir = format!("{repo}/tests/docker/standby-shell");
        std::fs::create_dir_all(r.join("www/cgi-bin")).unwrap();
        std::fs::copy(format!("{dir}/serve.sh"), r.join("actor/serve.sh")).unwrap();
        std::fs::copy(format!("{dir}/echo.cgi"), r.join("www/cgi-bin/echo")).unwrap();
        std::fs::write(r.join("www/index.html"), "ready\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(r.join("www/cgi-bin/echo"), std::fs::Permissions::from_mode(0o755)).unwrap();
    });
}

fn import_image(image: &str, cmd: &str, add: impl FnOnce(&std::path::Path)) {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    for d in ["bin", "tmp", "actor", "proc"] {
        std::fs::create_dir_all(r.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", r.join("bin/busybox")).expect("busybox-static (apt-get install busybox-static)");
    for applet in ["sh", "wget", "cat", "echo", "sleep", "sed", "head", "tail", "ls", "grep", "seq", "httpd", "printf"] {
        std::os::unix::fs::symlink("busybox", r.join("bin").join(applet)).unwrap();
    }
    add(r);
    let mut tar = Command::new("tar").arg("-C").arg(r).args(["-c", "."]).stdout(Stdio::piped()).spawn().unwrap();
    let status = Command::new("docker")
        .args(["import", "--change", &format!(r#"CMD ["/bin/sh", "{cmd}"]"#), "-", image])
        .stdin(tar.stdout.take().unwrap())
        .stdout(Stdio::null())
        .status()
        .expect("docker");
    assert!(tar.wait().expect("tar").success(), "tar of the image root failed");
    assert!(status.success(), "docker import failed (is dockerd running?)");
}

async fn run_once(http: &reqwest::Client, url: &str, actor: &str, input: &Value) -> Duration {
    let t = Instant::now();
    let resp = http.post(format!("{url}/v2/acts/{actor}/runs?waitForFinish=60")).bearer_auth(TOKEN).json(input).send().await.unwrap();
    let run: Value = resp.json().await.unwrap();
    let elapsed = t.elapsed();
    assert_eq!(run["data"]["status"], "SUCCEEDED", "{run}");
    let items = http
        .get(format!("{url}/v2/datasets/{}/items", run["data"]["defaultDatasetId"].as_str().unwrap()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(items.as_array().map(Vec::len), Some(1), "{items}");
    elapsed
}

/// One Standby request while the Actor has no Standby run (a cold start);
/// then its Standby runs are aborted and waited for, so the next is cold too.
async fn standby_cold(http: &reqwest::Client, url: &str, actor: &str) -> Duration {
    let t = Instant::now();
    let resp = http.get(format!("{url}/standby/me~{actor}/cgi-bin/echo?x=1")).bearer_auth(TOKEN).send().await.unwrap();
    let status = resp.status();
    let body = resp.text().await.unwrap();
    let elapsed = t.elapsed();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("x=1"), "{body}");
    let runs: Value =
        http.get(format!("{url}/v2/acts/{actor}/runs?status=RUNNING")).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    let ids: Vec<String> = runs["data"]["items"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
    assert!(!ids.is_empty(), "no Standby run after a request: {runs}");
    for id in ids {
        http.post(format!("{url}/v2/actor-runs/{id}/abort")).bearer_auth(TOKEN).send().await.unwrap();
        let run: Value =
            http.get(format!("{url}/v2/actor-runs/{id}?waitForFinish=60")).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
        assert_eq!(run["data"]["status"], "ABORTED", "{run}");
    }
    elapsed
}

fn print_table(title: &str, runs: usize, unit: &str, component: &mut [Duration], container: &mut [Duration]) {
    component.sort();
    container.sort();
    println!("\n| {title} ({runs} {unit} each) | component | container | ratio container/component |");
    println!("|---|---|---|---|");
    for (name, p) in [("p50", 0.5), ("p99", 0.99)] {
        let (a, b) = (percentile(component, p), percentile(container, p));
        println!("| {name} | {} | {} | ×{:.0} |", ms(a), ms(b), b.as_secs_f64() / a.as_secs_f64());
    }
}

#[tokio::main]
async fn main() {
    if !common::asked_to_run() {
        return;
    }
    let runs: usize = common::arg("--runs").unwrap_or(30);
    let repo = env!("CARGO_MANIFEST_DIR");
    common::build_guests(&["hello", "standby-hello"]);
    import_images(repo);

    let dir = tempfile::tempdir().unwrap();
    // Aborts are immediate, so each Standby request below finds no run up.
    let server =
        Server::start(&["--preload", "examples/hello", "--preload", "examples/standby-hello", "--abort-grace-secs", "0"], dir.path());
    let url = server.url.clone();
    let http = reqwest::Client::new();
    let actor = json!({"name": "shell", "versions": [{"versionNumber": "0.1", "sourceType": "SOURCE_FILES",
        "actorDefinition": {"name": "shell", "version": "0.1", "image": IMAGE}}]});
    http.post(format!("{url}/v2/acts")).bearer_auth(TOKEN).json(&actor).send().await.unwrap();
    let build = http.post(format!("{url}/v2/acts/shell/builds?version=0.1")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(build.status(), 201);
    let standby = json!({"name": "standby-shell", "versions": [{"versionNumber": "0.1", "sourceType": "SOURCE_FILES",
        "actorDefinition": {"name": "standby-shell", "version": "0.1", "image": STANDBY_IMAGE, "usesStandbyMode": true}}]});
    http.post(format!("{url}/v2/acts")).bearer_auth(TOKEN).json(&standby).send().await.unwrap();
    let build = http.post(format!("{url}/v2/acts/standby-shell/builds?version=0.1")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(build.status(), 201);

    let component_input = json!({"name": "bench", "count": 1});
    let container_input = json!({"count": 1});
    // Warm-up, then alternate so both see the same machine.
    run_once(&http, &url, "hello", &component_input).await;
    run_once(&http, &url, "shell", &container_input).await;
    let (mut component, mut container) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        component.push(run_once(&http, &url, "hello", &component_input).await);
        container.push(run_once(&http, &url, "shell", &container_input).await);
    }
    // Standby cold starts, alternating the same way.
    standby_cold(&http, &url, "standby-hello").await;
    standby_cold(&http, &url, "standby-shell").await;
    let (mut component_cold, mut container_cold) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        component_cold.push(standby_cold(&http, &url, "standby-hello").await);
        container_cold.push(standby_cold(&http, &url, "standby-shell").await);
    }
    drop(server);
    print_table("run latency, start → SUCCEEDED", runs, "runs", &mut component, &mut container);
    print_table("Standby cold start, request → response", runs, "requests", &mut component_cold, &mut container_cold);
}
