//! The charging core on stored runs: clamping, idempotency, the platform's
//! own events, and allowances shared down a chain of runs.

use serde_json::json;

use super::pricing::{ACTOR_START_EVENT, DATASET_ITEM_EVENT};
use crate::platform::error::PlatformError;
use crate::platform::runs::{Run, RunStatus};
use crate::platform::Platform;

/// A RUNNING run stored as `start_run` would store it, and registered as
/// executing (the returned guard keeps it so).
fn running(platform: &Platform, id: &str, pricing: serde_json::Value, max_usd: Option<f64>, parent: Option<&str>) -> impl Sized {
    let now = crate::ids::format_ts(&crate::ids::now());
    let run: Run = serde_json::from_value(json!({
        "id": id, "actId": "a", "userId": "u", "actorTaskId": null, "startedAt": now, "finishedAt": null,
        "status": "RUNNING", "statusMessage": null, "isStatusMessageTerminal": null, "meta": {"origin": "API"},
        "stats": {}, "options": {"build": "latest", "timeoutSecs": 60, "memoryMbytes": 2048, "diskMbytes": 4096,
            "maxTotalChargeUsd": max_usd, "maxItems": 10},
        "buildId": "b", "buildNumber": "0.1.1", "exitCode": null, "defaultKeyValueStoreId": "k", "defaultDatasetId": format!("ds-{id}"),
        "defaultRequestQueueId": "q", "generalAccess": "RESTRICTED", "usageTotalUsd": 0.0, "inputKey": "INPUT",
        "pricingInfo": pricing, "parentRunId": parent,
    }))
    .unwrap();
    crate::platform::db::put_json(&platform.db.runs, &run.id, &run).unwrap();
    platform.charging_run_started(&run);
    platform.active.insert(&run.id, RunStatus::Running)
}

fn ppe() -> serde_json::Value {
    json!({
        "pricingModel": "PAY_PER_EVENT", "apifyMarginPercentage": 0, "createdAt": "2026-01-01T00:00:00.000Z",
        "startedAt": "2026-01-01T00:00:00.000Z",
        "pricingPerEvent": {"actorChargeEvents": {
            "page": {"eventTitle": "Page", "eventPriceUsd": 0.25},
            "free-thing": {"eventTitle": "Free", "eventPriceUsd": 0.0},
            "apify-actor-start": {"eventTitle": "Start", "eventPriceUsd": 0.01},
            "apify-default-dataset-item": {"eventTitle": "Item", "eventPriceUsd": 0.001},
        }},
    })
}

