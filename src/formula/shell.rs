//! Where each `{{var}}` lands in a `run` command, and how to escape a value
//! for that place (contextual escaping, as Go's `html/template` does for
//! HTML). The shell is lexed with `brush-parser`'s tokenizer and word
//! parser; this module maps placeholders onto its tokens.
//!
//! | place | escape |
//! |---|---|
//! | unquoted word | POSIX single quotes (`'it'\''s'`) |
//! | inside `"..."` or `$"..."` | backslash before `\ $ " `` ` `` |
//! | inside `'...'` | `'` becomes `'\''` |
//! | inside `$'...'` | `\` and `'` get a backslash |
//! | heredoc body, unquoted delimiter | backslash before `\ $ `` ` ``; a value line equal to the delimiter is passed as `${NAME}` from the environment |
//! | `$(( ... ))` | the value must be an integer |
//! | comment | line breaks become spaces |
//!
//! No escape is safe inside a quoted heredoc (nothing is processed there),
//! in a heredoc delimiter, in backticks (their backslash rules nest), in a
//! `${...}` word, across shell syntax (`\{{x}}`), or in a string that is
//! run again as code (`eval`, `sh -c '...'`, `python3 -c`, `perl -e`, ...).
//! Those are diagnostic F0048; the safe form is the environment variable
//! (see [`env_name`]).

use brush_parser::word::{WordPiece, WordPieceWithSource};
use brush_parser::{ParserOptions, Token};
use std::collections::BTreeMap;
use std::ops::Range;

/// Where a placeholder lands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    Unquoted,
    DoubleQuoted,
    SingleQuoted,
    AnsiC,
    Heredoc { delimiter: String, strip_tabs: bool },
    Arithmetic,
    Comment,
}

/// Why no escape is safe for a placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unsafe {
    QuotedHeredoc { delimiter: String },
    HeredocDelimiter,
    Backticks,
    ParameterWord,
    Straddles,
    NestedCode { command: String },
    Unmapped,
}

impl Unsafe {
    /// What the problem is, in words.
    pub fn describe(&self) -> String {
        match self {
            Unsafe::QuotedHeredoc { delimiter } => format!(
                "it is inside a heredoc with a quoted delimiter (`{delimiter}`), where nothing can be escaped and a value line `{delimiter}` ends the heredoc"
            ),
            Unsafe::HeredocDelimiter => "it is part of a heredoc delimiter".into(),
            Unsafe::Backticks => {
                "it is inside backticks, whose nested backslash rules no escape survives".into()
            }
            Unsafe::ParameterWord => "it is inside a `${...}` parameter expansion".into(),
            Unsafe::Straddles => "it is split by shell syntax (for example `\\{{x}}`)".into(),
            Unsafe::NestedCode { command } => format!(
                "it is inside a string that `{command}` runs again as code, so an escaped value is unescaped and executed"
            ),
            Unsafe::Unmapped => "its quoting context cannot be determined".into(),
        }
    }
}

/// One `{{name}}` in a `run` command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// Byte range of the whole `{{name}}` in the command.
    pub range: Range<usize>,
    pub name: String,
    pub place: Result<Place, Unsafe>,
}

/// A `run` command that the shell lexer rejects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the command is not valid shell: {0}")]
pub struct LexError(pub String);

/// The environment variable that carries var `name` into a step: the name
/// upper-cased (var names are already `[A-Za-z_][A-Za-z0-9_]*`). `None`
/// when that would override a variable the shell or the runtime relies on.
pub fn env_name(name: &str) -> Option<String> {
    let upper = name.to_ascii_uppercase();
    let reserved = RESERVED_ENV.contains(&upper.as_str())
        || RESERVED_ENV_PREFIXES.iter().any(|p| upper.starts_with(p));
    (!reserved).then_some(upper)
}

/// Variables a var must never override.
pub const RESERVED_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "SHELL",
    "USER",
    "LOGNAME",
    "PWD",
    "OLDPWD",
    "IFS",
    "ENV",
    "BASH_ENV",
    "CDPATH",
    "PS1",
    "PS2",
    "PS4",
    "TERM",
    "TMPDIR",
    "LANG",
    "TZ",
    "PYTHONPATH",
    "NODE_OPTIONS",
];
/// Prefixes a var's environment name must not have.
pub const RESERVED_ENV_PREFIXES: &[&str] = &["GT_", "BD_", "BEADS_", "LD_", "DYLD_", "LC_", "GIT_"];

