//! The town supervisor: `gt start` runs it as a daemon (pidfile + log),
//! `gt shutdown` stops it with SIGTERM. Each tick it runs the witness pass:
//! deterministic code over the agents table.
//!
//! Witness rules:
//! - a live session (pid + start time match) whose bead was closed is
//!   stopped: closed work never continues;
//! - a dead session is judged by its status file. Exit 0 under the `exit`
//!   done mode hands the work in (`gt done`). Otherwise the witness
//!   re-validates that the bead is still open and leased to this polecat at
//!   this generation, and restarts the session in the same worktree under a
//!   new lease generation, up to the attempt limit; then the polecat is
//!   `stuck`, the bead `blocked`, and an escalation is written.
//! - a polecat never gets re-primed onto closed work.

use super::proc;
use super::session;
use super::work;
use super::RuntimeError;
use crate::store::agents::{self, AgentRow, AgentUpdate};
use crate::store::leases::{self, Failure, LeaseRequest};
use crate::store::{issues, Status, Store};
use crate::town::{DoneMode, Town};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

pub fn pidfile(town: &Town) -> PathBuf {
    town.runtime_dir().join("daemon.pid")
}
pub fn logfile(town: &Town) -> PathBuf {
    town.runtime_dir().join("daemon.log")
}

/// The running daemon's pid, if any (pid + start time must match).
pub fn running(town: &Town) -> Option<i64> {
    let text = std::fs::read_to_string(pidfile(town)).ok()?;
    let mut it = text.split_whitespace();
    let pid: i64 = it.next()?.parse().ok()?;
    let start: Option<i64> = it.next().and_then(|s| s.parse().ok());
    proc::alive(pid, start).then_some(pid)
}

