//! Burn: delete a molecule (root and every step) in one transaction.

use super::{MolError, Result};
use crate::store::{issues, IssueType, Store};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct BurnResult {
    pub root: String,
    pub deleted: Vec<String>,
    pub dry_run: bool,
}

/// Delete the molecule rooted at `id` (a root, or any step of it: the whole
/// molecule goes). A non-molecule needs `force`.
pub fn burn(store: &mut Store, id: &str, force: bool, dry_run: bool) -> Result<BurnResult> {
    let id = issues::resolve(store.conn(), store.prefix(), id)?;
    let root = issues::root_of(store.conn(), &id)?;
    let root_issue = issues::get(store.conn(), &root)?;
    if root_issue.issue_type != IssueType::Molecule && !force {
        return Err(MolError::Invalid(format!(
            "{root} is a {}, not a molecule; pass --force to delete it and everything below it",
            root_issue.issue_type
        )));
    }
    let victims: Vec<String> = issues::subtree(store.conn(), &root)?
        .into_iter()
        .map(|i| i.id)
        .collect();
    if !dry_run {
        store.write(|tx| tx.delete(&victims))?;
    }
    Ok(BurnResult {
        root,
        deleted: victims,
        dry_run,
    })
}
