//! Agent rows: a polecat's (or mayor's, crew's) persistent identity, its
//! explicit state, its generation, and its current session.
//!
//! States: `spawning -> working -> idle` (reused), `exiting` (in `gt done`),
//! `stuck` (escalated), `dead` (session gone, not yet restarted).
//!
//! Ownership: the transaction that gives an agent new work (a new session
//! generation) also records the process that claimed it (`owner_pid` +
//! `owner_start`): `gt sling`, the witness, or a `gt run` supervisor for its
//! whole run. Only the owner starts the session; nobody else claims an
//! identity while its owner or its session is alive. So one lease gets one
//! session, and two runs never share a polecat or its worktree.

use super::error::{Result, StoreError};
use super::Tx;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

pub const STATES: &[&str] = &["spawning", "working", "idle", "exiting", "stuck", "dead"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentRow {
    pub name: String,
    pub rig: String,
    pub role: String,
    pub state: String,
    pub generation: i64,
    pub pid: Option<i64>,
    pub pid_start: Option<i64>,
    pub worktree: Option<String>,
    pub branch: Option<String>,
    pub hooked_bead: Option<String>,
    pub agent: Option<String>,
    pub session: Option<String>,
    pub log_path: Option<String>,
    pub respawns: i64,
    pub updated_at: String,
    /// The process that claimed this identity (see the module doc).
    pub owner_pid: Option<i64>,
    pub owner_start: Option<i64>,
}

impl AgentRow {
    /// The address: `<rig>/polecats/<name>`, `mayor/`, ...
    pub fn address(&self) -> String {
        address(&self.rig, &self.role, &self.name)
    }
}

pub fn address(rig: &str, role: &str, name: &str) -> String {
    match (rig, role) {
        (_, "mayor") => "mayor/".into(),
        ("", "deacon") => "deacon/".into(),
        ("", "dog") => format!("deacon/dogs/{name}"),
        ("", "polecat") => format!("polecats/{name}"),
        ("", _) => format!("{role}/{name}"),
        (r, "polecat") => format!("{r}/polecats/{name}"),
        (r, "crew") => format!("{r}/crew/{name}"),
        (r, role) => format!("{r}/{role}"),
    }
}

const COLS: &str = "name, rig, role, state, generation, pid, pid_start, worktree, branch, hooked_bead, agent, session, log_path, respawns, updated_at, owner_pid, owner_start";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AgentRow> {
    Ok(AgentRow {
        name: r.get(0)?,
        rig: r.get(1)?,
        role: r.get(2)?,
        state: r.get(3)?,
        generation: r.get(4)?,
        pid: r.get(5)?,
        pid_start: r.get(6)?,
        worktree: r.get(7)?,
        branch: r.get(8)?,
        hooked_bead: r.get(9)?,
        agent: r.get(10)?,
        session: r.get(11)?,
        log_path: r.get(12)?,
        respawns: r.get(13)?,
        updated_at: r.get(14)?,
        owner_pid: r.get(15)?,
        owner_start: r.get(16)?,
    })
}

pub fn get(conn: &Connection, rig: &str, name: &str) -> Result<Option<AgentRow>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {COLS} FROM agents WHERE rig = ?1 AND name = ?2"
    ))?;
    Ok(st.query_row(params![rig, name], from_row).optional()?)
}

/// Every agent, by rig then name.
pub fn list(conn: &Connection) -> Result<Vec<AgentRow>> {
    let mut st = conn.prepare_cached(&format!("SELECT {COLS} FROM agents ORDER BY rig, name"))?;
    let rows = st.query_map([], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The agent that has `bead` on its hook.
pub fn hooked_on(conn: &Connection, bead: &str) -> Result<Option<AgentRow>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {COLS} FROM agents WHERE hooked_bead = ?1 LIMIT 1"
    ))?;
    Ok(st.query_row([bead], from_row).optional()?)
}

