//! A crash (`kill -9`) in every state a run can be in, a second crash while
//! runs resume, and Standby runs across a restart: every run ends once, in
//! the state it was heading for.

mod common;

use std::time::Duration;

use common::{Server, TOKEN};
use serde_json::{json, Value};

async fn abort(s: &Server, run_id: &str) {
    let _ = s.http.post(s.api(&format!("/actor-runs/{run_id}/abort"))).bearer_auth(TOKEN).send().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_while_ready_or_aborting_ends_each_run_as_it_was_heading() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_with(dir.path(), true, &["--max-concurrent-runs", "1", "--abort-grace-secs", "600"]);
    // One run holds the only slot and ignores a graceful abort: ABORTING until its grace runs out.
    let busy = s.start_run("probe", "", &json!({"mode": "loop"})).await;
    s.wait_until(&busy, "RUNNING", |r| r["status"] == "RUNNING").await;
    let waiting = s.start_run("probe", "", &json!({"mode": "ok"})).await;
    let resp = s.http.post(s.api(&format!("/actor-runs/{busy}/abort?gracefully=true"))).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(resp.json::<Value>().await.unwrap()["data"]["status"], "ABORTING");
    assert_eq!(s.get_json(&format!("/actor-runs/{waiting}")).await["data"]["status"], "READY");
    s.crash();

    let s = Server::start_in(dir.path(), false);
    assert_eq!(s.wait_terminal(&busy, common::RUN_DEADLINE).await["status"], "ABORTED");
    let run = s.wait_terminal(&waiting, common::RUN_DEADLINE).await;
    assert_eq!(run["status"], "SUCCEEDED", "the READY run started after the restart: {run}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_while_timing_out_times_the_run_out() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in(dir.path(), true);
    // Asleep in a host call, the guest is stopped only after a grace: TIMING-OUT meanwhile.
    let id = s.start_run("probe", "timeout=1", &json!({"mode": "sleep"})).await;
    s.wait_until(&id, "TIMING-OUT", |r| r["status"] == "TIMING-OUT").await;
    s.crash();
    let s = Server::start_in(dir.path(), false);
    let run = s.wait_terminal(&id, common::RUN_DEADLINE).await;
    assert_eq!(run["status"], "TIMED-OUT", "{run}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_while_rebooting_keeps_the_reboot_limit() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_with(dir.path(), true, &["--max-reboots-per-run", "5"]);
    let id = s.start_run("probe", "", &json!({"mode": "reboot-loop"})).await;
    // Crash in the backoff between two reboots.
    s.wait_until(&id, "three reboots", |r| r["stats"]["rebootCount"].as_u64() >= Some(3)).await;
    s.crash();
    let s = Server::start_with(dir.path(), false, &["--max-reboots-per-run", "5"]);
    let run = s.wait_terminal(&id, common::RUN_DEADLINE).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    assert!(run["stats"]["rebootCount"].as_u64().unwrap() <= 5, "{run}");
    assert_eq!(run["stats"]["migrationCount"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_crash_while_runs_resume_still_finishes_each_step_once() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in(dir.path(), true);
    let id = s.start_run("long-job", "", &json!({"steps": 20, "stepMillis": 100})).await;
    // Crash mid-run: some steps pushed, most to come.
    common::eventually("the first steps pushed", || async {
        let items: Value = s.get(&format!("/actor-runs/{id}/dataset/items")).await.json().await.unwrap();
        items.as_array().is_some_and(|a| a.len() >= 3)
    })
    .await;
    s.crash();
    // The restart resumes the run; crash again as soon as it listens.
    let s = Server::start_in(dir.path(), false);
    s.crash();
    let s = Server::start_in(dir.path(), false);
    let run = s.wait_terminal(&id, common::RUN_DEADLINE).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    let items: Value = s.get(&format!("/actor-runs/{id}/dataset/items")).await.json().await.unwrap();
    let steps: Vec<u64> = items.as_array().unwrap().iter().map(|i| i["step"].as_u64().unwrap()).collect();
    assert_eq!(steps, (0..20).collect::<Vec<_>>(), "every step once, in order");
    assert_eq!(run["stats"]["migrationCount"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn standby_serves_again_after_a_restart_and_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in(dir.path(), true);
    let url = |s: &Server| format!("{}/standby/me~standby-probe/echo", s.url);
    let first: Value = s.http.get(url(&s)).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    let first_run = first["runId"].as_str().unwrap().to_owned();
    s.stop();

    let s = Server::start_in(dir.path(), false);
    let resp = s.http.get(url(&s)).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let second: Value = resp.json().await.unwrap();
    // The old Standby run ended with its server; it is not left running.
    let old = s.wait_terminal(&first_run, Duration::from_secs(30)).await;
    assert!(common::is_terminal(&old), "{old}");
    let second_run = second["runId"].as_str().unwrap().to_owned();
    s.crash();

    let s = Server::start_in(dir.path(), false);
    let resp = s.http.get(url(&s)).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let third: Value = resp.json().await.unwrap();
    let runs = s.get_json("/acts/standby-probe/runs?status=RUNNING,READY").await;
    let live: Vec<&str> = runs["data"]["items"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert!(live.len() <= 2, "{live:?}");
    assert!(live.contains(&third["runId"].as_str().unwrap()), "{live:?}");
    for id in live {
        abort(&s, id).await;
    }
    let _ = second_run;
}
