//! The refinery: takes the next merge request of a rig, fetches the origin,
//! rebases (or merges) the branch onto the freshly fetched target with git2,
//! runs the rig's gates in the refinery's own worktree, pushes the result to
//! the origin with the user's `git`, and only then, in ONE store
//! transaction, closes the merge request and the bead as merged and lands
//! convoys. A push the origin rejects (someone pushed first) is retried
//! after a fetch, never reported merged. A conflict or a failed gate
//! rejects: the bead is reopened with a `MERGE REJECTION` note and the rig's
//! witness gets mail. The `pr` strategy pushes the branch and opens a pull
//! request instead; the bead counts as merged when the pull request is.
//!
//! Crash safety: the candidate commit is recorded (`mq_runs.candidate`)
//! before the push. A refinery that died after the push but before the
//! store transaction finds the candidate on the origin at its next call and
//! finishes the bookkeeping (Gas Town §7: merged beads left open).

use super::mq::{self, MergeRequest, Rejection, RunEnd};
use super::{CoordError, Result};
use crate::store::issues::{self, Update};
use crate::store::{Status, Store};
use crate::town::git::{self, Pushed};
use crate::town::{MergeConfig, Method, StrategyKind, Town};
use git2::{Oid, Repository, Signature};
use serde::Serialize;

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
        /// The pull request (`gh pr create`), else the compare page.
        url: Option<String>,
    },
    /// A merge whose bookkeeping a dead refinery left unfinished.
    Recovered {
        mr: String,
        bead: String,
        sha: String,
        landed: Vec<String>,
    },
}

/// Process the next merge request of `rig`, with its merge queue read from
/// the town (the rig record and the `merge_queue` settings).
pub fn process_next(store: &mut Store, town: &Town, rig: &str) -> Result<Outcome> {
    let cfg = town.merge_config_in(store.conn(), rig)?;
    process_next_with(store, &cfg)
}

/// How many times a merge is rebuilt when the origin's target keeps moving.
const PUSH_TRIES: usize = 5;

fn refinery_addr(rig: &str) -> String {
    format!("{rig}/refinery")
}

/// The per-rig refinery lock: one refinery at a time uses the worktree and
/// decides what a dead run left behind. Released on drop.
struct RigLock(std::fs::File);

