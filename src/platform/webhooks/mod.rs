//! Webhooks (API-COMPAT §2.7, §5): other systems learn of runs and builds.
//!
//! A webhook names event types and a condition (an Actor, or one run for an
//! ad-hoc webhook). When an event matches, a *dispatch* is written in the
//! same breath as the event itself (so the commit that makes a run's end
//! durable makes its dispatches durable too), with its payload rendered
//! from the resource as it was then. [`delivery`] posts dispatches off the
//! request path and retries with backoff; a dispatch survives a crash and
//! is delivered after the restart, at least once, under the same ID.

pub mod delivery;
pub mod template;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::db::{get_json, put_json, Db};
use super::error::{PlatformError, Result};
use super::outbound::non_public_class;
use super::runs::{Run, RunStatus};
use super::Platform;
use crate::ids::{self, ts};

/// The event types a webhook may name (API-COMPAT §5).
pub const EVENT_TYPES: [&str; 11] = [
    "ACTOR.RUN.CREATED",
    "ACTOR.RUN.SUCCEEDED",
    "ACTOR.RUN.FAILED",
    "ACTOR.RUN.ABORTED",
    "ACTOR.RUN.TIMED_OUT",
    "ACTOR.RUN.RESURRECTED",
    "ACTOR.BUILD.CREATED",
    "ACTOR.BUILD.SUCCEEDED",
    "ACTOR.BUILD.FAILED",
    "ACTOR.BUILD.ABORTED",
    "ACTOR.BUILD.TIMED_OUT",
];

/// The event `/test` dispatches.
pub const TEST_EVENT: &str = "TEST";

/// Longest URL and template a webhook may have.
const MAX_URL_LEN: usize = 2048;
const MAX_TEMPLATE_LEN: usize = 64 * 1024;
/// Most ad-hoc webhooks one start may add, and most webhooks a server keeps
/// (every event is matched against them in memory).
pub const MAX_AD_HOC_PER_RUN: usize = 100;
pub const MAX_WEBHOOKS: usize = 100_000;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_task_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_run_id: Option<String>,
}

/// A webhook, stored in the API's shape.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    pub id: String,
    #[serde(with = "ts")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "ts")]
    pub modified_at: DateTime<Utc>,
    pub user_id: String,
    pub is_ad_hoc: bool,
    pub should_interpolate_strings: bool,
    pub event_types: Vec<String>,
    pub condition: Condition,
    pub ignore_ssl_errors: bool,
    pub do_not_retry: bool,
    pub request_url: String,
    pub payload_template: Option<String>,
    pub headers_template: Option<String>,
    pub description: Option<String>,
    pub idempotency_key: Option<String>,
}

/// What a client sends to create (or, all optional, change) a webhook.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSpec {
    pub event_types: Option<Vec<String>>,
    pub condition: Option<Condition>,
    pub request_url: Option<String>,
    pub payload_template: Option<String>,
    pub headers_template: Option<String>,
    pub description: Option<String>,
    pub idempotency_key: Option<String>,
    pub ignore_ssl_errors: Option<bool>,
    pub do_not_retry: Option<bool>,
    pub is_ad_hoc: Option<bool>,
    pub should_interpolate_strings: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DispatchStatus {
    Active,
    Succeeded,
    Failed,
}

/// One delivery attempt.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Call {
    #[serde(with = "ts")]
    pub started_at: DateTime<Utc>,
    #[serde(with = "ts")]
    pub finished_at: DateTime<Utc>,
    pub error_message: Option<String>,
    pub response_status: Option<u16>,
    pub response_body: Option<String>,
}

/// A dispatch in the API's shape.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Dispatch {
    pub id: String,
    pub user_id: String,
    pub webhook_id: String,
    #[serde(with = "ts")]
    pub created_at: DateTime<Utc>,
    pub status: DispatchStatus,
    pub event_type: String,
    pub event_data: Value,
    pub calls: Vec<Call>,
}