/// Fields of [`Tx::agent_upsert`].
#[derive(Debug, Clone, Default)]
pub struct AgentUpdate<'a> {
    pub rig: &'a str,
    pub name: &'a str,
    pub role: &'a str,
    pub state: &'a str,
    pub worktree: Option<&'a str>,
    pub branch: Option<&'a str>,
    pub hooked_bead: Option<&'a str>,
    pub agent: Option<&'a str>,
    /// Start a new session generation (claimed by this process).
    pub bump_generation: bool,
}

/// Is process `pid` (with start time `start`) alive? (`/proc` identity.)
fn process_alive(pid: Option<i64>, start: Option<i64>) -> bool {
    pid.is_some_and(|p| crate::proc::alive(p, start))
}

impl AgentRow {
    /// Is the session process of this agent alive (pid + start time)?
    pub fn session_alive(&self) -> bool {
        process_alive(self.pid, self.pid_start)
    }

    /// Is the process that claimed this identity alive?
    pub fn owner_alive(&self) -> bool {
        process_alive(self.owner_pid, self.owner_start)
    }

    /// Is the owner this process?
    pub fn owned_by_me(&self) -> bool {
        let (pid, start) = crate::proc::me();
        self.owner_pid == Some(pid) && (self.owner_start.is_none() || self.owner_start == start)
    }

    /// May this process claim the identity? Free when nobody alive owns it
    /// and no session of it runs (or this process already owns it).
    pub fn claimable(&self) -> bool {
        self.owned_by_me() || (!self.owner_alive() && !self.session_alive())
    }
}

/// What [`Tx::record_spawn`] records about a started session.
#[derive(Debug, Clone)]
pub struct SpawnRecord<'a> {
    pub rig: &'a str,
    pub name: &'a str,
    /// The agent generation the session was started for.
    pub generation: i64,
    /// The lease `(step, lease generation)` it works on, if any.
    pub lease: Option<(&'a str, i64)>,
    pub pid: Option<i64>,
    pub pid_start: Option<i64>,
    pub session: Option<&'a str>,
    pub status_file: &'a str,
    /// The lease's log (the step's output once it ended).
    pub log_path: &'a str,
    /// The agent's log while the session runs (the same file, or the live
    /// log a `gt run` polecat writes before its output becomes the step's).
    pub live_log: &'a str,
}

