//! Dataset item views and export formats.
//!
//! A view (`fields`, `omit`, `unwind`, `flatten`, `skipHidden`, `skipEmpty`,
//! `skipFailedPages`, `outputFields`) turns stored items into output rows; a
//! format serialises the rows. Every format streams: rows are rendered into
//! chunks as they are read, and the table formats learn their columns in the
//! planning pass, so an export of any size holds one chunk and the column list.
//!
//! - [`table`]: CSV, HTML and XLSX, with nested values flattened into `a/b` columns.
//! - [`xml`]: XML and RSS.

mod table;
mod xml;

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
    /// Drop items that have an `errorInfo` field (`skipFailedPages`).
    pub skip_failed: bool,
    /// Output names for the `fields`, by position (`outputFields`).
    pub output_fields: Option<Vec<String>>,
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
            && !self.skip_failed
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
        if self.skip_failed && obj.contains_key("errorInfo") {
            return None;
        }
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
            let names = self.output_fields.as_deref().unwrap_or(fields);
            for (f, name) in fields.iter().zip(names) {
                if let Some(v) = obj.remove(f) {
                    picked.insert(name.clone(), v);
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

/// Export formats (`format=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Jsonl,
    Csv,
    Html,
    Xlsx,
    Xml,
    Rss,
}

impl Format {
    pub fn parse(s: &str) -> Result<Format> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "json" => Format::Json,
            "jsonl" => Format::Jsonl,
            "csv" => Format::Csv,
            "html" => Format::Html,
            "xlsx" => Format::Xlsx,
            "xml" => Format::Xml,
            "rss" => Format::Rss,
            _ => {
                return Err(PlatformError::invalid_kind(
                    "invalid-parameter",
                    format!("Unknown format \"{s}\"; use json, jsonl, csv, html, xlsx, xml or rss"),
                ))
            }
        })
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json; charset=utf-8",
            Format::Jsonl => "application/jsonl; charset=utf-8",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Html => "text/html; charset=utf-8",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Format::Xml => "application/xml; charset=utf-8",
            Format::Rss => "application/rss+xml; charset=utf-8",
        }
    }

    /// Bytes of the format's own framing (`[` and `]` of a JSON array).
    fn framing_bytes(self) -> u64 {
        match self {
            Format::Json => 2,
            _ => 0,
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Jsonl => "jsonl",
            Format::Csv => "csv",
            Format::Html => "html",
            Format::Xlsx => "xlsx",
            Format::Xml => "xml",
            Format::Rss => "rss",
        }
    }

    /// A table with one column per (flattened) field: the columns are learnt before the first row.
    pub fn is_table(self) -> bool {
        matches!(self, Format::Csv | Format::Html | Format::Xlsx)
    }

    /// Rows one response may hold in this format (an XLSX sheet holds 1,048,576 with its header).
    fn max_rows(self) -> u64 {
        match self {
            Format::Xlsx => 1_048_575,
            _ => u64::MAX,
        }
    }
}

/// A format with its options (`bom`, `delimiter`, `skipHeaderRow`, `xmlRoot`,
/// `xmlRow`, `feedTitle`, `feedDescription`).
#[derive(Debug, Clone)]
pub struct Export {
    pub format: Format,
    /// A UTF-8 byte order mark first; CSV has one unless `bom=0`, the other text formats only with `bom=1`.
    pub bom: bool,
    pub delimiter: u8,
    pub skip_header: bool,
    pub xml_root: String,
    pub xml_row: String,
    pub feed_title: String,
    pub feed_description: String,
}

impl Export {
    /// `format` with Apify's defaults; `label` names the dataset in an RSS feed.
    pub fn new(format: Format, dataset_id: &str, label: &str) -> Export {
        Export {
            format,
            bom: format == Format::Csv,
            delimiter: b',',
            skip_header: false,
            xml_root: "items".into(),
            xml_row: "item".into(),
            feed_title: format!("Dataset {label}"),
            feed_description: format!("Items in dataset with id \"{dataset_id}\"."),
        }
    }

    /// `delimiter=`: one ASCII character (`\t` may be given as is or escaped).
    pub fn set_delimiter(&mut self, d: &str) -> Result<()> {
        self.delimiter = match d {
            "\\t" | "\t" => b'\t',
            d if d.len() == 1 && d.is_ascii() && d != "\"" && d != "\n" && d != "\r" => d.as_bytes()[0],
            _ => {
                return Err(PlatformError::invalid_kind(
                    "invalid-parameter",
                    format!("delimiter must be one ASCII character other than a quote or a line break, not {d:?}"),
                ))
            }
        };
        Ok(())
    }