impl RigLock {
    fn take(cfg: &MergeConfig) -> Result<RigLock> {
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

/// Process the next merge request of `cfg.rig`. Refineries of the same rig
/// (the supervisor's task, `gt mq process` by hand) queue on a file lock
/// next to the worktree, so they never share the worktree or mistake a live
/// run for a dead one.
pub fn process_next_with(store: &mut Store, cfg: &MergeConfig) -> Result<Outcome> {
    let _lock = RigLock::take(cfg)?;
    let me = refinery_addr(&cfg.rig);
    if let Some(o) = recover(store, cfg, &me)? {
        return Ok(o);
    }
    if let Some(o) = super::pr::poll(store, cfg)? {
        return Ok(o);
    }
    // Claim the next open MR in one transaction (status open -> in_progress).
    // Before claiming anything: the origin answers and has the target. A
    // wrong branch or an unreachable origin is one clear error, and the
    // queue is left as it was (no claim, no requeue, no run row per pass).
    let Some(next) = mq::next_open(store.conn(), &cfg.rig)? else {
        return Ok(Outcome::Idle {
            rig: cfg.rig.clone(),
        });
    };
    let repo = open_rig_repo(cfg)?;
    git::fetch(&cfg.repo, &cfg.url)?;
    let next_target = next
        .metadata
        .get("target")
        .and_then(serde_json::Value::as_str)
        .unwrap_or(&cfg.target)
        .to_string();
    target_tip(&repo, cfg, &next_target)?;
    let claimed = store.write(|tx| -> Result<Option<(MergeRequest, i64)>> {
        let Some(i) = mq::next_open(tx.conn(), &cfg.rig)? else {
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
                    serde_json::json!({"reason": e.to_string(), "rig": cfg.rig}),
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
        let run = mq::start_run_tx(tx, &mr.id, &cfg.rig)?;
        Ok(Some((mr, run)))
    })?;
    let Some((mr, run)) = claimed else {
        return Ok(Outcome::Idle {
            rig: cfg.rig.clone(),
        });
    };
    match attempt(store, cfg, &repo, &mr, run) {
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
pub fn drain(store: &mut Store, cfg: &MergeConfig) -> Result<Vec<Outcome>> {
    let mut out = Vec::new();
    loop {
        let o = process_next_with(store, cfg)?;
        if matches!(o, Outcome::Idle { .. }) {
            return Ok(out);
        }
        out.push(o);
    }
}

fn recover(store: &mut Store, cfg: &MergeConfig, me: &str) -> Result<Option<Outcome>> {
    let claimed: Vec<(String, i64, Option<String>)> = {
        let mut st = store.conn().prepare(
            "SELECT i.id, r.id, r.candidate FROM issues i JOIN mq_runs r ON r.mr_id = i.id
             WHERE i.issue_type = 'merge-request' AND i.status = 'in_progress' AND i.assignee = ?1
               AND r.finished_at IS NULL ORDER BY r.id",
        )?;
        let rows = st.query_map([me], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    if !claimed.is_empty() {
        git::fetch(&cfg.repo, &cfg.url)?;
    }
    for (id, run, candidate) in claimed {
        let mr = MergeRequest::from_issue(&issues::get(store.conn(), &id)?)?;
        let target = mr.target.clone().unwrap_or_else(|| cfg.target.clone());
        let landed_in_git = match (&candidate, Repository::open_bare(&cfg.repo)) {
            (Some(c), Ok(repo)) => Oid::from_str(c)
                .map(|c| on_origin(&repo, &target, c))
                .unwrap_or(false),
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

fn attempt(
    store: &mut Store,
    cfg: &MergeConfig,
    repo: &Repository,
    mr: &MergeRequest,
    run: i64,
) -> Result<Outcome> {
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
    let target = mr.target.clone().unwrap_or_else(|| cfg.target.clone());
    // Each try: fetch, rebuild on the fresh target, gate, push. A push the
    // origin rejects (it moved meanwhile) goes round again.
    for attempt in 0..PUSH_TRIES {
        if attempt > 0 {
            git::fetch(&cfg.repo, &cfg.url)?; // the first try uses the claim's fetch
        }
        let base = target_tip(repo, cfg, &target)?;
        let head = match resolve_head(repo, mr) {
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
        let candidate = match build_candidate(repo, cfg.method, base, head, mr) {
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
        checkout(repo, cfg, candidate)?;
        // Pre-verified and a fast-forward: the gates ran on exactly this tree.
        let gates = if mr.pre_verified && candidate == head {
            &[][..]
        } else {
            &cfg.gates[..]
        };
        for g in gates {
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
        if cfg.strategy == StrategyKind::Pr {
            return super::pr::open(store, cfg, mr, run, &target, &sha);
        }
        match git::push(&cfg.repo, &cfg.remote, &cfg.url, &sha, &target, false)? {
            Pushed::Rejected(_) => continue,
            Pushed::Ok => {}
        }
        follow_push(repo, &target, candidate, mr);
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
            "{}: the origin's `{target}` moved {PUSH_TRIES} times while {} was being merged; nothing was merged",
            cfg.url, mr.id
        ),
        Some("the merge request is queued again; the next refinery pass retries it".into()),
    ))
}

fn open_rig_repo(cfg: &MergeConfig) -> Result<Repository> {
    Repository::open_bare(&cfg.repo).map_err(|e| {
        CoordError::failed(
            format!(
                "cannot open the clone of rig {} at {}: {}",
                cfg.rig,
                cfg.repo.display(),
                e.message()
            ),
            Some(format!(
                "re-add the rig: `gt rig remove {0} && gt rig add {0} {1}`",
                cfg.rig, cfg.url
            )),
        )
    })
}

/// The freshly fetched tip of the origin's `target`.
fn target_tip(repo: &Repository, cfg: &MergeConfig, target: &str) -> Result<Oid> {
    repo.refname_to_id(&git::tracking_ref(target)).map_err(|_| {
        CoordError::failed(
            format!(
                "rig {}: the origin {} has no branch `{target}` to merge into",
                cfg.rig, cfg.url
            ),
            Some(format!(
                "set the right branch with `gt config set merge_queue.target BRANCH --rig {0}`, or follow the origin with `gt rig refresh {0}`",
                cfg.rig
            )),
        )
    })
}

/// Is `c` on the origin's `target` (its tip or an ancestor)?
fn on_origin(repo: &Repository, target: &str, c: Oid) -> bool {
    match repo.refname_to_id(&git::tracking_ref(target)) {
        Ok(tip) => tip == c || repo.graph_descendant_of(tip, c).unwrap_or(false),
        Err(_) => false,
    }
}

/// After a push: the clone's view of the origin (and its own branch) follow.
fn follow_push(repo: &Repository, target: &str, candidate: Oid, mr: &MergeRequest) {
    let msg = format!("gt refinery: merged {} ({})", mr.branch, mr.bead);
    let _ = repo.reference(&git::tracking_ref(target), candidate, true, &msg);
    let _ = repo.reference(&format!("refs/heads/{target}"), candidate, true, &msg);
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
fn checkout(repo: &Repository, cfg: &MergeConfig, candidate: Oid) -> Result<()> {
    let wt = &cfg.worktree;
    if !wt.join(".git").exists() {
        if let Some(parent) = wt.parent() {
            std::fs::create_dir_all(parent).map_err(|e| {
                CoordError::failed(format!("cannot create {}: {e}", parent.display()), None)
            })?;
        }
        let name = format!("refinery-{}", cfg.rig);
        // A stale registration (directory deleted by hand) blocks re-adding.
        if let Ok(old) = repo.find_worktree(&name) {
            let mut opts = git2::WorktreePruneOptions::new();
            opts.valid(true).working_tree(true);
            let _ = old.prune(Some(&mut opts));
        }
        let branch_name = format!("refinery/{}", cfg.rig);
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
fn run_gate(cfg: &MergeConfig, command: &str, mr: &MergeRequest) -> Result<(bool, String)> {
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
        .env("GT_RIG", &cfg.rig)
        .env("GT_MR", &mr.id)
        .env("GT_BEAD", &mr.bead)
        .env("GT_BRANCH", &mr.branch)
        .stdin(Stdio::null())
        .stdout(Stdio::from(f))
        .stderr(Stdio::from(f2))
        .spawn()
        .map_err(|e| CoordError::failed(format!("cannot run `sh -c {command}`: {e}"), None))?;
    // A supervisor that stops kills the gate's group (crate::proc::stop_tracked).
    let _tracked = crate::proc::track_group(child.id() as i64);
    let start = Instant::now();
    let status = loop {
        if crate::proc::stopping() {
            crate::proc::kill_group(child.id() as i64, crate::proc::SIGKILL);
            let _ = child.wait();
            let _ = std::fs::remove_file(&log);
            return Err(CoordError::failed(
                format!("the refinery stopped while `{command}` ran; the merge request goes back to the queue"),
                None,
            ));
        }
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
