//! API token check: `Authorization: Bearer <token>` or `?token=<token>`;
//! the caller it names (the admin, or a run by its run token) goes into the
//! request's extensions, and what a run asks is checked by the core
//! (`platform::access`) once the path says which [`Action`] it is.
//!
//! The query is parsed once, by [`query_pairs`], both to find the token and
//! to take it out of a request that goes on to an Actor (Standby), so what
//! authenticated a request is exactly what is stripped from it.

use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::borrow::Cow;
use std::sync::Arc;

use super::error::ApiError;
use crate::platform::access::{Action, Caller, Resource, StorageKind, Use};
use crate::platform::Platform;

/// The query parameter that carries the API token.
const TOKEN_PARAM: &str = "token";

/// Where a presented token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    Header,
    Query,
}

/// The raw `&`-separated pairs of a query, each with its key and value
/// decoded as forms are (`+` and `%XX`).
fn query_pairs(query: &str) -> impl Iterator<Item = (&str, Cow<'_, str>, Cow<'_, str>)> {
    query.split('&').filter(|raw| !raw.is_empty()).filter_map(|raw| {
        let (k, v) = form_urlencoded::parse(raw.as_bytes()).next()?;
        Some((raw, k, v))
    })
}

/// The token a request presents, and where it came from.
pub fn request_token(req: &Request) -> Option<(String, TokenSource)> {
    if let Some(v) = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        if let Some(t) = v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")) {
            return Some((t.trim().to_owned(), TokenSource::Header));
        }
    }
    let query = req.uri().query()?;
    query_pairs(query).find(|(_, k, _)| k == TOKEN_PARAM).map(|(_, _, v)| (v.into_owned(), TokenSource::Query))
}

/// The raw query without any `token` parameter (decoded as [`request_token`]
/// decodes it), every other pair exactly as it came; `None` when nothing is left.
pub fn query_without_token(query: &str) -> Option<String> {
    let kept: Vec<&str> = query_pairs(query).filter(|(_, k, _)| k != TOKEN_PARAM).map(|(raw, _, _)| raw).collect();
    (!kept.is_empty()).then(|| kept.join("&"))
}

/// The cookie a signed-in console browser carries (see `platform::sessions`).
pub const SESSION_COOKIE: &str = "wactor_session";
/// The header the console's page sends with every change, holding its session's CSRF value.
pub const CSRF_HEADER: &str = "x-wactor-csrf";

/// The live console session a request's cookie names: its ID and the session.
pub fn session_of(platform: &Platform, headers: &axum::http::HeaderMap) -> Option<(String, crate::platform::sessions::Session)> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .and_then(|(_, id)| platform.sessions.get(id).map(|s| (id.to_owned(), s)))
}

pub fn csrf_refused() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "csrf-token-not-valid",
        "A change made with a console session must carry the console page's X-Wactor-Csrf header",
    )
}

pub fn unauthorized(presented: bool) -> ApiError {
    if presented {
        ApiError::new(StatusCode::UNAUTHORIZED, "token-not-valid", "Authentication token is not valid")
    } else {
        ApiError::new(StatusCode::UNAUTHORIZED, "token-not-provided", "Authentication token was not provided")
    }
}

