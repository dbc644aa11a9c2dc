//! Secrets at rest: secret environment variables of Actor versions and input
//! fields marked `isSecret` are kept sealed (XChaCha20-Poly1305) in every
//! record that holds them, shown masked by the API, and opened only for a
//! run of the user they belong to.
//!
//! A sealed value is one string token, `wactor-secret:v1:<key id>:<owner>:<kind>:<base64url>`:
//! the key that sealed it (so keys can be rotated), the user it belongs to
//! (authenticated as associated data: a token copied into another user's
//! input does not open), and whether the clear value was a string (`s`) or
//! other JSON (`j`). Tokens of one clear value and key always have the same
//! length, so rotation rewrites them in place, whatever record holds them.
//!
//! Keys come from `WACTOR_SECRETS_KEY` (base64 of 32 bytes), or the key file
//! (`<data dir>/secrets.key` unless told otherwise), generated on first start
//! with mode 0600. The file holds one key per line, `<id> <base64>`, the
//! first sealing and all of them opening; `wactor secrets rotate` adds a new
//! first key, reseals everything with it and drops the old ones.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde_json::Value;

use super::actors::Build;
use super::error::{PlatformError, Result};
use super::runs::Run;
use super::storage::kv::Record;
use super::Platform;

/// How the API shows a secret value.
pub const MASK: &str = "********";
const PREFIX: &str = "wactor-secret:v1:";
const KEY_ID_LEN: usize = 8;
const NONCE_LEN: usize = 24;

/// Where the keys come from.
#[derive(Debug, Clone, Default)]
pub struct KeySource {
    /// A key given directly (base64 of 32 bytes), e.g. from `WACTOR_SECRETS_KEY`.
    pub key: Option<String>,
    /// The key file; `<data dir>/secrets.key` when `None`.
    pub file: Option<PathBuf>,
}

impl KeySource {
    pub fn file_in(&self, data_dir: &Path) -> PathBuf {
        self.file.clone().unwrap_or_else(|| data_dir.join("secrets.key"))
    }
}

struct Key {
    id: String,
    cipher: XChaCha20Poly1305,
}

/// The keys the server seals and opens secrets with.
pub struct Secrets {
    /// The first seals; every one opens.
    keys: Vec<Key>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets").field("key_ids", &self.keys.iter().map(|k| &k.id).collect::<Vec<_>>()).finish()
    }
}

impl Secrets {
    /// The keys from `source`, generating the key file on first start.
    pub fn load(source: &KeySource, data_dir: &Path) -> anyhow::Result<Secrets> {
        if let Some(encoded) = source.key.as_deref().filter(|k| !k.trim().is_empty()) {
            let key = parse_key("env", encoded.trim())?;
            return Ok(Secrets { keys: vec![key] });
        }
        let file = source.file_in(data_dir);
        if !file.exists() {
            write_key_file(&file, &[new_key_line()])?;
            tracing::info!(file = %file.display(), "generated the key that seals secrets at rest; keep a copy of it");
        }
        Self::from_file(&file)
    }

