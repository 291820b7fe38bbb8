//! The merge slot: one bead per store (`<prefix>-merge-slot`) that serializes
//! conflict resolution. Open = free; `in_progress` with an assignee = held;
//! `metadata.waiters` is the queue, served in order on release.

use crate::store::issues::{self, NewIssue, Update};
use crate::store::{IssueType, Status, Store, StoreError, Tx};
use serde::Serialize;
use serde_json::json;

#[derive(Debug, Clone, Serialize)]
pub struct SlotStatus {
    pub id: String,
    pub available: bool,
    pub holder: Option<String>,
    pub waiters: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Acquire {
    pub id: String,
    pub acquired: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub waiting: bool,
    pub holder: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<usize>,
}

pub fn slot_id(prefix: &str) -> String {
    format!("{prefix}-merge-slot")
}

fn waiters(i: &crate::store::Issue) -> Vec<String> {
    i.metadata["waiters"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The slot bead, created free on first use.
fn ensure(tx: &Tx<'_>) -> Result<crate::store::Issue, StoreError> {
    let id = slot_id(&tx.prefix);
    if issues::exists(tx.conn(), &id)? {
        return issues::get(tx.conn(), &id);
    }
    tx.create(&NewIssue {
        id: Some(id),
        title: "Merge slot".into(),
        description: "Serializes conflict resolution: `bd merge-slot acquire|release`.".into(),
        issue_type: IssueType::Task,
        priority: 4,
        labels: vec!["merge-slot".into()],
        metadata: Some(json!({"waiters": []})),
        ..Default::default()
    })
}

fn status_of(i: &crate::store::Issue) -> SlotStatus {
    let held = i.status == Status::InProgress && i.assignee.is_some();
    SlotStatus {
        id: i.id.clone(),
        available: !held,
        holder: if held { i.assignee.clone() } else { None },
        waiters: waiters(i),
    }
}

pub fn check(store: &mut Store) -> Result<SlotStatus, StoreError> {
    store.write(|tx| ensure(tx).map(|i| status_of(&i)))
}

pub fn acquire(store: &mut Store, holder: &str, wait: bool) -> Result<Acquire, StoreError> {
    store.write(|tx| {
        let i = ensure(tx)?;
        let s = status_of(&i);
        match s.holder {
            Some(h) if h != holder => {
                let mut w = s.waiters;
                if wait && !w.iter().any(|x| x == holder) {
                    w.push(holder.to_string());
                    tx.update(
                        &i.id,
                        &Update {
                            metadata: Some(json!({"waiters": w})),
                            ..Default::default()
                        },
                    )?;
                }
                let position = w.iter().position(|x| x == holder).map(|p| p + 1);
                Ok(Acquire {
                    id: i.id,
                    acquired: false,
                    waiting: wait,
                    holder: h,
                    position: position.filter(|_| wait),
                })
            }
            _ => {
                let w: Vec<String> = s.waiters.into_iter().filter(|x| x != holder).collect();
                tx.update(
                    &i.id,
                    &Update {
                        status: Some(Status::InProgress),
                        assignee: Some(Some(holder.to_string())),
                        metadata: Some(json!({"waiters": w})),
                        ..Default::default()
                    },
                )?;
                Ok(Acquire {
                    id: i.id,
                    acquired: true,
                    waiting: false,
                    holder: holder.to_string(),
                    position: None,
                })
            }
        }
    })
}

/// Release the slot; with `holder`, only if that is who holds it. The first
/// waiter (if any) takes it over.
pub fn release(store: &mut Store, holder: Option<&str>) -> Result<SlotStatus, StoreError> {
    store.write(|tx| {
        let i = ensure(tx)?;
        let s = status_of(&i);
        if let (Some(want), Some(h)) = (holder, s.holder.as_deref()) {
            if want != h {
                return Err(StoreError::Invalid(format!(
                    "the merge slot is held by {h}, not {want}; only its holder releases it"
                )));
            }
        }
        let mut w = s.waiters;
        let next = (!w.is_empty()).then(|| w.remove(0));
        let i = tx.update(
            &i.id,
            &Update {
                status: Some(if next.is_some() {
                    Status::InProgress
                } else {
                    Status::Open
                }),
                assignee: Some(next),
                metadata: Some(json!({"waiters": w})),
                ..Default::default()
            },
        )?;
        Ok(status_of(&i))
    })
}
