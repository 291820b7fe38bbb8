//! Human and graph renderings of a protomolecule: `tree`, `dot`, `mermaid`.

use super::proto::{DepKind, Judge, Proto, ProtoDep, ProtoGate, ProtoStep};
use rustc_hash::FxHashMap;
use std::borrow::Cow;
use std::fmt::Write;

/// A readable outline: steps nested under their parents, with their
/// blocking dependencies.
pub fn tree(p: &Proto) -> String {
    let mut out = String::new();
    let steps: Vec<Cow<'_, ProtoStep>> = p.steps().collect();
    let deps: Vec<Cow<'_, ProtoDep>> = p.deps().collect();
    let step_count = steps.iter().filter(|s| s.kind != "gate").count();
    let _ = writeln!(
        out,
        "{} ({}, v{}, {} step{})",
        p.formula,
        p.kind,
        p.version,
        step_count,
        if step_count == 1 { "" } else { "s" }
    );
    if !p.root.title.is_empty() && p.root.title != p.formula {
        let _ = writeln!(out, "  title: {}", p.root.title);
    }
    if !p.vars.is_empty() {
        let vars: Vec<String> = p
            .vars
            .iter()
            .map(|v| {
                let mut s = v.name.clone();
                if let Some(d) = &v.default {
                    let _ = write!(s, "={d:?}");
                } else if v.required {
                    s.push('!');
                }
                s
            })
            .collect();
        let _ = writeln!(out, "  vars: {}", vars.join(", "));
    }
    let mut blocks: FxHashMap<&str, Vec<&str>> = FxHashMap::default();
    let mut waits: FxHashMap<&str, Vec<String>> = FxHashMap::default();
    for d in &deps {
        match d.kind {
            DepKind::Blocks => blocks.entry(&d.from).or_default().push(&d.to),
            DepKind::WaitsFor => {
                let gate = d
                    .metadata
                    .as_ref()
                    .and_then(|m| m.get("gate"))
                    .and_then(|g| g.as_str())
                    .unwrap_or("all-children");
                waits
                    .entry(&d.from)
                    .or_default()
                    .push(format!("{gate} of {}", short(p, &d.to)));
            }
            DepKind::ParentChild => {}
        }
    }
    let mut children: FxHashMap<Option<&str>, Vec<usize>> = FxHashMap::default();
    for (i, s) in steps.iter().enumerate() {
        children.entry(s.parent.as_deref()).or_default().push(i);
    }
    struct Tree<'g> {
        p: &'g Proto,
        steps: &'g [Cow<'g, ProtoStep>],
        children: FxHashMap<Option<&'g str>, Vec<usize>>,
        blocks: FxHashMap<&'g str, Vec<&'g str>>,
        waits: FxHashMap<&'g str, Vec<String>>,
    }
    fn walk(t: &Tree<'_>, parent: Option<&str>, prefix: &str, out: &mut String) {
        let Some(list) = t.children.get(&parent) else {
            return;
        };
        for (k, &i) in list.iter().enumerate() {
            let s = &t.steps[i];
            let last = k + 1 == list.len();
            let branch = if last { "└── " } else { "├── " };
            let mut line = format!("{prefix}{branch}{}", s.path);
            if s.kind != "task" {
                let _ = write!(line, " [{}]", s.kind);
            }
            let _ = write!(line, "  {:?}", s.title);
            if let Some(b) = t.blocks.get(s.id.as_str()) {
                let names: Vec<&str> = b.iter().map(|to| short(t.p, to)).collect();
                let _ = write!(line, "  needs: {}", names.join(", "));
            }
            if let Some(w) = t.waits.get(s.id.as_str()) {
                let _ = write!(line, "  waits-for: {}", w.join(", "));
            }
            if let Some(c) = &s.condition {
                let _ = write!(line, "  if: {c}");
            }
            out.push_str(line.trim_end());
            out.push('\n');
            let next = format!("{prefix}{}", if last { "    " } else { "│   " });
            walk(t, Some(&s.id), &next, out);
        }
    }
    let tree = Tree {
        p,
        steps: &steps,
        children,
        blocks,
        waits,
    };
    walk(&tree, None, "", &mut out);
    out
}

fn short<'a>(p: &Proto, id: &'a str) -> &'a str {
    id.strip_prefix(&p.formula)
        .and_then(|r| r.strip_prefix('.'))
        .unwrap_or(id)
}

