//! The refinery: takes the next merge request of a rig, rebases (or merges)
//! its branch onto the target in the refinery's own worktree with git2, runs
//! the rig's gates there, and on success fast-forwards the target and, in
//! ONE store transaction, closes the merge request and the bead as merged
//! and lands convoys. A conflict or a failed gate rejects: the bead is
//! reopened with a `MERGE REJECTION` note and the rig's witness gets mail.
//!
//! Crash safety: the candidate commit is recorded (`mq_runs.candidate`)
//! before the target moves. A refinery that died after moving the target
//! but before the store transaction finishes the bookkeeping on its next
//! call (Gas Town §7: merged beads left open).

use super::mq::{self, MergeRequest, Rejection, RunEnd};
use super::town::{Method, RigConfig, Strategy, Town};
use super::{CoordError, Result};
use crate::store::issues::{self, Update};
use crate::store::{Status, Store};
use git2::{Oid, Repository, Signature};
use serde::Serialize;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What one call to [`process_next`] did.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Nothing queued for this rig.
    Idle {
        rig: String,
    },
    Merged {
        mr: String,
        bead: String,
        sha: String,
        landed: Vec<String>,
    },
    Rejected {
        mr: String,
        bead: String,
        failure: String,
        command: String,
    },
    Dropped {
        mr: String,
        reason: String,
    },
    /// `pr` strategy: the gated branch was pushed; merging is left to the
    /// host (record it later with `gt mq merged`).
    Pushed {
        mr: String,
        remote: String,
        branch: String,
        sha: String,
    },
    /// A merge whose bookkeeping a dead refinery left unfinished.
    Recovered {
        mr: String,
        bead: String,
        sha: String,
        landed: Vec<String>,
    },
}

/// Process the next merge request of `rig`, with the rig config read from
/// the town (`<town>/<rig>/settings/config.json`).
pub fn process_next(store: &mut Store, town: &Town, rig: &str) -> Result<Outcome> {
    let cfg = town.rig(rig)?;
    process_next_with(store, &cfg)
}

fn refinery_addr(rig: &str) -> String {
    format!("{rig}/refinery")
}

/// The per-rig refinery lock: one refinery at a time uses the worktree and
/// decides what a dead run left behind. Released on drop.
struct RigLock(std::fs::File);

impl RigLock {
    fn take(cfg: &RigConfig) -> Result<RigLock> {
        use fs4::fs_std::FileExt;
        let path = cfg.worktree.with_extension("lock");
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| {
                CoordError::failed(format!("cannot create {}: {e}", parent.display()), None)
            })?;
        }
        let f = std::fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| {
                CoordError::failed(format!("cannot open {}: {e}", path.display()), None)
            })?;
        f.lock_exclusive().map_err(|e| {
            CoordError::failed(format!("cannot lock {}: {e}", path.display()), None)
        })?;
        Ok(RigLock(f))
    }
}

impl Drop for RigLock {
    fn drop(&mut self) {
        let _ = fs4::fs_std::FileExt::unlock(&self.0);
    }
}

/// Process the next merge request of `cfg.name`. Refineries of the same rig
/// (the supervisor's task, `gt mq process` by hand) queue on a file lock
/// next to the worktree, so they never share the worktree or mistake a live
/// run for a dead one.
pub fn process_next_with(store: &mut Store, cfg: &RigConfig) -> Result<Outcome> {
    let _lock = RigLock::take(cfg)?;
    let me = refinery_addr(&cfg.name);
    if let Some(o) = recover(store, cfg, &me)? {
        return Ok(o);
    }
    // Claim the next open MR in one transaction (status open -> in_progress).
    let claimed = store.write(|tx| -> Result<Option<(MergeRequest, i64)>> {
        let Some(i) = mq::next_open(tx.conn(), &cfg.name)? else {
            return Ok(None);
        };
        let mr = match MergeRequest::from_issue(&i) {
            Ok(mr) => mr,
            Err(e) => {
                // Unusable metadata: drop it rather than block the queue.
                tx.close(&i.id, Some(&format!("dropped: {e}")))?;
                super::feed::emit(
                    tx,
                    &i.id,
                    "mr.dropped",
                    serde_json::json!({"reason": e.to_string(), "rig": cfg.name}),
                )?;
                return Ok(None);
            }
        };
        tx.update(
            &mr.id,
            &Update {
                status: Some(Status::InProgress),
                assignee: Some(Some(me.clone())),
                ..Default::default()
            },
        )?;
        let run = mq::start_run_tx(tx, &mr.id, &cfg.name)?;
        Ok(Some((mr, run)))
    })?;
    let Some((mr, run)) = claimed else {
        return Ok(Outcome::Idle {
            rig: cfg.name.clone(),
        });
    };
    match attempt(store, cfg, &mr, run) {
        Ok(o) => Ok(o),
        Err(e) => {
            // Not the branch's fault (missing repo, I/O): put it back.
            let msg = e.to_string();
            requeue(store, &mr.id, run, "error", &msg)?;
            Err(e)
        }
    }
}

