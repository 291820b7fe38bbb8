//! Nudges: short messages for a running agent.
//!
//! A nudge is first written to the store (`nudges`, state `queued`), so it is
//! never lost. Delivery then happens one of two ways:
//! - live, into a tmux pane, by [`deliver_tmux`]: type the text, press Enter,
//!   then read the pane back and confirm the text arrived. Only a confirmed
//!   delivery marks the nudge `delivered`; a failure records the error and
//!   leaves it queued (event `nudge.failed`);
//! - at the agent's next prime / turn boundary: `gt mail check --inject`
//!   drains the queue ([`drain_tx`]).
//!
//! Which tmux session belongs to which agent is the runtime's knowledge; the
//! runtime calls [`deliver_tmux`] with the session name.

use super::feed::emit;
use super::{CoordError, Result};
use crate::store::{Store, Tx};
use rusqlite::{params, Connection, Row};
use serde::Serialize;
use serde_json::json;
use std::process::Command;
use std::time::Duration;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Nudge {
    pub id: i64,
    pub target: String,
    pub sender: String,
    pub message: String,
    pub sender_gen: Option<i64>,
    pub target_gen: Option<i64>,
    pub created_at: String,
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
}

const COLS: &str =
    "id, target, sender, message, sender_gen, target_gen, created_at, state, attempts, last_error";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Nudge> {
    Ok(Nudge {
        id: r.get(0)?,
        target: r.get(1)?,
        sender: r.get(2)?,
        message: r.get(3)?,
        sender_gen: r.get(4)?,
        target_gen: r.get(5)?,
        created_at: r.get(6)?,
        state: r.get(7)?,
        attempts: r.get(8)?,
        last_error: r.get(9)?,
    })
}

/// Queue a nudge for `target` (an agent address, validated by the caller).
pub fn queue(
    store: &mut Store,
    target: &str,
    sender: &str,
    message: &str,
    sender_gen: Option<i64>,
) -> Result<Nudge> {
    if message.trim().is_empty() {
        return Err(CoordError::usage(
            "the nudge message is empty",
            "gt nudge AGENT \"what to do\"",
        ));
    }
    let id = store.write(|tx| -> Result<i64> {
        let conn = tx.conn();
        let tgen = super::mail::generation_of(conn, target)?;
        conn.prepare_cached(
            "INSERT INTO nudges (target, sender, message, sender_gen, target_gen, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![target, sender, message, sender_gen, tgen, tx.now])?;
        let id = conn.last_insert_rowid();
        emit(
            tx,
            &format!("nudge-{id}"),
            "nudge.queued",
            json!({"agent": target, "from": sender, "message": super::tail(message, 200)}),
        )?;
        Ok(id)
    })?;
    get(store.conn(), id)
}

/// `gt nudge AGENT MESSAGE` (and the dashboard's nudge): validate the
/// address against the town (one agent, not a group) and queue the nudge.
pub fn send(
    store: &mut Store,
    dir: &super::address::Directory,
    agent: &str,
    sender: &str,
    message: &str,
    sender_gen: Option<i64>,
) -> Result<Nudge> {
    let target = dir.parse(agent)?;
    if target.is_group() {
        return Err(CoordError::usage(
            format!("`{target}` is a group; nudge one agent"),
            format!("e.g. {target}/<name>"),
        ));
    }
    queue(store, &target.to_string(), sender, message, sender_gen)
}

pub fn get(conn: &Connection, id: i64) -> Result<Nudge> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLS} FROM nudges WHERE id = ?1"))?
        .query_row([id], from_row)?)
}

