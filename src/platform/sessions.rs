//! Console sessions: a browser signs in once with an API token and then
//! carries an opaque session ID in an `HttpOnly` cookie. The token stays in
//! the server's memory, never in the browser, and every request is
//! authenticated with it again, so a revoked token ends its sessions at
//! once. Sessions live in memory: a restart signs everybody out.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rand::RngCore;

/// How long a session lasts from sign-in.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Sessions kept at most; beyond it the oldest go first.
const MAX_SESSIONS: usize = 10_000;

#[derive(Clone)]
pub struct Session {
    /// The API token the session acts with.
    pub token: String,
    /// Sent by the console's own page with every state change (`X-Wactor-Csrf`).
    pub csrf: String,
    created: Instant,
}

#[derive(Default)]
pub struct ConsoleSessions {
    by_id: Mutex<HashMap<String, Session>>,
}

fn random_id() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl ConsoleSessions {
    /// A new session for `token` (already checked): its ID and the session.
    pub fn create(&self, token: &str) -> (String, Session) {
        let id = random_id();
        let session = Session { token: token.to_owned(), csrf: random_id(), created: Instant::now() };
        let mut map = self.by_id.lock();
        map.retain(|_, s| s.created.elapsed() < SESSION_LIFETIME);
        if map.len() >= MAX_SESSIONS {
            if let Some(oldest) = map.iter().min_by_key(|(_, s)| s.created).map(|(k, _)| k.clone()) {
                map.remove(&oldest);
            }
        }
        map.insert(id.clone(), session.clone());
        (id, session)
    }

    /// The live session with this ID.
    pub fn get(&self, id: &str) -> Option<Session> {
        let map = self.by_id.lock();
        map.get(id).filter(|s| s.created.elapsed() < SESSION_LIFETIME).cloned()
    }

    pub fn remove(&self, id: &str) {
        self.by_id.lock().remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_found_by_its_id_until_removed() {
        let s = ConsoleSessions::default();
        let (id, session) = s.create("tok");
        assert_eq!(id.len(), 64);
        assert_ne!(session.csrf, id);
        assert_eq!(s.get(&id).unwrap().token, "tok");
        assert!(s.get("other").is_none());
        s.remove(&id);
        assert!(s.get(&id).is_none());
    }
}
