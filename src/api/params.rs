//! Query parameters the way the Apify clients encode them: booleans as
//! `true/false/1/0`, lists comma-joined, numbers possibly decimal.

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use chrono::{DateTime, Utc};

use super::error::{ApiError, ApiResult};

/// All query parameters of a request, with typed accessors that fail with a clear 400.
pub struct Params(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(map) = Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request("invalid-parameter", format!("Malformed query string: {e}")))?;
        Ok(Params(map))
    }
}

fn invalid(name: &str, value: &str, what: &str) -> ApiError {
    ApiError::bad_request("invalid-parameter", format!("Query parameter \"{name}\" must be {what}, got \"{value}\""))
}

impl Params {
    /// The parameters of a raw query string (a request already taken apart).
    pub fn from_query(query: Option<&str>) -> ApiResult<Params> {
        let Query(map) = Query::<HashMap<String, String>>::try_from_uri(
            &format!("/?{}", query.unwrap_or(""))
                .parse()
                .map_err(|_| ApiError::bad_request("invalid-parameter", "Malformed query string"))?,
        )
        .map_err(|e| ApiError::bad_request("invalid-parameter", format!("Malformed query string: {e}")))?;
        Ok(Params(map))
    }

    pub fn str(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str).filter(|s| !s.is_empty())
    }

    pub fn bool(&self, name: &str) -> ApiResult<Option<bool>> {
        match self.str(name) {
            None => Ok(None),
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(Some(true)),
                "false" | "0" => Ok(Some(false)),
                _ => Err(invalid(name, v, "true, false, 1 or 0")),
            },
        }
    }

    pub fn flag(&self, name: &str) -> ApiResult<bool> {
        Ok(self.bool(name)?.unwrap_or(false))
    }

    pub fn u64(&self, name: &str) -> ApiResult<Option<u64>> {
        match self.str(name) {
            None => Ok(None),
            Some(v) => {
                // Clients may send integers as decimals ("60.0").
                if let Ok(n) = v.parse::<u64>() {
                    return Ok(Some(n));
                }
                match v.parse::<f64>() {
                    Ok(f) if f.is_finite() && f >= 0.0 => Ok(Some(f as u64)),
                    _ => Err(invalid(name, v, "a non-negative number")),
                }
            }
        }
    }

    pub fn f64(&self, name: &str) -> ApiResult<Option<f64>> {
        match self.str(name) {
            None => Ok(None),
            Some(v) => match v.parse::<f64>() {
                Ok(f) if f.is_finite() && f >= 0.0 => Ok(Some(f)),
                _ => Err(invalid(name, v, "a non-negative number")),
            },
        }
    }

    pub fn list(&self, name: &str) -> Vec<String> {
        self.str(name).map(|v| v.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect()).unwrap_or_default()
    }

    pub fn datetime(&self, name: &str) -> ApiResult<Option<DateTime<Utc>>> {
        match self.str(name) {
            None => Ok(None),
            Some(v) => {
                DateTime::parse_from_rfc3339(v).map(|t| Some(t.with_timezone(&Utc))).map_err(|_| invalid(name, v, "an ISO 8601 date"))
            }
        }
    }
}

/// `offset`, `limit`, `desc` of offset-paginated lists.
pub struct Page {
    pub offset: usize,
    pub limit: usize,
    pub desc: bool,
}

impl Params {
    pub fn page(&self, max_limit: usize) -> ApiResult<Page> {
        Ok(Page {
            offset: self.u64("offset")?.unwrap_or(0) as usize,
            limit: self.u64("limit")?.map(|l| l as usize).unwrap_or(max_limit).clamp(1, max_limit),
            desc: self.flag("desc")?,
        })
    }
}
