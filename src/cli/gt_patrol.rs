//! The patrol commands: `gt deacon heartbeat|health-check|redispatch|
//! cleanup-orphans|zombie-scan|patrol|stale-hooks|housekeeping` (besides
//! the role's start/stop/status; the patrol itself is `runtime::deacon`),
//! `gt refinery ready`, `gt patrol scan|report|digest`.

use super::gt_roles::{role, RoleCommand};
use super::gt_town::{finish, print, town};
use crate::runtime::deacon;
use crate::runtime::patrol::{self, ScanLine, Sweep};
use crate::runtime::RuntimeError;
use clap::{Args, Subcommand};
use serde::Serialize;
use std::time::Duration;

fn cwd() -> Result<std::path::PathBuf, RuntimeError> {
    std::env::current_dir()
        .map_err(|e| RuntimeError::Io(format!("cannot read the current directory: {e}")))
}

#[derive(Subcommand, Debug)]
pub enum DeaconCommand {
    #[command(flatten)]
    Role(RoleCommand),
    /// Record that the deacon is alive (and what it is doing).
    Heartbeat {
        /// What this cycle is doing.
        action: Option<String>,
    },
    /// Nudge an agent with HEALTH_CHECK and wait for a sign of life; exit 2
    /// when its consecutive failures reach --failures (kill it).
    HealthCheck {
        agent: String,
        /// Seconds to wait for the answer.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
        #[arg(long, default_value_t = 3)]
        failures: u32,
    },
    /// Give a bead whose polecat died to a fresh polecat.
    Redispatch {
        bead: String,
        /// The rig (default: the one it was last slung to, else the current rig).
        #[arg(long)]
        rig: Option<String>,
    },
    /// Kill processes left behind by this town's ended sessions.
    CleanupOrphans {
        #[arg(long)]
        dry_run: bool,
    },
    /// Hand dead and stalled polecat sessions to their witness; end
    /// session leaders no agent holds as its current session (superseded
    /// generations).
    ZombieScan {
        #[arg(long)]
        dry_run: bool,
    },
    /// Run one whole patrol now (zombie-scan, cleanup-orphans, stale-hooks,
    /// housekeeping), as the built-in deacon does every deacon.patrol_secs.
    Patrol {
        /// Report what would be done, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Release work hooked by dead holders whose lease has been quiet this long.
    StaleHooks {
        /// e.g. 30m, 1h (default: deacon.stale_hook_secs, else 1h; 0: at once).
        #[arg(long)]
        max_age: Option<String>,
        #[arg(long)]
        dry_run: bool,
    },
    /// Prune orphaned worktree registrations, land finished convoys,
    /// collect finished wisps, drop stale handoff requests.
    Housekeeping {
        #[arg(long)]
        dry_run: bool,
    },
}

fn max_age(a: Option<&str>) -> Result<Option<i64>, RuntimeError> {
    Ok(match a {
        // Zero is no timeout but a fine age: release at once.
        Some("0" | "0s") => Some(0),
        Some(a) => Some(
            crate::formula::expr::duration::parse_duration(a).map_err(|e| {
                RuntimeError::usage(format!("--max-age `{a}`: {e}"), "e.g. 30m, 1h, 2d")
            })? as i64,
        ),
        None => None,
    })
}

fn print_parts(json: bool, parts: &[crate::runtime::deacon::PartResult]) {
    print(json, &parts, || {
        parts
            .iter()
            .map(super::gt_roles::part_lines)
            .collect::<String>()
            .trim_start()
            .to_string()
    });
}

fn sweep_text(what: &str, s: &Sweep) -> String {
    if s.found.is_empty() {
        return format!("no {what} processes");
    }
    let mut out = format!(
        "{} {what} process(es){}",
        s.found.len(),
        if s.dry_run {
            " (dry run: nothing killed)".to_string()
        } else {
            format!(", {} killed", s.killed)
        }
    );
    for p in &s.found {
        out += &format!(
            "\n  pid {:<7} {}  {}",
            p.pid,
            p.agent.as_deref().unwrap_or("?"),
            p.command
        );
    }
    out
}

pub fn deacon(c: &DeaconCommand, json: bool) -> i32 {
    if let DeaconCommand::Role(r) = c {
        return role("deacon", r, json);
    }
    let mut force_kill = false;
    let code = finish(
        (|| {
            let t = town()?;
            let store = || -> Result<crate::store::Store, RuntimeError> {
                let mut s = t.store()?;
                s.set_actor("deacon");
                Ok(s)
            };
            match c {
                DeaconCommand::Role(_) => unreachable!("handled above"),
                DeaconCommand::Heartbeat { action } => {
                    let hb = patrol::beat(&t, "deacon", action.as_deref().unwrap_or(""))?;
                    print(json, &hb, || format!("deacon heartbeat at {}", hb.at));
                }
                DeaconCommand::HealthCheck {
                    agent,
                    timeout,
                    failures,
                } => {
                    let h =
                        patrol::health_check(&t, agent, Duration::from_secs(*timeout), *failures)?;
                    force_kill = h.force_kill;
                    print(json, &h, || {
                        format!(
                            "{}: {} ({} consecutive failure(s)){}",
                            h.agent,
                            h.detail,
                            h.consecutive_failures,
                            if h.force_kill {
                                "; force-kill it: `gt session restart`"
                            } else {
                                ""
                            }
                        )
                    });
                }
                DeaconCommand::Redispatch { bead, rig } => {
                    let r = patrol::redispatch(&t, bead, rig.as_deref(), &cwd()?)?;
                    print(json, &r, || {
                        format!("{} re-dispatched to {} ({})", r.bead, r.address, r.worktree)
                    });
                }
                DeaconCommand::CleanupOrphans { dry_run } => {
                    let s = patrol::sweep(patrol::orphans(&t), *dry_run);
                    print(json, &s, || sweep_text("orphaned", &s));
                }
                DeaconCommand::ZombieScan { dry_run } => {
                    let p = deacon::zombie_scan(&t, &mut store()?, *dry_run)?;
                    print_parts(json, &[p]);
                }
                DeaconCommand::Patrol { dry_run } => {
                    let p = deacon::patrol(&t, &mut store()?, "gt deacon patrol", *dry_run)?;
                    print_parts(json, &p);
                }
                DeaconCommand::StaleHooks {
                    max_age: a,
                    dry_run,
                } => {
                    let secs = max_age(a.as_deref())?;
                    let p = deacon::stale_hooks(&t, &mut store()?, secs, *dry_run)?;
                    print_parts(json, &[p]);
                }
                DeaconCommand::Housekeeping { dry_run } => {
                    let p = deacon::housekeeping(&t, &mut store()?, *dry_run)?;
                    print_parts(json, &[p]);
                }
            }
            Ok(())
        })(),
        json,
    );
    if code == 0 && force_kill {
        2
    } else {
        code
    }
}

#[derive(Subcommand, Debug)]
pub enum RefineryCommand {
    #[command(flatten)]
    Role(RoleCommand),
    /// Merge requests ready to merge (queued, unclaimed); --all: every open
    /// one with its claim, age and whether its branch still exists.
    Ready {
        rig: Option<String>,
        #[arg(long)]
        all: bool,
    },
}

/// One merge request as `gt refinery ready --json` shows it (Gas Town's
/// field names, which patrol formulas read).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ReadyMr {
    #[serde(rename = "ID")]
    id: String,
    rig: String,
    branch: String,
    bead: String,
    status: String,
    assignee: String,
    created_at: String,
    updated_at: String,
    branch_exists_local: bool,
    branch_exists_remote: bool,
}

