//! `gt formula fmt`: one canonical layout for formula TOML, with every
//! comment kept (toml_edit edits the document in place; strings keep the
//! quoting they were written with).
//!
//! The layout: `key = value` with single spaces; one blank line before each
//! table header (none before the first thing in the file); a blank line
//! between keys survives as one; single-line arrays and inline tables as
//! `["a", "b"]` / `{ k = "v" }`; multi-line arrays one element a line,
//! indented four spaces, with a trailing comma; one newline at the end.

use toml_edit::{Array, Decor, DocumentMut, Item, Table, Value};

/// Format formula text; `Err` carries the parse error.
pub fn format_toml(text: &str) -> Result<String, String> {
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| format!("not valid TOML: {}", e.message()))?;
    let mut first = true;
    tidy_table(doc.as_table_mut(), &mut first);
    let trailing = comments_only(doc.trailing().as_str().unwrap_or(""), false);
    doc.set_trailing(trailing);
    let mut out = doc.to_string();
    while out.ends_with("\n\n") {
        out.pop();
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}

fn tidy_table(t: &mut Table, first: &mut bool) {
    if !t.is_implicit() && t.position().is_some() {
        header(t.decor_mut(), first);
    }
    for (mut key, item) in t.iter_mut() {
        match item {
            Item::Value(v) => {
                key_decor(key.leaf_decor_mut(), first);
                tidy_value(v, true);
            }
            Item::Table(sub) => tidy_table(sub, first),
            Item::ArrayOfTables(arr) => {
                for sub in arr.iter_mut() {
                    tidy_table(sub, first);
                }
            }
            Item::None => {}
        }
    }
}

/// A table header: its comments, after exactly one blank line.
fn header(decor: &mut Decor, first: &mut bool) {
    let comments = comments_only(prefix(decor), false);
    let blank = if *first { "" } else { "\n" };
    *first = false;
    let suffix = trailing_comment(decor.suffix().and_then(|s| s.as_str()).unwrap_or(""));
    decor.set_prefix(format!("{blank}{comments}"));
    decor.set_suffix(suffix);
}

fn key_decor(decor: &mut Decor, first: &mut bool) {
    let keep_blank = !*first;
    *first = false;
    decor.set_prefix(comments_only(prefix(decor), keep_blank));
    decor.set_suffix(" ");
}

fn tidy_value(v: &mut Value, top: bool) {
    let suffix = trailing_comment(v.decor().suffix().and_then(|s| s.as_str()).unwrap_or(""));
    match v {
        Value::Array(a) => tidy_array(a),
        Value::InlineTable(t) => {
            for (_, val) in t.iter_mut() {
                tidy_value(val, false);
            }
            t.fmt();
        }
        _ => {}
    }
    if top {
        v.decor_mut().set_prefix(" ");
        v.decor_mut().set_suffix(suffix);
    }
}

fn tidy_array(a: &mut Array) {
    let multi_line = a.to_string().contains('\n');
    for el in a.iter_mut() {
        tidy_value(el, false);
    }
    if !multi_line {
        a.fmt();
        return;
    }
    for el in a.iter_mut() {
        let lines = element_lines(prefix(el.decor()));
        let suffix = trailing_comment(el.decor().suffix().and_then(|s| s.as_str()).unwrap_or(""));
        el.decor_mut().set_prefix(format!("{lines}\n    "));
        el.decor_mut().set_suffix(suffix);
    }
    a.set_trailing_comma(!a.is_empty());
    let tail = element_lines(a.trailing().as_str().unwrap_or(""));
    a.set_trailing(format!("{tail}\n"));
}

/// What sits between two array elements: a comment on the previous
/// element's line stays on that line; comment lines stay on their own.
fn element_lines(raw: &str) -> String {
    let (first, rest) = raw.split_once('\n').unwrap_or((raw, ""));
    let mut out = trailing_comment(first);
    for l in rest.lines().map(str::trim).filter(|l| l.starts_with('#')) {
        out.push_str("\n    ");
        out.push_str(l);
    }
    out
}

fn prefix(decor: &Decor) -> &str {
    decor.prefix().and_then(|p| p.as_str()).unwrap_or("")
}

/// The comment lines of a decor, one per line and unindented; with
/// `keep_blank`, one blank line first when the original began with one.
fn comments_only(raw: &str, keep_blank: bool) -> String {
    let starts_blank =
        raw.contains('\n') && raw.split('\n').next().is_some_and(|l| l.trim().is_empty());
    let mut out = String::new();
    if keep_blank && starts_blank {
        out.push('\n');
    }
    for l in raw.lines().map(str::trim).filter(|l| l.starts_with('#')) {
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// `  # note` after a value -> ` # note`; nothing else survives.
fn trailing_comment(raw: &str) -> String {
    match raw.find('#') {
        Some(i) => format!(" {}", raw[i..].trim_end()),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MESSY: &str = "# A formula\nformula   =\"x\"\nversion=1\n\n\n\n[vars.who]   # the person\nrequired=true\n[[steps]]\nid =  \"a\"   # first\ntitle= \"A\"\nneeds = [ \"b\",\"c\" ]\n\n# the second step\n[[steps]]\nid=\"b\"\nneeds = [\n  \"x\",   # why\n  \"y\"\n]\n";

    #[test]
    fn formats_canonically_and_keeps_comments() {
        let out = format_toml(MESSY).unwrap();
        insta::assert_snapshot!(out);
        for c in [
            "# A formula",
            "# the person",
            "# first",
            "# the second step",
            "# why",
        ] {
            assert!(out.contains(c), "lost {c}:\n{out}");
        }
    }

    #[test]
    fn formatting_is_idempotent_and_keeps_meaning() {
        let once = format_toml(MESSY).unwrap();
        assert_eq!(format_toml(&once).unwrap(), once);
        let a: toml::Value = toml::from_str(MESSY).unwrap();
        let b: toml::Value = toml::from_str(&once).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn multi_line_strings_are_untouched() {
        let text = "[[steps]]\nid = \"a\"\nrun = '''\necho  hi   \n'''\n";
        assert_eq!(format_toml(text).unwrap(), text);
    }
}
