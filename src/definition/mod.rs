//! Actor definitions: `.actor/actor.json`, the input schema, and what a run's
//! input must look like before the run may start.

pub mod input;

pub use input::{InputSchema, PreparedInput};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};

use crate::limits::{
    check_range, Limits, MAX_STANDBY_IDLE_TIMEOUT_SECS, MAX_STANDBY_REQUESTS_PER_INSTANCE, MAX_STANDBY_REQUESTS_PER_RUN,
    MAX_STANDBY_REQUEST_TIMEOUT_SECS,
};

/// `.actor/actor.json`, the fields wactor uses. Unknown fields are kept so
/// nothing a user wrote is lost on the way through the API.
#[derive(Debug, Clone, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActorDefinition {
    #[serde(default)]
    pub actor_specification: Option<u32>,
    pub name: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// `MAJOR.MINOR`, as Apify versions are.
    #[serde(default = "default_version")]
    pub version: String,
    #[serde(default)]
    pub build_tag: Option<String>,
    /// The input schema, inlined (a path in actor.json is resolved on load).
    #[serde(default)]
    pub input: Option<Value>,
    /// Path of the compiled component, relative to the Actor directory
    /// (wactor's own field; omitted when the directory is a cargo crate).
    #[serde(default)]
    pub component: Option<String>,
    /// A Docker image on the Docker host: the Actor runs as a container (Docker executor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// A Dockerfile, relative to `.actor/`: the Actor directory is the build
    /// context and the image is built on the Docker host (Docker executor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<String>,
    #[serde(default)]
    pub default_run_options: DefaultRunOptions,
    #[serde(default)]
    pub environment_variables: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    pub uses_standby_mode: Option<bool>,
    /// The hosts the Actor's outbound HTTP may reach (`[scheme://]host[:port]`,
    /// `*` and `*.domain` allowed); none given: every public host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_hosts: Option<Vec<String>>,
    /// Standby settings (Apify's `actorStandby`); the Actor's own settings override them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_standby: Option<StandbyOptions>,
    /// How the Actor is priced (one `pricingInfos` entry, in force from the push on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing: Option<crate::platform::charging::pricing::PricingInfo>,
    /// `limited` or `full` (the default): what the Actor's runs may reach (see `platform::access`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<String>,
    /// The output schema (`.actor/output_schema.json` or `output`): where a run's results are, as URL templates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// Schemas of the run's default storages: `{"dataset": …, "keyValueStore": …}`, inlined by `ActorDir::load`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storages: Option<serde_json::Map<String, Value>>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

fn default_version() -> String {
    "0.0".to_owned()
}

/// Defaults for runs of this Actor; the caller may override each.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DefaultRunOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mbytes: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_items: Option<u64>,
    /// The charge cap of runs that name none (Standby runs take theirs from here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_total_charge_usd: Option<f64>,
    /// A FAILED run is started again (see `Limits::max_restarts_on_error`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_on_error: Option<bool>,
}

/// Standby settings as Apify names them (`actorStandby`), each optional so
/// an Actor's settings can override its definition's field by field.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StandbyOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_enabled: Option<bool>,
    /// Concurrent requests per run above which another run is started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_requests_per_actor_run: Option<u32>,
    /// Concurrent requests one run takes at most.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_requests_per_actor_run: Option<u32>,
    /// A run without requests for this long gets `aborting` and finishes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mbytes: Option<u32>,
    /// Store the Actor's example input as the Standby runs' INPUT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub should_pass_actor_input: Option<bool>,
    /// wactor: answer Standby requests without the API token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_public: Option<bool>,
    /// wactor: how long one request may take, head and body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_timeout_secs: Option<u64>,
    /// wactor: how many requests one component instance answers, one after
    /// another, before a fresh one takes over. 1 (the default) gives every
    /// request a fresh instance; more trades that isolation for speed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_requests_per_instance: Option<u32>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

impl StandbyOptions {
    /// `self`'s fields where set, `base`'s otherwise.
    pub fn over(&self, base: &StandbyOptions) -> StandbyOptions {
        StandbyOptions {
            is_enabled: self.is_enabled.or(base.is_enabled),
            desired_requests_per_actor_run: self.desired_requests_per_actor_run.or(base.desired_requests_per_actor_run),
            max_requests_per_actor_run: self.max_requests_per_actor_run.or(base.max_requests_per_actor_run),
            idle_timeout_secs: self.idle_timeout_secs.or(base.idle_timeout_secs),
            build: self.build.clone().or_else(|| base.build.clone()),
            memory_mbytes: self.memory_mbytes.or(base.memory_mbytes),
            should_pass_actor_input: self.should_pass_actor_input.or(base.should_pass_actor_input),
            is_public: self.is_public.or(base.is_public),
            request_timeout_secs: self.request_timeout_secs.or(base.request_timeout_secs),
            max_requests_per_instance: self.max_requests_per_instance.or(base.max_requests_per_instance),
            extra: base.extra.clone().into_iter().chain(self.extra.clone()).collect(),
        }
    }

