//! Advice (`before` / `after` / `around`) and `compose.aspects`.
//!
//! For each step whose id matches a rule's target glob, the rule's before
//! steps are inserted ahead of it (chained) and its after steps behind it
//! (chained). Fixes over beads: the first before step inherits the
//! target's dependencies (it no longer runs before the target's
//! predecessors), and the target's dependents wait for the last after step
//! (after advice is on the critical path). Only steps that existed before
//! the rule set ran can match, so advice never advises itself.

use super::{ids_in, Cx, Renames};
use crate::formula::ast::{Advice, Formula, Sp, Step};
use crate::formula::check::exprs::expr_diag;
use crate::formula::codes::Code;
use crate::formula::diag::Diagnostic;
use crate::formula::expr;
use crate::formula::source::Span;
use rustc_hash::FxHashSet;

pub(super) fn apply_own(f: &mut Formula, cx: &mut Cx<'_>) {
    if f.advice.is_empty() {
        return;
    }
    let rules = f.advice.clone();
    let origin = format!("`{}`", cx.formula);
    apply_rules(f, &rules, &origin, cx);
}

pub(super) fn apply_aspects(f: &mut Formula, cx: &mut Cx<'_>) {
    let Some(names) = f.compose.as_ref().map(|c| c.aspects.clone()) else {
        return;
    };
    for name in names {
        let Some((_, aspect)) = cx.sess.load_name(&name.value, Some(name.span)) else {
            continue;
        };
        if aspect.effective_kind() != "aspect" {
            cx.sess.diags.push(
                Diagnostic::new(
                    Code::F0041,
                    format!("`{}` is a {} formula, not an aspect", name.value, aspect.effective_kind()),
                )
                .at(name.span, "compose.aspects needs formulas of type \"aspect\"")
                .help("list only `type = \"aspect\"` formulas here; use compose.expand for expansions"),
            );
            continue;
        }
        // The aspect's own globs were never checked: it is not the linted file.
        for a in &aspect.advice {
            if let Some(t) = &a.target {
                if let Err(e) = expr::glob::Glob::parse(&t.value) {
                    cx.sess
                        .diags
                        .push(expr_diag(Code::F0036, "invalid advice target", t, &e));
                }
            }
        }
        let origin = format!(
            "`{}`, applied through compose.aspects of `{}`",
            name.value, cx.formula
        );
        apply_rules(f, &aspect.advice, &origin, cx);
    }
}

struct Rule<'a> {
    advice: &'a Advice,
    glob: expr::glob::Glob,
    index: usize,
}

fn apply_rules(f: &mut Formula, rules: &[Advice], origin: &str, cx: &mut Cx<'_>) {
    if rules.is_empty() {
        return;
    }
    cx.touched();
    let compiled: Vec<Rule<'_>> = rules
        .iter()
        .enumerate()
        .filter_map(|(index, advice)| {
            let glob = expr::glob::Glob::parse(&advice.target.as_ref()?.value).ok()?;
            Some(Rule {
                advice,
                glob,
                index,
            })
        })
        .collect();
    let mut original = FxHashSet::default();
    ids_in(&f.steps, &mut original);
    let mut matched = vec![false; rules.len()];
    let mut renames = Renames::default();
    let steps = std::mem::take(&mut f.steps);
    f.steps = advise(
        steps,
        &compiled,
        &original,
        origin,
        &mut matched,
        &mut renames,
    );
    renames.apply(&mut f.steps);
    for r in &compiled {
        if !matched[r.index] {
            if let Some(t) = &r.advice.target {
                cx.sess.diags.push(
                    Diagnostic::new(Code::F0046, format!("advice rule {} of {origin} matches no step", r.index + 1))
                        .at(t.span, format!("`{}` matches nothing", t.value))
                        .help("check the target glob against the step ids (`gt cook NAME --format tree` lists them)"),
                );
            }
        }
    }
}

fn advise(
    steps: Vec<Step>,
    rules: &[Rule<'_>],
    original: &FxHashSet<String>,
    origin: &str,
    matched: &mut [bool],
    renames: &mut Renames,
) -> Vec<Step> {
    let mut out = Vec::with_capacity(steps.len());
    for mut s in steps {
        if !s.children.is_empty() {
            let children = std::mem::take(&mut s.children);
            s.children = advise(children, rules, original, origin, matched, renames);
        }
        let id = s.id_str().to_string();
        if !original.contains(&id) {
            out.push(s);
            continue;
        }
        let mut befores: Vec<Step> = Vec::new();
        let mut afters: Vec<Step> = Vec::new();
        for r in rules.iter().filter(|r| r.glob.matches(&id)) {
            matched[r.index] = true;
            let why = |side: &str| {
                format!(
                    "inserted {side} `{id}` by advice rule {} of {origin}",
                    r.index + 1
                )
            };
            for t in r.advice.before.iter().chain(r.advice.around_before.iter()) {
                befores.push(instantiate(t, &s, why("before"), r.advice.span));
            }
            for t in r.advice.after.iter().chain(r.advice.around_after.iter()) {
                afters.push(instantiate(t, &s, why("after"), r.advice.span));
            }
        }
        if befores.is_empty() && afters.is_empty() {
            out.push(s);
            continue;
        }
        let anchor = s.anchor().unwrap_or(Span::new(0, 0..0));
        if !befores.is_empty() {
            let inherited: Vec<_> = s.blocking_deps().cloned().collect();
            let mut first_needs = inherited;
            first_needs.append(&mut befores[0].needs);
            befores[0].needs = first_needs;
            for i in 1..befores.len() {
                let prev = befores[i - 1].id_str().to_string();
                befores[i].needs.insert(0, Sp::new(prev, anchor));
            }
            let last = befores[befores.len() - 1].id_str().to_string();
            s.needs.push(Sp::new(last, anchor));
        }
        if !afters.is_empty() {
            afters[0].needs.insert(0, Sp::new(id.clone(), anchor));
            for i in 1..afters.len() {
                let prev = afters[i - 1].id_str().to_string();
                afters[i].needs.insert(0, Sp::new(prev, anchor));
            }
            let exclude: FxHashSet<String> =
                afters.iter().map(|a| a.id_str().to_string()).collect();
            let last = afters[afters.len() - 1].id_str().to_string();
            renames.add(&id, vec![last], exclude);
        }
        out.extend(befores);
        out.push(s);
        out.extend(afters);
    }
    out
}

/// Build an advice step for `target`: `{step.id}` and `{step.title}` are
/// substituted; a missing title defaults to the id.
fn instantiate(template: &Step, target: &Step, why: String, rule_span: Span) -> Step {
    let tid = target.id_str().to_string();
    let ttitle = target
        .title
        .as_ref()
        .map(|t| t.value.clone())
        .unwrap_or_else(|| tid.clone());
    let lookup = move |name: &str| match name {
        "step.id" => Some(tid.clone()),
        "step.title" => Some(ttitle.clone()),
        _ => None,
    };
    let mut s = template.clone();
    for field in [&mut s.id, &mut s.title, &mut s.description, &mut s.notes]
        .into_iter()
        .flatten()
    {
        field.value = expr::placeholder::substitute_compile_time(&field.value, &lookup);
    }
    if s.title.is_none() {
        s.title = s.id.clone();
    }
    s.provenance.push((why, Some(rule_span)));
    s
}
