//! `settings/config.json` of a town or a rig: one typed structure that
//! round-trips. Every struct keeps the keys it does not know in a flattened
//! `extra` map, and `gt config` edits the JSON value in place ([`edit`]), so
//! no command ever drops a section it does not understand.

use super::{Result, TownError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

pub use super::agents::AgentConfig;

/// Per-role settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RoleSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// How the refinery builds the candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Replay the branch's commits onto the target (linear history).
    Rebase,
    /// A merge commit of target and branch.
    Merge,
}

/// Where a gated candidate goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StrategyKind {
    /// Push the candidate to the origin's target branch.
    Direct,
    /// Push the branch and open a pull request.
    Pr,
}

/// Gates as `{name: command}` or `[{name, command}]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Gates {
    Map(BTreeMap<String, Option<String>>),
    List(Vec<GateEntry>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateEntry {
    pub name: String,
    pub command: String,
}

/// The `merge_queue` section (town-wide defaults, a rig's overrides).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MergeQueueSettings {
    /// Target branch; default: the rig's origin default branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<Method>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<StrategyKind>,
    /// The remote pushed to (default `origin`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gates: Option<Gates>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate_timeout_secs: Option<u64>,
    /// Seconds between looks at a waiting pull request (default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pr_poll_secs: Option<u64>,
    /// The refinery's worktree (relative to the rig directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worktree: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `deacon.*`: how often the deacon patrols and when a session is stale.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeaconSettings {
    /// Seconds between patrols (default 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patrol_secs: Option<u64>,
    /// A working session whose lease has had no heartbeat this long is
    /// stale (default 1800).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_secs: Option<u64>,
    /// A dead holder's hook is released after this long (default 3600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_hook_secs: Option<u64>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A town's or a rig's settings (a rig's override the town's).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default)]
    pub version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_agent: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub agents: BTreeMap<String, AgentConfig>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub roles: BTreeMap<String, RoleSettings>,
    /// Cap on working polecats (town: all rigs; rig: that rig).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_polecats: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge_queue: Option<MergeQueueSettings>,
    /// The deacon's patrol (town settings only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deacon: Option<DeaconSettings>,
    /// Every key this version does not know, kept as it was.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn bad(path: &Path, message: impl std::fmt::Display) -> TownError {
    TownError::BadSettings {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// The file as a JSON value (`{}` when absent).
fn load_value(path: &Path) -> Result<Value> {
    match std::fs::read_to_string(path) {
        Ok(t) => {
            let v: Value = serde_json::from_str(&t)
                .map_err(|e| bad(path, format!("is not valid JSON: {e}")))?;
            if !v.is_object() {
                return Err(bad(path, "the settings must be one JSON object"));
            }
            Ok(v)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Value::Object(Map::new())),
        Err(e) => Err(TownError::io(path, e)),
    }
}

fn typed(path: &Path, v: &Value) -> Result<Settings> {
    Settings::deserialize(v).map_err(|e| bad(path, e))
}

fn write_value(path: &Path, v: &Value) -> Result<()> {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).map_err(|e| TownError::io(p, e))?;
    }
    let text = serde_json::to_string_pretty(v).map_err(|e| bad(path, e))? + "\n";
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).map_err(|e| TownError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| TownError::io(path, e))
}

impl Settings {
    /// Read a settings file (defaults when it does not exist).
    pub fn load(path: &Path) -> Result<Settings> {
        typed(path, &load_value(path)?)
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let v = serde_json::to_value(self).map_err(|e| bad(path, e))?;
        write_value(path, &v)
    }
}

/// Change a settings file in place: `f` edits the JSON value, the result
/// must still be valid settings, and every key `f` does not touch stays
/// exactly as it was. Returns the new typed settings.
pub fn edit(
    path: &Path,
    f: impl FnOnce(&mut Map<String, Value>) -> Result<()>,
) -> Result<Settings> {
    let mut v = load_value(path)?;
    let Value::Object(map) = &mut v else {
        return Err(bad(path, "the settings must be one JSON object"));
    };
    f(map)?;
    let s = typed(path, &v)?;
    write_value(path, &v)?;
    Ok(s)
}

/// Set `value` at a dotted `key` (`merge_queue.gates.test`), creating
/// objects on the way. `Value::Null` removes the key.
pub fn set_path(root: &mut Map<String, Value>, key: &str, value: Value) -> Result<()> {
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(TownError::Invalid(format!(
            "`{key}` is not a settings key; use dotted names such as merge_queue.gates.test"
        )));
    }
    let (last, path) = parts.split_last().expect("split of a non-empty key");
    let mut cur = root;
    for (i, p) in path.iter().enumerate() {
        let slot = cur
            .entry(p.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if slot.is_null() {
            *slot = Value::Object(Map::new());
        }
        cur = match slot {
            Value::Object(m) => m,
            _ => {
                return Err(TownError::Invalid(format!(
                    "`{}` is not an object, so `{key}` cannot be set inside it",
                    parts[..=i].join(".")
                )))
            }
        };
    }
    if value.is_null() {
        cur.remove(*last);
    } else {
        cur.insert(last.to_string(), value);
    }
    Ok(())
}

/// The value at a dotted `key`, if any.
pub fn get_path<'a>(root: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    let mut parts = key.split('.');
    let mut cur = root.get(parts.next()?)?;
    for p in parts {
        cur = cur.as_object()?.get(p)?;
    }
    Some(cur)
}

/// A command-line value: JSON when it parses as JSON (numbers, booleans,
/// objects, `null`), else the plain string.
pub fn parse_value(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.to_string()))
}

/// The settings file as a JSON value (for `gt config get`).
pub fn load_raw(path: &Path) -> Result<Map<String, Value>> {
    match load_value(path)? {
        Value::Object(m) => Ok(m),
        _ => Err(bad(path, "the settings must be one JSON object")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_keys_survive_a_typed_round_trip() {
        let v = json!({"type": "town-settings", "version": 1, "rigs": ["a"],
            "roles": {"polecat": {"agent": "x", "color": "red"}},
            "merge_queue": {"gates": {"test": "cargo test"}, "on_conflict": "reject"}});
        let s: Settings = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(serde_json::to_value(&s).unwrap(), v);
    }

    #[test]
    fn edit_keeps_other_sections() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("config.json");
        std::fs::write(
            &p,
            r#"{"merge_queue": {"gates": {"test": "t"}}, "zz": {"a": 1}}"#,
        )
        .unwrap();
        edit(&p, |m| set_path(m, "roles.crew.agent", json!("shell"))).unwrap();
        let raw = load_raw(&p).unwrap();
        assert_eq!(raw["zz"], json!({"a": 1}));
        assert_eq!(raw["merge_queue"]["gates"]["test"], "t");
        assert_eq!(raw["roles"]["crew"]["agent"], "shell");
        let e = edit(&p, |m| set_path(m, "max_polecats", json!("many"))).unwrap_err();
        assert!(matches!(e, TownError::BadSettings { .. }), "{e}");
        assert_eq!(
            load_raw(&p).unwrap()["zz"],
            json!({"a": 1}),
            "a failed edit writes nothing"
        );
    }
}
