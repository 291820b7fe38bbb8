//! Loop expansion: `count`, `range` (+ `var`) and `until` (+ `max`).
//!
//! Body step `b` of iteration N becomes `<loop>.iter<N>.<b>`; nested loops
//! expand first. Iteration N+1's roots need iteration N's sinks. Fixes
//! over beads: the container's own dependencies carry over to the first
//! iteration, its dependents are rewired to the last iteration's sinks,
//! ranges can use formula vars and their defaults, and the number of
//! generated steps is capped (`--max-steps`).

use super::{count_steps, ids_in, roots_and_sinks, Cx, Renames};
use crate::formula::ast::{Formula, Loop, Sp, Step};
use crate::formula::check::exprs::expr_diag;
use crate::formula::codes::Code;
use crate::formula::diag::Diagnostic;
use crate::formula::expr;
use rustc_hash::FxHashSet;

pub(super) fn apply(f: &mut Formula, cx: &mut Cx<'_>) {
    if !has_loops(&f.steps) {
        return;
    }
    cx.touched();
    let mut renames = Renames::default();
    let mut total = count_steps(&f.steps);
    let steps = std::mem::take(&mut f.steps);
    f.steps = expand_list(steps, cx, &mut renames, &mut total);
    renames.apply(&mut f.steps);
}

fn has_loops(steps: &[Step]) -> bool {
    steps
        .iter()
        .any(|s| s.loop_.is_some() || has_loops(&s.children))
}

fn expand_list(
    steps: Vec<Step>,
    cx: &mut Cx<'_>,
    renames: &mut Renames,
    total: &mut usize,
) -> Vec<Step> {
    let mut out = Vec::with_capacity(steps.len());
    let siblings = steps.len();
    for (i, mut s) in steps.into_iter().enumerate() {
        if !s.children.is_empty() {
            let children = std::mem::take(&mut s.children);
            s.children = expand_list(children, cx, renames, total);
        }
        match s.loop_.take() {
            None => out.push(s),
            // Generated steps go straight into `out`: no million-element
            // intermediate vector to copy.
            Some(l) => expand_loop(s, *l, cx, renames, total, (&mut out, siblings - i)),
        }
    }
    out
}

