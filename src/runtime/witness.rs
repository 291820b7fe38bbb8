//! The witness: deterministic code over the agents table, run by the town
//! supervisor every tick. One agent's trouble (a removed agent config, a
//! vanished worktree) is that agent's: it is logged, the agent backs off,
//! and the pass goes on with the others.
//!
//! Rules:
//! - a live session whose bead was closed is stopped: closed work never
//!   continues;
//! - a live session past its agent's `timeout_secs` is killed (process
//!   group) and judged as a `timeout`;
//! - a dead session is judged by its status file. Exit 0 under the `exit`
//!   done mode hands the work in (`gt done`) when no step of its molecule
//!   is open; exit 0 with open steps is a failure, never success. Otherwise the witness
//!   re-validates that the bead is still open and leased to this polecat,
//!   and restarts the session in the same worktree under a new lease and
//!   agent generation, up to the attempt limit; then the polecat is `stuck`,
//!   the bead `blocked`, and an escalation is written;
//! - a polecat never gets re-primed onto closed work;
//! - an agent owned by another live process (a `gt sling` spawning it, a
//!   `gt run` supervisor) is not the witness's.

use super::proc;
use super::session;
use super::supervise::Backoff;
use super::work;
use super::RuntimeError;
use crate::store::agents::{self, AgentRow, AgentUpdate};
use crate::store::events::TownEvent;
use crate::store::leases::{self, Failure, LeaseRequest};
use crate::store::{issues, Status, Store};
use crate::town::{DoneMode, Town};

/// One witness pass over the polecats. Returns `(agent address, what
/// happened)` lines for the log; an agent in backoff is skipped.
pub fn pass(
    town: &Town,
    store: &mut Store,
    first: bool,
    backoff: &mut Backoff,
) -> Vec<(String, String)> {
    let all = match agents::list(store.conn()) {
        Ok(a) => a,
        Err(e) => return vec![("witness".into(), format!("witness: {e}"))],
    };
    let mut out = Vec::new();
    for a in all {
        if a.role != "polecat" || !matches!(a.state.as_str(), "spawning" | "working") {
            continue;
        }
        if a.owner_alive() && !a.owned_by_me() {
            continue;
        }
        // `gt witness stop --rig R` pauses the built-in witness of that rig.
        if super::roles::paused(town, "witness", Some(&a.rig)) {
            continue;
        }
        let key = a.address();
        if !backoff.ready(&key) {
            continue;
        }
        match one(town, store, &a, first) {
            Ok(line) => {
                backoff.succeeded(&key);
                out.extend(line.map(|l| (key, l)));
            }
            Err(e) => {
                backoff.failed(&key);
                out.push((key.clone(), format!("{key}: {e}; backing off")));
            }
        }
    }
    out
}