/// The environment of a step: every bound var under its [`env_name`].
pub fn step_env(values: &BTreeMap<String, String>) -> Vec<(String, String)> {
    values
        .iter()
        .filter_map(|(k, v)| Some((env_name(k)?, v.clone())))
        .collect()
}

/// The step environment of a poured molecule, from its root's metadata
/// (`{"vars": {...}}`, written by pour).
pub fn molecule_env(root_metadata: &serde_json::Value) -> Vec<(String, String)> {
    let Some(vars) = root_metadata.get("vars").and_then(|v| v.as_object()) else {
        return Vec::new();
    };
    let values: BTreeMap<String, String> = vars
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect();
    step_env(&values)
}

/// Commands that run one of their arguments as code, with the flag that
/// introduces it.
const CODE_RUNNERS: &[(&str, &str)] = &[
    ("sh", "c"),
    ("bash", "c"),
    ("dash", "c"),
    ("zsh", "c"),
    ("ksh", "c"),
    ("ash", "c"),
    ("mksh", "c"),
    ("fish", "c"),
    ("su", "c"),
    ("python", "c"),
    ("python3", "c"),
    ("perl", "eE"),
    ("ruby", "e"),
    ("node", "e"),
    ("php", "r"),
];

/// Find every `{{name}}` in `run` and where it lands.
pub fn analyze(run: &str) -> Result<Vec<Slot>, LexError> {
    let holes = super::vars::placeholder_spans(run);
    if holes.is_empty() {
        return Ok(Vec::new());
    }
    let mut places: Vec<Option<Result<Place, Unsafe>>> = vec![None; holes.len()];
    let ranges: Vec<Range<usize>> = holes.iter().map(|(r, _)| r.clone()).collect();
    lex_program(run, 0, &ranges, &mut places)?;
    Ok(holes
        .into_iter()
        .zip(places)
        .map(|((range, name), place)| Slot {
            range,
            name,
            // A placeholder outside every word is in a comment.
            place: place.unwrap_or(Ok(Place::Comment)),
        })
        .collect())
}

/// Lex one shell program (the whole command, or the inside of `$(...)`)
/// found at byte `base` of the command, and place the holes inside it.
fn lex_program(
    text: &str,
    base: usize,
    holes: &[Range<usize>],
    places: &mut [Option<Result<Place, Unsafe>>],
) -> Result<(), LexError> {
    let tokens = brush_parser::tokenize_str(text).map_err(|e| LexError(e.to_string()))?;
    let byte_at = char_to_byte(text);
    let mut cmd = CommandWords::default();
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i] {
            Token::Operator(op, _) if op == "<<" || op == "<<-" => {
                // `<<` DELIM BODY END: the tokenizer yields the body right
                // after the delimiter.
                let (delim, body) = (tokens.get(i + 1), tokens.get(i + 2));
                if let Some(Token::Word(d, sp)) = delim {
                    let r = byte_at(sp.start.index)..byte_at(sp.end.index);
                    mark(base, &r, holes, places, |_| Err(Unsafe::HeredocDelimiter));
                    if let Some(Token::Word(_, bsp)) = body {
                        let b = byte_at(bsp.start.index)..byte_at(bsp.end.index);
                        heredoc(text, base, b, d, op == "<<-", holes, places)?;
                    }
                }
                i += 4;
                continue;
            }
            Token::Operator(op, _) => cmd.operator(op),
            Token::Word(w, sp) => {
                let r = byte_at(sp.start.index)..byte_at(sp.end.index);
                let nested = cmd.push(w);
                if touches(base, &r, holes) {
                    if text.get(r.clone()) != Some(w.as_str()) {
                        mark(base, &r, holes, places, |_| Err(Unsafe::Unmapped));
                    } else if let Some(command) = nested {
                        mark(base, &r, holes, places, |_| {
                            Err(Unsafe::NestedCode {
                                command: command.clone(),
                            })
                        });
                    } else {
                        word(w, base + r.start, holes, places)?;
                    }
                }
            }
        }
        i += 1;
    }
    Ok(())
}

/// The words of the simple command being read, to spot `eval` and
/// `sh -c STRING`.
#[derive(Default)]
struct CommandWords {
    words: Vec<String>,
    redirect_target: bool,
    /// Set when the next word is code run by this command.
    code_next: Option<String>,
    /// Set after `eval`: every later word is code.
    eval: bool,
}

