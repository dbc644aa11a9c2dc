//! In-process tests of the API door: the router from [`super::app`] on a
//! platform in a temporary directory, driven with `oneshot` (no socket).
//! Each asserts the status and the Apify error type a client would see.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request};
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::platform::executors::{ArtifactKind, Executors};
use crate::platform::Platform;

const TOKEN: &str = "test-token";

async fn call(platform: &Arc<Platform>, method: Method, path: &str, body: Option<Value>, token: bool) -> (u16, Value) {
    let mut req = Request::builder().method(method).uri(path);
    if token {
        req = req.header("authorization", format!("Bearer {TOKEN}"));
    }
    let body = match body {
        Some(v) => {
            req = req.header("content-type", "application/json");
            Body::from(serde_json::to_vec(&v).unwrap())
        }
        None => Body::empty(),
    };
    let resp = super::app(platform.clone()).oneshot(req.body(body).unwrap()).await.unwrap();
    let status = resp.status().as_u16();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn kind(body: &Value) -> &str {
    body["error"]["type"].as_str().unwrap_or("")
}

#[tokio::test]
async fn errors_map_to_apify_statuses_and_types() {
    let (p, _dir) = crate::testing::open_temp();
    let cases: &[(Method, &str, Option<Value>, bool, u16, &str)] = &[
        (Method::GET, "/v2/acts", None, false, 401, "token-not-provided"),
        (Method::GET, "/v2/acts/nobody~nothing", None, true, 404, "record-not-found"),
        (Method::GET, "/v2/actor-runs/nothing", None, true, 404, "record-not-found"),
        (Method::POST, "/v2/acts", Some(json!({"title": "no name"})), true, 400, "invalid-input"),
        (Method::GET, "/v2/actor-runs?status=DONE", None, true, 400, "invalid-parameter"),
        (Method::GET, "/v2/actor-runs?origin=SOMEWHERE", None, true, 400, "invalid-parameter"),
        (Method::PUT, "/v2/actor-runs/nothing", Some(json!({"generalAccess": "PUBLIC"})), true, 400, "invalid-value"),
        (Method::GET, "/v2/no-such-endpoint", None, true, 404, "page-not-found"),
        (Method::GET, "/no-such-endpoint", None, true, 404, "page-not-found"),
        (Method::PATCH, "/v2/acts", None, true, 405, "method-not-allowed"),
        (Method::DELETE, "/v2/datasets/x/items", None, true, 405, "method-not-allowed"),
    ];
    for (method, path, body, token, status, expected) in cases {
        let (got, answer) = call(&p, method.clone(), path, body.clone(), *token).await;
        assert_eq!((got, kind(&answer)), (*status, *expected), "{method} {path}: {answer}");
    }
}

#[tokio::test]
async fn the_same_limit_holds_for_a_record_and_keys_are_clamped_not_refused() {
    let (p, _dir) = crate::testing::open_temp_with(|o| o.limits.max_record_bytes = 1024, |o| crate::executor::standard(o).unwrap());
    let store = p.kv.create(None, None).unwrap().info.id;
    let put = |body: Vec<u8>| {
        let req = Request::put(format!("/v2/key-value-stores/{store}/records/k"))
            .header("authorization", format!("Bearer {TOKEN}"))
            .body(Body::from(body))
            .unwrap();
        super::app(p.clone()).oneshot(req)
    };
    assert_eq!(put(vec![b'x'; 1024]).await.unwrap().status(), 201);
    let resp = put(vec![b'x'; 1025]).await.unwrap();
    assert_eq!(resp.status(), 413);
    // The core gives the same verdict to any door.
    let e = p.kv.set_record(&store, "k", &[b'y'; 1025], "text/plain").unwrap_err();
    assert!(matches!(e, crate::platform::error::PlatformError::TooLarge { kind: "record-too-large", .. }), "{e:?}");
    assert_eq!(p.kv.get_record(&store, "k").unwrap().unwrap().value, vec![b'x'; 1024], "a refused record changes nothing");
    let (status, page) = call(&p, Method::GET, &format!("/v2/key-value-stores/{store}/keys?limit=0"), None, true).await;
    assert_eq!((status, page["data"]["limit"].as_u64()), (200, Some(1)), "{page}");
    assert_eq!(p.kv.list_keys(&store, None, Some(0), None).unwrap().limit, 1);
}

#[tokio::test]
async fn a_server_without_docker_says_so_for_image_actors() {
    let (p, _dir) = crate::testing::open_temp_with(
        |_| {},
        |o| {
            let components = crate::executor::wasm::WasmExecutor::new(&o.data_dir.join("components"), &o.limits).unwrap();
            Executors::default()
                .with(ArtifactKind::Component, Arc::new(components))
                .without(ArtifactKind::Image, "Docker is not available: no daemon on this host")
        },
    );
    let actor = json!({
        "name": "imaged",
        "versions": [{"versionNumber": "0.1", "sourceType": "SOURCE_FILES",
                      "actorDefinition": {"name": "imaged", "version": "0.1", "image": "busybox:latest"}}],
    });
    assert_eq!(call(&p, Method::POST, "/v2/acts", Some(actor), true).await.0, 201);
    let (status, body) = call(&p, Method::POST, "/v2/acts/imaged/builds?version=0.1", None, true).await;
    assert_eq!((status, kind(&body)), (503, "docker-not-available"), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("no daemon on this host"), "{body}");
}
