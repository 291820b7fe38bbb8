//! The typed formula AST. Every value keeps the span it came from, so every
//! later diagnostic can point at source. Covers the whole schema of both
//! dialects (beads and Gas Town), see the reference §2.

use super::source::{FileId, Span};

/// A value and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Sp<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Sp<T> {
    pub fn new(value: T, span: Span) -> Sp<T> {
        Sp { value, span }
    }
}

impl Sp<String> {
    pub fn as_str(&self) -> &str {
        &self.value
    }
}

pub type SpStr = Sp<String>;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Formula {
    pub file: FileId,
    /// Span of the whole document (for problems with no better place).
    pub doc_span: Option<Span>,
    pub name: Option<SpStr>,
    pub description: Option<SpStr>,
    pub version: Option<Sp<i64>>,
    pub kind: Option<SpStr>,
    pub extends: Vec<SpStr>,
    pub vars: Vec<VarDef>,
    pub steps: Vec<Step>,
    pub template: Vec<Step>,
    pub compose: Option<Compose>,
    pub advice: Vec<Advice>,
    pub pointcuts: Vec<Pointcut>,
    pub phase: Option<SpStr>,
    pub pour: Option<Sp<bool>>,
    // Gas Town fields.
    pub agent: Option<SpStr>,
    pub review_only: Option<Sp<bool>>,
    pub inputs: Vec<Input>,
    pub prompts: Vec<(SpStr, SpStr)>,
    pub output: Option<Output>,
    pub legs: Vec<Leg>,
    pub synthesis: Option<Synthesis>,
    pub aspects: Vec<Leg>,
}

/// The formula types that exist.
pub const FORMULA_TYPES: &[&str] = &["workflow", "expansion", "aspect", "convoy"];

impl Formula {
    /// The declared type, or the one Gas Town would infer from content.
    pub fn effective_kind(&self) -> &str {
        if let Some(k) = &self.kind {
            return &k.value;
        }
        if !self.steps.is_empty() || !self.extends.is_empty() {
            "workflow"
        } else if !self.legs.is_empty() {
            "convoy"
        } else if !self.template.is_empty() {
            "expansion"
        } else if !self.advice.is_empty() || !self.aspects.is_empty() {
            "aspect"
        } else {
            "workflow"
        }
    }

    pub fn name_str(&self) -> &str {
        self.name.as_ref().map(|n| n.as_str()).unwrap_or("")
    }

    pub fn var(&self, name: &str) -> Option<&VarDef> {
        self.vars.iter().find(|v| v.name.value == name)
    }

    /// Every step in the tree, depth-first, parents before children.
    pub fn walk_steps(&self) -> Vec<&Step> {
        let mut out = Vec::new();
        fn go<'a>(steps: &'a [Step], out: &mut Vec<&'a Step>) {
            for s in steps {
                out.push(s);
                go(&s.children, out);
            }
        }
        go(&self.steps, &mut out);
        out
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct VarDef {
    pub name: SpStr,
    /// Span of the whole definition.
    pub span: Span,
    pub description: Option<SpStr>,
    pub default: Option<SpStr>,
    pub required: Option<Sp<bool>>,
    pub enum_values: Option<Sp<Vec<SpStr>>>,
    pub pattern: Option<SpStr>,
    pub value_type: Option<SpStr>,
}

impl VarDef {
    pub fn is_required(&self) -> bool {
        self.required.as_ref().is_some_and(|r| r.value)
    }
}

pub const VAR_TYPES: &[&str] = &["string", "int", "bool"];

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Step {
    pub id: Option<SpStr>,
    /// Span of the step's table.
    pub span: Option<Span>,
    pub title: Option<SpStr>,
    pub description: Option<SpStr>,
    pub notes: Option<SpStr>,
    pub kind: Option<SpStr>,
    pub priority: Option<Sp<i64>>,
    pub labels: Vec<SpStr>,
    pub metadata: Option<Box<Sp<serde_json::Value>>>,
    pub depends_on: Vec<SpStr>,
    pub needs: Vec<SpStr>,
    pub waits_for: Option<SpStr>,
    pub assignee: Option<SpStr>,
    pub expand: Option<SpStr>,
    pub expand_vars: Vec<(SpStr, SpStr)>,
    pub condition: Option<SpStr>,
    pub children: Vec<Step>,
    pub gate: Option<Box<Gate>>,
    pub loop_: Option<Box<Loop>>,
    pub on_complete: Option<Box<OnComplete>>,
    pub parallel: Option<Sp<bool>>,
    pub interactive: Option<Sp<bool>>,
    pub acceptance: Option<SpStr>,
    /// Shell command for the `shell` agent.
    pub run: Option<SpStr>,
    /// Advice-only fields, parsed so they are known; not used.
    pub args: Option<Box<Sp<serde_json::Value>>>,
    pub output: Option<Box<Sp<serde_json::Value>>>,
    /// How this step came to be, for generated steps (innermost first):
    /// what happened, and the span of the rule that did it.
    pub provenance: Vec<(String, Option<Span>)>,
    /// Runtime extras (loop `until`, `compose.gate`), as JSON for the IR.
    pub runtime: Vec<(String, serde_json::Value)>,
    /// A large loop kept as one node until cook (see `compose/loops.rs`).
    pub lazy: Option<Box<LazyLoop>>,
}

/// A loop whose iterations no later transform can observe: cook streams
/// them straight into the IR instead of materialising every step here.
#[derive(Debug, Clone, PartialEq)]
pub struct LazyLoop {
    /// The expanded body: flat steps with only internal dependencies.
    pub body: Vec<Step>,
    /// The loop var's value in the first and last iteration (inclusive).
    pub first: i64,
    pub last: i64,
    pub var: Option<String>,
    /// The loop table, for provenance.
    pub span: Span,
}

impl LazyLoop {
    pub fn iterations(&self) -> usize {
        (self.last - self.first + 1).max(0) as usize
    }
}

impl Step {
    pub fn id_str(&self) -> &str {
        self.id.as_ref().map(|i| i.as_str()).unwrap_or("")
    }

