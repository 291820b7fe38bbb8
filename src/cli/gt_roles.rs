//! `gt mayor|witness|refinery|deacon start|attach|stop|restart|status`,
//! `gt prime [--hook]`, `gt done [--status]`, `gt heartbeat [--hook]`.

use super::gt_town::{finish, print, town};
use crate::runtime::finish::{self as fin, DoneStatus};
use crate::runtime::roles::{self, Attach, RoleRef, RoleStatus};
use crate::runtime::{identity, work, RuntimeError};
use clap::{Args, Subcommand};

#[derive(Subcommand, Debug)]
pub enum RoleCommand {
    /// Start the role (its agent session, or the supervisor's built-in code).
    Start(RoleArgs),
    /// Attach to the role's tmux session, starting it first if needed.
    Attach(RoleArgs),
    /// Stop the role's session (a built-in role is paused).
    Stop(RoleArgs),
    /// Stop, then start fresh.
    Restart(RoleArgs),
    /// Is it running, and as what?
    Status(RoleArgs),
}

/// `gt deacon`: the role commands plus the patrol's parts, which the
/// built-in deacon runs on its own and an agent deacon's wisp steps call.
#[derive(Subcommand, Debug)]
pub enum DeaconCommand {
    #[command(flatten)]
    Role(RoleCommand),
    /// Run one whole patrol now (zombie-scan, stale-hooks, housekeeping).
    Patrol {
        /// Report what would be done, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Hand dead and stale sessions to their witness; end processes that
    /// outlived their session.
    ZombieScan {
        #[arg(long)]
        dry_run: bool,
    },
    /// Release work hooked by dead holders whose lease has been quiet this long.
    StaleHooks {
        /// e.g. 30m, 1h (default: deacon.stale_hook_secs, else 1h).
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
    /// Record that the deacon is alive (and what it is doing).
    Heartbeat { action: Option<String> },
}

#[derive(Args, Debug, Clone)]
pub struct RoleArgs {
    /// Run the role as this agent (overrides roles.<role>.agent).
    #[arg(long)]
    pub agent: Option<String>,
    /// The rig (witness and refinery run per rig; default: the only rig).
    #[arg(long)]
    pub rig: Option<String>,
}

fn status_line(s: &RoleStatus) -> String {
    let what = match (&s.agent, s.running) {
        (Some(a), true) => format!(
            "running as agent `{a}` (pid {}{})",
            s.pid.unwrap_or(0),
            s.session
                .as_ref()
                .map(|x| format!(", tmux session {x}"))
                .unwrap_or_default()
        ),
        (Some(a), false) => format!(
            "not running (agent `{a}`; state {})",
            s.state.as_deref().unwrap_or("never started")
        ),
        (None, true) => "running as supervisor code (`gt daemon run`)".into(),
        (None, false) => {
            "not running (supervisor code; `gt start` or this command's `start`)".into()
        }
    };
    let mut line = format!("{}: {what}", s.address);
    if let Some(h) = &s.patrol {
        line += &patrol_lines(h);
    }
    line
}

fn patrol_lines(h: &crate::runtime::deacon::Heartbeat) -> String {
    let mut out = match &h.last_patrol {
        Some(at) => format!("\nlast patrol: {at} (cycle {}, by {})", h.cycle, h.by),
        None => "\nno patrol yet".into(),
    };
    if let Some(at) = &h.heartbeat {
        out += &format!(
            "\nheartbeat: {at}{}",
            h.action
                .as_ref()
                .map(|a| format!(" ({a})"))
                .unwrap_or_default()
        );
    }
    for p in &h.results {
        out += &part_lines(p);
    }
    out
}

fn part_lines(p: &crate::runtime::deacon::PartResult) -> String {
    let mut out = format!(
        "\n  {} at {}{}: {}",
        p.part,
        p.at,
        if p.dry_run { " (dry run)" } else { "" },
        if p.lines.is_empty() {
            "all well".to_string()
        } else {
            format!("{} finding(s)", p.lines.len())
        }
    );
    for l in &p.lines {
        out += &format!("\n    - {l}");
    }
    out
}

pub fn deacon(c: &DeaconCommand, json: bool) -> i32 {
    use crate::runtime::deacon as d;
    if let DeaconCommand::Role(r) = c {
        return role("deacon", r, json);
    }
    finish(
        (|| {
            let t = town()?;
            let mut store = t.store()?;
            store.set_actor("deacon");
            let parts = match c {
                DeaconCommand::Patrol { dry_run } => {
                    d::patrol(&t, &mut store, "gt deacon patrol", *dry_run)?
                }
                DeaconCommand::ZombieScan { dry_run } => {
                    vec![d::zombie_scan(&t, &mut store, *dry_run)?]
                }
                DeaconCommand::StaleHooks { max_age, dry_run } => {
                    let secs = match max_age.as_deref() {
                        // Zero is no timeout but a fine age: release at once.
                        Some("0" | "0s") => Some(0),
                        Some(a) => Some(crate::formula::expr::duration::parse_duration(a).map_err(
                            |e| {
                                RuntimeError::usage(
                                    format!("--max-age `{a}`: {e}"),
                                    "e.g. 30m, 1h, 2d",
                                )
                            },
                        )? as i64),
                        None => None,
                    };
                    vec![d::stale_hooks(&t, &mut store, secs, *dry_run)?]
                }
                DeaconCommand::Housekeeping { dry_run } => {
                    vec![d::housekeeping(&t, &mut store, *dry_run)?]
                }
                DeaconCommand::Heartbeat { action } => {
                    let h = d::heartbeat(&t, action.as_deref())?;
                    print(json, &h, || {
                        format!(
                            "deacon heartbeat {}",
                            h.heartbeat.clone().unwrap_or_default()
                        )
                    });
                    return Ok(());
                }
                DeaconCommand::Role(_) => Vec::new(), // handled above
            };
            print(json, &parts, || {
                parts
                    .iter()
                    .map(part_lines)
                    .collect::<String>()
                    .trim_start()
                    .to_string()
            });
            Ok(())
        })(),
        json,
    )
}

pub fn role(role: &str, c: &RoleCommand, json: bool) -> i32 {
    finish(
        (|| {
            let t = town()?;
            let a = match c {
                RoleCommand::Start(a)
                | RoleCommand::Attach(a)
                | RoleCommand::Stop(a)
                | RoleCommand::Restart(a)
                | RoleCommand::Status(a) => a,
            };
            let r = RoleRef::new(&t, role, a.rig.as_deref())?;
            let flag = a.agent.as_deref();
            match c {
                RoleCommand::Start(_) => {
                    let s = roles::start(&t, &r, flag)?;
                    print(json, &s, || {
                        let mut line = status_line(&s);
                        if s.session.is_some() {
                            line += &format!("\n`gt {role} attach` to talk to it");
                        }
                        line
                    });
                }
                RoleCommand::Restart(_) => {
                    let s = roles::restart(&t, &r, flag)?;
                    print(json, &s, || status_line(&s));
                }
                RoleCommand::Status(_) => {
                    let s = roles::status(&t, &r, flag)?;
                    print(json, &s, || status_line(&s));
                }
                RoleCommand::Stop(_) => {
                    let was = roles::stop(&t, &r)?;
                    print(json, &serde_json::json!({"stopped": was}), || {
                        if was {
                            format!("{} stopped", r.address())
                        } else {
                            format!("{} was not running", r.address())
                        }
                    });
                }
                RoleCommand::Attach(_) => match roles::attach(&t, &r, flag)? {
                    Attach::Tmux => {}
                    Attach::Log(text) => print(json, &serde_json::json!({"tail": text}), || {
                        format!("({} runs headless; its log follows)\n{text}", r.address())
                    }),
                    Attach::BuiltIn(s) => {
                        print(json, &s, || {
                            format!("{}\n(built-in: nothing to attach to; `gt feed` shows what it does)", status_line(&s))
                        })
                    }
                },
            }
            Ok::<(), RuntimeError>(())
        })(),
        json,
    )
}

#[derive(Args, Debug)]
pub struct PrimeArgs {
    /// Run as a Claude Code hook (SessionStart, PreCompact): read the hook's
    /// JSON on stdin and never fail the session.
    #[arg(long)]
    pub hook: bool,
}

fn cwd() -> Result<std::path::PathBuf, RuntimeError> {
    std::env::current_dir()
        .map_err(|e| RuntimeError::Io(format!("cannot read the current directory: {e}")))
}

fn drain_stdin() {
    use std::io::Read;
    let mut sink = Vec::new();
    let _ = std::io::stdin().take(1 << 20).read_to_end(&mut sink);
}

pub fn prime(a: &PrimeArgs, json: bool) -> i32 {
    if a.hook {
        drain_stdin();
        match town().and_then(|t| crate::runtime::prime::prime(&t, &cwd()?)) {
            Ok(text) => print!("{text}"),
            Err(e) => println!("[GAS TOWN] gt prime: {e}"),
        }
        return 0;
    }
    finish(
        (|| {
            let text = crate::runtime::prime::prime(&town()?, &cwd()?)?;
            print(json, &serde_json::json!({"prime": text}), || text.clone());
            Ok(())
        })(),
        json,
    )
}

#[derive(Args, Debug)]
pub struct DoneArgs {
    /// How the work ends: COMPLETED (default: every step closed, the branch
    /// goes to the merge queue), DEFERRED (handed back open), ESCALATED
    /// (blocked; the mayor is told).
    #[arg(long, default_value = "COMPLETED")]
    pub status: String,
    /// Why (for DEFERRED and ESCALATED).
    #[arg(short, long, default_value = "")]
    pub message: String,
}

pub fn done(a: &DoneArgs, json: bool) -> i32 {
    finish(
        (|| {
            let status: DoneStatus = a.status.parse()?;
            let t = town()?;
            if status == DoneStatus::Completed {
                let r = work::done(&t, &cwd()?)?;
                print(json, &r, || {
                    format!(
                        "Done with {}: {} at {} is ready to merge ({})",
                        r.bead,
                        r.branch,
                        &r.head_sha[..r.head_sha.len().min(8)],
                        r.merge_request
                    )
                });
                return Ok(());
            }
            let mut store = t.store()?;
            let me = identity::whoami_row(&t, &store, &cwd()?)?;
            let r = fin::hand_back(&mut store, &me, status, &a.message)?;
            print(json, &r, || {
                format!(
                    "{} handed back as {:?}: it is {} now",
                    r.bead, r.status, r.bead_status
                )
            });
            Ok(())
        })(),
        json,
    )
}

#[derive(Args, Debug)]
pub struct HeartbeatArgs {
    /// Run as a Claude Code `Stop` hook: never fail the session.
    #[arg(long)]
    pub hook: bool,
}

pub fn heartbeat(a: &HeartbeatArgs, json: bool) -> i32 {
    if a.hook {
        drain_stdin();
        if std::env::var("GT_LEASE").is_ok_and(|l| !l.is_empty()) {
            if let Err(e) = cwd().and_then(|c| work::heartbeat(&c)) {
                eprintln!("gt heartbeat: {e}");
            }
        }
        return 0;
    }
    finish(
        (|| {
            let l = work::heartbeat(&cwd()?)?;
            print(json, &serde_json::json!({"lease": l}), || {
                format!("heartbeat {l}")
            });
            Ok(())
        })(),
        json,
    )
}

/// `gt start`: the supervisor, then the Mayor. A Mayor that cannot start
/// (its CLI missing, say) is reported with its fix; the supervisor stays up.
pub fn town_start(json: bool) -> i32 {
    finish(
        (|| {
            let t = town()?;
            let sup = match crate::runtime::daemon::running(&t) {
                Some(p) => format!("Supervisor already running (pid {p})"),
                None => {
                    let p = crate::runtime::daemon::start(&t)?;
                    format!(
                        "Supervisor started (pid {p}); log: {}",
                        crate::runtime::daemon::logfile(&t).display()
                    )
                }
            };
            let r = RoleRef::new(&t, "mayor", None)?;
            let mayor = match roles::status(&t, &r, None)? {
                s if s.running => Ok(s),
                _ => roles::start(&t, &r, None),
            };
            let v = match &mayor {
                Ok(s) => serde_json::json!({"supervisor": sup, "mayor": s}),
                Err(e) => {
                    serde_json::json!({"supervisor": sup, "mayor_error": e.to_string(), "help": e.help()})
                }
            };
            print(json, &v, || match &mayor {
                Ok(s) => format!(
                    "{sup}\n{}\n`gt mayor attach` to talk to the Mayor",
                    status_line(s)
                ),
                Err(e) => format!(
                    "{sup}\nThe Mayor did not start: {e}{}",
                    e.help()
                        .map(|h| format!("\n  help: {h}"))
                        .unwrap_or_default()
                ),
            });
            Ok(())
        })(),
        json,
    )
}