/// `gt start`: spawn `gt daemon run` detached; wait for its pidfile.
pub fn start(town: &Town) -> Result<i64, RuntimeError> {
    if let Some(pid) = running(town) {
        return Err(RuntimeError::usage(
            format!("the supervisor is already running (pid {pid})"),
            "`gt shutdown` stops it",
        ));
    }
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe()
        .map_err(|e| RuntimeError::Io(format!("cannot find the gt binary: {e}")))?;
    let log_path = logfile(town);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| RuntimeError::Io(format!("{}: {e}", log_path.display())))?;
    let err = log
        .try_clone()
        .map_err(|e| RuntimeError::Io(e.to_string()))?;
    let _ = std::fs::remove_file(pidfile(town));
    let child = std::process::Command::new(exe)
        .args(["daemon", "run"])
        .env("GT_TOWN", &town.root)
        .current_dir(&town.root)
        .stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(err)
        .process_group(0)
        .spawn()
        .map_err(|e| RuntimeError::Io(format!("cannot start the supervisor: {e}")))?;
    let pid = child.id() as i64;
    for _ in 0..200 {
        if running(town) == Some(pid) {
            return Ok(pid);
        }
        if !proc::alive(pid, None) {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    Err(RuntimeError::Io(format!(
        "the supervisor did not start; see {}",
        log_path.display()
    )))
}

/// `gt shutdown`: SIGTERM, then wait for a clean exit. Sessions keep
/// running; the next `gt start` adopts them.
pub fn shutdown(town: &Town) -> Result<Option<i64>, RuntimeError> {
    let Some(pid) = running(town) else {
        return Ok(None);
    };
    unsafe {
        libc::kill(pid as i32, libc::SIGTERM);
    }
    for _ in 0..400 {
        if running(town).is_none() {
            return Ok(Some(pid));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    Err(RuntimeError::Io(format!(
        "the supervisor (pid {pid}) did not stop within 10s; see {}",
        logfile(town).display()
    )))
}

/// The daemon itself (foreground): witness passes until SIGTERM.
pub fn run(town: &Town, tick: Duration) -> Result<(), RuntimeError> {
    use fs4::fs_std::FileExt;
    let lock_path = town.runtime_dir().join("daemon.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| RuntimeError::Io(format!("{}: {e}", lock_path.display())))?;
    if lock.try_lock_exclusive().is_err() {
        return Err(RuntimeError::usage(
            "another supervisor runs for this town",
            "`gt shutdown` stops it",
        ));
    }
    let (pid, start) = proc::me();
    std::fs::write(pidfile(town), format!("{pid} {}\n", start.unwrap_or(0)))
        .map_err(|e| RuntimeError::Io(format!("cannot write the pidfile: {e}")))?;
    eprintln!(
        "{} supervisor {pid} started for {}",
        crate::store::ids::now(),
        town.root.display()
    );
    let mut store = town.store()?;
    store.set_actor("witness");
    let rt = super::tokio_runtime()?;
    let res: Result<(), RuntimeError> = rt.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| RuntimeError::Io(format!("cannot watch SIGTERM: {e}")))?;
        let mut iv = tokio::time::interval(tick);
        let mut first = true;
        loop {
            tokio::select! {
                _ = iv.tick() => {
                    if !super::roles::paused(town, "witness", None) {
                        match witness_pass(town, &mut store, first) {
                            Ok(actions) => for a in actions { eprintln!("{} {a}", crate::store::ids::now()); },
                            Err(e) => eprintln!("{} witness error: {e}", crate::store::ids::now()),
                        }
                        // Every agent session, not just polecats: dead
                        // standing roles, handoffs, handed-in polecats.
                        match super::roles::watch(town, &mut store) {
                            Ok(actions) => for a in actions { eprintln!("{} {a}", crate::store::ids::now()); },
                            Err(e) => eprintln!("{} witness error: {e}", crate::store::ids::now()),
                        }
                    }
                    // The refinery is a supervisor task: one merge request
                    // per rig per tick keeps the witness responsive.
                    if !super::roles::paused(town, "refinery", None) {
                        for line in refinery_pass(town, &mut store) {
                            eprintln!("{} {line}", crate::store::ids::now());
                        }
                    }
                    first = false;
                }
                _ = term.recv() => break,
                _ = tokio::signal::ctrl_c() => break,
            }
        }
        Ok(())
    });
    let _ = std::fs::remove_file(pidfile(town));
    eprintln!("{} supervisor {pid} stopped", crate::store::ids::now());
    drop(lock);
    res
}

/// Process the next merge request of every rig that has one queued.
/// Returns what happened, for the log.
pub fn refinery_pass(town: &Town, store: &mut crate::store::Store) -> Vec<String> {
    // Every rig: queued merge requests, and pull requests waiting to merge.
    let rigs = match crate::town::rigs::names(store.conn()) {
        Ok(r) => r,
        Err(e) => return vec![format!("refinery: {e}")],
    };
    let mut out = Vec::new();
    for rig in rigs {
        match crate::coord::refinery::process_next(store, town, &rig) {
            Ok(crate::coord::refinery::Outcome::Idle { .. }) => {}
            Ok(o) => out.push(format!("refinery {rig}: {o:?}")),
            Err(e) => out.push(format!("refinery {rig}: {e}")),
        }
    }
    out
}

/// One witness pass over the polecats. Returns what it did, for the log.
pub fn witness_pass(
    town: &Town,
    store: &mut Store,
    first: bool,
) -> Result<Vec<String>, RuntimeError> {
    let mut actions = Vec::new();
    let all = agents::list(store.conn())?;
    for a in all {
        if a.role != "polecat" || !matches!(a.state.as_str(), "spawning" | "working") {
            continue;
        }
        // Claimed by a live `gt sling` (spawning it) or `gt run` (its
        // supervisor): not the witness's to touch.
        if a.owner_alive() && !a.owned_by_me() {
            continue;
        }
        let Some(bead) = a.hooked_bead.clone() else {
            store.write(|tx| tx.agent_state(&a.rig, &a.name, "idle", true))?;
            continue;
        };
        let issue = issues::get(store.conn(), &bead)?;
        let lease = leases::get(store.conn(), &bead)?;
        let alive = a.pid.is_some_and(|p| proc::alive(p, a.pid_start));
        if alive {
            if issue.status == Status::Closed {
                if let Some(p) = a.pid {
                    proc::kill_group(p, proc::SIGKILL);
                }
                store.write(|tx| tx.agent_state(&a.rig, &a.name, "idle", true))?;
                actions.push(format!(
                    "{}: {bead} was closed; stopped its session",
                    a.address()
                ));
            } else if first {
                store.write(|tx| {
                    tx.event(
                        &bead,
                        "adopt",
                        Some("pid"),
                        None,
                        Some(&a.pid.unwrap_or(0).to_string()),
                    )
                })?;
                actions.push(format!(
                    "{}: adopted live session {}",
                    a.address(),
                    a.pid.unwrap_or(0)
                ));
            }
            continue;
        }
        if a.pid.is_none() {
            // Hooked but never started (sling died in between): start it.
            // The claimer died before starting it: take the claim over, once.
            if a.state == "spawning"
                && still_ours(&a, &issue, lease.as_ref())
                && store.write(|tx| tx.reclaim_spawn(&a.rig, &a.name, a.generation))?
            {
                let (name, cfg) = town.agent_for("polecat", Some(&a.rig), a.agent.as_deref())?;
                let pid = work::start_polecat(town, store, &a, &name, &cfg)?;
                actions.push(format!("{}: started session {pid} for {bead}", a.address()));
            }
            continue;
        }
        // The session is dead.
        let Some(lease) = lease else { continue };
        let status_file = town
            .runtime_dir()
            .join("status")
            .join(format!("{bead}.{}", lease.generation));
        let code = session::read_status(&status_file);
        if !still_ours(&a, &issue, Some(&lease)) {
            store.write(|tx| tx.agent_state(&a.rig, &a.name, "idle", true))?;
            actions.push(format!(
                "{}: session ended; {bead} is no longer its work (never re-primed)",
                a.address()
            ));
            continue;
        }
        let (agent_name, cfg) = town.agent_for("polecat", Some(&a.rig), a.agent.as_deref())?;
        // Exit 0 hands the work in only when it is done (no open steps).
        let open = super::finish::open_steps(store, &bead)?;
        if code == Some(0) && cfg.done == DoneMode::Exit && open.is_empty() {
            match work::done_as(town, &a) {
                Ok(d) => actions.push(format!(
                    "{}: exited 0; handed in {} as {}",
                    a.address(),
                    d.bead,
                    d.merge_request
                )),
                Err(e) => actions.push(format!(
                    "{}: exited 0 but `gt done` failed: {e}",
                    a.address()
                )),
            }
            continue;
        }
        let (kind, error) = match code {
            Some(0) if !open.is_empty() => (
                "failed",
                format!(
                    "exited 0 without `gt done`, {} step(s) still open",
                    open.len()
                ),
            ),
            Some(0) => (
                "failed",
                "exited 0 without `gt done` or `bd close`".to_string(),
            ),
            Some(c) => ("failed", format!("exit status {c}")),
            None => (
                "crash",
                "the session died without an exit status".to_string(),
            ),
        };
        let max = cfg.max_attempts.unwrap_or(3);
        let addr = a.address();
        let wt = a.worktree.clone();
        let outcome = store.write(|tx| -> Result<_, RuntimeError> {
            let o = crate::runtime::escalate::fail_step(
                tx,
                &bead,
                lease.generation,
                &Failure {
                    kind,
                    error: &error,
                    max_attempts: max,
                    backoff_ms: 0,
                    permanent: matches!(code, Some(126 | 127)),
                    log_path: a.log_path.as_deref(),
                },
            )?;
            match &o {
                leases::FailOutcome::Retry { .. } => {
                    let l = tx.lease_as(
                        &bead,
                        &LeaseRequest {
                            holder: addr.clone(),
                            agent: agent_name.clone(),
                            worktree: wt.clone(),
                        },
                        Status::Hooked,
                    )?;
                    if l.is_some() {
                        tx.agent_upsert(&AgentUpdate {
                            rig: &a.rig,
                            name: &a.name,
                            role: "polecat",
                            state: "spawning",
                            worktree: None,
                            branch: None,
                            hooked_bead: Some(&bead),
                            agent: Some(&agent_name),
                            bump_generation: true,
                        })?;
                        tx.event(&bead, "restart", Some("agent"), None, Some(&addr))?;
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
        })?;
        match outcome {
            leases::FailOutcome::Retry { attempt, .. } => {
                let row = agents::get(store.conn(), &a.rig, &a.name)?
                    .ok_or_else(|| RuntimeError::Io("agent vanished".into()))?;
                let pid = work::start_polecat(town, store, &row, &agent_name, &cfg)?;
                actions.push(format!(
                    "{addr}: {error}; restarted in its worktree (attempt {attempt}, pid {pid})"
                ));
            }
            leases::FailOutcome::Blocked { attempts, .. } => {
                actions.push(format!(
                    "{addr}: {error}; {bead} blocked after {attempts} attempt(s), escalated"
                ));
            }
            leases::FailOutcome::Stale => {}
        }
    }
    Ok(actions)
}

/// Is the bead still this polecat's open work, at the lease it holds?
fn still_ours(a: &AgentRow, issue: &crate::store::Issue, lease: Option<&leases::Lease>) -> bool {
    let addr = a.address();
    matches!(issue.status, Status::Hooked | Status::InProgress)
        && issue.assignee.as_deref() == Some(addr.as_str())
        && lease.is_some_and(|l| l.holder.as_deref() == Some(addr.as_str()))
}

#[derive(Debug, Serialize)]
pub struct AgentView {
    pub address: String,
    pub role: String,
    pub state: String,
    pub alive: bool,
    pub generation: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bead: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worktree: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
}

pub fn agent_views(store: &Store) -> Result<Vec<AgentView>, RuntimeError> {
    Ok(agents::list(store.conn())?
        .into_iter()
        .map(|a| AgentView {
            address: a.address(),
            alive: a.pid.is_some_and(|p| proc::alive(p, a.pid_start)),
            role: a.role,
            state: a.state,
            generation: a.generation,
            bead: a.hooked_bead,
            agent: a.agent,
            pid: a.pid,
            worktree: a.worktree,
            log: a.log_path,
        })
        .collect())
}

#[derive(Debug, Serialize)]
pub struct TownStatus {
    pub town: String,
    pub supervisor: Option<i64>,
    pub rigs: Vec<String>,
    pub agents: Vec<AgentView>,
    pub counts: Vec<(String, i64)>,
    pub merge_requests_open: i64,
}

pub fn status(town: &Town) -> Result<TownStatus, RuntimeError> {
    let store = town.store()?;
    let rigs = crate::town::rigs::list(&store)?
        .into_iter()
        .map(|r| r.name)
        .collect();
    let mr: i64 = store
        .conn()
        .query_row(
            "SELECT count(*) FROM issues WHERE issue_type = 'merge-request' AND status != 'closed'",
            [],
            |r| r.get(0),
        )
        .map_err(crate::store::StoreError::from)?;
    Ok(TownStatus {
        town: town.root.display().to_string(),
        supervisor: running(town),
        rigs,
        agents: agent_views(&store)?,
        counts: issues::stats(store.conn())?,
        merge_requests_open: mr,
    })
}

/// Find an agent by name or address.
pub fn find_agent(store: &Store, who: &str) -> Result<AgentRow, RuntimeError> {
    let all = agents::list(store.conn())?;
    let w = who.trim_end_matches('/');
    all.iter()
        .find(|a| a.address().trim_end_matches('/') == w || a.name == w)
        .cloned()
        .ok_or_else(|| {
            let valid: Vec<String> = all.iter().map(|a| a.address()).collect();
            RuntimeError::usage(
                format!("unknown agent `{who}`"),
                if valid.is_empty() {
                    "no agents yet; `gt sling BEAD RIG` creates polecats".to_string()
                } else {
                    format!("valid agents: {}", valid.join(", "))
                },
            )
        })
}

/// `gt peek AGENT`: the tail of its log (or its tmux pane).
pub fn peek(town: &Town, who: &str, lines: usize) -> Result<String, RuntimeError> {
    let store = town.store()?;
    let a = find_agent(&store, who)?;
    if let Some(sess) = &a.session {
        if session::tmux_available() {
            if let Ok(o) = session::tmux(&session::tmux_socket(&town.runtime_dir()))
                .args(["capture-pane", "-p", "-t", sess])
                .output()
            {
                if o.status.success() {
                    return Ok(String::from_utf8_lossy(&o.stdout).into_owned());
                }
            }
        }
    }
    let log = a.log_path.clone().ok_or_else(|| {
        RuntimeError::usage(
            format!("{} has no session log yet", a.address()),
            "it has not run a session",
        )
    })?;
    session::tail(std::path::Path::new(&log), lines)
        .map_err(|e| RuntimeError::Io(format!("cannot read {log}: {e}")))
}
