//! Platform layer: Actors and their builds. A build freezes an Actor
//! version's definition (actor.json with the input schema inlined) together
//! with the artifact its executor made (a component or an image).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use super::charging::pricing::PricingInfo;
use super::db::{get_json, put_json};
use super::error::{PlatformError, Result};
use super::executors::{Artifact, ArtifactKind, BuildJob, BuildPace, Built, ContainerImage};
use super::names::Names;
use super::runs::RunOrigin;
use super::Platform;
use crate::definition::{validate_actor_name, validate_version, ActorDefinition, DefaultRunOptions, StandbyOptions};
use crate::ids::{self, ts};

/// Cached run targets, each with the `actors_version` it was resolved at.
/// (namespace, Actor reference, wanted build) → the Actor and build a run of it starts with.
pub(crate) type RunTargets = HashMap<(String, String, Option<String>), (u64, Arc<Actor>, Arc<Build>)>;

/// Past this many cached run targets the cache starts over (references are client-chosen).
const MAX_CACHED_RUN_TARGETS: usize = 4096;

#[derive(Debug, Clone, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActorStats {
    #[serde(default)]
    pub total_runs: u64,
    #[serde(default, with = "ts::option", skip_serializing_if = "Option::is_none")]
    pub last_run_started_at: Option<DateTime<Utc>>,
    /// wactor: what the Actor's runs cost, compute and charges, booked as each run ends.
    #[serde(default)]
    pub total_usage_usd: f64,
}

impl ActorStats {
    /// The bytes of the run stats tree: runs, last start, usage in nano-USD
    /// (records written before usage was kept have 16 bytes).
    pub(crate) fn encode(&self) -> [u8; 24] {
        let mut out = [0u8; 24];
        out[..8].copy_from_slice(&self.total_runs.to_be_bytes());
        let last = self.last_run_started_at.map_or(i64::MIN, |t| t.timestamp_millis());
        out[8..16].copy_from_slice(&last.to_be_bytes());
        out[16..].copy_from_slice(&super::charging::pricing::usd_to_nanos(self.total_usage_usd).to_be_bytes());
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Option<ActorStats> {
        let total_runs = u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
        let last = i64::from_be_bytes(bytes.get(8..16)?.try_into().ok()?);
        let usage = bytes.get(16..24).and_then(|b| b.try_into().ok()).map_or(0, u64::from_be_bytes);
        Some(ActorStats {
            total_runs,
            last_run_started_at: (last != i64::MIN).then(|| DateTime::from_timestamp_millis(last)).flatten(),
            total_usage_usd: super::charging::pricing::nanos_to_usd(usage),
        })
    }
}

/// One version of an Actor: where builds come from.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActorVersion {
    pub version_number: String,
    /// `WASM_COMPONENT` for component Actors, `SOURCE_FILES` for image ones.
    pub source_type: Option<SourceType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_tag: Option<String>,
    /// wactor: the actor.json (input schema inlined) the next build of this version uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_definition: Option<ActorDefinition>,
    /// The version's environment variables (over actor.json's
    /// `environmentVariables`); secret ones are kept sealed and shown masked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_vars: Option<Vec<EnvVar>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An environment variable of an Actor version, as Apify's API has it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvVar {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default)]
    pub is_secret: bool,
}

/// Environment variable names: a letter or `_`, then letters, digits, `_`.
fn check_env_var(v: &EnvVar) -> Result<()> {
    let mut chars = v.name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok || v.name.len() > 255 {
        return Err(PlatformError::invalid_kind(
            "invalid-env-var",
            format!("Environment variable name {:?} must be a letter or _ then letters, digits or _", v.name),
        ));
    }
    if v.value.as_ref().is_some_and(|x| x.len() > MAX_ENV_VALUE_BYTES) {
        return Err(PlatformError::invalid_kind(
            "invalid-env-var",
            format!("Environment variable {} is over {MAX_ENV_VALUE_BYTES} bytes", v.name),
        ));
    }
    Ok(())
}

const MAX_ENV_VALUE_BYTES: usize = 64 * 1024;

/// A version's env vars as they are kept: secret values sealed for `owner`; a
/// secret sent back masked (or without a value) keeps the value it had.
fn seal_env_vars(secrets: &super::secrets::Secrets, owner: &str, vars: &mut [EnvVar], old: Option<&[EnvVar]>) -> Result<()> {
    use super::secrets::{is_sealed, MASK};
    for v in vars.iter_mut() {
        check_env_var(v)?;
        if !v.is_secret {
            continue;
        }
        let kept = || old.into_iter().flatten().find(|o| o.name == v.name && o.is_secret).and_then(|o| o.value.clone());
        v.value = match v.value.take() {
            None => Some(kept().ok_or_else(|| {
                PlatformError::invalid_kind("invalid-env-var", format!("Secret environment variable {} needs a value", v.name))
            })?),
            Some(x) if x == MASK => Some(kept().ok_or_else(|| {
                PlatformError::invalid_kind(
                    "invalid-env-var",
                    format!("Secret environment variable {} needs its value, not the mask", v.name),
                )
            })?),
            Some(x) if is_sealed(&x) => Some(secrets.open(owner, &x).map(|_| x)?),
            Some(x) => Some(secrets.seal(owner, &Value::String(x))),
        };
    }
    Ok(())
}