impl CommandWords {
    fn operator(&mut self, op: &str) {
        if matches!(
            op,
            "<" | ">" | ">>" | "<&" | ">&" | "<>" | ">|" | "&>" | "&>>" | "<<<"
        ) {
            self.redirect_target = true;
        } else {
            *self = CommandWords::default();
        }
    }

    /// Record a word; returns the command that runs it as code, if any.
    fn push(&mut self, w: &str) -> Option<String> {
        if std::mem::take(&mut self.redirect_target) {
            return None;
        }
        if RESERVED_WORDS.contains(&w) && self.words.is_empty() {
            return None;
        }
        if self.eval {
            return Some("eval".into());
        }
        if let Some(c) = self.code_next.take() {
            self.words.push(w.to_string());
            return Some(c);
        }
        let plain = w.trim_matches(|c| c == '\'' || c == '"');
        let base = plain.rsplit('/').next().unwrap_or(plain);
        if base == "eval" {
            self.eval = true;
        }
        if let Some(flag) = plain.strip_prefix('-').filter(|f| !f.starts_with('-')) {
            for (runner, flags) in CODE_RUNNERS {
                let ran = self
                    .words
                    .iter()
                    .any(|p| p.rsplit('/').next() == Some(runner));
                if ran && flag.chars().any(|c| flags.contains(c)) {
                    self.code_next = Some(format!("{runner} -{flag}"));
                }
            }
        }
        self.words.push(base.to_string());
        None
    }
}

const RESERVED_WORDS: &[&str] = &[
    "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "for", "case", "esac", "{",
    "}", "!", "time", "in",
];

/// Place the holes inside one word token that starts at byte `at`.
fn word(
    w: &str,
    at: usize,
    holes: &[Range<usize>],
    places: &mut [Option<Result<Place, Unsafe>>],
) -> Result<(), LexError> {
    let pieces = brush_parser::word::parse(w, &ParserOptions::default())
        .map_err(|e| LexError(e.to_string()))?;
    let cx = Pieces {
        w,
        src: w,
        at,
        text: Some(Place::Unquoted),
    };
    cx.place(&pieces, holes, places)
}

/// Word pieces and where they are: `w` is the parsed word, `src` the same
/// bytes as written (they differ only for a heredoc body), `at` the byte
/// offset of `w` in the command, `text` the place of plain text (`None`
/// in a heredoc body, which is placed afterwards).
struct Pieces<'a> {
    w: &'a str,
    src: &'a str,
    at: usize,
    text: Option<Place>,
}

impl Pieces<'_> {
    fn place(
        &self,
        pieces: &[WordPieceWithSource],
        holes: &[Range<usize>],
        places: &mut [Option<Result<Place, Unsafe>>],
    ) -> Result<(), LexError> {
        let (w, at) = (self.w, self.at);
        for (h, hole) in holes.iter().enumerate() {
            let Some(rel) = hole.start.checked_sub(at) else {
                continue;
            };
            let rel = rel..rel + hole.len();
            if rel.start >= w.len() || places[h].is_some() {
                continue;
            }
            let Some(p) = pieces
                .iter()
                .find(|p| p.start_index < rel.end && rel.start < p.end_index)
            else {
                continue;
            };
            if p.start_index > rel.start || p.end_index < rel.end {
                let in_parameter = matches!(p.piece, WordPiece::ParameterExpansion(_));
                places[h] = Some(Err(if in_parameter {
                    Unsafe::ParameterWord
                } else {
                    Unsafe::Straddles
                }));
                continue;
            }
            places[h] = match &p.piece {
                WordPiece::Text(_) => self.text.clone().map(Ok),
                WordPiece::SingleQuotedText(_) => Some(Ok(Place::SingleQuoted)),
                WordPiece::AnsiCQuotedText(_) => Some(Ok(Place::AnsiC)),
                WordPiece::ArithmeticExpression(_) => Some(Ok(Place::Arithmetic)),
                WordPiece::BackquotedCommandSubstitution(_) => Some(Err(Unsafe::Backticks)),
                WordPiece::ParameterExpansion(_) | WordPiece::TildeExpansion(_) => {
                    Some(Err(Unsafe::ParameterWord))
                }
                WordPiece::EscapeSequence(_) => Some(Err(Unsafe::Straddles)),
                WordPiece::DoubleQuotedSequence(inner)
                | WordPiece::GettextDoubleQuotedSequence(inner) => {
                    let text = self.text.as_ref().map(|_| Place::DoubleQuoted);
                    let cx = Pieces { text, ..*self };
                    cx.place(inner, holes, places)?;
                    let unplaced = self.text.as_ref().map(|_| Err(Unsafe::Unmapped));
                    places[h].clone().or(unplaced)
                }
                WordPiece::CommandSubstitution(inner) => {
                    let start = p.start_index + 2;
                    if let Some(code) = self.src.get(start..start + inner.len()) {
                        lex_program(code, at + start, holes, places)?;
                        places[h].clone().or(Some(Err(Unsafe::Unmapped)))
                    } else {
                        Some(Err(Unsafe::Unmapped))
                    }
                }
            };
        }
        Ok(())
    }
}

