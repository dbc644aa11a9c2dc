//! Per-user quotas: unfinished runs, their memory and Standby runs, admitted
//! here; bytes in storages, counted and refused by `storage::bytes`. A start
//! is admitted against the user's load under one lock, so concurrent starts
//! never overshoot; the load is released when the run's supervisor lets go
//! of it (end, migration).

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use super::error::{PlatformError, Result};
use super::Platform;
use crate::limits::Quota;

/// What one run adds to its user's load.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Load {
    pub runs: u32,
    pub memory_mbytes: u64,
    pub standby_runs: u32,
}

impl Load {
    pub(crate) fn of_run(memory_mbytes: u32, standby: bool) -> Load {
        Load { runs: 1, memory_mbytes: memory_mbytes as u64, standby_runs: u32::from(standby) }
    }

    fn add(&mut self, other: Load) {
        self.runs += other.runs;
        self.memory_mbytes += other.memory_mbytes;
        self.standby_runs += other.standby_runs;
    }
}

/// Every user's load now.
#[derive(Default, Clone)]
pub(crate) struct Loads(Arc<Mutex<HashMap<String, Load>>>);

/// One run's share of its user's load, given back when dropped.
pub(crate) struct Admission {
    loads: Loads,
    user_id: String,
    load: Load,
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut loads = self.loads.0.lock();
        if let Some(l) = loads.get_mut(&self.user_id) {
            l.runs = l.runs.saturating_sub(self.load.runs);
            l.memory_mbytes = l.memory_mbytes.saturating_sub(self.load.memory_mbytes);
            l.standby_runs = l.standby_runs.saturating_sub(self.load.standby_runs);
            if *l == Load::default() {
                loads.remove(&self.user_id);
            }
        }
    }
}

impl Loads {
    /// Adds `load` to the user's if `quota` allows it, else says which limit it would pass.
    pub(crate) fn admit(&self, user_id: &str, load: Load, quota: &Quota) -> Result<Admission> {
        // Checked and added under one lock, so concurrent starts cannot both pass.
        let mut loads = self.0.lock();
        let now = loads.get(user_id).copied().unwrap_or_default();
        if let Some(max) = quota.max_concurrent_runs.filter(|&m| now.runs + load.runs > m) {
            return Err(over(
                "max-concurrent-runs-exceeded",
                format!("You have {} unfinished runs, your quota's maxConcurrentRuns is {max}; wait for some to finish", now.runs),
                false,
            ));
        }
        if let Some(max) = quota.max_total_memory_mbytes.filter(|&m| now.memory_mbytes + load.memory_mbytes > m) {
            return Err(over(
                "actor-memory-limit-exceeded",
                format!(
                    "By starting this run ({} MB) your runs would use {} MB, over your quota's maxTotalMemoryMbytes of {max} MB (in use: {} MB)",
                    load.memory_mbytes,
                    now.memory_mbytes + load.memory_mbytes,
                    now.memory_mbytes
                ),
                true,
            ));
        }
        if let Some(max) = quota.max_standby_runs.filter(|&m| now.standby_runs + load.standby_runs > m) {
            return Err(over(
                "max-standby-runs-exceeded",
                format!("You have {} Standby runs, your quota's maxStandbyRuns is {max}", now.standby_runs),
                false,
            ));
        }
        let l = loads.entry(user_id.to_owned()).or_default();
        l.add(load);
        Ok(Admission { loads: self.clone(), user_id: user_id.to_owned(), load })
    }

    /// Counts `load` whatever the quota: a run resumed after a restart was admitted before.
    pub(crate) fn add_unchecked(&self, user_id: &str, load: Load) -> Admission {
        self.0.lock().entry(user_id.to_owned()).or_default().add(load);
        Admission { loads: self.clone(), user_id: user_id.to_owned(), load }
    }

    pub(crate) fn of(&self, user_id: &str) -> Load {
        self.0.lock().get(user_id).copied().unwrap_or_default()
    }
}

