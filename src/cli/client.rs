//! A small client of the wactor HTTP API for the CLI.

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::platform::actors::BuildStatus;
use crate::platform::runs::RunStatus;

/// A run's status as the API gave it (`None`: a shape this CLI does not know).
pub fn run_status(run: &Value) -> Option<RunStatus> {
    serde_json::from_value(run["status"].clone()).ok()
}

/// A build's status as the API gave it.
pub fn build_status(build: &Value) -> Option<BuildStatus> {
    serde_json::from_value(build["status"].clone()).ok()
}

use super::package::Package;

/// The CLI's TLS: the Mozilla roots, and the PEM certificates in the file
/// `WACTOR_CA_CERT` names (a server's own CA, or its self-signed certificate).
fn tls_config() -> Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.into() };
    if let Some(path) = std::env::var_os("WACTOR_CA_CERT") {
        for cert in crate::server::tls::read_certs(std::path::Path::new(&path))? {
            roots.add(cert).context("WACTOR_CA_CERT holds a certificate that cannot be a root")?;
        }
    }
    Ok(rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    pub fn new(server: &str, token: &str) -> Result<Client> {
        let http = reqwest::Client::builder().connect_timeout(Duration::from_secs(10)).use_preconfigured_tls(tls_config()?).build()?;
        Ok(Client { http, base: format!("{}/v2", server.trim_end_matches('/')), token: token.to_owned() })
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{}", self.base, path)).bearer_auth(&self.token)
    }

    /// Sends and returns `data` of a JSON answer, or the API's error message.
    async fn send(&self, req: reqwest::RequestBuilder) -> Result<Option<Value>> {
        let resp = req.send().await.with_context(|| format!("cannot reach the wactor server at {}", self.base))?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            let msg = body["error"]["message"].as_str().map(str::to_owned).unwrap_or_else(|| body.to_string());
            bail!("{msg} (HTTP {status})");
        }
        Ok(Some(body["data"].clone()))
    }

    async fn expect(&self, req: reqwest::RequestBuilder, what: &str) -> Result<Value> {
        self.send(req).await?.ok_or_else(|| anyhow!("{what} was not found"))
    }

    /// One API call with an optional JSON body: its `data` (null for an empty answer).
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>, what: &str) -> Result<Value> {
        let mut req = self.request(method, path);
        if let Some(b) = body {
            req = req.json(b);
        }
        self.expect(req, what).await
    }

    /// Creates or updates the Actor from the package, then uploads and builds its component.
    pub async fn push(&self, pkg: &Package) -> Result<(Value, Value)> {
        let def = &pkg.definition;
        let body = crate::platform::actors::ActorPatch::from_definition(def);
        let actor = match self.send(self.request(Method::GET, &format!("/actors/{}", def.name))).await? {
            Some(existing) => {
                let id = existing["id"].as_str().unwrap_or_default().to_owned();
                self.expect(self.request(Method::PUT, &format!("/actors/{id}")).json(&body), "Actor").await?
            }
            None => self.expect(self.request(Method::POST, "/actors").json(&body), "Actor").await?,
        };
        let id = actor["id"].as_str().unwrap_or_default();
        let build = self
            .expect(
                self.request(Method::POST, &format!("/actors/{id}/builds"))
                    .query(&[("version", def.version.as_str())])
                    .header("content-type", pkg.content_type)
                    .body(pkg.component.clone()),
                "Actor",
            )
            .await?;
        Ok((actor, build))
    }

    pub async fn start(&self, actor: &str, input: Option<(Vec<u8>, String)>, query: &[(&str, String)]) -> Result<Value> {
        let mut req = self.request(Method::POST, &format!("/actors/{}/runs", actor.replace('/', "~"))).query(query);
        if let Some((body, ct)) = input {
            req = req.header("content-type", ct).body(body);
        }
        self.expect(req, &format!("Actor {actor}")).await
    }

    pub async fn wait(&self, run_id: &str) -> Result<Value> {
        loop {
            let run =
                self.expect(self.request(Method::GET, &format!("/actor-runs/{run_id}")).query(&[("waitForFinish", "60")]), "Run").await?;
            if run_status(&run).is_some_and(RunStatus::is_terminal) {
                return Ok(run);
            }
        }
    }

    pub async fn wait_build(&self, build_id: &str) -> Result<Value> {
        loop {
            let build = self
                .expect(self.request(Method::GET, &format!("/actor-builds/{build_id}")).query(&[("waitForFinish", "60")]), "Build")
                .await?;
            if build_status(&build) != Some(BuildStatus::Running) {
                return Ok(build);
            }
        }
    }

    pub async fn items(&self, dataset_id: &str) -> Result<Value> {
        let resp = self.request(Method::GET, &format!("/datasets/{dataset_id}/items")).send().await?;
        Ok(resp.json().await?)
    }

    /// Streams a dataset export into `out`; returns where the one response
    /// ended when the server's response caps cut it before the limit asked for.
    pub async fn export_items(
        &self,
        dataset: &str,
        query: &[(String, String)],
        mut out: impl tokio::io::AsyncWrite + Unpin,
    ) -> Result<Option<(u64, u64)>> {
        use futures::StreamExt;
        use tokio::io::AsyncWriteExt;
        let resp = self.request(Method::GET, &format!("/datasets/{dataset}/items")).query(query).send().await?;
        if !resp.status().is_success() {
            let status = resp.status();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            bail!("{} (HTTP {status})", body["error"]["message"].as_str().unwrap_or("the export failed"));
        }
        let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let (count, total, offset) =
            (header("x-apify-pagination-count"), header("x-apify-pagination-total"), header("x-apify-pagination-offset"));
        let limit = header("x-apify-pagination-limit");
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            out.write_all(&chunk.context("the export was cut short")?).await?;
        }
        out.flush().await?;
        let cut = offset + count < total && count < limit;
        Ok(cut.then_some((offset + count, total)))
    }

    /// A record's body and content type, if it exists.
    pub async fn record(&self, store_id: &str, key: &str) -> Result<Option<(Vec<u8>, String)>> {
        let resp = self.request(Method::GET, &format!("/key-value-stores/{store_id}/records/{key}")).send().await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        Ok(Some((resp.bytes().await?.to_vec(), ct)))
    }

    /// Prints a run's log; with `follow`, until the run finishes.
    pub async fn print_log(&self, run_id: &str, follow: bool) -> Result<()> {
        use futures::StreamExt;
        use std::io::Write;
        let mut req = self.request(Method::GET, &format!("/logs/{run_id}"));
        if follow {
            req = req.query(&[("stream", "true")]);
        }
        let resp = req.send().await?;
        if resp.status() == StatusCode::NOT_FOUND {
            bail!("no run or build with ID {run_id}");
        }
        if !resp.status().is_success() {
            bail!("HTTP {}", resp.status());
        }
        let mut stream = resp.bytes_stream();
        let mut out = std::io::stdout();
        while let Some(chunk) = stream.next().await {
            out.write_all(&chunk?)?;
            out.flush()?;
        }
        Ok(())
    }
}
