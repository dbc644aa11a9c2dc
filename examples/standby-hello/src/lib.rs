//! A Standby Actor: echoes every request; `/count` also counts requests in
//! the `standby-hello` key-value store, which outlives the Standby runs.
//!
//! ```text
//! curl -H "Authorization: Bearer $TOKEN" 'http://me--standby-hello.localhost:8080/hi?x=1'
//! curl -H "Authorization: Bearer $TOKEN" 'http://me--standby-hello.localhost:8080/count'
//! ```

use serde_json::json;
use wactor_sdk::http::{Request, Response};
use wactor_sdk::KeyValueStore;

fn handle(req: Request) -> wactor_sdk::Result<Response> {
    if req.path() == "/count" {
        let store = KeyValueStore::open("standby-hello")?;
        let count = store.get_value::<u64>("COUNT")?.unwrap_or(0) + 1;
        store.set_value("COUNT", &count)?;
        return Ok(Response::json(200, &json!({ "count": count })));
    }
    // The echo touches no storage, so it also runs under plain `wasmtime serve`.
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
