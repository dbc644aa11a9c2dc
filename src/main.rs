//! The `wactor` binary: `serve` runs the platform; the other commands are
//! clients of a running server.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use axum::serve::ListenerExt;
use clap::{Parser, Subcommand};

use wactor::cli::{client::Client, package};
use wactor::limits::Limits;
use wactor::platform::actors::{ActorPatch, ActorVersion};
use wactor::platform::durability::Durability;
use wactor::platform::{Platform, PlatformOptions};

#[derive(Parser)]
#[command(name = "wactor", version, about = "An open runtime for Actors")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct ServerArgs {
    /// URL of the wactor server.
    #[arg(long, env = "WACTOR_URL", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// API token (printed by `wactor serve` on first start).
    #[arg(long, env = "WACTOR_TOKEN", hide_env_values = true)]
    token: String,
}

#[derive(clap::Args)]
struct ServeArgs {
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    #[arg(long, default_value = "./wactor-data")]
    data_dir: PathBuf,
    /// Fixed API token; otherwise one is generated on first start and kept.
    #[arg(long, env = "WACTOR_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Base URL clients reach the server at (default: http://<listen>).
    #[arg(long)]
    public_url: Option<String>,
    /// Owner name in Actor full names (`<username>/<actor>`).
    #[arg(long, default_value = "me")]
    username: String,
    /// Standby Actors answer at `<username>--<actor>.<standby-domain>` (any port of this server).
    #[arg(long, default_value = "localhost")]
    standby_domain: String,
    /// Docker network mode of container runs (`host` lets them reach the API on 127.0.0.1).
    #[arg(long, default_value = "host")]
    docker_network: String,
    /// Register (and build) every Actor directory under these folders at start.
    #[arg(long)]
    preload: Vec<PathBuf>,
    /// Runs executing at once; more wait as READY.
    #[arg(long, default_value_t = Limits::default().max_concurrent_runs)]
    max_concurrent_runs: u32,
    /// Log as JSON lines.
    #[arg(long)]
    json_logs: bool,
    /// On SIGTERM/SIGINT, how long running runs get (after `migrating`) before they are stopped and migrated.
    #[arg(long, default_value_t = 5)]
    shutdown_grace_secs: u64,
    /// How long a gracefully aborted run may take to finish before it is stopped.
    #[arg(long, default_value_t = Limits::default().abort_grace_secs)]
    abort_grace_secs: u64,
    /// When acknowledged writes reach the disk.
    #[arg(long, value_enum, default_value = "acknowledged")]
    durability: Durability,
    /// How often runs get `persist-state` (a run may ask for its own interval).
    #[arg(long, default_value_t = Limits::default().persist_state_interval_millis)]
    persist_state_interval_millis: u64,
    /// How long a Standby request waits for a free run before a 503 with Retry-After.
    #[arg(long, default_value_t = Limits::default().standby_queue_wait_secs)]
    standby_queue_wait_secs: u64,
    /// Standby requests that may wait per Actor; beyond, 503 at once.
    #[arg(long, default_value_t = Limits::default().max_standby_queue_per_actor)]
    standby_queue_per_actor: usize,
    /// Standby runs one Actor may have at once.
    #[arg(long, default_value_t = Limits::default().max_standby_runs_per_actor)]
    standby_runs_per_actor: usize,
    /// How long a Standby container may take to answer its readiness probe.
    #[arg(long, default_value_t = Limits::default().standby_readiness_timeout_secs)]
    standby_readiness_timeout_secs: u64,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Build an Actor directory and upload it to a server.
    Push {
        dir: PathBuf,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Run an Actor and print its results.
    Call {
        /// Actor name or ID.
        actor: String,
        /// Input as JSON text.
        #[arg(long, conflicts_with = "input_file")]
        input: Option<String>,
        /// Input from a JSON file.
        #[arg(long)]
        input_file: Option<PathBuf>,
        #[arg(long)]
        timeout: Option<u64>,
        #[arg(long)]
        memory: Option<u32>,
        #[arg(long)]
        build: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Print the log of a run.
    Logs {
        run_id: String,
        /// Keep printing until the run finishes.
        #[arg(long, short)]
        follow: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
}

fn main() {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let code = match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    };
    std::process::exit(code);
}

async fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Serve(args) => {
            init_tracing(args.json_logs);
            serve(args).await?;
            Ok(0)
        }
        Command::Push { dir, server } => {
            let pkg = tokio::task::spawn_blocking(move || package::prepare(&dir)).await??;
            let client = Client::new(&server.server, &server.token)?;
            let (actor, mut build) = client.push(&pkg).await?;
            let full_name = format!("{}/{}", actor["username"].as_str().unwrap_or(""), actor["name"].as_str().unwrap_or(""));
            if pkg.content_type != "application/wasm" {
                // A container build runs on the server; its log (the builder's output) shows the progress live.
                let id = build["id"].as_str().unwrap_or_default().to_owned();
                client.print_log(&id, true).await?;
                build = client.wait_build(&id).await?;
            }
            let number = build["buildNumber"].as_str().unwrap_or("");
            if build["status"] != "SUCCEEDED" {
                eprintln!("Build {number} of {full_name} failed: {}", build["statusMessage"].as_str().unwrap_or("no reason given"));
                return Ok(1);
            }
            println!("Pushed {full_name} build {number} ({} bytes)", pkg.component.len());
            Ok(0)
        }
        Command::Call { actor, input, input_file, timeout, memory, build, server } => {
            let input = match (input, input_file) {
                (Some(text), _) => Some(text.into_bytes()),
                (None, Some(path)) => Some(std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?),
                (None, None) => None,
            };
            if let Some(bytes) = &input {
                serde_json::from_slice::<serde_json::Value>(bytes).context("the input is not valid JSON")?;
            }
            let mut query = Vec::new();
            if let Some(t) = timeout {
                query.push(("timeout", t.to_string()));
            }
            if let Some(m) = memory {
                query.push(("memory", m.to_string()));
            }
            if let Some(b) = build {
                query.push(("build", b));
            }
            let client = Client::new(&server.server, &server.token)?;
            let run = client.start(&actor, input.map(|b| (b, "application/json".to_owned())), &query).await?;
            let run_id = run["id"].as_str().unwrap_or_default().to_owned();
            eprintln!("Run {run_id} started");
            let run = client.wait(&run_id).await?;
            let status = run["status"].as_str().unwrap_or("?");
            eprintln!("Status: {status}");
            if let Some(m) = run["statusMessage"].as_str() {
                eprintln!("Status message: {m}");
            }
            let items = client.items(run["defaultDatasetId"].as_str().unwrap_or_default()).await?;
            if items.as_array().is_some_and(|a| !a.is_empty()) {
                println!("{}", serde_json::to_string_pretty(&items)?);
            } else if let Some((body, _)) = client.record(run["defaultKeyValueStoreId"].as_str().unwrap_or_default(), "OUTPUT").await? {
                println!("{}", String::from_utf8_lossy(&body));
            }
            Ok(if status == "SUCCEEDED" { 0 } else { 2 })
        }
        Command::Logs { run_id, follow, server } => {
            Client::new(&server.server, &server.token)?.print_log(&run_id, follow).await?;
            Ok(0)
        }
    }
}

fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "wactor=info,tower_http=warn".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Long polls and log streams still open at shutdown get this long to finish.
const HTTP_DRAIN: std::time::Duration = std::time::Duration::from_secs(3);

async fn serve(args: ServeArgs) -> Result<()> {
    let ServeArgs { listen, data_dir, preload, .. } = &args;
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr()?;
    let grace = std::time::Duration::from_secs(args.shutdown_grace_secs);
    let limits = Limits {
        max_concurrent_runs: args.max_concurrent_runs,
        abort_grace_secs: args.abort_grace_secs,
        persist_state_interval_millis: args.persist_state_interval_millis,
        standby_queue_wait_secs: args.standby_queue_wait_secs,
        max_standby_queue_per_actor: args.standby_queue_per_actor,
        max_standby_runs_per_actor: args.standby_runs_per_actor,
        standby_readiness_timeout_secs: args.standby_readiness_timeout_secs,
        ..Limits::default()
    };
    let opts = PlatformOptions {
        data_dir: data_dir.clone(),
        token: args.token.clone(),
        public_url: args.public_url.clone().unwrap_or_else(|| format!("http://{addr}")),
        username: args.username.clone(),
        standby_domain: args.standby_domain.clone(),
        docker_network: args.docker_network.clone(),
        limits,
        durability: args.durability,
    };
    let platform = tokio::task::spawn_blocking(move || Platform::open(opts)).await??;
    platform.start_background();
    for dir in preload {
        preload_dir(&platform, dir).await?;
    }
    let resumed = platform.resume_interrupted_runs().await?;
    if resumed > 0 {
        println!("Resumed {resumed} interrupted run(s)");
    }
    println!("wactor listening on http://{addr}");
    println!("API token: {}", platform.config.token);
    println!("data dir: {}", data_dir.display());
    let app = wactor::api::app(platform.clone());
    let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
    // Small responses (Standby answers, API JSON) go out at once: without
    // TCP_NODELAY a response written in two parts waits for a delayed ACK (~40 ms).
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "setting TCP_NODELAY");
        }
    });
    let server = tokio::spawn(
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = http_stopped.await;
            })
            .into_future(),
    );
    shutdown_signal().await;
    // Runs first (they stop as migrations and resume on the next start), then HTTP.
    platform.shutdown(grace).await;
    let _ = stop_http.send(());
    if tokio::time::timeout(HTTP_DRAIN, server).await.is_err() {
        tracing::warn!("closing connections still open after {HTTP_DRAIN:?}");
    }
    platform.flush().await?;
    Ok(())
}

/// Registers and builds every Actor directory under `root` (or `root` itself).
async fn preload_dir(platform: &Arc<Platform>, root: &Path) -> Result<()> {
    let dirs: Vec<PathBuf> = if root.join(".actor/actor.json").exists() {
        vec![root.to_path_buf()]
    } else {
        let mut v: Vec<PathBuf> = std::fs::read_dir(root)
            .with_context(|| format!("reading {}", root.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join(".actor/actor.json").exists())
            .collect();
        v.sort();
        v
    };
    if dirs.is_empty() {
        bail!("{} holds no Actor directory (.actor/actor.json)", root.display());
    }
    for dir in dirs {
        let d = dir.clone();
        let pkg = tokio::task::spawn_blocking(move || package::prepare(&d)).await??;
        let def = pkg.definition.clone();
        let patch = || ActorPatch {
            name: Some(def.name.clone()),
            title: def.title.clone(),
            description: def.description.clone(),
            default_run_options: Some(def.default_run_options.clone()),
            versions: Some(vec![ActorVersion {
                version_number: def.version.clone(),
                source_type: Some("WASM_COMPONENT".into()),
                build_tag: Some(def.build_tag.clone().unwrap_or_else(|| "latest".into())),
                actor_definition: Some(def.clone()),
                extra: Default::default(),
            }]),
            ..Default::default()
        };
        let actor = match platform.get_actor(&def.name) {
            Ok(a) => platform.update_actor(&a.id, patch())?,
            Err(_) => platform.create_actor(patch())?,
        };
        let build = platform.build_actor(&actor.id, Some(&def.version), None, pkg.component).await?;
        println!("Actor {} ready (build {})", actor.full_name(), build.build_number);
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
