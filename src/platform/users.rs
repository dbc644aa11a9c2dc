//! Users and their API tokens.
//!
//! The first start creates the admin user from the server's identity
//! (`PlatformOptions::username`), and the server's token is the admin's.
//! The admin adds and removes users; each user creates, lists and revokes
//! named tokens, optionally expiring and optionally scoped (read-only, or
//! only some Actors and storages). A token is shown once, when it is made,
//! and stored only as its SHA-256 digest: `T ++ digest → ApiToken`, and
//! `U ++ user id ++ 0 ++ token id → digest` to list and revoke a user's.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::digest;
use super::db::{get_json, put_json};
use super::error::{PlatformError, Result};
use super::Platform;
use crate::ids::{self, ts};

/// What a user token starts with, so it is recognised (and found in leaked text) at a glance.
pub const USER_TOKEN_PREFIX: &str = "wactor_user_";

/// Most tokens one user may hold, so no client can grow the table without bound.
pub const MAX_TOKENS_PER_USER: usize = 100;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub username: String,
    #[serde(with = "ts")]
    pub created_at: DateTime<Utc>,
    pub is_admin: bool,
    /// What the admin set for this user (see [`crate::limits::Quota`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<crate::limits::Quota>,
}

/// What a token may do beyond its user's own rights (never more).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenScopes {
    /// Reads only: any write answers 403.
    #[serde(default)]
    pub read_only: bool,
    /// Only these Actors (IDs or names) and their runs; all of the user's when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actors: Option<Vec<String>>,
    /// Only these storages (IDs or names); all of the user's when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storages: Option<Vec<String>>,
}

impl TokenScopes {
    pub fn is_unrestricted(&self) -> bool {
        !self.read_only && self.actors.is_none() && self.storages.is_none()
    }
}

/// A token as it is stored and listed: never its secret.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiToken {
    pub id: String,
    pub user_id: String,
    pub name: String,
    #[serde(with = "ts")]
    pub created_at: DateTime<Utc>,
    #[serde(default, with = "ts::option", skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub scopes: TokenScopes,
}

/// Who acts, as the doors found out from the token: the user, and the token's limits.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    /// `None` for the server's own token (the admin's, unrestricted).
    pub token: Option<ApiToken>,
}

impl Principal {
    pub fn user_id(&self) -> &str {
        &self.user.id
    }
    pub fn username(&self) -> &str {
        &self.user.username
    }
    pub fn scopes(&self) -> Option<&TokenScopes> {
        self.token.as_ref().map(|t| &t.scopes).filter(|s| !s.is_unrestricted())
    }
}

/// A user's name: what `username~name` references and Standby hosts carry.
pub fn validate_username(name: &str) -> Result<()> {
    let ok = (3..=30).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_' || b == b'.')
        && name.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && !name.contains("--");
    if ok {
        Ok(())
    } else {
        Err(PlatformError::invalid_kind(
            "invalid-value",
            format!("A username is 3 to 30 lowercase letters, digits, '-', '_' or '.', starting with a letter or digit, without \"--\": \"{name}\" is not"),
        ))
    }
}

/// The admin user, created on the first start from the server's identity.
pub(crate) fn ensure_admin(db: &super::db::Db, user_id: &str, username: &str) -> Result<User> {
    if let Some(u) = get_json::<User>(&db.users, user_id)? {
        return Ok(u);
    }
    let admin = User { id: user_id.to_owned(), username: username.to_owned(), created_at: ids::now(), is_admin: true, quota: None };
    db.user_names.insert(admin.username.as_str(), admin.id.as_bytes())?;
    put_json(&db.users, &admin.id, &admin)?;
    Ok(admin)
}

fn token_key(d: &[u8; 32]) -> Vec<u8> {
    let mut k = Vec::with_capacity(33);
    k.push(b'T');
    k.extend_from_slice(d);
    k
}

fn user_token_key(user_id: &str, token_id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(user_id.len() + token_id.len() + 2);
    k.push(b'U');
    k.extend_from_slice(user_id.as_bytes());
    k.push(0);
    k.extend_from_slice(token_id.as_bytes());
    k
}

impl Platform {
    /// The admin, as the server's own token acts.
    pub fn admin_principal(&self) -> Principal {
        Principal { user: self.admin.clone(), token: None }
    }

    pub fn get_user(&self, reference: &str) -> Result<User> {
        let id = match get_json::<User>(&self.db.users, reference)? {
            Some(u) => return Ok(u),
            None => self.db.user_names.get(reference.to_ascii_lowercase())?,
        };
        id.and_then(|id| get_json(&self.db.users, &id).transpose())
            .transpose()?
            .ok_or_else(|| PlatformError::not_found(format!("User was not found: {reference}")))
    }

    pub fn list_users(&self) -> Result<Vec<User>> {
        let mut users: Vec<User> = self.db.users.iter().map(|e| Ok(serde_json::from_slice(&e?.1)?)).collect::<Result<_>>()?;
        users.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(users)
    }

    /// A new user with a first token named "default"; the token's secret is returned once.
    pub fn create_user(&self, username: &str) -> Result<(User, ApiToken, String)> {
        validate_username(username)?;
        let user = User { id: ids::new_id(), username: username.to_owned(), created_at: ids::now(), is_admin: false, quota: None };
        if self.db.user_names.compare_and_swap(username, None as Option<&[u8]>, Some(user.id.as_bytes()))?.is_err() {
            return Err(PlatformError::Conflict(format!("A user named \"{username}\" already exists")));
        }
        put_json(&self.db.users, &user.id, &user)?;
        let (token, secret) = self.create_token(&user, "default", None, TokenScopes::default())?;
        self.refresh_storage_limit(&user.id)?;
        Ok((user, token, secret))
    }

