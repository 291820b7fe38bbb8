//! Read-side views: where a molecule stands (`bd mol current|show|progress`).

use super::{MolError, Result};
use crate::store::{issues, Issue, IssueType, Status, Store};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    /// Closed.
    Done,
    /// In progress or hooked.
    Current,
    /// Open and nothing blocks it.
    Ready,
    /// Status `blocked`.
    Blocked,
    /// Open but waiting on something (or deferred, pinned).
    Pending,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepView {
    pub id: String,
    pub title: String,
    #[serde(rename = "type")]
    pub issue_type: IssueType,
    pub status: Status,
    pub state: StepState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    /// Nesting below the root (1 = top-level step).
    pub depth: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    pub total: usize,
    pub done: usize,
    pub current: usize,
    pub ready: usize,
    pub blocked: usize,
    pub pending: usize,
    pub percent: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct MolView {
    pub root: Issue,
    pub formula: Option<String>,
    pub steps: Vec<StepView>,
    pub next_step: Option<StepView>,
    pub counts: Counts,
}

/// The molecule that holds `id` (any step or the root), viewed as a whole.
/// Without an id: the molecule of the first step that `actor` is working on.
pub fn current(store: &Store, id: Option<&str>, actor: &str) -> Result<MolView> {
    let conn = store.conn();
    let start = match id {
        Some(id) => issues::resolve(conn, store.prefix(), id)?,
        None => {
            let mut f = issues::IssueFilter {
                status: vec![Status::InProgress, Status::Hooked],
                assignee: Some(actor.to_string()),
                include_ephemeral: true,
                limit: Some(1),
                ..Default::default()
            };
            let mine = issues::list(conn, &f)?;
            f.status.clear();
            match mine.into_iter().next() {
                Some(i) => i.id,
                None => {
                    return Err(MolError::Invalid(format!(
                        "{actor} has no step in progress; pass a molecule id (`bd mol current ID`)"
                    )))
                }
            }
        }
    };
    let root_id = issues::root_of(conn, &start)?;
    let all = issues::subtree(conn, &root_id)?;
    let mut it = all.into_iter();
    let root = it
        .next()
        .ok_or_else(|| MolError::Invalid(format!("{root_id} vanished")))?;
    let mut depth: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    depth.insert(root.id.clone(), 0);
    let mut steps = Vec::new();
    let mut next: Option<StepView> = None;
    let mut counts = Counts::default();
    for i in it {
        let d = crate::store::ready::parent_of_pub(conn, &i.id)?
            .and_then(|p| depth.get(&p).copied())
            .unwrap_or(0)
            + 1;
        depth.insert(i.id.clone(), d);
        let (blocked, open_children) = issues::blocked_and_open_children(conn, &i.id)?;
        let state = match i.status {
            Status::Closed => StepState::Done,
            Status::InProgress | Status::Hooked => StepState::Current,
            Status::Blocked => StepState::Blocked,
            Status::Open if !blocked => StepState::Ready,
            _ => StepState::Pending,
        };
        match state {
            StepState::Done => counts.done += 1,
            StepState::Current => counts.current += 1,
            StepState::Ready => counts.ready += 1,
            StepState::Blocked => counts.blocked += 1,
            StepState::Pending => counts.pending += 1,
        }
        let view = StepView {
            id: i.id,
            title: i.title,
            issue_type: i.issue_type,
            status: i.status,
            state,
            assignee: i.assignee,
            depth: d,
        };
        // The next step is the first ready one with no open children: a
        // parent step is worked through its children.
        if next.is_none() && state == StepState::Ready && open_children == 0 {
            next = Some(view.clone());
        }
        steps.push(view);
    }
    counts.total = steps.len();
    counts.percent = (counts.done * 100)
        .checked_div(counts.total)
        .map_or(100, |p| p as u32);
    let formula = root
        .metadata
        .get("formula")
        .and_then(|f| f.as_str())
        .map(str::to_string);
    Ok(MolView {
        root,
        formula,
        steps,
        next_step: next,
        counts,
    })
}
