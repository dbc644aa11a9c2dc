//! Request queues over the HTTP API: what a crawler relies on (dedup,
//! order, locks between clients, handled requests, paging), the run's
//! default queue, and clear errors for bad input. The real Python client
//! and SDK drive the same endpoints in tests/compat and tests/docker.

mod common;

use common::{Server, TOKEN};
use serde_json::{json, Value};

async fn send(s: &Server, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = s.http.request(method, s.api(path)).bearer_auth(TOKEN);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn new_queue(s: &Server, name: &str) -> String {
    let (status, body) = send(s, reqwest::Method::POST, &format!("/request-queues?name={name}"), None).await;
    assert_eq!(status, 201, "{body}");
    body["data"]["id"].as_str().unwrap().to_owned()
}

fn urls(head: &Value) -> Vec<String> {
    head["data"]["items"].as_array().unwrap().iter().map(|i| i["url"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn order_dedup_and_handled_requests() {
    let (s, _dir) = Server::start();
    let q = new_queue(&s, "crawl").await;
    let post = reqwest::Method::POST;
    for u in ["a", "b"] {
        send(&s, post.clone(), &format!("/request-queues/{q}/requests"), Some(json!({"url": format!("https://x.test/{u}")}))).await;
    }
    // Forefront requests come first, the newest first.
    for u in ["f1", "f2"] {
        send(
            &s,
            post.clone(),
            &format!("/request-queues/{q}/requests?forefront=true"),
            Some(json!({"url": format!("https://x.test/{u}")})),
        )
        .await;
    }
    let head = s.get_json(&format!("/request-queues/{q}/head")).await;
    assert_eq!(urls(&head), ["https://x.test/f2", "https://x.test/f1", "https://x.test/a", "https://x.test/b"]);

    // uniqueKey defaults to the URL; the same key is the same request.
    let (status, again) = send(&s, post.clone(), &format!("/request-queues/{q}/requests"), Some(json!({"url": "https://x.test/a"}))).await;
    assert_eq!(status, 201);
    assert_eq!((again["data"]["wasAlreadyPresent"].as_bool(), again["data"]["wasAlreadyHandled"].as_bool()), (Some(true), Some(false)));
    let id = again["data"]["requestId"].as_str().unwrap().to_owned();

    // Handled: off the head; extra fields are kept verbatim; re-adding says it was handled.
    let mut request = s.get_json(&format!("/request-queues/{q}/requests/{id}")).await["data"].clone();
    request["handledAt"] = json!("2026-01-01T00:00:00.000Z");
    request["userData"] = json!({"__crawlee": {"state": 3}, "label": "DETAIL"});
    let (status, _) = send(&s, reqwest::Method::PUT, &format!("/request-queues/{q}/requests/{id}"), Some(request)).await;
    assert_eq!(status, 200);
    let head = s.get_json(&format!("/request-queues/{q}/head")).await;
    assert!(!urls(&head).contains(&"https://x.test/a".to_owned()));
    let stored = s.get_json(&format!("/request-queues/{q}/requests/{id}")).await;
    assert_eq!(stored["data"]["userData"]["__crawlee"]["state"], 3);
    let (_, again) = send(&s, post.clone(), &format!("/request-queues/{q}/requests"), Some(json!({"url": "https://x.test/a"}))).await;
    assert_eq!(again["data"]["wasAlreadyHandled"], true);
    let meta = s.get_json(&format!("/request-queues/{q}")).await["data"].clone();
    assert_eq!(
        (meta["totalRequestCount"].as_u64(), meta["handledRequestCount"].as_u64(), meta["pendingRequestCount"].as_u64()),
        (Some(4), Some(1), Some(3))
    );

    // Over 25 in one batch: the rest come back unprocessed, for the client to resend.
    let batch: Vec<Value> = (0..30).map(|i| json!({"url": format!("https://x.test/p{i}")})).collect();
    let (status, added) = send(&s, post.clone(), &format!("/request-queues/{q}/requests/batch"), Some(json!(batch))).await;
    assert_eq!(status, 201);
    assert_eq!(added["data"]["processedRequests"].as_array().unwrap().len(), 25);
    assert_eq!(added["data"]["unprocessedRequests"].as_array().unwrap().len(), 5);

    // The data survives a restart (locks do not need to).
    let dir = s.data_dir.clone();
    s.stop();
    let s = Server::start_in(&dir, false);
    let meta = s.get_json(&format!("/request-queues/{q}")).await["data"].clone();
    assert_eq!(meta["totalRequestCount"], 29);
    let head = s.get_json(&format!("/request-queues/{q}/head?limit=2")).await;
    assert_eq!(urls(&head), ["https://x.test/f2", "https://x.test/f1"]);

    // Deleting the queue deletes its requests.
    let (status, _) = send(&s, reqwest::Method::DELETE, &format!("/request-queues/{q}"), None).await;
    assert_eq!(status, 204);
    assert_eq!(s.get(&format!("/request-queues/{q}/requests/{id}")).await.status(), 404);
}

#[tokio::test]
async fn locks_belong_to_one_client() {
    let (s, _dir) = Server::start();
    let q = new_queue(&s, "shared").await;
    for i in 0..3 {
        send(&s, reqwest::Method::POST, &format!("/request-queues/{q}/requests"), Some(json!({"url": format!("https://x.test/{i}")})))
            .await;
    }
    let (status, locked) =
        send(&s, reqwest::Method::POST, &format!("/request-queues/{q}/head/lock?lockSecs=60&limit=2&clientKey=a"), None).await;
    assert_eq!(status, 201);
    assert_eq!(locked["data"]["lockSecs"], 60);
    let ids: Vec<String> = locked["data"]["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_owned()).collect();
    assert!(locked["data"]["items"][0]["lockExpiresAt"].as_str().unwrap().ends_with('Z'));

    // Client b gets what is left, and cannot touch a's locks.
    let (_, other) = send(&s, reqwest::Method::POST, &format!("/request-queues/{q}/head/lock?lockSecs=60&clientKey=b"), None).await;
    assert_eq!(urls(&other), ["https://x.test/2"]);
    let (status, body) =
        send(&s, reqwest::Method::PUT, &format!("/request-queues/{q}/requests/{}/lock?lockSecs=60&clientKey=b", ids[0]), None).await;
    assert_eq!((status, body["error"]["type"].as_str()), (409, Some("request-handled-or-locked")));
    let (status, _) = send(&s, reqwest::Method::DELETE, &format!("/request-queues/{q}/requests/{}?clientKey=b", ids[0]), None).await;
    assert_eq!(status, 409);
    let (status, prolonged) =
        send(&s, reqwest::Method::PUT, &format!("/request-queues/{q}/requests/{}/lock?lockSecs=120&clientKey=a", ids[0]), None).await;
    assert_eq!(status, 200);
    assert!(prolonged["data"]["lockExpiresAt"].as_str().is_some());

    // Released with forefront, a request goes back to the front for everyone.
    let (status, _) =
        send(&s, reqwest::Method::DELETE, &format!("/request-queues/{q}/requests/{}/lock?forefront=true&clientKey=a", ids[1]), None).await;
    assert_eq!(status, 204);
    let head = s.get_json(&format!("/request-queues/{q}/head?clientKey=c")).await;
    assert_eq!(head["data"]["items"][0]["id"], json!(ids[1]));
    assert_eq!(head["data"]["hadMultipleClients"], true);
    let locked = s.get_json(&format!("/request-queues/{q}/requests?filter=locked")).await;
    assert_eq!(locked["data"]["items"].as_array().unwrap().len(), 2);
    let (_, unlocked) = send(&s, reqwest::Method::POST, &format!("/request-queues/{q}/requests/unlock?clientKey=a"), None).await;
    assert_eq!(unlocked["data"]["unlockedCount"], 1);
}

#[tokio::test]
async fn a_run_has_its_default_queue_and_bad_input_gets_clear_errors() {
    let (s, _dir) = Server::start();
    let run = s.run("hello", "", &json!({"name": "q"})).await;
    let run_id = run["id"].as_str().unwrap();
    let queue = s.get_json(&format!("/actor-runs/{run_id}/request-queue")).await;
    assert_eq!(queue["data"]["id"], run["defaultRequestQueueId"]);
    assert_eq!(queue["data"]["actRunId"], run["id"]);
    let (status, _) =
        send(&s, reqwest::Method::POST, &format!("/actor-runs/{run_id}/request-queue/requests"), Some(json!({"url": "https://x.test/"})))
            .await;
    assert_eq!(status, 201);
    let head = s.get_json(&format!("/request-queues/{}/head", queue["data"]["id"].as_str().unwrap())).await;
    assert_eq!(urls(&head), ["https://x.test/"]);

    let q = queue["data"]["id"].as_str().unwrap();
    let bad = [
        (reqwest::Method::POST, format!("/request-queues/{q}/requests"), Some(json!({"uniqueKey": "no-url"})), 400, "invalid-value"),
        (reqwest::Method::POST, format!("/request-queues/{q}/requests"), Some(json!(["not", "an object"])), 400, "invalid-value"),
        (reqwest::Method::POST, format!("/request-queues/{q}/requests/batch"), Some(json!({"url": "x"})), 400, "invalid-value"),
        (reqwest::Method::POST, format!("/request-queues/{q}/head/lock"), None, 400, "invalid-parameter"),
        (reqwest::Method::GET, format!("/request-queues/{q}/head?clientKey={}", "k".repeat(33)), None, 400, "invalid-client-key"),
        (
            reqwest::Method::PUT,
            format!("/request-queues/{q}/requests/AAAAAAAAAAAAAAA"),
            Some(json!({"url": "https://x.test/"})),
            400,
            "invalid-value",
        ),
        (reqwest::Method::GET, "/request-queues/noSuchQueue123/head".to_owned(), None, 404, "record-not-found"),
        (reqwest::Method::GET, format!("/request-queues/{q}/requests/noSuchRequest12"), None, 404, "record-not-found"),
    ];
    for (method, path, body, want_status, want_type) in bad {
        let (status, body) = send(&s, method.clone(), &path, body).await;
        assert_eq!((status, body["error"]["type"].as_str()), (want_status, Some(want_type)), "{method} {path}: {body}");
    }
    // Nothing was lost to the bad calls.
    assert_eq!(s.get_json(&format!("/request-queues/{q}")).await["data"]["totalRequestCount"], 1);
}

#[tokio::test]
async fn a_component_crawls_its_default_queue_through_wit() {
    let (s, _dir) = Server::start();
    let run = s.run("probe", "", &json!({"mode": "queue"})).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    let out = s.get_json(&format!("/key-value-stores/{}/records/OUTPUT", run["defaultKeyValueStoreId"].as_str().unwrap())).await;
    // Forefront first; a reclaimed request goes to the end with one more retry.
    let order = json!([
        {"url": "https://site.test/first", "retries": 0, "label": "START"},
        {"url": "https://site.test/a", "retries": 0, "label": null},
        {"url": "https://site.test/c", "retries": 0, "label": null},
        {"url": "https://site.test/b", "retries": 1, "label": null},
    ]);
    assert_eq!(out["order"], order, "{out}");
    assert_eq!(out["dedup"], true);
    assert!(out["bad"].as_str().unwrap().starts_with("invalid input:"), "{out}");
    // The same queue over HTTP: every request handled, stamped by the platform.
    assert_eq!(out["queue"], run["defaultRequestQueueId"]);
    let queue = s.get_json(&format!("/actor-runs/{}/request-queue", run["id"].as_str().unwrap())).await["data"].clone();
    assert_eq!((queue["totalRequestCount"].as_u64(), queue["handledRequestCount"].as_u64()), (Some(4), Some(4)), "{queue}");
    let listed = s.get_json(&format!("/actor-runs/{}/request-queue/requests", run["id"].as_str().unwrap())).await;
    assert!(listed["data"]["items"].as_array().unwrap().iter().all(|r| r["handledAt"].as_str().is_some_and(|t| t.ends_with('Z'))));
}
