//! Checks of the mini-languages embedded in string values: step
//! conditions, `waits_for`, gate timeouts and types, loops, runtime
//! conditions, globs, `on_complete`, and convoy wiring. Errors point inside
//! the string at the offending token.

use super::inner_span;
use crate::formula::ast::{Formula, SpStr, Step};
use crate::formula::codes::Code;
use crate::formula::diag::{Diagnostic, Severity};
use crate::formula::expr::{self, ExprError};
use crate::formula::suggest::did_you_mean;
use std::collections::HashSet;

/// Gate types something resolves (see the runtime docs).
pub const GATE_TYPES: &[&str] = &[
    "human",
    "timer",
    "gh:run",
    "gh:pr",
    "bead",
    "mail",
    "conditional",
];

pub(crate) fn expr_diag(code: Code, what: &str, value: &SpStr, e: &ExprError) -> Diagnostic {
    Diagnostic::new(code, format!("{what}: {}", e.message))
        .at(inner_span(value, e.span.clone()), e.message.clone())
        .maybe_help(e.help.clone())
}

pub(super) fn check(f: &Formula, diags: &mut Vec<Diagnostic>) {
    let mut ids: HashSet<&str> = HashSet::new();
    fn collect<'a>(steps: &'a [Step], ids: &mut HashSet<&'a str>) {
        for s in steps {
            if let Some(id) = &s.id {
                ids.insert(&id.value);
            }
            collect(&s.children, ids);
            if let Some(l) = &s.loop_ {
                collect(&l.body, ids);
            }
        }
    }
    collect(&f.steps, &mut ids);
    let mut all: Vec<&Step> = Vec::new();
    fn walk<'a>(steps: &'a [Step], out: &mut Vec<&'a Step>) {
        for s in steps {
            out.push(s);
            walk(&s.children, out);
            if let Some(l) = &s.loop_ {
                walk(&l.body, out);
            }
        }
    }
    walk(&f.steps, &mut all);
    walk(&f.template, &mut all);
    for s in all {
        step(s, &ids, diags);
    }
    if let Some(c) = &f.compose {
        for g in &c.gate {
            if let Some(cond) = &g.condition {
                runtime(cond, "compose.gate condition", diags);
            }
        }
        for m in &c.map {
            if let Some(sel) = &m.select {
                if let Err(e) = expr::glob::Glob::parse(&sel.value) {
                    diags.push(expr_diag(
                        Code::F0036,
                        "invalid `compose.map` selector",
                        sel,
                        &e,
                    ));
                }
            }
        }
    }
    for a in &f.advice {
        if let Some(t) = &a.target {
            if let Err(e) = expr::glob::Glob::parse(&t.value) {
                diags.push(expr_diag(Code::F0036, "invalid advice target", t, &e));
            }
        }
    }
    if let Some(syn) = &f.synthesis {
        let legs: Vec<&str> = f
            .legs
            .iter()
            .filter_map(|l| l.id.as_ref())
            .map(|i| i.value.as_str())
            .collect();
        for d in &syn.depends_on {
            if !legs.contains(&d.value.as_str()) {
                let sg = did_you_mean(&d.value, legs.iter().copied());
                diags.push(
                    Diagnostic::new(
                        Code::F0047,
                        format!("the synthesis depends on `{}`, which is not a leg", d.value),
                    )
                    .at(d.span, "no leg with this id")
                    .help(match sg {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!("legs are: {}", legs.join(", ")),
                    }),
                );
            }
        }
    }
}

fn runtime(cond: &SpStr, what: &str, diags: &mut Vec<Diagnostic>) {
    match expr::runtime::parse_runtime_condition(&cond.value) {
        Ok(parsed) => {
            for w in &parsed.warnings {
                let mut d = expr_diag(Code::F0035, what, cond, w);
                d.severity = Severity::Warning;
                diags.push(d);
            }
        }
        Err(e) => diags.push(expr_diag(Code::F0035, &format!("invalid {what}"), cond, &e)),
    }
}

