//! `gt doctor [--fix]`: health checks of a town and its store. `--fix`
//! repairs only what is safe (it never deletes work: no worktree with files
//! is removed, no branch is touched) and reports each repair.
//!
//! Checks: town layout and config, rig configs and repos, store integrity
//! and schema version, readiness columns, ledger drift (SQLite vs JSONL),
//! orphaned worktrees, hooks and leases held by dead sessions and dead
//! agent rows (process identity: pid + start time), processes and tmux
//! sessions that outlived their sessions,
//! stale refinery claims, merged beads left open, convoys that should have
//! landed, and the formula library (lint).

use super::{convoy, mq, Result};
use crate::proc;
use crate::store::agents::{self, AgentRow};
use crate::store::issues::{self, Update};
use crate::store::leases;
use crate::store::{jsonl, ready, schema, Status, Store};
use crate::town::{health, Town, TownError};
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Warn,
    Error,
    /// Was a problem; `--fix` repaired it.
    Fixed,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub check: String,
    pub level: Level,
    pub message: String,
    /// What `--fix` would do (or did), when it can; with `manual`, what
    /// the user must do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// `--fix` cannot repair this one: the user must.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub manual: bool,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
}

impl Report {
    fn push(&mut self, check: &str, level: Level, message: impl Into<String>, fix: Option<String>) {
        self.findings.push(Finding {
            check: check.into(),
            level,
            message: message.into(),
            fix,
            manual: false,
        });
    }
    fn ok(&mut self, check: &str, message: impl Into<String>) {
        self.push(check, Level::Ok, message, None);
    }
    pub fn errors(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.level == Level::Error)
            .count()
    }
    pub fn warnings(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.level == Level::Warn)
            .count()
    }
    pub fn fixed(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.level == Level::Fixed)
            .count()
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    pub fix: bool,
    pub now_secs: i64,
    /// Refinery claims older than this are stale.
    pub stale_claim_secs: i64,
    /// A dead holder's hook is released only once its lease has been quiet
    /// this long (0 for the doctor; the deacon waits, so the witness's
    /// restart-in-place always comes first).
    pub min_hook_age_secs: i64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            fix: false,
            now_secs: crate::store::ids::parse_secs(&crate::store::ids::now()).unwrap_or(0),
            stale_claim_secs: 30 * 60,
            min_hook_age_secs: 0,
        }
    }
}

/// Run every check from `cwd`.
pub fn run(cwd: &Path, opts: &Options) -> Report {
    let mut r = Report::default();
    let town = match Town::find(cwd) {
        Ok(t) => Some(t),
        Err(TownError::NoTown { .. }) => None,
        Err(e) => {
            r.push("town.config", Level::Error, e.to_string(), e.help());
            None
        }
    };
    check_town(&mut r, town.as_ref());
    let store = match Store::discover(cwd) {
        Ok(s) => Some(s),
        Err(e) => {
            r.push("store.open", Level::Error, e.to_string(), e.help());
            None
        }
    };
    if let Some(mut s) = store {
        if let Err(e) = check_store(&mut r, &mut s, town.as_ref(), opts) {
            r.push("store", Level::Error, e.to_string(), e.help());
        }
    }
    check_formulas(&mut r, cwd);
    r
}

fn check_town(r: &mut Report, town: Option<&Town>) {
    let Some(t) = town else {
        r.push(
            "town.layout",
            Level::Warn,
            "not inside a town (no settings/config.json with .beads/ above the cwd, and GT_TOWN unset); town checks skipped",
            None,
        );
        return;
    };
    if !t.root.join(".beads").is_dir() {
        r.push(
            "town.layout",
            Level::Error,
            format!("{} has no .beads/ (the town store)", t.root.display()),
            None,
        );
    }
    let checks = health::check_settings(t)
        .into_iter()
        .chain(health::check_rigs(t, health::REMOTE_TIMEOUT));
    for c in checks {
        let level = match c.health {
            health::Health::Ok => Level::Ok,
            health::Health::Warn => Level::Warn,
            health::Health::Error => Level::Error,
        };
        r.push(c.check, level, c.message, c.help);
    }
    check_agents(r, t);
}

