//! API token check: `Authorization: Bearer <token>` or `?token=<token>`.

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

use super::error::ApiError;
use crate::platform::Platform;

pub fn request_token(req: &Request) -> Option<String> {
    if let Some(v) = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        if let Some(t) = v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")) {
            return Some(t.trim().to_owned());
        }
    }
    let query = req.uri().query()?;
    form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "token").map(|(_, v)| v.into_owned())
}

/// Constant-time comparison, so response timing does not leak the token.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub async fn require_token(State(platform): State<Arc<Platform>>, req: Request, next: Next) -> Response {
    match request_token(&req) {
        None => ApiError::new(StatusCode::UNAUTHORIZED, "token-not-provided", "Authentication token was not provided").into_response(),
        Some(t) if same_token(&t, &platform.config.token) => next.run(req).await,
        Some(_) => ApiError::new(StatusCode::UNAUTHORIZED, "token-not-valid", "Authentication token is not valid").into_response(),
    }
}
