//! `waits_for` (reference §6.5): `all-children`, `any-children`,
//! `children-of(<step-id>)`.
//!
//! `children-of(x)` waits for **all** of `x`'s children. The plain forms
//! take the spawner from the step's first `needs` entry (the compiler's job).
//!
//! Deliberate divergences from beads (see `docs/mini-languages.md`):
//! * Surrounding whitespace is trimmed; the spawner must be a step id
//!   (letters, digits, `_`, `-`, `.`), not "anything up to the last `)`".
//! * Unknown forms get a "did you mean" help line.

use super::{char_span, closest, found_at, trim_with_offset, ExprError};
use pest::Parser;
use std::ops::Range;

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/waits_for.pest"]
struct WaitsForParser;

/// A parsed `waits_for` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitsFor {
    AllChildren,
    AnyChildren,
    /// `children-of(x)`; `span` is the byte range of `x` in the input.
    ChildrenOf {
        spawner: String,
        span: Range<usize>,
    },
}

impl WaitsFor {
    /// The gate kind: `all-children` or `any-children` (`children-of(x)`
    /// is `all-children` over `x`).
    pub fn gate(&self) -> &'static str {
        match self {
            WaitsFor::AnyChildren => "any-children",
            WaitsFor::AllChildren | WaitsFor::ChildrenOf { .. } => "all-children",
        }
    }

    /// The explicit spawner, if any.
    pub fn spawner(&self) -> Option<&str> {
        match self {
            WaitsFor::ChildrenOf { spawner, .. } => Some(spawner),
            _ => None,
        }
    }

    /// The canonical text, as used in the `gate:<waits_for>` label.
    pub fn canonical(&self) -> String {
        match self {
            WaitsFor::AllChildren => "all-children".to_string(),
            WaitsFor::AnyChildren => "any-children".to_string(),
            WaitsFor::ChildrenOf { spawner, .. } => format!("children-of({spawner})"),
        }
    }

    /// The `gate:<waits_for>` label beads puts on the step.
    pub fn label(&self) -> String {
        format!("gate:{}", self.canonical())
    }
}

const FORMS: [&str; 3] = ["all-children", "any-children", "children-of"];

