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
use crate::platform::access::{Action, Caller, StorageKind};
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

pub fn unauthorized(presented: bool) -> ApiError {
    if presented {
        ApiError::new(StatusCode::UNAUTHORIZED, "token-not-valid", "Authentication token is not valid")
    } else {
        ApiError::new(StatusCode::UNAUTHORIZED, "token-not-provided", "Authentication token was not provided")
    }
}

pub async fn require_token(State(platform): State<Arc<Platform>>, mut req: Request, next: Next) -> Response {
    let caller = match request_token(&req) {
        Some((t, _)) => match platform.authenticate(&t) {
            Some(caller) => caller,
            None => return unauthorized(true).into_response(),
        },
        None => {
            let path = req.uri().path();
            let read = matches!(*req.method(), Method::GET | Method::HEAD);
            // The API's description is public, as Apify's is.
            let public = path == "/v2/openapi.json";
            if !(read && (public || platform.shared_for_reading(path.strip_prefix("/v2").unwrap_or(path)))) {
                return unauthorized(false).into_response();
            }
            Caller::Anonymous
        }
    };
    if let Caller::Run(grant) = &caller {
        let path = req.uri().path();
        let action = action_of(req.method(), path.strip_prefix("/v2").unwrap_or(path));
        if let Err(e) = platform.authorize_run(grant, action) {
            return ApiError::from(e).into_response();
        }
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// What a request under `/v2` asks to do. Anything not listed is refused
/// to runs (`ManageActors` is refused to every run).
fn action_of<'a>(method: &Method, path: &'a str) -> Action<'a> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let read = matches!(*method, Method::GET | Method::HEAD);
    let storage = |s: &str| match s {
        "key-value-stores" => Some(StorageKind::KeyValueStore),
        "datasets" => Some(StorageKind::Dataset),
        "request-queues" => Some(StorageKind::RequestQueue),
        _ => None,
    };
    match segs.as_slice() {
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
        ["users", "me", ..] if read => Action::ReadUser,
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
