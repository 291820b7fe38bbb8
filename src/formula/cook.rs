//! Lower a resolved, checked formula to the protomolecule IR.
//!
//! Step ids are `<formula>.<path>`, where a child's path is
//! `<parent path>.<child id>`. Each gated step gets a sibling gate step
//! `gate-<id>` that blocks it. Edges: every step is a `parent-child` of its
//! parent (the root or the parent step); `needs`/`depends_on` become
//! `blocks`; `waits_for` becomes `waits-for` on its spawner.

use super::ast::{Formula, LazyLoop, SpStr, Step, STEP_TYPES};
use super::compose::FieldTemplates;
use super::library::Session;
use super::proto::*;
use super::source::{FileId, Span};
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;

pub fn cook(f: &Formula, sess: &Session) -> Proto {
    cook_steps(f, f.steps.clone(), sess)
}

/// Cook with the steps handed over by value: each AST step is freed as its
/// IR step is built, so a million-step formula never exists twice.
pub fn cook_steps(f: &Formula, steps: Vec<Step>, sess: &Session) -> Proto {
    let name = f.name_str().to_string();
    let mut cx = Cooker {
        formula: name.clone(),
        sess,
        steps: Vec::new(),
        deps: Vec::new(),
        paths: FxHashMap::default(),
        aliases: FxHashMap::default(),
    };
    cx.index(&steps, None);
    let total = count(&steps);
    cx.steps.reserve_exact(total);
    cx.deps.reserve_exact(count_deps(&steps));
    cx.emit(steps, None, &name);

    let has_var = |n: &str| f.vars.iter().any(|v| v.name.value == n);
    let root = ProtoRoot {
        id: name.clone(),
        title: if has_var("title") {
            "{{title}}".to_string()
        } else {
            name.clone()
        },
        description: if has_var("desc") {
            "{{desc}}".to_string()
        } else {
            f.description
                .as_ref()
                .map(|d| d.value.clone())
                .unwrap_or_default()
        },
    };
    let mut vars: Vec<ProtoVar> = f
        .vars
        .iter()
        .map(|v| ProtoVar {
            name: v.name.value.clone(),
            description: v.description.as_ref().map(|d| d.value.clone()),
            default: v.default.as_ref().map(|d| d.value.clone()),
            required: v.is_required(),
            enum_values: v
                .enum_values
                .as_ref()
                .map(|e| e.value.iter().map(|x| x.value.clone()).collect()),
            pattern: v.pattern.as_ref().map(|p| p.value.clone()),
            value_type: v.value_type.as_ref().map(|t| t.value.clone()),
        })
        .collect();
    // Convoy inputs are vars too; a missing input is a required var.
    for i in &f.inputs {
        if vars.iter().any(|v| v.name == i.name.value) {
            continue;
        }
        vars.push(ProtoVar {
            name: i.name.value.clone(),
            description: i.description.as_ref().map(|d| d.value.clone()),
            default: i.default.as_ref().map(|d| d.value.clone()),
            required: i.default.is_none() && i.required_unless.is_empty(),
            enum_values: None,
            pattern: None,
            value_type: None,
        });
    }
    vars.sort_by(|a, b| a.name.cmp(&b.name));

    let mut sources: Vec<SourceDigest> = sess
        .sources
        .iter()
        .map(|(id, s)| SourceDigest {
            formula: sess.formula_name(id).to_string(),
            path: s.name.clone(),
            sha256: s.sha256.clone(),
        })
        .collect();
    sources.sort_by(|a, b| (&a.formula, &a.path).cmp(&(&b.formula, &b.path)));
    sources.dedup();

    let has_families = cx
        .steps
        .iter()
        .any(|e| matches!(e, ProtoEntry::Loop { .. }));
    Proto {
        ir_version: if has_families {
            IR_VERSION
        } else {
            IR_VERSION_FLAT
        },
        formula: name,
        kind: f.effective_kind().to_string(),
        version: f.version.as_ref().map(|v| v.value).unwrap_or(1),
        phase: f.phase.as_ref().map(|p| p.value.clone()),
        pour: f.pour.as_ref().is_some_and(|p| p.value),
        root,
        vars,
        bound_vars: None,
        entries: cx.steps,
        edges: cx.deps,
        sources,
    }
}

struct Cooker<'a> {
    formula: String,
    sess: &'a Session,
    steps: Vec<ProtoEntry>,
    deps: Vec<ProtoEdge>,
    /// Local step id -> path below the root.
    paths: FxHashMap<String, String>,
    /// A lazy loop's id -> the paths of its last iteration's sinks (what
    /// the loop's dependents wait for).
    aliases: FxHashMap<String, Vec<String>>,
}

