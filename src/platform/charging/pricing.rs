//! How an Actor is priced: Apify's `pricingInfos` entries, checked, and
//! the one in force at a given time.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::ids::ts;

/// Charged by the platform at each start (and resurrection) of a priced run:
/// one per GB of memory, at least one.
pub const ACTOR_START_EVENT: &str = "apify-actor-start";
/// Charged by the platform for each item written to a run's default dataset.
pub const DATASET_ITEM_EVENT: &str = "apify-default-dataset-item";
/// Event names with this prefix belong to the platform.
pub const RESERVED_PREFIX: &str = "apify-";
/// The platform's own events, which a developer may price but an Actor cannot charge.
pub const SYNTHETIC_EVENTS: [&str; 2] = [ACTOR_START_EVENT, DATASET_ITEM_EVENT];

/// The most a single event (or dataset item) may cost.
pub const MAX_PRICE_USD: f64 = 10_000.0;
/// The most events one pay-per-event pricing may define.
pub const MAX_EVENTS: usize = 100;
const MAX_EVENT_NAME_LEN: usize = 100;
const MAX_TITLE_LEN: usize = 200;
const MAX_DESCRIPTION_LEN: usize = 2000;
/// How many pricing entries (past, present and announced) an Actor keeps.
pub const MAX_PRICING_INFOS: usize = 100;

/// Amounts are kept in nano-USD (1e-9 USD): integer arithmetic, so a total
/// re-read after a crash is exactly what was charged.
pub type Nanos = u64;
pub const NANOS_PER_USD: f64 = 1e9;

pub fn usd_to_nanos(usd: f64) -> Nanos {
    (usd * NANOS_PER_USD).round().max(0.0) as Nanos
}

pub fn nanos_to_usd(nanos: Nanos) -> f64 {
    nanos as f64 / NANOS_PER_USD
}

/// One entry of an Actor's `pricingInfos`; the run records the one in force
/// when it started (`pricingInfo`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PricingInfo {
    #[serde(flatten)]
    pub model: PricingModel,
    #[serde(default)]
    pub apify_margin_percentage: f64,
    #[serde(default, with = "ts::option", skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    /// From when this entry is in force (announced prices lie in the future).
    #[serde(default, with = "ts::option", skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
}

/// The pricing a run started with, kept as the JSON it was recorded in: a
/// run's record is read and rewritten many times in its life, and the
/// pricing is parsed only where charging needs it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FrozenPricing(Box<serde_json::value::RawValue>);

impl FrozenPricing {
    pub fn new(pricing: &PricingInfo) -> FrozenPricing {
        FrozenPricing(serde_json::value::to_raw_value(pricing).expect("pricing serialises"))
    }

    /// The pricing; `None` only for a record damaged on disk (then nothing is charged).
    pub fn parse(&self) -> Option<PricingInfo> {
        serde_json::from_str(self.0.get()).ok()
    }

