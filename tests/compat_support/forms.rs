//! Extract the `gt`/`bd` command forms that formulas tell an agent to run.
//!
//! A formula's strings (descriptions, `run` fields, ...) hold commands in
//! fenced blocks, at the start of lines and in inline code spans. A *form*
//! is the binary, its leading bare words (the command path) and the set of
//! option names; the first occurrence is kept as the example to run.
//! Nothing here is corpus text: the corpus is read at test time.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One shell word of an extracted command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    /// Any part of it was quoted (so it is an argument, never a flag).
    pub quoted: bool,
}

#[derive(Debug, Clone)]
pub struct Form {
    /// `gt mail send --human -m -s`: the identity of the form.
    pub key: String,
    /// The first example: its words (binary first).
    pub words: Vec<Word>,
    /// `file:string-path` of the first example.
    pub origin: String,
}

/// Bare command-path word: lowercase letters and hyphens.
fn is_path_word(w: &Word) -> bool {
    !w.quoted
        && w.text.starts_with(|c: char| c.is_ascii_lowercase())
        && w.text.chars().all(|c| c.is_ascii_lowercase() || c == '-')
        && !w.text.ends_with('-')
}

fn flag_name(w: &Word) -> Option<String> {
    if w.quoted || !w.text.starts_with('-') || w.text == "-" || w.text == "--" {
        return None;
    }
    let name = w.text.split('=').next().unwrap_or_default();
    let body = name.trim_start_matches('-');
    let ok = body.starts_with(|c: char| c.is_ascii_alphabetic())
        && body.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    ok.then(|| name.to_string())
}

/// The form key of a command's words (binary first).
pub fn key_of(words: &[Word]) -> String {
    let mut parts = vec![words[0].text.clone()];
    parts.extend(
        words[1..]
            .iter()
            .take_while(|w| is_path_word(w))
            .take(3)
            .map(|w| w.text.clone()),
    );
    let mut flags: Vec<String> = words[1..].iter().filter_map(flag_name).collect();
    flags.sort();
    flags.dedup();
    parts.extend(flags);
    parts.join(" ")
}

/// Split shell text into words, stopping at the end of the command
/// (`|`, `&&`, `;`, a redirection, a comment, an unquoted backtick).
/// Quotes may span lines; a trailing backslash continues the line.
pub fn words(text: &str) -> Vec<Word> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut started = false;
    let mut it = text.chars().peekable();
    let push = |out: &mut Vec<Word>, cur: &mut String, quoted: &mut bool, started: &mut bool| {
        if *started {
            out.push(Word {
                text: std::mem::take(cur),
                quoted: *quoted,
            });
        }
        *quoted = false;
        *started = false;
    };
    while let Some(c) = it.next() {
        match c {
            '\\' if matches!(it.peek(), Some('\n')) => {
                it.next();
                push(&mut out, &mut cur, &mut quoted, &mut started);
            }
            '\\' if matches!(it.peek(), Some('\\')) => {
                // `\\` then newline in a TOML basic string: a continuation.
                it.next();
                if matches!(it.peek(), Some('\n')) {
                    it.next();
                    push(&mut out, &mut cur, &mut quoted, &mut started);
                } else {
                    cur.push('\\');
                    started = true;
                }
            }
            '\\' => {
                if let Some(n) = it.next() {
                    cur.push(n);
                    started = true;
                }
            }
            '\n' => break,
            c if c.is_whitespace() => push(&mut out, &mut cur, &mut quoted, &mut started),
            '\'' | '"' => {
                quoted = true;
                started = true;
                let mut closed = false;
                while let Some(q) = it.next() {
                    if q == c {
                        closed = true;
                        break;
                    }
                    if q == '\\' && c == '"' {
                        if let Some(n) = it.next() {
                            cur.push(n);
                        }
                        continue;
                    }
                    cur.push(q);
                }
                if !closed {
                    // An unfinished quote (a heredoc or prose): keep the first line.
                    cur = cur.lines().next().unwrap_or_default().to_string();
                    push(&mut out, &mut cur, &mut quoted, &mut started);
                    break;
                }
            }
            '$' if matches!(it.peek(), Some('(')) => {
                started = true;
                cur.push('$');
                let mut depth = 0;
                for q in it.by_ref() {
                    cur.push(q);
                    match q {
                        '(' => depth += 1,
                        ')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        '\n' => break,
                        _ => {}
                    }
                }
            }
            '<' if placeholder_len(it.clone()).is_some() => {
                // `<name>`: a placeholder, not a redirection.
                started = true;
                cur.push('<');
                let n = placeholder_len(it.clone()).unwrap_or(0);
                for _ in 0..n {
                    if let Some(q) = it.next() {
                        cur.push(q);
                    }
                }
            }
            '|' | ';' | '`' | '>' => break,
            '&' if matches!(it.peek(), Some('&')) => break,
            '#' if !started => break,
            '2' if !started && matches!(it.peek(), Some('>')) => break,
            c => {
                cur.push(c);
                started = true;
            }
        }
    }
    push(&mut out, &mut cur, &mut quoted, &mut started);
    out
}

