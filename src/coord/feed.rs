//! The feed: the story of the town, read from the store's event log.
//!
//! Coordination events carry a JSON object in the event's `new` column (the
//! payload); the runtime's events are expected in the same shape, with the
//! agent address under `"agent"` (else the event's actor is the agent).
//! Story kinds (shown by default) are the runtime's and ours; `--all` adds
//! the ledger's own rows (created, updated, closed, ...).
//!
//! `--problems` is derived from events alone (the runtime's agent table is
//! not needed): crashed (a `crash` with no later `restart`/`spawn`/`adopt`),
//! zombie (crashed while still holding hooked or in-progress work), stalled
//! (a `step.started` with no later event from that agent for the stall
//! threshold), stuck (the same past the stuck threshold, GUPP violation),
//! and open escalations.

use super::Result;
use crate::store::{ids, Event, Tx};
use rusqlite::{params, Connection};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// Event kinds the runtime emits.
pub const RUNTIME_KINDS: &[&str] = &[
    "sling",
    "spawn",
    "step.started",
    "step.closed",
    "step.failed",
    "step.retry",
    "escalation",
    "crash",
    "restart",
    "adopt",
    "hook",
    "done",
    "heartbeat",
];

/// Event kinds coordination emits.
pub const COORD_KINDS: &[&str] = &[
    "mail.sent",
    "mr.merged",
    "mr.rejected",
    "mr.dropped",
    "mr.pushed",
    "convoy.created",
    "convoy.landed",
    "convoy.closed",
    "convoy.reopened",
    "nudge.queued",
    "nudge.delivered",
    "nudge.failed",
    "handoff",
];

pub fn is_story(kind: &str) -> bool {
    RUNTIME_KINDS.contains(&kind) || COORD_KINDS.contains(&kind)
}

/// Append a coordination event: `payload` (a JSON object) goes in `new`.
pub fn emit(tx: &Tx<'_>, subject: &str, kind: &str, payload: Value) -> Result<()> {
    tx.event(subject, kind, None, None, Some(&payload.to_string()))?;
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

fn payload_of(e: &Event) -> Value {
    match e.new.as_deref().map(serde_json::from_str::<Value>) {
        Some(Ok(v @ Value::Object(_))) => v,
        _ => {
            let mut m = serde_json::Map::new();
            if let Some(f) = &e.field {
                m.insert("field".into(), Value::String(f.clone()));
            }
            if let Some(o) = &e.old {
                m.insert("old".into(), Value::String(o.clone()));
            }
            if let Some(n) = &e.new {
                m.insert("new".into(), Value::String(n.clone()));
            }
            Value::Object(m)
        }
    }
}

fn s<'a>(p: &'a Value, k: &str) -> &'a str {
    p.get(k).and_then(Value::as_str).unwrap_or("?")
}

/// One line of human text for an event.
pub fn describe(kind: &str, subject: &str, actor: &str, p: &Value) -> String {
    match kind {
        "mail.sent" => format!(
            "mail {} -> {}: {}",
            s(p, "from"),
            s(p, "to"),
            s(p, "subject")
        ),
        "mr.merged" => format!(
            "merged {} ({}) into {} at {}",
            s(p, "bead"),
            s(p, "branch"),
            s(p, "target"),
            s(p, "sha").chars().take(10).collect::<String>()
        ),
        "mr.rejected" => format!(
            "rejected {} for {}: {}",
            subject,
            s(p, "bead"),
            s(p, "failure")
        ),
        "mr.dropped" => format!("dropped {}: {}", subject, s(p, "reason")),
        "mr.pushed" => format!(
            "pushed {} to {} for review (pr strategy)",
            s(p, "branch"),
            s(p, "remote")
        ),
        "convoy.created" => format!(
            "convoy {} \"{}\" created tracking {} bead(s)",
            subject,
            s(p, "name"),
            p.get("beads")
                .and_then(Value::as_array)
                .map_or(0, |a| a.len())
        ),
        "convoy.landed" => format!(
            "convoy {} \"{}\" landed: all {} bead(s) merged",
            subject,
            s(p, "name"),
            p.get("beads").and_then(Value::as_u64).unwrap_or(0)
        ),
        "convoy.closed" => format!("convoy {subject} closed by hand"),
        "convoy.reopened" => format!("convoy {subject} reopened: {}", s(p, "reason")),
        "nudge.queued" => format!("nudge queued for {}: {}", s(p, "agent"), s(p, "message")),
        "nudge.delivered" => format!("nudge delivered to {} via {}", s(p, "agent"), s(p, "via")),
        "nudge.failed" => format!(
            "nudge to {} failed ({}); still queued",
            s(p, "agent"),
            s(p, "error")
        ),
        "handoff" => format!("{} handed off", s(p, "agent")),
        "done" => format!(
            "{} done with {} (branch {})",
            p.get("polecat")
                .or_else(|| p.get("agent"))
                .and_then(Value::as_str)
                .unwrap_or(actor),
            p.get("bead").and_then(Value::as_str).unwrap_or(subject),
            s(p, "branch")
        ),
        _ => {
            let mut parts = Vec::new();
            if let Some(o) = p.as_object() {
                for (k, v) in o {
                    let v = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    parts.push(format!("{k}={}", super::tail(&v, 80)));
                }
            }
            format!("{kind} {subject} {}", parts.join(" "))
                .trim()
                .to_string()
        }
    }
}

