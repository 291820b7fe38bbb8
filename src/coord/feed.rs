//! The feed: the story of the town, read from the store's event log as
//! typed events ([`TownEvent`]) and printed as sentences; `--json` prints
//! one object per event (`id, at, actor, kind, subject, agent, payload,
//! text`: a stable schema, the payload being the event's serde fields).
//! `--all` adds the ledger's own audit rows (created, updated, ...).
//!
//! `--problems` reads the agents and leases tables and checks every
//! session's process identity (pid + start time): dead, zombie, stuck and
//! stalled agents, and open escalations.

use super::Result;
use crate::store::agents::{self, AgentRow};
use crate::store::events::{self, StoryEvent, TownEvent};
use crate::store::{ids, leases, Event, Tx};
use rusqlite::{params, Connection};
use serde::Serialize;
use serde_json::Value;

/// Append a coordination event: `kind` and `payload` must make a
/// [`TownEvent`] (the one event type); it is written with [`Tx::emit`].
pub fn emit(tx: &Tx<'_>, subject: &str, kind: &str, payload: Value) -> Result<()> {
    tx.emit(subject, &TownEvent::from_parts(kind, payload)?)?;
    Ok(())
}

#[derive(Debug, Clone, Serialize)]
pub struct FeedEvent {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub kind: String,
    pub subject: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    pub payload: Value,
    pub text: String,
}

fn from_story(e: StoryEvent) -> Result<FeedEvent> {
    let (kind, payload) = e.event.parts()?;
    Ok(FeedEvent {
        id: e.id,
        text: e.event.sentence(&e.subject, &e.actor),
        agent: e.event.agent().map(str::to_string),
        at: e.at,
        actor: e.actor,
        kind,
        subject: e.subject,
        payload,
    })
}

/// An audit row of the ledger (`--all`).
fn from_audit(e: &Event) -> FeedEvent {
    let mut text = format!("{} {}", e.issue_id, e.kind);
    if let Some(f) = &e.field {
        text += &format!(" {f}");
    }
    match (&e.old, &e.new) {
        (Some(o), Some(n)) => {
            text += &format!(": {} -> {}", super::tail(o, 60), super::tail(n, 60))
        }
        (None, Some(n)) => text += &format!(": {}", super::tail(n, 80)),
        _ => {}
    }
    FeedEvent {
        id: e.id,
        at: e.at.clone(),
        actor: e.actor.clone(),
        kind: e.kind.clone(),
        subject: e.issue_id.clone(),
        agent: None,
        payload: serde_json::json!({"field": e.field, "old": e.old, "new": e.new}),
        text,
    }
}

/// Parse `--since`: an RFC 3339 timestamp (or a prefix of one, e.g.
/// `2026-03-01`), or an age such as `10m`, `2h`, `1d`. Returns the earliest
/// timestamp (store format) to include.
pub fn parse_since(input: &str, now_secs: i64) -> std::result::Result<String, String> {
    let t = input.trim();
    if let Ok(secs) = crate::formula::expr::duration::parse_duration(t) {
        return Ok(ids::format_micros((now_secs - secs as i64) * 1_000_000));
    }
    let date = t.get(..10).filter(|d| {
        let b = d.as_bytes();
        b[4] == b'-' && b[7] == b'-' && b[..4].iter().all(u8::is_ascii_digit)
    });
    if let Some(date) = date {
        let full = if t.len() >= 19 {
            t.to_string()
        } else {
            format!("{date}T00:00:00")
        };
        if ids::parse_secs(&full).is_some() {
            return Ok(full);
        }
    }
    Err(format!(
        "`{input}` is neither a time nor an age; use e.g. `30m`, `2h`, `1d`, or `2026-03-01T12:00:00`"
    ))
}

#[derive(Debug, Clone, Default)]
pub struct FeedQuery {
    /// Only events with id greater than this (a follow cursor).
    pub after_id: i64,
    /// Only events at or after this timestamp.
    pub since: Option<String>,
    /// Include the ledger's own events too.
    pub all: bool,
    pub limit: Option<usize>,
}

/// Events for the feed, oldest first.
pub fn read(conn: &Connection, q: &FeedQuery) -> Result<Vec<FeedEvent>> {
    let since = q.since.clone().unwrap_or_default();
    let mut out = Vec::new();
    for e in events::story(conn, q.after_id, &since)? {
        out.push(from_story(e)?);
    }
    if q.all {
        let mut st = conn.prepare_cached(
            "SELECT id, issue_id, at, actor, kind, field, old, new FROM events
             WHERE id > ?1 AND at >= ?2 AND payload IS NULL ORDER BY id",
        )?;
        let rows = st.query_map(params![q.after_id, since], events::from_row)?;
        let story: std::collections::HashSet<i64> = out.iter().map(|e| e.id).collect();
        for e in rows {
            let e = e?;
            if !story.contains(&e.id) {
                out.push(from_audit(&e));
            }
        }
        out.sort_by_key(|e| e.id);
    }
    if let Some(n) = q.limit {
        if out.len() > n {
            out.drain(..out.len() - n);
        }
    }
    Ok(out)
}

/// The newest `n` story events, oldest first (the dashboard's feed).
pub fn recent(conn: &Connection, n: usize) -> Result<Vec<FeedEvent>> {
    events::story_last(conn, n)?
        .into_iter()
        .map(from_story)
        .collect()
}

