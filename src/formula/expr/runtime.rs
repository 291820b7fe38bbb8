//! Runtime conditions (`loop.until`, `compose.gate[].condition`), §6.3.
//!
//! Parsed into a [`RuntimeCondition`] tree (serde: `{"kind": ...}` tagged,
//! JSON-friendly) that the runtime evaluates through [`RuntimeContext`].
//!
//! ```text
//! condition   := file.exists('path')
//!              | env.NAME op value
//!              | steps.STATUS op N                      (count of steps in STATUS)
//!              | SET(arg).all(condition) | SET(arg).any(condition)
//!              | SET(arg).count(condition) op N
//!              | [step-id.|step.]status (== | !=) STATUS
//!              | [step-id.|step.]output[.field...] op value
//! SET         := children | descendants | steps
//! op          := == | != | < | <= | > | >=
//! ```
//!
//! Deliberate divergences from beads (see `docs/mini-languages.md`):
//! * Only `== != < <= > >=` are operators; `=`, `===`, `=<` … are errors
//!   (beads accepted any run of `=!<>` and evaluated unknown ones as false).
//! * `count(pred) op N` counts the elements matching `pred` and compares the
//!   count with `N` (beads overwrote the predicate's value with `N`).
//! * Trailing text after a condition is an error (beads ignored it after an
//!   aggregate); `all(...)`/`any(...)` cannot be followed by a comparison.
//! * Strings must be closed with the quote they were opened with.
//! * `steps(x)` ranges over every step of the molecule, as in beads; the
//!   argument is ignored and draws a warning. Write `steps()`.
//! * Status values are bead statuses (`open`, `in_progress`, `hooked`,
//!   `blocked`, `deferred`, `pinned`, `closed`). The legacy `complete` maps
//!   to `closed` and `pending` to `open`, with a warning. `failed` is an error:
//!   beads has no failed status, so the condition could never hold.
//! * Unknown fields (anything but `status` and `output...`) are parse errors
//!   (beads failed only at evaluation); `status` only takes `==`/`!=`, and
//!   booleans only `==`/`!=` (beads treated `<` on booleans as `==`).
//! * Step ids may contain `-` and, in field paths, dots: the id is
//!   everything before the first `status`/`output` segment
//!   (`process.iter1.work.status`). beads split at the first dot.
//! * `all` over an empty set is **false**, as in beads (see [`Quantifier`]).
//! * A condition that is only a name (`no_response_1`, `tests-pass`) is a
//!   question for the gate's agent or a person to judge
//!   ([`RuntimeCondition::Judged`]); real Gas Town formulas write gates so.
//!   beads rejected it (`unrecognized condition format`).

use super::{closest, found_at, from_pest, ExprError};
use pest::iterators::Pair;
use pest::Parser;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeSet;
use std::fmt;
use std::ops::Range;

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/runtime.pest"]
struct RuntimeParser;

/// Longest accepted condition, in bytes.
const MAX_LEN: usize = 4096;
/// Deepest accepted nesting of aggregates / parentheses.
const MAX_NESTING: usize = 16;

/// A parsed runtime condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RuntimeCondition {
    /// `file.exists('path')`
    FileExists { path: String },
    /// `env.NAME op value`
    Env {
        var: String,
        op: CmpOp,
        value: Literal,
    },
    /// `[step.]status == closed`, `review.status != 'open'`
    Status {
        step: StepRef,
        op: CmpOp,
        status: Status,
    },
    /// `review.output.approved == true`; `path` is the dotted path after
    /// `output` (empty: the whole output).
    Output {
        step: StepRef,
        path: Vec<String>,
        op: CmpOp,
        value: Literal,
    },
    /// `steps.closed >= 3`: the number of steps of the molecule in `status`.
    StepCount { status: Status, op: CmpOp, n: u64 },
    /// A bare name such as `no_response_1`: nothing the runtime can
    /// observe, so the gate's agent or a person judges it.
    Judged { question: String },
    /// `children(x).all(pred)`, `descendants(x).any(pred)`,
    /// `children(x).count(pred) >= 2`. Inside `pred`, the current step is
    /// the element being tested.
    Aggregate {
        over: Over,
        quantifier: Quantifier,
        predicate: Box<RuntimeCondition>,
    },
}

/// Which step a field refers to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepRef {
    /// The step that owns the condition (`step.` or no prefix); inside an
    /// aggregate predicate, the element being tested.
    Current,
    /// A step id.
    Id(String),
}

/// The set an aggregate ranges over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "set", rename_all = "snake_case")]
pub enum Over {
    /// Direct children of `of`.
    Children { of: StepRef },
    /// Every step below `of`.
    Descendants { of: StepRef },
    /// Every step of the molecule (`steps()`).
    AllSteps,
}

/// What an aggregate computes.
///
/// `All` over an empty set is **false** (beads-compatible, and deliberate):
/// these conditions gate progress and are polled, and an empty set nearly
/// always means "the children have not been spawned yet". Opening a gate
/// early cannot be undone; waiting one more poll can. For vacuous truth write
/// `children(x).count(status != closed) == 0`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "fn", rename_all = "snake_case")]
pub enum Quantifier {
    All,
    Any,
    /// Count the matching elements and compare the count with `n`.
    Count {
        op: CmpOp,
        n: u64,
    },
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CmpOp {
    #[serde(rename = "==")]
    Eq,
    #[serde(rename = "!=")]
    Ne,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
}

impl CmpOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    fn parse(s: &str) -> Option<CmpOp> {
        Some(match s {
            "==" => CmpOp::Eq,
            "!=" => CmpOp::Ne,
            "<" => CmpOp::Lt,
            "<=" => CmpOp::Le,
            ">" => CmpOp::Gt,
            ">=" => CmpOp::Ge,
            _ => return None,
        })
    }

    fn is_equality(self) -> bool {
        matches!(self, CmpOp::Eq | CmpOp::Ne)
    }

    fn apply(self, ord: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            CmpOp::Eq => ord == Equal,
            CmpOp::Ne => ord != Equal,
            CmpOp::Lt => ord == Less,
            CmpOp::Le => ord != Greater,
            CmpOp::Gt => ord == Greater,
            CmpOp::Ge => ord != Less,
        }
    }
}

