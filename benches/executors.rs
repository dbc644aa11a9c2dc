//! The same trivial Actor logic (read the input, push one item) as a
//! component and as a container, side by side on one real `wactor serve`:
//! run latency from `POST …/runs?waitForFinish=60` to SUCCEEDED.
//!
//! Needs a Docker daemon (scripts/test.sh shows how to start one) and
//! busybox-static. Run with `cargo bench --bench executors [-- --runs N]`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const TOKEN: &str = "bench-token";
const IMAGE: &str = "wactor-bench/shell-actor:1";

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// The shell Actor of tests/docker on a busybox rootfs, imported (no registry).
fn import_image(repo: &str) {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    for d in ["bin", "tmp", "actor", "proc"] {
        std::fs::create_dir_all(r.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", r.join("bin/busybox")).expect("busybox-static (apt-get install busybox-static)");
    for applet in ["sh", "wget", "cat", "echo", "sleep", "sed", "head", "tail", "ls", "grep", "seq"] {
        std::os::unix::fs::symlink("busybox", r.join("bin").join(applet)).unwrap();
    }
    std::fs::copy(format!("{repo}/tests/docker/shell-actor/main.sh"), r.join("actor/main.sh")).unwrap();
    let tar = Command::new("tar").arg("-C").arg(r).args(["-c", "."]).stdout(Stdio::piped()).spawn().unwrap();
    let status = Command::new("docker")
        .args(["import", "--change", r#"CMD ["/bin/sh", "/actor/main.sh"]"#, "-", IMAGE])
        .stdin(tar.stdout.unwrap())
        .stdout(Stdio::null())
        .status()
        .expect("docker");
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

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runs: usize = args.iter().position(|a| a == "--runs").and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(30);
    let repo = env!("CARGO_MANIFEST_DIR");
    let status = Command::new(env!("CARGO"))
        .current_dir(repo)
        .args(["build", "--release", "--target", "wasm32-wasip2", "-p", "hello"])
        .status()
        .unwrap();
    assert!(status.success());
    import_image(repo);

    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_wactor"))
        .current_dir(repo)
        .args(["serve", "--listen", "127.0.0.1:0", "--token", TOKEN, "--preload", "examples/hello", "--data-dir"])
        .arg(dir.path())
        .env("RUST_LOG", "wactor=warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("server exited").unwrap();
        if let Some(u) = line.strip_prefix("wactor listening on ") {
            break u.trim().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let http = reqwest::Client::new();
    let actor = json!({"name": "shell", "versions": [{"versionNumber": "0.1", "sourceType": "SOURCE_FILES",
        "actorDefinition": {"name": "shell", "version": "0.1", "image": IMAGE}}]});
    http.post(format!("{url}/v2/acts")).bearer_auth(TOKEN).json(&actor).send().await.unwrap();
    let build = http.post(format!("{url}/v2/acts/shell/builds?version=0.1")).bearer_auth(TOKEN).send().await.unwrap();
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
    component.sort();
    container.sort();
    let _ = child.kill();
    println!("\n| run latency, start → SUCCEEDED ({runs} runs each) | component | container | ratio container/component |");
    println!("|---|---|---|---|");
    for (name, p) in [("p50", 0.5), ("p99", 0.99)] {
        let (a, b) = (percentile(&component, p), percentile(&container, p));
        println!("| {name} | {} | {} | ×{:.0} |", ms(a), ms(b), b.as_secs_f64() / a.as_secs_f64());
    }
}