/// Parse a `waits_for` value.
pub fn parse_waits_for(input: &str) -> Result<WaitsFor, ExprError> {
    let (offset, text) = trim_with_offset(input);
    let forms_help = "use `all-children`, `any-children` or `children-of(<step-id>)`";
    if text.is_empty() {
        return Err(ExprError::new("empty waits_for", 0..input.len()).with_help(forms_help));
    }
    let mut pairs = WaitsForParser::parse(Rule::waits_for, text).map_err(|_| {
        let mut err;
        if let Some(inner) = text.strip_prefix("children-of(") {
            let start = "children-of(".len();
            let k: usize = inner
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
                .map(char::len_utf8)
                .sum();
            let at = start + k;
            let next = inner[k..].chars().next();
            err = match next {
                _ if k == 0 => {
                    ExprError::new("missing step id in `children-of()`", char_span(text, at))
                }
                None => ExprError::new("missing `)` after the step id", at..at),
                Some(')') => ExprError::new(
                    format!("unexpected {} after `)`", found_at(text, at + 1)),
                    char_span(text, at + 1),
                ),
                Some(_) => ExprError::new(
                    format!("unexpected {} in step id", found_at(text, at)),
                    char_span(text, at),
                ),
            };
            err.help = Some("write `children-of(<step-id>)`, e.g. `children-of(survey)`".into());
        } else {
            let word: String = text
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect();
            err = ExprError::new(format!("unknown waits_for `{text}`"), 0..text.len());
            let normalized = word.replace('_', "-").to_ascii_lowercase();
            err.help = Some(match closest(&normalized, &FORMS) {
                Some("children-of") => "did you mean `children-of(<step-id>)`?".to_string(),
                Some(f) => format!("did you mean `{f}`?"),
                None => forms_help.to_string(),
            });
        }
        err.shifted(offset)
    })?;
    let root = pairs.next().expect("grammar: waits_for");
    let form = root.into_inner().next().expect("grammar: one form");
    Ok(match form.as_rule() {
        Rule::all_children => WaitsFor::AllChildren,
        Rule::any_children => WaitsFor::AnyChildren,
        Rule::children_of => {
            let sp = form.into_inner().next().expect("grammar: spawner");
            let span = sp.as_span().start() + offset..sp.as_span().end() + offset;
            WaitsFor::ChildrenOf {
                spawner: sp.as_str().to_string(),
                span,
            }
        }
        other => unreachable!("waits_for grammar produced unexpected rule {other:?}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_forms_parse() {
        assert_eq!(
            parse_waits_for("all-children").unwrap(),
            WaitsFor::AllChildren
        );
        assert_eq!(
            parse_waits_for("any-children").unwrap(),
            WaitsFor::AnyChildren
        );
        assert_eq!(
            parse_waits_for(" any-children ").unwrap().gate(),
            "any-children"
        );
    }

    #[test]
    fn children_of_names_the_spawner_and_means_all_children() {
        // edge case 7.10: `children-of(survey)` gates on all of survey's children
        let w = parse_waits_for("children-of(survey)").unwrap();
        assert_eq!(
            w,
            WaitsFor::ChildrenOf {
                spawner: "survey".into(),
                span: 12..18
            }
        );
        assert_eq!(w.gate(), "all-children");
        assert_eq!(w.spawner(), Some("survey"));
        assert_eq!(w.label(), "gate:children-of(survey)");
        assert_eq!(
            parse_waits_for("all-children").unwrap().label(),
            "gate:all-children"
        );
        let w = parse_waits_for("  children-of(loop.iter1.work)").unwrap();
        assert_eq!(w.spawner(), Some("loop.iter1.work"));
        assert_eq!(
            w,
            WaitsFor::ChildrenOf {
                spawner: "loop.iter1.work".into(),
                span: 14..29
            }
        );
    }

    #[test]
    fn unknown_forms_get_suggestions() {
        let e = parse_waits_for("all_children").unwrap_err();
        assert_eq!(e.message, "unknown waits_for `all_children`");
        assert_eq!(e.help.as_deref(), Some("did you mean `all-children`?"));
        let e = parse_waits_for("children(x)").unwrap_err();
        assert_eq!(
            e.help.as_deref(),
            Some("did you mean `children-of(<step-id>)`?")
        );
        let e = parse_waits_for("  bogus").unwrap_err();
        assert_eq!(e.span, 2..7);
        assert!(parse_waits_for("").unwrap_err().message.contains("empty"));
    }

    #[test]
    fn malformed_children_of_is_rejected() {
        let e = parse_waits_for("children-of()").unwrap_err();
        assert_eq!(e.message, "missing step id in `children-of()`");
        assert_eq!(e.span, 12..13);
        let e = parse_waits_for("children-of(a b)").unwrap_err();
        assert_eq!(e.span, 13..14);
        assert_eq!(
            parse_waits_for("children-of(a").unwrap_err().message,
            "missing `)` after the step id"
        );
        let e = parse_waits_for("children-of(a))").unwrap_err();
        assert_eq!(e.message, "unexpected `)` after `)`");
        assert_eq!(e.span, 14..15);
        assert!(parse_waits_for("all-children x").is_err());
    }

    #[test]
    fn fuzzed_inputs_never_panic() {
        let seeds = [
            "all-children",
            "any-children",
            "children-of(survey)",
            "children-of(a.b-c)",
        ];
        for input in super::super::fuzz::inputs(&seeds, 3000, 0x5eed_0005) {
            match parse_waits_for(&input) {
                Ok(w) => {
                    let _ = w.label();
                }
                Err(e) => super::super::fuzz::check_span(&input, &e),
            }
        }
    }
}
