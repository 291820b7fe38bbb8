//! Dynamic shell completion for `gt`. `gt completion SHELL` prints a script
//! that calls back into `gt` (clap_complete's `CompleteEnv`: `COMPLETE=SHELL
//! gt -- WORDS…`), so arguments complete from the town the shell stands in:
//! rig names, bead ids, agent addresses, agent configs and formula names.
//! Which argument gets which list is decided here, by command path and
//! argument id, so the command definitions stay free of completion code.

use crate::store::{Access, Store};
use crate::town::Town;
use clap::{Command, CommandFactory};
use clap_complete::engine::{ArgValueCompleter, CompletionCandidate};
use clap_complete::env::{CompleteEnv, Shells};
use std::ffi::OsStr;
use std::path::PathBuf;

/// The name of the environment variable the completion scripts set.
const VAR: &str = "COMPLETE";
/// Bead ids offered at most (a huge store is not listed in full).
const MAX_BEADS: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Rig,
    Bead,
    Address,
    AgentConfig,
    Formula,
    FormulaOrBead,
    RigOrAddress,
}

/// Which list completes argument `id` of the command at `path` (the
/// subcommand names below `gt`).
fn kind_of(path: &[String], id: &str) -> Option<Kind> {
    let top = path.first().map(String::as_str).unwrap_or("");
    let sub = path.get(1).map(String::as_str).unwrap_or("");
    match id {
        "rig" | "rig_name" => Some(Kind::Rig),
        "name" if top == "rig" && sub != "add" => Some(Kind::Rig),
        "name" if top == "config" && sub == "agent" => Some(Kind::AgentConfig),
        "name" if top == "formula" && matches!(sub, "show" | "run") => Some(Kind::Formula),
        "bead" | "beads" | "mr" => Some(Kind::Bead),
        "id" | "ids" if matches!(top, "convoy" | "mol") => Some(Kind::Bead),
        "target" if top == "cook" => Some(Kind::Formula),
        "target" if matches!(top, "sling" | "run" | "pour" | "wisp" | "mol") => {
            Some(Kind::FormulaOrBead)
        }
        "formula" => Some(Kind::Formula),
        "to" if top == "sling" => Some(Kind::RigOrAddress),
        "address" | "to" | "identity" | "owner" | "notify" | "assignee" => Some(Kind::Address),
        "agent" if matches!(top, "nudge" | "peek") => Some(Kind::Address),
        "agent" => Some(Kind::AgentConfig),
        _ => None,
    }
}

/// `gt`'s command tree with a completer on every argument [`kind_of`] names.
pub fn command() -> Command {
    attach(super::gt::Cli::command(), &mut Vec::new())
}

fn attach(mut cmd: Command, path: &mut Vec<String>) -> Command {
    // `mut_arg` re-adds an argument at the end, which would renumber the
    // positionals: pin every positional to its place first.
    let positionals: Vec<String> = cmd
        .get_positionals()
        .map(|a| a.get_id().to_string())
        .collect();
    for (i, id) in positionals.iter().enumerate() {
        cmd = cmd.mut_arg(id, |a| a.index(i + 1));
    }
    let ids: Vec<String> = cmd
        .get_arguments()
        .filter(|a| a.get_action().takes_values())
        .map(|a| a.get_id().to_string())
        .collect();
    for id in ids {
        if let Some(kind) = kind_of(path, &id) {
            cmd = cmd.mut_arg(&id, |a| {
                a.add(ArgValueCompleter::new(move |current: &OsStr| {
                    candidates(kind, &current.to_string_lossy())
                }))
            });
        }
    }
    let subs: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for name in subs {
        path.push(name.clone());
        cmd = cmd.mut_subcommand(&name, |s| attach(s, path));
        path.pop();
    }
    cmd
}

/// Answer a completion request (`COMPLETE` set) and exit; otherwise return.
pub fn complete_if_asked() {
    CompleteEnv::with_factory(command).var(VAR).complete();
}

/// `gt completion SHELL`: the script that registers the completion.
pub fn registration(shell: clap_complete::Shell) -> Result<Vec<u8>, String> {
    let name = shell.to_string();
    let shells = Shells::builtins();
    let completer = shells
        .completer(&name)
        .ok_or_else(|| format!("no dynamic completion for {name}"))?;
    // Call back into this very binary, wherever the shell finds `gt`.
    let exe = std::env::current_exe()
        .ok()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "gt".into());
    let mut buf = Vec::new();
    completer
        .write_registration(VAR, "gt", "gt", &exe, &mut buf)
        .map_err(|e| format!("cannot write the {name} completion script: {e}"))?;
    Ok(buf)
}

