//! Target globs (`advice.target`, `compose.map.select`, `pointcuts.glob`),
//! reference §6.4.
//!
//! Go `filepath.Match` syntax: `*` is any run of characters except `/`
//! (so it **does** cross the dots of our dotted step ids: `*.implement`
//! matches `feat.implement` and `a.b.implement`), `?` one character except
//! `/`, `[abc]`, `[a-z]`, `[^a-z]` classes and `\` escapes. A pattern also
//! matches, as in beads, when it is `*`, when it is `*.x` and the id ends
//! with `.x`, when it is `x.*` and the id starts with `x.`, or when it equals
//! the id literally.
//!
//! Deliberate divergences from beads (see `docs/mini-languages.md`):
//! * A malformed pattern (`[abc`, `[]`, trailing `\`, `[z-a]`) is an error
//!   with a span (beads ignored it: `filepath.Match` failed and only the
//!   literal fallbacks applied). An empty pattern is an error too.

use super::{from_pest, ExprError};
use pest::Parser;
use std::ops::Range;

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/glob.pest"]
struct GlobParser;

/// A parsed glob pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    pattern: String,
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Star,
    Any,
    Lit(char),
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

fn describe(rule: &Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::class_item | Rule::class_lit => "a character or range",
        Rule::esc_char => "a character to escape",
        Rule::EOI => "end of pattern",
        _ => return None,
    })
}

impl Glob {
    /// Parse a pattern; a malformed one is an error.
    pub fn parse(pattern: &str) -> Result<Glob, ExprError> {
        if pattern.is_empty() {
            return Err(ExprError::new("empty glob pattern", 0..0)
                .with_help("write a step id or a pattern such as `*.implement`"));
        }
        let mut pairs = GlobParser::parse(Rule::glob, pattern).map_err(|e| {
            let mut err = from_pest(&e, pattern, describe);
            let before = &pattern[..err.span.start];
            if before.ends_with('\\') && err.span.is_empty() {
                err.message = "trailing `\\` escapes nothing".to_string();
                err.span = err.span.start - 1..err.span.start;
                err.help = Some("write `\\\\` for a literal backslash".to_string());
            } else {
                err.message = format!("malformed character class: {}", err.message);
                err.help = Some(
                    "classes look like `[abc]`, `[a-z]` or `[^a-z]`, are closed with `]`, and \
                     need `\\]` / `\\-` for a literal `]` or `-`"
                        .to_string(),
                );
            }
            err
        })?;
        let root = pairs.next().expect("grammar: glob");
        let mut tokens = Vec::new();
        for item in root.into_inner() {
            let tok = match item.as_rule() {
                Rule::star => Token::Star,
                Rule::any => Token::Any,
                Rule::literal => Token::Lit(first_char(item.as_str())),
                Rule::escaped => Token::Lit(escaped_char(item)),
                Rule::class => {
                    let mut negated = false;
                    let mut ranges = Vec::new();
                    for p in item.into_inner() {
                        if p.as_rule() == Rule::negate {
                            negated = true;
                            continue;
                        }
                        let item_span = p.as_span().start()..p.as_span().end();
                        let mut ends = p.into_inner().map(|c| match c.as_rule() {
                            Rule::escaped => escaped_char(c),
                            _ => first_char(c.as_str()),
                        });
                        let lo = ends.next().expect("grammar: class_item has a char");
                        let hi = ends.next().unwrap_or(lo);
                        if lo > hi {
                            return Err(empty_range(lo, hi, item_span));
                        }
                        ranges.push((lo, hi));
                    }
                    Token::Class { negated, ranges }
                }
                Rule::EOI => continue,
                other => unreachable!("glob grammar produced unexpected rule {other:?}"),
            };
            tokens.push(tok);
        }
        Ok(Glob {
            pattern: pattern.to_string(),
            tokens,
        })
    }

    /// The pattern text.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// True when the pattern has no wildcard (it names one id).
    pub fn is_literal(&self) -> bool {
        self.tokens.iter().all(|t| matches!(t, Token::Lit(_)))
    }

    /// Does `id` match (glob or one of the beads fallback rules)?
    pub fn matches(&self, id: &str) -> bool {
        let p = self.pattern.as_str();
        self.glob_matches(id)
            || p == "*"
            || (p.starts_with("*.") && id.ends_with(&p[1..]))
            || (p.ends_with(".*") && id.starts_with(&p[..p.len() - 1]))
            || p == id
    }

    /// `filepath.Match` semantics (DP over tokens x chars; no backtracking
    /// blow-up).
    fn glob_matches(&self, id: &str) -> bool {
        let chars: Vec<char> = id.chars().collect();
        let n = chars.len();
        // reach[j]: the tokens so far can match exactly chars[..j]
        let mut reach = vec![false; n + 1];
        reach[0] = true;
        for tok in &self.tokens {
            let mut next = vec![false; n + 1];
            match tok {
                Token::Star => {
                    for j in 0..=n {
                        if reach[j] || (j > 0 && next[j - 1] && chars[j - 1] != '/') {
                            next[j] = true;
                        }
                    }
                }
                _ => {
                    for j in 0..n {
                        if reach[j] && tok.matches_char(chars[j]) {
                            next[j + 1] = true;
                        }
                    }
                }
            }
            reach = next;
        }
        reach[n]
    }
}

