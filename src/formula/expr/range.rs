//! Range expressions (`loop.range`), reference §6.1.
//!
//! `start..end`, each side an arithmetic expression over numbers and
//! `{name}` variables with `+ - * / ^` and parentheses. Evaluation is in
//! `f64`, truncated toward zero at the very end, like beads.
//!
//! Deliberate divergences from beads (see `docs/mini-languages.md`):
//! * `{name}` is a node of the expression tree, not a textual substitution:
//!   with `n = "1+1"`, `2^{n}` is `2^(1+1) = 4` (beads: `2^1+1 = 3`).
//! * A variable's value is itself parsed as a variable-free expression
//!   (so `n = "2*3"` is allowed); a value that does not parse is an error
//!   naming the variable.
//! * Variables are available in production cooking (beads never passes them,
//!   so any `{name}` failed with `unexpected character '{'`).
//! * Non-finite and out-of-`i64` results are errors; the iteration count can
//!   be checked against a cap before expansion ([`RangeExpr::eval_capped`]).

use super::{char_span, found_at, from_pest, trim_with_offset, ExprError};
use pest::iterators::Pair;
use pest::Parser;
use std::ops::Range;

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/range.pest"]
struct RangeParser;

/// A sensible default cap for the number of iterations of a range loop.
pub const DEFAULT_MAX_ITERATIONS: u64 = 1000;

/// Longest accepted range expression, in bytes.
const MAX_LEN: usize = 512;
/// Deepest accepted nesting (parentheses, unary minus, `^` chains).
const MAX_NESTING: usize = 64;

/// A parsed `start..end` expression.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeExpr {
    pub start: Expr,
    pub end: Expr,
    /// Span of the whole trimmed expression in the input.
    pub span: Range<usize>,
}

/// One node of an arithmetic expression; `span` is its byte range in the
/// string given to [`parse_range`].
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Range<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Number(f64),
    /// `{name}`.
    Var(String),
    Neg(Box<Expr>),
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
}

/// Parse `start..end`.
pub fn parse_range(input: &str) -> Result<RangeExpr, ExprError> {
    let (offset, text) = trim_with_offset(input);
    if text.is_empty() {
        return Err(ExprError::new("empty range expression", 0..input.len())
            .with_help("write a range such as `1..10` or `1..{count}`"));
    }
    if text.len() > MAX_LEN {
        return Err(ExprError::new(
            format!(
                "range expression is too long ({} bytes, at most {MAX_LEN})",
                text.len()
            ),
            offset..offset + text.len(),
        ));
    }
    check_nesting(text).map_err(|e| e.shifted(offset))?;
    // beads: `^(.+)\.\.(.+)$` with a greedy first group: split at the last
    // `..` that leaves both sides non-empty.
    let split = (1..text.len().saturating_sub(2))
        .rev()
        .find(|&i| text.as_bytes()[i] == b'.' && text.as_bytes()[i + 1] == b'.');
    let Some(split) = split else {
        return Err(ExprError::new(
            format!("invalid range `{text}`: expected `start..end`"),
            offset..offset + text.len(),
        )
        .with_help("separate the first and last value with `..`, e.g. `1..10`"));
    };
    let start = parse_side(&text[..split], offset)?;
    let end = parse_side(&text[split + 2..], offset + split + 2)?;
    Ok(RangeExpr {
        start,
        end,
        span: offset..offset + text.len(),
    })
}

