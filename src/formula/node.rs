//! A small spanned document tree. TOML (through toml_edit) and legacy JSON
//! (through jsonc-parser) both read into it, so one schema decoder
//! (`parse.rs`) serves both formats and every value keeps its byte span.

use super::codes::Code;
use super::diag::Diagnostic;
use super::source::{FileId, Span};
use std::ops::Range;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Datetime(String),
    Null,
    Array(Vec<Node>),
    Table(Vec<Entry>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_span: Span,
    pub node: Node,
}

impl Node {
    /// What a person would call this value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match &self.value {
            Value::Str(_) => "a string",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Bool(_) => "a boolean",
            Value::Datetime(_) => "a date-time",
            Value::Null => "null",
            Value::Array(_) => "an array",
            Value::Table(_) => "a table",
        }
    }

    /// Convert to JSON, for free-form fields such as `metadata`.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Str(s) | Value::Datetime(s) => J::String(s.clone()),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(J::Number)
                .unwrap_or(J::Null),
            Value::Bool(b) => J::Bool(*b),
            Value::Null => J::Null,
            Value::Array(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Table(entries) => J::Object(
                entries
                    .iter()
                    .map(|e| (e.key.clone(), e.node.to_json()))
                    .collect(),
            ),
        }
    }
}

// ---------------------------------------------------------------------------
// TOML

/// Parse TOML into the spanned tree. `toml`'s borrowing `DeTable` keeps
/// strings as slices of `text` and costs a fraction of an editable
/// document, which matters for 100,000-step formulas.
pub fn parse_toml(text: &str, file: FileId) -> Result<Node, Diagnostic> {
    let doc = toml::de::DeTable::parse(text).map_err(|e| {
        let range = e.span().unwrap_or(0..0);
        syntax_error(text, file, range, e.message().trim())
    })?;
    let (table, span) = (doc.get_ref(), doc.span());
    let mut bad = None;
    let entries = toml_table_entries(table, file, &mut bad);
    if let Some((range, message)) = bad {
        return Err(syntax_error(text, file, range, &message));
    }
    Ok(Node {
        value: Value::Table(entries),
        span: Span::new(file, span.start..span.end.max(text.len())),
    })
}

fn syntax_error(text: &str, file: FileId, range: Range<usize>, message: &str) -> Diagnostic {
    // Point at one character so the caret lands where the parser stopped.
    let end = if range.is_empty() {
        next_char_boundary(text, range.start)
    } else {
        range.end
    };
    Diagnostic::new(Code::F0001, "this file is not valid TOML")
        .at(Span::new(file, range.start..end), message)
        .help("fix the syntax at the marked position; TOML is described at https://toml.io")
}

fn next_char_boundary(text: &str, at: usize) -> usize {
    let mut end = (at + 1).min(text.len());
    while end < text.len() && !text.is_char_boundary(end) {
        end += 1;
    }
    end.max(at)
}

/// A number TOML accepts in syntax but that does not fit: the first one
/// found (span and message) makes the file a syntax error.
type Bad = Option<(Range<usize>, String)>;

fn toml_table_entries(table: &toml::de::DeTable<'_>, file: FileId, bad: &mut Bad) -> Vec<Entry> {
    table
        .iter()
        .map(|(k, v)| Entry {
            key: k.get_ref().to_string(),
            key_span: Span::new(file, k.span()),
            node: toml_value(v, file, bad),
        })
        .collect()
}

fn toml_value(v: &toml::Spanned<toml::de::DeValue<'_>>, file: FileId, bad: &mut Bad) -> Node {
    use toml::de::DeValue;
    let range = v.span();
    let mut out_of_range = |what: &str| {
        bad.get_or_insert((range.clone(), format!("{what} out of range")));
        Value::Null
    };
    let value = match v.get_ref() {
        DeValue::String(s) => Value::Str(s.to_string()),
        DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) => Value::Int(n),
            Err(_) => out_of_range("integer"),
        },
        DeValue::Float(f) => match f.as_str().parse::<f64>() {
            Ok(x) => Value::Float(x),
            Err(_) => out_of_range("float"),
        },
        DeValue::Boolean(b) => Value::Bool(*b),
        DeValue::Datetime(d) => Value::Datetime(d.to_string()),
        DeValue::Array(a) => Value::Array(a.iter().map(|x| toml_value(x, file, bad)).collect()),
        DeValue::Table(t) => Value::Table(toml_table_entries(t, file, bad)),
    };
    Node {
        value,
        span: Span::new(file, range),
    }
}

