//! `gt crew add|list|start|at|stop|restart|status`: crew members are
//! standing agent sessions in their own worktree (`<rig>/crew/<name>`, on
//! branch `crew/<name>`), started through the same path as the Mayor's
//! (`runtime::roles`), on the town's tmux socket as `gt-<rig>-crew-<name>`.

use super::gt_roles::status_line;
use super::gt_town::{finish, print, town};
use crate::runtime::roles::{self, RoleRef, RoleStatus};
use crate::runtime::RuntimeError;
use crate::town::{rigs, Town};
use clap::{Args, Subcommand};

#[derive(Subcommand, Debug)]
pub enum CrewCommand {
    /// Give a person (or a named agent) a worktree of a rig on branch crew/<name>.
    Add {
        #[arg(required = true)]
        names: Vec<String>,
        /// The rig (default: the rig you stand in, or the only rig).
        #[arg(long)]
        rig: Option<String>,
    },
    /// Crew members and whether their sessions run.
    List {
        #[arg(long)]
        rig: Option<String>,
        /// Every rig.
        #[arg(long)]
        all: bool,
    },
    /// Start crew sessions: `gt crew start [RIG] [NAME...]` (a worktree is
    /// made when missing; no name: every crew member of the rig).
    #[command(alias = "spawn")]
    Start {
        /// RIG and/or NAMEs (`rig/name` works too).
        args: Vec<String>,
        /// Every crew member of the rig.
        #[arg(long)]
        all: bool,
        /// Run as this agent (overrides roles.crew.agent).
        #[arg(long)]
        agent: Option<String>,
    },
    /// Attach to a crew member's session, starting it first if needed
    /// (no name: the crew worktree you stand in).
    #[command(alias = "attach")]
    At {
        name: Option<String>,
        #[arg(long)]
        rig: Option<String>,
        #[arg(long)]
        agent: Option<String>,
        /// Start the session without attaching.
        #[arg(short, long)]
        detached: bool,
        /// Only print the worktree's path.
        #[arg(long)]
        no_tmux: bool,
    },
    /// Stop crew sessions (a rig alone: all its crew).
    Stop(Many),
    /// Stop, then start fresh.
    #[command(alias = "rs")]
    Restart(Many),
    /// Is each crew session running, and as what? (no name: every member)
    Status {
        name: Option<String>,
        #[arg(long)]
        rig: Option<String>,
    },
}

/// `[NAME...] [--rig R] [--all] [--dry-run]`.
#[derive(Args, Debug)]
pub struct Many {
    /// Crew members (`rig/name` works too); a rig alone means all its crew.
    names: Vec<String>,
    #[arg(long)]
    rig: Option<String>,
    /// Every crew session (of the rig with --rig).
    #[arg(long)]
    all: bool,
    /// Show what would be done.
    #[arg(long)]
    dry_run: bool,
}

fn cwd() -> Result<std::path::PathBuf, RuntimeError> {
    std::env::current_dir().map_err(|e| RuntimeError::Usage {
        message: format!("cannot read the current directory: {e}"),
        help: None,
    })
}

/// The rig a crew command means: `--rig`, else where you stand, else the
/// only rig.
fn rig_of(t: &Town, flag: Option<&str>) -> Result<String, RuntimeError> {
    let store = t.store()?;
    match flag {
        Some(r) => Ok(rigs::get(&store, r)?.name),
        None => Ok(rigs::current_or_ask(t, store.conn(), &cwd()?)?),
    }
}

/// `NAME` or `RIG/NAME` in `rig`.
fn member(t: &Town, rig: Option<&str>, name: &str) -> Result<RoleRef, RuntimeError> {
    match name.split_once('/') {
        Some((r, n)) => RoleRef::crew(t, r, n),
        None => RoleRef::crew(t, &rig_of(t, rig)?, name),
    }
}

