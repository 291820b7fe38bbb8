//! Town operations that formulas tell agents to run: `gt version`, `rigs`,
//! `escalate`, `polecat(s)`, `session`, `health`, `stop`, `info`,
//! `worktree`, and the Dolt-era `gt dolt` / `gt reaper`, answered for the
//! embedded store (one SQLite database per town, no server).

use super::bd::{CliError, CliResult, Ctx};
use super::bd_ops;
use super::gt_coord::{directory, finish, me};
use crate::coord::mail::{self, Outgoing};
use crate::runtime::{daemon, proc, RuntimeError};
use crate::store::agents::{self, AgentRow};
use crate::store::issues::{self, NewIssue};
use crate::store::{IssueType, Status, Store};
use crate::town::Town;
use clap::{Args, Subcommand};
use serde_json::json;

impl From<RuntimeError> for CliError {
    fn from(e: RuntimeError) -> Self {
        CliError {
            code: if e.is_usage() { 2 } else { 1 },
            help: e.help(),
            message: e.to_string(),
        }
    }
}

impl From<crate::town::TownError> for CliError {
    fn from(e: crate::town::TownError) -> Self {
        RuntimeError::from(e).into()
    }
}

fn town(ctx: &Ctx) -> CliResult<Town> {
    Ok(Town::find(&ctx.cwd()?)?)
}

fn run(json: bool, f: impl FnOnce(&Ctx) -> CliResult) -> i32 {
    let ctx = super::gt_coord::ctx(json);
    finish(json, f(&ctx))
}

pub fn version(json: bool) -> i32 {
    run(json, |ctx| {
        let v = json!({"name": "gt", "version": env!("CARGO_PKG_VERSION")});
        ctx.print(&v, || format!("gt version {}", env!("CARGO_PKG_VERSION")));
        Ok(())
    })
}

pub fn rigs(json: bool) -> i32 {
    run(json, |ctx| {
        let t = town(ctx)?;
        let store = t.store()?;
        let v = crate::town::rigs::list(&store)?;
        let names: Vec<serde_json::Value> = v
            .iter()
            .map(|r| json!({"name": r.name, "path": t.rig_dir(&r.name).display().to_string()}))
            .collect();
        ctx.print(&names, || {
            if v.is_empty() {
                return "No rigs yet: `gt rig add NAME URL|PATH`".into();
            }
            v.iter()
                .map(|r| r.name.clone())
                .collect::<Vec<_>>()
                .join("\n")
        });
        Ok(())
    })
}

#[derive(Args, Debug)]
pub struct InfoArgs {
    /// What changed in this version of gt.
    #[arg(long)]
    pub whats_new: bool,
}

pub fn info(a: &InfoArgs, json: bool) -> i32 {
    run(json, |ctx| {
        let version = env!("CARGO_PKG_VERSION");
        if a.whats_new {
            let v = json!({"version": version, "notes": []});
            ctx.print(&v, || {
                format!("gt {version}: no release notes are recorded for this build")
            });
            return Ok(());
        }
        let t = town(ctx)?;
        let v = json!({"version": version, "town": t.root.display().to_string(),
            "beads": t.beads_dir().display().to_string()});
        ctx.print(&v, || {
            format!(
                "gt {version}\ntown: {}\nledger: {}",
                t.root.display(),
                t.beads_dir().display()
            )
        });
        Ok(())
    })
}

#[derive(Args, Debug)]
pub struct EscalateArgs {
    /// What is wrong, in a line.
    #[arg(required = true)]
    pub topic: Vec<String>,
    /// critical, high, medium (default) or low.
    #[arg(short, long, default_value = "medium")]
    pub severity: String,
    /// Details.
    #[arg(short, long, default_value = "")]
    pub message: String,
}

fn severity_priority(s: &str) -> CliResult<(String, u8)> {
    let s = s.to_ascii_lowercase();
    let p = match s.as_str() {
        "critical" => 0,
        "high" => 1,
        "medium" => 2,
        "low" => 3,
        _ => {
            return Err(CliError::usage(
                format!("unknown severity `{s}`"),
                Some("use critical, high, medium or low".into()),
            ))
        }
    };
    Ok((s, p))
}

