//! Nudges: short messages for a running agent.
//!
//! A nudge is first written to the store (`nudges`, state `queued`), so it is
//! never lost. Delivery then happens one of two ways:
//! - live, into the agent's tmux pane on the town's socket, by
//!   [`deliver_tmux`]: wait until the pane stops changing (the agent's input
//!   has settled), type the text (tagged `[nudge N from X]`), pause, press
//!   Enter. Typing is not delivery: the nudge becomes `delivered` only when
//!   the agent's `UserPromptSubmit` hook reports a prompt carrying its tag
//!   ([`confirm_from_prompt`], run by `gt mail check --inject --hook`);
//! - at the agent's next prime / turn boundary: `gt mail check --inject`
//!   drains the queue ([`drain_tx`]).
//!
//! Measured on Claude Code 2.1.332: Enter sent right after the text is often
//! lost while the input box is still busy; half a second between them is not.

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
    /// The agent's UserPromptSubmit hook reported the prompt.
    Delivered,
    /// Typed and Enter sent, but no hook confirmed it (yet): the nudge stays
    /// queued and the next prime injects it.
    Typed,
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
    /// How long to wait for the pane to settle before typing.
    pub confirm_timeout: Duration,
}

impl Default for Tmux {
    fn default() -> Self {
        Tmux {
            bin: "tmux".into(),
            socket: std::env::var("GT_TMUX_SOCKET")
                .ok()
                .filter(|s| !s.is_empty()),
            confirm_timeout: Duration::from_secs(10),
        }
    }
}

impl Tmux {
    /// tmux on a given socket.
    pub fn on_socket(socket: &str) -> Tmux {
        Tmux {
            socket: Some(socket.to_string()),
            ..Tmux::default()
        }
    }

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

    fn capture(&self, target: &str) -> Option<String> {
        let o = self.run(&["capture-pane", "-p", "-t", target]).ok()?;
        o.status
            .success()
            .then(|| String::from_utf8_lossy(&o.stdout).into_owned())
    }

    /// Wait until the pane shows the same screen twice, 300 ms apart (the
    /// agent is idle at its prompt), at most `confirm_timeout`.
    pub fn settle(&self, target: &str) -> bool {
        let deadline = std::time::Instant::now() + self.confirm_timeout;
        let mut last = self.capture(target);
        loop {
            std::thread::sleep(Duration::from_millis(300));
            let now = self.capture(target);
            if now.is_some() && now == last {
                return true;
            }
            if std::time::Instant::now() >= deadline {
                return false;
            }
            last = now;
        }
    }
}

fn normalise(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Type `text` into `session` once its input has settled, pause, press
/// Enter. The text is sent literally (`send-keys -l`) as one call, so
/// concurrent nudges cannot interleave inside one message.
pub fn deliver_tmux(tmux: &Tmux, session: &str, text: &str) -> Delivery {
    if !tmux.available() {
        return Delivery::Skipped(format!("{} is not installed", tmux.bin));
    }
    if !tmux.has_session(session) {
        return Delivery::Skipped(format!("no tmux session `{session}`"));
    }
    let target = format!("={session}:");
    tmux.settle(&target);
    let send = |args: &[&str], what: &str| match tmux.run(args) {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(Delivery::Failed(format!(
            "{what} failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ))),
        Err(e) => Err(Delivery::Failed(e)),
    };
    if let Err(d) = send(
        &["send-keys", "-t", &target, "-l", "--", &normalise(text)],
        "send-keys",
    ) {
        return d;
    }
    std::thread::sleep(Duration::from_millis(500));
    if let Err(d) = send(&["send-keys", "-t", &target, "Enter"], "sending Enter") {
        return d;
    }
    Delivery::Typed
}

/// The tag a live nudge carries, so the agent's hook can confirm it.
pub fn tagged(n: &Nudge) -> String {
    format!("[nudge {} from {}] {}", n.id, n.sender, n.message)
}

/// `UserPromptSubmit` reported `prompt` for `target`: every queued nudge of
/// `target` whose tag the prompt carries is delivered (`via: prompt`).
/// Returns their ids.
pub fn confirm_from_prompt(store: &mut Store, target: &str, prompt: &str) -> Result<Vec<i64>> {
    let pending = pending_nudges(store.conn(), target)?;
    let hits: Vec<Nudge> = pending
        .into_iter()
        .filter(|n| prompt.contains(&format!("[nudge {} from ", n.id)))
        .collect();
    if hits.is_empty() {
        return Ok(Vec::new());
    }
    store.write(|tx| -> Result<Vec<i64>> {
        for n in &hits {
            tx.conn()
                .prepare_cached(
                    "UPDATE nudges SET state = 'delivered', delivered_at = ?2, delivered_by = 'prompt' WHERE id = ?1",
                )?
                .execute(params![n.id, tx.now])?;
            emit(
                tx,
                &format!("nudge-{}", n.id),
                "nudge.delivered",
                json!({"agent": target, "via": "prompt"}),
            )?;
        }
        Ok(hits.iter().map(|n| n.id).collect())
    })
}

/// Try live delivery of a queued nudge and record the outcome. Typed, it
/// stays queued until the agent's hook confirms it ([`confirm_from_prompt`]);
/// a failure records the error and attempt count (event `nudge.failed`).
/// A skip records nothing.
pub fn deliver_queued(store: &mut Store, tmux: &Tmux, id: i64, session: &str) -> Result<Delivery> {
    let n = get(store.conn(), id)?;
    if n.state != "queued" {
        return Ok(Delivery::Skipped(format!(
            "nudge {id} is already {}",
            n.state
        )));
    }
    let d = deliver_tmux(tmux, session, &tagged(&n));
    store.write(|tx| -> Result<()> {
        match &d {
            Delivery::Typed => {
                // Not delivered yet: the agent's hook confirms it.
                tx.conn().execute(
                    "UPDATE nudges SET attempts = attempts + 1 WHERE id = ?1",
                    params![id],
                )?;
            }
            Delivery::Failed(why) => {
                tx.conn().execute(
                    "UPDATE nudges SET attempts = attempts + 1, last_error = ?2 WHERE id = ?1",
                    params![id, why],
                )?;
                emit(
                    tx,
                    &format!("nudge-{id}"),
                    "nudge.failed",
                    json!({"agent": n.target, "session": session, "error": why, "queued": true}),
                )?;
            }
            Delivery::Delivered | Delivery::Skipped(_) => {}
        }
        Ok(())
    })?;
    Ok(d)
}

/// Wait up to `timeout` for nudge `id` to be confirmed delivered.
pub fn wait_delivered(store: &Store, id: i64, timeout: Duration) -> Result<bool> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if get(store.conn(), id)?.state == "delivered" {
            return Ok(true);
        }
        if std::time::Instant::now() >= deadline {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
