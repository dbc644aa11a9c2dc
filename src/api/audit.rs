//! The API's part of the audit log (`platform::audit`): every request that
//! changes something is an entry once it is answered, and the admin reads
//! the log at `GET /v2/audit-log`.

use std::sync::Arc;

use axum::extract::{OriginalUri, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use serde_json::json;

use super::error::ApiResult;
use super::params::Params;
use crate::platform::access::Caller;
use crate::platform::audit::{AuditQuery, Door};
use crate::platform::Platform;

/// Paths that write storage data (items, records, requests, charges): a
/// crawl makes millions of them, and they stay inside what the run may write.
fn is_data_write(path: &str) -> bool {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let data = |s: &str| matches!(s, "items" | "records" | "requests" | "head");
    // `/datasets/{id}/items`, and a run's own `/actor-runs/{id}/dataset/items`.
    segs.windows(3).any(|w| matches!(w[0], "datasets" | "key-value-stores" | "request-queues") && data(w[2]))
        || segs.windows(2).any(|w| matches!(w[0], "dataset" | "key-value-store" | "request-queue") && data(w[1]))
        || segs.last() == Some(&"charge")
}

/// The middleware, outside the token check: it reads the caller that the
/// check left on the answer (none when the token was not valid).
pub async fn record(State(p): State<Arc<Platform>>, req: Request, next: Next) -> Response {
    let changes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    // The whole path (this router is nested under `/v2`), names already resolved to IDs.
    let path = req.extensions().get::<OriginalUri>().map_or_else(|| req.uri().path(), |u| u.0.path()).to_owned();
    if !changes || is_data_write(&path) {
        return next.run(req).await;
    }
    let method = req.method().to_string();
    let resp = next.run(req).await;
    let caller = resp.extensions().get::<Caller>().cloned().unwrap_or(Caller::Anonymous);
    p.audit(&caller, Door::Api, &method, &path, resp.status().as_u16(), None);
    resp
}

/// `GET /v2/audit-log` (the admin): `offset`, `limit`, `desc`, `userId`, `since`.
pub async fn list(State(p): State<Arc<Platform>>, q: Params) -> ApiResult<Response> {
    let page = q.page(p.config.limits.max_list_limit)?;
    let query = AuditQuery {
        user_id: q.str("userId").map(str::to_owned),
        since: q.datetime("since")?,
        offset: page.offset,
        limit: page.limit,
        desc: page.desc,
    };
    let (total, items) = super::blocking(&p, move |p| p.audit_page(&query)).await?;
    Ok(super::views::raw_data(&json!({
        "total": total, "offset": page.offset, "limit": page.limit, "count": items.len(), "desc": page.desc, "items": items,
    })))
}

#[cfg(test)]
mod tests {
    #[test]
    fn storage_data_writes_are_told_from_management() {
        for path in [
            "/v2/datasets/a/items",
            "/v2/key-value-stores/a/records/OUTPUT",
            "/v2/request-queues/q/requests/batch",
            "/v2/actor-runs/r/dataset/items",
            "/v2/actor-runs/r/charge",
            "/v2/request-queues/q/head/lock",
        ] {
            assert!(super::is_data_write(path), "{path}");
        }
        for path in ["/v2/datasets/items", "/v2/acts/datasets/runs", "/v2/actor-runs/r/abort", "/v2/users", "/v2/datasets/a"] {
            assert!(!super::is_data_write(path), "{path}");
        }
    }
}
