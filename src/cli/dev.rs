//! The developer's loop, as `apify create` and `apify run` give it:
//! `wactor create` scaffolds an Actor directory from a template that builds
//! and runs as it is; `wactor run` builds it and runs it once on a platform
//! embedded in the command, with its storages in `<dir>/storage`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use super::client::{self, Client};
use super::package;
use super::toolchain::{self, Embedded};
use crate::platform::runs::RunStatus;
use crate::platform::{durability::Durability, PlatformOptions};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Template {
    Rust,
    Js,
    Python,
}

/// A template's files: (path in the new directory, contents); `{{name}}` is the Actor's name.
fn template_files(template: Template, standby: bool) -> Vec<(&'static str, &'static str)> {
    match (template, standby) {
        (Template::Js, false) => vec![
            ("package.json", include_str!("../../examples/js-hello/package.json")),
            (".actor/actor.json", include_str!("../../examples/js-hello/.actor/actor.json")),
            (".actor/input_schema.json", include_str!("../../examples/js-hello/.actor/input_schema.json")),
            ("src/main.js", include_str!("../../examples/js-hello/src/main.js")),
        ],
        (Template::Js, true) => vec![
            ("package.json", include_str!("../../examples/js-standby/package.json")),
            (".actor/actor.json", include_str!("../../examples/js-standby/.actor/actor.json")),
            ("src/main.js", include_str!("../../examples/js-standby/src/main.js")),
        ],
        (Template::Python, false) => vec![
            ("requirements.txt", include_str!("../../examples/py-hello/requirements.txt")),
            (".actor/actor.json", include_str!("../../examples/py-hello/.actor/actor.json")),
            (".actor/input_schema.json", include_str!("../../examples/py-hello/.actor/input_schema.json")),
            ("main.py", include_str!("../../examples/py-hello/main.py")),
        ],
        (Template::Python, true) => vec![
            ("requirements.txt", include_str!("../../examples/py-standby/requirements.txt")),
            (".actor/actor.json", include_str!("../../examples/py-standby/.actor/actor.json")),
            ("main.py", include_str!("../../examples/py-standby/main.py")),
        ],
        (Template::Rust, false) => vec![
            ("Cargo.toml", include_str!("../../examples/hello/Cargo.toml")),
            (".actor/actor.json", include_str!("../../examples/hello/.actor/actor.json")),
            (".actor/input_schema.json", include_str!("../../examples/hello/.actor/input_schema.json")),
            ("src/lib.rs", include_str!("../../examples/hello/src/lib.rs")),
        ],
        (Template::Rust, true) => vec![
            ("Cargo.toml", include_str!("../../examples/standby-hello/Cargo.toml")),
            (".actor/actor.json", include_str!("../../examples/standby-hello/.actor/actor.json")),
            ("src/lib.rs", include_str!("../../examples/standby-hello/src/lib.rs")),
        ],
    }
}

/// The Rust guest SDK, so a scaffolded crate builds outside this repository (it is not on crates.io).
const RUST_SDK: &[Embedded] = &[
    Embedded { path: "Cargo.toml", contents: include_bytes!("../../guest-sdk/rust/Cargo.toml") },
    Embedded { path: "src/lib.rs", contents: include_bytes!("../../guest-sdk/rust/src/lib.rs") },
    Embedded { path: "src/actors.rs", contents: include_bytes!("../../guest-sdk/rust/src/actors.rs") },
    Embedded { path: "src/charging.rs", contents: include_bytes!("../../guest-sdk/rust/src/charging.rs") },
    Embedded { path: "src/fetch.rs", contents: include_bytes!("../../guest-sdk/rust/src/fetch.rs") },
    Embedded { path: "src/http.rs", contents: include_bytes!("../../guest-sdk/rust/src/http.rs") },
    Embedded { path: "wit/actor.wit", contents: include_bytes!("../../wit/actor.wit") },
    Embedded { path: "wit/deps/io/poll.wit", contents: include_bytes!("../../wit/deps/io/poll.wit") },
];