pub async fn require_token(State(platform): State<Arc<Platform>>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().strip_prefix("/v2").unwrap_or(req.uri().path()).to_owned();
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let read = matches!(*req.method(), Method::GET | Method::HEAD);
    let resource = resource_of(read, &segs);
    let found = super::names::caller_of(&req);
    let token = request_token(&req);
    // A console session counts only when nothing else names the caller.
    let session = if found.is_none() && token.is_none() { session_of(&platform, req.headers()) } else { None };
    let caller = match (found, token, session) {
        (Some(caller), _, _) => caller,
        (None, Some((t, _)), _) => match platform.authenticate(&t) {
            Some(caller) => caller,
            None => return unauthorized(true).into_response(),
        },
        (None, None, Some((_, session))) => {
            // The cookie goes with any request the browser makes, so a change must also prove it
            // comes from the console's own page, which alone knows the session's CSRF value.
            if !read && req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()) != Some(session.csrf.as_str()) {
                return csrf_refused().into_response();
            }
            match platform.authenticate(&session.token) {
                Some(caller) => caller,
                None => return unauthorized(true).into_response(),
            }
        }
        (None, None, None) => {
            // The API's description is public, as Apify's is; otherwise only what `generalAccess` shares.
            let public = segs == ["openapi.json"];
            let shared = resource.is_some_and(|(r, _)| platform.shared_with_anyone(r));
            if !(read && (public || shared)) {
                return unauthorized(false).into_response();
            }
            Caller::Anonymous
        }
    };
    // The caller goes on the answer too, for the audit log (`api::audit`).
    if let Err(e) = check(&platform, &caller, req.method(), &segs, resource) {
        let mut resp = ApiError::from(e).into_response();
        resp.extensions_mut().insert(caller);
        return resp;
    }
    req.extensions_mut().insert(caller.clone());
    let mut resp = next.run(req).await;
    resp.extensions_mut().insert(caller);
    resp
}

/// The user a request acts for (the token's, or the run's), for handlers
/// that create what the user will own or list what they own.
pub struct Acting(pub crate::platform::users::User);

impl axum::extract::FromRequestParts<Arc<Platform>> for Acting {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, p: &Arc<Platform>) -> Result<Self, ApiError> {
        let caller = parts.extensions.get::<Caller>().ok_or_else(|| unauthorized(false))?;
        Ok(Acting(p.acting_user(caller)?))
    }
}

/// One request's checks: what the caller may do at all, then whether the
/// resource the path names is theirs (or shared with them).
fn check(
    platform: &Platform,
    caller: &Caller,
    method: &Method,
    segs: &[&str],
    resource: Option<(Resource<'_>, Use)>,
) -> crate::platform::error::Result<()> {
    let read = matches!(*method, Method::GET | Method::HEAD);
    if let Caller::User(principal) = caller {
        if !read && principal.scopes().is_some_and(|s| s.read_only) {
            return Err(crate::platform::error::PlatformError::Forbidden("This token is read-only".into()));
        }
    }
    if !matches!(caller, Caller::Anonymous) {
        platform.authorize(caller, action_of(method, segs))?;
    }
    match resource {
        Some((r, use_)) => platform.check_access(caller, r, use_),
        None => Ok(()),
    }
}

/// The one resource a path under `/v2` names, and what the request does
/// with it. A public Actor may be read, validated against and run by
/// anyone; its builds, versions and other parts stay its owner's.
fn resource_of<'a>(read: bool, segs: &[&'a str]) -> Option<(Resource<'a>, Use)> {
    let use_ = if read { Use::Read } else { Use::Write };
    Some(match segs {
        ["actors" | "acts", a] => (Resource::Actor(a), use_),
        ["actors" | "acts", a, "runs"] if !read => (Resource::Actor(a), Use::Run),
        ["actors" | "acts", a, "run-sync" | "run-sync-get-dataset-items" | "validate-input"] => (Resource::Actor(a), Use::Run),
        ["actors" | "acts", a, "runs", ..] if read => (Resource::Actor(a), Use::Run),
        ["actors" | "acts", a, ..] => (Resource::Actor(a), Use::Write),
        ["actor-tasks", t, ..] => (Resource::Task(t), use_),
        ["schedules", s, ..] => (Resource::Schedule(s), use_),
        ["webhooks", w, ..] => (Resource::Webhook(w), use_),
        ["webhook-dispatches", d, ..] => (Resource::Dispatch(d), use_),
        ["actor-builds", b, ..] => (Resource::Build(b), use_),
        ["actor-runs", r, ..] => (Resource::Run(r), use_),
        ["logs", id] => (Resource::Log(id), use_),
        [kind, r, ..] => (Resource::Storage(storage_kind(kind)?, r), use_),
        _ => return None,
    })
}

