//! Platform layer: pay-per-event charging. A priced run's charges are
//! clamped to its allowance (`maxTotalChargeUsd`, and the allowance of the
//! run that started it, up the chain), written in one sled batch with their
//! idempotency record, and durable before either door acknowledges them
//! (the HTTP door commits; the WIT door settles before the guest's next
//! visible effect, as for its other writes).
//!
//! - `pricing`: the Actor's `pricingInfos`, checked, and the entry in force
//!
//! Totals live in the `charges` tree (`run id` → [`Totals`]); idempotency
//! records beside them (`run id ++ 0 ++ key`). Amounts are integer nano-USD.
//! Ledgers of runs are cached in memory under one lock; sled stays the
//! truth, so the cache may be dropped at any time.

pub mod pricing;

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use self::pricing::{nanos_to_usd, usd_to_nanos, Nanos, PricingModel, ACTOR_START_EVENT, DATASET_ITEM_EVENT, RESERVED_PREFIX};
use super::db::owned_key;
use super::error::{PlatformError, Result};
use super::runs::Run;
use super::Platform;

/// How deep a chain of runs started by runs may go before charging refuses it.
const MAX_CHAIN_DEPTH: usize = 32;
/// Past this many cached ledgers the cache starts over (sled is the truth).
const MAX_CACHED_LEDGERS: usize = 100_000;
/// The most events one charge may name (a count past it is a client's mistake, not a workload).
pub const MAX_CHARGE_COUNT: u64 = 1_000_000_000;
/// The longest idempotency key kept.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 256;

/// What a charge did, in the SDK's terms (`ChargeResult`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChargeResult {
    /// No more of this event fits within the allowance.
    pub event_charge_limit_reached: bool,
    /// How many were charged: the count asked for, or what fitted.
    pub charged_count: u64,
    /// How many of each priced event still fit; `None`: no limit.
    pub chargeable_within_limit: BTreeMap<String, Option<u64>>,
}

/// What a run has been charged, as stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    #[serde(default)]
    pub counts: BTreeMap<String, u64>,
    /// Charged to this run by itself (and by the platform for it).
    #[serde(default)]
    pub own_nanos: Nanos,
    /// Charged to runs it started (and theirs): also out of its allowance.
    #[serde(default)]
    pub children_nanos: Nanos,
}

impl Totals {
    pub fn own_usd(&self) -> f64 {
        nanos_to_usd(self.own_nanos)
    }

    /// What counts against the run's allowance.
    pub fn total_usd(&self) -> f64 {
        nanos_to_usd(self.own_nanos.saturating_add(self.children_nanos))
    }
}

/// A charge made under an idempotency key: a retry gets the same result.
#[derive(Serialize, Deserialize)]
struct KeyedCharge {
    event: String,
    count: u64,
    result: ChargeResult,
}

/// What a run may be charged, fixed when it starts (or is resurrected).
#[derive(Debug)]
struct Terms {
    prices: BTreeMap<String, Nanos>,
    pay_per_event: bool,
    /// `None`: no cap of its own.
    budget: Option<Nanos>,
    /// How many default-dataset items may be charged.
    max_paid_items: Option<u64>,
    parent: Option<String>,
}

impl Terms {
    fn of(run: &Run) -> Terms {
        let pricing = run.pricing_info.as_ref().and_then(|p| p.parse());
        let pricing = pricing.as_ref();
        Terms {
            prices: pricing.map(|p| p.prices()).unwrap_or_default(),
            pay_per_event: pricing.is_some_and(|p| matches!(p.model, PricingModel::PayPerEvent { .. })),
            budget: run.options.max_total_charge_usd.map(usd_to_nanos),
            max_paid_items: run.options.max_items,
            parent: run.parent_run_id.clone(),
        }
    }
}

struct Ledger {
    terms: Arc<Terms>,
    totals: Totals,
}

/// The charging state of the server: the `charges` tree and the ledger cache.
pub struct Charging {
    tree: sled::Tree,
    ledgers: Mutex<HashMap<String, Ledger>>,
    /// Default dataset → its run, for running runs whose items are priced.
    priced_datasets: RwLock<HashMap<String, String>>,
}

