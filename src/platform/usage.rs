//! Platform layer: what runs used, summed per day over a monthly usage
//! cycle (`GET /v2/users/me/usage/monthly`): compute units at the server's
//! price, and pay-per-event charges. A run counts on the day it started.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use std::collections::BTreeMap;

use super::error::Result;
use super::runs::{Run, COMPUTE_UNITS};
use super::Platform;

/// The usage kind of pay-per-event charges (events, and what they cost).
pub const PAY_PER_EVENT: &str = "PAY_PER_EVENT";

/// One kind of usage: how much, and what it cost.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UsageItem {
    pub quantity: f64,
    pub amount_usd: f64,
}

/// The usage of one calendar month (UTC), per day and in all.
#[derive(Debug, Clone)]
pub struct MonthlyUsage {
    pub start_at: DateTime<Utc>,
    /// The cycle's last millisecond.
    pub end_at: DateTime<Utc>,
    pub daily: BTreeMap<NaiveDate, BTreeMap<&'static str, UsageItem>>,
}

impl MonthlyUsage {
    /// Each kind summed over the month.
    pub fn total(&self) -> BTreeMap<&'static str, UsageItem> {
        let mut total: BTreeMap<&'static str, UsageItem> = BTreeMap::new();
        for day in self.daily.values() {
            for (kind, item) in day {
                let t = total.entry(kind).or_default();
                t.quantity += item.quantity;
                t.amount_usd += item.amount_usd;
            }
        }
        total
    }
}

impl Platform {
    /// A user's usage in the month that holds `date` (today's month by default).
    pub fn monthly_usage(&self, user_id: &str, date: Option<NaiveDate>) -> Result<MonthlyUsage> {
        let day = date.unwrap_or_else(|| Utc::now().date_naive());
        let first = NaiveDate::from_ymd_opt(day.year(), day.month(), 1).expect("the first of a month exists");
        let next = if day.month() == 12 {
            NaiveDate::from_ymd_opt(day.year() + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(day.year(), day.month() + 1, 1)
        }
        .expect("the first of a month exists");
        let start_at = Utc.from_utc_datetime(&first.and_hms_opt(0, 0, 0).expect("midnight"));
        let next_at = Utc.from_utc_datetime(&next.and_hms_opt(0, 0, 0).expect("midnight"));
        let mut usage = MonthlyUsage { start_at, end_at: next_at - chrono::Duration::milliseconds(1), daily: BTreeMap::new() };
        let from = (start_at.timestamp_millis() as u64).to_be_bytes();
        let to = (next_at.timestamp_millis() as u64).to_be_bytes();
        for entry in self.db.run_index.range(from..to) {
            let (key, _) = entry?;
            let Some(run_id) = key.get(8..).and_then(|id| std::str::from_utf8(id).ok()) else { continue };
            let Ok(mut run) = self.get_stored_run(run_id) else { continue };
            if run.user_id != user_id {
                continue;
            }
            self.overlay_charges(&mut run)?;
            add_run(&mut usage, &run, self.config.compute_unit_price_usd);
        }
        Ok(usage)
    }
}

fn add_run(usage: &mut MonthlyUsage, run: &Run, cu_price: f64) {
    let day = usage.daily.entry(run.started_at.date_naive()).or_default();
    let units = run.usage.get(COMPUTE_UNITS).copied().unwrap_or(0.0);
    if units > 0.0 {
        let compute = day.entry(COMPUTE_UNITS).or_default();
        compute.quantity += units;
        compute.amount_usd += units * cu_price;
    }
    if let Some(counts) = &run.charged_event_counts {
        let events: u64 = counts.values().sum();
        if events > 0 {
            let charged = day.entry(PAY_PER_EVENT).or_default();
            charged.quantity += events as f64;
            charged.amount_usd += run.usage_total_usd - run.usage_usd.get(COMPUTE_UNITS).copied().unwrap_or(0.0);
        }
    }
}

/// The account's own limits (`PUT /v2/users/me/limits`), kept in the meta tree.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountLimits {
    /// No run starts once the month's usage reaches this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_monthly_usage_usd: Option<f64>,
}

/// Where a user's account limits are kept.
fn limits_key(user_id: &str) -> String {
    format!("account-limits/{user_id}")
}

/// How long a month's usage total is reused by the start-time check before it is summed again.
const USAGE_CHECK_REUSE: std::time::Duration = std::time::Duration::from_secs(5);

impl Platform {
    /// The user's unfinished runs and their memory, as they asked for it.
    pub fn active_load_of(&self, user_id: &str) -> (u32, u64) {
        let load = self.active.loads.of(user_id);
        (load.runs, load.memory_mbytes)
    }

    /// A user's account limits, read from disk once and kept (every run start checks them).
    pub fn account_limits(&self, user_id: &str) -> Result<AccountLimits> {
        if let Some(limits) = self.account_limits.read().get(user_id) {
            return Ok(limits.clone());
        }
        let mut limits: Option<AccountLimits> = super::db::get_json(&self.db.meta, limits_key(user_id))?;
        if limits.is_none() && user_id == self.admin.id {
            // From before limits were per user: the server's were the admin's.
            limits = super::db::get_json(&self.db.meta, "account-limits")?;
        }
        let limits = limits.unwrap_or_default();
        self.account_limits.write().insert(user_id.to_owned(), limits.clone());
        Ok(limits)
    }

    pub fn set_account_limits(&self, user_id: &str, limits: &AccountLimits) -> Result<()> {
        if let Some(max) = limits.max_monthly_usage_usd {
            if !max.is_finite() || max < 0.0 {
                return Err(super::error::PlatformError::invalid_kind(
                    "invalid-value",
                    format!("maxMonthlyUsageUsd must be a non-negative number, not {max}"),
                ));
            }
        }
        super::db::put_json(&self.db.meta, limits_key(user_id), limits)?;
        self.account_limits.write().insert(user_id.to_owned(), limits.clone());
        self.usage_checked.lock().remove(user_id);
        Ok(())
    }

    /// Refuses a run once this month's usage reached the account's limit.
    /// The month's total is summed at most every few seconds, not per start.
    pub(crate) fn check_usage_limit(&self, user_id: &str) -> Result<()> {
        let Some(max) = self.account_limits(user_id)?.max_monthly_usage_usd else { return Ok(()) };
        let cached = self.usage_checked.lock().get(user_id).copied();
        let used = match cached {
            Some((at, used)) if at.elapsed() < USAGE_CHECK_REUSE => used,
            _ => {
                let used: f64 = self.monthly_usage(user_id, None)?.total().values().map(|i| i.amount_usd).sum();
                self.usage_checked.lock().insert(user_id.to_owned(), (std::time::Instant::now(), used));
                used
            }
        };
        if used >= max {
            return Err(super::error::PlatformError::limit(
                "monthly-usage-limit-exceeded",
                format!("This month's usage (${used:.4}) reached the account's limit of ${max}; raise maxMonthlyUsageUsd to start runs"),
            ));
        }
        Ok(())
    }
}