/// Length (through `>`) of a `<placeholder>` whose `<` was just read.
fn placeholder_len(mut it: impl Iterator<Item = char>) -> Option<usize> {
    for n in 1..=40 {
        match it.next()? {
            '>' if n > 1 => return Some(n),
            c if c.is_ascii_alphanumeric() || "-_.:".contains(c) => {}
            _ => return None,
        }
    }
    None
}

/// Where commands start in one string: the start of a line (after `$ `) and
/// after an opening backtick.
fn starts(s: &str) -> Vec<usize> {
    let mut v = Vec::new();
    let mut line_start = 0;
    for line in s.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let mut off = line_start + (line.len() - trimmed.len());
        let t = trimmed.strip_prefix("$ ").unwrap_or(trimmed);
        off += trimmed.len() - t.len();
        v.push(off);
        let mut in_code = false;
        for (i, c) in line.char_indices() {
            if c == '`' {
                in_code = !in_code;
                if in_code {
                    v.push(line_start + i + 1);
                }
            }
        }
        line_start += line.len();
    }
    v
}

/// The commands in one string.
pub fn commands_in(s: &str) -> Vec<Vec<Word>> {
    let mut out = Vec::new();
    for at in starts(s) {
        let rest = &s[at..];
        if !(rest.starts_with("gt ") || rest.starts_with("bd ")) {
            continue;
        }
        let w = words(rest);
        if w.len() < 2 {
            continue;
        }
        let second = &w[1];
        if second.quoted || !(is_path_word(second) || flag_name(second).is_some()) {
            continue;
        }
        out.push(w);
    }
    out
}

fn strings(item: &toml_edit::Item, path: String, out: &mut Vec<(String, String)>) {
    use toml_edit::{Item, Value};
    fn value(v: &Value, path: String, out: &mut Vec<(String, String)>) {
        match v {
            Value::String(s) => out.push((path, s.value().clone())),
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    value(x, format!("{path}[{i}]"), out);
                }
            }
            Value::InlineTable(t) => {
                for (k, x) in t.iter() {
                    value(x, format!("{path}.{k}"), out);
                }
            }
            _ => {}
        }
    }
    match item {
        Item::Value(v) => value(v, path, out),
        Item::Table(t) => {
            for (k, x) in t.iter() {
                strings(x, format!("{path}.{k}"), out);
            }
        }
        Item::ArrayOfTables(a) => {
            for (i, t) in a.iter().enumerate() {
                for (k, x) in t.iter() {
                    strings(x, format!("{path}[{i}].{k}"), out);
                }
            }
        }
        Item::None => {}
    }
}

fn formula_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            formula_files(&p, out);
        } else if p.to_string_lossy().ends_with(".formula.toml") {
            out.push(p);
        }
    }
}

/// Every distinct form in the corpus, by key.
pub fn extract(corpus: &Path) -> BTreeMap<String, Form> {
    let mut files = Vec::new();
    formula_files(corpus, &mut files);
    let mut forms = BTreeMap::new();
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        let Ok(doc) = text.parse::<toml_edit::DocumentMut>() else {
            continue;
        };
        let mut ss = Vec::new();
        strings(doc.as_item(), String::new(), &mut ss);
        let name = f.file_name().unwrap_or_default().to_string_lossy();
        for (path, s) in ss {
            for w in commands_in(&s) {
                let key = key_of(&w);
                forms.entry(key.clone()).or_insert_with(|| Form {
                    key,
                    words: w,
                    origin: format!("{name}:{path}"),
                });
            }
        }
    }
    forms
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(s: &str) -> Vec<String> {
        words(s).into_iter().map(|w| w.text).collect()
    }

    #[test]
    fn words_stop_at_shell_operators_and_join_continuations() {
        assert_eq!(texts("bd show x 2>/dev/null"), ["bd", "show", "x"]);
        assert_eq!(texts("gt a -s \"b c\" | jq"), ["gt", "a", "-s", "b c"]);
        assert_eq!(texts("gt a \\\n  --b c\nnext"), ["gt", "a", "--b", "c"]);
        assert_eq!(texts("gt a $(whoami) # note"), ["gt", "a", "$(whoami)"]);
        assert_eq!(
            texts("bd dep add <a-id> <b> > f"),
            ["bd", "dep", "add", "<a-id>", "<b>"]
        );
    }

    #[test]
    fn key_is_path_plus_sorted_flags() {
        let w = words("gt mail send mayor/ -s \"x\" --human -m y");
        assert_eq!(key_of(&w), "gt mail send --human -m -s");
        let w = words("bd list --status=open --json");
        assert_eq!(key_of(&w), "bd list --json --status");
    }
}