impl Token {
    fn matches_char(&self, c: char) -> bool {
        match self {
            Token::Any => c != '/',
            Token::Lit(l) => *l == c,
            Token::Class { negated, ranges } => {
                ranges.iter().any(|(lo, hi)| *lo <= c && c <= *hi) != *negated
            }
            Token::Star => false,
        }
    }
}

fn first_char(s: &str) -> char {
    s.chars().next().expect("grammar: non-empty token")
}

fn escaped_char(pair: pest::iterators::Pair<'_, Rule>) -> char {
    let esc = pair.into_inner().next().expect("grammar: escaped char");
    first_char(esc.as_str())
}

fn empty_range(lo: char, hi: char, span: Range<usize>) -> ExprError {
    ExprError::new(format!("empty range `{lo}-{hi}` in character class"), span)
        .with_help(format!("write the smaller character first: `{hi}-{lo}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, id: &str) -> bool {
        Glob::parse(p).unwrap().matches(id)
    }

    #[test]
    fn star_matches_across_dots() {
        assert!(m("*.implement", "feat.implement"));
        assert!(m("*.implement", "a.b.implement"));
        assert!(m("shiny.*", "shiny.x"));
        assert!(m("shiny.*", "shiny.x.y"));
        assert!(m("*", "anything.at.all"));
        assert!(m("a*z", "a.b.z"));
    }

    #[test]
    fn suffix_pattern_does_not_match_the_bare_name() {
        // edge case 7.7: `*.implement` does not match `implement`
        assert!(!m("*.implement", "implement"));
        assert!(!m("shiny.*", "shiny"));
    }

    #[test]
    fn question_mark_and_classes() {
        assert!(m("step?", "step1"));
        assert!(!m("step?", "step"));
        assert!(!m("step?", "step12"));
        assert!(m("[abc]x", "bx"));
        assert!(!m("[abc]x", "dx"));
        assert!(m("iter[0-9]", "iter7"));
        assert!(!m("iter[^0-9]", "iter7"));
        assert!(m("iter[^0-9]", "iterx"));
        assert!(m("[a-cx-z]", "y"));
    }

    #[test]
    fn escapes_make_metacharacters_literal() {
        assert!(m("a\\*b", "a*b"));
        assert!(!m("a\\*b", "axb"));
        assert!(m("[\\]]", "]"));
        assert!(m("[\\-]", "-"));
    }

    #[test]
    fn star_and_question_mark_do_not_cross_slashes() {
        // Go filepath.Match semantics
        assert!(!Glob::parse("a*").unwrap().glob_matches("a/b"));
        assert!(!m("a?b", "a/b"));
        // ...but the beads fallback rules still match ids containing `/`
        assert!(m("*", "a/b"));
        assert!(m("*.x", "a/b.x"));
        assert!(m("a.*", "a./b"));
    }

    #[test]
    fn literal_fallback_matches_equal_text() {
        // beads rule 5: `pattern == id` (e.g. a class that never matches itself)
        assert!(m("a[b]", "a[b]"));
        assert!(m("a[b]", "ab"));
    }

    #[test]
    fn exact_ids_match_only_themselves() {
        assert!(m("implement", "implement"));
        assert!(!m("implement", "implement2"));
        assert!(Glob::parse("design").unwrap().is_literal());
        assert!(!Glob::parse("de*").unwrap().is_literal());
        assert_eq!(Glob::parse("de*").unwrap().as_str(), "de*");
    }

    #[test]
    fn malformed_patterns_are_errors() {
        // beads silently ignored malformed patterns
        let e = Glob::parse("a[bc").unwrap_err();
        assert!(
            e.message.starts_with("malformed character class"),
            "{}",
            e.message
        );
        assert_eq!(e.span, 4..4);
        let e = Glob::parse("a[]").unwrap_err();
        assert_eq!(e.span, 2..3);
        assert!(Glob::parse("[^]").is_err());
        assert!(Glob::parse("[a-]").is_err());
        assert!(Glob::parse("[-a]").is_err());
        let e = Glob::parse("abc\\").unwrap_err();
        assert_eq!(e.message, "trailing `\\` escapes nothing");
        assert_eq!(e.span, 3..4);
        let e = Glob::parse("[z-a]").unwrap_err();
        assert_eq!(e.message, "empty range `z-a` in character class");
        assert_eq!(e.span, 1..4);
        assert_eq!(Glob::parse("").unwrap_err().message, "empty glob pattern");
    }

    #[test]
    fn many_stars_match_in_polynomial_time() {
        let g = Glob::parse(&"*a".repeat(30)).unwrap();
        assert!(!g.matches(&"a".repeat(29)));
        assert!(g.matches(&"a".repeat(40)));
    }

    #[test]
    fn unicode_is_matched_by_character() {
        assert!(m("caf?", "café"));
        assert!(m("[à-ü]", "é"));
    }

    #[test]
    fn fuzzed_inputs_never_panic() {
        let seeds = [
            "*.implement",
            "shiny.*",
            "[a-z]?x",
            "a\\*b",
            "[^0-9]*",
            "iter[0-9].*",
        ];
        for input in super::super::fuzz::inputs(&seeds, 4000, 0x5eed_0004) {
            match Glob::parse(&input) {
                Ok(g) => {
                    let _ = g.matches("feat.implement");
                    let _ = g.matches(&input);
                    let _ = g.matches("");
                }
                Err(e) => super::super::fuzz::check_span(&input, &e),
            }
        }
    }
}