impl Charging {
    pub(crate) fn new(tree: sled::Tree) -> Charging {
        Charging { tree, ledgers: Mutex::new(HashMap::new()), priced_datasets: RwLock::new(HashMap::new()) }
    }

    fn read_totals(&self, run_id: &str) -> Result<Totals> {
        Ok(match self.tree.get(run_id.as_bytes())? {
            Some(raw) => serde_json::from_slice(&raw)?,
            None => Totals::default(),
        })
    }
}

type Ledgers = HashMap<String, Ledger>;

impl Platform {
    /// Charges `count` of `event` to a running pay-per-event run: the
    /// Actor's own charge, through either door. Clamped to what fits in the
    /// allowance; nothing fitting is an error, as is an unknown event.
    /// With `idempotency_key`, a repeated charge returns the first result.
    pub fn charge(&self, run_id: &str, event: &str, count: u64, idempotency_key: Option<&str>) -> Result<ChargeResult> {
        if event.starts_with(RESERVED_PREFIX) {
            return Err(PlatformError::invalid_kind(
                "cannot-charge-apify-event",
                format!("\"{event}\" is one of the platform's own events ({RESERVED_PREFIX}*): the platform charges it itself"),
            ));
        }
        if count == 0 || count > MAX_CHARGE_COUNT {
            return Err(PlatformError::invalid_kind("invalid-value", format!("count must be from 1 to {MAX_CHARGE_COUNT}, not {count}")));
        }
        if let Some(key) = idempotency_key {
            if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LEN {
                return Err(PlatformError::invalid_kind(
                    "invalid-value",
                    format!("The idempotency key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} bytes"),
                ));
            }
        }
        self.check_chargeable_run(run_id)?;
        let charging = &self.charging;
        let mut ledgers = charging.ledgers.lock();
        if let Some(key) = idempotency_key {
            if let Some(raw) = charging.tree.get(owned_key(run_id, key.as_bytes()))? {
                let earlier: KeyedCharge = serde_json::from_slice(&raw)?;
                if earlier.event != event || earlier.count != count {
                    return Err(PlatformError::Conflict(format!(
                        "The idempotency key \"{key}\" was used for another charge ({} × {})",
                        earlier.count, earlier.event
                    )));
                }
                return Ok(earlier.result);
            }
        }
        let terms = self.ledger(&mut ledgers, run_id)?.terms.clone();
        if !terms.pay_per_event {
            return Err(PlatformError::invalid_kind(
                "cannot-charge-non-pay-per-event-actor",
                "The run's Actor is not priced per event (pricingModel PAY_PER_EVENT), so it cannot charge",
            ));
        }
        let Some(&price) = terms.prices.get(event) else {
            let known: Vec<&str> = terms.prices.keys().map(String::as_str).filter(|e| !e.starts_with(RESERVED_PREFIX)).collect();
            return Err(PlatformError::invalid_kind(
                "unknown-charge-event",
                format!("The Actor's pricing has no event \"{event}\"; its events are: {}", known.join(", ")),
            ));
        };
        let fits = self.fitting(&mut ledgers, run_id, price)?;
        let charged = fits.map_or(count, |f| f.min(count));
        if charged == 0 {
            let allowance = self.allowance_message(&mut ledgers, run_id)?;
            return Err(PlatformError::limit(
                "max-total-charge-reached",
                format!("Charging {event} (${}) would go over {allowance}; nothing was charged", nanos_to_usd(price)),
            ));
        }
        let key = idempotency_key.map(|k| (k, count));
        self.book(&mut ledgers, run_id, event, charged, price, key)
    }

    /// Charges a platform event (start, dataset items) for a run, clamped
    /// silently: what does not fit is not charged. How many were.
    fn charge_synthetic(&self, ledgers: &mut Ledgers, run_id: &str, event: &str, count: u64) -> Result<u64> {
        let terms = self.ledger(ledgers, run_id)?.terms.clone();
        let Some(&price) = terms.prices.get(event) else { return Ok(0) };
        let mut charged = self.fitting(ledgers, run_id, price)?.map_or(count, |f| f.min(count));
        if event == DATASET_ITEM_EVENT {
            if let Some(max) = terms.max_paid_items {
                let so_far = self.ledger(ledgers, run_id)?.totals.counts.get(event).copied().unwrap_or(0);
                charged = charged.min(max.saturating_sub(so_far));
            }
        }
        if charged > 0 {
            self.book(ledgers, run_id, event, charged, price, None)?;
        }
        Ok(charged)
    }

