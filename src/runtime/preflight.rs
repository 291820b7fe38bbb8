//! `gt shutdown preflight`: what a shutdown would interrupt. Blockers (a
//! merge being built) mean "not now"; warnings (uncommitted or unpushed
//! polecat work) are preserved by a shutdown but worth knowing; infos
//! (pull requests waiting on review or CI) carry on without us.

use super::RuntimeError;
use crate::store::agents;
use crate::town::Town;
use serde::Serialize;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    Blocker,
    Warning,
    Info,
}

#[derive(Debug, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub subject: String,
    pub detail: String,
}

#[derive(Debug, Serialize)]
pub struct Preflight {
    pub findings: Vec<Finding>,
    pub blockers: usize,
    pub warnings: usize,
}

/// Files changed in a worktree (tracked or untracked, ignored files aside).
fn dirty_files(wt: &Path) -> Option<usize> {
    let repo = git2::Repository::open(wt).ok()?;
    let mut o = git2::StatusOptions::new();
    o.include_untracked(true).include_ignored(false);
    let n = repo.statuses(Some(&mut o)).ok()?.len();
    Some(n)
}

/// Commits on the worktree's branch that the origin's tracking refs lack.
fn unpushed(wt: &Path) -> Option<usize> {
    let repo = git2::Repository::open(wt).ok()?;
    let head = repo.head().ok()?.target()?;
    let mut walk = repo.revwalk().ok()?;
    walk.push(head).ok()?;
    walk.hide_glob("refs/remotes/origin/*").ok()?;
    Some(walk.count())
}

pub fn run(town: &Town) -> Result<Preflight, RuntimeError> {
    let store = town.store()?;
    let mut findings = Vec::new();
    for mr in crate::coord::mq::list(store.conn(), None, true)? {
        match mr.status.as_str() {
            "in_progress" => findings.push(Finding {
                severity: Severity::Blocker,
                subject: format!("{}/refinery", mr.rig),
                detail: format!(
                    "merge {} ({}) is being built and gated now",
                    mr.id, mr.branch
                ),
            }),
            "deferred" => findings.push(Finding {
                severity: Severity::Info,
                subject: mr.id.clone(),
                detail: format!("pull request for {} awaits review/CI", mr.branch),
            }),
            _ => {}
        }
    }
    for a in agents::list(store.conn())? {
        let Some(wt) = a.worktree.as_deref().map(Path::new).filter(|p| p.is_dir()) else {
            continue;
        };
        if let Some(n) = dirty_files(wt).filter(|n| *n > 0) {
            findings.push(Finding {
                severity: Severity::Warning,
                subject: a.address(),
                detail: format!("{n} uncommitted file(s) in {}", wt.display()),
            });
        }
        if let Some(n) = unpushed(wt).filter(|n| *n > 0) {
            let queued = a.hooked_bead.is_none();
            findings.push(Finding {
                severity: Severity::Warning,
                subject: a.address(),
                detail: format!(
                    "{n} commit(s) not on the origin{}",
                    if queued {
                        " (handed in: the merge queue has them)"
                    } else {
                        ""
                    }
                ),
            });
        }
    }
    Ok(Preflight {
        blockers: findings
            .iter()
            .filter(|f| f.severity == Severity::Blocker)
            .count(),
        warnings: findings
            .iter()
            .filter(|f| f.severity == Severity::Warning)
            .count(),
        findings,
    })
}
