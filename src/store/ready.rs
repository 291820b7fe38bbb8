//! The ready set, maintained incrementally.
//!
//! Every issue carries materialised columns (see `docs/store.md`):
//! `open_blockers` (blocking targets not closed), `waits_unsat` (unsatisfied
//! `waits-for` gates), `anc_blocked` (the parent is blocked),
//! `children_open`/`children_closed` (for `waits-for` gates on it), and
//! `blocked` = not closed and any of the above (or status blocked/deferred).
//! Ready = `status = 'open' AND blocked = 0 AND ephemeral = 0`, served by a
//! partial index. A change re-evaluates only the issues it can affect, via
//! [`settle`], and walks down to children only when `blocked` flips.

use super::error::Result;
use super::issues::{from_row, COLS};
use super::types::{Issue, Status};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::{HashSet, VecDeque};

/// The parent of `id` (through `parent-child`), if any.
pub fn parent_of_pub(conn: &Connection, id: &str) -> Result<Option<String>> {
    parent_of(conn, id)
}

pub(crate) fn parent_of(conn: &Connection, id: &str) -> Result<Option<String>> {
    let mut st = conn.prepare_cached(
        "SELECT depends_on FROM deps WHERE issue_id = ?1 AND type = 'parent-child' LIMIT 1",
    )?;
    Ok(st.query_row([id], |r| r.get(0)).optional()?)
}

