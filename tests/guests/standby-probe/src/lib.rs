//! Test guest for Standby: each path exercises one behaviour.
//!
//! - `/echo` — method, path, query, body, the run's ID and Standby env
//! - `/sleep?ms=N` — holds the request N ms (to pile up concurrency)
//! - `/trap` — panics (a trap)
//! - `/loop` — logs "spinning forever", then does
//! - `/memory?mb=N` — touches N MB
//! - `/status?m=...` — sets the run's status message
//! - `/count` — how many requests this instance has answered, itself included

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::json;

/// Lives as long as the instance: 1 on every request unless instances are reused.
static ANSWERED: AtomicU64 = AtomicU64::new(0);
use wactor_sdk::http::{Request, Response};

fn handle(req: Request) -> wactor_sdk::Result<Response> {
    let answered = ANSWERED.fetch_add(1, Ordering::Relaxed) + 1;
    match req.path() {
        "/count" => Ok(Response::json(200, &json!({ "answered": answered, "runId": wactor_sdk::run_info().run_id }))),
        "/sleep" => {
            let ms: u64 = req.query_param("ms").and_then(|v| v.parse().ok()).unwrap_or(100);
            std::thread::sleep(std::time::Duration::from_millis(ms));
            Ok(Response::json(200, &json!({ "slept": ms, "runId": wactor_sdk::run_info().run_id })))
        }
        "/trap" => panic!("the handler panicked on purpose"),
        "/loop" => {
            eprintln!("spinning forever");
            let mut x: u64 = 0;
            loop {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }
        "/memory" => {
            let mb: usize = req.query_param("mb").and_then(|v| v.parse().ok()).unwrap_or(1);
            let v = vec![1u8; mb * 1024 * 1024];
            Ok(Response::json(200, &json!({ "touched": std::hint::black_box(v).len() })))
        }
        "/status" => {
            wactor_sdk::set_status_message(&req.query_param("m").unwrap_or_default())?;
            Ok(Response::new(204))
        }
        _ => {
            let info = wactor_sdk::run_info();
            Ok(Response::json(
                200,
                &json!({
                    "method": req.method(),
                    "path": req.path(),
                    "query": req.query(),
                    "params": req.query_pairs(),
                    "body": req.text(),
                    "contentType": req.header("content-type"),
                    "authorization": req.header("authorization"),
                    "runId": info.run_id,
                    "defaultKeyValueStoreId": info.default_key_value_store_id,
                    "standbyUrl": std::env::var("ACTOR_STANDBY_URL").ok(),
                    "origin": std::env::var("APIFY_META_ORIGIN").ok(),
                }),
            ))
        }
    }
}

wactor_sdk::standby!(handle);