impl Cooker<'_> {
    fn index(&mut self, steps: &[Step], parent: Option<&str>) {
        for s in steps {
            let Some(id) = &s.id else { continue };
            let path = join(parent, &id.value);
            if let Some(lz) = &s.lazy {
                let n = lz.iterations();
                let (_, sinks) = crate::formula::compose::roots_and_sinks(&lz.body);
                let last: Vec<String> = sinks
                    .iter()
                    .map(|&i| {
                        join(
                            parent,
                            &format!("{}.iter{n}.{}", id.value, lz.body[i].id_str()),
                        )
                    })
                    .collect();
                self.aliases.insert(id.value.clone(), last);
                continue;
            }
            self.paths
                .entry(id.value.clone())
                .or_insert_with(|| path.clone());
            self.index(&s.children, Some(&path));
        }
    }

    fn hier(&self, path: &str) -> String {
        format!("{}.{}", self.formula, path)
    }

    fn provenance(&self, span: Option<Span>, chain: &[String]) -> Provenance {
        let (file, line, col) = match span {
            Some(s) => {
                let src = self.sess.sources.get(s.file());
                let (l, c) = src.line_col(s.start());
                (s.file(), l, c)
            }
            None => (FileId::MAX, 0, 0),
        };
        Provenance {
            formula: if file == FileId::MAX {
                self.formula.clone()
            } else {
                self.sess.formula_name(file).to_string()
            },
            file: if file == FileId::MAX {
                String::new()
            } else {
                self.sess.sources.get(file).name.clone()
            },
            line,
            col,
            chain: chain.to_vec(),
        }
    }

    /// How a step got here, each link with its source location.
    fn chain(&self, s: &Step) -> Vec<String> {
        s.provenance
            .iter()
            .map(|(what, span)| match span {
                Some(sp) => format!("{what} ({})", self.location(*sp)),
                None => what.clone(),
            })
            .collect()
    }

    /// `file:line:col` of a span.
    fn location(&self, sp: Span) -> String {
        let src = self.sess.sources.get(sp.file());
        let (l, c) = src.line_col(sp.start());
        format!("{}:{l}:{c}", src.name)
    }

    fn push_step(&mut self, s: ProtoStep) {
        self.steps.push(s.into());
    }

    fn push_dep(&mut self, d: ProtoDep) {
        self.deps.push(d.into());
    }

    fn emit(&mut self, steps: Vec<Step>, parent_path: Option<&str>, parent_id: &str) {
        // The AST steps' memory goes back as their IR steps are built.
        for s in crate::alloc::into_iter_releasing(steps) {
            self.emit_one(s, parent_path, parent_id);
        }
    }

    fn emit_one(&mut self, mut s: Step, parent_path: Option<&str>, parent_id: &str) {
        if let Some(lz) = s.lazy.take() {
            return self.emit_lazy(s, *lz, parent_path, parent_id);
        }
        {
            let Some(id) = s.id.take() else { return };
            let id = &id;
            let children = std::mem::take(&mut s.children);
            let path = join(parent_path, &id.value);
            let hier = self.hier(&path);
            let kind = if !children.is_empty() {
                "epic".to_string()
            } else {
                leaf_kind(&s)
            };
            let mut runtime = BTreeMap::new();
            if let Some(oc) = &s.on_complete {
                let vars: BTreeMap<String, String> = oc
                    .vars
                    .iter()
                    .map(|(k, v)| (k.value.clone(), v.value.clone()))
                    .collect();
                runtime.insert(
                    "on_complete".to_string(),
                    serde_json::json!({
                        "for_each": oc.for_each.as_ref().map(|x| x.value.clone()),
                        "bond": oc.bond.as_ref().map(|x| x.value.clone()),
                        "vars": vars,
                        "mode": if oc.sequential.as_ref().is_some_and(|b| b.value) { "sequential" } else { "parallel" },
                    }),
                );
            }
            for (k, v) in &s.runtime {
                // Several rules may attach the same kind of extra: keep all.
                match runtime.get_mut(k) {
                    None => {
                        runtime.insert(k.clone(), v.clone());
                    }
                    Some(serde_json::Value::Array(list)) if k == "gate" => list.push(v.clone()),
                    Some(existing) => {
                        let first = existing.take();
                        *existing = serde_json::Value::Array(vec![first, v.clone()]);
                    }
                }
            }
            let provenance = self.provenance(s.anchor(), &self.chain(&s));
            self.push_step(ProtoStep {
                id: hier.clone(),
                path: path.clone(),
                parent: (parent_id != self.formula).then(|| parent_id.to_string()),
                title: s
                    .title
                    .as_ref()
                    .map(|t| t.value.clone())
                    .unwrap_or_else(|| id.value.clone()),
                description: s
                    .description
                    .as_ref()
                    .map(|d| d.value.clone())
                    .unwrap_or_default(),
                notes: s.notes.as_ref().map(|n| n.value.clone()),
                acceptance: s.acceptance.as_ref().map(|a| a.value.clone()),
                kind,
                priority: priority(&s),
                assignee: s.assignee.as_ref().map(|a| a.value.clone()),
                labels: s.labels.iter().map(|l| l.value.clone()).collect(),
                metadata: s.metadata.as_ref().map(|m| m.value.clone()),
                gate: None,
                condition: s.condition.as_ref().map(|c| c.value.clone()),
                run: s.run.as_ref().map(|r| r.value.clone()),
                runtime,
                provenance: provenance.clone(),
            });
            self.push_dep(ProtoDep {
                from: hier.clone(),
                to: parent_id.to_string(),
                kind: DepKind::ParentChild,
                metadata: None,
            });
            if let Some(g) = &s.gate {
                let gate_path = join(parent_path, &format!("gate-{}", id.value));
                let gate_id = self.hier(&gate_path);
                let gkind = g
                    .kind
                    .as_ref()
                    .map(|k| k.value.clone())
                    .unwrap_or_else(|| "human".into());
                let await_id = g
                    .await_id
                    .as_ref()
                    .or(g.id.as_ref())
                    .map(|a| a.value.clone());
                let title = match &await_id {
                    Some(a) => format!("Gate: {gkind} {a}"),
                    None => format!("Gate: {gkind}"),
                };
                self.push_step(ProtoStep {
                    id: gate_id.clone(),
                    path: gate_path,
                    parent: (parent_id != self.formula).then(|| parent_id.to_string()),
                    title,
                    description: format!("Async gate for step {}", id.value),
                    notes: None,
                    acceptance: None,
                    kind: "gate".to_string(),
                    priority: 2,
                    assignee: None,
                    labels: Vec::new(),
                    metadata: None,
                    gate: Some(ProtoGate {
                        await_id,
                        timeout_secs: g
                            .timeout
                            .as_ref()
                            .and_then(|t| super::expr::duration::parse_duration(&t.value).ok()),
                        condition: g.condition.as_ref().map(|c| c.value.clone()),
                        judged_by: g
                            .condition
                            .as_ref()
                            .and_then(|c| Judge::of(&c.value, Some(&gkind))),
                        kind: gkind,
                    }),
                    condition: None,
                    run: None,
                    runtime: BTreeMap::new(),
                    provenance,
                });
                self.push_dep(ProtoDep {
                    from: gate_id.clone(),
                    to: parent_id.to_string(),
                    kind: DepKind::ParentChild,
                    metadata: None,
                });
                self.push_dep(ProtoDep {
                    from: hier.clone(),
                    to: gate_id,
                    kind: DepKind::Blocks,
                    metadata: None,
                });
            }
            let mut seen = Vec::new();
            for dep in s.blocking_deps() {
                let targets: Vec<String> = match self.aliases.get(&dep.value) {
                    Some(a) => a.clone(),
                    None => self.paths.get(&dep.value).cloned().into_iter().collect(),
                };
                for p in &targets {
                    let to = self.hier(p);
                    if !seen.contains(&to) && to != hier {
                        seen.push(to.clone());
                        self.push_dep(ProtoDep {
                            from: hier.clone(),
                            to,
                            kind: DepKind::Blocks,
                            metadata: None,
                        });
                    }
                }
            }
            // The checks reject malformed values before cook.
            if let Some(w) = s
                .waits_for
                .as_ref()
                .and_then(|w| super::expr::waits_for::parse_waits_for(&w.value).ok())
            {
                let gate = w.gate();
                // `children-of(x)` names its spawner; the plain forms use the
                // first `needs` entry.
                let spawner = w
                    .spawner()
                    .map(str::to_string)
                    .or_else(|| s.needs.first().map(|n| n.value.clone()));
                if let Some(p) = spawner.and_then(|sp| self.paths.get(&sp).cloned()) {
                    self.push_dep(ProtoDep {
                        from: hier.clone(),
                        to: self.hier(&p),
                        kind: DepKind::WaitsFor,
                        metadata: Some(serde_json::json!({ "gate": gate })),
                    });
                }
            }
            self.emit(children, Some(&path), &hier);
        }
    }

    /// A lazy loop becomes one generated family: its body as templates and
    /// its range, expanded by `Proto::steps`/`Proto::deps` exactly as eager
    /// expansion would have written it (tested).
    fn emit_lazy(
        &mut self,
        container: Step,
        lz: LazyLoop,
        parent_path: Option<&str>,
        parent_id: &str,
    ) {
        let name = container.id_str().to_string();
        let path = join(parent_path, &name);
        let id = self.hier(&path);
        // The loop's own dependencies, resolved as the first iteration's.
        let mut needs: Vec<String> = Vec::new();
        for dep in container.blocking_deps() {
            let targets: Vec<String> = match self.aliases.get(&dep.value) {
                Some(a) => a.clone(),
                None => self.paths.get(&dep.value).cloned().into_iter().collect(),
            };
            for p in targets {
                let to = self.hier(&p);
                if !needs.contains(&to) {
                    needs.push(to);
                }
            }
        }
        let templates = crate::formula::compose::body_templates(&lz.body, lz.var.as_deref());
        let body = lz
            .body
            .iter()
            .zip(templates)
            .map(|(b, t)| self.template(b, t))
            .collect();
        let family = ProtoLoop {
            id: id.clone(),
            path,
            name,
            parent: (parent_id != self.formula).then(|| parent_id.to_string()),
            var: lz.var,
            first: lz.first,
            last: lz.last,
            needs,
            source: self.location(lz.span),
            body,
        };
        self.steps.push(ProtoEntry::Loop {
            family: Box::new(family),
        });
        self.deps.push(ProtoEdge::Loop { id });
    }

    /// A lazy loop's body step as a template; `holes` splits its title,
    /// description and notes around the loop var.
    fn template(&self, b: &Step, holes: FieldTemplates) -> ProtoLoopStep {
        let [title, description, notes] = holes;
        let text = |field: &Option<SpStr>, pieces: Option<Vec<String>>| {
            field.as_ref().map(|f| match pieces {
                Some(p) => Text::from_pieces(p),
                None => Text::plain(f.value.clone()),
            })
        };
        let mut needs: Vec<String> = Vec::new();
        for d in b.blocking_deps() {
            if !needs.contains(&d.value) {
                needs.push(d.value.clone());
            }
        }
        ProtoLoopStep {
            id: b.id_str().to_string(),
            title: text(&b.title, title),
            description: text(&b.description, description).unwrap_or_default(),
            notes: text(&b.notes, notes),
            acceptance: b.acceptance.as_ref().map(|a| a.value.clone()),
            kind: leaf_kind(b),
            priority: priority(b),
            assignee: b.assignee.as_ref().map(|a| a.value.clone()),
            labels: b.labels.iter().map(|l| l.value.clone()).collect(),
            metadata: b.metadata.as_ref().map(|m| m.value.clone()),
            run: b.run.as_ref().map(|r| r.value.clone()),
            needs,
            // As `emit_one`, which has taken the id by then: the table.
            provenance: self.provenance(b.span, &self.chain(b)),
        }
    }
}