fn storage_kind(segment: &str) -> Option<StorageKind> {
    match segment {
        "key-value-stores" => Some(StorageKind::KeyValueStore),
        "datasets" => Some(StorageKind::Dataset),
        "request-queues" => Some(StorageKind::RequestQueue),
        _ => None,
    }
}

/// What a request under `/v2` asks to do. Anything not listed is refused
/// to runs (`ManageActors` is refused to every run).
fn action_of<'a>(method: &Method, segs: &[&'a str]) -> Action<'a> {
    let read = matches!(*method, Method::GET | Method::HEAD);
    let storage = storage_kind;
    match segs {
        ["actors" | "acts"] if read => Action::ListActors,
        ["actor-tasks"] if read => Action::ListActors,
        ["actors" | "acts" | "actor-tasks", _, "runs"] if !read => Action::StartRun,
        ["actors" | "acts" | "actor-tasks", _, "run-sync" | "run-sync-get-dataset-items"] => Action::StartRun,
        ["actors" | "acts" | "actor-tasks", _, "runs", ..] => Action::ListRuns,
        ["actor-tasks", ..] if read => Action::ReadActor,
        ["schedules", ..] if read => Action::ReadActor,
        ["actors" | "acts", _, "validate-input"] => Action::ReadActor,
        ["actors" | "acts", ..] if read => Action::ReadActor,
        ["actor-builds", ..] if read => Action::ReadActor,
        ["actors" | "acts", _, "builds"] if read => Action::ReadActor,
        ["actor-runs"] if read => Action::ListRuns,
        ["actor-runs", run] if read => Action::ReadRun(run),
        ["actor-runs", run] if *method == Method::DELETE => Action::DeleteRun(run),
        ["actor-runs", run] => Action::ControlRun(run),
        ["actor-runs", run, "abort" | "resurrect"] => Action::ControlRun(run),
        ["actor-runs", run, "reboot" | "charge" | "metamorph"] => Action::ManageOwnRun(run),
        ["actor-runs", run, "log" | "dataset" | "key-value-store" | "request-queue", ..] => Action::ReadRun(run),
        [kind] if storage(kind).is_some() => {
            if read {
                Action::ListStorages
            } else {
                Action::CreateStorage
            }
        }
        [kind, id, ..] if storage(kind).is_some() => Action::UseStorage(storage(kind).unwrap_or(StorageKind::Dataset), id),
        ["logs", id] => Action::ReadRun(id),
        ["users", "me", "tokens", ..] => Action::ManageTokens,
        ["users", "me", "quota"] if read => Action::ReadUser,
        ["users", _, "quota"] => Action::ManageUsers,
        ["users", "me", ..] if read => Action::ReadUser,
        ["users"] | ["users", _] | ["audit-log"] => Action::ManageUsers,
        ["webhooks" | "webhook-dispatches", ..] => Action::Webhooks,
        _ => Action::ManageActors,
    }
}

#[cfg(test)]
mod tests {
    use super::query_without_token;

    #[test]
    fn the_token_is_found_and_stripped_by_one_parse() {
        assert_eq!(query_without_token("token=x"), None);
        assert_eq!(query_without_token("x=1&token=y&z=2").as_deref(), Some("x=1&z=2"));
        assert_eq!(query_without_token("x=1&%74oken=y").as_deref(), Some("x=1"));
        assert_eq!(query_without_token("tok%65n=y&a=%20b").as_deref(), Some("a=%20b"));
        assert_eq!(query_without_token("tokens=1").as_deref(), Some("tokens=1"));
        assert_eq!(query_without_token("a=1;token=2").as_deref(), Some("a=1;token=2"));
    }
}
