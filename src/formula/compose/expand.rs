//! Expansions: inline `expand` on a step, `compose.expand` (one target)
//! and `compose.map` (every step matching a glob, in document order).
//!
//! The target is replaced in place by the expansion's template steps, with
//! `{target}`, `{target.id}`, `{target.title}`, `{target.description}` and
//! the expansion's `{vars}` substituted (never touching `{{vars}}`). The
//! template's roots inherit the target's dependencies, and the target's
//! dependents are rewired onto the template's sinks (for inline `expand`
//! too; beads dropped them). Templates keep `condition`, `gate`, `notes`,
//! `labels` and `metadata`.

use super::rules::unknown_target;
use super::{ids_in, replace_step, roots_and_sinks, Cx, Renames};
use crate::formula::ast::{Formula, Sp, SpStr, Step};
use crate::formula::codes::Code;
use crate::formula::diag::Diagnostic;
use crate::formula::expr;
use crate::formula::source::Span;
use rustc_hash::FxHashSet;
use std::collections::BTreeMap;
use std::rc::Rc;

fn load_expansion(cx: &mut Cx<'_>, name: &SpStr) -> Option<Rc<Formula>> {
    let (_, exp) = cx.sess.load_name(&name.value, Some(name.span))?;
    if exp.effective_kind() != "expansion" || exp.template.is_empty() {
        let why = if exp.effective_kind() != "expansion" {
            format!(
                "`{}` is a {} formula, not an expansion",
                name.value,
                exp.effective_kind()
            )
        } else {
            format!("expansion `{}` has no `[[template]]` steps", name.value)
        };
        cx.sess.diags.push(
            Diagnostic::new(Code::F0041, why)
                .at(name.span, "cannot expand with this formula")
                .help(
                    "expand with a formula of `type = \"expansion\"` that has `[[template]]` steps",
                ),
        );
        return None;
    }
    Some(exp)
}

fn expansion_vars(exp: &Formula, overrides: &[(SpStr, SpStr)]) -> BTreeMap<String, String> {
    let mut vars: BTreeMap<String, String> = exp
        .vars
        .iter()
        .filter_map(|v| Some((v.name.value.clone(), v.default.as_ref()?.value.clone())))
        .collect();
    for (k, v) in overrides {
        vars.insert(k.value.clone(), v.value.clone());
    }
    vars
}

/// The template steps for one target.
pub(super) fn expand_one(
    target: &Step,
    exp: &Formula,
    vars: &BTreeMap<String, String>,
    why: &str,
    why_span: Span,
) -> Vec<Step> {
    let id = target.id_str().to_string();
    let title = target
        .title
        .as_ref()
        .map(|t| t.value.clone())
        .unwrap_or_else(|| id.clone());
    let desc = target
        .description
        .as_ref()
        .map(|d| d.value.clone())
        .unwrap_or_default();
    let lookup = |name: &str| match name {
        "target" | "target.id" => Some(id.clone()),
        "target.title" => Some(title.clone()),
        "target.description" => Some(desc.clone()),
        other => vars.get(other).cloned(),
    };
    fn subst(s: &mut Step, lookup: &dyn Fn(&str) -> Option<String>, why: &str, why_span: Span) {
        for field in [
            &mut s.id,
            &mut s.title,
            &mut s.description,
            &mut s.notes,
            &mut s.acceptance,
            &mut s.assignee,
            &mut s.run,
            &mut s.condition,
        ]
        .into_iter()
        .flatten()
        {
            if field.value.contains('{') {
                field.value = expr::placeholder::substitute_compile_time(&field.value, lookup);
            }
        }
        for l in s
            .labels
            .iter_mut()
            .chain(s.needs.iter_mut())
            .chain(s.depends_on.iter_mut())
        {
            if l.value.contains('{') {
                l.value = expr::placeholder::substitute_compile_time(&l.value, lookup);
            }
        }
        s.provenance.push((why.to_string(), Some(why_span)));
        for c in &mut s.children {
            subst(c, lookup, why, why_span);
        }
    }
    let mut out: Vec<Step> = exp.template.clone();
    for s in &mut out {
        subst(s, &lookup, why, why_span);
    }
    let (roots, _) = roots_and_sinks(&out);
    let inherited: Vec<SpStr> = target.blocking_deps().cloned().collect();
    for r in roots {
        let mut needs = inherited.clone();
        needs.append(&mut out[r].needs);
        out[r].needs = needs;
    }
    out
}

