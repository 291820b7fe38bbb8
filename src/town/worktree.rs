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
///
/// A reused worktree costs what changed since its last use: one forced
/// checkout of `base` (removing untracked files) compares the files with the
/// index's stat cache and rewrites only the paths that differ.
pub fn prepare(
    repo: &Repository,
    path: &Path,
    wt_name: &str,
    branch: &str,
    base: Oid,
) -> Result<PathBuf, git2::Error> {
    if path.join(".git").exists() {
        if let Ok(wt) = Repository::open(path) {
            reuse(&wt, branch, base)?;
            return Ok(path.to_path_buf());
        }
    }
    let commit = repo.find_commit(base)?;
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

/// Move the worktree `wt` onto `branch` at `base` and clean it, in one pass.
fn reuse(wt: &Repository, branch: &str, base: Oid) -> Result<(), git2::Error> {
    let commit = wt.find_commit(base)?;
    let mut co = CheckoutBuilder::new();
    co.force().remove_untracked(true);
    wt.checkout_tree(commit.as_object(), Some(&mut co))?;
    let refname = format!("refs/heads/{branch}");
    wt.reference(&refname, base, true, "gt: polecat worktree at its base")?;
    wt.set_head(&refname)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn git(dir: &Path, args: &[&str]) {
        let o = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@localhost"])
            .args(args)
            .current_dir(dir)
            .output()
            .expect("git runs");
        assert!(
            o.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    /// A reused worktree comes back clean on the new branch at `base`:
    /// edits, deletions, staged and untracked files are all gone.
    #[test]
    fn reused_worktree_is_reset_in_one_pass() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path().join("repo");
        std::fs::create_dir_all(r.join("src")).unwrap();
        for i in 0..20 {
            std::fs::write(r.join("src").join(format!("f{i}.txt")), format!("{i}\n")).unwrap();
        }
        git(&r, &["init", "-q", "-b", "main"]);
        git(&r, &["add", "-A"]);
        git(&r, &["commit", "-qm", "base"]);
        let repo = Repository::open(&r).unwrap();
        let base = repo.head().unwrap().peel_to_commit().unwrap().id();
        let wt = t.path().join("wt");
        prepare(&repo, &wt, "gt-p1", "polecat/p1/a", base).unwrap();
        // The step's work: an edit, a deletion, a staged new file, an
        // untracked file, and a commit on the polecat branch.
        std::fs::write(wt.join("src/f1.txt"), "changed\n").unwrap();
        git(&wt, &["commit", "-qam", "step a"]);
        std::fs::write(wt.join("src/f2.txt"), "dirty\n").unwrap();
        std::fs::remove_file(wt.join("src/f3.txt")).unwrap();
        std::fs::write(wt.join("staged.txt"), "s\n").unwrap();
        git(&wt, &["add", "staged.txt"]);
        std::fs::write(wt.join("src/untracked.txt"), "u\n").unwrap();

        prepare(&repo, &wt, "gt-p1", "polecat/p1/b", base).unwrap();
        let w = Repository::open(&wt).unwrap();
        let head = w.head().unwrap();
        assert_eq!(head.shorthand(), Some("polecat/p1/b"));
        assert_eq!(head.peel_to_commit().unwrap().id(), base);
        for i in 0..20 {
            let text = std::fs::read_to_string(wt.join("src").join(format!("f{i}.txt"))).unwrap();
            assert_eq!(text, format!("{i}\n"));
        }
        assert!(!wt.join("staged.txt").exists());
        assert!(!wt.join("src/untracked.txt").exists());
        let mut so = git2::StatusOptions::new();
        so.include_untracked(true);
        assert!(w.statuses(Some(&mut so)).unwrap().is_empty());
        // The branch of step a still holds its commit.
        let a = repo.find_branch("polecat/p1/a", BranchType::Local).unwrap();
        assert_ne!(a.get().peel_to_commit().unwrap().id(), base);

        // Reusing it on the branch it is already on works too.
        std::fs::write(wt.join("src/f4.txt"), "again\n").unwrap();
        prepare(&repo, &wt, "gt-p1", "polecat/p1/b", base).unwrap();
        assert_eq!(
            std::fs::read_to_string(wt.join("src/f4.txt")).unwrap(),
            "4\n"
        );
    }
}
