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

    /// The rows one stored item becomes, made one at a time as they are
    /// read: an `unwind` that multiplies rows never holds them all.
    pub fn rows(&self, item: Value) -> Box<dyn Iterator<Item = Value> + '_> {
        let mut rows: Box<dyn Iterator<Item = Value> + '_> = Box::new(std::iter::once(item));
        for field in &self.unwind {
            rows = Box::new(rows.flat_map(move |row| unwind(row, field)));
        }
        Box::new(rows.filter_map(move |row| self.shape(row)))
    }

    /// The rows one stored item becomes, all at once (tests, small views).
    pub fn apply(&self, item: Value) -> Vec<Value> {
        self.rows(item).collect()
    }

    /// `fields`, `omit`, `flatten`, `skipHidden`, `skipEmpty` on one row.
    fn shape(&self, row: Value) -> Option<Value> {
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
    }
}

/// One row element at a time: an array field becomes one row per element.
fn unwind(row: Value, field: &str) -> Box<dyn Iterator<Item = Value> + '_> {
    let Value::Object(mut obj) = row else { return Box::new(std::iter::once(row)) };
    match obj.remove(field) {
        Some(Value::Array(elems)) if !elems.is_empty() => Box::new(elems.into_iter().map(move |e| {
            let mut o = obj.clone();
            match e {
                Value::Object(inner) => o.extend(inner),
                other => {
                    o.insert(field.to_owned(), other);
                }
            }
            Value::Object(o)
        })),
        Some(Value::Object(inner)) => {
            obj.extend(inner);
            Box::new(std::iter::once(Value::Object(obj)))
        }
        Some(other) => {
            obj.insert(field.to_owned(), other);
            Box::new(std::iter::once(Value::Object(obj)))
        }
        None => Box::new(std::iter::once(Value::Object(obj))),
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

    /// Bytes of the format's own framing (`[` and `]` of a JSON array).
    fn framing_bytes(self) -> u64 {
        match self {
            Format::Json => 2,
            Format::Jsonl => 0,
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Jsonl => "jsonl",
        }
    }
}

/// What one response may hold, whatever the request asked for; the
/// pagination headers tell the client where to continue.
#[derive(Debug, Clone, Copy)]
pub struct ResponseCaps {
    pub max_rows: u64,
    pub max_bytes: u64,
}

/// How many stored items (from the start of a scan) fit in one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Planned {
    /// Stored items the response covers (`X-Apify-Pagination-Count`).
    pub items: u64,
    pub rows: u64,
    pub bytes: u64,
}

/// Counts what `items` become through `view` without keeping any of it,
/// and stops before the item that would take the response past `caps`.
/// The work is bounded by the caps too: a row is measured, then dropped.
pub fn plan(items: impl Iterator<Item = Result<sled::IVec>>, view: &ItemView, format: Format, caps: ResponseCaps) -> Result<Planned> {
    let mut planned = Planned { items: 0, rows: 0, bytes: format.framing_bytes() };
    for raw in items {
        let raw = raw?;
        let (mut rows, mut bytes) = (0u64, 0u64);
        let mut add = |len: u64| -> bool {
            rows += 1;
            bytes += len + 1;
            planned.rows + rows <= caps.max_rows && planned.bytes + bytes <= caps.max_bytes
        };
        let fits = if view.is_identity() {
            add(raw.len() as u64)
        } else {
            let item: Value = serde_json::from_slice(&raw)?;
            view.rows(item).all(|row| add(serialized_len(&row)))
        };
        if !fits {
            if planned.items == 0 {
                return Err(PlatformError::invalid_kind(
                    "invalid-parameter",
                    format!(
                        "The item at this offset alone becomes more than one response holds ({} rows, {} bytes); \
                         narrow the view (unwind, fields, omit)",
                        caps.max_rows, caps.max_bytes
                    ),
                ));
            }
            break;
        }
        planned.items += 1;
        planned.rows += rows;
        planned.bytes += bytes;
    }
    Ok(planned)
}

fn serialized_len(row: &Value) -> u64 {
    struct Count(u64);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    let _ = serde_json::to_writer(&mut count, row);
    count.0
}

/// Writes rows in `format` into chunks of about `chunk_bytes`, handing each
/// to `emit`; `emit` returning false (the client went away) stops it.
pub struct Renderer<'a> {
    view: &'a ItemView,
    format: Format,
    chunk: Vec<u8>,
    chunk_bytes: usize,
    first: bool,
}

