//! Read-side details of one issue beyond its row: the counts, parent and
//! numbered comments that beads' JSON carries (`bd show/list/ready --json`),
//! and epic progress (`bd epic status`). Every query is an indexed lookup.

use super::error::Result;
use super::types::Issue;
use rusqlite::Connection;

/// How many dependencies an issue has and how many issues depend on it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DepCounts {
    pub dependencies: i64,
    pub dependents: i64,
}

/// What beads' list and ready rows count besides the issue's own
/// dependencies: `blocks` edges into the issue, and its comments.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RowCounts {
    pub blocked_dependents: i64,
    pub comments: i64,
}

pub fn row_counts(conn: &Connection, id: &str) -> Result<RowCounts> {
    let mut st = conn.prepare_cached(
        "SELECT (SELECT count(*) FROM deps WHERE depends_on = ?1 AND type = 'blocks'),
                (SELECT count(*) FROM comments WHERE issue_id = ?1)",
    )?;
    Ok(st.query_row([id], |r| {
        Ok(RowCounts {
            blocked_dependents: r.get(0)?,
            comments: r.get(1)?,
        })
    })?)
}

/// Counts over edges of every type (what beads' show reports).
pub fn all_counts(conn: &Connection, id: &str) -> Result<DepCounts> {
    let mut st = conn.prepare_cached(
        "SELECT (SELECT count(*) FROM deps WHERE issue_id = ?1),
                (SELECT count(*) FROM deps WHERE depends_on = ?1)",
    )?;
    Ok(st.query_row([id], |r| {
        Ok(DepCounts {
            dependencies: r.get(0)?,
            dependents: r.get(1)?,
        })
    })?)
}

pub fn comment_count(conn: &Connection, id: &str) -> Result<i64> {
    let mut st = conn.prepare_cached("SELECT count(*) FROM comments WHERE issue_id = ?1")?;
    Ok(st.query_row([id], |r| r.get(0))?)
}

/// A comment with its number, as beads lists it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct NumberedComment {
    /// beads' comment ids are strings.
    pub id: String,
    pub issue_id: String,
    pub author: String,
    pub text: String,
    pub created_at: String,
}

pub fn numbered_comments(conn: &Connection, id: &str) -> Result<Vec<NumberedComment>> {
    let mut st = conn.prepare_cached(
        "SELECT id, issue_id, author, text, created_at FROM comments
         WHERE issue_id = ?1 ORDER BY created_at, id",
    )?;
    let rows = st.query_map([id], |r| {
        Ok(NumberedComment {
            id: r.get::<_, i64>(0)?.to_string(),
            issue_id: r.get(1)?,
            author: r.get(2)?,
            text: r.get(3)?,
            created_at: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// An open epic and how many of its children are closed.
#[derive(Debug, Clone, PartialEq)]
pub struct EpicProgress {
    pub epic: Issue,
    pub total_children: i64,
    pub closed_children: i64,
}

impl EpicProgress {
    pub fn eligible_for_close(&self) -> bool {
        self.total_children > 0 && self.total_children == self.closed_children
    }
}

/// Epics that are not closed and have at least one child, in id order.
pub fn open_epics(conn: &Connection) -> Result<Vec<EpicProgress>> {
    let mut st = conn.prepare(
        "SELECT id, children_open + children_closed, children_closed FROM issues
         WHERE issue_type = 'epic' AND status != 'closed'
           AND children_open + children_closed > 0
         ORDER BY id",
    )?;
    let rows: Vec<(String, i64, i64)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    rows.into_iter()
        .map(|(id, total, closed)| {
            Ok(EpicProgress {
                epic: super::issues::get(conn, &id)?,
                total_children: total,
                closed_children: closed,
            })
        })
        .collect()
}

/// Ids and titles of issues that are not closed (wisps excluded) whose id
/// starts with `prefix`, in id order, at most `limit`: for shell completion.
pub fn open_ids_with_prefix(
    conn: &Connection,
    prefix: &str,
    limit: usize,
) -> Result<Vec<(String, String)>> {
    let mut st = conn.prepare_cached(
        "SELECT id, title FROM issues
         WHERE id >= ?1 AND id < ?2 AND status != 'closed' AND ephemeral = 0
         ORDER BY id LIMIT ?3",
    )?;
    let upper = format!("{prefix}\u{10ffff}");
    let rows = st.query_map(rusqlite::params![prefix, upper, limit as i64], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// beads' `Statistics` (the `summary` of `bd stats --json`), wisps excluded.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Statistics {
    pub total_issues: i64,
    pub open_issues: i64,
    pub in_progress_issues: i64,
    pub closed_issues: i64,
    pub blocked_issues: i64,
    pub deferred_issues: i64,
    pub ready_issues: i64,
    pub pinned_issues: i64,
    pub epics_eligible_for_closure: i64,
    /// Mean hours from creation to close over closed issues.
    pub average_lead_time_hours: f64,
}

pub fn statistics(conn: &Connection) -> Result<Statistics> {
    let mut st = conn.prepare(
        "SELECT count(*),
                count(*) FILTER (WHERE status = 'open'),
                count(*) FILTER (WHERE status IN ('in_progress', 'hooked')),
                count(*) FILTER (WHERE status = 'closed'),
                count(*) FILTER (WHERE status != 'closed' AND (blocked = 1 OR status = 'blocked')),
                count(*) FILTER (WHERE status = 'deferred'),
                count(*) FILTER (WHERE status = 'open' AND blocked = 0),
                count(*) FILTER (WHERE status = 'pinned'),
                count(*) FILTER (WHERE issue_type = 'epic' AND status != 'closed'
                                 AND children_open = 0 AND children_closed > 0),
                coalesce(avg((julianday(closed_at) - julianday(created_at)) * 24.0)
                         FILTER (WHERE status = 'closed' AND closed_at IS NOT NULL), 0.0)
         FROM issues WHERE ephemeral = 0",
    )?;
    Ok(st.query_row([], |r| {
        Ok(Statistics {
            total_issues: r.get(0)?,
            open_issues: r.get(1)?,
            in_progress_issues: r.get(2)?,
            closed_issues: r.get(3)?,
            blocked_issues: r.get(4)?,
            deferred_issues: r.get(5)?,
            ready_issues: r.get(6)?,
            pinned_issues: r.get(7)?,
            epics_eligible_for_closure: r.get(8)?,
            average_lead_time_hours: r.get(9)?,
        })
    })?)
}
