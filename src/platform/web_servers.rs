//! Run web servers: every run has a `containerUrl`, a hard-to-guess URL
//! (`<key>.<standby domain>`) that is proxied to the web server its Actor
//! listens on at `ACTOR_WEB_SERVER_PORT`, once that server is up
//! (`isContainerServerReady`). The key is derived from the server's token
//! and the run ID, so the URL needs no storage; the table below only holds
//! the runs whose executor can serve one, for as long as they run.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;

use super::executors::HttpServer;
use super::Platform;

/// Runs that may serve their `containerUrl`, by URL key.
#[derive(Default)]
pub struct WebServers {
    by_key: Mutex<HashMap<String, Entry>>,
}

struct Entry {
    run_id: String,
    /// `None` until the Actor's web server answers.
    server: Option<Arc<dyn HttpServer>>,
}

/// Why a `containerUrl` does not answer.
#[derive(Debug, Clone, PartialEq)]
pub enum WebServerError {
    /// No running run has this URL (finished, never existed, or a component run).
    NoRun,
    /// The run is starting or has not opened `ACTOR_WEB_SERVER_PORT` yet.
    NotReady { run_id: String },
}

/// A run's place in the table; dropping it (the run ended) takes the URL down.
pub struct WebServerSlot {
    platform: Arc<Platform>,
    key: String,
}

impl WebServerSlot {
    /// The Actor's web server answers: the URL now reaches it.
    pub fn ready(&self, server: Arc<dyn HttpServer>) {
        if let Some(e) = self.platform.web_servers.by_key.lock().get_mut(&self.key) {
            e.server = Some(server);
        }
    }
}

impl Drop for WebServerSlot {
    fn drop(&mut self) {
        self.platform.web_servers.by_key.lock().remove(&self.key);
    }
}

impl Platform {
    /// The label that names a run's web server: 32 hex digits (a Standby
    /// label always has `--`, so the two never meet).
    fn web_server_key(&self, run_id: &str) -> String {
        self.run_key(super::auth::KeyPurpose::ContainerUrl, run_id)
    }

    /// `Run.containerUrl` (and the run's `ACTOR_WEB_SERVER_URL`).
    pub fn container_url(&self, run_id: &str) -> String {
        self.host_url(&self.web_server_key(run_id))
    }

    /// Whether the run's web server answers at its `containerUrl`.
    pub fn is_container_server_ready(&self, run_id: &str) -> bool {
        self.web_servers.by_key.lock().get(&self.web_server_key(run_id)).is_some_and(|e| e.server.is_some())
    }

    /// Puts a starting run in the table; its URL answers "not ready" until `ready`.
    pub(crate) fn open_web_server(&self, run_id: &str) -> WebServerSlot {
        let key = self.web_server_key(run_id);
        self.web_servers.by_key.lock().insert(key.clone(), Entry { run_id: run_id.to_owned(), server: None });
        WebServerSlot { platform: self.arc(), key }
    }

    /// The web server behind a `containerUrl` key.
    pub fn web_server(&self, key: &str) -> Result<Arc<dyn HttpServer>, WebServerError> {
        let table = self.web_servers.by_key.lock();
        match table.get(&key.to_ascii_lowercase()) {
            Some(Entry { server: Some(s), .. }) => Ok(s.clone()),
            Some(Entry { run_id, server: None }) => Err(WebServerError::NotReady { run_id: run_id.clone() }),
            None => Err(WebServerError::NoRun),
        }
    }
}
