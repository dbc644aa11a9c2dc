//! Property tests over every parser a client or a guest reaches: arbitrary
//! input must get an answer (a value or a clear error), never a panic, and
//! what is accepted must mean what it says. CI runs the default number of
//! cases; `benches/fuzz.sh` runs many more (`PROPTEST_CASES`).

use proptest::prelude::*;
use serde_json::{json, Value};

use wactor::definition::{ActorDefinition, InputSchema};
use wactor::limits::Limits;
use wactor::platform::outbound::{non_public_class, HostPattern, OutboundPolicy};
use wactor::platform::storage::dataset::PreparedItems;
use wactor::platform::storage::export::{plan, render, Export, Format, ItemView, ResponseCaps};
use wactor::platform::storage::kv::validate_key;

/// Arbitrary JSON values, nested a few levels.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z#]{0,4}", inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn field_names() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec("[a-z#]{0,3}", 0..3)
}

proptest! {
    /// Input schema + input: a schema compiles or is refused, an input is prepared or refused.
    #[test]
    fn input_schemas_and_inputs_never_panic(schema in json_value(), input in json_value()) {
        if let Ok(compiled) = InputSchema::compile(&schema) {
            let _ = compiled.prepare(Some(input.clone()));
        }
        let hello: Value = serde_json::from_str(include_str!("../examples/hello/.actor/input_schema.json")).unwrap();
        let compiled = InputSchema::compile(&hello).unwrap();
        if let Ok(prepared) = compiled.prepare(Some(input)) {
            prop_assert!(prepared.get("name").is_some_and(Value::is_string));
        }
    }

    /// actor.json: any bytes or any JSON is parsed and validated or refused.
    #[test]
    fn actor_definitions_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256), value in json_value()) {
        let limits = Limits::default();
        if let Ok(def) = serde_json::from_slice::<ActorDefinition>(&bytes) {
            let _ = def.validate(&limits);
        }
        if let Ok(def) = serde_json::from_value::<ActorDefinition>(value) {
            let _ = def.validate(&limits);
        }
    }

    /// actor.json with numbers anywhere in range or far out of it: validation decides, nothing overflows.
    #[test]
    fn definition_numbers_are_checked(timeout in any::<u64>(), memory in any::<u32>(), idle in any::<u64>(), request in any::<u64>(), max in any::<u32>()) {
        let def = json!({
            "name": "x", "version": "0.1",
            "defaultRunOptions": {"timeoutSecs": timeout, "memoryMbytes": memory},
            "actorStandby": {"idleTimeoutSecs": idle, "requestTimeoutSecs": request, "maxRequestsPerActorRun": max},
        });
        let def: ActorDefinition = serde_json::from_value(def).unwrap();
        let ok = def.validate(&Limits::default()).is_ok();
        let in_range = timeout <= 30 * 24 * 3600 && (128..=4096).contains(&memory) && (1..=7 * 24 * 3600).contains(&idle)
            && (1..=3600).contains(&request) && (1..=10_000).contains(&max);
        prop_assert_eq!(ok, in_range);
    }

    /// Dataset push bodies (API door): any bytes are stored objects or refused whole.
    #[test]
    fn push_bodies_parse_once_or_refuse(bytes in prop::collection::vec(any::<u8>(), 0..256), items in prop::collection::vec(json_value(), 0..8)) {
        let _ = PreparedItems::from_body(&bytes);
        let body = serde_json::to_vec(&items).unwrap();
        let all_objects = items.iter().all(Value::is_object);
        match PreparedItems::from_body(&body) {
            Ok(prepared) => {
                prop_assert!(all_objects);
                let stored: Vec<Value> = prepared.iter().map(|b| serde_json::from_slice(b).unwrap()).collect();
                prop_assert_eq!(stored, items);
            }
            Err(_) => prop_assert!(!all_objects),
        }
    }

    /// Dataset pushes through WIT: one text per item.
    #[test]
    fn push_texts_parse_once_or_refuse(texts in prop::collection::vec(".{0,24}", 0..6)) {
        let _ = PreparedItems::from_texts(texts.iter().map(String::as_str));
    }

    /// Dataset query parameters (fields, omit, unwind, flatten, clean) over arbitrary items:
    /// a plan never covers more than it was given and the rendering is one valid document.
    #[test]
    fn dataset_views_never_panic(
        items in prop::collection::vec(json_value().prop_filter("objects", Value::is_object), 0..6),
        fields in field_names(), omit in field_names(), unwind in field_names(), flatten in field_names(),
        skip_hidden in any::<bool>(), skip_empty in any::<bool>(), max_rows in 1u64..50, max_bytes in 2u64..4096,
    ) {
        let view = ItemView { fields: (!fields.is_empty()).then_some(fields), omit, unwind, flatten, skip_hidden, skip_empty, ..Default::default() };
        let raw: Vec<Vec<u8>> = items.iter().map(|i| serde_json::to_vec(i).unwrap()).collect();
        let scan = raw.iter().map(|b| Ok(sled::IVec::from(b.as_slice())));
        if let Ok(planned) = plan(scan, &view, Format::Json, ResponseCaps { max_rows, max_bytes }) {
            prop_assert!(planned.items <= raw.len() as u64);
            prop_assert!(planned.rows <= max_rows && planned.bytes <= max_bytes);
            let out = render(&raw[..planned.items as usize], &view, &Export::new(Format::Json, "d", "d")).unwrap();
            let rows: Vec<Value> = serde_json::from_slice(&out).unwrap();
            prop_assert_eq!(rows.len() as u64, planned.rows);
        }
        let lines = render(&raw, &ItemView::default(), &Export::new(Format::Jsonl, "d", "d")).unwrap();
        prop_assert_eq!(lines.iter().filter(|b| **b == b'\n').count(), raw.len());
        // Every other format renders any items through any view, and CSV has one record per row.
        for format in [Format::Csv, Format::Html, Format::Xml, Format::Rss, Format::Xlsx] {
            let out = render(&raw, &view, &Export::new(format, "d", "d")).unwrap();
            prop_assert!(!out.is_empty());
            if format == Format::Csv {
                let rows: usize = raw.iter().map(|r| view.apply(serde_json::from_slice(r).unwrap()).len()).sum();
                let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(&out[3..]);
                let records = reader.records().count();
                prop_assert!(records == rows || records == rows + 1, "{} records for {} rows", records, rows);
            }
        }
    }

    /// Record keys (both doors) and allowedHosts patterns.
    #[test]
    fn keys_and_host_patterns_never_panic(s in ".{0,80}", scheme in "(http|https)", host in "[a-z0-9.*-]{0,20}", port in any::<u16>()) {
        let _ = validate_key(&s);
        let _ = HostPattern::parse(&s);
        if let Ok(policy) = OutboundPolicy::new(Some(std::slice::from_ref(&s)), false) {
            let _ = policy.check_host(&scheme, &host, port);
        }
    }

    /// Every IPv4 address embedded in IPv6 is judged as the IPv4 address it is.
    #[test]
    fn mapped_addresses_are_judged_as_their_ipv4(a in any::<[u8; 4]>()) {
        let v4 = std::net::Ipv4Addr::from(a);
        let mapped = std::net::IpAddr::V6(v4.to_ipv6_mapped());
        prop_assert_eq!(non_public_class(mapped).is_some(), non_public_class(std::net::IpAddr::V4(v4)).is_some());
    }
}
