//! Actors calling Actors: start a run of another Actor, wait for it, read
//! its results, abort it.
//!
//! ```ignore
//! let run = wactor_sdk::actors::call("username~scraper", &json!({"url": "https://example.com"}), Default::default())?;
//! if run.status == "SUCCEEDED" {
//!     let items = wactor_sdk::Dataset::open_by_id(&run.default_dataset_id)?.get_items(0, 100)?;
//! }
//! ```
//!
//! The run started records this run as its parent (`meta.origin` ACTOR);
//! a priced Actor's charges come out of this run's allowance. Waiting costs
//! the platform no thread.

use serde::Serialize;

use crate::bindings::wactor::actor::actors as wit;
use crate::Result;

pub use wit::Run;

/// What a start may set; `None` takes the Actor's default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StartOptions {
    /// A build tag (`latest`) or number.
    pub build: Option<String>,
    pub memory_mbytes: Option<u32>,
    /// 0: no timeout.
    pub timeout_secs: Option<u64>,
    pub max_items: Option<u64>,
    pub max_total_charge_usd: Option<f64>,
    /// Ad-hoc webhooks of the new run.
    pub webhooks: Vec<Webhook>,
}

impl From<StartOptions> for wit::StartOptions {
    fn from(o: StartOptions) -> Self {
        wit::StartOptions {
            build: o.build,
            memory_mbytes: o.memory_mbytes,
            timeout_secs: o.timeout_secs,
            max_items: o.max_items,
            max_total_charge_usd: o.max_total_charge_usd,
            webhooks: (!o.webhooks.is_empty()).then(|| serde_json::to_string(&o.webhooks).unwrap_or_default()),
        }
    }
}

/// A webhook on a run: `request_url` gets a POST for each of `event_types`
/// (`ACTOR.RUN.SUCCEEDED`, ...), with the payload the template makes
/// (Apify's default when `None`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    pub event_types: Vec<String>,
    pub request_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload_template: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers_template: Option<String>,
    /// The same key twice adds one webhook (a retried Actor does not add it again).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    pub do_not_retry: bool,
    pub should_interpolate_strings: bool,
}

/// Adds a webhook to this run; its ID.
pub fn add_webhook(webhook: &Webhook) -> Result<String> {
    Ok(wit::add_webhook(&serde_json::to_string(webhook)?)?)
}

fn input_text<T: Serialize + ?Sized>(input: &T) -> Result<String> {
    Ok(serde_json::to_string(input)?)
}

/// Starts a run of `actor` (its ID or `username~name`) and returns at once.
pub fn start<T: Serialize + ?Sized>(actor: &str, input: &T, options: StartOptions) -> Result<Run> {
    Ok(wit::start(actor, Some(&input_text(input)?), &options.into())?)
}

/// Starts a run and waits for it to finish (as long as this run may).
pub fn call<T: Serialize + ?Sized>(actor: &str, input: &T, options: StartOptions) -> Result<Run> {
    Ok(wit::call(actor, Some(&input_text(input)?), &options.into(), None)?)
}

/// [`call`], waiting at most `wait_secs`: the run may still be going.
pub fn call_waiting<T: Serialize + ?Sized>(actor: &str, input: &T, options: StartOptions, wait_secs: u32) -> Result<Run> {
    Ok(wit::call(actor, Some(&input_text(input)?), &options.into(), Some(wait_secs))?)
}

/// Waits until the run finishes, or `wait_secs` pass.
pub fn wait_for_finish(run_id: &str, wait_secs: Option<u32>) -> Result<Run> {
    Ok(wit::wait_for_finish(run_id, wait_secs)?)
}

pub fn get_run(run_id: &str) -> Result<Run> {
    Ok(wit::get_run(run_id)?)
}

/// Hands this run over to `actor` (metamorph): same run ID, storages and
/// timeout; `input` becomes the target's input. Does not return on success.
pub fn metamorph<T: Serialize + ?Sized>(actor: &str, input: &T, build: Option<&str>) -> Result<()> {
    Ok(wit::metamorph(actor, Some(&input_text(input)?), build)?)
}

/// Aborts a run; gracefully, it gets `aborting` first. The run as it is then.
pub fn abort(run_id: &str, gracefully: bool) -> Result<Run> {
    Ok(wit::abort_run(run_id, gracefully)?)
}