impl fmt::Display for CmpOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A bead status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Open,
    InProgress,
    Hooked,
    Blocked,
    Deferred,
    Pinned,
    Closed,
}

const STATUS_NAMES: &[&str] = &[
    "open",
    "in_progress",
    "hooked",
    "blocked",
    "deferred",
    "pinned",
    "closed",
];

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::InProgress => "in_progress",
            Status::Hooked => "hooked",
            Status::Blocked => "blocked",
            Status::Deferred => "deferred",
            Status::Pinned => "pinned",
            Status::Closed => "closed",
        }
    }

    /// A bead status name (no legacy names).
    pub fn from_name(s: &str) -> Option<Status> {
        Some(match s {
            "open" => Status::Open,
            "in_progress" => Status::InProgress,
            "hooked" => Status::Hooked,
            "blocked" => Status::Blocked,
            "deferred" => Status::Deferred,
            "pinned" => Status::Pinned,
            "closed" => Status::Closed,
            _ => return None,
        })
    }
}

/// A right-hand-side value. Bare `true`/`false` are booleans, bare numbers
/// are numbers; quoted values and other bare words are strings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum Literal {
    String(String),
    Number(f64),
    Bool(bool),
}

impl Literal {
    /// The text form used for textual comparisons.
    pub fn text(&self) -> String {
        match self {
            Literal::String(s) => s.clone(),
            Literal::Number(n) => n.to_string(),
            Literal::Bool(b) => b.to_string(),
        }
    }
}

/// The result of [`parse_runtime_condition`].
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedRuntime {
    pub condition: RuntimeCondition,
    /// Non-fatal notes (legacy status names, ignored `steps(x)` argument).
    pub warnings: Vec<ExprError>,
    /// Every step id the condition names, with its span, in source order.
    pub step_refs: Vec<(String, Range<usize>)>,
}

/// What a runtime condition can observe.
pub trait RuntimeContext {
    /// A step's bead status (`closed`, `open`, …); `None` if no such step.
    fn status(&self, step: &str) -> Option<String>;
    /// A value from a step's output; `path` is dotted (`errors.count`),
    /// empty for the whole output. `None` (or JSON null) when missing.
    fn output(&self, step: &str, path: &str) -> Option<Value>;
    fn children(&self, step: &str) -> Vec<String>;
    fn descendants(&self, step: &str) -> Vec<String>;
    fn all_steps(&self) -> Vec<String>;
    fn file_exists(&self, path: &str) -> bool;
    fn env(&self, key: &str) -> Option<String>;
    /// The step that owns the condition.
    fn current_step(&self) -> String;
}

/// Parse a runtime condition.
pub fn parse_runtime_condition(input: &str) -> Result<ParsedRuntime, ExprError> {
    if input.trim().is_empty() {
        return Err(ExprError::new("empty condition", 0..input.len()).with_help(
            "write e.g. `step.status == closed` or `children(step).all(status == closed)`",
        ));
    }
    if input.len() > MAX_LEN {
        return Err(ExprError::new(
            format!(
                "condition is too long ({} bytes, at most {MAX_LEN})",
                input.len()
            ),
            0..input.len(),
        ));
    }
    if let Some(question) = bare_name(input) {
        return Ok(ParsedRuntime {
            condition: RuntimeCondition::Judged {
                question: question.to_string(),
            },
            warnings: Vec::new(),
            step_refs: Vec::new(),
        });
    }
    prescan(input)?;
    let mut pairs = RuntimeParser::parse(Rule::condition, input).map_err(|e| {
        let mut err = from_pest(&e, input, describe);
        if err.help.is_none() {
            err.help = Some(
                "the forms are `<step>.status == <status>`, `<step>.output.<field> <op> <value>`, \
                 `children(<step>).all|any(<condition>)`, `children(<step>).count(<condition>) >= N`, \
                 `steps.<status> >= N`, `file.exists('<path>')` and `env.<NAME> <op> <value>`; \
                 a bare name (`tests_pass`) is a question for the gate's agent or a person"
                    .to_string(),
            );
        }
        err
    })?;
    let root = pairs.next().expect("grammar: condition");
    let expr = root
        .into_inner()
        .next()
        .expect("grammar: condition = expr EOI");
    let mut b = Builder::default();
    let condition = b.build(expr)?;
    Ok(ParsedRuntime {
        condition,
        warnings: b.warnings,
        step_refs: b.refs,
    })
}

/// A condition that is one name (letters, digits, `_`, `-`) and not the
/// start of a field comparison (`status`, `step`, `output`, `steps`).
fn bare_name(input: &str) -> Option<&str> {
    let name = input.trim();
    let mut chars = name.chars();
    let named = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let field = matches!(name, "status" | "step" | "steps" | "output");
    (named && !field).then_some(name)
}

/// Check quotes and nesting before parsing, for precise messages.
fn prescan(input: &str) -> Result<(), ExprError> {
    let mut depth = 0usize;
    let mut chars = input.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\'' | '"' => {
                let closed = chars.by_ref().any(|(_, d)| d == c);
                if !closed {
                    let other = if c == '\'' { '"' } else { '\'' };
                    let mismatched = input[i + 1..].contains(other);
                    let err = ExprError::new(
                        if mismatched {
                            "mismatched quotes: string is not closed with the quote it opened with"
                        } else {
                            "unterminated string"
                        },
                        i..input.len(),
                    );
                    return Err(err.with_help(format!("close the string with {c}")));
                }
            }
            '(' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(ExprError::new(
                        format!("condition is nested too deeply (at most {MAX_NESTING} levels)"),
                        i..i + 1,
                    ));
                }
            }
            ')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

fn describe(rule: &Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::op => "a comparison operator",
        Rule::string => "a quoted string",
        Rule::bare | Rule::value => "a value",
        Rule::agg_fn => "`all`, `any` or `count`",
        Rule::agg_arg => "a step id",
        Rule::path | Rule::segment | Rule::comparison => "a field such as `status`",
        Rule::file_exists | Rule::aggregate | Rule::agg_over => "a condition",
        Rule::EOI => "end of condition",
        _ => return None,
    })
}

fn pspan(pair: &Pair<'_, Rule>) -> Range<usize> {
    pair.as_span().start()..pair.as_span().end()
}

