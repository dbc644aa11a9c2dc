//! In-process test support: a platform on a temporary data directory,
//! wired with the standard executors.

use std::sync::Arc;

use crate::platform::{durability::Durability, Platform, PlatformOptions};

pub(crate) fn options(dir: &std::path::Path) -> PlatformOptions {
    PlatformOptions {
        data_dir: dir.to_path_buf(),
        token: Some("test-token".into()),
        public_url: "http://127.0.0.1:1".into(),
        username: "me".into(),
        standby_domain: "localhost".into(),
        docker_network: "host".into(),
        allow_private_outbound: false,
        limits: Default::default(),
        durability: Durability::Periodic,
    }
}

/// The platform and the directory it lives in (removed when dropped).
pub(crate) fn open_temp() -> (Arc<Platform>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let opts = options(dir.path());
    let executors = crate::executor::standard(&opts).unwrap();
    (Platform::open(opts, executors).unwrap(), dir)
}
