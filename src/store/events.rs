//! The append-only event log. Rows are written by [`super::Tx::event`] in the
//! same transaction as the change they record.

use super::error::Result;
use super::types::Event;
use rusqlite::Connection;

/// Map a row of `SELECT id, issue_id, at, actor, kind, field, old, new FROM events`.
pub fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Event> {
    Ok(Event {
        id: r.get(0)?,
        issue_id: r.get(1)?,
        at: r.get(2)?,
        actor: r.get(3)?,
        kind: r.get(4)?,
        field: r.get(5)?,
        old: r.get(6)?,
        new: r.get(7)?,
    })
}

/// Events of one issue, oldest first.
pub fn for_issue(conn: &Connection, id: &str) -> Result<Vec<Event>> {
    let mut st = conn.prepare_cached(
        "SELECT id, issue_id, at, actor, kind, field, old, new FROM events WHERE issue_id = ?1 ORDER BY id",
    )?;
    let rows = st.query_map([id], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Events with id greater than `after` (a feed cursor), oldest first.
pub fn since(conn: &Connection, after: i64, limit: usize) -> Result<Vec<Event>> {
    let mut st = conn.prepare_cached(
        "SELECT id, issue_id, at, actor, kind, field, old, new FROM events WHERE id > ?1 ORDER BY id LIMIT ?2",
    )?;
    let rows = st.query_map(rusqlite::params![after, limit as i64], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