impl Tx<'_> {
    /// Create or update an agent row; returns its generation. A new
    /// generation is claimed by this process (the one that will spawn it).
    pub fn agent_upsert(&self, u: &AgentUpdate<'_>) -> Result<i64> {
        if !STATES.contains(&u.state) {
            return Err(StoreError::invalid("agent state", u.state, STATES));
        }
        let owner = crate::proc::me();
        Ok(self.tx
            .prepare_cached(
                "INSERT INTO agents (name, rig, role, state, generation, worktree, branch, hooked_bead, agent, updated_at,
                   owner_pid, owner_start)
                 VALUES (?2, ?1, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                 ON CONFLICT(rig, name) DO UPDATE SET role = ?3, state = ?4, generation = generation + ?5,
                   worktree = coalesce(?6, worktree), branch = coalesce(?7, branch), hooked_bead = ?8,
                   agent = coalesce(?9, agent), updated_at = ?10,
                   pid = CASE WHEN ?5 = 1 THEN NULL ELSE pid END,
                   pid_start = CASE WHEN ?5 = 1 THEN NULL ELSE pid_start END,
                   owner_pid = CASE WHEN ?5 = 1 THEN ?11 ELSE owner_pid END,
                   owner_start = CASE WHEN ?5 = 1 THEN ?12 ELSE owner_start END
                 RETURNING generation",
            )?
            .query_row(params![
                u.rig,
                u.name,
                u.role,
                u.state,
                u.bump_generation as i64,
                u.worktree,
                u.branch,
                u.hooked_bead,
                u.agent,
                self.now,
                owner.0,
                owner.1
            ], |r| r.get(0))?)
    }

    /// Take over the spawn of `(rig, name)` at `generation` from a claimer
    /// that died before starting the session. `false` when someone else
    /// (alive) owns it, a session already runs, or the generation moved on.
    pub fn reclaim_spawn(&self, rig: &str, name: &str, generation: i64) -> Result<bool> {
        let Some(a) = get(&self.tx, rig, name)? else {
            return Ok(false);
        };
        if a.generation != generation || a.pid.is_some() || !a.claimable() {
            return Ok(false);
        }
        let (pid, start) = crate::proc::me();
        self.tx
            .prepare_cached(
                "UPDATE agents SET owner_pid = ?3, owner_start = ?4, updated_at = ?5 WHERE rig = ?1 AND name = ?2",
            )?
            .execute(params![rig, name, pid, start, self.now])?;
        Ok(true)
    }

    /// Record a started session, only if it is still the one its claim was
    /// for: the agent is at `generation` with no session yet (and the lease,
    /// if any, at its generation). `false` means another session won: the
    /// caller must stop the one it started.
    pub fn record_spawn(&self, r: &SpawnRecord<'_>) -> Result<bool> {
        let n = self
            .tx
            .prepare_cached(
                "UPDATE agents SET pid = ?4, pid_start = ?5, session = ?6, log_path = ?7,
                   state = 'working', updated_at = ?8
                 WHERE rig = ?1 AND name = ?2 AND generation = ?3 AND pid IS NULL",
            )?
            .execute(params![
                r.rig,
                r.name,
                r.generation,
                r.pid,
                r.pid_start,
                r.session,
                r.live_log,
                self.now
            ])?;
        if n != 1 {
            return Ok(false);
        }
        if let Some((step, gen)) = r.lease {
            if !self.record_session(step, gen, r.pid, r.pid_start, r.status_file, r.log_path)? {
                return Err(StoreError::Invalid(format!(
                    "{step} is no longer leased at generation {gen}; the session of {} was not recorded",
                    address(r.rig, "polecat", r.name)
                )));
            }
        }
        Ok(true)
    }

    /// Record the session process of an agent (state `working`).
    pub fn agent_session(
        &self,
        rig: &str,
        name: &str,
        pid: Option<i64>,
        pid_start: Option<i64>,
        session: Option<&str>,
        log: Option<&str>,
    ) -> Result<()> {
        self.tx
            .prepare_cached(
                "UPDATE agents SET pid = ?3, pid_start = ?4, session = ?5, log_path = coalesce(?6, log_path),
                   state = 'working', updated_at = ?7 WHERE rig = ?1 AND name = ?2",
            )?
            .execute(params![rig, name, pid, pid_start, session, log, self.now])?;
        Ok(())
    }

    /// Set an agent's state; `clear_hook` empties its hook and session.
    pub fn agent_state(&self, rig: &str, name: &str, state: &str, clear_hook: bool) -> Result<()> {
        if !STATES.contains(&state) {
            return Err(StoreError::invalid("agent state", state, STATES));
        }
        let sql = if clear_hook {
            "UPDATE agents SET state = ?3, hooked_bead = NULL, pid = NULL, pid_start = NULL, session = NULL, respawns = 0, updated_at = ?4 WHERE rig = ?1 AND name = ?2"
        } else {
            "UPDATE agents SET state = ?3, updated_at = ?4 WHERE rig = ?1 AND name = ?2"
        };
        self.tx
            .prepare_cached(sql)?
            .execute(params![rig, name, state, self.now])?;
        Ok(())
    }

    /// Count one more session restart of an agent; returns the new count.
    pub fn agent_respawned(&self, rig: &str, name: &str) -> Result<i64> {
        self.tx
            .prepare_cached("UPDATE agents SET respawns = respawns + 1, generation = generation + 1, updated_at = ?3 WHERE rig = ?1 AND name = ?2")?
            .execute(params![rig, name, self.now])?;
        Ok(get(&self.tx, rig, name)?.map(|a| a.respawns).unwrap_or(0))
    }
}
