//! The deacon: the town's patrol.
//!
//! Without an agent it is supervisor code: every `deacon.patrol_secs`
//! (default 300) `gt daemon run` runs [`patrol`], whose parts are
//! - **zombie-scan**: polecats the scan (`patrol::scan`) finds dead while
//!   working (unless the running built-in witness restarts them itself) or
//!   stalled are handed to their rig's witness by mail, once per session
//!   generation; session leaders no agent holds any more are ended. The
//!   deacon never stops a current session.
//! - **cleanup-orphans**: processes whose session has ended are ended.
//! - **stale-hooks**: work hooked by a dead holder whose lease has been quiet
//!   for `deacon.stale_hook_secs` (1 h: the witness restarts in place long
//!   before) is released and reopened.
//! - **housekeeping**: orphaned worktree registrations pruned, convoys
//!   whose beads all merged landed, finished and long-idle wisps collected
//!   (never one on an agent's hook), handoff requests of ended sessions
//!   dropped.
//!
//! The repairs are the doctor's (`coord::doctor::patrol`) and the patrol
//! commands' (`runtime::patrol`). Each run is recorded in
//! `.beads/runtime/deacon-patrol.json`, which `gt deacon status` shows with
//! the deacon's heartbeat. With an agent assigned, the deacon's session is
//! started with the `mol-deacon-patrol` formula poured as a wisp on its
//! hook; its steps run the same parts (`gt deacon zombie-scan`, ...), and
//! the supervisor starts the next cycle when a patrol is due and every step
//! of the last wisp is closed.

use super::patrol::{self, ScanLine, Sweep};
use super::roles::{self, RoleRef};
use super::RuntimeError;
use crate::coord::doctor::{self, Level, Options};
use crate::store::agents::{self, AgentRow};
use crate::store::{ids, Status, Store};
use crate::town::Town;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The formula an agent deacon works, one wisp per patrol cycle.
pub const PATROL_FORMULA: &str = "mol-deacon-patrol";
/// The parts of a patrol, in order.
pub const PARTS: &[&str] = &[
    "zombie-scan",
    "cleanup-orphans",
    "stale-hooks",
    "housekeeping",
];

/// What one part of a patrol found and did.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PartResult {
    pub part: String,
    pub at: String,
    pub dry_run: bool,
    /// One line per finding or repair; empty when all was well.
    pub lines: Vec<String>,
}

/// `.beads/runtime/deacon-patrol.json`: the patrols so far.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PatrolLog {
    /// Completed patrols (built-in runs and agent wisps started).
    pub cycle: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_patrol: Option<String>,
    /// `supervisor`, `agent` or `gt deacon patrol`.
    #[serde(default)]
    pub by: String,
    /// The latest result of each part.
    #[serde(default)]
    pub results: Vec<PartResult>,
}

fn log_file(town: &Town) -> PathBuf {
    town.runtime_dir().join("deacon-patrol.json")
}

pub fn load(town: &Town) -> Option<PatrolLog> {
    let text = std::fs::read_to_string(log_file(town)).ok()?;
    serde_json::from_str(&text).ok()
}

fn save(town: &Town, h: &PatrolLog) -> Result<(), RuntimeError> {
    let f = log_file(town);
    let io = |e: std::io::Error| RuntimeError::Io(format!("{}: {e}", f.display()));
    if let Some(d) = f.parent() {
        std::fs::create_dir_all(d).map_err(io)?;
    }
    let tmp = f.with_extension("json.tmp");
    let text = serde_json::to_string_pretty(h).unwrap_or_default() + "\n";
    std::fs::write(&tmp, text).map_err(io)?;
    std::fs::rename(&tmp, &f).map_err(io)
}

fn secs(v: Option<u64>, default: u64) -> i64 {
    v.unwrap_or(default).min(i64::MAX as u64) as i64
}

/// The town's `deacon.*` settings with their defaults: (patrol, stale
/// hook) seconds.
fn timings(town: &Town) -> (i64, i64) {
    let d = town
        .settings()
        .ok()
        .and_then(|s| s.deacon)
        .unwrap_or_default();
    (secs(d.patrol_secs, 300), secs(d.stale_hook_secs, 3600))
}

fn now_secs() -> i64 {
    ids::parse_secs(&ids::now()).unwrap_or(0)
}

