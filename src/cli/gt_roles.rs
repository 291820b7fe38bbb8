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
    /// Is it running, and as what? (witness/refinery with no rig: every rig)
    Status(StatusArgs),
}

#[derive(Args, Debug, Clone)]
pub struct StatusArgs {
    #[command(flatten)]
    pub role: RoleArgs,
    /// Print only `true` or `false`.
    #[arg(long)]
    pub running: bool,
}

#[derive(Args, Debug, Clone)]
pub struct RoleArgs {
    /// Run the role as this agent (overrides roles.<role>.agent).
    #[arg(long)]
    pub agent: Option<String>,
    /// The rig (witness and refinery run per rig; default: the only rig).
    #[arg(long)]
    pub rig: Option<String>,
    /// The rig, positionally (`gt witness start gastown`).
    #[arg(value_name = "RIG", conflicts_with = "rig")]
    pub rig_name: Option<String>,
}

impl RoleArgs {
    pub fn rig(&self) -> Option<&str> {
        self.rig.as_deref().or(self.rig_name.as_deref())
    }
}

pub fn status_line(s: &RoleStatus) -> String {
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
    if let Some(h) = &s.heartbeat {
        line += &format!(
            "\nheartbeat: {} ({} s ago){}",
            h.at,
            h.age_secs,
            Some(&h.action)
                .filter(|a| !a.is_empty())
                .map(|a| format!(": {a}"))
                .unwrap_or_default()
        );
    }
    if s.role == "deacon" {
        line += &patrol_lines(s.patrol.as_ref());
    }
    line
}

fn patrol_lines(h: Option<&crate::runtime::deacon::PatrolLog>) -> String {
    let Some(h) = h else {
        return "\nno patrol yet".into();
    };
    let mut out = match &h.last_patrol {
        Some(at) => format!("\nlast patrol: {at} (cycle {}, by {})", h.cycle, h.by),
        None => "\nno patrol yet".into(),
    };
    for p in &h.results {
        out += &part_lines(p);
    }
    out
}

/// What `gt ROLE attach` and `gt crew at` print (nothing once attached).
pub fn print_attach(json: bool, r: &RoleRef, a: Attach) {
    match a {
        Attach::Tmux => {}
        Attach::Log(text) => print(json, &serde_json::json!({"tail": text}), || {
            format!("({} runs headless; its log follows)\n{text}", r.address())
        }),
        Attach::NoTerminal { attach, pane } => print(
            json,
            &serde_json::json!({"attach": attach, "pane": pane}),
            || no_terminal(&r.address(), &attach, &pane),
        ),
        Attach::BuiltIn(s) => print(json, &s, || {
            format!(
                "{}\n(built-in: nothing to attach to; `gt feed` shows what it does)",
                status_line(&s)
            )
        }),
    }
}

/// What `attach` says where there is no terminal to attach from.
fn no_terminal(address: &str, attach: &str, pane: &str) -> String {
    format!(
        "{address} runs in tmux; this is not a terminal to attach from. From a terminal: `{attach}`{}",
        if pane.trim().is_empty() {
            String::new()
        } else {
            format!("\n--- its pane now ---\n{}", pane.trim_end())
        }
    )
}

pub fn part_lines(p: &crate::runtime::deacon::PartResult) -> String {
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

pub fn role(role: &str, c: &RoleCommand, json: bool) -> i32 {
    finish(
        (|| {
            let t = town()?;
            let a = match c {
                RoleCommand::Start(a)
                | RoleCommand::Attach(a)
                | RoleCommand::Stop(a)
                | RoleCommand::Restart(a) => a,
                RoleCommand::Status(s) => return statuses(&t, role, s, json),
            };
            let r = RoleRef::new(&t, role, a.rig())?;
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
                RoleCommand::Status(_) => unreachable!("handled above"),
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
                RoleCommand::Attach(_) => print_attach(json, &r, roles::attach(&t, &r, flag)?),
            }
            Ok::<(), RuntimeError>(())
        })(),
        json,
    )
}

