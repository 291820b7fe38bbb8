//! Agent beads and their operational state (`gt agent state`). An agent
//! bead is an issue of type `agent` whose id names the agent the way Gas
//! Town does (`<prefix>-mayor`, `<prefix>-deacon`, `<prefix>-<rig>-witness`,
//! `<prefix>-<rig>-refinery`, `<prefix>-<rig>-polecat-<name>`,
//! `<prefix>-dog-<name>`); it is created the first time its state is set.
//! State lives in `key:value` labels (`idle:3`), which patrol formulas
//! read back (`await-signal` backs off by `idle`).

use super::{CoordError, Result};
use crate::store::issues::{self, NewIssue};
use crate::store::{Issue, IssueType, Store, StoreError};
use serde::Serialize;
use std::collections::BTreeMap;

/// The address an agent-bead id names, if it follows the convention.
pub fn address_of(prefix: &str, rigs: &[String], id: &str) -> Option<String> {
    let rest = id.strip_prefix(prefix)?.strip_prefix('-')?;
    match rest {
        "mayor" => return Some("mayor".into()),
        "deacon" => return Some("deacon".into()),
        "boot" => return Some("boot".into()),
        _ => {}
    }
    if let Some(n) = rest.strip_prefix("dog-") {
        return Some(format!("deacon/dogs/{n}"));
    }
    for r in rigs {
        let Some(role) = rest
            .strip_prefix(r.as_str())
            .and_then(|x| x.strip_prefix('-'))
        else {
            continue;
        };
        match role {
            "witness" | "refinery" => return Some(format!("{r}/{role}")),
            _ => {
                if let Some(n) = role.strip_prefix("polecat-") {
                    return Some(format!("{r}/polecats/{n}"));
                }
                if let Some(n) = role.strip_prefix("crew-") {
                    return Some(format!("{r}/crew/{n}"));
                }
            }
        }
    }
    None
}

/// The agent bead `id`: an existing issue, or created now when the id
/// names an agent.
pub fn agent_bead(store: &mut Store, rigs: &[String], id: &str) -> Result<Issue> {
    match issues::resolve(store.conn(), store.prefix(), id) {
        Ok(found) => return Ok(issues::get(store.conn(), &found)?),
        Err(StoreError::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let addr = address_of(store.prefix(), rigs, id).ok_or_else(|| {
        CoordError::usage(
            format!("`{id}` is neither an issue nor an agent bead id"),
            format!(
                "agent bead ids: {p}-mayor, {p}-deacon, {p}-<rig>-witness, {p}-<rig>-refinery, {p}-<rig>-polecat-<name>, {p}-dog-<name>",
                p = store.prefix()
            ),
        )
    })?;
    let i = store.write(|tx| {
        tx.create(&NewIssue {
            id: Some(id.to_string()),
            title: format!("Agent {addr}"),
            issue_type: IssueType::Agent,
            metadata: Some(serde_json::json!({"address": addr})),
            ..Default::default()
        })
    })?;
    Ok(i)
}

/// The `key:value` labels of an issue.
pub fn state_of(i: &Issue) -> BTreeMap<String, String> {
    i.labels
        .iter()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// What to change.
#[derive(Debug, Default)]
pub struct Change {
    pub set: Vec<(String, String)>,
    pub incr: Option<String>,
    pub del: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct AgentState {
    pub id: String,
    pub state: BTreeMap<String, String>,
}

fn check_key(k: &str) -> Result<()> {
    if k.is_empty() || k.contains(':') || k.contains(char::is_whitespace) {
        return Err(CoordError::usage(
            format!("`{k}` is not a state key"),
            "keys are single words without `:` (e.g. idle, last_patrol)",
        ));
    }
    Ok(())
}

/// Apply `c` to the bead's state labels in one transaction.
pub fn apply(store: &mut Store, id: &str, c: &Change) -> Result<AgentState> {
    for (k, _) in &c.set {
        check_key(k)?;
    }
    for k in c.del.iter().chain(c.incr.iter()) {
        check_key(k)?;
    }
    let i = issues::get(store.conn(), id)?;
    let cur = state_of(&i);
    let mut next = cur.clone();
    for (k, v) in &c.set {
        next.insert(k.clone(), v.clone());
    }
    if let Some(k) = &c.incr {
        let n: i64 = match next.get(k) {
            None => 0,
            Some(v) => v.parse().map_err(|_| {
                CoordError::usage(
                    format!("`{k}` is `{v}`, not a number; --incr needs a number"),
                    format!("--set {k}=0 first"),
                )
            })?,
        };
        next.insert(k.clone(), (n + 1).to_string());
    }
    for k in &c.del {
        next.remove(k);
    }
    if next != cur {
        store.write(|tx| -> std::result::Result<(), StoreError> {
            for (k, v) in &cur {
                if next.get(k) != Some(v) {
                    tx.remove_label(id, &format!("{k}:{v}"))?;
                }
            }
            for (k, v) in &next {
                if cur.get(k) != Some(v) {
                    tx.add_label(id, &format!("{k}:{v}"))?;
                }
            }
            Ok(())
        })?;
    }
    Ok(AgentState {
        id: id.to_string(),
        state: next,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_bead_ids_name_addresses() {
        let rigs = vec!["gastown".to_string(), "gas".to_string()];
        let a = |id| address_of("hq", &rigs, id);
        assert_eq!(a("hq-deacon").as_deref(), Some("deacon"));
        assert_eq!(a("hq-gastown-witness").as_deref(), Some("gastown/witness"));
        assert_eq!(a("hq-gas-polecat-nux").as_deref(), Some("gas/polecats/nux"));
        assert_eq!(a("hq-dog-rex").as_deref(), Some("deacon/dogs/rex"));
        assert_eq!(a("hq-nowhere-witness"), None);
        assert_eq!(a("gt-deacon"), None);
    }
}