/// Where a version's code comes from, in Apify's names plus wactor's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SourceType {
    /// A compiled WASI component, uploaded as the build's body.
    WasmComponent,
    SourceFiles,
    GitRepo,
    Tarball,
    GithubGist,
}

impl SourceType {
    /// What a definition pushed from a directory is: a component, or the files of an image Actor.
    pub fn of(definition: &ActorDefinition) -> SourceType {
        match ArtifactKind::of(definition) {
            ArtifactKind::Component => SourceType::WasmComponent,
            ArtifactKind::Image => SourceType::SourceFiles,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaggedBuild {
    pub build_id: String,
    pub build_number: String,
    #[serde(with = "ts::option")]
    pub finished_at: Option<DateTime<Utc>>,
}

/// An Actor, stored in the shape the API returns.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Actor {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub username: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub is_public: bool,
    #[serde(with = "ts")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "ts")]
    pub modified_at: DateTime<Utc>,
    pub stats: ActorStats,
    pub versions: Vec<ActorVersion>,
    pub default_run_options: DefaultRunOptions,
    #[serde(default)]
    pub tagged_builds: BTreeMap<String, TaggedBuild>,
    /// Standby settings; each field set here overrides the build's actor.json.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_standby: Option<StandbyOptions>,
    /// How the Actor is priced over time; a run takes the entry in force when it starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pricing_infos: Vec<PricingInfo>,
    /// Fields wactor does not interpret (categories, seoTitle, ...), kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Actor {
    /// `username/name`, the Actor's full name.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.username, self.name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING-KEBAB-CASE")]
pub enum BuildStatus {
    Running,
    Succeeded,
    Failed,
    Aborted,
}

/// A build: a frozen definition plus the artifact its executor made.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(from = "BuildRecord", into = "BuildRecord")]
pub struct Build {
    pub id: String,
    pub act_id: String,
    pub user_id: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub status: BuildStatus,
    pub meta: BuildMeta,
    pub build_number: String,
    pub actor_definition: ActorDefinition,
    /// Size and SHA-256 of the upload (a component, or an image's build context).
    pub component_bytes: u64,
    pub component_sha256: String,
    pub status_message: Option<String>,
    /// What the artifact exports: a batch `run`, an HTTP handler (Standby), or both.
    pub exports: ComponentExports,
    /// What the build made; `None` while it runs and when it failed.
    pub artifact: Option<Artifact>,
}

impl Build {
    /// The kind of artifact the build has, or will have while it runs (a
    /// failed build's is what its definition asked for).
    pub fn artifact_kind(&self) -> ArtifactKind {
        self.artifact.as_ref().map_or_else(|| ArtifactKind::of(&self.actor_definition), Artifact::kind)
    }
}

/// Where a build came from.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct BuildMeta {
    pub origin: RunOrigin,
}

impl Default for BuildMeta {
    fn default() -> Self {
        BuildMeta { origin: RunOrigin::Api }
    }
}

/// A build as stored and as the API shows it: the artifact is the `image`
/// field (a container image) or, for a succeeded build without one, a component.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Build)]
pub(crate) struct BuildRecord {
    id: String,
    act_id: String,
    user_id: String,
    #[serde(with = "ts")]
    started_at: DateTime<Utc>,
    #[serde(with = "ts::option")]
    finished_at: Option<DateTime<Utc>>,
    status: BuildStatus,
    #[serde(default)]
    meta: BuildMeta,
    build_number: String,
    actor_definition: ActorDefinition,
    component_bytes: u64,
    component_sha256: String,
    status_message: Option<String>,
    #[serde(default = "ComponentExports::batch_only")]
    exports: ComponentExports,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    image: Option<ContainerImage>,
}

impl From<BuildRecord> for Build {
    fn from(r: BuildRecord) -> Build {
        let artifact = match (r.image, r.status) {
            (Some(image), _) => Some(Artifact::Image(image)),
            (None, BuildStatus::Succeeded) => Some(Artifact::Component),
            (None, _) => None,
        };
        Build {
            id: r.id,
            act_id: r.act_id,
            user_id: r.user_id,
            started_at: r.started_at,
            finished_at: r.finished_at,
            status: r.status,
            meta: r.meta,
            build_number: r.build_number,
            actor_definition: r.actor_definition,
            component_bytes: r.component_bytes,
            component_sha256: r.component_sha256,
            status_message: r.status_message,
            exports: r.exports,
            artifact,
        }
    }
}

impl From<Build> for BuildRecord {
    fn from(b: Build) -> BuildRecord {
        BuildRecord {
            id: b.id,
            act_id: b.act_id,
            user_id: b.user_id,
            started_at: b.started_at,
            finished_at: b.finished_at,
            status: b.status,
            meta: b.meta,
            build_number: b.build_number,
            actor_definition: b.actor_definition,
            component_bytes: b.component_bytes,
            component_sha256: b.component_sha256,
            status_message: b.status_message,
            exports: b.exports,
            image: match b.artifact {
                Some(Artifact::Image(image)) => Some(image),
                _ => None,
            },
        }
    }
}

/// The entry points a build's component has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComponentExports {
    /// `run` of the `wactor:actor/actor` world.
    pub run: bool,
    /// `wasi:http/incoming-handler` of the `wactor:standby/standby-actor` world.
    pub http: bool,
}

impl ComponentExports {
    /// Builds recorded before exports were: every one of them was a batch Actor.
    fn batch_only() -> Self {
        ComponentExports { run: true, http: false }
    }
}

/// Fields a create or update request may set; everything else is kept in `extra`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActorPatch {
    /// As `validate_actor_name` checks it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_public: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub versions: Option<Vec<ActorVersion>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_run_options: Option<DefaultRunOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor_standby: Option<StandbyOptions>,
    /// Replaces the Actor's pricing entries (stamped with `now` where they carry no dates).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pricing_infos: Option<Vec<PricingInfo>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ActorPatch {
    /// The Actor an Actor directory's definition describes, with the one
    /// version it defines: what `wactor push` sends and `--preload` applies.
    pub fn from_definition(definition: &ActorDefinition) -> ActorPatch {
        ActorPatch {
            name: Some(definition.name.clone()),
            title: definition.title.clone(),
            description: definition.description.clone(),
            default_run_options: Some(definition.default_run_options.clone()),
            // Pushed without `pricing`, the Actor keeps the pricing it has.
            pricing_infos: definition.pricing.clone().map(|p| vec![p]),
            versions: Some(vec![ActorVersion {
                version_number: definition.version.clone(),
                source_type: Some(SourceType::of(definition)),
                build_tag: Some(definition.build_tag.clone().unwrap_or_else(|| LATEST_TAG.into())),
                actor_definition: Some(definition.clone()),
                env_vars: None,
                extra: Map::new(),
            }]),
            ..Default::default()
        }
    }
}