/// `gt escalate`: file an escalation bead and mail the mayor and the overseer.
pub fn escalate(a: &EscalateArgs, json: bool) -> i32 {
    run(json, |ctx| {
        let (sev, priority) = severity_priority(&a.severity)?;
        let topic = a.topic.join(" ");
        let t = town(ctx)?;
        let mut store = t.store()?;
        let from = me(&store, None)?;
        let issue = store.write(|tx| {
            tx.create(&NewIssue {
                title: format!("[{}] {topic}", sev.to_uppercase()),
                description: a.message.clone(),
                issue_type: IssueType::Bug,
                priority,
                labels: vec!["escalation".into(), format!("severity:{sev}")],
                metadata: Some(json!({"escalated_by": from})),
                ..Default::default()
            })
        })?;
        ctx.exported(&mut store)?;
        let dir = directory(ctx, &store)?;
        let mut sent = Vec::new();
        for to in ["mayor", "overseer"] {
            sent.extend(mail::send(
                &mut store,
                &dir,
                &Outgoing {
                    from: from.clone(),
                    to: to.into(),
                    subject: format!("ESCALATION [{}] {topic}", sev.to_uppercase()),
                    body: format!("{}\n\nbead: {}", a.message, issue.id),
                    kind: "escalation".into(),
                    ..Default::default()
                },
            )?);
        }
        let v = json!({"id": issue.id, "severity": sev, "mail": sent});
        ctx.print(&v, || {
            format!(
                "Escalated ({sev}): {} {topic}\n  mailed mayor and overseer",
                issue.id
            )
        });
        Ok(())
    })
}

/// An agent by address, name, or the `<rig>/<name>` polecat shorthand;
/// without one, the agent this session runs as.
fn agent_named(t: &Town, store: &Store, who: Option<&str>) -> CliResult<AgentRow> {
    match who {
        Some(w) => {
            let short = w
                .split_once('/')
                .filter(|(_, n)| !n.contains('/') && !n.is_empty())
                .map(|(r, n)| format!("{r}/polecats/{n}"));
            match daemon::find_agent(store, w) {
                Ok(a) => Ok(a),
                Err(e) => match short {
                    Some(s) => Ok(daemon::find_agent(store, &s).map_err(|_| e)?),
                    None => Err(e.into()),
                },
            }
        }
        None => {
            let cwd = std::env::current_dir()
                .map_err(|e| CliError::other(format!("cannot read the current directory: {e}")))?;
            Ok(crate::runtime::work::whoami(t, store, &cwd)?)
        }
    }
}

fn agent_json(a: &AgentRow) -> serde_json::Value {
    let alive = a.pid.is_some_and(|p| proc::alive(p, a.pid_start));
    json!({"address": a.address(), "name": a.name, "rig": a.rig, "role": a.role,
        "state": a.state, "running": alive, "pid": a.pid, "session": a.session,
        "generation": a.generation, "hook_bead": a.hooked_bead, "worktree": a.worktree,
        "branch": a.branch, "agent": a.agent, "updated_at": a.updated_at})
}

fn agent_line(a: &AgentRow) -> String {
    let alive = a.pid.is_some_and(|p| proc::alive(p, a.pid_start));
    format!(
        "{:<32} {:<9} {:<8} {}",
        a.address(),
        a.state,
        if alive { "running" } else { "stopped" },
        a.hooked_bead.as_deref().unwrap_or("-")
    )
}

#[derive(Args, Debug)]
pub struct PolecatsArgs {
    /// Only this rig's polecats.
    pub rig: Option<String>,
    /// Every rig (the default without RIG).
    #[arg(long)]
    pub all: bool,
    /// Show state and session (always shown; accepted for Gas Town).
    #[arg(long)]
    pub status: bool,
}

