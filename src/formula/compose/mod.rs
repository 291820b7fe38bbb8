//! The transforms, run in the reference's pipeline order:
//! convoy legs and standalone expansions -> loops -> `compose.branch` ->
//! `compose.gate` -> the formula's own advice -> inline `expand` ->
//! `compose.expand` -> `compose.map` -> `compose.aspects` -> step
//! conditions (only when vars are bound).
//!
//! The graph is re-validated after *every* transform (unique ids,
//! resolvable references, no cycles). No transform drops a dependency
//! silently: dependents of a replaced step are rewired onto its
//! replacement, and a dependency that must go is reported (F0043).
//! Every generated step records how it got there (`Step::provenance`).

mod advice;
mod conditions;
mod convoy;
mod expand;
mod loops;
pub use loops::{body_templates, rewrite_iteration, FieldTemplates, LAZY_MIN_STEPS};
mod rules;

use super::ast::{Formula, Sp, SpStr, Step};
use super::check;
use super::diag::has_errors;
use super::library::Session;
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::BTreeMap;

/// The default cap on generated steps (`--max-steps`).
pub const DEFAULT_MAX_STEPS: usize = 1_000_000;

pub struct Cx<'a> {
    pub sess: &'a mut Session,
    /// Known var values: declared defaults overridden by `--var`.
    pub vars: BTreeMap<String, String>,
    /// Drop steps whose condition is false (only when vars are bound).
    pub filter_conditions: bool,
    pub max_steps: usize,
    pub formula: String,
    /// Bumped by every stage that changes the step graph.
    pub generation: u64,
}

impl Cx<'_> {
    /// Record that the current stage changed the step graph.
    pub fn touched(&mut self) {
        self.generation += 1;
    }
}

type Stage = fn(&mut Formula, &mut Cx<'_>);

/// Run every transform. Returns false when one of them failed (the
/// diagnostics say why); later stages are then skipped.
pub fn transform(f: &mut Formula, cx: &mut Cx<'_>) -> bool {
    let stages: [(&str, Stage); 10] = [
        ("convoy", convoy::apply),
        ("loop", loops::apply),
        ("compose.branch", rules::apply_branch),
        ("compose.gate", rules::apply_gate),
        ("advice", advice::apply_own),
        ("inline expand", expand::apply_inline),
        ("compose.expand", expand::apply_compose),
        ("compose.map", expand::apply_map),
        ("compose.aspects", advice::apply_aspects),
        ("condition", conditions::apply),
    ];
    for (name, stage) in stages {
        if name == "condition" && !cx.filter_conditions {
            continue;
        }
        let before = cx.sess.diags.len();
        let generation = cx.generation;
        stage(f, cx);
        if has_errors(&cx.sess.diags[before..]) {
            return false;
        }
        // Re-validate only what a stage touched: a no-op stage on a
        // million-step formula must cost nothing.
        if cx.generation == generation {
            continue;
        }
        let mut found = Vec::new();
        check::check_graph(f, &mut found);
        let failed = has_errors(&found);
        cx.sess.diags.extend(
            found
                .into_iter()
                .map(|d| d.note(format!("found after the `{name}` transform"))),
        );
        if failed {
            return false;
        }
    }
    true
}

// ---------------------------------------------------------------------------
// Shared helpers for the transforms.

pub(crate) fn walk_mut(steps: &mut [Step], f: &mut dyn FnMut(&mut Step)) {
    for s in steps {
        f(s);
        walk_mut(&mut s.children, f);
    }
}

pub fn ids_in(steps: &[Step], out: &mut FxHashSet<String>) {
    for s in steps {
        if let Some(id) = &s.id {
            out.insert(id.value.clone());
        }
        ids_in(&s.children, out);
    }
}

pub(crate) fn count_steps(steps: &[Step]) -> usize {
    steps.iter().map(|s| 1 + count_steps(&s.children)).sum()
}

pub(crate) fn find_mut<'a>(steps: &'a mut [Step], id: &str) -> Option<&'a mut Step> {
    for s in steps {
        if s.id_str() == id {
            return Some(s);
        }
        if let Some(found) = find_mut(&mut s.children, id) {
            return Some(found);
        }
    }
    None
}

/// Replace the step `id` (anywhere in the tree) by what `f` makes of it.
pub(crate) fn replace_step(
    steps: &mut Vec<Step>,
    id: &str,
    f: &mut dyn FnMut(Step) -> Vec<Step>,
) -> bool {
    if let Some(pos) = steps.iter().position(|s| s.id_str() == id) {
        let target = steps.remove(pos);
        let generated = f(target);
        let tail = steps.split_off(pos);
        steps.extend(generated);
        steps.extend(tail);
        return true;
    }
    steps
        .iter_mut()
        .any(|s| replace_step(&mut s.children, id, f))
}

/// Top-level steps of a generated group that depend on no other member
/// (roots), and that no other member depends on (sinks).
pub fn roots_and_sinks(group: &[Step]) -> (Vec<usize>, Vec<usize>) {
    let ids: FxHashSet<&str> = group.iter().map(|s| s.id_str()).collect();
    let mut needed: FxHashSet<&str> = FxHashSet::default();
    let mut roots = Vec::new();
    for (i, s) in group.iter().enumerate() {
        let mut internal = false;
        for d in s.blocking_deps() {
            if ids.contains(d.value.as_str()) {
                internal = true;
                needed.insert(d.value.as_str());
            }
        }
        if !internal {
            roots.push(i);
        }
    }
    let sinks = (0..group.len())
        .filter(|i| !needed.contains(group[*i].id_str()))
        .collect();
    (roots, sinks)
}

/// A rewiring of dependents: every `needs`/`depends_on` entry naming the
/// key now names the targets instead, except inside `exclude`.
#[derive(Default)]
pub(crate) struct Renames {
    map: FxHashMap<String, (Vec<String>, FxHashSet<String>)>,
}

impl Renames {
    pub fn add(&mut self, from: &str, to: Vec<String>, exclude: FxHashSet<String>) {
        self.map.insert(from.to_string(), (to, exclude));
    }

    pub fn apply(&self, steps: &mut [Step]) {
        if self.map.is_empty() {
            return;
        }
        walk_mut(steps, &mut |s: &mut Step| {
            let me = s.id_str().to_string();
            for list in [&mut s.needs, &mut s.depends_on] {
                if !list.iter().any(|d| self.map.contains_key(&d.value)) {
                    continue;
                }
                let mut out: Vec<SpStr> = Vec::with_capacity(list.len());
                for d in list.drain(..) {
                    match self.map.get(&d.value) {
                        Some((to, exclude)) if !exclude.contains(&me) => {
                            for t in to {
                                if !out.iter().any(|o| &o.value == t) {
                                    out.push(Sp::new(t.clone(), d.span));
                                }
                            }
                        }
                        _ => {
                            if !out.iter().any(|o| o.value == d.value) {
                                out.push(d);
                            }
                        }
                    }
                }
                *list = out;
            }
        });
    }
}