/// Run `process_next_with` until the rig's queue is empty. Stops at the
/// first infrastructure error.
pub fn drain(store: &mut Store, cfg: &RigConfig) -> Result<Vec<Outcome>> {
    let mut out = Vec::new();
    loop {
        let o = process_next_with(store, cfg)?;
        if matches!(o, Outcome::Idle { .. }) {
            return Ok(out);
        }
        out.push(o);
    }
}

fn recover(store: &mut Store, cfg: &RigConfig, me: &str) -> Result<Option<Outcome>> {
    let claimed: Vec<(String, i64, Option<String>)> = {
        let mut st = store.conn().prepare(
            "SELECT i.id, r.id, r.candidate FROM issues i JOIN mq_runs r ON r.mr_id = i.id
             WHERE i.issue_type = 'merge-request' AND i.status = 'in_progress' AND i.assignee = ?1
               AND r.finished_at IS NULL ORDER BY r.id",
        )?;
        let rows = st.query_map([me], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for (id, run, candidate) in claimed {
        let mr = MergeRequest::from_issue(&issues::get(store.conn(), &id)?)?;
        let target = mr.target.clone().unwrap_or_else(|| cfg.target.clone());
        let landed_in_git = match (&candidate, Repository::open(&cfg.repo)) {
            (Some(c), Ok(repo)) => match (
                Oid::from_str(c),
                repo.refname_to_id(&format!("refs/heads/{target}")),
            ) {
                (Ok(c), Ok(tip)) => tip == c || repo.graph_descendant_of(tip, c).unwrap_or(false),
                _ => false,
            },
            _ => false,
        };
        if landed_in_git {
            let sha = candidate.unwrap_or_default();
            let landed = store.write(|tx| -> Result<Vec<String>> {
                let l = mq::merged_tx(tx, &mr, &sha, &target)?;
                mq::finish_run_tx(
                    tx,
                    run,
                    &RunEnd {
                        outcome: "merged",
                        output_tail: Some("recovered after a refinery restart"),
                        ..Default::default()
                    },
                )?;
                Ok(l)
            })?;
            return Ok(Some(Outcome::Recovered {
                mr: mr.id,
                bead: mr.bead,
                sha,
                landed,
            }));
        }
        // Died before the target moved: queue it again at its place.
        requeue(
            store,
            &mr.id,
            run,
            "abandoned",
            "the refinery stopped during this run; requeued",
        )?;
    }
    Ok(None)
}

/// Put a merge request back in the queue at its place, and end its run.
fn requeue(store: &mut Store, mr_id: &str, run: i64, outcome: &str, tail: &str) -> Result<()> {
    store.write(|tx| -> Result<()> {
        tx.update(
            mr_id,
            &Update {
                status: Some(Status::Open),
                assignee: Some(None),
                ..Default::default()
            },
        )?;
        mq::finish_run_tx(
            tx,
            run,
            &RunEnd {
                outcome,
                output_tail: Some(tail),
                ..Default::default()
            },
        )
    })
}

fn reject(store: &mut Store, mr: &MergeRequest, run: i64, r: Rejection) -> Result<Outcome> {
    store.write(|tx| -> Result<()> {
        mq::rejected_tx(tx, mr, &r)?;
        mq::finish_run_tx(
            tx,
            run,
            &RunEnd {
                outcome: "rejected",
                failure: Some(&r.failure),
                command: Some(&r.command),
                output_tail: Some(&r.output_tail),
            },
        )
    })?;
    Ok(Outcome::Rejected {
        mr: mr.id.clone(),
        bead: mr.bead.clone(),
        failure: r.failure,
        command: r.command,
    })
}

fn attempt(store: &mut Store, cfg: &RigConfig, mr: &MergeRequest, run: i64) -> Result<Outcome> {
    if let Some(reason) = mq::drop_reason(store.conn(), mr)? {
        store.write(|tx| -> Result<()> {
            mq::dropped_tx(tx, mr, &reason)?;
            mq::finish_run_tx(
                tx,
                run,
                &RunEnd {
                    outcome: "dropped",
                    output_tail: Some(&reason),
                    ..Default::default()
                },
            )
        })?;
        return Ok(Outcome::Dropped {
            mr: mr.id.clone(),
            reason,
        });
    }
    let repo = Repository::open(&cfg.repo).map_err(|e| {
        CoordError::failed(
            format!(
                "cannot open the repo of rig {} at {}: {e}",
                cfg.name,
                cfg.repo.display()
            ),
            Some("set `repo` in the rig's settings/config.json, or create the rig's repo".into()),
        )
    })?;
    let target = mr.target.clone().unwrap_or_else(|| cfg.target.clone());
    let target_ref = format!("refs/heads/{target}");
    // Two tries: if the target moves under us (another writer), rebuild once.
    for _ in 0..2 {
        let base = repo.refname_to_id(&target_ref).map_err(|e| {
            CoordError::failed(
                format!("rig {}: no target branch `{target}`: {e}", cfg.name),
                Some("set merge_queue.target in the rig config".into()),
            )
        })?;
        let head = match resolve_head(&repo, mr) {
            Ok(h) => h,
            Err(why) => {
                return reject(
                    store,
                    mr,
                    run,
                    Rejection {
                        failure: "missing-branch".into(),
                        command: format!("resolve {} at {}", mr.branch, mr.head_sha),
                        output_tail: why,
                    },
                )
            }
        };
        let candidate = match build_candidate(&repo, cfg.method, base, head, mr) {
            Ok(c) => c,
            Err(Built::Conflict { command, paths }) => {
                return reject(
                    store,
                    mr,
                    run,
                    Rejection {
                        failure: "conflict".into(),
                        command,
                        output_tail: format!("CONFLICT in: {}", paths.join(", ")),
                    },
                )
            }
            Err(Built::Git(e)) => return Err(e.into()),
        };
        checkout(&repo, cfg, candidate)?;
        for g in &cfg.gates {
            let (ok, out) = run_gate(cfg, &g.command, mr)?;
            if !ok {
                return reject(
                    store,
                    mr,
                    run,
                    Rejection {
                        failure: format!("gate:{}", g.name),
                        command: g.command.clone(),
                        output_tail: super::tail(&out, 2000),
                    },
                );
            }
        }
        let sha = candidate.to_string();
        store.write(|tx| -> Result<()> {
            tx.conn().execute(
                "UPDATE mq_runs SET base = ?2, candidate = ?3 WHERE id = ?1",
                rusqlite::params![run, base.to_string(), sha],
            )?;
            Ok(())
        })?;
        if let Strategy::Pr { remote } = &cfg.strategy {
            push_branch(&repo, remote, &mr.branch, candidate)?;
            store.write(|tx| -> Result<()> {
                tx.update(
                    &mr.id,
                    &Update {
                        status: Some(Status::Deferred),
                        metadata: Some(serde_json::json!({"pr": {"remote": remote, "branch": mr.branch, "sha": sha}})),
                        ..Default::default()
                    },
                )?;
                super::feed::emit(
                    tx,
                    &mr.id,
                    "mr.pushed",
                    serde_json::json!({"bead": mr.bead, "branch": mr.branch, "remote": remote, "sha": sha, "rig": mr.rig, "agent": mr.polecat}),
                )?;
                super::mail::send_tx(
                    tx,
                    &[super::address::Address::Witness(mr.rig.clone())],
                    &super::mail::Outgoing {
                        from: refinery_addr(&mr.rig),
                        subject: format!("READY_FOR_REVIEW {}", mr.bead),
                        body: format!("{} passed the gates and was pushed to {remote} as {} ({sha}). After the pull request merges, run `gt mq merged {}`.", mr.bead, mr.branch, mr.id),
                        kind: "ready_for_review".into(),
                        ..Default::default()
                    },
                )?;
                mq::finish_run_tx(tx, run, &RunEnd { outcome: "pushed", ..Default::default() })
            })?;
            return Ok(Outcome::Pushed {
                mr: mr.id.clone(),
                remote: remote.clone(),
                branch: mr.branch.clone(),
                sha,
            });
        }
        // Compare-and-swap: only move the target if it is still at `base`.
        let moved = repo.reference_matching(
            &target_ref,
            candidate,
            true,
            base,
            &format!("gt refinery: merge {} ({})", mr.branch, mr.bead),
        );
        if moved.is_err() {
            continue;
        }
        let landed = store.write(|tx| -> Result<Vec<String>> {
            let l = mq::merged_tx(tx, mr, &sha, &target)?;
            mq::finish_run_tx(
                tx,
                run,
                &RunEnd {
                    outcome: "merged",
                    ..Default::default()
                },
            )?;
            Ok(l)
        })?;
        return Ok(Outcome::Merged {
            mr: mr.id.clone(),
            bead: mr.bead.clone(),
            sha,
            landed,
        });
    }
    Err(CoordError::failed(
        format!(
            "the target branch `{target}` kept moving while {} was being merged",
            mr.id
        ),
        Some("run the refinery again".into()),
    ))
}

fn resolve_head(repo: &Repository, mr: &MergeRequest) -> std::result::Result<Oid, String> {
    if !mr.head_sha.is_empty() {
        if let Ok(oid) = Oid::from_str(&mr.head_sha) {
            if repo.find_commit(oid).is_ok() {
                return Ok(oid);
            }
        }
    }
    repo.refname_to_id(&format!("refs/heads/{}", mr.branch))
        .map_err(|e| {
            format!(
                "neither commit `{}` nor branch `{}` exists in the rig repo: {e}",
                mr.head_sha, mr.branch
            )
        })
}

enum Built {
    Conflict { command: String, paths: Vec<String> },
    Git(git2::Error),
}

impl From<git2::Error> for Built {
    fn from(e: git2::Error) -> Self {
        Built::Git(e)
    }
}

fn conflict_paths(index: &git2::Index) -> Vec<String> {
    let mut out: Vec<String> = index
        .conflicts()
        .map(|it| {
            it.flatten()
                .filter_map(|c| c.our.or(c.their).or(c.ancestor))
                .map(|e| String::from_utf8_lossy(&e.path).to_string())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out.dedup();
    out
}

fn refinery_sig(repo: &Repository) -> std::result::Result<Signature<'static>, git2::Error> {
    let _ = repo;
    Signature::now("Gas Town Refinery", "refinery@gastown.local")
}

/// The commit that would become the target tip: the branch replayed onto
/// `base` (rebase) or a merge commit (merge). Nothing is checked out and
/// no ref moves here.
fn build_candidate(
    repo: &Repository,
    method: Method,
    base: Oid,
    head: Oid,
    mr: &MergeRequest,
) -> std::result::Result<Oid, Built> {
    if head == base || repo.graph_descendant_of(head, base)? {
        return Ok(head); // already on top of the target: fast-forward
    }
    let sig = refinery_sig(repo)?;
    let mut walk = repo.revwalk()?;
    walk.push(head)?;
    walk.hide(base)?;
    walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE)?;
    let commits: Vec<Oid> = walk.collect::<std::result::Result<_, _>>()?;
    let has_merges = commits.iter().any(|c| {
        repo.find_commit(*c)
            .map(|c| c.parent_count() > 1)
            .unwrap_or(true)
    });
    if method == Method::Merge || has_merges {
        let ours = repo.find_commit(base)?;
        let theirs = repo.find_commit(head)?;
        let mut idx = repo.merge_commits(&ours, &theirs, None)?;
        if idx.has_conflicts() {
            return Err(Built::Conflict {
                command: format!("git merge {} into {} ({})", mr.branch, short(base), "merge"),
                paths: conflict_paths(&idx),
            });
        }
        let tree = repo.find_tree(idx.write_tree_to(repo)?)?;
        let msg = format!("Merge {} ({})", mr.branch, mr.bead);
        return Ok(repo.commit(None, &sig, &sig, &msg, &tree, &[&ours, &theirs])?);
    }
    let mut onto = repo.find_commit(base)?;
    for c in commits {
        let c = repo.find_commit(c)?;
        let mut idx = repo.cherrypick_commit(&c, &onto, 0, None)?;
        if idx.has_conflicts() {
            return Err(Built::Conflict {
                command: format!(
                    "git rebase {} onto {} (replaying {} \"{}\")",
                    mr.branch,
                    short(base),
                    short(c.id()),
                    c.summary().unwrap_or("")
                ),
                paths: conflict_paths(&idx),
            });
        }
        let tree_id = idx.write_tree_to(repo)?;
        if tree_id == onto.tree_id() {
            continue; // already applied upstream
        }
        let tree = repo.find_tree(tree_id)?;
        let msg = c.message().unwrap_or("");
        let id = repo.commit(None, &c.author(), &sig, msg, &tree, &[&onto])?;
        onto = repo.find_commit(id)?;
    }
    Ok(onto.id())
}

fn short(o: Oid) -> String {
    o.to_string().chars().take(10).collect()
}

/// Check `candidate` out (detached) in the refinery's worktree, creating
/// the worktree from the rig repo when it does not exist.
fn checkout(repo: &Repository, cfg: &RigConfig, candidate: Oid) -> Result<()> {
    let wt = &cfg.worktree;
    if !wt.join(".git").exists() {
        if let Some(parent) = wt.parent() {
            std::fs::create_dir_all(parent).map_err(|e| {
                CoordError::failed(format!("cannot create {}: {e}", parent.display()), None)
            })?;
        }
        let name = format!("refinery-{}", cfg.name);
        // A stale registration (directory deleted by hand) blocks re-adding.
        if let Ok(old) = repo.find_worktree(&name) {
            let mut opts = git2::WorktreePruneOptions::new();
            opts.valid(true).working_tree(true);
            let _ = old.prune(Some(&mut opts));
        }
        let branch_name = format!("refinery/{}", cfg.name);
        let c = repo.find_commit(candidate)?;
        let branch = repo.branch(&branch_name, &c, true)?;
        let mut opts = git2::WorktreeAddOptions::new();
        let r = branch.into_reference();
        opts.reference(Some(&r));
        repo.worktree(&name, wt, Some(&opts)).map_err(|e| {
            CoordError::failed(
                format!(
                    "cannot create the refinery worktree at {}: {e}",
                    wt.display()
                ),
                Some("remove the directory or set merge_queue.worktree in the rig config".into()),
            )
        })?;
    }
    let w = Repository::open(wt)?;
    w.set_head_detached(candidate)?;
    let mut co = git2::build::CheckoutBuilder::new();
    co.force().remove_untracked(false);
    w.checkout_head(Some(&mut co))?;
    Ok(())
}

/// Run one gate command (`sh -c`) in the refinery worktree. Returns whether
/// it passed and its combined output.
fn run_gate(cfg: &RigConfig, command: &str, mr: &MergeRequest) -> Result<(bool, String)> {
    let log = std::env::temp_dir().join(format!(
        "gt-gate-{}-{}.log",
        std::process::id(),
        crate::store::ids::now_nanos()
    ));
    let f = std::fs::File::create(&log)
        .map_err(|e| CoordError::failed(format!("cannot create {}: {e}", log.display()), None))?;
    let f2 = f
        .try_clone()
        .map_err(|e| CoordError::failed(format!("cannot clone a file handle: {e}"), None))?;
    let mut cmd = Command::new("sh");
    // Its own process group, so a timeout kills the whole gate (cargo and
    // its children), not only the shell.
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd
        .arg("-c")
        .arg(command)
        .current_dir(&cfg.worktree)
        .env("GT_RIG", &cfg.name)
        .env("GT_MR", &mr.id)
        .env("GT_BEAD", &mr.bead)
        .env("GT_BRANCH", &mr.branch)
        .stdin(Stdio::null())
        .stdout(Stdio::from(f))
        .stderr(Stdio::from(f2))
        .spawn()
        .map_err(|e| CoordError::failed(format!("cannot run `sh -c {command}`: {e}"), None))?;
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if start.elapsed() >= cfg.gate_timeout => {
                #[cfg(unix)]
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &format!("-{}", child.id())])
                    .status();
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                return Err(CoordError::failed(
                    format!("waiting for `{command}` failed: {e}"),
                    None,
                ))
            }
        }
    };
    let mut out = String::from_utf8_lossy(&std::fs::read(&log).unwrap_or_default()).to_string();
    let _ = std::fs::remove_file(&log);
    match status {
        Some(s) if s.success() => Ok((true, out)),
        Some(s) => {
            out += &format!(
                "\n[exit status: {}]",
                s.code().map_or("signal".into(), |c| c.to_string())
            );
            Ok((false, out))
        }
        None => {
            out += &format!("\n[timed out after {} s]", cfg.gate_timeout.as_secs());
            Ok((false, out))
        }
    }
}

/// `pr` strategy: push `candidate` to `remote` (a configured remote name,
/// or a URL/path) as `refs/heads/<branch>` (forced: the branch was rebased).
fn push_branch(repo: &Repository, remote: &str, branch: &str, candidate: Oid) -> Result<()> {
    let local = format!("refs/gt/pr/{branch}");
    repo.reference(&local, candidate, true, "gt refinery: pr candidate")?;
    let mut r = match repo.find_remote(remote) {
        Ok(r) => r,
        Err(_) => repo.remote_anonymous(remote)?,
    };
    let spec = format!("+{local}:refs/heads/{branch}");
    r.push(&[spec.as_str()], None).map_err(|e| {
        CoordError::failed(
            format!("pushing {branch} to {remote} failed: {e}"),
            Some(
                "check merge_queue.remote in the rig config and that the remote accepts pushes"
                    .into(),
            ),
        )
    })?;
    let _ = Path::new(remote);
    Ok(())
}
