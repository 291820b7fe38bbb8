//! Dogs: the deacon's town-level helpers. A dog is an agent (row: rig
//! empty, role `dog`) with a kennel directory `<town>/deacon/dogs/<name>`
//! instead of a rig worktree; it takes work across rigs (formulas such as
//! `mol-dog-backup`, plugins). Work reaches a dog like a polecat's: hooked
//! under a lease in one transaction, then the session is started through
//! the one spawn path ([`super::work::start_polecat`]). Dogs run the
//! agent of role `dog`, or the polecats' agent when none is set.
//!
//! Plugins are directories `<town>/plugins/<name>/` whose `plugin.md`
//! holds the instructions a dog follows.

use super::work;
use super::RuntimeError;
use crate::molecule::{self, PourOptions};
use crate::store::agents::{self, AgentRow, AgentUpdate};
use crate::store::issues::{self, NewIssue};
use crate::store::{Status, Update};
use crate::town::{AgentConfig, Town};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const ROLE: &str = "dog";

pub fn kennel(town: &Town) -> PathBuf {
    town.root.join("deacon").join("dogs")
}

fn check_name(name: &str) -> Result<(), RuntimeError> {
    crate::ids::validate_name("dog name", name).map_err(|e| {
        RuntimeError::usage(e.to_string(), "dog names use letters, digits, `-` and `_`")
    })
}

/// The agent dogs run: `--agent`, the town's `roles.dog.agent`, else the
/// polecats' agent.
pub fn agent(town: &Town, flag: Option<&str>) -> Result<(String, AgentConfig), RuntimeError> {
    let set = town
        .settings()?
        .roles
        .get(ROLE)
        .and_then(|r| r.agent.clone());
    let role = if flag.is_some() || set.is_some() {
        ROLE
    } else {
        "polecat"
    };
    Ok(town.agent_for(role, None, flag)?)
}

pub fn all(store: &crate::store::Store) -> Result<Vec<AgentRow>, RuntimeError> {
    Ok(agents::list(store.conn())?
        .into_iter()
        .filter(|a| a.role == ROLE && a.rig.is_empty())
        .collect())
}

pub fn get(store: &crate::store::Store, name: &str) -> Result<AgentRow, RuntimeError> {
    agents::get(store.conn(), "", name)?
        .filter(|a| a.role == ROLE)
        .ok_or_else(|| {
            RuntimeError::usage(
                format!("there is no dog `{name}`"),
                "`gt dog list` shows the kennel; `gt dog add NAME` adds one",
            )
        })
}

/// `gt dog add NAME`: a kennel directory and an idle agent row.
pub fn add(town: &Town, name: &str) -> Result<AgentRow, RuntimeError> {
    check_name(name)?;
    let mut store = town.store()?;
    if agents::get(store.conn(), "", name)?.is_some() {
        return Err(RuntimeError::usage(
            format!("`{name}` already exists in this town"),
            "pick another name; `gt dog list` shows the kennel",
        ));
    }
    let home = kennel(town).join(name);
    std::fs::create_dir_all(&home)
        .map_err(|e| RuntimeError::Io(format!("{}: {e}", home.display())))?;
    let home_s = home.display().to_string();
    store.write(|tx| {
        tx.agent_upsert(&AgentUpdate {
            rig: "",
            name,
            role: ROLE,
            state: "idle",
            worktree: Some(&home_s),
            ..Default::default()
        })
    })?;
    get(&store, name)
}

/// `gt dog clear NAME [--force]`: a stuck dog back to idle. Its hooked work
/// is released (open again); a live session is refused without `force`,
/// and killed with it.
pub fn clear(town: &Town, name: &str, force: bool) -> Result<AgentRow, RuntimeError> {
    let mut store = town.store()?;
    let d = get(&store, name)?;
    if d.session_alive() {
        if !force {
            return Err(RuntimeError::usage(
                format!(
                    "{} has a live session (pid {})",
                    d.address(),
                    d.pid.unwrap_or(0)
                ),
                "--force kills it",
            ));
        }
        super::roles::kill(town, &d);
    }
    let lease = match &d.hooked_bead {
        Some(b) => crate::store::leases::get(store.conn(), b)?.map(|l| (b.clone(), l.generation)),
        None => None,
    };
    let why = format!("{} cleared", d.address());
    store.write(|tx| -> Result<(), RuntimeError> {
        if let Some((b, gen)) = &lease {
            tx.release_lease(b, *gen, &why)?;
            if issues::get(tx.conn(), b)?.status != Status::Closed {
                tx.update(
                    b,
                    &Update {
                        status: Some(Status::Open),
                        assignee: Some(None),
                        ..Default::default()
                    },
                )?;
            }
        }
        tx.agent_state("", name, "idle", true)?;
        Ok(())
    })?;
    get(&store, name)
}

/// `gt dog remove NAME`: forget an idle dog and its kennel.
pub fn remove(town: &Town, name: &str, force: bool) -> Result<(), RuntimeError> {
    let d = clear(town, name, force)?;
    let mut store = town.store()?;
    store.write(|tx| -> Result<(), RuntimeError> {
        tx.conn()
            .execute("DELETE FROM agents WHERE rig = '' AND name = ?1", [&d.name])
            .map_err(crate::store::StoreError::from)?;
        Ok(())
    })?;
    let home = kennel(town).join(name);
    let _ = std::fs::remove_dir_all(home);
    Ok(())
}

