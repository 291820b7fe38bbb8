//! The one spawn path and the one session environment.
//!
//! A session is started only by the process that claimed its agent identity
//! in the transaction that gave the agent its work (lease + agent row + owner,
//! see [`crate::store::agents`]). After the start, [`record`] writes the
//! session in one transaction that succeeds only if the claim still holds;
//! a session that lost is stopped at once. `gt sling`, the witness, the
//! mayor and `gt run` all go through here.

use super::proc;
use super::session::{self, SessionSpec, Started};
use super::RuntimeError;
use crate::store::agents::{address, SpawnRecord};
use crate::store::Store;
use crate::town::AgentConfig;
use std::path::{Path, PathBuf};

/// Who a session is. [`SessionIdentity::env`] is the only place that builds
/// a session's environment.
#[derive(Debug, Clone, Copy)]
pub struct SessionIdentity<'a> {
    /// The town root (`None` for a `gt run` outside a town).
    pub town: Option<&'a Path>,
    pub beads_dir: &'a Path,
    /// `""` for town-level agents (mayor) and `gt run` outside a town.
    pub rig: &'a str,
    pub role: &'a str,
    /// The agent's name (`furiosa`, `mayor`).
    pub name: &'a str,
    /// The agent config (`claude`, `shell`, ...).
    pub agent_name: &'a str,
    /// The session generation of this agent identity (its agent row).
    pub generation: i64,
    /// The lease the session works on: `(step, lease generation)`.
    pub lease: Option<(&'a str, i64)>,
    pub molecule: Option<&'a str>,
}

impl SessionIdentity<'_> {
    /// The mail address: `<rig>/polecats/<name>`, `mayor/`, ...
    pub fn address(&self) -> String {
        address(self.rig, self.role, self.name)
    }

    /// The session environment: `GT_TOWN`, `GT_RIG`, `GT_ROLE`, `GT_AGENT`,
    /// `GT_POLECAT`, `GT_GENERATION`, `GT_STEP`, `GT_LEASE`, `GT_MOLECULE`,
    /// `BEADS_DIR`, `BD_ACTOR`, `PATH` (this `gt` first), then the agent
    /// config's own `env`, which may override any of them.
    pub fn env(&self, agent: &AgentConfig) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = Vec::new();
        let mut set = |k: &str, v: String| env.push((k.to_string(), v));
        if let Some(t) = self.town {
            set("GT_TOWN", t.display().to_string());
        }
        set("GT_RIG", self.rig.to_string());
        set("GT_ROLE", self.role.to_string());
        set("GT_AGENT", self.agent_name.to_string());
        if self.role == "polecat" {
            set("GT_POLECAT", self.name.to_string());
        }
        if self.role == "crew" {
            set("GT_CREW", self.name.to_string());
        }
        set("GT_GENERATION", self.generation.to_string());
        if let Some((step, gen)) = self.lease {
            set("GT_STEP", step.to_string());
            set("GT_LEASE", format!("{step}:{gen}"));
        }
        if let Some(m) = self.molecule {
            set("GT_MOLECULE", m.to_string());
        }
        set("BEADS_DIR", canonical(self.beads_dir).display().to_string());
        set("BD_ACTOR", self.address());
        if let Some(d) = exe_dir() {
            let path = std::env::var("PATH").unwrap_or_default();
            set("PATH", format!("{}:{path}", d.display()));
        }
        env.extend(agent.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        env
    }
}

/// `dir` with its symlinks resolved (the last answer is remembered: a
/// supervisor asks for the same store on every start).
fn canonical(dir: &Path) -> PathBuf {
    thread_local! {
        static LAST: std::cell::RefCell<Option<(PathBuf, PathBuf)>> = const { std::cell::RefCell::new(None) };
    }
    LAST.with_borrow_mut(|last| match last {
        Some((from, to)) if from == dir => to.clone(),
        _ => {
            let to = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
            *last = Some((dir.to_path_buf(), to.clone()));
            to
        }
    })
}

/// The directory of the running `gt` (read once).
fn exe_dir() -> Option<&'static Path> {
    static DIR: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
    })
    .as_deref()
}

