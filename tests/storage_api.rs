//! The storage HTTP API as the Apify clients use it: records with content
//! types, key pagination, compressed bodies, dataset items and formats,
//! sync runs.

mod common;

use common::{Server, TOKEN};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

async fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = async_compression::tokio::write::GzipEncoder::new(Vec::new());
    enc.write_all(data).await.unwrap();
    enc.shutdown().await.unwrap();
    enc.into_inner()
}

async fn brotli(data: &[u8]) -> Vec<u8> {
    let mut enc = async_compression::tokio::write::BrotliEncoder::new(Vec::new());
    enc.write_all(data).await.unwrap();
    enc.shutdown().await.unwrap();
    enc.into_inner()
}

#[tokio::test(flavor = "multi_thread")]
async fn key_value_records_keys_and_errors() {
    let (s, _dir) = Server::start();
    // get-or-create by name: 201 then 200 with the same store.
    let resp = s.http.post(s.api("/key-value-stores?name=my-store")).bearer_auth(TOKEN).json(&json!({})).send().await.unwrap();
    assert_eq!(resp.status(), 201);
    let store: Value = resp.json().await.unwrap();
    let id = store["data"]["id"].as_str().unwrap().to_owned();
    let resp = s.http.post(s.api("/key-value-stores?name=my-store")).bearer_auth(TOKEN).json(&json!({})).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap()["data"]["id"], id.as_str());

    // Binary record with its content type, via the `username~name` form.
    let png = vec![0x89u8, b'P', b'N', b'G', 0, 1, 2, 255];
    let resp = s
        .http
        .put(s.api("/key-value-stores/me~my-store/records/image.png"))
        .bearer_auth(TOKEN)
        .header("content-type", "image/png")
        .body(png.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let resp = s.get(&format!("/key-value-stores/{id}/records/image.png?attachment=true")).await;
    assert_eq!(resp.headers()["content-type"], "image/png");
    assert!(resp.headers()["content-disposition"].to_str().unwrap().contains("attachment"));
    assert_eq!(resp.bytes().await.unwrap().to_vec(), png);
    let head = s.http.head(s.api(&format!("/key-value-stores/{id}/records/image.png"))).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(head.status(), 200);

    // A gzip and a brotli body are stored decoded.
    let text = "x".repeat(5000);
    for (key, enc, body) in [("gz", "gzip", gzip(text.as_bytes()).await), ("br", "br", brotli(text.as_bytes()).await)] {
        let resp = s
            .http
            .put(s.api(&format!("/key-value-stores/{id}/records/{key}")))
            .bearer_auth(TOKEN)
            .header("content-type", "text/plain")
            .header("content-encoding", enc)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201, "{enc}");
        assert_eq!(s.get(&format!("/key-value-stores/{id}/records/{key}")).await.text().await.unwrap(), text);
    }
    let resp = s
        .http
        .put(s.api(&format!("/key-value-stores/{id}/records/zz")))
        .bearer_auth(TOKEN)
        .header("content-encoding", "zstd")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["type"], "unsupported-content-encoding");

    // Keys in order, paginated with exclusiveStartKey.
    let page: Value = s.get_json(&format!("/key-value-stores/{id}/keys?limit=2")).await;
    assert_eq!(page["data"]["items"].as_array().unwrap().iter().map(|k| k["key"].as_str().unwrap()).collect::<Vec<_>>(), ["br", "gz"]);
    assert_eq!(page["data"]["isTruncated"], true);
    assert_eq!(page["data"]["nextExclusiveStartKey"], "gz");
    assert!(page["data"]["items"][0]["recordPublicUrl"].as_str().unwrap().starts_with("http://127.0.0.1:"));
    let page: Value = s.get_json(&format!("/key-value-stores/{id}/keys?limit=2&exclusiveStartKey=gz")).await;
    assert_eq!(page["data"]["items"][0]["key"], "image.png");
    assert_eq!(page["data"]["isTruncated"], false);
    assert_eq!(page["data"]["nextExclusiveStartKey"], Value::Null);

    // Missing records and stores are `record-not-found` 404s; bad keys are 400s.
    let resp = s.get(&format!("/key-value-stores/{id}/records/missing")).await;
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["type"], "record-not-found");
    let resp = s.get("/key-value-stores/nonexistentstore1").await;
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["type"], "record-not-found");
    let resp = s.http.put(s.api(&format!("/key-value-stores/{id}/records/bad%20key"))).bearer_auth(TOKEN).body("x").send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["type"], "invalid-record-key");
    let too_big = vec![0u8; 9 * 1024 * 1024 + 1];
    let resp = s.http.put(s.api(&format!("/key-value-stores/{id}/records/big"))).bearer_auth(TOKEN).body(too_big).send().await.unwrap();
    common::assert_error(resp, 413, "record-too-large").await;
    assert_eq!(s.get(&format!("/key-value-stores/{id}/records/big")).await.status(), 404, "nothing was stored");

    let resp = s.http.delete(s.api(&format!("/key-value-stores/{id}/records/gz"))).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(s.get(&format!("/key-value-stores/{id}/records/gz")).await.status(), 404);
    let list = s.get_json("/key-value-stores").await;
    assert!(list["data"]["items"].as_array().unwrap().iter().any(|st| st["name"] == "my-store"));
}

