//! Webhook payload and headers templates (API-COMPAT §5): JSON with
//! `{{variable}}` and `{{variable.path}}` placeholders. Outside strings a
//! placeholder becomes its value's JSON; with `shouldInterpolateStrings`,
//! a string that is exactly one placeholder becomes the raw value and a
//! placeholder among other text becomes the value's text.

use serde_json::{Map, Value};

/// The variables a template may use.
pub const VARIABLES: [&str; 6] = ["userId", "createdAt", "eventType", "eventData", "resource", "globals"];

/// Apify's default payload template.
pub const DEFAULT_PAYLOAD: &str = r#"{"userId": {{userId}}, "createdAt": {{createdAt}}, "eventType": {{eventType}}, "eventData": {{eventData}}, "resource": {{resource}}}"#;

/// A template checked at create time: every variable known, and valid JSON
/// with any values in place. The error names the field and what is wrong.
pub fn validate(field: &str, template: &str, interpolate: bool) -> Result<(), String> {
    let vars = Map::from_iter(VARIABLES.iter().map(|v| ((*v).to_owned(), Value::Null)));
    let rendered = render(template, &Value::Object(vars), interpolate).map_err(|e| format!("{field}: {e}"))?;
    serde_json::from_str::<Value>(&rendered).map_err(|e| format!("{field} is not valid JSON once its variables are filled in: {e}"))?;
    Ok(())
}

/// The template with `context`'s values in place.
pub fn render(template: &str, context: &Value, interpolate: bool) -> Result<String, String> {
    let mut out = String::with_capacity(template.len() * 2);
    let mut rest = template;
    while let Some(c) = rest.chars().next() {
        if c == '"' {
            let end = string_end(rest).ok_or("a string is not closed")?;
            let (string, after) = rest.split_at(end);
            out.push_str(&render_string(string, context, interpolate)?);
            rest = after;
        } else if rest.starts_with("{{") {
            let (expr, after) = placeholder(rest)?;
            out.push_str(&lookup(expr, context)?.to_string());
            rest = after;
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    Ok(out)
}

/// The byte just past the string literal `s` starts with.
fn string_end(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices().skip(1) {
        match (escaped, c) {
            (true, _) => escaped = false,
            (false, '\\') => escaped = true,
            (false, '"') => return Some(i + 1),
            _ => {}
        }
    }
    None
}

/// `{{expr}}` at the start of `s`: the expression and what follows.
fn placeholder(s: &str) -> Result<(&str, &str), String> {
    let close = s.find("}}").ok_or("a {{ is not closed with }}")?;
    Ok((s[2..close].trim(), &s[close + 2..]))
}

/// A JSON string literal (quotes included), placeholders interpolated when asked.
fn render_string(literal: &str, context: &Value, interpolate: bool) -> Result<String, String> {
    let inner = &literal[1..literal.len() - 1];
    if !interpolate || !inner.contains("{{") {
        return Ok(literal.to_owned());
    }
    if let Ok((expr, "")) = placeholder(inner) {
        if inner.starts_with("{{") {
            return Ok(lookup(expr, context)?.to_string());
        }
    }
    let mut out = String::from("\"");
    let mut rest = inner;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let (expr, after) = placeholder(&rest[start..])?;
        let text = match lookup(expr, context)? {
            Value::String(s) => s,
            other => other.to_string(),
        };
        // The value's text, escaped for its place inside the string.
        let escaped = Value::String(text).to_string();
        out.push_str(&escaped[1..escaped.len() - 1]);
        rest = after;
    }
    out.push_str(rest);
    out.push('"');
    Ok(out)
}

/// `name` or `name.path.to.field`; unknown names are an error, missing fields `null`.
fn lookup(expr: &str, context: &Value) -> Result<Value, String> {
    let mut parts = expr.split('.');
    let name = parts.next().unwrap_or("");
    if !VARIABLES.contains(&name) {
        return Err(format!("\"{{{{{expr}}}}}\" uses the unknown variable \"{name}\"; the variables are {}", VARIABLES.join(", ")));
    }
    let mut v = context.get(name).unwrap_or(&Value::Null);
    for part in parts {
        v = v.get(part).unwrap_or(&Value::Null);
    }
    Ok(v.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx() -> Value {
        json!({"userId": "u1", "eventType": "ACTOR.RUN.SUCCEEDED", "resource": {"id": "r1", "stats": {"n": 3}}, "eventData": {"actorId": "a"}})
    }

    #[test]
    fn the_default_template_renders_each_variable_as_json() {
        let v: Value = serde_json::from_str(&render(DEFAULT_PAYLOAD, &ctx(), false).unwrap()).unwrap();
        assert_eq!(v["userId"], "u1");
        assert_eq!(v["resource"]["stats"]["n"], 3);
        assert_eq!(v["createdAt"], Value::Null);
    }

    #[test]
    fn strings_are_interpolated_only_when_asked() {
        let t =
            r#"{"id": "{{resource.id}}", "text": "run {{resource.id}} has {{resource.stats.n}} \"items\"", "raw": "{{resource.stats}}"}"#;
        let v: Value = serde_json::from_str(&render(t, &ctx(), true).unwrap()).unwrap();
        assert_eq!(v, json!({"id": "r1", "text": "run r1 has 3 \"items\"", "raw": {"n": 3}}));
        let v: Value = serde_json::from_str(&render(t, &ctx(), false).unwrap()).unwrap();
        assert_eq!(v["id"], "{{resource.id}}");
    }

    proptest::proptest! {
        /// Any text is rendered or refused, never a panic (templates come from clients).
        #[test]
        fn any_template_renders_or_is_refused(t in "[{}\"\\a-z.: ]{0,40}") {
            let _ = render(&t, &ctx(), true);
            let _ = render(&t, &ctx(), false);
            let _ = validate("payloadTemplate", &t, true);
        }
    }

    #[test]
    fn bad_templates_are_refused_with_the_reason() {
        assert!(validate("payloadTemplate", r#"{"a": {{resource}}}"#, false).is_ok());
        let e = validate("payloadTemplate", r#"{"a": {{secrets}}}"#, false).unwrap_err();
        assert!(e.contains("unknown variable \"secrets\""), "{e}");
        let e = validate("payloadTemplate", r#"{"a": {{resource}}"#, false).unwrap_err();
        assert!(e.contains("not valid JSON"), "{e}");
        assert!(validate("payloadTemplate", r#"{"a": "{{nope}}"}"#, true).is_err());
        assert!(validate("payloadTemplate", r#"{"a": {{resource"#, false).is_err());
    }
}
