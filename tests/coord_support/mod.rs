//! A town in a temp dir for coordination tests: `settings/config.json`
//! listing the rig, the town store (`.beads`, prefix `hq`), and the rig's
//! bare repo with `main` holding `base.txt`, built with git2.
#![allow(dead_code)]

use gastown::coord::town::{Gate, RigConfig};
use gastown::store::Store;
use git2::{Oid, Repository, Signature};
use std::path::{Path, PathBuf};

pub struct TownFixture {
    pub dir: tempfile::TempDir,
    pub rig: String,
}

impl TownFixture {
    /// A town with one rig `rig` whose settings list `gates`.
    pub fn new(gates: serde_json::Value) -> TownFixture {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("settings")).unwrap();
        std::fs::write(root.join("settings/config.json"), r#"{"rigs": ["rig"]}"#).unwrap();
        Store::init(root, "hq").unwrap();
        let rig = root.join("rig");
        std::fs::create_dir_all(rig.join("settings")).unwrap();
        std::fs::write(
            rig.join("settings/config.json"),
            serde_json::json!({"merge_queue": {"target": "main", "gates": gates}}).to_string(),
        )
        .unwrap();
        let repo = Repository::init_bare(rig.join(".repo.git")).unwrap();
        let c = commit(&repo, None, &[("base.txt", "base\n")], "initial");
        repo.reference("refs/heads/main", c, true, "init").unwrap();
        repo.set_head("refs/heads/main").unwrap();
        TownFixture {
            dir,
            rig: "rig".into(),
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn store(&self) -> Store {
        let mut s = Store::open(&self.root().join(".beads")).unwrap();
        s.set_actor("mayor");
        s
    }

    pub fn repo(&self) -> Repository {
        Repository::open(self.root().join("rig/.repo.git")).unwrap()
    }

    pub fn rig_config(&self) -> RigConfig {
        gastown::coord::town::Town::open(self.root())
            .unwrap()
            .rig("rig")
            .unwrap()
    }

    pub fn rig_config_with(&self, gates: &[(&str, &str)]) -> RigConfig {
        let mut rc = self.rig_config();
        rc.gates = gates
            .iter()
            .map(|(n, c)| Gate {
                name: n.to_string(),
                command: c.to_string(),
            })
            .collect();
        rc
    }

    pub fn main_tip(&self) -> Oid {
        self.repo().refname_to_id("refs/heads/main").unwrap()
    }

    /// Create `branch` from `main` (or from `from`) with one commit that
    /// writes `files`. Returns the head sha.
    pub fn branch(&self, branch: &str, files: &[(&str, &str)], from: Option<Oid>) -> Oid {
        let repo = self.repo();
        let parent = from.unwrap_or_else(|| self.main_tip());
        let c = commit(&repo, Some(parent), files, &format!("work on {branch}"));
        repo.reference(&format!("refs/heads/{branch}"), c, true, "branch")
            .unwrap();
        c
    }

    /// The content of `path` at the tip of `main`.
    pub fn main_file(&self, path: &str) -> Option<String> {
        let repo = self.repo();
        let c = repo.find_commit(self.main_tip()).unwrap();
        let tree = c.tree().unwrap();
        let e = tree.get_path(Path::new(path)).ok()?;
        let blob = repo.find_blob(e.id()).ok()?;
        Some(String::from_utf8_lossy(blob.content()).to_string())
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }
}

/// A commit whose tree is `parent`'s plus `files` (top-level paths).
pub fn commit(repo: &Repository, parent: Option<Oid>, files: &[(&str, &str)], msg: &str) -> Oid {
    let sig = Signature::now("tester", "tester@example.com").unwrap();
    let parent = parent.map(|p| repo.find_commit(p).unwrap());
    let base_tree = parent.as_ref().map(|p| p.tree().unwrap());
    let mut tb = repo.treebuilder(base_tree.as_ref()).unwrap();
    for (path, content) in files {
        let b = repo.blob(content.as_bytes()).unwrap();
        tb.insert(path, b, 0o100644).unwrap();
    }
    let tree = repo.find_tree(tb.write().unwrap()).unwrap();
    let parents: Vec<&git2::Commit> = parent.iter().collect();
    repo.commit(None, &sig, &sig, msg, &tree, &parents).unwrap()
}