/// Candidates of `kind` starting with `current`. Completion never fails
/// loudly: without a town or store the list is just shorter.
fn candidates(kind: Kind, current: &str) -> Vec<CompletionCandidate> {
    let mut out = match kind {
        Kind::Rig => rigs().into_iter().map(CompletionCandidate::new).collect(),
        Kind::Bead => beads(current),
        Kind::Address => addresses()
            .into_iter()
            .map(CompletionCandidate::new)
            .collect(),
        Kind::AgentConfig => agent_configs()
            .into_iter()
            .map(CompletionCandidate::new)
            .collect(),
        Kind::Formula => formulas(),
        Kind::FormulaOrBead => {
            let mut v = formulas();
            v.extend(beads(current));
            v
        }
        Kind::RigOrAddress => rigs()
            .into_iter()
            .chain(addresses())
            .map(CompletionCandidate::new)
            .collect(),
    };
    out.retain(|c| c.get_value().to_string_lossy().starts_with(current));
    out
}

fn cwd() -> PathBuf {
    std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))
}

fn town_store() -> Option<(Town, Store)> {
    let town = Town::find(&cwd()).ok()?;
    let store = Store::open_with(&town.root.join(".beads"), Access::ReadOnly).ok()?;
    Some((town, store))
}

fn rigs() -> Vec<String> {
    town_store()
        .and_then(|(_, s)| crate::town::rigs::names(s.conn()).ok())
        .unwrap_or_default()
}

/// Open beads of the store `bd` would use here, with their titles as help.
fn beads(prefix: &str) -> Vec<CompletionCandidate> {
    let Ok(store) = Store::discover_with(&cwd(), Access::ReadOnly) else {
        return Vec::new();
    };
    crate::store::details::open_ids_with_prefix(store.conn(), prefix, MAX_BEADS)
        .unwrap_or_default()
        .into_iter()
        .map(|(id, title)| CompletionCandidate::new(id).help(Some(title.into())))
        .collect()
}

/// The town's fixed addresses, each rig's, and every known agent's.
fn addresses() -> Vec<String> {
    let mut v: Vec<String> = ["mayor", "overseer", "deacon", "boot"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if let Some((_, store)) = town_store() {
        for r in crate::town::rigs::names(store.conn()).unwrap_or_default() {
            for role in ["witness", "refinery", "polecats", "crew"] {
                v.push(format!("{r}/{role}"));
            }
        }
        for a in crate::store::agents::list(store.conn()).unwrap_or_default() {
            v.push(a.address());
        }
    }
    v.sort();
    v.dedup();
    v
}

/// Agent configs: the presets and the town's own.
fn agent_configs() -> Vec<String> {
    let settings = Town::find(&cwd()).ok().and_then(|t| t.settings().ok());
    crate::town::agents::valid_names(settings.as_ref(), None)
}

fn formulas() -> Vec<CompletionCandidate> {
    use crate::formula::library::{Env, SearchPath};
    SearchPath::discover(&cwd(), &Env::from_process())
        .list()
        .into_iter()
        .map(|(c, _)| CompletionCandidate::new(c.name).help(Some(c.tier.as_str().into())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn arguments_get_the_list_their_name_and_command_call_for() {
        assert_eq!(kind_of(&path(&["sling"]), "rig"), Some(Kind::Rig));
        assert_eq!(kind_of(&path(&["sling"]), "to"), Some(Kind::RigOrAddress));
        assert_eq!(kind_of(&path(&["mail", "send"]), "to"), Some(Kind::Address));
        assert_eq!(kind_of(&path(&["rig", "remove"]), "name"), Some(Kind::Rig));
        assert_eq!(kind_of(&path(&["rig", "add"]), "name"), None);
        assert_eq!(
            kind_of(&path(&["sling"]), "target"),
            Some(Kind::FormulaOrBead)
        );
        assert_eq!(kind_of(&path(&["cook"]), "target"), Some(Kind::Formula));
        assert_eq!(kind_of(&path(&["nudge"]), "agent"), Some(Kind::Address));
        assert_eq!(kind_of(&path(&["sling"]), "agent"), Some(Kind::AgentConfig));
        assert_eq!(
            kind_of(&path(&["convoy", "status"]), "id"),
            Some(Kind::Bead)
        );
        assert_eq!(kind_of(&path(&["mail", "read"]), "id"), None);
    }

    #[test]
    fn the_command_tree_still_builds_with_completers() {
        command().debug_assert();
    }

    #[test]
    fn completers_keep_positionals_in_place() {
        let c = command();
        let nudge = c.find_subcommand("nudge").unwrap();
        let index = |id: &str| {
            nudge
                .get_positionals()
                .find(|a| a.get_id() == id)
                .and_then(|a| a.get_index())
        };
        assert_eq!((index("agent"), index("message")), (Some(1), Some(2)));
        let agent = nudge
            .get_positionals()
            .find(|a| a.get_id() == "agent")
            .unwrap();
        assert!(agent.get::<ArgValueCompleter>().is_some());
    }
}