fn age(ts: Option<&str>) -> Option<i64> {
    ts.and_then(ids::parse_secs).map(|t| now_secs() - t)
}

/// Is a patrol due (none yet, or the last one `patrol_secs` ago)?
fn due(town: &Town) -> bool {
    let (every, _) = timings(town);
    let last = load(town).and_then(|h| h.last_patrol);
    age(last.as_deref()).is_none_or(|a| a >= every)
}

fn lines_of(r: &doctor::Report) -> Vec<String> {
    r.findings
        .iter()
        .filter(|f| f.level != Level::Ok)
        .map(|f| match (&f.level, &f.fix) {
            (Level::Fixed, Some(fix)) => format!("{}: {} (repaired: {fix})", f.check, f.message),
            _ => format!("{}: {}", f.check, f.message),
        })
        .collect()
}

fn opts(dry_run: bool) -> Options {
    Options {
        fix: !dry_run,
        ..Default::default()
    }
}

/// Record a part's result in the heartbeat file and return it.
fn record(town: &Town, part: &str, dry_run: bool, lines: Vec<String>) -> PartResult {
    let r = PartResult {
        part: part.into(),
        at: ids::now(),
        dry_run,
        lines,
    };
    let mut h = load(town).unwrap_or_default();
    h.results.retain(|x| x.part != part);
    h.results.push(r.clone());
    h.results
        .sort_by_key(|x| PARTS.iter().position(|p| *p == x.part));
    let _ = save(town, &h);
    r
}

/// Where a dead or stale session is reported: its rig's witness, or the
/// Mayor for town-level roles.
fn witness_of(a: &AgentRow) -> String {
    if a.rig.is_empty() {
        "mayor/".into()
    } else {
        RoleRef {
            role: "witness".into(),
            rig: Some(a.rig.clone()),
            member: None,
        }
        .address()
    }
}

/// Does the built-in witness look after `a`'s dead session itself (it
/// runs: the supervisor is up, the rig's witness has no agent and is not
/// paused)? Town roles are watched by the supervisor's witness too.
fn witness_handles(town: &Town, a: &AgentRow) -> Result<bool, RuntimeError> {
    let rig = Some(a.rig.as_str()).filter(|r| !r.is_empty());
    if super::daemon::running(town).is_none() || roles::paused(town, "witness", rig) {
        return Ok(false);
    }
    let Some(rig) = rig else { return Ok(true) };
    let r = RoleRef {
        role: "witness".into(),
        rig: Some(rig.to_string()),
        member: None,
    };
    Ok(roles::assigned_agent(town, &r, None)?.is_none())
}

/// The scan's finding for `a` if its witness must hear of it: a zombie
/// (dead while working; not one being started, nor one the running
/// witness restarts) or a stalled session.
fn trouble(
    town: &Town,
    a: &AgentRow,
    line: &ScanLine,
) -> Result<Option<&'static str>, RuntimeError> {
    Ok(match line.finding.as_str() {
        "stalled" => Some("STALE_SESSION"),
        "zombie" if a.pid.is_none() || (a.owner_alive() && !a.owned_by_me()) => None,
        "zombie" if witness_handles(town, a)? => None,
        "zombie" => Some("DEAD_SESSION"),
        _ => None,
    })
}

/// The subject names the session (address and generation): one report each.
fn already_reported(store: &Store, subject: &str) -> Result<bool, RuntimeError> {
    let n: i64 = store
        .conn()
        .query_row(
            "SELECT count(*) FROM mail WHERE subject = ?1",
            [subject],
            |r| r.get(0),
        )
        .map_err(crate::store::StoreError::from)?;
    Ok(n > 0)
}

fn sweep_lines(what: &str, s: &Sweep) -> Vec<String> {
    s.found
        .iter()
        .map(|p| {
            format!(
                "{what} process {} ({}, `{}`) {}",
                p.pid,
                p.agent.as_deref().unwrap_or("?"),
                crate::coord::tail(&p.command, 80),
                if s.dry_run { "would be ended" } else { "ended" }
            )
        })
        .collect()
}