/// Parse one side of a range (or a variable's value). `offset` is where
/// `text` starts in the caller's string.
fn parse_side(text: &str, offset: usize) -> Result<Expr, ExprError> {
    let (inner, trimmed) = trim_with_offset(text);
    let offset = offset + inner;
    if trimmed.is_empty() {
        return Err(ExprError::new("missing value in range", offset..offset)
            .with_help("write a range such as `1..10`"));
    }
    let mut pairs = RangeParser::parse(Rule::side, trimmed).map_err(|e| {
        let mut err = from_pest(&e, trimmed, describe);
        let at = err.span.start;
        let c = trimmed[at..].chars().next();
        let after_brace = trimmed[..at].ends_with('{');
        err.help = Some(match c {
            _ if after_brace => {
                "variables are written `{name}` (letters, digits, `_`, no spaces)".into()
            }
            Some('{') => "variables are written `{name}` (letters, digits, `_`, no spaces)".into(),
            Some('+') => "there is no unary `+`; write `2+3`, not `2++3`".into(),
            None => "the expression ends too early".into(),
            Some(_) => "a range side may use numbers, `{var}`, `+ - * / ^` and parentheses".into(),
        });
        if let Some(c) = c {
            if !"0123456789.{}()+-*/^ \t\r\n\u{b}\u{c}".contains(c) {
                err.message = format!(
                    "unexpected character {} in expression",
                    found_at(trimmed, at)
                );
            }
        }
        err.shifted(offset)
    })?;
    let side = pairs.next().expect("grammar: side");
    let sum = side.into_inner().next().expect("grammar: side = sum EOI");
    build(sum, offset)
}

fn describe(rule: &Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::number => "a number",
        Rule::var => "`{name}`",
        Rule::name => "a variable name",
        Rule::primary | Rule::unary | Rule::power | Rule::product | Rule::sum => {
            "a number, `{name}` or `(`"
        }
        Rule::add_op | Rule::mul_op => "an operator",
        Rule::neg => "`-`",
        Rule::EOI => "end of expression",
        _ => return None,
    })
}

fn check_nesting(text: &str) -> Result<(), ExprError> {
    let mut depth = 0usize;
    let mut ops = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            '-' | '^' => ops += 1,
            _ => {}
        }
        if depth > MAX_NESTING || ops > MAX_NESTING {
            return Err(ExprError::new(
                format!("range expression is nested too deeply (at most {MAX_NESTING} levels)"),
                char_span(text, i),
            ));
        }
    }
    Ok(())
}

fn span_of(pair: &Pair<'_, Rule>, offset: usize) -> Range<usize> {
    let s = pair.as_span();
    s.start() + offset..s.end() + offset
}

fn build(pair: Pair<'_, Rule>, offset: usize) -> Result<Expr, ExprError> {
    let span = span_of(&pair, offset);
    match pair.as_rule() {
        Rule::sum | Rule::product => {
            let mut inner = pair.into_inner();
            let mut acc = build(inner.next().expect("grammar: operand"), offset)?;
            while let Some(op) = inner.next() {
                let rhs = build(
                    inner.next().expect("grammar: operand after operator"),
                    offset,
                )?;
                let op = match op.as_str() {
                    "+" => BinOp::Add,
                    "-" => BinOp::Sub,
                    "*" => BinOp::Mul,
                    _ => BinOp::Div,
                };
                let span = acc.span.start..rhs.span.end;
                acc = Expr {
                    kind: ExprKind::Binary {
                        op,
                        lhs: Box::new(acc),
                        rhs: Box::new(rhs),
                    },
                    span,
                };
            }
            Ok(acc)
        }
        Rule::power => {
            let mut inner = pair.into_inner();
            let base = build(inner.next().expect("grammar: power base"), offset)?;
            match inner.next() {
                None => Ok(base),
                Some(exp) => Ok(Expr {
                    kind: ExprKind::Binary {
                        op: BinOp::Pow,
                        lhs: Box::new(base),
                        rhs: Box::new(build(exp, offset)?),
                    },
                    span,
                }),
            }
        }
        Rule::unary => {
            let mut inner = pair.into_inner();
            let first = inner.next().expect("grammar: unary");
            if first.as_rule() == Rule::neg {
                let operand = build(inner.next().expect("grammar: neg operand"), offset)?;
                Ok(Expr {
                    kind: ExprKind::Neg(Box::new(operand)),
                    span,
                })
            } else {
                build(first, offset)
            }
        }
        Rule::primary => build(pair.into_inner().next().expect("grammar: primary"), offset),
        Rule::number => {
            let text = pair.as_str();
            match text.parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(Expr {
                    kind: ExprKind::Number(v),
                    span,
                }),
                Ok(_) => Err(ExprError::new(
                    format!("number `{text}` is too large"),
                    span,
                )),
                Err(_) => Err(
                    ExprError::new(format!("invalid number `{text}`"), span).with_help(
                        "numbers are digits with at most one `.`; separate a range with `..`",
                    ),
                ),
            }
        }
        Rule::var => {
            let name = pair
                .into_inner()
                .next()
                .expect("grammar: var name")
                .as_str();
            Ok(Expr {
                kind: ExprKind::Var(name.to_string()),
                span,
            })
        }
        other => unreachable!("range grammar produced unexpected rule {other:?}"),
    }
}