    /// `xmlRoot=`/`xmlRow=`: a valid XML element name.
    pub fn set_xml_names(&mut self, root: Option<&str>, row: Option<&str>) -> Result<()> {
        for (given, slot) in [(root, &mut self.xml_root), (row, &mut self.xml_row)] {
            if let Some(name) = given {
                if !xml::is_valid_name(name) {
                    return Err(PlatformError::invalid_kind("invalid-parameter", format!("\"{name}\" is not a valid XML element name")));
                }
                *slot = name.to_owned();
            }
        }
        Ok(())
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// Stored items the response covers (`X-Apify-Pagination-Count`).
    pub items: u64,
    pub rows: u64,
    pub bytes: u64,
    /// The table formats' columns, in the order the fields first appear.
    pub columns: Vec<String>,
}

/// Counts what `items` become through `view` without keeping any of it,
/// and stops before the item that would take the response past `caps`.
/// The work is bounded by the caps too: a row is measured, then dropped.
/// For a table format it also learns the columns (bounded by [`table::MAX_COLUMNS`]).
pub fn plan(items: impl Iterator<Item = Result<sled::IVec>>, view: &ItemView, format: Format, caps: ResponseCaps) -> Result<Planned> {
    let max_rows = caps.max_rows.min(format.max_rows());
    let mut planned = Planned { items: 0, rows: 0, bytes: format.framing_bytes(), columns: Vec::new() };
    let mut columns = table::Columns::default();
    for raw in items {
        let raw = raw?;
        let (mut rows, mut bytes) = (0u64, 0u64);
        let mut add = |len: u64| -> bool {
            rows += 1;
            bytes += len + 1;
            planned.rows + rows <= max_rows && planned.bytes + bytes <= caps.max_bytes
        };
        let fits = if view.is_identity() && !format.is_table() {
            add(raw.len() as u64)
        } else {
            let item: Value = serde_json::from_slice(&raw)?;
            view.rows(item).all(|row| {
                if format.is_table() {
                    columns.learn(&row);
                }
                add(serialized_len(&row))
            })
        };
        if !fits {
            if planned.items == 0 {
                return Err(PlatformError::invalid_kind(
                    "invalid-parameter",
                    format!(
                        "The item at this offset alone becomes more than one response holds ({} rows, {} bytes); \
                         narrow the view (unwind, fields, omit)",
                        max_rows, caps.max_bytes
                    ),
                ));
            }
            break;
        }
        planned.items += 1;
        planned.rows += rows;
        planned.bytes += bytes;
    }
    planned.columns = columns.into_vec();
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

/// Where rendered bytes go: `emit` takes a chunk and returns false once the
/// reader went away, which stops the export.
pub trait Emit: FnMut(Vec<u8>) -> bool + Send {}
impl<F: FnMut(Vec<u8>) -> bool + Send> Emit for F {}

/// The format-specific part of a [`Renderer`].
enum Body {
    Json { first: bool },
    Jsonl,
    Csv(Box<table::Csv>),
    Html(table::Html),
    Xlsx(Box<table::Xlsx>),
    Xml(xml::Xml),
}

/// Writes rows in a format into chunks of about `chunk_bytes`, handing each
/// to `emit`; `emit` returning false (the client went away) stops it.
pub struct Renderer<'a> {
    view: &'a ItemView,
    body: Body,
    chunk: Vec<u8>,
    chunk_bytes: usize,
}

impl<'a> Renderer<'a> {
    /// `columns` are the plan's (used by the table formats only).
    pub fn new(view: &'a ItemView, export: &Export, columns: Vec<String>, chunk_bytes: usize) -> Result<Self> {
        let mut chunk = Vec::with_capacity(chunk_bytes.min(1 << 16) + 1024);
        if export.bom && export.format != Format::Xlsx {
            chunk.extend_from_slice(b"\xEF\xBB\xBF");
        }
        let body = match export.format {
            Format::Json => {
                chunk.push(b'[');
                Body::Json { first: true }
            }
            Format::Jsonl => Body::Jsonl,
            Format::Csv => Body::Csv(Box::new(table::Csv::new(export, columns, &mut chunk)?)),
            Format::Html => Body::Html(table::Html::new(export, columns, &mut chunk)),
            Format::Xlsx => Body::Xlsx(Box::new(table::Xlsx::new(columns)?)),
            Format::Xml | Format::Rss => Body::Xml(xml::Xml::new(export, &mut chunk)?),
        };
        Ok(Renderer { view, body, chunk, chunk_bytes })
    }