/// `gt deacon zombie-scan`: dead and stalled polecat sessions handed to
/// their witness; session leaders no agent holds any more ended.
pub fn zombie_scan(
    town: &Town,
    store: &mut Store,
    dry_run: bool,
) -> Result<PartResult, RuntimeError> {
    let mut lines = Vec::new();
    let dir = crate::coord::address::Directory::load(Some(town), store.conn())?;
    let rows = agents::list(store.conn())?;
    for line in patrol::scan(store, None)? {
        let Some(a) = rows.iter().find(|a| a.address() == line.address) else {
            continue;
        };
        let Some(kind) = trouble(town, a, &line)? else {
            continue;
        };
        let why = &line.detail;
        let to = witness_of(a);
        let subject = format!("{kind} {} gen {}", a.address(), a.generation);
        if already_reported(store, &subject)? {
            lines.push(format!("{}: {why} (already with {to})", a.address()));
            continue;
        }
        if dry_run {
            lines.push(format!("{}: {why} (would tell {to})", a.address()));
            continue;
        }
        crate::coord::mail::send(
            store,
            &dir,
            &crate::coord::mail::Outgoing {
                from: "deacon".into(),
                to: to.clone(),
                subject,
                body: format!(
                    "{}: {why}. The deacon does not stop sessions: restart it in place, nudge it, or escalate.",
                    a.address()
                ),
                kind: "notification".into(),
                about: Some((a.address(), Some(a.generation))),
                ..Default::default()
            },
        )?;
        lines.push(format!("{}: {why}; handed to {to}", a.address()));
    }
    let z = patrol::sweep(patrol::zombies(town, store)?, dry_run);
    lines.extend(sweep_lines("zombie", &z));
    Ok(record(town, "zombie-scan", dry_run, lines))
}

/// `gt deacon cleanup-orphans` as a patrol part: processes whose session
/// has ended.
pub fn cleanup_orphans(town: &Town, dry_run: bool) -> PartResult {
    let s = patrol::sweep(patrol::orphans(town), dry_run);
    record(
        town,
        "cleanup-orphans",
        dry_run,
        sweep_lines("orphaned", &s),
    )
}

/// `gt deacon stale-hooks`: release work hooked by dead holders whose lease
/// has been quiet for `max_age_secs` (default `deacon.stale_hook_secs`).
pub fn stale_hooks(
    town: &Town,
    store: &mut Store,
    max_age_secs: Option<i64>,
    dry_run: bool,
) -> Result<PartResult, RuntimeError> {
    let o = Options {
        min_hook_age_secs: max_age_secs.unwrap_or(timings(town).1),
        ..opts(dry_run)
    };
    let r = doctor::patrol::stale_hooks(store, &o)?;
    Ok(record(town, "stale-hooks", dry_run, lines_of(&r)))
}

/// `gt deacon housekeeping`: worktree registrations, convoys, wisps,
/// handoff requests.
pub fn housekeeping(
    town: &Town,
    store: &mut Store,
    dry_run: bool,
) -> Result<PartResult, RuntimeError> {
    let mut lines = lines_of(&doctor::patrol::tidy(store, town, &opts(dry_run))?);
    let all = agents::list(store.conn())?;
    let hooked: Vec<String> = all.iter().filter_map(|a| a.hooked_bead.clone()).collect();
    let gc = crate::molecule::wisp::gc_keeping(store, 24 * 3600, true, dry_run, &hooked)?;
    if !gc.deleted_molecules.is_empty() {
        lines.push(format!(
            "wisps: {} {} finished or idle wisp(s) ({} issues): {}",
            if dry_run {
                "would collect"
            } else {
                "collected"
            },
            gc.deleted_molecules.len(),
            gc.deleted_issues,
            gc.deleted_molecules.join(", ")
        ));
    }
    let stale = roles::stale_cycle_requests(town, &all);
    for f in &stale {
        if !dry_run {
            let _ = std::fs::remove_file(f);
        }
        lines.push(format!(
            "handoff: {} request {} for a session that has ended",
            if dry_run { "would drop" } else { "dropped" },
            f.display()
        ));
    }
    Ok(record(town, "housekeeping", dry_run, lines))
}