const FIELD_HELP: &str =
    "a condition can test `<step>.status` or `<step>.output.<field>` (`step` is the current step)";

#[derive(Default)]
struct Builder {
    warnings: Vec<ExprError>,
    refs: Vec<(String, Range<usize>)>,
}

impl Builder {
    fn build(&mut self, pair: Pair<'_, Rule>) -> Result<RuntimeCondition, ExprError> {
        match pair.as_rule() {
            Rule::file_exists => {
                let s = pair
                    .into_inner()
                    .next()
                    .expect("grammar: file.exists(string)");
                let span = pspan(&s);
                let path = string_text(s);
                if path.is_empty() {
                    return Err(ExprError::new("empty path in file.exists()", span));
                }
                Ok(RuntimeCondition::FileExists { path })
            }
            Rule::aggregate => self.aggregate(pair),
            Rule::comparison => self.comparison(pair),
            other => unreachable!("runtime grammar produced unexpected rule {other:?}"),
        }
    }

    fn aggregate(&mut self, pair: Pair<'_, Rule>) -> Result<RuntimeCondition, ExprError> {
        let mut over_name = "";
        let mut over_span = 0..0;
        let mut arg: Option<(String, Range<usize>)> = None;
        let mut func = ("", 0..0);
        let mut predicate = None;
        let mut op: Option<(String, Range<usize>)> = None;
        let mut value: Option<Pair<'_, Rule>> = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::agg_over => {
                    over_span = pspan(&p);
                    over_name = p.as_str();
                }
                Rule::agg_arg => arg = Some((p.as_str().to_string(), pspan(&p))),
                Rule::agg_fn => func = (p.as_str(), pspan(&p)),
                Rule::op => op = Some((p.as_str().to_string(), pspan(&p))),
                Rule::string | Rule::bare => value = Some(p),
                _ => predicate = Some(self.build(p)?),
            }
        }
        let predicate = Box::new(predicate.expect("grammar: aggregate predicate"));
        let step_ref = |b: &mut Builder, arg: Option<(String, Range<usize>)>| match arg {
            None => Err(ExprError::new(
                format!("`{over_name}()` needs a step id"),
                over_span.clone(),
            )
            .with_help(format!(
                "write `{over_name}(<step-id>)`, or `{over_name}(step)` for the current step"
            ))),
            Some((a, _)) if a == "step" => Ok(StepRef::Current),
            Some((a, span)) => {
                b.refs.push((a.clone(), span));
                Ok(StepRef::Id(a))
            }
        };
        let over = match over_name {
            "children" => Over::Children {
                of: step_ref(self, arg)?,
            },
            "descendants" => Over::Descendants {
                of: step_ref(self, arg)?,
            },
            _ => {
                if let Some((a, span)) = arg {
                    self.warnings.push(
                        ExprError::new(
                            format!("the argument of `steps({a})` is ignored: it ranges over every step"),
                            span,
                        )
                        .with_help("write `steps()`, or `descendants(<step>)` for the steps below one step"),
                    );
                }
                Over::AllSteps
            }
        };
        let quantifier = match (func.0, op) {
            ("count", Some((op, op_span))) => {
                let op = check_op(&op, op_span)?;
                let value = value.expect("grammar: op is followed by a value");
                Quantifier::Count {
                    op,
                    n: count_value(value)?,
                }
            }
            ("count", None) => {
                return Err(
                    ExprError::new("`count(...)` must be compared with a number", func.1)
                        .with_help("write e.g. `children(x).count(status == closed) >= 2`"),
                )
            }
            (f, Some((_, op_span))) => {
                return Err(ExprError::new(
                    format!("`{f}(...)` is already true or false and cannot be compared"),
                    op_span,
                )
                .with_help("remove the comparison, or use `count(...) >= N` to count matches"))
            }
            ("all", None) => Quantifier::All,
            _ => Quantifier::Any,
        };
        Ok(RuntimeCondition::Aggregate {
            over,
            quantifier,
            predicate,
        })
    }

    fn comparison(&mut self, pair: Pair<'_, Rule>) -> Result<RuntimeCondition, ExprError> {
        let mut inner = pair.into_inner();
        let path = inner.next().expect("grammar: comparison path");
        let op_pair = inner.next().expect("grammar: comparison op");
        let value = inner.next().expect("grammar: comparison value");
        let op = check_op(op_pair.as_str(), pspan(&op_pair))?;
        let path_span = pspan(&path);
        let segs: Vec<&str> = path.as_str().split('.').collect();
        // byte offset of segment i in the input
        let seg_start = |i: usize| -> usize {
            path_span.start + segs[..i].iter().map(|s| s.len() + 1).sum::<usize>()
        };

        if segs[0] == "env" {
            if segs.len() != 2
                || !segs[1]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(
                    ExprError::new("invalid environment variable reference", path_span)
                        .with_help("write `env.NAME` (letters, digits and `_`)"),
                );
            }
            return Ok(RuntimeCondition::Env {
                var: segs[1].to_string(),
                op,
                value: literal(value),
            });
        }
        if segs[0] == "steps" && segs.len() == 2 && value.as_rule() == Rule::bare {
            let status_span = seg_start(1)..path_span.end;
            let status = self.status(segs[1], status_span)?;
            return Ok(RuntimeCondition::StepCount {
                status,
                op,
                n: count_value(value)?,
            });
        }
        let Some(i) = segs.iter().position(|s| *s == "status" || *s == "output") else {
            let hint = closest(segs[segs.len() - 1], &["status", "output"]);
            let mut err = ExprError::new(format!("unknown field `{}`", path.as_str()), path_span);
            err.help = Some(match hint {
                Some(h) => format!("did you mean `{h}`? {FIELD_HELP}"),
                None => FIELD_HELP.to_string(),
            });
            return Err(err);
        };
        let step = if i == 0 || (i == 1 && segs[0] == "step") {
            StepRef::Current
        } else {
            let id = segs[..i].join(".");
            self.refs
                .push((id.clone(), path_span.start..path_span.start + id.len()));
            StepRef::Id(id)
        };
        if segs[i] == "status" {
            if i + 1 != segs.len() {
                return Err(
                    ExprError::new("`status` has no fields", seg_start(i)..path_span.end)
                        .with_help(FIELD_HELP),
                );
            }
            if !op.is_equality() {
                return Err(ExprError::new(
                    format!("statuses cannot be ordered with `{op}`"),
                    pspan(&op_pair),
                )
                .with_help("compare a status with `==` or `!=`"));
            }
            let vspan = pspan(&value);
            let text = value_text(value);
            let status = self.status(&text, vspan)?;
            return Ok(RuntimeCondition::Status { step, op, status });
        }
        let value_span = pspan(&value);
        let value = literal(value);
        if matches!(value, Literal::Bool(_)) && !op.is_equality() {
            return Err(ExprError::new(
                format!("booleans cannot be ordered with `{op}`"),
                pspan(&op_pair).start..value_span.end,
            )
            .with_help("compare a boolean with `==` or `!=`"));
        }
        Ok(RuntimeCondition::Output {
            step,
            path: segs[i + 1..].iter().map(|s| s.to_string()).collect(),
            op,
            value,
        })
    }

    /// A status name, mapping legacy names with a warning.
    fn status(&mut self, text: &str, span: Range<usize>) -> Result<Status, ExprError> {
        if let Some(s) = Status::from_name(text) {
            return Ok(s);
        }
        let legacy = match text {
            "complete" | "completed" => Some(Status::Closed),
            "pending" => Some(Status::Open),
            _ => None,
        };
        if let Some(s) = legacy {
            self.warnings.push(
                ExprError::new(
                    format!(
                        "`{text}` is a legacy status name; it means `{}`",
                        s.as_str()
                    ),
                    span,
                )
                .with_help(format!("write `{}`", s.as_str())),
            );
            return Ok(s);
        }
        let help = if text == "failed" {
            "beads has no `failed` status (a failed step is closed); test an output field such as \
             `output.ok == false` instead"
                .to_string()
        } else {
            let normalized = text.replace('-', "_").to_ascii_lowercase();
            match Status::from_name(&normalized)
                .map(Status::as_str)
                .or_else(|| closest(text, STATUS_NAMES))
            {
                Some(s) => format!(
                    "did you mean `{s}`? statuses are {}",
                    STATUS_NAMES.join(", ")
                ),
                None => format!("statuses are {}", STATUS_NAMES.join(", ")),
            }
        };
        Err(ExprError::new(format!("unknown status `{text}`"), span).with_help(help))
    }
}