/// What an expansion leaves behind: dependents to rewire, and warnings
/// about dropped children.
#[derive(Default)]
struct Effects {
    renames: Renames,
    dropped: Vec<Diagnostic>,
}

/// An inline `expand`: the step, the expansion's name, its `expand_vars`.
type InlineTarget = (String, SpStr, Vec<(SpStr, SpStr)>);

/// Expand `target_id` in place and record the rewiring of its dependents.
fn expand_in_tree(
    f: &mut Formula,
    target_id: &str,
    exp: &Formula,
    vars: &BTreeMap<String, String>,
    (why, why_span): (&str, Span),
    effects: &mut Effects,
) {
    let Effects { renames, dropped } = effects;
    let mut sinks: Vec<String> = Vec::new();
    replace_step(&mut f.steps, target_id, &mut |target: Step| {
        if !target.children.is_empty() {
            let names: Vec<&str> = target.children.iter().map(|c| c.id_str()).collect();
            dropped.push(
                Diagnostic::new(
                    Code::F0043,
                    format!("expanding `{target_id}` drops its children: {}", names.join(", ")),
                )
                .at(target.anchor().unwrap_or(why_span), "this step's children are replaced by the expansion")
                .label(why_span, "expanded here")
                .help("move the children to a step that is not expanded, or into the expansion's template"),
            );
        }
        let generated = expand_one(&target, exp, vars, why, why_span);
        let (_, s) = roots_and_sinks(&generated);
        sinks = s
            .into_iter()
            .map(|i| generated[i].id_str().to_string())
            .collect();
        generated
    });
    renames.add(target_id, sinks, FxHashSet::default());
}

pub(super) fn apply_inline(f: &mut Formula, cx: &mut Cx<'_>) {
    let mut targets: Vec<InlineTarget> = Vec::new();
    fn collect(steps: &[Step], out: &mut Vec<InlineTarget>) {
        for s in steps {
            if let Some(e) = &s.expand {
                out.push((s.id_str().to_string(), e.clone(), s.expand_vars.clone()));
            }
            collect(&s.children, out);
        }
    }
    collect(&f.steps, &mut targets);
    if targets.is_empty() {
        return;
    }
    cx.touched();
    let mut effects = Effects::default();
    for (id, with, vars) in targets {
        let Some(exp) = load_expansion(cx, &with) else {
            continue;
        };
        let vars = expansion_vars(&exp, &vars);
        let why = format!(
            "expanded from `{id}` by its inline `expand = \"{}\"`",
            with.value
        );
        expand_in_tree(f, &id, &exp, &vars, (&why, with.span), &mut effects);
    }
    effects.renames.apply(&mut f.steps);
    cx.sess.diags.extend(effects.dropped);
}

