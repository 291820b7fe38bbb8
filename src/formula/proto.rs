//! The protomolecule: the checked, deterministic IR that `cook` produces and
//! `pour` consumes. Documented in `docs/protomolecule.md`; bump
//! [`IR_VERSION`] on any incompatible change.
//!
//! Determinism: every collection is a `Vec` in a defined order or a
//! `BTreeMap`, so serialising the same proto twice gives identical bytes.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;

pub const IR_VERSION: u32 = 1;

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
    /// Steps in depth-first declaration order. Parents come before children.
    pub steps: Vec<ProtoStep>,
    /// Every dependency edge, in step order. `from` depends on `to`.
    pub deps: Vec<ProtoDep>,
    /// Every source file that went in, with its content hash.
    pub sources: Vec<SourceDigest>,
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

impl Proto {
    /// Serialise as pretty JSON with a trailing newline. Byte-identical for
    /// equal protos.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("proto serialises");
        s.push('\n');
        s
    }

    /// Stream the same bytes as [`Proto::to_json`] to a writer, without
    /// building the whole text in memory (a million-step proto is large).
    pub fn write_json(&self, w: impl std::io::Write) -> std::io::Result<()> {
        let mut w = std::io::BufWriter::with_capacity(1 << 16, w);
        serde_json::to_writer_pretty(&mut w, self).map_err(std::io::Error::other)?;
        w.write_all(b"\n")?;
        w.flush()
    }

    pub fn from_json(text: &str) -> Result<Proto, ProtoLoadError> {
        let proto: Proto = serde_json::from_str(text).map_err(ProtoLoadError::Json)?;
        if proto.ir_version > IR_VERSION {
            return Err(ProtoLoadError::NewerVersion {
                found: proto.ir_version,
                supported: IR_VERSION,
            });
        }
        Ok(proto)
    }

    pub fn step(&self, id: &str) -> Option<&ProtoStep> {
        self.steps.iter().find(|s| s.id == id)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProtoLoadError {
    #[error("not a valid protomolecule: {0}")]
    Json(serde_json::Error),
    #[error("protomolecule has ir_version {found}, but this build reads up to {supported}; upgrade gt/bd")]
    NewerVersion { found: u32, supported: u32 },
}