    fn from_file(file: &Path) -> anyhow::Result<Secrets> {
        let text =
            std::fs::read_to_string(file).map_err(|e| anyhow::anyhow!("cannot read the secrets key file {}: {e}", file.display()))?;
        let keys = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| {
                let (id, key) =
                    l.split_once(' ').ok_or_else(|| anyhow::anyhow!("a line of {} is not `<id> <base64 key>`", file.display()))?;
                let key = parse_key(id, key.trim())?;
                Ok(key)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        if keys.is_empty() {
            anyhow::bail!("the secrets key file {} holds no key", file.display());
        }
        Ok(Secrets { keys })
    }

    /// Seals `clear` for the user `owner`.
    pub fn seal(&self, owner: &str, clear: &Value) -> String {
        let (kind, text) = match clear {
            Value::String(s) => ('s', s.clone()),
            other => ('j', other.to_string()),
        };
        self.seal_text(&self.keys[0], owner, kind, text.as_bytes())
    }

    fn seal_text(&self, key: &Key, owner: &str, kind: char, clear: &[u8]) -> String {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let aad = associated_data(&key.id, owner, kind);
        let sealed = key.cipher.encrypt(&nonce, Payload { msg: clear, aad: aad.as_bytes() }).expect("sealing cannot fail");
        let mut body = nonce.to_vec();
        body.extend_from_slice(&sealed);
        format!("{PREFIX}{}:{owner}:{kind}:{}", key.id, URL_SAFE_NO_PAD.encode(body))
    }

    /// The clear value of a token sealed for `owner`.
    pub fn open(&self, owner: &str, token: &str) -> Result<Value> {
        let parsed = Token::parse(token).ok_or_else(|| not_a_secret("it is not a sealed value"))?;
        if parsed.owner != owner {
            return Err(not_a_secret("it was sealed for another user"));
        }
        let clear = self.open_token(&parsed)?;
        let text = String::from_utf8(clear).map_err(|_| not_a_secret("it is not UTF-8"))?;
        Ok(match parsed.kind {
            's' => Value::String(text),
            _ => serde_json::from_str(&text).map_err(|_| not_a_secret("it is not JSON"))?,
        })
    }

    fn open_token(&self, t: &Token<'_>) -> Result<Vec<u8>> {
        let key = self.keys.iter().find(|k| k.id == t.key_id).ok_or_else(|| {
            PlatformError::internal(format!("a secret was sealed with key {}, which the secrets key file no longer holds", t.key_id))
        })?;
        let body = URL_SAFE_NO_PAD.decode(t.body).map_err(|_| not_a_secret("its body is not base64"))?;
        if body.len() < NONCE_LEN {
            return Err(not_a_secret("it is cut short"));
        }
        let (nonce, sealed) = body.split_at(NONCE_LEN);
        let aad = associated_data(t.key_id, t.owner, t.kind);
        key.cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: sealed, aad: aad.as_bytes() })
            .map_err(|_| not_a_secret("it does not open with the server's key"))
    }

    /// `bytes` with every token sealed by an older key resealed with the
    /// current one, or `None` when none needed it. Token lengths do not
    /// change, so any record format that holds them stays valid.
    pub fn reseal_bytes(&self, bytes: &[u8]) -> Result<Option<Vec<u8>>> {
        let mut out: Option<Vec<u8>> = None;
        let mut at = 0;
        while let Some(found) = find(&bytes[at..], PREFIX.as_bytes()) {
            let start = at + found;
            let end = start + token_len(&bytes[start..]);
            at = end.max(start + 1);
            let Some(token) = std::str::from_utf8(&bytes[start..end]).ok().and_then(Token::parse) else { continue };
            if token.key_id == self.keys[0].id {
                continue;
            }
            let clear = self.open_token(&token)?;
            let fresh = self.seal_text(&self.keys[0], token.owner, token.kind, &clear);
            debug_assert_eq!(fresh.len(), end - start);
            out.get_or_insert_with(|| bytes.to_vec())[start..end].copy_from_slice(fresh.as_bytes());
        }
        Ok(out)
    }

    /// Prepends a new key to the key file: it seals from now on; the old ones still open.
    pub fn add_key(file: &Path) -> anyhow::Result<()> {
        let old = std::fs::read_to_string(file)?;
        let mut lines = vec![new_key_line()];
        lines.extend(old.lines().filter(|l| !l.trim().is_empty()).map(str::to_owned));
        write_key_file(file, &lines)
    }

    /// Keeps only the current key in the key file (after everything is resealed).
    pub fn drop_old_keys(file: &Path) -> anyhow::Result<()> {
        let text = std::fs::read_to_string(file)?;
        let first = text.lines().find(|l| !l.trim().is_empty() && !l.starts_with('#')).unwrap_or_default().to_owned();
        write_key_file(file, &[first])
    }

    /// The current key's id.
    pub fn current_key_id(&self) -> &str {
        &self.keys[0].id
    }
}

/// Whether a string is a sealed value.
pub fn is_sealed(s: &str) -> bool {
    s.starts_with(PREFIX)
}

/// `value` with every sealed string shown as [`MASK`].
pub fn mask(value: &mut Value) {
    visit_strings(value, &mut |s| {
        if is_sealed(s) {
            *s = MASK.to_owned();
        }
    });
}

/// Whether any string in `bytes` is a sealed value (a quick test before parsing).
pub fn holds_sealed(bytes: &[u8]) -> bool {
    find(bytes, PREFIX.as_bytes()).is_some()
}

fn visit_strings(value: &mut Value, f: &mut impl FnMut(&mut String)) {
    match value {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter_mut().for_each(|v| visit_strings(v, f)),
        Value::Object(map) => map.values_mut().for_each(|v| visit_strings(v, f)),
        _ => {}
    }
}

