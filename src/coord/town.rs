//! Town and rig configuration as coordination needs it.
//!
//! A town is a directory with `settings/config.json` and `.beads/` (the one
//! store of the town). Rigs live under `<town>/<rig>/`, each with a bare repo
//! (`.repo.git` unless the rig config says otherwise) and
//! `<town>/<rig>/settings/config.json`, whose `merge_queue` object configures
//! the refinery (see `docs/coordination.md`). The library takes a [`RigConfig`]
//! value, so a caller can build one without any of these files.

use super::{CoordError, Result};
use rusqlite::Connection;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Town {
    pub root: PathBuf,
    /// `settings/config.json` (`Null` when absent).
    pub config: Value,
}

fn read_json(path: &Path) -> Result<Option<Value>> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| {
            CoordError::usage(
                format!("{} is not valid JSON: {e}", path.display()),
                "fix the file (it must be one JSON object), then rerun",
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CoordError::failed(
            format!("cannot read {}: {e}", path.display()),
            None,
        )),
    }
}

impl Town {
    /// `$GT_TOWN`, else the nearest directory from `cwd` upwards that has
    /// `settings/config.json` and `.beads/`.
    pub fn discover(cwd: &Path) -> Result<Option<Town>> {
        if let Some(t) = std::env::var_os("GT_TOWN").filter(|v| !v.is_empty()) {
            return Town::open(Path::new(&t)).map(Some);
        }
        for d in cwd.ancestors() {
            if d.join("settings").join("config.json").is_file() && d.join(".beads").is_dir() {
                return Town::open(d).map(Some);
            }
        }
        Ok(None)
    }

    pub fn open(root: &Path) -> Result<Town> {
        let config = read_json(&root.join("settings").join("config.json"))?.unwrap_or(Value::Null);
        Ok(Town {
            root: root.to_path_buf(),
            config,
        })
    }

    /// Rigs named by the town config's `rigs` (an array of names, an array
    /// of objects with `name`, or an object keyed by name). `None` when the
    /// config does not list rigs.
    pub fn configured_rigs(&self) -> Option<Vec<String>> {
        let rigs = self.config.get("rigs")?;
        let mut out: Vec<String> = match rigs {
            Value::Array(a) => a
                .iter()
                .filter_map(|r| match r {
                    Value::String(s) => Some(s.clone()),
                    Value::Object(o) => o.get("name").and_then(Value::as_str).map(str::to_string),
                    _ => None,
                })
                .collect(),
            Value::Object(o) => o.keys().cloned().collect(),
            _ => return None,
        };
        out.sort();
        out.dedup();
        Some(out)
    }

    /// Load a rig's merge-queue settings from `<town>/<rig>/settings/config.json`.
    pub fn rig(&self, name: &str) -> Result<RigConfig> {
        super::address::check_segment("rig", name)?;
        let dir = self.root.join(name);
        let path = dir.join("settings").join("config.json");
        let cfg = read_json(&path)?.unwrap_or(Value::Null);
        RigConfig::from_json(name, &dir, &cfg)
            .map_err(|m| CoordError::usage(format!("{}: {m}", path.display()), RIG_CONFIG_HELP))
    }
}

pub const RIG_CONFIG_HELP: &str = "see docs/coordination.md, e.g. {\"merge_queue\": {\"target\": \"main\", \"gates\": {\"test\": \"cargo test\"}}}";

/// Every rig the town knows: the town config's list when it has one, else
/// every rig that appears in the store (mail, agent generations, merge
/// requests, assignees of the form `<rig>/...`).
pub fn known_rigs(town: Option<&Town>, conn: &Connection) -> Result<Vec<String>> {
    if let Some(r) = town.and_then(Town::configured_rigs) {
        return Ok(r);
    }
    let mut st = conn.prepare_cached(
        "SELECT DISTINCT a FROM (
            SELECT recipient AS a FROM mail UNION SELECT sender FROM mail
            UNION SELECT address FROM agent_generations
            UNION SELECT assignee FROM issues WHERE assignee LIKE '%/%'
            UNION SELECT json_extract(metadata, '$.rig') || '/' FROM issues
                WHERE issue_type = 'merge-request')
         WHERE a LIKE '%/%'",
    )?;
    let mut rigs: Vec<String> = st
        .query_map([], |r| r.get::<_, String>(0))?
        .filter_map(|r| r.ok())
        .filter_map(|a| a.split('/').next().map(str::to_string))
        .filter(|r| !r.is_empty() && r != "mayor" && r != "deacon" && r != "overseer")
        .collect();
    rigs.sort();
    rigs.dedup();
    Ok(rigs)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Replay the branch's commits onto the target (linear history).
    Rebase,
    /// A merge commit of target and branch.
    Merge,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Fast-forward the target branch in the rig's repo.
    Direct,
    /// Push the rebased, gated branch to `remote` and stop short of merging.
    Pr { remote: String },
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Gate {
    pub name: String,
    pub command: String,
}

/// What the refinery needs to know about one rig.
#[derive(Debug, Clone)]
pub struct RigConfig {
    pub name: String,
    /// The rig's repository (bare or not); branches are read from it and the
    /// target branch is fast-forwarded in it.
    pub repo: PathBuf,
    /// The refinery's own worktree (created from `repo` when missing).
    pub worktree: PathBuf,
    pub target: String,
    pub method: Method,
    pub strategy: Strategy,
    /// In order: setup, typecheck, lint, test, build, then any others.
    pub gates: Vec<Gate>,
    pub gate_timeout: Duration,
}

const GATE_ORDER: &[&str] = &["setup", "typecheck", "lint", "test", "build"];

