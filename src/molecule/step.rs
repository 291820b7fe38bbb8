//! Step moves inside a running molecule. `respawn` loops a patrol: the
//! target step and every step downstream of it (blocking edges, inside the
//! molecule) become open again, so the next cycle starts at the target.

use super::{MolError, Result};
use crate::store::{deps, issues, leases, Issue, Status, Store, Update};
use serde::Serialize;
use std::collections::BTreeSet;

#[derive(Debug, Serialize)]
pub struct Respawn {
    pub molecule: String,
    pub target: String,
    /// Steps open again (the target first).
    pub reopened: Vec<String>,
}

/// The step of `steps` named `name`: its id, or its formula step id
/// (`metadata.step.path`, or that path's last segment).
fn find<'a>(steps: &'a [Issue], name: &str) -> Option<&'a Issue> {
    let path = |i: &Issue| {
        i.metadata
            .pointer("/step/path")
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    steps.iter().find(|i| i.id == name).or_else(|| {
        steps
            .iter()
            .find(|i| path(i).is_some_and(|p| p == name || p.rsplit('.').next() == Some(name)))
    })
}

/// Reopen `target` and everything downstream of it in the molecule that
/// holds `within` (a step or the root).
pub fn respawn(store: &mut Store, within: &str, target: &str) -> Result<Respawn> {
    let root = issues::root_of(store.conn(), within)?;
    let steps = issues::subtree(store.conn(), &root)?;
    let t = find(&steps, target).ok_or_else(|| {
        MolError::Invalid(format!(
            "molecule {root} has no step `{target}` (`bd mol show {root}` lists its steps)"
        ))
    })?;
    let inside: BTreeSet<&str> = steps.iter().map(|i| i.id.as_str()).collect();
    let mut order = vec![t.id.clone()];
    let mut seen: BTreeSet<String> = order.iter().cloned().collect();
    let mut i = 0;
    while i < order.len() {
        for d in deps::dependents(store.conn(), &order[i])? {
            if d.dep_type.is_blocking()
                && inside.contains(d.issue_id.as_str())
                && d.issue_id != root
                && seen.insert(d.issue_id.clone())
            {
                order.push(d.issue_id);
            }
        }
        i += 1;
    }
    let mut reopened = Vec::new();
    store.write(|tx| -> Result<()> {
        for id in &order {
            let cur = issues::get(tx.conn(), id)?;
            match cur.status {
                Status::Open => continue,
                Status::Closed => {
                    tx.reopen(id)?;
                }
                _ => {
                    if let Some(l) = leases::get(tx.conn(), id)? {
                        tx.release_lease(id, l.generation, "respawned for the next cycle")?;
                    }
                    tx.update(
                        id,
                        &Update {
                            status: Some(Status::Open),
                            assignee: Some(None),
                            ..Default::default()
                        },
                    )?;
                }
            }
            reopened.push(id.clone());
        }
        Ok(())
    })?;
    Ok(Respawn {
        molecule: root,
        target: t.id.clone(),
        reopened,
    })
}
