//! The append-only event log. Rows are written in the same transaction as
//! the change they record.
//!
//! Two kinds of rows share the table:
//! - the ledger's own audit rows (`created`, `updated`, `status_changed`,
//!   ...) written by [`super::Tx::event`] with `field`/`old`/`new`;
//! - the town's story, one typed [`TownEvent`] (an enum with serde
//!   payloads) written by every part (runtime, witness, refinery, mail,
//!   convoys) through [`super::Tx::emit`]: `kind` is the variant's name and
//!   `payload` its JSON. `gt feed` reads them back as the same type.

use super::error::{Result, StoreError};
use super::types::Event;
use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Every story event of the town. The serde tag is the event kind; the
/// payload fields are the stable schema of `gt feed --json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "payload")]
pub enum TownEvent {
    /// A bead was slung to a rig's polecat.
    #[serde(rename = "sling")]
    Sling { rig: String, polecat: String },
    /// The bead went on the agent's hook under lease `lease`.
    #[serde(rename = "hook")]
    Hook { agent: String, lease: i64 },
    /// A session started for agent `agent` (session generation `generation`).
    #[serde(rename = "spawn")]
    Spawn {
        agent: String,
        generation: i64,
        #[serde(default)]
        pid: Option<i64>,
        #[serde(default)]
        rig: String,
    },
    /// A step was leased to `agent` (lease generation `lease`).
    #[serde(rename = "step.started")]
    StepStarted { agent: String, lease: i64 },
    /// A step closed under lease `lease` (0: closed without a session).
    #[serde(rename = "step.closed")]
    StepClosed { lease: i64 },
    /// A session failed: `reason` is failed, timeout, crash, spawn, ...
    #[serde(rename = "step.failed")]
    StepFailed { reason: String, error: String },
    #[serde(rename = "step.retry")]
    StepRetry { attempt: i64, not_before: String },
    #[serde(rename = "escalation")]
    Escalation { reason: String },
    /// A session died without an exit status.
    #[serde(rename = "crash")]
    Crash { lease: i64 },
    /// A lease was given back or restarted, or a supervisor restarted.
    #[serde(rename = "restart")]
    Restart {
        #[serde(default)]
        agent: Option<String>,
        #[serde(default)]
        lease: Option<i64>,
        #[serde(default)]
        supervisor: Option<i64>,
    },
    /// A supervisor adopted a live session.
    #[serde(rename = "adopt")]
    Adopt {
        #[serde(default)]
        agent: Option<String>,
        pid: i64,
    },
    #[serde(rename = "done")]
    Done {
        #[serde(default)]
        agent: Option<String>,
        bead: String,
        mr: String,
        #[serde(default)]
        branch: String,
    },
    #[serde(rename = "mail.sent")]
    MailSent {
        from: String,
        to: String,
        subject: String,
        #[serde(default)]
        kind: Option<String>,
    },
    #[serde(rename = "mr.merged")]
    MrMerged {
        bead: String,
        #[serde(default)]
        branch: String,
        sha: String,
        target: String,
    },
    #[serde(rename = "mr.rejected")]
    MrRejected {
        bead: String,
        #[serde(default)]
        branch: String,
        failure: String,
    },
    #[serde(rename = "mr.dropped")]
    MrDropped {
        #[serde(default)]
        bead: Option<String>,
        reason: String,
    },
    #[serde(rename = "mr.pushed")]
    MrPushed {
        #[serde(default)]
        bead: String,
        branch: String,
        remote: String,
        #[serde(default)]
        url: Option<String>,
    },
    #[serde(rename = "convoy.created")]
    ConvoyCreated {
        name: String,
        #[serde(default)]
        beads: Vec<String>,
    },
    #[serde(rename = "convoy.landed")]
    ConvoyLanded {
        name: String,
        #[serde(default)]
        beads: u64,
    },
    #[serde(rename = "convoy.closed")]
    ConvoyClosed {
        name: String,
        #[serde(default)]
        reason: Option<String>,
    },
    #[serde(rename = "convoy.reopened")]
    ConvoyReopened { name: String, reason: String },
    #[serde(rename = "nudge.queued")]
    NudgeQueued {
        agent: String,
        #[serde(default)]
        from: Option<String>,
        message: String,
    },
    #[serde(rename = "nudge.delivered")]
    NudgeDelivered { agent: String, via: String },
    #[serde(rename = "nudge.failed")]
    NudgeFailed { agent: String, error: String },
    #[serde(rename = "handoff")]
    Handoff {
        agent: String,
        #[serde(default)]
        generation: Option<i64>,
    },
    /// A signal on a channel (`gt mol step emit-event`), for whoever awaits it.
    #[serde(rename = "signal")]
    Signal {
        channel: String,
        signal: String,
        #[serde(default)]
        payload: std::collections::BTreeMap<String, String>,
    },
}