impl<'a> Renderer<'a> {
    pub fn new(view: &'a ItemView, format: Format, chunk_bytes: usize) -> Self {
        let mut chunk = Vec::with_capacity(chunk_bytes.min(1 << 16) + 1024);
        if format == Format::Json {
            chunk.push(b'[');
        }
        Renderer { view, format, chunk, chunk_bytes, first: true }
    }

    /// Renders one stored item; returns false once `emit` said stop.
    pub fn item(&mut self, raw: &[u8], emit: &mut impl FnMut(Vec<u8>) -> bool) -> Result<bool> {
        if self.view.is_identity() {
            self.row(raw);
        } else {
            let item: Value = serde_json::from_slice(raw)?;
            for row in self.view.rows(item) {
                self.row(&serde_json::to_vec(&row)?);
                if self.chunk.len() >= self.chunk_bytes && !emit(self.take()) {
                    return Ok(false);
                }
            }
        }
        Ok(self.chunk.len() < self.chunk_bytes || emit(self.take()))
    }

    fn row(&mut self, row: &[u8]) {
        match self.format {
            Format::Json => {
                if !self.first {
                    self.chunk.push(b',');
                }
                self.chunk.extend_from_slice(row);
            }
            Format::Jsonl => {
                self.chunk.extend_from_slice(row);
                self.chunk.push(b'\n');
            }
        }
        self.first = false;
    }

    fn take(&mut self) -> Vec<u8> {
        std::mem::replace(&mut self.chunk, Vec::with_capacity(self.chunk_bytes.min(1 << 16) + 1024))
    }

    /// The last chunk, with the closing of the format.
    pub fn finish(mut self) -> Vec<u8> {
        if self.format == Format::Json {
            self.chunk.push(b']');
        }
        self.chunk
    }
}

/// Serialises stored items in `format` through `view`, all at once (small reads and tests).
pub fn render(items: &[Vec<u8>], view: &ItemView, format: Format) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut renderer = Renderer::new(view, format, usize::MAX);
    for raw in items {
        renderer.item(raw, &mut |c| {
            out.extend_from_slice(&c);
            true
        })?;
    }
    out.extend_from_slice(&renderer.finish());
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

#[cfg(test)]
mod bound_tests {
    use super::*;
    use serde_json::json;

    fn ivecs(items: &[Value]) -> Vec<Result<sled::IVec>> {
        items.iter().map(|i| Ok(sled::IVec::from(serde_json::to_vec(i).unwrap()))).collect()
    }

    #[test]
    fn unwind_is_lazy_and_a_plan_stops_at_the_caps() {
        let big: Vec<u64> = (0..2000).collect();
        let item = json!({"a": big, "b": big});
        let view = ItemView { unwind: vec!["a".into(), "b".into()], ..Default::default() };
        // Four million rows, of which only the first few are ever made.
        assert_eq!(view.rows(item.clone()).take(3).count(), 3);
        let caps = ResponseCaps { max_rows: 1000, max_bytes: 1 << 20 };
        let err = plan(ivecs(&[item]).into_iter(), &view, Format::Json, caps).unwrap_err();
        assert!(err.to_string().contains("more than one response holds"), "{err}");

        let small = [json!({"x": 1}), json!({"x": 2}), json!({"x": 3})];
        let caps = ResponseCaps { max_rows: 2, max_bytes: 1 << 20 };
        let planned = plan(ivecs(&small).into_iter(), &ItemView::default(), Format::Json, caps).unwrap();
        assert_eq!((planned.items, planned.rows), (2, 2));
        let caps = ResponseCaps { max_rows: 100, max_bytes: 2 + 8 * 2 };
        assert_eq!(plan(ivecs(&small).into_iter(), &ItemView::default(), Format::Json, caps).unwrap().items, 2);
    }

    #[test]
    fn chunks_join_into_the_same_document() {
        let items: Vec<Vec<u8>> = (0..50).map(|i| serde_json::to_vec(&json!({"i": i, "l": [1, 2]})).unwrap()).collect();
        let view = ItemView { unwind: vec!["l".into()], ..Default::default() };
        let whole = render(&items, &view, Format::Json).unwrap();
        let mut chunked = Vec::new();
        let mut r = Renderer::new(&view, Format::Json, 16);
        for raw in &items {
            r.item(raw, &mut |c| {
                chunked.extend_from_slice(&c);
                true
            })
            .unwrap();
        }
        chunked.extend_from_slice(&r.finish());
        assert_eq!(whole, chunked);
        assert_eq!(serde_json::from_slice::<Vec<Value>>(&whole).unwrap().len(), 100);
    }
}