/// The parts of a token.
struct Token<'a> {
    key_id: &'a str,
    owner: &'a str,
    kind: char,
    body: &'a str,
}

impl<'a> Token<'a> {
    fn parse(s: &'a str) -> Option<Token<'a>> {
        let rest = s.strip_prefix(PREFIX)?;
        let mut parts = rest.splitn(4, ':');
        let key_id = parts.next()?;
        let owner = parts.next()?;
        let kind = parts.next()?;
        let body = parts.next()?;
        let kind = match kind {
            "s" => 's',
            "j" => 'j',
            _ => return None,
        };
        let id_ok = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_alphanumeric());
        (key_id.len() == KEY_ID_LEN && id_ok(key_id) && id_ok(owner)).then_some(Token { key_id, owner, kind, body })
    }
}

/// How long the token starting `bytes` is: the prefix, then characters a token may hold.
fn token_len(bytes: &[u8]) -> usize {
    let mut colons = 0;
    let mut n = PREFIX.len();
    for &b in &bytes[PREFIX.len()..] {
        let ok = b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || (b == b':' && colons < 3);
        if !ok {
            break;
        }
        colons += usize::from(b == b':');
        n += 1;
    }
    n
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn associated_data(key_id: &str, owner: &str, kind: char) -> String {
    format!("{PREFIX}{key_id}:{owner}:{kind}")
}

fn not_a_secret(why: &str) -> PlatformError {
    PlatformError::invalid_kind("invalid-secret", format!("A value looks like a sealed secret but cannot be opened: {why}"))
}

fn parse_key(id: &str, encoded: &str) -> anyhow::Result<Key> {
    let bytes = STANDARD.decode(encoded).map_err(|e| anyhow::anyhow!("secrets key {id} is not base64: {e}"))?;
    if bytes.len() != 32 {
        anyhow::bail!("secrets key {id} must be 32 bytes, it is {}", bytes.len());
    }
    let id = if id == "env" { short_id_of(&bytes) } else { id.to_owned() };
    if id.len() != KEY_ID_LEN || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        anyhow::bail!("secrets key id {id:?} must be {KEY_ID_LEN} letters or digits");
    }
    Ok(Key { id, cipher: XChaCha20Poly1305::new_from_slice(&bytes).expect("32-byte key") })
}

/// A key's id derived from the key itself, for a key given without one.
fn short_id_of(key: &[u8]) -> String {
    use sha2::Digest;
    crate::ids::hex(&sha2::Sha256::digest(key)[..KEY_ID_LEN / 2])
}

fn new_key_line() -> String {
    let key = XChaCha20Poly1305::generate_key(&mut OsRng);
    format!("{} {}", short_id_of(&key), STANDARD.encode(key))
}

/// Writes the key file readable by its owner only, atomically.
fn write_key_file(file: &Path, lines: &[String]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = file.with_extension("key.tmp");
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
    writeln!(f, "# wactor secrets keys: the first seals, all open. Keep a copy; without it sealed secrets are lost.")?;
    for l in lines {
        writeln!(f, "{l}")?;
    }
    f.sync_all()?;
    std::fs::rename(&tmp, file)?;
    Ok(())
}

/// `wactor secrets rotate`, with the server stopped: a new key seals from now
/// on, every record holding a sealed value is resealed with it, then the old
/// keys leave the key file. Cut short, it is run again: the file keeps every
/// key until the last record is resealed. Returns how many records changed.
pub fn rotate(data_dir: &Path, source: &KeySource) -> anyhow::Result<usize> {
    let file = source.file_in(data_dir);
    if !file.exists() {
        anyhow::bail!("no secrets key file at {}: nothing to rotate", file.display());
    }
    let db =
        super::db::Db::open(data_dir).map_err(|e| anyhow::anyhow!("opening the data directory (is the server still running?): {e}"))?;
    Secrets::add_key(&file)?;
    let secrets = Secrets::from_file(&file)?;
    let mut resealed = 0;
    for name in db.inner.tree_names() {
        let tree = db.inner.open_tree(&name)?;
        for entry in tree.iter() {
            let (key, value) = entry?;
            if let Some(fresh) = secrets.reseal_bytes(&value).map_err(|e| anyhow::anyhow!("{e}"))? {
                tree.insert(key, fresh)?;
                resealed += 1;
            }
        }
    }
    db.inner.flush()?;
    drop(db);
    Secrets::drop_old_keys(&file)?;
    Ok(resealed)
}