#[derive(Subcommand, Debug)]
pub enum PolecatCommand {
    /// The polecats of a rig (or of every rig).
    List(PolecatsArgs),
    /// One polecat: state, session, hook, worktree.
    Status { address: Option<String> },
    /// Stop a polecat's session and remove its worktree (refused while work
    /// is on its hook, unless --force).
    Nuke {
        /// Its address (default: this session's polecat).
        address: Option<String>,
        #[arg(long)]
        force: bool,
    },
}

pub fn polecats(a: &PolecatsArgs, json: bool) -> i32 {
    run(json, |ctx| {
        let t = town(ctx)?;
        let store = t.store()?;
        if let Some(r) = &a.rig {
            crate::town::rigs::get(&store, r)?;
        }
        let v: Vec<AgentRow> = agents::list(store.conn())?
            .into_iter()
            .filter(|x| x.role == "polecat" && a.rig.as_ref().is_none_or(|r| &x.rig == r))
            .collect();
        let out: Vec<_> = v.iter().map(agent_json).collect();
        ctx.print(&out, || {
            if v.is_empty() {
                return "No polecats".into();
            }
            v.iter().map(agent_line).collect::<Vec<_>>().join("\n")
        });
        Ok(())
    })
}

fn stop_session(t: &Town, a: &AgentRow) -> bool {
    let mut stopped = false;
    if let Some(s) = &a.session {
        if crate::runtime::session::tmux_available() {
            stopped |= crate::runtime::session::tmux(&crate::runtime::session::tmux_socket(
                &t.runtime_dir(),
            ))
            .args(["kill-session", "-t", s])
            .output()
            .is_ok_and(|o| o.status.success());
        }
    }
    if let Some(pid) = a.pid.filter(|p| proc::alive(*p, a.pid_start)) {
        proc::kill_group(pid, libc::SIGTERM);
        stopped = true;
    }
    stopped
}

pub fn polecat(c: &PolecatCommand, json: bool) -> i32 {
    match c {
        PolecatCommand::List(a) => polecats(a, json),
        PolecatCommand::Status { address } => run(json, |ctx| {
            let t = town(ctx)?;
            let store = t.store()?;
            let a = agent_named(&t, &store, address.as_deref())?;
            let v = agent_json(&a);
            ctx.print(&v, || agent_line(&a));
            Ok(())
        }),
        PolecatCommand::Nuke { address, force } => run(json, |ctx| {
            let t = town(ctx)?;
            let mut store = t.store()?;
            let a = agent_named(&t, &store, address.as_deref())?;
            if a.role != "polecat" {
                return Err(CliError::usage(
                    format!("{} is a {}, not a polecat", a.address(), a.role),
                    Some(
                        "only polecats are nuked; stop other agents with `gt session kill`".into(),
                    ),
                ));
            }
            if let Some(b) = &a.hooked_bead {
                let open = issues::get(store.conn(), b)?.status != Status::Closed;
                if open && !force {
                    return Err(CliError::other(format!(
                        "{} has {b} on its hook; nuking it would abandon that work (use --force to nuke anyway; the bead goes back to open)",
                        a.address()
                    )));
                }
            }
            let stopped = stop_session(&t, &a);
            if let Some(wt) = &a.worktree {
                let _ = std::process::Command::new("git")
                    .args(["worktree", "remove", "--force", wt])
                    .current_dir(t.rig_dir(&a.rig))
                    .output();
                let _ = std::fs::remove_dir_all(wt);
            }
            store.write(|tx| {
                if let Some(b) = &a.hooked_bead {
                    if issues::get(tx.conn(), b)?.status != Status::Closed {
                        tx.update(
                            b,
                            &issues::Update {
                                status: Some(Status::Open),
                                assignee: Some(None),
                                ..Default::default()
                            },
                        )?;
                    }
                }
                tx.agent_state(&a.rig, &a.name, "idle", true)
            })?;
            ctx.exported(&mut store)?;
            let v = json!({"address": a.address(), "nuked": true, "session_stopped": stopped});
            ctx.print(&v, || format!("Nuked {}", a.address()));
            Ok(())
        }),
    }
}

