//! Bare names in request paths are the caller's own: `/v2/datasets/results`
//! is the caller's dataset "results", another user's is `bob~results`.
//! Before routing, a bare name the caller owns becomes its ID, so every
//! handler and access check below sees an ID or `username~name`, which the
//! core resolves without knowing who asks. The caller found on the way is
//! kept for `auth::require_token`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::Uri;
use axum::middleware::Next;
use axum::response::Response;

use super::auth::request_token;
use crate::platform::access::{Caller, StorageKind};
use crate::platform::Platform;

pub async fn resolve_bare_names(State(platform): State<Arc<Platform>>, mut req: Request, next: Next) -> Response {
    if let Some(uri) = rewritten(&platform, &mut req) {
        *req.uri_mut() = uri;
    }
    next.run(req).await
}

/// The request's URI with its bare name made an ID, when it has one the caller owns.
fn rewritten(platform: &Platform, req: &mut Request) -> Option<Uri> {
    let path = req.uri().path().to_owned();
    let rest = path.strip_prefix("/v2/")?;
    let (collection, tail) = rest.split_once('/')?;
    let (reference, after) = tail.split_once('/').map_or((tail, ""), |(r, a)| (r, a));
    let decoded = percent_decode(reference)?;
    if decoded.is_empty() || decoded.contains(['~', '/']) || super::standby::standby_host_label(platform, req).is_some() {
        return None;
    }
    let caller = platform.authenticate(&request_token(req)?.0)?;
    let user_id = caller.user_id()?.to_owned();
    req.extensions_mut().insert(caller);
    let ns = Some(user_id.as_str());
    let id = match collection {
        "actors" | "acts" => platform.actor_id_in(ns, &decoded).ok()??,
        "actor-tasks" => platform.get_task_in(ns, &decoded).ok()?.id,
        "schedules" => platform.get_schedule_in(ns, &decoded).ok()?.id,
        "key-value-stores" => platform.storage_info(ns, StorageKind::KeyValueStore, &decoded).ok()?.id,
        "datasets" => platform.storage_info(ns, StorageKind::Dataset, &decoded).ok()?.id,
        "request-queues" => platform.storage_info(ns, StorageKind::RequestQueue, &decoded).ok()?.id,
        _ => return None,
    };
    if id == decoded {
        return None;
    }
    let mut path_and_query = format!("/v2/{collection}/{id}");
    if !after.is_empty() || tail.ends_with('/') {
        path_and_query.push('/');
        path_and_query.push_str(after);
    }
    if let Some(q) = req.uri().query() {
        path_and_query.push('?');
        path_and_query.push_str(q);
    }
    let mut parts = req.uri().clone().into_parts();
    parts.path_and_query = Some(path_and_query.parse().ok()?);
    Uri::from_parts(parts).ok()
}

/// A path segment with its `%XX` escapes decoded; `None` when it is not UTF-8.
fn percent_decode(segment: &str) -> Option<String> {
    percent_encoding::percent_decode_str(segment).decode_utf8().ok().map(|s| s.into_owned())
}

/// The caller found here, which `require_token` then need not find again.
pub(super) fn caller_of(req: &Request) -> Option<Caller> {
    req.extensions().get::<Caller>().cloned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn segments_decode_their_escapes() {
        assert_eq!(super::percent_decode("alice%7Eresults").as_deref(), Some("alice~results"));
        assert_eq!(super::percent_decode("plain").as_deref(), Some("plain"));
        assert_eq!(super::percent_decode("100%").as_deref(), Some("100%"));
    }
}
