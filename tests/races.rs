//! Races: clients and runs at the same storages at the same time get
//! disjoint work, exact counts and one storage per name.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{Server, TOKEN};
use serde_json::{json, Value};

fn id_of(v: &Value) -> String {
    v["data"]["id"].as_str().unwrap().to_owned()
}

async fn lock_head(s: &Server, queue: &str, client: &str, limit: u32, lock_secs: u32) -> Vec<String> {
    let url = s.api(&format!("/request-queues/{queue}/head/lock?limit={limit}&lockSecs={lock_secs}&clientKey={client}"));
    let head: Value = s.http.post(url).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    head["data"]["items"].as_array().unwrap().iter().map(|i| i["url"].as_str().unwrap().to_owned()).collect()
}

async fn add_urls(s: &Server, queue: &str, urls: impl Iterator<Item = String>) {
    let urls: Vec<String> = urls.collect();
    for chunk in urls.chunks(25) {
        let batch: Vec<Value> = chunk.iter().map(|u| json!({"url": u})).collect();
        let resp = s.post_json(&format!("/request-queues/{queue}/requests/batch"), &json!(batch)).await;
        assert_eq!(resp.status(), 201);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn clients_racing_on_head_lock_get_disjoint_requests_and_expired_locks_come_back() {
    let (s, _dir) = Server::start();
    let queue = id_of(&s.post_json("/request-queues?name=race", &json!({})).await.json().await.unwrap());
    add_urls(&s, &queue, (0..200).map(|i| format!("https://race.test/{i}"))).await;

    // Eight clients lock at once, twice each.
    let mut tasks = Vec::new();
    for c in 0..8 {
        let (http, url) = (s.http.clone(), s.url.clone());
        let queue = queue.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for _ in 0..2 {
                let resp = http
                    .post(format!("{url}/v2/request-queues/{queue}/head/lock?limit=10&lockSecs=60&clientKey=client{c}"))
                    .bearer_auth(TOKEN)
                    .send()
                    .await
                    .unwrap();
                let head: Value = resp.json().await.unwrap();
                got.extend(head["data"]["items"].as_array().unwrap().iter().map(|i| i["url"].as_str().unwrap().to_owned()));
            }
            got
        }));
    }
    let mut seen = HashSet::new();
    let mut total = 0;
    for t in tasks {
        for url in t.await.unwrap() {
            total += 1;
            assert!(seen.insert(url.clone()), "{url} was locked by two clients");
        }
    }
    assert_eq!(total, 160, "each client got what it asked for");

    // A lock that runs out puts its request back at the head, for anyone.
    let queue2 = id_of(&s.post_json("/request-queues?name=expiry", &json!({})).await.json().await.unwrap());
    add_urls(&s, &queue2, ["https://expiry.test/a".to_owned()].into_iter()).await;
    assert_eq!(lock_head(&s, &queue2, "first", 1, 1).await, ["https://expiry.test/a"]);
    assert!(lock_head(&s, &queue2, "second", 1, 60).await.is_empty(), "held by the first client");
    let mut back = Vec::new();
    for _ in 0..100 {
        back = lock_head(&s, &queue2, "second", 1, 60).await;
        if !back.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(back, ["https://expiry.test/a"], "the expired lock did not give the request back");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crashed_run_gives_back_what_it_held() {
    let (s, _dir) = Server::start();
    let queue = id_of(&s.post_json("/request-queues?name=held", &json!({})).await.json().await.unwrap());
    add_urls(&s, &queue, ["https://held.test/1".to_owned(), "https://held.test/2".to_owned()].into_iter()).await;
    let run = s.run("probe", "", &json!({"mode": "fetch-then-trap", "urls": ["held"]})).await;
    assert_eq!(run["status"], "FAILED", "{run}");
    let out = s.get_json(&format!("/key-value-stores/{}/records/OUTPUT", run["defaultKeyValueStoreId"].as_str().unwrap())).await;
    assert_eq!(out["held"], "https://held.test/1", "{out}");
    // Both requests are available to another client at once, not after the run's lock runs out.
    let mut got = lock_head(&s, &queue, "after", 10, 60).await;
    got.sort();
    assert_eq!(got, ["https://held.test/1", "https://held.test/2"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_pushes_count_exactly_and_names_make_one_storage() {
    let (s, _dir) = Server::start();
    let dataset = id_of(&s.post_json("/datasets?name=pushed", &json!({})).await.json().await.unwrap());
    let mut tasks = Vec::new();
    for c in 0..8u64 {
        let (http, url, dataset) = (s.http.clone(), s.url.clone(), dataset.clone());
        tasks.push(tokio::spawn(async move {
            for b in 0..25u64 {
                let items: Vec<Value> = (0..10u64).map(|i| json!({"c": c, "n": b * 10 + i})).collect();
                let resp = http.post(format!("{url}/v2/datasets/{dataset}/items")).bearer_auth(TOKEN).json(&items).send().await.unwrap();
                assert_eq!(resp.status(), 201);
            }
        }));
    }
    // Guests push into the same dataset at the same time.
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let (http, url, dataset) = (s.http.clone(), s.url.clone(), dataset.clone());
            tokio::spawn(async move {
                let resp = http
                    .post(format!("{url}/v2/acts/probe/runs?waitForFinish=60&defaultDatasetId={dataset}"))
                    .bearer_auth(TOKEN)
                    .json(&json!({"mode": "push", "items": 300, "batch": 7}))
                    .send()
                    .await
                    .unwrap();
                resp.json::<Value>().await.unwrap()
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    for r in runs {
        let run = r.await.unwrap();
        let run = s.wait_terminal(run["data"]["id"].as_str().unwrap(), common::RUN_DEADLINE).await;
        assert_eq!(run["status"], "SUCCEEDED", "{run}");
    }
    let meta = s.get_json(&format!("/datasets/{dataset}")).await;
    assert_eq!(meta["data"]["itemCount"], 8 * 250 + 4 * 300);
    let items: Value = s.get(&format!("/datasets/{dataset}/items")).await.json().await.unwrap();
    let items = items.as_array().unwrap();
    assert_eq!(items.len(), 8 * 250 + 4 * 300, "the count and the items agree");
    for c in 0..8u64 {
        let mine: Vec<u64> = items.iter().filter(|i| i["c"] == c).map(|i| i["n"].as_u64().unwrap()).collect();
        assert_eq!(mine, (0..250).collect::<Vec<_>>(), "client {c}'s items, each once, in its order");
    }

    // Get-or-create by one name from many clients at once: one storage.
    for kind in ["datasets", "key-value-stores", "request-queues"] {
        let calls: Vec<_> = (0..16)
            .map(|_| {
                let (http, url) = (s.http.clone(), s.url.clone());
                tokio::spawn(async move {
                    let resp = http.post(format!("{url}/v2/{kind}?name=one-{kind}")).bearer_auth(TOKEN).send().await.unwrap();
                    assert!(resp.status().is_success(), "{kind}: {}", resp.status());
                    id_of(&resp.json().await.unwrap())
                })
            })
            .collect();
        let mut ids = HashSet::new();
        for c in calls {
            ids.insert(c.await.unwrap());
        }
        assert_eq!(ids.len(), 1, "{kind}: one name became {} storages", ids.len());
    }
}