fn quote_dot(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Graphviz DOT: one node per step, an edge from each dependency to the
/// step that waits for it.
pub fn dot(p: &Proto) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph {} {{", quote_dot(&p.formula));
    let _ = writeln!(out, "  rankdir=LR;");
    let _ = writeln!(out, "  node [shape=box, style=rounded];");
    for s in p.steps() {
        let shape = match s.kind.as_str() {
            "gate" => ", shape=diamond",
            "epic" => ", style=\"rounded,bold\"",
            _ => "",
        };
        let _ = writeln!(
            out,
            "  {} [label={}{shape}];",
            quote_dot(&s.path),
            quote_dot(&format!("{}\\n{}", s.path, s.title))
        );
    }
    for d in p.deps() {
        let style = match d.kind {
            DepKind::Blocks => "",
            DepKind::WaitsFor => " [style=dashed, label=\"waits-for\"]",
            DepKind::ParentChild => continue,
        };
        let _ = writeln!(
            out,
            "  {} -> {}{style};",
            quote_dot(short(p, &d.to)),
            quote_dot(short(p, &d.from))
        );
    }
    out.push_str("}\n");
    out
}

/// Mermaid flowchart; node ids are sanitised step indexes.
pub fn mermaid(p: &Proto) -> String {
    let mut out = String::from("flowchart LR\n");
    let steps: Vec<Cow<'_, ProtoStep>> = p.steps().collect();
    let index: FxHashMap<&str, usize> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    for (i, s) in steps.iter().enumerate() {
        let label = format!("{}: {}", s.path, s.title).replace('"', "#quot;");
        let (open, close) = match s.kind.as_str() {
            "gate" => ("{", "}"),
            _ => ("[", "]"),
        };
        let _ = writeln!(out, "  s{i}{open}\"{label}\"{close}");
    }
    for d in p.deps() {
        let (Some(from), Some(to)) = (index.get(d.from.as_str()), index.get(d.to.as_str())) else {
            continue;
        };
        match d.kind {
            DepKind::Blocks => {
                let _ = writeln!(out, "  s{to} --> s{from}");
            }
            DepKind::WaitsFor => {
                let _ = writeln!(out, "  s{to} -.->|waits-for| s{from}");
            }
            DepKind::ParentChild => {}
        }
    }
    out
}

/// For `gt cook --explain`: every condition that decides when `step` may
/// proceed (its own gate, gates that block it, `compose.gate` rules and a
/// loop's `until`), each with who judges it.
pub fn conditions(p: &Proto, step: &ProtoStep) -> Vec<String> {
    let mut out = Vec::new();
    let judged = |judge: Option<Judge>| match judge {
        Some(j) => format!(
            "judged by {} (the runtime cannot evaluate it)",
            j.describe()
        ),
        None => "evaluated by the runtime".to_string(),
    };
    let gate_line = |g: &ProtoGate, whose: &str| {
        let mut line = format!("{whose} `{}` gate", g.kind);
        if let Some(a) = &g.await_id {
            let _ = write!(line, " awaiting `{a}`");
        }
        if let Some(t) = g.timeout_secs {
            let _ = write!(line, ", timeout {t}s");
        }
        match &g.condition {
            Some(c) => {
                let _ = write!(line, "; condition `{c}` is {}", judged(g.judged_by));
            }
            None if g.kind == "human" => line.push_str("; a person closes it"),
            None => {}
        }
        line
    };
    if let Some(g) = &step.gate {
        out.push(gate_line(g, "a"));
    }
    for d in p
        .deps()
        .filter(|d| d.from == step.id && d.kind == DepKind::Blocks)
    {
        if let Some(g) = p.step(&d.to).and_then(|s| s.gate.clone()) {
            out.push(gate_line(&g, &format!("blocked by `{}`, a", d.to)));
        }
    }
    for (key, rule) in &step.runtime {
        let rules = match rule {
            serde_json::Value::Array(list) => list.iter().collect(),
            one => vec![one],
        };
        for r in rules {
            let judge = r
                .get("judged_by")
                .and_then(|j| serde_json::from_value::<Judge>(j.clone()).ok());
            let text = |k: &str| {
                r.get(k)
                    .and_then(|c| c.as_str())
                    .unwrap_or_default()
                    .to_string()
            };
            match key.as_str() {
                "gate" => out.push(format!(
                    "compose.gate condition `{}` is {}",
                    text("condition"),
                    judged(judge)
                )),
                "loop" => out.push(format!(
                    "loop until `{}` is {}",
                    text("until"),
                    judged(judge)
                )),
                _ => {}
            }
        }
    }
    out
}
