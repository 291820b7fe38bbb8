//! `gt install`, `gt rig`, `gt config` (`gt crew` is in `gt_crew.rs`).

use super::gt_run::err_code;
use crate::runtime::RuntimeError;
use crate::town::{agents, rigs, settings, AgentConfig, DoneMode, Provider, Town, TownError};
use clap::{Args, Subcommand};

#[derive(Args, Debug)]
pub struct InstallArgs {
    /// Directory of the new town.
    pub dir: std::path::PathBuf,
    /// Also make the town a git repository.
    #[arg(long)]
    pub git: bool,
}

#[derive(Subcommand, Debug)]
pub enum RigCommand {
    /// Clone a project as a bare repository (local paths and file:// work offline).
    Add {
        name: String,
        url: String,
        #[arg(long)]
        prefix: Option<String>,
    },
    /// List rigs.
    List,
    /// Forget a rig and delete its directory.
    Remove { name: String },
    /// Fetch the origin and follow its default branch if it changed.
    Refresh { name: String },
    /// The rig: origin, docked or not, witness, refinery, polecats, queue
    /// (default: the current rig).
    Status { name: Option<String> },
    /// Shut the rig down on purpose: stop its witness, refinery and
    /// polecats; `gt sling` refuses it until undocked.
    Dock { name: String },
    /// Bring a docked rig back (unpauses its built-in roles; starts no session).
    Undock { name: String },
}

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Agent configs: set, get, list, remove.
    #[command(subcommand)]
    Agent(AgentCommand),
    /// Which agent a role uses (mayor, polecat, witness, refinery, deacon, crew).
    Role {
        role: String,
        agent: String,
        /// Set it for one rig (overrides the town).
        #[arg(long)]
        rig: Option<String>,
    },
    /// The town's default agent.
    DefaultAgent { agent: String },
    /// Set a settings key (dotted, e.g. merge_queue.gates.test); VALUE is
    /// JSON when it parses as JSON, else a string; `null` removes the key.
    Set {
        key: String,
        value: String,
        /// The rig's settings instead of the town's.
        #[arg(long)]
        rig: Option<String>,
    },
    /// Print a settings key (or the whole file) as JSON.
    Get {
        key: Option<String>,
        #[arg(long)]
        rig: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum AgentCommand {
    /// Add or replace an agent: `gt config agent set NAME "COMMAND ARGS..."`.
    Set {
        name: String,
        command: String,
        /// How a session finishes: exit (status 0) or close (`bd close $GT_STEP`).
        #[arg(long, default_value = "exit")]
        done: String,
        /// exec (headless, default) or tmux.
        #[arg(long, default_value = "exec")]
        provider: String,
        #[arg(long)]
        model: Option<String>,
        #[arg(long)]
        max_attempts: Option<i64>,
        #[arg(long)]
        timeout_secs: Option<u64>,
    },
    Get {
        name: String,
    },
    List,
    Remove {
        name: String,
    },
}

fn cwd() -> Result<std::path::PathBuf, RuntimeError> {
    std::env::current_dir()
        .map_err(|e| RuntimeError::Io(format!("cannot read the current directory: {e}")))
}

pub fn town() -> Result<Town, RuntimeError> {
    Ok(Town::find(&cwd()?)?)
}

pub fn print<T: serde::Serialize>(json: bool, v: &T, human: impl FnOnce() -> String) {
    if json {
        println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
    } else {
        let s = human();
        if !s.is_empty() {
            println!("{}", s.trim_end());
        }
    }
}

pub fn finish(r: Result<(), RuntimeError>, json: bool) -> i32 {
    match r {
        Ok(()) => 0,
        Err(e) => err_code(&e, json),
    }
}

pub fn install(a: &InstallArgs, json: bool) -> i32 {
    finish(
        (|| {
            let t = Town::install(&a.dir, a.git)?;
            print(json, &serde_json::json!({"town": t.root}), || {
                format!(
                    "Created town {}\n  next: gt rig add NAME URL|PATH",
                    t.root.display()
                )
            });
            Ok(())
        })(),
        json,
    )
}

fn rig_status_text(s: &crate::runtime::rig_state::RigStatus) -> String {
    let role = |r: &crate::runtime::roles::RoleStatus| {
        format!(
            "{} ({}{})",
            if r.running { "running" } else { "not running" },
            r.mode,
            r.agent
                .as_ref()
                .map(|a| format!(" `{a}`"))
                .unwrap_or_default()
        )
    };
    let mut out = format!(
        "Rig {}{}
  origin: {} (branch {}, prefix {})
  witness: {}
  refinery: {}
  merge queue: {} open",
        s.rig.name,
        if s.docked { " [DOCKED]" } else { "" },
        s.rig.url,
        s.rig.default_branch,
        s.rig.prefix,
        role(&s.witness),
        role(&s.refinery),
        s.merge_queue
    );
    out += &format!(
        "
  polecats: {}",
        s.polecats.len()
    );
    for p in &s.polecats {
        out += &format!(
            "
    {:<12} {:<9} {:<5} {}",
            p.name,
            p.state,
            if p.alive { "live" } else { "-" },
            p.hooked_bead.as_deref().unwrap_or("")
        );
    }
    out
}

pub fn rig(c: &RigCommand, json: bool) -> i32 {
    finish(
        (|| {
            let t = town()?;
            match c {
                RigCommand::Add { name, url, prefix } => {
                    let r = rigs::add(&t, name, url, prefix.as_deref(), &cwd()?)?;
                    print(json, &r, || {
                        format!(
                            "Added rig {} from {} (branch {}, prefix {})",
                            r.name, r.url, r.default_branch, r.prefix
                        )
                    });
                }
                RigCommand::List => {
                    let v = rigs::list(&t.store()?)?;
                    print(json, &v, || {
                        if v.is_empty() {
                            return "(no rigs; add one with `gt rig add NAME URL|PATH`)".into();
                        }
                        v.iter()
                            .map(|r| {
                                format!(
                                    "{:<16} {:<8} {}  {}",
                                    r.name, r.default_branch, r.prefix, r.url
                                )
                            })
                            .collect::<Vec<_>>()
                            .join("\n")
                    });
                }
                RigCommand::Remove { name } => {
                    let r = rigs::remove(&t, name)?;
                    print(json, &r, || format!("Removed rig {}", r.name));
                }
                RigCommand::Status { name } => {
                    let name = match name {
                        Some(n) => n.clone(),
                        None => rigs::current_or_ask(&t, t.store()?.conn(), &cwd()?)?,
                    };
                    let s = crate::runtime::rig_state::status(&t, &name)?;
                    print(json, &s, || rig_status_text(&s));
                }
                RigCommand::Dock { name } | RigCommand::Undock { name } => {
                    let dock = matches!(c, RigCommand::Dock { .. });
                    let r = if dock {
                        crate::runtime::rig_state::dock(&t, name)?
                    } else {
                        crate::runtime::rig_state::undock(&t, name)?
                    };
                    print(json, &r, || {
                        let what = if dock {
                            "docked; stopped"
                        } else {
                            "undocked; unpaused"
                        };
                        let list = if r.changed.is_empty() {
                            "nothing was running".into()
                        } else {
                            r.changed.join(", ")
                        };
                        format!("Rig {} {what}: {list}", r.rig)
                    });
                }
                RigCommand::Refresh { name } => {
                    let r = rigs::refresh(&t, name)?;
                    print(json, &r, || {
                        format!(
                            "Rig {} follows {} branch {}",
                            r.name, r.url, r.default_branch
                        )
                    });
                }
            }
            Ok(())
        })(),
        json,
    )
}

fn parse_done(s: &str) -> Result<DoneMode, RuntimeError> {
    match s {
        "exit" => Ok(DoneMode::Exit),
        "close" => Ok(DoneMode::Close),
        _ => Err(RuntimeError::usage(
            format!("invalid --done `{s}`"),
            "valid values: exit, close",
        )),
    }
}

fn parse_provider(s: &str) -> Result<Provider, RuntimeError> {
    match s {
        "exec" => Ok(Provider::Exec),
        "tmux" => Ok(Provider::Tmux),
        "auto" => Ok(Provider::Auto),
        _ => Err(RuntimeError::usage(
            format!("invalid --provider `{s}`"),
            "valid values: exec, tmux",
        )),
    }
}

/// The settings file `--rig` names (checked against the registry), else the town's.
fn settings_file(t: &Town, rig: Option<&str>) -> Result<std::path::PathBuf, RuntimeError> {
    Ok(match rig {
        Some(r) => {
            rigs::get(&t.store()?, r)?;
            t.rig_dir(r).join(crate::town::SETTINGS)
        }
        None => t.settings_path(),
    })
}

pub fn config(c: &ConfigCommand, json: bool) -> i32 {
    finish(
        (|| {
            let t = town()?;
            let path = t.settings_path();
            let s = t.settings()?;
            match c {
                ConfigCommand::Agent(AgentCommand::Set {
                    name,
                    command,
                    done,
                    provider,
                    model,
                    max_attempts,
                    timeout_secs,
                }) => {
                    crate::ids::validate_name("agent name", name).map_err(|e| {
                        RuntimeError::usage(
                            e.to_string(),
                            "e.g. gt config agent set my-claude \"claude -p\"",
                        )
                    })?;
                    if command.trim().is_empty() && name != "shell" {
                        return Err(RuntimeError::usage(
                            "the command is empty",
                            "e.g. gt config agent set fast \"claude -p --model haiku\"",
                        ));
                    }
                    let mut a = AgentConfig::new(command);
                    a.done = parse_done(done)?;
                    a.provider = parse_provider(provider)?;
                    a.model = model.clone();
                    a.max_attempts = *max_attempts;
                    a.timeout_secs = *timeout_secs;
                    let v =
                        serde_json::to_value(&a).map_err(|e| RuntimeError::Io(e.to_string()))?;
                    settings::edit(&path, |m| {
                        settings::set_path(m, &format!("agents.{name}"), v)
                    })?;
                    print(json, &a, || format!("Set agent {name}: {command}"));
                }
                ConfigCommand::Agent(AgentCommand::Get { name }) => {
                    let a = agents::lookup(name, Some(&s), None)?;
                    print(json, &a, || {
                        serde_json::to_string_pretty(&a).unwrap_or_default()
                    });
                }
                ConfigCommand::Agent(AgentCommand::List) => {
                    let names = agents::valid_names(Some(&s), None);
                    let v: Vec<serde_json::Value> = names
                        .iter()
                        .filter_map(|n| agents::lookup(n, Some(&s), None).ok().map(|a| serde_json::json!({"name": n, "builtin": !s.agents.contains_key(n), "config": a})))
                        .collect();
                    print(json, &v, || {
                        v.iter()
                            .map(|x| {
                                format!(
                                    "{:<12} {}{}",
                                    x["name"].as_str().unwrap_or(""),
                                    x["config"]["command"]
                                        .as_str()
                                        .filter(|c| !c.is_empty())
                                        .unwrap_or("(runs each step's `run`)"),
                                    if x["builtin"] == true {
                                        "  [preset]"
                                    } else {
                                        ""
                                    }
                                )
                            })
                            .collect::<Vec<_>>()
                            .join("\n")
                    });
                }
                ConfigCommand::Agent(AgentCommand::Remove { name }) => {
                    if !s.agents.contains_key(name) {
                        if agents::PRESETS.contains(&name.as_str()) {
                            return Err(RuntimeError::usage(
                                format!("`{name}` is a built-in preset"),
                                "presets cannot be removed; `gt config agent set` overrides one",
                            ));
                        }
                        return Err(TownError::UnknownAgent {
                            name: name.clone(),
                            valid: s.agents.keys().cloned().collect(),
                        }
                        .into());
                    }
                    settings::edit(&path, |m| {
                        settings::set_path(m, &format!("agents.{name}"), serde_json::Value::Null)
                    })?;
                    print(json, &serde_json::json!({"removed": name}), || {
                        format!("Removed agent {name}")
                    });
                }
                ConfigCommand::Role { role, agent, rig } => {
                    if !agents::ROLES.contains(&role.as_str()) {
                        return Err(TownError::UnknownRole(role.clone()).into());
                    }
                    let file = settings_file(&t, rig.as_deref())?;
                    let rig_s = match rig {
                        Some(r) => Some(t.rig_settings(r)?),
                        None => None,
                    };
                    agents::lookup(agent, Some(&s), rig_s.as_ref())?;
                    settings::edit(&file, |m| {
                        settings::set_path(
                            m,
                            &format!("roles.{role}.agent"),
                            serde_json::Value::String(agent.clone()),
                        )
                    })?;
                    print(
                        json,
                        &serde_json::json!({"role": role, "agent": agent, "rig": rig}),
                        || format!("Role {role} uses agent {agent}"),
                    );
                }
                ConfigCommand::DefaultAgent { agent } => {
                    agents::lookup(agent, Some(&s), None)?;
                    settings::edit(&path, |m| {
                        settings::set_path(
                            m,
                            "default_agent",
                            serde_json::Value::String(agent.clone()),
                        )
                    })?;
                    print(json, &serde_json::json!({"default_agent": agent}), || {
                        format!("Default agent: {agent}")
                    });
                }
                ConfigCommand::Set { key, value, rig } => {
                    let file = settings_file(&t, rig.as_deref())?;
                    let v = settings::parse_value(value);
                    settings::edit(&file, |m| settings::set_path(m, key, v.clone())).map_err(
                        |e| match e {
                            TownError::BadSettings { message, .. } => RuntimeError::usage(
                                format!("`{key}` cannot be `{value}`: {message}"),
                                "see docs/coordination.md for the settings keys and their types",
                            ),
                            e => e.into(),
                        },
                    )?;
                    print(
                        json,
                        &serde_json::json!({"key": key, "value": v, "rig": rig}),
                        || format!("{key} = {v}"),
                    );
                }
                ConfigCommand::Get { key, rig } => {
                    let file = settings_file(&t, rig.as_deref())?;
                    let raw = settings::load_raw(&file)?;
                    let v = match key {
                        None => serde_json::Value::Object(raw),
                        Some(k) => settings::get_path(&raw, k).cloned().ok_or_else(|| {
                            RuntimeError::usage(
                                format!("`{k}` is not set in {}", file.display()),
                                "`gt config get` prints the whole file",
                            )
                        })?,
                    };
                    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
                }
            }
            Ok(())
        })(),
        json,
    )
}
