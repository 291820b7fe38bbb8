//! What the patrol roles (deacon, witness) do by command: the heartbeat,
//! the polecat scan (zombies, stalls, completions), process hygiene
//! (orphans and zombies of this town's sessions), health checks,
//! re-dispatching recovered work, and the patrol reports with their daily
//! digest. Formulas such as `mol-deacon-patrol` tell an agent to run them;
//! each works the same run by hand.

use super::work::{self, SlingRequest, SlingResult};
use super::RuntimeError;
use crate::proc::{self, SessionProcess};
use crate::store::agents::{self, AgentRow};
use crate::store::issues::{self, IssueFilter, NewIssue};
use crate::store::{ids, leases, Issue, IssueType, Status, Store, Update};
use crate::town::{rigs, Town};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn io(p: &Path, e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Io(format!("{}: {e}", p.display()))
}

fn write_json(p: &Path, v: &impl Serialize) -> Result<(), RuntimeError> {
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d).map_err(|e| io(d, e))?;
    }
    let text = serde_json::to_string_pretty(v).map_err(|e| io(p, e))?;
    std::fs::write(p, text).map_err(|e| io(p, e))
}

fn read_json<T: for<'de> Deserialize<'de>>(p: &Path) -> Option<T> {
    serde_json::from_slice(&std::fs::read(p).ok()?).ok()
}

// --- heartbeat -------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Heartbeat {
    pub role: String,
    pub at: String,
    pub action: String,
    /// Seconds since the beat (filled in when read).
    #[serde(default)]
    pub age_secs: i64,
    /// Younger than five minutes.
    #[serde(default)]
    pub fresh: bool,
}

fn heartbeat_file(town: &Town, role: &str) -> PathBuf {
    town.runtime_dir()
        .join("heartbeats")
        .join(format!("{role}.json"))
}

/// Record that `role` is alive and what it is doing.
pub fn beat(town: &Town, role: &str, action: &str) -> Result<Heartbeat, RuntimeError> {
    let hb = Heartbeat {
        role: role.into(),
        at: ids::now(),
        action: action.into(),
        age_secs: 0,
        fresh: true,
    };
    write_json(&heartbeat_file(town, role), &hb)?;
    Ok(hb)
}

/// The last heartbeat of `role`, with its age.
pub fn last_beat(town: &Town, role: &str) -> Option<Heartbeat> {
    let mut hb: Heartbeat = read_json(&heartbeat_file(town, role))?;
    let now = ids::parse_secs(&ids::now()).unwrap_or(0);
    hb.age_secs = (now - ids::parse_secs(&hb.at).unwrap_or(now)).max(0);
    hb.fresh = hb.age_secs < 300;
    Some(hb)
}

// --- process hygiene -------------------------------------------------------

#[derive(Debug, Serialize)]
pub struct Sweep {
    pub found: Vec<SessionProcess>,
    pub killed: usize,
    pub dry_run: bool,
}

/// Processes of this town's sessions whose session leader is gone (left
/// behind by a session that ended: subagents, tools).
pub fn orphans(town: &Town) -> Vec<SessionProcess> {
    proc::town_session_processes(&town.root)
        .into_iter()
        .filter(|p| p.pid != p.pgid && !proc::alive(p.pgid, None))
        .collect()
}

/// Session leaders of this town that no agent row holds as its current
/// session (a superseded generation, a session whose agent was reset).
/// A session being started (its agent at that generation, no pid recorded
/// yet), the supervisor, and a tmux server (started from inside a session
/// it carries that session's variables, and every session runs in it) are
/// never zombies.
pub fn zombies(town: &Town, store: &Store) -> Result<Vec<SessionProcess>, RuntimeError> {
    let all = agents::list(store.conn())?;
    let current: Vec<i64> = all
        .iter()
        .filter(|a| a.session_alive())
        .filter_map(|a| a.pid)
        .collect();
    let starting = |p: &SessionProcess| {
        all.iter().any(|a| {
            Some(a.address()) == p.agent && Some(a.generation) == p.generation && a.pid.is_none()
        })
    };
    let me = proc::me().0;
    let supervisor = super::daemon::running(town);
    Ok(proc::town_session_processes(&town.root)
        .into_iter()
        .filter(|p| {
            p.pid == p.pgid
                && p.pid != me
                && Some(p.pid) != supervisor
                && !p.command.starts_with("tmux")
                && !current.contains(&p.pgid)
                && !starting(p)
        })
        .collect())
}

