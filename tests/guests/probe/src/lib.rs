//! A test guest that does what its input's `mode` says, good or bad.

use serde::Deserialize;
use serde_json::json;
use wactor_sdk::{
    events, push_data, set_terminal_status_message, set_value, Dataset, Error, Event, KeyValueStore, PersistedState, RequestQueue,
};

#[derive(Deserialize)]
struct Input {
    mode: String,
    #[serde(default)]
    items: u64,
    #[serde(default = "default_batch")]
    batch: u64,
    #[serde(default)]
    code: i32,
    #[serde(default)]
    urls: Vec<String>,
    #[serde(default)]
    port: u16,
    #[serde(default)]
    mbytes: usize,
    /// `charge`: (event, count) pairs, charged in order.
    #[serde(default)]
    charges: Vec<(String, u32)>,
    #[serde(default)]
    event: String,
    #[serde(default)]
    key: Option<String>,
    /// `call`, `start-abort`: the Actor to run, with this input and options.
    #[serde(default)]
    actor: String,
    #[serde(default)]
    child_input: serde_json::Value,
    #[serde(default)]
    max_total_charge_usd: Option<f64>,
    #[serde(default)]
    build: Option<String>,
    /// `secrets`: a secret input field.
    #[serde(default)]
    password: Option<String>,
}

fn default_batch() -> u64 {
    1000
}

