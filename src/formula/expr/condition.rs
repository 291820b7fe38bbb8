//! Step conditions (`steps[].condition`), reference §6.2.
//!
//! Forms: `{{var}}` (truthy), `!{{var}}` (falsy), `{{var}} == value`,
//! `{{var}} != 'value'` (one pair of `'` or `"` quotes is removed). Empty
//! means "always include".
//!
//! Deliberate divergences from beads (see `docs/mini-languages.md`):
//! * `===`, `=`, `<`, `&&`, … are errors pointing at the operator (beads read
//!   `{{v}} === x` as `==` with right-hand side `= x`).
//! * `{{ env }}` is an error at parse time everywhere (beads accepted it in
//!   `bd cook` and failed at pour).
//! * A quote that is not part of a matching pair around the whole value is an
//!   error (beads compared with the raw text, quotes included).
//! * An unquoted right-hand side containing `{{` is an error: beads never
//!   substitutes it, so `{{a}} == {{b}}` compared with the literal `{{b}}`.
//!   Quote it (`'{{b}}'`) to compare with that literal text on purpose.

use super::{from_pest, ExprError};
use pest::iterators::Pair;
use pest::Parser;
use std::collections::BTreeMap;
use std::ops::Range;

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/condition.pest"]
struct ConditionParser;

/// A parsed step condition. `span` fields are the byte range of `{{var}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepCondition {
    /// Empty condition: the step is always included.
    Always,
    /// `{{var}}`
    Truthy { var: String, span: Range<usize> },
    /// `!{{var}}`
    Falsy { var: String, span: Range<usize> },
    /// `{{var}} == value`
    Equals {
        var: String,
        span: Range<usize>,
        value: String,
    },
    /// `{{var}} != value`
    NotEquals {
        var: String,
        span: Range<usize>,
        value: String,
    },
}

/// The beads truthiness rule: false iff empty or (case-insensitively)
/// `false`, `0`, `no` or `off`.
pub fn is_truthy(value: &str) -> bool {
    !(value.is_empty()
        || ["false", "0", "no", "off"]
            .iter()
            .any(|f| value.eq_ignore_ascii_case(f)))
}

impl StepCondition {
    /// Evaluate against the bound vars (undefined vars are `""`).
    pub fn eval(&self, vars: &BTreeMap<String, String>) -> bool {
        let get = |v: &str| vars.get(v).map(String::as_str).unwrap_or("");
        match self {
            StepCondition::Always => true,
            StepCondition::Truthy { var, .. } => is_truthy(get(var)),
            StepCondition::Falsy { var, .. } => !is_truthy(get(var)),
            StepCondition::Equals { var, value, .. } => get(var) == value,
            StepCondition::NotEquals { var, value, .. } => get(var) != value,
        }
    }

    /// The variable tested, if any.
    pub fn var_name(&self) -> Option<&str> {
        match self {
            StepCondition::Always => None,
            StepCondition::Truthy { var, .. }
            | StepCondition::Falsy { var, .. }
            | StepCondition::Equals { var, .. }
            | StepCondition::NotEquals { var, .. } => Some(var),
        }
    }

    /// Byte range of `{{var}}` in the parsed string, if any.
    pub fn var_span(&self) -> Option<Range<usize>> {
        match self {
            StepCondition::Always => None,
            StepCondition::Truthy { span, .. }
            | StepCondition::Falsy { span, .. }
            | StepCondition::Equals { span, .. }
            | StepCondition::NotEquals { span, .. } => Some(span.clone()),
        }
    }
}

fn describe(rule: &Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::var_ref => "`{{name}}`",
        Rule::name => "a variable name",
        Rule::op => "`==`/`!=`",
        Rule::bang => "`!`",
        Rule::EOI => "end of condition",
        _ => return None,
    })
}

const FORMS: &str =
    "the forms are `{{var}}`, `!{{var}}`, `{{var}} == value` and `{{var}} != value`";

fn span(pair: &Pair<'_, Rule>) -> Range<usize> {
    pair.as_span().start()..pair.as_span().end()
}

