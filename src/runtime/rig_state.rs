//! A rig's standing: `gt rig status`, and docking (`gt rig dock|undock`),
//! the persistent "this rig is shut down" switch kept in the rig's
//! settings (`docked: true`): docking stops the rig's witness, refinery
//! and polecat sessions; `gt sling` refuses a docked rig until it is
//! undocked. Undocking unpauses the built-in roles; it starts no session.

use super::roles::{self, RoleRef, RoleStatus};
use super::RuntimeError;
use crate::store::agents;
use crate::town::settings;
use crate::town::SETTINGS;
use crate::town::{rigs, Town};
use serde::Serialize;

/// Is `rig` docked?
pub fn docked(town: &Town, rig: &str) -> Result<bool, RuntimeError> {
    let s = town.rig_settings(rig)?;
    Ok(s.extra
        .get("docked")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false))
}

/// Refuse work for a docked rig.
pub fn refuse_docked(town: &Town, rig: &str) -> Result<(), RuntimeError> {
    if docked(town, rig)? {
        return Err(RuntimeError::usage(
            format!("rig `{rig}` is docked (shut down on purpose)"),
            format!("`gt rig undock {rig}` brings it back"),
        ));
    }
    Ok(())
}

#[derive(Debug, Serialize)]
pub struct DockReport {
    pub rig: String,
    pub docked: bool,
    /// Sessions stopped (dock) or roles unpaused (undock).
    pub changed: Vec<String>,
}

fn set_docked(town: &Town, rig: &str, on: bool) -> Result<(), RuntimeError> {
    let path = town.rig_dir(rig).join(SETTINGS);
    let v = if on {
        serde_json::Value::Bool(true)
    } else {
        serde_json::Value::Null
    };
    settings::edit(&path, |m| settings::set_path(m, "docked", v))?;
    Ok(())
}

/// `gt rig dock RIG`: mark it docked, stop its witness, refinery and polecats.
pub fn dock(town: &Town, rig: &str) -> Result<DockReport, RuntimeError> {
    rigs::get(&town.store()?, rig)?;
    set_docked(town, rig, true)?;
    let mut changed = Vec::new();
    for role in ["witness", "refinery"] {
        let r = RoleRef::new(town, role, Some(rig))?;
        if roles::stop(town, &r)? {
            changed.push(r.address());
        }
    }
    let store = town.store()?;
    for a in agents::list(store.conn())? {
        if a.rig == rig && a.role == "polecat" && roles::kill(town, &a) {
            changed.push(a.address());
        }
    }
    Ok(DockReport {
        rig: rig.into(),
        docked: true,
        changed,
    })
}

/// `gt rig undock RIG`: clear the mark and unpause the rig's built-in roles.
pub fn undock(town: &Town, rig: &str) -> Result<DockReport, RuntimeError> {
    rigs::get(&town.store()?, rig)?;
    set_docked(town, rig, false)?;
    let mut changed = Vec::new();
    for role in ["witness", "refinery"] {
        if roles::unpause(town, &RoleRef::new(town, role, Some(rig))?)? {
            changed.push(format!("{rig}/{role}"));
        }
    }
    Ok(DockReport {
        rig: rig.into(),
        docked: false,
        changed,
    })
}

#[derive(Debug, Serialize)]
pub struct PolecatLine {
    pub name: String,
    pub state: String,
    pub alive: bool,
    pub hooked_bead: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct RigStatus {
    #[serde(flatten)]
    pub rig: rigs::Rig,
    pub docked: bool,
    pub witness: RoleStatus,
    pub refinery: RoleStatus,
    pub polecats: Vec<PolecatLine>,
    /// Open merge requests (queued or being merged).
    pub merge_queue: usize,
}

/// `gt rig status RIG`.
pub fn status(town: &Town, rig: &str) -> Result<RigStatus, RuntimeError> {
    let store = town.store()?;
    let r = rigs::get(&store, rig)?;
    let polecats = agents::list(store.conn())?
        .into_iter()
        .filter(|a| a.rig == rig && a.role == "polecat")
        .map(|a| PolecatLine {
            alive: a.session_alive(),
            name: a.name,
            state: a.state,
            hooked_bead: a.hooked_bead,
        })
        .collect();
    let merge_queue = crate::coord::mq::list(store.conn(), Some(rig), false)?.len();
    Ok(RigStatus {
        docked: docked(town, rig)?,
        witness: roles::status(town, &RoleRef::new(town, "witness", Some(rig))?, None)?,
        refinery: roles::status(town, &RoleRef::new(town, "refinery", Some(rig))?, None)?,
        rig: r,
        polecats,
        merge_queue,
    })
}
