//! Runs of tasks and the run options that shape a run's life: a task's run
//! sees `ACTOR_TASK_ID`; `restartOnError` starts a failed run again in place,
//! a bounded number of times.

mod common;

use common::Server;
use serde_json::{json, Value};

async fn output(s: &Server, run: &Value) -> Value {
    let store = run["defaultKeyValueStoreId"].as_str().unwrap();
    s.get_json(&format!("/key-value-stores/{store}/records/OUTPUT")).await
}

#[tokio::test]
async fn restart_on_error_starts_a_failed_run_again_up_to_the_limit() {
    let (s, _dir) = Server::start();
    let run = s.run("probe", "restartOnError=1", &json!({"mode": "fail-until", "items": 2})).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run:#}");
    assert_eq!(run["stats"]["restartCount"], 2, "{run:#}");
    let out = output(&s, &run).await;
    assert_eq!((out["starts"].as_u64(), out["restartOnError"].as_str()), (Some(3), Some("1")), "{out}");

    let run = s.run("probe", "restartOnError=true", &json!({"mode": "fail-until", "items": 100})).await;
    assert_eq!(run["status"], "FAILED", "{run:#}");
    assert_eq!(run["stats"]["restartCount"], 3, "at most three restarts: {run:#}");
    assert_eq!(output(&s, &run).await["starts"], 4);
    let log = s.http.get(s.api(&format!("/logs/{}", run["id"].as_str().unwrap()))).bearer_auth(common::TOKEN).send().await.unwrap();
    let log = log.text().await.unwrap();
    assert!(log.contains("restart 3 of at most 3 (restartOnError)"), "{log}");

    // Without the option a failed run stays failed, and the run is told so.
    let run = s.run("probe", "", &json!({"mode": "fail-until", "items": 1})).await;
    assert_eq!((run["status"].as_str(), run["stats"]["restartCount"].as_u64()), (Some("FAILED"), Some(0)), "{run:#}");
    assert_eq!(output(&s, &run).await["restartOnError"], "0");
}

#[tokio::test]
async fn a_task_run_knows_its_task_and_takes_the_tasks_options() {
    let (s, _dir) = Server::start();
    let probe = s.get_json("/acts/probe").await["data"]["id"].as_str().unwrap().to_owned();
    let resp = s
        .post_json(
            "/actor-tasks",
            &json!({"actId": probe, "name": "probe-task", "input": {"mode": "fail-until", "items": 1},
                    "options": {"restartOnError": true, "memoryMbytes": 256}}),
        )
        .await;
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    let task: Value = resp.json().await.unwrap();
    let task_id = task["data"]["id"].as_str().unwrap().to_owned();
    let resp = s.post_json("/actor-tasks/probe-task/runs?waitForFinish=60", &json!({})).await;
    assert_eq!(resp.status(), 201);
    let run = resp.json::<Value>().await.unwrap()["data"].clone();
    assert_eq!((run["status"].as_str(), run["actorTaskId"].as_str()), (Some("SUCCEEDED"), Some(task_id.as_str())), "{run:#}");
    assert_eq!(run["options"]["memoryMbytes"], 256);
    assert_eq!(run["stats"]["restartCount"], 1, "the task's restartOnError: {run:#}");
    assert_eq!(output(&s, &run).await["taskId"], task_id.as_str());
    // Its last run's storages, through the task.
    let out = s.get_json("/actor-tasks/probe-task/runs/last/key-value-store/records/OUTPUT").await;
    assert_eq!(out["taskId"], task_id.as_str());
    let items = s.get("/actor-tasks/probe-task/runs/last/dataset/items?format=csv").await;
    assert_eq!(items.status(), 200);
    assert_eq!(s.get("/actor-tasks/nope/runs/last").await.status(), 404);
}
