//! XML and RSS: one element per row, property names as tags, arrays as
//! repeated tags, a property `@` as the element's attributes and `#` as its text.

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use serde_json::{Map, Value};

use super::{Export, Format};
use crate::platform::error::{PlatformError, Result};

/// Whether `name` may be an element name as it is (the subset of XML names wactor accepts from a user).
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !name.to_ascii_lowercase().starts_with("xml")
}

/// A property name as an element name: characters a name cannot hold become `_`.
fn tag(name: &str) -> String {
    if is_valid_name(name) {
        return name.to_owned();
    }
    let mut out: String = name.chars().map(|c| if c.is_alphanumeric() || matches!(c, '_' | '-' | '.') { c } else { '_' }).collect();
    if !out.starts_with(|c: char| c.is_alphabetic() || c == '_') || out.to_ascii_lowercase().starts_with("xml") {
        out.insert(0, '_');
    }
    out
}

fn io(e: impl std::fmt::Display) -> PlatformError {
    PlatformError::internal(format!("writing XML failed: {e}"))
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

type Writer<'a> = quick_xml::Writer<&'a mut Vec<u8>>;

/// An element for `obj`: `@` gives its attributes, `#` its text, the rest its children.
fn write_object(w: &mut Writer, name: &str, obj: &Map<String, Value>) -> Result<()> {
    let mut start = BytesStart::new(name);
    if let Some(Value::Object(attrs)) = obj.get("@") {
        for (k, v) in attrs {
            start.push_attribute((tag(k).as_str(), scalar_text(v).as_str()));
        }
    }
    w.write_event(Event::Start(start)).map_err(io)?;
    if let Some(text) = obj.get("#") {
        w.write_event(Event::Text(BytesText::new(&scalar_text(text)))).map_err(io)?;
    }
    for (k, v) in obj {
        if k != "@" && k != "#" {
            write_value(w, &tag(k), v)?;
        }
    }
    w.write_event(Event::End(BytesEnd::new(name))).map_err(io)
}

fn write_value(w: &mut Writer, name: &str, v: &Value) -> Result<()> {
    match v {
        Value::Array(elems) => elems.iter().try_for_each(|e| write_value(w, name, e)),
        Value::Object(obj) => write_object(w, name, obj),
        Value::Null => w.write_event(Event::Empty(BytesStart::new(name))).map_err(io),
        scalar => {
            w.write_event(Event::Start(BytesStart::new(name))).map_err(io)?;
            w.write_event(Event::Text(BytesText::new(&scalar_text(scalar)))).map_err(io)?;
            w.write_event(Event::End(BytesEnd::new(name))).map_err(io)
        }
    }
}

pub struct Xml {
    /// The closing tags, innermost first.
    closing: Vec<String>,
    row: String,
}

impl Xml {
    pub fn new(export: &Export, out: &mut Vec<u8>) -> Result<Xml> {
        let mut w = quick_xml::Writer::new(&mut *out);
        w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None))).map_err(io)?;
        let text = |w: &mut Writer, name: &str, text: &str| -> Result<()> {
            w.write_event(Event::Start(BytesStart::new(name))).map_err(io)?;
            w.write_event(Event::Text(BytesText::new(text))).map_err(io)?;
            w.write_event(Event::End(BytesEnd::new(name))).map_err(io)
        };
        let xml = if export.format == Format::Rss {
            w.write_event(Event::Start(BytesStart::new("rss").with_attributes([("version", "2.0")]))).map_err(io)?;
            w.write_event(Event::Start(BytesStart::new("channel"))).map_err(io)?;
            text(&mut w, "title", &export.feed_title)?;
            text(&mut w, "description", &export.feed_description)?;
            Xml { closing: vec!["channel".into(), "rss".into()], row: "item".into() }
        } else {
            w.write_event(Event::Start(BytesStart::new(export.xml_root.as_str()))).map_err(io)?;
            Xml { closing: vec![export.xml_root.clone()], row: export.xml_row.clone() }
        };
        out.push(b'\n');
        Ok(xml)
    }

    pub fn row(&mut self, row: &Value, out: &mut Vec<u8>) -> Result<()> {
        let mut w = quick_xml::Writer::new(&mut *out);
        match row {
            Value::Object(obj) => write_object(&mut w, &self.row, obj)?,
            other => write_value(&mut w, &self.row, other)?,
        }
        out.push(b'\n');
        Ok(())
    }

    pub fn finish(self, out: &mut Vec<u8>) -> Result<()> {
        let mut w = quick_xml::Writer::new(&mut *out);
        for name in &self.closing {
            w.write_event(Event::End(BytesEnd::new(name.as_str()))).map_err(io)?;
        }
        out.push(b'\n');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{render, Export, Format, ItemView};
    use serde_json::json;

    #[test]
    fn properties_become_tags_arrays_repeat_and_at_and_hash_are_attributes_and_text() {
        let item = json!({"a": 1, "l": ["x", "y"], "n": {"@": {"id": 7}, "#": "t", "k": null}, "bad key": "<&>"});
        let out = render(&[serde_json::to_vec(&item).unwrap()], &ItemView::default(), &Export::new(Format::Xml, "d", "d")).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(out.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?><items>\n"), "{out}");
        assert!(out.contains("<item><a>1</a><l>x</l><l>y</l><n id=\"7\">t<k/></n><bad_key>&lt;&amp;&gt;</bad_key></item>"), "{out}");
        assert!(out.ends_with("</items>\n"), "{out}");
    }

    #[test]
    fn rss_is_a_channel_of_items() {
        let mut export = Export::new(Format::Rss, "abc", "my-data");
        export.feed_description = "D".into();
        let out = render(&[br#"{"title":"T"}"#.to_vec()], &ItemView::default(), &export).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains("<rss version=\"2.0\"><channel><title>Dataset my-data</title><description>D</description>"), "{out}");
        assert!(out.contains("<item><title>T</title></item>\n</channel></rss>"), "{out}");
    }
}
