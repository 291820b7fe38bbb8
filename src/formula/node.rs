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
    let entries = toml_table_entries(table, At::whole(file), &mut bad);
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

/// Where a piece of a document lies: its file and the byte offset at which
/// the piece starts (spans `toml` reports are relative to the piece).
#[derive(Clone, Copy)]
struct At {
    file: FileId,
    offset: usize,
}

impl At {
    fn whole(file: FileId) -> At {
        At { file, offset: 0 }
    }

    fn span(self, range: Range<usize>) -> Span {
        Span::new(
            self.file,
            range.start + self.offset..range.end + self.offset,
        )
    }
}

fn toml_table_entries(table: &toml::de::DeTable<'_>, at: At, bad: &mut Bad) -> Vec<Entry> {
    table
        .iter()
        .map(|(k, v)| Entry {
            key: k.get_ref().to_string(),
            key_span: at.span(k.span()),
            node: toml_value(v, at, bad),
        })
        .collect()
}

fn toml_value(v: &toml::Spanned<toml::de::DeValue<'_>>, at: At, bad: &mut Bad) -> Node {
    use toml::de::DeValue;
    let span = at.span(v.span());
    let mut out_of_range = |what: &str| {
        bad.get_or_insert((span.range(), format!("{what} out of range")));
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
        DeValue::Array(a) => Value::Array(a.iter().map(|x| toml_value(x, at, bad)).collect()),
        DeValue::Table(t) => Value::Table(toml_table_entries(t, at, bad)),
    };
    Node { value, span }
}

// ---------------------------------------------------------------------------
// TOML, one `[[steps]]` table at a time

/// A TOML document cut into its top-level `[[key]]` tables (each with the
/// `[key.…]` tables that follow it) and the rest. `toml` holds a whole
/// document's tokens, parse events and tree at once (about 25 times the
/// text); parsed piece by piece, only the rest and one table ever exist,
/// which is what keeps a 100,000-step formula lean.
///
/// The pieces are whole lines, cut only at table headers outside any
/// bracket or string, so each reads exactly as it does in the document.
/// The one way pieces interact is through `key` itself: when the rest
/// writes it too, or any piece fails to parse, [`Pieces::parse`] returns
/// `None` and the caller reads the document whole, so every diagnostic is
/// the one the whole document gives.
pub struct Pieces<'t> {
    text: &'t str,
    key: &'t str,
    /// The byte range of each `[[key]]` table, in document order.
    tables: Vec<Range<usize>>,
    /// The rest, when some of it follows a table: the text with the
    /// tables blanked out (offsets kept). Otherwise the rest is the text
    /// before the first table.
    rest: Option<String>,
}

/// A top-level table header, by what it names.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Header {
    /// `[[key]]`: a new element.
    Element,
    /// `[key.…]` or `[[key.…]]`: a table inside the current element.
    Member,
    Other,
}

impl<'t> Pieces<'t> {
    /// Find the `[[key]]` tables of `text`; `None` when there are none.
    pub fn scan(text: &'t str, key: &'t str) -> Option<Pieces<'t>> {
        let headers = headers(text, key);
        let mut tables: Vec<Range<usize>> = Vec::new();
        let mut rest_after = false;
        let mut in_table = false;
        for (i, &(start, kind)) in headers.iter().enumerate() {
            let end = headers.get(i + 1).map_or(text.len(), |h| h.0);
            in_table = match kind {
                Header::Element => {
                    tables.push(start..end);
                    true
                }
                Header::Member if in_table => {
                    if let Some(t) = tables.last_mut() {
                        t.end = end;
                    }
                    true
                }
                _ => {
                    rest_after |= !tables.is_empty();
                    false
                }
            };
        }
        if tables.is_empty() {
            return None;
        }
        let rest = rest_after.then(|| {
            let mut bytes = text.as_bytes().to_vec();
            for t in &tables {
                bytes[t.clone()].fill(b' ');
            }
            // Whole characters were replaced by ASCII spaces.
            String::from_utf8(bytes).unwrap_or_default()
        });
        Some(Pieces {
            text,
            key,
            tables,
            rest,
        })
    }

    /// How many `[[key]]` tables there are.
    pub fn len(&self) -> usize {
        self.tables.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    /// Parse the rest, then hand each `[[key]]` table to `each`, in order,
    /// as its own table node (spans into the text). Returns the root
    /// without `key`. `None`: read the document whole instead (and drop what
    /// `each` received).
    pub fn parse(&self, file: FileId, each: &mut dyn FnMut(Node)) -> Option<Node> {
        let (text, key) = (self.text, self.key);
        let first = self.tables.first()?.start;
        let rest = self.rest.as_deref().unwrap_or(&text[..first]);
        let root = parse_piece(rest, At::whole(file))?;
        if root.iter().any(|e| e.key == key) {
            return None;
        }
        for t in &self.tables {
            let at = At {
                file,
                offset: t.start,
            };
            let mut piece = parse_piece(&text[t.clone()], at)?;
            // Exactly `key = [one table]`, by how the pieces were cut.
            let Some(Entry {
                key: name,
                node:
                    Node {
                        value: Value::Array(mut items),
                        ..
                    },
                ..
            }) = piece.pop()
            else {
                return None;
            };
            if name != key || !piece.is_empty() || items.len() != 1 {
                return None;
            }
            each(items.pop()?);
        }
        Some(Node {
            value: Value::Table(root),
            span: Span::new(file, 0..text.len()),
        })
    }
}