    /// The platform's start event for a run that starts or is resurrected:
    /// one per GB of memory, at least one.
    pub(crate) fn charge_run_start(&self, run: &Run) -> Result<u64> {
        if run.pricing_info.is_none() {
            return Ok(0);
        }
        let mut ledgers = self.charging.ledgers.lock();
        // The terms are the run's as given (a resurrection can change its options);
        // a run just created has no charges to read.
        let totals = if run.stats.resurrect_count == 0 { Totals::default() } else { self.charging.read_totals(&run.id)? };
        ledgers.insert(run.id.clone(), Ledger { terms: Arc::new(Terms::of(run)), totals });
        let count = (run.options.memory_mbytes as u64 / 1024).max(1);
        self.charge_synthetic(&mut ledgers, &run.id, ACTOR_START_EVENT, count)
    }

    /// A priced run's supervisor starts: items in its default dataset are charged from now on.
    pub(crate) fn charging_run_started(&self, run: &Run) {
        if run.pricing_info.is_none() {
            return;
        }
        let priced_items = match self.ledger(&mut self.charging.ledgers.lock(), &run.id) {
            Ok(ledger) => ledger.terms.prices.contains_key(DATASET_ITEM_EVENT),
            Err(e) => {
                tracing::error!(run_id = run.id, error = %e, "loading a run's charges");
                false
            }
        };
        if priced_items {
            self.charging.priced_datasets.write().insert(run.default_dataset_id.clone(), run.id.clone());
        }
    }

    /// A run ended or left this server: its ledger and dataset entry go.
    pub(crate) fn charging_run_ended(&self, run: &Run) {
        if run.pricing_info.is_none() {
            return;
        }
        let mut datasets = self.charging.priced_datasets.write();
        if datasets.get(&run.default_dataset_id) == Some(&run.id) {
            datasets.remove(&run.default_dataset_id);
        }
        drop(datasets);
        self.charging.ledgers.lock().remove(&run.id);
    }

    /// Items written to a dataset: if it is a running priced run's default
    /// dataset, each is charged as `apify-default-dataset-item` (what fits).
    pub(crate) fn charge_dataset_items(&self, dataset_id: &str, items: u64) -> Result<u64> {
        let run_id = match self.charging.priced_datasets.read().get(dataset_id) {
            Some(run_id) => run_id.clone(),
            None => return Ok(0),
        };
        let mut ledgers = self.charging.ledgers.lock();
        self.charge_synthetic(&mut ledgers, &run_id, DATASET_ITEM_EVENT, items)
    }

    /// A deleted run's totals and idempotency records go with it.
    pub(crate) fn forget_charges(&self, run_id: &str) -> Result<()> {
        self.charging.ledgers.lock().remove(run_id);
        self.charging.tree.remove(run_id.as_bytes())?;
        super::db::remove_owned(&self.charging.tree, run_id)
    }

    /// What a run has been charged so far.
    pub fn run_charges(&self, run_id: &str) -> Result<Totals> {
        if let Some(ledger) = self.charging.ledgers.lock().get(run_id) {
            return Ok(ledger.totals.clone());
        }
        self.charging.read_totals(run_id)
    }

    /// How much more a run may be charged, counting the allowances of the
    /// runs above it; `None`: no limit.
    pub fn remaining_allowance_usd(&self, run_id: &str) -> Result<Option<f64>> {
        let mut ledgers = self.charging.ledgers.lock();
        Ok(self.remaining(&mut ledgers, run_id)?.map(nanos_to_usd))
    }

    /// How many of each priced event still fit, as a charge reports it.
    pub fn chargeable_within_limit(&self, run_id: &str) -> Result<BTreeMap<String, Option<u64>>> {
        let mut ledgers = self.charging.ledgers.lock();
        self.chargeable(&mut ledgers, run_id)
    }

    /// The `maxTotalChargeUsd` a run started by `parent` gets: what it asks
    /// for, but never more than the parent has left (and the parent's
    /// remaining allowance when it asks for none).
    pub(crate) fn child_allowance(&self, parent_run_id: &str, asked: Option<f64>) -> Result<Option<f64>> {
        let left = self.remaining_allowance_usd(parent_run_id)?;
        Ok(match (asked, left) {
            (Some(a), Some(l)) => Some(a.min(l)),
            (None, l) => l,
            (a, None) => a,
        })
    }

