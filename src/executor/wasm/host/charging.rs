//! `wactor:actor/charging` over `platform::charging`.

use super::bindings::wactor::actor::charging::{ChargeResult, EventPrice, Host, Pricing, PricingModel};
use super::{ActorHost, HostResult};

fn host_failure(e: PlatformError) -> wasmtime::Error {
    wasmtime::Error::msg(format!("reading the run's charges: {e}"))
}
use crate::platform::charging::pricing::{self, PricingModel as Model};
use crate::platform::error::PlatformError;

impl Host for ActorHost<'_> {
    async fn charge(&mut self, event: String, count: u32, idempotency_key: Option<String>) -> HostResult<ChargeResult> {
        let run_id = self.ctx.run.id.clone();
        let result = self.ctx.platform.charge(&run_id, &event, count as u64, idempotency_key.as_deref())?;
        // Durable before anything the guest does next is seen outside (group commit).
        self.ctx.writes.note();
        Ok(ChargeResult {
            event_charge_limit_reached: result.event_charge_limit_reached,
            charged_count: result.charged_count,
            chargeable_within_limit: result.chargeable_within_limit.into_iter().collect(),
        })
    }

    async fn pricing_info(&mut self) -> wasmtime::Result<Pricing> {
        let run = &self.ctx.run;
        let pricing = run.pricing_info.as_ref().and_then(|p| p.parse());
        let (model, events) = match pricing.as_ref().map(|p| &p.model) {
            None | Some(Model::Free) => (PricingModel::Free, Vec::new()),
            Some(Model::PricePerDatasetItem { price_per_unit_usd, unit_name }) => (
                PricingModel::PricePerDatasetItem,
                vec![EventPrice { name: pricing::DATASET_ITEM_EVENT.to_owned(), title: unit_name.clone(), price_usd: *price_per_unit_usd }],
            ),
            Some(Model::PayPerEvent { pricing_per_event, .. }) => (
                PricingModel::PayPerEvent,
                pricing_per_event
                    .actor_charge_events
                    .iter()
                    .map(|(name, e)| EventPrice {
                        name: name.clone(),
                        title: e.event_title.clone(),
                        price_usd: e.event_price_usd.unwrap_or(0.0),
                    })
                    .collect(),
            ),
        };
        Ok(Pricing { model, events, max_total_charge_usd: run.options.max_total_charge_usd, max_paid_dataset_items: run.options.max_items })
    }

    // A storage failure reading the run's own totals is the platform's, so a trap.
    async fn charged_event_counts(&mut self) -> wasmtime::Result<Vec<(String, u64)>> {
        let totals = self.ctx.platform.run_charges(&self.ctx.run.id).map_err(host_failure)?;
        Ok(totals.counts.into_iter().collect())
    }

    async fn remaining_budget(&mut self) -> wasmtime::Result<Option<f64>> {
        if self.ctx.run.pricing_info.is_none() {
            return Ok(None);
        }
        self.ctx.platform.remaining_allowance_usd(&self.ctx.run.id).map_err(host_failure)
    }
}