/// The agents the town's roles use: would their sessions start? The same
/// checks `gt sling` and `gt mayor start` make before launch, all of them
/// at once. Warnings, not errors: nothing is broken until a launch, which
/// refuses with the same words.
fn check_agents(r: &mut Report, t: &Town) {
    let uses = match crate::runtime::roles::agents_in_use(t) {
        Ok(u) => u,
        // An unknown agent name is the settings check's finding.
        Err(_) => return,
    };
    let rt = t.runtime_dir();
    for u in uses {
        let who = u.roles.join(", ");
        let problems = crate::runtime::launch::problems(&u.name, &u.config, Some(&rt));
        if problems.is_empty() {
            r.ok(
                "agents.launch",
                format!("agent `{}` ({who}) can start", u.name),
            );
        }
        for p in problems {
            r.findings.push(Finding {
                check: "agents.launch".into(),
                level: Level::Warn,
                message: format!("{who}: {p}"),
                fix: p.help(),
                manual: true,
            });
        }
    }
}

fn check_store(r: &mut Report, s: &mut Store, town: Option<&Town>, opts: &Options) -> Result<()> {
    // Integrity and schema.
    let integrity: String = s
        .conn()
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))?;
    if integrity == "ok" {
        r.ok("store.integrity", "PRAGMA integrity_check: ok");
    } else {
        r.push(
            "store.integrity",
            Level::Error,
            format!("PRAGMA integrity_check: {integrity}"),
            Some("restore from the JSONL: move beads.db away and run any bd command (it rebuilds from issues.jsonl)".into()),
        );
    }
    let version: i64 = s
        .conn()
        .query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version == schema::latest() {
        r.ok("store.schema", format!("schema version {version}"));
    } else {
        r.push(
            "store.schema",
            Level::Error,
            format!("schema version {version}, expected {}", schema::latest()),
            None,
        );
    }
    // Readiness columns vs a from-scratch recomputation (rolled back).
    let before = ready::snapshot(s.conn())?;
    let after = {
        let tx = s.conn().unchecked_transaction()?;
        ready::rebuild_all(&tx)?;
        let a = ready::snapshot(&tx)?;
        tx.rollback()?;
        a
    };
    let bad = before.iter().zip(&after).filter(|(a, b)| a != b).count();
    if bad == 0 {
        r.ok("store.readiness", "readiness columns match a recomputation");
    } else if opts.fix {
        s.write(|tx| ready::rebuild_all(tx.conn()))?;
        r.push(
            "store.readiness",
            Level::Fixed,
            format!("{bad} issue(s) had stale readiness columns"),
            Some("recomputed every readiness column".into()),
        );
    } else {
        r.push(
            "store.readiness",
            Level::Warn,
            format!("{bad} issue(s) have stale readiness columns"),
            Some("recompute them".into()),
        );
    }
    check_worktrees(r, s, town, opts)?;
    check_hooks(r, s, opts)?;
    check_dead_agents(r, s, opts)?;
    check_leaked_processes(r, s, opts)?;
    check_leaked_sessions(r, s, town, opts)?;
    check_mq(r, s, opts)?;
    check_convoys(r, s, opts)?;
    // Last: the repairs above write to the database, and the export must
    // carry them.
    check_ledger(r, s, opts)?;
    Ok(())
}

