//! The polecat worktrees of one run. Each polecat's worktree stays open
//! across its steps (no reopening of the main repository or the worktree
//! per step): the scheduler keeps the open repositories, hands one to the
//! starter with the step that needs it, and gets it back with the session.
//! A reused worktree is cleaned in proportion to what its last step changed:
//! nothing is looked at when its change monitor saw nothing, else `git
//! status` and only the paths that differ (`town::worktree::OpenWorktree`).
//! The preparation runs on the starter threads, off the scheduler's path.

use super::super::RuntimeError;
use super::GitSandbox;
use crate::town::worktree::{self, OpenWorktree};
use git2::Repository;
use std::collections::HashMap;
use std::path::PathBuf;

/// The open worktrees of the polecats that are not starting right now.
#[derive(Default)]
pub(super) struct Worktrees {
    open: HashMap<String, OpenWorktree>,
}

impl Worktrees {
    pub fn take(&mut self, polecat: &str) -> Option<OpenWorktree> {
        self.open.remove(polecat)
    }

    pub fn put(&mut self, polecat: String, wt: OpenWorktree) {
        self.open.insert(polecat, wt);
    }
}

/// What a starter thread needs to prepare a polecat's worktree.
pub(super) struct Sandbox {
    pub git: GitSandbox,
    pub polecat: String,
    /// The polecat's worktree, if the run has it open.
    pub open: Option<OpenWorktree>,
}

/// The main repository, opened by a starter thread only when a worktree
/// must be created or was not open yet (then kept for the thread's life).
pub(super) type MainRepo = Option<Result<Repository, git2::Error>>;

/// The worktree of the sandbox's polecat prepared for `step` (and its open
/// repository), and the directory in it where the step runs (the run's
/// subdirectory when the tree has it).
pub(super) fn prepare(
    sb: Sandbox,
    main: &mut MainRepo,
    step: &str,
) -> Result<(PathBuf, OpenWorktree), RuntimeError> {
    let g = &sb.git;
    let branch = worktree::polecat_branch(&sb.polecat, step);
    let path = g.worktrees.join(&sb.polecat);
    let wt = match sb.open {
        Some(mut wt) if path.join(".git").exists() => {
            wt.reuse(&branch, g.base)?;
            wt
        }
        _ => {
            let repo = main
                .get_or_insert_with(|| Repository::open(&g.repo))
                .as_ref()
                .map_err(|e| RuntimeError::Io(format!("cannot open {}: {e}", g.repo.display())))?;
            let name = format!("gt-{}", sb.polecat);
            worktree::prepare(repo, &path, &name, &branch, g.base)?;
            OpenWorktree::open(&path)?
        }
    };
    let sub = path.join(&g.subdir);
    Ok((if sub.is_dir() { sub } else { path }, wt))
}
