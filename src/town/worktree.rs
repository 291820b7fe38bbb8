//! Git worktrees with git2: a polecat's sandbox on `polecat/<name>/<bead>`.

use super::tree_watch::TreeWatch;
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
    // One git cannot read (no HEAD, after a crash) is not found: remove it.
    let registration = crate::ids::join(&repo.path().join("worktrees"), wt_name, "")
        .map_err(|e| git2::Error::from_str(&e.to_string()))?;
    if registration.exists() {
        std::fs::remove_dir_all(&registration).map_err(|e| {
            git2::Error::from_str(&format!("cannot clear {}: {e}", registration.display()))
        })?;
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

/// A polecat worktree kept open across its steps, with the monitor that
/// tells whether its last step changed anything (`tree_watch`).
pub struct OpenWorktree {
    repo: Repository,
    watch: Option<TreeWatch>,
}

impl OpenWorktree {
    /// Open the clean worktree at `path` (as `prepare` leaves it) and arm
    /// its monitor.
    pub fn open(path: &Path) -> Result<OpenWorktree, git2::Error> {
        let repo = Repository::open(path)?;
        let watch = TreeWatch::arm(&repo);
        Ok(OpenWorktree { repo, watch })
    }

    /// Is the change monitor armed (else every reuse runs `git status`)?
    pub fn watched(&self) -> bool {
        self.watch.is_some()
    }

    /// Put the worktree on `branch` at `base`, clean. When the monitor saw
    /// nothing since the last step started and HEAD is still at `base`, the
    /// tree is not looked at: only the branch and `HEAD` are written.
    /// Otherwise `reuse` (status, then only what differs) and a new monitor.
    pub fn reuse(&mut self, branch: &str, base: Oid) -> Result<(), git2::Error> {
        let quiet = self.watch.as_mut().is_some_and(TreeWatch::quiet);
        if quiet && head_at(&self.repo, base) {
            point_head(&self.repo, branch, base)?;
            // Our own write of HEAD is not the next step's change.
            if let Some(w) = self.watch.as_mut() {
                w.drain();
            }
            return Ok(());
        }
        self.watch = None;
        reuse(&self.repo, branch, base)?;
        self.watch = TreeWatch::arm(&self.repo);
        Ok(())
    }
}

/// Is `wt`'s HEAD at `base`?
fn head_at(wt: &Repository, base: Oid) -> bool {
    wt.head().ok().and_then(|h| h.target()) == Some(base)
}

/// Move the open worktree `wt` onto `branch` at `base` and clean it. When
/// its HEAD is already at `base` (the last step committed nothing), only the
/// paths `git status` reports are checked out again (untracked ones
/// removed), and a clean tree is not touched at all; otherwise one forced
/// checkout of `base`.
pub fn reuse(wt: &Repository, branch: &str, base: Oid) -> Result<(), git2::Error> {
    let commit = wt.find_commit(base)?;
    let at_base = head_at(wt, base);
    let (dirty, index_dirty) = if at_base {
        changed_paths(wt)?
    } else {
        (Vec::new(), true)
    };
    if !at_base || !dirty.is_empty() {
        let mut co = CheckoutBuilder::new();
        co.force().remove_untracked(true);
        // Checkout paths are patterns: a name that looks like one checks
        // out the whole tree instead.
        let literal = |p: &String| !p.contains(['*', '?', '[', '\\']);
        if dirty.iter().all(literal) {
            for p in &dirty {
                co.path(p);
            }
        }
        wt.checkout_tree(commit.as_object(), Some(&mut co))?;
    }
    if index_dirty {
        // A checkout leaves alone an index entry whose file it had no need
        // to write (`git rm --cached`): set the index to `base` as well
        // (unchanged entries keep their stat data).
        let mut index = wt.index()?;
        index.read_tree(&commit.tree()?)?;
        index.write()?;
    }
    point_head(wt, branch, base)
}

/// Create (or move) `branch` at `base` and point `wt`'s HEAD at it.
fn point_head(wt: &Repository, branch: &str, base: Oid) -> Result<(), git2::Error> {
    let refname = format!("refs/heads/{branch}");
    wt.reference(&refname, base, true, "gt: polecat worktree at its base")?;
    // HEAD.lock renamed over HEAD makes ext4 (`auto_da_alloc`) write the
    // new file to disk inside the rename, once per step; a rename onto no
    // file costs nothing, so HEAD goes first. A crash in between leaves a
    // worktree git cannot open, which `prepare` then makes again.
    let head = wt.path().join("HEAD");
    if let Err(e) = std::fs::remove_file(&head) {
        if e.kind() != std::io::ErrorKind::NotFound {
            return Err(git2::Error::from_str(&format!(
                "cannot replace {}: {e}",
                head.display()
            )));
        }
    }
    // Not `set_head`: it first opens every worktree of the repository to
    // refuse a branch checked out elsewhere, and this branch is the
    // polecat's own.
    wt.reference_symbolic("HEAD", &refname, true, "gt: polecat worktree at its base")?;
    Ok(())
}

/// The paths that differ from HEAD in index or work tree, untracked ones
/// included (ignored ones are not, as a forced checkout keeps them too), and
/// whether the index differs from HEAD.
fn changed_paths(wt: &Repository) -> Result<(Vec<String>, bool), git2::Error> {
    let mut so = git2::StatusOptions::new();
    so.include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false)
        .exclude_submodules(true);
    let st = wt.statuses(Some(&mut so))?;
    let staged = git2::Status::INDEX_NEW
        | git2::Status::INDEX_MODIFIED
        | git2::Status::INDEX_DELETED
        | git2::Status::INDEX_RENAMED
        | git2::Status::INDEX_TYPECHANGE;
    let index_dirty = st.iter().any(|e| e.status().intersects(staged));
    let paths = st
        .iter()
        .filter_map(|e| e.path().map(str::to_string))
        .collect();
    Ok((paths, index_dirty))
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

    /// `<dir>/repo` with `src/f<i>.txt` holding `i` (for `i < n`) and the
    /// `extra` files, all committed on `main`; the repository and its commit.
    fn committed_repo(dir: &Path, n: usize, extra: &[(&str, &str)]) -> (Repository, Oid) {
        let r = dir.join("repo");
        std::fs::create_dir_all(r.join("src")).unwrap();
        for i in 0..n {
            std::fs::write(r.join("src").join(format!("f{i}.txt")), format!("{i}\n")).unwrap();
        }
        for (path, text) in extra {
            let p = r.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        git(&r, &["init", "-q", "-b", "main"]);
        git(&r, &["add", "-A"]);
        git(&r, &["commit", "-qm", "base"]);
        let repo = Repository::open(&r).unwrap();
        let base = repo.head().unwrap().peel_to_commit().unwrap().id();
        (repo, base)
    }

    /// A reused worktree comes back clean on the new branch at `base`:
    /// edits, deletions, staged and untracked files are all gone.
    #[test]
    fn reused_worktree_is_reset_in_one_pass() {
        let t = tempfile::tempdir().unwrap();
        let (repo, base) = committed_repo(t.path(), 20, &[]);
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

        // At base with nothing committed: only what status reports is
        // restored (an edit, a deletion, a staged and an untracked file),
        // in the already open worktree; then names that look like globs.
        for names in [
            ["new1.txt", "junk/deep/u.txt"],
            ["new[1].txt", "junk/*.txt"],
        ] {
            std::fs::write(wt.join("src/f5.txt"), "edit\n").unwrap();
            std::fs::remove_file(wt.join("src/f6.txt")).unwrap();
            std::fs::write(wt.join(names[0]), "n\n").unwrap();
            git(&wt, &["add", names[0]]);
            std::fs::create_dir_all(wt.join("junk/deep")).unwrap();
            std::fs::write(wt.join(names[1]), "u\n").unwrap();
            reuse(&w, "polecat/p1/c", base).unwrap();
            assert_eq!(w.head().unwrap().shorthand(), Some("polecat/p1/c"));
            assert_eq!(
                std::fs::read_to_string(wt.join("src/f5.txt")).unwrap(),
                "5\n"
            );
            assert_eq!(
                std::fs::read_to_string(wt.join("src/f6.txt")).unwrap(),
                "6\n"
            );
            assert!(!wt.join(names[0]).exists(), "{names:?}");
            assert!(!wt.join(names[1]).exists(), "{names:?}");
            assert!(w.statuses(Some(&mut so)).unwrap().is_empty());
        }
        // Clean: nothing to do but move the branch.
        reuse(&w, "polecat/p1/d", base).unwrap();
        assert_eq!(w.head().unwrap().shorthand(), Some("polecat/p1/d"));
    }

    /// A kept-open worktree with its change monitor: after every kind of
    /// change a step can make (and after none), the next step finds the tree
    /// clean, on its own branch at `base`; the monitor stays armed.
    #[test]
    fn open_worktree_reuse_never_leaks_a_change() {
        let t = tempfile::tempdir().unwrap();
        let (repo, base) = committed_repo(
            t.path(),
            10,
            &[("src/deep/d.txt", "d\n"), (".gitignore", "build/\n")],
        );
        let wt = t.path().join("wt");
        prepare(&repo, &wt, "gt-p1", "polecat/p1/s0", base).unwrap();
        let mut open = OpenWorktree::open(&wt).unwrap();
        assert!(open.watched(), "a small tree gets a monitor");

        let w = wt.clone();
        let sh = move |script: &str| {
            let o = Command::new("sh")
                .args(["-c", script])
                .current_dir(&w)
                .env("GIT_AUTHOR_NAME", "t")
                .env("GIT_AUTHOR_EMAIL", "t@localhost")
                .env("GIT_COMMITTER_NAME", "t")
                .env("GIT_COMMITTER_EMAIL", "t@localhost")
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "{script}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        };
        let steps = [
            "cat src/f1.txt >/dev/null",
            "echo edit > src/f1.txt",
            "mkdir -p junk/deep && echo u > junk/deep/u.txt",
            // An untracked directory an earlier clean-up may have left.
            "mkdir -p junk/deep && echo again > junk/deep/again.txt",
            "echo deeper > src/deep/new.txt",
            "rm src/f2.txt",
            "mv src/f3.txt src/moved.txt",
            "chmod +x src/f4.txt",
            "git rm -q --cached src/f5.txt",
            "echo staged > staged.txt && git add staged.txt",
            "echo c > src/f6.txt && git commit -qam step",
            "git commit -q --allow-empty -m empty",
            "echo x > .gitignore",
            "exec 3>>src/f7.txt",
            "mkdir -p build && echo o > build/out.txt",
            "echo later > build/out.txt",
            "true",
        ];
        for (i, script) in steps.iter().enumerate() {
            sh(script);
            let branch = format!("polecat/p1/s{}", i + 1);
            open.reuse(&branch, base).unwrap();
            let v = Repository::open(&wt).unwrap();
            let head = v.head().unwrap();
            assert_eq!(head.shorthand(), Some(branch.as_str()), "after {script}");
            assert_eq!(head.target(), Some(base), "after {script}");
            let mut so = git2::StatusOptions::new();
            so.include_untracked(true).recurse_untracked_dirs(true);
            let st = v.statuses(Some(&mut so)).unwrap();
            let left: Vec<_> = st
                .iter()
                .filter_map(|e| e.path().map(str::to_string))
                .collect();
            assert!(left.is_empty(), "after {script}: {left:?}");
            for k in 0..10 {
                let text = std::fs::read_to_string(wt.join("src").join(format!("f{k}.txt")));
                assert_eq!(text.unwrap(), format!("{k}\n"), "after {script}");
            }
            assert!(open.watched(), "after {script}");
        }
        // Ignored files stay, as with `git checkout --force`.
        assert!(wt.join("build/out.txt").exists());

        // A crash between removing HEAD and writing it again: git cannot
        // open the worktree, and `prepare` makes it again.
        drop(open);
        let gitdir = Repository::open(&wt).unwrap().path().to_path_buf();
        std::fs::remove_file(gitdir.join("HEAD")).unwrap();
        assert!(Repository::open(&wt).is_err());
        prepare(&repo, &wt, "gt-p1", "polecat/p1/again", base).unwrap();
        let v = Repository::open(&wt).unwrap();
        assert_eq!(v.head().unwrap().shorthand(), Some("polecat/p1/again"));
        assert_eq!(v.head().unwrap().target(), Some(base));
    }
}