fn check_op(op: &str, span: Range<usize>) -> Result<CmpOp, ExprError> {
    CmpOp::parse(op).ok_or_else(|| {
        let help = match op {
            "=" | "===" => "use `==` to test equality".to_string(),
            "!==" => "use `!=`".to_string(),
            "=<" => "use `<=`".to_string(),
            "=>" => "use `>=`".to_string(),
            "<>" => "use `!=`".to_string(),
            _ => "operators are ==, !=, <, <=, > and >=".to_string(),
        };
        // beads accepted any run of `=!<>` and evaluated it as false
        ExprError::new(format!("unknown operator `{op}`"), span).with_help(help)
    })
}

fn string_text(pair: Pair<'_, Rule>) -> String {
    pair.into_inner()
        .next()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default()
}

/// The text of a value (quotes removed).
fn value_text(pair: Pair<'_, Rule>) -> String {
    match pair.as_rule() {
        Rule::string => string_text(pair),
        _ => pair.as_str().to_string(),
    }
}

fn literal(pair: Pair<'_, Rule>) -> Literal {
    if pair.as_rule() == Rule::string {
        return Literal::String(string_text(pair));
    }
    let text = pair.as_str();
    match text {
        "true" => Literal::Bool(true),
        "false" => Literal::Bool(false),
        _ => match text.parse::<f64>() {
            Ok(n)
                if n.is_finite() && text.starts_with(|c: char| c.is_ascii_digit() || c == '-') =>
            {
                Literal::Number(n)
            }
            _ => Literal::String(text.to_string()),
        },
    }
}

fn count_value(pair: Pair<'_, Rule>) -> Result<u64, ExprError> {
    let span = pspan(&pair);
    let text = pair.as_str();
    if pair.as_rule() == Rule::bare && text.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(n) = text.parse::<u64>() {
            return Ok(n);
        }
    }
    Err(ExprError::new(
        format!("expected a whole number, found {}", found_value(text)),
        span,
    )
    .with_help("counts are compared with a non-negative whole number, e.g. `>= 2`"))
}

fn found_value(text: &str) -> String {
    if text.is_empty() {
        found_at(text, 0)
    } else {
        format!("`{text}`")
    }
}

fn eval_error(message: String) -> ExprError {
    ExprError::new(message, 0..0)
}

impl RuntimeCondition {
    /// A question for an agent or a person (see [`RuntimeCondition::Judged`]).
    pub fn is_judged(&self) -> bool {
        matches!(self, RuntimeCondition::Judged { .. })
    }

    /// Evaluate against the runtime. Errors (unknown step, ordering a
    /// boolean, …) carry an empty span: the tree has no source positions.
    pub fn eval(&self, ctx: &dyn RuntimeContext) -> Result<bool, ExprError> {
        self.eval_at(ctx, &ctx.current_step())
    }