fn step(s: &Step, ids: &HashSet<&str>, diags: &mut Vec<Diagnostic>) {
    let name = s.id_str();
    if let Some(c) = &s.condition {
        if let Err(e) = expr::condition::parse_step_condition(&c.value) {
            diags.push(expr_diag(
                Code::F0034,
                &format!("invalid condition on step `{name}`"),
                c,
                &e,
            ));
        }
    }
    if let Some(w) = &s.waits_for {
        match expr::waits_for::parse_waits_for(&w.value) {
            Err(e) => diags.push(expr_diag(
                Code::F0037,
                &format!("invalid `waits_for` on step `{name}`"),
                w,
                &e,
            )),
            Ok(expr::waits_for::WaitsFor::ChildrenOf { spawner, span }) => {
                if !ids.contains(spawner.as_str()) {
                    let sg = did_you_mean(&spawner, ids.iter().copied());
                    diags.push(
                        Diagnostic::new(
                            Code::F0037,
                            format!("step `{name}` waits for the children of `{spawner}`, which does not exist"),
                        )
                        .at(inner_span(w, span), "no such step")
                        .help(match sg {
                            Some(s) => format!("did you mean `{s}`?"),
                            None => "name an existing step".to_string(),
                        }),
                    );
                }
            }
            Ok(_) => {
                if s.needs.is_empty() {
                    diags.push(
                        Diagnostic::new(
                            Code::F0037,
                            format!("step `{name}` waits for children but names no spawner"),
                        )
                        .at(w.span, "whose children?")
                        .help("write `waits_for = \"children-of(<step>)\"`, or put the spawner first in `needs`"),
                    );
                }
            }
        }
    }
    if let Some(g) = &s.gate {
        if let Some(t) = &g.timeout {
            if let Err(e) = expr::duration::parse_duration(&t.value) {
                diags.push(expr_diag(
                    Code::F0038,
                    &format!("invalid gate timeout on step `{name}`"),
                    t,
                    &e,
                ));
            }
        }
        if let Some(k) = &g.kind {
            if !GATE_TYPES.contains(&k.value.as_str()) {
                let sg = did_you_mean(&k.value, GATE_TYPES.iter().copied());
                diags.push(
                    Diagnostic::new(
                        Code::F0045,
                        format!(
                            "gate type `{}` on step `{name}` is not one the runtime resolves",
                            k.value
                        ),
                    )
                    .at(
                        k.span,
                        match &sg {
                            Some(s) => format!("did you mean `{s}`?"),
                            None => "unknown gate type".into(),
                        },
                    )
                    .help(format!(
                        "gate types are: {}; this gate would stay closed until closed by hand",
                        GATE_TYPES.join(", ")
                    )),
                );
            }
        }
        if g.kind.as_ref().is_some_and(|k| k.value == "conditional") {
            if let Some(c) = &g.condition {
                runtime(c, "gate condition", diags);
            }
        }
    }
    if let Some(l) = &s.loop_ {
        let modes = [l.count.is_some(), l.range.is_some(), l.until.is_some()];
        let n = modes.iter().filter(|m| **m).count();
        let at = s.anchor().unwrap_or(l.span);
        if n != 1 {
            diags.push(
                Diagnostic::new(
                    Code::F0039,
                    if n == 0 {
                        format!("loop on step `{name}` has none of count, range, until")
                    } else {
                        format!("loop on step `{name}` has more than one of count, range, until")
                    },
                )
                .at(l.span, "this loop")
                .label(at, "on this step")
                .help("give exactly one: `count = 3`, `range = \"1..{n}\"` (with `var`), or `until = \"...\"` with `max`"),
            );
        }
        if l.body.is_empty() {
            diags.push(
                Diagnostic::new(Code::F0039, format!("loop on step `{name}` has no body"))
                    .at(l.span, "no `[[steps.loop.body]]`")
                    .help("add the steps to repeat under `[[steps.loop.body]]`"),
            );
        }
        if let Some(c) = &l.count {
            if c.value <= 0 {
                diags.push(
                    Diagnostic::new(
                        Code::F0039,
                        format!("loop count {} on step `{name}` is not positive", c.value),
                    )
                    .at(c.span, "must be 1 or more")
                    .help("use `count = 1` or more"),
                );
            }
        }
        if let Some(m) = &l.max {
            if m.value <= 0 {
                diags.push(
                    Diagnostic::new(
                        Code::F0039,
                        format!("loop max {} on step `{name}` is not positive", m.value),
                    )
                    .at(m.span, "must be 1 or more")
                    .help("use `max = 1` or more"),
                );
            }
        }
        if let Some(u) = &l.until {
            runtime(u, "loop `until`", diags);
            if l.max.is_none() {
                diags.push(
                    Diagnostic::new(
                        Code::F0039,
                        format!("`until` loop on step `{name}` has no `max`"),
                    )
                    .at(u.span, "needs a `max`")
                    .help("add `max = N`: an until-loop must be bounded"),
                );
            }
        }
        if let Some(r) = &l.range {
            if let Err(e) = expr::range::parse_range(&r.value) {
                diags.push(expr_diag(
                    Code::F0033,
                    &format!("invalid loop range on step `{name}`"),
                    r,
                    &e,
                ));
            }
        }
    }
    if let Some(o) = &s.on_complete {
        let mut problem = |msg: String, span| {
            diags.push(
                Diagnostic::new(Code::F0044, format!("on_complete of step `{name}`: {msg}"))
                    .at(span, "here")
                    .help("on_complete needs `for_each = \"output.<field>\"` and `bond = \"<formula>\"`, and at most one of parallel/sequential"),
            )
        };
        match (&o.for_each, &o.bond) {
            (Some(_), None) => problem("`for_each` is set but `bond` is missing".into(), o.span),
            (None, Some(_)) => problem("`bond` is set but `for_each` is missing".into(), o.span),
            _ => {}
        }
        if let Some(fe) = &o.for_each {
            if !fe.value.starts_with("output.") {
                problem(
                    format!("`for_each` must start with `output.` (got `{}`)", fe.value),
                    fe.span,
                );
            }
        }
        if o.parallel.as_ref().is_some_and(|p| p.value)
            && o.sequential.as_ref().is_some_and(|p| p.value)
        {
            problem("both `parallel` and `sequential` are set".into(), o.span);
        }
    }
}

/// After a transform: every `children-of(x)` must still name a step (an
/// expansion or a condition may have replaced `x`).
pub(crate) fn check_waits_for_wiring(f: &Formula, diags: &mut Vec<Diagnostic>) {
    let steps = f.walk_steps();
    if !steps.iter().any(|s| s.waits_for.is_some()) {
        return;
    }
    let ids: HashSet<&str> = steps.iter().map(|s| s.id_str()).collect();
    for s in steps {
        let Some(w) = &s.waits_for else { continue };
        if let Ok(expr::waits_for::WaitsFor::ChildrenOf { spawner, span }) =
            expr::waits_for::parse_waits_for(&w.value)
        {
            if !ids.contains(spawner.as_str()) {
                diags.push(
                    Diagnostic::new(
                        Code::F0037,
                        format!("step `{}` waits for the children of `{spawner}`, which a transform removed", s.id_str()),
                    )
                    .at(inner_span(w, span), "no longer a step")
                    .help("wait on a step that survives the transforms (expansions replace their target; conditions can exclude steps)"),
                );
            }
        }
    }
}
