//! The platform core's error type. Each door maps it: the HTTP API to an
//! Apify error body, the WIT host to the guest-visible `error` variant.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum PlatformError {
    /// Something named does not exist (actor, run, store, record).
    #[error("{0}")]
    NotFound(String),
    /// The caller sent something malformed. `kind` is the Apify error type
    /// (`invalid-input`, `invalid-record-key`, ...).
    #[error("{message}")]
    Invalid { kind: &'static str, message: String },
    /// A size or count limit was hit. `kind` as for `Invalid`.
    #[error("{message}")]
    TooLarge { kind: &'static str, message: String },
    /// A count or rate limit was reached (reboots of a run, ...); the
    /// request was fine, doing it again will not help.
    #[error("{message}")]
    Limit { kind: &'static str, message: String },
    /// The user's quota would be exceeded (memory: 402, as Apify answers;
    /// runs at once: 429). The message names the limit.
    #[error("{message}")]
    OverQuota { kind: &'static str, message: String, payment: bool },
    /// The operation conflicts with the current state (e.g. name taken).
    #[error("{0}")]
    Conflict(String),
    /// Not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// A request queue's request is locked by another client (or not locked by this one).
    #[error("{0}")]
    Locked(String),
    /// The server cannot take this now (shutting down); retrying later helps.
    #[error("{0}")]
    Unavailable(String),
    /// The executor this needs is not on this server (no Docker, say).
    /// `kind` as for `Invalid` (`docker-not-available`).
    #[error("{message}")]
    ExecutorMissing { kind: &'static str, message: String },
    /// Items that fail their dataset's schema; `invalid_items` lists each with its errors.
    #[error("{message}")]
    SchemaValidation { message: String, invalid_items: serde_json::Value },
    /// Storage failure.
    #[error("storage error: {0}")]
    Storage(#[from] sled::Error),
    /// Anything else that is the platform's fault.
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = PlatformError> = std::result::Result<T, E>;

impl PlatformError {
    /// The HTTP status that tells this error, as Apify answers it: the API
    /// sends it, and the audit log records it for WIT calls as well.
    pub fn http_status(&self) -> u16 {
        match self {
            PlatformError::NotFound(_) => 404,
            PlatformError::Invalid { .. } | PlatformError::Limit { .. } | PlatformError::SchemaValidation { .. } => 400,
            PlatformError::TooLarge { .. } => 413,
            PlatformError::OverQuota { payment: true, .. } => 402,
            PlatformError::OverQuota { payment: false, .. } => 429,
            PlatformError::Conflict(_) | PlatformError::Locked(_) => 409,
            PlatformError::Forbidden(_) => 403,
            PlatformError::Unavailable(_) | PlatformError::ExecutorMissing { .. } => 503,
            PlatformError::Storage(_) | PlatformError::Internal(_) => 500,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        PlatformError::Invalid { kind: "invalid-input", message: message.into() }
    }
    pub fn invalid_kind(kind: &'static str, message: impl Into<String>) -> Self {
        PlatformError::Invalid { kind, message: message.into() }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        PlatformError::NotFound(message.into())
    }
    pub fn too_large(kind: &'static str, message: impl Into<String>) -> Self {
        PlatformError::TooLarge { kind, message: message.into() }
    }
    pub fn limit(kind: &'static str, message: impl Into<String>) -> Self {
        PlatformError::Limit { kind, message: message.into() }
    }
    pub fn internal(message: impl Into<String>) -> Self {
        PlatformError::Internal(message.into())
    }
}

impl From<serde_json::Error> for PlatformError {
    fn from(e: serde_json::Error) -> Self {
        PlatformError::Internal(format!("corrupt stored record: {e}"))
    }
}