/// What `start`/`stop`/`restart` act on: `[RIG] [NAME...]`, `--all` or a
/// lone rig meaning every member of it.
fn targets(
    t: &Town,
    rig: Option<&str>,
    args: &[String],
    all: bool,
) -> Result<Vec<RoleRef>, RuntimeError> {
    let rig_names = rigs::names(t.store()?.conn())?;
    let (rig, names): (Option<String>, &[String]) = match args.split_first() {
        Some((first, rest)) if rig_names.contains(first) && rig.is_none() => {
            let here = rig_of(t, None).ok();
            let is_member = here
                .as_deref()
                .is_some_and(|h| roles::crew_members(t, h).is_ok_and(|m| m.contains(first)));
            if rest.is_empty() && is_member {
                (here, args)
            } else {
                (Some(first.clone()), rest)
            }
        }
        _ => (rig.map(str::to_string), args),
    };
    if !names.is_empty() {
        return names.iter().map(|n| member(t, rig.as_deref(), n)).collect();
    }
    let rig = rig_of(t, rig.as_deref())?;
    if !all && args.is_empty() {
        return Err(RuntimeError::usage(
            "which crew member?",
            format!(
                "name one (crew of {rig}: {}), or pass --all",
                list_or_none(&roles::crew_members(t, &rig)?)
            ),
        ));
    }
    let members = roles::crew_members(t, &rig)?;
    if members.is_empty() {
        return Err(RuntimeError::usage(
            format!("rig `{rig}` has no crew"),
            "add one with `gt crew add NAME` (or `gt crew start NAME`)",
        ));
    }
    members.iter().map(|m| RoleRef::crew(t, &rig, m)).collect()
}

fn list_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "none yet".into()
    } else {
        v.join(", ")
    }
}

/// Every crew member of the rigs asked for.
fn everyone(t: &Town, rig: Option<&str>, all_rigs: bool) -> Result<Vec<RoleRef>, RuntimeError> {
    let rigs = if all_rigs || (rig.is_none() && rig_of(t, None).is_err()) {
        rigs::names(t.store()?.conn())?
    } else {
        vec![rig_of(t, rig)?]
    };
    let mut out = Vec::new();
    for r in rigs {
        for m in roles::crew_members(t, &r)? {
            out.push(RoleRef::crew(t, &r, &m)?);
        }
    }
    Ok(out)
}

fn lines(v: &[RoleStatus]) -> String {
    if v.is_empty() {
        return "(no crew; `gt crew add NAME`)".into();
    }
    v.iter().map(status_line).collect::<Vec<_>>().join("\n")
}

pub fn crew(c: &CrewCommand, json: bool) -> i32 {
    finish(run(c, json), json)
}