#[derive(Subcommand, Debug)]
pub enum SessionCommand {
    /// Sessions: running or not, pid, state (one agent, or all).
    Status { address: Option<String> },
    /// Stop an agent's session (its worktree and hook stay).
    Kill { address: String },
    /// Start an agent's session: a standing role (mayor, deacon, <rig>/witness,
    /// <rig>/refinery), or a polecat on the work already on its hook.
    Start {
        address: String,
        /// The agent to run a standing role as.
        #[arg(long)]
        agent: Option<String>,
    },
    /// Stop the session, then start it fresh (a new generation).
    Restart {
        address: String,
        #[arg(long)]
        agent: Option<String>,
    },
}

/// The standing role an address names, if it names one.
fn role_ref(t: &Town, address: &str) -> CliResult<Option<crate::runtime::roles::RoleRef>> {
    use crate::coord::address::Address;
    let (role, rig) = match Address::parse(address) {
        Some(Address::Mayor) => ("mayor", None),
        Some(Address::Deacon) => ("deacon", None),
        Some(Address::Witness(r)) => ("witness", Some(r)),
        Some(Address::Refinery(r)) => ("refinery", Some(r)),
        _ => return Ok(None),
    };
    Ok(Some(crate::runtime::roles::RoleRef::new(
        t,
        role,
        rig.as_deref(),
    )?))
}

