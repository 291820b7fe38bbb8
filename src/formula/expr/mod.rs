//! The formula mini-languages: parsers, checkers and evaluators.
//!
//! Each language has a pest grammar in `grammar/<name>.pest` and a module
//! here. The module is pure and self-contained: every parser takes a `&str`
//! and returns a typed value or an [`ExprError`] whose `span` is a byte range
//! *inside that string*; the caller maps it onto the file.
//!
//! | language | grammar | module | reference |
//! |---|---|---|---|
//! | range expressions (`loop.range`) | `range.pest` | [`range`] | §6.1 |
//! | step conditions (`steps[].condition`) | `condition.pest` | [`condition`] | §6.2 |
//! | runtime conditions (`loop.until`, `compose.gate`) | `runtime.pest` | [`runtime`] | §6.3 |
//! | target globs (`advice.target`, `compose.map.select`) | `glob.pest` | [`glob`] | §6.4 |
//! | `waits_for` | `waits_for.pest` | [`waits_for`] | §6.5 |
//! | placeholders (`{{var}}`, `{name}`, …) | `placeholder.pest` | [`placeholder`] | §6.6 |
//! | gate timeouts (`30m`, `1h30m`) | `duration.pest` | [`duration`] | §2.4 |
//!
//! `docs/mini-languages.md` documents every deliberate divergence from beads.

pub mod condition;
pub mod duration;
pub mod glob;
pub mod placeholder;
pub mod range;
pub mod runtime;
pub mod waits_for;

use std::ops::Range;

/// A problem in a mini-language string.
///
/// `span` is a byte range inside the string that was parsed (always on
/// `char` boundaries, possibly empty at the end of the input).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExprError {
    pub message: String,
    pub span: Range<usize>,
    pub help: Option<String>,
}

impl ExprError {
    pub fn new(message: impl Into<String>, span: Range<usize>) -> Self {
        ExprError {
            message: message.into(),
            span,
            help: None,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Shift the span by `offset` bytes (used when a sub-string was parsed).
    pub(crate) fn shifted(mut self, offset: usize) -> Self {
        self.span = self.span.start + offset..self.span.end + offset;
        self
    }
}

/// The span of the character at byte `pos` of `input` (empty at the end).
pub(crate) fn char_span(input: &str, pos: usize) -> Range<usize> {
    let pos = pos.min(input.len());
    match input.get(pos..).and_then(|rest| rest.chars().next()) {
        Some(c) => pos..pos + c.len_utf8(),
        None => pos..pos,
    }
}

/// Describe what sits at byte `pos`: `` `x` `` or "end of input".
pub(crate) fn found_at(input: &str, pos: usize) -> String {
    match input.get(pos..).and_then(|rest| rest.chars().next()) {
        Some('\n') => "a newline".to_string(),
        Some(c) => format!("`{c}`"),
        None => "end of input".to_string(),
    }
}

/// Convert a pest error into an [`ExprError`] with a human message.
///
/// `describe` names the rules the parser expected (`None` hides a rule);
/// the message reads "unexpected `x`, expected a or b".
pub(crate) fn from_pest<R: pest::RuleType>(
    err: &pest::error::Error<R>,
    input: &str,
    describe: impl Fn(&R) -> Option<&'static str>,
) -> ExprError {
    let pos = match err.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    };
    let mut expected: Vec<&'static str> = Vec::new();
    if let pest::error::ErrorVariant::ParsingError { positives, .. } = &err.variant {
        for r in positives {
            if let Some(d) = describe(r) {
                if !expected.contains(&d) {
                    expected.push(d);
                }
            }
        }
    }
    let found = found_at(input, pos);
    let message = if expected.is_empty() {
        format!("unexpected {found}")
    } else {
        format!("unexpected {found}, expected {}", join_or(&expected))
    };
    ExprError::new(message, char_span(input, pos))
}

/// "a", "a or b", "a, b or c".
pub(crate) fn join_or(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {}", init.join(", "), last),
    }
}

/// Byte offset of the first non-whitespace character and the trimmed text.
pub(crate) fn trim_with_offset(input: &str) -> (usize, &str) {
    let start = input.len() - input.trim_start().len();
    (start, input.trim())
}

/// The closest candidate to `word` (for "did you mean" help lines).
pub(crate) fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(word, c), *c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
pub(crate) mod fuzz {
    //! A deterministic no-panic harness shared by the per-language tests.

    /// xorshift64*: deterministic, no dependencies.
    pub struct Rng(u64);

    impl Rng {
        pub fn new(seed: u64) -> Self {
            Rng(seed.max(1))
        }
        pub fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            self.0 = x;
            x.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        pub fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    const ALPHABET: &[&str] = &[
        "{",
        "}",
        "{{",
        "}}",
        "(",
        ")",
        "[",
        "]",
        ".",
        "..",
        "*",
        "?",
        "^",
        "-",
        "+",
        "/",
        "\\",
        "'",
        "\"",
        "=",
        "==",
        "!=",
        "!",
        "<",
        ">",
        ">=",
        " ",
        "\t",
        "\n",
        "0",
        "1",
        "9",
        "a",
        "z",
        "_",
        "é",
        "🦀",
        "\u{0}",
        "status",
        "closed",
        "children",
        "count",
        "all",
        "any",
        "step",
        "output",
        "env",
        "file.exists",
        "steps",
        "h",
        "m",
        "s",
        "d",
        "#if",
        "else",
        "target",
        "item",
        "-of",
        "1e308",
        "999999999999999999999",
    ];

    /// Strings built from mutations of `seeds` plus random tokens.
    pub fn inputs(seeds: &[&str], count: usize, seed: u64) -> Vec<String> {
        let mut rng = Rng::new(seed);
        let mut out: Vec<String> = seeds.iter().map(|s| s.to_string()).collect();
        for _ in 0..count {
            let mut s: String = if !seeds.is_empty() && rng.below(3) > 0 {
                seeds[rng.below(seeds.len())].to_string()
            } else {
                String::new()
            };
            for _ in 0..=rng.below(6) {
                let chars: Vec<char> = s.chars().collect();
                match rng.below(4) {
                    0 if !chars.is_empty() => {
                        // delete a char
                        let i = rng.below(chars.len());
                        s = chars[..i].iter().chain(&chars[i + 1..]).collect();
                    }
                    1 if !chars.is_empty() => {
                        // truncate
                        let i = rng.below(chars.len());
                        s = chars[..i].iter().collect();
                    }
                    _ => {
                        // insert a token
                        let i = rng.below(chars.len() + 1);
                        let tok = ALPHABET[rng.below(ALPHABET.len())];
                        let head: String = chars[..i].iter().collect();
                        let tail: String = chars[i..].iter().collect();
                        s = format!("{head}{tok}{tail}");
                    }
                }
            }
            out.push(s);
        }
        out
    }

    /// Assert that an error span lies inside the input on char boundaries.
    pub fn check_span(input: &str, err: &super::ExprError) {
        assert!(
            err.span.start <= err.span.end && err.span.end <= input.len(),
            "span {:?} out of bounds for {input:?}",
            err.span
        );
        assert!(
            input.is_char_boundary(err.span.start) && input.is_char_boundary(err.span.end),
            "span {:?} not on char boundaries in {input:?}",
            err.span
        );
    }
}