    /// Only a run that is executing (READY, RUNNING, ...) may charge.
    fn check_chargeable_run(&self, run_id: &str) -> Result<()> {
        match self.active.status(run_id) {
            Some(status) if !status.is_terminal() => Ok(()),
            _ => {
                let run = self.get_run(run_id)?;
                Err(PlatformError::invalid_kind(
                    "invalid-run-status",
                    format!("Only a running run can be charged; this one is {}", run.status.as_str()),
                ))
            }
        }
    }

    /// The run's ledger, loaded from its record and the charges tree if not cached.
    fn ledger<'l>(&self, ledgers: &'l mut Ledgers, run_id: &str) -> Result<&'l mut Ledger> {
        if !ledgers.contains_key(run_id) {
            if ledgers.len() >= MAX_CACHED_LEDGERS {
                ledgers.clear();
            }
            let run = self.get_stored_run(run_id)?;
            let totals = self.charging.read_totals(run_id)?;
            ledgers.insert(run_id.to_owned(), Ledger { terms: Arc::new(Terms::of(&run)), totals });
        }
        Ok(ledgers.get_mut(run_id).expect("inserted above"))
    }

    /// The runs whose allowances a charge to `run_id` comes out of: itself, then up.
    fn chain(&self, ledgers: &mut Ledgers, run_id: &str) -> Result<Vec<String>> {
        let mut chain = vec![run_id.to_owned()];
        while let Some(parent) = self.ledger(ledgers, chain.last().expect("never empty"))?.terms.parent.clone() {
            if chain.len() >= MAX_CHAIN_DEPTH || chain.contains(&parent) {
                return Err(PlatformError::limit(
                    "run-chain-too-deep",
                    format!("The run is {} runs below the run that started the chain; charging stops at {MAX_CHAIN_DEPTH}", chain.len()),
                ));
            }
            chain.push(parent);
        }
        Ok(chain)
    }

    /// The least any run in the chain has left; `None` when none has a cap.
    fn remaining(&self, ledgers: &mut Ledgers, run_id: &str) -> Result<Option<Nanos>> {
        let mut least: Option<Nanos> = None;
        for id in self.chain(ledgers, run_id)? {
            let ledger = self.ledger(ledgers, &id)?;
            if let Some(budget) = ledger.terms.budget {
                let spent = ledger.totals.own_nanos.saturating_add(ledger.totals.children_nanos);
                let left = budget.saturating_sub(spent);
                least = Some(least.map_or(left, |l| l.min(left)));
            }
        }
        Ok(least)
    }

    /// How many events at `price` fit; `None`: any number (free, or no cap).
    fn fitting(&self, ledgers: &mut Ledgers, run_id: &str, price: Nanos) -> Result<Option<u64>> {
        if price == 0 {
            return Ok(None);
        }
        Ok(self.remaining(ledgers, run_id)?.map(|left| left / price))
    }

    fn chargeable(&self, ledgers: &mut Ledgers, run_id: &str) -> Result<BTreeMap<String, Option<u64>>> {
        let terms = self.ledger(ledgers, run_id)?.terms.clone();
        let left = self.remaining(ledgers, run_id)?;
        Ok(terms
            .prices
            .iter()
            .filter(|_| terms.pay_per_event)
            .map(|(name, &price)| (name.clone(), left.filter(|_| price > 0).map(|l| l / price)))
            .collect())
    }

    /// "the run's maxTotalChargeUsd of $X" or the allowance above it that is the tighter.
    fn allowance_message(&self, ledgers: &mut Ledgers, run_id: &str) -> Result<String> {
        let own = self.ledger(ledgers, run_id)?.terms.budget;
        let left = self.remaining(ledgers, run_id)?.unwrap_or(0);
        Ok(match own {
            Some(b) => format!(
                "the run's maxTotalChargeUsd of ${} (${} left, counting the runs that started it)",
                nanos_to_usd(b),
                nanos_to_usd(left)
            ),
            None => format!("the allowance of the run that started this one (${} left)", nanos_to_usd(left)),
        })
    }

    /// Books `count` × `event` at `price`: the run's totals, every run above
    /// it, and the idempotency record, in one atomic batch; the cache
    /// follows only once sled has it.
    fn book(
        &self,
        ledgers: &mut Ledgers,
        run_id: &str,
        event: &str,
        count: u64,
        price: Nanos,
        key: Option<(&str, u64)>,
    ) -> Result<ChargeResult> {
        let amount = price.saturating_mul(count);
        let chain = self.chain(ledgers, run_id)?;
        let mut batch = sled::Batch::default();
        let mut updated = Vec::with_capacity(chain.len());
        for (i, id) in chain.iter().enumerate() {
            let mut totals = self.ledger(ledgers, id)?.totals.clone();
            if i == 0 {
                let so_far = totals.counts.entry(event.to_owned()).or_default();
                *so_far = so_far.saturating_add(count);
                totals.own_nanos = totals.own_nanos.saturating_add(amount);
            } else {
                totals.children_nanos = totals.children_nanos.saturating_add(amount);
            }
            batch.insert(id.as_bytes(), serde_json::to_vec(&totals)?);
            updated.push((id.clone(), totals));
        }
        let single_write = updated.len() == 1 && key.is_none();
        // The result is computed as it will be once booked.
        let saved: Vec<Totals> = updated.iter().map(|(id, _)| ledgers[id].totals.clone()).collect();
        for (id, totals) in &updated {
            ledgers.get_mut(id).expect("loaded by chain").totals = totals.clone();
        }
        let result = self.chargeable(ledgers, run_id).map(|chargeable| ChargeResult {
            event_charge_limit_reached: chargeable.get(event).copied().flatten() == Some(0),
            charged_count: count,
            chargeable_within_limit: chargeable,
        });
        let applied = result.and_then(|result| {
            if let Some((k, asked)) = key {
                let record = KeyedCharge { event: event.to_owned(), count: asked, result: result.clone() };
                batch.insert(owned_key(run_id, k.as_bytes()), serde_json::to_vec(&record)?);
            }
            if single_write {
                // One record: a plain insert is as atomic, and does not wait on sled's batch lock.
                let (id, totals) = &updated[0];
                self.charging.tree.insert(id.as_bytes(), serde_json::to_vec(totals)?)?;
            } else {
                self.charging.tree.apply_batch(batch)?;
            }
            Ok(result)
        });
        if applied.is_err() {
            for ((id, _), old) in updated.iter().zip(saved) {
                ledgers.get_mut(id).expect("loaded by chain").totals = old;
            }
        }
        applied
    }

    /// The four variables the real SDK reads so it needs no start-up call
    /// (API-COMPAT §3.6), with the run's charges as they are now.
    pub(crate) fn charging_env(&self, run: &Run) -> Vec<(String, String)> {
        let mut env = Vec::with_capacity(4);
        let pricing = match &run.pricing_info {
            Some(p) => p.json().to_owned(),
            None => r#"{"pricingModel":"FREE"}"#.to_owned(),
        };
        env.push(("APIFY_ACTOR_PRICING_INFO".to_owned(), pricing));
        let totals = self.run_charges(&run.id).unwrap_or_default();
        env.push(("APIFY_CHARGED_ACTOR_EVENT_COUNTS".to_owned(), serde_json::to_string(&totals.counts).unwrap_or_default()));
        // The SDK counts the run's own charges against this: its spend so far plus what is left.
        let left = if run.pricing_info.is_some() { self.remaining_allowance_usd(&run.id).ok().flatten() } else { None };
        if let Some(left) = left {
            env.push(("ACTOR_MAX_TOTAL_CHARGE_USD".to_owned(), format_usd(totals.own_usd() + left)));
        } else if let Some(max) = run.options.max_total_charge_usd {
            env.push(("ACTOR_MAX_TOTAL_CHARGE_USD".to_owned(), format_usd(max)));
        }
        if let Some(max) = run.options.max_items {
            env.push(("ACTOR_MAX_PAID_DATASET_ITEMS".to_owned(), max.to_string()));
        }
        env
    }
}

/// A USD amount without float noise (nine decimals at most).
fn format_usd(usd: f64) -> String {
    let s = format!("{usd:.9}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests;