pub fn to_feed(e: &Event) -> FeedEvent {
    let payload = payload_of(e);
    let agent = payload
        .get("agent")
        .and_then(Value::as_str)
        .map(str::to_string);
    FeedEvent {
        id: e.id,
        at: e.at.clone(),
        actor: e.actor.clone(),
        kind: e.kind.clone(),
        subject: e.issue_id.clone(),
        agent,
        text: describe(&e.kind, &e.issue_id, &e.actor, &payload),
        payload,
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
    // Story kinds are filtered in SQL (index `events_kind`), so a store with
    // a million ledger events does not slow the default feed down.
    let kinds = if q.all {
        String::new()
    } else {
        let list: Vec<String> = RUNTIME_KINDS
            .iter()
            .chain(COORD_KINDS)
            .map(|k| format!("'{k}'"))
            .collect();
        format!(" AND kind IN ({})", list.join(","))
    };
    let mut st = conn.prepare_cached(&format!(
        "SELECT id, issue_id, at, actor, kind, field, old, new FROM events
         WHERE id > ?1 AND at >= ?2{kinds} ORDER BY id"
    ))?;
    let rows = st.query_map(params![q.after_id, since], crate::store::events::from_row)?;
    for e in rows {
        let e = e?;
        if q.all || is_story(&e.kind) {
            out.push(to_feed(&e));
        }
    }
    if let Some(n) = q.limit {
        if out.len() > n {
            out.drain(..out.len() - n);
        }
    }
    Ok(out)
}

pub fn last_event_id(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("SELECT coalesce(max(id), 0) FROM events", [], |r| r.get(0))?)
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Problem {
    pub agent: String,
    /// crashed, zombie, stalled, stuck, escalation
    pub kind: String,
    pub since: String,
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

#[derive(Default)]
struct AgentState {
    last_at: String,
    last_kind: String,
    crash: Option<(String, String)>,
    step: Option<(String, String)>,
}

/// Stuck, stalled, crashed and zombie agents and open escalations, derived
/// from the event log as of `now_secs`.
pub fn problems(conn: &Connection, now_secs: i64, th: Thresholds) -> Result<Vec<Problem>> {
    let mut agents: BTreeMap<String, AgentState> = BTreeMap::new();
    let mut escalations: Vec<(String, String, String, String)> = Vec::new();
    let mut st = conn.prepare(
        "SELECT id, issue_id, at, actor, kind, field, old, new FROM events
         WHERE kind IN ('spawn','restart','adopt','crash','step.started','step.closed','step.failed',
                        'step.retry','heartbeat','done','hook','escalation','sling','handoff')
         ORDER BY id",
    )?;
    let rows = st.query_map([], crate::store::events::from_row)?;
    for e in rows {
        let e = e?;
        let p = payload_of(&e);
        let agent = p
            .get("agent")
            .or_else(|| p.get("polecat"))
            .and_then(Value::as_str)
            .unwrap_or(&e.actor)
            .to_string();
        if e.kind == "escalation" {
            let why = p
                .get("reason")
                .or_else(|| p.get("message"))
                .and_then(Value::as_str)
                .unwrap_or("escalated")
                .to_string();
            escalations.push((agent.clone(), e.issue_id.clone(), e.at.clone(), why));
        }
        let a = agents.entry(agent).or_default();
        a.last_at = e.at.clone();
        a.last_kind = e.kind.clone();
        match e.kind.as_str() {
            "crash" => {
                let why = p
                    .get("reason")
                    .or_else(|| p.get("error"))
                    .and_then(Value::as_str)
                    .unwrap_or("session died")
                    .to_string();
                a.crash = Some((e.at.clone(), why));
                a.step = None;
            }
            "restart" | "spawn" | "adopt" => a.crash = None,
            "step.started" => a.step = Some((e.issue_id.clone(), e.at.clone())),
            "step.closed" | "step.failed" | "done" => a.step = None,
            _ => {}
        }
    }
    let mut out = Vec::new();
    let holding = |agent: &str| -> Result<Vec<String>> {
        let mut st = conn.prepare_cached(
            "SELECT id FROM issues WHERE assignee = ?1 AND status IN ('hooked', 'in_progress') ORDER BY id",
        )?;
        let rows = st.query_map([agent], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    };
    for (agent, a) in &agents {
        if let Some((at, why)) = &a.crash {
            let held = holding(agent)?;
            if held.is_empty() {
                out.push(Problem {
                    agent: agent.clone(),
                    kind: "crashed".into(),
                    since: at.clone(),
                    why: format!("crashed ({why}) and was not restarted"),
                });
            } else {
                out.push(Problem {
                    agent: agent.clone(),
                    kind: "zombie".into(),
                    since: at.clone(),
                    why: format!(
                        "crashed ({why}), not restarted, still holds {}",
                        held.join(", ")
                    ),
                });
            }
            continue;
        }
        if let Some((step, _)) = &a.step {
            let idle = ids::parse_secs(&a.last_at)
                .map(|t| now_secs - t)
                .unwrap_or(0);
            let kind = if idle >= th.stuck_secs {
                "stuck"
            } else if idle >= th.stalled_secs {
                "stalled"
            } else {
                continue;
            };
            out.push(Problem {
                agent: agent.clone(),
                kind: kind.into(),
                since: a.last_at.clone(),
                why: format!(
                    "working on {step}, no progress for {} min (last event: {})",
                    idle / 60,
                    a.last_kind
                ),
            });
        }
    }
    for (agent, issue, at, why) in escalations {
        let open: bool = conn
            .query_row(
                "SELECT status != 'closed' FROM issues WHERE id = ?1",
                [&issue],
                |r| r.get(0),
            )
            .unwrap_or(true);
        if open {
            out.push(Problem {
                agent,
                kind: "escalation".into(),
                since: at,
                why: format!("{issue}: {why}"),
            });
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