/// Place the holes in a heredoc body (`body` is its byte range in `text`,
/// including the closing delimiter line).
fn heredoc(
    text: &str,
    base: usize,
    body: Range<usize>,
    delim: &str,
    strip_tabs: bool,
    holes: &[Range<usize>],
    places: &mut [Option<Result<Place, Unsafe>>],
) -> Result<(), LexError> {
    // The body ends with the closing delimiter line.
    let all = text.get(body.clone()).unwrap_or_default();
    let content_len = all
        .strip_suffix('\n')
        .unwrap_or(all)
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let end_line = body.start + content_len..body.end;
    mark(base, &end_line, holes, places, |_| {
        Err(Unsafe::HeredocDelimiter)
    });
    let body = body.start..body.start + content_len;
    let quoted = delim.contains(['\'', '"', '\\']);
    let delimiter: String = delim.chars().filter(|c| !"'\"\\".contains(*c)).collect();
    if quoted {
        mark(base, &body, holes, places, |_| {
            Err(Unsafe::QuotedHeredoc {
                delimiter: delimiter.clone(),
            })
        });
        return Ok(());
    }
    let src = &all[..content_len];
    // Expansions in an unquoted heredoc work as inside double quotes,
    // except that `"` is plain text: lex it as a double-quoted word.
    let wrapped = format!("\"{}\"", src.replace('"', "_"));
    let pieces = brush_parser::word::parse(&wrapped, &ParserOptions::default())
        .map_err(|e| LexError(e.to_string()))?;
    let original = format!("\"{src}\"");
    // `at - 1` accounts for the opening quote of the wrapper.
    if let Some(at) = (base + body.start).checked_sub(1) {
        let cx = Pieces {
            w: &wrapped,
            src: &original,
            at,
            text: None,
        };
        cx.place(&pieces, holes, places)?;
    }
    mark(base, &body, holes, places, |_| {
        Ok(Place::Heredoc {
            delimiter: delimiter.clone(),
            strip_tabs,
        })
    });
    Ok(())
}

fn touches(base: usize, r: &Range<usize>, holes: &[Range<usize>]) -> bool {
    holes
        .iter()
        .any(|h| h.start < base + r.end && base + r.start < h.end)
}

/// Give every still-unplaced hole that overlaps `r` (relative to `base`)
/// the place `f` returns.
fn mark(
    base: usize,
    r: &Range<usize>,
    holes: &[Range<usize>],
    places: &mut [Option<Result<Place, Unsafe>>],
    f: impl Fn(usize) -> Result<Place, Unsafe>,
) {
    for (h, hole) in holes.iter().enumerate() {
        if places[h].is_none() && hole.start < base + r.end && base + r.start < hole.end {
            places[h] = Some(f(h));
        }
    }
}

/// The tokenizer counts characters; map a char index to a byte offset.
fn char_to_byte(text: &str) -> impl Fn(usize) -> usize + '_ {
    let table: Vec<usize> = text
        .char_indices()
        .map(|(b, _)| b)
        .chain(std::iter::once(text.len()))
        .collect();
    move |c| table.get(c).copied().unwrap_or(text.len())
}

/// Why a value cannot be placed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EscapeError {
    #[error("`{{{{{name}}}}}` is used in shell arithmetic, and `{value}` is not an integer")]
    NotInteger { name: String, value: String },
    #[error("`{{{{{name}}}}}` cannot be placed safely: {}", why.describe())]
    Unsafe { name: String, why: Unsafe },
    #[error(
        "a line of the value of `{name}` equals the heredoc delimiter `{delimiter}`, and `{name}` has no environment variable to carry it"
    )]
    Delimiter { name: String, delimiter: String },
    #[error("{0}")]
    Lex(#[from] LexError),
}

