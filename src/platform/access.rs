//! Who may do what. A request or a guest acts either as the server's admin
//! (its API token) or as a run: every container run gets a token of its
//! own, valid while the run lives, and a component run is its own caller
//! at the WIT door. Both doors ask [`Platform::authorize`] with the same
//! [`Action`]s, so a run can do exactly the same through either.
//!
//! A run acts for the user who started it, with one of two levels:
//! - full (the default): the user's storages, starting and aborting the
//!   user's runs, its own run's status message, charges, reboot and
//!   metamorph; never the Actors themselves, their list, or other users;
//! - limited (`"permissions": "limited"` in actor.json, or
//!   `forcePermissionLevel=LIMITED_PERMISSIONS` on start): only its own
//!   storages, the storages it and the runs it started created, and the
//!   storages its input names; only its own runs and the runs it started.
//!
//! Run tokens are random, stored only as their SHA-256 digest, and
//! compared as digests (see `auth`); they never reach a log.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::auth::digest;
use super::error::{PlatformError, Result};
use super::runs::Run;
use super::storage::catalog::StorageInfo;
use super::Platform;
use crate::ids;

/// What a run token starts with, so it is recognised (and found in leaked
/// text) at a glance; the server's own token starts `wactor_`.
pub const RUN_TOKEN_PREFIX: &str = "wactor_run_";

/// A run's access level, in Apify's names (`forcePermissionLevel`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PermissionLevel {
    LimitedPermissions,
    #[default]
    FullPermissions,
}

impl PermissionLevel {
    pub fn parse(s: &str) -> Result<PermissionLevel> {
        match s {
            "LIMITED_PERMISSIONS" => Ok(PermissionLevel::LimitedPermissions),
            "FULL_PERMISSIONS" => Ok(PermissionLevel::FullPermissions),
            other => Err(PlatformError::invalid_kind(
                "invalid-value",
                format!("forcePermissionLevel must be LIMITED_PERMISSIONS or FULL_PERMISSIONS, not \"{other}\""),
            )),
        }
    }

    /// actor.json's `permissions`: `limited` or `full`.
    pub fn from_definition(s: &str) -> Result<PermissionLevel> {
        match s.to_ascii_lowercase().as_str() {
            "limited" | "limited_permissions" => Ok(PermissionLevel::LimitedPermissions),
            "full" | "full_permissions" => Ok(PermissionLevel::FullPermissions),
            _ => {
                Err(PlatformError::invalid_kind("invalid-definition", format!("permissions must be \"limited\" or \"full\", not \"{s}\"")))
            }
        }
    }

    pub fn is_limited(self) -> bool {
        self == PermissionLevel::LimitedPermissions
    }
}

/// What a run may do, as a token stores it and both doors check it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunGrant {
    pub run_id: String,
    pub user_id: String,
    pub level: PermissionLevel,
    /// Limited runs: the storage IDs and names the run's input names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input_refs: Vec<String>,
}

/// Who is calling.
#[derive(Debug, Clone)]
pub enum Caller {
    Admin,
    Run(std::sync::Arc<RunGrant>),
    /// No token: admitted only to read a resource shared by its `generalAccess`.
    Anonymous,
}

