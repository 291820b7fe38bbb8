//! Dependencies: add, remove, list, tree, and the cycle check.

use super::error::{Result, StoreError};
use super::issues::{self, not_found};
use super::types::*;
use super::{ready, Tx};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::{HashMap, VecDeque};

const BLOCKING: &str = "('blocks', 'conditional-blocks', 'parent-child', 'waits-for')";

fn dep_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Dep> {
    let t: String = r.get(2)?;
    let meta: Option<String> = r.get(3)?;
    Ok(Dep {
        issue_id: r.get(0)?,
        depends_on: r.get(1)?,
        dep_type: t.parse().map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, Box::new(e))
        })?,
        metadata: meta.and_then(|m| serde_json::from_str(&m).ok()),
        created_at: r.get(4)?,
        created_by: r.get(5)?,
    })
}

fn is_closed(conn: &Connection, id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT status = 'closed' FROM issues WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?
        .unwrap_or(false))
}

/// What `id` depends on.
pub fn deps_of(conn: &Connection, id: &str) -> Result<Vec<Dep>> {
    let mut st = conn.prepare_cached(
        "SELECT issue_id, depends_on, type, metadata, created_at, created_by FROM deps WHERE issue_id = ?1 ORDER BY depends_on, type",
    )?;
    let rows = st.query_map([id], dep_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// What depends on `id`.
pub fn dependents(conn: &Connection, id: &str) -> Result<Vec<Dep>> {
    let mut st = conn.prepare_cached(
        "SELECT issue_id, depends_on, type, metadata, created_at, created_by FROM deps WHERE depends_on = ?1 ORDER BY issue_id, type",
    )?;
    let rows = st.query_map([id], dep_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// A path `from -> ... -> to` over blocking edges, if one exists.
pub fn blocking_path(conn: &Connection, from: &str, to: &str) -> Result<Option<Vec<String>>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT depends_on FROM deps WHERE issue_id = ?1 AND type IN {BLOCKING}"
    ))?;
    let mut prev: HashMap<String, String> = HashMap::new();
    let mut queue = VecDeque::from([from.to_string()]);
    prev.insert(from.to_string(), String::new());
    while let Some(cur) = queue.pop_front() {
        if cur == to {
            let mut path = vec![cur.clone()];
            let mut c = cur;
            while let Some(p) = prev.get(&c).filter(|p| !p.is_empty()) {
                path.push(p.clone());
                c = p.clone();
            }
            path.reverse();
            return Ok(Some(path));
        }
        let next: Vec<String> = st
            .query_map([&cur], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for n in next {
            if !prev.contains_key(&n) {
                prev.insert(n.clone(), cur.clone());
                queue.push_back(n);
            }
        }
    }
    Ok(None)
}

/// One node of a dependency tree.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TreeNode {
    pub id: String,
    pub title: String,
    pub status: Status,
    #[serde(rename = "type")]
    pub dep_type: Option<DepType>,
    pub children: Vec<TreeNode>,
    /// Already shown higher up (a diamond); not expanded again.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub seen: bool,
}

/// The tree of what `id` depends on (`reverse = false`) or of what depends
/// on it (`reverse = true`), down to `max_depth`.
pub fn tree(conn: &Connection, id: &str, reverse: bool, max_depth: usize) -> Result<TreeNode> {
    let root = issues::get(conn, id)?;
    let mut seen = std::collections::HashSet::new();
    seen.insert(root.id.clone());
    let children = subtree(conn, &root.id, reverse, max_depth, &mut seen)?;
    Ok(TreeNode {
        id: root.id,
        title: root.title,
        status: root.status,
        dep_type: None,
        children,
        seen: false,
    })
}

fn subtree(
    conn: &Connection,
    id: &str,
    reverse: bool,
    depth: usize,
    seen: &mut std::collections::HashSet<String>,
) -> Result<Vec<TreeNode>> {
    if depth == 0 {
        return Ok(Vec::new());
    }
    let edges = if reverse {
        dependents(conn, id)?
    } else {
        deps_of(conn, id)?
    };
    let mut out = Vec::new();
    for e in edges {
        let other = if reverse { e.issue_id } else { e.depends_on };
        let issue = issues::get(conn, &other)?;
        let first = seen.insert(other.clone());
        let children = if first {
            subtree(conn, &other, reverse, depth - 1, seen)?
        } else {
            Vec::new()
        };
        out.push(TreeNode {
            id: other,
            title: issue.title,
            status: issue.status,
            dep_type: Some(e.dep_type),
            children,
            seen: !first,
        });
    }
    Ok(out)
}

impl Tx<'_> {
    /// `from` depends on `to`. Returns false if the edge already existed.
    pub fn add_dep(
        &self,
        from: &str,
        to: &str,
        t: DepType,
        metadata: Option<&serde_json::Value>,
    ) -> Result<bool> {
        let conn = &self.tx;
        if from == to {
            return Err(StoreError::Invalid(format!(
                "{from} cannot depend on itself"
            )));
        }
        let from_closed: bool = conn
            .query_row(
                "SELECT status = 'closed' FROM issues WHERE id = ?1",
                [from],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| not_found(conn, from))?;
        if !issues::exists(conn, to)? {
            return Err(not_found(conn, to));
        }
        let exists: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM deps WHERE issue_id = ?1 AND depends_on = ?2 AND type = ?3)",
            params![from, to, t.as_str()],
            |r| r.get(0),
        )?;
        if exists {
            return Ok(false);
        }
        if t == DepType::ParentChild {
            if let Some(p) = ready::parent_of(conn, from)? {
                return Err(StoreError::HasParent {
                    id: from.to_string(),
                    parent: p,
                });
            }
        }
        if t.is_blocking() {
            if let Some(mut path) = blocking_path(conn, to, from)? {
                // from -> to -> ... -> from
                path.insert(0, from.to_string());
                return Err(StoreError::Cycle { cycle: path });
            }
        }
        let meta = match metadata {
            Some(m) => Some(serde_json::to_string(m)?),
            None if t == DepType::WaitsFor => Some(r#"{"gate":"all-children"}"#.to_string()),
            None => None,
        };
        conn.prepare_cached(
            "INSERT INTO deps (issue_id, depends_on, type, metadata, created_at, created_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![from, to, t.as_str(), meta, self.now, self.actor])?;
        self.event(from, "dep_added", Some(t.as_str()), None, Some(to))?;
        conn.prepare_cached("UPDATE issues SET updated_at = ?2 WHERE id = ?1")?
            .execute(params![from, self.now])?;
        // A blocking edge to an open target is one more open blocker: moved
        // by one, not recounted (adding n blockers costs O(n), not O(n^2)).
        let counted = matches!(t, DepType::Blocks | DepType::ConditionalBlocks);
        if counted && !is_closed(conn, to)? {
            ready::move_blockers(conn, from, 1)?;
        }
        let mut seeds = vec![(
            from.to_string(),
            if counted {
                ready::Recount::KeepBlockers
            } else {
                ready::Recount::All
            },
        )];
        if t == DepType::ParentChild {
            ready::child_counts(conn, to, from_closed, 1)?;
            seeds.extend(
                ready::waiters_of(conn, to)?
                    .into_iter()
                    .map(|w| (w, ready::Recount::All)),
            );
        }
        ready::settle_seeds(conn, seeds)?;
        Ok(true)
    }

    /// Remove `from -> to` edges (of type `t`, or of every type). Returns how many.
    pub fn remove_dep(&self, from: &str, to: &str, t: Option<DepType>) -> Result<usize> {
        let conn = &self.tx;
        let edges: Vec<Dep> = deps_of(conn, from)?
            .into_iter()
            .filter(|d| d.depends_on == to && t.is_none_or(|t| d.dep_type == t))
            .collect();
        if edges.is_empty() {
            return Ok(0);
        }
        let from_closed = issues::get(conn, from)?.status == Status::Closed;
        let mut seeds = vec![from.to_string()];
        for e in &edges {
            conn.execute(
                "DELETE FROM deps WHERE issue_id = ?1 AND depends_on = ?2 AND type = ?3",
                params![from, to, e.dep_type.as_str()],
            )?;
            self.event(
                from,
                "dep_removed",
                Some(e.dep_type.as_str()),
                Some(to),
                None,
            )?;
            if e.dep_type == DepType::ParentChild {
                ready::child_counts(conn, to, from_closed, -1)?;
                seeds.extend(ready::waiters_of(conn, to)?);
            }
        }
        conn.execute(
            "UPDATE issues SET updated_at = ?2 WHERE id = ?1",
            params![from, self.now],
        )?;
        ready::settle(conn, seeds)?;
        Ok(edges.len())
    }
}
