//! The `wactor` binary: `serve` runs the platform; the other commands are
//! clients of a running server.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use wactor::cli::{client::Client, package};
use wactor::limits::Limits;
use wactor::platform::actors::BuildStatus;
use wactor::platform::durability::Durability;
use wactor::platform::runs::RunStatus;
use wactor::platform::PlatformOptions;
use wactor::server::{HttpLimits, ServeOptions};

/// glibc's malloc was a fifth of a loaded server's CPU (sled's node copies,
/// JSON records, hyper buffers); jemalloc's per-thread caches cost a
/// fraction of that, and it takes address space without hints, so the
/// instance pool's large reservation still fits (benches/RESULTS.md, issue 13).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
    /// Serve HTTPS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
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
    /// Let guests' outbound HTTP reach loopback, private and link-local addresses
    /// (this server's own API among them): for development only.
    #[arg(long)]
    allow_private_outbound: bool,
    /// Every user's quota unless the admin sets theirs (`PUT /v2/users/{user}/quota`); the admin has none.
    /// Unfinished runs of one user at once.
    #[arg(long)]
    user_max_concurrent_runs: Option<u32>,
    /// Memory (MB) of one user's unfinished runs together.
    #[arg(long)]
    user_max_memory_mbytes: Option<u64>,
    /// Standby runs of one user at once.
    #[arg(long)]
    user_max_standby_runs: Option<u32>,
    /// Bytes one user's storages may hold together.
    #[arg(long)]
    user_max_storage_bytes: Option<u64>,
    /// The file of keys that seal secrets at rest (default: `<data-dir>/secrets.key`, generated on first start).
    #[arg(long, env = "WACTOR_SECRETS_KEY_FILE")]
    secrets_key_file: Option<PathBuf>,
    /// The key that seals secrets at rest (base64 of 32 bytes), instead of a key file.
    #[arg(long, env = "WACTOR_SECRETS_KEY", hide_env_values = true)]
    secrets_key: Option<String>,
    /// Register (and build) every Actor directory under these folders at start.
    #[arg(long)]
    preload: Vec<PathBuf>,
    /// API requests a user's token may make a second (0: no limit); past it 429 with Retry-After.
    /// Run tokens and the admin are not limited.
    #[arg(long, default_value_t = Limits::default().max_requests_per_second_per_token)]
    rate_limit_per_token: u32,
    /// Runs executing at once; more wait as READY.
    #[arg(long, default_value_t = Limits::default().max_concurrent_runs)]
    max_concurrent_runs: u32,
    /// Unfinished runs (waiting ones included) past which starting another is refused.
    #[arg(long, default_value_t = Limits::default().max_active_runs_per_user)]
    max_active_runs: u32,
    /// How deep Actors may start Actors (a run started by a run started by ...).
    #[arg(long, default_value_t = Limits::default().max_call_depth)]
    max_call_depth: u32,
    /// Let webhooks go to loopback and private addresses (receivers on this machine; development and tests).
    #[arg(long)]
    allow_private_webhook_urls: bool,
    /// A failed webhook delivery's first retry comes after this long; each next one waits twice as long.
    #[arg(long, default_value_t = 60_000)]
    webhook_retry_base_millis: u64,
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
    /// What one compute unit (1 GB of memory for one hour) costs in USD, for runs' usage.
    #[arg(long, default_value_t = wactor::platform::DEFAULT_COMPUTE_UNIT_PRICE_USD, value_parser = parse_unit_price)]
    compute_unit_price_usd: f64,
    /// How often runs get `persist-state` (a run may ask for its own interval).
    #[arg(long, default_value_t = Limits::default().persist_state_interval_millis)]
    persist_state_interval_millis: u64,
    /// HTTP requests in flight before new ones are shed with 503.
    #[arg(long, default_value_t = Limits::default().max_in_flight_requests)]
    max_in_flight_requests: usize,
    /// Reboots one run may do; a run rebooting itself in a loop is refused after this.
    #[arg(long, default_value_t = Limits::default().max_reboots_per_run)]
    max_reboots_per_run: u32,
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
    /// HTTP connections open at once; when full, the oldest idle one makes room (kept under the file limit).
    #[arg(long, default_value_t = HttpLimits::default().max_connections)]
    max_connections: usize,
    /// How long a client may take to send a request's headers (and an HTTP/1 connection may wait for its next request).
    #[arg(long, default_value_t = HttpLimits::default().header_read_timeout.as_secs())]
    header_read_timeout_secs: u64,
    /// How long a connection may stay open without a request in flight.
    #[arg(long, default_value_t = HttpLimits::default().idle_timeout.as_secs())]
    idle_timeout_secs: u64,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(Box<ServeArgs>),
    /// Build an Actor directory and upload it to a server.
    Push {
        dir: PathBuf,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Scaffold a new Actor directory that builds and runs as it is.
    Create {
        /// The new directory; its last component is the Actor's name.
        dir: PathBuf,
        #[arg(long, value_enum, default_value = "js")]
        template: wactor::cli::dev::Template,
        /// A Standby Actor (answers HTTP) instead of a batch one.
        #[arg(long)]
        standby: bool,
    },
    /// Build an Actor directory and run it once on a platform embedded in the command (storages in <dir>/storage).
    Run {
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Input as JSON text.
        #[arg(long, conflicts_with = "input_file")]
        input: Option<String>,
        /// Input from a JSON file.
        #[arg(long)]
        input_file: Option<PathBuf>,
        /// Delete the default storages of earlier local runs first (named storages stay).
        #[arg(long)]
        purge: bool,
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
    /// Work with datasets.
    #[command(subcommand)]
    Dataset(DatasetCommand),
    /// Add, list and remove users (with the admin's token).
    #[command(subcommand)]
    Users(UsersCommand),
    /// Create, list and revoke your API tokens.
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Manage the keys that seal secrets at rest (with the server stopped).
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Print the audit log, newest first (with the admin's token).
    Audit {
        /// Only this user's actions (user ID).
        #[arg(long)]
        user: Option<String>,
        /// Only actions since this time (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
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

#[derive(Subcommand)]
enum SecretsCommand {
    /// Adds a new key, reseals every secret with it and drops the old keys.
    Rotate {
        #[arg(long, default_value = "./wactor-data")]
        data_dir: PathBuf,
        /// The key file (default: `<data-dir>/secrets.key`).
        #[arg(long, env = "WACTOR_SECRETS_KEY_FILE")]
        secrets_key_file: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Add a user; prints the user and their first token (shown once).
    Add {
        username: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    List {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Remove a user (by ID or username) and revoke their tokens.
    Remove {
        user: String,
        #[command(flatten)]
        server: ServerArgs,
    },
}

#[derive(Subcommand)]
enum TokensCommand {
    /// Create a token; prints it (shown once).
    Create {
        name: String,
        /// When it stops working (RFC 3339, e.g. 2027-01-01T00:00:00Z).
        #[arg(long)]
        expires_at: Option<String>,
        /// Reads only.
        #[arg(long)]
        read_only: bool,
        /// Only this Actor (ID or name); repeatable.
        #[arg(long = "actor")]
        actors: Vec<String>,
        /// Only this storage (ID or name); repeatable.
        #[arg(long = "storage")]
        storages: Vec<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    List {
        #[command(flatten)]
        server: ServerArgs,
    },
    Revoke {
        id: String,
        #[command(flatten)]
        server: ServerArgs,
    },
}

#[derive(Subcommand)]
enum DatasetCommand {
    /// Write a dataset's items in an export format, to stdout or a file (streamed).
    Export {
        /// Dataset ID or name.
        dataset: String,
        /// json, jsonl, csv, html, xlsx, xml or rss.
        #[arg(long, default_value = "json")]
        format: String,
        /// Write here instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// More item query parameters, e.g. `--param fields=url,title --param clean=1`.
        #[arg(long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
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
            serve(*args).await?;
            Ok(0)
        }
        Command::Push { dir, server } => push(dir, &server).await,
        Command::Create { dir, template, standby } => {
            wactor::cli::dev::create(&dir, template, standby)?;
            println!("Created {}: `wactor run {}` builds and runs it", dir.display(), dir.display());
            Ok(0)
        }
        Command::Run { dir, input, input_file, purge } => {
            let input = read_input(input, input_file)?;
            wactor::cli::dev::run(&dir, input, purge).await
        }
        Command::Call { actor, input, input_file, timeout, memory, build, server } => {
            let input = read_input(input, input_file)?;
            let query: Vec<(&str, String)> =
                [("timeout", timeout.map(|t| t.to_string())), ("memory", memory.map(|m| m.to_string())), ("build", build)]
                    .into_iter()
                    .filter_map(|(k, v)| Some((k, v?)))
                    .collect();
            call(&actor, input, &query, &server).await
        }
        Command::Dataset(DatasetCommand::Export { dataset, format, output, params, server }) => {
            export_dataset(&dataset, format, output, params, &server).await?;
            Ok(0)
        }
        Command::Users(cmd) => users(cmd).await,
        Command::Tokens(cmd) => tokens(cmd).await,
        Command::Audit { user, since, limit, server } => {
            let mut query: Vec<(&str, String)> = vec![("desc", "1".into()), ("limit", limit.to_string())];
            query.extend(user.map(|u| ("userId", u)));
            query.extend(since.map(|t| ("since", t)));
            let query = form_urlencoded::Serializer::new(String::new()).extend_pairs(query).finish();
            let path = format!("/audit-log?{query}");
            print_answer(&Client::new(&server.server, &server.token)?.call(reqwest::Method::GET, &path, None, "Audit log").await?);
            Ok(0)
        }
        Command::Secrets(SecretsCommand::Rotate { data_dir, secrets_key_file }) => {
            let source = wactor::platform::secrets::KeySource { key: None, file: secrets_key_file };
            let resealed = wactor::platform::secrets::rotate(&data_dir, &source)?;
            println!("Resealed {resealed} records with a new key; the old keys are dropped from {}", source.file_in(&data_dir).display());
            Ok(0)
        }
        Command::Logs { run_id, follow, server } => {
            Client::new(&server.server, &server.token)?.print_log(&run_id, follow).await?;
            Ok(0)
        }
    }
}

/// `--input` text or `--input-file` contents.
fn read_input(input: Option<String>, input_file: Option<PathBuf>) -> Result<Option<Vec<u8>>> {
    Ok(match (input, input_file) {
        (Some(text), _) => Some(text.into_bytes()),
        (None, Some(path)) => Some(std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?),
        (None, None) => None,
    })
}

/// `wactor push`: packages the directory, uploads it, and waits for a container build.
async fn push(dir: PathBuf, server: &ServerArgs) -> Result<i32> {
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
    if wactor::cli::client::build_status(&build) != Some(BuildStatus::Succeeded) {
        eprintln!("Build {number} of {full_name} failed: {}", build["statusMessage"].as_str().unwrap_or("no reason given"));
        return Ok(1);
    }
    println!("Pushed {full_name} build {number} ({} bytes)", pkg.component.len());
    Ok(0)
}

/// `wactor call`: starts a run, waits for it, prints its items (or OUTPUT); exit 2 unless it succeeded.
async fn call(actor: &str, input: Option<Vec<u8>>, query: &[(&str, String)], server: &ServerArgs) -> Result<i32> {
    if let Some(bytes) = &input {
        serde_json::from_slice::<serde_json::Value>(bytes).context("the input is not valid JSON")?;
    }
    let client = Client::new(&server.server, &server.token)?;
    let run = client.start(actor, input.map(|b| (b, "application/json".to_owned())), query).await?;
    let run_id = run["id"].as_str().unwrap_or_default().to_owned();
    eprintln!("Run {run_id} started");
    let run = client.wait(&run_id).await?;
    let status = wactor::cli::client::run_status(&run);
    eprintln!("Status: {}", status.map_or("?", RunStatus::as_str));
    if let Some(m) = run["statusMessage"].as_str() {
        eprintln!("Status message: {m}");
    }
    let items = client.items(run["defaultDatasetId"].as_str().unwrap_or_default()).await?;
    if items.as_array().is_some_and(|a| !a.is_empty()) {
        println!("{}", serde_json::to_string_pretty(&items)?);
    } else if let Some((body, _)) = client.record(run["defaultKeyValueStoreId"].as_str().unwrap_or_default(), "OUTPUT").await? {
        println!("{}", String::from_utf8_lossy(&body));
    }
    Ok(if status == Some(RunStatus::Succeeded) { 0 } else { 2 })
}

/// `wactor users …` (the admin's token).
async fn users(cmd: UsersCommand) -> Result<i32> {
    use reqwest::Method;
    let (server, method, path, body) = match cmd {
        UsersCommand::Add { username, server } => {
            (server, Method::POST, "/users".to_owned(), Some(serde_json::json!({ "username": username })))
        }
        UsersCommand::List { server } => (server, Method::GET, "/users?limit=1000".to_owned(), None),
        UsersCommand::Remove { user, server } => (server, Method::DELETE, format!("/users/{user}"), None),
    };
    print_answer(&Client::new(&server.server, &server.token)?.call(method, &path, body.as_ref(), "User").await?);
    Ok(0)
}

/// `wactor tokens …` (the caller's own tokens).
async fn tokens(cmd: TokensCommand) -> Result<i32> {
    use reqwest::Method;
    let (server, method, path, body) = match cmd {
        TokensCommand::Create { name, expires_at, read_only, actors, storages, server } => {
            let mut scopes = serde_json::json!({ "readOnly": read_only });
            if !actors.is_empty() {
                scopes["actors"] = serde_json::json!(actors);
            }
            if !storages.is_empty() {
                scopes["storages"] = serde_json::json!(storages);
            }
            let body = serde_json::json!({ "name": name, "expiresAt": expires_at, "scopes": scopes });
            (server, Method::POST, "/users/me/tokens".to_owned(), Some(body))
        }
        TokensCommand::List { server } => (server, Method::GET, "/users/me/tokens?limit=1000".to_owned(), None),
        TokensCommand::Revoke { id, server } => (server, Method::DELETE, format!("/users/me/tokens/{id}"), None),
    };
    print_answer(&Client::new(&server.server, &server.token)?.call(method, &path, body.as_ref(), "Token").await?);
    Ok(0)
}

/// An answer's `data` as JSON; a list's items one per line; nothing for an empty answer.
fn print_answer(data: &serde_json::Value) {
    match data.get("items").and_then(|i| i.as_array()) {
        Some(items) => items.iter().for_each(|i| println!("{i}")),
        None if data.is_null() => {}
        None => println!("{}", serde_json::to_string_pretty(data).unwrap_or_default()),
    }
}

/// `wactor dataset export`: the items in one response, streamed to a file or stdout.
async fn export_dataset(dataset: &str, format: String, output: Option<PathBuf>, params: Vec<String>, server: &ServerArgs) -> Result<()> {
    let mut query = vec![("format".to_owned(), format)];
    for p in params {
        let (k, v) = p.split_once('=').with_context(|| format!("--param {p}: expected NAME=VALUE"))?;
        query.push((k.to_owned(), v.to_owned()));
    }
    let client = Client::new(&server.server, &server.token)?;
    let out: Box<dyn tokio::io::AsyncWrite + Unpin + Send> = match &output {
        Some(path) => Box::new(tokio::fs::File::create(path).await.with_context(|| format!("creating {}", path.display()))?),
        None => Box::new(tokio::io::stdout()),
    };
    if let Some((end, total)) = client.export_items(&dataset.replace('/', "~"), &query, out).await? {
        eprintln!("One response holds items up to {end} of {total}; export the rest with --param offset={end}");
    }
    Ok(())
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

async fn serve(args: ServeArgs) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    let limits = Limits {
        max_concurrent_runs: args.max_concurrent_runs,
        max_active_runs_per_user: args.max_active_runs,
        max_requests_per_second_per_token: args.rate_limit_per_token,
        max_call_depth: args.max_call_depth,
        abort_grace_secs: args.abort_grace_secs,
        persist_state_interval_millis: args.persist_state_interval_millis,
        standby_queue_wait_secs: args.standby_queue_wait_secs,
        max_standby_queue_per_actor: args.standby_queue_per_actor,
        max_standby_runs_per_actor: args.standby_runs_per_actor,
        standby_readiness_timeout_secs: args.standby_readiness_timeout_secs,
        max_reboots_per_run: args.max_reboots_per_run,
        max_in_flight_requests: args.max_in_flight_requests.max(1),
        default_user_quota: wactor::limits::Quota {
            max_concurrent_runs: args.user_max_concurrent_runs,
            max_total_memory_mbytes: args.user_max_memory_mbytes,
            max_standby_runs: args.user_max_standby_runs,
            max_storage_bytes: args.user_max_storage_bytes,
        },
        ..Limits::default()
    };
    let options = ServeOptions {
        platform: PlatformOptions {
            data_dir: args.data_dir,
            token: args.token,
            public_url: args.public_url.unwrap_or_else(|| format!("{}://{addr}", if args.tls_cert.is_some() { "https" } else { "http" })),
            internal_url: None,
            username: args.username,
            standby_domain: args.standby_domain,
            docker_network: args.docker_network,
            allow_private_outbound: args.allow_private_outbound,
            limits,
            durability: args.durability,
            compute_unit_price_usd: args.compute_unit_price_usd,
            secrets_key: wactor::platform::secrets::KeySource { key: args.secrets_key, file: args.secrets_key_file },
            webhook_delivery: wactor::platform::webhooks::delivery::DeliveryOptions {
                allow_private: args.allow_private_webhook_urls,
                retry_base: std::time::Duration::from_millis(args.webhook_retry_base_millis.max(1)),
                ..Default::default()
            },
        },
        preload: args.preload,
        shutdown_grace: std::time::Duration::from_secs(args.shutdown_grace_secs),
        http: HttpLimits {
            max_connections: args.max_connections,
            header_read_timeout: std::time::Duration::from_secs(args.header_read_timeout_secs),
            idle_timeout: std::time::Duration::from_secs(args.idle_timeout_secs),
        },
        tls: args.tls_cert.zip(args.tls_key).map(|(cert, key)| wactor::server::tls::TlsFiles { cert, key }),
        quiet: false,
    };
    wactor::server::run(listener, options, shutdown_signal()).await
}

/// A compute unit's price: a finite number of USD from 0 to 1,000.
fn parse_unit_price(s: &str) -> std::result::Result<f64, String> {
    let price: f64 = s.parse().map_err(|_| format!("\"{s}\" is not a number"))?;
    if !price.is_finite() || !(0.0..=1000.0).contains(&price) {
        return Err(format!("the price must be from 0 to 1000 USD, not {s}"));
    }
    Ok(price)
}

/// Resolves on SIGTERM or SIGINT. The handlers are installed by this call,
/// not at the first poll: the server announces it is listening before it
/// awaits this, and a signal in between must not kill it unshut-down.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (term, int) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()));
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {},
                        _ = int.recv() => {},
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