/// Queued (undelivered) nudges for `target`, oldest first.
pub fn pending_nudges(conn: &Connection, target: &str) -> Result<Vec<Nudge>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {COLS} FROM nudges WHERE target = ?1 AND state = 'queued' ORDER BY id"
    ))?;
    let rows = st.query_map([target], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Mark every queued nudge of `target` delivered (by `how`: `prime`, `tmux`)
/// and return them. Nudges queued for an older generation of the target
/// than `target_gen` are expired instead (they were meant for a session
/// that no longer exists).
pub fn drain_tx(
    tx: &Tx<'_>,
    target: &str,
    target_gen: Option<i64>,
    how: &str,
) -> Result<Vec<Nudge>> {
    let pending = pending_nudges(tx.conn(), target)?;
    let mut out = Vec::new();
    for n in pending {
        let expired = matches!((n.target_gen, target_gen), (Some(a), Some(b)) if a < b);
        let state = if expired { "expired" } else { "delivered" };
        tx.conn()
            .prepare_cached(
                "UPDATE nudges SET state = ?2, delivered_at = ?3, delivered_by = ?4 WHERE id = ?1",
            )?
            .execute(params![n.id, state, tx.now, how])?;
        if !expired {
            emit(
                tx,
                &format!("nudge-{}", n.id),
                "nudge.delivered",
                json!({"agent": target, "via": how}),
            )?;
            out.push(n);
        }
    }
    Ok(out)
}

/// Outcome of a live delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", content = "detail", rename_all = "snake_case")]
pub enum Delivery {
    /// Typed, Enter sent, and the text was read back from the pane.
    Delivered,
    /// tmux is not installed or the session does not exist: nothing was
    /// typed; the nudge stays queued for the next prime.
    Skipped(String),
    /// Something went wrong; the nudge stays queued.
    Failed(String),
}

/// How to reach tmux: the binary and an optional socket name (`-L`).
#[derive(Debug, Clone)]
pub struct Tmux {
    pub bin: String,
    pub socket: Option<String>,
    /// How long to wait for the text to show up in the pane.
    pub confirm_timeout: Duration,
}

impl Default for Tmux {
    fn default() -> Self {
        Tmux {
            bin: "tmux".into(),
            socket: std::env::var("GT_TMUX_SOCKET")
                .ok()
                .filter(|s| !s.is_empty()),
            confirm_timeout: Duration::from_secs(3),
        }
    }
}

impl Tmux {
    fn cmd(&self) -> Command {
        let mut c = Command::new(&self.bin);
        if let Some(s) = &self.socket {
            c.args(["-L", s]);
        }
        c
    }

    fn run(&self, args: &[&str]) -> std::result::Result<std::process::Output, String> {
        self.cmd()
            .args(args)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.bin))
    }

    pub fn available(&self) -> bool {
        self.cmd()
            .arg("-V")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    }

    pub fn has_session(&self, session: &str) -> bool {
        self.run(&["has-session", "-t", &format!("={session}")])
            .map(|o| o.status.success())
            .unwrap_or(false)
    }
}

fn normalise(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Type `text` into `session`, press Enter, and confirm by reading the pane.
/// The text is sent literally (`send-keys -l`), as one call, so concurrent
/// nudges cannot interleave inside one message; Enter is a separate key.
pub fn deliver_tmux(tmux: &Tmux, session: &str, text: &str) -> Delivery {
    if !tmux.available() {
        return Delivery::Skipped(format!("{} is not installed", tmux.bin));
    }
    if !tmux.has_session(session) {
        return Delivery::Skipped(format!("no tmux session `{session}`"));
    }
    let one_line = normalise(text);
    let target = format!("={session}:");
    match tmux.run(&["send-keys", "-t", &target, "-l", "--", &one_line]) {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            return Delivery::Failed(format!(
                "send-keys failed: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ))
        }
        Err(e) => return Delivery::Failed(e),
    }
    match tmux.run(&["send-keys", "-t", &target, "Enter"]) {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            return Delivery::Failed(format!(
                "sending Enter failed: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ))
        }
        Err(e) => return Delivery::Failed(e),
    }
    // Confirm: the text (its first 60 characters) must appear in the pane.
    let probe: String = one_line.chars().take(60).collect();
    let deadline = std::time::Instant::now() + tmux.confirm_timeout;
    loop {
        if let Ok(o) = tmux.run(&["capture-pane", "-p", "-J", "-t", &target, "-S", "-200"]) {
            if o.status.success() && normalise(&String::from_utf8_lossy(&o.stdout)).contains(&probe)
            {
                return Delivery::Delivered;
            }
        }
        if std::time::Instant::now() >= deadline {
            return Delivery::Failed(format!(
                "the text did not appear in session `{session}` within {:?}",
                tmux.confirm_timeout
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Try live delivery of a queued nudge and record the outcome: `delivered`
/// (event `nudge.delivered`) or, on failure, the error and attempt count
/// (event `nudge.failed`; it stays queued). A skip records nothing.
pub fn deliver_queued(store: &mut Store, tmux: &Tmux, id: i64, session: &str) -> Result<Delivery> {
    let n = get(store.conn(), id)?;
    if n.state != "queued" {
        return Ok(Delivery::Skipped(format!(
            "nudge {id} is already {}",
            n.state
        )));
    }
    let text = format!("[nudge from {}] {}", n.sender, n.message);
    let d = deliver_tmux(tmux, session, &text);
    store.write(|tx| -> Result<()> {
        match &d {
            Delivery::Delivered => {
                tx.conn().execute(
                    "UPDATE nudges SET state = 'delivered', delivered_at = ?2, delivered_by = 'tmux', attempts = attempts + 1 WHERE id = ?1",
                    params![id, tx.now],
                )?;
                emit(tx, &format!("nudge-{id}"), "nudge.delivered", json!({"agent": n.target, "via": "tmux", "session": session}))?;
            }
            Delivery::Failed(why) => {
                tx.conn().execute(
                    "UPDATE nudges SET attempts = attempts + 1, last_error = ?2 WHERE id = ?1",
                    params![id, why],
                )?;
                emit(tx, &format!("nudge-{id}"), "nudge.failed", json!({"agent": n.target, "session": session, "error": why, "queued": true}))?;
            }
            Delivery::Skipped(_) => {}
        }
        Ok(())
    })?;
    Ok(d)
}
