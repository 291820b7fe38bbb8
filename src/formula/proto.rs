//! The protomolecule: the checked, deterministic IR that `cook` produces and
//! `pour` consumes. Documented in `docs/protomolecule.md`; bump
//! [`IR_VERSION`] on any incompatible change.
//!
//! Determinism: every collection is a `Vec` in a defined order or a
//! `BTreeMap`, so serialising the same proto twice gives identical bytes.
//!
//! A generated family (a large range loop's iterations) is kept as one
//! [`ProtoLoop`]: its body as templates plus the range. Every reader sees
//! the expanded steps and edges through [`Proto::steps`] and
//! [`Proto::deps`], exactly as if each iteration had been written out.

mod family;

pub use family::{ProtoLoop, ProtoLoopStep, Text};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

/// The newest IR version this build reads and writes.
pub const IR_VERSION: u32 = 2;
/// The version of a proto whose steps are all written out (no
/// [`ProtoLoop`]): readers of version 1 read it unchanged.
pub const IR_VERSION_FLAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proto {
    pub ir_version: u32,
    /// The formula's name (its identity; also the root id).
    pub formula: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub version: i64,
    /// `liquid` or `vapor`, when the formula recommends one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(default)]
    pub pour: bool,
    pub root: ProtoRoot,
    /// Declared vars, sorted by name.
    pub vars: Vec<ProtoVar>,
    /// When cooked with `--var`: the resolved value of every declared var,
    /// and `{{var}}` placeholders in the steps are already substituted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound_vars: Option<BTreeMap<String, String>>,
    /// Steps and generated families in depth-first declaration order;
    /// parents come before children. Read the steps through
    /// [`Proto::steps`], which expands the families.
    #[serde(rename = "steps")]
    pub entries: Vec<ProtoEntry>,
    /// Dependency edges in step order (`from` depends on `to`), with a
    /// marker where a family's edges go. Read them through [`Proto::deps`].
    #[serde(rename = "deps")]
    pub edges: Vec<ProtoEdge>,
    /// Every source file that went in, with its content hash.
    pub sources: Vec<SourceDigest>,
}

/// One entry of `steps`: a step as written, or a generated family.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ProtoEntry {
    Loop {
        #[serde(rename = "loop")]
        family: Box<ProtoLoop>,
    },
    Step(Box<ProtoStep>),
}

impl From<ProtoStep> for ProtoEntry {
    fn from(s: ProtoStep) -> Self {
        ProtoEntry::Step(Box::new(s))
    }
}

/// One entry of `deps`: an edge, or the place of a family's edges
/// (`{"loop": "<family id>"}`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ProtoEdge {
    Loop {
        #[serde(rename = "loop")]
        id: String,
    },
    Dep(ProtoDep),
}

impl From<ProtoDep> for ProtoEdge {
    fn from(d: ProtoDep) -> Self {
        ProtoEdge::Dep(d)
    }
}

/// An object whose only key is `loop`, else `None`. The entries are read
/// by hand, not as an untagged enum, so that a bad step or edge gets
/// serde's own message (`missing field `title``), not "no variant matched".
fn loop_value(v: &mut serde_json::Value) -> Option<serde_json::Value> {
    match v.as_object_mut() {
        Some(o) if o.len() == 1 => o.remove("loop"),
        _ => None,
    }
}

impl<'de> Deserialize<'de> for ProtoEntry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut v = serde_json::Value::deserialize(d)?;
        Ok(match loop_value(&mut v) {
            Some(f) => ProtoEntry::Loop {
                family: serde_json::from_value(f).map_err(D::Error::custom)?,
            },
            None => ProtoEntry::Step(serde_json::from_value(v).map_err(D::Error::custom)?),
        })
    }
}