/// Kill what was found (SIGTERM; a zombie leader with its group).
pub fn sweep(found: Vec<SessionProcess>, dry_run: bool) -> Sweep {
    let mut killed = 0;
    if !dry_run {
        for p in &found {
            if p.pid == p.pgid {
                proc::kill_group(p.pid, libc::SIGTERM);
            } else {
                unsafe {
                    libc::kill(p.pid as i32, libc::SIGTERM);
                }
            }
            killed += 1;
        }
    }
    Sweep {
        found,
        killed,
        dry_run,
    }
}

// --- polecat scan ----------------------------------------------------------

#[derive(Debug, Serialize)]
pub struct ScanLine {
    pub address: String,
    pub state: String,
    pub alive: bool,
    pub bead: Option<String>,
    /// zombie, stalled, completed, working or idle.
    pub finding: String,
    pub detail: String,
}

/// A session that has not refreshed its lease for this long is stalled.
pub const STALL_SECS: i64 = 30 * 60;

/// The polecats of `rig` (every rig: `None`), each judged.
pub fn scan(store: &Store, rig: Option<&str>) -> Result<Vec<ScanLine>, RuntimeError> {
    let now = ids::parse_secs(&ids::now()).unwrap_or(0);
    let mut out = Vec::new();
    for a in agents::list(store.conn())? {
        if a.role != "polecat" || rig.is_some_and(|r| r != a.rig) {
            continue;
        }
        let alive = a.session_alive();
        let bead = match &a.hooked_bead {
            Some(b) => Some(issues::get(store.conn(), b)?),
            None => None,
        };
        let lease = match &a.hooked_bead {
            Some(b) => leases::get(store.conn(), b)?,
            None => None,
        };
        let quiet = lease
            .as_ref()
            .and_then(|l| l.heartbeat_at.as_deref().or(l.leased_at.as_deref()))
            .and_then(ids::parse_secs)
            .map(|t| now - t);
        let (finding, detail) = match (&bead, alive) {
            (Some(b), _) if b.status == Status::Closed => (
                "completed",
                format!("{} is closed; the hook can be cleared", b.id),
            ),
            (Some(b), false) if matches!(a.state.as_str(), "working" | "spawning") => (
                "zombie",
                format!(
                    "no live session, but {} is on its hook ({})",
                    b.id, b.status
                ),
            ),
            (Some(b), true) if quiet.is_some_and(|q| q > STALL_SECS) => (
                "stalled",
                format!(
                    "working on {} but silent for {} min",
                    b.id,
                    quiet.unwrap_or(0) / 60
                ),
            ),
            (Some(b), _) => ("working", format!("{} ({})", b.id, b.status)),
            (None, _) => ("idle", "nothing on its hook".into()),
        };
        out.push(ScanLine {
            address: a.address(),
            state: a.state.clone(),
            alive,
            bead: a.hooked_bead.clone(),
            finding: finding.into(),
            detail,
        });
    }
    Ok(out)
}

