//! Loop expansion: `count`, `range` (+ `var`) and `until` (+ `max`).
//!
//! Body step `b` of iteration N becomes `<loop>.iter<N>.<b>`; nested loops
//! expand first. Iteration N+1's roots need iteration N's sinks. Fixes
//! over beads: the container's own dependencies carry over to the first
//! iteration, its dependents are rewired to the last iteration's sinks,
//! ranges can use formula vars and their defaults, and the number of
//! generated steps is capped (`--max-steps`).
//!
//! Large loops are lazy: when no later transform can observe the
//! iterations (no advice, aspects or compose rules; no conditions, gates,
//! expansions or children in the body; nothing names an iteration id), the
//! loop stays one [`LazyLoop`] node and `cook` streams the iterations into
//! the IR. The result is byte-identical to eager expansion (tested), and a
//! million-step loop never exists twice in memory.

use super::{count_steps, ids_in, roots_and_sinks, Cx, Renames};
use crate::formula::ast::{Formula, LazyLoop, Loop, Sp, Step};
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
    let mut lx = LoopCx {
        renames: Renames::default(),
        total: count_steps(&f.steps),
        lazy: lazy_policy(f, cx),
    };
    let steps = std::mem::take(&mut f.steps);
    f.steps = expand_list(steps, cx, &mut lx, false);
    lx.renames.apply(&mut f.steps);
}

/// Loops at least this big are lazy when nothing can observe them.
pub const LAZY_MIN_STEPS: usize = 10_000;

struct LoopCx {
    renames: Renames,
    total: usize,
    /// `None`: no loop may be lazy in this formula.
    lazy: Option<LazyPolicy>,
}

struct LazyPolicy {
    /// Every id and every dependency/waits_for text in the formula: a loop
    /// whose iteration ids are named anywhere must be expanded eagerly.
    names: Vec<String>,
}

fn lazy_policy(f: &Formula, cx: &Cx<'_>) -> Option<LazyPolicy> {
    let composes = f.compose.as_ref().is_some_and(|c| {
        !(c.expand.is_empty()
            && c.map.is_empty()
            && c.branch.is_empty()
            && c.gate.is_empty()
            && c.aspects.is_empty())
    });
    if !f.advice.is_empty() || composes {
        return None;
    }
    let mut names = Vec::new();
    fn collect(steps: &[Step], names: &mut Vec<String>, filter: bool) -> bool {
        for s in steps {
            if s.expand.is_some() || (filter && s.condition.is_some() && s.loop_.is_some()) {
                return false;
            }
            names.extend(s.id.iter().map(|i| i.value.clone()));
            names.extend(s.blocking_deps().map(|d| d.value.clone()));
            names.extend(s.waits_for.iter().map(|w| w.value.clone()));
            if !collect(&s.children, names, filter) {
                return false;
            }
            if let Some(l) = &s.loop_ {
                if !collect(&l.body, names, filter) {
                    return false;
                }
            }
        }
        true
    }
    collect(&f.steps, &mut names, cx.filter_conditions).then_some(LazyPolicy { names })
}

impl LazyPolicy {
    fn allows(
        &self,
        container: &Step,
        until: bool,
        body: &[Step],
        body_ids: &FxHashSet<String>,
        steps: usize,
        var: Option<&str>,
    ) -> bool {
        let cid = container.id_str();
        let prefix = format!("{cid}.iter");
        steps >= LAZY_MIN_STEPS
            && !until
            && container.condition.is_none()
            && container.gate.is_none()
            && container.children.is_empty()
            && body.iter().all(|b| {
                b.children.is_empty()
                    && b.gate.is_none()
                    && b.waits_for.is_none()
                    && b.condition.is_none()
                    && b.expand.is_none()
                    && b.on_complete.is_none()
                    && b.runtime.is_empty()
                    && b.lazy.is_none()
                    && b.blocking_deps().all(|d| body_ids.contains(&d.value))
                    && [&b.title, &b.description, &b.notes]
                        .into_iter()
                        .flatten()
                        .all(|t| binds_piecewise(&t.value, var))
            })
            && !self
                .names
                .iter()
                .any(|n| n.contains(&prefix) || (n.contains(cid) && n.starts_with("children-of(")))
    }
}