fn check_ledger(r: &mut Report, s: &mut Store, opts: &Options) -> Result<()> {
    let path = s.jsonl_path();
    let rendered = jsonl::render(s.conn())?;
    let on_disk = crate::store::sync::read_jsonl(s);
    let drift = match &on_disk {
        None if rendered.is_empty() => None,
        None => Some(format!("{} is missing", path.display())),
        Some(text) if *text == rendered => None,
        Some(text) => {
            let a: std::collections::HashSet<&str> = text.lines().collect();
            let b: std::collections::HashSet<&str> = rendered.lines().collect();
            let n = a.symmetric_difference(&b).count();
            Some(format!(
                "{} differs from the database ({n} line(s))",
                path.display()
            ))
        }
    };
    match drift {
        None => r.ok("ledger.drift", "issues.jsonl matches the database"),
        Some(m) if opts.fix => {
            crate::store::sync::export(s)?;
            r.push("ledger.drift", Level::Fixed, m, Some("exported the database to issues.jsonl (changes made by git were imported first)".into()));
        }
        Some(m) => r.push(
            "ledger.drift",
            Level::Warn,
            m,
            Some("export the database to issues.jsonl (`bd export`)".into()),
        ),
    }
    Ok(())
}

fn check_worktrees(
    r: &mut Report,
    s: &mut Store,
    town: Option<&Town>,
    opts: &Options,
) -> Result<()> {
    let Some(t) = town else { return Ok(()) };
    for rc in crate::town::rigs::list(s)? {
        let rig = rc.name.clone();
        let Ok(repo) = git2::Repository::open(&rc.repo) else {
            continue;
        };
        let names = repo.worktrees()?;
        let mut registered: Vec<PathBuf> = Vec::new();
        let mut orphans = 0;
        for name in names.iter().flatten() {
            let Ok(wt) = repo.find_worktree(name) else {
                continue;
            };
            registered.push(wt.path().to_path_buf());
            if wt.validate().is_ok() {
                continue;
            }
            orphans += 1;
            let msg = format!(
                "rig `{rig}`: worktree `{name}` is registered but {} is gone",
                wt.path().display()
            );
            if opts.fix {
                let mut po = git2::WorktreePruneOptions::new();
                match wt.prune(Some(&mut po)) {
                    Ok(()) => r.push(
                        "worktrees.orphaned",
                        Level::Fixed,
                        msg,
                        Some(format!("pruned the registration of `{name}`")),
                    ),
                    Err(e) => r.push(
                        "worktrees.orphaned",
                        Level::Error,
                        format!("{msg}; prune failed: {}", e.message()),
                        None,
                    ),
                }
            } else {
                r.push(
                    "worktrees.orphaned",
                    Level::Warn,
                    msg,
                    Some("prune the registration (no files are touched)".into()),
                );
            }
        }
        // Polecat directories that are not worktrees of the rig repo.
        if let Ok(rd) = std::fs::read_dir(t.root.join(&rig).join("polecats")) {
            for e in rd.flatten() {
                let p = e.path();
                if !p.is_dir() {
                    continue;
                }
                let canon = |x: &Path| x.canonicalize().unwrap_or_else(|_| x.to_path_buf());
                let pc = canon(&p);
                let is_registered = registered.iter().any(|w| {
                    let wc = canon(w);
                    wc.starts_with(&pc) || pc.starts_with(&wc)
                });
                if !is_registered {
                    orphans += 1;
                    r.push(
                        "worktrees.orphaned",
                        Level::Warn,
                        format!("rig `{rig}`: {} is not a worktree of the rig repo", p.display()),
                        Some("inspect it and remove it by hand if it holds nothing (never removed automatically)".into()),
                    );
                }
            }
        }
        if orphans == 0 {
            r.ok(
                "worktrees.orphaned",
                format!(
                    "rig `{rig}`: {} worktree(s), none orphaned",
                    registered.len()
                ),
            );
        }
    }
    let _ = s;
    Ok(())
}

/// The agent row an address names (`<rig>/polecats/<name>`, `polecats/<name>`).
fn agent_of(conn: &rusqlite::Connection, addr: &str) -> Result<Option<AgentRow>> {
    let parts: Vec<&str> = addr.split('/').collect();
    let (rig, name) = match parts.as_slice() {
        [rig, "polecats", name] => (*rig, *name),
        ["polecats", name] => ("", *name),
        [rig, "crew", name] => (*rig, *name),
        _ => return Ok(None),
    };
    Ok(agents::get(conn, rig, name)?)
}

