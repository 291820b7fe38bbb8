//! `gt dog add|remove|list|status|clear|dispatch` (also `gt dogs`).

use super::gt_run::parse_vars;
use super::gt_town::{finish, print, town};
use crate::runtime::dogs::{self, Work};
use crate::runtime::RuntimeError;
use crate::store::agents::AgentRow;
use clap::Subcommand;
use serde_json::json;

#[derive(Subcommand, Debug)]
pub enum DogCommand {
    /// Add a dog to the kennel (`<town>/deacon/dogs/NAME`).
    Add { name: String },
    /// Remove dogs (their hooked work goes back to open).
    Remove {
        #[arg(required_unless_present = "all")]
        names: Vec<String>,
        #[arg(long)]
        all: bool,
        /// Even when working (kills the session).
        #[arg(short, long)]
        force: bool,
    },
    /// Every dog with its state and work.
    List,
    /// One dog (or all) in detail.
    Status { name: Option<String> },
    /// Reset a stuck dog to idle (its work goes back to open).
    Clear {
        name: String,
        /// Even with a live session (kills it).
        #[arg(short, long)]
        force: bool,
    },
    /// Give work to an idle dog (a new one when none is idle) and start it.
    Dispatch {
        /// Pour this formula as a wisp for the dog.
        #[arg(long, conflicts_with_all = ["plugin", "bead"])]
        formula: Option<String>,
        #[arg(long = "var", value_name = "K=V", requires = "formula")]
        vars: Vec<String>,
        /// Run this plugin (`<town>/plugins/NAME/plugin.md`); without a
        /// name, list the plugins.
        #[arg(long, num_args = 0..=1, default_missing_value = "", conflicts_with = "bead")]
        plugin: Option<String>,
        /// An existing open bead.
        #[arg(long)]
        bead: Option<String>,
        /// This dog (created if it does not exist).
        #[arg(long)]
        dog: Option<String>,
        #[arg(long)]
        agent: Option<String>,
        /// Hook only; do not start the session.
        #[arg(long)]
        no_start: bool,
    },
}

fn cwd() -> Result<std::path::PathBuf, RuntimeError> {
    std::env::current_dir()
        .map_err(|e| RuntimeError::Io(format!("cannot read the current directory: {e}")))
}

fn dog_json(d: &AgentRow) -> serde_json::Value {
    json!({
        "name": d.name, "address": d.address(), "state": d.state,
        "alive": d.session_alive(), "hooked_bead": d.hooked_bead,
        "agent": d.agent, "kennel": d.worktree, "generation": d.generation,
        "updated_at": d.updated_at,
    })
}

fn dog_line(d: &AgentRow) -> String {
    format!(
        "{:<12} {:<9} {:<5} {}",
        d.name,
        d.state,
        if d.session_alive() { "live" } else { "-" },
        d.hooked_bead.as_deref().unwrap_or("")
    )
}

pub fn run(c: &DogCommand, json: bool) -> i32 {
    finish(
        (|| {
            let t = town()?;
            match c {
                DogCommand::Add { name } => {
                    let d = dogs::add(&t, name)?;
                    print(json, &dog_json(&d), || {
                        format!(
                            "Added {} (kennel {})",
                            d.address(),
                            d.worktree.as_deref().unwrap_or("")
                        )
                    });
                }
                DogCommand::Remove { names, all, force } => {
                    let names: Vec<String> = if *all {
                        dogs::all(&t.store()?)?
                            .into_iter()
                            .map(|d| d.name)
                            .collect()
                    } else {
                        names.clone()
                    };
                    for n in &names {
                        dogs::remove(&t, n, *force)?;
                    }
                    print(json, &json!({"removed": names}), || {
                        format!("Removed {} dog(s)", names.len())
                    });
                }
                DogCommand::List => {
                    let v = dogs::all(&t.store()?)?;
                    let out: Vec<_> = v.iter().map(dog_json).collect();
                    print(json, &out, || {
                        if v.is_empty() {
                            "(no dogs; `gt dog add NAME`)".into()
                        } else {
                            v.iter().map(dog_line).collect::<Vec<_>>().join("\n")
                        }
                    });
                }
                DogCommand::Status { name } => {
                    let store = t.store()?;
                    let v = match name {
                        Some(n) => vec![dogs::get(&store, n)?],
                        None => dogs::all(&store)?,
                    };
                    let out: Vec<_> = v.iter().map(dog_json).collect();
                    let out = match (name, out.as_slice()) {
                        (Some(_), [one]) => one.clone(),
                        _ => json!(out),
                    };
                    print(json, &out, || {
                        if v.is_empty() {
                            return "(no dogs; `gt dog add NAME`)".into();
                        }
                        v.iter()
                            .map(|d| {
                                format!(
                                    "{}\n  state: {} ({})\n  work: {}\n  agent: {}\n  kennel: {}",
                                    d.address(),
                                    d.state,
                                    if d.session_alive() {
                                        "session running"
                                    } else {
                                        "no session"
                                    },
                                    d.hooked_bead.as_deref().unwrap_or("(none)"),
                                    d.agent.as_deref().unwrap_or("(not yet run)"),
                                    d.worktree.as_deref().unwrap_or("")
                                )
                            })
                            .collect::<Vec<_>>()
                            .join("\n")
                    });
                }
                DogCommand::Clear { name, force } => {
                    let d = dogs::clear(&t, name, *force)?;
                    print(json, &dog_json(&d), || format!("{} is idle", d.address()));
                }
                DogCommand::Dispatch {
                    formula,
                    vars,
                    plugin,
                    bead,
                    dog,
                    agent,
                    no_start,
                } => {
                    let work = match (formula, plugin.as_deref(), bead) {
                        (Some(f), _, _) => Work::Formula(f.clone(), parse_vars(vars)?),
                        (None, Some(""), _) => {
                            let p = dogs::plugins(&t);
                            print(json, &json!({"plugins": p}), || {
                                if p.is_empty() {
                                    format!(
                                        "This town has no plugins. A plugin is a directory {}/NAME with a plugin.md a dog follows; dispatch one with --plugin NAME.",
                                        t.root.join("plugins").display()
                                    )
                                } else {
                                    format!(
                                        "Plugins (dispatch with --plugin NAME):\n  {}",
                                        p.join("\n  ")
                                    )
                                }
                            });
                            return Ok(());
                        }
                        (None, Some(p), _) => Work::Plugin(p.to_string()),
                        (None, None, Some(b)) => Work::Bead(b.clone()),
                        (None, None, None) => {
                            return Err(RuntimeError::usage(
                                "what should the dog do?",
                                "pass --formula NAME, --plugin NAME or --bead ID",
                            ))
                        }
                    };
                    let d = dogs::dispatch(
                        &t,
                        &work,
                        dog.as_deref(),
                        agent.as_deref(),
                        &cwd()?,
                        *no_start,
                    )?;
                    print(json, &d, || {
                        format!(
                            "Dispatched {} to {}{} (agent {}{})",
                            d.bead,
                            d.address,
                            if d.created_dog { ", a new dog" } else { "" },
                            d.agent,
                            d.pid.map(|p| format!(", pid {p}")).unwrap_or_default()
                        )
                    });
                }
            }
            Ok(())
        })(),
        json,
    )
}
