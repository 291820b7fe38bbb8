//! Var checks: declarations against uses, and each var's own rules.

use crate::formula::ast::{Formula, Step, VarDef, VAR_TYPES};
use crate::formula::codes::Code;
use crate::formula::diag::Diagnostic;
use crate::formula::source::Span;
use crate::formula::vars::{anchored_regex, placeholder_spans};
use std::collections::HashSet;

/// Names that template prose uses as keywords (`{{else}}`, `{{this}}`);
/// never vars.
const TEMPLATE_KEYWORDS: &[&str] = &[
    "else", "this", "root", "index", "key", "first", "last", "end", "range", "with", "block",
    "define", "template", "nil",
];

/// Every `{{name}}` use in the formula's text, with the span of the
/// placeholder inside its string.
pub(crate) fn var_uses(f: &Formula) -> Vec<(String, Span)> {
    let mut out = Vec::new();
    let mut scan = |s: &crate::formula::ast::SpStr| {
        for (range, name) in placeholder_spans(&s.value) {
            out.push((name, super::inner_span(s, range)));
        }
    };
    if let Some(d) = &f.description {
        scan(d);
    }
    super::visit_steps(f, &mut |s: &Step| {
        for field in [
            &s.title,
            &s.description,
            &s.notes,
            &s.assignee,
            &s.acceptance,
            &s.run,
            &s.condition,
        ]
        .into_iter()
        .flatten()
        {
            scan(field);
        }
        if let Some(g) = &s.gate {
            for field in [&g.id, &g.await_id].into_iter().flatten() {
                scan(field);
            }
        }
        for (_, v) in &s.expand_vars {
            scan(v);
        }
    });
    for l in f.legs.iter().chain(f.aspects.iter()) {
        for field in [&l.title, &l.description, &l.focus].into_iter().flatten() {
            scan(field);
        }
    }
    if let Some(s) = &f.synthesis {
        for field in [&s.title, &s.description].into_iter().flatten() {
            scan(field);
        }
    }
    out
}

/// Vars that a `run` command reads from the environment (`$NAME`,
/// `${NAME}`) count as used.
fn env_uses(f: &Formula) -> Vec<&str> {
    let mut runs = Vec::new();
    super::visit_steps(f, &mut |s: &Step| {
        if let Some(r) = &s.run {
            runs.push(r.value.clone());
        }
    });
    f.vars
        .iter()
        .filter(|v| {
            crate::formula::shell::env_name(&v.name.value).is_some_and(|env| {
                runs.iter()
                    .any(|r| r.contains(&format!("${env}")) || r.contains(&format!("${{{env}")))
            })
        })
        .map(|v| v.name.value.as_str())
        .collect()
}

/// Names used as compile-time `{name}` in loop ranges: formula vars can
/// feed ranges, so they count as used.
fn range_uses(f: &Formula) -> HashSet<String> {
    use crate::formula::expr::placeholder::{scan, PlaceholderKind};
    let mut out = HashSet::new();
    for s in f.walk_steps() {
        if let Some(r) = s.loop_.as_ref().and_then(|l| l.range.as_ref()) {
            out.extend(
                scan(&r.value)
                    .into_iter()
                    .filter(|p| p.kind == PlaceholderKind::CompileTime)
                    .map(|p| p.name),
            );
        }
    }
    out
}

pub(super) fn check(f: &Formula, diags: &mut Vec<Diagnostic>) {
    let uses = var_uses(f);
    let mut used: HashSet<&str> = uses.iter().map(|(n, _)| n.as_str()).collect();
    used.extend(env_uses(f));
    let ranges = range_uses(f);
    let declared: HashSet<&str> = f
        .vars
        .iter()
        .map(|v| v.name.value.as_str())
        .chain(f.inputs.iter().map(|i| i.name.value.as_str()))
        .collect();

    let mut reported = HashSet::new();
    for (name, span) in &uses {
        if declared.contains(name.as_str()) || TEMPLATE_KEYWORDS.contains(&name.as_str()) {
            continue;
        }
        if !reported.insert(name.clone()) {
            continue;
        }
        diags.push(
            Diagnostic::new(Code::F0019, format!("`{{{{{name}}}}}` is used but never declared"))
                .at(*span, "not declared under [vars]")
                .help(format!(
                    "declare it: `[vars.{name}]` with a `description` (and `default = \"\"` if it may stay empty); undeclared placeholders are left as-is at pour"
                )),
        );
    }
    for v in &f.vars {
        let n = v.name.value.as_str();
        // `title` and `desc` feed the root issue even when unused in steps.
        if !used.contains(n) && !ranges.contains(n) && n != "title" && n != "desc" {
            diags.push(
                Diagnostic::new(Code::F0020, format!("var `{n}` is declared but never used"))
                    .at(v.name.span, "not referenced as {{...}} anywhere")
                    .help(format!(
                        "use it as `{{{{{n}}}}}` in a title or description, or remove it"
                    )),
            );
        }
        check_var_rules(v, diags);
    }
}

fn check_var_rules(v: &VarDef, diags: &mut Vec<Diagnostic>) {
    let n = v.name.value.as_str();
    if let (Some(r), Some(d)) = (&v.required, &v.default) {
        if r.value {
            diags.push(
                Diagnostic::new(
                    Code::F0021,
                    format!("var `{n}` is required but also has a default"),
                )
                .at(r.span, "required")
                .label(d.span, "but this default always satisfies it")
                .help("the default makes `required` a no-op: drop `required = true` to say it is optional, or drop the default to force callers to pass `--var`")
                .note("beads rejects this combination; gt accepts it because real formulas use it"),
            );
        }
    }
    if let Some(t) = &v.value_type {
        if !VAR_TYPES.contains(&t.value.as_str()) {
            diags.push(
                Diagnostic::new(
                    Code::F0010,
                    format!("var `{n}` has unknown type `{}`", t.value),
                )
                .at(t.span, "not a var type")
                .help(format!("var types are: {}", VAR_TYPES.join(", "))),
            );
        }
    }
    let regex = match &v.pattern {
        Some(p) => match anchored_regex(&p.value) {
            Ok(re) => Some(re),
            Err(e) => {
                let detail = e.to_string();
                let last = detail.lines().last().unwrap_or("").trim().to_string();
                diags.push(
                    Diagnostic::new(Code::F0022, format!("var `{n}` has an invalid pattern"))
                        .at(p.span, last)
                        .help("patterns use Rust regex syntax (like RE2); they must match the whole value"),
                );
                None
            }
        },
        None => None,
    };
    let Some(default) = &v.default else { return };
    if let Some(allowed) = &v.enum_values {
        if !allowed.value.iter().any(|a| a.value == default.value) {
            let list: Vec<&str> = allowed.value.iter().map(|a| a.value.as_str()).collect();
            diags.push(
                Diagnostic::new(
                    Code::F0023,
                    format!("the default of var `{n}` is not one of its allowed values"),
                )
                .at(
                    default.span,
                    format!("`{}` is not in the enum", default.value),
                )
                .label(allowed.span, "allowed values")
                .help(format!("use one of: {}", list.join(", "))),
            );
        }
    }
    if let (Some(re), Some(p)) = (regex, &v.pattern) {
        if !re.is_match(&default.value) {
            diags.push(
                Diagnostic::new(
                    Code::F0024,
                    format!("the default of var `{n}` does not match its pattern"),
                )
                .at(default.span, format!("`{}` does not match", default.value))
                .label(p.span, "the pattern")
                .help("fix the default or the pattern; patterns must match the whole value"),
            );
        }
    }
}