/// Substitute every bound `{{name}}` in `run`, escaped for where it lands.
/// Unbound names stay verbatim.
pub fn substitute(run: &str, values: &BTreeMap<String, String>) -> Result<String, EscapeError> {
    if !run.contains("{{") {
        return Ok(run.to_string());
    }
    let slots = analyze(run)?;
    let mut out = String::with_capacity(run.len());
    let mut last = 0;
    for slot in slots {
        let Some(value) = values.get(&slot.name) else {
            continue;
        };
        let place = slot.place.map_err(|why| EscapeError::Unsafe {
            name: slot.name.clone(),
            why,
        })?;
        out.push_str(&run[last..slot.range.start]);
        out.push_str(&escape(run, &slot.range, &slot.name, value, &place)?);
        last = slot.range.end;
    }
    out.push_str(&run[last..]);
    Ok(out)
}

/// The text that stands for `value` at `place`.
fn escape(
    run: &str,
    range: &Range<usize>,
    name: &str,
    value: &str,
    place: &Place,
) -> Result<String, EscapeError> {
    let backslash = |special: &str| {
        let mut s = String::with_capacity(value.len() + 2);
        for c in value.chars() {
            if special.contains(c) {
                s.push('\\');
            }
            s.push(c);
        }
        s
    };
    Ok(match place {
        Place::Unquoted => super::vars::shell_quote(value),
        Place::DoubleQuoted => backslash("\\$\"`"),
        Place::SingleQuoted => value.replace('\'', r"'\''"),
        Place::AnsiC => backslash("\\'"),
        Place::Comment => value.replace(['\n', '\r'], " "),
        Place::Arithmetic => {
            let digits = value.strip_prefix(['-', '+']).unwrap_or(value);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(EscapeError::NotInteger {
                    name: name.into(),
                    value: value.into(),
                });
            }
            value.to_string()
        }
        Place::Heredoc {
            delimiter,
            strip_tabs,
        } => {
            let escaped = backslash("\\$`");
            let prefix = &run[run[..range.start].rfind('\n').map_or(0, |i| i + 1)..range.start];
            let suffix = &run[range.end
                ..run[range.end..]
                    .find('\n')
                    .map_or(run.len(), |i| range.end + i)];
            let line = format!("{prefix}{escaped}{suffix}");
            let ends = line.split('\n').any(|l| {
                let l = if *strip_tabs {
                    l.trim_start_matches('\t')
                } else {
                    l
                };
                l == delimiter
            });
            // `<<-` strips leading tabs from the value's lines too.
            let loses_tabs = *strip_tabs
                && (escaped.contains("\n\t") || (prefix.is_empty() && escaped.starts_with('\t')));
            if !ends && !loses_tabs {
                return Ok(escaped);
            }
            // Expansion results are never read as heredoc lines.
            match env_name(name) {
                Some(env) => format!("${{{env}}}"),
                None => {
                    return Err(EscapeError::Delimiter {
                        name: name.into(),
                        delimiter: delimiter.clone(),
                    })
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn places(run: &str) -> Vec<Result<Place, Unsafe>> {
        analyze(run).unwrap().into_iter().map(|s| s.place).collect()
    }

    fn heredoc(d: &str) -> Result<Place, Unsafe> {
        Ok(Place::Heredoc {
            delimiter: d.into(),
            strip_tabs: false,
        })
    }

    #[test]
    fn quoting_contexts() {
        assert_eq!(
            places(r#"echo {{a}} "x {{b}}" 'y {{c}}' $'z{{d}}' $"g{{e}}""#),
            vec![
                Ok(Place::Unquoted),
                Ok(Place::DoubleQuoted),
                Ok(Place::SingleQuoted),
                Ok(Place::AnsiC),
                Ok(Place::DoubleQuoted)
            ]
        );
    }

    #[test]
    fn command_substitution_is_a_fresh_program() {
        assert_eq!(
            places(r#"echo "$(printf %s {{a}} "{{b}}")" $(echo '{{c}}')"#),
            vec![
                Ok(Place::Unquoted),
                Ok(Place::DoubleQuoted),
                Ok(Place::SingleQuoted)
            ]
        );
    }

    #[test]
    fn heredocs() {
        let run = "cat <<EOF >out\nhi {{a}} \"{{b}}\" $(echo {{c}})\nEOF\ncat <<'EOF'\n{{d}}\nEOF\ncat <<-X\n\t{{e}}\n\tX\n";
        assert_eq!(
            places(run),
            vec![
                heredoc("EOF"),
                heredoc("EOF"),
                Ok(Place::Unquoted),
                Err(Unsafe::QuotedHeredoc {
                    delimiter: "EOF".into()
                }),
                Ok(Place::Heredoc {
                    delimiter: "X".into(),
                    strip_tabs: true
                }),
            ]
        );
        assert_eq!(
            places("cat <<{{a}}\nx\n{{a}}\n"),
            vec![Err(Unsafe::HeredocDelimiter), Err(Unsafe::HeredocDelimiter)]
        );
    }

    #[test]
    fn unsafe_places() {
        let code = |c: &str| Err(Unsafe::NestedCode { command: c.into() });
        assert_eq!(
            places("echo `echo {{a}}` ${x:-{{b}}} \\{{c}}"),
            vec![
                Err(Unsafe::Backticks),
                Err(Unsafe::ParameterWord),
                Err(Unsafe::Straddles)
            ]
        );
        assert_eq!(
            places("sh -c 'echo {{a}}' _ {{b}}; eval \"x={{c}}\"; bash -ec \"{{d}}\"; python3 -c '{{e}}'"),
            vec![
                code("sh -c"),
                Ok(Place::Unquoted),
                code("eval"),
                code("bash -ec"),
                code("python3 -c")
            ]
        );
        assert_eq!(
            places("find . -exec sh -c 'rm {{a}}' \\; > {{b}}"),
            vec![code("sh -c"), Ok(Place::Unquoted)]
        );
    }

    #[test]
    fn comments_and_arithmetic() {
        assert_eq!(
            places("echo $(( {{n}} + 1 )) # note {{m}}\necho \"$(({{k}}*2))\""),
            vec![
                Ok(Place::Arithmetic),
                Ok(Place::Comment),
                Ok(Place::Arithmetic)
            ]
        );
        let v = |k: &str, v: &str| BTreeMap::from([(k.to_string(), v.to_string())]);
        assert!(matches!(
            substitute("echo $(({{n}}))", &v("n", "a[$(id)]")),
            Err(EscapeError::NotInteger { .. })
        ));
        assert_eq!(
            substitute("echo $(({{n}}+1)) # {{n}}", &v("n", "-3")).unwrap(),
            "echo $((-3+1)) # -3"
        );
    }

    #[test]
    fn not_shell_is_a_lex_error() {
        assert!(analyze("echo '{{a}}").is_err());
        assert!(analyze("echo no placeholder '").unwrap().is_empty());
    }

    #[test]
    fn escapes_per_place() {
        let v = BTreeMap::from([("x".to_string(), "a'b\"c$d`e\\f\ng".to_string())]);
        assert_eq!(
            substitute("p {{x}} \"{{x}}\" '{{x}}' $'{{x}}'", &v).unwrap(),
            "p 'a'\\''b\"c$d`e\\f\ng' \"a'b\\\"c\\$d\\`e\\\\f\ng\" 'a'\\''b\"c$d`e\\f\ng' $'a\\'b\"c$d`e\\\\f\ng'"
        );
        assert_eq!(
            substitute("cat <<EOF\n{{x}}\nEOF\n", &v).unwrap(),
            "cat <<EOF\na'b\"c\\$d\\`e\\\\f\ng\nEOF\n"
        );
        let eof = BTreeMap::from([("x".to_string(), "a\nEOF\nb".to_string())]);
        assert_eq!(
            substitute("cat <<EOF\n{{x}}\nEOF\n", &eof).unwrap(),
            "cat <<EOF\n${X}\nEOF\n"
        );
        let path = BTreeMap::from([("path".to_string(), "EOF".to_string())]);
        assert!(matches!(
            substitute("cat <<EOF\n{{path}}\nEOF\n", &path),
            Err(EscapeError::Delimiter { .. })
        ));
    }

    #[test]
    fn non_ascii_offsets() {
        assert_eq!(
            places("echo é \"ü {{a}}\" {{b}}"),
            vec![Ok(Place::DoubleQuoted), Ok(Place::Unquoted)]
        );
    }

    #[test]
    fn env_names() {
        assert_eq!(env_name("base_branch").as_deref(), Some("BASE_BRANCH"));
        assert_eq!(env_name("path"), None);
        assert_eq!(env_name("gt_rig"), None);
        let env = step_env(&BTreeMap::from([
            ("a".to_string(), "1".to_string()),
            ("home".to_string(), "2".to_string()),
        ]));
        assert_eq!(env, vec![("A".to_string(), "1".to_string())]);
    }
}
