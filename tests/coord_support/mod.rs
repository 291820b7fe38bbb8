//! A town for coordination tests, built the way a user builds one: a bare
//! origin made with real `git`, `gt install`, `gt rig add rig ORIGIN`, and
//! gates set with `gt config set merge_queue.gates ... --rig rig`. Polecat
//! branches are made in the rig's clone (where `gt done` leaves them); the
//! truth about what merged is the origin's default branch.
#![allow(dead_code)]

#[path = "../common/town.rs"]
pub mod cmd;

use gastown::store::Store;
use gastown::town::{Gate, MergeConfig, Town};
use git2::{Oid, Repository, Signature};
use std::path::{Path, PathBuf};

pub struct TownFixture {
    pub dir: tempfile::TempDir,
    root: PathBuf,
    pub rig: String,
    /// The origin's default branch.
    pub branch: String,
}

impl TownFixture {
    /// A town with rig `rig` (origin default branch `main`) gated by `gates`.
    pub fn new(gates: serde_json::Value) -> TownFixture {
        TownFixture::on_branch("main", gates)
    }

    /// The same, with an origin whose default branch is `branch`.
    pub fn on_branch(branch: &str, gates: serde_json::Value) -> TownFixture {
        let dir = tempfile::tempdir().unwrap();
        let origin = cmd::origin_repo(dir.path(), "origin", branch);
        let town = cmd::install_town(dir.path(), &[("rig", origin.to_str().unwrap())]);
        if gates.as_object().is_some_and(|g| !g.is_empty()) {
            cmd::config_set(&town, "merge_queue.gates", &gates.to_string(), Some("rig"));
        }
        TownFixture {
            dir,
            root: town,
            rig: "rig".into(),
            branch: branch.into(),
        }
    }

    /// The town directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn town(&self) -> Town {
        Town {
            root: self.root.clone(),
        }
    }

    pub fn store(&self) -> Store {
        let mut s = Store::open(&self.root().join(".beads")).unwrap();
        s.set_actor("mayor");
        s
    }

    /// The bare origin the rig was cloned from.
    pub fn origin_path(&self) -> PathBuf {
        self.dir.path().join("origin.git")
    }

    pub fn origin(&self) -> Repository {
        Repository::open_bare(self.origin_path()).unwrap()
    }

    /// The rig's clone (`<town>/rig/.repo.git`).
    pub fn repo(&self) -> Repository {
        Repository::open_bare(self.root().join("rig/.repo.git")).unwrap()
    }

    pub fn rig_config(&self) -> MergeConfig {
        self.town().merge_config(&self.rig).unwrap()
    }

    pub fn rig_config_with(&self, gates: &[(&str, &str)]) -> MergeConfig {
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

    /// The tip of the origin's default branch.
    pub fn main_tip(&self) -> Oid {
        self.origin()
            .refname_to_id(&format!("refs/heads/{}", self.branch))
            .unwrap()
    }

    /// A polecat branch in the rig's clone: from the origin's tip (or from
    /// `from`), one commit that writes `files`. Returns the head sha.
    pub fn branch(&self, branch: &str, files: &[(&str, &str)], from: Option<Oid>) -> Oid {
        cmd::git_in(
            &self.root().join("rig/.repo.git"),
            &[
                "fetch",
                "-q",
                "origin",
                "+refs/heads/*:refs/remotes/origin/*",
            ],
        );
        let repo = self.repo();
        let parent = from.unwrap_or_else(|| self.main_tip());
        let c = commit(&repo, Some(parent), files, &format!("work on {branch}"));
        repo.reference(&format!("refs/heads/{branch}"), c, true, "branch")
            .unwrap();
        c
    }

    /// Someone else pushes a commit writing `files` to the origin's default
    /// branch.
    pub fn push_to_origin(&self, files: &[(&str, &str)], msg: &str) -> Oid {
        let origin = self.origin();
        let c = commit(&origin, Some(self.main_tip()), files, msg);
        origin
            .reference(&format!("refs/heads/{}", self.branch), c, true, msg)
            .unwrap();
        c
    }

    /// The content of `path` at the tip of the origin's default branch.
    pub fn main_file(&self, path: &str) -> Option<String> {
        let repo = self.origin();
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