    /// Renders one stored item; returns false once `emit` said stop.
    pub fn item(&mut self, raw: &[u8], emit: &mut impl Emit) -> Result<bool> {
        let raw_json = matches!(self.body, Body::Json { .. } | Body::Jsonl);
        if self.view.is_identity() && raw_json {
            self.json_row(raw);
        } else {
            let item: Value = serde_json::from_slice(raw)?;
            for row in self.view.rows(item) {
                match &mut self.body {
                    Body::Json { .. } | Body::Jsonl => {
                        let bytes = serde_json::to_vec(&row)?;
                        self.json_row(&bytes);
                    }
                    Body::Csv(csv) => csv.row(&row, &mut self.chunk)?,
                    Body::Html(html) => html.row(&row, &mut self.chunk),
                    Body::Xlsx(xlsx) => xlsx.row(&row)?,
                    Body::Xml(xml) => xml.row(&row, &mut self.chunk)?,
                }
                if self.chunk.len() >= self.chunk_bytes && !emit(self.take()) {
                    return Ok(false);
                }
            }
        }
        Ok(self.chunk.len() < self.chunk_bytes || emit(self.take()))
    }

    fn json_row(&mut self, row: &[u8]) {
        match &mut self.body {
            Body::Json { first } => {
                if !*first {
                    self.chunk.push(b',');
                }
                *first = false;
                self.chunk.extend_from_slice(row);
            }
            _ => {
                self.chunk.extend_from_slice(row);
                self.chunk.push(b'\n');
            }
        }
    }

    fn take(&mut self) -> Vec<u8> {
        std::mem::replace(&mut self.chunk, Vec::with_capacity(self.chunk_bytes.min(1 << 16) + 1024))
    }

    /// The rest, with the closing of the format (for XLSX, the whole
    /// workbook, which is only assembled now).
    pub fn finish(mut self, emit: &mut impl Emit) -> Result<()> {
        match self.body {
            Body::Json { .. } => self.chunk.push(b']'),
            Body::Jsonl => {}
            Body::Csv(csv) => csv.finish(&mut self.chunk)?,
            Body::Html(html) => html.finish(&mut self.chunk),
            Body::Xml(xml) => xml.finish(&mut self.chunk)?,
            Body::Xlsx(xlsx) => return xlsx.finish(self.chunk_bytes, emit),
        }
        if !self.chunk.is_empty() {
            emit(self.chunk);
        }
        Ok(())
    }
}

/// Serialises stored items through `view` in `export`'s format, all at once (small reads and tests).
pub fn render(items: &[Vec<u8>], view: &ItemView, export: &Export) -> Result<Vec<u8>> {
    let caps = ResponseCaps { max_rows: u64::MAX, max_bytes: u64::MAX };
    let planned = plan(items.iter().map(|i| Ok(sled::IVec::from(i.as_slice()))), view, export.format, caps)?;
    let mut out = Vec::new();
    let mut emit = |c: Vec<u8>| {
        out.extend_from_slice(&c);
        true
    };
    let mut renderer = Renderer::new(view, export, planned.columns, usize::MAX)?;
    for raw in items {
        renderer.item(raw, &mut emit)?;
    }
    renderer.finish(&mut emit)?;
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
            ..Default::default()
        };
        let rows = view.apply(json!({"a": 1, "#h": 2, "b": 3, "c": {"x": 4}}));
        assert_eq!(serde_json::to_string(&rows[0]).unwrap(), r#"{"b":3,"a":1,"c.x":4}"#);
        let unwound = ItemView { unwind: vec!["l".into()], ..Default::default() }.apply(json!({"k": 1, "l": [{"v": 1}, {"v": 2}]}));
        assert_eq!(unwound, vec![json!({"k": 1, "v": 1}), json!({"k": 1, "v": 2})]);
    }

    #[test]
    fn json_and_jsonl() {
        let items = vec![br#"{"a":1}"#.to_vec(), br#"{"a":2}"#.to_vec()];
        let json = Export::new(Format::Json, "d", "d");
        assert_eq!(render(&items, &ItemView::default(), &json).unwrap(), br#"[{"a":1},{"a":2}]"#);
        let jsonl = Export::new(Format::Jsonl, "d", "d");
        assert_eq!(render(&items, &ItemView::default(), &jsonl).unwrap(), b"{\"a\":1}\n{\"a\":2}\n");
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
        let export = Export::new(Format::Json, "d", "d");
        let whole = render(&items, &view, &export).unwrap();
        let mut chunked = Vec::new();
        let mut emit = |c: Vec<u8>| {
            chunked.extend_from_slice(&c);
            true
        };
        let mut r = Renderer::new(&view, &export, vec![], 16).unwrap();
        for raw in &items {
            r.item(raw, &mut emit).unwrap();
        }
        r.finish(&mut emit).unwrap();
        assert_eq!(whole, chunked);
        assert_eq!(serde_json::from_slice::<Vec<Value>>(&whole).unwrap().len(), 100);
    }
}