fn main(input: Input) -> wactor_sdk::Result<()> {
    match input.mode.as_str() {
        "ok" => Ok(()),
        "fail" => Err(Error::msg("probe failed on purpose")),
        "trap" => panic!("probe panicked on purpose"),
        "exit" => std::process::exit(input.code),
        "loop" => {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        "memory" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 1 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        "sleep" => {
            std::thread::sleep(std::time::Duration::from_secs(3600));
            Ok(())
        }
        "push" => {
            let mut pushed = 0;
            while pushed < input.items {
                let n = input.batch.min(input.items - pushed);
                let batch: Vec<_> = (pushed..pushed + n).map(|i| json!({ "i": i, "text": "lorem ipsum dolor sit amet" })).collect();
                push_data(&batch)?;
                pushed += n;
            }
            set_value("OUTPUT", &json!({ "pushed": pushed }))
        }
        "charge" => {
            // Each charge's result or error, then what the run knows of its charges.
            let mut results = Vec::new();
            for (event, count) in &input.charges {
                let outcome = match &input.key {
                    Some(key) => wactor_sdk::charging::charge_once(event, *count, key),
                    None => wactor_sdk::charge(event, *count),
                };
                results.push(match outcome {
                    Ok(r) => json!({"charged": r.charged_count, "limitReached": r.event_charge_limit_reached,
                        "chargeable": r.chargeable_within_limit}),
                    Err(e) => json!({"error": e.to_string(), "kind": format!("{e:?}").split('(').next().unwrap_or("").to_owned()}),
                });
            }
            let pricing = wactor_sdk::charging::pricing();
            set_value(
                "OUTPUT",
                &json!({
                    "results": results,
                    "counts": wactor_sdk::charging::charged_event_counts(),
                    "remaining": wactor_sdk::charging::remaining_budget(),
                    "model": format!("{:?}", pricing.model),
                    "maxTotalChargeUsd": pricing.max_total_charge_usd,
                    "env": std::env::var("ACTOR_MAX_TOTAL_CHARGE_USD").ok(),
                }),
            )
        }
        "call" => {
            // Charges its own `charges` first, calls the child, reads its
            // dataset, reports both (and what the platform refused).
            for (event, count) in &input.charges {
                wactor_sdk::charge(event, *count)?;
            }
            let options = wactor_sdk::actors::StartOptions {
                max_total_charge_usd: input.max_total_charge_usd,
                build: input.build.clone(),
                ..Default::default()
            };
            let output = match wactor_sdk::actors::call(&input.actor, &input.child_input, options) {
                Ok(run) => {
                    let items: Vec<serde_json::Value> = Dataset::open_by_id(&run.default_dataset_id)?.get_items(0, 1000)?;
                    let parsed: serde_json::Value = serde_json::from_str(&run.json)?;
                    json!({"status": run.status, "id": run.id, "items": items, "origin": parsed["meta"]["origin"],
                           "parent": parsed["parentRunId"], "message": run.status_message})
                }
                Err(e) => json!({"error": e.to_string()}),
            };
            push_data(&json!({"called": input.actor}))?;
            set_value("OUTPUT", &output)
        }
        "secrets" => {
            // Prints the env var `key` and the secret input field, and keeps them reversed
            // (so the test can check the clear values arrived without storing them).
            let env = std::env::var(input.key.as_deref().unwrap_or("API_KEY")).unwrap_or_default();
            let password = input.password.unwrap_or_default();
            println!("env secret: {env}");
            println!("input secret: {password}");
            let rev = |s: &str| s.chars().rev().collect::<String>();
            set_value("OUTPUT", &json!({"env": rev(&env), "input": rev(&password)}))
        }
        "open-datasets" => {
            // Opens each of `urls` by ID (reversed, so the input does not name it) and `event` by name.
            let kind = |r: wactor_sdk::Result<Dataset>| match r {
                Ok(_) => "ok".to_owned(),
                Err(e) => format!("{e:?}").split('(').next().unwrap_or("").to_owned(),
            };
            let by_id: Vec<String> = input.urls.iter().map(|id| kind(Dataset::open_by_id(&id.chars().rev().collect::<String>()))).collect();
            set_value("OUTPUT", &json!({"byId": by_id, "byName": kind(Dataset::open(&input.event.chars().rev().collect::<String>()))}))
        }
        "metamorph" => {
            // Leaves a trace, then hands the run to `actor` with `child_input`; a refusal is reported.
            push_data(&json!({"stage": "probe", "inputKey": wactor_sdk::run_info().input_key}))?;
            let err = wactor_sdk::actors::metamorph(&input.actor, &input.child_input, input.build.as_deref()).unwrap_err();
            set_value("OUTPUT", &json!({"error": err.to_string()}))
        }
        "webhooks" => {
            // A webhook on this run, and one on a child through its start options.
            let hook = |key: &str| wactor_sdk::actors::Webhook {
                event_types: vec!["ACTOR.RUN.SUCCEEDED".into()],
                request_url: input.urls[0].clone(),
                idempotency_key: Some(key.into()),
                ..Default::default()
            };
            let own = wactor_sdk::actors::add_webhook(&hook("own"))?;
            let again = wactor_sdk::actors::add_webhook(&hook("own"))?;
            let options = wactor_sdk::actors::StartOptions { webhooks: vec![hook("child")], ..Default::default() };
            let child = wactor_sdk::actors::start(&input.actor, &json!({"mode": "ok"}), options)?;
            wactor_sdk::actors::wait_for_finish(&child.id, Some(30))?;
            let bad =
                wactor_sdk::actors::add_webhook(&wactor_sdk::actors::Webhook { request_url: "nope".into(), ..hook("x") }).unwrap_err();
            set_value("OUTPUT", &json!({"own": own, "again": again, "child": child.id, "bad": bad.to_string()}))
        }
        "abort-other" => {
            // Reads and aborts the run `key` names (another user's, in the isolation tests).
            let run = input.key.clone().unwrap_or_default();
            let kind = |e: Option<Error>| e.map_or("ok".to_owned(), |e| format!("{e:?}").split('(').next().unwrap_or("").to_owned());
            let get = kind(wactor_sdk::actors::get_run(&run).err());
            let abort = kind(wactor_sdk::actors::abort(&run, false).err());
            set_value("OUTPUT", &json!({"get": get, "abort": abort}))
        }
        "start-abort" => {
            let child = wactor_sdk::actors::start(&input.actor, &input.child_input, Default::default())?;
            let running = wactor_sdk::actors::get_run(&child.id)?;
            wactor_sdk::actors::abort(&child.id, false)?;
            let ended = wactor_sdk::actors::wait_for_finish(&child.id, Some(30))?;
            set_value("OUTPUT", &json!({"child": child.id, "seen": running.status, "ended": ended.status}))
        }
        "charge-push" => {
            let items: Vec<_> = (0..input.items).map(|i| json!({ "i": i })).collect();
            let r = wactor_sdk::push_data_charged(&items, &input.event)?;
            set_value("OUTPUT", &json!({"charged": r.charged_count, "limitReached": r.event_charge_limit_reached}))
        }
        "charge-loop" => {
            // One charge per call, as a crawler charges per page (the benchmark's guest).
            for _ in 0..input.items {
                wactor_sdk::charge(&input.event, 1)?;
            }
            set_value("OUTPUT", &json!({"charged": input.items}))
        }
        "errors" => {
            // Guest-visible errors, not traps: each must come back as a typed error.
            let kv = KeyValueStore::open_default()?;
            let bad_key = kv.set_value("bad key!", &1).unwrap_err();
            let missing = KeyValueStore::open_by_id("doesNotExist12345").err();
            let bad_item = Dataset::open_default()?.push(&json!([1, 2])).unwrap_err();
            set_value(
                "OUTPUT",
                &json!({
                    "badKey": bad_key.to_string(),
                    "missingStore": missing.map(|e| e.to_string()),
                    "badItem": bad_item.to_string(),
                }),
            )
        }
        "abortable" => {
            // Counts until asked to stop; the count survives in STATE.
            let mut state = PersistedState::<u64>::load("STATE")?;
            loop {
                *state += 1;
                let events = state.checkpoint()?;
                if events.contains(&Event::Aborting) {
                    set_value("OUTPUT", &json!({ "stoppedAt": *state, "events": format!("{events:?}") }))?;
                    return Ok(());
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        "events" => {
            // Waits for the first system-info and persist-state, then reports them.
            let mut seen = Vec::new();
            while seen.len() < 2 {
                match events::wait() {
                    Event::SystemInfo { mem_max_bytes, .. } if !seen.iter().any(|s: &String| s.starts_with("systemInfo")) => {
                        seen.push(format!("systemInfo:{mem_max_bytes}"))
                    }
                    Event::PersistState { is_migrating } if !seen.iter().any(|s| s.starts_with("persistState")) => {
                        seen.push(format!("persistState:{is_migrating}"))
                    }
                    _ => {}
                }
            }
            seen.sort();
            set_value("OUTPUT", &seen)
        }
        "reboot" => {
            // Reboots itself once; the second start finishes.
            let mut starts = PersistedState::<u64>::load("STARTS")?;
            *starts += 1;
            starts.save()?;
            if *starts == 1 {
                wactor_sdk::reboot()?;
                return Err(Error::msg("reboot returned"));
            }
            set_value("OUTPUT", &json!({ "starts": *starts }))
        }
        "fail-until" => {
            // Fails its first `items` starts (restartOnError starts it again), then succeeds.
            let mut starts = PersistedState::<u64>::load("STARTS")?;
            *starts += 1;
            starts.save()?;
            let env = |k: &str| std::env::var(k).unwrap_or_default();
            set_value(
                "OUTPUT",
                &json!({"starts": *starts, "restartOnError": env("ACTOR_RESTART_ON_ERROR"), "taskId": env("ACTOR_TASK_ID")}),
            )?;
            if *starts <= input.items {
                return Err(Error::msg(format!("failing start {}", *starts)));
            }
            Ok(())
        }
        "abort-self" => {
            let me = wactor_sdk::run_info().run_id;
            wactor_sdk::abort_run(&me, false)?;
            Err(Error::msg("abort returned"))
        }
        "message" => {
            set_terminal_status_message("custom final message")?;
            Err(Error::msg("ignored because a terminal message was set"))
        }
        "queue" => {
            // A crawl over the default queue: dedup, forefront, a reclaim, handle until finished.
            let queue = RequestQueue::open_default()?;
            for page in ["a", "b", "c"] {
                queue.add_url(&format!("https://site.test/{page}"))?;
            }
            let again = queue.add_url("https://site.test/a")?;
            queue.add(&json!({"url": "https://site.test/first", "userData": {"label": "START"}}), true)?;
            let bad = queue.add(&json!({"uniqueKey": "no-url"}), false).unwrap_err();
            let mut order = Vec::new();
            let mut reclaimed = false;
            while !queue.is_finished()? {
                let Some(request) = queue.fetch_next()? else { return Err(Error::msg("pending requests, but none to fetch")) };
                if request.url.ends_with("/b") && !reclaimed {
                    reclaimed = true;
                    queue.reclaim(&request, false)?;
                    continue;
                }
                order.push(json!({"url": request.url, "retries": request.retry_count, "label": request.data["userData"]["label"]}));
                queue.mark_handled(&request)?;
            }
            set_value("OUTPUT", &json!({"order": order, "dedup": again.was_already_present, "bad": bad.to_string(), "queue": queue.id()}))
        }
        "fetch" => {
            // Outbound HTTP to each URL: what came back, or the error.
            let results: Vec<_> = input
                .urls
                .iter()
                .map(|url| match wactor_sdk::fetch::get(url) {
                    Ok(r) => json!({"url": url, "status": r.status, "body": r.text()}),
                    Err(e) => json!({"url": url, "error": e.to_string()}),
                })
                .collect();
            set_value("OUTPUT", &results)
        }
        "push-report" => {
            // One push per host call; each acknowledged push is reported to `urls[0]` + its index.
            let report = input.urls.first().cloned().unwrap_or_default();
            for i in 0..input.items {
                push_data(&json!({ "i": i }))?;
                wactor_sdk::fetch::get(&format!("{report}{i}"))?;
            }
            Ok(())
        }
        "fetch-then-trap" => {
            // Holds the next request of the named queue, then crashes without handing it back.
            let queue = RequestQueue::open(input.urls.first().map(String::as_str).unwrap_or("shared"))?;
            let held = queue.fetch_next()?.map(|r| r.url);
            set_value("OUTPUT", &json!({ "held": held }))?;
            panic!("crashing while holding a request");
        }
        "migration-events" => {
            // Records every event but system-info until the platform stops it; the next start reports them.
            let mut seen = PersistedState::<Vec<String>>::load("SEEN")?;
            if seen.iter().any(|e| e.starts_with("Migrating")) {
                return set_value("OUTPUT", &*seen);
            }
            loop {
                match events::wait() {
                    Event::SystemInfo { .. } => continue,
                    other => {
                        seen.push(format!("{other:?}"));
                        seen.save()?;
                    }
                }
            }
        }
        "limits" => {
            // Over-limit host calls come back as typed errors, not traps.
            let record = KeyValueStore::open_default()?.set_bytes("BIG", &vec![0u8; 10 << 20], "application/octet-stream").unwrap_err();
            let mut handles = Vec::new();
            let handle = loop {
                match Dataset::open_default() {
                    Ok(d) => handles.push(d),
                    Err(e) => break e,
                }
            };
            set_value("OUTPUT", &json!({"record": record.to_string(), "handles": handle.to_string(), "opened": handles.len()}))
        }
        "tcp" => {
            // A raw socket past wasi:http: there must be none.
            let connected = std::net::TcpStream::connect(("127.0.0.1", input.port));
            set_value("OUTPUT", &json!({"connected": connected.is_ok(), "error": connected.err().map(|e| e.to_string())}))
        }
        "bigpush" => {
            // One item of `mbytes` MB in one host call: refused on its size, before the host parses it.
            let text = format!("{{\"x\":\"{}\"}}", "a".repeat(input.mbytes << 20));
            let err = Dataset::open_default()?.push_texts(vec![text]).unwrap_err();
            set_value("OUTPUT", &json!({"error": err.to_string()}))
        }
        "reboot-on-migrating" => {
            // As the JavaScript SDK does: answer `migrating` with a reboot.
            let mut starts = PersistedState::<u64>::load("STARTS")?;
            *starts += 1;
            starts.save()?;
            if *starts > 1 {
                return set_value("OUTPUT", &json!({ "starts": *starts }));
            }
            loop {
                if let Event::Migrating { .. } = events::wait() {
                    wactor_sdk::reboot()?;
                    return Err(Error::msg("reboot returned"));
                }
            }
        }
        "reboot-loop" => {
            // Reboots itself at every start until the platform refuses.
            match wactor_sdk::reboot() {
                Ok(()) => Err(Error::msg("reboot returned")),
                Err(e) => set_value("OUTPUT", &json!({"refused": e.to_string(), "run": wactor_sdk::run_info().run_id})),
            }
        }
        other => Err(Error::msg(format!("unknown mode {other}"))),
    }
}

wactor_sdk::actor!(main);
