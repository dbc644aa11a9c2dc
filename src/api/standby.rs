//! HTTP door: the Standby router. Requests to `<username>--<actor>.<standby domain>`
//! (by `Host`), or to `/standby/<username>~<actor>/...` for clients that
//! cannot set `Host`, go to the Actor's Standby runs with their method,
//! path, query and body untouched, except that the API token is taken out
//! so the Actor never sees it. `<key>.<standby domain>` (no `--`) is a run's
//! `containerUrl`, handled by `containers`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::Limited;

use super::auth::{query_without_token, request_token, unauthorized, TokenSource};
use super::error::ApiError;
use crate::platform::access::{Resource, Use};
use crate::platform::executors::ServeError;
use crate::platform::standby::StandbyError;
use crate::platform::Platform;

/// Path prefix for Standby requests routed by path.
const PATH_PREFIX: &str = "/standby/";

/// Where a request is going, if it is a Standby request.
struct Target {
    actor_ref: String,
    /// The path and query the Actor sees.
    path_and_query: String,
}

/// Runs before the API router: Standby and container requests never reach `/v2`.
pub async fn route(State(platform): State<Arc<Platform>>, req: Request, next: Next) -> Response {
    // Parsed once: `<user>--<actor>` is a Standby Actor, any other label a run's container URL.
    let host_label = standby_host_label(&platform, &req);
    if let Some(key) = host_label.as_deref().filter(|l| !l.contains("--")) {
        return super::containers::handle(&platform, key, req).await;
    }
    match target(&platform, &req, host_label) {
        Some(Ok(target)) => handle(platform, target, req).await,
        // Without the token nothing about names is told (see `handle`).
        Some(Err(_)) if !is_authorized(&platform, &req) => unauthorized(request_token(&req).is_some()).into_response(),
        Some(Err(e)) => e.into_response(),
        None => next.run(req).await,
    }
}

/// Whether the request presents a valid token (of a user or a run).
fn is_authorized(platform: &Platform, req: &Request) -> bool {
    request_token(req).is_some_and(|(t, _)| platform.authenticate(&t).is_some())
}

fn target(platform: &Platform, req: &Request, host_label: Option<String>) -> Option<Result<Target, ApiError>> {
    let path_and_query = req.uri().path_and_query().map_or("/", |pq| pq.as_str()).to_owned();
    if let Some(label) = host_label {
        return Some(actor_from_label(platform, &label, '-').map(|actor_ref| Target { actor_ref, path_and_query }));
    }
    let rest = path_and_query.strip_prefix(PATH_PREFIX)?;
    let (label, tail) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let path_and_query = match tail {
        "" => "/".to_owned(),
        t if t.starts_with('?') => format!("/{t}"),
        t => t.to_owned(),
    };
    Some(actor_from_label(platform, label, '~').map(|actor_ref| Target { actor_ref, path_and_query }))
}

/// `<label>` of a `Host: <label>.<standby domain>[:port]`.
pub(super) fn standby_host_label(platform: &Platform, req: &Request) -> Option<String> {
    let host = req.uri().host().map(str::to_owned).or_else(|| {
        let h = req.headers().get(header::HOST)?.to_str().ok()?;
        Some(h.rsplit_once(':').filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit())).map_or(h, |(host, _)| host).to_owned())
    })?;
    let host = host.to_ascii_lowercase();
    let label = host.strip_suffix(&platform.config.standby_domain)?.strip_suffix('.')?;
    (!label.is_empty() && !label.contains('.')).then(|| label.to_owned())
}

/// `<username>--<actor>` (host) or `<username>~<actor>` (path) to an Actor reference.
fn actor_from_label(platform: &Platform, label: &str, separator: char) -> Result<String, ApiError> {
    let split = match separator {
        '-' => label.split_once("--"),
        _ => label.split_once('~'),
    };
    let Some((user, actor)) = split.filter(|(u, a)| !u.is_empty() && !a.is_empty()) else {
        return Err(ApiError::not_found(format!(
            "\"{label}\" names no Standby Actor: use <username>--<actor>.{} or /standby/<username>~<actor>/",
            platform.config.standby_domain
        )));
    };
    Ok(format!("{}~{actor}", user.to_ascii_lowercase()))
}

