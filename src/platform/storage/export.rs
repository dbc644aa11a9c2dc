//! Dataset item views and export formats.
//!
//! A view (`fields`, `omit`, `unwind`, `flatten`, `skipHidden`, `skipEmpty`)
//! turns stored items into output rows; a format serialises the rows.

use serde_json::{Map, Value};

use crate::platform::error::{PlatformError, Result};

/// How stored items become output rows.
#[derive(Debug, Clone, Default)]
pub struct ItemView {
    /// Keep only these top-level fields, in this order.
    pub fields: Option<Vec<String>>,
    /// Drop these top-level fields.
    pub omit: Vec<String>,
    /// Expand these array/object fields into one row per element, in order.
    pub unwind: Vec<String>,
    /// Flatten nested objects of these fields into `a.b` keys.
    pub flatten: Vec<String>,
    /// Drop top-level fields starting with `#`.
    pub skip_hidden: bool,
    /// Drop rows that end up empty.
    pub skip_empty: bool,
}

impl ItemView {
    /// Whether stored bytes can be sent as they are.
    pub fn is_identity(&self) -> bool {
        self.fields.is_none()
            && self.omit.is_empty()
            && self.unwind.is_empty()
            && self.flatten.is_empty()
            && !self.skip_hidden
            && !self.skip_empty
    }

    /// The rows one stored item becomes.
    pub fn apply(&self, item: Value) -> Vec<Value> {
        let mut rows = vec![item];
        for field in &self.unwind {
            rows = rows.into_iter().flat_map(|row| unwind(row, field)).collect();
        }
        rows.into_iter()
            .filter_map(|row| {
                let Value::Object(mut obj) = row else { return Some(row) };
                if self.skip_hidden {
                    obj.retain(|k, _| !k.starts_with('#'));
                }
                for f in &self.omit {
                    obj.remove(f);
                }
                for f in &self.flatten {
                    if let Some(Value::Object(inner)) = obj.remove(f) {
                        flatten_into(&mut obj, f, inner);
                    }
                }
                if let Some(fields) = &self.fields {
                    let mut picked = Map::new();
                    for f in fields {
                        if let Some(v) = obj.remove(f) {
                            picked.insert(f.clone(), v);
                        }
                    }
                    obj = picked;
                }
                if self.skip_empty && obj.is_empty() {
                    return None;
                }
                Some(Value::Object(obj))
            })
            .collect()
    }
}

fn unwind(row: Value, field: &str) -> Vec<Value> {
    let Value::Object(mut obj) = row else { return vec![row] };
    match obj.remove(field) {
        Some(Value::Array(elems)) if !elems.is_empty() => elems
            .into_iter()
            .map(|e| {
                let mut o = obj.clone();
                match e {
                    Value::Object(inner) => o.extend(inner),
                    other => {
                        o.insert(field.to_owned(), other);
                    }
                }
                Value::Object(o)
            })
            .collect(),
        Some(Value::Object(inner)) => {
            obj.extend(inner);
            vec![Value::Object(obj)]
        }
        Some(other) => {
            obj.insert(field.to_owned(), other);
            vec![Value::Object(obj)]
        }
        None => vec![Value::Object(obj)],
    }
}

fn flatten_into(out: &mut Map<String, Value>, prefix: &str, obj: Map<String, Value>) {
    for (k, v) in obj {
        let key = format!("{prefix}.{k}");
        match v {
            Value::Object(inner) => flatten_into(out, &key, inner),
            other => {
                out.insert(key, other);
            }
        }
    }
}

/// Export formats. JSON and JSONL are implemented; the table and feed
/// formats are rejected with a clear error until they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Jsonl,
}

impl Format {
    pub fn parse(s: &str) -> Result<Format> {
        match s.to_ascii_lowercase().as_str() {
            "json" => Ok(Format::Json),
            "jsonl" => Ok(Format::Jsonl),
            "csv" | "xlsx" | "html" | "xml" | "rss" => Err(PlatformError::invalid_kind(
                "invalid-parameter",
                format!("Format \"{s}\" is not supported by this server yet; use json or jsonl"),
            )),
            _ => Err(PlatformError::invalid_kind("invalid-parameter", format!("Unknown format \"{s}\"; use json or jsonl"))),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json; charset=utf-8",
            Format::Jsonl => "application/jsonl; charset=utf-8",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Jsonl => "jsonl",
        }
    }
}

/// Serialises stored items (raw JSON texts) in `format` through `view`.
pub fn render(items: &[Vec<u8>], view: &ItemView, format: Format) -> Result<Vec<u8>> {
    let rows: Vec<Vec<u8>> = if view.is_identity() {
        items.to_vec()
    } else {
        let mut rows = Vec::new();
        for raw in items {
            let item: Value = serde_json::from_slice(raw)?;
            for row in view.apply(item) {
                rows.push(serde_json::to_vec(&row)?);
            }
        }
        rows
    };
    let mut out = Vec::with_capacity(rows.iter().map(|r| r.len() + 1).sum::<usize>() + 2);
    match format {
        Format::Json => {
            out.push(b'[');
            for (i, row) in rows.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(row);
            }
            out.push(b']');
        }
        Format::Jsonl => {
            for row in &rows {
                out.extend_from_slice(row);
                out.push(b'\n');
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn views_pick_omit_hide_flatten_unwind() {
        let view = ItemView {
            fields: Some(vec!["b".into(), "a".into(), "c.x".into()]),
            omit: vec![],
            unwind: vec![],
            flatten: vec!["c".into()],
            skip_hidden: true,
            skip_empty: false,
        };
        let rows = view.apply(json!({"a": 1, "#h": 2, "b": 3, "c": {"x": 4}}));
        assert_eq!(serde_json::to_string(&rows[0]).unwrap(), r#"{"b":3,"a":1,"c.x":4}"#);
        let unwound = ItemView { unwind: vec!["l".into()], ..Default::default() }.apply(json!({"k": 1, "l": [{"v": 1}, {"v": 2}]}));
        assert_eq!(unwound, vec![json!({"k": 1, "v": 1}), json!({"k": 1, "v": 2})]);
    }

    #[test]
    fn json_and_jsonl() {
        let items = vec![br#"{"a":1}"#.to_vec(), br#"{"a":2}"#.to_vec()];
        assert_eq!(render(&items, &ItemView::default(), Format::Json).unwrap(), br#"[{"a":1},{"a":2}]"#);
        assert_eq!(render(&items, &ItemView::default(), Format::Jsonl).unwrap(), b"{\"a\":1}\n{\"a\":2}\n");
    }
}
