//! Structural checks over a resolved formula. Each submodule owns a family
//! of diagnostic codes; all problems are reported in one run.
//!
//! | module       | codes |
//! |--------------|-------|
//! | `formula`    | F0009 (name), F0025 version, F0026 stem, F0027 no steps, F0028 type |
//! | `steps`      | F0009 (id/title), F0010 priority, F0015 duplicates, F0029 step type |
//! | `deps`       | F0016 unknown, F0017 self, F0018 cycle |
//! | `vars`       | F0019 undeclared, F0020 unused, F0021 required+default, F0022-F0024 rules |
//! | `shell`      | F0048 unsafe placeholder, F0049 not shell, F0050 reserved env name |

mod deps;
pub(crate) mod exprs;
mod formula;
mod shell;
mod steps;
mod vars;

use super::ast::{Formula, Step};
use super::diag::Diagnostic;
use super::source::Sources;

/// Run every check. `stem` is the file stem the formula was loaded from.
pub fn check(f: &Formula, sources: &Sources, diags: &mut Vec<Diagnostic>) {
    let stem = sources.get(f.file).formula_stem().map(str::to_string);
    formula::check(f, stem.as_deref(), diags);
    steps::check(f, diags);
    deps::check(f, diags);
    vars::check(f, diags);
    exprs::check(f, diags);
    shell::check(f, diags);
}

/// Checks that must hold again after every transform: unique ids,
/// resolvable references, no cycles, and `waits_for` spawners that exist.
pub fn check_graph(f: &Formula, diags: &mut Vec<Diagnostic>) {
    steps::check_unique_ids(f, diags);
    steps::check_id_grammar(f, diags);
    deps::check(f, diags);
    exprs::check_waits_for_wiring(f, diags);
}

/// Visit every step a formula declares: children, loop bodies, templates
/// and advice steps included.
pub(crate) fn visit_steps(f: &Formula, visit: &mut dyn FnMut(&Step)) {
    fn go(s: &Step, visit: &mut dyn FnMut(&Step)) {
        visit(s);
        for c in &s.children {
            go(c, visit);
        }
        if let Some(l) = &s.loop_ {
            for b in &l.body {
                go(b, visit);
            }
        }
    }
    for s in f.steps.iter().chain(f.template.iter()) {
        go(s, visit);
    }
    for a in &f.advice {
        for s in a
            .before
            .iter()
            .chain(a.after.iter())
            .chain(&a.around_before)
            .chain(&a.around_after)
        {
            go(s, visit);
        }
    }
}

/// Map a byte range inside a string value to a file span. The value's span
/// covers the quotes, so skip the opening delimiter when the raw text is a
/// plain one-line string; otherwise fall back to the whole value.
pub(crate) fn inner_span(
    s: &super::ast::SpStr,
    inner: std::ops::Range<usize>,
) -> super::source::Span {
    let width = s.span.end() - s.span.start();
    if width == s.value.len() + 2 {
        s.span.sub(inner.start + 1..inner.end + 1)
    } else if width == s.value.len() + 6 && !s.value.contains('\n') {
        s.span.sub(inner.start + 3..inner.end + 3)
    } else {
        s.span
    }
}
