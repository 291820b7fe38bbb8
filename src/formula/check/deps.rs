//! Dependency checks: unknown targets, self-dependencies and cycles.

use crate::formula::ast::{Formula, SpStr, Step};
use crate::formula::codes::Code;
use crate::formula::diag::Diagnostic;
use crate::formula::suggest::did_you_mean;
use petgraph::graph::{DiGraph, NodeIndex};
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::VecDeque;

pub(super) fn check(f: &Formula, diags: &mut Vec<Diagnostic>) {
    let steps = f.walk_steps();
    let mut index: FxHashMap<&str, usize> =
        FxHashMap::with_capacity_and_hasher(steps.len(), Default::default());
    for (i, s) in steps.iter().enumerate() {
        if let Some(id) = &s.id {
            index.entry(id.value.as_str()).or_insert(i);
        }
    }
    let mut graph: DiGraph<usize, ()> = DiGraph::with_capacity(steps.len(), steps.len());
    let nodes: Vec<NodeIndex> = (0..steps.len()).map(|i| graph.add_node(i)).collect();
    for (i, s) in steps.iter().enumerate() {
        let Some(id) = &s.id else { continue };
        for dep in s.blocking_deps() {
            if dep.value == id.value {
                diags.push(
                    Diagnostic::new(
                        Code::F0017,
                        format!("step `{}` depends on itself", id.value),
                    )
                    .at(dep.span, "a step cannot wait for itself")
                    .label(id.span, "in this step")
                    .help("remove this entry; it would block the step forever"),
                );
                continue;
            }
            match index.get(dep.value.as_str()) {
                Some(&j) => {
                    graph.update_edge(nodes[i], nodes[j], ());
                }
                None => diags.push(unknown_dep(id, dep, &index)),
            }
        }
    }
    for scc in petgraph::algo::tarjan_scc(&graph) {
        if scc.len() < 2 {
            continue;
        }
        diags.push(cycle_diagnostic(&graph, &scc, &steps));
    }
}

fn unknown_dep(id: &SpStr, dep: &SpStr, index: &FxHashMap<&str, usize>) -> Diagnostic {
    let suggestion = did_you_mean(&dep.value, index.keys().copied());
    Diagnostic::new(
        Code::F0016,
        format!(
            "step `{}` depends on `{}`, which does not exist",
            id.value, dep.value
        ),
    )
    .at(
        dep.span,
        match &suggestion {
            Some(s) => format!("no step `{}`; did you mean `{s}`?", dep.value),
            None => format!("no step `{}`", dep.value),
        },
    )
    .help(match &suggestion {
        Some(s) => format!("change it to `{s}`"),
        None => "name an existing step id, or remove the entry".to_string(),
    })
}

/// Find one cycle inside a strongly connected component, starting from the
/// step declared first, and label every dependency entry along it.
fn cycle_diagnostic(graph: &DiGraph<usize, ()>, scc: &[NodeIndex], steps: &[&Step]) -> Diagnostic {
    let members: FxHashSet<NodeIndex> = scc.iter().copied().collect();
    let start = *scc.iter().min_by_key(|n| graph[**n]).unwrap_or(&scc[0]);
    // BFS from `start` back to `start`, staying inside the component.
    let mut prev: FxHashMap<NodeIndex, NodeIndex> = FxHashMap::default();
    let mut queue = VecDeque::from([start]);
    let mut closing = None;
    'bfs: while let Some(n) = queue.pop_front() {
        let mut next: Vec<NodeIndex> = graph.neighbors(n).filter(|m| members.contains(m)).collect();
        next.sort_by_key(|m| graph[*m]);
        for m in next {
            if m == start {
                closing = Some(n);
                break 'bfs;
            }
            if let std::collections::hash_map::Entry::Vacant(e) = prev.entry(m) {
                e.insert(n);
                queue.push_back(m);
            }
        }
    }
    let mut path = vec![start];
    if let Some(mut n) = closing {
        let mut back = vec![];
        while n != start {
            back.push(n);
            n = prev[&n];
        }
        back.reverse();
        path.extend(back);
    }
    let ids: Vec<&str> = path.iter().map(|n| steps[graph[*n]].id_str()).collect();
    let mut shown = ids.clone();
    shown.push(ids[0]);
    let mut d = Diagnostic::new(
        Code::F0018,
        format!("dependency cycle: {}", shown.join(" -> ")),
    )
    .help("remove one of these dependencies; no step on a cycle could ever start");
    for (k, n) in path.iter().enumerate() {
        let from = steps[graph[*n]];
        let to = ids[(k + 1) % ids.len()];
        if let Some(entry) = from.blocking_deps().find(|d| d.value == to) {
            let msg = format!("`{}` needs `{to}`", from.id_str());
            d = if k == 0 {
                d.at(entry.span, msg)
            } else {
                d.label(entry.span, msg)
            };
        }
    }
    d
}