/// Who reads a stored value: a run sees its own user's secrets in clear; anyone else sees them masked.
#[derive(Debug, Clone, Copy)]
pub enum Viewer<'a> {
    Run { user_id: &'a str },
    Client,
}

impl Viewer<'_> {
    /// A run (through its token) sees its user's secrets; a user's own token does not.
    pub fn of(caller: &super::access::Caller) -> Viewer<'_> {
        match caller {
            super::access::Caller::Run(grant) => Viewer::Run { user_id: &grant.user_id },
            _ => Viewer::Client,
        }
    }
}

impl Platform {
    /// `input` with its secret fields (the build's input schema says which) sealed for `owner`.
    pub(crate) fn seal_input_secrets(&self, build: &Build, owner: &str, input: &mut Value) -> Result<()> {
        match self.input_schema(build)? {
            Some(schema) => self.seal_secret_fields(&schema, owner, input),
            None => Ok(()),
        }
    }

    /// `input` with the fields `schema` marks secret sealed for `owner`.
    pub(crate) fn seal_secret_fields(&self, schema: &crate::definition::InputSchema, owner: &str, input: &mut Value) -> Result<()> {
        let Value::Object(fields) = input else { return Ok(()) };
        for name in schema.secret_fields() {
            if let Some(v) = fields.get_mut(name) {
                let sealed_already = v.as_str().is_some_and(is_sealed);
                if !v.is_null() && !sealed_already {
                    *v = Value::String(self.secrets.seal(owner, v));
                }
            }
        }
        Ok(())
    }

    /// `value` with every sealed string in it opened for `owner`; one that does not open is an error.
    pub(crate) fn open_secrets(&self, owner: &str, value: &mut Value) -> Result<()> {
        let mut failed = None;
        visit_values(value, &mut |v| {
            if let Value::String(s) = v {
                if is_sealed(s) {
                    match self.secrets.open(owner, s) {
                        Ok(clear) => *v = clear,
                        Err(e) => failed = Some(e),
                    }
                }
            }
        });
        failed.map_or(Ok(()), Err)
    }

    /// A key-value record as `viewer` may see it: sealed values opened for a
    /// run of their user, masked for everyone else.
    pub fn record_as_seen(&self, viewer: Viewer<'_>, mut record: Record) -> Record {
        if !holds_sealed(&record.value) {
            return record;
        }
        let Ok(mut v) = serde_json::from_slice::<Value>(&record.value) else { return record };
        match viewer {
            Viewer::Run { user_id } => {
                visit_values(&mut v, &mut |v| {
                    if let Value::String(s) = v {
                        if is_sealed(s) {
                            *v = self.secrets.open(user_id, s).unwrap_or_else(|_| Value::String(MASK.to_owned()));
                        }
                    }
                });
            }
            Viewer::Client => mask(&mut v),
        }
        record.value = serde_json::to_vec(&v).unwrap_or(record.value);
        record
    }

    /// An environment variable's value for a run of `build`: a sealed one opened for the Actor's owner.
    pub(crate) fn env_value(&self, build: &Build, value: &Value) -> Option<String> {
        match value {
            Value::String(s) if is_sealed(s) => match self.secrets.open(&build.user_id, s) {
                Ok(Value::String(clear)) => Some(clear),
                Ok(other) => Some(other.to_string()),
                Err(e) => {
                    tracing::warn!(build_id = %build.id, error = %e, "a secret environment variable did not open; the run goes without it");
                    None
                }
            },
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    }

    /// The clear texts of a run's secrets (secret env vars, secret input
    /// fields), which its log must not show.
    pub(crate) fn run_secret_values(&self, run: &Run, build: &Build) -> Vec<String> {
        let mut out = Vec::new();
        let mut keep = |v: Value| match v {
            Value::String(s) => out.push(s),
            other => {
                let mut leaves = Vec::new();
                string_leaves(&other, &mut leaves);
                out.push(other.to_string());
                out.extend(leaves);
            }
        };
        for v in build.actor_definition.environment_variables.iter().flatten().map(|(_, v)| v) {
            if let Some(s) = v.as_str().filter(|s| is_sealed(s)) {
                if let Ok(clear) = self.secrets.open(&build.user_id, s) {
                    keep(clear);
                }
            }
        }
        if let Ok(Some(record)) = self.kv.get_record(&run.default_key_value_store_id, &run.input_key) {
            if holds_sealed(&record.value) {
                if let Ok(mut input) = serde_json::from_slice::<Value>(&record.value) {
                    visit_values(&mut input, &mut |v| {
                        if let Some(s) = v.as_str().filter(|s| is_sealed(s)) {
                            if let Ok(clear) = self.secrets.open(&run.user_id, s) {
                                keep(clear);
                            }
                        }
                    });
                }
            }
        }
        out.retain(|s| s.len() >= MIN_MASKED_LEN);
        out.sort_by_key(|s| std::cmp::Reverse(s.len()));
        out.dedup();
        out
    }
}

/// Shorter secrets are not masked in logs: masking "a" would garble every line.
const MIN_MASKED_LEN: usize = 4;

fn string_leaves(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|i| string_leaves(i, out)),
        Value::Object(map) => map.values().for_each(|i| string_leaves(i, out)),
        _ => {}
    }
}