    fn eval_at(&self, ctx: &dyn RuntimeContext, current: &str) -> Result<bool, ExprError> {
        let resolve = |r: &StepRef| match r {
            StepRef::Current => current.to_string(),
            StepRef::Id(id) => id.clone(),
        };
        match self {
            RuntimeCondition::FileExists { path } => Ok(ctx.file_exists(path)),
            RuntimeCondition::Judged { question } => Err(eval_error(format!(
                "`{question}` is judged by the gate's agent or a person, not evaluated"
            ))),
            RuntimeCondition::Env { var, op, value } => {
                compare(ctx.env(var).map(Value::String).as_ref(), *op, value)
                    .map_err(|e| eval_error(format!("env.{var}: {e}")))
            }
            RuntimeCondition::Status { step, op, status } => {
                let id = resolve(step);
                let actual = ctx
                    .status(&id)
                    .ok_or_else(|| eval_error(format!("unknown step `{id}`")))?;
                let equal = actual == status.as_str();
                Ok(if *op == CmpOp::Ne { !equal } else { equal })
            }
            RuntimeCondition::Output {
                step,
                path,
                op,
                value,
            } => {
                let id = resolve(step);
                let actual = ctx.output(&id, &path.join("."));
                compare(actual.as_ref(), *op, value).map_err(|e| {
                    let mut field = format!("{id}.output");
                    for p in path {
                        field.push('.');
                        field.push_str(p);
                    }
                    eval_error(format!("{field}: {e}"))
                })
            }
            RuntimeCondition::StepCount { status, op, n } => {
                let count = ctx
                    .all_steps()
                    .iter()
                    .filter(|s| ctx.status(s).as_deref() == Some(status.as_str()))
                    .count() as u64;
                Ok(op.apply(count.cmp(n)))
            }
            RuntimeCondition::Aggregate {
                over,
                quantifier,
                predicate,
            } => {
                let set = match over {
                    Over::Children { of } => ctx.children(&resolve(of)),
                    Over::Descendants { of } => ctx.descendants(&resolve(of)),
                    Over::AllSteps => ctx.all_steps(),
                };
                match quantifier {
                    Quantifier::All => {
                        if set.is_empty() {
                            return Ok(false);
                        }
                        for s in &set {
                            if !predicate.eval_at(ctx, s)? {
                                return Ok(false);
                            }
                        }
                        Ok(true)
                    }
                    Quantifier::Any => {
                        for s in &set {
                            if predicate.eval_at(ctx, s)? {
                                return Ok(true);
                            }
                        }
                        Ok(false)
                    }
                    Quantifier::Count { op, n } => {
                        let mut count = 0u64;
                        for s in &set {
                            if predicate.eval_at(ctx, s)? {
                                count += 1;
                            }
                        }
                        Ok(op.apply(count.cmp(n)))
                    }
                }
            }
        }
    }

    /// Every step id named by the condition (not `step`/current).
    pub fn referenced_steps(&self) -> BTreeSet<&str> {
        let mut out = BTreeSet::new();
        self.collect_refs(&mut out);
        out
    }

    fn collect_refs<'a>(&'a self, out: &mut BTreeSet<&'a str>) {
        let mut add = |r: &'a StepRef| {
            if let StepRef::Id(id) = r {
                out.insert(id.as_str());
            }
        };
        match self {
            RuntimeCondition::Status { step, .. } | RuntimeCondition::Output { step, .. } => {
                add(step)
            }
            RuntimeCondition::Aggregate {
                over, predicate, ..
            } => {
                match over {
                    Over::Children { of } | Over::Descendants { of } => add(of),
                    Over::AllSteps => {}
                }
                predicate.collect_refs(out);
            }
            _ => {}
        }
    }
}