/// Every story kind, for SQL filters.
pub const STORY_KINDS: &[&str] = &[
    "sling",
    "hook",
    "spawn",
    "step.started",
    "step.closed",
    "step.failed",
    "step.retry",
    "escalation",
    "crash",
    "restart",
    "adopt",
    "done",
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
    "signal",
];

impl TownEvent {
    /// The event kind (the serde tag) and its payload.
    pub fn parts(&self) -> Result<(String, Value)> {
        let v = serde_json::to_value(self)?;
        let kind = v
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let payload = v.get("payload").cloned().unwrap_or(Value::Null);
        Ok((kind, payload))
    }

    /// The event of `kind` with `payload`; an error names what does not fit.
    pub fn from_parts(kind: &str, payload: Value) -> Result<TownEvent> {
        serde_json::from_value(serde_json::json!({"kind": kind, "payload": payload})).map_err(|e| {
            StoreError::Invalid(format!("event `{kind}`: its payload does not fit: {e}"))
        })
    }

    /// The agent the event is about, if it names one.
    pub fn agent(&self) -> Option<&str> {
        use TownEvent::*;
        match self {
            Hook { agent, .. }
            | Spawn { agent, .. }
            | StepStarted { agent, .. }
            | NudgeQueued { agent, .. }
            | NudgeDelivered { agent, .. }
            | NudgeFailed { agent, .. }
            | Handoff { agent, .. } => Some(agent),
            Restart { agent, .. } | Adopt { agent, .. } | Done { agent, .. } => agent.as_deref(),
            _ => None,
        }
    }
}

/// The short name of an agent address (`app/polecats/furiosa` → `furiosa`).
fn short(addr: &str) -> &str {
    addr.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(addr)
}

impl TownEvent {
    /// One sentence a person reads. `subject` is the event's issue (bead,
    /// step, merge request, convoy), `actor` who wrote it.
    pub fn sentence(&self, subject: &str, actor: &str) -> String {
        use TownEvent::*;
        match self {
            Sling { rig, polecat } => format!("{subject} slung to {polecat} in {rig}"),
            Hook { agent, lease } => {
                format!("{} hooked {subject} (lease {lease})", short(agent))
            }
            Spawn {
                agent,
                generation,
                rig,
                ..
            } => {
                let place = if rig.is_empty() {
                    String::new()
                } else {
                    format!(" in {rig}")
                };
                format!(
                    "{} (gen {generation}) started {subject}{place}",
                    short(agent)
                )
            }
            StepStarted { agent, lease } => {
                format!("{subject} leased to {} (lease {lease})", short(agent))
            }
            StepClosed { lease: 0 } => format!("{subject} closed"),
            StepClosed { lease } => format!("{subject} closed (lease {lease})"),
            StepFailed { reason, error } => format!("{subject} failed ({reason}): {error}"),
            StepRetry {
                attempt,
                not_before,
            } => format!(
                "{subject} will be retried (attempt {attempt}, not before {})",
                not_before.get(11..19).unwrap_or(not_before)
            ),
            Escalation { reason } => format!("escalated {subject}: {reason}"),
            Crash { lease } => format!("the session of {subject} (lease {lease}) crashed"),
            Restart { agent: Some(a), .. } => format!("{} restarted on {subject}", short(a)),
            Restart {
                supervisor: Some(p),
                ..
            } => format!("supervisor {p} resumed {subject}"),
            Restart { lease, .. } => format!(
                "{subject} given back (lease {})",
                lease.map_or("?".into(), |l| l.to_string())
            ),
            Adopt { agent, pid } => format!(
                "{} adopted the live session {pid} of {subject}",
                agent.as_deref().map(short).unwrap_or(actor)
            ),
            Done {
                agent, bead, mr, ..
            } => format!(
                "{} is done with {bead}; merge request {mr}",
                agent.as_deref().map(short).unwrap_or(actor)
            ),
            MailSent {
                from,
                to,
                subject: s,
                ..
            } => format!("{from} mailed {to}: {s}"),
            MrMerged {
                bead, sha, target, ..
            } => format!(
                "refinery merged {bead} into {target} and pushed {}",
                sha.get(..7).unwrap_or(sha)
            ),
            MrRejected { bead, failure, .. } => {
                format!("refinery rejected {bead} ({subject}): {failure}")
            }
            MrDropped { bead, reason } => format!(
                "refinery dropped {} : {reason}",
                bead.as_deref().unwrap_or(subject)
            )
            .replace(" :", ":"),
            MrPushed {
                branch,
                remote,
                url,
                ..
            } => match url {
                Some(u) => format!("refinery pushed {branch} to {remote} for review: {u}"),
                None => format!("refinery pushed {branch} to {remote} for review"),
            },
            ConvoyCreated { name, beads } => {
                format!(
                    "convoy {subject} \"{name}\" created tracking {} bead(s)",
                    beads.len()
                )
            }
            ConvoyLanded { name, beads } => {
                format!("convoy {subject} \"{name}\" landed: all {beads} bead(s) merged")
            }
            ConvoyClosed { name, .. } => format!("convoy {subject} \"{name}\" closed by hand"),
            ConvoyReopened { name, reason } => {
                format!("convoy {subject} \"{name}\" reopened: {reason}")
            }
            NudgeQueued { agent, message, .. } => format!("nudge queued for {agent}: {message}"),
            NudgeDelivered { agent, via } => format!("nudge delivered to {agent} via {via}"),
            NudgeFailed { agent, error } => {
                format!("nudge to {agent} failed ({error}); still queued")
            }
            Handoff { agent, .. } => format!("{agent} handed off to its next session"),
            Signal {
                channel,
                signal,
                payload,
            } => {
                let kv: Vec<String> = payload.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!(
                    "{} signalled {signal} on {channel} {}",
                    short(actor),
                    kv.join(" ")
                )
                .trim_end()
                .to_string()
            }
        }
    }
}

