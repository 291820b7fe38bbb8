//! `gt done` with Gas Town's exit flags. COMPLETED (the default) hands the
//! branch to the merge queue through [`work::done`], then records what the
//! flags say on the merge request: `--target` is the branch the refinery
//! merges into, `--pre-verified`, `--cleanup-status` and `--phase-complete`
//! are kept for the refinery and the witness. DEFERRED, ESCALATED and
//! `--no-merge` commit the leftover work and free the polecat without a
//! merge request: the bead goes to `deferred`, `blocked` (and the rig's
//! witness and the mayor get mail) or `closed`.

use super::work::{self, whoami};
use super::RuntimeError;
use crate::coord::address::Address;
use crate::coord::mail::{self, Outgoing};
use crate::store::issues::{self, Update};
use crate::store::Status;
use crate::town::{worktree, Town};
use serde_json::{json, Value};
use std::path::Path;

#[derive(Debug, Clone, Default)]
pub struct DoneOptions {
    /// COMPLETED, DEFERRED or ESCALATED (any case).
    pub status: Option<String>,
    pub target: Option<String>,
    pub pre_verified: bool,
    pub no_merge: bool,
    pub cleanup_status: Option<String>,
    pub phase_complete: bool,
}

enum Exit {
    Completed,
    Deferred,
    Escalated,
}

fn exit_of(s: Option<&str>) -> Result<Exit, RuntimeError> {
    match s.map(str::to_ascii_uppercase).as_deref() {
        None | Some("COMPLETED") => Ok(Exit::Completed),
        Some("DEFERRED") => Ok(Exit::Deferred),
        Some("ESCALATED") => Ok(Exit::Escalated),
        Some(other) => Err(RuntimeError::usage(
            format!("unknown --status `{other}`"),
            "use COMPLETED (the default), DEFERRED or ESCALATED",
        )),
    }
}

pub fn done(town: &Town, cwd: &Path, o: &DoneOptions) -> Result<Value, RuntimeError> {
    let exit = exit_of(o.status.as_deref())?;
    if matches!(exit, Exit::Completed) && !o.no_merge {
        let r = work::done(town, cwd)?;
        let mut meta = json!({});
        if let Some(t) = &o.target {
            meta["target"] = json!(t);
        }
        if o.pre_verified {
            meta["pre_verified"] = json!(true);
        }
        if let Some(c) = &o.cleanup_status {
            meta["cleanup_status"] = json!(c);
        }
        if o.phase_complete {
            meta["phase_complete"] = json!(true);
        }
        if meta.as_object().is_some_and(|m| !m.is_empty()) {
            let mut store = town.store()?;
            store.write(|tx| {
                tx.update(
                    &r.merge_request,
                    &Update {
                        metadata: Some(meta.clone()),
                        ..Default::default()
                    },
                )
            })?;
        }
        let mut v = serde_json::to_value(&r).unwrap_or_default();
        v["exit"] = json!("COMPLETED");
        if let (Some(obj), Some(m)) = (v.as_object_mut(), meta.as_object()) {
            obj.extend(m.clone());
        }
        return Ok(v);
    }
    let mut store = town.store()?;
    let me = whoami(town, &store, cwd)?;
    let bead = me.hooked_bead.clone().ok_or_else(|| {
        RuntimeError::usage(
            format!("{} has nothing on its hook", me.address()),
            "`gt hook` shows the hook; nothing to hand in",
        )
    })?;
    let committed = match &me.worktree {
        Some(wt) => worktree::commit_all(
            Path::new(wt),
            &format!("{bead}: work by {} (handed in)", me.address()),
            &me.address(),
        )?
        .map(|oid| oid.to_string()),
        None => None,
    };
    let (label, status, reason) = match exit {
        Exit::Deferred => ("DEFERRED", Status::Deferred, "deferred by its polecat"),
        Exit::Escalated => ("ESCALATED", Status::Blocked, "escalated by its polecat"),
        Exit::Completed => (
            "COMPLETED",
            Status::Closed,
            "done without a merge (--no-merge)",
        ),
    };
    let (rig, name) = (me.rig.clone(), me.name.clone());
    store.write(|tx| {
        if status == Status::Closed {
            tx.close(&bead, Some(reason))?;
        } else {
            tx.update(
                &bead,
                &Update {
                    status: Some(status),
                    append_notes: Some(format!("{reason} ({})", me.address())),
                    ..Default::default()
                },
            )?;
        }
        tx.agent_state(&rig, &name, "idle", true)
    })?;
    if matches!(exit, Exit::Escalated) {
        let to = vec![Address::Witness(rig.clone()), Address::Mayor];
        let bead_title = issues::get(store.conn(), &bead)?.title;
        store.write(|tx| {
            mail::send_tx(
                tx,
                &to,
                &Outgoing {
                    from: me.address(),
                    to: String::new(),
                    subject: format!("ESCALATED: {bead} {bead_title}"),
                    body: format!(
                        "{} stopped work on {bead} and needs help; the bead is blocked.",
                        me.address()
                    ),
                    kind: "escalation".into(),
                    ..Default::default()
                },
            )
        })?;
    }
    Ok(
        json!({"bead": bead, "exit": label, "status": status.as_str(),
        "merge_request": null, "committed": committed, "branch": me.branch}),
    )
}