async fn handle(platform: Arc<Platform>, target: Target, mut req: Request) -> Response {
    let presented = request_token(&req);
    let caller = presented.as_ref().and_then(|(t, _)| platform.authenticate(t));
    let authorized = caller.is_some();
    // Authenticate before telling anything: without a token only a public
    // Standby Actor answers, and every other name (no such Actor, not in
    // Standby mode, not public) gets the same 401. With a token, only the
    // owner's Actors answer; another user's are not found.
    let (actor, settings) = match platform.standby_target(&target.actor_ref) {
        Ok((actor, settings)) if settings.is_public => (actor, settings),
        // The one access check of both doors: owner, token scopes, public Actors.
        Ok((actor, settings))
            if caller.as_ref().is_some_and(|c| platform.check_access(c, Resource::Actor(&actor.id), Use::Run).is_ok()) =>
        {
            (actor, settings)
        }
        Ok(_) if authorized => return ApiError::not_found(format!("Actor was not found: {}", target.actor_ref)).into_response(),
        Err(e) if authorized => return ApiError::from(e).into_response(),
        _ => return unauthorized(presented.is_some()).into_response(),
    };
    // The Actor gets the request, not the caller's API token: what
    // authenticated is taken out, by the same parse that found it.
    let path_and_query = strip_token_param(&target.path_and_query);
    if authorized && presented.is_some_and(|(_, source)| source == TokenSource::Header) {
        req.headers_mut().remove(header::AUTHORIZATION);
    }
    match path_and_query.parse::<Uri>() {
        Ok(uri) => *req.uri_mut() = uri,
        Err(e) => return ApiError::bad_request("invalid-request", format!("The request path is not valid: {e}")).into_response(),
    }
    if !req.headers().contains_key(header::HOST) {
        if let Ok(v) =
            HeaderValue::from_str(&format!("{}.{}", platform.standby_label(&actor.username, &actor.name), platform.config.standby_domain))
        {
            req.headers_mut().insert(header::HOST, v);
        }
    }
    let req = match limit_body(&platform, req) {
        Ok(req) => req,
        Err(e) => return e.into_response(),
    };
    match platform.standby_request(&actor, &settings, req).await {
        Ok(resp) => resp,
        Err(e) => error_response(e),
    }
}

/// Caps the body of a request going to an Actor (declared length up front, the stream as it comes).
pub(super) fn limit_body(platform: &Platform, req: Request) -> Result<Request, ApiError> {
    let max = platform.config.limits.max_standby_request_bytes;
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "request-too-large", format!("The request body is over {max} bytes")));
    }
    Ok(req.map(|body| Body::new(Limited::new(body, max))))
}

fn error_response(e: StandbyError) -> Response {
    let (status, kind, message, retry) = match e {
        StandbyError::Platform(e) => return ApiError::from(e).into_response(),
        StandbyError::Overloaded { retry_after_secs } => (
            StatusCode::SERVICE_UNAVAILABLE,
            "actor-standby-overloaded",
            "Every Standby run of this Actor is at its request limit and the queue wait ran out; retry later".to_owned(),
            Some(retry_after_secs),
        ),
        StandbyError::Serve(ServeError::Crashed(m)) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "actor-standby-handler-failed", format!("The Actor failed to answer: {m}"), None)
        }
        StandbyError::Serve(ServeError::TimedOut(d)) => {
            (StatusCode::GATEWAY_TIMEOUT, "actor-standby-timeout", format!("The Actor did not answer within {} s", d.as_secs()), None)
        }
        StandbyError::Serve(ServeError::Unavailable(m)) => (StatusCode::SERVICE_UNAVAILABLE, "actor-standby-unavailable", m, Some(1)),
        StandbyError::StartFailed { why, retry_after_secs } => (
            StatusCode::SERVICE_UNAVAILABLE,
            "actor-standby-start-failed",
            format!("The Actor's Standby run failed to start: {why}"),
            Some(retry_after_secs),
        ),
    };
    let mut resp = ApiError::new(status, kind, message).into_response();
    if let Some(secs) = retry {
        resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// The path and query without a `token` parameter.
fn strip_token_param(path_and_query: &str) -> String {
    match path_and_query.split_once('?') {
        None => path_and_query.to_owned(),
        Some((path, query)) => match query_without_token(query) {
            Some(kept) => format!("{path}?{kept}"),
            None => path.to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::strip_token_param;

    #[test]
    fn token_is_taken_out_of_the_query_and_nothing_else() {
        assert_eq!(strip_token_param("/a?token=x"), "/a");
        assert_eq!(strip_token_param("/a?x=1&token=y&z=2"), "/a?x=1&z=2");
        assert_eq!(strip_token_param("/a?x=1&%74oken=y&tok%65n=z"), "/a?x=1");
        assert_eq!(strip_token_param("/a?tokens=1"), "/a?tokens=1");
        assert_eq!(strip_token_param("/a"), "/a");
    }
}
