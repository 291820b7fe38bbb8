//! Helpers for running `bd` in temp dirs.
#![allow(dead_code)]

pub mod browser;
pub mod model_server;
pub mod town;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `../shared/<name>` beside the checkout (or beside a worktree's parent
/// folder, as in `wt/<branch>`), or `None`; the caller says why it skipped.
pub fn shared_dir(name: &str) -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    ["../shared", "../../shared"]
        .iter()
        .map(|s| root.join(s).join(name))
        .find(|d| d.is_dir())
}

pub struct Bd {
    pub dir: PathBuf,
    pub actor: String,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }
}

fn conv(o: Output) -> Run {
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

impl Bd {
    pub fn new(dir: &Path) -> Bd {
        Bd {
            dir: dir.to_path_buf(),
            actor: "tester".into(),
        }
    }

    /// `bd args` as this user runs it, not started yet.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_bd"));
        c.args(args)
            .current_dir(&self.dir)
            .env("BD_ACTOR", &self.actor)
            .env_remove("BEADS_DIR")
            .env_remove("GT_TOWN");
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        conv(self.command(args).output().unwrap())
    }

    /// Run and require success.
    pub fn ok(&self, args: &[&str]) -> Run {
        let r = self.run(args);
        assert_eq!(r.code, 0, "bd {args:?} failed:\n{}\n{}", r.stdout, r.stderr);
        r
    }

    pub fn id(&self, args: &[&str]) -> String {
        let mut a = args.to_vec();
        a.push("--json");
        self.ok(&a).json()["id"].as_str().unwrap().to_string()
    }
}

pub fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A saved protomolecule exercising nesting, gates, waits-for and vars.
pub const DEMO_PROTO: &str = r#"{
  "ir_version": 1, "formula": "mol-demo", "type": "workflow", "version": 1, "pour": true,
  "root": {"id": "mol-demo", "title": "Demo {{feature}}", "description": "Ship {{feature}}"},
  "vars": [
    {"name": "env", "default": "dev", "enum": ["dev", "prod"]},
    {"name": "feature", "required": true}
  ],
  "steps": [
    {"id": "mol-demo.design", "path": "design", "title": "Design {{feature}}", "type": "task", "priority": 1,
     "provenance": {"formula": "mol-demo", "file": "demo.formula.toml", "line": 3, "col": 1}},
    {"id": "mol-demo.implement", "path": "implement", "title": "Implement", "type": "epic", "priority": 2,
     "provenance": {"formula": "mol-demo", "file": "demo.formula.toml", "line": 7, "col": 1}},
    {"id": "mol-demo.implement.draft", "path": "implement.draft", "parent": "mol-demo.implement", "title": "Draft", "type": "task", "priority": 2,
     "run": "echo {{feature}}",
     "provenance": {"formula": "mol-demo", "file": "demo.formula.toml", "line": 9, "col": 1}},
    {"id": "mol-demo.implement.review", "path": "implement.review", "parent": "mol-demo.implement", "title": "Review", "type": "task", "priority": 2,
     "provenance": {"formula": "mol-demo", "file": "demo.formula.toml", "line": 12, "col": 1}},
    {"id": "mol-demo.gate-ci", "path": "gate-ci", "title": "Gate: gh:run", "type": "gate", "priority": 2,
     "gate": {"type": "gh:run", "await_id": "ci-{{feature}}"},
     "provenance": {"formula": "mol-demo", "file": "demo.formula.toml", "line": 15, "col": 1}},
    {"id": "mol-demo.ship", "path": "ship", "title": "Ship to {{env}}", "type": "task", "priority": 2, "labels": ["deploy"],
     "provenance": {"formula": "mol-demo", "file": "demo.formula.toml", "line": 18, "col": 1}}
  ],
  "deps": [
    {"from": "mol-demo.implement", "to": "mol-demo.design", "type": "blocks"},
    {"from": "mol-demo.implement.review", "to": "mol-demo.implement.draft", "type": "blocks"},
    {"from": "mol-demo.ship", "to": "mol-demo.gate-ci", "type": "blocks"},
    {"from": "mol-demo.ship", "to": "mol-demo.implement", "type": "waits-for", "metadata": {"gate": "all-children"}}
  ],
  "sources": []
}"#;
