//! `compose.branch` (fork/join wiring) and `compose.gate` (a runtime
//! condition attached to a step, stored in the IR as an expression tree).

use super::{find_mut, ids_in, Cx};
use crate::formula::ast::{Formula, Sp, SpStr};
use crate::formula::codes::Code;
use crate::formula::diag::Diagnostic;
use crate::formula::expr;
use crate::formula::suggest::did_you_mean;
use rustc_hash::FxHashSet;

pub(crate) fn unknown_target(what: &str, id: &SpStr, known: &FxHashSet<String>) -> Diagnostic {
    let sg = did_you_mean(&id.value, known.iter().map(String::as_str));
    Diagnostic::new(
        Code::F0042,
        format!("{what} names step `{}`, which does not exist", id.value),
    )
    .at(
        id.span,
        match &sg {
            Some(s) => format!("no such step; did you mean `{s}`?"),
            None => "no such step".to_string(),
        },
    )
    .help("name a step of this formula (after extends and loops)")
}

/// The rules a stage applies and the ids they may name; `None` (and no
/// change recorded) when there are no rules.
fn rules_and_ids<T: Clone>(
    f: &Formula,
    cx: &mut Cx<'_>,
    pick: impl Fn(&crate::formula::ast::Compose) -> &Vec<T>,
) -> Option<(Vec<T>, FxHashSet<String>)> {
    let rules = f
        .compose
        .as_ref()
        .map(|c| pick(c).clone())
        .filter(|r| !r.is_empty())?;
    cx.touched();
    let mut ids = FxHashSet::default();
    ids_in(&f.steps, &mut ids);
    Some((rules, ids))
}

pub(super) fn apply_branch(f: &mut Formula, cx: &mut Cx<'_>) {
    let Some((rules, ids)) = rules_and_ids(f, cx, |c| &c.branch) else {
        return;
    };
    for r in rules {
        let mut ok = true;
        for id in r.from.iter().chain(r.join.iter()).chain(r.steps.iter()) {
            if !ids.contains(&id.value) {
                cx.sess
                    .diags
                    .push(unknown_target("compose.branch", id, &ids));
                ok = false;
            }
        }
        let (Some(from), Some(join)) = (&r.from, &r.join) else {
            cx.sess.diags.push(
                Diagnostic::new(
                    Code::F0042,
                    "a compose.branch rule needs `from`, `steps` and `join`",
                )
                .at(r.span, "incomplete branch rule")
                .help("write `{ from = \"a\", steps = [\"b\", \"c\"], join = \"d\" }`"),
            );
            continue;
        };
        if !ok {
            continue;
        }
        for s in &r.steps {
            if let Some(step) = find_mut(&mut f.steps, &s.value) {
                if !step.needs.iter().any(|n| n.value == from.value) {
                    step.needs.push(from.clone());
                }
                step.provenance.push((
                    format!("forked from `{}` by compose.branch", from.value),
                    Some(r.span),
                ));
            }
        }
        if let Some(j) = find_mut(&mut f.steps, &join.value) {
            for s in &r.steps {
                if !j.needs.iter().any(|n| n.value == s.value) {
                    j.needs.push(Sp::new(s.value.clone(), s.span));
                }
            }
            j.provenance
                .push(("joined by compose.branch".to_string(), Some(r.span)));
        }
    }
}

pub(super) fn apply_gate(f: &mut Formula, cx: &mut Cx<'_>) {
    let Some((rules, ids)) = rules_and_ids(f, cx, |c| &c.gate) else {
        return;
    };
    for r in rules {
        let (Some(before), Some(cond)) = (&r.before, &r.condition) else {
            cx.sess.diags.push(
                Diagnostic::new(
                    Code::F0042,
                    "a compose.gate rule needs `before` and `condition`",
                )
                .at(r.span, "incomplete gate rule")
                .help("write `{ before = \"deploy\", condition = \"tests.status == 'closed'\" }`"),
            );
            continue;
        };
        if !ids.contains(&before.value) {
            cx.sess
                .diags
                .push(unknown_target("compose.gate", before, &ids));
            continue;
        }
        let Ok(parsed) = expr::runtime::parse_runtime_condition(&cond.value) else {
            continue; // reported by the checks (F0035)
        };
        for (step_ref, range) in &parsed.step_refs {
            if !ids.contains(step_ref) {
                let span = crate::formula::check::inner_span(cond, range.clone());
                cx.sess.diags.push(unknown_target(
                    "compose.gate condition",
                    &Sp::new(step_ref.clone(), span),
                    &ids,
                ));
            }
        }
        if let Some(step) = find_mut(&mut f.steps, &before.value) {
            let mut rule = serde_json::json!({ "condition": cond.value, "expr": parsed.condition });
            if parsed.condition.is_judged() {
                rule["judged_by"] = serde_json::json!(crate::formula::proto::Judge::Agent);
            }
            step.runtime.push(("gate".to_string(), rule));
            step.provenance
                .push(("gated by compose.gate".to_string(), Some(r.span)));
        }
    }
}