fn session_start(
    t: &Town,
    address: &str,
    agent: Option<&str>,
    fresh: bool,
) -> CliResult<serde_json::Value> {
    use crate::runtime::roles;
    if let Some(r) = role_ref(t, address)? {
        let s = if fresh {
            roles::restart(t, &r, agent)?
        } else {
            roles::start(t, &r, agent)?
        };
        return Ok(
            json!({"address": s.address, "running": s.running, "mode": s.mode, "pid": s.pid}),
        );
    }
    let store = t.store()?;
    let a = agent_named(t, &store, Some(address))?;
    drop(store);
    let mut a = a;
    if fresh && stop_session(t, &a) {
        // The old session must be gone before the new generation starts.
        for _ in 0..200 {
            if !a.session_alive() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        a.pid = None;
    }
    let pid = crate::runtime::work::resume_polecat(t, &a)?;
    Ok(json!({"address": a.address(), "running": true, "mode": "agent", "pid": pid}))
}

pub fn session(c: &SessionCommand, json: bool) -> i32 {
    run(json, |ctx| {
        let t = town(ctx)?;
        let mut store = t.store()?;
        match c {
            SessionCommand::Status { address: None } => {
                let v = agents::list(store.conn())?;
                let out: Vec<_> = v.iter().map(agent_json).collect();
                ctx.print(&out, || {
                    v.iter().map(agent_line).collect::<Vec<_>>().join("\n")
                });
            }
            SessionCommand::Status { address: Some(w) } => {
                let a = agent_named(&t, &store, Some(w))?;
                let v = agent_json(&a);
                ctx.print(&v, || agent_line(&a));
            }
            SessionCommand::Start { address, agent }
            | SessionCommand::Restart { address, agent } => {
                let fresh = matches!(c, SessionCommand::Restart { .. });
                let v = session_start(&t, address, agent.as_deref(), fresh)?;
                ctx.print(&v, || {
                    format!(
                        "{} {} ({}{})",
                        v["address"].as_str().unwrap_or(address),
                        if fresh { "restarted" } else { "started" },
                        v["mode"].as_str().unwrap_or("?"),
                        v["pid"]
                            .as_i64()
                            .map(|p| format!(", pid {p}"))
                            .unwrap_or_default()
                    )
                });
            }
            SessionCommand::Kill { address } => {
                let a = agent_named(&t, &store, Some(address))?;
                let stopped = stop_session(&t, &a);
                if stopped {
                    store.write(|tx| tx.agent_state(&a.rig, &a.name, "idle", false))?;
                }
                let v = json!({"address": a.address(), "stopped": stopped});
                ctx.print(&v, || {
                    if stopped {
                        format!("Stopped the session of {}", a.address())
                    } else {
                        format!("{} has no running session (nothing to do)", a.address())
                    }
                });
            }
        }
        Ok(())
    })
}

/// `gt health`: supervisor, store, agents and the feed's problems.
pub fn health(json: bool) -> i32 {
    run(json, |ctx| {
        let t = town(ctx)?;
        let store = t.store()?;
        let checks = bd_ops::health(&store)?;
        let store_ok = checks.iter().all(|c| c.ok);
        let all = agents::list(store.conn())?;
        let alive = all
            .iter()
            .filter(|a| a.pid.is_some_and(|p| proc::alive(p, a.pid_start)))
            .count();
        let now = (crate::store::ids::now_nanos() / 1_000_000_000) as i64;
        let problems = crate::coord::feed::problems(
            store.conn(),
            now,
            crate::coord::feed::Thresholds::default(),
        )?;
        let supervisor = daemon::running(&t);
        let healthy = store_ok && problems.is_empty();
        let v = json!({"healthy": healthy, "supervisor": {"running": supervisor.is_some(), "pid": supervisor},
            "store": {"ok": store_ok, "checks": checks}, "agents": {"total": all.len(), "running": alive},
            "problems": problems});
        ctx.print(&v, || {
            format!(
                "{}\n  supervisor: {}\n  store: {}\n  agents: {} ({} running)\n  problems: {}",
                if healthy { "healthy" } else { "unhealthy" },
                supervisor.map_or("not running".into(), |p| format!("pid {p}")),
                if store_ok {
                    "ok"
                } else {
                    "problems (run `bd doctor`)"
                },
                all.len(),
                alive,
                problems.len()
            )
        });
        Ok(())
    })
}

#[derive(Args, Debug)]
pub struct StopArgs {
    /// Only this rig's sessions (default with --all: every rig).
    pub rig: Option<String>,
    /// Every rig, and the supervisor.
    #[arg(long)]
    pub all: bool,
    /// Keep worktrees (always: stop never deletes a sandbox).
    #[arg(long)]
    pub preserve_sandbox: bool,
}

/// `gt stop`: stop sessions (and with --all the supervisor); hooks and
/// worktrees stay, so the next start resumes the work.
pub fn stop(a: &StopArgs, json: bool) -> i32 {
    run(json, |ctx| {
        if a.rig.is_none() && !a.all {
            return Err(CliError::usage(
                "say what to stop",
                Some("`gt stop --all` (every rig and the supervisor) or `gt stop RIG`".into()),
            ));
        }
        let t = town(ctx)?;
        let mut store = t.store()?;
        let supervisor = if a.all { daemon::shutdown(&t)? } else { None };
        let mut stopped = Vec::new();
        for ag in agents::list(store.conn())? {
            if a.rig.as_ref().is_some_and(|r| &ag.rig != r) {
                continue;
            }
            if stop_session(&t, &ag) {
                store.write(|tx| tx.agent_state(&ag.rig, &ag.name, "idle", false))?;
                stopped.push(ag.address());
            }
        }
        let v = json!({"supervisor_stopped": supervisor, "sessions_stopped": stopped, "sandboxes_preserved": true});
        ctx.print(&v, || {
            format!(
                "Stopped {} session(s){}; worktrees and hooks are kept",
                stopped.len(),
                supervisor.map_or(String::new(), |p| format!(" and the supervisor (pid {p})"))
            )
        });
        Ok(())
    })
}

#[derive(Subcommand, Debug)]
pub enum WorktreeCommand {
    /// Agents' worktrees.
    List,
}

pub fn worktree(_c: &WorktreeCommand, json: bool) -> i32 {
    run(json, |ctx| {
        let t = town(ctx)?;
        let store = t.store()?;
        let v: Vec<_> = agents::list(store.conn())?
            .into_iter()
            .filter_map(|a| {
                let wt = a.worktree.clone()?;
                Some(json!({"address": a.address(), "path": wt, "branch": a.branch}))
            })
            .collect();
        ctx.print(&v, || {
            v.iter()
                .map(|w| {
                    format!(
                        "{}  {}",
                        w["path"].as_str().unwrap_or(""),
                        w["address"].as_str().unwrap_or("")
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        });
        Ok(())
    })
}

#[derive(Subcommand, Debug)]
pub enum DoltCommand {
    /// The town store: path, schema, health (there is no server).
    Status,
    /// Nothing to start: the store is embedded.
    Start,
    /// Nothing to stop: the store is embedded.
    Stop,
    /// Nothing to restart: the store is embedded.
    Restart,
    /// Orphan server databases: there are none (one SQLite file per town).
    Cleanup,
    /// Stray server processes: there are none.
    KillImposters,
}

pub fn dolt(c: &DoltCommand, json: bool) -> i32 {
    run(json, |ctx| {
        let t = town(ctx)?;
        let store = t.store()?;
        match c {
            DoltCommand::Status => bd_ops::store_status(ctx, &store),
            _ => {
                ctx.print(
                    &json!({"ok": true, "server": null, "message": bd_ops::NO_SERVER}),
                    || bd_ops::NO_SERVER.into(),
                );
                Ok(())
            }
        }
    })
}

#[derive(Args, Debug, Clone)]
pub struct ReaperOpts {
    /// The database: the town's store (its prefix) or a rig's name.
    #[arg(long)]
    pub db: Option<String>,
    /// Accepted for Gas Town; there is no server port.
    #[arg(long)]
    pub port: Option<String>,
    /// Wisps idle longer than this are reaped (default 24h).
    #[arg(long, default_value = "24h")]
    pub max_age: String,
    /// Closed wisps older than this are purged (default 7d).
    #[arg(long, default_value = "7d")]
    pub purge_age: String,
    /// Read mail older than this is purged (default 7d).
    #[arg(long, default_value = "7d")]
    pub mail_age: String,
    /// Open wisps untouched for this long are closed by auto-close (default 3d).
    #[arg(long, default_value = "3d")]
    pub stale_age: String,
    /// Report only.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Subcommand, Debug)]
pub enum ReaperCommand {
    /// Count what reap, purge and auto-close would touch.
    Scan(ReaperOpts),
    /// Delete wisps idle longer than --max-age.
    Reap(ReaperOpts),
    /// Delete closed wisps older than --purge-age and read mail older than --mail-age.
    Purge(ReaperOpts),
    /// Close open wisps untouched for --stale-age.
    AutoClose(ReaperOpts),
    /// The databases: the town's one store.
    Databases(ReaperOpts),
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ReaperArgs {
    #[command(subcommand)]
    pub cmd: Option<ReaperCommand>,
    #[command(flatten)]
    pub opts: ReaperOpts,
}

pub fn reaper(a: &ReaperArgs, json: bool) -> i32 {
    run(json, |ctx| {
        let t = town(ctx)?;
        let mut store = t.store()?;
        let (cmd, o) = match &a.cmd {
            None => ("scan", &a.opts),
            Some(ReaperCommand::Scan(o)) => ("scan", o),
            Some(ReaperCommand::Reap(o)) => ("reap", o),
            Some(ReaperCommand::Purge(o)) => ("purge", o),
            Some(ReaperCommand::AutoClose(o)) => ("auto-close", o),
            Some(ReaperCommand::Databases(o)) => ("databases", o),
        };
        if let Some(db) = &o.db {
            let rigs = crate::town::rigs::list(&store)?;
            if db != store.prefix() && !rigs.iter().any(|r| &r.name == db) {
                return Err(CliError::usage(
                    format!("unknown database `{db}`"),
                    Some(format!(
                        "the town keeps one store; name it `{}` or a rig",
                        store.prefix()
                    )),
                ));
            }
        }
        let v = bd_ops::reap(
            &mut store,
            cmd,
            &bd_ops::ReapAges {
                max_age: &o.max_age,
                purge_age: &o.purge_age,
                mail_age: &o.mail_age,
                stale_age: &o.stale_age,
                dry_run: o.dry_run,
            },
        )?;
        if !o.dry_run && cmd != "scan" && cmd != "databases" {
            ctx.exported(&mut store)?;
        }
        ctx.print(&v, || {
            v.as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, x)| format!("{k}: {x}"))
                        .collect::<Vec<_>>()
                        .join("\n")
                })
                .unwrap_or_default()
        });
        Ok(())
    })
}