/// A dispatch as stored: what the API shows, and the request to deliver.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StoredDispatch {
    #[serde(flatten)]
    pub dispatch: Dispatch,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub do_not_retry: bool,
    /// When the next attempt is due (ms); none once it has ended.
    pub due_ms: Option<i64>,
}

/// The webhooks' trees and the matching index.
pub(crate) struct Webhooks {
    hooks: sled::Tree,
    /// user id ++ 0 ++ idempotency key → webhook id.
    keys: sled::Tree,
    dispatches: sled::Tree,
    /// due ms (BE) ++ dispatch id → (): dispatches waiting for an attempt.
    queue: sled::Tree,
    /// Every webhook by what it watches (an Actor's or a run's ID), so an
    /// event looks up its own few instead of scanning them all.
    index: RwLock<WebhookIndex>,
    pub(crate) delivery: delivery::Delivery,
}

#[derive(Default)]
struct WebhookIndex {
    by_target: HashMap<String, Vec<Arc<Webhook>>>,
    count: usize,
}

impl WebhookIndex {
    fn target(hook: &Webhook) -> String {
        let c = &hook.condition;
        c.actor_id.clone().or_else(|| c.actor_run_id.clone()).or_else(|| c.actor_task_id.clone()).unwrap_or_default()
    }

    fn add(&mut self, hook: Webhook) {
        self.by_target.entry(Self::target(&hook)).or_default().push(Arc::new(hook));
        self.count += 1;
    }

    /// A changed webhook (it may watch something else now).
    fn replace(&mut self, hook: Webhook) {
        self.remove(&hook.id);
        self.add(hook);
    }

    fn remove(&mut self, id: &str) {
        for hooks in self.by_target.values_mut() {
            if let Some(i) = hooks.iter().position(|h| h.id == id) {
                hooks.remove(i);
                self.count -= 1;
                break;
            }
        }
        self.by_target.retain(|_, hooks| !hooks.is_empty());
    }

    /// The webhooks watching any of `targets` for `event_type`.
    fn matching(&self, targets: &[&str], event_type: &str) -> Vec<Arc<Webhook>> {
        targets
            .iter()
            .filter_map(|t| self.by_target.get(*t))
            .flatten()
            .filter(|w| w.event_types.iter().any(|t| t == event_type))
            .cloned()
            .collect()
    }
}

impl Webhooks {
    pub(crate) fn open(db: &Db, options: delivery::DeliveryOptions) -> Result<Webhooks> {
        let hooks = db.webhooks.clone();
        let mut index = WebhookIndex::default();
        for item in hooks.iter() {
            index.add(serde_json::from_slice::<Webhook>(&item?.1)?);
        }
        Ok(Webhooks {
            hooks,
            keys: db.webhook_keys.clone(),
            dispatches: db.webhook_dispatches.clone(),
            queue: db.webhook_queue.clone(),
            index: RwLock::new(index),
            delivery: delivery::Delivery::new(options),
        })
    }
}

fn invalid(message: impl Into<String>) -> PlatformError {
    PlatformError::invalid_kind("invalid-webhook", message)
}

fn queue_key(due_ms: i64, dispatch_id: &str) -> Vec<u8> {
    let mut k = (due_ms.max(0) as u64).to_be_bytes().to_vec();
    k.extend_from_slice(dispatch_id.as_bytes());
    k
}

/// `ACTOR.RUN.SUCCEEDED` for a run that ended SUCCEEDED, and so on.
pub fn run_event(status: RunStatus) -> Option<&'static str> {
    Some(match status {
        RunStatus::Succeeded => "ACTOR.RUN.SUCCEEDED",
        RunStatus::Failed => "ACTOR.RUN.FAILED",
        RunStatus::Aborted => "ACTOR.RUN.ABORTED",
        RunStatus::TimedOut => "ACTOR.RUN.TIMED_OUT",
        _ => return None,
    })
}