/// Moves Actor and task names kept before they were per user to their owners' namespaces.
pub(crate) fn migrate_names(db: &super::db::Db) -> Result<()> {
    Names::new(db.actor_names.clone(), db.user_names.clone()).migrate(|id| super::names::owner_in(&db.actors, id))?;
    Names::new(db.task_names.clone(), db.user_names.clone()).migrate(|id| super::names::owner_in(&db.tasks, id))?;
    Ok(())
}

/// The tag a build gets unless its version names another, and the build a run gets unless it names one.
pub const LATEST_TAG: &str = "latest";

/// Fields that belong to the server and are never taken from a request.
const READ_ONLY: &[&str] = &["id", "userId", "username", "createdAt", "modifiedAt", "stats", "taggedBuilds"];

impl Platform {
    /// Resolves an Actor by ID, `username~name` or `username/name` (the
    /// API has made its bare names IDs, see `api::names`).
    pub fn get_actor(&self, reference: &str) -> Result<Actor> {
        self.get_actor_in(None, reference)
    }

    /// [`Self::get_actor`], where a bare name is one of the user `namespace`'s Actors.
    pub fn get_actor_in(&self, namespace: Option<&str>, reference: &str) -> Result<Actor> {
        self.find_actor(namespace, reference)?
            .map(|a| self.with_run_stats(a))
            .transpose()?
            .ok_or_else(|| PlatformError::not_found(format!("Actor was not found: {reference}")))
    }

    /// The ID a bare Actor name has in `namespace`, without reading the Actor
    /// (the API resolves names in paths with it on every request).
    pub fn actor_id_in(&self, namespace: Option<&str>, name: &str) -> Result<Option<String>> {
        if self.db.actors.contains_key(name)? {
            return Ok(Some(name.to_owned()));
        }
        Ok(self.actor_names().lookup(namespace, name)?.map(|id| String::from_utf8_lossy(&id).into_owned()))
    }

    /// The Actor with its run stats, which are kept apart from its record.
    fn with_run_stats(&self, mut actor: Actor) -> Result<Actor> {
        if let Some(stats) = self.actor_stats.get(&actor.id)? {
            actor.stats = stats;
        }
        Ok(actor)
    }