fn run(c: &CrewCommand, json: bool) -> Result<(), RuntimeError> {
    let t = town()?;
    match c {
        CrewCommand::Add { names, rig } => {
            let rig = rig_of(&t, rig.as_deref())?;
            let mut made = Vec::new();
            for name in names {
                let p = rigs::crew_add(&t, &rig, name)?;
                made.push(serde_json::json!({"crew": name, "rig": rig, "worktree": p}));
            }
            // One name prints one object (as before several could be given).
            let v = match made.as_slice() {
                [one] => one.clone(),
                _ => serde_json::Value::Array(made.clone()),
            };
            print(json, &v, || {
                made.iter()
                    .map(|m| {
                        format!(
                            "Crew {} has a worktree at {} on branch crew/{}",
                            m["crew"].as_str().unwrap_or_default(),
                            m["worktree"].as_str().unwrap_or_default(),
                            m["crew"].as_str().unwrap_or_default()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        CrewCommand::List { rig, all } => {
            let v = everyone(&t, rig.as_deref(), *all)?
                .iter()
                .map(|r| roles::status(&t, r, None))
                .collect::<Result<Vec<_>, _>>()?;
            print(json, &v, || lines(&v));
        }
        CrewCommand::Status { name, rig } => {
            let refs = match name {
                Some(n) => vec![member(&t, rig.as_deref(), n)?],
                None => everyone(&t, rig.as_deref(), false)?,
            };
            let v = refs
                .iter()
                .map(|r| roles::status(&t, r, None))
                .collect::<Result<Vec<_>, _>>()?;
            print(json, &v, || lines(&v));
        }
        CrewCommand::Start { args, all, agent } => {
            let mut out = Vec::new();
            for r in targets(&t, None, args, *all)? {
                let s = roles::status(&t, &r, agent.as_deref())?;
                out.push(if s.running {
                    s
                } else {
                    roles::start(&t, &r, agent.as_deref())?
                });
            }
            print(json, &out, || {
                format!("{}\n`gt crew at NAME` to talk to one", lines(&out))
            });
        }
        CrewCommand::Stop(Many {
            names,
            rig,
            all,
            dry_run,
        }) => {
            let refs = if *all && names.is_empty() {
                everyone(&t, rig.as_deref(), rig.is_none())?
            } else {
                targets(&t, rig.as_deref(), names, *all)?
            };
            let mut out = Vec::new();
            for r in refs {
                let running = roles::status(&t, &r, None)?.running;
                let stopped = if *dry_run || !running {
                    false
                } else {
                    roles::stop(&t, &r)?
                };
                out.push(serde_json::json!({
                    "crew": r.address(), "running": running, "stopped": stopped, "dry_run": dry_run
                }));
            }
            print(json, &out, || {
                out.iter()
                    .map(|o| {
                        let a = o["crew"].as_str().unwrap_or_default();
                        match (o["running"].as_bool(), o["stopped"].as_bool(), *dry_run) {
                            (Some(true), _, true) => format!("{a} would be stopped"),
                            (_, Some(true), _) => format!("{a} stopped"),
                            _ => format!("{a} was not running"),
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        CrewCommand::Restart(Many {
            names,
            rig,
            all,
            dry_run,
        }) => {
            let refs = targets(&t, rig.as_deref(), names, *all)?;
            if *dry_run {
                let v: Vec<String> = refs.iter().map(|r| r.address()).collect();
                print(json, &v, || format!("would restart: {}", v.join(", ")));
                return Ok(());
            }
            let out = refs
                .iter()
                .map(|r| roles::restart(&t, r, None))
                .collect::<Result<Vec<_>, _>>()?;
            print(json, &out, || lines(&out));
        }
        CrewCommand::At {
            name,
            rig,
            agent,
            detached,
            no_tmux,
        } => {
            let r = match name {
                Some(n) => member(&t, rig.as_deref(), n)?,
                None => here(&t)?,
            };
            if *no_tmux {
                let p = r.home(&t);
                print(json, &serde_json::json!({"worktree": p}), || {
                    p.display().to_string()
                });
                return Ok(());
            }
            if *detached {
                let s = roles::status(&t, &r, agent.as_deref())?;
                let s = if s.running {
                    s
                } else {
                    roles::start(&t, &r, agent.as_deref())?
                };
                print(json, &s, || status_line(&s));
                return Ok(());
            }
            super::gt_roles::print_attach(json, &r, roles::attach(&t, &r, agent.as_deref())?);
        }
    }
    Ok(())
}

/// The crew member whose worktree you stand in.
fn here(t: &Town) -> Result<RoleRef, RuntimeError> {
    let cwd = cwd()?;
    let root = t.root.canonicalize().unwrap_or_else(|_| t.root.clone());
    let here = cwd.canonicalize().unwrap_or(cwd);
    let parts: Vec<String> = here
        .strip_prefix(&root)
        .map(|p| p.iter().map(|s| s.to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    match parts.as_slice() {
        [rig, c, name, ..] if c == "crew" => RoleRef::crew(t, rig, name),
        _ => Err(RuntimeError::usage(
            "which crew member?",
            "name one (`gt crew at NAME`), or stand in <rig>/crew/<name>",
        )),
    }
}