impl RangeExpr {
    /// Evaluate to an inclusive `(start, end)` pair.
    ///
    /// `vars` looks up `{name}` references; a value is parsed as a
    /// variable-free expression (`"10"`, `"2*3"`), evaluated on its own, so
    /// it behaves as if it were parenthesised.
    pub fn eval(&self, vars: &dyn Fn(&str) -> Option<String>) -> Result<(i64, i64), ExprError> {
        let start = to_int(self.start.eval(vars)?, &self.start.span)?;
        let end = to_int(self.end.eval(vars)?, &self.end.span)?;
        if end < start {
            return Err(ExprError::new(
                format!("range end ({end}) is less than start ({start})"),
                self.span.clone(),
            )
            .with_help("a range counts upwards: write the smaller value first"));
        }
        Ok((start, end))
    }

    /// Number of iterations (`end - start + 1`) the range will produce.
    /// Call this before expanding a loop so huge ranges are rejected early.
    pub fn iteration_count(&self, vars: &dyn Fn(&str) -> Option<String>) -> Result<u64, ExprError> {
        let (start, end) = self.eval(vars)?;
        Ok(iteration_count(start, end))
    }

    /// [`RangeExpr::eval`], then reject ranges with more than `max` iterations.
    pub fn eval_capped(
        &self,
        vars: &dyn Fn(&str) -> Option<String>,
        max: u64,
    ) -> Result<(i64, i64), ExprError> {
        let (start, end) = self.eval(vars)?;
        let count = iteration_count(start, end);
        if count > max {
            return Err(ExprError::new(
                format!(
                    "range {start}..{end} has {count} iterations, more than the limit of {max}"
                ),
                self.span.clone(),
            )
            .with_help("loops are expanded at compile time; use a smaller range"));
        }
        Ok((start, end))
    }

    /// Names of the `{name}` variables used, in order of first use.
    pub fn variables(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.start.collect_vars(&mut out);
        self.end.collect_vars(&mut out);
        out
    }
}

/// `end - start + 1` for an inclusive range (0 when `end < start`).
pub fn iteration_count(start: i64, end: i64) -> u64 {
    if end < start {
        0
    } else {
        (i128::from(end) - i128::from(start) + 1).min(i128::from(u64::MAX)) as u64
    }
}

fn to_int(v: f64, span: &Range<usize>) -> Result<i64, ExprError> {
    if !v.is_finite() {
        return Err(
            ExprError::new("range value is not a finite number", span.clone())
                .with_help("check for overflow (e.g. a huge power) or `0^-1`"),
        );
    }
    let t = v.trunc();
    // 2^63 is exactly representable; i64::MAX is not.
    if !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&t) {
        return Err(ExprError::new(
            format!("range value {t} does not fit in a 64-bit integer"),
            span.clone(),
        ));
    }
    Ok(t as i64)
}

