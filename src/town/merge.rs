//! What the refinery needs to know about one rig, resolved from the rig
//! record (repo, origin URL, default branch) and the `merge_queue` sections
//! of the town's and the rig's settings (the rig's keys win).

use super::settings::{Gates, MergeQueueSettings, Method, StrategyKind};
use super::{rigs, Result, Town, TownError};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Gate {
    pub name: String,
    pub command: String,
}

/// One rig's merge queue, ready to run.
#[derive(Debug, Clone)]
pub struct MergeConfig {
    pub rig: String,
    /// The rig's bare clone: branches are read here, candidates built here.
    pub repo: PathBuf,
    /// The origin URL (for messages and `gh`).
    pub url: String,
    /// The remote pushed to and fetched from.
    pub remote: String,
    /// The refinery's own worktree.
    pub worktree: PathBuf,
    /// Target branch: `merge_queue.target`, else the origin's default branch.
    pub target: String,
    pub method: Method,
    pub strategy: StrategyKind,
    /// In order: setup, typecheck, lint, test, build, then any others.
    pub gates: Vec<Gate>,
    pub gate_timeout: Duration,
    /// How often a waiting pull request is looked at (`pr` strategy).
    pub pr_poll_every: Duration,
}

const GATE_ORDER: &[&str] = &["setup", "typecheck", "lint", "test", "build"];

/// Gates in run order; empty commands are switched-off gates.
pub fn ordered_gates(g: Option<&Gates>) -> Vec<Gate> {
    let mut out: Vec<Gate> = match g {
        None => return Vec::new(),
        Some(Gates::List(l)) => {
            return l
                .iter()
                .filter(|e| !e.command.trim().is_empty())
                .map(|e| Gate {
                    name: e.name.clone(),
                    command: e.command.clone(),
                })
                .collect()
        }
        Some(Gates::Map(m)) => m
            .iter()
            .filter_map(|(n, c)| {
                let c = c.as_deref().filter(|c| !c.trim().is_empty())?;
                Some(Gate {
                    name: n.clone(),
                    command: c.to_string(),
                })
            })
            .collect(),
    };
    out.sort_by_key(|g| {
        (
            GATE_ORDER
                .iter()
                .position(|o| *o == g.name)
                .unwrap_or(GATE_ORDER.len()),
            g.name.clone(),
        )
    });
    out
}

/// `rig` keys over `town` keys.
fn overlay(
    town: Option<MergeQueueSettings>,
    rig: Option<MergeQueueSettings>,
) -> MergeQueueSettings {
    let t = town.unwrap_or_default();
    let r = rig.unwrap_or_default();
    MergeQueueSettings {
        target: r.target.or(t.target),
        method: r.method.or(t.method),
        strategy: r.strategy.or(t.strategy),
        remote: r.remote.or(t.remote),
        gates: r.gates.or(t.gates),
        gate_timeout_secs: r.gate_timeout_secs.or(t.gate_timeout_secs),
        worktree: r.worktree.or(t.worktree),
        pr_poll_secs: r.pr_poll_secs.or(t.pr_poll_secs),
        extra: Default::default(),
    }
}

impl Town {
    /// The merge queue of `rig` as the refinery runs it.
    pub fn merge_config(&self, rig: &str) -> Result<MergeConfig> {
        self.merge_config_in(self.store()?.conn(), rig)
    }

    /// [`Town::merge_config`] with the rig read through an open store.
    pub fn merge_config_in(&self, conn: &rusqlite::Connection, rig: &str) -> Result<MergeConfig> {
        let r = rigs::get_in(conn, rig)?;
        let mq = overlay(
            self.settings()?.merge_queue,
            self.rig_settings(rig)?.merge_queue,
        );
        let dir = self.rig_dir(rig);
        let worktree = match mq.worktree.as_deref() {
            Some(w) if PathBuf::from(w).is_absolute() => PathBuf::from(w),
            Some(w) => dir.join(w),
            None => dir.join("refinery").join("rig"),
        };
        if mq.gate_timeout_secs == Some(0) {
            return Err(TownError::Invalid(format!(
                "rig `{rig}`: merge_queue.gate_timeout_secs must be a positive number of seconds"
            )));
        }
        Ok(MergeConfig {
            rig: r.name.clone(),
            repo: PathBuf::from(&r.repo),
            url: r.url.clone(),
            remote: mq.remote.unwrap_or_else(|| super::git::ORIGIN.into()),
            worktree,
            target: mq.target.unwrap_or(r.default_branch),
            method: mq.method.unwrap_or(Method::Rebase),
            strategy: mq.strategy.unwrap_or(StrategyKind::Direct),
            gates: ordered_gates(mq.gates.as_ref()),
            gate_timeout: Duration::from_secs(mq.gate_timeout_secs.unwrap_or(30 * 60)),
            pr_poll_every: Duration::from_secs(mq.pr_poll_secs.unwrap_or(60)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn gates_in_order_and_rig_over_town() {
        let town: MergeQueueSettings = serde_json::from_value(
            json!({"gates": {"test": "t", "zz": "z", "setup": "s", "build": "b", "lint": ""}, "method": "merge"}),
        )
        .unwrap();
        let rig: MergeQueueSettings =
            serde_json::from_value(json!({"target": "trunk", "strategy": "pr"})).unwrap();
        let m = overlay(Some(town), Some(rig));
        let names: Vec<String> = ordered_gates(m.gates.as_ref())
            .into_iter()
            .map(|g| g.name)
            .collect();
        assert_eq!(names, ["setup", "test", "build", "zz"]);
        assert_eq!(m.target.as_deref(), Some("trunk"));
        assert_eq!(m.method, Some(Method::Merge));
        assert_eq!(m.strategy, Some(StrategyKind::Pr));
        let bad = serde_json::from_value::<MergeQueueSettings>(json!({"strategy": "yolo"}));
        assert!(bad.unwrap_err().to_string().contains("direct"));
    }
}
