//! The server as a library: [`run`] opens the platform on a data
//! directory, registers the Actors to preload, resumes interrupted runs,
//! serves the HTTP API on a listener until `shutdown` resolves, and then
//! stops the runs as migrations. `main.rs` only parses arguments.

mod connections;
pub mod tls;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::net::TcpListener;

pub use self::connections::HttpLimits;
use crate::cli::package;
use crate::platform::actors::ActorPatch;
use crate::platform::{Platform, PlatformOptions};

/// Everything `wactor serve` is told.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub platform: PlatformOptions,
    /// Actor directories (or folders of them) registered and built at start.
    pub preload: Vec<PathBuf>,
    /// How long running runs get after `migrating` before they are stopped.
    pub shutdown_grace: Duration,
    pub http: HttpLimits,
    /// Serve HTTPS with this certificate; containers then reach the API on a plain loopback listener.
    pub tls: Option<tls::TlsFiles>,
    /// Print nothing on stdout (`wactor run` embeds a server and prints the run instead).
    pub quiet: bool,
}

/// Runs a server on `listener` until `shutdown` resolves.
pub async fn run(listener: TcpListener, options: ServeOptions, shutdown: impl Future<Output = ()>) -> Result<()> {
    let addr = listener.local_addr()?;
    let data_dir = options.platform.data_dir.clone();
    let mut platform_options = options.platform.clone();
    let tls = options.tls.as_ref().map(tls::acceptor).transpose()?;
    // Under TLS, containers (host network) reach the API over plain HTTP on
    // loopback, so they need not trust the server's certificate.
    let internal = match tls {
        Some(_) => {
            let internal =
                TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await.context("binding the loopback listener for containers")?;
            platform_options.internal_url = Some(format!("http://{}", internal.local_addr()?));
            Some(internal)
        }
        None => None,
    };
    let quiet = options.quiet;
    let say = |line: &str| {
        if !quiet {
            say(line)
        }
    };
    let executors = crate::executor::standard(&platform_options)?;
    let platform = tokio::task::spawn_blocking(move || Platform::open(platform_options, executors)).await??;
    for dir in &options.preload {
        preload_dir(&platform, dir).await?;
    }
    let resumed = platform.resume_interrupted_runs().await?;
    // Dispatches left by the last shutdown (or crash) go out first.
    platform.start_webhook_delivery();
    platform.start_schedules();
    if resumed > 0 {
        say(&format!("Resumed {resumed} interrupted run(s)"));
    }
    let scheme = if tls.is_some() { "https" } else { "http" };
    say(&format!("wactor listening on {scheme}://{addr}"));
    if platform.config.container_api_url != platform.config.public_url {
        say(&format!("containers reach the API at {} (loopback only)", platform.config.container_api_url));
    }
    match &platform.config.new_token {
        Some(token) => say(&format!("API token (the admin's, shown only now; only its digest is kept): {token}")),
        None => say("API token: the one given by --token/WACTOR_TOKEN, or printed at this data dir's first start"),
    }
    say(&format!("data dir: {}", data_dir.display()));
    let app = crate::api::app(platform.clone());
    let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let (stop_internal, internal_stopped) = tokio::sync::oneshot::channel::<()>();
    let internal = internal.map(|listener| {
        tokio::spawn(connections::serve(listener, app.clone(), options.http.clone(), None, async move {
            let _ = internal_stopped.await;
        }))
    });
    let http = tokio::spawn(connections::serve(listener, app, options.http.clone(), tls, async move {
        let _ = http_stopped.await;
    }));
    shutdown.await;
    tracing::info!("shutting down");
    // Runs first (they stop as migrations and resume on the next start), then HTTP.
    platform.shutdown(options.shutdown_grace).await;
    let _ = stop_http.send(());
    let _ = stop_internal.send(());
    let _ = http.await;
    if let Some(internal) = internal {
        let _ = internal.await;
    }
    platform.flush().await?;
    Ok(())
}

/// A line on stdout for whoever started the server. A closed stdout (the
/// reader went away) must not stop a server, as `println!` would by panicking.
fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
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
        let patch = || ActorPatch::from_definition(&def);
        let actor = match platform.get_actor_in(Some(&platform.admin_principal().user.id), &def.name) {
            Ok(a) => platform.update_actor(&a.id, patch())?,
            Err(_) => platform.create_actor(&platform.admin_principal().user, patch())?,
        };
        let build = platform.build_actor(&actor.id, Some(&def.version), None, pkg.component).await?;
        say(&format!("Actor {} ready (build {})", actor.full_name(), build.build_number));
    }
    Ok(())
}
