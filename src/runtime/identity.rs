//! Who is asking: from the session's environment (`GT_ROLE`, `GT_RIG`,
//! `GT_POLECAT`, `GT_CREW`) or from where you stand in the town.
//!
//! ```text
//! <town>/                      the Mayor
//! <town>/mayor, <town>/deacon  the Mayor, the Deacon
//! <town>/<rig>/polecats/<n>/.. that polecat
//! <town>/<rig>/crew/<n>/..     that crew member
//! <town>/<rig>/witness|refinery  the rig's patrol role
//! ```

use super::RuntimeError;
use crate::store::agents::{self, AgentRow};
use crate::store::Store;
use crate::town::Town;
use std::path::Path;

/// An agent identity: its role, rig and name, and its row when it has one.
#[derive(Debug, Clone)]
pub struct Identity {
    pub role: String,
    /// Empty for town-level roles (mayor, deacon).
    pub rig: String,
    pub name: String,
    pub row: Option<AgentRow>,
}

impl Identity {
    /// The agents-table address (`mayor/`, `app/polecats/nux`, ...).
    pub fn address(&self) -> String {
        agents::address(&self.rig, &self.role, &self.name)
    }

    /// The mail address (`mayor`, `app/polecats/nux`, ...).
    pub fn mail_address(&self) -> String {
        // The canonical address (`deacon/deacon` is mailed as `deacon`).
        match crate::coord::address::Address::parse(&self.address()) {
            Some(a) => a.to_string(),
            None => self.address().trim_end_matches('/').to_string(),
        }
    }

    fn new(store: &Store, role: &str, rig: &str, name: &str) -> Result<Identity, RuntimeError> {
        Ok(Identity {
            role: role.into(),
            rig: rig.into(),
            name: name.into(),
            row: agents::get(store.conn(), rig, name)?,
        })
    }
}

/// The row key of a role that has one agent per town or rig.
pub fn singleton(role: &str, rig: Option<&str>) -> (String, String) {
    match role {
        "mayor" | "deacon" => (String::new(), role.to_string()),
        _ => (rig.unwrap_or("").to_string(), role.to_string()),
    }
}

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.is_empty())
}

/// Who am I? The session's variables first, then the cwd.
pub fn whoami(town: &Town, store: &Store, cwd: &Path) -> Result<Identity, RuntimeError> {
    let rig = env("GT_RIG");
    match (env("GT_ROLE").as_deref(), rig.as_deref(), env("GT_POLECAT")) {
        (Some("polecat") | None, Some(r), Some(n)) => {
            return Identity::new(store, "polecat", r, &n);
        }
        (Some("crew"), Some(r), _) => {
            if let Some(n) = env("GT_CREW") {
                return Identity::new(store, "crew", r, &n);
            }
        }
        (Some(role @ ("mayor" | "deacon" | "witness" | "refinery")), r, _) => {
            let (rig, name) = singleton(role, r);
            if role == "mayor" || role == "deacon" || !rig.is_empty() {
                return Identity::new(store, role, &rig, &name);
            }
        }
        _ => {}
    }
    let root = town
        .root
        .canonicalize()
        .unwrap_or_else(|_| town.root.clone());
    let here = cwd.canonicalize().unwrap_or_else(|_| cwd.to_path_buf());
    if let Ok(rel) = here.strip_prefix(&root) {
        let parts: Vec<String> = rel
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        let p: Vec<&str> = parts.iter().map(|s| s.as_str()).collect();
        match p.as_slice() {
            [] | ["mayor", ..] => return Identity::new(store, "mayor", "", "mayor"),
            ["deacon", ..] => return Identity::new(store, "deacon", "", "deacon"),
            [rig, "polecats", name, ..] => return Identity::new(store, "polecat", rig, name),
            [rig, "crew", name, ..] => return Identity::new(store, "crew", rig, name),
            [rig, role @ ("witness" | "refinery"), ..] => {
                return Identity::new(store, role, rig, role)
            }
            _ => {}
        }
    }
    Err(RuntimeError::usage(
        format!("cannot tell which agent you are in {}", cwd.display()),
        "stand in the town root (the Mayor), <rig>/crew/<name>, or a polecat worktree <rig>/polecats/<name>; or set GT_ROLE (with GT_RIG, GT_POLECAT or GT_CREW)",
    ))
}

/// Who am I, as an agent with a row (hook, done, handoff need one).
pub fn whoami_row(town: &Town, store: &Store, cwd: &Path) -> Result<AgentRow, RuntimeError> {
    let id = whoami(town, store, cwd)?;
    let addr = id.address();
    id.row.ok_or_else(|| {
        RuntimeError::usage(
            format!("{addr} has no session in this town yet"),
            match id.role.as_str() {
                "mayor" => "start it with `gt mayor start`".to_string(),
                "polecat" => "`gt sling BEAD RIG` gives a polecat work".to_string(),
                r => format!("start it with `gt {r} start`"),
            },
        )
    })
}
