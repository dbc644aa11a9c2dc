//! Pay-per-event charging: charge the run's user for the events your
//! Actor's pricing names, within the allowance they gave the run.
//!
//! ```ignore
//! let result = wactor_sdk::charge("page-scraped", 1)?;
//! if result.event_charge_limit_reached {
//!     // The user's budget is spent: finish up.
//! }
//! ```

use std::collections::BTreeMap;

use serde::Serialize;

use crate::bindings::wactor::actor::charging as wit;
use crate::Result;

pub use wit::{EventPrice, Pricing, PricingModel};

/// The platform's event for each item in the run's default dataset.
pub const DATASET_ITEM_EVENT: &str = "apify-default-dataset-item";

/// What a charge did.
#[derive(Debug, Clone, PartialEq)]
pub struct ChargeResult {
    /// No more of this event fits within the allowance.
    pub event_charge_limit_reached: bool,
    /// How many were charged: all asked for, or what fitted.
    pub charged_count: u64,
    /// How many of each event still fit; `None`: no limit.
    pub chargeable_within_limit: BTreeMap<String, Option<u64>>,
}

impl From<wit::ChargeResult> for ChargeResult {
    fn from(r: wit::ChargeResult) -> Self {
        ChargeResult {
            event_charge_limit_reached: r.event_charge_limit_reached,
            charged_count: r.charged_count,
            chargeable_within_limit: r.chargeable_within_limit.into_iter().collect(),
        }
    }
}

/// Charges `count` of `event`. What does not fit in the allowance is not
/// charged (see `charged_count`); when nothing fits, [`crate::Error::LimitExceeded`].
pub fn charge(event: &str, count: u32) -> Result<ChargeResult> {
    Ok(wit::charge(event, count, None)?.into())
}

/// [`charge`], once per `idempotency_key`: a retry after a failure charges nothing more.
pub fn charge_once(event: &str, count: u32, idempotency_key: &str) -> Result<ChargeResult> {
    Ok(wit::charge(event, count, Some(idempotency_key))?.into())
}

/// The pricing the run started with.
pub fn pricing() -> Pricing {
    wit::pricing_info()
}

/// What the run has been charged so far, per event.
pub fn charged_event_counts() -> BTreeMap<String, u64> {
    wit::charged_event_counts().into_iter().collect()
}

/// How much more the run may be charged; `None`: no cap.
pub fn remaining_budget() -> Option<f64> {
    wit::remaining_budget()
}

/// Pushes items to the default dataset and charges `event` once per item,
/// pushing only as many as the allowance pays for (each costs `event` plus
/// the platform's `apify-default-dataset-item`, if priced). Without
/// pay-per-event pricing every item is pushed and nothing is charged.
pub fn push_data_charged<T: Serialize>(items: &[T], event: &str) -> Result<ChargeResult> {
    let pricing = pricing();
    let texts = items.iter().map(serde_json::to_string).collect::<std::result::Result<Vec<_>, _>>()?;
    if pricing.model != PricingModel::PayPerEvent {
        crate::with_default_dataset(|d| d.push_texts(texts))?;
        return Ok(ChargeResult { event_charge_limit_reached: false, charged_count: 0, chargeable_within_limit: BTreeMap::new() });
    }
    let price = |name: &str| pricing.events.iter().find(|e| e.name == name).map_or(0, |e| nanos(e.price_usd));
    let each = price(event) + price(DATASET_ITEM_EVENT);
    let fits = match remaining_budget() {
        Some(left) if each > 0 => (nanos(left) / each) as usize,
        _ => texts.len(),
    };
    let n = fits.min(texts.len());
    if n == 0 {
        // Nothing fits: the platform says so (with the allowance in the message).
        return charge(event, 1);
    }
    crate::with_default_dataset(|d| d.push_texts(texts[..n].to_vec()))?;
    charge(event, n as u32)
}

fn nanos(usd: f64) -> u64 {
    (usd * 1e9).round().max(0.0) as u64
}
