//! Squash: condense a molecule's ephemeral steps into one permanent digest.

use super::{MolError, Result};
use crate::store::{issues, IssueType, NewIssue, Status, Store, Update};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct SquashResult {
    pub root: String,
    /// The digest issue, or `None` when there was nothing ephemeral.
    pub digest: Option<String>,
    pub squashed: usize,
    pub kept_children: bool,
    pub dry_run: bool,
}

/// Build the digest of the molecule rooted at (or containing) `id`: a
/// closed, permanent issue `Digest: <title>` under the root whose text is
/// `summary` or a generated Markdown list of the steps. The ephemeral steps
/// are deleted unless `keep_children`; an ephemeral root is closed and made
/// permanent. One transaction.
pub fn squash(
    store: &mut Store,
    id: &str,
    summary: Option<&str>,
    keep_children: bool,
    dry_run: bool,
) -> Result<SquashResult> {
    let id = issues::resolve(store.conn(), store.prefix(), id)?;
    let root_id = issues::root_of(store.conn(), &id)?;
    let all = issues::subtree(store.conn(), &root_id)?;
    let Some((root, steps)) = all.split_first() else {
        return Err(MolError::Invalid(format!("{root_id} vanished")));
    };
    let wisps: Vec<_> = steps.iter().filter(|s| s.ephemeral).collect();
    if wisps.is_empty() {
        return Ok(SquashResult {
            root: root_id,
            digest: None,
            squashed: 0,
            kept_children: keep_children,
            dry_run,
        });
    }
    let text = match summary {
        Some(s) if !s.trim().is_empty() => s.to_string(),
        _ => {
            let done = wisps.iter().filter(|s| s.status == Status::Closed).count();
            let mut t = format!(
                "Digest of {} ({}): {done}/{} steps closed.\n\n",
                root.title,
                root.id,
                wisps.len()
            );
            for s in &wisps {
                let mark = if s.status == Status::Closed { "x" } else { " " };
                t += &format!("- [{mark}] {} ({})", s.title, s.id);
                if let Some(r) = &s.close_reason {
                    t += &format!(": {r}");
                }
                t.push('\n');
            }
            t
        }
    };
    if dry_run {
        return Ok(SquashResult {
            root: root_id,
            digest: None,
            squashed: wisps.len(),
            kept_children: keep_children,
            dry_run,
        });
    }
    let victims: Vec<String> = wisps.iter().map(|s| s.id.clone()).collect();
    let root_ephemeral = root.ephemeral;
    let root_title = root.title.clone();
    let digest = store.write(|tx| {
        if root_ephemeral {
            tx.conn().execute(
                "UPDATE issues SET ephemeral = 0, updated_at = ?2 WHERE id = ?1",
                rusqlite::params![root_id, tx.now],
            )?;
            tx.event(
                &root_id,
                "updated",
                Some("ephemeral"),
                Some("true"),
                Some("false"),
            )?;
        }
        if !keep_children {
            tx.delete(&victims)?;
        }
        let d = tx.create(&NewIssue {
            id: Some(format!("{root_id}.digest"))
                .filter(|d| !issues::exists(tx.conn(), d).unwrap_or(true)),
            title: format!("Digest: {root_title}"),
            description: text.clone(),
            issue_type: IssueType::Task,
            status: Status::Closed,
            parent: Some(root_id.clone()),
            labels: vec!["digest".into()],
            ..Default::default()
        })?;
        if root_ephemeral {
            tx.update(
                &root_id,
                &Update {
                    status: Some(Status::Closed),
                    ..Default::default()
                },
            )?;
        }
        Ok::<_, crate::store::StoreError>(d.id)
    })?;
    Ok(SquashResult {
        root: root_id,
        digest: Some(digest),
        squashed: victims.len(),
        kept_children: keep_children,
        dry_run,
    })
}
