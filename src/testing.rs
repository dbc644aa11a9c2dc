//! In-process test support: a platform on a temporary data directory,
//! wired with the standard executors.

use std::sync::Arc;

use crate::platform::executors::Executors;
use crate::platform::{durability::Durability, Platform, PlatformOptions};

pub(crate) fn options(dir: &std::path::Path) -> PlatformOptions {
    PlatformOptions {
        data_dir: dir.to_path_buf(),
        token: Some("test-token".into()),
        public_url: "http://127.0.0.1:1".into(),
        internal_url: None,
        username: "me".into(),
        standby_domain: "localhost".into(),
        docker_network: "host".into(),
        allow_private_outbound: false,
        limits: Default::default(),
        durability: Durability::Periodic,
        compute_unit_price_usd: crate::platform::DEFAULT_COMPUTE_UNIT_PRICE_USD,
        webhook_delivery: Default::default(),
        secrets_key: Default::default(),
    }
}

/// The platform and the directory it lives in (removed when dropped).
pub(crate) fn open_temp() -> (Arc<Platform>, tempfile::TempDir) {
    open_temp_with(|_| {}, |opts| crate::executor::standard(opts).unwrap())
}

/// [`open_temp`] with options changed by `adjust` and the executors `wire` returns.
pub(crate) fn open_temp_with(
    adjust: impl FnOnce(&mut PlatformOptions),
    wire: impl FnOnce(&PlatformOptions) -> Executors,
) -> (Arc<Platform>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path());
    adjust(&mut opts);
    let executors = wire(&opts);
    (Platform::open(opts, executors).unwrap(), dir)
}

/// The files under `dir` whose bytes contain `needle`: where a secret would have leaked to disk.
pub(crate) fn grep_dir(dir: &std::path::Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read(&path).is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle)) {
                found.push(path);
            }
        }
    }
    found
}
