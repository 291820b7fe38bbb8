//! Mail between agents: durable rows in the `mail` table, one per recipient.
//!
//! Generations: every message carries the sender's session generation, the
//! recipient's generation when it was sent, and optionally what agent (and
//! generation) it is *about* — by default a polecat's own messages are about
//! itself. A message is stale when it is about, or addressed to, an older
//! generation than the agent's current one ([`current_generation`]). Stale
//! mail is shown as stale by `gt mail check --inject` and never injected as
//! something to act on (Gas Town issue #909: a stale POLECAT_DONE nuked a new
//! polecat of the same name).

use super::address::{Address, Directory};
use super::feed::emit;
use super::{CoordError, Result};
use crate::store::{Store, Tx};
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;
use serde_json::json;

/// Queued nudges of an agent (the runtime's prime reads them); see `nudge.rs`.
pub use super::nudge::pending_nudges;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Message {
    pub id: i64,
    pub thread: Option<i64>,
    pub reply_to: Option<i64>,
    pub from: String,
    pub to: String,
    pub subject: String,
    pub body: String,
    pub kind: String,
    pub sender_gen: Option<i64>,
    pub recipient_gen: Option<i64>,
    pub about: Option<String>,
    pub about_gen: Option<i64>,
    pub created_at: String,
    pub read: bool,
    pub read_at: Option<String>,
}

const COLS: &str = "id, thread, reply_to, sender, recipient, subject, body, kind, sender_gen, \
    recipient_gen, about, about_gen, created_at, unread, read_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Message> {
    Ok(Message {
        id: r.get(0)?,
        thread: r.get(1)?,
        reply_to: r.get(2)?,
        from: r.get(3)?,
        to: r.get(4)?,
        subject: r.get(5)?,
        body: r.get(6)?,
        kind: r.get(7)?,
        sender_gen: r.get(8)?,
        recipient_gen: r.get(9)?,
        about: r.get(10)?,
        about_gen: r.get(11)?,
        created_at: r.get(12)?,
        read: !r.get::<_, bool>(13)?,
        read_at: r.get(14)?,
    })
}

/// A message to send. `to` is validated and groups are expanded by [`send`].
#[derive(Debug, Clone, Default)]
pub struct Outgoing {
    pub from: String,
    pub to: String,
    pub subject: String,
    pub body: String,
    /// `notification` (default), `reply`, `handoff`, `merged`,
    /// `merge_failed`, `convoy_landed`, `task`, `escalation`, ...
    pub kind: String,
    pub sender_gen: Option<i64>,
    /// The agent (and its generation) the message is about.
    pub about: Option<(String, Option<i64>)>,
    pub reply_to: Option<i64>,
}

fn check_kind(k: &str) -> Result<()> {
    if k.is_empty()
        || k.len() > 40
        || !k
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.')
    {
        return Err(CoordError::usage(
            format!("invalid message kind `{k}`"),
            "use lowercase letters, digits, `_` and `.`, e.g. `notification`, `handoff`",
        ));
    }
    Ok(())
}

/// The sender as an address string: a valid address is normalised (`mayor/`
/// -> `mayor`); anything else (a plain user name) is the overseer.
pub fn identity(actor: &str) -> String {
    match Address::parse(actor) {
        Some(a) if !a.is_group() => a.to_string(),
        _ => "overseer".to_string(),
    }
}

/// Validate, expand groups, and send in one transaction. Returns the ids
/// (one per recipient).
pub fn send(store: &mut Store, dir: &Directory, m: &Outgoing) -> Result<Vec<i64>> {
    if m.subject.trim().is_empty() {
        return Err(CoordError::usage(
            "the subject is empty",
            "give a subject with -s SUBJECT",
        ));
    }
    let to = dir.resolve(store.conn(), &m.to)?;
    if let Some((a, _)) = &m.about {
        dir.parse(a)?;
    }
    store.write(|tx| send_tx(tx, &to, m))
}