// ---------------------------------------------------------------------------
// JSON (legacy `*.formula.json`)

pub fn parse_json(text: &str, file: FileId) -> Result<Node, Diagnostic> {
    let options = jsonc_parser::ParseOptions {
        allow_comments: false,
        allow_loose_object_property_names: false,
        allow_trailing_commas: false,
    };
    let parsed = jsonc_parser::parse_to_ast(text, &Default::default(), &options).map_err(|e| {
        let r = e.range();
        let end = if r.end > r.start {
            r.end
        } else {
            next_char_boundary(text, r.start)
        };
        Diagnostic::new(Code::F0001, "this file is not valid JSON")
            .at(Span::new(file, r.start..end), e.kind().to_string())
            .help("fix the syntax at the marked position, or convert the formula to TOML")
    })?;
    match parsed.value {
        Some(v) => Ok(json_value(&v, file)),
        None => Err(
            Diagnostic::new(Code::F0003, "this file holds no JSON value")
                .at(Span::new(file, 0..0), "")
                .help("a formula file needs at least `formula` and `steps`"),
        ),
    }
}

fn json_value(v: &jsonc_parser::ast::Value<'_>, file: FileId) -> Node {
    use jsonc_parser::ast::Value as J;
    let (value, range) = match v {
        J::StringLit(s) => (Value::Str(s.value.to_string()), &s.range),
        J::NumberLit(n) => {
            let value = if let Ok(i) = n.value.parse::<i64>() {
                Value::Int(i)
            } else {
                Value::Float(n.value.parse::<f64>().unwrap_or(f64::NAN))
            };
            (value, &n.range)
        }
        J::BooleanLit(b) => (Value::Bool(b.value), &b.range),
        J::NullKeyword(n) => (Value::Null, &n.range),
        J::Array(a) => (
            Value::Array(a.elements.iter().map(|e| json_value(e, file)).collect()),
            &a.range,
        ),
        J::Object(o) => {
            let entries = o
                .properties
                .iter()
                .map(|p| {
                    let name_range = match &p.name {
                        jsonc_parser::ast::ObjectPropName::String(s) => &s.range,
                        jsonc_parser::ast::ObjectPropName::Word(w) => &w.range,
                    };
                    Entry {
                        key: p.name.as_str().to_string(),
                        key_span: Span::new(file, name_range.start..name_range.end),
                        node: json_value(&p.value, file),
                    }
                })
                .collect();
            (Value::Table(entries), &o.range)
        }
    };
    Node {
        value,
        span: Span::new(file, range.start..range.end),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_keeps_spans() {
        let text = "formula = \"x\"\n[[steps]]\nid = \"a\"\n";
        let node = parse_toml(text, 0).unwrap();
        let Value::Table(entries) = &node.value else {
            panic!("table")
        };
        assert_eq!(entries[0].key, "formula");
        assert_eq!(&text[entries[0].node.span.range()], "\"x\"");
        let Value::Array(steps) = &entries[1].node.value else {
            panic!("array")
        };
        let Value::Table(step) = &steps[0].value else {
            panic!("table")
        };
        assert_eq!(&text[step[0].key_span.range()], "id");
        assert_eq!(&text[step[0].node.span.range()], "\"a\"");
    }

    #[test]
    fn toml_syntax_error_points_at_position() {
        let err = parse_toml("formula = \n", 3).unwrap_err();
        assert_eq!(err.code, Code::F0001);
        assert_eq!(err.primary.unwrap().span.file(), 3);
    }

    #[test]
    fn json_keeps_spans() {
        let text = r#"{"formula": "x", "steps": [{"id": "a"}]}"#;
        let node = parse_json(text, 0).unwrap();
        let Value::Table(entries) = &node.value else {
            panic!("table")
        };
        assert_eq!(&text[entries[0].key_span.range()], "\"formula\"");
        assert_eq!(&text[entries[0].node.span.range()], "\"x\"");
    }
}
