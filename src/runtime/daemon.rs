//! The town supervisor: `gt start` runs it as a daemon (pidfile + log),
//! `gt shutdown` stops it with SIGTERM. Each tick the main loop runs the
//! witness pass ([`super::witness`]) and makes sure every rig has its
//! refinery worker ([`super::supervise::Refineries`]), and the deacon's
//! patrol when due ([`super::deacon::tick`]): merges and their gates
//! run beside the witness, never inside its loop. On SIGTERM, running gates
//! are killed (their process groups) and their merge requests requeued; the
//! daemon is gone within about a second and a half.

use super::proc;
use super::session;
use super::supervise::{Backoff, QuietLog, Refineries};
use super::RuntimeError;
use crate::store::agents::{self, AgentRow};
use crate::store::{issues, Store};
use crate::town::Town;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
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

/// `gt daemon status`.
#[derive(Debug, Serialize)]
pub struct DaemonStatus {
    pub running: bool,
    pub pid: Option<i64>,
    pub log: PathBuf,
    pub log_bytes: u64,
    /// Built-in roles stopped by hand (`gt witness stop`, ...).
    pub paused: Vec<String>,
}

pub fn daemon_status(town: &Town) -> DaemonStatus {
    let pid = running(town);
    let log = logfile(town);
    let mut paused: Vec<String> = std::fs::read_dir(town.runtime_dir().join("paused"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    paused.sort();
    DaemonStatus {
        running: pid.is_some(),
        pid,
        log_bytes: std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0),
        log,
        paused,
    }
}

/// `gt daemon rotate-logs`.
#[derive(Debug, Serialize)]
pub struct Rotation {
    pub log: PathBuf,
    pub rotated_to: Option<PathBuf>,
    pub bytes: u64,
}

/// How many rotated logs are kept (`daemon.log.1` is the newest).
const KEPT_LOGS: usize = 3;

/// Copy the log to `daemon.log.1` (shifting older ones, keeping
/// [`KEPT_LOGS`]) and truncate it in place: the daemon writes through an
/// append-mode descriptor, so it carries on at the start of the empty file.
pub fn rotate_log(town: &Town) -> Result<Rotation, RuntimeError> {
    let log = logfile(town);
    let io = |e: std::io::Error| RuntimeError::Io(format!("{}: {e}", log.display()));
    let bytes = match std::fs::metadata(&log) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => return Err(io(e)),
    };
    if bytes == 0 {
        return Ok(Rotation {
            log,
            rotated_to: None,
            bytes,
        });
    }
    let nth = |n: usize| PathBuf::from(format!("{}.{n}", log.display()));
    for n in (1..KEPT_LOGS).rev() {
        if nth(n).exists() {
            std::fs::rename(nth(n), nth(n + 1)).map_err(io)?;
        }
    }
    std::fs::copy(&log, nth(1)).map_err(io)?;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .and_then(|f| f.set_len(0))
        .map_err(io)?;
    Ok(Rotation {
        rotated_to: Some(nth(1)),
        log,
        bytes,
    })
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
        // Started from inside a session, it is still no session's process.
        .env_remove("GT_GENERATION")
        .env_remove("GT_LEASE")
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
    let log = Arc::new(Mutex::new(QuietLog::new(Duration::from_secs(60))));
    let mut refineries = Refineries::new(town.clone(), tick, log.clone());
    let mut backoff = Backoff::new(tick, Duration::from_secs(60));
    let say = |key: &str, text: &str| {
        if let Ok(mut l) = log.lock() {
            l.line(key, text);
        }
    };
    let rt = super::tokio_runtime()?;
    let res: Result<(), RuntimeError> = rt.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| RuntimeError::Io(format!("cannot watch SIGTERM: {e}")))?;
        let mut iv = tokio::time::interval(tick);
        iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut first = true;
        loop {
            tokio::select! {
                _ = iv.tick() => {
                    if !super::roles::paused(town, "witness", None) {
                        for (key, line) in super::witness::pass(town, &mut store, first, &mut backoff) {
                            say(&key, &line);
                        }
                        // Every agent session, not just polecats: dead
                        // standing roles, handoffs, handed-in polecats.
                        match super::roles::watch(town, &mut store) {
                            Ok(lines) => for l in lines { say("roles", &l); },
                            Err(e) => say("roles", &format!("witness: {e}")),
                        }
                    }
                    // The deacon: its built-in patrol when due, or the
                    // next cycle of its agent session.
                    for l in super::deacon::tick(town, &mut store) {
                        say("deacon", &l);
                    }
                    match crate::town::rigs::names(store.conn()) {
                        Ok(rigs) => refineries.ensure(&rigs),
                        Err(e) => say("rigs", &format!("cannot list rigs: {e}")),
                    }
                    first = false;
                }
                _ = term.recv() => break,
                _ = tokio::signal::ctrl_c() => break,
            }
        }
        Ok(())
    });
    // Running gates are killed (process groups); their merge requests go
    // back to the queue. Sessions keep running: the next start adopts them.
    let t0 = std::time::Instant::now();
    let killed = refineries.stop(Duration::from_millis(1200));
    let _ = std::fs::remove_file(pidfile(town));
    eprintln!(
        "{} supervisor {pid} stopped in {} ms ({killed} running gate(s) killed)",
        crate::store::ids::now(),
        t0.elapsed().as_millis()
    );
    drop(lock);
    res
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
    let a = match find_agent(&store, who) {
        Ok(a) => a,
        Err(e) => return builtin_role_log(town, who, lines).ok_or(e),
    };
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

/// A patrol role without an agent session (the deacon, boot, a rig's
/// witness or refinery) runs inside the supervisor: its log is the
/// supervisor's.
fn builtin_role_log(town: &Town, who: &str, lines: usize) -> Option<String> {
    use crate::coord::address::Address;
    let role = match Address::parse(who)? {
        Address::Deacon => "deacon",
        Address::Boot => "boot",
        Address::Witness(_) => "witness",
        Address::Refinery(_) => "refinery",
        _ => return None,
    };
    let log = logfile(town);
    let tail = session::tail(&log, lines).unwrap_or_default();
    Some(format!(
        "({who}: the {role} runs as supervisor code, not an agent session; the supervisor's log {} follows)\n{}",
        log.display(),
        if tail.trim().is_empty() { "(empty: the supervisor has not run yet; `gt start`)" } else { &tail }
    ))
}