impl Caller {
    /// The run a call comes from, if it comes from one.
    pub fn run(&self) -> Option<&RunGrant> {
        match self {
            Caller::Admin | Caller::Anonymous => None,
            Caller::Run(g) => Some(g),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageKind {
    KeyValueStore,
    Dataset,
    RequestQueue,
}

impl StorageKind {
    fn noun(self) -> &'static str {
        match self {
            StorageKind::KeyValueStore => "key-value store",
            StorageKind::Dataset => "dataset",
            StorageKind::RequestQueue => "request queue",
        }
    }
}

/// What a caller asks to do.
#[derive(Debug, Clone, Copy)]
pub enum Action<'a> {
    ListActors,
    /// Create, change or delete an Actor or its builds.
    ManageActors,
    /// Read one Actor, its builds, validate an input against it.
    ReadActor,
    StartRun,
    ListRuns,
    ReadRun(&'a str),
    /// Abort or resurrect a run, or set its status message.
    ControlRun(&'a str),
    /// The run's own charges, reboot, metamorph.
    ManageOwnRun(&'a str),
    DeleteRun(&'a str),
    ListStorages,
    CreateStorage,
    UseStorage(StorageKind, &'a str),
    ReadUser,
    /// Webhooks and their dispatches.
    Webhooks,
}

/// Strings of an input that may name a storage: at most this many, each at
/// most as long as `username~name` can be (IDs and names are short).
const MAX_INPUT_REFS: usize = 256;
const MAX_REF_LEN: usize = 128;

fn forbidden(what: String) -> PlatformError {
    PlatformError::Forbidden(what)
}

impl Platform {
    /// What the run may do.
    pub fn grant_of(&self, run: &Run) -> RunGrant {
        let input_refs = if run.permission_level.is_limited() { self.input_refs(run) } else { Vec::new() };
        RunGrant { run_id: run.id.clone(), user_id: run.user_id.clone(), level: run.permission_level, input_refs }
    }

    /// The short strings in a JSON input: what may name a storage the run is given.
    fn input_refs(&self, run: &Run) -> Vec<String> {
        let Ok(Some(record)) = self.kv.get_record(&run.default_key_value_store_id, &run.input_key) else { return Vec::new() };
        let Ok(input) = serde_json::from_slice::<Value>(&record.value) else { return Vec::new() };
        let mut refs = Vec::new();
        let mut stack = vec![&input];
        while let Some(v) = stack.pop() {
            if refs.len() >= MAX_INPUT_REFS {
                break;
            }
            match v {
                Value::String(s) if !s.is_empty() && s.len() <= MAX_REF_LEN => refs.push(s.clone()),
                Value::Array(a) => stack.extend(a),
                Value::Object(o) => stack.extend(o.values()),
                _ => {}
            }
        }
        refs
    }

    /// A new token for the run (each container start gets one). Stored as
    /// its digest; valid while the run lives; revoked when it ends.
    pub fn issue_run_token(&self, run: &Run) -> Result<String> {
        let token = format!("{RUN_TOKEN_PREFIX}{}", ids::new_secret(40));
        let d = digest(&token);
        let grant = serde_json::to_vec(&self.grant_of(run))?;
        self.db.run_tokens.insert(token_key(&d), grant)?;
        self.db.run_tokens.insert(run_key(&run.id, &d), &[])?;
        Ok(token)
    }

    /// Forgets every token the run was given.
    pub fn revoke_run_tokens(&self, run_id: &str) -> Result<()> {
        let prefix = run_key(run_id, &[]);
        for entry in self.db.run_tokens.scan_prefix(&prefix) {
            let (k, _) = entry?;
            if let Ok(d) = <[u8; 32]>::try_from(&k[prefix.len()..]) {
                self.db.run_tokens.remove(token_key(&d))?;
            }
            self.db.run_tokens.remove(k)?;
        }
        Ok(())
    }

    /// Who presents `token`: the admin, a live run, or nobody.
    pub fn authenticate(&self, token: &str) -> Option<Caller> {
        if self.is_api_token(token) {
            return Some(Caller::Admin);
        }
        if !token.starts_with(RUN_TOKEN_PREFIX) {
            return None;
        }
        let grant: RunGrant = serde_json::from_slice(&self.db.run_tokens.get(token_key(&digest(token))).ok()??).ok()?;
        // Only while the run lives: a finished run's token is refused even before it is revoked.
        self.active.status(&grant.run_id).filter(|s| !s.is_terminal())?;
        Some(Caller::Run(std::sync::Arc::new(grant)))
    }

    /// Whether the caller may do `action`; a 403 naming what was refused otherwise.
    pub fn authorize(&self, caller: &Caller, action: Action<'_>) -> Result<()> {
        match caller {
            Caller::Admin => Ok(()),
            Caller::Run(grant) => self.authorize_run(grant, action),
            Caller::Anonymous => Err(forbidden("A request without a token may only read resources shared with anyone".into())),
        }
    }

    /// Whether a request without a token may read what `path` (under `/v2`)
    /// names: a storage or a run whose `generalAccess` shares it by ID (or
    /// by name, for `ANYONE_WITH_NAME_CAN_READ`).
    pub fn shared_for_reading(&self, path: &str) -> bool {
        use super::runs::GeneralAccess::{AnyoneWithIdCanRead, AnyoneWithNameCanRead};
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let [kind, reference, ..] = segs.as_slice() else { return false };
        let info = match *kind {
            "datasets" => self.datasets.get(reference).map(|m| m.info.clone()),
            "key-value-stores" => self.kv.get(reference).map(|m| m.info.clone()),
            "request-queues" => self.queues.get(reference).map(|m| m.info.clone()),
            "actor-runs" => return self.get_run(reference).is_ok_and(|r| r.general_access == AnyoneWithIdCanRead && r.id == *reference),
            _ => return false,
        };
        let Ok(info) = info else { return false };
        match info.general_access {
            Some(AnyoneWithIdCanRead) => info.id == *reference,
            Some(AnyoneWithNameCanRead) => true,
            _ => false,
        }
    }

    /// [`Self::authorize`] for a run's own calls.
    pub fn authorize_run(&self, grant: &RunGrant, action: Action<'_>) -> Result<()> {
        let limited = grant.level.is_limited();
        let refused = |what: &str| Err(forbidden(format!("An Actor run's token may not {what}")));
        match action {
            Action::ListActors => refused("list Actors"),
            Action::ManageActors => refused("create, change or delete Actors or their builds"),
            Action::DeleteRun(_) => refused("delete runs"),
            Action::ReadActor | Action::StartRun | Action::CreateStorage | Action::ReadUser | Action::Webhooks => Ok(()),
            Action::ListRuns if limited => refused("list runs: it has limited permissions"),
            Action::ListStorages if limited => refused("list storages: it has limited permissions"),
            Action::ListRuns | Action::ListStorages => Ok(()),
            Action::ManageOwnRun(run_id) if run_id == grant.run_id => Ok(()),
            Action::ManageOwnRun(_) => refused("change another run"),
            Action::ReadRun(run_id) | Action::ControlRun(run_id) => {
                if !limited || self.is_own_or_descendant(grant, run_id) {
                    Ok(())
                } else {
                    Err(forbidden(format!(
                        "This Actor run has limited permissions: it may use only itself and the runs it started, not run {run_id}"
                    )))
                }
            }
            Action::UseStorage(kind, reference) => {
                if !limited {
                    return Ok(());
                }
                let Ok(info) = self.storage_info(kind, reference) else { return Ok(()) }; // a 404 follows
                if self.may_use_storage(grant, &info) {
                    Ok(())
                } else {
                    Err(forbidden(format!(
                        "This Actor run has limited permissions: it may use its own storages, those it created and those its input names, not the {} \"{reference}\"",
                        kind.noun()
                    )))
                }
            }
        }
    }

    fn storage_info(&self, kind: StorageKind, reference: &str) -> Result<StorageInfo> {
        Ok(match kind {
            StorageKind::KeyValueStore => self.kv.get(reference)?.info,
            StorageKind::Dataset => self.datasets.get(reference)?.info,
            StorageKind::RequestQueue => self.queues.get(reference)?.info,
        })
    }

    fn may_use_storage(&self, grant: &RunGrant, info: &StorageInfo) -> bool {
        if let Some(owner) = &info.act_run_id {
            if self.is_own_or_descendant(grant, owner) {
                return true;
            }
        }
        // An input names a storage by ID, by name, or as `username~name`.
        let named = |r: &str| info.name.as_deref().is_some_and(|n| r == n || r.rsplit_once('~').is_some_and(|(_, rn)| rn == n));
        grant.input_refs.iter().any(|r| *r == info.id || named(r))
    }

    /// Whether `run_id` is the grant's run or one it started (at any depth).
    fn is_own_or_descendant(&self, grant: &RunGrant, run_id: &str) -> bool {
        let mut current = run_id.to_owned();
        for _ in 0..=self.config.limits.max_call_depth {
            if current == grant.run_id {
                return true;
            }
            match self.get_stored_run(&current).ok().and_then(|r| r.parent_run_id) {
                Some(parent) => current = parent,
                None => return false,
            }
        }
        false
    }
}

/// `T` ++ digest → the grant.
fn token_key(d: &[u8; 32]) -> Vec<u8> {
    let mut k = Vec::with_capacity(33);
    k.push(b'T');
    k.extend_from_slice(d);
    k
}

/// `R` ++ run id ++ 0 ++ digest → (): the tokens of one run, to revoke them.
fn run_key(run_id: &str, d: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(run_id.len() + 2 + d.len());
    k.push(b'R');
    k.extend_from_slice(run_id.as_bytes());
    k.push(0);
    k.extend_from_slice(d);
    k
}