/// Send to already-resolved recipients inside a transaction (used by the
/// refinery and convoys so that mail commits with the change it reports).
pub fn send_tx(tx: &Tx<'_>, to: &[Address], m: &Outgoing) -> Result<Vec<i64>> {
    let kind = if m.kind.is_empty() {
        "notification"
    } else {
        m.kind.as_str()
    };
    check_kind(kind)?;
    let conn = tx.conn();
    let from = identity(&m.from);
    if let Some(g) = m.sender_gen {
        set_generation_tx(tx, &from, g)?;
    }
    let about = match &m.about {
        Some((a, g)) => Some((a.clone(), *g)),
        None if Address::parse(&from).is_some_and(|a| a.is_polecat()) && m.sender_gen.is_some() => {
            Some((from.clone(), m.sender_gen))
        }
        None => None,
    };
    let thread: Option<i64> = match m.reply_to {
        Some(r) => conn
            .query_row(
                "SELECT coalesce(thread, id) FROM mail WHERE id = ?1",
                [r],
                |r| r.get(0),
            )
            .optional()?,
        None => None,
    };
    let mut ids = Vec::new();
    for a in to {
        let rcpt = a.to_string();
        // Only polecat sessions are replaced under the same address with
        // work that must not see the old session's mail; a witness or the
        // mayor keeps its mail across restarts.
        let rgen = if a.is_polecat() {
            generation_of(conn, &rcpt)?
        } else {
            None
        };
        conn.prepare_cached(
            "INSERT INTO mail (thread, reply_to, sender, recipient, subject, body, kind, sender_gen, recipient_gen, about, about_gen, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )?
        .execute(params![
            thread,
            m.reply_to,
            from,
            rcpt,
            m.subject.trim(),
            m.body,
            kind,
            m.sender_gen,
            rgen,
            about.as_ref().map(|a| a.0.clone()),
            about.as_ref().and_then(|a| a.1),
            tx.now
        ])?;
        let id = conn.last_insert_rowid();
        emit(
            tx,
            &format!("mail-{id}"),
            "mail.sent",
            json!({"from": from, "to": rcpt, "subject": m.subject.trim(), "kind": kind}),
        )?;
        ids.push(id);
    }
    Ok(ids)
}

/// Record that `address` now runs generation `gen` (never goes backwards).
/// The runtime calls this when it spawns a session.
pub fn set_generation(store: &mut Store, address: &str, gen: i64) -> Result<()> {
    store.write(|tx| set_generation_tx(tx, address, gen))
}

pub fn set_generation_tx(tx: &Tx<'_>, address: &str, gen: i64) -> Result<()> {
    tx.conn()
        .prepare_cached(
            "INSERT INTO agent_generations (address, generation, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(address) DO UPDATE SET generation = max(generation, excluded.generation),
               updated_at = excluded.updated_at",
        )?
        .execute(params![address, gen, tx.now])?;
    Ok(())
}

/// The current session generation of `address`: the newest of what the
/// runtime's agent rows say (it bumps them on every new session) and what
/// senders reported, so one source of truth serves both.
pub fn generation_of(conn: &Connection, address: &str) -> Result<Option<i64>> {
    let reported: Option<i64> = conn
        .prepare_cached("SELECT generation FROM agent_generations WHERE address = ?1")?
        .query_row([address], |r| r.get(0))
        .optional()?;
    let from_agents: Option<i64> = match Address::parse(address) {
        Some(Address::Polecat(rig, name)) => conn
            .prepare_cached("SELECT generation FROM agents WHERE rig = ?1 AND name = ?2")?
            .query_row([rig.as_str(), name.as_str()], |r| r.get(0))
            .optional()?,
        _ => None,
    };
    Ok(reported.max(from_agents))
}

/// Why `m` is stale for `reader` running generation `reader_gen`, if it is.
pub fn staleness(
    conn: &Connection,
    m: &Message,
    reader: &str,
    reader_gen: Option<i64>,
) -> Result<Option<String>> {
    let current = |addr: &str| -> Result<Option<i64>> {
        let stored = generation_of(conn, addr)?;
        let mine = if addr == reader { reader_gen } else { None };
        Ok(stored.max(mine))
    };
    if let (Some(about), Some(g)) = (&m.about, m.about_gen) {
        if let Some(cur) = current(about)? {
            if g < cur {
                return Ok(Some(format!(
                    "about {about} generation {g}, which has been replaced by generation {cur}"
                )));
            }
        }
    }
    if let Some(g) = m.recipient_gen {
        if let Some(cur) = current(&m.to)? {
            if g < cur {
                return Ok(Some(format!(
                    "sent to {} generation {g}; this session is generation {cur}",
                    m.to
                )));
            }
        }
    }
    Ok(None)
}

#[derive(Debug, Clone, Serialize)]
pub struct Inbox {
    pub address: String,
    pub total: i64,
    pub unread: i64,
    /// Unread first, then read; newest first within each.
    pub messages: Vec<Message>,
}

/// `address`'s mail: counts plus up to `limit` messages (unread first).
pub fn inbox(conn: &Connection, address: &str, unread_only: bool, limit: usize) -> Result<Inbox> {
    let count = |unread: i64| -> Result<i64> {
        Ok(conn
            .prepare_cached("SELECT count(*) FROM mail WHERE recipient = ?1 AND unread = ?2 AND archived_at IS NULL")?
            .query_row(params![address, unread], |r| r.get(0))?)
    };
    let unread = count(1)?;
    let total = unread + count(0)?;
    let mut messages = Vec::new();
    for flag in [1i64, 0] {
        if messages.len() >= limit || (flag == 0 && unread_only) {
            break;
        }
        let mut st = conn.prepare_cached(&format!(
            "SELECT {COLS} FROM mail WHERE recipient = ?1 AND unread = ?2 AND archived_at IS NULL ORDER BY id DESC LIMIT ?3"
        ))?;
        let rows = st.query_map(
            params![address, flag, (limit - messages.len()) as i64],
            from_row,
        )?;
        for r in rows {
            messages.push(r?);
        }
    }
    Ok(Inbox {
        address: address.to_string(),
        total,
        unread,
        messages,
    })
}

pub fn get(conn: &Connection, id: i64) -> Result<Message> {
    conn.prepare_cached(&format!("SELECT {COLS} FROM mail WHERE id = ?1"))?
        .query_row([id], from_row)
        .optional()?
        .ok_or_else(|| {
            CoordError::usage(
                format!("no message {id}"),
                "list your mail with `gt mail inbox`",
            )
        })
}

/// Parse `12` or `mail-12`.
pub fn parse_id(s: &str) -> Result<i64> {
    let t = s.trim();
    t.strip_prefix("mail-")
        .unwrap_or(t)
        .parse::<i64>()
        .map_err(|_| {
            CoordError::usage(
                format!("`{s}` is not a message id"),
                "message ids are numbers (as `gt mail inbox` shows them), e.g. 12 or mail-12",
            )
        })
}

/// Mark read and return the message.
pub fn read(store: &mut Store, id: i64) -> Result<Message> {
    let m = get(store.conn(), id)?;
    if !m.read {
        store.write(|tx| mark_read_tx(tx, &[id]))?;
        return get(store.conn(), id);
    }
    Ok(m)
}

pub fn mark_read_tx(tx: &Tx<'_>, ids: &[i64]) -> Result<()> {
    let mut st = tx
        .conn()
        .prepare_cached("UPDATE mail SET unread = 0, read_at = ?2 WHERE id = ?1 AND unread = 1")?;
    for id in ids {
        st.execute(params![id, tx.now])?;
    }
    Ok(())
}

/// Reply to the sender of `id`, in the same thread.
pub fn reply(
    store: &mut Store,
    id: i64,
    from: &str,
    body: &str,
    sender_gen: Option<i64>,
) -> Result<Vec<i64>> {
    let orig = get(store.conn(), id)?;
    let subject = if orig.subject.starts_with("Re: ") {
        orig.subject.clone()
    } else {
        format!("Re: {}", orig.subject)
    };
    let to = Address::parse(&orig.from).ok_or_else(|| {
        CoordError::usage(
            format!(
                "message {id} came from `{}`, which is not an address one can reply to",
                orig.from
            ),
            "send a new message with `gt mail send ADDR`",
        )
    })?;
    let out = Outgoing {
        from: from.to_string(),
        to: to.to_string(),
        subject,
        body: body.to_string(),
        kind: "reply".into(),
        sender_gen,
        about: None,
        reply_to: Some(id),
    };
    store.write(|tx| send_tx(tx, std::slice::from_ref(&to), &out))
}

#[derive(Debug, Clone, Serialize)]
pub struct StaleMessage {
    #[serde(flatten)]
    pub message: Message,
    pub stale_because: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub address: String,
    pub generation: Option<i64>,
    pub fresh: Vec<Message>,
    pub stale: Vec<StaleMessage>,
    /// Queued nudges delivered by this check (only with `inject`).
    pub nudges: Vec<super::nudge::Nudge>,
}

/// Unread mail for `address`, split into fresh and stale. With `inject`
/// (the session hook), the messages are marked read and queued nudges are
/// drained in the same transaction, so nothing is injected twice.
pub fn check(
    store: &mut Store,
    address: &str,
    reader_gen: Option<i64>,
    inject: bool,
    limit: usize,
) -> Result<Check> {
    // Oldest unread first: with more than `limit` unread, the rest follow
    // at the next check, still in order.
    let unread: Vec<Message> = {
        let mut st = store.conn().prepare_cached(&format!(
            "SELECT {COLS} FROM mail WHERE recipient = ?1 AND unread = 1 AND archived_at IS NULL ORDER BY id LIMIT ?2"
        ))?;
        let rows = st.query_map(params![address, limit as i64], from_row)?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut fresh = Vec::new();
    let mut stale = Vec::new();
    for m in unread {
        match staleness(store.conn(), &m, address, reader_gen)? {
            Some(why) => stale.push(StaleMessage {
                message: m,
                stale_because: why,
            }),
            None => fresh.push(m),
        }
    }
    let mut nudges = Vec::new();
    if inject {
        let ids: Vec<i64> = fresh
            .iter()
            .map(|m| m.id)
            .chain(stale.iter().map(|s| s.message.id))
            .collect();
        nudges = store.write(|tx| {
            if let Some(g) = reader_gen {
                set_generation_tx(tx, address, g)?;
            }
            mark_read_tx(tx, &ids)?;
            super::nudge::drain_tx(tx, address, reader_gen, "prime")
        })?;
    }
    Ok(Check {
        address: address.to_string(),
        generation: reader_gen,
        fresh,
        stale,
        nudges,
    })
}

/// Render a check for injection into an agent's prompt.
pub fn render_inject(c: &Check) -> String {
    render_inject_bounded(c, usize::MAX)
}

/// [`render_inject`] with each body cut to `max_body` characters (the cut
/// names the command that shows the whole message).
pub fn render_inject_bounded(c: &Check, max_body: usize) -> String {
    let mut s = String::new();
    if c.fresh.is_empty() && c.stale.is_empty() && c.nudges.is_empty() {
        return s;
    }
    s += &format!("<gt-mail for=\"{}\">\n", c.address);
    for n in &c.nudges {
        s += &format!("NUDGE from {}: {}\n", n.sender, n.message);
    }
    for m in &c.fresh {
        s += &format!(
            "--- message {} from {} ({}, {}) ---\nSubject: {}\n",
            m.id, m.from, m.kind, m.created_at, m.subject
        );
        let body = m.body.trim_end();
        if body.chars().count() > max_body {
            s += &body.chars().take(max_body).collect::<String>();
            s += &format!("… (cut; `gt mail read {}` shows all)\n", m.id);
        } else if !body.trim().is_empty() {
            s += body;
            s.push('\n');
        }
    }
    if !c.stale.is_empty() {
        s += "STALE (ignored; do not act on these):\n";
        for st in &c.stale {
            s += &format!(
                "  [stale] message {} from {}: {} ({})\n",
                st.message.id, st.message.from, st.message.subject, st.stale_because
            );
        }
    }
    s += "</gt-mail>\n";
    s
}

/// `gt handoff`: mail the notes to self and record a `handoff` event. The
/// runtime cycles the session; the next `gt mail check --inject` (prime)
/// shows the notes.
pub fn handoff(
    store: &mut Store,
    address: &str,
    generation: Option<i64>,
    notes: &str,
) -> Result<i64> {
    let a = Address::parse(address)
        .filter(|a| !a.is_group())
        .ok_or_else(|| {
            CoordError::usage(
                format!("cannot hand off as `{address}`: not an agent address"),
                "run it inside an agent session (BD_ACTOR set to the agent's address), or pass --identity ADDR",
            )
        })?;
    let out = Outgoing {
        from: a.to_string(),
        to: a.to_string(),
        subject: "HANDOFF".into(),
        body: notes.to_string(),
        kind: "handoff".into(),
        sender_gen: generation,
        // A handoff is for the *next* generation: it is never stale for it.
        about: Some((a.to_string(), None)),
        reply_to: None,
    };
    store.write(|tx| {
        let ids = send_tx(tx, std::slice::from_ref(&a), &out)?;
        let id = *ids
            .first()
            .ok_or_else(|| CoordError::failed("the handoff mail was not written", None))?;
        // The recipient generation is the outgoing session's; clear it so the
        // successor session does not see the notes as stale.
        for id in &ids {
            tx.conn()
                .execute("UPDATE mail SET recipient_gen = NULL WHERE id = ?1", [id])?;
        }
        emit(
            tx,
            &format!("mail-{id}"),
            "handoff",
            json!({"agent": a.to_string(), "generation": generation, "notes": super::tail(notes, 200)}),
        )?;
        Ok(id)
    })
}