    /// Rejects values no run could honour; each error names the field.
    pub fn validate(&self, limits: &Limits) -> Result<(), String> {
        let requests = 1..=MAX_STANDBY_REQUESTS_PER_RUN as u64;
        if let Some(n) = self.max_requests_per_actor_run {
            check_range("actorStandby.maxRequestsPerActorRun", n as u64, requests.clone(), "requests")?;
        }
        if let Some(n) = self.desired_requests_per_actor_run {
            check_range("actorStandby.desiredRequestsPerActorRun", n as u64, requests, "requests")?;
        }
        if let (Some(d), Some(m)) = (self.desired_requests_per_actor_run, self.max_requests_per_actor_run) {
            if d > m {
                return Err(format!("actorStandby: desiredRequestsPerActorRun ({d}) must not exceed maxRequestsPerActorRun ({m})"));
            }
        }
        if let Some(secs) = self.idle_timeout_secs {
            check_range("actorStandby.idleTimeoutSecs", secs, 1..=MAX_STANDBY_IDLE_TIMEOUT_SECS, "seconds")?;
        }
        if let Some(secs) = self.request_timeout_secs {
            check_range("actorStandby.requestTimeoutSecs", secs, 1..=MAX_STANDBY_REQUEST_TIMEOUT_SECS, "seconds")?;
        }
        if let Some(m) = self.memory_mbytes {
            limits.check_memory_mbytes("actorStandby.memoryMbytes", m as u64)?;
        }
        if let Some(n) = self.max_requests_per_instance {
            check_range("actorStandby.maxRequestsPerInstance", n as u64, 1..=MAX_STANDBY_REQUESTS_PER_INSTANCE as u64, "requests")?;
        }
        Ok(())
    }
}

impl DefaultRunOptions {
    /// Rejects defaults no run could start with; each error names the field.
    pub fn validate(&self, limits: &Limits) -> Result<(), String> {
        if let Some(m) = self.memory_mbytes {
            limits.check_memory_mbytes("defaultRunOptions.memoryMbytes", m as u64)?;
        }
        if let Some(t) = self.timeout_secs {
            limits.check_timeout_secs("defaultRunOptions.timeoutSecs", t)?;
        }
        if let Some(max) = self.max_total_charge_usd {
            crate::platform::runs::check_max_total_charge(max).map_err(|e| format!("defaultRunOptions.{e}"))?;
        }
        Ok(())
    }
}

/// An Actor directory read from disk.
#[derive(Debug, Clone)]
pub struct ActorDir {
    pub root: PathBuf,
    pub definition: ActorDefinition,
}

#[derive(Debug, thiserror::Error)]
pub enum DefinitionError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: invalid JSON: {source}")]
    Json { path: PathBuf, source: serde_json::Error },
    #[error("{0}")]
    Invalid(String),
}

/// Apify Actor names: lowercase letters, digits and hyphens, 3-63 characters.
pub fn validate_actor_name(name: &str) -> Result<(), String> {
    let ok = (1..=63).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!("Actor name \"{name}\" is not valid: use lowercase letters, digits and hyphens (1-63, not at the ends)"))
    }
}

/// `MAJOR.MINOR` with one or two digits each.
pub fn validate_version(v: &str) -> Result<(), String> {
    let ok = v.split_once('.').is_some_and(|(a, b)| {
        let part = |s: &str| (1..=2).contains(&s.len()) && s.bytes().all(|c| c.is_ascii_digit());
        part(a) && part(b)
    });
    if ok {
        Ok(())
    } else {
        Err(format!("Version \"{v}\" is not valid: use MAJOR.MINOR, e.g. 0.1"))
    }
}

impl ActorDefinition {
    /// Checks the fields a build relies on, including that the input schema
    /// compiles and that every number is in the range `limits` allow.
    pub fn validate(&self, limits: &Limits) -> Result<(), String> {
        validate_actor_name(&self.name)?;
        validate_version(&self.version)?;
        if let Some(schema) = &self.input {
            InputSchema::compile(schema).map_err(|e| format!("input schema: {e}"))?;
        }
        self.default_run_options.validate(limits)?;
        crate::platform::outbound::OutboundPolicy::new(self.allowed_hosts.as_deref(), false)?;
        if let Some(standby) = &self.actor_standby {
            standby.validate(limits)?;
        }
        if let Some(pricing) = &self.pricing {
            pricing.validate().map_err(|e| format!("pricing: {e}"))?;
        }
        self.permission_level().map_err(|e| e.to_string())?;
        Ok(())
    }

