//! A molecule's step DAG as SVG geometry: longest-path layers left to right,
//! one barycentre pass against crossings, each node coloured by its state.
//! The template draws it (so every title is escaped like the rest).

use crate::molecule::{StepState, StepView};
use serde::Serialize;

pub const NODE_W: i64 = 200;
pub const NODE_H: i64 = 40;
const GAP_X: i64 = 56;
const GAP_Y: i64 = 14;
const PAD: i64 = 12;
/// Larger molecules draw their first steps; the checklist lists all.
pub const MAX_NODES: usize = 400;
const LABEL_CHARS: usize = 24;

#[derive(Debug, Clone, Serialize)]
pub struct Node {
    pub id: String,
    pub label: String,
    /// The step's path inside its molecule (`implement.draft`).
    pub short: String,
    pub title: String,
    pub state: &'static str,
    pub x: i64,
    pub y: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Edge {
    /// SVG path data.
    pub d: String,
    /// `blocks`, `waits-for`, `parent-child`, ...
    pub kind: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Svg {
    pub width: i64,
    pub height: i64,
    pub node_w: i64,
    pub node_h: i64,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
    /// Steps left out (past [`MAX_NODES`]).
    pub hidden: usize,
}

pub fn state_name(s: StepState) -> &'static str {
    match s {
        StepState::Done => "done",
        StepState::Current => "current",
        StepState::Ready => "ready",
        StepState::Blocked => "blocked",
        StepState::Pending => "pending",
    }
}

fn label(title: &str) -> String {
    if title.chars().count() <= LABEL_CHARS {
        return title.to_string();
    }
    let cut: String = title.chars().take(LABEL_CHARS - 1).collect();
    format!("{cut}…")
}

/// Lay out `steps` (checklist order) with `edges` `(before, after, kind)`
/// given as indices into `steps`.
pub fn layout(steps: &[StepView], edges: &[(usize, usize, String)]) -> Svg {
    let n = steps.len().min(MAX_NODES);
    let edges: Vec<&(usize, usize, String)> = edges
        .iter()
        .filter(|(a, b, _)| *a < n && *b < n && a != b)
        .collect();
    let layer = layers(n, &edges);
    let columns = order_columns(n, &layer, &edges);
    let mut pos = vec![(0i64, 0i64); n];
    let mut height = 0;
    for (l, col) in columns.iter().enumerate() {
        for (row, &i) in col.iter().enumerate() {
            pos[i] = (
                PAD + l as i64 * (NODE_W + GAP_X),
                PAD + row as i64 * (NODE_H + GAP_Y),
            );
            height = height.max(pos[i].1 + NODE_H + PAD);
        }
    }
    let width = PAD + columns.len() as i64 * (NODE_W + GAP_X) - GAP_X + PAD;
    let nodes = (0..n)
        .map(|i| Node {
            id: steps[i].id.clone(),
            label: label(&steps[i].title),
            short: steps[i]
                .id
                .split_once('.')
                .map_or(steps[i].id.as_str(), |(_, p)| p)
                .to_string(),
            title: format!("{} — {} ({})", steps[i].id, steps[i].title, steps[i].status),
            state: state_name(steps[i].state),
            x: pos[i].0,
            y: pos[i].1,
        })
        .collect();
    let edges = edges
        .iter()
        .map(|(a, b, kind)| {
            let (x1, y1) = (pos[*a].0 + NODE_W, pos[*a].1 + NODE_H / 2);
            let (x2, y2) = (pos[*b].0, pos[*b].1 + NODE_H / 2);
            let d = if x2 > x1 {
                let mx = (x1 + x2) / 2;
                format!("M{x1},{y1} C{mx},{y1} {mx},{y2} {x2},{y2}")
            } else {
                // Same column (only when the graph had a cycle): a loop round the left.
                let (lx, ly) = (pos[*a].0, pos[*a].1 + NODE_H / 2);
                format!("M{lx},{ly} C{},{ly} {},{y2} {x2},{y2}", lx - 30, x2 - 30)
            };
            Edge {
                d,
                kind: kind.clone(),
            }
        })
        .collect();
    Svg {
        width: width.max(NODE_W + 2 * PAD),
        height: height.max(NODE_H + 2 * PAD),
        node_w: NODE_W,
        node_h: NODE_H,
        nodes,
        edges,
        hidden: steps.len() - n,
    }
}

/// Longest-path layer of each node (Kahn's order; nodes left on a cycle
/// go after everything else).
fn layers(n: usize, edges: &[&(usize, usize, String)]) -> Vec<usize> {
    let mut indeg = vec![0usize; n];
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (a, b, _) in edges {
        out[*a].push(*b);
        indeg[*b] += 1;
    }
    let mut layer = vec![0usize; n];
    let mut queue: std::collections::VecDeque<usize> = (0..n).filter(|&i| indeg[i] == 0).collect();
    let mut seen = 0;
    while let Some(i) = queue.pop_front() {
        seen += 1;
        for &j in &out[i] {
            layer[j] = layer[j].max(layer[i] + 1);
            indeg[j] -= 1;
            if indeg[j] == 0 {
                queue.push_back(j);
            }
        }
    }
    if seen < n {
        let top = layer.iter().copied().max().unwrap_or(0) + 1;
        for i in 0..n {
            if indeg[i] > 0 {
                layer[i] = top;
            }
        }
    }
    layer
}

/// Nodes per layer: checklist order, then sorted by the mean row of their
/// predecessors (one barycentre sweep).
fn order_columns(n: usize, layer: &[usize], edges: &[&(usize, usize, String)]) -> Vec<Vec<usize>> {
    let depth = layer.iter().copied().max().map_or(0, |m| m + 1);
    let mut cols: Vec<Vec<usize>> = vec![Vec::new(); depth];
    for i in 0..n {
        cols[layer[i]].push(i);
    }
    let mut preds: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (a, b, _) in edges {
        preds[*b].push(*a);
    }
    let mut row = vec![0f64; n];
    for (l, col) in cols.iter_mut().enumerate() {
        if l > 0 {
            let key = |i: usize| -> f64 {
                let p = &preds[i];
                if p.is_empty() {
                    i as f64
                } else {
                    p.iter().map(|&j| row[j]).sum::<f64>() / p.len() as f64
                }
            };
            let mut keyed: Vec<(f64, usize)> = col.iter().map(|&i| (key(i), i)).collect();
            keyed.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
            *col = keyed.into_iter().map(|(_, i)| i).collect();
        }
        for (r, &i) in col.iter().enumerate() {
            row[i] = r as f64;
        }
    }
    cols
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{IssueType, Status};

    fn step(id: &str, state: StepState) -> StepView {
        StepView {
            id: id.into(),
            title: format!("Step {id} with a rather long title indeed"),
            issue_type: IssueType::Task,
            status: Status::Open,
            state,
            assignee: None,
            depth: 1,
        }
    }

    #[test]
    fn layers_follow_dependencies_and_labels_are_cut() {
        let steps = vec![
            step("a", StepState::Done),
            step("b", StepState::Current),
            step("c", StepState::Ready),
            step("d", StepState::Pending),
        ];
        let e = |a, b| (a, b, "blocks".to_string());
        let svg = layout(&steps, &[e(0, 1), e(0, 2), e(1, 3), e(2, 3)]);
        let x: Vec<i64> = svg.nodes.iter().map(|n| n.x).collect();
        assert!(x[0] < x[1] && x[1] == x[2] && x[2] < x[3], "{x:?}");
        assert_ne!(svg.nodes[1].y, svg.nodes[2].y);
        assert_eq!(svg.edges.len(), 4);
        assert!(svg.nodes[0].label.ends_with('…'));
        assert_eq!(svg.nodes[1].state, "current");
        assert!(svg.width >= 3 * NODE_W);
    }

    #[test]
    fn a_cycle_still_lays_out() {
        let steps = vec![step("a", StepState::Ready), step("b", StepState::Ready)];
        let e = |a, b| (a, b, "blocks".to_string());
        let svg = layout(&steps, &[e(0, 1), e(1, 0)]);
        assert_eq!(svg.nodes.len(), 2);
        assert_eq!(svg.edges.len(), 2);
    }
}
