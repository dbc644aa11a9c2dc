//! A JSON API Actor in Standby mode, over the `kv-api` key-value store:
//!
//! - `GET /items` — every key with its size
//! - `GET /items/{key}` — the stored JSON, or 404
//! - `PUT /items/{key}` — stores the JSON body
//! - `DELETE /items/{key}`
//! - `POST /log` — appends the JSON body to the run's default dataset

use serde_json::{json, Value};
use wactor_sdk::http::{Request, Response};
use wactor_sdk::{Error, KeyValueStore};

const STORE: &str = "kv-api";

fn handle(req: Request) -> wactor_sdk::Result<Response> {
    let segments: Vec<&str> = req.path().trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    match (req.method(), segments.as_slice()) {
        ("GET", ["items"]) => {
            let store = KeyValueStore::open(STORE)?;
            let mut items = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let page = store.list_keys(after.as_deref(), 1000, None)?;
                items.extend(page.keys.into_iter().map(|(key, size)| json!({ "key": key, "size": size })));
                match page.next_exclusive_start_key {
                    Some(k) => after = Some(k),
                    None => break,
                }
            }
            Ok(Response::json(200, &json!({ "items": items })))
        }
        ("GET", ["items", key]) => match KeyValueStore::open(STORE)?.get_value::<Value>(key)? {
            Some(v) => Ok(Response::json(200, &v)),
            None => Err(Error::NotFound(format!("No item \"{key}\""))),
        },
        ("PUT", ["items", key]) => {
            let value: Value = req.json()?;
            KeyValueStore::open(STORE)?.set_value(key, &value)?;
            Ok(Response::json(200, &json!({ "key": key, "stored": true })))
        }
        ("DELETE", ["items", key]) => {
            KeyValueStore::open(STORE)?.delete(key)?;
            Ok(Response::new(204))
        }
        ("POST", ["log"]) => {
            let entry: Value = req.json()?;
            wactor_sdk::push_data(&entry)?;
            Ok(Response::json(201, &json!({ "logged": true })))
        }
        (_, ["items"] | ["items", _] | ["log"]) => Ok(Response::json(
            405,
            &json!({ "error": { "type": "method-not-allowed", "message": format!("{} is not allowed on {}", req.method(), req.path()) } }),
        )),
        _ => Err(Error::NotFound(format!("No route for {} {}", req.method(), req.path()))),
    }
}

wactor_sdk::standby!(handle);