    /// Removes a user and their tokens (their resources stay, for the admin to inspect or delete).
    pub fn remove_user(&self, reference: &str) -> Result<User> {
        let user = self.get_user(reference)?;
        if user.is_admin {
            return Err(PlatformError::invalid_kind("invalid-value", "The admin user cannot be removed"));
        }
        for t in self.list_tokens(&user.id)? {
            self.revoke_token(&user.id, &t.id)?;
        }
        self.db.users.remove(user.id.as_bytes())?;
        self.db.user_names.remove(user.username.as_bytes())?;
        Ok(user)
    }

    /// A new token for `user`; its secret is returned once and stored only as a digest.
    pub fn create_token(
        &self,
        user: &User,
        name: &str,
        expires_at: Option<DateTime<Utc>>,
        scopes: TokenScopes,
    ) -> Result<(ApiToken, String)> {
        if name.is_empty() || name.len() > 100 {
            return Err(PlatformError::invalid_kind("invalid-value", "A token's name must be 1 to 100 characters long"));
        }
        if expires_at.is_some_and(|at| at <= ids::now()) {
            return Err(PlatformError::invalid_kind("invalid-value", "expiresAt must be in the future"));
        }
        if self.list_tokens(&user.id)?.len() >= MAX_TOKENS_PER_USER {
            return Err(PlatformError::invalid_kind(
                "limit-reached",
                format!("A user may hold at most {MAX_TOKENS_PER_USER} tokens; revoke one first"),
            ));
        }
        let secret = format!("{USER_TOKEN_PREFIX}{}", ids::new_secret(40));
        let d = digest(&secret);
        let token =
            ApiToken { id: ids::new_id(), user_id: user.id.clone(), name: name.to_owned(), created_at: ids::now(), expires_at, scopes };
        put_json(&self.db.api_tokens, token_key(&d), &token)?;
        self.db.api_tokens.insert(user_token_key(&user.id, &token.id), &d)?;
        Ok((token, secret))
    }

    /// A user's tokens, oldest first, without their secrets.
    pub fn list_tokens(&self, user_id: &str) -> Result<Vec<ApiToken>> {
        let prefix = user_token_key(user_id, "");
        let mut out = Vec::new();
        for e in self.db.api_tokens.scan_prefix(&prefix) {
            let (_, d) = e?;
            let Ok(d) = <[u8; 32]>::try_from(d.as_ref()) else { continue };
            if let Some(t) = get_json::<ApiToken>(&self.db.api_tokens, token_key(&d))? {
                out.push(t);
            }
        }
        out.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Revokes one of the user's tokens; from now on it answers 401.
    pub fn revoke_token(&self, user_id: &str, token_id: &str) -> Result<()> {
        let key = user_token_key(user_id, token_id);
        let d = self.db.api_tokens.get(&key)?.ok_or_else(|| PlatformError::not_found(format!("Token was not found: {token_id}")))?;
        if let Ok(d) = <[u8; 32]>::try_from(d.as_ref()) {
            self.db.api_tokens.remove(token_key(&d))?;
        }
        self.db.api_tokens.remove(key)?;
        Ok(())
    }

    /// The user a user token belongs to, while it is neither revoked nor expired.
    pub(crate) fn principal_of_token(&self, token: &str) -> Option<Arc<Principal>> {
        let t: ApiToken = get_json(&self.db.api_tokens, token_key(&digest(token))).ok()??;
        if t.expires_at.is_some_and(|at| at <= ids::now()) {
            return None;
        }
        let user: User = get_json(&self.db.users, &t.user_id).ok()??;
        Some(Arc::new(Principal { user, token: Some(t) }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_stored_hashed_listed_without_secrets_and_revoked() {
        let (p, dir) = crate::testing::open_temp();
        let (alice, first, secret) = p.create_user("alice").unwrap();
        assert!(secret.starts_with(USER_TOKEN_PREFIX));
        assert_eq!(p.principal_of_token(&secret).unwrap().user, alice);
        assert_eq!(p.list_tokens(&alice.id).unwrap(), vec![first.clone()]);
        assert!(matches!(p.create_user("alice"), Err(PlatformError::Conflict(_))));
        assert!(p.create_user("Alice!").is_err());

        let soon = ids::now() + chrono::Duration::milliseconds(50);
        let (_, short) = p.create_token(&alice, "short", Some(soon), TokenScopes { read_only: true, ..Default::default() }).unwrap();
        assert!(p.principal_of_token(&short).unwrap().scopes().unwrap().read_only);
        std::thread::sleep(std::time::Duration::from_millis(60));
        assert!(p.principal_of_token(&short).is_none(), "an expired token names nobody");

        p.revoke_token(&alice.id, &first.id).unwrap();
        assert!(p.principal_of_token(&secret).is_none(), "a revoked token names nobody");
        p.db.inner.flush().unwrap();
        drop(p);
        let found = crate::testing::grep_dir(dir.path(), secret.as_bytes());
        assert!(found.is_empty(), "a token's secret is on disk in {found:?}");
    }
}