/// The type of a step without children.
fn leaf_kind(s: &Step) -> String {
    match &s.kind {
        Some(k) if STEP_TYPES.contains(&k.value.as_str()) => k.value.clone(),
        _ => "task".to_string(),
    }
}

fn priority(s: &Step) -> u8 {
    s.priority
        .as_ref()
        .map(|p| p.value.clamp(0, 4) as u8)
        .unwrap_or(2)
}

fn count(steps: &[Step]) -> usize {
    steps
        .iter()
        .map(|s| match &s.lazy {
            Some(_) => 1,
            None => 1 + count(&s.children),
        })
        .sum()
}

/// Edges `count` steps need, at most: one to the parent, one per blocking
/// dependency, two for a gate, one for `waits_for`; one per loop family.
fn count_deps(steps: &[Step]) -> usize {
    steps
        .iter()
        .map(|s| match &s.lazy {
            Some(_) => 1,
            None => {
                let own = s.depends_on.len() + s.needs.len();
                let extra = 2 * usize::from(s.gate.is_some()) + usize::from(s.waits_for.is_some());
                1 + own + extra + count_deps(&s.children)
            }
        })
        .sum()
}

fn join(parent: Option<&str>, id: &str) -> String {
    match parent {
        Some(p) => format!("{p}.{id}"),
        None => id.to_string(),
    }
}
