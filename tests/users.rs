//! Several users on one server: the admin adds users, each user's tokens,
//! and every resource invisible to another user (404) through the API and
//! through WIT, except what `generalAccess` shares and public Actors.

mod common;

use std::time::Duration;

use common::{repo, Server, TOKEN};
use serde_json::{json, Value};

/// One user's view of the server: requests with their token.
struct As<'a> {
    s: &'a Server,
    token: String,
}

impl As<'_> {
    async fn send(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> (u16, Value) {
        let mut req = self.s.http.request(method, self.s.api(path)).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
    async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }
    async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }
    async fn put(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send(reqwest::Method::PUT, path, Some(body)).await
    }
    /// Starts a run of `actor` and waits for it to end.
    async fn run(&self, actor: &str, input: &Value) -> Value {
        let (status, run) = self.post(&format!("/acts/{actor}/runs?waitForFinish=60"), input).await;
        assert_eq!(status, 201, "{run}");
        self.wait(run["data"]["id"].as_str().unwrap()).await
    }
    /// Waits for the run `id` to end.
    async fn wait(&self, id: &str) -> Value {
        for _ in 0..600 {
            let (_, run) = self.get(&format!("/actor-runs/{id}")).await;
            if common::is_terminal(&run["data"]) {
                return run["data"].clone();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("run {id} did not end");
    }
}

async fn add_user<'a>(s: &'a Server, name: &str) -> (As<'a>, Value) {
    let admin = As { s, token: TOKEN.to_owned() };
    let (status, user) = admin.post("/users", &json!({"username": name})).await;
    assert_eq!(status, 201, "{user}");
    let token = user["data"]["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("wactor_user_"), "{user}");
    (As { s, token }, user["data"].clone())
}

/// The probe component as an Actor of the user behind `who`.
async fn probe_actor(who: &As<'_>, name: &str) -> String {
    actor_of(who, name, "probe.wasm", json!({"actorSpecification": 1, "name": name, "version": "0.1"})).await
}

/// An Actor of the user behind `who`, built from a test component.
async fn actor_of(who: &As<'_>, name: &str, component: &str, definition: Value) -> String {
    let (status, actor) =
        who.post("/acts", &json!({"name": name, "versions": [{"versionNumber": "0.1", "actorDefinition": definition}]})).await;
    assert_eq!(status, 201, "{actor}");
    build_from(who, name, component).await;
    actor["data"]["id"].as_str().unwrap().to_owned()
}

/// A new build of version 0.1 of the Actor `name` from a test component.
async fn build_from(who: &As<'_>, name: &str, component: &str) -> Value {
    let wasm = std::fs::read(repo().join("target/wasm32-wasip2/release").join(component)).unwrap();
    let resp = who
        .s
        .http
        .post(who.s.api(&format!("/acts/{name}/builds?version=0.1")))
        .bearer_auth(&who.token)
        .header("content-type", "application/wasm")
        .body(wasm)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let build: Value = resp.json().await.unwrap();
    assert_eq!(status, 201, "{build}");
    build["data"].clone()
}

#[tokio::test]
async fn one_users_resources_are_invisible_to_another_unless_shared() {
    let (s, dir) = Server::start();
    let (alice, alice_user) = add_user(&s, "alice").await;
    let (bob, _) = add_user(&s, "bob").await;
    assert_eq!(alice.get("/users/me").await.1["data"]["username"], "alice");
    assert_eq!(bob.post("/users", &json!({"username": "mallory"})).await.0, 403, "only the admin adds users");
    assert_eq!(bob.get("/users").await.0, 403);

    // Alice's things: an Actor and its run, a dataset, a store, a queue, a task, a schedule, a webhook.
    let actor = probe_actor(&alice, "alice-probe").await;
    let run = alice.run("alice-probe", &json!({"mode": "push", "items": 2})).await;
    assert_eq!((run["status"].as_str(), run["userId"].as_str()), (Some("SUCCEEDED"), alice_user["id"].as_str()), "{run}");
    let run_id = run["id"].as_str().unwrap().to_owned();
    let dataset = alice.post("/datasets?name=alice-data", &json!({})).await.1["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(alice.post(&format!("/datasets/{dataset}/items"), &json!([{"a": 1}])).await.0, 201);
    let store = alice.post("/key-value-stores?name=alice-store", &json!({})).await.1["data"]["id"].as_str().unwrap().to_owned();
    let queue = alice.post("/request-queues?name=alice-queue", &json!({})).await.1["data"]["id"].as_str().unwrap().to_owned();
    let task =
        alice.post("/actor-tasks", &json!({"actId": actor, "name": "alice-task"})).await.1["data"]["id"].as_str().unwrap().to_owned();
    let schedule = json!({"name": "alice-schedule", "cronExpression": "0 0 1 1 *", "actions": [{"type": "RUN_ACTOR", "actorId": actor}]});
    let schedule = alice.post("/schedules", &schedule).await.1["data"]["id"].as_str().unwrap().to_owned();
    let hook = json!({"eventTypes": ["ACTOR.RUN.SUCCEEDED"], "condition": {"actorId": actor}, "requestUrl": "https://example.com/hook"});
    let (status, hook) = alice.post("/webhooks", &hook).await;
    assert_eq!(status, 201, "{hook}");
    let hook = hook["data"]["id"].as_str().unwrap().to_owned();
    let build = run["buildId"].as_str().unwrap().to_owned();

    // Bob sees none of it, exactly as if it did not exist.
    for path in [
        format!("/acts/{actor}"),
        "/acts/alice~alice-probe".to_owned(),
        format!("/acts/{actor}/builds"),
        format!("/actor-builds/{build}"),
        format!("/actor-runs/{run_id}"),
        format!("/actor-runs/{run_id}/log"),
        format!("/actor-runs/{run_id}/dataset/items"),
        format!("/logs/{run_id}"),
        format!("/datasets/{dataset}"),
        format!("/datasets/{dataset}/items"),
        format!("/key-value-stores/{store}/keys"),
        format!("/request-queues/{queue}/head"),
        format!("/actor-tasks/{task}"),
        format!("/schedules/{schedule}"),
        format!("/webhooks/{hook}"),
    ] {
        let (status, body) = bob.get(&path).await;
        assert_eq!((status, body["error"]["type"].as_str()), (404, Some("record-not-found")), "GET {path}: {body}");
    }
    assert_eq!(bob.post(&format!("/acts/{actor}/runs"), &json!({})).await.0, 404, "a private Actor does not run for others");
    assert_eq!(bob.post(&format!("/actor-runs/{run_id}/abort"), &json!({})).await.0, 404);
    assert_eq!(bob.post(&format!("/datasets/{dataset}/items"), &json!([{"b": 1}])).await.0, 404);
    assert_eq!(bob.put(&format!("/key-value-stores/{store}/records/x"), &json!(1)).await.0, 404);
    let hook_on_alice =
        json!({"eventTypes": ["ACTOR.RUN.SUCCEEDED"], "condition": {"actorId": actor}, "requestUrl": "https://example.com/b"});
    assert_eq!(bob.post("/webhooks", &hook_on_alice).await.0, 400, "no webhook on another user's Actor");
    assert_eq!(bob.post("/actor-tasks", &json!({"actId": actor, "name": "bob-task"})).await.0, 404);
    for list in [
        "/acts",
        "/actor-builds",
        "/actor-runs",
        "/datasets",
        "/key-value-stores",
        "/request-queues",
        "/actor-tasks",
        "/schedules",
        "/webhooks",
        "/webhook-dispatches",
    ] {
        let (status, page) = bob.get(list).await;
        assert_eq!((status, page["data"]["total"].as_u64()), (200, Some(0)), "GET {list}: {page}");
    }
    let (_, mine) = alice.get("/datasets").await;
    assert_eq!(mine["data"]["items"].as_array().unwrap().len(), 1, "{mine}");

    // Shared by ID: readable by anyone with the ID, writable only by its owner.
    assert_eq!(alice.put(&format!("/datasets/{dataset}"), &json!({"generalAccess": "ANYONE_WITH_ID_CAN_READ"})).await.0, 200);
    let (status, items) = bob.get(&format!("/datasets/{dataset}/items")).await;
    assert_eq!((status, items), (200, json!([{"a": 1}])));
    assert_eq!(bob.post(&format!("/datasets/{dataset}/items"), &json!([{"b": 1}])).await.0, 404);

    // A public Actor runs for Bob as Bob's: his run, his storages; Alice cannot see them.
    assert_eq!(alice.put(&format!("/acts/{actor}"), &json!({"isPublic": true})).await.0, 200);
    let (status, seen) = bob.get(&format!("/acts/{actor}")).await;
    assert_eq!(
        (status, seen["data"]["versions"].as_array().map(Vec::len)),
        (200, Some(0)),
        "its code and env vars stay the owner's: {seen}"
    );
    assert_eq!(alice.get(&format!("/acts/{actor}")).await.1["data"]["versions"].as_array().map(Vec::len), Some(1));
    assert_eq!(bob.put(&format!("/acts/{actor}"), &json!({"title": "mine now"})).await.0, 404, "its settings stay the owner's");
    assert_eq!(bob.get(&format!("/acts/{actor}/builds")).await.0, 404, "its builds stay the owner's");
    let bobs = bob.run(&actor, &json!({"mode": "push", "items": 3})).await;
    assert_eq!(bobs["status"], "SUCCEEDED", "{bobs}");
    assert_ne!(bobs["userId"], alice_user["id"]);
    let bobs_id = bobs["id"].as_str().unwrap();
    let bobs_dataset = bobs["defaultDatasetId"].as_str().unwrap();
    assert_eq!(bob.get(&format!("/datasets/{bobs_dataset}/items")).await.1.as_array().map(Vec::len), Some(3));
    assert_eq!(alice.get(&format!("/actor-runs/{bobs_id}")).await.0, 404);
    assert_eq!(alice.get(&format!("/datasets/{bobs_dataset}")).await.0, 404);
    assert_eq!(bob.get("/actor-runs").await.1["data"]["total"], 1);
    assert_eq!(bob.get(&format!("/acts/{actor}/runs")).await.1["data"]["total"], 1, "Bob sees his runs of it, not Alice's");

    // Through WIT, Bob's run is refused Alice's storages and runs as his token would be.
    let rev = |x: &str| x.chars().rev().collect::<String>();
    let private = alice.post("/datasets?name=alice-private", &json!({})).await.1["data"]["id"].as_str().unwrap().to_owned();
    let wit = bob.run(&actor, &json!({"mode": "open-datasets", "urls": [rev(&private)], "event": rev("alice-private")})).await;
    let out = bob.get(&format!("/key-value-stores/{}/records/OUTPUT", wit["defaultKeyValueStoreId"].as_str().unwrap())).await.1;
    assert_eq!(out["byId"], json!(["NotFound"]), "{out}");
    assert_eq!(out["byName"], "ok", "a name opens the run user's own dataset: {out}");
    let (_, bobs_named) = bob.get("/datasets/alice-private").await;
    assert_ne!(bobs_named["data"]["id"].as_str(), Some(private.as_str()), "Bob's \"alice-private\" is his, not Alice's: {bobs_named}");
    assert_eq!(alice.get("/datasets/alice-private").await.1["data"]["id"].as_str(), Some(private.as_str()));
    let sleeping = alice.post(&format!("/acts/{actor}/runs"), &json!({"mode": "sleep", "items": 30})).await.1["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let wit = bob.run(&actor, &json!({"mode": "abort-other", "key": sleeping})).await;
    let out = bob.get(&format!("/key-value-stores/{}/records/OUTPUT", wit["defaultKeyValueStoreId"].as_str().unwrap())).await.1;
    assert_eq!(out, json!({"get": "NotFound", "abort": "NotFound"}));
    let (_, still) = alice.get(&format!("/actor-runs/{sleeping}")).await;
    assert_eq!(still["data"]["status"], "RUNNING", "{still}");
    alice.post(&format!("/actor-runs/{sleeping}/abort"), &json!({})).await;
    drop(dir);
}

#[tokio::test]
async fn names_are_per_user_and_username_tilde_name_reaches_only_what_is_shared() {
    let (s, dir) = Server::start();
    let (alice, _) = add_user(&s, "alice").await;
    let (bob, _) = add_user(&s, "bob").await;

    // Both users name their things alike; neither gets a conflict, each bare name is their own.
    let mut ids = Vec::new();
    for who in [&alice, &bob] {
        let actor = probe_actor(who, "probe").await;
        let mut mine = vec![actor.clone()];
        for collection in ["datasets", "key-value-stores", "request-queues"] {
            let (status, created) = who.post(&format!("/{collection}?name=results"), &json!({})).await;
            assert_eq!(status, 201, "{created}");
            mine.push(created["data"]["id"].as_str().unwrap().to_owned());
        }
        let (status, task) = who.post("/actor-tasks", &json!({"actId": "probe", "name": "daily"})).await;
        assert_eq!(status, 201, "a bare Actor name in a body is the caller's too: {task}");
        assert_eq!(task["data"]["actId"].as_str(), Some(actor.as_str()));
        mine.push(task["data"]["id"].as_str().unwrap().to_owned());
        ids.push(mine);
    }
    let paths = ["/acts/probe", "/datasets/results", "/key-value-stores/results", "/request-queues/results", "/actor-tasks/daily"];
    for (who, mine) in [(&alice, &ids[0]), (&bob, &ids[1])] {
        for (path, id) in paths.iter().zip(mine) {
            let (status, body) = who.get(path).await;
            assert_eq!((status, body["data"]["id"].as_str()), (200, Some(id.as_str())), "{path}: {body}");
        }
        // The same name again within one user is still a conflict.
        assert_eq!(who.post("/datasets?name=results", &json!({})).await.1["data"]["id"].as_str(), Some(mine[1].as_str()), "get-or-create");
        let again = json!({"name": "probe", "versions": []});
        assert_eq!(who.post("/acts", &again).await.0, 409);
    }

    // `alice~results` names Alice's: Bob gets 404 until she shares it by name.
    for path in [
        "/acts/alice~probe",
        "/datasets/alice~results",
        "/key-value-stores/alice~results",
        "/request-queues/alice~results",
        "/actor-tasks/alice~daily",
    ] {
        assert_eq!(bob.get(path).await.0, 404, "{path}");
        assert_eq!(alice.get(path).await.0, 200, "{path}");
    }
    assert_eq!(alice.put("/datasets/results", &json!({"generalAccess": "ANYONE_WITH_NAME_CAN_READ"})).await.0, 200);
    assert_eq!(alice.post("/datasets/results/items", &json!([{"from": "alice"}])).await.0, 201);
    let (status, items) = bob.get("/datasets/alice~results/items").await;
    assert_eq!((status, items), (200, json!([{"from": "alice"}])));
    assert_eq!(bob.get("/datasets/results/items").await.1, json!([]), "Bob's own is still empty");
    assert_eq!(bob.post("/datasets/alice~results/items", &json!([{"from": "bob"}])).await.0, 404, "shared to read, not to write");

    // A run of Bob's opens his own named storage through WIT.
    let run = bob.run("probe", &json!({"mode": "open-datasets", "urls": [], "event": "stluser"})).await;
    let out = bob.get(&format!("/key-value-stores/{}/records/OUTPUT", run["defaultKeyValueStoreId"].as_str().unwrap())).await.1;
    assert_eq!(out["byName"], "ok", "{out}");
    assert_eq!(alice.get("/datasets/results/items").await.1, json!([{"from": "alice"}]), "Alice's is untouched");
    drop(dir);
}

#[tokio::test]
async fn secrets_are_sealed_at_rest_masked_in_answers_and_logs_and_clear_only_in_their_run() {
    const ENV_SECRET: &str = "sk-env-6b1f0c2e9d";
    const INPUT_SECRET: &str = "pw-input-41c7a9e2";
    const TASK_SECRET: &str = "pw-task-93d0b5f1";
    let (s, dir) = Server::start();
    let (alice, _) = add_user(&s, "alice").await;
    let rev = |x: &str| x.chars().rev().collect::<String>();
    let text = |v: &Value| v.to_string();

    let schema = json!({"title": "secrets", "type": "object", "schemaVersion": 1, "properties": {
        "mode": {"type": "string", "editor": "textfield"},
        "password": {"type": "string", "editor": "textfield", "isSecret": true}
    }});
    let definition = json!({"actorSpecification": 1, "name": "vault", "version": "0.1", "input": schema});
    let env = json!([{"name": "API_KEY", "value": ENV_SECRET, "isSecret": true}, {"name": "PLAIN", "value": "plain-visible-7e1"}]);
    let (status, actor) = alice
        .post("/acts", &json!({"name": "vault", "versions": [{"versionNumber": "0.1", "actorDefinition": definition, "envVars": env}]}))
        .await;
    assert_eq!(status, 201, "{actor}");
    let vars = &actor["data"]["versions"][0]["envVars"];
    assert_eq!((vars[0]["value"].as_str(), vars[1]["value"].as_str()), (Some("********"), Some("plain-visible-7e1")), "{vars}");
    let build = build_from(&alice, "vault", "probe.wasm").await;
    assert!(!text(&build).contains(ENV_SECRET), "{build}");

    // The run gets both in clear; the API and the log show them masked.
    let run = alice.run("vault", &json!({"mode": "secrets", "key": "API_KEY", "password": INPUT_SECRET})).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    let store = run["defaultKeyValueStoreId"].as_str().unwrap().to_owned();
    let out = alice.get(&format!("/key-value-stores/{store}/records/OUTPUT")).await.1;
    assert_eq!(out, json!({"env": rev(ENV_SECRET), "input": rev(INPUT_SECRET)}), "the run saw the clear values");
    let (_, input) = alice.get(&format!("/key-value-stores/{store}/records/INPUT")).await;
    assert_eq!(input["password"], "********", "{input}");
    let log = s
        .http
        .get(s.api(&format!("/actor-runs/{}/log", run["id"].as_str().unwrap())))
        .bearer_auth(&alice.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(log.contains("env secret: ********") && log.contains("input secret: ********"), "{log}");
    assert!(!log.contains(ENV_SECRET) && !log.contains(INPUT_SECRET), "{log}");

    // A task keeps its secret input sealed; sent back masked, the secret stays.
    let (status, task) = alice
        .post("/actor-tasks", &json!({"actId": "vault", "name": "nightly", "input": {"mode": "secrets", "password": TASK_SECRET}}))
        .await;
    assert_eq!(status, 201, "{task}");
    assert_eq!(task["data"]["input"]["password"], "********", "{task}");
    let task_id = task["data"]["id"].as_str().unwrap().to_owned();
    let (_, shown) = alice.get(&format!("/actor-tasks/{task_id}/input")).await;
    assert_eq!(shown, json!({"mode": "secrets", "password": "********"}));
    let (status, _) = alice.send(reqwest::Method::PUT, &format!("/actor-tasks/{task_id}/input"), Some(&shown)).await;
    assert_eq!(status, 200);
    let (status, started) = alice.post(&format!("/actor-tasks/{task_id}/runs?waitForFinish=60"), &json!({})).await;
    assert_eq!(status, 201, "{started}");
    let done = alice.wait(started["data"]["id"].as_str().unwrap()).await;
    let out = alice.get(&format!("/key-value-stores/{}/records/OUTPUT", done["defaultKeyValueStoreId"].as_str().unwrap())).await.1;
    assert_eq!(out["input"], rev(TASK_SECRET), "the task's run got the saved secret: {out}");

    // The Actor saved back as shown (masked) keeps its secret env var for the next build.
    let (_, current) = alice.get("/acts/vault").await;
    assert_eq!(alice.put("/acts/vault", &json!({"versions": current["data"]["versions"]})).await.0, 200);
    build_from(&alice, "vault", "probe.wasm").await;
    let run = alice.run("vault", &json!({"mode": "secrets", "key": "API_KEY"})).await;
    let out = alice.get(&format!("/key-value-stores/{}/records/OUTPUT", run["defaultKeyValueStoreId"].as_str().unwrap())).await.1;
    assert_eq!(out["env"], rev(ENV_SECRET), "{out}");
    let (status, body) =
        alice.put("/acts/vault", &json!({"versions": [{"versionNumber": "0.1", "envVars": [{"name": "NEW", "isSecret": true}]}]})).await;
    assert_eq!((status, body["error"]["type"].as_str()), (400, Some("invalid-env-var")), "{body}");

    let token = alice.token.clone();
    drop(alice);
    s.stop();
    assert!(!grep(dir.path(), b"plain-visible-7e1").is_empty(), "the grep sees what is stored in clear");
    for secret in [ENV_SECRET, INPUT_SECRET, TASK_SECRET] {
        let hits = grep(dir.path(), secret.as_bytes());
        assert!(hits.is_empty(), "{secret} is in clear on disk in {hits:?}");
    }

    // Rotation, with the server stopped: a new key reseals everything, the old one goes.
    let key_file = dir.path().join("secrets.key");
    let keys = |f: &std::path::Path| {
        std::fs::read_to_string(f).unwrap().lines().filter(|l| !l.starts_with('#')).map(str::to_owned).collect::<Vec<_>>()
    };
    let before = keys(&key_file);
    let rotated = std::process::Command::new(env!("CARGO_BIN_EXE_wactor"))
        .args(["secrets", "rotate", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(rotated.status.success(), "{}", String::from_utf8_lossy(&rotated.stderr));
    let after = keys(&key_file);
    assert_eq!(after.len(), 1, "{after:?}");
    assert_ne!(after, before);
    let s = Server::start_in(dir.path(), false);
    let alice = As { s: &s, token };
    let (status, started) = alice.post(&format!("/actor-tasks/{task_id}/runs"), &json!({"key": "API_KEY"})).await;
    assert_eq!(status, 201, "{started}");
    let done = alice.wait(started["data"]["id"].as_str().unwrap()).await;
    let out = alice.get(&format!("/key-value-stores/{}/records/OUTPUT", done["defaultKeyValueStoreId"].as_str().unwrap())).await.1;
    assert_eq!(out, json!({"env": rev(ENV_SECRET), "input": rev(TASK_SECRET)}), "both open with the new key");
    drop(alice);
    s.stop();
}

#[tokio::test]
async fn quotas_refuse_a_start_past_the_users_limit_naming_it_and_lose_nothing() {
    let (s, dir) = Server::start();
    let (alice, alice_user) = add_user(&s, "alice").await;
    let (bob, _) = add_user(&s, "bob").await;
    let admin = As { s: &s, token: TOKEN.to_owned() };
    probe_actor(&alice, "probe").await;
    probe_actor(&bob, "probe").await;
    let alice_id = alice_user["id"].as_str().unwrap();
    let quota = json!({"maxConcurrentRuns": 1, "maxTotalMemoryMbytes": 512});
    assert_eq!(alice.put(&format!("/users/{alice_id}/quota"), &quota).await.0, 403, "only the admin sets quotas");
    let (status, set) = admin.put(&format!("/users/{alice_id}/quota"), &quota).await;
    assert_eq!((status, &set["data"]["quota"]), (200, &quota), "{set}");

    let (status, first) = alice.post("/acts/probe/runs?memory=256", &json!({"mode": "sleep", "items": 30})).await;
    assert_eq!(status, 201, "{first}");
    let first = first["data"]["id"].as_str().unwrap().to_owned();
    let (status, body) = alice.post("/acts/probe/runs?memory=128", &json!({"mode": "ok"})).await;
    assert_eq!((status, body["error"]["type"].as_str()), (429, Some("max-concurrent-runs-exceeded")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("maxConcurrentRuns is 1"), "{body}");
    let (_, mine) = alice.get("/users/me/quota").await;
    assert_eq!(mine["data"]["current"]["concurrentRuns"], 1, "{mine}");
    assert_eq!(mine["data"]["current"]["totalMemoryMbytes"], 256, "{mine}");
    assert_eq!(bob.run("probe", &json!({"mode": "ok"})).await["status"], "SUCCEEDED", "Bob's runs are not Alice's quota");

    assert_eq!(admin.put(&format!("/users/{alice_id}/quota"), &json!({"maxConcurrentRuns": 5, "maxTotalMemoryMbytes": 512})).await.0, 200);
    let (status, body) = alice.post("/acts/probe/runs?memory=512", &json!({"mode": "ok"})).await;
    assert_eq!((status, body["error"]["type"].as_str()), (402, Some("actor-memory-limit-exceeded")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("maxTotalMemoryMbytes of 512 MB"), "{body}");
    assert_eq!(alice.get("/actor-runs").await.1["data"]["total"], 1, "a refused start leaves no run");

    // The running run was never touched; once it ends, its share is free again.
    assert_eq!(alice.post(&format!("/actor-runs/{first}/abort"), &json!({})).await.0, 200);
    let ended = alice.wait(&first).await;
    assert_eq!(ended["status"], "ABORTED", "{ended}");
    let (status, body) = alice.post("/acts/probe/runs?memory=512&waitForFinish=30", &json!({"mode": "ok"})).await;
    assert_eq!((status, body["data"]["status"].as_str()), (201, Some("SUCCEEDED")), "{body}");
    drop(dir);
}

#[tokio::test]
async fn tokens_are_named_scoped_expiring_revocable_and_stored_hashed() {
    let (s, dir) = Server::start();
    let (alice, alice_user) = add_user(&s, "alice").await;
    let first = alice.token.clone();

    let (status, created) = alice.post("/users/me/tokens", &json!({"name": "reader", "scopes": {"readOnly": true}})).await;
    assert_eq!(status, 201, "{created}");
    let reader = As { s: &s, token: created["data"]["token"].as_str().unwrap().to_owned() };
    assert_eq!(reader.get("/datasets").await.0, 200);
    let (status, body) = reader.post("/datasets?name=nope", &json!({})).await;
    assert_eq!(status, 403, "a read-only token cannot write: {body}");

    let (_, scoped) = alice.post("/users/me/tokens", &json!({"name": "one-store", "scopes": {"storages": ["kept"]}})).await;
    let scoped = As { s: &s, token: scoped["data"]["token"].as_str().unwrap().to_owned() };
    let kept = alice.post("/key-value-stores?name=kept", &json!({})).await.1["data"]["id"].as_str().unwrap().to_owned();
    let other = alice.post("/key-value-stores?name=other", &json!({})).await.1["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(scoped.get(&format!("/key-value-stores/{kept}")).await.0, 200);
    assert_eq!(scoped.get(&format!("/key-value-stores/{other}")).await.0, 403);

    let soon = (chrono::Utc::now() + chrono::Duration::seconds(1)).to_rfc3339();
    let (status, short) = alice.post("/users/me/tokens", &json!({"name": "short", "expiresAt": soon})).await;
    assert_eq!(status, 201, "{short}");
    let short = As { s: &s, token: short["data"]["token"].as_str().unwrap().to_owned() };
    assert_eq!(short.get("/users/me").await.0, 200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, body) = short.get("/users/me").await;
    assert_eq!((status, body["error"]["type"].as_str()), (401, Some("token-not-valid")), "an expired token: {body}");

    let (_, list) = alice.get("/users/me/tokens").await;
    let names: Vec<&str> = list["data"]["items"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["default", "reader", "one-store", "short"]);
    assert!(list["data"]["items"].as_array().unwrap().iter().all(|t| t.get("token").is_none()), "no secret is listed: {list}");
    let default_id = list["data"]["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(alice.send(reqwest::Method::DELETE, &format!("/users/me/tokens/{default_id}"), None).await.0, 204);
    assert_eq!(alice.get("/users/me").await.0, 401, "a revoked token");

    // Removing the user revokes every token they had.
    let admin = As { s: &s, token: TOKEN.to_owned() };
    assert_eq!(admin.send(reqwest::Method::DELETE, &format!("/users/{}", alice_user["id"].as_str().unwrap()), None).await.0, 204);
    assert_eq!(reader.get("/datasets").await.0, 401);

    let secrets = [first, reader.token.clone(), scoped.token.clone(), TOKEN.to_owned()];
    drop((reader, scoped, short, alice, admin));
    s.stop();
    for secret in &secrets {
        let hits = grep(dir.path(), secret.as_bytes());
        assert!(hits.is_empty(), "a token's secret is on disk in {hits:?}");
    }
}

fn grep(dir: &std::path::Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read(&path).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle)) {
                found.push(path);
            }
        }
    }
    found
}

#[tokio::test]
async fn the_cli_adds_users_and_manages_tokens() {
    let (s, _dir) = Server::start();
    let out = s.cli().args(["users", "add", "carol"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let carol: Value = serde_json::from_slice(&out.stdout).unwrap();
    let token = carol["token"].as_str().unwrap().to_owned();
    let listed = String::from_utf8(s.cli().args(["users", "list"]).output().unwrap().stdout).unwrap();
    assert!(listed.contains("\"carol\"") && !listed.contains(&token), "{listed}");

    let as_carol = |args: &[&str]| s.cli().env("WACTOR_TOKEN", &token).args(args).output().unwrap();
    let out = as_carol(&["tokens", "create", "ci", "--read-only"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ci: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ci["scopes"]["readOnly"], true, "{ci}");
    let listed = String::from_utf8(as_carol(&["tokens", "list"]).stdout).unwrap();
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(as_carol(&["tokens", "revoke", ci["id"].as_str().unwrap()]).status.success());
    let ci = As { s: &s, token: ci["token"].as_str().unwrap().to_owned() };
    assert_eq!(ci.get("/users/me").await.0, 401);

    // Only the admin adds users.
    let refused = as_carol(&["users", "add", "dave"]);
    assert!(!refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("admin"), "{refused:?}");
    assert!(s.cli().args(["users", "remove", "carol"]).output().unwrap().status.success());
    assert_eq!(As { s: &s, token }.get("/users/me").await.0, 401);
}

#[tokio::test]
async fn standby_urls_are_per_user_and_take_only_the_owners_tokens() {
    let (s, _dir) = Server::start();
    let (alice, _) = add_user(&s, "alice").await;
    let (bob, _) = add_user(&s, "bob").await;
    let definition = json!({"actorSpecification": 1, "name": "web", "version": "0.1", "usesStandbyMode": true,
                            "actorStandby": {"idleTimeoutSecs": 60}});
    actor_of(&alice, "web", "standby_probe.wasm", definition).await;
    let port = s.url.rsplit(':').next().unwrap().to_owned();
    let actor = alice.get("/acts/web").await.1;
    assert_eq!(actor["data"]["standbyUrl"], format!("http://alice--web.localhost:{port}"), "{actor}");

    let call = |token: &str, path: &str| s.http.get(format!("{}/standby/{path}/echo", s.url)).bearer_auth(token.to_owned()).send();
    let ok = call(&alice.token, "alice~web").await.unwrap();
    assert_eq!(ok.status(), 200, "the owner's token reaches the handler");
    assert_eq!(call(&bob.token, "alice~web").await.unwrap().status(), 404, "another user's token finds nothing");
    assert_eq!(call(&bob.token, "bob~web").await.unwrap().status(), 404, "bob has no such Actor");

    // By host name too.
    let host = "alice--web.localhost";
    let addr: std::net::SocketAddr = s.url.trim_start_matches("http://").parse().unwrap();
    let client = reqwest::Client::builder().resolve(host, addr).build().unwrap();
    let by_host = |token: &str| client.get(format!("http://{host}:{port}/echo")).bearer_auth(token.to_owned()).send();
    assert_eq!(by_host(&bob.token).await.unwrap().status(), 404);
    assert_eq!(by_host(&alice.token).await.unwrap().status(), 200);

    // Made public, anyone may call it; the Standby run stays Alice's.
    assert_eq!(alice.put("/acts/web", &json!({"actorStandby": {"isPublic": true}})).await.0, 200);
    assert_eq!(call(&bob.token, "alice~web").await.unwrap().status(), 200);
    let runs = alice.get("/acts/web/runs").await.1;
    assert!(runs["data"]["total"].as_u64().unwrap() >= 1, "{runs}");
    assert_eq!(bob.get("/acts/web/runs").await.0, 404);
}

/// Each user token has its own request budget: past it `429 rate-limit-exceeded`
/// with `Retry-After`, and after that wait it is let in again; another token of
/// the same user and the admin are not held back.
#[tokio::test]
async fn a_token_past_its_request_rate_gets_429_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_with(dir.path(), false, &["--rate-limit-per-token", "5"]);
    let (alice, _) = add_user(&s, "alice").await;
    let (status, second) = alice.post("/users/me/tokens", &json!({"name": "second"})).await;
    assert_eq!(status, 201, "{second}");
    let second = second["data"]["token"].as_str().unwrap().to_owned();

    let mut refused = None;
    for _ in 0..40 {
        let resp = s.http.get(s.api("/users/me")).bearer_auth(&alice.token).send().await.unwrap();
        if resp.status() == 429 {
            refused = Some(resp);
            break;
        }
        assert_eq!(resp.status(), 200);
    }
    let refused = refused.expect("40 requests at once pass a budget of 5 a second");
    let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["type"], "rate-limit-exceeded", "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("5 requests per second"), "{body}");

    let other = As { s: &s, token: second };
    assert_eq!(other.get("/users/me").await.0, 200, "the budget is the token's, not the user's");
    let admin = As { s: &s, token: TOKEN.to_owned() };
    for _ in 0..40 {
        assert_eq!(admin.get("/users/me").await.0, 200, "the admin is not limited");
    }
    tokio::time::sleep(std::time::Duration::from_secs(retry_after)).await;
    assert_eq!(alice.get("/users/me").await.0, 200, "after Retry-After the token is let in again");
}

/// The audit log names who did what through either door (user, token by
/// name, action, resource, outcome), leaves storage data writes out, keeps no
/// secret, and only the admin reads it.
#[tokio::test]
async fn the_audit_log_names_who_did_what_through_both_doors_and_keeps_no_secret() {
    let (s, _dir) = Server::start();
    let (alice, alice_user) = add_user(&s, "alice").await;
    let (bob, _) = add_user(&s, "bob").await;
    let admin = As { s: &s, token: TOKEN.to_owned() };
    probe_actor(&alice, "probe").await;
    probe_actor(&bob, "probe").await;
    let (status, ds) = alice.post("/datasets?name=audited", &json!({})).await;
    assert_eq!(status, 201, "{ds}");
    let ds = ds["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(alice.post(&format!("/datasets/{ds}/items"), &json!([{"a": 1}])).await.0, 201);
    let (status, made) = alice.post("/users/me/tokens", &json!({"name": "ci"})).await;
    assert_eq!(status, 201, "{made}");
    let secret = made["data"]["token"].as_str().unwrap().to_owned();
    assert_eq!(bob.send(reqwest::Method::DELETE, &format!("/datasets/{ds}"), None).await.0, 404);
    let (status, sleeper) = alice.post("/acts/probe/runs", &json!({"mode": "sleep", "items": 30})).await;
    assert_eq!(status, 201, "{sleeper}");
    let sleeper = sleeper["data"]["id"].as_str().unwrap().to_owned();
    let peek = bob.run("probe", &json!({"mode": "abort-other", "key": sleeper})).await;
    assert_eq!(peek["status"], "SUCCEEDED", "{peek}");
    assert_eq!(alice.post(&format!("/actor-runs/{sleeper}/abort"), &json!({})).await.0, 200);

    assert_eq!(alice.get("/audit-log").await.0, 403, "only the admin reads the log");
    let (status, log) = admin.get("/audit-log?limit=1000").await;
    assert_eq!(status, 200, "{log}");
    let text = log.to_string();
    assert!(!text.contains(&secret) && !text.contains(&alice.token) && !text.contains(TOKEN), "no token in the log");
    let entries = log["data"]["items"].as_array().unwrap();
    let find = |pred: &dyn Fn(&Value) -> bool| entries.iter().find(|e| pred(e)).cloned();
    let created = find(&|e| e["resource"] == "/v2/datasets" && e["username"] == "alice")
        .unwrap_or_else(|| panic!("alice's dataset creation: {text}"));
    assert_eq!((created["action"].as_str(), created["status"].as_u64(), created["door"].as_str()), (Some("POST"), Some(201), Some("api")));
    assert!(created["token"].as_str().is_some_and(|t| !t.is_empty() && t != "server"), "{created}");
    assert!(find(&|e| e["resource"] == "/v2/users/me/tokens" && e["status"] == 201).is_some(), "token creation: {text}");
    let refused = find(&|e| e["username"] == "bob" && e["action"] == "DELETE").expect("bob's refused delete");
    assert_eq!((refused["resource"].as_str(), refused["status"].as_u64()), (Some(format!("/v2/datasets/{ds}").as_str()), Some(404)));
    let wit = find(&|e| e["door"] == "wit" && e["action"] == "actors.abort-run").expect("bob's guest's abort");
    assert_eq!((wit["username"].as_str(), wit["status"].as_u64()), (Some("bob"), Some(404)), "{wit}");
    assert!(wit["token"].as_str().unwrap().starts_with("run "), "{wit}");
    assert!(!entries.iter().any(|e| e["resource"].as_str().unwrap().ends_with("/items")), "data writes are not entries");

    let alice_id = alice_user["id"].as_str().unwrap();
    let (_, only) = admin.get(&format!("/audit-log?userId={alice_id}&desc=1")).await;
    let only = only["data"]["items"].as_array().unwrap().clone();
    assert!(!only.is_empty() && only.iter().all(|e| e["userId"] == alice_id), "{only:?}");
    assert_eq!(only[0]["resource"], format!("/v2/actor-runs/{sleeper}/abort"), "newest first with desc");
}

/// `maxStorageBytes` bounds a user's bytes in all their storages, through
/// both doors: a write past it is refused whole (402, the limit named) and
/// leaves nothing; overwrites count only what they add, and deleting frees room.
#[tokio::test]
async fn a_storage_quota_refuses_writes_past_it_through_both_doors_and_deletes_free_room() {
    let (s, _dir) = Server::start();
    let (alice, alice_user) = add_user(&s, "alice").await;
    let (bob, _) = add_user(&s, "bob").await;
    let admin = As { s: &s, token: TOKEN.to_owned() };
    probe_actor(&alice, "probe").await;
    let alice_id = alice_user["id"].as_str().unwrap();
    assert_eq!(admin.put(&format!("/users/{alice_id}/quota"), &json!({"maxStorageBytes": 40000})).await.0, 200);
    let used = || async { alice.get("/users/me/quota").await.1["data"]["current"]["storageBytes"].as_u64().unwrap() };
    let start = used().await;

    let (_, store) = alice.post("/key-value-stores?name=quota", &json!({})).await;
    let store = store["data"]["id"].as_str().unwrap().to_owned();
    let put = |key: &str, len: usize| {
        let url = s.api(&format!("/key-value-stores/{store}/records/{key}"));
        s.http.put(url).bearer_auth(&alice.token).header("content-type", "text/plain").body("x".repeat(len)).send()
    };
    assert!(put("a", 15000).await.unwrap().status().is_success());
    assert!(put("b", 15000).await.unwrap().status().is_success());
    let refused = put("c", 15000).await.unwrap();
    assert_eq!(refused.status(), 402);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["type"], "storage-limit-exceeded", "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("maxStorageBytes of 40000"), "{body}");
    assert_eq!(alice.get(&format!("/key-value-stores/{store}/records/c")).await.0, 404, "a refused write leaves nothing");
    assert!(put("a", 15000).await.unwrap().status().is_success(), "an overwrite of the same size adds nothing");
    let now = used().await;
    assert!((30000..31000).contains(&(now - start)), "{start} → {now}");

    let (_, ds) = alice.post("/datasets?name=quota-ds", &json!({})).await;
    let ds = ds["data"]["id"].as_str().unwrap().to_owned();
    let items: Vec<Value> = (0..500).map(|i| json!({"i": i, "text": "lorem ipsum dolor sit amet"})).collect();
    let (status, body) = alice.post(&format!("/datasets/{ds}/items"), &json!(items)).await;
    assert_eq!((status, body["error"]["type"].as_str()), (402, Some("storage-limit-exceeded")), "{body}");
    assert_eq!(alice.get(&format!("/datasets/{ds}")).await.1["data"]["itemCount"], 0, "a refused push is refused whole");

    // Through WIT: a run that pushes past the quota gets the typed error and stops there.
    assert_eq!(alice.send(reqwest::Method::DELETE, &format!("/key-value-stores/{store}/records/b"), None).await.0, 204);
    let run = alice.run("probe", &json!({"mode": "push", "items": 2000, "batch": 100})).await;
    assert_eq!(run["status"], "FAILED", "{run}");
    assert!(run["statusMessage"].as_str().unwrap_or_default().contains("maxStorageBytes"), "{run}");
    let pushed =
        alice.get(&format!("/datasets/{}", run["defaultDatasetId"].as_str().unwrap())).await.1["data"]["itemCount"].as_u64().unwrap();
    assert!(pushed > 0 && pushed < 2000 && pushed % 100 == 0, "whole batches until the limit: {pushed}");
    assert!(used().await <= 40000);

    // A start whose INPUT does not fit is refused, leaving no run and no storage behind.
    let count = |v: Value| v["data"]["total"].as_u64().unwrap();
    let (stores, datasets) = (count(alice.get("/key-value-stores?unnamed=1").await.1), count(alice.get("/datasets?unnamed=1").await.1));
    let runs = count(alice.get("/actor-runs").await.1);
    let (status, body) = alice.post("/acts/probe/runs", &json!({"mode": "ok", "pad": "x".repeat(20000)})).await;
    assert_eq!((status, body["error"]["type"].as_str()), (402, Some("storage-limit-exceeded")), "{body}");
    assert_eq!(count(alice.get("/key-value-stores?unnamed=1").await.1), stores, "no default store left behind");
    assert_eq!(count(alice.get("/datasets?unnamed=1").await.1), datasets, "no default dataset left behind");
    assert_eq!(count(alice.get("/actor-runs").await.1), runs, "no run");

    // Deleting a storage gives its bytes back; other users have their own room.
    let before = used().await;
    assert_eq!(alice.send(reqwest::Method::DELETE, &format!("/key-value-stores/{store}"), None).await.0, 204);
    assert!(used().await <= before - 15000, "the store's bytes are freed");
    let (_, bobs) = bob.post("/key-value-stores?name=roomy", &json!({})).await;
    let url = s.api(&format!("/key-value-stores/{}/records/big", bobs["data"]["id"].as_str().unwrap()));
    let resp = s.http.put(url).bearer_auth(&bob.token).header("content-type", "text/plain").body("y".repeat(100_000)).send().await.unwrap();
    assert!(resp.status().is_success(), "Bob's quota is not Alice's");
}

/// `maxStandbyRuns` counts a user's Standby runs over all their Actors: while
/// one serves, a second Actor's Standby run is refused with the limit named;
/// once the first run ends, the second starts.
#[tokio::test]
async fn a_standby_quota_bounds_a_users_standby_runs_over_all_their_actors() {
    let (s, _dir) = Server::start();
    let (alice, alice_user) = add_user(&s, "alice").await;
    let admin = As { s: &s, token: TOKEN.to_owned() };
    for name in ["web-one", "web-two"] {
        let definition = json!({"actorSpecification": 1, "name": name, "version": "0.1", "usesStandbyMode": true,
                                "actorStandby": {"idleTimeoutSecs": 300}});
        actor_of(&alice, name, "standby_probe.wasm", definition).await;
    }
    let alice_id = alice_user["id"].as_str().unwrap();
    assert_eq!(admin.put(&format!("/users/{alice_id}/quota"), &json!({"maxStandbyRuns": 1})).await.0, 200);
    let call = |path: &str| s.http.get(format!("{}/standby/alice~{path}/echo", s.url)).bearer_auth(alice.token.clone()).send();

    assert_eq!(call("web-one").await.unwrap().status(), 200);
    let refused = call("web-two").await.unwrap();
    let status = refused.status().as_u16();
    let body = refused.text().await.unwrap();
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("maxStandbyRuns is 1"), "{body}");
    assert_eq!(alice.get("/users/me/quota").await.1["data"]["current"]["standbyRuns"], 1);

    let (_, runs) = alice.get("/acts/web-one/runs").await;
    let serving = runs["data"]["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(alice.post(&format!("/actor-runs/{serving}/abort"), &json!({})).await.0, 200);
    alice.wait(&serving).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let status = call("web-two").await.unwrap().status();
        if status == 200 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "web-two never started once web-one's run ended: {status}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// A task made before its Actor has any build seals the secret fields its
/// version's input schema names: nothing in clear reaches the disk, and the
/// task's run gets the clear value.
#[tokio::test]
async fn a_task_made_before_the_first_build_keeps_its_secret_sealed() {
    const EARLY_SECRET: &str = "pw-early-task-2f9b7c";
    let (s, dir) = Server::start();
    let (alice, _) = add_user(&s, "alice").await;
    let schema = json!({"title": "secrets", "type": "object", "schemaVersion": 1, "properties": {
        "mode": {"type": "string", "editor": "textfield"},
        "password": {"type": "string", "editor": "textfield", "isSecret": true}
    }});
    let definition = json!({"actorSpecification": 1, "name": "early", "version": "0.1", "input": schema});
    let (status, _) =
        alice.post("/acts", &json!({"name": "early", "versions": [{"versionNumber": "0.1", "actorDefinition": definition}]})).await;
    assert_eq!(status, 201);
    let (status, task) = alice
        .post("/actor-tasks", &json!({"actId": "early", "name": "before-build", "input": {"mode": "secrets", "password": EARLY_SECRET}}))
        .await;
    assert_eq!(status, 201, "{task}");
    assert_eq!(task["data"]["input"]["password"], "********", "{task}");
    let task_id = task["data"]["id"].as_str().unwrap().to_owned();

    build_from(&alice, "early", "probe.wasm").await;
    let (status, run) = alice.post(&format!("/actor-tasks/{task_id}/runs?waitForFinish=60"), &json!({})).await;
    assert_eq!((status, run["data"]["status"].as_str()), (201, Some("SUCCEEDED")), "{run}");
    let store = run["data"]["defaultKeyValueStoreId"].as_str().unwrap();
    let out = alice.get(&format!("/key-value-stores/{store}/records/OUTPUT")).await.1;
    assert_eq!(out["input"], EARLY_SECRET.chars().rev().collect::<String>(), "the task's run saw the clear value: {out}");

    drop(alice);
    s.stop();
    let hits = grep(dir.path(), EARLY_SECRET.as_bytes());
    assert!(hits.is_empty(), "the secret is in clear on disk in {hits:?}");
}

/// Usage and account limits are each user's own: a user's runs count in their
/// month's usage only, the limit one user sets stops only their runs, and the
/// limits page counts only their unfinished runs.
#[tokio::test]
async fn usage_and_account_limits_are_each_users_own() {
    let (s, _dir) = Server::start();
    let (alice, _) = add_user(&s, "alice").await;
    let (bob, _) = add_user(&s, "bob").await;
    probe_actor(&alice, "probe").await;
    probe_actor(&bob, "probe").await;
    assert_eq!(alice.run("probe", &json!({"mode": "ok"})).await["status"], "SUCCEEDED");
    let units = |v: &Value| v["data"]["monthlyServiceUsage"]["ACTOR_COMPUTE_UNITS"]["quantity"].as_f64().unwrap_or(0.0);
    let (alices, bobs) = (alice.get("/users/me/usage/monthly").await.1, bob.get("/users/me/usage/monthly").await.1);
    assert!(units(&alices) > 0.0, "{alices}");
    assert_eq!(units(&bobs), 0.0, "Alice's run is not in Bob's usage: {bobs}");

    // Bob's limit of $0 stops Bob's runs, not Alice's.
    assert_eq!(bob.put("/users/me/limits", &json!({"maxMonthlyUsageUsd": 0})).await.0, 204);
    let (_, body) = bob.post("/acts/probe/runs", &json!({"mode": "ok"})).await;
    assert_eq!(body["error"]["type"], "monthly-usage-limit-exceeded", "{body}");
    assert_eq!(alice.run("probe", &json!({"mode": "ok"})).await["status"], "SUCCEEDED", "Bob's limit is not Alice's");
    assert_ne!(alice.get("/users/me/limits").await.1["data"]["limits"]["maxMonthlyUsageUsd"], 0);

    let (_, sleeper) = alice.post("/acts/probe/runs", &json!({"mode": "sleep", "items": 30})).await;
    let sleeper = sleeper["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(alice.get("/users/me/limits").await.1["data"]["current"]["activeActorJobCount"], 1);
    assert_eq!(bob.get("/users/me/limits").await.1["data"]["current"]["activeActorJobCount"], 0);
    assert_eq!(alice.post(&format!("/actor-runs/{sleeper}/abort"), &json!({})).await.0, 200);
}
