//! One scheduler turn is one transaction: record the sessions started
//! since the last turn, apply the exits judged since, then close what needs
//! no session and lease the steps those closes made ready. A chain step
//! therefore costs one commit: its close, its successor's lease and its own
//! session record land together.

use super::super::RuntimeError;
use crate::store::agents::{address, AgentUpdate, SpawnRecord};
use crate::store::events::TownEvent;
use crate::store::leases::{self, FailOutcome, Failure, LeaseRequest};
use crate::store::{issues, Tx};
use rusqlite::{params, Connection};
use std::collections::HashSet;
use std::path::PathBuf;

/// What a turn needs to know about the run (fixed for the whole run).
pub(super) struct Ctx {
    pub rig: String,
    pub root: String,
    pub agent_name: String,
    /// Where polecat worktrees live (`None`: no git sandboxes).
    pub worktrees: Option<PathBuf>,
    /// The shell agent: a step with no `run` has nothing to do.
    pub is_shell: bool,
    pub max_attempts: i64,
    pub backoff_ms: u64,
}

/// A ready step of the molecule.
pub(super) struct Ready {
    pub id: String,
    pub title: String,
    pub issue_type: String,
    pub run: Option<String>,
    pub has_children: bool,
    pub children_open: i64,
    /// The step's own `metadata.isolation` (`"none"`: no worktree).
    pub isolation: Option<String>,
}

/// A started session not yet recorded in the store. A supervisor that dies
/// before the record adopts or judges it from its status file on resume.
pub(super) struct Unrecorded {
    pub step: String,
    pub gen: i64,
    pub agent_gen: i64,
    pub polecat: String,
    pub pid: Option<i64>,
    pub pid_start: Option<i64>,
    pub status_file: String,
    pub log: String,
    pub live_log: String,
}

