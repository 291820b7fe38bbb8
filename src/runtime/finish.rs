//! Done means done: `gt done` with a molecule on the hook refuses while any
//! of its steps is open, unless `--status` says the work ends another way
//! (`DEFERRED`: hand the bead back open; `ESCALATED`: block it and tell the
//! mayor). An agent that exits without `gt done` is a failure the witness
//! restarts, never an implicit success.

use super::RuntimeError;
use crate::store::agents::AgentRow;
use crate::store::{issues, Issue, Status, Store, Update};
use serde::Serialize;

/// How the work on a hook ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DoneStatus {
    /// Every step closed: the branch goes to the merge queue.
    Completed,
    /// Not finished, by choice: the bead goes back to `open`, unassigned.
    Deferred,
    /// Cannot finish: the bead is `blocked` and the mayor gets mail.
    Escalated,
}

pub const STATUSES: &[&str] = &["COMPLETED", "DEFERRED", "ESCALATED"];

impl std::str::FromStr for DoneStatus {
    type Err = RuntimeError;
    fn from_str(s: &str) -> Result<Self, RuntimeError> {
        match s.trim().to_ascii_uppercase().as_str() {
            "COMPLETED" | "MERGED" => Ok(DoneStatus::Completed),
            "DEFERRED" => Ok(DoneStatus::Deferred),
            "ESCALATED" => Ok(DoneStatus::Escalated),
            _ => Err(RuntimeError::usage(
                format!("unknown done status `{s}`"),
                format!("valid statuses: {}", STATUSES.join(", ")),
            )),
        }
    }
}

/// The steps under `bead` that are not closed, in order.
pub fn open_steps(store: &Store, bead: &str) -> Result<Vec<Issue>, RuntimeError> {
    Ok(issues::subtree(store.conn(), bead)?
        .into_iter()
        .filter(|i| i.id != bead && i.status != Status::Closed)
        .collect())
}

/// Refuse `gt done` (COMPLETED) while steps under `bead` are open, listing them.
pub fn refuse_open_steps(store: &Store, bead: &str) -> Result<(), RuntimeError> {
    let open = open_steps(store, bead)?;
    if open.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = open
        .iter()
        .take(20)
        .map(|i| format!("  {} [{}] {}", i.id, i.status, i.title))
        .collect();
    let more = if open.len() > 20 {
        format!("\n  ... and {} more (`bd show {bead}`)", open.len() - 20)
    } else {
        String::new()
    };
    Err(RuntimeError::usage(
        format!(
            "{bead} has {} open step(s); done means every step is closed:\n{}{more}",
            open.len(),
            list.join("\n")
        ),
        "close each step with `bd close STEP` as you finish it; if the work cannot be finished, `gt done --status ESCALATED` (blocked, mayor told) or `--status DEFERRED` (handed back open)",
    ))
}

#[derive(Debug, Serialize)]
pub struct HandBack {
    pub bead: String,
    pub status: DoneStatus,
    pub bead_status: String,
}

/// `gt done --status DEFERRED|ESCALATED`: give the hook back without a
/// merge request. The polecat goes idle; the lease is released so the bead
/// can be slung again (DEFERRED) or looked at (ESCALATED).
pub fn hand_back(
    store: &mut Store,
    me: &AgentRow,
    status: DoneStatus,
    reason: &str,
) -> Result<HandBack, RuntimeError> {
    let bead = me.hooked_bead.clone().ok_or_else(|| {
        RuntimeError::usage(
            format!("{} has nothing on its hook", me.address()),
            "`gt hook` shows the hook; nothing to hand back",
        )
    })?;
    let addr = me.address();
    let (rig, name) = (me.rig.clone(), me.name.clone());
    let lease = crate::store::leases::get(store.conn(), &bead)?;
    let new_status = match status {
        DoneStatus::Deferred => Status::Open,
        _ => Status::Blocked,
    };
    let why = if reason.trim().is_empty() {
        format!("{addr}: {status:?}")
    } else {
        format!("{addr}: {reason}")
    };
    store.write(|tx| -> Result<(), RuntimeError> {
        if let Some(l) = &lease {
            tx.release_lease(&bead, l.generation, &why)?;
        }
        tx.update(
            &bead,
            &Update {
                status: Some(new_status),
                assignee: Some(None),
                ..Default::default()
            },
        )?;
        tx.comment(&bead, &why)?;
        tx.event(
            &bead,
            "done",
            Some("status"),
            None,
            Some(&format!("{status:?}").to_uppercase()),
        )?;
        tx.agent_state(&rig, &name, "idle", true)?;
        Ok(())
    })?;
    if status == DoneStatus::Escalated {
        let dir = crate::coord::address::Directory::load(None, store.conn())?;
        crate::coord::mail::send(
            store,
            &dir,
            &crate::coord::mail::Outgoing {
                from: addr.clone(),
                to: "mayor".into(),
                subject: format!("ESCALATED {bead}"),
                body: why.clone(),
                kind: "escalation".into(),
                sender_gen: Some(me.generation),
                ..Default::default()
            },
        )?;
    }
    Ok(HandBack {
        bead,
        status,
        bead_status: new_status.to_string(),
    })
}
