//! A Standby Actor: echoes every request; `/count` also counts requests in
//! the `standby-hello` key-value store, which outlives the Standby runs.
//!
//! ```text
//! curl -H "Authorization: Bearer $TOKEN" 'http://me--standby-hello.localhost:8080/hi?x=1'
//! curl -H "Authorization: Bearer $TOKEN" 'http://me--standby-hello.localhost:8080/count'
//! ```

use serde_json::json;
use wactor_sdk::http::{Request, Response};

const STORE: Option<&str> = Some("standby-hello");

fn handle(req: Request) -> wactor_sdk::Result<Response> {
    if req.path() == "/count" {
        let count = wactor_sdk::get_value_in::<u64>(STORE, "COUNT")?.unwrap_or(0) + 1;
        wactor_sdk::set_value_in(STORE, "COUNT", &count)?;
        return Ok(Response::json(200, &json!({ "count": count })));
    }
    // The echo touches no storage, so the same component also runs under
    // `wasmtime serve -Wunknown-imports-trap=y` (the Standby benchmark).
    Ok(Response::json(
        200,
        &json!({
            "hello": "from a wactor Standby Actor",
            "method": req.method(),
            "path": req.path(),
            "query": req.query(),
            "bodyBytes": req.body().len(),
        }),
    ))
}

wactor_sdk::standby!(handle);