impl RigConfig {
    /// Defaults for a rig in `dir`: repo `dir/.repo.git`, worktree
    /// `dir/refinery/rig`, target `main`, rebase, direct, no gates, 30 min.
    pub fn new(name: &str, dir: &Path) -> RigConfig {
        RigConfig {
            name: name.to_string(),
            repo: dir.join(".repo.git"),
            worktree: dir.join("refinery").join("rig"),
            target: "main".into(),
            method: Method::Rebase,
            strategy: Strategy::Direct,
            gates: Vec::new(),
            gate_timeout: Duration::from_secs(30 * 60),
        }
    }

    /// Read the `merge_queue` object (and `repo`) of a rig config.
    pub fn from_json(
        name: &str,
        dir: &Path,
        cfg: &Value,
    ) -> std::result::Result<RigConfig, String> {
        let mut rc = RigConfig::new(name, dir);
        let abs = |p: &str| {
            let p = PathBuf::from(p);
            if p.is_absolute() {
                p
            } else {
                dir.join(p)
            }
        };
        if let Some(r) = cfg.get("repo") {
            rc.repo = abs(r.as_str().ok_or("`repo` must be a path string")?);
        }
        let Some(mq) = cfg.get("merge_queue") else {
            return Ok(rc);
        };
        if !mq.is_object() {
            return Err("`merge_queue` must be an object".into());
        }
        let s = |key: &str| -> std::result::Result<Option<String>, String> {
            match mq.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_string())),
                Some(_) => Err(format!("`merge_queue.{key}` must be a non-empty string")),
            }
        };
        if let Some(t) = s("target")? {
            rc.target = t;
        }
        if let Some(w) = s("worktree")? {
            rc.worktree = abs(&w);
        }
        rc.method = match s("method")?.as_deref() {
            None | Some("rebase") => Method::Rebase,
            Some("merge") => Method::Merge,
            Some(o) => {
                return Err(format!(
                    "`merge_queue.method` is `{o}`; valid values: rebase, merge"
                ))
            }
        };
        rc.strategy = match s("strategy")?.as_deref() {
            None | Some("direct") => Strategy::Direct,
            Some("pr") => Strategy::Pr {
                remote: s("remote")?.unwrap_or_else(|| "origin".into()),
            },
            Some(o) => {
                return Err(format!(
                    "`merge_queue.strategy` is `{o}`; valid values: direct, pr"
                ))
            }
        };
        if let Some(t) = mq.get("gate_timeout_secs") {
            let n = t
                .as_u64()
                .filter(|n| *n > 0)
                .ok_or("`merge_queue.gate_timeout_secs` must be a positive number of seconds")?;
            rc.gate_timeout = Duration::from_secs(n);
        }
        match mq.get("gates") {
            None | Some(Value::Null) => {}
            Some(Value::Object(o)) => {
                let mut names: Vec<&String> = o.keys().collect();
                names.sort_by_key(|n| {
                    (
                        GATE_ORDER
                            .iter()
                            .position(|g| g == n)
                            .unwrap_or(GATE_ORDER.len()),
                        n.to_string(),
                    )
                });
                for n in names {
                    match &o[n] {
                        Value::String(c) if c.trim().is_empty() => {}
                        Value::String(c) => rc.gates.push(Gate {
                            name: n.clone(),
                            command: c.clone(),
                        }),
                        Value::Null => {}
                        _ => return Err(format!("gate `{n}` must be a command string")),
                    }
                }
            }
            Some(Value::Array(a)) => {
                for (i, g) in a.iter().enumerate() {
                    let name = g.get("name").and_then(Value::as_str);
                    let cmd = g.get("command").and_then(Value::as_str);
                    match (name, cmd) {
                        (Some(n), Some(c)) if !n.is_empty() && !c.trim().is_empty() => {
                            rc.gates.push(Gate {
                                name: n.into(),
                                command: c.into(),
                            })
                        }
                        _ => {
                            return Err(format!(
                                "gate #{} must be {{\"name\": ..., \"command\": ...}}",
                                i + 1
                            ))
                        }
                    }
                }
            }
            Some(_) => {
                return Err("`merge_queue.gates` must be an object {name: command} or an array of {name, command}".into())
            }
        }
        Ok(rc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rig_config_orders_gates_and_reads_strategy() {
        let cfg = json!({"merge_queue": {"target": "trunk", "strategy": "pr", "remote": "up",
            "gates": {"test": "t", "zz": "z", "setup": "s", "build": "b", "lint": ""}}});
        let rc = RigConfig::from_json("r", Path::new("/t/r"), &cfg).unwrap();
        let names: Vec<&str> = rc.gates.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["setup", "test", "build", "zz"]);
        assert_eq!(rc.target, "trunk");
        assert_eq!(
            rc.strategy,
            Strategy::Pr {
                remote: "up".into()
            }
        );
        assert_eq!(rc.repo, Path::new("/t/r/.repo.git"));
        let bad = json!({"merge_queue": {"strategy": "yolo"}});
        let e = RigConfig::from_json("r", Path::new("/t/r"), &bad).unwrap_err();
        assert!(e.contains("direct, pr"), "{e}");
    }

    #[test]
    fn configured_rigs_forms() {
        let t = |v: Value| Town {
            root: PathBuf::from("/t"),
            config: v,
        };
        assert_eq!(
            t(json!({"rigs": ["b", "a"]})).configured_rigs().unwrap(),
            ["a", "b"]
        );
        assert_eq!(
            t(json!({"rigs": {"x": {}}})).configured_rigs().unwrap(),
            ["x"]
        );
        assert_eq!(
            t(json!({"rigs": [{"name": "y"}]}))
                .configured_rigs()
                .unwrap(),
            ["y"]
        );
        assert!(t(json!({})).configured_rigs().is_none());
    }
}