/// `wactor create`: a new Actor directory `dir` named after its last component.
pub fn create(dir: &Path, template: Template, standby: bool) -> Result<()> {
    let name = dir.file_name().and_then(|n| n.to_str()).context("the new Actor's directory needs a name")?.to_owned();
    crate::definition::validate_actor_name(&name).map_err(anyhow::Error::msg)?;
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        bail!("{} exists and is not empty", dir.display());
    }
    let sdk = match template {
        Template::Rust => Some(rust_sdk()?),
        _ => None,
    };
    for (path, contents) in template_files(template, standby) {
        let text = adapt(path, contents, &name, sdk.as_deref());
        let target = dir.join(path);
        std::fs::create_dir_all(target.parent().expect("template paths have a parent"))?;
        std::fs::write(&target, text).with_context(|| format!("writing {}", target.display()))?;
    }
    std::fs::write(dir.join(".gitignore"), "/storage\n/node_modules\n/target\n__pycache__/\n")?;
    Ok(())
}

/// A template file for the new Actor: its name in actor.json and the package
/// manifest, and (Rust) the SDK at its path in the cache.
fn adapt(path: &str, contents: &str, name: &str, rust_sdk: Option<&Path>) -> String {
    match path {
        ".actor/actor.json" | "package.json" => {
            let mut v: Value = serde_json::from_str(contents).expect("the templates are valid JSON");
            v["name"] = Value::String(name.to_owned());
            if path == ".actor/actor.json" {
                v["title"] = Value::String(name.to_owned());
            }
            serde_json::to_string_pretty(&v).expect("JSON serialises") + "\n"
        }
        "Cargo.toml" => {
            let sdk = rust_sdk.map(|p| p.display().to_string()).unwrap_or_default();
            let mut out = String::new();
            for line in contents.lines() {
                let line = if line.starts_with("name = ") {
                    format!("name = \"{name}\"")
                } else if line.starts_with("wactor-sdk = ") {
                    format!("wactor-sdk = {{ path = {sdk:?} }}")
                } else {
                    line.to_owned()
                };
                out.push_str(&line);
                out.push('\n');
            }
            // Its own workspace: a scaffolded crate inside another workspace would otherwise be claimed by it.
            out.push_str(
                "\n[workspace]\n\n[profile.release]\nopt-level = \"s\"\nlto = true\ncodegen-units = 1\npanic = \"abort\"\nstrip = true\n",
            );
            out
        }
        _ => contents.to_owned(),
    }
}

fn rust_sdk() -> Result<PathBuf> {
    // The SDK's own Cargo.toml finds the WIT at `../../wit`; in the cache it sits beside it.
    let dir = toolchain::ensure("rust-sdk", RUST_SDK, |dir| {
        let lib = dir.join("src/lib.rs");
        let text = std::fs::read_to_string(&lib)?;
        std::fs::write(&lib, text.replace("\"../../wit\"", "\"wit\""))?;
        Ok(())
    })?;
    Ok(dir)
}

/// `wactor run`: builds the Actor in `dir`, runs it once on an embedded
/// platform whose data is `<dir>/storage`, streams its log, prints its
/// results; the exit code says how it ended (0 SUCCEEDED, 2 otherwise).
pub async fn run(dir: &Path, input: Option<Vec<u8>>, purge: bool) -> Result<i32> {
    if let Some(bytes) = &input {
        serde_json::from_slice::<Value>(bytes).context("the input is not valid JSON")?;
    }
    let d = dir.to_path_buf();
    let pkg = tokio::task::spawn_blocking(move || package::prepare(&d)).await??;
    let storage = dir.join("storage");
    std::fs::create_dir_all(&storage)?;
    let token = local_token(&storage)?;
    let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
    let url = format!("http://{}", listener.local_addr()?);
    let options = crate::server::ServeOptions {
        platform: PlatformOptions {
            data_dir: storage.clone(),
            token: Some(token.clone()),
            public_url: url.clone(),
            internal_url: None,
            username: "me".into(),
            standby_domain: "localhost".into(),
            docker_network: "host".into(),
            // A local run may reach a development server on this machine, as `apify run` does.
            allow_private_outbound: true,
            limits: crate::limits::Limits::default(),
            durability: Durability::Acknowledged,
            compute_unit_price_usd: crate::platform::DEFAULT_COMPUTE_UNIT_PRICE_USD,
            webhook_delivery: Default::default(),
            secrets_key: Default::default(),
        },
        preload: Vec::new(),
        shutdown_grace: std::time::Duration::from_secs(1),
        http: crate::server::HttpLimits::default(),
        tls: None,
        quiet: true,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::server::run(listener, options, async move {
        let _ = stopped.await;
    }));
    let outcome = run_on(&Client::new(&url, &token)?, &url, &pkg, input, purge).await;
    let _ = stop.send(());
    server.await??;
    outcome
}