/// One piece read on its own: its root entries, or `None` on any problem.
fn parse_piece(text: &str, at: At) -> Option<Vec<Entry>> {
    let doc = toml::de::DeTable::parse(text).ok()?;
    let mut bad = None;
    let entries = toml_table_entries(doc.get_ref(), at, &mut bad);
    bad.is_none().then_some(entries)
}

/// The top-level table headers of `text`: where each starts (its `[`) and
/// what it names. A header is a `[` that opens a line outside any array,
/// inline table or string; `toml_parser`'s lexer (streamed, never held)
/// knows what is a string.
fn headers(text: &str, key: &str) -> Vec<(usize, Header)> {
    use toml_parser::lexer::TokenKind as K;
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut line_start = true;
    let mut tokens = toml_parser::Source::new(text).lex();
    while let Some(t) = tokens.next() {
        match t.kind() {
            K::Newline => line_start = true,
            K::Whitespace => {}
            K::LeftSquareBracket if line_start && depth == 0 => {
                out.push((t.span().start(), header(text, &mut tokens, key)));
                line_start = false;
            }
            kind => {
                match kind {
                    K::LeftSquareBracket | K::LeftCurlyBracket => depth += 1,
                    K::RightSquareBracket | K::RightCurlyBracket => depth = depth.saturating_sub(1),
                    _ => {}
                }
                line_start = false;
            }
        }
    }
    out
}

/// Classify the header whose first `[` was just read, consuming it up to
/// its closing bracket (or the end of the line). Anything unusual is
/// `Other`: it stays in the rest, where a `key` means reading whole.
fn header(text: &str, tokens: &mut toml_parser::lexer::Lexer<'_>, key: &str) -> Header {
    use toml_parser::lexer::TokenKind as K;
    let mut words: Vec<(K, &str)> = Vec::new();
    for t in tokens.by_ref() {
        let kind = t.kind();
        if matches!(kind, K::Newline | K::Eof | K::Comment) {
            return Header::Other; // unclosed: the parse will say so
        }
        if kind != K::Whitespace {
            words.push((kind, &text[t.span().start()..t.span().end()]));
        }
        if kind == K::RightSquareBracket {
            break;
        }
    }
    let array = words.first().is_some_and(|w| w.0 == K::LeftSquareBracket);
    let name = &words[usize::from(array)..];
    let named = |w: Option<&(K, &str)>| w.is_some_and(|w| w.0 == K::Atom && w.1 == key);
    if !named(name.first()) {
        return Header::Other;
    }
    match name.get(1).map(|w| w.0) {
        Some(K::Dot) => Header::Member,
        Some(K::RightSquareBracket) if array && name.len() == 2 => {
            // `[[key]]`: the second `]` closes it.
            match tokens.next() {
                Some(t) if t.kind() == K::RightSquareBracket => Header::Element,
                _ => Header::Other,
            }
        }
        _ => Header::Other,
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