/// Can `{{var}}` placeholders in `text` be bound piece by piece between
/// the loop var's holes (as a lazy loop's templates are), with the same
/// result as binding each iteration's text? Yes unless a placeholder
/// could run across a hole: `{{a{i}}}`.
fn binds_piecewise(text: &str, var: Option<&str>) -> bool {
    let Some(pieces) = var.and_then(|v| split_at_var(text, v)) else {
        return true;
    };
    let last = pieces.len() - 1;
    pieces.iter().enumerate().all(|(i, p)| {
        let opens_at_end = i < last && p.rfind("{{") > p.rfind("}}");
        let closes_at_start = i > 0
            && p.find("}}")
                .is_some_and(|c| p.find("{{").is_none_or(|o| c < o));
        !opens_at_end && !closes_at_start
    })
}

fn has_loops(steps: &[Step]) -> bool {
    steps
        .iter()
        .any(|s| s.loop_.is_some() || has_loops(&s.children))
}

fn expand_list(steps: Vec<Step>, cx: &mut Cx<'_>, lx: &mut LoopCx, in_body: bool) -> Vec<Step> {
    let mut out = Vec::with_capacity(steps.len());
    let siblings = steps.len();
    for (i, mut s) in steps.into_iter().enumerate() {
        if !s.children.is_empty() {
            let children = std::mem::take(&mut s.children);
            s.children = expand_list(children, cx, lx, in_body);
        }
        match s.loop_.take() {
            None => out.push(s),
            // Generated steps go straight into `out`: no million-element
            // intermediate vector to copy.
            Some(l) => expand_loop(s, *l, cx, lx, in_body, (&mut out, siblings - i)),
        }
    }
    out
}