/// Hooks and leases held by dead sessions, and agent rows that say
/// `working` for a session that is gone. A session is alive only if its
/// pid runs with the recorded start time; an agent being spawned (its
/// claimer alive) is not dead. `--fix` gives the lease back (the attempt is
/// not counted), reopens the bead, and sets the agent idle: each repair is
/// reported.
fn check_hooks(r: &mut Report, s: &mut Store, opts: &Options) -> Result<()> {
    let held: Vec<(String, String)> = {
        let mut st = s.conn().prepare(
            "SELECT id, assignee FROM issues
             WHERE status IN ('hooked', 'in_progress') AND assignee IS NOT NULL ORDER BY id",
        )?;
        let rows = st.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut n = 0;
    for (id, holder) in held {
        let Some(lease) = leases::get(s.conn(), &id)? else {
            continue;
        };
        if lease.holder.as_deref() != Some(holder.as_str()) {
            continue;
        }
        let quiet = lease
            .heartbeat_at
            .as_deref()
            .or(lease.leased_at.as_deref())
            .and_then(crate::store::ids::parse_secs)
            .map(|t| opts.now_secs - t)
            .unwrap_or(i64::MAX);
        if quiet < opts.min_hook_age_secs {
            continue;
        }
        let agent = agent_of(s.conn(), &holder)?;
        let lease_alive = lease.pid.is_some_and(|p| proc::alive(p, lease.pid_start));
        let why = match &agent {
            Some(a) if a.session_alive() || lease_alive => continue,
            Some(a) if a.pid.is_none() && a.owner_alive() => continue, // being spawned
            Some(a) if a.hooked_bead.as_deref() != Some(id.as_str()) && lease_alive => continue,
            Some(a) => match a.pid.or(lease.pid) {
                Some(p) => format!("its session (pid {p}) is gone"),
                None => "no session was ever started and nobody is starting one".to_string(),
            },
            None if lease_alive => continue,
            None if lease.pid.is_none() && lease.heartbeat_at.is_none() => continue,
            None => format!(
                "no agent row, and its session (pid {}) is gone",
                lease.pid.unwrap_or(0)
            ),
        };
        n += 1;
        let msg = format!("{id} is held by {holder}, which is dead: {why}");
        if !opts.fix {
            r.push(
                "hooks.dead",
                Level::Warn,
                msg,
                Some(
                    "release the hook and the lease so it can be slung again; set the agent idle"
                        .into(),
                ),
            );
            continue;
        }
        let gen = lease.generation;
        let note = format!("RELEASED by gt doctor --fix: {holder} is dead ({why}); the worktree and branch are kept for the next polecat.");
        s.write(|tx| -> Result<()> {
            tx.release_lease(&id, gen, &format!("gt doctor --fix: {why}"))?;
            tx.update(
                &id,
                &Update {
                    status: Some(Status::Open),
                    assignee: Some(None),
                    append_notes: Some(note.clone()),
                    ..Default::default()
                },
            )?;
            if let Some(a) = &agent {
                tx.agent_state(&a.rig, &a.name, "idle", true)?;
            }
            Ok(())
        })?;
        r.push(
            "hooks.dead",
            Level::Fixed,
            msg,
            Some(format!(
                "released lease {id}:{gen} (attempt not counted), reopened {id} with no assignee and a note{}",
                agent.as_ref().map(|a| format!(", set {} idle", a.address())).unwrap_or_default()
            )),
        );
    }
    if n == 0 {
        r.ok("hooks.dead", "no hooks or leases held by dead sessions");
    }
    Ok(())
}

/// Agent rows that say `spawning`/`working` while their session is gone
/// and they hold no work.
fn check_dead_agents(r: &mut Report, s: &mut Store, opts: &Options) -> Result<()> {
    let mut n = 0;
    for a in agents::list(s.conn())? {
        if !matches!(a.state.as_str(), "spawning" | "working") || a.session_alive() {
            continue;
        }
        if a.pid.is_none() && a.owner_alive() {
            continue;
        }
        if a.hooked_bead.is_some() {
            continue; // a held hook: reported by hooks.dead
        }
        n += 1;
        let msg = format!("{} says {} but its session is gone", a.address(), a.state);
        if opts.fix {
            s.write(|tx| tx.agent_state(&a.rig, &a.name, "idle", true))?;
            r.push(
                "agents.dead",
                Level::Fixed,
                msg,
                Some(format!("set {} idle", a.address())),
            );
        } else {
            r.push(
                "agents.dead",
                Level::Warn,
                msg,
                Some("set the agent idle".into()),
            );
        }
    }
    if n == 0 {
        r.ok("agents.dead", "every working agent has a live session");
    }
    Ok(())
}

/// A process of this town (its environment names the town's store) that
/// carries a lease which is no longer current: left behind by a finished
/// session, even if it escaped its process group.
#[derive(Debug)]
struct Leaked {
    pid: i64,
    pgid: i64,
    lease: String,
    cmd: String,
}

fn environ(pid: i64) -> Option<Vec<(String, String)>> {
    let raw = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    Some(
        raw.split(|b| *b == 0)
            .filter_map(|kv| {
                let kv = String::from_utf8_lossy(kv);
                kv.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            })
            .collect(),
    )
}

fn leaked_processes(s: &Store) -> Result<Vec<Leaked>> {
    let dir = s
        .dir()
        .canonicalize()
        .unwrap_or_else(|_| s.dir().to_path_buf());
    let dir = dir.display().to_string();
    let me = std::process::id() as i64;
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Ok(out);
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i64>().ok()) else {
            continue;
        };
        if pid == me || proc::start_time(pid).is_none() {
            continue;
        }
        let Some(env) = environ(pid) else { continue };
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        if get("BEADS_DIR").as_deref() != Some(dir.as_str()) {
            continue;
        }
        let Some(lease_text) = get("GT_LEASE") else {
            continue;
        };
        let Ok((step, gen)) = leases::parse_lease(&lease_text) else {
            continue;
        };
        let current = match leases::get(s.conn(), &step)? {
            Some(l) => {
                let status = issues::get(s.conn(), &step).map(|i| i.status).ok();
                l.generation == gen && matches!(status, Some(Status::Hooked | Status::InProgress))
            }
            None => false,
        };
        if current {
            continue;
        }
        let pgid = crate::proc::pgid_of(pid).unwrap_or(pid);
        let cmd = crate::proc::cmdline(pid);
        out.push(Leaked {
            pid,
            pgid,
            lease: lease_text,
            cmd,
        });
    }
    Ok(out)
}