pub fn last_event_id(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("SELECT coalesce(max(id), 0) FROM events", [], |r| r.get(0))?)
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Problem {
    pub agent: String,
    /// dead, zombie, stuck, stalled, escalation
    pub kind: String,
    pub since: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bead: Option<String>,
    pub why: String,
}

#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    pub stalled_secs: i64,
    pub stuck_secs: i64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            stalled_secs: 15 * 60,
            stuck_secs: 30 * 60,
        }
    }
}

/// Seconds since the agent last showed progress: its lease's heartbeat or
/// start, or its session log's last write, whichever is newest.
fn idle_secs(a: &AgentRow, lease: Option<&leases::Lease>, now_secs: i64) -> Option<i64> {
    let from_lease = lease
        .and_then(|l| l.heartbeat_at.as_deref().or(l.leased_at.as_deref()))
        .and_then(ids::parse_secs);
    let from_log = a
        .log_path
        .as_deref()
        .and_then(|p| std::fs::metadata(p).ok())
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64);
    from_lease.max(from_log).map(|t| now_secs - t)
}

/// Is `bead` still hooked or in progress and assigned to `addr`?
fn holds(conn: &Connection, bead: &str, addr: &str) -> Result<bool> {
    Ok(conn
        .query_row(
            "SELECT count(*) FROM issues WHERE id = ?1 AND assignee = ?2 AND status IN ('hooked', 'in_progress')",
            params![bead, addr],
            |r| r.get::<_, i64>(0),
        )?
        > 0)
}

/// Dead, zombie, stuck and stalled agents (from the agents and leases
/// tables, each session checked by pid + start time), and open escalations.
pub fn problems(conn: &Connection, now_secs: i64, th: Thresholds) -> Result<Vec<Problem>> {
    let mut out = Vec::new();
    for a in agents::list(conn)? {
        let addr = a.address();
        let lease = match &a.hooked_bead {
            Some(b) => leases::get(conn, b)?,
            None => None,
        };
        let problem = |kind: &str, why: String| Problem {
            agent: addr.clone(),
            kind: kind.into(),
            since: a.updated_at.clone(),
            pid: a.pid,
            bead: a.hooked_bead.clone(),
            why,
        };
        if a.state == "stuck" {
            out.push(problem(
                "stuck",
                format!(
                    "escalated after failed attempts{}",
                    a.hooked_bead
                        .as_deref()
                        .map(|b| format!(" on {b}"))
                        .unwrap_or_default()
                ),
            ));
            continue;
        }
        if !matches!(a.state.as_str(), "spawning" | "working") {
            if a.session_alive() {
                out.push(problem(
                    "zombie",
                    format!(
                        "state {} but its session {} is still running",
                        a.state,
                        a.pid.unwrap_or(0)
                    ),
                ));
            }
            continue;
        }
        let alive = a.session_alive();
        let bead = a.hooked_bead.clone();
        match (alive, &bead) {
            (false, _) if a.pid.is_none() && a.owner_alive() => {} // being spawned
            (false, Some(b)) if holds(conn, b, &addr)? => out.push(problem(
                "zombie",
                match a.pid {
                    Some(p) => format!("session {p} is gone but it still holds {b} on its hook"),
                    None => format!("holds {b} on its hook but no session was ever started"),
                },
            )),
            (false, _) => out.push(problem(
                "dead",
                format!(
                    "state {} but its session {} is gone",
                    a.state,
                    a.pid.map_or("(none)".into(), |p| p.to_string())
                ),
            )),
            (true, Some(b)) if !holds(conn, b, &addr)? => out.push(problem(
                "zombie",
                format!(
                    "session {} still runs but {b} is no longer its work",
                    a.pid.unwrap_or(0)
                ),
            )),
            (true, _) => {
                let idle = idle_secs(&a, lease.as_ref(), now_secs).unwrap_or(0);
                let kind = if idle >= th.stuck_secs {
                    "stuck"
                } else if idle >= th.stalled_secs {
                    "stalled"
                } else {
                    continue;
                };
                out.push(problem(
                    kind,
                    format!(
                        "session {} alive, no progress for {} min (no heartbeat, no log output)",
                        a.pid.unwrap_or(0),
                        idle / 60
                    ),
                ));
            }
        }
    }
    for e in events::story(conn, 0, "")? {
        if let TownEvent::Escalation { reason } = &e.event {
            let open: bool = conn
                .query_row(
                    "SELECT status != 'closed' FROM issues WHERE id = ?1",
                    [&e.subject],
                    |r| r.get(0),
                )
                .unwrap_or(true);
            if open {
                out.push(Problem {
                    agent: e.actor.clone(),
                    kind: "escalation".into(),
                    since: e.at.clone(),
                    pid: None,
                    bead: Some(e.subject.clone()),
                    why: format!("{}: {reason}", e.subject),
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_forms() {
        let now = ids::parse_secs("2026-03-01T12:00:00").unwrap();
        assert!(parse_since("30m", now)
            .unwrap()
            .starts_with("2026-03-01T11:30:00"));
        assert_eq!(
            parse_since("2026-02-01", now).unwrap(),
            "2026-02-01T00:00:00"
        );
        assert!(parse_since("yesterday", now).is_err());
        assert!(parse_since("2026-03-0é", now).is_err());
        assert!(parse_since("ééééééééé", now).is_err());
    }
}