pub(super) fn apply_compose(f: &mut Formula, cx: &mut Cx<'_>) {
    let Some(rules) = f.compose.as_ref().map(|c| c.expand.clone()) else {
        return;
    };
    if rules.is_empty() {
        return;
    }
    cx.touched();
    let mut dropped = Vec::new();
    let mut expanded: FxHashSet<String> = FxHashSet::default();
    for (i, r) in rules.iter().enumerate() {
        let (Some(target), Some(with)) = (&r.target, &r.with) else {
            cx.sess.diags.push(
                Diagnostic::new(
                    Code::F0042,
                    "a compose.expand rule needs `target` and `with`",
                )
                .at(r.span, "incomplete expand rule")
                .help("write `{ target = \"implement\", with = \"<expansion>\" }`"),
            );
            continue;
        };
        let mut ids = FxHashSet::default();
        ids_in(&f.steps, &mut ids);
        if !ids.contains(&target.value) {
            cx.sess
                .diags
                .push(unknown_target("compose.expand", target, &ids));
            continue;
        }
        if !expanded.insert(target.value.clone()) {
            continue;
        }
        let Some(exp) = load_expansion(cx, with) else {
            continue;
        };
        let vars = expansion_vars(&exp, &r.vars);
        let why = format!(
            "expanded from `{}` by compose.expand rule {} of `{}` (with `{}`)",
            target.value,
            i + 1,
            cx.formula,
            with.value
        );
        let mut effects = Effects::default();
        expand_in_tree(f, &target.value, &exp, &vars, (&why, r.span), &mut effects);
        // Later rules may name steps that depend on this target.
        effects.renames.apply(&mut f.steps);
        dropped.extend(effects.dropped);
    }
    cx.sess.diags.extend(dropped);
}

pub(super) fn apply_map(f: &mut Formula, cx: &mut Cx<'_>) {
    let Some(rules) = f.compose.as_ref().map(|c| c.map.clone()) else {
        return;
    };
    if rules.is_empty() {
        return;
    }
    cx.touched();
    for (i, r) in rules.iter().enumerate() {
        let (Some(select), Some(with)) = (&r.select, &r.with) else {
            cx.sess.diags.push(
                Diagnostic::new(Code::F0042, "a compose.map rule needs `select` and `with`")
                    .at(r.span, "incomplete map rule")
                    .help("write `{ select = \"*.implement\", with = \"<expansion>\" }`"),
            );
            continue;
        };
        let Ok(glob) = expr::glob::Glob::parse(&select.value) else {
            continue;
        };
        // Document order: deterministic, unlike beads' map iteration.
        let mut matches = Vec::new();
        fn collect(steps: &[Step], glob: &expr::glob::Glob, out: &mut Vec<String>) {
            for s in steps {
                if glob.matches(s.id_str()) {
                    out.push(s.id_str().to_string());
                }
                collect(&s.children, glob, out);
            }
        }
        collect(&f.steps, &glob, &mut matches);
        if matches.is_empty() {
            cx.sess.diags.push(
                Diagnostic::new(
                    Code::F0046,
                    format!("compose.map rule {} matches no step", i + 1),
                )
                .at(select.span, format!("`{}` matches nothing", select.value))
                .help(
                    "check the glob against the step ids (`gt cook NAME --format tree` lists them)",
                ),
            );
            continue;
        }
        let Some(exp) = load_expansion(cx, with) else {
            continue;
        };
        let vars = expansion_vars(&exp, &r.vars);
        let mut effects = Effects::default();
        for m in matches {
            let why = format!(
                "expanded from `{m}` by compose.map rule {} of `{}` (`{}` with `{}`)",
                i + 1,
                cx.formula,
                select.value,
                with.value
            );
            expand_in_tree(f, &m, &exp, &vars, (&why, r.span), &mut effects);
        }
        effects.renames.apply(&mut f.steps);
        cx.sess.diags.extend(effects.dropped);
    }
}

/// A `type = "expansion"` formula cooked on its own: materialise its
/// template against a synthetic target `main`.
pub(super) fn standalone(f: &mut Formula, cx: &mut Cx<'_>) {
    let at = f
        .name
        .as_ref()
        .map(|n| n.span)
        .unwrap_or(Span::new(f.file, 0..0));
    let target = Step {
        id: Some(Sp::new("main".to_string(), at)),
        title: Some(Sp::new(cx.formula.clone(), at)),
        description: f.description.clone(),
        ..Step::default()
    };
    let mut vars = expansion_vars(f, &[]);
    for (k, v) in &cx.vars {
        vars.insert(k.clone(), v.clone());
    }
    let why = format!(
        "template of expansion `{}`, materialised for target `main`",
        cx.formula
    );
    f.steps = expand_one(&target, f, &vars, &why, at);
}
