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

impl Platform {
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
