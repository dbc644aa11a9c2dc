//! The table formats (CSV, HTML, XLSX): one row per output row, one column
//! per field, with nested values flattened as Apify does (`{"a":{"b":1}}`
//! is column `a/b`, `{"l":[x,y]}` columns `l/0` and `l/1`).

use std::collections::HashMap;

use serde_json::Value;

use super::{Emit, Export};
use crate::platform::error::{PlatformError, Result};

/// At most this many columns, each named in at most `MAX_COLUMN_NAME` characters (as on Apify).
pub const MAX_COLUMNS: usize = 2000;
const MAX_COLUMN_NAME: usize = 200;

/// An XLSX cell holds at most this many characters.
const MAX_XLSX_CELL_CHARS: usize = 32_767;

/// The cells of one row: flattened column names and their scalar values.
fn cells(row: &Value) -> Vec<(String, &Value)> {
    fn walk<'v>(prefix: String, v: &'v Value, out: &mut Vec<(String, &'v Value)>) {
        match v {
            Value::Object(o) => o.iter().for_each(|(k, v)| walk(join(&prefix, k), v, out)),
            Value::Array(a) => a.iter().enumerate().for_each(|(i, v)| walk(join(&prefix, &i.to_string()), v, out)),
            scalar => out.push((prefix, scalar)),
        }
    }
    fn join(prefix: &str, key: &str) -> String {
        if prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{prefix}/{key}")
        }
    }
    let mut out = Vec::new();
    match row {
        Value::Object(_) | Value::Array(_) => walk(String::new(), row, &mut out),
        // A row that is not an object (an unwound scalar) is one unnamed value.
        scalar => out.push(("value".into(), scalar)),
    }
    out
}

/// A cell's text: strings as they are, numbers and booleans as JSON writes them, null empty.
fn text(v: &Value) -> std::borrow::Cow<'_, str> {
    match v {
        Value::String(s) => s.as_str().into(),
        Value::Null => "".into(),
        other => other.to_string().into(),
    }
}

/// Column names in the order they first appear, bounded.
#[derive(Default)]
pub struct Columns {
    seen: std::collections::HashSet<String>,
    order: Vec<String>,
}

impl Columns {
    pub fn learn(&mut self, row: &Value) {
        for (name, _) in cells(row) {
            if self.order.len() >= MAX_COLUMNS || name.chars().count() > MAX_COLUMN_NAME || self.seen.contains(&name) {
                continue;
            }
            self.seen.insert(name.clone());
            self.order.push(name);
        }
    }

    pub fn into_vec(self) -> Vec<String> {
        self.order
    }
}

/// A row laid out along the columns.
fn layout<'v>(columns: &HashMap<String, usize>, row: &'v Value) -> Vec<Option<&'v Value>> {
    let mut out = vec![None; columns.len()];
    for (name, v) in cells(row) {
        if let Some(&i) = columns.get(&name) {
            out[i] = Some(v);
        }
    }
    out
}

fn index(columns: &[String]) -> HashMap<String, usize> {
    columns.iter().enumerate().map(|(i, c)| (c.clone(), i)).collect()
}

fn csv_error(e: csv::Error) -> PlatformError {
    PlatformError::internal(format!("writing CSV failed: {e}"))
}

/// What the CSV writer wrote since the last drain (it owns its writer, so it shares this buffer).
#[derive(Clone, Default)]
struct Shared(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);

impl std::io::Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub struct Csv {
    writer: csv::Writer<Shared>,
    written: Shared,
    columns: HashMap<String, usize>,
}

impl Csv {
    pub fn new(export: &Export, columns: Vec<String>, out: &mut Vec<u8>) -> Result<Csv> {
        let written = Shared::default();
        let writer = csv::WriterBuilder::new().delimiter(export.delimiter).flexible(true).from_writer(written.clone());
        let mut csv = Csv { writer, written, columns: index(&columns) };
        if !export.skip_header && !columns.is_empty() {
            csv.writer.write_record(&columns).map_err(csv_error)?;
            csv.drain(out)?;
        }
        Ok(csv)
    }

    pub fn row(&mut self, row: &Value, out: &mut Vec<u8>) -> Result<()> {
        let cells = layout(&self.columns, row);
        self.writer.write_record(cells.iter().map(|c| c.map_or("".into(), text).into_owned())).map_err(csv_error)?;
        self.drain(out)
    }

    fn drain(&mut self, out: &mut Vec<u8>) -> Result<()> {
        self.writer.flush().map_err(|e| PlatformError::internal(format!("writing CSV failed: {e}")))?;
        out.append(&mut self.written.0.borrow_mut());
        Ok(())
    }

    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<()> {
        self.drain(out)
    }
}

fn escape(s: &str) -> std::borrow::Cow<'_, str> {
    quick_xml::escape::escape(s)
}

pub struct Html {
    columns: HashMap<String, usize>,
}