/// Processes left behind by finished sessions (leaked). `--fix` kills
/// them and reports each.
fn check_leaked_processes(r: &mut Report, s: &mut Store, opts: &Options) -> Result<()> {
    let leaked = leaked_processes(s)?;
    for l in &leaked {
        let msg = format!(
            "process {} (`{}`) still runs for lease {}, which has ended",
            l.pid,
            crate::coord::tail(&l.cmd, 80),
            l.lease
        );
        if opts.fix {
            proc::kill_group(l.pgid, proc::SIGKILL);
            proc::kill_group(l.pid, proc::SIGKILL);
            r.push(
                "processes.leaked",
                Level::Fixed,
                msg,
                Some(format!("killed process {} (group {})", l.pid, l.pgid)),
            );
        } else {
            r.push(
                "processes.leaked",
                Level::Warn,
                msg,
                Some("kill it (and its process group)".into()),
            );
        }
    }
    if leaked.is_empty() {
        r.ok("processes.leaked", "no process outlives its session");
    }
    Ok(())
}

/// tmux sessions of the town that no agent owns. `--fix` kills them.
fn check_leaked_sessions(
    r: &mut Report,
    s: &mut Store,
    town: Option<&Town>,
    opts: &Options,
) -> Result<()> {
    let Some(t) = town else { return Ok(()) };
    if !crate::runtime::session::tmux_available() {
        return Ok(());
    }
    let sock = crate::runtime::session::tmux_socket(&t.runtime_dir());
    let Ok(o) = crate::runtime::session::tmux(&sock)
        .args(["list-sessions", "-F", "#{session_name}"])
        .output()
    else {
        return Ok(());
    };
    let owned: Vec<String> = agents::list(s.conn())?
        .into_iter()
        .filter(|a| a.session_alive())
        .filter_map(|a| a.session)
        .collect();
    let mut n = 0;
    for name in String::from_utf8_lossy(&o.stdout).lines() {
        if owned.iter().any(|o| o == name) {
            continue;
        }
        n += 1;
        let msg = format!("tmux session `{name}` on the town's socket belongs to no live agent");
        if opts.fix {
            let _ = crate::runtime::session::tmux(&sock)
                .args(["kill-session", "-t", name])
                .output();
            r.push(
                "sessions.leaked",
                Level::Fixed,
                msg,
                Some(format!("killed tmux session `{name}`")),
            );
        } else {
            r.push(
                "sessions.leaked",
                Level::Warn,
                msg,
                Some("kill the tmux session".into()),
            );
        }
    }
    if n == 0 {
        r.ok(
            "sessions.leaked",
            "every tmux session belongs to a live agent",
        );
    }
    Ok(())
}