fn expand_loop(
    container: Step,
    l: Loop,
    cx: &mut Cx<'_>,
    lx: &mut LoopCx,
    in_body: bool,
    (out, headroom): (&mut Vec<Step>, usize),
) {
    let cid = container.id_str().to_string();
    let body = expand_list(l.body, cx, lx, true);
    if body.is_empty() {
        return; // reported by the checks (F0039)
    }
    let body_size = count_steps(&body);
    let cap = cx.max_steps;
    // The var's first and last value; one iteration per value.
    let (lo, hi): (i64, i64) = if let Some(c) = &l.count {
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
        (1, c.value)
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
        (start, end)
    } else if l.until.is_some() {
        (1, 1)
    } else {
        return; // reported by the checks (F0039)
    };
    let iterations = usize::try_from(hi.saturating_sub(lo).saturating_add(1)).unwrap_or(0);
    lx.total = lx
        .total
        .saturating_add(iterations * body_size)
        .saturating_sub(1);
    if lx.total > cap {
        cx.sess
            .diags
            .push(too_many(&cid, iterations as u64, body_size, cap, l.span));
        return;
    }

    let mut body_ids = FxHashSet::default();
    ids_in(&body, &mut body_ids);
    let lazy = !in_body
        && lx.lazy.as_ref().is_some_and(|p| {
            p.allows(
                &container,
                l.until.is_some(),
                &body,
                &body_ids,
                iterations * body_size,
                l.var.as_ref().map(|v| v.value.as_str()),
            )
        });
    if lazy {
        let mut node = container;
        node.lazy = Some(Box::new(LazyLoop {
            body,
            first: lo,
            last: hi,
            var: l.var.as_ref().map(|v| v.value.clone()),
            span: l.span,
        }));
        out.push(node);
        return;
    }
    let (roots, sinks) = roots_and_sinks(&body);
    let var = l.var.as_ref().map(|v| v.value.clone());
    let why_span = Some(l.span);
    let first = out.len();
    // Room for the later siblings too: a push past an exact reservation
    // would copy every generated step.
    out.reserve(iterations * body.len() + headroom);
    let mut prev_sinks: Vec<String> = Vec::new();
    let container_deps: Vec<_> = container.blocking_deps().cloned().collect();
    let templates = body_templates(&body, var.as_deref());
    for (k, value) in (lo..=hi).enumerate() {
        let n = k + 1;
        let value = &value.to_string();
        let prefix = format!("{cid}.iter{n}");
        let base = out.len();
        let why = format!("iteration {n} of loop `{cid}`");
        for (b, t) in body.iter().zip(&templates) {
            let mut c = b.clone();
            rewrite_iteration(
                &mut c,
                &prefix,
                &body_ids,
                var.as_deref(),
                value,
                &why,
                why_span,
                Some(t),
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
            let mut rule = serde_json::json!({
                "until": u.value,
                "max": l.max.as_ref().map(|m| m.value),
                "condition": parsed.condition,
            });
            if parsed.condition.is_judged() {
                rule["judged_by"] = serde_json::json!(crate::formula::proto::Judge::Agent);
            }
            first_step.runtime.push(("loop".to_string(), rule));
        }
    }
    lx.renames.add(&cid, prev_sinks, FxHashSet::default());
}

/// A body step's title, description and notes split around the loop var's
/// `{var}` holes, so each iteration renders them without re-parsing.
/// `None` for a field with no hole.
pub type FieldTemplates = [Option<Vec<String>>; 3];

fn split_at_var(text: &str, var: &str) -> Option<Vec<String>> {
    let holes: Vec<std::ops::Range<usize>> = expr::placeholder::scan(text)
        .into_iter()
        .filter(|p| p.kind == expr::placeholder::PlaceholderKind::CompileTime && p.name == var)
        .map(|p| p.span)
        .collect();
    if holes.is_empty() {
        return None;
    }
    let mut parts = Vec::with_capacity(holes.len() + 1);
    let mut at = 0;
    for h in holes {
        parts.push(text[at..h.start].to_string());
        at = h.end;
    }
    parts.push(text[at..].to_string());
    Some(parts)
}

/// Templates for the top-level body steps (children take the slow path).
pub fn body_templates(body: &[Step], var: Option<&str>) -> Vec<FieldTemplates> {
    body.iter()
        .map(|b| {
            let split = |f: &Option<crate::formula::ast::SpStr>| {
                var.and_then(|v| f.as_ref().and_then(|t| split_at_var(&t.value, v)))
            };
            [split(&b.title), split(&b.description), split(&b.notes)]
        })
        .collect()
}

/// Rename one body step for iteration `prefix` (shared with cook's lazy
/// loops, so both paths build identical steps). `tpl` is the step's
/// precomputed [`FieldTemplates`], when it is a top-level body step.
#[allow(clippy::too_many_arguments)]
pub fn rewrite_iteration(
    c: &mut Step,
    prefix: &str,
    body_ids: &FxHashSet<String>,
    var: Option<&str>,
    value: &str,
    why: &str,
    why_span: Option<crate::formula::source::Span>,
    tpl: Option<&FieldTemplates>,
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
        for (i, field) in [&mut c.title, &mut c.description, &mut c.notes]
            .into_iter()
            .enumerate()
        {
            let Some(field) = field else { continue };
            match tpl {
                Some(t) => {
                    if let Some(parts) = &t[i] {
                        field.value = parts.join(value);
                    }
                }
                None if field.value.contains('{') => {
                    field.value = expr::placeholder::substitute_compile_time(&field.value, &lookup);
                }
                None => {}
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
        rewrite_iteration(child, prefix, body_ids, var, value, why, why_span, None);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_placeholder_across_a_hole_keeps_a_loop_eager() {
        let values: std::collections::BTreeMap<String, String> =
            [("a7", "A"), ("b", "B"), ("x_7", "X"), ("disks", "D")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        let bind = |t: &str| crate::formula::vars::substitute(t, &values);
        let mut refused = 0;
        for text in [
            "Move {i} of {{disks}}",
            "{{b}}{i}{{b}}",
            "{{a{i}}}",
            "x {{a {i} }}",
            "{{x_ {i}",
            "{{a}}{i}}}",
            "q{{a{i}y}}",
            "{i}}} {{b}}",
        ] {
            let Some(pieces) = split_at_var(text, "i") else {
                continue;
            };
            if !binds_piecewise(text, Some("i")) {
                refused += 1;
                continue;
            }
            let piecewise: Vec<String> = pieces.iter().map(|p| bind(p)).collect();
            assert_eq!(piecewise.join("7"), bind(&pieces.join("7")), "{text:?}");
        }
        assert!(refused > 0, "no case exercised the guard");
    }

    #[test]
    fn templates_render_like_the_general_substitution() {
        for text in [
            "Move {i}",
            "{i}{i} and {{i}} and {j} and {target.title} {i}",
            "no holes",
            "{{i}} only",
            "edge {i",
        ] {
            for value in ["1", "1048575", ""] {
                let lookup = |name: &str| (name == "i").then(|| value.to_string());
                let slow = expr::placeholder::substitute_compile_time(text, &lookup);
                let fast = split_at_var(text, "i")
                    .map(|p| p.join(value))
                    .unwrap_or_else(|| text.to_string());
                assert_eq!(fast, slow, "{text:?} with {value:?}");
            }
        }
    }
}