/// A story row of the log: where and when, and the typed event.
#[derive(Debug, Clone, Serialize)]
pub struct StoryEvent {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub subject: String,
    #[serde(flatten)]
    pub event: TownEvent,
}

/// The typed event of a row: its `payload`, or (rows written before typed
/// events) a JSON object in `new`. `None` for audit rows and old rows that
/// do not fit.
pub fn typed(kind: &str, payload: Option<&str>, new: Option<&str>) -> Option<TownEvent> {
    let text = payload.or(new)?;
    let v: Value = serde_json::from_str(text).ok()?;
    v.is_object()
        .then(|| TownEvent::from_parts(kind, v).ok())
        .flatten()
}

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

/// Story events with id greater than `after` and time at or after `since`,
/// oldest first.
pub fn story(conn: &Connection, after: i64, since: &str) -> Result<Vec<StoryEvent>> {
    let kinds: Vec<String> = STORY_KINDS.iter().map(|k| format!("'{k}'")).collect();
    let mut st = conn.prepare_cached(&format!(
        "SELECT id, issue_id, at, actor, kind, payload, new FROM events
         WHERE id > ?1 AND at >= ?2 AND kind IN ({}) ORDER BY id",
        kinds.join(",")
    ))?;
    let rows = st.query_map(rusqlite::params![after, since], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, Option<String>>(5)?,
            r.get::<_, Option<String>>(6)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, subject, at, actor, kind, payload, new) = row?;
        if let Some(event) = typed(&kind, payload.as_deref(), new.as_deref()) {
            out.push(StoryEvent {
                id,
                at,
                actor,
                subject,
                event,
            });
        }
    }
    Ok(out)
}

/// The newest `n` story events, oldest first.
pub fn story_last(conn: &Connection, n: usize) -> Result<Vec<StoryEvent>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let kinds: Vec<String> = STORY_KINDS.iter().map(|k| format!("'{k}'")).collect();
    let first: Option<i64> = conn
        .prepare_cached(&format!(
            "SELECT min(id) FROM (SELECT id FROM events WHERE kind IN ({}) ORDER BY id DESC LIMIT ?1)",
            kinds.join(",")
        ))?
        .query_row([n as i64], |r| r.get(0))?;
    match first {
        Some(id) => story(conn, id - 1, ""),
        None => Ok(Vec::new()),
    }
}

impl super::Tx<'_> {
    /// Append a story event about `subject` (in this transaction).
    pub fn emit(&self, subject: &str, event: &TownEvent) -> Result<()> {
        let (kind, payload) = event.parts()?;
        self.tx
            .prepare_cached(
                "INSERT INTO events (issue_id, at, actor, kind, payload) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(rusqlite::params![
                subject,
                self.now,
                self.actor,
                kind,
                payload.to_string()
            ])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_read_as_sentences() {
        let e = TownEvent::Spawn {
            agent: "app/polecats/furiosa".into(),
            generation: 1,
            pid: Some(42),
            rig: "app".into(),
        };
        assert_eq!(
            e.sentence("hq-dvu5", "witness"),
            "furiosa (gen 1) started hq-dvu5 in app"
        );
        let m = TownEvent::MrMerged {
            bead: "hq-dvu5".into(),
            branch: "polecat/furiosa/hq-dvu5".into(),
            sha: "3f2a1c0d9e".into(),
            target: "main".into(),
        };
        assert_eq!(
            m.sentence("hq-mr1", "app/refinery"),
            "refinery merged hq-dvu5 into main and pushed 3f2a1c0"
        );
        let (kind, payload) = m.parts().unwrap();
        assert_eq!(kind, "mr.merged");
        assert_eq!(TownEvent::from_parts(&kind, payload).unwrap(), m);
        assert!(TownEvent::from_parts("spawn", serde_json::json!({"x": 1})).is_err());
    }
}