    /// The Actor's record by ID or name, as stored.
    fn find_actor(&self, namespace: Option<&str>, reference: &str) -> Result<Option<Actor>> {
        if let Some(actor) = get_json::<Actor>(&self.db.actors, reference)? {
            return Ok(Some(actor));
        }
        match self.actor_names().lookup(namespace, reference)? {
            Some(id) => get_json::<Actor>(&self.db.actors, &id),
            None => Ok(None),
        }
    }

    fn actor_names(&self) -> Names {
        Names::new(self.db.actor_names.clone(), self.db.user_names.clone())
    }

    pub fn list_actors(&self) -> Result<Vec<Actor>> {
        let mut out = Vec::new();
        for item in self.db.actors.iter() {
            out.push(self.with_run_stats(serde_json::from_slice::<Actor>(&item?.1)?)?);
        }
        out.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    pub fn create_actor(&self, owner: &super::users::User, patch: ActorPatch) -> Result<Actor> {
        let name = patch.name.clone().ok_or_else(|| PlatformError::invalid("The Actor needs a \"name\""))?;
        validate_actor_name(&name).map_err(PlatformError::invalid)?;
        let now = ids::now();
        let mut actor = Actor {
            id: ids::new_id(),
            user_id: owner.id.clone(),
            name: name.clone(),
            username: owner.username.clone(),
            title: None,
            description: None,
            is_public: false,
            created_at: now,
            modified_at: now,
            stats: ActorStats::default(),
            versions: Vec::new(),
            default_run_options: DefaultRunOptions::default(),
            tagged_builds: BTreeMap::new(),
            actor_standby: None,
            pricing_infos: Vec::new(),
            extra: Map::new(),
        };
        apply_patch(&mut actor, patch, &self.config.limits, &self.secrets)?;
        if !self.actor_names().claim(&owner.id, &name, &actor.id)? {
            return Err(PlatformError::Conflict(format!("You already have an Actor named \"{name}\"")));
        }
        put_json(&self.db.actors, &actor.id, &actor)?;
        self.actors_changed();
        Ok(actor)
    }

    pub fn update_actor(&self, reference: &str, patch: ActorPatch) -> Result<Actor> {
        let current = self.get_actor(reference)?;
        // Checked once before anything changes, so a bad patch claims no name.
        let mut patched = current.clone();
        apply_patch(&mut patched, patch.clone(), &self.config.limits, &self.secrets)?;
        let renamed = patched.name != current.name;
        if renamed && !self.actor_names().claim(&current.user_id, &patched.name, &current.id)? {
            return Err(PlatformError::Conflict(format!("You already have an Actor named \"{}\"", patched.name)));
        }
        let now = ids::now();
        let actor = self.modify_actor(&current.id, |actor| {
            apply_patch(actor, patch.clone(), &self.config.limits, &self.secrets)?;
            actor.modified_at = now;
            Ok(())
        })?;
        if renamed {
            self.actor_names().release(&current.user_id, &current.name, &current.id)?;
        }
        self.actors_changed();
        Ok(actor)
    }

    /// Changes a stored Actor without losing a concurrent change
    /// (compare-and-swap). The caller marks derived views stale if the change
    /// touches them (run counters do not).
    pub(crate) fn modify_actor(&self, actor_id: &str, change: impl FnMut(&mut Actor) -> Result<()>) -> Result<Actor> {
        let actor = super::db::modify_json(&self.db.actors, actor_id, change)?
            .ok_or_else(|| PlatformError::not_found(format!("Actor was not found: {actor_id}")))?;
        self.actors_changed();
        self.with_run_stats(actor)
    }

    /// Deletes the Actor and its builds (records and artifacts). Its runs and their storages stay.
    pub fn delete_actor(&self, reference: &str) -> Result<()> {
        let actor = self.get_actor(reference)?;
        self.actor_names().release(&actor.user_id, &actor.name, &actor.id)?;
        self.db.actors.remove(actor.id.as_str())?;
        self.actor_stats.remove(&actor.id)?;
        self.actors_changed();
        for item in self.db.builds.iter() {
            let (id, raw) = item?;
            let Ok(build) = serde_json::from_slice::<Build>(&raw) else { continue };
            if build.act_id == actor.id {
                self.db.builds.remove(&id)?;
                if let Ok(executor) = self.executors.for_build(&build) {
                    executor.remove_build(&build.id);
                }
            }
        }
        Ok(())
    }

    /// Removes component artifacts no succeeded build references (rejected
    /// uploads, deleted Actors, a crash in the middle of an upload).
    pub(crate) fn collect_build_garbage(&self) -> usize {
        let live = |build_id: &str| {
            get_json::<Build>(&self.db.builds, build_id).ok().flatten().is_some_and(|b| b.status == BuildStatus::Succeeded)
        };
        self.executors.all().map(|e| e.collect_garbage(&live)).sum()
    }

    pub fn get_build(&self, build_id: &str) -> Result<Build> {
        get_json(&self.db.builds, build_id)?.ok_or_else(|| PlatformError::not_found(format!("Build was not found: {build_id}")))
    }

    /// Builds `version` of an Actor from an upload: checks the definition,
    /// has the executor for it make the artifact (a compiled component, an
    /// image), tags the build. A quick build that fails is no build; a
    /// background one is answered RUNNING and may end FAILED.
    pub async fn build_actor(&self, reference: &str, version: Option<&str>, tag: Option<&str>, upload: Vec<u8>) -> Result<Build> {
        let actor = self.get_actor(reference)?;
        let version = find_version(&actor, version)?;
        let mut definition = version
            .actor_definition
            .clone()
            .ok_or_else(|| PlatformError::invalid(format!("Version {} has no actorDefinition", version.version_number)))?;
        // The build freezes the version's env vars (secrets still sealed) over actor.json's.
        for var in version.env_vars.iter().flatten() {
            let vars = definition.environment_variables.get_or_insert_with(Map::new);
            vars.insert(var.name.clone(), var.value.clone().map_or(Value::Null, Value::String));
        }
        definition.validate(&self.config.limits).map_err(PlatformError::invalid)?;
        if let Some(schema) = definition.dataset_schema() {
            self.datasets.validators.check(schema)?;
        }
        check_upload(&definition, &upload, &self.config.limits)?;
        let executor = self.executors.get(ArtifactKind::of(&definition))?.clone();
        let tag = tag.map(str::to_owned).or_else(|| version.build_tag.clone()).unwrap_or_else(|| LATEST_TAG.to_owned());
        let build = self.new_build(&actor, &version.version_number, definition, &upload)?;
        let log = self.logs.writer(&build.id).map_err(|e| PlatformError::internal(format!("opening the build log: {e}")))?;
        let job = BuildJob {
            build_id: build.id.clone(),
            build_number: build.build_number.clone(),
            actor_name: actor.name.clone(),
            definition: build.actor_definition.clone(),
            upload,
            log: log.clone(),
        };
        match executor.build_pace(&build.actor_definition) {
            BuildPace::Quick => {
                let built = executor.build(job).await?;
                if let Err(e) = check_exports(&build.actor_definition, built.exports) {
                    executor.remove_build(&build.id);
                    return Err(e);
                }
                // A rejected quick build leaves nothing, so it is announced only once it stands.
                self.fire_build_event("ACTOR.BUILD.CREATED", &build);
                self.finish_build(with_artifact(build, built), &tag).await
            }
            BuildPace::Background => {
                put_json(&self.db.builds, &build.id, &build)?;
                self.actors_changed();
                self.fire_build_event("ACTOR.BUILD.CREATED", &build);
                let (platform, running) = (self.arc(), build.clone());
                let build_id = build.id.clone();
                let handle = tokio::spawn(async move {
                    let built = executor.build(job).await.and_then(|b| check_exports(&running.actor_definition, b.exports).map(|()| b));
                    let build = match built {
                        Ok(built) => with_artifact(running, built),
                        Err(why) => {
                            log.system(&format!("The build failed: {why}"));
                            Build { status_message: Some(format!("The build failed: {why}")), ..running }
                        }
                    };
                    platform.running_builds.lock().remove(&build.id);
                    if let Err(e) = platform.finish_build(build, &tag).await {
                        tracing::error!(error = %e, "recording a finished background build");
                    }
                });
                self.running_builds.lock().insert(build_id, handle.abort_handle());
                Ok(build)
            }
        }
    }

    /// A RUNNING build of `version`, numbered by the version's build counter.
    fn new_build(&self, actor: &Actor, version: &str, definition: ActorDefinition, upload: &[u8]) -> Result<Build> {
        let counter_key = format!("build-counter/{}/{version}", actor.id);
        let n = self
            .db
            .meta
            .update_and_fetch(counter_key.as_bytes(), |old| {
                let n = old.map(|b| u64::from_be_bytes(b.try_into().unwrap_or([0; 8]))).unwrap_or(0) + 1;
                Some(n.to_be_bytes().to_vec())
            })?
            .map(|b| u64::from_be_bytes(b.as_ref().try_into().unwrap_or([0; 8])))
            .unwrap_or(1);
        Ok(Build {
            id: ids::new_id(),
            act_id: actor.id.clone(),
            user_id: actor.user_id.clone(),
            started_at: ids::now(),
            finished_at: None,
            status: BuildStatus::Running,
            meta: BuildMeta::default(),
            build_number: format!("{version}.{n}"),
            // Until the executor says: a Standby definition serves HTTP.
            exports: ComponentExports { run: true, http: definition.uses_standby_mode == Some(true) },
            actor_definition: definition,
            component_bytes: upload.len() as u64,
            component_sha256: crate::ids::sha256_hex(upload),
            status_message: None,
            artifact: None,
        })
    }

    /// Records how a build ended; a successful one gets the version's tag.
    async fn finish_build(&self, mut build: Build, tag: &str) -> Result<Build> {
        build.finished_at = Some(ids::now());
        build.status = if build.status_message.is_some() { BuildStatus::Failed } else { BuildStatus::Succeeded };
        put_json(&self.db.builds, &build.id, &build)?;
        self.actors_changed();
        if build.status == BuildStatus::Succeeded {
            self.seal_task_inputs(&build)?;
            let actor = self.get_actor(&build.act_id)?;
            if let Ok(log) = self.logs.writer(&build.id) {
                let ms = (build.finished_at.unwrap_or(build.started_at) - build.started_at).num_milliseconds();
                log.system(&match &build.artifact {
                    Some(Artifact::Image(image)) => {
                        format!(
                            "Build {} of {}: image {} ({}) in {ms} ms.",
                            build.build_number,
                            actor.full_name(),
                            image.tag,
                            image.image_id
                        )
                    }
                    _ => format!(
                        "Build {} of {}: component of {} bytes (sha256 {}) compiled in {ms} ms.",
                        build.build_number,
                        actor.full_name(),
                        build.component_bytes,
                        build.component_sha256
                    ),
                });
            }
            let tagged =
                TaggedBuild { build_id: build.id.clone(), build_number: build.build_number.clone(), finished_at: build.finished_at };
            self.modify_actor(&build.act_id, |actor| {
                actor.tagged_builds.insert(tag.to_owned(), tagged.clone());
                Ok(())
            })?;
            self.actors_changed();
        }
        let event = if build.status == BuildStatus::Succeeded { "ACTOR.BUILD.SUCCEEDED" } else { "ACTOR.BUILD.FAILED" };
        self.fire_build_event(event, &build);
        self.builds_finished.notify_waiters();
        self.commit().await;
        Ok(build)
    }

    /// Builds, newest last; of one Actor when `actor_id` is given.
    pub fn list_builds(&self, actor_id: Option<&str>) -> Result<Vec<Build>> {
        let mut out = Vec::new();
        for item in self.db.builds.iter() {
            let build: Build = serde_json::from_slice(&item?.1)?;
            if actor_id.is_none_or(|a| a == build.act_id) {
                out.push(build);
            }
        }
        out.sort_by(|a, b| a.started_at.cmp(&b.started_at).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Stops a running build (its executor's work is dropped) and records it
    /// ABORTED; a finished build is answered as it is.
    pub async fn abort_build(&self, build_id: &str) -> Result<Build> {
        let build = self.get_build(build_id)?;
        if build.status != BuildStatus::Running {
            return Ok(build);
        }
        let Some(handle) = self.running_builds.lock().remove(build_id) else {
            // Its task is finishing it right now.
            return self.wait_for_build(build_id, Duration::from_secs(5)).await;
        };
        handle.abort();
        let mut build = build;
        build.status = BuildStatus::Aborted;
        build.finished_at = Some(ids::now());
        build.status_message = Some("The build was aborted".into());
        put_json(&self.db.builds, &build.id, &build)?;
        if let Ok(executor) = self.executors.for_build(&build) {
            executor.remove_build(&build.id);
        }
        if let Ok(log) = self.logs.writer(&build.id) {
            log.system("The build was aborted.");
        }
        self.actors_changed();
        self.fire_build_event("ACTOR.BUILD.ABORTED", &build);
        self.builds_finished.notify_waiters();
        self.commit().await;
        Ok(build)
    }

    /// Deletes a finished build and its artifact. A build a tag points to
    /// (the one runs of that tag start) stays until another takes the tag.
    pub fn delete_build(&self, build_id: &str) -> Result<()> {
        let build = self.get_build(build_id)?;
        if build.status == BuildStatus::Running {
            return Err(PlatformError::invalid_kind("build-running", format!("Build {build_id} is running; abort it first")));
        }
        if let Ok(actor) = self.get_actor(&build.act_id) {
            if let Some((tag, _)) = actor.tagged_builds.iter().find(|(_, t)| t.build_id == build.id) {
                return Err(PlatformError::invalid_kind(
                    "build-is-tagged",
                    format!("Build {} is the Actor's \"{tag}\" build; build another one first", build.build_number),
                ));
            }
        }
        self.db.builds.remove(build.id.as_str())?;
        if let Ok(executor) = self.executors.for_build(&build) {
            executor.remove_build(&build.id);
        }
        self.actors_changed();
        Ok(())
    }

    /// Waits until the build has finished or `max` passes, then returns it as it is.
    pub async fn wait_for_build(&self, build_id: &str, max: Duration) -> Result<Build> {
        let deadline = tokio::time::Instant::now() + max;
        loop {
            let finished = self.builds_finished.notified();
            tokio::pin!(finished);
            finished.as_mut().enable();
            let build = self.get_build(build_id)?;
            if build.status != BuildStatus::Running || tokio::time::timeout_at(deadline, finished).await.is_err() {
                return Ok(build);
            }
        }
    }

    /// Builds a stopped server left running never finish: they failed.
    pub(crate) fn fail_interrupted_builds(&self) -> Result<usize> {
        let mut failed = 0;
        for item in self.db.builds.iter() {
            let mut build: Build = serde_json::from_slice(&item?.1)?;
            if build.status == BuildStatus::Running {
                build.status = BuildStatus::Failed;
                build.finished_at = Some(ids::now());
                build.status_message = Some("The server stopped during the build; build again".into());
                put_json(&self.db.builds, &build.id, &build)?;
                self.actors_changed();
                failed += 1;
            }
        }
        Ok(failed)
    }

    /// The Actor and the build a run of it starts with: read, parsed and
    /// resolved once per change of any Actor or build, not once per run.
    /// A bare name is one of the user `namespace`'s Actors.
    pub(crate) fn run_target(&self, namespace: Option<&str>, actor_ref: &str, wanted: Option<&str>) -> Result<(Arc<Actor>, Arc<Build>)> {
        // Read first: a change landing while this resolves leaves the entry stale at once.
        let version = self.actors_version();
        if let Some(target) = self.cached_target(version, namespace, actor_ref, wanted) {
            return Ok(target);
        }
        let key = (namespace.unwrap_or_default().to_owned(), actor_ref.to_owned(), wanted.map(str::to_owned));
        let actor = Arc::new(self.get_actor_in(namespace, actor_ref)?);
        let build = Arc::new(self.resolve_build(&actor, wanted)?);
        let mut cache = self.run_targets.lock();
        if cache.len() >= MAX_CACHED_RUN_TARGETS {
            cache.clear();
        }
        cache.insert(key, (version, actor.clone(), build.clone()));
        Ok((actor, build))
    }

    /// The Actor `actor_ref` names in `namespace` as a current run target
    /// of its latest build has it cached, if one is (no read, no parse).
    pub(crate) fn cached_actor(&self, namespace: Option<&str>, actor_ref: &str) -> Option<Arc<Actor>> {
        self.cached_target(self.actors_version(), namespace, actor_ref, None).map(|(actor, _)| actor)
    }

    /// The cached run target, if it is as current as `version`.
    fn cached_target(
        &self,
        version: u64,
        namespace: Option<&str>,
        actor_ref: &str,
        wanted: Option<&str>,
    ) -> Option<(Arc<Actor>, Arc<Build>)> {
        let key = (namespace.unwrap_or_default().to_owned(), actor_ref.to_owned(), wanted.map(str::to_owned));
        let cache = self.run_targets.lock();
        cache.get(&key).filter(|(v, _, _)| *v == version).map(|(_, actor, build)| (actor.clone(), build.clone()))
    }

    /// An Actor's `username/name`, for its runs' environment and log (its ID once it is gone).
    pub(crate) fn actor_full_name(&self, actor_id: &str) -> String {
        match self.run_target(None, actor_id, None) {
            Ok((actor, _)) => actor.full_name(),
            Err(_) => self.get_actor(actor_id).map(|a| a.full_name()).unwrap_or_else(|_| actor_id.to_owned()),
        }
    }

    /// The build a run asks for: a tag (`latest`), a build number (`0.1.3`)
    /// or a build ID. Only a succeeded build runs.
    pub fn resolve_build(&self, actor: &Actor, wanted: Option<&str>) -> Result<Build> {
        let build = self.find_build(actor, wanted)?;
        match build.status {
            BuildStatus::Succeeded => Ok(build),
            BuildStatus::Running => Err(PlatformError::invalid_kind(
                "build-not-finished",
                format!(
                    "Build {} of {} is still running; wait for it (waitForFinish) and start the run then",
                    build.build_number,
                    actor.full_name()
                ),
            )),
            BuildStatus::Failed | BuildStatus::Aborted => Err(PlatformError::invalid_kind(
                "build-failed",
                format!(
                    "Build {} of {} failed: {}",
                    build.build_number,
                    actor.full_name(),
                    build.status_message.as_deref().unwrap_or("no reason recorded")
                ),
            )),
        }
    }

    fn find_build(&self, actor: &Actor, wanted: Option<&str>) -> Result<Build> {
        let wanted = wanted.map(str::to_owned).or_else(|| actor.default_run_options.build.clone()).unwrap_or_else(|| LATEST_TAG.to_owned());
        if let Some(tagged) = actor.tagged_builds.get(&wanted) {
            return self.get_build(&tagged.build_id);
        }
        if let Some(build) = get_json::<Build>(&self.db.builds, &wanted)? {
            if build.act_id == actor.id {
                return Ok(build);
            }
        }
        for item in self.db.builds.iter() {
            let build: Build = serde_json::from_slice(&item?.1)?;
            if build.act_id == actor.id && build.build_number == wanted {
                return Ok(build);
            }
        }
        Err(PlatformError::invalid_kind(
            "build-not-found",
            format!("Actor {} has no build \"{wanted}\"; push it first (wactor push)", actor.full_name()),
        ))
    }
}

fn apply_patch(actor: &mut Actor, patch: ActorPatch, limits: &crate::limits::Limits, secrets: &super::secrets::Secrets) -> Result<()> {
    if let Some(name) = patch.name {
        validate_actor_name(&name).map_err(PlatformError::invalid)?;
        actor.name = name;
    }
    if patch.title.is_some() {
        actor.title = patch.title;
    }
    if patch.description.is_some() {
        actor.description = patch.description;
    }
    if let Some(p) = patch.is_public {
        actor.is_public = p;
    }
    if let Some(mut versions) = patch.versions {
        for v in &mut versions {
            validate_version(&v.version_number).map_err(PlatformError::invalid)?;
            if let Some(def) = &v.actor_definition {
                def.validate(limits).map_err(PlatformError::invalid)?;
            }
            let old = actor.versions.iter().find(|o| o.version_number == v.version_number).and_then(|o| o.env_vars.as_deref());
            // A version sent without `envVars` (a push of actor.json) keeps those it had.
            match &mut v.env_vars {
                None => v.env_vars = old.map(<[EnvVar]>::to_vec),
                Some(vars) => seal_env_vars(secrets, &actor.user_id, vars, old)?,
            }
        }
        actor.versions = versions;
    }
    if let Some(opts) = patch.default_run_options {
        opts.validate(limits).map_err(super::runs::invalid_value)?;
        actor.default_run_options = opts;
    }
    if let Some(standby) = patch.actor_standby {
        standby.validate(limits).map_err(super::runs::invalid_value)?;
        // A partial update keeps the fields it does not name.
        actor.actor_standby = Some(match &actor.actor_standby {
            Some(old) => standby.over(old),
            None => standby,
        });
    }
    if let Some(infos) = patch.pricing_infos {
        actor.pricing_infos = super::charging::pricing::settle_pricing_infos(infos, &actor.pricing_infos, ids::now())
            .map_err(|e| PlatformError::invalid_kind("invalid-pricing", e))?;
    }
    for (k, v) in patch.extra {
        if !READ_ONLY.contains(&k.as_str()) {
            actor.extra.insert(k, v);
        }
    }
    Ok(())
}

/// A definition that asks for Standby needs an HTTP handler; any other needs `run`.
fn check_exports(definition: &ActorDefinition, exports: ComponentExports) -> Result<()> {
    let standby = definition.uses_standby_mode == Some(true);
    if standby && !exports.http {
        return Err(PlatformError::invalid_kind(
            "invalid-component",
            "actor.json sets \"usesStandbyMode\": true, but the component does not export wasi:http/incoming-handler \
             (the wactor:standby/standby-actor world; with the Rust SDK, declare the handler with `wactor_sdk::standby!`)",
        ));
    }
    if !standby && !exports.run {
        return Err(PlatformError::invalid_kind(
            "invalid-component",
            "The component does not export the actor world's `run` (with the Rust SDK, declare it with `wactor_sdk::actor!`); \
             a component that only serves HTTP needs \"usesStandbyMode\": true in actor.json",
        ));
    }
    Ok(())
}

/// The version a build is of: the one named, or the newest.
fn find_version<'a>(actor: &'a Actor, wanted: Option<&str>) -> Result<&'a ActorVersion> {
    match wanted {
        Some(v) => actor
            .versions
            .iter()
            .find(|x| x.version_number == v)
            .ok_or_else(|| PlatformError::invalid(format!("The Actor has no version {v}"))),
        None => actor.versions.last().ok_or_else(|| PlatformError::invalid("The Actor has no version to build")),
    }
}

/// Every build but an image reference needs an upload, within the size limit.
fn check_upload(definition: &ActorDefinition, upload: &[u8], limits: &crate::limits::Limits) -> Result<()> {
    if definition.image.is_none() && upload.is_empty() {
        return Err(PlatformError::invalid_kind(
            "invalid-request",
            match definition.dockerfile {
                Some(_) => {
                    "Upload the build context (a tar of the Actor directory) as the request body with Content-Type: application/x-tar"
                }
                None => "Upload the compiled component as the request body with Content-Type: application/wasm",
            },
        ));
    }
    if upload.len() > limits.max_component_bytes {
        return Err(PlatformError::too_large(
            "request-too-large",
            format!("The component is {} bytes, over the limit of {}", upload.len(), limits.max_component_bytes),
        ));
    }
    Ok(())
}

/// A build that succeeded with what its executor made.
fn with_artifact(build: Build, built: Built) -> Build {
    Build { artifact: Some(built.artifact), exports: built.exports, ..build }
}