/// How a session ended, and what the store should make of it.
pub(super) enum Verdict {
    Close,
    AlreadyClosed,
    Release(&'static str),
    Fail {
        kind: &'static str,
        error: String,
        permanent: bool,
    },
}

pub(super) struct Judged {
    pub step: String,
    pub gen: i64,
    pub title: String,
    pub secs: f64,
    pub polecat: String,
    pub verdict: Verdict,
    pub log: String,
}

/// A step leased in this turn, for the polecat that will run it.
pub(super) struct Leased {
    pub ready: Ready,
    pub polecat: String,
    pub gen: i64,
    pub agent_gen: i64,
}

/// What a turn committed.
#[derive(Default)]
pub(super) struct Done {
    /// Sessions whose claim was lost: stop them.
    pub lost: Vec<String>,
    /// One per judged exit, in order: the failure outcome, if it failed.
    pub outcomes: Vec<Option<FailOutcome>>,
    pub auto_closed: Vec<String>,
    pub leased: Vec<Leased>,
}

/// Polecat names for this turn: the idle ones, and every name the run holds
/// (a name claimed by another live run is skipped for the next free one).
pub(super) struct Polecats {
    pub free: Vec<String>,
    pub mine: Vec<String>,
}

/// The ready steps of the molecule `root`, from the ready index over its
/// id range: O(ready steps), whatever else the store holds.
pub(super) fn ready(
    conn: &Connection,
    root: &str,
    limit: usize,
) -> Result<Vec<Ready>, RuntimeError> {
    let (lo, hi) = leases::step_range(root);
    let now = crate::store::ids::now();
    let mut st = conn
        .prepare_cached(
            "SELECT i.id, i.title, i.issue_type, json_extract(i.metadata, '$.step.run'),
                i.children_open + i.children_closed, i.children_open,
                json_extract(i.metadata, '$.isolation')
         FROM issues i INDEXED BY issues_open_unblocked LEFT JOIN leases l ON l.step_id = i.id
         WHERE i.id >= ?1 AND i.id < ?2 AND i.status = 'open' AND i.blocked = 0
           AND (l.not_before IS NULL OR l.not_before <= ?3)
         ORDER BY i.priority, i.created_at, i.id LIMIT ?4",
        )
        .map_err(crate::store::StoreError::from)?;
    let rows = st
        .query_map(params![lo, hi, now, limit as i64], |r| {
            Ok(Ready {
                id: r.get(0)?,
                title: r.get(1)?,
                issue_type: r.get(2)?,
                run: r.get(3)?,
                has_children: r.get::<_, i64>(4)? > 0,
                children_open: r.get(5)?,
                isolation: r.get(6).ok().flatten(),
            })
        })
        .map_err(crate::store::StoreError::from)?;
    Ok(rows
        .collect::<rusqlite::Result<_>>()
        .map_err(crate::store::StoreError::from)?)
}

/// What to do with the ready steps: close containers whose children all
/// closed and shell steps with nothing to run; start up to `slots` others.
#[derive(Default)]
pub(super) struct Picked {
    pub auto_close: Vec<(String, &'static str)>,
    pub to_start: Vec<Ready>,
}

impl Picked {
    pub fn is_empty(&self) -> bool {
        self.auto_close.is_empty() && self.to_start.is_empty()
    }
}

pub(super) fn pick(
    conn: &Connection,
    ctx: &Ctx,
    slots: usize,
    running: &HashSet<String>,
) -> Result<Picked, RuntimeError> {
    let mut p = Picked::default();
    if slots == 0 {
        return Ok(p);
    }
    for c in ready(conn, &ctx.root, slots * 4 + 32)? {
        if running.contains(&c.id) {
            continue;
        }
        if c.has_children {
            if c.children_open == 0 {
                p.auto_close.push((c.id, "all children closed"));
            }
            continue;
        }
        if c.issue_type == "gate" {
            continue;
        }
        if ctx.is_shell && c.run.as_deref().is_none_or(|r| r.trim().is_empty()) {
            p.auto_close
                .push((c.id, "nothing to run (shell agent, no `run`)"));
            continue;
        }
        if p.to_start.len() < slots {
            p.to_start.push(c);
        }
    }
    Ok(p)
}

/// The turn's transaction. `slots`: how many sessions may start (0 when
/// the run is stopping).
pub(super) fn apply(
    tx: &mut Tx<'_>,
    ctx: &Ctx,
    unrecorded: &[Unrecorded],
    judged: &[Judged],
    slots: usize,
    polecats: &mut Polecats,
    running: &HashSet<String>,
) -> Result<Done, RuntimeError> {
    let mut done = Done {
        lost: record_sessions(tx, ctx, unrecorded)?,
        outcomes: apply_verdicts(tx, ctx, judged)?,
        ..Done::default()
    };
    close_root_if_done(tx, &ctx.root)?;
    lease_ready(tx, ctx, slots, polecats, running, &mut done)?;
    Ok(done)
}

/// Record started sessions (each only if its claim still holds). Returns
/// the steps whose claim was lost. A session whose lease moved on meanwhile
/// (a person closed or reset its step) is not recorded: the poll stops it.
fn record_sessions(
    tx: &Tx<'_>,
    ctx: &Ctx,
    unrecorded: &[Unrecorded],
) -> Result<Vec<String>, RuntimeError> {
    let mut lost = Vec::new();
    for u in unrecorded {
        let current = leases::get(tx.conn(), &u.step)?.map(|l| l.generation);
        if current != Some(u.gen) {
            continue;
        }
        let won = tx.record_spawn(&SpawnRecord {
            rig: &ctx.rig,
            name: &u.polecat,
            generation: u.agent_gen,
            lease: Some((&u.step, u.gen)),
            pid: u.pid,
            pid_start: u.pid_start,
            session: None,
            status_file: &u.status_file,
            log_path: &u.log,
            live_log: &u.live_log,
        })?;
        if won {
            tx.emit(
                &u.step,
                &TownEvent::Spawn {
                    agent: address(&ctx.rig, "polecat", &u.polecat),
                    generation: u.agent_gen,
                    pid: u.pid,
                    rig: ctx.rig.clone(),
                },
            )?;
        } else {
            lost.push(u.step.clone());
        }
    }
    Ok(lost)
}

fn apply_verdicts(
    tx: &Tx<'_>,
    ctx: &Ctx,
    judged: &[Judged],
) -> Result<Vec<Option<FailOutcome>>, RuntimeError> {
    let mut out = Vec::new();
    for j in judged {
        let o = match &j.verdict {
            Verdict::Close => {
                match tx.close_leased(&j.step, j.gen, Some("done")) {
                    Ok(_) | Err(crate::store::StoreError::StaleLease { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
                None
            }
            Verdict::AlreadyClosed => None,
            Verdict::Release(why) => {
                tx.release_lease(&j.step, j.gen, why)?;
                None
            }
            Verdict::Fail {
                kind,
                error,
                permanent,
            } => Some(crate::runtime::escalate::fail_step(
                tx,
                &j.step,
                j.gen,
                &Failure {
                    kind,
                    error,
                    max_attempts: ctx.max_attempts,
                    backoff_ms: ctx.backoff_ms,
                    permanent: *permanent,
                    log_path: Some(&j.log),
                },
            )?),
        };
        // The polecat goes idle only if it still hooks this step.
        let still = crate::store::agents::get(tx.conn(), &ctx.rig, &j.polecat)?
            .is_some_and(|a| a.hooked_bead.as_deref() == Some(j.step.as_str()));
        if still {
            tx.agent_state(&ctx.rig, &j.polecat, "idle", true)?;
        }
        out.push(o);
    }
    Ok(out)
}

/// Close what needs no session and lease up to `slots` ready steps; closing
/// a container can make more steps ready, so pick again until nothing moves.
fn lease_ready(
    tx: &Tx<'_>,
    ctx: &Ctx,
    mut slots: usize,
    polecats: &mut Polecats,
    running: &HashSet<String>,
    done: &mut Done,
) -> Result<(), RuntimeError> {
    loop {
        let p = pick(tx.conn(), ctx, slots.min(polecats.free.len()), running)?;
        if p.is_empty() {
            return Ok(());
        }
        let closed_any = !p.auto_close.is_empty();
        for (id, why) in p.auto_close {
            if tx.close(&id, Some(why))? == issues::CloseOutcome::Closed {
                tx.emit(&id, &TownEvent::StepClosed { lease: 0 })?;
            }
            done.auto_closed.push(id);
        }
        close_root_if_done(tx, &ctx.root)?;
        for c in p.to_start {
            let Some(preferred) = polecats.free.pop() else {
                break;
            };
            let polecat =
                crate::runtime::spawn::claim_polecat(tx, &ctx.rig, &preferred, &polecats.mine)?;
            if polecat != preferred {
                polecats.mine.push(polecat.clone());
            }
            match lease_one(tx, ctx, c, polecat.clone())? {
                Ok(l) => {
                    slots -= 1;
                    done.leased.push(l);
                }
                // Someone else took the step: the name stays free.
                Err(()) => polecats.free.push(polecat),
            }
        }
        if !closed_any || slots == 0 {
            return Ok(());
        }
    }
}

/// Lease `c` to `polecat` and claim the polecat's identity for it.
/// `Ok(Err(()))` when the step is no longer open.
fn lease_one(
    tx: &Tx<'_>,
    ctx: &Ctx,
    c: Ready,
    polecat: String,
) -> Result<Result<Leased, ()>, RuntimeError> {
    let worktree = ctx
        .worktrees
        .as_ref()
        .filter(|_| c.isolation.as_deref() != Some("none"))
        .map(|w| w.join(&polecat).display().to_string());
    let req = LeaseRequest {
        holder: address(&ctx.rig, "polecat", &polecat),
        agent: ctx.agent_name.clone(),
        worktree: worktree.clone(),
    };
    let Some(l) = tx.lease_step(&c.id, &req)? else {
        return Ok(Err(()));
    };
    let branch = worktree
        .is_some()
        .then(|| crate::town::worktree::polecat_branch(&polecat, &c.id));
    let agent_gen = tx.agent_upsert(&AgentUpdate {
        rig: &ctx.rig,
        name: &polecat,
        role: "polecat",
        state: "spawning",
        worktree: worktree.as_deref(),
        branch: branch.as_deref(),
        hooked_bead: Some(&c.id),
        agent: Some(&ctx.agent_name),
        bump_generation: true,
    })?;
    Ok(Ok(Leased {
        ready: c,
        polecat,
        gen: l.generation,
        agent_gen,
    }))
}

/// Close the molecule root when it has no open children left.
pub(super) fn close_root_if_done(tx: &Tx<'_>, root: &str) -> Result<(), RuntimeError> {
    let (status, open, closed): (String, i64, i64) = tx
        .conn()
        .prepare_cached("SELECT status, children_open, children_closed FROM issues WHERE id = ?1")
        .and_then(|mut st| st.query_row([root], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))))
        .map_err(crate::store::StoreError::from)?;
    if status != "closed" && open == 0 && closed > 0 {
        tx.close(root, Some("completed"))?;
    }
    Ok(())
}