    /// `depends_on` then `needs`: every blocking dependency.
    pub fn blocking_deps(&self) -> impl Iterator<Item = &SpStr> {
        self.depends_on.iter().chain(self.needs.iter())
    }

    /// The best span to point at for this step.
    pub fn anchor(&self) -> Option<Span> {
        self.id.as_ref().map(|i| i.span).or(self.span)
    }
}

/// Issue types a step may have.
pub const STEP_TYPES: &[&str] = &["task", "bug", "feature", "epic", "chore"];

#[derive(Debug, Clone, PartialEq)]
pub struct Gate {
    pub span: Span,
    pub kind: Option<SpStr>,
    pub id: Option<SpStr>,
    pub await_id: Option<SpStr>,
    pub timeout: Option<SpStr>,
    pub condition: Option<SpStr>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Loop {
    pub span: Span,
    pub count: Option<Sp<i64>>,
    pub range: Option<SpStr>,
    pub until: Option<SpStr>,
    pub max: Option<Sp<i64>>,
    pub var: Option<SpStr>,
    pub body: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OnComplete {
    pub span: Span,
    pub for_each: Option<SpStr>,
    pub bond: Option<SpStr>,
    pub vars: Vec<(SpStr, SpStr)>,
    pub parallel: Option<Sp<bool>>,
    pub sequential: Option<Sp<bool>>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Compose {
    pub span: Option<Span>,
    pub bond_points: Vec<BondPoint>,
    pub hooks: Vec<Hook>,
    pub expand: Vec<ExpandRule>,
    pub map: Vec<MapRule>,
    pub branch: Vec<BranchRule>,
    pub gate: Vec<GateRule>,
    pub aspects: Vec<SpStr>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BondPoint {
    pub span: Span,
    pub id: Option<SpStr>,
    pub description: Option<SpStr>,
    pub after_step: Option<SpStr>,
    pub before_step: Option<SpStr>,
    pub parallel: Option<Sp<bool>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Hook {
    pub span: Span,
    pub trigger: Option<SpStr>,
    pub attach: Option<SpStr>,
    pub at: Option<SpStr>,
    pub vars: Vec<(SpStr, SpStr)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExpandRule {
    pub span: Span,
    pub target: Option<SpStr>,
    pub with: Option<SpStr>,
    pub vars: Vec<(SpStr, SpStr)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MapRule {
    pub span: Span,
    pub select: Option<SpStr>,
    pub with: Option<SpStr>,
    pub vars: Vec<(SpStr, SpStr)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BranchRule {
    pub span: Span,
    pub from: Option<SpStr>,
    pub steps: Vec<SpStr>,
    pub join: Option<SpStr>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GateRule {
    pub span: Span,
    pub before: Option<SpStr>,
    pub condition: Option<SpStr>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Advice {
    pub span: Span,
    pub target: Option<SpStr>,
    pub before: Option<Step>,
    pub after: Option<Step>,
    pub around_before: Vec<Step>,
    pub around_after: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pointcut {
    pub span: Span,
    pub glob: Option<SpStr>,
    pub kind: Option<SpStr>,
    pub label: Option<SpStr>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    pub name: SpStr,
    pub span: Span,
    pub description: Option<SpStr>,
    pub kind: Option<SpStr>,
    pub required: Option<Sp<bool>>,
    pub required_unless: Vec<SpStr>,
    pub default: Option<SpStr>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub span: Span,
    pub directory: Option<SpStr>,
    pub leg_pattern: Option<SpStr>,
    pub synthesis: Option<SpStr>,
}

/// A convoy leg (also used for Gas Town `[[aspects]]` entries).
#[derive(Debug, Clone, PartialEq)]
pub struct Leg {
    pub span: Span,
    pub id: Option<SpStr>,
    pub title: Option<SpStr>,
    pub focus: Option<SpStr>,
    pub description: Option<SpStr>,
    pub agent: Option<SpStr>,
    pub review_only: Option<Sp<bool>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Synthesis {
    pub span: Span,
    pub title: Option<SpStr>,
    pub description: Option<SpStr>,
    pub depends_on: Vec<SpStr>,
}
