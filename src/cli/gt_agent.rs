//! `gt agent state` (agent beads' operational state) and `gt warrant`.

use super::gt_town::{finish, print, town};
use crate::coord::agent_state::{self, Change};
use crate::runtime::{warrant, RuntimeError};
use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum AgentCommand {
    /// Get or set an agent bead's state (`key:value` labels); the bead is
    /// created on first use from its id (<prefix>-deacon, <prefix>-<rig>-witness, ...).
    State {
        agent_bead: String,
        /// Set KEY=VALUE (repeatable).
        #[arg(long, value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Add one to a numeric KEY.
        #[arg(long, value_name = "KEY")]
        incr: Option<String>,
        /// Remove KEY (repeatable).
        #[arg(long, value_name = "KEY")]
        del: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum WarrantCommand {
    /// File a death warrant for a stuck agent.
    File {
        target: String,
        #[arg(short, long)]
        reason: Option<String>,
        /// Read the reason from stdin.
        #[arg(long, conflicts_with = "reason")]
        stdin: bool,
    },
    /// Open warrants (--all: executed ones too).
    List {
        #[arg(short, long)]
        all: bool,
    },
    /// Kill the agent's session and close its warrant.
    Execute {
        target: String,
        /// Without a warrant.
        #[arg(short, long)]
        force: bool,
    },
}

pub fn agent(c: &AgentCommand, json: bool) -> i32 {
    let AgentCommand::State {
        agent_bead,
        set,
        incr,
        del,
    } = c;
    finish(
        (|| {
            let t = town()?;
            let mut store = t.store()?;
            let rigs = crate::town::rigs::names(store.conn())?;
            let mut change = Change {
                incr: incr.clone(),
                del: del.clone(),
                ..Default::default()
            };
            for kv in set {
                let (k, v) = kv.split_once('=').ok_or_else(|| {
                    RuntimeError::usage(format!("`{kv}` is not KEY=VALUE"), "e.g. --set idle=0")
                })?;
                change
                    .set
                    .push((k.trim().to_string(), v.trim().to_string()));
            }
            let bead = agent_state::agent_bead(&mut store, &rigs, agent_bead)?;
            let s = agent_state::apply(&mut store, &bead.id, &change)?;
            print(json, &s, || {
                if s.state.is_empty() {
                    format!("{}: (no state)", s.id)
                } else {
                    let kv: Vec<String> = s.state.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    format!("{}: {}", s.id, kv.join(" "))
                }
            });
            Ok(())
        })(),
        json,
    )
}

pub fn warrant_cmd(c: &WarrantCommand, json: bool) -> i32 {
    finish(
        (|| {
            let t = town()?;
            match c {
                WarrantCommand::File {
                    target,
                    reason,
                    stdin,
                } => {
                    let reason = if *stdin {
                        let mut s = String::new();
                        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                            .map_err(|e| RuntimeError::Io(format!("cannot read stdin: {e}")))?;
                        s
                    } else {
                        reason.clone().unwrap_or_default()
                    };
                    let f = warrant::file(&t, target, &reason)?;
                    print(json, &f, || {
                        if f.existing {
                            format!("{} is already open for {}", f.warrant.id, f.warrant.title)
                        } else {
                            format!("filed {}: {}", f.warrant.id, f.warrant.title)
                        }
                    });
                }
                WarrantCommand::List { all } => {
                    let v = warrant::list(&t, *all)?;
                    print(json, &v, || {
                        if v.is_empty() {
                            return "(no warrants)".into();
                        }
                        v.iter()
                            .map(|w| {
                                format!(
                                    "{}  {:<6} {}  {}",
                                    w.id,
                                    w.status,
                                    w.title,
                                    w.description.lines().next().unwrap_or("")
                                )
                            })
                            .collect::<Vec<_>>()
                            .join("\n")
                    });
                }
                WarrantCommand::Execute { target, force } => {
                    let e = warrant::execute(&t, target, *force)?;
                    print(json, &e, || {
                        format!(
                            "{}: {}{}",
                            e.target,
                            if e.killed {
                                "session killed"
                            } else {
                                "no session was running"
                            },
                            e.warrant
                                .as_ref()
                                .map(|w| format!("; {w} closed"))
                                .unwrap_or_default()
                        )
                    });
                }
            }
            Ok(())
        })(),
        json,
    )
}