fn over(kind: &'static str, message: String, payment: bool) -> PlatformError {
    PlatformError::OverQuota { kind, message, payment }
}

impl Platform {
    /// The quota that applies to a user: theirs over the server's defaults; the admin's own only.
    pub fn quota_of(&self, user_id: &str) -> Result<Quota> {
        let user = self.get_user(user_id)?;
        let own = user.quota.unwrap_or_default();
        Ok(if user.is_admin { own } else { own.over(&self.config.limits.default_user_quota) })
    }

    /// Sets a user's quota (the admin's call); fields left out take the server's defaults.
    pub fn set_quota(&self, user_ref: &str, quota: Quota) -> Result<Quota> {
        let user = self.get_user(user_ref)?;
        super::db::modify_json(&self.db.users, &user.id, |u: &mut super::users::User| {
            u.quota = Some(quota.clone());
            Ok(())
        })?;
        self.refresh_storage_limit(&user.id)?;
        self.quota_of(&user.id)
    }

    /// Tells the storages a user's `maxStorageBytes` (at start, and when it may have changed).
    pub(crate) fn refresh_storage_limit(&self, user_id: &str) -> Result<()> {
        self.storage_bytes.set_limit(user_id, self.quota_of(user_id)?.max_storage_bytes);
        Ok(())
    }

    /// Admits one more run of `user_id` with `memory_mbytes`, against the user's quota.
    pub(crate) fn admit_run(&self, user_id: &str, memory_mbytes: u32, standby: bool) -> Result<Admission> {
        self.active.loads.admit(user_id, Load::of_run(memory_mbytes, standby), &self.quota_of(user_id)?)
    }

    /// A user's quota and what their runs hold of it now.
    pub fn quota_view(&self, user_ref: &str) -> Result<QuotaView> {
        let user = self.get_user(user_ref)?;
        let now = self.active.loads.of(&user.id);
        let user_id = user.id.clone();
        Ok(QuotaView {
            quota: self.quota_of(&user.id)?,
            user_id: user.id,
            current: QuotaUse {
                concurrent_runs: now.runs,
                total_memory_mbytes: now.memory_mbytes,
                standby_runs: now.standby_runs,
                storage_bytes: self.storage_bytes.of_user(&user_id)?,
            },
        })
    }
}

/// `GET /v2/users/{user}/quota`: the quota in force and what is held of it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuotaView {
    pub user_id: String,
    pub quota: Quota,
    pub current: QuotaUse,
}

/// What a user's unfinished runs hold now.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuotaUse {
    pub concurrent_runs: u32,
    pub total_memory_mbytes: u64,
    pub standby_runs: u32,
    pub storage_bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admission_stops_at_each_limit_and_dropping_gives_it_back() {
        let loads = Loads::default();
        let quota =
            Quota { max_concurrent_runs: Some(2), max_total_memory_mbytes: Some(1024), max_standby_runs: Some(1), max_storage_bytes: None };
        let a = loads.admit("u", Load::of_run(512, false), &quota).unwrap();
        let e = loads.admit("u", Load::of_run(1024, false), &quota).err().unwrap();
        assert!(matches!(e, PlatformError::OverQuota { kind: "actor-memory-limit-exceeded", payment: true, .. }), "{e:?}");
        let b = loads.admit("u", Load::of_run(256, true), &quota).unwrap();
        let e = loads.admit("u", Load::of_run(128, false), &quota).err().unwrap();
        assert!(e.to_string().contains("maxConcurrentRuns is 2"), "{e}");
        assert!(loads.admit("other", Load::of_run(128, false), &quota).is_ok(), "quotas are per user");
        drop(a);
        let e = loads.admit("u", Load::of_run(128, true), &quota).err().unwrap();
        assert!(e.to_string().contains("maxStandbyRuns is 1"), "{e}");
        drop(b);
        assert_eq!(loads.of("u"), Load::default());
    }
}