impl Expr {
    /// Evaluate in `f64` (no truncation).
    pub fn eval(&self, vars: &dyn Fn(&str) -> Option<String>) -> Result<f64, ExprError> {
        let v = match &self.kind {
            ExprKind::Number(v) => *v,
            ExprKind::Var(name) => {
                let Some(value) = vars(name) else {
                    return Err(ExprError::new(
                        format!("unknown variable `{name}` in range"),
                        self.span.clone(),
                    )
                    .with_help(format!(
                        "declare `{name}` in [vars] or pass `--var {name}=<n>`"
                    )));
                };
                let parsed = parse_var_value(name, &value, &self.span)?;
                parsed.eval(&|_| None).map_err(|e| {
                    ExprError::new(
                        format!("variable `{name}` = `{value}`: {}", e.message),
                        self.span.clone(),
                    )
                })?
            }
            ExprKind::Neg(e) => -e.eval(vars)?,
            ExprKind::Binary { op, lhs, rhs } => {
                let a = lhs.eval(vars)?;
                let b = rhs.eval(vars)?;
                match op {
                    BinOp::Add => a + b,
                    BinOp::Sub => a - b,
                    BinOp::Mul => a * b,
                    BinOp::Div => {
                        if b == 0.0 {
                            return Err(ExprError::new("division by zero", rhs.span.clone()));
                        }
                        a / b
                    }
                    BinOp::Pow => a.powf(b),
                }
            }
        };
        if v.is_finite() {
            Ok(v)
        } else {
            Err(
                ExprError::new("range value is not a finite number", self.span.clone()).with_help(
                    "check for overflow (e.g. a huge power), `0^-1` or a root of a negative number",
                ),
            )
        }
    }

    fn collect_vars<'a>(&'a self, out: &mut Vec<&'a str>) {
        match &self.kind {
            ExprKind::Number(_) => {}
            ExprKind::Var(name) => {
                if !out.contains(&name.as_str()) {
                    out.push(name);
                }
            }
            ExprKind::Neg(e) => e.collect_vars(out),
            ExprKind::Binary { lhs, rhs, .. } => {
                lhs.collect_vars(out);
                rhs.collect_vars(out);
            }
        }
    }
}

