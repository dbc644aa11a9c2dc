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

/// Method, path, body, with the token, status, error type.
type ErrorCase<'a> = (Method, &'a str, Option<Value>, bool, u16, &'a str);

#[tokio::test]
async fn errors_map_to_apify_statuses_and_types() {
    let (p, _dir) = crate::testing::open_temp();
    let cases: &[ErrorCase] = &[
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
    let store = p.kv.create(&p.admin, None, None).unwrap().info.id;
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

/// Checks an answer against what `GET /v2/openapi.json` documents for the
/// operation: the generated types must describe what the handlers send.
fn assert_documented(doc: &Value, method: &Method, template: &str, status: u16, body: &Value) {
    let op = &doc["paths"][format!("/v2{template}")][method.as_str().to_ascii_lowercase()];
    let schema = &op["responses"][status.to_string()]["content"]["application/json"]["schema"];
    assert!(schema.is_object(), "{method} {template} does not document {status}");
    let root = json!({"$ref": schema_pointer(schema), "components": doc["components"]});
    let root = if schema.get("$ref").is_some() { root } else { json!({"allOf": [schema], "components": doc["components"]}) };
    let validator = jsonschema::validator_for(&root).unwrap_or_else(|e| panic!("{template}: {e}"));
    let errors: Vec<String> = validator.iter_errors(body).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{method} {template} {status} breaks its schema: {errors:#?}\n{body:#}");
}

fn schema_pointer(schema: &Value) -> Value {
    schema.get("$ref").cloned().unwrap_or(Value::Null)
}

#[tokio::test]
async fn answers_match_the_openapi_document() {
    // Loopback webhook URLs allowed: the test never makes a run that would fire one.
    let (p, _dir) = crate::testing::open_temp_with(|o| o.webhook_delivery.allow_private = true, |o| crate::executor::standard(o).unwrap());
    let (_, doc) = call(&p, Method::GET, "/v2/openapi.json", None, true).await;
    let check = async |method: Method, path: &str, template: &str, body: Option<Value>, status: u16| -> Value {
        let (got, answer) = call(&p, method.clone(), path, body, true).await;
        assert_eq!(got, status, "{method} {path}: {answer}");
        assert_documented(&doc, &method, template, status, &answer);
        answer
    };
    let actor = check(Method::POST, "/v2/actors", "/actors", Some(json!({"name": "typed", "title": "Typed"})), 201).await;
    let actor_id = actor["data"]["id"].as_str().unwrap().to_owned();
    check(Method::GET, &format!("/v2/actors/{actor_id}"), "/actors/{actor}", None, 200).await;
    check(Method::PUT, &format!("/v2/actors/{actor_id}"), "/actors/{actor}", Some(json!({"description": "d"})), 200).await;
    check(Method::GET, "/v2/actors", "/actors", None, 200).await;
    let task = check(Method::POST, "/v2/actor-tasks", "/actor-tasks", Some(json!({"actId": actor_id, "name": "typed-task"})), 201).await;
    let task_id = task["data"]["id"].as_str().unwrap().to_owned();
    check(Method::GET, &format!("/v2/actor-tasks/{task_id}"), "/actor-tasks/{task}", None, 200).await;
    check(Method::GET, "/v2/actor-tasks", "/actor-tasks", None, 200).await;
    let schedule = json!({"name": "typed-schedule", "cronExpression": "0 * * * *", "timezone": "Europe/Prague", "isEnabled": true,
                          "actions": [{"type": "RUN_ACTOR", "actorId": actor_id, "runInput": {"body": "{}", "contentType": "application/json"}},
                                      {"type": "RUN_ACTOR_TASK", "actorTaskId": task_id}]});
    let schedule = check(Method::POST, "/v2/schedules", "/schedules", Some(schedule), 201).await;
    let schedule_id = schedule["data"]["id"].as_str().unwrap().to_owned();
    check(Method::GET, &format!("/v2/schedules/{schedule_id}"), "/schedules/{schedule}", None, 200).await;
    check(Method::GET, "/v2/schedules", "/schedules", None, 200).await;
    check(Method::GET, &format!("/v2/schedules/{schedule_id}/log"), "/schedules/{schedule}/log", None, 200).await;
    let hook = json!({"eventTypes": ["ACTOR.RUN.SUCCEEDED"], "condition": {"actorId": actor_id}, "requestUrl": "http://127.0.0.1:9/hook"});
    let hook = check(Method::POST, "/v2/webhooks", "/webhooks", Some(hook), 201).await;
    let hook_id = hook["data"]["id"].as_str().unwrap().to_owned();
    check(Method::GET, &format!("/v2/webhooks/{hook_id}"), "/webhooks/{id}", None, 200).await;
    check(Method::GET, "/v2/webhooks", "/webhooks", None, 200).await;
    for kind in ["datasets", "key-value-stores", "request-queues"] {
        let created = check(Method::POST, &format!("/v2/{kind}?name=typed-{kind}"), &format!("/{kind}"), None, 201).await;
        let id = created["data"]["id"].as_str().unwrap().to_owned();
        let update = json!({"generalAccess": "ANYONE_WITH_ID_CAN_READ"});
        check(Method::PUT, &format!("/v2/{kind}/{id}"), &format!("/{kind}/{{id}}"), Some(update), 200).await;
        check(Method::GET, &format!("/v2/{kind}/{id}"), &format!("/{kind}/{{id}}"), None, 200).await;
        check(Method::GET, &format!("/v2/{kind}"), &format!("/{kind}"), None, 200).await;
    }
    check(Method::GET, "/v2/users/me/limits", "/users/me/limits", None, 200).await;
    check(Method::GET, "/v2/users/me", "/users/me", None, 200).await;
    check(Method::GET, "/v2/users/me/usage/monthly", "/users/me/usage/monthly", None, 200).await;

    // The queue's content routes, on a queue with a handled, a locked and a pending request.
    let queue = p.queues.create(&p.admin, None, None).unwrap().info.id;
    let q = |rest: &str| format!("/v2/request-queues/{queue}{rest}");
    let t = |rest: &str| format!("/request-queues/{{id}}{rest}");
    let added = check(Method::POST, &q("/requests?clientKey=a"), &t("/requests"), Some(json!({"url": "https://example.com/1"})), 201).await;
    let first = added["data"]["requestId"].as_str().unwrap().to_owned();
    let batch = json!([{"url": "https://example.com/2", "userData": {"n": 2}}, {"url": "https://example.com/3", "method": "POST"}]);
    check(Method::POST, &q("/requests/batch?clientKey=a"), &t("/requests/batch"), Some(batch), 201).await;
    check(Method::GET, &q("/head?clientKey=a"), &t("/head"), None, 200).await;
    let locked = check(Method::POST, &q("/head/lock?limit=1&lockSecs=60&clientKey=a"), &t("/head/lock"), None, 201).await;
    assert!(locked["data"]["items"][0]["lockExpiresAt"].is_string(), "{locked}");
    let locked_id = locked["data"]["items"][0]["id"].as_str().unwrap().to_owned();
    check(Method::PUT, &q(&format!("/requests/{locked_id}/lock?lockSecs=30&clientKey=a")), &t("/requests/{request}/lock"), None, 200).await;
    let request = check(Method::GET, &q(&format!("/requests/{first}")), &t("/requests/{request}"), None, 200).await;
    let mut handled = request["data"].clone();
    handled["handledAt"] = json!("2026-01-01T00:00:00.000Z");
    check(Method::PUT, &q(&format!("/requests/{first}?clientKey=a")), &t("/requests/{request}"), Some(handled), 200).await;
    check(Method::GET, &q("/requests?limit=2"), &t("/requests"), None, 200).await;
    check(Method::POST, &q("/requests/unlock?clientKey=a"), &t("/requests/unlock"), None, 200).await;
    let gone = json!([{"uniqueKey": "https://example.com/3"}, {"id": "nope"}]);
    check(Method::DELETE, &q("/requests/batch?clientKey=a"), &t("/requests/batch"), Some(gone), 200).await;

    // Keys, statistics and an input check.
    let store = p.kv.create(&p.admin, None, None).unwrap().info.id;
    p.kv.set_record(&store, "a", b"1", "text/plain").unwrap();
    check(Method::GET, &format!("/v2/key-value-stores/{store}/keys"), "/key-value-stores/{id}/keys", None, 200).await;
    let dataset = p.datasets.create(&p.admin, None, None).unwrap().info.id;
    check(Method::GET, &format!("/v2/datasets/{dataset}/statistics"), "/datasets/{id}/statistics", None, 200).await;
}
