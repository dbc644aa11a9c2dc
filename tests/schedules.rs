//! Schedules end to end: a seconds-resolution cron fires on every tick,
//! an exclusive schedule skips while its run goes on, a firing missed while
//! the server was down runs once after the restart (not once per tick, and
//! never twice), and bad schedules are refused with the reason.

mod common;

use std::time::Duration;

use common::{assert_error, eventually, Server};
use serde_json::{json, Value};

async fn create(s: &Server, body: &Value) -> Value {
    let resp = s.post_json("/schedules", body).await;
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    resp.json::<Value>().await.unwrap()["data"].clone()
}

async fn scheduled_runs(s: &Server) -> Vec<Value> {
    s.get_json("/acts/probe/runs?origin=SCHEDULER").await["data"]["items"].as_array().unwrap().clone()
}

fn probe_action(input: &Value) -> Value {
    json!([{"type": "RUN_ACTOR", "actorId": "probe",
            "runInput": {"body": input.to_string(), "contentType": "application/json"}, "runOptions": {"timeoutSecs": 60}}])
}

#[tokio::test]
async fn a_seconds_schedule_fires_on_every_tick_and_logs_each_run() {
    let (s, _dir) = Server::start();
    let schedule = create(
        &s,
        &json!({"name": "every-two-seconds", "cronExpression": "*/2 * * * * *", "isEnabled": true, "isExclusive": false,
                "actions": probe_action(&json!({"mode": "ok"}))}),
    )
    .await;
    let id = schedule["id"].as_str().unwrap().to_owned();
    assert!(schedule["nextRunAt"].is_string(), "{schedule}");
    assert!(schedule["actions"][0]["id"].is_string(), "actions get IDs: {schedule}");
    let s = &s;
    eventually("two scheduled runs", || async move { scheduled_runs(s).await.len() >= 2 }).await;
    let runs = scheduled_runs(s).await;
    let gap = chrono::DateTime::parse_from_rfc3339(runs[1]["startedAt"].as_str().unwrap()).unwrap()
        - chrono::DateTime::parse_from_rfc3339(runs[0]["startedAt"].as_str().unwrap()).unwrap();
    assert!(gap >= chrono::Duration::milliseconds(1500), "ticks two seconds apart, not {gap}");
    let log = s.get_json(&format!("/schedules/{id}/log")).await["data"].clone();
    let logged: Vec<&str> = log.as_array().unwrap().iter().filter_map(|e| e["runId"].as_str()).collect();
    for run in &runs[..2] {
        assert!(logged.contains(&run["id"].as_str().unwrap()), "run {} in the log {log}", run["id"]);
    }
    let got = s.get_json(&format!("/schedules/{id}")).await["data"].clone();
    assert!(got["lastRunAt"].is_string(), "{got}");

    // Disabled: no next run, and no more runs.
    let resp =
        s.http.put(s.api(&format!("/schedules/{id}"))).bearer_auth(common::TOKEN).json(&json!({"isEnabled": false})).send().await.unwrap();
    let off: Value = resp.json().await.unwrap();
    assert!(off["data"]["nextRunAt"].is_null(), "{off}");
    // A firing claimed just before the change may still be starting its run.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = scheduled_runs(s).await.len();
    tokio::time::sleep(Duration::from_millis(4500)).await;
    assert_eq!(scheduled_runs(s).await.len(), before, "a disabled schedule fires no more");
}

#[tokio::test]
async fn an_exclusive_schedule_skips_while_its_previous_run_goes_on() {
    let (s, _dir) = Server::start();
    let schedule = create(
        &s,
        &json!({"name": "exclusive", "cronExpression": "* * * * * *", "isEnabled": true, "isExclusive": true,
                "actions": probe_action(&json!({"mode": "sleep"}))}),
    )
    .await;
    let id = schedule["id"].as_str().unwrap().to_owned();
    let s = &s;
    let log_path = format!("/schedules/{id}/log");
    let log_path = &log_path;
    eventually("a skipped firing in the log", || async move {
        let log = s.get_json(log_path).await["data"].clone();
        log.as_array().unwrap().iter().filter(|e| e["message"].as_str().unwrap_or("").contains("still running")).count() >= 2
    })
    .await;
    let runs = scheduled_runs(s).await;
    assert_eq!(runs.len(), 1, "one run at a time: {runs:?}");
    let resp =
        s.http.put(s.api(&format!("/schedules/{id}"))).bearer_auth(common::TOKEN).json(&json!({"isEnabled": false})).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let run = runs[0]["id"].as_str().unwrap();
    s.http.post(s.api(&format!("/actor-runs/{run}/abort"))).bearer_auth(common::TOKEN).send().await.unwrap();
}

#[tokio::test]
async fn a_firing_missed_while_the_server_was_down_runs_once_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in(dir.path(), true);
    // Once a day, a few seconds from now.
    let due = chrono::Utc::now() + chrono::Duration::seconds(5);
    let cron = due.format("%S %M %H * * *").to_string();
    let schedule =
        create(&s, &json!({"name": "daily", "cronExpression": cron, "isEnabled": true, "actions": probe_action(&json!({"mode": "ok"}))}))
            .await;
    let id = schedule["id"].as_str().unwrap().to_owned();
    s.crash();
    // Down across the due time.
    let wait = (due - chrono::Utc::now()).to_std().unwrap_or_default() + Duration::from_secs(3);
    tokio::time::sleep(wait).await;

    let restarted = Server::start_in(dir.path(), false);
    let s = &restarted;
    eventually("the missed firing", || async move { !scheduled_runs(s).await.is_empty() }).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let runs = scheduled_runs(s).await;
    assert_eq!(runs.len(), 1, "one firing for the missed time: {runs:?}");
    let got = s.get_json(&format!("/schedules/{id}")).await["data"].clone();
    let next = chrono::DateTime::parse_from_rfc3339(got["nextRunAt"].as_str().unwrap()).unwrap();
    assert!(next > chrono::Utc::now() + chrono::Duration::hours(23), "the next firing is tomorrow's: {got}");
    let log = s.get_json(&format!("/schedules/{id}/log")).await["data"].clone();
    assert_eq!(log.as_array().unwrap().len(), 1, "{log}");

    // Again across a restart: the same firing is not repeated.
    restarted.crash();
    let s = Server::start_in(dir.path(), false);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(scheduled_runs(&s).await.len(), 1);
}

#[tokio::test]
async fn bad_schedules_are_refused_with_the_reason_and_nothing_is_created() {
    let (s, _dir) = Server::start();
    let cases = [
        (json!({"cronExpression": "61 * * * *"}), 400, "invalid-schedule", "61 * * * *"),
        (json!({"cronExpression": "every day"}), 400, "invalid-schedule", "every day"),
        (json!({"cronExpression": "* * * * *", "timezone": "Mars/Olympus"}), 400, "invalid-schedule", "Mars/Olympus"),
        (json!({"timezone": "UTC"}), 400, "invalid-schedule", "cronExpression"),
        (
            json!({"cronExpression": "* * * * *", "actions": [{"type": "RUN_ACTOR", "actorId": "nobody"}]}),
            404,
            "record-not-found",
            "nobody",
        ),
        (json!({"cronExpression": "* * * * *", "actions": [{"type": "RUN_SOMETHING"}]}), 400, "invalid-request", "RUN_SOMETHING"),
    ];
    for (body, status, kind, word) in cases {
        let msg = assert_error(s.post_json("/schedules", &body).await, status, kind).await;
        assert!(msg.contains(word), "{body}: {msg}");
    }
    assert_eq!(s.get_json("/schedules").await["data"]["total"], 0);
}
