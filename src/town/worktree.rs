//! Git worktrees with git2: a polecat's sandbox on `polecat/<name>/<bead>`.

use git2::{build::CheckoutBuilder, BranchType, Oid, Repository, WorktreeAddOptions};
use std::path::{Path, PathBuf};

/// A ref name piece from free text (bead ids are already safe).
pub fn ref_safe(s: &str) -> String {
    let t: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    t.trim_matches('.').replace("..", ".")
}

/// The polecat branch for `bead`.
pub fn polecat_branch(polecat: &str, bead: &str) -> String {
    format!("polecat/{}/{}", ref_safe(polecat), ref_safe(bead))
}

/// Put the worktree at `path` (created from `repo` if missing, reused
/// otherwise) on a fresh branch `branch` at `base`, clean: tracked files
/// reset and untracked files removed.
pub fn prepare(
    repo: &Repository,
    path: &Path,
    wt_name: &str,
    branch: &str,
    base: Oid,
) -> Result<PathBuf, git2::Error> {
    let commit = repo.find_commit(base)?;
    if path.join(".git").exists() {
        if let Ok(wt) = Repository::open(path) {
            let on_branch = wt
                .head()
                .ok()
                .and_then(|h| h.shorthand().map(|s| s == branch))
                .unwrap_or(false);
            if !on_branch {
                let c = wt.find_commit(base)?;
                wt.branch(branch, &c, true)?;
                wt.set_head(&format!("refs/heads/{branch}"))?;
            }
            let obj = wt.find_object(base, None)?;
            wt.reset(&obj, git2::ResetType::Hard, None)?;
            let mut co = CheckoutBuilder::new();
            co.force().remove_untracked(true);
            wt.checkout_head(Some(&mut co))?;
            return Ok(path.to_path_buf());
        }
    }
    // A stale registration (directory removed) blocks the name: prune it.
    if let Ok(old) = repo.find_worktree(wt_name) {
        let mut po = git2::WorktreePruneOptions::new();
        po.valid(true).working_tree(true);
        old.prune(Some(&mut po))?;
    }
    if path.exists() {
        std::fs::remove_dir_all(path)
            .map_err(|e| git2::Error::from_str(&format!("cannot clear {}: {e}", path.display())))?;
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| {
            git2::Error::from_str(&format!("cannot create {}: {e}", parent.display()))
        })?;
    }
    let b = match repo.find_branch(branch, BranchType::Local) {
        Ok(b) => b,
        Err(_) => repo.branch(branch, &commit, true)?,
    };
    let mut opts = WorktreeAddOptions::new();
    opts.reference(Some(b.get()));
    repo.worktree(wt_name, path, Some(&opts))?;
    Ok(path.to_path_buf())
}

/// Commit everything in the worktree (new, changed, deleted files) on its
/// current branch. Returns the new HEAD, or `None` when nothing changed.
pub fn commit_all(path: &Path, message: &str, author: &str) -> Result<Option<Oid>, git2::Error> {
    let repo = Repository::open(path)?;
    let mut index = repo.index()?;
    index.add_all(["*"].iter(), git2::IndexAddOption::DEFAULT, None)?;
    index.update_all(["*"].iter(), None)?;
    index.write()?;
    let tree_id = index.write_tree()?;
    let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    if let Some(p) = &parent {
        if p.tree_id() == tree_id {
            return Ok(None);
        }
    }
    let tree = repo.find_tree(tree_id)?;
    let email = format!("{}@gastown.local", author.replace('/', "."));
    let sig = git2::Signature::now(author, &email)?;
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    let oid = repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)?;
    Ok(Some(oid))
}

/// The HEAD commit of the repository at `path`.
pub fn head_sha(path: &Path) -> Result<String, git2::Error> {
    let repo = Repository::open(path)?;
    let h = repo.head()?.peel_to_commit()?;
    Ok(h.id().to_string())
}