impl<'de> Deserialize<'de> for ProtoEdge {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut v = serde_json::Value::deserialize(d)?;
        Ok(match loop_value(&mut v) {
            Some(id) => ProtoEdge::Loop {
                id: serde_json::from_value(id).map_err(D::Error::custom)?,
            },
            None => ProtoEdge::Dep(serde_json::from_value(v).map_err(D::Error::custom)?),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProtoRoot {
    pub id: String,
    pub title: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProtoVar {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default, rename = "enum", skip_serializing_if = "Option::is_none")]
    pub enum_values: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// `string`, `int` or `bool`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub value_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProtoStep {
    /// Hierarchical id: `<formula>.<path>`.
    pub id: String,
    /// The step's path below the root, e.g. `implement.draft` or
    /// `gate-await-ci`. Pour builds `<root-issue-id>.<path>` from it.
    pub path: String,
    /// Hierarchical id of the parent step; `None` means the root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    pub title: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acceptance: Option<String>,
    /// Issue type: task, bug, feature, epic, chore, or gate.
    #[serde(rename = "type")]
    pub kind: String,
    pub priority: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
    /// For gate issues: what the gate waits on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<ProtoGate>,
    /// Compile-time condition, kept for pour when vars were not bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// Shell command run by the `shell` agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    /// Runtime extras (loop `until`, `compose.gate` conditions, `on_complete`),
    /// as JSON for the runtime to interpret.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub runtime: BTreeMap<String, serde_json::Value>,
    pub provenance: Provenance,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProtoGate {
    /// `gh:run`, `gh:pr`, `timer`, `human`, `mail`, `bead`, `conditional`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub await_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// Set when the runtime cannot evaluate `condition` (a bare name such
    /// as `no_response_1`, or prose on a non-conditional gate): who decides
    /// that it holds. Absent: the runtime evaluates the condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judged_by: Option<Judge>,
}

/// Who judges a condition the runtime cannot evaluate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Judge {
    /// The agent working the molecule (for a `conditional` gate, a loop
    /// `until` or a `compose.gate` rule).
    Agent,
    /// A person (the gate is a `human` gate).
    Human,
}

impl Judge {
    /// The judge of `condition` on a gate of type `gate_kind` (`None` for
    /// a loop or compose rule), or `None` when the runtime evaluates it.
    pub fn of(condition: &str, gate_kind: Option<&str>) -> Option<Judge> {
        let evaluable = super::expr::runtime::parse_runtime_condition(condition)
            .is_ok_and(|p| !p.condition.is_judged());
        match gate_kind {
            _ if evaluable => None,
            Some("human") => Some(Judge::Human),
            _ => Some(Judge::Agent),
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Judge::Agent => "the agent working the molecule",
            Judge::Human => "a person (human gate)",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DepKind {
    Blocks,
    ParentChild,
    WaitsFor,
}

impl DepKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DepKind::Blocks => "blocks",
            DepKind::ParentChild => "parent-child",
            DepKind::WaitsFor => "waits-for",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProtoDep {
    /// The step that waits.
    pub from: String,
    /// The step (or root) it depends on.
    pub to: String,
    #[serde(rename = "type")]
    pub kind: DepKind,
    /// For `waits-for`: `{"gate": "all-children" | "any-children"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// The formula that contributed this step.
    pub formula: String,
    /// Display path of the source file.
    pub file: String,
    pub line: u32,
    pub col: u32,
    /// How the step got here, outermost last, e.g.
    /// `inserted before implement by advice rule 1 of security-audit`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chain: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceDigest {
    /// The formula name the file defines.
    pub formula: String,
    /// Display path (`stdlib:<name>.formula.toml` for embedded ones).
    pub path: String,
    /// Hex SHA-256 of the file's bytes.
    pub sha256: String,
}

/// The most steps a saved protomolecule may expand to: 16x the largest
/// shipped example (hanoi, 20 disks).
pub const MAX_SAVED_STEPS: usize = 1 << 24;

impl Proto {
    /// Serialise as pretty JSON with a trailing newline. Byte-identical for
    /// equal protos.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("proto serialises");
        s.push('\n');
        s
    }

    /// Stream the same bytes as [`Proto::to_json`] to a writer, without
    /// building the whole text in memory.
    pub fn write_json(&self, w: impl std::io::Write) -> std::io::Result<()> {
        write_pretty(self, w)
    }

    /// Stream the proto with every generated step written out, as IR
    /// version 1 (what readers of version 1 expect). For a proto without
    /// families this is exactly [`Proto::write_json`].
    pub fn write_json_expanded(&self, w: impl std::io::Write) -> std::io::Result<()> {
        write_pretty(&family::Expanded::new(self), w)
    }

    pub fn from_json(text: &str) -> Result<Proto, ProtoLoadError> {
        let proto: Proto = serde_json::from_str(text).map_err(ProtoLoadError::Json)?;
        if proto.ir_version > IR_VERSION {
            return Err(ProtoLoadError::NewerVersion {
                found: proto.ir_version,
                supported: IR_VERSION,
            });
        }
        proto.validate().map_err(ProtoLoadError::Invalid)?;
        Ok(proto)
    }

    /// Every family has one place among the edges, and every marker names
    /// a family; each family's range and body are usable.
    fn validate(&self) -> Result<(), String> {
        let mut families = BTreeMap::new();
        for f in self.families() {
            f.validate()?;
            if families.insert(f.id.as_str(), 0usize).is_some() {
                return Err(format!("loop {} appears twice in `steps`", f.id));
            }
        }
        for e in &self.edges {
            if let ProtoEdge::Loop { id } = e {
                let seen = families.get_mut(id.as_str()).ok_or_else(|| {
                    format!("`deps` places the edges of loop {id}, which is not in `steps`")
                })?;
                *seen += 1;
            }
        }
        if let Some((id, n)) = families.iter().find(|(_, &n)| n != 1) {
            return Err(format!(
                "`deps` must place the edges of loop {id} once, not {n} times"
            ));
        }
        // A loop family is a few bytes for any range; cap what it expands
        // to so that a hand-edited range cannot make pour plan forever.
        let steps = self.step_count();
        if steps > MAX_SAVED_STEPS {
            return Err(format!(
                "it expands to {steps} steps, more than the {MAX_SAVED_STEPS} a saved \
                 protomolecule may hold; check each loop's `first`/`last`, or cook the formula again"
            ));
        }
        Ok(())
    }

    /// The generated families, in step order.
    pub fn families(&self) -> impl Iterator<Item = &ProtoLoop> {
        self.entries.iter().filter_map(|e| match e {
            ProtoEntry::Loop { family } => Some(&**family),
            ProtoEntry::Step(_) => None,
        })
    }

    /// Every step in order, generated ones built on demand.
    pub fn steps(&self) -> family::Steps<'_> {
        family::Steps::new(self)
    }

    /// Every edge in step order, generated ones built on demand.
    pub fn deps(&self) -> family::Deps<'_> {
        family::Deps::new(self)
    }

    /// How many steps [`Proto::steps`] yields.
    pub fn step_count(&self) -> usize {
        self.entries
            .iter()
            .map(|e| match e {
                ProtoEntry::Loop { family } => family.step_count(),
                ProtoEntry::Step(_) => 1,
            })
            .sum()
    }

    /// The step with this id (`<formula>.<path>`) or path.
    pub fn step(&self, id_or_path: &str) -> Option<Cow<'_, ProtoStep>> {
        let as_id = format!("{}.{id_or_path}", self.formula);
        self.entries.iter().find_map(|e| match e {
            ProtoEntry::Step(s) => {
                (s.id == id_or_path || s.path == id_or_path).then_some(Cow::Borrowed(&**s))
            }
            ProtoEntry::Loop { family } => family
                .locate(id_or_path)
                .or_else(|| family.locate(&as_id))
                .map(|(n, b)| Cow::Owned(family.step(n, b))),
        })
    }

    /// Every `{{var}}` the texts reference, sorted.
    pub fn referenced_vars(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        self.texts(&mut |t| out.extend(super::vars::referenced_vars(t).map(str::to_string)));
        out
    }

    /// Every text a var may appear in: root title and description, and of
    /// each step (and family template) title, description, notes,
    /// acceptance, assignee, `run` and a gate's `await_id`.
    pub fn texts(&self, f: &mut dyn FnMut(&str)) {
        f(&self.root.title);
        f(&self.root.description);
        for e in &self.entries {
            match e {
                ProtoEntry::Step(s) => {
                    for t in [&s.title, &s.description] {
                        f(t);
                    }
                    for t in [&s.notes, &s.acceptance, &s.assignee, &s.run]
                        .into_iter()
                        .flatten()
                    {
                        f(t);
                    }
                    if let Some(a) = s.gate.as_ref().and_then(|g| g.await_id.as_ref()) {
                        f(a);
                    }
                }
                ProtoEntry::Loop { family } => family.texts(f),
            }
        }
    }

    /// [`Proto::texts`], to change them: `f` gets each text and whether it
    /// is a shell command (`run`).
    pub fn texts_mut(&mut self, f: &mut dyn FnMut(&mut String, TextKind)) {
        f(&mut self.root.title, TextKind::Plain);
        f(&mut self.root.description, TextKind::Plain);
        for e in &mut self.entries {
            match e {
                ProtoEntry::Step(s) => {
                    let s = &mut **s;
                    for t in [&mut s.title, &mut s.description] {
                        f(t, TextKind::Plain);
                    }
                    for t in [&mut s.notes, &mut s.acceptance, &mut s.assignee]
                        .into_iter()
                        .flatten()
                    {
                        f(t, TextKind::Plain);
                    }
                    if let Some(r) = &mut s.run {
                        f(r, TextKind::Shell);
                    }
                    if let Some(a) = s.gate.as_mut().and_then(|g| g.await_id.as_mut()) {
                        f(a, TextKind::Plain);
                    }
                }
                ProtoEntry::Loop { family } => family.texts_mut(f),
            }
        }
    }
}

/// What kind of text [`Proto::texts_mut`] hands over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    Plain,
    /// A shell command: values are shell-quoted into it.
    Shell,
}

fn write_pretty(value: &impl Serialize, w: impl std::io::Write) -> std::io::Result<()> {
    let mut w = std::io::BufWriter::with_capacity(1 << 16, w);
    serde_json::to_writer_pretty(&mut w, value).map_err(std::io::Error::other)?;
    w.write_all(b"\n")?;
    w.flush()
}

#[derive(Debug, thiserror::Error)]
pub enum ProtoLoadError {
    #[error("not a valid protomolecule: {0}")]
    Json(serde_json::Error),
    #[error("protomolecule has ir_version {found}, but this build reads up to {supported}; upgrade gt/bd")]
    NewerVersion { found: u32, supported: u32 },
    #[error("not a valid protomolecule: {0}")]
    Invalid(String),
}
