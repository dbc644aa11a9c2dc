//! Storages: key-value stores, datasets and request queues.
//!
//! Each storage has a metadata record (what the API returns) and its content
//! in its own tree. Named storages outlive runs; a run's default storages are
//! unnamed and linked to the run.

pub mod bytes;
pub mod catalog;
pub mod dataset;
pub mod export;
pub mod kv;
pub mod queue;
pub mod schema;

use super::error::{PlatformError, Result};

/// Apify storage names: letters, digits and hyphens, at most 63 characters.
pub fn validate_storage_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(PlatformError::invalid_kind(
            "invalid-storage-name",
            format!("Storage name \"{name}\" is not valid: use 1-63 letters, digits and hyphens (not at the ends)"),
        ))
    }
}