impl Platform {
    /// Checks a request URL: http(s), and (unless the server allows it)
    /// not a loopback, private or link-local address, by literal or by
    /// what its name resolves to now. Delivery checks again at connect time.
    pub async fn check_webhook_url(&self, url: &str) -> Result<()> {
        let parsed = reqwest::Url::parse(url).map_err(|e| invalid(format!("requestUrl \"{url}\" is not a valid URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") || url.len() > MAX_URL_LEN {
            return Err(invalid(format!("requestUrl must be an http or https URL of at most {MAX_URL_LEN} characters")));
        }
        if self.webhooks.delivery.allow_private() {
            return Ok(());
        }
        let host = parsed.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_owned();
        let port = parsed.port_or_known_default().unwrap_or(80);
        let addrs: Vec<std::net::IpAddr> = match host.parse() {
            Ok(ip) => vec![ip],
            Err(_) => tokio::net::lookup_host((host.as_str(), port)).await.map(|a| a.map(|s| s.ip()).collect()).unwrap_or_default(),
        };
        if let Some((ip, class)) = addrs.iter().find_map(|ip| non_public_class(*ip).map(|c| (ip, c))) {
            return Err(invalid(format!(
                "requestUrl points at {ip}, a {class} address; wactor refuses webhooks to loopback, private and link-local \
                 addresses unless the server runs with --allow-private-webhook-urls"
            )));
        }
        Ok(())
    }

    /// A webhook from `spec`, every field checked; nothing is stored.
    async fn webhook_from(&self, owner_id: &str, spec: WebhookSpec, base: Option<Webhook>) -> Result<Webhook> {
        let now = ids::now();
        let mut hook = base.unwrap_or_else(|| Webhook {
            id: ids::new_id(),
            created_at: now,
            modified_at: now,
            user_id: owner_id.to_owned(),
            is_ad_hoc: false,
            should_interpolate_strings: false,
            event_types: Vec::new(),
            condition: Condition::default(),
            ignore_ssl_errors: false,
            do_not_retry: false,
            request_url: String::new(),
            payload_template: None,
            headers_template: None,
            description: None,
            idempotency_key: None,
        });
        hook.modified_at = now;
        if let Some(types) = spec.event_types {
            hook.event_types = types;
        }
        if let Some(c) = spec.condition {
            hook.condition = c;
        }
        if let Some(u) = spec.request_url {
            hook.request_url = u;
        }
        macro_rules! take {
            ($($field:ident),*) => { $(if spec.$field.is_some() { hook.$field = spec.$field; })* };
        }
        take!(payload_template, headers_template, description);
        if hook.idempotency_key.is_none() {
            hook.idempotency_key = spec.idempotency_key;
        }
        hook.ignore_ssl_errors = spec.ignore_ssl_errors.unwrap_or(hook.ignore_ssl_errors);
        hook.do_not_retry = spec.do_not_retry.unwrap_or(hook.do_not_retry);
        hook.should_interpolate_strings = spec.should_interpolate_strings.unwrap_or(hook.should_interpolate_strings);
        hook.is_ad_hoc =
            spec.is_ad_hoc.unwrap_or(hook.is_ad_hoc) || (hook.condition.actor_run_id.is_some() && hook.condition.actor_id.is_none());
        self.check_webhook(owner_id, &mut hook).await?;
        Ok(hook)
    }

    /// Checks every field of a webhook; its condition's Actor is stored by ID.
    async fn check_webhook(&self, owner_id: &str, hook: &mut Webhook) -> Result<()> {
        if hook.event_types.is_empty() {
            return Err(invalid("eventTypes must name at least one event type"));
        }
        if let Some(bad) = hook.event_types.iter().find(|t| !EVENT_TYPES.contains(&t.as_str())) {
            return Err(invalid(format!("Unknown event type \"{bad}\"; the types are {}", EVENT_TYPES.join(", "))));
        }
        let c = &hook.condition;
        match (&c.actor_id, &c.actor_task_id, &c.actor_run_id) {
            (Some(a), None, None) => {
                // By ID or `username~name`; stored as the ID, which events carry.
                // Only the owner's own Actors: another user's runs are not theirs to watch.
                let actor = self
                    .get_actor_in(Some(owner_id), a)
                    .ok()
                    .filter(|actor| actor.user_id == owner_id)
                    .ok_or_else(|| invalid(format!("condition.actorId: Actor \"{a}\" was not found")))?;
                hook.condition.actor_id = Some(actor.id);
            }
            (None, None, Some(r)) => {
                self.get_stored_run(r)
                    .ok()
                    .filter(|run| run.user_id == owner_id)
                    .ok_or_else(|| invalid(format!("condition.actorRunId: run \"{r}\" was not found")))?;
            }
            (None, Some(_), None) => return Err(invalid("condition.actorTaskId: Actor tasks are not supported yet")),
            _ => return Err(invalid("condition must name exactly one of actorId, actorTaskId or actorRunId")),
        }
        self.check_webhook_url(&hook.request_url).await?;
        for (field, t) in [("payloadTemplate", &hook.payload_template), ("headersTemplate", &hook.headers_template)] {
            if let Some(t) = t {
                if t.len() > MAX_TEMPLATE_LEN {
                    return Err(invalid(format!("{field} is over {MAX_TEMPLATE_LEN} bytes")));
                }
                template::validate(field, t, hook.should_interpolate_strings).map_err(invalid)?;
            }
        }
        if let Some(k) = &hook.idempotency_key {
            if k.is_empty() || k.len() > 256 {
                return Err(invalid("idempotencyKey must be 1 to 256 bytes"));
            }
        }
        Ok(())
    }

    /// Creates a webhook; with an `idempotencyKey` already used, the
    /// webhook that key made (and `false`).
    pub async fn create_webhook(&self, owner_id: &str, spec: WebhookSpec) -> Result<(Webhook, bool)> {
        let hook = self.webhook_from(owner_id, spec, None).await?;
        self.store_new_webhook(hook)
    }

    fn store_new_webhook(&self, hook: Webhook) -> Result<(Webhook, bool)> {
        let w = &self.webhooks;
        if w.index.read().count >= MAX_WEBHOOKS {
            return Err(PlatformError::limit(
                "webhook-limit-exceeded",
                format!("The server keeps at most {MAX_WEBHOOKS} webhooks; delete some first"),
            ));
        }
        if let Some(key) = &hook.idempotency_key {
            let k = super::db::owned_key(&hook.user_id, key.as_bytes());
            if let Err(e) = w.keys.compare_and_swap(&k, None as Option<&[u8]>, Some(hook.id.as_bytes()))? {
                let id = String::from_utf8_lossy(&e.current.unwrap_or_default()).into_owned();
                if let Some(existing) = get_json::<Webhook>(&w.hooks, &id)? {
                    return Ok((existing, false));
                }
                w.keys.insert(&k, hook.id.as_bytes())?;
            }
        }
        put_json(&w.hooks, &hook.id, &hook)?;
        w.index.write().add(hook.clone());
        Ok((hook, true))
    }

    /// Checks ad-hoc webhooks for a run about to start (the `webhooks` start parameter).
    pub async fn check_ad_hoc_webhooks(&self, specs: &[WebhookSpec]) -> Result<()> {
        if specs.len() > MAX_AD_HOC_PER_RUN {
            return Err(invalid(format!("A run may have at most {MAX_AD_HOC_PER_RUN} ad-hoc webhooks, not {}", specs.len())));
        }
        for spec in specs {
            if spec.event_types.as_ref().is_none_or(Vec::is_empty) || spec.request_url.is_none() {
                return Err(invalid("Each ad-hoc webhook needs eventTypes and requestUrl"));
            }
            self.check_webhook_url(spec.request_url.as_deref().unwrap_or_default()).await?;
            for (field, t) in [("payloadTemplate", &spec.payload_template), ("headersTemplate", &spec.headers_template)] {
                if let Some(t) = t {
                    template::validate(field, t, spec.should_interpolate_strings.unwrap_or(false)).map_err(invalid)?;
                }
            }
            if let Some(bad) = spec.event_types.iter().flatten().find(|t| !EVENT_TYPES.contains(&t.as_str())) {
                return Err(invalid(format!("Unknown event type \"{bad}\"")));
            }
        }
        Ok(())
    }

    /// Stores a run's ad-hoc webhooks (checked by [`Self::check_ad_hoc_webhooks`]) before it starts.
    pub(crate) fn add_ad_hoc_webhooks(&self, run_id: &str, user_id: &str, specs: Vec<WebhookSpec>) -> Result<()> {
        let now = ids::now();
        for spec in specs {
            let hook = Webhook {
                id: ids::new_id(),
                created_at: now,
                modified_at: now,
                user_id: user_id.to_owned(),
                is_ad_hoc: true,
                should_interpolate_strings: spec.should_interpolate_strings.unwrap_or(false),
                event_types: spec.event_types.unwrap_or_default(),
                condition: Condition { actor_run_id: Some(run_id.to_owned()), ..Default::default() },
                ignore_ssl_errors: spec.ignore_ssl_errors.unwrap_or(false),
                do_not_retry: spec.do_not_retry.unwrap_or(false),
                request_url: spec.request_url.unwrap_or_default(),
                payload_template: spec.payload_template,
                headers_template: spec.headers_template,
                description: spec.description,
                idempotency_key: spec.idempotency_key,
            };
            self.store_new_webhook(hook)?;
        }
        Ok(())
    }

    /// Webhooks, oldest first; those watching one Actor if named.
    pub fn list_webhooks(&self, actor_id: Option<&str>) -> Vec<Webhook> {
        let index = self.webhooks.index.read();
        let mut all: Vec<Webhook> = match actor_id {
            Some(a) => index
                .by_target
                .get(a)
                .into_iter()
                .flatten()
                .filter(|w| w.condition.actor_id.as_deref() == Some(a))
                .map(|w| (**w).clone())
                .collect(),
            None => index.by_target.values().flatten().map(|w| (**w).clone()).collect(),
        };
        drop(index);
        all.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        all
    }

    pub fn get_webhook(&self, id: &str) -> Result<Webhook> {
        get_json(&self.webhooks.hooks, id)?.ok_or_else(|| PlatformError::not_found(format!("Webhook was not found: {id}")))
    }

    pub async fn update_webhook(&self, id: &str, spec: WebhookSpec) -> Result<Webhook> {
        let current = self.get_webhook(id)?;
        let hook = self.webhook_from(&current.user_id.clone(), spec, Some(current)).await?;
        put_json(&self.webhooks.hooks, &hook.id, &hook)?;
        self.webhooks.index.write().replace(hook.clone());
        Ok(hook)
    }

    pub fn delete_webhook(&self, id: &str) -> Result<()> {
        let hook = self.get_webhook(id)?;
        if let Some(key) = &hook.idempotency_key {
            self.webhooks.keys.remove(super::db::owned_key(&hook.user_id, key.as_bytes()))?;
        }
        self.webhooks.hooks.remove(id)?;
        self.webhooks.index.write().remove(id);
        Ok(())
    }

    /// Dispatches `event_type` for a run to every webhook it matches.
    pub(crate) fn fire_run_event(&self, event_type: &str, run: &Run) {
        let mut matching = self.webhooks.index.read().matching(&[&run.act_id, &run.id], event_type);
        // A run of a public Actor is its starter's: the Actor owner's webhooks do not see it.
        matching.retain(|hook| hook.user_id == run.user_id);
        if matching.is_empty() {
            return;
        }
        let data = json!({"actorId": run.act_id, "actorTaskId": run.actor_task_id, "actorRunId": run.id});
        let resource = self.run_view(run);
        for hook in &matching {
            if let Err(e) = self.dispatch(hook, event_type, data.clone(), resource.clone()) {
                tracing::error!(webhook = %hook.id, run = %run.id, error = %e, "a webhook dispatch could not be written");
            }
        }
    }

    /// Dispatches a build event to the Actor's webhooks.
    pub(crate) fn fire_build_event(&self, event_type: &str, build: &super::actors::Build) {
        let matching = self.webhooks.index.read().matching(&[&build.act_id], event_type);
        if matching.is_empty() {
            return;
        }
        let resource = serde_json::to_value(build).unwrap_or(Value::Null);
        let data = json!({"actorId": build.act_id, "actorBuildId": build.id});
        for hook in &matching {
            if let Err(e) = self.dispatch(hook, event_type, data.clone(), resource.clone()) {
                tracing::error!(webhook = %hook.id, build = %build.id, error = %e, "a webhook dispatch could not be written");
            }
        }
    }

    /// Dispatches `TEST` now (`POST /v2/webhooks/{id}/test`).
    pub fn test_webhook(&self, id: &str) -> Result<Dispatch> {
        let hook = self.get_webhook(id)?;
        // The event data names what the webhook watches, as a real event's would.
        let c = &hook.condition;
        let actor_id = match (&c.actor_id, &c.actor_run_id) {
            (Some(a), _) => Some(a.clone()),
            (None, Some(r)) => self.get_stored_run(r).ok().map(|r| r.act_id),
            _ => None,
        };
        let data = json!({"actorId": actor_id, "actorRunId": c.actor_run_id});
        self.dispatch(&hook, TEST_EVENT, data, json!({}))
    }

    /// Writes a dispatch (its request rendered now) and wakes delivery.
    fn dispatch(&self, hook: &Webhook, event_type: &str, event_data: Value, resource: Value) -> Result<Dispatch> {
        let now = ids::now();
        let context = json!({
            "userId": hook.user_id,
            "createdAt": ids::format_ts(&now),
            "eventType": event_type,
            "eventData": event_data,
            "resource": resource,
            "globals": {"dateISO": ids::format_ts(&now), "dateUnix": now.timestamp_millis()},
        });
        let interpolate = hook.should_interpolate_strings;
        let template = hook.payload_template.as_deref().unwrap_or(template::DEFAULT_PAYLOAD);
        let body = template::render(template, &context, interpolate).map_err(invalid)?;
        let mut headers = Vec::new();
        if let Some(t) = &hook.headers_template {
            let rendered: Value = serde_json::from_str(&template::render(t, &context, interpolate).map_err(invalid)?)?;
            for (k, v) in rendered.as_object().into_iter().flatten() {
                headers.push((k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_owned)));
            }
        }
        let dispatch = Dispatch {
            id: ids::new_id(),
            user_id: hook.user_id.clone(),
            webhook_id: hook.id.clone(),
            created_at: now,
            status: DispatchStatus::Active,
            event_type: event_type.to_owned(),
            event_data,
            calls: Vec::new(),
        };
        let due = now.timestamp_millis();
        let stored = StoredDispatch {
            dispatch: dispatch.clone(),
            url: hook.request_url.clone(),
            headers,
            body,
            do_not_retry: hook.do_not_retry,
            due_ms: Some(due),
        };
        put_json(&self.webhooks.dispatches, &dispatch.id, &stored)?;
        self.webhooks.queue.insert(queue_key(due, &dispatch.id), &[])?;
        self.webhooks.delivery.wake();
        Ok(dispatch)
    }

    /// Dispatches, newest last; of one webhook if named.
    pub fn list_dispatches(&self, webhook_id: Option<&str>) -> Result<Vec<Dispatch>> {
        let mut out = Vec::new();
        for item in self.webhooks.dispatches.iter() {
            let stored: StoredDispatch = serde_json::from_slice(&item?.1)?;
            if webhook_id.is_none_or(|w| w == stored.dispatch.webhook_id) {
                out.push(stored.dispatch);
            }
        }
        out.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    pub fn get_dispatch(&self, id: &str) -> Result<Dispatch> {
        get_json::<StoredDispatch>(&self.webhooks.dispatches, id)?
            .map(|s| s.dispatch)
            .ok_or_else(|| PlatformError::not_found(format!("Webhook dispatch was not found: {id}")))
    }
}