/// Parse a step condition.
pub fn parse_step_condition(input: &str) -> Result<StepCondition, ExprError> {
    let mut pairs = ConditionParser::parse(Rule::condition, input).map_err(|e| {
        let mut err = from_pest(&e, input, describe);
        let before = &input[..err.span.start];
        let inside_braces = match (before.rfind("{{"), before.rfind("}}")) {
            (Some(open), Some(close)) => open > close,
            (Some(_), None) => true,
            _ => false,
        };
        if inside_braces {
            err.message = format!(
                "unexpected {} in variable reference",
                super::found_at(input, err.span.start)
            );
            err.help =
                Some("variable names are letters, digits and `_`: write `{{name}}`".to_string());
        } else {
            err.help = Some(FORMS.to_string());
        }
        err
    })?;
    let root = pairs.next().expect("grammar: condition");
    let mut bang: Option<Range<usize>> = None;
    let mut var: Option<(String, Range<usize>)> = None;
    let mut op: Option<(String, Range<usize>)> = None;
    let mut rhs: Option<(String, Range<usize>)> = None;
    for pair in root.into_inner() {
        match pair.as_rule() {
            Rule::bang => bang = Some(span(&pair)),
            Rule::bang_ws => {
                return Err(ExprError::new("no space allowed after `!`", span(&pair))
                    .with_help("write `!{{var}}`"))
            }
            Rule::var_ref => var = Some(check_var_ref(pair)?),
            Rule::op => op = Some((pair.as_str().to_string(), span(&pair))),
            Rule::rhs => rhs = Some((pair.as_str().to_string(), span(&pair))),
            _ => {}
        }
    }
    let Some((var, var_span)) = var else {
        return Ok(StepCondition::Always);
    };
    let Some((op, op_span)) = op else {
        return Ok(match bang {
            Some(_) => StepCondition::Falsy {
                var,
                span: var_span,
            },
            None => StepCondition::Truthy {
                var,
                span: var_span,
            },
        });
    };
    if op != "==" && op != "!=" {
        return Err(bad_operator(&op, op_span));
    }
    if let Some(bang) = bang {
        let value = rhs.as_ref().map(|r| r.0.trim()).unwrap_or("value");
        let flipped = if op == "==" { "!=" } else { "==" };
        return Err(ExprError::new(
            "`!` cannot be combined with a comparison",
            bang.start..op_span.end,
        )
        .with_help(format!("write `{{{{{var}}}}} {flipped} {value}`")));
    }
    let Some((raw, rhs_span)) = rhs else {
        return Err(ExprError::new(
            format!("missing value after `{op}`"),
            op_span.end..input.len(),
        )
        .with_help(format!(
            "write `{{{{{var}}}}} {op} value`; compare with the empty string as `''`"
        )));
    };
    let value = unquote(&raw, rhs_span)?;
    Ok(if op == "==" {
        StepCondition::Equals {
            var,
            span: var_span,
            value,
        }
    } else {
        StepCondition::NotEquals {
            var,
            span: var_span,
            value,
        }
    })
}

fn check_var_ref(pair: Pair<'_, Rule>) -> Result<(String, Range<usize>), ExprError> {
    let whole = span(&pair);
    let mut name = None;
    let mut spaced = false;
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::name => name = Some(p.as_str().to_string()),
            Rule::inner_ws => spaced = true,
            _ => {}
        }
    }
    match name {
        None => Err(
            ExprError::new("missing variable name between `{{` and `}}`", whole).with_help(FORMS),
        ),
        Some(name) if spaced => Err(ExprError::new(
            "no spaces inside braces: a variable reference is `{{name}}`",
            whole,
        )
        .with_help(format!("write `{{{{{name}}}}}`"))),
        Some(name) => Ok((name, whole)),
    }
}

fn bad_operator(op: &str, span: Range<usize>) -> ExprError {
    let help = match op {
        "===" => {
            "use `==`; beads silently read `===` as `==` followed by a value starting with `=`"
        }
        "=" => "use `==` to compare",
        "!==" => "use `!=`",
        "<" | ">" | "<=" | ">=" => "step conditions compare text: only `==` and `!=` are supported",
        "&&" | "||" | "&" | "|" => {
            "step conditions test one variable; there is no `&&` or `||` (nest steps or use a var)"
        }
        _ => "only `==` and `!=` are supported",
    };
    ExprError::new(format!("unknown operator `{op}` in step condition"), span).with_help(help)
}

