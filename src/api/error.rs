//! The API's one error type: every failure becomes Apify's
//! `{"error": {"type", "message"}}` with the status the clients expect.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::platform::error::PlatformError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: String,
    pub message: String,
    /// `error.data`, where an error carries details (the invalid items of a push).
    /// Boxed: errors travel in every `Result`, and most have none.
    pub data: Option<Box<serde_json::Value>>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, kind: &str, message: impl Into<String>) -> Self {
        ApiError { status, kind: kind.to_owned(), message: message.into(), data: None }
    }

    pub fn bad_request(kind: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, kind, message)
    }

    /// A 500 for the server's own failure. The details stay in the server's
    /// log under a request ID; the client gets only that ID to quote.
    pub fn internal(details: &dyn std::fmt::Display) -> Self {
        let request_id = crate::ids::new_id();
        tracing::error!(request_id, error = %details, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal-server-error",
            format!("The server failed on this request; quote request ID {request_id} when reporting it"),
        )
    }

    /// A 404. The type must be `record-not-found`: the JS client treats any
    /// other 404 body as an error instead of "absent".
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "record-not-found", message)
    }
}

impl From<PlatformError> for ApiError {
    fn from(e: PlatformError) -> Self {
        let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        match e {
            PlatformError::NotFound(m) => ApiError::new(status, "record-not-found", m),
            PlatformError::Invalid { kind, message }
            | PlatformError::TooLarge { kind, message }
            | PlatformError::Limit { kind, message }
            | PlatformError::OverQuota { kind, message, .. }
            | PlatformError::ExecutorMissing { kind, message } => ApiError::new(status, kind, message),
            PlatformError::Conflict(m) => ApiError::new(status, "conflict", m),
            PlatformError::Forbidden(m) => ApiError::new(status, "insufficient-permissions", m),
            PlatformError::Locked(m) => ApiError::new(status, "request-handled-or-locked", m),
            PlatformError::Unavailable(m) => ApiError::new(status, "server-shutting-down", m),
            PlatformError::SchemaValidation { message, invalid_items } => ApiError {
                data: Some(Box::new(json!({"invalidItems": invalid_items}))),
                ..ApiError::new(status, "schema-validation-error", message)
            },
            e @ (PlatformError::Storage(_) | PlatformError::Internal(_)) => ApiError::internal(&e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({"error": {"type": self.kind, "message": self.message}});
        if let Some(data) = self.data {
            body["error"]["data"] = *data;
        }
        (self.status, Json(body)).into_response()
    }
}