fn ready_mrs(
    t: &crate::town::Town,
    rig: Option<&str>,
    all: bool,
) -> Result<Vec<ReadyMr>, RuntimeError> {
    let store = t.store()?;
    let mut out = Vec::new();
    for m in crate::coord::mq::list(store.conn(), rig, false)? {
        if !all && (m.status != "open" || m.assignee.is_some()) {
            continue;
        }
        let issue = crate::store::issues::get(store.conn(), &m.id)?;
        let repo = crate::town::rigs::get(&store, &m.rig)
            .ok()
            .and_then(|r| crate::town::rigs::open_repo(&r).ok());
        let has = |name: String| {
            repo.as_ref()
                .is_some_and(|r| r.refname_to_id(&name).is_ok())
        };
        out.push(ReadyMr {
            branch_exists_local: has(format!("refs/heads/{}", m.branch)),
            branch_exists_remote: has(crate::town::git::tracking_ref(&m.branch)),
            id: m.id,
            rig: m.rig,
            branch: m.branch,
            bead: m.bead,
            status: m.status,
            assignee: m.assignee.unwrap_or_default(),
            created_at: m.created_at,
            updated_at: issue.updated_at,
        });
    }
    Ok(out)
}

pub fn refinery(c: &RefineryCommand, json: bool) -> i32 {
    let RefineryCommand::Ready { rig, all } = c else {
        let RefineryCommand::Role(r) = c else {
            unreachable!("two variants")
        };
        return role("refinery", r, json);
    };
    finish(
        (|| {
            let t = town()?;
            if let Some(r) = rig {
                crate::town::rigs::get(&t.store()?, r)?;
            }
            let v = ready_mrs(&t, rig.as_deref(), *all)?;
            print(json, &v, || {
                if v.is_empty() {
                    return "(no merge requests ready)".into();
                }
                v.iter()
                    .map(|m| {
                        format!(
                            "{}  {:<11} {:<10} {}  {}{}",
                            m.id,
                            m.status,
                            m.rig,
                            m.branch,
                            if m.assignee.is_empty() {
                                "unclaimed".into()
                            } else {
                                format!("claimed by {}", m.assignee)
                            },
                            if m.branch_exists_local || m.branch_exists_remote {
                                ""
                            } else {
                                "  [branch gone]"
                            }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            Ok(())
        })(),
        json,
    )
}

#[derive(Subcommand, Debug)]
pub enum PatrolCommand {
    /// The polecats of a rig: zombies (work on the hook, no session),
    /// stalls (silent sessions), completions (closed work still hooked).
    Scan(ScanArgs),
    /// Close this patrol cycle: record its summary and step audit, and
    /// close your hooked patrol wisp when its steps are done.
    Report {
        #[arg(long)]
        summary: String,
        /// step:STATUS pairs, comma-separated (heartbeat:OK,inbox-check:OK).
        #[arg(long)]
        steps: Option<String>,
    },
    /// One digest bead of a day's patrol reports.
    Digest {
        /// Yesterday (UTC), the usual patrol run.
        #[arg(long, conflicts_with = "date")]
        yesterday: bool,
        /// A day, YYYY-MM-DD (default: today, UTC).
        #[arg(long)]
        date: Option<String>,
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Args, Debug)]
pub struct ScanArgs {
    /// The rig (default: GT_RIG, the rig you stand in, or every rig).
    #[arg(long)]
    rig: Option<String>,
    /// Mail the rig's witness and the mayor when zombies hold work.
    #[arg(long)]
    notify: bool,
}

fn scan_text(v: &[ScanLine]) -> String {
    if v.is_empty() {
        return "(no polecats)".into();
    }
    v.iter()
        .map(|l| {
            format!(
                "{:<9} {:<28} {}",
                l.finding.to_uppercase(),
                l.address,
                l.detail
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn scan(t: &crate::town::Town, a: &ScanArgs, json: bool) -> Result<(), RuntimeError> {
    let mut store = t.store()?;
    let rig = match &a.rig {
        Some(r) => Some(crate::town::rigs::get(&store, r)?.name),
        None => crate::town::rigs::current(t, store.conn(), &cwd()?)?,
    };
    let v = patrol::scan(&store, rig.as_deref())?;
    let zombies: Vec<&ScanLine> = v.iter().filter(|l| l.finding == "zombie").collect();
    let mut notified = Vec::new();
    if a.notify && !zombies.is_empty() {
        let dir = crate::coord::address::Directory::load(Some(t), store.conn())?;
        let body = zombies
            .iter()
            .map(|l| format!("{}: {}", l.address, l.detail))
            .collect::<Vec<_>>()
            .join("\n");
        let mut to: Vec<String> = zombies
            .iter()
            .filter_map(|l| l.address.split('/').next().map(|r| format!("{r}/witness")))
            .collect();
        to.push("mayor".into());
        to.dedup();
        let from = crate::coord::mail::identity(store.actor());
        for addr in to {
            crate::coord::mail::send(
                &mut store,
                &dir,
                &crate::coord::mail::Outgoing {
                    from: from.clone(),
                    to: addr.clone(),
                    subject: format!(
                        "ZOMBIES: {} polecat(s) hold work with no session",
                        zombies.len()
                    ),
                    body: body.clone(),
                    kind: "escalation".into(),
                    ..Default::default()
                },
            )?;
            notified.push(addr);
        }
    }
    let out = serde_json::json!({"rig": rig, "polecats": v, "zombies": zombies.len(), "notified": notified});
    print(json, &out, || {
        let mut s = scan_text(&v);
        if !notified.is_empty() {
            s += &format!("\nnotified: {}", notified.join(", "));
        }
        s
    });
    Ok(())
}

pub fn run(c: &PatrolCommand, json: bool) -> i32 {
    finish(
        (|| {
            let t = town()?;
            match c {
                PatrolCommand::Scan(a) => scan(&t, a, json)?,
                PatrolCommand::Report { summary, steps } => {
                    let mut store = t.store()?;
                    let me = crate::runtime::identity::whoami(&t, &store, &cwd()?)?;
                    let hooked = me.row.as_ref().and_then(|r| r.hooked_bead.clone());
                    let reporter = me.mail_address();
                    let (r, closed) = patrol::report(
                        &mut store,
                        &reporter,
                        hooked.as_deref(),
                        summary,
                        steps.as_deref(),
                    )?;
                    let v = serde_json::json!({"report": r.id, "closed_patrol": closed});
                    print(json, &v, || {
                        let mut s = format!("patrol report {} recorded for {reporter}", r.id);
                        if let Some(p) = &closed {
                            s += &format!("; patrol wisp {p} closed");
                        }
                        s
                    });
                }
                PatrolCommand::Digest {
                    yesterday,
                    date,
                    dry_run,
                } => {
                    let day = match date {
                        Some(d) => {
                            let ok = d.len() == 10
                                && d.chars().enumerate().all(|(i, c)| {
                                    if i == 4 || i == 7 {
                                        c == '-'
                                    } else {
                                        c.is_ascii_digit()
                                    }
                                });
                            if !ok {
                                return Err(RuntimeError::usage(
                                    format!("`{d}` is not a date"),
                                    "use YYYY-MM-DD, e.g. --date 2026-01-31",
                                ));
                            }
                            d.clone()
                        }
                        None => patrol::day(*yesterday),
                    };
                    let d = patrol::digest(&mut t.store()?, &day, *dry_run)?;
                    print(json, &d, || {
                        let mut s = format!("{} patrol report(s) on {}", d.reports, d.date);
                        for (who, n) in &d.by_reporter {
                            s += &format!("\n  {who}: {n}");
                        }
                        match (&d.digest, d.dry_run) {
                            (Some(id), _) => s += &format!("\ndigest: {id}"),
                            (None, true) => s += "\n(dry run: no digest created)",
                            (None, false) => s += "\n(nothing to digest)",
                        }
                        s
                    });
                }
            }
            Ok(())
        })(),
        json,
    )
}