/// The polecat name this process may claim in `rig`: `preferred` if nobody
/// else owns it ([`crate::store::agents::AgentRow::claimable`]), else the
/// first pool name that is neither claimed nor in `held` (names the caller
/// already uses). The claim itself is the caller's `agent_upsert` with a new
/// generation, in the same transaction `tx`.
pub fn claim_polecat(
    tx: &crate::store::Tx<'_>,
    rig: &str,
    preferred: &str,
    held: &[String],
) -> Result<String, RuntimeError> {
    let free = |name: &str| -> Result<bool, RuntimeError> {
        // A crew member's or a patrol role's name is never taken over.
        Ok(crate::store::agents::get(tx.conn(), rig, name)?
            .is_none_or(|a| a.role == "polecat" && a.claimable()))
    };
    if free(preferred)? {
        return Ok(preferred.to_string());
    }
    for name in (0..100_000).map(crate::town::pool_name) {
        if !held.contains(&name) && free(&name)? {
            return Ok(name);
        }
    }
    Err(RuntimeError::Io(format!(
        "every polecat name of rig `{rig}` is claimed by a live session"
    )))
}

/// Record a started session for `id` (one transaction: agent row, lease,
/// `spawn` event). `Ok(false)` when the claim was lost meanwhile.
pub fn record(
    store: &mut Store,
    id: &SessionIdentity<'_>,
    pid: Option<i64>,
    pid_start: Option<i64>,
    spec: &SessionSpec,
    tmux_session: bool,
) -> Result<bool, RuntimeError> {
    let (sf, log) = (
        spec.status.journal.display().to_string(),
        spec.log.display().to_string(),
    );
    let addr = id.address();
    let subject = id.lease.map(|l| l.0.to_string()).unwrap_or(addr.clone());
    store.write(|tx| -> Result<bool, RuntimeError> {
        let won = tx.record_spawn(&SpawnRecord {
            rig: id.rig,
            name: id.name,
            generation: id.generation,
            lease: id.lease,
            pid,
            pid_start,
            session: tmux_session.then_some(spec.name.as_str()),
            status_file: &sf,
            log_path: &log,
            live_log: &log,
        })?;
        if won {
            tx.emit(
                &subject,
                &crate::store::events::TownEvent::Spawn {
                    agent: addr.clone(),
                    generation: id.generation,
                    pid,
                    rig: id.rig.to_string(),
                },
            )?;
        }
        Ok(won)
    })
}

/// Start a session that outlives this process and record it. The caller
/// holds the claim (it ran the transaction that bumped the generation, or
/// [`crate::store::Tx::reclaim_spawn`]). Returns the session's pid.
pub fn start_detached(
    store: &mut Store,
    id: &SessionIdentity<'_>,
    spec: &SessionSpec,
) -> Result<i64, RuntimeError> {
    let pid = session::start_detached(spec).map_err(|e| {
        RuntimeError::Io(format!("cannot start the session of {}: {e}", id.address()))
    })?;
    let ps = proc::start_time(pid);
    let tmux = spec.provider == crate::town::Provider::Tmux;
    if !record(store, id, Some(pid), ps, spec, tmux)? {
        stop(pid, spec);
        return Err(RuntimeError::Io(format!(
            "{} was claimed by another session meanwhile; stopped the duplicate",
            id.address()
        )));
    }
    Ok(pid)
}

/// Start a session as a child of this process (the `gt run` supervisor
/// awaits its exit). Recording is the caller's (batched) transaction.
pub fn start_child(spec: &SessionSpec) -> std::io::Result<Started> {
    session::start(spec)
}

/// Stop a session and everything it started (its process group).
pub fn stop(pid: i64, spec: &SessionSpec) {
    proc::kill_group(pid, proc::SIGKILL);
    if spec.provider == crate::town::Provider::Tmux {
        session::tmux_kill(spec);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_environment_names_every_part_of_the_identity() {
        let agent = crate::town::agents::preset("shell").expect("the shell preset");
        let id = SessionIdentity {
            town: Some(Path::new("/t")),
            beads_dir: Path::new("/t/.beads-none"),
            rig: "app",
            role: "polecat",
            name: "furiosa",
            agent_name: "shell",
            generation: 4,
            lease: Some(("hq-ab12", 2)),
            molecule: Some("hq-ab12"),
        };
        let env: std::collections::BTreeMap<_, _> = id.env(&agent).into_iter().collect();
        assert_eq!(env["GT_GENERATION"], "4");
        assert_eq!(env["GT_LEASE"], "hq-ab12:2");
        assert_eq!(env["GT_STEP"], "hq-ab12");
        assert_eq!(env["GT_POLECAT"], "furiosa");
        assert_eq!(env["GT_RIG"], "app");
        assert_eq!(env["GT_ROLE"], "polecat");
        assert_eq!(env["GT_MOLECULE"], "hq-ab12");
        assert_eq!(env["GT_TOWN"], "/t");
        assert_eq!(env["BD_ACTOR"], "app/polecats/furiosa");
        assert_eq!(env["BEADS_DIR"], "/t/.beads-none");
    }
}
