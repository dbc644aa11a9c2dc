//! The audit log: who did what, append-only, read by the admin.
//!
//! Both doors write to it: the API records every request that changes
//! something (its method, its path, its status), the WIT host the calls by
//! which a guest acts beyond its own storages (starting, aborting,
//! metamorphing runs, adding webhooks). Storage data writes (items, records,
//! requests) are not entries: a crawl makes millions, and they stay inside
//! storages the run already may write. An entry names the user, the token
//! by its name (never its secret) and the resource by its path; bodies and
//! queries are never kept, since tokens and secret input travel there.
//!
//! `ms (BE) ++ seq (BE) → entry`: in time order, so a page is one range
//! scan and entries older than the retention are swept from the front.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::access::Caller;
use super::error::Result;
use super::Platform;
use crate::ids::ts;

/// Entries between two sweeps of those past the retention.
const SWEEP_EVERY: u64 = 1024;

/// Longest resource path or error kept in an entry.
const MAX_TEXT: usize = 300;

/// Which door an action came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Door {
    Api,
    Wit,
}

/// One action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    #[serde(with = "ts")]
    pub at: DateTime<Utc>,
    /// The acting user (`None`: no valid token).
    pub user_id: Option<String>,
    pub username: Option<String>,
    /// The token by name: a user token's name, `server` for the server's
    /// own token, `run <id>` for a run's token or a guest's own call.
    pub token: Option<String>,
    pub door: Door,
    /// The HTTP method, or the WIT function.
    pub action: String,
    /// The path without its query, or what the WIT call names.
    pub resource: String,
    /// The HTTP status of the answer (WIT calls: 200 when done).
    pub status: u16,
    /// Why a WIT call was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A page of entries, oldest first unless `desc`.
#[derive(Debug, Default)]
pub struct AuditQuery {
    pub user_id: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub offset: usize,
    pub limit: usize,
    pub desc: bool,
}

/// The append side: a sequence so entries of one millisecond keep their order.
#[derive(Default)]
pub(crate) struct AuditLog {
    seq: AtomicU64,
}

/// Milliseconds since the epoch as a key prefix (times before it sort first).
fn millis(t: DateTime<Utc>) -> u64 {
    t.timestamp_millis().max(0) as u64
}

fn clip(s: &str) -> String {
    match s.char_indices().nth(MAX_TEXT) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

impl Platform {
    /// Who a caller is, as an entry names them.
    fn audit_identity(&self, caller: &Caller) -> (Option<String>, Option<String>, Option<String>) {
        match caller {
            Caller::User(p) => {
                let token = p.token.as_ref().map_or_else(|| "server".to_owned(), |t| t.name.clone());
                (Some(p.user.id.clone()), Some(p.user.username.clone()), Some(token))
            }
            Caller::Run(g) => {
                let username = self.get_user(&g.user_id).ok().map(|u| u.username);
                (Some(g.user_id.clone()), username, Some(format!("run {}", g.run_id)))
            }
            Caller::Anonymous => (None, None, None),
        }
    }

    /// Appends one entry. An audit write that fails is logged, never the
    /// reason the action itself fails (it already happened).
    pub fn audit(&self, caller: &Caller, door: Door, action: &str, resource: &str, status: u16, error: Option<&str>) {
        let (user_id, username, token) = self.audit_identity(caller);
        let entry = AuditEntry {
            at: Utc::now(),
            user_id,
            username,
            token,
            door,
            action: clip(action),
            resource: clip(resource),
            status,
            error: error.map(clip),
        };
        let seq = self.audit.seq.fetch_add(1, Ordering::Relaxed);
        let mut key = Vec::with_capacity(16);
        key.extend_from_slice(&millis(entry.at).to_be_bytes());
        key.extend_from_slice(&seq.to_be_bytes());
        let written = || -> Result<()> {
            self.db.audit.insert(key, serde_json::to_vec(&entry)?)?;
            Ok(())
        };
        if let Err(e) = written() {
            tracing::error!(error = %e, "writing an audit entry");
        }
        if seq % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.sweep_audit();
        }
    }

    /// Drops entries older than the retention.
    fn sweep_audit(&self) {
        let days = self.config.limits.audit_retention_days;
        if days == 0 {
            return;
        }
        let cutoff = millis(Utc::now() - chrono::Duration::days(days as i64));
        for key in self.db.audit.range(..cutoff.to_be_bytes().to_vec()).keys().flatten() {
            let _ = self.db.audit.remove(key);
        }
    }

    /// One page of the log and how many entries match in all.
    pub fn audit_page(&self, q: &AuditQuery) -> Result<(usize, Vec<AuditEntry>)> {
        let since = q.since.map_or(0, millis);
        let range = self.db.audit.range(since.to_be_bytes().to_vec()..);
        let entries: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> =
            if q.desc { Box::new(range.rev()) } else { Box::new(range) };
        let (mut total, mut page) = (0, Vec::new());
        for kv in entries {
            let (_, v) = kv?;
            let wanted = total >= q.offset && page.len() < q.limit;
            // Without a user filter only the page's entries need parsing.
            if q.user_id.is_none() && !wanted {
                total += 1;
                continue;
            }
            let e: AuditEntry = serde_json::from_slice(&v)?;
            if q.user_id.as_ref().is_some_and(|u| e.user_id.as_ref() != Some(u)) {
                continue;
            }
            if wanted {
                page.push(e);
            }
            total += 1;
        }
        Ok((total, page))
    }
}