/// Parse a variable's value as a variable-free expression.
fn parse_var_value(name: &str, value: &str, span: &Range<usize>) -> Result<Expr, ExprError> {
    let bad = |why: String| {
        ExprError::new(
            format!("variable `{name}` = `{value}` is not a number: {why}"),
            span.clone(),
        )
        .with_help(format!("pass a number, e.g. `--var {name}=10`"))
    };
    if value.len() > MAX_LEN {
        return Err(bad("value is too long".into()));
    }
    check_nesting(value).map_err(|e| bad(e.message))?;
    let expr = parse_side(value, 0).map_err(|e| bad(e.message))?;
    let mut vars = Vec::new();
    expr.collect_vars(&mut vars);
    if let Some(inner) = vars.first() {
        return Err(bad(format!("it refers to another variable `{{{inner}}}`")));
    }
    Ok(expr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn no_vars(_: &str) -> Option<String> {
        None
    }

    fn eval(s: &str) -> Result<(i64, i64), ExprError> {
        parse_range(s)?.eval(&no_vars)
    }

    fn eval_with(s: &str, vars: &[(&str, &str)]) -> Result<(i64, i64), ExprError> {
        let map: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse_range(s)?.eval(&|k| map.get(k).cloned())
    }

    /// Evaluate one side on its own (`x..x` trick keeps the public API).
    fn side(s: &str) -> f64 {
        parse_side(s, 0).unwrap().eval(&no_vars).unwrap()
    }

    fn err(s: &str) -> ExprError {
        match eval(s) {
            Err(e) => e,
            Ok(v) => panic!("{s:?} should fail, got {v:?}"),
        }
    }

    #[test]
    fn reference_examples_evaluate_to_documented_bounds() {
        assert_eq!(eval("1..10").unwrap(), (1, 10));
        assert_eq!(eval("5..5").unwrap(), (5, 5));
        assert_eq!(eval("1..2^3").unwrap(), (1, 8));
        assert_eq!(eval("2*2..3*3").unwrap(), (4, 9));
        assert_eq!(eval("1..2^3-1").unwrap(), (1, 7));
        assert_eq!(eval("-3..3").unwrap(), (-3, 3));
        assert_eq!(eval_with("1..{n}", &[("n", "10")]).unwrap(), (1, 10));
        assert_eq!(
            eval_with("{start}..{end}", &[("start", "5"), ("end", "15")]).unwrap(),
            (5, 15)
        );
    }

    #[test]
    fn reference_side_examples_evaluate() {
        assert_eq!(side("(2+3)*4"), 20.0);
        assert_eq!(side("((2+3)*(4+1))"), 25.0);
        assert_eq!(side("3*-2"), -6.0);
        assert_eq!(side("(-5)"), -5.0);
        assert_eq!(side("1-10"), -9.0);
        assert_eq!(side("1--1"), 2.0);
    }

    #[test]
    fn unary_minus_binds_tighter_than_power() {
        assert_eq!(side("-2^2"), 4.0);
        assert_eq!(side("2^-1"), 0.5);
    }

    #[test]
    fn power_is_right_associative() {
        assert_eq!(side("2^3^2"), 512.0);
    }

    #[test]
    fn division_is_real_and_truncated_at_the_end() {
        assert_eq!(side("7/2"), 3.5);
        assert_eq!(eval("1..7/2").unwrap(), (1, 3));
        assert_eq!(
            eval("1..2^-1").unwrap_err().message,
            "range end (0) is less than start (1)"
        );
        assert_eq!(eval("-7/2..0").unwrap(), (-3, 0)); // toward zero
    }

    #[test]
    fn three_dots_split_at_the_last_double_dot() {
        // edge case 7.5: `1...3` is `1.` | `3`
        assert_eq!(eval("1...3").unwrap(), (1, 3));
        assert_eq!(eval("1...5").unwrap(), (1, 5));
    }

    #[test]
    fn two_separators_report_an_invalid_number_on_the_left() {
        let e = err("1..2..3");
        assert_eq!(e.message, "invalid number `1..2`");
        assert_eq!(e.span, 0..4);
    }

    #[test]
    fn missing_separator_is_an_invalid_format() {
        let e = err("1 10");
        assert!(e.message.contains("expected `start..end`"), "{}", e.message);
        assert!(e.help.is_some());
        assert!(err("1..").message.contains("expected `start..end`"));
        assert!(err("..1").message.contains("expected `start..end`"));
    }

    #[test]
    fn empty_expression_is_an_error() {
        assert_eq!(err("").message, "empty range expression");
        assert_eq!(err("   ").message, "empty range expression");
    }

    #[test]
    fn letters_are_unexpected_characters_with_a_span() {
        let e = err("abc..10");
        assert_eq!(e.message, "unexpected character `a` in expression");
        assert_eq!(e.span, 0..1);
        let e = err("  1..1x");
        assert_eq!(e.span, 6..7);
    }

    #[test]
    fn division_by_zero_points_at_the_divisor() {
        let e = err("1..10/0");
        assert_eq!(e.message, "division by zero");
        assert_eq!(e.span, 6..7);
        assert_eq!(err("1..10/(1-1)").message, "division by zero");
    }

    #[test]
    fn reversed_range_is_an_error() {
        // edge case 7.5: `7..5` is an error
        assert_eq!(err("5..1").message, "range end (1) is less than start (5)");
        assert_eq!(err("7..5").message, "range end (5) is less than start (7)");
    }

    #[test]
    fn double_plus_is_rejected_at_parse_time() {
        // beads' validator only tokenizes, so `1..2++3` passed validation and
        // failed at expansion; we reject it when parsing.
        let e = parse_range("1..2++3").unwrap_err();
        assert_eq!(e.span, 5..6);
        assert!(e.help.unwrap().contains("unary `+`"));
    }

    #[test]
    fn variables_are_nodes_not_text() {
        // beads substitutes textually: n = "1+1" makes `2^{n}` = `2^1+1` = 3.
        // We evaluate the value on its own: 2^(1+1) = 4.
        assert_eq!(eval_with("1..2^{n}", &[("n", "1+1")]).unwrap(), (1, 4));
    }

    #[test]
    fn variables_work_with_declared_values() {
        // edge case 7.5: beads fails `1..2^{n}` at cook with `unexpected
        // character '{'` even when `n` has a default; we evaluate it.
        assert_eq!(
            eval_with("1..2^{disks}", &[("disks", "3")]).unwrap(),
            (1, 8)
        );
        assert_eq!(
            eval_with("{start}..{n}*2", &[("start", "2"), ("n", "4")]).unwrap(),
            (2, 8)
        );
    }

    #[test]
    fn unknown_variable_is_named_and_spanned() {
        let e = err("1..{n}");
        assert_eq!(e.message, "unknown variable `n` in range");
        assert_eq!(e.span, 3..6);
    }

    #[test]
    fn non_numeric_variable_value_is_an_error() {
        let e = eval_with("1..{n}", &[("n", "ten")]).unwrap_err();
        assert!(
            e.message
                .starts_with("variable `n` = `ten` is not a number"),
            "{}",
            e.message
        );
        assert_eq!(e.span, 3..6);
        let e = eval_with("1..{n}", &[("n", "{m}")]).unwrap_err();
        assert!(e.message.contains("another variable"), "{}", e.message);
        let e = eval_with("1..{n}", &[("n", "1/0")]).unwrap_err();
        assert!(e.message.contains("division by zero"), "{}", e.message);
    }

    #[test]
    fn spaces_inside_variable_braces_are_rejected_with_help() {
        let e = parse_range("1..{ n }").unwrap_err();
        assert_eq!(e.span, 4..5);
        assert!(e.help.unwrap().contains("`{name}`"));
    }

    #[test]
    fn non_finite_and_out_of_range_values_are_rejected() {
        assert!(err("1..10^400").message.contains("not a finite number"));
        assert!(err("1..0^-1").message.contains("not a finite number"));
        assert!(err("1..(0-8)^0.5").message.contains("not a finite number"));
        assert!(err("1..2^63").message.contains("does not fit"));
        assert_eq!(eval("1..2^62").unwrap(), (1, 1 << 62));
        assert_eq!(eval("-(2^63)..0").unwrap().0, i64::MIN);
    }

    #[test]
    fn iteration_count_is_available_before_expansion() {
        let r = parse_range("1..2^40").unwrap();
        assert_eq!(r.iteration_count(&no_vars).unwrap(), 1 << 40);
        let e = r.eval_capped(&no_vars, DEFAULT_MAX_ITERATIONS).unwrap_err();
        assert!(
            e.message.contains("more than the limit of 1000"),
            "{}",
            e.message
        );
        assert_eq!(
            parse_range("5..7")
                .unwrap()
                .eval_capped(&no_vars, 3)
                .unwrap(),
            (5, 7)
        );
        assert_eq!(iteration_count(i64::MIN, i64::MAX), u64::MAX);
        assert_eq!(iteration_count(3, 2), 0);
    }

    #[test]
    fn variables_are_listed_in_order() {
        let r = parse_range("{a}..{b}*{a}+{c}").unwrap();
        assert_eq!(r.variables(), vec!["a", "b", "c"]);
    }

    #[test]
    fn whitespace_is_allowed_around_tokens() {
        assert_eq!(eval("  1 .. 2 * ( 3 + 1 ) ").unwrap(), (1, 8));
        assert_eq!(eval("1.5..2.9").unwrap(), (1, 2));
    }

    #[test]
    fn deep_nesting_is_rejected_not_overflowed() {
        let deep = format!("1..{}1{}", "(".repeat(200), ")".repeat(200));
        assert!(err(&deep).message.contains("nested too deeply"));
        let long = format!("1..{}", "1+".repeat(400) + "1");
        assert!(err(&long).message.contains("too long"));
    }

    #[test]
    fn fuzzed_inputs_never_panic() {
        let seeds = [
            "1..10",
            "1..2^{n}",
            "{start}..{n}*2",
            "-3..3",
            "((2+3)*(4+1))..30",
            "1...3",
            "1..7/2",
            "2^-1..2^3^2",
        ];
        for input in super::super::fuzz::inputs(&seeds, 4000, 0x5eed_0001) {
            match parse_range(&input) {
                Ok(r) => {
                    let _ = r.eval(&|_| Some("2".into()));
                    let _ = r.eval(&|_| Some(input.clone()));
                    if let Err(e) = r.eval(&no_vars) {
                        super::super::fuzz::check_span(&input, &e);
                    }
                }
                Err(e) => super::super::fuzz::check_span(&input, &e),
            }
        }
    }
}