/// Look after one polecat. `Some(line)` when something happened.
fn one(
    town: &Town,
    store: &mut Store,
    a: &AgentRow,
    first: bool,
) -> Result<Option<String>, RuntimeError> {
    let Some(bead) = a.hooked_bead.clone() else {
        store.write(|tx| tx.agent_state(&a.rig, &a.name, "idle", true))?;
        return Ok(None);
    };
    let issue = issues::get(store.conn(), &bead)?;
    let lease = leases::get(store.conn(), &bead)?;
    let mut timed_out = None;
    if a.session_alive() {
        if issue.status == Status::Closed {
            stop_session(a);
            store.write(|tx| tx.agent_state(&a.rig, &a.name, "idle", true))?;
            return Ok(Some(format!(
                "{}: {bead} was closed; stopped its session",
                a.address()
            )));
        }
        let (_, cfg) = town.agent_for("polecat", Some(&a.rig), a.agent.as_deref())?;
        match over_time(cfg.timeout_secs, lease.as_ref()) {
            Some(secs) => {
                stop_session(a);
                timed_out = Some(secs);
            }
            None if first => {
                let pid = a.pid.unwrap_or(0).to_string();
                let ev = TownEvent::Adopt {
                    agent: Some(a.address()),
                    pid: a.pid.unwrap_or(0),
                };
                store.write(|tx| tx.emit(&bead, &ev))?;
                return Ok(Some(format!("{}: adopted live session {pid}", a.address())));
            }
            None => return Ok(None),
        }
    }
    if a.pid.is_none() {
        // The claimer died before starting it: take the claim over, once.
        if a.state == "spawning"
            && still_ours(a, &issue, lease.as_ref())
            && store.write(|tx| tx.reclaim_spawn(&a.rig, &a.name, a.generation))?
        {
            let (name, cfg) = town.agent_for("polecat", Some(&a.rig), a.agent.as_deref())?;
            let pid = work::start_polecat(town, store, a, &name, &cfg)?;
            return Ok(Some(format!(
                "{}: started session {pid} for {bead}",
                a.address()
            )));
        }
        return Ok(None);
    }
    // The session is dead (or was just stopped for its timeout); whatever
    // it started in the background ends with it.
    if let Some(p) = a.pid {
        proc::kill_leftovers(p);
    }
    let Some(lease) = lease else { return Ok(None) };
    if !still_ours(a, &issue, Some(&lease)) {
        store.write(|tx| tx.agent_state(&a.rig, &a.name, "idle", true))?;
        return Ok(Some(format!(
            "{}: session ended; {bead} is no longer its work (never re-primed)",
            a.address()
        )));
    }
    let code = session::read_status(&work::session_status(town, &bead, lease.generation));
    let (agent_name, cfg) = town.agent_for("polecat", Some(&a.rig), a.agent.as_deref())?;
    // Exit 0 hands the work in only when it is done: no open steps.
    let open = super::finish::open_steps(store, &bead)?.len();
    if timed_out.is_none() && code == Some(0) && cfg.done == DoneMode::Exit && open == 0 {
        return Ok(Some(match work::done_as(town, a) {
            Ok(d) => format!(
                "{}: exited 0; handed in {} as {}",
                a.address(),
                d.bead,
                d.merge_request.as_deref().unwrap_or("a branch for review")
            ),
            Err(e) => format!("{}: exited 0 but `gt done` failed: {e}", a.address()),
        }));
    }
    let (kind, error) = match (timed_out, code) {
        (Some(secs), _) => (
            "timeout",
            format!("timed out after {secs} s (timeout_secs)"),
        ),
        (None, Some(0)) if open > 0 => (
            "failed",
            format!("exited 0 without `gt done`; {open} step(s) still open"),
        ),
        (None, Some(0)) => (
            "failed",
            "exited 0 without `gt done` or `bd close`".to_string(),
        ),
        (None, Some(c)) => ("failed", format!("exit status {c}")),
        (None, None) => (
            "crash",
            "the session died without an exit status".to_string(),
        ),
    };
    let failure = Failure {
        kind,
        error: &error,
        max_attempts: cfg.max_attempts.unwrap_or(3),
        backoff_ms: 0,
        permanent: matches!(code, Some(126 | 127)),
        log_path: a.log_path.as_deref(),
    };
    let outcome = fail_and_release(store, a, &bead, lease.generation, &agent_name, &failure)?;
    let addr = a.address();
    Ok(match outcome {
        leases::FailOutcome::Retry { attempt, .. } => {
            let row = agents::get(store.conn(), &a.rig, &a.name)?
                .ok_or_else(|| RuntimeError::Io(format!("{addr} vanished")))?;
            let pid = work::start_polecat(town, store, &row, &agent_name, &cfg)?;
            Some(format!(
                "{addr}: {error}; restarted in its worktree (attempt {attempt}, pid {pid})"
            ))
        }
        leases::FailOutcome::Blocked { attempts, .. } => Some(format!(
            "{addr}: {error}; {bead} blocked after {attempts} attempt(s), escalated"
        )),
        leases::FailOutcome::Stale => None,
    })
}

/// One transaction: count the failed attempt; on a retry, lease the bead
/// again and claim a new agent generation (this process will start it).
fn fail_and_release(
    store: &mut Store,
    a: &AgentRow,
    bead: &str,
    gen: i64,
    agent_name: &str,
    f: &Failure<'_>,
) -> Result<leases::FailOutcome, RuntimeError> {
    let addr = a.address();
    store.write(|tx| -> Result<_, RuntimeError> {
        let o = crate::runtime::escalate::fail_step(tx, bead, gen, f)?;
        match &o {
            leases::FailOutcome::Retry { .. } => {
                let req = LeaseRequest {
                    holder: addr.clone(),
                    agent: agent_name.to_string(),
                    worktree: a.worktree.clone(),
                };
                if tx.lease_as(bead, &req, Status::Hooked)?.is_some() {
                    tx.agent_upsert(&AgentUpdate {
                        rig: &a.rig,
                        name: &a.name,
                        role: "polecat",
                        state: "spawning",
                        worktree: None,
                        branch: None,
                        hooked_bead: Some(bead),
                        agent: Some(agent_name),
                        bump_generation: true,
                    })?;
                    let ev = TownEvent::Restart {
                        agent: Some(addr.clone()),
                        lease: None,
                        supervisor: None,
                    };
                    tx.emit(bead, &ev)?;
                }
            }
            leases::FailOutcome::Blocked { .. } => {
                tx.agent_state(&a.rig, &a.name, "stuck", false)?;
            }
            leases::FailOutcome::Stale => {
                tx.agent_state(&a.rig, &a.name, "idle", true)?;
            }
        }
        Ok(o)
    })
}

/// Seconds a lease has run past `timeout_secs`, if it has.
fn over_time(timeout_secs: Option<u64>, lease: Option<&leases::Lease>) -> Option<u64> {
    let limit = timeout_secs?;
    let started = leases::parse_micros(lease?.leased_at.as_deref()?)?;
    let now = (crate::store::ids::now_nanos() / 1000) as i64;
    (now - started >= limit as i64 * 1_000_000).then_some(limit)
}

/// Stop a session and everything it started (its process group).
fn stop_session(a: &AgentRow) {
    if let Some(p) = a.pid {
        proc::kill_group(p, proc::SIGKILL);
    }
}

/// Is the bead still this polecat's open work, at the lease it holds?
fn still_ours(a: &AgentRow, issue: &crate::store::Issue, lease: Option<&leases::Lease>) -> bool {
    let addr = a.address();
    matches!(issue.status, Status::Hooked | Status::InProgress)
        && issue.assignee.as_deref() == Some(addr.as_str())
        && lease.is_some_and(|l| l.holder.as_deref() == Some(addr.as_str()))
}
