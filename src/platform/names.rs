//! Names are per user, as on Apify: alice's dataset "results" and bob's are
//! two datasets. Each kind (Actors, tasks, each storage kind) has a tree of
//! `user id ++ 0 ++ name` → ID. A reference is an ID, `username~name` (or
//! `username/name`), or a bare name, which means the caller's own.

use super::db::owned_key;
use super::error::Result;

/// One kind's names.
#[derive(Clone)]
pub(crate) struct Names {
    tree: sled::Tree,
    /// username → user id, to resolve `username~name`.
    user_names: sled::Tree,
}

/// A reference split into who it names and the name, if it is a name at all.
enum Named<'a> {
    Qualified(&'a str, &'a str),
    Bare(&'a str),
}

fn split(reference: &str) -> Named<'_> {
    match reference.split_once(['~', '/']) {
        Some((user, name)) => Named::Qualified(user, name),
        None => Named::Bare(reference),
    }
}

impl Names {
    pub fn new(tree: sled::Tree, user_names: sled::Tree) -> Self {
        Names { tree, user_names }
    }

    /// The ID `reference` names as a name: `username~name` anyone's, a bare
    /// name only in `namespace` (a user id; none: bare names name nothing).
    pub fn lookup(&self, namespace: Option<&str>, reference: &str) -> Result<Option<sled::IVec>> {
        let key = match split(reference) {
            Named::Qualified(user, name) => match self.user_names.get(user.to_ascii_lowercase())? {
                Some(uid) => owned_key(std::str::from_utf8(&uid).unwrap_or_default(), name.as_bytes()),
                None => return Ok(None),
            },
            Named::Bare(name) => match namespace {
                Some(ns) => owned_key(ns, name.as_bytes()),
                None => return Ok(None),
            },
        };
        Ok(self.tree.get(key)?)
    }

    /// Claims `name` for `id` in the user's namespace; false when it is taken.
    pub fn claim(&self, user_id: &str, name: &str, id: &str) -> Result<bool> {
        let key = owned_key(user_id, name.as_bytes());
        Ok(self.tree.compare_and_swap(key, None as Option<&[u8]>, Some(id.as_bytes()))?.is_ok())
    }

    /// Frees `name` if it still names `id` (a concurrent claimer's name stays).
    pub fn release(&self, user_id: &str, name: &str, id: &str) -> Result<()> {
        let key = owned_key(user_id, name.as_bytes());
        let _ = self.tree.compare_and_swap(key, Some(id.as_bytes()), None as Option<&[u8]>)?;
        Ok(())
    }

    /// Frees `name` whatever it names (one left dangling by a half-done deletion).
    pub fn release_dangling(&self, user_id: &str, name: &str, stale: &[u8]) -> Result<()> {
        let key = owned_key(user_id, name.as_bytes());
        let _ = self.tree.compare_and_swap(key, Some(stale), None as Option<&[u8]>)?;
        Ok(())
    }

    /// Moves names kept before they were per user (the bare name as key) to
    /// their owner's namespace; `owner_of` reads an ID's owner from its record.
    pub fn migrate(&self, owner_of: impl Fn(&[u8]) -> Option<String>) -> Result<usize> {
        let mut moved = 0;
        for entry in self.tree.iter() {
            let (key, id) = entry?;
            if key.contains(&0) {
                continue;
            }
            if let Some(user_id) = owner_of(&id) {
                let _ = self.tree.compare_and_swap(owned_key(&user_id, &key), None as Option<&[u8]>, Some(&id))?;
            }
            self.tree.remove(&key)?;
            moved += 1;
        }
        Ok(moved)
    }
}

/// The `userId` of a JSON record in `tree` under `id`.
pub(crate) fn owner_in(tree: &sled::Tree, id: &[u8]) -> Option<String> {
    let raw = tree.get(id).ok()??;
    let v: serde_json::Value = serde_json::from_slice(&raw).ok()?;
    v.get("userId")?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_per_user_and_old_global_names_move_to_their_owner() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let users = db.open_tree("u").unwrap();
        users.insert("alice", "UA").unwrap();
        users.insert("bob", "UB").unwrap();
        let names = Names::new(db.open_tree("n").unwrap(), users);
        assert!(names.claim("UA", "results", "D1").unwrap());
        assert!(names.claim("UB", "results", "D2").unwrap(), "bob has a namespace of his own");
        assert!(!names.claim("UA", "results", "D3").unwrap());
        assert_eq!(names.lookup(Some("UA"), "results").unwrap().unwrap(), "D1");
        assert_eq!(names.lookup(Some("UA"), "bob~results").unwrap().unwrap(), "D2");
        assert_eq!(names.lookup(None, "Bob/results").unwrap().unwrap(), "D2");
        assert!(names.lookup(None, "results").unwrap().is_none(), "a bare name needs a namespace");
        assert!(names.lookup(Some("UA"), "carol~results").unwrap().is_none());
        names.release("UA", "results", "D9").unwrap();
        assert!(names.lookup(Some("UA"), "results").unwrap().is_some(), "release frees only its own ID");

        let records = db.open_tree("r").unwrap();
        records.insert("D7", br#"{"userId":"UB"}"#.as_slice()).unwrap();
        names.tree.insert("old", "D7").unwrap();
        assert_eq!(names.migrate(|id| owner_in(&records, id)).unwrap(), 1);
        assert_eq!(names.lookup(Some("UB"), "old").unwrap().unwrap(), "D7");
        assert!(names.tree.get("old").unwrap().is_none());
    }
}