fn visit_values(value: &mut Value, f: &mut impl FnMut(&mut Value)) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(|v| visit_values(v, f)),
        Value::Object(map) => map.values_mut().for_each(|v| visit_values(v, f)),
        _ => f(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secrets(dir: &Path) -> Secrets {
        Secrets::load(&KeySource::default(), dir).unwrap()
    }

    #[test]
    fn a_sealed_value_opens_only_for_its_owner_and_hides_its_clear_text() {
        let dir = tempfile::tempdir().unwrap();
        let s = secrets(dir.path());
        let token = s.seal("alice1", &json!("hunter2"));
        assert!(is_sealed(&token) && !token.contains("hunter2"), "{token}");
        assert_eq!(s.open("alice1", &token).unwrap(), json!("hunter2"));
        assert!(s.open("bob1", &token).is_err(), "another user's token does not open");
        let forged = token.replacen(":alice1:", ":bob1:", 1);
        assert!(s.open("bob1", &forged).is_err(), "the owner is authenticated");
        let json_token = s.seal("alice1", &json!({"user": "u", "pass": "p"}));
        assert_eq!(s.open("alice1", &json_token).unwrap(), json!({"user": "u", "pass": "p"}));
        let mut v = json!({"a": token, "b": ["x", json_token]});
        mask(&mut v);
        assert_eq!(v, json!({"a": MASK, "b": ["x", MASK]}));
        assert_eq!(
            secrets(dir.path()).open("alice1", &s.seal("alice1", &json!("again"))).unwrap(),
            json!("again"),
            "the key file is reused"
        );
    }

    #[test]
    fn rotation_reseals_tokens_in_place_with_the_new_key() {
        let dir = tempfile::tempdir().unwrap();
        let old = secrets(dir.path());
        let token = old.seal("u1", &json!("clear"));
        let record = format!("{{\"password\":\"{token}\",\"n\":1}}");
        let file = KeySource::default().file_in(dir.path());
        Secrets::add_key(&file).unwrap();
        let both = secrets(dir.path());
        assert_ne!(both.current_key_id(), old.current_key_id());
        let resealed = String::from_utf8(both.reseal_bytes(record.as_bytes()).unwrap().unwrap()).unwrap();
        assert_eq!(resealed.len(), record.len());
        assert!(both.reseal_bytes(resealed.as_bytes()).unwrap().is_none(), "nothing left to reseal");
        Secrets::drop_old_keys(&file).unwrap();
        let new = secrets(dir.path());
        let v: Value = serde_json::from_str(&resealed).unwrap();
        assert_eq!(new.open("u1", v["password"].as_str().unwrap()).unwrap(), json!("clear"));
        assert!(new.open("u1", &token).is_err(), "the old key is gone");
    }

    #[test]
    fn a_key_from_the_environment_needs_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let source = KeySource { key: Some(STANDARD.encode([7u8; 32])), file: None };
        let s = Secrets::load(&source, dir.path()).unwrap();
        assert_eq!(s.open("u", &s.seal("u", &json!(5))).unwrap(), json!(5));
        assert!(!dir.path().join("secrets.key").exists());
        assert!(Secrets::load(&KeySource { key: Some("c2hvcnQ=".into()), file: None }, dir.path()).is_err());
    }
}
