//! Death warrants (`gt warrant file|list|execute`): a patrol that finds a
//! stuck agent files a warrant (an open `warrant` bead naming the agent and
//! why); executing it kills the agent's session and closes the warrant.
//! Work on the agent's hook stays there, so the witness restarts it fresh.

use super::RuntimeError;
use crate::store::issues::{self, IssueFilter, NewIssue};
use crate::store::{Issue, IssueType, Status, Store};
use crate::town::Town;
use serde::Serialize;

/// The address `who` names: an agent of the town, or a valid address.
fn target(store: &Store, who: &str) -> Result<String, RuntimeError> {
    if let Ok(a) = super::daemon::find_agent(store, who) {
        return Ok(crate::coord::mail::identity(&a.address()));
    }
    match crate::coord::address::Address::parse(who) {
        Some(a) if !a.is_group() => Ok(a.to_string()),
        _ => Err(RuntimeError::usage(
            format!("unknown agent `{who}`"),
            "name an agent of this town (`gt agents`) or its address",
        )),
    }
}

fn warrants(store: &Store, all: bool) -> Result<Vec<Issue>, RuntimeError> {
    let f = IssueFilter {
        issue_type: vec![IssueType::Warrant],
        status: if all { Vec::new() } else { vec![Status::Open] },
        ..Default::default()
    };
    Ok(issues::list(store.conn(), &f)?)
}

fn target_of(i: &Issue) -> &str {
    i.metadata
        .get("target")
        .and_then(|v| v.as_str())
        .unwrap_or("")
}

#[derive(Debug, Serialize)]
pub struct Filed {
    pub warrant: Issue,
    /// An open warrant for the agent existed already.
    pub existing: bool,
}

pub fn file(town: &Town, who: &str, reason: &str) -> Result<Filed, RuntimeError> {
    if reason.trim().is_empty() {
        return Err(RuntimeError::usage(
            "a warrant needs a reason",
            "--reason \"what you saw\"",
        ));
    }
    let mut store = town.store()?;
    let addr = target(&store, who)?;
    if let Some(w) = warrants(&store, false)?
        .into_iter()
        .find(|w| target_of(w) == addr)
    {
        return Ok(Filed {
            warrant: w,
            existing: true,
        });
    }
    let w = store.write(|tx| {
        tx.create(&NewIssue {
            title: format!("Warrant: {addr}"),
            description: reason.trim().to_string(),
            issue_type: IssueType::Warrant,
            priority: 1,
            labels: vec!["warrant".into()],
            metadata: Some(serde_json::json!({"target": addr})),
            ..Default::default()
        })
    })?;
    Ok(Filed {
        warrant: w,
        existing: false,
    })
}

pub fn list(town: &Town, all: bool) -> Result<Vec<Issue>, RuntimeError> {
    warrants(&town.store()?, all)
}

#[derive(Debug, Serialize)]
pub struct Executed {
    pub target: String,
    pub killed: bool,
    pub warrant: Option<String>,
}

/// Kill the agent's session and close its warrant (`force`: without one).
pub fn execute(town: &Town, who: &str, force: bool) -> Result<Executed, RuntimeError> {
    let mut store = town.store()?;
    let addr = target(&store, who)?;
    let w = warrants(&store, false)?
        .into_iter()
        .find(|w| target_of(w) == addr);
    if w.is_none() && !force {
        return Err(RuntimeError::usage(
            format!("there is no open warrant for {addr}"),
            format!("file one with `gt warrant file {who} --reason ...`, or --force"),
        ));
    }
    let agent = super::daemon::find_agent(&store, who).ok();
    let killed = agent.as_ref().is_some_and(|a| super::roles::kill(town, a));
    if let Some(w) = &w {
        store.write(|tx| {
            tx.comment(
                &w.id,
                if killed {
                    "executed: session killed"
                } else {
                    "executed: no session was running"
                },
            )?;
            tx.close(&w.id, Some("executed"))
        })?;
    }
    Ok(Executed {
        target: addr,
        killed,
        warrant: w.map(|w| w.id),
    })
}