/// `gt deacon patrol`, and the built-in deacon's cycle: every part, then
/// the cycle recorded.
pub fn patrol(
    town: &Town,
    store: &mut Store,
    by: &str,
    dry_run: bool,
) -> Result<Vec<PartResult>, RuntimeError> {
    let out = vec![
        zombie_scan(town, store, dry_run)?,
        cleanup_orphans(town, dry_run),
        stale_hooks(town, store, None, dry_run)?,
        housekeeping(town, store, dry_run)?,
    ];
    if !dry_run {
        finish_cycle(town, by)?;
    }
    Ok(out)
}

fn finish_cycle(town: &Town, by: &str) -> Result<(), RuntimeError> {
    let mut h = load(town).unwrap_or_default();
    h.cycle += 1;
    h.last_patrol = Some(ids::now());
    h.by = by.into();
    save(town, &h)
}

/// Has the agent deacon closed every step of the wisp on its hook (or has
/// it none)?
fn wisp_done(store: &Store, a: &AgentRow) -> Result<bool, RuntimeError> {
    let Some(root) = &a.hooked_bead else {
        return Ok(true);
    };
    match crate::store::issues::subtree(store.conn(), root) {
        Ok(all) => Ok(all
            .iter()
            .filter(|i| &i.id != root)
            .all(|i| i.status == Status::Closed)),
        Err(crate::store::StoreError::NotFound { .. }) => Ok(true),
        Err(e) => Err(e.into()),
    }
}

/// The wisp an agent deacon's new session works: the one on its hook while
/// unfinished, else a fresh pour of [`PATROL_FORMULA`] (a new cycle; the
/// finished wisp is closed, for housekeeping to collect).
pub fn patrol_wisp(town: &Town, store: &mut Store) -> Result<String, RuntimeError> {
    if let Some(a) = agents::get(store.conn(), "", "deacon")? {
        match (&a.hooked_bead, wisp_done(store, &a)?) {
            (Some(root), false) => return Ok(root.clone()),
            (Some(root), true) => {
                let open = crate::store::issues::get(store.conn(), root)
                    .is_ok_and(|i| i.status != Status::Closed);
                if open {
                    store.write(|tx| tx.close(root, Some("patrol complete")))?;
                }
            }
            _ => {}
        }
    }
    let proto = crate::molecule::load_proto(PATROL_FORMULA, &town.root, &Default::default())?;
    let r = crate::molecule::wisp::wisp(store, &proto, &Default::default())?;
    finish_cycle(town, "agent")?;
    Ok(r.new_epic_id)
}

/// One supervisor tick for the deacon. Built-in: patrol when due. Agent:
/// when a patrol is due and the last wisp is done, cycle a live session
/// (its fresh session gets a fresh wisp) or start one that ended on its
/// own; a deacon the user stopped (`idle`) stays stopped.
pub fn tick(town: &Town, store: &mut Store) -> Vec<String> {
    if roles::paused(town, "deacon", None) || !due(town) {
        return Vec::new();
    }
    let r = RoleRef {
        role: "deacon".into(),
        rig: None,
        member: None,
    };
    let res = match roles::assigned_agent(town, &r, None) {
        Ok(None) => patrol(town, store, "supervisor", false).map(|parts| {
            parts
                .into_iter()
                .flat_map(|p| {
                    p.lines
                        .into_iter()
                        .map(move |l| format!("deacon {}: {l}", p.part))
                })
                .collect()
        }),
        Ok(Some(_)) => agent_tick(town, store, &r),
        Err(e) => Err(e),
    };
    res.unwrap_or_else(|e| vec![format!("deacon: {e}")])
}

fn agent_tick(town: &Town, store: &mut Store, r: &RoleRef) -> Result<Vec<String>, RuntimeError> {
    let Some(a) = agents::get(store.conn(), "", "deacon")? else {
        return Ok(Vec::new()); // never started: `gt deacon start`
    };
    if a.state == "idle" || !wisp_done(store, &a)? {
        return Ok(Vec::new());
    }
    if a.session_alive() {
        roles::request_cycle(town, &a)?;
        return Ok(vec![
            "deacon: patrol due; cycling its session for a fresh wisp".into(),
        ]);
    }
    if a.owner_alive() && !a.owned_by_me() {
        return Ok(Vec::new());
    }
    let s = roles::start(town, r, None)?;
    Ok(vec![format!(
        "deacon: patrol due; started a fresh session (pid {})",
        s.pid.unwrap_or(0)
    )])
}
