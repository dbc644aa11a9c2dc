//! Who may call: the server's API token, checked in constant time.
//!
//! Secrets are compared by their SHA-256 digests, so neither the time a
//! comparison takes nor an early exit on a length mismatch says anything
//! about the secret.

use sha2::{Digest, Sha256};

use super::Platform;

/// SHA-256 of a secret.
pub fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Constant-time equality of two digests.
fn same_digest(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether two secrets are equal, in time independent of both.
pub fn same_secret(presented: &str, expected: &str) -> bool {
    same_digest(&digest(presented), &digest(expected))
}

/// What a keyed secret is for; each purpose derives different values.
#[derive(Debug, Clone, Copy)]
pub enum KeyPurpose {
    /// The secret in a run's events websocket URL.
    EventsUrl,
    /// The host label of a run's `containerUrl`.
    ContainerUrl,
}

impl KeyPurpose {
    fn label(self) -> &'static str {
        match self {
            KeyPurpose::EventsUrl => "wactor-events",
            KeyPurpose::ContainerUrl => "wactor-container",
        }
    }
}

impl Platform {
    /// A secret that names exactly one run for one purpose: 32 hex digits
    /// derived from the server's URL key, so it needs no storage. Every keyed
    /// URL of a run is derived here.
    pub(crate) fn run_key(&self, purpose: KeyPurpose, run_id: &str) -> String {
        let digest = Sha256::digest(format!("{}/{}/{run_id}", purpose.label(), self.config.url_key).as_bytes());
        crate::ids::hex(&digest[..16])
    }

    /// Whether `presented` is the server's API token.
    pub fn is_api_token(&self, presented: &str) -> bool {
        same_digest(&digest(presented), &self.config.token_digest)
    }
}

#[cfg(test)]
mod tests {
    use super::same_secret;

    #[test]
    fn secrets_compare_by_value_whatever_their_length() {
        assert!(same_secret("wactor_abc", "wactor_abc"));
        assert!(!same_secret("wactor_abc", "wactor_abd"));
        assert!(!same_secret("wactor_ab", "wactor_abc"));
        assert!(!same_secret("", "wactor_abc"));
    }
}
