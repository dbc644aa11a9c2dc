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
use super::users::{Principal, TokenScopes, User, USER_TOKEN_PREFIX};
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
    /// A user, by one of their tokens (the server's own token is the admin's).
    User(std::sync::Arc<Principal>),
    Run(std::sync::Arc<RunGrant>),
    /// No token: admitted only to read a resource shared by its `generalAccess`.
    Anonymous,
}

impl Caller {
    /// The run a call comes from, if it comes from one.
    pub fn run(&self) -> Option<&RunGrant> {
        match self {
            Caller::User(_) | Caller::Anonymous => None,
            Caller::Run(g) => Some(g),
        }
    }

    /// The user the call acts for: the token's, or the run's.
    pub fn user_id(&self) -> Option<&str> {
        match self {
            Caller::User(p) => Some(p.user_id()),
            Caller::Run(g) => Some(&g.user_id),
            Caller::Anonymous => None,
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
    /// Add or remove users (the admin only).
    ManageUsers,
    /// Create, list or revoke the caller's own API tokens.
    ManageTokens,
    /// Webhooks and their dispatches.
    Webhooks,
}

/// A resource one call names, for [`Platform::check_access`].
#[derive(Debug, Clone, Copy)]
pub enum Resource<'a> {
    Actor(&'a str),
    Task(&'a str),
    Schedule(&'a str),
    Webhook(&'a str),
    Dispatch(&'a str),
    Build(&'a str),
    Run(&'a str),
    /// A run's or a build's log.
    Log(&'a str),
    Storage(StorageKind, &'a str),
}

impl Resource<'_> {
    /// How a not-found answer names it (the same words as a real one).
    fn noun(&self) -> &'static str {
        match self {
            Resource::Actor(_) => "Actor",
            Resource::Task(_) => "Actor task",
            Resource::Schedule(_) => "Schedule",
            Resource::Webhook(_) => "Webhook",
            Resource::Dispatch(_) => "Webhook dispatch",
            Resource::Build(_) => "Build",
            Resource::Run(_) => "Actor run",
            Resource::Log(_) => "Log",
            Resource::Storage(StorageKind::KeyValueStore, _) => "Key-value store",
            Resource::Storage(StorageKind::Dataset, _) => "Dataset",
            Resource::Storage(StorageKind::RequestQueue, _) => "Request queue",
        }
    }

    fn reference(&self) -> &str {
        match *self {
            Resource::Actor(r)
            | Resource::Task(r)
            | Resource::Schedule(r)
            | Resource::Webhook(r)
            | Resource::Dispatch(r)
            | Resource::Build(r)
            | Resource::Run(r)
            | Resource::Log(r)
            | Resource::Storage(_, r) => r,
        }
    }
}

/// What a call does with a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    Read,
    /// Start a run of an Actor or task (which a public Actor allows anyone).
    Run,
    Write,
}

/// Who owns a resource, and who else may see it.
struct Owned {
    user_id: String,
    /// Readable by anyone holding the reference (`generalAccess`).
    shared_read: bool,
    /// A public Actor: anyone may read and run it.
    public: bool,
    /// The Actor it is or belongs to, and the storage it is (ID, name), for token scopes.
    actor_id: Option<(String, String)>,
    storage: Option<(String, Option<String>)>,
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
            return Some(Caller::User(std::sync::Arc::new(self.admin_principal())));
        }
        if token.starts_with(USER_TOKEN_PREFIX) {
            return self.principal_of_token(token).map(Caller::User);
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
            Caller::User(principal) => self.authorize_user(principal, action),
            Caller::Run(grant) => self.authorize_run(grant, action),
            Caller::Anonymous => Err(forbidden("A request without a token may only read resources shared with anyone".into())),
        }
    }

    /// The user a caller acts for: whose storages it creates, whose runs it starts.
    pub fn acting_user(&self, caller: &Caller) -> Result<User> {
        match caller {
            Caller::User(p) => Ok(p.user.clone()),
            Caller::Run(g) => self.get_user(&g.user_id),
            Caller::Anonymous => Err(forbidden("A request without a token may only read resources shared with anyone".into())),
        }
    }

    /// [`Self::authorize`] for a user's token: the admin alone manages users
    /// and reads the audit; every other action is the user's own (who owns
    /// a resource is checked by [`Self::check_access`]).
    fn authorize_user(&self, principal: &Principal, action: Action<'_>) -> Result<()> {
        let scoped = principal.scopes();
        match action {
            Action::ManageUsers if !principal.user.is_admin => Err(forbidden("Only the admin may manage users".into())),
            Action::ListActors | Action::ListRuns if scoped.is_some_and(|s| s.actors.is_some()) => {
                Err(forbidden("This token is limited to some Actors: it may not list all of them or their runs".into()))
            }
            Action::ListStorages if scoped.is_some_and(|s| s.storages.is_some()) => {
                Err(forbidden("This token is limited to some storages: it may not list all of them".into()))
            }
            _ => Ok(()),
        }
    }

    /// Who owns `resource` and who else may see it; `None` when it does not
    /// exist. A bare name is one of `namespace`'s (a user id).
    fn owned(&self, namespace: Option<&str>, resource: Resource<'_>) -> Option<Owned> {
        use super::runs::GeneralAccess::{AnyoneWithIdCanRead, AnyoneWithNameCanRead};
        let by_user = |user_id: String| Owned { user_id, shared_read: false, public: false, actor_id: None, storage: None };
        Some(match resource {
            Resource::Actor(r) => {
                // Most checks are of an Actor about to run: its cached run target has what they need.
                let (user_id, is_public, id, name) = match self.cached_actor(namespace, r) {
                    Some(a) => (a.user_id.clone(), a.is_public, a.id.clone(), a.name.clone()),
                    None => {
                        let a = self.get_actor_in(namespace, r).ok()?;
                        (a.user_id, a.is_public, a.id, a.name)
                    }
                };
                Owned { public: is_public, actor_id: Some((id, name)), ..by_user(user_id) }
            }
            Resource::Task(r) => by_user(self.get_task_in(namespace, r).ok()?.user_id),
            Resource::Schedule(r) => by_user(self.get_schedule(r).ok()?.user_id),
            Resource::Webhook(id) => by_user(self.get_webhook(id).ok()?.user_id),
            Resource::Dispatch(id) => by_user(self.get_dispatch(id).ok()?.user_id),
            Resource::Build(id) => by_user(self.get_build(id).ok()?.user_id),
            Resource::Run(id) => {
                let run = self.get_stored_run(id).ok()?;
                let shared_read = run.general_access == AnyoneWithIdCanRead && run.id == id;
                let actor = self.get_actor(&run.act_id).ok().map(|a| (a.id, a.name));
                Owned { shared_read, actor_id: actor, ..by_user(run.user_id) }
            }
            Resource::Log(id) => match self.get_stored_run(id) {
                Ok(_) => return self.owned(namespace, Resource::Run(id)),
                Err(_) => return self.owned(namespace, Resource::Build(id)),
            },
            Resource::Storage(kind, r) => {
                let info = self.storage_info(namespace, kind, r).ok()?;
                let shared_read = match info.general_access {
                    Some(AnyoneWithIdCanRead) => info.id == r,
                    Some(AnyoneWithNameCanRead) => true,
                    _ => false,
                };
                Owned { shared_read, storage: Some((info.id, info.name)), ..by_user(info.user_id) }
            }
        })
    }

    /// Whether a request without a token may read the resource: its `generalAccess` shares it.
    pub fn shared_with_anyone(&self, resource: Resource<'_>) -> bool {
        self.owned(None, resource).is_some_and(|o| o.shared_read)
    }

    /// Whether the caller may `use_` the resource: its owner may; others may
    /// read what `generalAccess` shares and run (and read) public Actors.
    /// Anything else answers 404, exactly as a resource that does not exist,
    /// so a user learns nothing of another's. A resource that does not exist
    /// passes: the handler answers its own 404.
    pub fn check_access(&self, caller: &Caller, resource: Resource<'_>, use_: Use) -> Result<()> {
        let scopes = match caller {
            Caller::User(principal) => principal.scopes(),
            _ => None,
        };
        self.check_visible(caller.user_id(), scopes, resource, use_)
    }

    /// [`Self::check_access`] for the user `user_id` (none: anonymous) through a token with `scopes`.
    pub(crate) fn check_visible(
        &self,
        user_id: Option<&str>,
        scopes: Option<&TokenScopes>,
        resource: Resource<'_>,
        use_: Use,
    ) -> Result<()> {
        let Some(owned) = self.owned(user_id, resource) else { return Ok(()) };
        let own = user_id == Some(owned.user_id.as_str());
        let shared = (use_ == Use::Read && owned.shared_read) || (owned.public && use_ != Use::Write && user_id.is_some());
        if !own && !shared {
            return Err(PlatformError::not_found(format!("{} was not found: {}", resource.noun(), resource.reference())));
        }
        let Some(scopes) = scopes else { return Ok(()) };
        let listed = |list: &Option<Vec<String>>, (id, name): &(String, Option<String>)| {
            list.as_ref().is_none_or(|l| {
                l.iter().any(|r| r == id || name.as_deref().is_some_and(|n| r == n || r.rsplit(['~', '/']).next() == Some(n)))
            })
        };
        let actor_ok = owned.actor_id.as_ref().is_none_or(|(id, name)| listed(&scopes.actors, &(id.clone(), Some(name.clone()))));
        let storage_ok = owned.storage.as_ref().is_none_or(|s| listed(&scopes.storages, s));
        if actor_ok && storage_ok {
            Ok(())
        } else {
            Err(forbidden(format!("This token is not for the {} \"{}\"", resource.noun().to_lowercase(), resource.reference())))
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
            Action::ManageUsers => refused("manage users"),
            Action::ManageTokens => refused("manage API tokens"),
            Action::ListRuns if limited => refused("list runs: it has limited permissions"),
            Action::ListStorages if limited => refused("list storages: it has limited permissions"),
            Action::ListRuns | Action::ListStorages => Ok(()),
            Action::ManageOwnRun(run_id) if run_id == grant.run_id => Ok(()),
            Action::ManageOwnRun(_) => refused("change another run"),
            Action::ReadRun(run_id) | Action::ControlRun(run_id) => {
                let use_ = if matches!(action, Action::ReadRun(_)) { Use::Read } else { Use::Write };
                self.check_visible(Some(&grant.user_id), None, Resource::Run(run_id), use_)?;
                if !limited || self.is_own_or_descendant(grant, run_id) {
                    Ok(())
                } else {
                    Err(forbidden(format!(
                        "This Actor run has limited permissions: it may use only itself and the runs it started, not run {run_id}"
                    )))
                }
            }
            Action::UseStorage(kind, reference) => {
                self.check_visible(Some(&grant.user_id), None, Resource::Storage(kind, reference), Use::Write)?;
                if !limited {
                    return Ok(());
                }
                let Ok(info) = self.storage_info(Some(&grant.user_id), kind, reference) else { return Ok(()) }; // a 404 follows
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

    /// A storage by ID or name; a bare name is one of `namespace`'s (a user id).
    pub(crate) fn storage_info(&self, namespace: Option<&str>, kind: StorageKind, reference: &str) -> Result<StorageInfo> {
        Ok(match kind {
            StorageKind::KeyValueStore => self.kv.resolve(namespace, reference)?.info,
            StorageKind::Dataset => self.datasets.resolve(namespace, reference)?.info,
            StorageKind::RequestQueue => self.queues.resolve(namespace, reference)?.info,
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
