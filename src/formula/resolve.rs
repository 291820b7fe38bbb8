//! `extends` resolution.
//!
//! As in beads: parents are resolved recursively in order; the first parent
//! wins among parents' vars and the child's vars override; parent steps come
//! first and a child step with the id of an inherited top-level step
//! replaces it in place, other child steps are appended.
//!
//! Unlike beads: the child keeps its own `advice`, `phase`, `pour`,
//! `pointcuts` and every `compose` field (parents' compose rules and advice
//! are inherited too, parents first); a cycle shows the whole chain with a
//! span on every `extends` entry; chains deeper than
//! [`MAX_EXTENDS_DEPTH`](super::library::MAX_EXTENDS_DEPTH) are refused.

use super::ast::{Compose, Formula};
use super::codes::Code;
use super::diag::Diagnostic;
use super::library::{ChainLink, Session, MAX_EXTENDS_DEPTH};
use std::rc::Rc;

pub(super) fn resolve(
    sess: &mut Session,
    f: Rc<Formula>,
    chain: &mut Vec<ChainLink>,
) -> Rc<Formula> {
    if f.extends.is_empty() {
        return f;
    }
    let mut vars = Vec::new();
    let mut steps = Vec::new();
    let mut compose: Option<Compose> = None;
    let mut advice = Vec::new();
    let mut pointcuts = Vec::new();
    let mut phase = None;
    let mut pour = None;
    let mut inherited = rustc_hash::FxHashSet::default();

    for parent_ref in &f.extends {
        let pname = parent_ref.value.as_str();
        if let Some(pos) = chain.iter().position(|(n, _)| n == pname) {
            let mut names: Vec<&str> = chain[pos..].iter().map(|(n, _)| n.as_str()).collect();
            names.push(pname);
            let mut d = Diagnostic::new(
                Code::F0012,
                format!("formula `{pname}` extends itself: {}", names.join(" -> ")),
            )
            .at(parent_ref.span, "this `extends` closes the cycle")
            .help("remove one of the `extends` entries on the cycle; shared steps belong in a common parent");
            for window in chain[pos..].windows(2) {
                if let (prev, (name, Some(span))) = (&window[0].0, &window[1]) {
                    d = d.label(span.span, format!("`{prev}` extends `{name}`"));
                }
            }
            sess.diags.push(d);
            continue;
        }
        if chain.len() > MAX_EXTENDS_DEPTH {
            sess.diags.push(too_deep(chain, parent_ref));
            continue;
        }
        let parent = match sess.resolved.get(pname).cloned() {
            // Memoized: a diamond resolves each formula once (linear cost).
            Some((parent, height)) => {
                if chain.len() + height > MAX_EXTENDS_DEPTH {
                    sess.diags.push(too_deep(chain, parent_ref));
                    continue;
                }
                sess.max_chain = sess.max_chain.max(chain.len() + 1 + height);
                parent
            }
            None => {
                let Some((_, parent)) = sess.load_name(pname, Some(parent_ref.span)) else {
                    continue;
                };
                chain.push((pname.to_string(), Some(parent_ref.clone())));
                let depth = chain.len();
                let max_before = sess.max_chain;
                sess.max_chain = depth;
                let parent = resolve(sess, parent, chain);
                let height = sess.max_chain - depth;
                sess.max_chain = sess.max_chain.max(max_before);
                chain.pop();
                sess.resolved
                    .insert(pname.to_string(), (parent.clone(), height));
                parent
            }
        };

        for v in &parent.vars {
            if !vars
                .iter()
                .any(|x: &super::ast::VarDef| x.name.value == v.name.value)
            {
                vars.push(v.clone());
            }
        }
        // Through a diamond the same inherited definition arrives twice:
        // keep it once (same id and same source span).
        for st in &parent.steps {
            if inherited.insert((st.id_str().to_string(), st.span)) {
                steps.push(st.clone());
            }
        }
        compose = merge_compose(compose, parent.compose.clone());
        push_new(&mut advice, &parent.advice);
        push_new(&mut pointcuts, &parent.pointcuts);
        phase = phase.or(parent.phase.clone());
        pour = pour.or(parent.pour.clone());
    }

    for v in &f.vars {
        match vars.iter_mut().find(|x| x.name.value == v.name.value) {
            Some(slot) => *slot = v.clone(),
            None => vars.push(v.clone()),
        }
    }
    for s in &f.steps {
        let same = steps
            .iter()
            .position(|p: &super::ast::Step| p.id.is_some() && p.id_str() == s.id_str());
        match same {
            Some(i) => steps[i] = s.clone(),
            None => steps.push(s.clone()),
        }
    }
    advice.extend(f.advice.iter().cloned());
    pointcuts.extend(f.pointcuts.iter().cloned());

    let compose = merge_compose(compose, f.compose.clone());
    let phase = f.phase.clone().or(phase);
    let pour = f.pour.clone().or(pour);
    Rc::new(Formula {
        vars,
        steps,
        compose,
        advice,
        pointcuts,
        phase,
        pour,
        ..(*f).clone()
    })
}

fn too_deep(chain: &[ChainLink], parent_ref: &super::ast::SpStr) -> Diagnostic {
    let names: Vec<&str> = chain.iter().map(|(n, _)| n.as_str()).collect();
    Diagnostic::new(
        Code::F0013,
        format!(
            "the extends chain is deeper than {MAX_EXTENDS_DEPTH} levels: {} -> ...",
            names[..4.min(names.len())].join(" -> ")
        ),
    )
    .at(parent_ref.span, "this `extends` goes past the limit")
    .help("flatten the hierarchy; deep inheritance is hard to read and review")
}

/// Append the items of `from` that `to` does not hold yet (items are
/// spanned, so equal means the same definition reached twice).
fn push_new<T: Clone + PartialEq>(to: &mut Vec<T>, from: &[T]) {
    for x in from {
        if !to.contains(x) {
            to.push(x.clone());
        }
    }
}

/// Merge two compose tables, keeping every rule (base first).
fn merge_compose(base: Option<Compose>, overlay: Option<Compose>) -> Option<Compose> {
    match (base, overlay) {
        (None, o) => o,
        (b, None) => b,
        (Some(mut b), Some(o)) => {
            for bp in o.bond_points {
                let same = b.bond_points.iter().position(|x| {
                    x.id.as_ref().map(|i| &i.value) == bp.id.as_ref().map(|i| &i.value)
                });
                match same {
                    Some(i) if bp.id.is_some() => b.bond_points[i] = bp,
                    _ => b.bond_points.push(bp),
                }
            }
            push_new(&mut b.hooks, &o.hooks);
            push_new(&mut b.expand, &o.expand);
            push_new(&mut b.map, &o.map);
            push_new(&mut b.branch, &o.branch);
            push_new(&mut b.gate, &o.gate);
            for a in o.aspects {
                if !b.aspects.iter().any(|x| x.value == a.value) {
                    b.aspects.push(a);
                }
            }
            b.span = o.span.or(b.span);
            Some(b)
        }
    }
}