/// Trim and remove one matching pair of quotes; reject stray quotes and
/// unquoted `{{`.
fn unquote(raw: &str, span: Range<usize>) -> Result<String, ExprError> {
    let lead = raw.len() - raw.trim_start().len();
    let value = raw.trim();
    let vspan = span.start + lead..span.start + lead + value.len();
    let is_quote = |c: char| c == '\'' || c == '"';
    let first = value.chars().next();
    let last = value.chars().next_back();
    match (first, last) {
        (Some(f), Some(l)) if is_quote(f) && value.len() >= 2 && f == l => {
            return Ok(value[1..value.len() - 1].to_string());
        }
        (Some(f), _) if is_quote(f) => {
            return Err(ExprError::new("unterminated or mismatched quotes", vspan)
                .with_help(format!("close the value with the same quote: `{f}…{f}`")));
        }
        (_, Some(l)) if is_quote(l) => {
            return Err(
                ExprError::new("stray quote at the end of the value", vspan).with_help(format!(
                    "quote the whole value: `{l}…{l}`, or remove the quote"
                )),
            );
        }
        _ => {}
    }
    if value.contains("{{") {
        return Err(ExprError::new(
            "the right-hand side of a step condition is a literal, not a variable",
            vspan,
        )
        .with_help("conditions compare one var with fixed text; quote it ('{{x}}') to compare with that literal text"));
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn holds(cond: &str, pairs: &[(&str, &str)]) -> bool {
        parse_step_condition(cond).unwrap().eval(&vars(pairs))
    }

    fn err(cond: &str) -> ExprError {
        parse_step_condition(cond).unwrap_err()
    }

    #[test]
    fn reference_examples_parse() {
        assert_eq!(
            parse_step_condition("{{deploy}}").unwrap(),
            StepCondition::Truthy {
                var: "deploy".into(),
                span: 0..10
            }
        );
        assert_eq!(
            parse_step_condition("!{{skip_tests}}").unwrap(),
            StepCondition::Falsy {
                var: "skip_tests".into(),
                span: 1..15
            }
        );
        assert_eq!(
            parse_step_condition("{{env}} == production").unwrap(),
            StepCondition::Equals {
                var: "env".into(),
                span: 0..7,
                value: "production".into()
            }
        );
        assert_eq!(
            parse_step_condition("{{env}} != 'staging'").unwrap(),
            StepCondition::NotEquals {
                var: "env".into(),
                span: 0..7,
                value: "staging".into()
            }
        );
        assert_eq!(
            parse_step_condition("{{mode}} == \"fast\"").unwrap(),
            StepCondition::Equals {
                var: "mode".into(),
                span: 0..8,
                value: "fast".into()
            }
        );
    }

    #[test]
    fn empty_condition_always_includes() {
        assert_eq!(parse_step_condition("").unwrap(), StepCondition::Always);
        assert_eq!(parse_step_condition("  \t").unwrap(), StepCondition::Always);
        assert!(StepCondition::Always.eval(&BTreeMap::new()));
        assert_eq!(StepCondition::Always.var_name(), None);
    }

    #[test]
    fn truthiness_follows_the_beads_rule() {
        // edge case 7.9: default "false" excludes, `No` excludes, `yes` includes
        assert!(!holds("{{flag}}", &[("flag", "false")]));
        assert!(!holds("{{flag}}", &[("flag", "No")]));
        assert!(!holds("{{flag}}", &[("flag", "OFF")]));
        assert!(!holds("{{flag}}", &[("flag", "0")]));
        assert!(!holds("{{flag}}", &[("flag", "")]));
        assert!(!holds("{{flag}}", &[]));
        assert!(holds("{{flag}}", &[("flag", "yes")]));
        assert!(holds("{{flag}}", &[("flag", "anything")]));
        assert!(holds("{{flag}}", &[("flag", "00")]));
    }

    #[test]
    fn negation_inverts_truthiness() {
        assert!(holds("!{{flag}}", &[("flag", "false")]));
        assert!(!holds("!{{flag}}", &[("flag", "yes")]));
        assert!(holds("!{{flag}}", &[]));
    }

    #[test]
    fn quoted_and_unquoted_values_are_identical() {
        // edge case 7.9
        let a = parse_step_condition("{{env}} == 'prod'").unwrap();
        let b = parse_step_condition("{{env}} == prod").unwrap();
        let c = parse_step_condition("{{env}}==prod").unwrap();
        let d = parse_step_condition("  {{env}}   ==   \"prod\"  ").unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert!(a.eval(&vars(&[("env", "prod")])));
        assert_eq!(d.var_span(), Some(2..9));
        assert!(d.eval(&vars(&[("env", "prod")])));
    }

    #[test]
    fn comparison_is_exact_and_case_sensitive() {
        assert!(!holds("{{env}} == prod", &[("env", "Prod")]));
        assert!(holds("{{env}} != prod", &[("env", "Prod")]));
        assert!(holds("{{env}} == ''", &[]));
        assert!(holds("{{env}} == hello world", &[("env", "hello world")]));
    }

    #[test]
    fn var_name_is_reported() {
        assert_eq!(
            parse_step_condition("!{{x_1}}").unwrap().var_name(),
            Some("x_1")
        );
        // `\w+`: a leading digit is allowed, as in beads
        assert_eq!(
            parse_step_condition("{{1x}}").unwrap().var_name(),
            Some("1x")
        );
    }

    #[test]
    fn spaces_inside_braces_are_rejected() {
        // edge case 7.9: beads' `bd cook` accepted `{{ env }}`, pour failed.
        let e = err("{{ env }}");
        assert!(
            e.message.contains("no spaces inside braces"),
            "{}",
            e.message
        );
        assert_eq!(e.span, 0..9);
        assert_eq!(e.help.as_deref(), Some("write `{{env}}`"));
        assert!(err("{{env }} == x").message.contains("no spaces"));
    }

    #[test]
    fn triple_equals_is_rejected_at_the_operator() {
        // beads parsed `{{v}} === x` as `==` with value `= x`; we reject it.
        let e = err("{{v}} === x");
        assert_eq!(e.message, "unknown operator `===` in step condition");
        assert_eq!(e.span, 6..9);
        assert!(e.help.unwrap().contains("use `==`"));
    }

    #[test]
    fn other_operators_are_rejected_with_help() {
        for (cond, op_span) in [
            ("{{v}} = x", 6..7),
            ("{{v}} < 3", 6..7),
            ("{{v}}>=3", 5..7),
            ("{{a}} && {{b}}", 6..8),
            ("{{v}} <> x", 6..8),
        ] {
            let e = err(cond);
            assert!(
                e.message.starts_with("unknown operator"),
                "{cond}: {}",
                e.message
            );
            assert_eq!(e.span, op_span, "{cond}");
            assert!(e.help.is_some());
        }
    }

    #[test]
    fn space_after_bang_is_rejected() {
        let e = err("! {{v}}");
        assert_eq!(e.message, "no space allowed after `!`");
        assert_eq!(e.span, 1..2);
    }

    #[test]
    fn negated_comparison_is_rejected_with_a_rewrite() {
        let e = err("!{{v}} == x");
        assert_eq!(e.help.as_deref(), Some("write `{{v}} != x`"));
    }

    #[test]
    fn missing_value_is_rejected() {
        let e = err("{{v}} ==");
        assert_eq!(e.message, "missing value after `==`");
        assert_eq!(e.span, 8..8);
        assert!(err("{{v}} !=   ").message.contains("missing value"));
    }

    #[test]
    fn mismatched_quotes_are_rejected() {
        // beads compared with the raw text `'prod"`
        let e = err("{{v}} == 'prod\"");
        assert!(e.message.contains("mismatched quotes"));
        assert_eq!(e.span, 9..15);
        assert!(err("{{v}} == 'prod").message.contains("unterminated"));
        assert!(err("{{v}} == prod'").message.contains("stray quote"));
        assert!(err("{{v}} == '").message.contains("unterminated"));
    }

    #[test]
    fn variable_on_the_right_is_rejected_unless_quoted() {
        // beads compared with the literal text `{{b}}` (never substituted)
        let e = err("{{a}} == {{b}}");
        assert_eq!(e.span, 9..14);
        assert!(parse_step_condition("{{a}} == '{{b}}'")
            .unwrap()
            .eval(&vars(&[("a", "{{b}}")])));
    }

    #[test]
    fn malformed_forms_are_rejected_with_spans() {
        let e = err("deploy");
        assert_eq!(e.span, 0..1);
        assert!(e.help.unwrap().contains("the forms are"));
        let e = err("{{a-b}}");
        assert_eq!(e.span, 3..4);
        assert_eq!(e.message, "unexpected `-` in variable reference");
        assert!(err("{{}}").message.contains("missing variable name"));
        assert!(err("{{a}} junk").message.starts_with("unexpected `j`"));
        assert_eq!(err("{{a}} == b\n{{c}}").span, 11..12);
        assert!(err("{{a}}}").span == (5..6));
    }

    #[test]
    fn fuzzed_inputs_never_panic() {
        let seeds = [
            "{{deploy}}",
            "!{{skip_tests}}",
            "{{env}} == production",
            "{{env}} != 'staging'",
            "{{mode}} == \"fast\"",
            "{{ env }}",
            "{{v}} === x",
        ];
        for input in super::super::fuzz::inputs(&seeds, 4000, 0x5eed_0002) {
            match parse_step_condition(&input) {
                Ok(c) => {
                    let _ = c.eval(&vars(&[("env", "x")]));
                }
                Err(e) => super::super::fuzz::check_span(&input, &e),
            }
        }
    }
}
