//! Logs as `text/plain`, optionally streamed until the run finishes.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, ApiResult};
use super::params::Params;
use crate::platform::Platform;

type P = State<Arc<Platform>>;

/// How often a streamed log looks for new output.
const STREAM_POLL: Duration = Duration::from_millis(100);

pub async fn get_log(State(p): P, Path(id): Path<String>, q: Params) -> ApiResult<Response> {
    if p.get_run(&id).is_err() && p.get_build(&id).is_err() {
        return Err(ApiError::not_found(format!("No run or build with ID {id}")));
    }
    log_response(p, id, &q)
}

pub async fn get_run_log(State(p): P, Path(run): Path<String>, q: Params) -> ApiResult<Response> {
    let run = p.get_run(&run)?;
    log_response(p, run.id, &q)
}

pub async fn get_build_log(State(p): P, Path(build): Path<String>, q: Params) -> ApiResult<Response> {
    let build = p.get_build(&build)?;
    log_response(p, build.id, &q)
}

fn log_response(p: Arc<Platform>, id: String, q: &Params) -> ApiResult<Response> {
    let raw = q.flag("raw")?;
    let stream = q.flag("stream")?;
    let mut resp = if stream {
        let body = futures::stream::unfold((p, id, 0u64, false), move |(p, id, offset, done)| async move {
            if done {
                return None;
            }
            loop {
                let run = p.get_run(&id).ok();
                let finished = match &run {
                    Some(run) => run.status.is_terminal(),
                    None => p.get_build(&id).map_or(true, |b| b.finished_at.is_some()),
                };
                let chunk = p.logs.read_from(&id, offset).unwrap_or_default();
                if !chunk.is_empty() {
                    let next = offset + chunk.len() as u64;
                    let chunk = if raw { chunk } else { strip_ansi(&chunk) };
                    return Some((Ok::<_, std::io::Error>(chunk), (p, id, next, false)));
                }
                if finished || p.is_shutting_down() {
                    return None;
                }
                // Wakes when a run ends; a build's log is simply looked at again.
                match run {
                    Some(_) => drop(p.wait_for_finish(&id, STREAM_POLL).await),
                    None => tokio::time::sleep(STREAM_POLL).await,
                }
            }
        });
        (StatusCode::OK, Body::from_stream(body)).into_response()
    } else {
        let bytes = p.logs.read_from(&id, 0).map_err(|e| ApiError::from(crate::platform::error::PlatformError::internal(e.to_string())))?;
        let bytes = if raw { bytes } else { strip_ansi(&bytes) };
        (StatusCode::OK, bytes).into_response()
    };
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    if q.flag("download")? {
        resp.headers_mut().insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"log.txt\""));
    }
    Ok(resp)
}

/// Drops ANSI escape sequences (colours), as the API does unless `raw` is set.
fn strip_ansi(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == 0x1b && bytes.get(i + 1) == Some(&b'[') {
            i += 2;
            while i < bytes.len() && !(0x40..=0x7e).contains(&bytes[i]) {
                i += 1;
            }
            i += 1;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn ansi_is_stripped() {
        assert_eq!(super::strip_ansi(b"\x1b[31mred\x1b[0m ok"), b"red ok");
    }
}