impl Html {
    pub fn new(export: &Export, columns: Vec<String>, out: &mut Vec<u8>) -> Html {
        out.extend_from_slice(b"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>");
        out.extend_from_slice(escape(&export.feed_title).as_bytes());
        out.extend_from_slice(b"</title></head><body><table>\n");
        if !columns.is_empty() {
            out.extend_from_slice(b"<tr>");
            for c in &columns {
                out.extend_from_slice(b"<th>");
                out.extend_from_slice(escape(c).as_bytes());
                out.extend_from_slice(b"</th>");
            }
            out.extend_from_slice(b"</tr>\n");
        }
        Html { columns: index(&columns) }
    }

    pub fn row(&mut self, row: &Value, out: &mut Vec<u8>) {
        out.extend_from_slice(b"<tr>");
        for cell in layout(&self.columns, row) {
            out.extend_from_slice(b"<td>");
            if let Some(v) = cell {
                out.extend_from_slice(escape(&text(v)).as_bytes());
            }
            out.extend_from_slice(b"</td>");
        }
        out.extend_from_slice(b"</tr>\n");
    }

    pub fn finish(self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"</table></body></html>\n");
    }
}

fn xlsx_error(e: rust_xlsxwriter::XlsxError) -> PlatformError {
    PlatformError::internal(format!("writing XLSX failed: {e}"))
}

/// A workbook of one sheet in rust_xlsxwriter's constant-memory mode: rows
/// go to a temporary file as they come, and the zip is written out at the end.
pub struct Xlsx {
    workbook: rust_xlsxwriter::Workbook,
    columns: HashMap<String, usize>,
    next_row: u32,
}

impl Xlsx {
    pub fn new(columns: Vec<String>) -> Result<Xlsx> {
        let mut workbook = rust_xlsxwriter::Workbook::new();
        let sheet = workbook.add_worksheet_with_constant_memory().map_err(xlsx_error)?;
        let header = rust_xlsxwriter::Format::new().set_bold();
        for (i, c) in columns.iter().enumerate() {
            sheet.write_string_with_format(0, i as u16, c, &header).map_err(xlsx_error)?;
        }
        let next_row = u32::from(!columns.is_empty());
        Ok(Xlsx { workbook, columns: index(&columns), next_row })
    }

    pub fn row(&mut self, row: &Value) -> Result<()> {
        let sheet = self.workbook.worksheet_from_index(0).map_err(xlsx_error)?;
        let r = self.next_row;
        for (i, cell) in layout(&self.columns, row).into_iter().enumerate() {
            let col = i as u16;
            match cell {
                None | Some(Value::Null) => {}
                Some(Value::Bool(b)) => {
                    sheet.write_boolean(r, col, *b).map_err(xlsx_error)?;
                }
                // Integers past 2^53 would lose digits as a spreadsheet number: those stay text.
                Some(Value::Number(n)) if n.as_f64().is_some_and(|f| f.abs() < 9_007_199_254_740_992.0) => {
                    sheet.write_number(r, col, n.as_f64().unwrap_or_default()).map_err(xlsx_error)?;
                }
                Some(v) => {
                    let t = text(v);
                    let t: String = t.chars().take(MAX_XLSX_CELL_CHARS).collect();
                    sheet.write_string(r, col, t).map_err(xlsx_error)?;
                }
            }
        }
        self.next_row += 1;
        Ok(())
    }

    pub fn finish(mut self, chunk_bytes: usize, emit: &mut impl Emit) -> Result<()> {
        let mut out = ChunkWriter { chunk: Vec::new(), chunk_bytes: chunk_bytes.min(1 << 20), emit, gone: false };
        let saved = self.workbook.save_to_writer(&mut out);
        if out.gone {
            return Ok(());
        }
        saved.map_err(xlsx_error)?;
        let last = std::mem::take(&mut out.chunk);
        if !last.is_empty() {
            (out.emit)(last);
        }
        Ok(())
    }
}

/// `std::io::Write` onto an [`Emit`], in chunks.
struct ChunkWriter<'e, E: Emit> {
    chunk: Vec<u8>,
    chunk_bytes: usize,
    emit: &'e mut E,
    gone: bool,
}

impl<E: Emit> std::io::Write for ChunkWriter<'_, E> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.chunk.extend_from_slice(buf);
        if self.chunk.len() >= self.chunk_bytes && !(self.emit)(std::mem::take(&mut self.chunk)) {
            self.gone = true;
            return Err(std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the reader went away"));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_values_become_slash_columns_in_first_seen_order() {
        let mut cols = Columns::default();
        cols.learn(&json!({"a": 1, "n": {"x": true, "y": null}, "l": ["p", "q"]}));
        cols.learn(&json!({"b": "s", "a": 2, "l": ["r", "s", "t"], "e": {}}));
        assert_eq!(cols.into_vec(), ["a", "n/x", "n/y", "l/0", "l/1", "b", "l/2"]);
    }

    #[test]
    fn columns_are_bounded() {
        let mut cols = Columns::default();
        let wide: serde_json::Map<String, Value> = (0..3000).map(|i| (format!("c{i}"), json!(i))).collect();
        cols.learn(&Value::Object(wide));
        cols.learn(&json!({"x".repeat(201): 1}));
        assert_eq!(cols.into_vec().len(), MAX_COLUMNS);
    }
}