fn expand_loop(
    container: Step,
    l: Loop,
    cx: &mut Cx<'_>,
    renames: &mut Renames,
    total: &mut usize,
    (out, headroom): (&mut Vec<Step>, usize),
) {
    let cid = container.id_str().to_string();
    let body = expand_list(l.body, cx, renames, total);
    if body.is_empty() {
        return; // reported by the checks (F0039)
    }
    let body_size = count_steps(&body);
    let cap = cx.max_steps;
    // One value per iteration; the value feeds `{var}`.
    let values: Vec<String> = if let Some(c) = &l.count {
        if c.value <= 0 {
            return;
        }
        let n = c.value as u64;
        if n.saturating_mul(body_size as u64) > cap as u64 {
            cx.sess
                .diags
                .push(too_many(&cid, n, body_size, cap, c.span));
            return;
        }
        (1..=n).map(|i| i.to_string()).collect()
    } else if let Some(r) = &l.range {
        let parsed = match expr::range::parse_range(&r.value) {
            Ok(p) => p,
            Err(_) => return, // reported by the checks (F0033)
        };
        let vars = cx.vars.clone();
        let lookup = move |name: &str| vars.get(name).cloned();
        let (start, end) = match parsed.eval(&lookup) {
            Ok(v) => v,
            Err(e) => {
                cx.sess.diags.push(expr_diag(
                    Code::F0033,
                    &format!("cannot evaluate the range of loop `{cid}`"),
                    r,
                    &e,
                ));
                return;
            }
        };
        let n = expr::range::iteration_count(start, end);
        if n.saturating_mul(body_size as u64) > cap as u64 {
            cx.sess
                .diags
                .push(too_many(&cid, n, body_size, cap, r.span));
            return;
        }
        (start..=end).map(|v| v.to_string()).collect()
    } else if l.until.is_some() {
        vec!["1".to_string()]
    } else {
        return; // reported by the checks (F0039)
    };
    let iterations = values.len();
    *total = total
        .saturating_add(iterations * body_size)
        .saturating_sub(1);
    if *total > cap {
        cx.sess
            .diags
            .push(too_many(&cid, iterations as u64, body_size, cap, l.span));
        return;
    }

    let mut body_ids = FxHashSet::default();
    ids_in(&body, &mut body_ids);
    let (roots, sinks) = roots_and_sinks(&body);
    let var = l.var.as_ref().map(|v| v.value.clone());
    let why_span = Some(l.span);
    let first = out.len();
    // Room for the later siblings too: a push past an exact reservation
    // would copy every generated step.
    out.reserve(iterations * body.len() + headroom);
    let mut prev_sinks: Vec<String> = Vec::new();
    let container_deps: Vec<_> = container.blocking_deps().cloned().collect();
    for (k, value) in values.iter().enumerate() {
        let n = k + 1;
        let prefix = format!("{cid}.iter{n}");
        let base = out.len();
        let why = format!("iteration {n} of loop `{cid}`");
        for b in &body {
            let mut c = b.clone();
            rewrite(
                &mut c,
                &prefix,
                &body_ids,
                var.as_deref(),
                value,
                &why,
                why_span,
            );
            out.push(c);
        }
        for &r in &roots {
            let step = &mut out[base + r];
            let extra: Vec<_> = if n == 1 {
                container_deps.clone()
            } else {
                prev_sinks
                    .iter()
                    .map(|s| Sp::new(s.clone(), l.span))
                    .collect()
            };
            let mut needs = extra;
            needs.append(&mut step.needs);
            step.needs = needs;
        }
        prev_sinks = sinks
            .iter()
            .map(|&i| out[base + i].id_str().to_string())
            .collect();
    }
    if let Some(u) = &l.until {
        if let (Ok(parsed), Some(first_step)) = (
            expr::runtime::parse_runtime_condition(&u.value),
            out.get_mut(first),
        ) {
            first_step.runtime.push((
                "loop".to_string(),
                serde_json::json!({
                    "until": u.value,
                    "max": l.max.as_ref().map(|m| m.value),
                    "condition": parsed.condition,
                }),
            ));
        }
    }
    renames.add(&cid, prev_sinks, FxHashSet::default());
}

fn rewrite(
    c: &mut Step,
    prefix: &str,
    body_ids: &FxHashSet<String>,
    var: Option<&str>,
    value: &str,
    why: &str,
    why_span: Option<crate::formula::source::Span>,
) {
    if let Some(id) = &mut c.id {
        id.value = format!("{prefix}.{}", id.value);
    }
    for d in c.needs.iter_mut().chain(c.depends_on.iter_mut()) {
        if body_ids.contains(&d.value) {
            d.value = format!("{prefix}.{}", d.value);
        }
    }
    if let Some(var) = var {
        let lookup = |name: &str| (name == var).then(|| value.to_string());
        for field in [&mut c.title, &mut c.description, &mut c.notes]
            .into_iter()
            .flatten()
        {
            if field.value.contains('{') {
                field.value = expr::placeholder::substitute_compile_time(&field.value, &lookup);
            }
        }
        // An expanding body step passes the loop var on to its expansion.
        if c.expand.is_some() {
            let at = why_span
                .or(c.span)
                .unwrap_or(crate::formula::source::Span::new(0, 0..0));
            c.expand_vars
                .push((Sp::new(var.to_string(), at), Sp::new(value.to_string(), at)));
        }
    }
    c.provenance.push((why.to_string(), why_span));
    for child in &mut c.children {
        rewrite(child, prefix, body_ids, var, value, why, why_span);
    }
}

fn too_many(
    cid: &str,
    iterations: u64,
    body: usize,
    cap: usize,
    span: crate::formula::source::Span,
) -> Diagnostic {
    Diagnostic::new(
        Code::F0040,
        format!(
            "loop `{cid}` would generate {} steps ({iterations} iterations x {body}); the cap is {cap}",
            iterations.saturating_mul(body as u64)
        ),
    )
    .at(span, "too many iterations")
    .help("raise the cap with `--max-steps N` if this is intended, or shrink the range")
}
