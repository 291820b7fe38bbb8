//! Step conditions, evaluated when vars are bound (cook with `--var`, and
//! pour). A step whose condition is false is removed with its children.
//! Its dependents are not silently unblocked (as in beads): they inherit
//! the removed step's own dependencies, and a warning names both steps.

use super::Cx;
use crate::formula::ast::{Formula, Sp, SpStr, Step};
use crate::formula::codes::Code;
use crate::formula::diag::Diagnostic;
use crate::formula::expr;
use rustc_hash::{FxHashMap, FxHashSet};

struct Removed {
    deps: Vec<SpStr>,
    condition: SpStr,
}

pub(super) fn apply(f: &mut Formula, cx: &mut Cx<'_>) {
    let mut removed: FxHashMap<String, Removed> = FxHashMap::default();
    let steps = std::mem::take(&mut f.steps);
    f.steps = filter(steps, &cx.vars, &mut removed);
    if removed.is_empty() {
        return;
    }
    cx.touched();
    // Resolve chains: a removed step that needed another removed step.
    let resolve = |start: &SpStr| -> Vec<SpStr> {
        let mut out = Vec::new();
        let mut stack = vec![start.clone()];
        let mut seen = FxHashSet::default();
        while let Some(d) = stack.pop() {
            if !seen.insert(d.value.clone()) {
                continue;
            }
            match removed.get(&d.value) {
                Some(r) => stack.extend(
                    r.deps
                        .iter()
                        .rev()
                        .map(|x| Sp::new(x.value.clone(), start.span)),
                ),
                None => out.push(Sp::new(d.value, start.span)),
            }
        }
        out
    };
    let mut warnings = Vec::new();
    super::walk_mut(&mut f.steps, &mut |s: &mut Step| {
        let me = s.id_str().to_string();
        for list in [&mut s.needs, &mut s.depends_on] {
            if !list.iter().any(|d| removed.contains_key(&d.value)) {
                continue;
            }
            let mut out: Vec<SpStr> = Vec::new();
            for d in list.drain(..) {
                if let Some(r) = removed.get(&d.value) {
                    let inherited = resolve(&d);
                    let names: Vec<&str> = inherited.iter().map(|x| x.value.as_str()).collect();
                    warnings.push(
                        Diagnostic::new(
                            Code::F0043,
                            format!("step `{me}` depended on `{}`, which its condition excluded", d.value),
                        )
                        .at(d.span, format!("`{}` is not in the molecule", d.value))
                        .label(r.condition.span, format!("`{}` is false for these vars", r.condition.value))
                        .help(if names.is_empty() {
                            format!("`{me}` now has no dependency in its place; make sure it can start on its own")
                        } else {
                            format!("`{me}` now waits for what `{}` waited for: {}", d.value, names.join(", "))
                        }),
                    );
                    for i in inherited {
                        if !out.iter().any(|o| o.value == i.value) {
                            out.push(i);
                        }
                    }
                } else if !out.iter().any(|o| o.value == d.value) {
                    out.push(d);
                }
            }
            *list = out;
        }
    });
    cx.sess.diags.extend(warnings);
}

fn filter(
    steps: Vec<Step>,
    vars: &std::collections::BTreeMap<String, String>,
    removed: &mut FxHashMap<String, Removed>,
) -> Vec<Step> {
    let mut out = Vec::with_capacity(steps.len());
    for mut s in steps {
        let keep = match &s.condition {
            Some(c) => match expr::condition::parse_step_condition(&c.value) {
                Ok(cond) => cond.eval(vars),
                Err(_) => true, // reported by the checks (F0034)
            },
            None => true,
        };
        if keep {
            let children = std::mem::take(&mut s.children);
            s.children = filter(children, vars, removed);
            out.push(s);
        } else {
            let condition = s.condition.clone().unwrap_or_else(|| {
                Sp::new(
                    String::new(),
                    s.span.unwrap_or(crate::formula::source::Span::new(0, 0..0)),
                )
            });
            mark_removed(&s, &condition, removed);
        }
    }
    out
}

fn mark_removed(s: &Step, condition: &SpStr, removed: &mut FxHashMap<String, Removed>) {
    removed.insert(
        s.id_str().to_string(),
        Removed {
            deps: s.blocking_deps().cloned().collect(),
            condition: condition.clone(),
        },
    );
    for c in &s.children {
        mark_removed(c, condition, removed);
    }
}
