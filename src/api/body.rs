//! Request bodies: decoded (gzip, br, deflate) by the decompression layer,
//! read here with a per-endpoint byte cap that applies to the *decoded*
//! size, so a compression bomb stops at the cap.

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, ApiResult};

/// Reads a whole body, at most `limit` bytes after decoding.
pub async fn read_body(body: Body, limit: usize) -> ApiResult<Bytes> {
    match axum::body::to_bytes(body, limit).await {
        Ok(b) => Ok(b),
        Err(e) => {
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
            while let Some(s) = source {
                if s.is::<http_body_util::LengthLimitError>() {
                    return Err(ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "request-too-large",
                        format!("The request body is over the limit of {limit} bytes"),
                    ));
                }
                source = s.source();
            }
            Err(ApiError::bad_request("invalid-request", format!("The request body could not be read or decoded: {e}")))
        }
    }
}

/// The request's content type, or `default`.
pub fn content_type(headers: &HeaderMap, default: &str) -> String {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).filter(|s| !s.trim().is_empty()).unwrap_or(default).to_owned()
}

/// Rejects encodings the decompression layer cannot decode with an Apify error,
/// instead of handing undecodable bytes to a handler.
pub async fn check_content_encoding(req: Request, next: Next) -> Response {
    if let Some(enc) = req.headers().get(header::CONTENT_ENCODING) {
        let enc = enc.to_str().unwrap_or("").trim().to_ascii_lowercase();
        if !matches!(enc.as_str(), "" | "identity" | "gzip" | "x-gzip" | "br" | "deflate") {
            return ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-content-encoding",
                format!("Content-Encoding \"{enc}\" is not supported; use gzip, br or deflate"),
            )
            .into_response();
        }
    }
    next.run(req).await
}
