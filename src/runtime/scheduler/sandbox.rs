//! The polecat worktrees of one run. Each polecat's worktree stays open
//! across its steps (no reopening of the main repository or the worktree
//! per step), and a reused one is cleaned in proportion to what its last
//! step changed (`town::worktree::reuse`). A batch of starts prepares its
//! worktrees on worker threads, a few at once.

use super::super::RuntimeError;
use super::turn::Leased;
use super::GitSandbox;
use crate::town::worktree;
use git2::Repository;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Default)]
pub(super) struct Worktrees {
    open: HashMap<String, Repository>,
}

/// One worktree to prepare: the plan's index, the polecat, the step, and
/// the polecat's open worktree if the run has one.
type Job = (usize, String, String, Option<Repository>);
type Prepared = (
    usize,
    String,
    Result<PathBuf, RuntimeError>,
    Option<Repository>,
);

impl Worktrees {
    /// Where each leased step runs: its polecat's worktree, or `workdir`
    /// for a step that needs no isolation.
    pub fn prepare(
        &mut self,
        g: &GitSandbox,
        workdir: &Path,
        plan: &[Leased],
    ) -> Vec<Result<PathBuf, RuntimeError>> {
        let mut out: Vec<Result<PathBuf, RuntimeError>> =
            plan.iter().map(|_| Ok(workdir.to_path_buf())).collect();
        let mut jobs: Vec<Job> = Vec::new();
        for (i, l) in plan.iter().enumerate() {
            if l.ready.isolation.as_deref() != Some("none") {
                let open = self.open.remove(&l.polecat);
                jobs.push((i, l.polecat.clone(), l.ready.id.clone(), open));
            }
        }
        for (i, polecat, cwd, open) in run_jobs(g, jobs) {
            out[i] = cwd;
            if let Some(wt) = open {
                self.open.insert(polecat, wt);
            }
        }
        out
    }
}

/// Prepare the jobs, on worker threads when there are several.
fn run_jobs(g: &GitSandbox, jobs: Vec<Job>) -> Vec<Prepared> {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    if jobs.len() <= 1 || workers <= 1 {
        return run_part(g, jobs);
    }
    let per = jobs.len().div_ceil(workers);
    let mut parts: Vec<Vec<Job>> = Vec::new();
    for job in jobs {
        match parts.last_mut() {
            Some(p) if p.len() < per => p.push(job),
            _ => parts.push(vec![job]),
        }
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|part| {
                let idx: Vec<(usize, String)> = part.iter().map(|j| (j.0, j.1.clone())).collect();
                (idx, scope.spawn(move || run_part(g, part)))
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|(idx, h)| {
                h.join().unwrap_or_else(|_| {
                    idx.into_iter()
                        .map(|(i, p)| {
                            let e = RuntimeError::Io("a worktree worker panicked".into());
                            (i, p, Err(e), None)
                        })
                        .collect()
                })
            })
            .collect()
    })
}

/// Prepare jobs one after another, opening the main repository only if a
/// worktree must be created (or was not open yet).
fn run_part(g: &GitSandbox, part: Vec<Job>) -> Vec<Prepared> {
    let mut main: Option<Result<Repository, git2::Error>> = None;
    part.into_iter()
        .map(|(i, polecat, step, open)| {
            let (cwd, wt) = match polecat_worktree(g, &mut main, open, &polecat, &step) {
                Ok((cwd, wt)) => (Ok(cwd), Some(wt)),
                Err(e) => (Err(e), None),
            };
            (i, polecat, cwd, wt)
        })
        .collect()
}

/// The worktree of `polecat` prepared for `step` (and its open
/// repository), and the directory in it where the step runs (the run's
/// subdirectory when the tree has it).
fn polecat_worktree(
    g: &GitSandbox,
    main: &mut Option<Result<Repository, git2::Error>>,
    open: Option<Repository>,
    polecat: &str,
    step: &str,
) -> Result<(PathBuf, Repository), RuntimeError> {
    let branch = worktree::polecat_branch(polecat, step);
    let path = g.worktrees.join(polecat);
    let wt = match open {
        Some(wt) if path.join(".git").exists() => {
            worktree::reuse(&wt, &branch, g.base)?;
            wt
        }
        _ => {
            let repo = main
                .get_or_insert_with(|| Repository::open(&g.repo))
                .as_ref()
                .map_err(|e| RuntimeError::Io(format!("cannot open {}: {e}", g.repo.display())))?;
            worktree::prepare(repo, &path, &format!("gt-{polecat}"), &branch, g.base)?;
            Repository::open(&path)?
        }
    };
    let sub = path.join(&g.subdir);
    Ok((if sub.is_dir() { sub } else { path }, wt))
}