// --- health check ----------------------------------------------------------

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct HealthState {
    pub consecutive_failures: u32,
    pub last_check: String,
    pub last_response: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct HealthCheck {
    pub agent: String,
    pub responded: bool,
    pub consecutive_failures: u32,
    /// Failures reached the limit: the agent should be killed and restarted.
    pub force_kill: bool,
    pub detail: String,
}

fn health_file(town: &Town, addr: &str) -> PathBuf {
    let name = addr.trim_end_matches('/').replace('/', "-");
    town.runtime_dir()
        .join("health")
        .join(format!("{name}.json"))
}

/// Activity marks of an agent: its row and its lease.
fn activity(store: &Store, a: &AgentRow) -> Result<(String, Option<String>), RuntimeError> {
    let row = agents::get(store.conn(), &a.rig, &a.name)?
        .map(|r| r.updated_at)
        .unwrap_or_default();
    let lease = match &a.hooked_bead {
        Some(b) => leases::get(store.conn(), b)?.and_then(|l| l.heartbeat_at),
        None => None,
    };
    Ok((row, lease))
}

/// `gt deacon health-check AGENT`: nudge it with HEALTH_CHECK and wait up
/// to `timeout` for a sign of life (its agent row or lease refreshed). A
/// dead session fails at once. `failures` consecutive failures recommend a
/// force-kill.
pub fn health_check(
    town: &Town,
    who: &str,
    timeout: Duration,
    failures: u32,
) -> Result<HealthCheck, RuntimeError> {
    let mut store = town.store()?;
    let a = super::daemon::find_agent(&store, who)?;
    let addr = a.address();
    let file = health_file(town, &addr);
    let mut st: HealthState = read_json(&file).unwrap_or_default();
    let (responded, detail) = if !a.session_alive() {
        (false, "its session is not running".to_string())
    } else {
        let before = activity(&store, &a)?;
        let dir = crate::coord::address::Directory::load(Some(town), store.conn())?;
        let target = crate::coord::mail::identity(&addr);
        crate::coord::nudge::send(
            &mut store,
            &dir,
            &target,
            "deacon",
            "HEALTH_CHECK: show you are alive (run `gt heartbeat` or `gt hook`)",
            None,
        )?;
        let t0 = Instant::now();
        let mut moved = false;
        while t0.elapsed() < timeout {
            if activity(&store, &a)? != before {
                moved = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        if moved {
            (true, "it answered".to_string())
        } else {
            (false, format!("no activity within {} s", timeout.as_secs()))
        }
    };
    st.last_check = ids::now();
    if responded {
        st.consecutive_failures = 0;
        st.last_response = Some(st.last_check.clone());
    } else {
        st.consecutive_failures += 1;
    }
    write_json(&file, &st)?;
    Ok(HealthCheck {
        agent: addr,
        responded,
        consecutive_failures: st.consecutive_failures,
        force_kill: st.consecutive_failures >= failures.max(1),
        detail,
    })
}

// --- re-dispatch -----------------------------------------------------------

/// The rig `bead` was last slung to, from the event log.
fn last_rig(store: &Store, bead: &str) -> Result<Option<String>, RuntimeError> {
    use rusqlite::OptionalExtension;
    let payload: Option<String> = store
        .conn()
        .query_row(
            "SELECT payload FROM events WHERE issue_id = ?1 AND kind = 'sling' ORDER BY id DESC LIMIT 1",
            [bead],
            |r| r.get(0),
        )
        .optional()
        .map_err(crate::store::StoreError::from)?;
    Ok(
        match crate::store::events::typed("sling", payload.as_deref(), None) {
            Some(crate::store::events::TownEvent::Sling { rig, .. }) => Some(rig),
            _ => None,
        },
    )
}

/// `gt deacon redispatch BEAD`: give a bead whose polecat died to a fresh
/// polecat: its dead hook is released, then it is slung to `rig` (default:
/// the rig it was last slung to, else the current rig).
pub fn redispatch(
    town: &Town,
    bead: &str,
    rig: Option<&str>,
    cwd: &Path,
) -> Result<SlingResult, RuntimeError> {
    let mut store = town.store()?;
    let id = issues::resolve(store.conn(), store.prefix(), bead)?;
    if let Some(a) = agents::hooked_on(store.conn(), &id)? {
        if a.session_alive() {
            return Err(RuntimeError::usage(
                format!("{id} is on {}'s hook and its session is alive", a.address()),
                "nothing to re-dispatch; `gt deacon health-check` it if it seems stuck",
            ));
        }
        let lease = leases::get(store.conn(), &id)?;
        let why = format!("re-dispatched: {} is dead", a.address());
        store.write(|tx| -> Result<(), RuntimeError> {
            if let Some(l) = &lease {
                tx.release_lease(&id, l.generation, &why)?;
            }
            tx.update(
                &id,
                &Update {
                    status: Some(Status::Open),
                    assignee: Some(None),
                    ..Default::default()
                },
            )?;
            tx.agent_state(&a.rig, &a.name, "idle", true)?;
            Ok(())
        })?;
    }
    let rig = match rig {
        Some(r) => r.to_string(),
        None => match last_rig(&store, &id)? {
            Some(r) => r,
            None => rigs::current_or_ask(town, store.conn(), cwd)?,
        },
    };
    drop(store);
    work::sling(
        town,
        &SlingRequest {
            target: id,
            rig,
            agent: None,
            vars: BTreeMap::new(),
            cwd: cwd.to_path_buf(),
            no_start: false,
            polecat: None,
        },
    )
}

// --- patrol reports and digests --------------------------------------------

pub const REPORT_LABEL: &str = "patrol-report";

/// `gt patrol report`: record this patrol cycle (a closed event wisp with
/// the summary and the step audit), and close the reporter's hooked patrol
/// wisp when all of its steps are done.
pub fn report(
    store: &mut Store,
    reporter: &str,
    hooked: Option<&str>,
    summary: &str,
    steps: Option<&str>,
) -> Result<(Issue, Option<String>), RuntimeError> {
    if summary.trim().is_empty() {
        return Err(RuntimeError::usage(
            "the patrol summary is empty",
            "say what this cycle saw: --summary \"...\"",
        ));
    }
    let mut description = summary.trim().to_string();
    let mut audit = serde_json::Map::new();
    if let Some(s) = steps {
        description += "\n\nSteps:";
        for pair in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (step, status) = pair.split_once(':').unwrap_or((pair, "?"));
            description += &format!("\n- {step}: {status}");
            audit.insert(step.into(), status.into());
        }
    }
    let closed_patrol = match hooked {
        Some(h) => {
            let i = issues::get(store.conn(), h)?;
            let open = super::finish::open_steps(store, h)?;
            (i.ephemeral && i.status != Status::Closed && open.is_empty()).then_some(i.id)
        }
        None => None,
    };
    let r = store.write(|tx| -> Result<Issue, RuntimeError> {
        let i = tx.create(&NewIssue {
            title: format!("Patrol report: {reporter}"),
            description: description.clone(),
            issue_type: IssueType::Event,
            labels: vec![REPORT_LABEL.into()],
            metadata: Some(serde_json::json!({"reporter": reporter, "steps": audit})),
            ephemeral: true,
            ..Default::default()
        })?;
        tx.close(&i.id, Some("reported"))?;
        if let Some(p) = &closed_patrol {
            tx.close(p, Some("patrol cycle reported"))?;
        }
        Ok(issues::get(tx.conn(), &i.id)?)
    })?;
    Ok((r, closed_patrol))
}

#[derive(Debug, Serialize)]
pub struct Digest {
    pub date: String,
    pub reports: usize,
    pub by_reporter: BTreeMap<String, usize>,
    pub summaries: Vec<String>,
    /// The digest bead (none on a dry run or with no reports).
    pub digest: Option<String>,
    pub dry_run: bool,
}

/// `gt patrol digest`: the day's patrol reports (`date` is YYYY-MM-DD, UTC)
/// in one closed `digest` bead.
pub fn digest(store: &mut Store, date: &str, dry_run: bool) -> Result<Digest, RuntimeError> {
    let f = IssueFilter {
        labels: vec![REPORT_LABEL.into()],
        include_ephemeral: true,
        ..Default::default()
    };
    let day: Vec<Issue> = issues::list(store.conn(), &f)?
        .into_iter()
        .filter(|i| i.created_at.starts_with(date))
        .collect();
    let mut by_reporter = BTreeMap::new();
    let mut summaries = Vec::new();
    for i in &day {
        let who = i
            .metadata
            .get("reporter")
            .and_then(|v| v.as_str())
            .unwrap_or("?")
            .to_string();
        *by_reporter.entry(who.clone()).or_insert(0) += 1;
        let first = i.description.lines().next().unwrap_or("").to_string();
        summaries.push(format!(
            "{} {who}: {first}",
            &i.created_at[..i.created_at.len().min(16)]
        ));
    }
    let mut d = Digest {
        date: date.into(),
        reports: day.len(),
        by_reporter,
        summaries,
        digest: None,
        dry_run,
    };
    if dry_run || day.is_empty() {
        return Ok(d);
    }
    let mut body = format!("{} patrol cycle(s) on {date}.\n", d.reports);
    for (who, n) in &d.by_reporter {
        body += &format!("\n- {who}: {n}");
    }
    body += "\n\nCycles:";
    for s in &d.summaries {
        body += &format!("\n- {s}");
    }
    let id = store.write(|tx| -> Result<String, RuntimeError> {
        let i = tx.create(&NewIssue {
            title: format!("Patrol digest: {date}"),
            description: body.clone(),
            issue_type: IssueType::Digest,
            labels: vec!["digest".into(), "patrol".into()],
            ..Default::default()
        })?;
        tx.close(&i.id, Some("digest"))?;
        Ok(i.id)
    })?;
    d.digest = Some(id);
    Ok(d)
}

/// `YYYY-MM-DD` of today or yesterday (UTC).
pub fn day(yesterday: bool) -> String {
    let now = ids::parse_secs(&ids::now()).unwrap_or(0) - if yesterday { 86_400 } else { 0 };
    let t = ids::format_micros(now * 1_000_000);
    t[..10].to_string()
}