    pub fn json(&self) -> &str {
        self.0.get()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "pricingModel", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PricingModel {
    Free,
    #[serde(rename_all = "camelCase")]
    PayPerEvent {
        pricing_per_event: PricingPerEvent,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        minimal_max_total_charge_usd: Option<f64>,
    },
    /// Pay per result: each item in the run's default dataset.
    #[serde(rename_all = "camelCase")]
    PricePerDatasetItem {
        #[serde(default = "default_unit_name")]
        unit_name: String,
        price_per_unit_usd: f64,
    },
}

fn default_unit_name() -> String {
    "result".to_owned()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PricingPerEvent {
    pub actor_charge_events: BTreeMap<String, ChargeEvent>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChargeEvent {
    pub event_title: String,
    #[serde(default)]
    pub event_description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_price_usd: Option<f64>,
    /// Accepted on input only to be refused with a clear message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_tiered_pricing_usd: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_primary_event: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_one_time_event: Option<bool>,
}

impl PricingInfo {
    pub fn is_free(&self) -> bool {
        matches!(self.model, PricingModel::Free)
    }

    pub fn model_name(&self) -> &'static str {
        match self.model {
            PricingModel::Free => "FREE",
            PricingModel::PayPerEvent { .. } => "PAY_PER_EVENT",
            PricingModel::PricePerDatasetItem { .. } => "PRICE_PER_DATASET_ITEM",
        }
    }

    /// Rejects what no run could be charged by; each message names the field.
    pub fn validate(&self) -> Result<(), String> {
        check_price("apifyMarginPercentage", self.apify_margin_percentage, 100.0)?;
        match &self.model {
            PricingModel::Free => Ok(()),
            PricingModel::PricePerDatasetItem { unit_name, price_per_unit_usd } => {
                if unit_name.trim().is_empty() || unit_name.len() > MAX_TITLE_LEN {
                    return Err(format!("unitName must be 1 to {MAX_TITLE_LEN} characters"));
                }
                check_price("pricePerUnitUsd", *price_per_unit_usd, MAX_PRICE_USD)
            }
            PricingModel::PayPerEvent { pricing_per_event, minimal_max_total_charge_usd } => {
                if let Some(m) = minimal_max_total_charge_usd {
                    check_price("minimalMaxTotalChargeUsd", *m, f64::MAX)?;
                }
                let events = &pricing_per_event.actor_charge_events;
                if events.is_empty() {
                    return Err("pricingPerEvent.actorChargeEvents must define at least one event".into());
                }
                if events.len() > MAX_EVENTS {
                    return Err(format!(
                        "pricingPerEvent.actorChargeEvents defines {} events, over the limit of {MAX_EVENTS}",
                        events.len()
                    ));
                }
                for (name, event) in events {
                    check_event_name(name)?;
                    let field = format!("actorChargeEvents.{name}");
                    if event.event_title.trim().is_empty() || event.event_title.len() > MAX_TITLE_LEN {
                        return Err(format!("{field}.eventTitle must be 1 to {MAX_TITLE_LEN} characters"));
                    }
                    if event.event_description.len() > MAX_DESCRIPTION_LEN {
                        return Err(format!("{field}.eventDescription is over {MAX_DESCRIPTION_LEN} characters"));
                    }
                    match event.event_price_usd {
                        Some(price) => check_price(&format!("{field}.eventPriceUsd"), price, MAX_PRICE_USD)?,
                        None if event.event_tiered_pricing_usd.is_some() => {
                            return Err(format!("{field}: tiered pricing (eventTieredPricingUsd) is not supported; give eventPriceUsd"))
                        }
                        None => return Err(format!("{field}.eventPriceUsd is missing")),
                    }
                }
                Ok(())
            }
        }
    }

    /// The price of each chargeable event in nano-USD: a pay-per-event
    /// pricing's events, or a pay-per-result pricing's item as the default
    /// dataset's synthetic event. Empty for a free Actor.
    pub fn prices(&self) -> BTreeMap<String, Nanos> {
        match &self.model {
            PricingModel::Free => BTreeMap::new(),
            PricingModel::PricePerDatasetItem { price_per_unit_usd, .. } => {
                BTreeMap::from([(DATASET_ITEM_EVENT.to_owned(), usd_to_nanos(*price_per_unit_usd))])
            }
            PricingModel::PayPerEvent { pricing_per_event, .. } => pricing_per_event
                .actor_charge_events
                .iter()
                .map(|(name, e)| (name.clone(), usd_to_nanos(e.event_price_usd.unwrap_or(0.0))))
                .collect(),
        }
    }
}

fn check_price(field: &str, price: f64, max: f64) -> Result<(), String> {
    if !price.is_finite() || price < 0.0 {
        return Err(format!("{field} must be a number ≥ 0, not {price}"));
    }
    if price > max {
        return Err(format!("{field} is {price}, over the limit of {max}"));
    }
    Ok(())
}

/// Letters, digits, `-`, `_` and `.`; the `apify-` prefix only for the platform's own events.
pub fn check_event_name(name: &str) -> Result<(), String> {
    let ok_chars = name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if name.is_empty() || name.len() > MAX_EVENT_NAME_LEN || !ok_chars {
        return Err(format!("The event name \"{name}\" must be 1 to {MAX_EVENT_NAME_LEN} letters, digits, '-', '_' or '.'"));
    }
    if name.starts_with(RESERVED_PREFIX) && !SYNTHETIC_EVENTS.contains(&name) {
        return Err(format!(
            "The event name \"{name}\" uses the reserved prefix \"{RESERVED_PREFIX}\"; the platform's own events are {}",
            SYNTHETIC_EVENTS.join(" and ")
        ));
    }
    Ok(())
}

/// Checks a whole `pricingInfos` list and stamps entries that lack them
/// with `createdAt`/`startedAt` = `now`. An entry equal to one in `current`
/// but for its stamps keeps the old stamps, so pushing the same pricing
/// again changes nothing.
pub fn settle_pricing_infos(mut infos: Vec<PricingInfo>, current: &[PricingInfo], now: DateTime<Utc>) -> Result<Vec<PricingInfo>, String> {
    if infos.len() > MAX_PRICING_INFOS {
        return Err(format!("pricingInfos has {} entries, over the limit of {MAX_PRICING_INFOS}", infos.len()));
    }
    for (i, info) in infos.iter_mut().enumerate() {
        info.validate().map_err(|e| format!("pricingInfos[{i}]: {e}"))?;
        if info.started_at.is_none() {
            if let Some(old) =
                current.iter().rev().find(|o| o.model == info.model && o.apify_margin_percentage == info.apify_margin_percentage)
            {
                info.started_at = old.started_at;
                info.created_at = info.created_at.or(old.created_at);
            }
        }
        info.started_at = info.started_at.or(Some(now));
        info.created_at = info.created_at.or(Some(now));
    }
    infos.sort_by_key(|i| i.started_at);
    Ok(infos)
}

/// The entry in force at `at`: the latest that started by then.
pub fn in_force(infos: &[PricingInfo], at: DateTime<Utc>) -> Option<&PricingInfo> {
    infos.iter().filter(|i| i.started_at.is_none_or(|s| s <= at)).max_by_key(|i| i.started_at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ppe(events: serde_json::Value) -> PricingInfo {
        serde_json::from_value(json!({"pricingModel": "PAY_PER_EVENT", "pricingPerEvent": {"actorChargeEvents": events}})).unwrap()
    }

    #[test]
    fn apify_shaped_pricing_round_trips_and_validates() {
        let p = ppe(
            json!({"page": {"eventTitle": "Page", "eventPriceUsd": 0.01}, "apify-actor-start": {"eventTitle": "Start", "eventPriceUsd": 0.005}}),
        );
        p.validate().unwrap();
        assert_eq!(p.prices()["page"], 10_000_000);
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["pricingModel"], "PAY_PER_EVENT");
        assert_eq!(v["pricingPerEvent"]["actorChargeEvents"]["page"]["eventDescription"], "");
        let ppr: PricingInfo = serde_json::from_value(json!({"pricingModel": "PRICE_PER_DATASET_ITEM", "pricePerUnitUsd": 0.002})).unwrap();
        assert_eq!(ppr.prices()[DATASET_ITEM_EVENT], 2_000_000);
        assert!(serde_json::from_value::<PricingInfo>(json!({"pricingModel": "FLAT_PRICE_PER_MONTH"})).is_err());
    }

    #[test]
    fn bad_pricing_is_refused_with_the_field_named() {
        let cases = [
            (json!({"page": {"eventTitle": "Page", "eventPriceUsd": -1.0}}), "eventPriceUsd"),
            (json!({"apify-mine": {"eventTitle": "Mine", "eventPriceUsd": 1.0}}), "reserved prefix"),
            (json!({"a b": {"eventTitle": "x", "eventPriceUsd": 1.0}}), "letters, digits"),
            (json!({"page": {"eventTitle": "", "eventPriceUsd": 1.0}}), "eventTitle"),
            (json!({"page": {"eventTitle": "t", "eventTieredPricingUsd": {}}}), "tiered"),
            (json!({}), "at least one"),
        ];
        for (events, needle) in cases {
            let err = ppe(events.clone()).validate().unwrap_err();
            assert!(err.contains(needle), "{events}: {err}");
        }
    }

    #[test]
    fn the_entry_in_force_is_the_latest_started() {
        let now = crate::ids::now();
        let mut a = ppe(json!({"e": {"eventTitle": "E", "eventPriceUsd": 1.0}}));
        a.started_at = Some(now - chrono::Duration::days(2));
        let mut b = ppe(json!({"e": {"eventTitle": "E", "eventPriceUsd": 2.0}}));
        b.started_at = Some(now - chrono::Duration::days(1));
        let mut future = ppe(json!({"e": {"eventTitle": "E", "eventPriceUsd": 3.0}}));
        future.started_at = Some(now + chrono::Duration::days(1));
        let infos = settle_pricing_infos(vec![future, a, b.clone()], &[], now).unwrap();
        let current = in_force(&infos, now).unwrap();
        assert_eq!((current.started_at, &current.model), (b.started_at, &b.model));
        assert!(current.created_at.is_some(), "stamped");
        // The same pricing pushed again keeps its stamps.
        let mut again = b.clone();
        again.started_at = None;
        again.created_at = None;
        let settled = settle_pricing_infos(vec![again], &infos, now + chrono::Duration::hours(1)).unwrap();
        assert_eq!(settled[0].started_at, b.started_at);
    }
}