/// Plugins of the town (`<town>/plugins/<name>/plugin.md`), by name.
pub fn plugins(town: &Town) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(town.root.join("plugins"))
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.path().join("plugin.md").is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// What a dog is given.
#[derive(Debug, Clone)]
pub enum Work {
    /// A formula, poured as a wisp with these vars.
    Formula(String, BTreeMap<String, String>),
    /// A plugin's instructions.
    Plugin(String),
    /// An existing open bead.
    Bead(String),
}

#[derive(Debug, Serialize)]
pub struct Dispatched {
    pub dog: String,
    pub address: String,
    pub bead: String,
    pub created_dog: bool,
    pub agent: String,
    pub pid: Option<i64>,
}

/// The bead for `work` (poured or created now).
fn bead_for(town: &Town, work: &Work, cwd: &Path) -> Result<String, RuntimeError> {
    let mut store = town.store()?;
    match work {
        Work::Bead(b) => Ok(issues::resolve(store.conn(), store.prefix(), b)?),
        Work::Formula(name, vars) => {
            let proto = molecule::load_proto(name, cwd, vars)?;
            let r = molecule::pour(
                &mut store,
                &proto,
                &PourOptions {
                    vars: vars.clone(),
                    ephemeral: true,
                    ..Default::default()
                },
            )?;
            Ok(r.new_epic_id)
        }
        Work::Plugin(p) => {
            let path = town.root.join("plugins").join(p).join("plugin.md");
            let text = std::fs::read_to_string(&path).map_err(|_| {
                let have = plugins(town);
                RuntimeError::usage(
                    format!("there is no plugin `{p}` ({} not found)", path.display()),
                    if have.is_empty() {
                        "this town has no plugins; add <town>/plugins/NAME/plugin.md".to_string()
                    } else {
                        format!("plugins: {}", have.join(", "))
                    },
                )
            })?;
            let i = store.write(|tx| {
                tx.create(&NewIssue {
                    title: format!("Plugin: {p}"),
                    description: text.clone(),
                    labels: vec![format!("plugin:{p}")],
                    ephemeral: true,
                    ..Default::default()
                })
            })?;
            Ok(i.id)
        }
    }
}

/// Give `work` to dog `want` (default: an idle dog, or a new one), hook it
/// under a lease and start the dog's session unless `no_start`.
pub fn dispatch(
    town: &Town,
    work: &Work,
    want: Option<&str>,
    agent_flag: Option<&str>,
    cwd: &Path,
    no_start: bool,
) -> Result<Dispatched, RuntimeError> {
    if let Some(w) = want {
        check_name(w)?;
    }
    let (agent_name, cfg) = agent(town, agent_flag)?;
    super::run::check_program(&agent_name, &cfg)?;
    let bead = bead_for(town, work, cwd)?;
    let mut store = town.store()?;
    let home_root = kennel(town);
    let (name, created, gen) = store.write(|tx| -> Result<_, RuntimeError> {
        let rows: Vec<AgentRow> = agents::list(tx.conn())?
            .into_iter()
            .filter(|a| a.rig.is_empty())
            .collect();
        let free = |a: &AgentRow| a.role == ROLE && a.hooked_bead.is_none() && a.claimable();
        let (name, created) = match want {
            Some(w) => match rows.iter().find(|a| a.name == w) {
                Some(a) if !free(a) => {
                    return Err(RuntimeError::usage(
                        format!(
                            "{} is busy ({})",
                            a.address(),
                            a.hooked_bead.as_deref().unwrap_or(&a.state)
                        ),
                        "dispatch to another dog, or `gt dog clear` it",
                    ))
                }
                Some(_) => (w.to_string(), false),
                None => (w.to_string(), true),
            },
            None => match rows.iter().find(|a| free(a)) {
                Some(a) => (a.name.clone(), false),
                None => (
                    (0..)
                        .map(crate::town::pool_name)
                        .find(|n| !rows.iter().any(|a| &a.name == n))
                        .unwrap_or_else(|| "dog".into()),
                    true,
                ),
            },
        };
        let home = home_root.join(&name).display().to_string();
        let u = AgentUpdate {
            rig: "",
            name: &name,
            role: ROLE,
            state: "spawning",
            worktree: Some(&home),
            branch: None,
            hooked_bead: Some(&bead),
            agent: Some(&agent_name),
            bump_generation: true,
        };
        let (lease_gen, _) = work::hook_tx(tx, &bead, &u, None)?.ok_or_else(|| {
            RuntimeError::usage(
                format!("{bead} is not open; only open work is dispatched"),
                "`bd show` it to see who has it",
            )
        })?;
        Ok((name, created, lease_gen))
    })?;
    let home = home_root.join(&name);
    std::fs::create_dir_all(&home)
        .map_err(|e| RuntimeError::Io(format!("{}: {e}", home.display())))?;
    let mut pid = None;
    if !no_start {
        let row = get(&store, &name)?;
        match work::start_polecat(town, &mut store, &row, &agent_name, &cfg) {
            Ok(p) => pid = Some(p),
            Err(e) => {
                let why = format!("dog session: {e}");
                store.write(|tx| -> Result<(), RuntimeError> {
                    tx.release_lease(&bead, gen, &why)?;
                    tx.update(
                        &bead,
                        &Update {
                            assignee: Some(None),
                            ..Default::default()
                        },
                    )?;
                    tx.agent_state("", &name, "idle", true)?;
                    Ok(())
                })?;
                return Err(e);
            }
        }
    }
    Ok(Dispatched {
        address: agents::address("", ROLE, &name),
        dog: name,
        bead,
        created_dog: created,
        agent: agent_name,
        pid,
    })
}