async fn run_on(client: &Client, url: &str, pkg: &package::Package, input: Option<Vec<u8>>, purge: bool) -> Result<i32> {
    wait_ready(client).await?;
    let (actor, build) = client.push(pkg).await?;
    if client::build_status(&build) != Some(crate::platform::actors::BuildStatus::Succeeded) {
        let id = build["id"].as_str().unwrap_or_default().to_owned();
        client.print_log(&id, true).await?;
        let build = client.wait_build(&id).await?;
        if client::build_status(&build) != Some(crate::platform::actors::BuildStatus::Succeeded) {
            bail!("the build failed: {}", build["statusMessage"].as_str().unwrap_or("no reason given"));
        }
    }
    let actor_id = actor["id"].as_str().unwrap_or_default().to_owned();
    if purge {
        purge_defaults(client, &actor_id).await?;
    }
    if pkg.definition.uses_standby_mode == Some(true) {
        // A Standby Actor runs on demand: serve its URL until Ctrl-C.
        let name = actor["name"].as_str().unwrap_or_default();
        let port = url.rsplit(':').next().unwrap_or_default();
        eprintln!("Serving {name} at http://me--{name}.localhost:{port}/ and {url}/standby/me~{name}/ (token in storage/local-token); Ctrl-C stops");
        tokio::signal::ctrl_c().await?;
        return Ok(0);
    }
    let run = client.start(&actor_id, input.map(|b| (b, "application/json".to_owned())), &[]).await?;
    let run_id = run["id"].as_str().unwrap_or_default().to_owned();
    client.print_log(&run_id, true).await?;
    let run = client.wait(&run_id).await?;
    let status = client::run_status(&run);
    eprintln!("Status: {}", status.map_or("?", RunStatus::as_str));
    if let Some(m) = run["statusMessage"].as_str() {
        eprintln!("Status message: {m}");
    }
    let items = client.items(run["defaultDatasetId"].as_str().unwrap_or_default()).await?;
    if items.as_array().is_some_and(|a| !a.is_empty()) {
        println!("{}", serde_json::to_string_pretty(&items)?);
    }
    if let Some((body, _)) = client.record(run["defaultKeyValueStoreId"].as_str().unwrap_or_default(), "OUTPUT").await? {
        println!("OUTPUT: {}", String::from_utf8_lossy(&body));
    }
    Ok(if status == Some(RunStatus::Succeeded) { 0 } else { 2 })
}

async fn wait_ready(client: &Client) -> Result<()> {
    for _ in 0..200 {
        if client.call(reqwest::Method::GET, "/users/me", None, "User").await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    bail!("the embedded platform did not start")
}

/// `--purge`: the default storages of the Actor's earlier runs go; named storages stay.
async fn purge_defaults(client: &Client, actor_id: &str) -> Result<()> {
    let runs = client.call(reqwest::Method::GET, &format!("/acts/{actor_id}/runs?limit=1000"), None, "Runs").await?;
    for run in runs["items"].as_array().into_iter().flatten() {
        for (field, kind) in
            [("defaultDatasetId", "datasets"), ("defaultKeyValueStoreId", "key-value-stores"), ("defaultRequestQueueId", "request-queues")]
        {
            if let Some(id) = run[field].as_str() {
                // Already gone is fine: a purge before this one took it.
                let _ = client.call(reqwest::Method::DELETE, &format!("/{kind}/{id}"), None, "Storage").await;
            }
        }
    }
    Ok(())
}

/// The embedded platform's admin token, kept in the storage directory (owner-only).
fn local_token(storage: &Path) -> Result<String> {
    let path = storage.join("local-token");
    if let Ok(token) = std::fs::read_to_string(&path) {
        return Ok(token.trim().to_owned());
    }
    use rand::Rng;
    let token: String = rand::thread_rng().sample_iter(&rand::distributions::Alphanumeric).take(40).map(char::from).collect();
    std::fs::write(&path, &token)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(token)
}