#[tokio::test(flavor = "multi_thread")]
async fn dataset_push_list_and_formats() {
    let (s, _dir) = Server::start();
    let resp = s.http.post(s.api("/datasets?name=results")).bearer_auth(TOKEN).json(&json!({})).send().await.unwrap();
    assert_eq!(resp.status(), 201);
    let id = resp.json::<Value>().await.unwrap()["data"]["id"].as_str().unwrap().to_owned();

    let items: Vec<Value> = (0..50).map(|i| json!({"i": i, "#hidden": true, "nested": {"a": i}})).collect();
    let body = gzip(serde_json::to_string(&items).unwrap().as_bytes()).await;
    let resp = s
        .http
        .post(s.api(&format!("/datasets/{id}/items")))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json; charset=utf-8")
        .header("content-encoding", "gzip")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let resp = s.post_json(&format!("/datasets/{id}/items"), &json!({"i": 50})).await;
    assert_eq!(resp.status(), 201);

    // A batch with one bad item is rejected whole.
    let resp = s.post_json(&format!("/datasets/{id}/items"), &json!([{"ok": 1}, 2])).await;
    common::assert_error(resp, 400, "invalid-value").await;
    let meta = s.get_json(&format!("/datasets/{id}")).await;
    assert_eq!(meta["data"]["itemCount"], 51);
    assert!(meta["data"]["consoleUrl"].as_str().unwrap().starts_with("http://"));

    let resp = s.get(&format!("/datasets/{id}/items?offset=10&limit=5&clean=true&fields=i")).await;
    assert_eq!(resp.headers()["x-apify-pagination-total"], "51");
    assert_eq!(resp.headers()["x-apify-pagination-offset"], "10");
    assert_eq!(resp.headers()["x-apify-pagination-count"], "5");
    assert_eq!(resp.headers()["x-apify-pagination-limit"], "5");
    assert_eq!(resp.headers()["x-apify-pagination-desc"], "false");
    let page: Value = resp.json().await.unwrap();
    assert_eq!(page, json!([{"i": 10}, {"i": 11}, {"i": 12}, {"i": 13}, {"i": 14}]));

    let desc: Value = s.get(&format!("/datasets/{id}/items?desc=1&limit=2&omit=%23hidden,nested")).await.json().await.unwrap();
    assert_eq!(desc, json!([{"i": 50}, {"i": 49}]));

    let flat: Value = s.get(&format!("/datasets/{id}/items?limit=1&flatten=nested&skipHidden=true")).await.json().await.unwrap();
    assert_eq!(flat, json!([{"i": 0, "nested.a": 0}]));

    let resp = s.get(&format!("/datasets/{id}/items?format=jsonl&limit=3&fields=i")).await;
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("application/jsonl"));
    assert_eq!(resp.text().await.unwrap(), "{\"i\":0}\n{\"i\":1}\n{\"i\":2}\n");

    let resp = s.get(&format!("/datasets/{id}/items?format=pdf")).await;
    let message = common::assert_error(resp, 400, "invalid-parameter").await;
    assert!(message.contains("pdf"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_runs_return_output_and_items() {
    let (s, _dir) = Server::start();
    let resp = s.post_json("/actors/hello/run-sync", &json!({"name": "Sync"})).await;
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({"greeting": "Hello, Sync!", "count": 1}));

    let resp = s.post_json("/actors/hello/run-sync-get-dataset-items", &json!({"name": "Items", "count": 3})).await;
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.headers()["x-apify-pagination-total"], "3");
    assert_eq!(resp.json::<Value>().await.unwrap().as_array().unwrap().len(), 3);

    let resp = s.post_json("/actors/probe/run-sync", &json!({"mode": "fail"})).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["type"], "run-failed");

    // Runs list, newest first, and the actor's last run.
    let runs = s.get_json("/actors/hello/runs?desc=true").await;
    assert_eq!(runs["data"]["total"], 2);
    assert_eq!(runs["data"]["items"][0]["status"], "SUCCEEDED");
    assert!(runs["data"]["items"][0]["usageTotalUsd"].is_number());
    let last = s.get_json("/actors/hello/runs/last").await;
    assert_eq!(last["data"]["id"], runs["data"]["items"][0]["id"]);

    // The status message can be set from outside.
    let id = last["data"]["id"].as_str().unwrap();
    let resp = s
        .http
        .put(s.api(&format!("/actor-runs/{id}")))
        .bearer_auth(TOKEN)
        .json(&json!({"generalAccess": "ANYONE_WITH_ID_CAN_READ"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.json::<Value>().await.unwrap()["data"]["generalAccess"], "ANYONE_WITH_ID_CAN_READ");
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_can_reuse_existing_storages() {
    let (s, _dir) = Server::start();
    s.http.post(s.api("/datasets?name=shared-results")).bearer_auth(TOKEN).json(&json!({})).send().await.unwrap();
    for name in ["first", "second"] {
        let run = s.run("hello", "defaultDatasetId=me~shared-results", &json!({"name": name})).await;
        assert_eq!(run["status"], "SUCCEEDED");
    }
    let items: Value = s.get("/datasets/me~shared-results/items").await.json().await.unwrap();
    assert_eq!(
        items.as_array().unwrap().iter().map(|i| i["greeting"].as_str().unwrap()).collect::<Vec<_>>(),
        ["Hello, first!", "Hello, second!"]
    );

    let before = s.get_json("/actor-runs").await["data"]["total"].as_u64().unwrap();
    let resp = s.post_json("/actors/hello/runs?defaultKeyValueStoreId=no-such-store", &json!({})).await;
    let message = common::assert_error(resp, 400, "invalid-parameter").await;
    assert!(message.contains("no-such-store"), "{message}");
    assert_eq!(s.get_json("/actor-runs").await["data"]["total"].as_u64().unwrap(), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn actors_are_created_updated_and_deleted() {
    let (s, _dir) = Server::start();
    let resp = s.post_json("/actors", &json!({"name": "scratch", "title": "Scratch", "categories": ["TEST"]})).await;
    assert_eq!(resp.status(), 201);
    let actor: Value = resp.json().await.unwrap();
    assert_eq!(actor["data"]["username"], "me");
    assert_eq!(actor["data"]["categories"], json!(["TEST"]));
    let resp = s.post_json("/actors", &json!({"name": "scratch"})).await;
    common::assert_error(resp, 409, "conflict").await;
    let resp = s.post_json("/actors", &json!({"name": "Bad Name"})).await;
    common::assert_error(resp, 400, "invalid-input").await;
    assert_eq!(s.get("/actors/Bad%20Name").await.status(), 404, "nothing was created");

    let resp =
        s.http.put(s.api("/actors/me~scratch")).bearer_auth(TOKEN).json(&json!({"title": "Renamed", "id": "hijack"})).send().await.unwrap();
    let updated: Value = resp.json().await.unwrap();
    assert_eq!(updated["data"]["title"], "Renamed");
    assert_eq!(updated["data"]["id"], actor["data"]["id"], "read-only fields are not taken from requests");

    let resp = s.http.delete(s.api("/actors/scratch")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(s.get("/actors/scratch").await.status(), 404);
}