#[test]
fn charges_are_clamped_to_the_allowance_and_beyond_it_refused() {
    let (p, _dir) = crate::testing::open_temp();
    let _run = running(&p, "run1", ppe(), Some(1.0), None);
    let r = p.charge("run1", "page", 3, None).unwrap();
    assert_eq!((r.charged_count, r.event_charge_limit_reached), (3, false));
    assert_eq!(r.chargeable_within_limit["page"], Some(1));
    assert_eq!(r.chargeable_within_limit["free-thing"], None, "a free event has no limit");
    // Two asked, one fits: charged what fits, and the limit is reported.
    let r = p.charge("run1", "page", 2, None).unwrap();
    assert_eq!((r.charged_count, r.event_charge_limit_reached), (1, true));
    match p.charge("run1", "page", 1, None) {
        Err(PlatformError::Limit { kind: "max-total-charge-reached", message }) => {
            assert!(message.contains("maxTotalChargeUsd"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    // A free event still goes through.
    assert_eq!(p.charge("run1", "free-thing", 5, None).unwrap().charged_count, 5);
    let totals = p.run_charges("run1").unwrap();
    assert_eq!(totals.counts["page"], 4);
    assert_eq!(totals.total_usd(), 1.0);
    let run = p.get_run("run1").unwrap();
    assert_eq!(run.charged_event_counts.unwrap()["page"], 4);
}

#[test]
fn a_priced_run_without_an_allowance_cannot_charge_and_bad_charges_change_nothing() {
    let (p, _dir) = crate::testing::open_temp();
    let _run = running(&p, "run1", ppe(), Some(0.0), None);
    assert!(matches!(p.charge("run1", "page", 1, None), Err(PlatformError::Limit { .. })));
    for (event, count, kind) in [
        ("nope", 1, "unknown-charge-event"),
        ("apify-actor-start", 1, "cannot-charge-apify-event"),
        ("page", 0, "invalid-value"),
        ("free-thing", super::MAX_CHARGE_COUNT + 1, "invalid-value"),
    ] {
        match p.charge("run1", event, count, None) {
            Err(PlatformError::Invalid { kind: k, .. }) => assert_eq!(k, kind, "{event} × {count}"),
            other => panic!("{event} × {count}: {other:?}"),
        }
    }
    let _free = running(&p, "free", serde_json::Value::Null, None, None);
    assert!(matches!(p.charge("free", "page", 1, None), Err(PlatformError::Invalid { kind: "cannot-charge-non-pay-per-event-actor", .. })));
    assert!(p.run_charges("run1").unwrap().counts.is_empty());
    // A run that is not executing is refused.
    drop(_run);
    p.active.finish("run1", RunStatus::Succeeded);
    assert!(matches!(p.charge("run1", "free-thing", 1, None), Err(PlatformError::Invalid { kind: "invalid-run-status", .. })));
}

#[test]
fn an_idempotency_key_charges_once_also_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let p =
            Platform::open(crate::testing::options(dir.path()), crate::executor::standard(&crate::testing::options(dir.path())).unwrap())
                .unwrap();
        let _run = running(&p, "run1", ppe(), Some(10.0), None);
        let first = p.charge("run1", "page", 2, Some("k1")).unwrap();
        assert_eq!(p.charge("run1", "page", 2, Some("k1")).unwrap(), first);
        assert!(matches!(p.charge("run1", "page", 3, Some("k1")), Err(PlatformError::Conflict(_))));
        p.db.inner.flush().unwrap();
    }
    let p = Platform::open(crate::testing::options(dir.path()), crate::executor::standard(&crate::testing::options(dir.path())).unwrap())
        .unwrap();
    let _guard = p.active.insert("run1", RunStatus::Running);
    p.charge("run1", "page", 2, Some("k1")).unwrap();
    assert_eq!(p.run_charges("run1").unwrap().counts["page"], 2, "the retry after the restart charged nothing");
    // A deleted run's charges and keys go with it.
    p.forget_charges("run1").unwrap();
    assert_eq!(p.run_charges("run1").unwrap(), super::Totals::default());
    assert_eq!(p.charging.tree.scan_prefix(crate::platform::db::owner_prefix("run1")).count(), 0);
}

#[test]
fn the_platform_charges_the_start_by_memory_and_default_dataset_items_up_to_max_items() {
    let (p, _dir) = crate::testing::open_temp();
    let _run = running(&p, "run1", ppe(), Some(1.0), None);
    let run = p.get_run("run1").unwrap();
    // 2048 MB: two start events.
    assert_eq!(p.charge_run_start(&run).unwrap(), 2);
    // maxItems is 10: of 25 items, 10 are charged; other datasets are not.
    assert_eq!(p.charge_dataset_items("ds-run1", 25).unwrap(), 10);
    assert_eq!(p.charge_dataset_items("ds-run1", 5).unwrap(), 0);
    assert_eq!(p.charge_dataset_items("elsewhere", 5).unwrap(), 0);
    let totals = p.run_charges("run1").unwrap();
    assert_eq!(totals.counts[ACTOR_START_EVENT], 2);
    assert_eq!(totals.counts[DATASET_ITEM_EVENT], 10);
    assert_eq!(totals.own_nanos, 2 * 10_000_000 + 10 * 1_000_000);
    // Pay per result: items are the priced unit.
    let ppr = json!({"pricingModel": "PRICE_PER_DATASET_ITEM", "unitName": "result", "pricePerUnitUsd": 0.5,
        "apifyMarginPercentage": 0, "createdAt": "2026-01-01T00:00:00.000Z", "startedAt": "2026-01-01T00:00:00.000Z"});
    let _ppr = running(&p, "run2", ppr, None, None);
    assert_eq!(p.charge_dataset_items("ds-run2", 25).unwrap(), 10);
    assert_eq!(p.run_charges("run2").unwrap().total_usd(), 5.0);
    // Once ended, the run's dataset is no longer charged.
    let ended = p.get_run("run2").unwrap();
    p.charging_run_ended(&ended);
    assert_eq!(p.charge_dataset_items("ds-run2", 1).unwrap(), 0);
}

/// The whitepaper: a run started by another gets at most the caller's
/// remaining allowance, and its charges count against the caller's total.
#[test]
fn a_child_run_charges_out_of_its_parents_allowance() {
    let (p, _dir) = crate::testing::open_temp();
    let _parent = running(&p, "parent", ppe(), Some(1.0), None);
    assert_eq!(p.charge("parent", "page", 1, None).unwrap().charged_count, 1);
    // The child asks for $5 and gets what the parent has left.
    let allowance = p.child_allowance("parent", Some(5.0)).unwrap();
    assert_eq!(allowance, Some(0.75));
    assert_eq!(p.child_allowance("parent", Some(0.5)).unwrap(), Some(0.5), "a smaller ask stands");
    // A child with its own generous cap still cannot spend past the parent's: it tries $2.
    let _child = running(&p, "child", ppe(), Some(5.0), Some("parent"));
    let r = p.charge("child", "page", 8, None).unwrap();
    assert_eq!((r.charged_count, r.event_charge_limit_reached), (3, true));
    assert!(matches!(p.charge("child", "page", 1, None), Err(PlatformError::Limit { .. })));
    // And the parent is out too: its total includes the child's charges.
    assert!(matches!(p.charge("parent", "page", 1, None), Err(PlatformError::Limit { .. })));
    let parent = p.run_charges("parent").unwrap();
    assert_eq!((parent.own_usd(), parent.total_usd()), (0.25, 1.0));
    assert_eq!(p.run_charges("child").unwrap().counts["page"], 3);
    assert_eq!(p.get_run("parent").unwrap().total_charge_usd, Some(1.0));
    assert_eq!(p.remaining_allowance_usd("child").unwrap(), Some(0.0));
}

#[test]
fn usd_amounts_reach_the_sdk_without_float_noise() {
    assert_eq!(super::format_usd(1.0), "1");
    assert_eq!(super::format_usd(0.0), "0");
    assert_eq!(super::format_usd(0.1 + 0.2), "0.3");
    assert_eq!(super::format_usd(0.000000001), "0.000000001");
    assert_eq!(super::format_usd(12.5), "12.5");
}

#[test]
fn the_sdk_gets_pricing_counts_and_its_allowance_in_its_environment() {
    let (p, _dir) = crate::testing::open_temp();
    let _run = running(&p, "run1", ppe(), Some(1.0), None);
    p.charge("run1", "page", 2, None).unwrap();
    let env: std::collections::HashMap<_, _> = p.charging_env(&p.get_run("run1").unwrap()).into_iter().collect();
    assert_eq!(env["ACTOR_MAX_TOTAL_CHARGE_USD"], "1");
    assert_eq!(env["ACTOR_MAX_PAID_DATASET_ITEMS"], "10");
    assert_eq!(env["APIFY_CHARGED_ACTOR_EVENT_COUNTS"], r#"{"page":2}"#);
    let pricing: serde_json::Value = serde_json::from_str(&env["APIFY_ACTOR_PRICING_INFO"]).unwrap();
    assert_eq!(pricing["pricingModel"], "PAY_PER_EVENT");
    // A free run says so, so the SDK need not ask.
    let _free = running(&p, "free", serde_json::Value::Null, None, None);
    let env: std::collections::HashMap<_, _> = p.charging_env(&p.get_run("free").unwrap()).into_iter().collect();
    assert_eq!(env["APIFY_ACTOR_PRICING_INFO"], r#"{"pricingModel":"FREE"}"#);
    assert!(!env.contains_key("ACTOR_MAX_TOTAL_CHARGE_USD"));
}
