//! Input schema: defaults applied, then validated with `jsonschema`, before a
//! run exists. Apify input schemas are JSON Schema plus UI keywords (`editor`,
//! `sectionCaption`, ...), which the validator ignores.

use serde_json::{Map, Value};

/// A compiled input schema.
pub struct InputSchema {
    schema: Value,
    validator: jsonschema::Validator,
}

/// What the run stores as its input record.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedInput {
    pub value: Vec<u8>,
    pub content_type: String,
}

pub const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

impl InputSchema {
    pub fn compile(schema: &Value) -> Result<InputSchema, String> {
        if !schema.is_object() {
            return Err("the input schema must be a JSON object".into());
        }
        let validator = jsonschema::validator_for(schema).map_err(|e| e.to_string())?;
        Ok(InputSchema { schema: schema.clone(), validator })
    }

    /// Fills in top-level `default`s and validates. `None` input means the
    /// caller sent none; it becomes `{}` plus defaults, as on Apify.
    pub fn prepare(&self, input: Option<Value>) -> Result<Value, String> {
        let mut input = match input {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(v @ Value::Object(_)) => v,
            Some(other) => return Err(format!("Input must be a JSON object, got {}", type_name(&other))),
        };
        if let (Some(props), Value::Object(obj)) = (self.schema.get("properties").and_then(Value::as_object), &mut input) {
            for (name, prop) in props {
                if let Some(default) = prop.get("default") {
                    let missing = obj.get(name).is_none_or(Value::is_null);
                    if missing {
                        obj.insert(name.clone(), default.clone());
                    }
                }
            }
        }
        let errors: Vec<String> = self.validator.iter_errors(&input).map(|e| self.describe(&e)).collect();
        if errors.is_empty() {
            Ok(input)
        } else {
            Err(format!("Input is not valid: {}", errors.join("; ")))
        }
    }

    /// The top-level fields marked `isSecret`: kept sealed at rest (see `platform::secrets`).
    pub fn secret_fields(&self) -> impl Iterator<Item = &str> {
        let props = self.schema.get("properties").and_then(Value::as_object);
        props.into_iter().flatten().filter(|(_, p)| p.get("isSecret") == Some(&Value::Bool(true))).map(|(name, _)| name.as_str())
    }

    /// One validation error, naming the field; a secret field's value is not repeated.
    fn describe(&self, e: &jsonschema::ValidationError) -> String {
        let path = e.instance_path().to_string();
        let field = if path.is_empty() { "input".to_owned() } else { format!("input{}", path.replace('/', ".")) };
        let top = path.trim_start_matches('/').split('/').next().unwrap_or_default();
        if !top.is_empty() && self.secret_fields().any(|f| f == top) {
            return format!("Field {field}: the value does not match the input schema (not shown: the field is secret)");
        }
        format!("Field {field}: {e}")
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> InputSchema {
        InputSchema::compile(&json!({
            "title": "x", "type": "object", "schemaVersion": 1,
            "properties": {
                "name": {"type": "string", "editor": "textfield", "default": "world"},
                "count": {"type": "integer", "minimum": 1}
            },
            "required": ["count"]
        }))
        .unwrap()
    }

    #[test]
    fn defaults_are_applied() {
        let v = schema().prepare(Some(json!({"count": 2}))).unwrap();
        assert_eq!(v, json!({"count": 2, "name": "world"}));
    }

    #[test]
    fn errors_name_the_field() {
        let e = schema().prepare(Some(json!({"count": 0, "name": 5}))).unwrap_err();
        assert!(e.contains("input.count"), "{e}");
        assert!(e.contains("input.name"), "{e}");
        let e = schema().prepare(None).unwrap_err();
        assert!(e.contains("count"), "{e}");
    }

    #[test]
    fn a_secret_fields_value_is_not_repeated_in_errors() {
        let schema = InputSchema::compile(&json!({
            "title": "x", "type": "object", "schemaVersion": 1,
            "properties": {"token": {"type": "string", "isSecret": true, "minLength": 40}, "n": {"type": "integer"}}
        }))
        .unwrap();
        assert_eq!(schema.secret_fields().collect::<Vec<_>>(), ["token"]);
        let e = schema.prepare(Some(json!({"token": "sk-short-secret", "n": "x"}))).unwrap_err();
        assert!(e.contains("input.token") && !e.contains("sk-short-secret"), "{e}");
        assert!(e.contains("input.n"), "{e}");
    }

    #[test]
    fn non_objects_are_rejected() {
        assert!(schema().prepare(Some(json!([1]))).unwrap_err().contains("an array"));
    }
}
