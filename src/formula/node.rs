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

pub fn parse_toml(text: &str, file: FileId) -> Result<Node, Diagnostic> {
    let doc = toml_edit::ImDocument::parse(text).map_err(|e| {
        let range = e.span().unwrap_or(0..0);
        // Point at one character so the caret lands where the parser stopped.
        let end = if range.is_empty() {
            next_char_boundary(text, range.start)
        } else {
            range.end
        };
        let message = e.message().trim().to_string();
        Diagnostic::new(Code::F0001, "this file is not valid TOML")
            .at(Span::new(file, range.start..end), message)
            .help("fix the syntax at the marked position; TOML is described at https://toml.io")
    })?;
    let root = doc.as_table();
    Ok(Node {
        value: Value::Table(toml_table_entries(root, file, text.len())),
        span: Span::new(file, 0..text.len()),
    })
}

fn next_char_boundary(text: &str, at: usize) -> usize {
    let mut end = (at + 1).min(text.len());
    while end < text.len() && !text.is_char_boundary(end) {
        end += 1;
    }
    end.max(at)
}

fn toml_table_entries(table: &toml_edit::Table, file: FileId, len: usize) -> Vec<Entry> {
    let mut out = Vec::with_capacity(table.len());
    for (k, item) in table.iter() {
        let key_span = table.key(k).and_then(|key| key.span()).unwrap_or(0..0);
        let Some(node) = toml_item(item, file, key_span.clone(), len) else {
            continue;
        };
        out.push(Entry {
            key: k.to_string(),
            key_span: Span::new(file, key_span),
            node,
        });
    }
    out
}

fn toml_item(
    item: &toml_edit::Item,
    file: FileId,
    fallback: Range<usize>,
    len: usize,
) -> Option<Node> {
    match item {
        toml_edit::Item::None => None,
        toml_edit::Item::Value(v) => Some(toml_value(v, file, fallback)),
        toml_edit::Item::Table(t) => Some(Node {
            value: Value::Table(toml_table_entries(t, file, len)),
            span: Span::new(file, t.span().unwrap_or(fallback)),
        }),
        toml_edit::Item::ArrayOfTables(a) => {
            let items = a
                .iter()
                .map(|t| Node {
                    span: Span::new(file, t.span().unwrap_or(fallback.clone())),
                    value: Value::Table(toml_table_entries(t, file, len)),
                })
                .collect();
            Some(Node {
                value: Value::Array(items),
                span: Span::new(file, a.span().unwrap_or(fallback)),
            })
        }
    }
}

fn toml_value(v: &toml_edit::Value, file: FileId, fallback: Range<usize>) -> Node {
    let span = Span::new(file, v.span().unwrap_or(fallback.clone()));
    let value = match v {
        toml_edit::Value::String(s) => Value::Str(s.value().clone()),
        toml_edit::Value::Integer(i) => Value::Int(*i.value()),
        toml_edit::Value::Float(f) => Value::Float(*f.value()),
        toml_edit::Value::Boolean(b) => Value::Bool(*b.value()),
        toml_edit::Value::Datetime(d) => Value::Datetime(d.value().to_string()),
        toml_edit::Value::Array(a) => Value::Array(
            a.iter()
                .map(|item| toml_value(item, file, fallback.clone()))
                .collect(),
        ),
        toml_edit::Value::InlineTable(t) => {
            let mut entries = Vec::with_capacity(t.len());
            for (k, item) in t.iter() {
                let key_span = t
                    .key(k)
                    .and_then(|key| key.span())
                    .unwrap_or(fallback.clone());
                entries.push(Entry {
                    key: k.to_string(),
                    key_span: Span::new(file, key_span.clone()),
                    node: toml_value(item, file, key_span),
                });
            }
            Value::Table(entries)
        }
    };
    Node { value, span }
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