/// Compare an observed value with a literal. Missing (or null) values:
/// `==` holds iff the literal is empty text, `!=` iff it is not, ordering
/// never holds (beads semantics).
fn compare(actual: Option<&Value>, op: CmpOp, expected: &Literal) -> Result<bool, String> {
    let expected_text = expected.text();
    let expected_num = match expected {
        Literal::Number(n) => Some(*n),
        Literal::String(s) => s.trim().parse::<f64>().ok().filter(|n| n.is_finite()),
        Literal::Bool(_) => None,
    };
    let actual = match actual {
        None | Some(Value::Null) => {
            return Ok(match op {
                CmpOp::Eq => expected_text.is_empty(),
                CmpOp::Ne => !expected_text.is_empty(),
                _ => false,
            })
        }
        Some(v) => v,
    };
    match actual {
        Value::Bool(b) => {
            if !op.is_equality() {
                return Err(format!("a boolean cannot be ordered with `{op}`"));
            }
            let equal = b.to_string() == expected_text;
            Ok(if op == CmpOp::Eq { equal } else { !equal })
        }
        Value::Number(n) => {
            let a = n.as_f64().unwrap_or(f64::NAN);
            match expected_num {
                Some(e) => Ok(op.apply(a.total_cmp(&e))),
                None if op.is_equality() => {
                    let equal = n.to_string() == expected_text;
                    Ok(if op == CmpOp::Eq { equal } else { !equal })
                }
                None => Err(format!(
                    "cannot order the number {n} against the non-number `{expected_text}`"
                )),
            }
        }
        Value::String(s) => {
            let a_num = s.trim().parse::<f64>().ok().filter(|n| n.is_finite());
            match (a_num, expected_num) {
                (Some(a), Some(e)) => Ok(op.apply(a.total_cmp(&e))),
                _ => Ok(op.apply(s.as_str().cmp(expected_text.as_str()))),
            }
        }
        other => {
            if !op.is_equality() {
                return Err(format!("a list or object cannot be ordered with `{op}`"));
            }
            let equal = serde_json::to_string(other).is_ok_and(|t| t == expected_text);
            Ok(if op == CmpOp::Eq { equal } else { !equal })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn parse(s: &str) -> RuntimeCondition {
        match parse_runtime_condition(s) {
            Ok(p) => p.condition,
            Err(e) => panic!("{s:?}: {e} {:?}", e.help),
        }
    }

    fn err(s: &str) -> ExprError {
        match parse_runtime_condition(s) {
            Err(e) => e,
            Ok(p) => panic!("{s:?} should fail, got {:?}", p.condition),
        }
    }

    fn id(s: &str) -> StepRef {
        StepRef::Id(s.to_string())
    }

    #[derive(Default)]
    struct Ctx {
        status: BTreeMap<String, String>,
        outputs: BTreeMap<String, Value>,
        children: BTreeMap<String, Vec<String>>,
        files: Vec<String>,
        env: BTreeMap<String, String>,
        current: String,
    }

    impl Ctx {
        fn step(mut self, id: &str, status: &str) -> Self {
            self.status.insert(id.into(), status.into());
            self
        }
        fn child(mut self, parent: &str, id: &str, status: &str) -> Self {
            self.children
                .entry(parent.into())
                .or_default()
                .push(id.into());
            self.step(id, status)
        }
        fn out(mut self, id: &str, v: Value) -> Self {
            self.outputs.insert(id.into(), v);
            self
        }
    }

    impl RuntimeContext for Ctx {
        fn status(&self, step: &str) -> Option<String> {
            self.status.get(step).cloned()
        }
        fn output(&self, step: &str, path: &str) -> Option<Value> {
            let mut v = self.outputs.get(step)?;
            if !path.is_empty() {
                for p in path.split('.') {
                    v = v.get(p)?;
                }
            }
            Some(v.clone())
        }
        fn children(&self, step: &str) -> Vec<String> {
            self.children.get(step).cloned().unwrap_or_default()
        }
        fn descendants(&self, step: &str) -> Vec<String> {
            let mut out = Vec::new();
            for c in self.children(step) {
                out.push(c.clone());
                out.extend(self.descendants(&c));
            }
            out
        }
        fn all_steps(&self) -> Vec<String> {
            self.status.keys().cloned().collect()
        }
        fn file_exists(&self, p: &str) -> bool {
            self.files.iter().any(|f| f == p)
        }
        fn env(&self, k: &str) -> Option<String> {
            self.env.get(k).cloned()
        }
        fn current_step(&self) -> String {
            self.current.clone()
        }
    }

    fn holds(cond: &str, ctx: &Ctx) -> bool {
        parse(cond).eval(ctx).unwrap()
    }

    #[test]
    fn reference_examples_parse_into_trees() {
        assert_eq!(
            parse("step.status == 'closed'"),
            RuntimeCondition::Status {
                step: StepRef::Current,
                op: CmpOp::Eq,
                status: Status::Closed
            }
        );
        assert_eq!(
            parse("review.output.approved == true"),
            RuntimeCondition::Output {
                step: id("review"),
                path: vec!["approved".into()],
                op: CmpOp::Eq,
                value: Literal::Bool(true)
            }
        );
        assert_eq!(
            parse("test.output.errors.count == 0"),
            RuntimeCondition::Output {
                step: id("test"),
                path: vec!["errors".into(), "count".into()],
                op: CmpOp::Eq,
                value: Literal::Number(0.0)
            }
        );
        assert_eq!(
            parse("output.ok != false"),
            RuntimeCondition::Output {
                step: StepRef::Current,
                path: vec!["ok".into()],
                op: CmpOp::Ne,
                value: Literal::Bool(false)
            }
        );
        assert_eq!(
            parse("file.exists('go.mod')"),
            RuntimeCondition::FileExists {
                path: "go.mod".into()
            }
        );
        assert_eq!(
            parse("file.exists(\"package.json\")"),
            RuntimeCondition::FileExists {
                path: "package.json".into()
            }
        );
        assert_eq!(
            parse("env.CI == 'true'"),
            RuntimeCondition::Env {
                var: "CI".into(),
                op: CmpOp::Eq,
                value: Literal::String("true".into())
            }
        );
        assert_eq!(
            parse("steps.closed >= 3"),
            RuntimeCondition::StepCount {
                status: Status::Closed,
                op: CmpOp::Ge,
                n: 3
            }
        );
        assert_eq!(
            parse("children(step).all(status == 'closed')"),
            RuntimeCondition::Aggregate {
                over: Over::Children {
                    of: StepRef::Current
                },
                quantifier: Quantifier::All,
                predicate: Box::new(RuntimeCondition::Status {
                    step: StepRef::Current,
                    op: CmpOp::Eq,
                    status: Status::Closed
                })
            }
        );
        assert!(matches!(
            parse("descendants(build).all(status == closed)"),
            RuntimeCondition::Aggregate {
                over: Over::Descendants { .. },
                quantifier: Quantifier::All,
                ..
            }
        ));
    }

    #[test]
    fn legacy_statuses_map_with_warnings() {
        // reference examples use `complete`; bead statuses are `closed`
        for (cond, status) in [
            ("step.status == 'complete'", Status::Closed),
            ("review.status == 'complete'", Status::Closed),
            ("status == pending", Status::Open),
        ] {
            let p = parse_runtime_condition(cond).unwrap();
            assert_eq!(p.warnings.len(), 1, "{cond}");
            assert!(p.warnings[0].message.contains("legacy status"));
            match p.condition {
                RuntimeCondition::Status { status: s, .. } => assert_eq!(s, status),
                other => panic!("{other:?}"),
            }
        }
        let p = parse_runtime_condition("steps.complete >= 3").unwrap();
        assert_eq!(p.warnings[0].span, 6..14);
        let p = parse_runtime_condition("children(step).all(status == 'complete')").unwrap();
        assert_eq!(p.warnings[0].span, 29..39);
    }

    #[test]
    fn failed_status_is_an_error() {
        // reference example `children(review).any(status == 'failed')`: beads
        // accepted it but no bead is ever `failed`, so it could never hold.
        let e = err("children(review).any(status == 'failed')");
        assert_eq!(e.message, "unknown status `failed`");
        assert_eq!(e.span, 31..39);
        assert!(e.help.unwrap().contains("no `failed` status"));
    }

    #[test]
    fn unknown_statuses_get_suggestions() {
        let e = err("status == in-progress");
        assert!(e.help.unwrap().contains("did you mean `in_progress`"));
        let e = err("status == 'clsoed'");
        assert!(e.help.clone().unwrap().contains("`closed`"), "{e:?}");
    }

    #[test]
    fn unknown_operators_are_rejected() {
        // edge cases 7.6 and 7.14: beads accepted `=` and `===` and evaluated
        // them as always false.
        let e = err("status = 'x'");
        assert_eq!(e.message, "unknown operator `=`");
        assert_eq!(e.span, 7..8);
        let e = err("step.status === 'closed'");
        assert_eq!(e.message, "unknown operator `===`");
        assert_eq!(e.span, 12..15);
        assert!(err("a.output.x <> 1").help.unwrap().contains("`!=`"));
        assert!(err("a.output.x =< 1").help.unwrap().contains("`<=`"));
    }

    #[test]
    fn missing_value_is_rejected() {
        // edge case 7.14: beads parsed `a ==` as op `=`, value `=`.
        let e = err("a.status ==");
        assert!(
            e.message.starts_with("unexpected end of input"),
            "{}",
            e.message
        );
        assert_eq!(e.span, 11..11);
    }

    #[test]
    fn count_predicate_is_kept() {
        // edge case 7.14 / weakness 19: beads lost the predicate and counted
        // steps whose status equals "2".
        let c = parse("children(x).count(status == 'closed') >= 2");
        assert_eq!(
            c,
            RuntimeCondition::Aggregate {
                over: Over::Children { of: id("x") },
                quantifier: Quantifier::Count {
                    op: CmpOp::Ge,
                    n: 2
                },
                predicate: Box::new(RuntimeCondition::Status {
                    step: StepRef::Current,
                    op: CmpOp::Eq,
                    status: Status::Closed
                })
            }
        );
        let ctx = Ctx::default()
            .child("x", "a", "closed")
            .child("x", "b", "open")
            .child("x", "c", "closed");
        assert!(c.eval(&ctx).unwrap());
        assert!(!holds("children(x).count(status == 'closed') >= 3", &ctx));
        assert!(holds("children(x).count(status == open) == 1", &ctx));
    }

    #[test]
    fn count_requires_a_whole_number_comparison() {
        let e = err("children(x).count(status == closed)");
        assert!(e.message.contains("must be compared"));
        assert_eq!(e.span, 12..17);
        let e = err("children(x).count(status == closed) >= two");
        assert!(e.message.contains("whole number"), "{}", e.message);
        assert!(err("children(x).count(status == closed) >= '2'")
            .message
            .contains("whole number"));
        assert!(err("children(x).count(status == closed) >= -1")
            .message
            .contains("whole number"));
    }

    #[test]
    fn all_and_any_cannot_be_compared() {
        let e = err("children(x).all(status == closed) == 2");
        assert!(e.message.contains("cannot be compared"));
        assert_eq!(e.span, 34..36);
    }

    #[test]
    fn a_bare_name_is_a_question_for_an_agent_or_a_person() {
        for name in ["no_response_1", "alive_detected", " tests-pass ", "_x"] {
            assert_eq!(
                parse(name),
                RuntimeCondition::Judged {
                    question: name.trim().to_string()
                }
            );
            assert!(parse(name).is_judged());
        }
        // Half-written comparisons and prose stay errors.
        for bad in [
            "status",
            "step",
            "output",
            "steps",
            "step.status",
            "a b",
            "1x",
            "x!",
        ] {
            let _ = err(bad);
        }
        let e = err("children(x).all(tests_pass)");
        assert!(!e.message.is_empty());
        let ctx = Ctx::default();
        assert!(parse("tests_pass").eval(&ctx).is_err());
    }

    #[test]
    fn trailing_garbage_is_rejected() {
        // edge case 7.14: beads ignored the trailer
        let e = err("children(x).all(status == 'a') junk");
        assert_eq!(e.span, 31..32);
        assert!(e.message.starts_with("unexpected `j`"), "{}", e.message);
        assert_eq!(err("step.status == closed junk").span, 22..23);
        assert_eq!(err("file.exists('a') x").span, 17..18);
    }

    #[test]
    fn mismatched_quotes_are_rejected() {
        // edge case 7.14: beads accepted `file.exists('a")`
        let e = err("file.exists('a\")");
        assert!(e.message.starts_with("mismatched quotes"), "{}", e.message);
        assert_eq!(e.span.start, 12);
        assert_eq!(err("env.X == 'abc").message, "unterminated string");
    }

    #[test]
    fn steps_argument_is_ignored_with_a_warning() {
        let p = parse_runtime_condition("steps(x).all(status == closed)").unwrap();
        assert_eq!(p.warnings.len(), 1);
        assert_eq!(p.warnings[0].span, 6..7);
        assert!(matches!(
            p.condition,
            RuntimeCondition::Aggregate {
                over: Over::AllSteps,
                ..
            }
        ));
        assert!(p.step_refs.is_empty());
        let p = parse_runtime_condition("steps().any(status == open)").unwrap();
        assert!(p.warnings.is_empty());
        assert!(err("children().all(status == open)")
            .message
            .contains("needs a step id"));
    }

    #[test]
    fn unknown_fields_are_rejected_at_parse_time() {
        // beads failed only at evaluation (`unknown field`)
        let e = err("review.title == x");
        assert_eq!(e.message, "unknown field `review.title`");
        assert_eq!(e.span, 0..12);
        assert!(err("review.stat == closed")
            .help
            .unwrap()
            .contains("did you mean `status`"));
        assert!(err("review.status.x == closed")
            .message
            .contains("no fields"));
    }

    #[test]
    fn status_and_booleans_only_take_equality() {
        assert!(err("status < closed").message.contains("cannot be ordered"));
        // beads treated `<` on booleans as `==`
        let e = err("output.ok > true");
        assert!(e.message.contains("booleans cannot be ordered"));
    }

    #[test]
    fn dotted_and_dashed_step_ids_are_supported() {
        let p = parse_runtime_condition("process.iter1.work.status == closed").unwrap();
        assert_eq!(p.step_refs, vec![("process.iter1.work".to_string(), 0..18)]);
        let p = parse_runtime_condition("await-ci.output.ok == true").unwrap();
        assert_eq!(p.step_refs, vec![("await-ci".to_string(), 0..8)]);
        let p = parse_runtime_condition("children(gate-x).all(status == closed)").unwrap();
        assert_eq!(p.step_refs, vec![("gate-x".to_string(), 9..15)]);
    }

    #[test]
    fn referenced_steps_exclude_the_current_step() {
        let c = parse("children(a).all(b.status == closed)");
        assert_eq!(
            c.referenced_steps().into_iter().collect::<Vec<_>>(),
            vec!["a", "b"]
        );
        assert!(parse("step.status == closed").referenced_steps().is_empty());
        assert!(parse("steps.closed > 0").referenced_steps().is_empty());
    }

    #[test]
    fn empty_condition_is_an_error() {
        assert_eq!(err("").message, "empty condition");
        assert_eq!(err("  ").message, "empty condition");
    }

    #[test]
    fn whitespace_is_flexible_around_tokens() {
        assert_eq!(
            parse("step.status==closed"),
            parse("  step.status   ==   'closed' ")
        );
        assert_eq!(
            parse("children( x ).all( status == closed )"),
            parse("children(x).all(status == closed)")
        );
    }

    #[test]
    fn serializes_to_tagged_json_and_back() {
        let c = parse("children(x).count(review.output.score >= 4.5) >= 2");
        let j = serde_json::to_value(&c).unwrap();
        assert_eq!(
            j,
            json!({
                "kind": "aggregate",
                "over": {"set": "children", "of": {"id": "x"}},
                "quantifier": {"fn": "count", "op": ">=", "n": 2},
                "predicate": {
                    "kind": "output",
                    "step": {"id": "review"},
                    "path": ["score"],
                    "op": ">=",
                    "value": {"type": "number", "value": 4.5}
                }
            })
        );
        let back: RuntimeCondition = serde_json::from_value(j).unwrap();
        assert_eq!(back, c);
        let s = serde_json::to_value(parse("status == closed")).unwrap();
        assert_eq!(
            s,
            json!({"kind": "status", "step": "current", "op": "==", "status": "closed"})
        );
    }

    #[test]
    fn eval_status_and_outputs() {
        let ctx = Ctx {
            current: "me".into(),
            ..Ctx::default()
        }
        .step("me", "closed")
        .step("review", "open")
        .out(
            "review",
            json!({"approved": true, "errors": {"count": 0}, "score": "7", "name": "bob"}),
        );
        assert!(holds("step.status == closed", &ctx));
        assert!(holds("status != open", &ctx));
        assert!(holds("review.status == open", &ctx));
        assert!(holds("review.output.approved == true", &ctx));
        assert!(!holds("review.output.approved != true", &ctx));
        assert!(holds("review.output.errors.count == 0", &ctx));
        assert!(holds("review.output.errors.count < 1", &ctx));
        assert!(holds("review.output.score >= 7", &ctx));
        assert!(holds("review.output.score < 10", &ctx)); // numeric, not "7" < "10" text
        assert!(holds("review.output.name == 'bob'", &ctx));
        assert!(holds("review.output.name > alice", &ctx)); // lexicographic
                                                            // missing values: == '' holds, != x holds, ordering never holds
        assert!(holds("review.output.missing == ''", &ctx));
        assert!(holds("review.output.missing != x", &ctx));
        assert!(!holds("review.output.missing > 1", &ctx));
        let e = parse("nope.status == closed").eval(&ctx).unwrap_err();
        assert_eq!(e.message, "unknown step `nope`");
    }

    #[test]
    fn eval_ordering_a_boolean_output_is_an_error() {
        let ctx = Ctx::default()
            .step("r", "open")
            .out("r", json!({"n": true}));
        let e = parse("r.output.n >= 1").eval(&ctx).unwrap_err();
        assert!(
            e.message.contains("boolean cannot be ordered"),
            "{}",
            e.message
        );
    }

    #[test]
    fn eval_aggregates_use_the_element_as_current_step() {
        let ctx = Ctx {
            current: "top".into(),
            ..Ctx::default()
        }
        .step("top", "open")
        .child("top", "a", "closed")
        .child("top", "b", "closed")
        .child("a", "a1", "open")
        .out("b", json!({"ok": true}));
        assert!(holds("children(step).all(status == closed)", &ctx));
        assert!(!holds("descendants(step).all(status == closed)", &ctx));
        assert!(holds("descendants(top).any(status == open)", &ctx));
        assert!(holds("children(top).any(output.ok == true)", &ctx));
        assert!(holds("children(top).count(output.ok == true) == 1", &ctx));
        assert!(holds(
            "children(step).any(children(step).any(status == open))",
            &ctx
        ));
        assert!(holds("steps.closed == 2", &ctx));
        assert!(holds("steps().count(status == open) == 2", &ctx));
    }

    #[test]
    fn eval_all_over_an_empty_set_is_false() {
        // beads-compatible and deliberate: see `Quantifier`
        let ctx = Ctx::default().step("x", "open");
        assert!(!holds("children(x).all(status == closed)", &ctx));
        assert!(!holds("children(x).any(status == closed)", &ctx));
        assert!(holds("children(x).count(status != closed) == 0", &ctx));
    }

    #[test]
    fn eval_files_and_env() {
        let mut ctx = Ctx::default();
        ctx.files.push("go.mod".into());
        ctx.env.insert("CI".into(), "true".into());
        ctx.env.insert("N".into(), "12".into());
        assert!(holds("file.exists('go.mod')", &ctx));
        assert!(!holds("file.exists(\"package.json\")", &ctx));
        assert!(holds("env.CI == 'true'", &ctx));
        assert!(holds("env.CI == true", &ctx));
        assert!(holds("env.N > 9", &ctx));
        assert!(holds("env.MISSING == ''", &ctx));
        assert!(!holds("env.MISSING == x", &ctx));
    }

    #[test]
    fn deep_nesting_is_rejected() {
        let mut s = "status == closed".to_string();
        for _ in 0..20 {
            s = format!("children(step).all({s})");
        }
        assert!(err(&s).message.contains("nested too deeply"));
    }

    #[test]
    fn fuzzed_inputs_never_panic() {
        let seeds = [
            "step.status == 'closed'",
            "review.output.approved == true",
            "children(x).all(status == 'closed')",
            "children(x).count(status == 'closed') >= 2",
            "descendants(x).any(output.ok != false)",
            "steps.closed >= 3",
            "file.exists('go.mod')",
            "env.CI == 'true'",
            "steps(x).count(status == open) < 1",
        ];
        let ctx = Ctx {
            current: "x".into(),
            ..Ctx::default()
        }
        .child("x", "a", "closed")
        .out("a", json!({"ok": 1}));
        for input in super::super::fuzz::inputs(&seeds, 4000, 0x5eed_0003) {
            match parse_runtime_condition(&input) {
                Ok(p) => {
                    let _ = p.condition.eval(&ctx);
                    for w in &p.warnings {
                        super::super::fuzz::check_span(&input, w);
                    }
                    for (_, s) in &p.step_refs {
                        assert!(s.end <= input.len());
                    }
                    let j = serde_json::to_string(&p.condition).unwrap();
                    let back: RuntimeCondition = serde_json::from_str(&j).unwrap();
                    assert_eq!(back, p.condition);
                }
                Err(e) => super::super::fuzz::check_span(&input, &e),
            }
        }
    }
}