fn check_mq(r: &mut Report, s: &mut Store, opts: &Options) -> Result<()> {
    // Claims whose run never finished and is older than the threshold.
    let stale: Vec<(String, String)> = {
        let mut st = s.conn().prepare(
            "SELECT i.id, r.started_at FROM issues i JOIN mq_runs r ON r.mr_id = i.id
             WHERE i.issue_type = 'merge-request' AND i.status = 'in_progress' AND r.finished_at IS NULL
             ORDER BY r.id",
        )?;
        let rows = st.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut n = 0;
    for (id, started) in stale {
        let age = crate::store::ids::parse_secs(&started)
            .map(|t| opts.now_secs - t)
            .unwrap_or(0);
        if age < opts.stale_claim_secs {
            continue;
        }
        n += 1;
        let msg = format!(
            "{id} was claimed by the refinery {} min ago and never finished",
            age / 60
        );
        r.push("mq.claims", Level::Warn, msg, Some("the next refinery run finishes or requeues it (it checks whether the target already has the merge)".into()));
    }
    // Beads whose latest merge request merged but that are not closed as merged.
    let left_open: Vec<(String, String)> = {
        let mut st = s.conn().prepare(
            "SELECT b.id, m.id FROM issues m JOIN deps d ON d.issue_id = m.id AND d.type = 'related'
             JOIN issues b ON b.id = d.depends_on
             WHERE m.issue_type = 'merge-request' AND m.status = 'closed' AND m.close_reason = 'merged'
               AND NOT (b.status = 'closed' AND b.close_reason = 'merged')
               AND b.updated_at <= m.closed_at
               AND NOT EXISTS (SELECT 1 FROM deps d2 JOIN issues m2 ON m2.id = d2.issue_id
                   WHERE d2.depends_on = b.id AND d2.type = 'related' AND m2.issue_type = 'merge-request' AND m2.rowid > m.rowid)",
        )?;
        let rows = st.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for (bead, mr) in left_open {
        n += 1;
        let msg = format!("{bead} is not closed as merged, but its merge request {mr} merged");
        if opts.fix {
            s.write(|tx| -> Result<()> {
                let b = issues::get(tx.conn(), &bead)?;
                if b.status == Status::Closed {
                    tx.conn().execute(
                        "UPDATE issues SET close_reason = 'merged', updated_at = ?2 WHERE id = ?1",
                        rusqlite::params![bead, tx.now],
                    )?;
                    tx.event(
                        &bead,
                        "updated",
                        Some("close_reason"),
                        b.close_reason.as_deref(),
                        Some("merged"),
                    )?;
                } else {
                    tx.close(&bead, Some(convoy::MERGED))?;
                }
                convoy::on_bead_merged_tx(tx, &bead)?;
                Ok(())
            })?;
            r.push(
                "mq.merged_open",
                Level::Fixed,
                msg,
                Some("closed the bead as merged and checked its convoys".into()),
            );
        } else {
            r.push(
                "mq.merged_open",
                Level::Warn,
                msg,
                Some("close the bead as merged".into()),
            );
        }
    }
    if n == 0 {
        r.ok(
            "mq",
            format!(
                "{} merge request(s) queued; no stale claims; no merged beads left open",
                mq::list(s.conn(), None, false)?.len()
            ),
        );
    }
    Ok(())
}

fn check_convoys(r: &mut Report, s: &mut Store, opts: &Options) -> Result<()> {
    let mut n = 0;
    for c in convoy::list(s.conn(), false)? {
        let p = c.progress;
        if p.total > 0 && p.merged == p.total {
            n += 1;
            let msg = format!(
                "convoy {} \"{}\": every bead is merged but it has not landed",
                c.id, c.name
            );
            if opts.fix {
                s.write(|tx| convoy::try_land_tx(tx, &c.id))?;
                r.push(
                    "convoys.unlanded",
                    Level::Fixed,
                    msg,
                    Some("landed it (mail and feed event sent)".into()),
                );
            } else {
                r.push("convoys.unlanded", Level::Warn, msg, Some("land it".into()));
            }
        }
    }
    if n == 0 {
        r.ok("convoys.unlanded", "no convoy waits to land");
    }
    Ok(())
}

/// The doctor's repairs the deacon's patrol runs (`runtime::deacon`), one
/// entry point per patrol part; `opts.fix` false only reports.
pub mod patrol {
    use super::*;

    /// Hooks and leases held by dead holders, quiet for `min_hook_age_secs`.
    pub fn stale_hooks(s: &mut Store, opts: &Options) -> Result<Report> {
        let mut r = Report::default();
        check_hooks(&mut r, s, opts)?;
        Ok(r)
    }

    /// Orphaned worktree registrations, and convoys that should have landed.
    pub fn tidy(s: &mut Store, town: &Town, opts: &Options) -> Result<Report> {
        let mut r = Report::default();
        check_worktrees(&mut r, s, Some(town), opts)?;
        check_convoys(&mut r, s, opts)?;
        Ok(r)
    }
}

fn check_formulas(r: &mut Report, cwd: &Path) {
    use crate::formula::library::{Env, SearchPath};
    let env = Env::from_process();
    let sp = SearchPath::discover(cwd, &env);
    let dirs: Vec<PathBuf> = sp
        .dirs
        .iter()
        .filter_map(|d| d.path.clone())
        .filter(|p| p.is_dir())
        .collect();
    let files = match crate::formula::lint::collect_files(&dirs) {
        Ok(f) => f,
        Err(e) => {
            r.push("formulas.lint", Level::Error, e, None);
            return;
        }
    };
    if files.is_empty() {
        r.ok(
            "formulas.lint",
            "no formula files outside the embedded library",
        );
        return;
    }
    let report = crate::formula::lint::lint(&files, &sp);
    let errors = report.count(crate::formula::diag::Severity::Error);
    let warnings = report.count(crate::formula::diag::Severity::Warning);
    let level = if errors > 0 {
        Level::Error
    } else if warnings > 0 {
        Level::Warn
    } else {
        Level::Ok
    };
    r.push(
        "formulas.lint",
        level,
        format!(
            "{} formula file(s): {errors} error(s), {warnings} warning(s)",
            files.len()
        ),
        (errors + warnings > 0).then(|| "see `gt formula lint` for details".to_string()),
    );
}