fn ids_where(conn: &Connection, sql: &str, id: &str) -> Result<Vec<String>> {
    let mut st = conn.prepare_cached(sql)?;
    let rows = st.query_map([id], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn children_of(conn: &Connection, id: &str) -> Result<Vec<String>> {
    ids_where(
        conn,
        "SELECT issue_id FROM deps WHERE depends_on = ?1 AND type = 'parent-child'",
        id,
    )
}

/// Issues whose `waits-for` gate points at `id` (the spawner).
pub(crate) fn waiters_of(conn: &Connection, id: &str) -> Result<Vec<String>> {
    ids_where(
        conn,
        "SELECT issue_id FROM deps WHERE depends_on = ?1 AND type = 'waits-for'",
        id,
    )
}

/// Issues that `blocks`/`conditional-blocks` on `id`.
pub(crate) fn dependents_of(conn: &Connection, id: &str) -> Result<Vec<String>> {
    ids_where(
        conn,
        "SELECT issue_id FROM deps WHERE depends_on = ?1 AND type IN ('blocks', 'conditional-blocks')",
        id,
    )
}

/// A child of `parent` was added (`delta = 1`) or removed (`-1`).
pub(crate) fn child_counts(
    conn: &Connection,
    parent: &str,
    closed: bool,
    delta: i64,
) -> Result<()> {
    let col = if closed {
        "children_closed"
    } else {
        "children_open"
    };
    conn.prepare_cached(&format!(
        "UPDATE issues SET {col} = {col} + ?2 WHERE id = ?1"
    ))?
    .execute(params![parent, delta])?;
    Ok(())
}

pub(crate) fn child_left(conn: &Connection, parent: &str, closed: bool) -> Result<()> {
    child_counts(conn, parent, closed, -1)
}

/// Keep counters and readiness right after `id` went from `old` to `new`.
///
/// Opening or closing `id` moves each dependent's `open_blockers` by one
/// instead of recounting its blockers: a fan-in of n steps costs O(n), not
/// O(n^2).
pub(crate) fn status_changed(conn: &Connection, id: &str, old: Status, new: Status) -> Result<()> {
    let mut seeds = vec![(id.to_string(), Recount::All)];
    let (was, is) = (old == Status::Closed, new == Status::Closed);
    if was != is {
        if let Some(p) = parent_of(conn, id)? {
            child_counts(conn, &p, was, -1)?;
            child_counts(conn, &p, is, 1)?;
            seeds.extend(waiters_of(conn, &p)?.into_iter().map(|w| (w, Recount::All)));
        }
        let delta = if is { -1 } else { 1 };
        let mut bump = conn
            .prepare_cached("UPDATE issues SET open_blockers = open_blockers + ?2 WHERE id = ?1")?;
        for d in dependents_of(conn, id)? {
            bump.execute(params![d, delta])?;
            seeds.push((d, Recount::KeepBlockers));
        }
    }
    settle_seeds(conn, seeds)
}

fn compute_blocked(status: &str, ob: i64, wu: i64, ab: bool) -> bool {
    status != "closed" && (ob > 0 || wu > 0 || ab || status == "blocked" || status == "deferred")
}

/// One more (`delta = 1`) or one fewer (`-1`) open blocker for `id`.
pub(crate) fn move_blockers(conn: &Connection, id: &str, delta: i64) -> Result<()> {
    conn.prepare_cached("UPDATE issues SET open_blockers = open_blockers + ?2 WHERE id = ?1")?
        .execute(params![id, delta])?;
    Ok(())
}

/// What [`settle_seeds`] recounts for a seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recount {
    /// Every materialised column.
    All,
    /// All but `open_blockers`, which the caller already adjusted.
    KeepBlockers,
}

/// Re-evaluate the materialised readiness of `seeds`, and of the children of
/// every issue whose `blocked` flag flips, transitively.
pub(crate) fn settle(conn: &Connection, seeds: impl IntoIterator<Item = String>) -> Result<()> {
    settle_seeds(conn, seeds.into_iter().map(|s| (s, Recount::All)))
}

pub(crate) fn settle_seeds(
    conn: &Connection,
    seeds: impl IntoIterator<Item = (String, Recount)>,
) -> Result<()> {
    let mut queue: VecDeque<(String, Recount)> = VecDeque::new();
    let mut queued: HashSet<String> = HashSet::new();
    for (s, how) in seeds {
        if queued.insert(s.clone()) {
            queue.push_back((s, how));
        } else if how == Recount::All {
            // Seeded twice: the stronger recount wins.
            if let Some(q) = queue.iter_mut().find(|(q, _)| *q == s) {
                q.1 = Recount::All;
            }
        }
    }
    let mut load = conn.prepare_cached(
        "SELECT status, open_blockers, waits_unsat, anc_blocked, blocked FROM issues WHERE id = ?1",
    )?;
    let mut count_blockers = conn.prepare_cached(
        "SELECT count(*) FROM deps d JOIN issues t ON t.id = d.depends_on
         WHERE d.issue_id = ?1 AND d.type IN ('blocks', 'conditional-blocks') AND t.status <> 'closed'",
    )?;
    let mut count_waits = conn.prepare_cached(
        "SELECT count(*) FROM deps d JOIN issues s ON s.id = d.depends_on
         WHERE d.issue_id = ?1 AND d.type = 'waits-for' AND
           CASE WHEN json_extract(coalesce(d.metadata, '{}'), '$.gate') = 'any-children'
                THEN s.children_open > 0 AND s.children_closed = 0
                ELSE s.children_open > 0 END",
    )?;
    let mut parent_blocked = conn.prepare_cached(
        "SELECT p.blocked FROM deps d JOIN issues p ON p.id = d.depends_on
         WHERE d.issue_id = ?1 AND d.type = 'parent-child' LIMIT 1",
    )?;
    let mut store = conn.prepare_cached(
        "UPDATE issues SET open_blockers = ?2, waits_unsat = ?3, anc_blocked = ?4, blocked = ?5 WHERE id = ?1",
    )?;
    while let Some((id, how)) = queue.pop_front() {
        queued.remove(&id);
        let Some((status, ob0, wu0, ab0, b0)) = load
            .query_row([&id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, bool>(3)?,
                    r.get::<_, bool>(4)?,
                ))
            })
            .optional()?
        else {
            continue;
        };
        let ob: i64 = match how {
            Recount::All => count_blockers.query_row([&id], |r| r.get(0))?,
            Recount::KeepBlockers => ob0,
        };
        let wu: i64 = count_waits.query_row([&id], |r| r.get(0))?;
        let ab: bool = parent_blocked
            .query_row([&id], |r| r.get(0))
            .optional()?
            .unwrap_or(false);
        let b = compute_blocked(&status, ob, wu, ab);
        if (ob, wu, ab, b) != (ob0, wu0, ab0, b0) {
            store.execute(params![id, ob, wu, ab, b])?;
        }
        if b != b0 {
            for c in children_of(conn, &id)? {
                if queued.insert(c.clone()) {
                    queue.push_back((c, Recount::All));
                }
            }
        }
    }
    Ok(())
}

