//! Wisps: ephemeral molecules. Never exported, excluded from `bd ready`,
//! cleaned up by `bd mol wisp gc`.

use super::pour::{pour, PourOptions, PourResult};
use super::Result;
use crate::formula::proto::Proto;
use crate::store::{ids, issues, Issue, Status, Store};
use serde::Serialize;

/// Pour `proto` as a wisp.
pub fn wisp(store: &mut Store, proto: &Proto, opts: &PourOptions) -> Result<PourResult> {
    let mut o = opts.clone();
    o.ephemeral = true;
    pour(store, proto, &o)
}

/// A wisp molecule with its last activity.
#[derive(Debug, Clone, Serialize)]
pub struct WispInfo {
    pub root: Issue,
    pub issues: usize,
    pub last_activity: String,
    pub all_closed: bool,
}

/// Every ephemeral tree, by its top-most ephemeral issue.
pub fn list(store: &Store) -> Result<Vec<WispInfo>> {
    let conn = store.conn();
    let f = issues::IssueFilter {
        only_ephemeral: true,
        ..Default::default()
    };
    let mut out = Vec::new();
    for i in issues::list(conn, &f)? {
        // A root: no parent, or a persistent parent.
        let is_root = match crate::store::ready::parent_of_pub(conn, &i.id)? {
            None => true,
            Some(p) => !issues::get(conn, &p)?.ephemeral,
        };
        if !is_root {
            continue;
        }
        let sub: Vec<Issue> = issues::subtree(conn, &i.id)?
            .into_iter()
            .filter(|x| x.ephemeral)
            .collect();
        let last = sub
            .iter()
            .map(|x| x.updated_at.clone())
            .max()
            .unwrap_or_default();
        out.push(WispInfo {
            all_closed: sub.iter().all(|x| x.status == Status::Closed),
            issues: sub.len(),
            last_activity: last,
            root: i,
        });
    }
    Ok(out)
}

#[derive(Debug, Clone, Serialize)]
pub struct GcResult {
    pub deleted_molecules: Vec<String>,
    pub deleted_issues: usize,
    pub dry_run: bool,
}

/// Delete wisps idle for longer than `max_age_secs` (open ones), and, with
/// `closed`, every wisp whose issues are all closed.
pub fn gc(store: &mut Store, max_age_secs: i64, closed: bool, dry_run: bool) -> Result<GcResult> {
    gc_keeping(store, max_age_secs, closed, dry_run, &[])
}

/// [`gc`], sparing the wisps rooted at `keep` (those on an agent's hook).
pub fn gc_keeping(
    store: &mut Store,
    max_age_secs: i64,
    closed: bool,
    dry_run: bool,
    keep: &[String],
) -> Result<GcResult> {
    let now = ids::parse_secs(&ids::now()).unwrap_or(0);
    let mut victims = Vec::new();
    let mut roots = Vec::new();
    for w in list(store)? {
        if keep.contains(&w.root.id) {
            continue;
        }
        let idle = now - ids::parse_secs(&w.last_activity).unwrap_or(now);
        if (closed && w.all_closed) || (!w.all_closed && idle > max_age_secs) {
            roots.push(w.root.id.clone());
            for x in issues::subtree(store.conn(), &w.root.id)? {
                if x.ephemeral {
                    victims.push(x.id);
                }
            }
        }
    }
    if !dry_run && !victims.is_empty() {
        store.write(|tx| tx.delete(&victims))?;
    }
    Ok(GcResult {
        deleted_molecules: roots,
        deleted_issues: victims.len(),
        dry_run,
    })
}