/// `gt ROLE status`: one rig's (or the town's) role, or with no rig given
/// and several rigs, each rig's.
fn statuses(
    t: &crate::town::Town,
    role: &str,
    a: &StatusArgs,
    json: bool,
) -> Result<(), RuntimeError> {
    let per_rig = matches!(role, "witness" | "refinery") && a.role.rig().is_none();
    let rigs = if per_rig {
        crate::town::rigs::names(t.store()?.conn())?
    } else {
        Vec::new()
    };
    let refs = if rigs.len() > 1 {
        rigs.iter()
            .map(|r| RoleRef::new(t, role, Some(r)))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        vec![RoleRef::new(t, role, a.role.rig())?]
    };
    let mut all = Vec::new();
    for r in &refs {
        all.push(roles::status(t, r, a.role.agent.as_deref())?);
    }
    if a.running {
        let up = all.iter().all(|s| s.running);
        print(json, &serde_json::json!({"running": up}), || up.to_string());
    } else if let [one] = all.as_slice() {
        print(json, one, || status_line(one));
    } else {
        print(json, &all, || {
            all.iter().map(status_line).collect::<Vec<_>>().join("\n")
        });
    }
    Ok(())
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
    /// Merge into this branch instead of the rig's merge target.
    #[arg(long, value_name = "BRANCH")]
    pub target: Option<String>,
    /// You ran the gates on a branch rebased onto the target: the refinery
    /// skips them when the merge is a fast-forward.
    #[arg(long)]
    pub pre_verified: bool,
    /// Push the branch for review instead of queueing a merge (the overseer is told).
    #[arg(long, conflicts_with_all = ["target", "pre_verified"])]
    pub no_merge: bool,
    /// Your worktree's state as you leave it: clean, uncommitted, stash, unpushed, unknown.
    #[arg(long, value_name = "STATE")]
    pub cleanup_status: Option<String>,
    /// This phase is done and the next waits on a gate: commit, hand the
    /// bead back open (its remaining steps stay blocked until the gate closes).
    #[arg(long, conflicts_with_all = ["no_merge", "target"])]
    pub phase_complete: bool,
    /// The gate the next phase waits on (with --phase-complete).
    #[arg(long, requires = "phase_complete")]
    pub gate: Option<String>,
}

pub fn done(a: &DoneArgs, json: bool) -> i32 {
    finish(
        (|| {
            let mut status: DoneStatus = a.status.parse()?;
            let t = town()?;
            if status == DoneStatus::Completed && !a.phase_complete {
                let opts = work::DoneOptions {
                    target: a.target.clone(),
                    pre_verified: a.pre_verified,
                    cleanup_status: a.cleanup_status.clone(),
                    no_merge: a.no_merge,
                };
                let r = work::done(&t, &cwd()?, &opts)?;
                print(json, &r, || {
                    let at = format!("{} at {}", r.branch, &r.head_sha[..r.head_sha.len().min(8)]);
                    match &r.merge_request {
                        Some(mr) => format!("Done with {}: {at} is ready to merge ({mr})", r.bead),
                        None => {
                            format!("Done with {}: {at} pushed for review (not merged)", r.bead)
                        }
                    }
                });
                return Ok(());
            }
            let mut store = t.store()?;
            let me = identity::whoami_row(&t, &store, &cwd()?)?;
            let mut message = a.message.clone();
            if a.phase_complete {
                status = DoneStatus::Deferred;
                work::commit_hooked_work(&me)?;
                message = match &a.gate {
                    Some(g) => {
                        format!("phase complete; the next phase waits on gate {g}. {message}")
                    }
                    None => format!("phase complete; the next phase waits on its gate. {message}"),
                };
            }
            let r = fin::hand_back(&mut store, &me, status, message.trim())?;
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