/// Recompute every materialised column from scratch (after an import, and
/// as the reference the incremental path is tested against).
pub fn rebuild_all(conn: &Connection) -> Result<()> {
    conn.execute_batch(
        r#"
UPDATE issues SET
  children_open = (SELECT count(*) FROM deps d JOIN issues c ON c.id = d.issue_id
                   WHERE d.depends_on = issues.id AND d.type = 'parent-child' AND c.status <> 'closed'),
  children_closed = (SELECT count(*) FROM deps d JOIN issues c ON c.id = d.issue_id
                   WHERE d.depends_on = issues.id AND d.type = 'parent-child' AND c.status = 'closed'),
  open_blockers = (SELECT count(*) FROM deps d JOIN issues t ON t.id = d.depends_on
                   WHERE d.issue_id = issues.id AND d.type IN ('blocks', 'conditional-blocks') AND t.status <> 'closed'),
  anc_blocked = 0;
UPDATE issues SET waits_unsat = (SELECT count(*) FROM deps d JOIN issues s ON s.id = d.depends_on
         WHERE d.issue_id = issues.id AND d.type = 'waits-for' AND
           CASE WHEN json_extract(coalesce(d.metadata, '{}'), '$.gate') = 'any-children'
                THEN s.children_open > 0 AND s.children_closed = 0
                ELSE s.children_open > 0 END);
UPDATE issues SET blocked = CASE WHEN status = 'closed' THEN 0
    WHEN open_blockers > 0 OR waits_unsat > 0 OR status IN ('blocked', 'deferred') THEN 1 ELSE 0 END;
"#,
    )?;
    loop {
        let n = conn.execute(
            "UPDATE issues SET anc_blocked = 1, blocked = (status <> 'closed')
             WHERE anc_blocked = 0 AND EXISTS (SELECT 1 FROM deps d JOIN issues p ON p.id = d.depends_on
                 WHERE d.issue_id = issues.id AND d.type = 'parent-child' AND p.blocked = 1)",
            [],
        )?;
        if n == 0 {
            break;
        }
    }
    Ok(())
}

/// Filters for [`ready`].
#[derive(Debug, Clone, Default)]
pub struct ReadyFilter {
    pub assignee: Option<String>,
    /// Only unassigned issues.
    pub unassigned: bool,
    pub label: Option<String>,
    pub issue_type: Option<String>,
    pub limit: Option<usize>,
}

/// Persistent open issues with nothing blocking them, by priority then age.
pub fn ready(conn: &Connection, f: &ReadyFilter) -> Result<Vec<Issue>> {
    let mut sql = format!(
        "SELECT {COLS} FROM issues INDEXED BY issues_ready WHERE status = 'open' AND blocked = 0 AND ephemeral = 0"
    );
    let mut args: Vec<String> = Vec::new();
    if let Some(a) = &f.assignee {
        args.push(a.clone());
        sql += &format!(" AND assignee = ?{}", args.len());
    }
    if f.unassigned {
        sql += " AND (assignee IS NULL OR assignee = '')";
    }
    if let Some(l) = &f.label {
        args.push(l.clone());
        sql += &format!(
            " AND EXISTS (SELECT 1 FROM labels l2 WHERE l2.issue_id = issues.id AND l2.label = ?{})",
            args.len()
        );
    }
    if let Some(t) = &f.issue_type {
        args.push(t.clone());
        sql += &format!(" AND issue_type = ?{}", args.len());
    }
    sql += " ORDER BY priority, created_at, id";
    if let Some(n) = f.limit {
        sql += &format!(" LIMIT {n}");
    }
    let mut st = conn.prepare(&sql)?;
    let rows = st.query_map(rusqlite::params_from_iter(args), from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The materialised columns of every issue, for consistency checks in tests.
/// One row of [`snapshot`]: id, open_blockers, waits_unsat, anc_blocked,
/// blocked, children_open, children_closed.
pub type SnapshotRow = (String, i64, i64, i64, i64, i64, i64);

pub fn snapshot(conn: &Connection) -> Result<Vec<SnapshotRow>> {
    let mut st = conn.prepare(
        "SELECT id, open_blockers, waits_unsat, anc_blocked, blocked, children_open, children_closed FROM issues ORDER BY id",
    )?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
        ))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