    /// The level the Actor's runs get unless a start forces one.
    /// The schema of the run's default dataset, if the Actor has one.
    pub fn dataset_schema(&self) -> Option<&Value> {
        self.storages.as_ref()?.get("dataset").filter(|s| s.is_object())
    }

    /// The schema of the run's default key-value store, if the Actor has one.
    pub fn key_value_store_schema(&self) -> Option<&Value> {
        self.storages.as_ref()?.get("keyValueStore").filter(|s| s.is_object())
    }

    pub fn permission_level(&self) -> crate::platform::error::Result<crate::platform::access::PermissionLevel> {
        self.permissions.as_deref().map_or(Ok(Default::default()), crate::platform::access::PermissionLevel::from_definition)
    }
}

impl ActorDir {
    /// Reads `<dir>/.actor/actor.json` and inlines the input schema
    /// (`input` as a path, or `.actor/input_schema.json` when present).
    pub fn load(dir: &Path) -> Result<ActorDir, DefinitionError> {
        let actor_dir = dir.join(".actor");
        let path = actor_dir.join("actor.json");
        let mut definition: ActorDefinition = read_json(&path)?;
        let schema_path = match &definition.input {
            Some(Value::String(rel)) => Some(actor_dir.join(rel)),
            Some(_) => None,
            None => Some(actor_dir.join("input_schema.json")).filter(|p| p.exists()),
        };
        if let Some(p) = schema_path {
            definition.input = Some(read_json(&p)?);
        }
        definition.output = match definition.output.take() {
            Some(Value::String(rel)) => Some(read_json(&actor_dir.join(rel))?),
            Some(inline) => Some(inline),
            None => Some(actor_dir.join("output_schema.json")).filter(|p| p.exists()).map(|p| read_json(&p)).transpose()?,
        };
        // Storage schemas: named in `storages` (a path or the schema itself), else the conventional files.
        for (key, file) in [("dataset", "dataset_schema.json"), ("keyValueStore", "key_value_store_schema.json")] {
            let named = definition.storages.as_ref().and_then(|s| s.get(key)).cloned();
            let schema = match named {
                Some(Value::String(rel)) => Some(read_json(&actor_dir.join(rel))?),
                Some(inline) => Some(inline),
                None => Some(actor_dir.join(file)).filter(|p| p.exists()).map(|p| read_json(&p)).transpose()?,
            };
            if let Some(schema) = schema {
                definition.storages.get_or_insert_with(Default::default).insert(key.to_owned(), schema);
            }
        }
        definition.validate(&Limits::default()).map_err(|e| DefinitionError::Invalid(format!("{}: {e}", path.display())))?;
        Ok(ActorDir { root: dir.to_path_buf(), definition })
    }

    /// What wactor builds the component from, when the Actor names no
    /// prebuilt `component`, image or Dockerfile.
    pub fn source_kind(&self) -> Option<SourceKind> {
        if self.definition.component.is_some() || self.definition.image.is_some() || self.definition.dockerfile.is_some() {
            return None;
        }
        let has = |f: &str| self.root.join(f).exists();
        if has("Cargo.toml") {
            Some(SourceKind::Rust)
        } else if has("package.json") {
            Some(SourceKind::JavaScript)
        } else if has("pyproject.toml") || has("requirements.txt") || has("main.py") || has("src/main.py") {
            Some(SourceKind::Python)
        } else {
            None
        }
    }

    /// Whether the Actor serves HTTP in Standby mode (its component exports wasi:http/incoming-handler).
    pub fn is_standby(&self) -> bool {
        self.definition.uses_standby_mode == Some(true)
    }
}

/// The language of an Actor directory that wactor builds into a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// A cargo crate (`Cargo.toml`), built for `wasm32-wasip2`.
    Rust,
    /// `package.json`: bundled with esbuild, componentized with SpiderMonkey.
    JavaScript,
    /// `pyproject.toml`, `requirements.txt` or `main.py`: componentized with componentize-py.
    Python,
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, DefinitionError> {
    let text = std::fs::read_to_string(path).map_err(|source| DefinitionError::Io { path: path.to_path_buf(), source })?;
    serde_json::from_str(&text).map_err(|source| DefinitionError::Json { path: path.to_path_buf(), source })
}
