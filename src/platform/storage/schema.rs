//! Storage schemas from `.actor/`: a dataset schema's `fields` (a JSON
//! Schema every pushed item must match) and `views` (named item views for
//! `view=`), and a key-value store schema's `collections` (named key sets
//! for `collection=`).

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::{json, Value};

use super::export::ItemView;
use crate::platform::error::{PlatformError, Result};

/// At most this many invalid items are reported (with their errors) per push.
const MAX_REPORTED_ITEMS: usize = 20;

/// Compiled `fields` schemas, by their JSON text: datasets of one Actor share one.
#[derive(Default)]
pub struct FieldValidators {
    compiled: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

/// Bounded: a server with more distinct schemas than this recompiles the rest.
const MAX_CACHED_VALIDATORS: usize = 1024;

impl FieldValidators {
    fn get(&self, fields: &Value) -> Result<Arc<jsonschema::Validator>> {
        let key = fields.to_string();
        if let Some(v) = self.compiled.lock().get(&key) {
            return Ok(v.clone());
        }
        let validator = Arc::new(jsonschema::validator_for(fields).map_err(|e| {
            PlatformError::invalid_kind("invalid-schema", format!("The dataset schema's fields are not a valid JSON Schema: {e}"))
        })?);
        let mut compiled = self.compiled.lock();
        if compiled.len() >= MAX_CACHED_VALIDATORS {
            compiled.clear();
        }
        compiled.insert(key, validator.clone());
        Ok(validator)
    }

    /// Checks a schema before it is attached to a dataset.
    pub fn check(&self, schema: &Value) -> Result<()> {
        if !schema.is_object() {
            return Err(PlatformError::invalid_kind("invalid-schema", "A dataset schema must be a JSON object"));
        }
        if let Some(fields) = schema.get("fields") {
            self.get(fields)?;
        }
        if let Some(views) = schema.get("views") {
            let Some(views) = views.as_object() else {
                return Err(PlatformError::invalid_kind("invalid-schema", "The dataset schema's views must be an object"));
            };
            for name in views.keys() {
                view(schema, name)?;
            }
        }
        Ok(())
    }

    /// Every item (stored JSON texts) against the schema's `fields`; all or
    /// nothing: any invalid item refuses the push, naming each (up to a bound).
    pub fn validate<'a>(&self, schema: &Value, items: impl Iterator<Item = &'a [u8]>) -> Result<()> {
        let Some(fields) = schema.get("fields") else { return Ok(()) };
        let validator = self.get(fields)?;
        let mut invalid = Vec::new();
        let mut count = 0usize;
        for (position, raw) in items.enumerate() {
            let item: Value = serde_json::from_slice(raw)?;
            if validator.is_valid(&item) {
                continue;
            }
            count += 1;
            if invalid.len() < MAX_REPORTED_ITEMS {
                let errors: Vec<Value> = validator
                    .iter_errors(&item)
                    .take(10)
                    .map(|e| json!({"instancePath": e.instance_path().to_string(), "schemaPath": e.schema_path().to_string(), "message": e.to_string()}))
                    .collect();
                invalid.push(json!({"itemPosition": position, "validationErrors": errors}));
            }
        }
        if count == 0 {
            return Ok(());
        }
        Err(PlatformError::SchemaValidation {
            message: format!("{count} item(s) do not match the dataset's schema; nothing was stored"),
            invalid_items: Value::Array(invalid),
        })
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => s.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect(),
        Some(Value::Array(a)) => a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    }
}

/// A view's transformation: the item view, and its `limit`/`desc` if it sets them.
#[derive(Debug)]
pub struct SchemaView {
    pub items: ItemView,
    pub limit: Option<u64>,
    pub desc: Option<bool>,
}

/// The view `name` of a dataset schema.
pub fn view(schema: &Value, name: &str) -> Result<SchemaView> {
    let Some(view) = schema.get("views").and_then(|v| v.get(name)) else {
        let known: Vec<&String> = schema.get("views").and_then(Value::as_object).map(|v| v.keys().collect()).unwrap_or_default();
        return Err(PlatformError::invalid_kind(
            "invalid-parameter",
            format!("The dataset has no view \"{name}\" (its schema's views: {known:?})"),
        ));
    };
    let t = view.get("transformation").cloned().unwrap_or(Value::Null);
    let fields = strings(t.get("fields"));
    Ok(SchemaView {
        items: ItemView {
            fields: (!fields.is_empty()).then_some(fields),
            omit: strings(t.get("omit")),
            unwind: strings(t.get("unwind")),
            flatten: strings(t.get("flatten")),
            ..Default::default()
        },
        limit: t.get("limit").and_then(Value::as_u64),
        desc: t.get("desc").and_then(Value::as_bool),
    })
}

/// The keys of collection `name` of a key-value store schema: an exact key or a key prefix.
#[derive(Debug)]
pub enum Collection {
    Key(String),
    Prefix(String),
}

pub fn collection(schema: Option<&Value>, name: &str) -> Result<Collection> {
    let c = schema.and_then(|s| s.get("collections")).and_then(|c| c.get(name));
    let Some(c) = c else {
        return Err(PlatformError::invalid_kind("invalid-parameter", format!("The key-value store has no collection \"{name}\"")));
    };
    if let Some(key) = c.get("key").and_then(Value::as_str) {
        return Ok(Collection::Key(key.to_owned()));
    }
    Ok(Collection::Prefix(c.get("keyPrefix").and_then(Value::as_str).unwrap_or("").to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_items_are_named_with_their_errors() {
        let schema = json!({"fields": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}});
        let v = FieldValidators::default();
        let items: Vec<Vec<u8>> = [json!({"n": 1}), json!({"n": "x"}), json!({})].iter().map(|i| serde_json::to_vec(i).unwrap()).collect();
        let err = v.validate(&schema, items.iter().map(Vec::as_slice)).unwrap_err();
        let PlatformError::SchemaValidation { invalid_items, .. } = err else { panic!("{err}") };
        let positions: Vec<u64> = invalid_items.as_array().unwrap().iter().map(|i| i["itemPosition"].as_u64().unwrap()).collect();
        assert_eq!(positions, [1, 2]);
        assert_eq!(invalid_items[0]["validationErrors"][0]["instancePath"], "/n");
        assert!(v.validate(&schema, items[..1].iter().map(Vec::as_slice)).is_ok());
    }

    #[test]
    fn views_and_collections_resolve_by_name() {
        let schema = json!({"views": {"overview": {"transformation": {"fields": ["a", "b"], "unwind": "l", "desc": true}}}});
        let v = view(&schema, "overview").unwrap();
        assert_eq!(v.items.fields, Some(vec!["a".into(), "b".into()]));
        assert_eq!((v.items.unwind, v.desc), (vec!["l".into()], Some(true)));
        assert!(view(&schema, "nope").unwrap_err().to_string().contains("overview"));
        let kv = json!({"collections": {"shots": {"keyPrefix": "shot-"}, "out": {"key": "OUTPUT"}}});
        assert!(matches!(collection(Some(&kv), "shots").unwrap(), Collection::Prefix(p) if p == "shot-"));
        assert!(matches!(collection(Some(&kv), "out").unwrap(), Collection::Key(k) if k == "OUTPUT"));
        assert!(collection(None, "x").is_err());
    }
}
