//! Convoys: a bundle of beads tracked together, across rigs (one store per
//! town). A convoy is an issue of type `convoy` (title = name) with a
//! `tracks` edge to each bead and metadata `{"owner", "notify", "human",
//! "auto"}`.
//!
//! A convoy **lands** (closed, reason `landed`) only when every tracked bead
//! is closed *as merged* (close reason `merged`, written by the refinery in
//! the same transaction as the merge bookkeeping) — never because an agent
//! said it was done (Gas Town §7: convoys that land before the merge).
//! Landing mails the owner and every notify address and writes a
//! `convoy.landed` event, all in the transaction that closed the last bead.

use super::address::{Address, Directory};
use super::feed::emit;
use super::mail::{self, Outgoing};
use super::{CoordError, Result};
use crate::store::issues::{self, NewIssue};
use crate::store::{DepType, Issue, IssueType, Status, Store, Tx};
use rusqlite::{params, Connection};
use serde::Serialize;
use serde_json::{json, Value};

pub const LANDED: &str = "landed";
pub const MERGED: &str = "merged";

#[derive(Debug, Clone, Default)]
pub struct NewConvoy {
    pub name: String,
    pub beads: Vec<String>,
    /// Who gets the landing mail (an address, or a user = overseer).
    pub owner: String,
    pub notify: Vec<String>,
    pub human: bool,
    /// Created automatically by `gt sling`.
    pub auto: bool,
}

/// Resolve a convoy id (exact, or without the prefix) and check its type.
pub fn resolve(conn: &Connection, prefix: &str, input: &str) -> Result<Issue> {
    let id = issues::resolve(conn, prefix, input)?;
    let i = issues::get(conn, &id)?;
    if i.issue_type != IssueType::Convoy {
        return Err(CoordError::usage(
            format!("{id} is a {}, not a convoy", i.issue_type),
            "list convoys with `gt convoy list`",
        ));
    }
    Ok(i)
}

/// Validate notify addresses (groups allowed) against the directory.
pub fn check_notify(dir: &Directory, notify: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for n in notify {
        out.push(dir.parse(n)?.to_string());
    }
    Ok(out)
}

/// Create a convoy (notify addresses must already be validated).
pub fn create(store: &mut Store, nc: &NewConvoy) -> Result<Issue> {
    let mut beads = Vec::new();
    for b in &nc.beads {
        beads.push(issues::resolve(store.conn(), store.prefix(), b)?);
    }
    store.write(|tx| create_tx(tx, nc, &beads))
}

pub fn create_tx(tx: &Tx<'_>, nc: &NewConvoy, beads: &[String]) -> Result<Issue> {
    if nc.name.trim().is_empty() {
        return Err(CoordError::usage(
            "the convoy name is empty",
            "gt convoy create NAME BEAD...",
        ));
    }
    let owner = if nc.owner.is_empty() {
        tx.actor.clone()
    } else {
        nc.owner.clone()
    };
    for b in beads {
        let i = issues::get(tx.conn(), b)?;
        if matches!(i.issue_type, IssueType::Convoy | IssueType::MergeRequest) {
            return Err(CoordError::usage(
                format!("{b} is a {}; a convoy tracks work beads", i.issue_type),
                "pass the ids of the beads to track",
            ));
        }
    }
    let c = tx.create(&NewIssue {
        title: nc.name.trim().to_string(),
        issue_type: IssueType::Convoy,
        metadata: Some(json!({
            "owner": owner,
            "notify": nc.notify,
            "human": nc.human,
            "auto": nc.auto,
        })),
        ..Default::default()
    })?;
    for b in beads {
        tx.add_dep(&c.id, b, DepType::Tracks, None)?;
    }
    emit(
        tx,
        &c.id,
        "convoy.created",
        json!({"name": c.title, "beads": beads, "owner": owner, "notify": nc.notify, "auto": nc.auto}),
    )?;
    // Tracking beads that are already merged may land it at once.
    try_land_tx(tx, &c.id)?;
    Ok(issues::get(tx.conn(), &c.id)?)
}

/// Open convoys that track `bead`.
pub fn convoys_tracking(conn: &Connection, bead: &str) -> Result<Vec<String>> {
    let mut st = conn.prepare_cached(
        "SELECT d.issue_id FROM deps d JOIN issues c ON c.id = d.issue_id
         WHERE d.depends_on = ?1 AND d.type = 'tracks' AND c.issue_type = 'convoy' AND c.status != 'closed'
         ORDER BY d.issue_id",
    )?;
    let rows = st.query_map([bead], |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// For `gt sling`: when no open convoy tracks `bead`, create one
/// ("Work: <title>", metadata auto=true). Returns the convoy id if created.
pub fn ensure_for_bead(tx: &Tx<'_>, bead: &str, owner: &str) -> Result<Option<String>> {
    if !convoys_tracking(tx.conn(), bead)?.is_empty() {
        return Ok(None);
    }
    let b = issues::get(tx.conn(), bead)?;
    let c = create_tx(
        tx,
        &NewConvoy {
            name: format!("Work: {}", b.title),
            beads: vec![bead.to_string()],
            owner: owner.to_string(),
            notify: Vec::new(),
            human: false,
            auto: true,
        },
        &[bead.to_string()],
    )?;
    Ok(Some(c.id))
}

#[derive(Debug, Clone, Serialize)]
pub struct AddReport {
    pub added: Vec<String>,
    pub already: Vec<String>,
    pub reopened: bool,
}

/// Track more beads. Adding to a landed/closed convoy reopens it.
pub fn add(store: &mut Store, convoy: &str, beads: &[String]) -> Result<AddReport> {
    let c = resolve(store.conn(), store.prefix(), convoy)?;
    let mut ids = Vec::new();
    for b in beads {
        ids.push(issues::resolve(store.conn(), store.prefix(), b)?);
    }
    store.write(|tx| -> Result<AddReport> {
        let mut r = AddReport {
            added: Vec::new(),
            already: Vec::new(),
            reopened: false,
        };
        for b in &ids {
            if b == &c.id {
                return Err(CoordError::usage(
                    "a convoy cannot track itself",
                    "pass work bead ids",
                ));
            }
            if tx.add_dep(&c.id, b, DepType::Tracks, None)? {
                r.added.push(b.clone());
            } else {
                r.already.push(b.clone());
            }
        }
        if c.status == Status::Closed && !r.added.is_empty() {
            tx.reopen(&c.id)?;
            r.reopened = true;
            emit(
                tx,
                &c.id,
                "convoy.reopened",
                json!({"name": c.title, "reason": format!("tracks new bead(s) {}", r.added.join(", "))}),
            )?;
        }
        try_land_tx(tx, &c.id)?;
        Ok(r)
    })
}

/// Close by hand (reason `closed`, not `landed`): no landing mail.
pub fn close(store: &mut Store, convoy: &str, reason: Option<&str>) -> Result<Issue> {
    let c = resolve(store.conn(), store.prefix(), convoy)?;
    if c.status == Status::Closed {
        return Err(CoordError::usage(
            format!(
                "convoy {} is already closed ({})",
                c.id,
                c.close_reason.as_deref().unwrap_or("no reason")
            ),
            "see it with `gt convoy status ID`",
        ));
    }
    let reason = reason.unwrap_or("closed by hand").to_string();
    store.write(|tx| -> Result<()> {
        tx.close(&c.id, Some(&reason))?;
        emit(
            tx,
            &c.id,
            "convoy.closed",
            json!({"name": c.title, "reason": reason}),
        )?;
        Ok(())
    })?;
    Ok(issues::get(store.conn(), &c.id)?)
}

#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Progress {
    pub total: i64,
    /// Closed as merged.
    pub merged: i64,
    /// Agent done; a merge request is queued or being processed.
    pub done: i64,
    pub in_progress: i64,
    pub blocked: i64,
    pub open: i64,
    /// Closed for another reason (never merged): the convoy cannot land
    /// until it is reopened and merged, or removed from the convoy.
    pub closed_unmerged: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TrackedBead {
    pub id: String,
    pub title: String,
    pub status: String,
    pub state: String,
    pub assignee: Option<String>,
    pub close_reason: Option<String>,
}

/// Classification shared by list and status (one SQL expression).
const STATE_SQL: &str = "CASE
    WHEN b.status = 'closed' AND b.close_reason = 'merged' THEN 'merged'
    WHEN b.status = 'closed' THEN 'closed_unmerged'
    WHEN EXISTS (SELECT 1 FROM deps m JOIN issues mr ON mr.id = m.issue_id
                 WHERE m.depends_on = b.id AND m.type = 'related'
                   AND mr.issue_type = 'merge-request' AND mr.status IN ('open', 'in_progress')) THEN 'done'
    WHEN b.status = 'blocked' OR b.blocked = 1 THEN 'blocked'
    WHEN b.status IN ('in_progress', 'hooked') THEN 'in_progress'
    ELSE 'open' END";

fn add_state(p: &mut Progress, state: &str, n: i64) {
    p.total += n;
    match state {
        "merged" => p.merged += n,
        "closed_unmerged" => p.closed_unmerged += n,
        "done" => p.done += n,
        "blocked" => p.blocked += n,
        "in_progress" => p.in_progress += n,
        _ => p.open += n,
    }
}

pub fn progress(conn: &Connection, convoy: &str) -> Result<Progress> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {STATE_SQL} AS st, count(*) FROM deps d JOIN issues b ON b.id = d.depends_on
         WHERE d.issue_id = ?1 AND d.type = 'tracks' GROUP BY st"
    ))?;
    let mut p = Progress::default();
    for r in st.query_map([convoy], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
    })? {
        let (s, n) = r?;
        add_state(&mut p, &s, n);
    }
    Ok(p)
}

#[derive(Debug, Clone, Serialize)]
pub struct ConvoySummary {
    pub id: String,
    pub name: String,
    pub status: String,
    pub close_reason: Option<String>,
    pub owner: Option<String>,
    pub auto: bool,
    pub created_at: String,
    pub progress: Progress,
}

fn summary(conn: &Connection, c: &Issue) -> Result<ConvoySummary> {
    Ok(ConvoySummary {
        id: c.id.clone(),
        name: c.title.clone(),
        status: c.status.to_string(),
        close_reason: c.close_reason.clone(),
        owner: c
            .metadata
            .get("owner")
            .and_then(Value::as_str)
            .map(str::to_string),
        auto: c
            .metadata
            .get("auto")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        created_at: c.created_at.clone(),
        progress: progress(conn, &c.id)?,
    })
}

pub fn list(conn: &Connection, include_closed: bool) -> Result<Vec<ConvoySummary>> {
    let f = issues::IssueFilter {
        issue_type: vec![IssueType::Convoy],
        status: if include_closed {
            Vec::new()
        } else {
            Status::ALL
                .iter()
                .copied()
                .filter(|s| *s != Status::Closed)
                .collect()
        },
        include_ephemeral: true,
        ..Default::default()
    };
    issues::list(conn, &f)?
        .iter()
        .map(|c| summary(conn, c))
        .collect()
}

#[derive(Debug, Clone, Serialize)]
pub struct ConvoyStatus {
    #[serde(flatten)]
    pub summary: ConvoySummary,
    pub notify: Vec<String>,
    pub human: bool,
    pub beads: Vec<TrackedBead>,
}

pub fn status(conn: &Connection, prefix: &str, convoy: &str) -> Result<ConvoyStatus> {
    let c = resolve(conn, prefix, convoy)?;
    let mut st = conn.prepare_cached(&format!(
        "SELECT b.id, b.title, b.status, {STATE_SQL}, b.assignee, b.close_reason
         FROM deps d JOIN issues b ON b.id = d.depends_on
         WHERE d.issue_id = ?1 AND d.type = 'tracks' ORDER BY b.rowid"
    ))?;
    let mut beads = Vec::new();
    let mut p = Progress::default();
    for r in st.query_map([&c.id], |r| {
        Ok(TrackedBead {
            id: r.get(0)?,
            title: r.get(1)?,
            status: r.get(2)?,
            state: r.get(3)?,
            assignee: r.get(4)?,
            close_reason: r.get(5)?,
        })
    })? {
        let b = r?;
        add_state(&mut p, &b.state, 1);
        beads.push(b);
    }
    let notify = c
        .metadata
        .get("notify")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let human = c
        .metadata
        .get("human")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut summary = summary(conn, &c)?;
    summary.progress = p;
    Ok(ConvoyStatus {
        summary,
        notify,
        human,
        beads,
    })
}

/// What `gt convoy check` found.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub checked: Vec<String>,
    /// Landed now (or, on a dry run, would land).
    pub landed: Vec<String>,
    pub waiting: Vec<ConvoySummary>,
    pub dry_run: bool,
}

/// Land every open convoy (or just `only`) whose tracked beads are all
/// merged; the rest are reported with their progress.
pub fn check(store: &mut Store, only: Option<&str>, dry_run: bool) -> Result<CheckReport> {
    let open: Vec<ConvoySummary> = match only {
        Some(id) => {
            let c = resolve(store.conn(), store.prefix(), id)?;
            vec![summary(store.conn(), &c)?]
        }
        None => list(store.conn(), false)?,
    };
    let mut r = CheckReport {
        checked: open.iter().map(|c| c.id.clone()).collect(),
        landed: Vec::new(),
        waiting: Vec::new(),
        dry_run,
    };
    for c in open {
        let p = &c.progress;
        let lands = c.status != "closed" && p.total > 0 && p.merged == p.total;
        if !lands {
            r.waiting.push(c);
        } else if dry_run || store.write(|tx| try_land_tx(tx, &c.id))? {
            r.landed.push(c.id);
        }
    }
    Ok(r)
}

/// After `bead` was closed as merged: land every open convoy tracking it
/// whose beads are now all merged. Returns the convoys that landed.
pub fn on_bead_merged_tx(tx: &Tx<'_>, bead: &str) -> Result<Vec<String>> {
    let mut landed = Vec::new();
    for c in convoys_tracking(tx.conn(), bead)? {
        if try_land_tx(tx, &c)? {
            landed.push(c);
        }
    }
    Ok(landed)
}

/// Land `convoy` if it is open, tracks at least one bead, and every tracked
/// bead is closed as merged. Mails the owner and notify list, emits
/// `convoy.landed`. Returns whether it landed.
pub fn try_land_tx(tx: &Tx<'_>, convoy: &str) -> Result<bool> {
    let c = issues::get(tx.conn(), convoy)?;
    if c.status == Status::Closed {
        return Ok(false);
    }
    let (total, merged): (i64, i64) = tx.conn().query_row(
        "SELECT count(*), coalesce(sum(b.status = 'closed' AND b.close_reason = 'merged'), 0)
         FROM deps d JOIN issues b ON b.id = d.depends_on WHERE d.issue_id = ?1 AND d.type = 'tracks'",
        params![convoy],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if total == 0 || merged < total {
        return Ok(false);
    }
    tx.close(convoy, Some(LANDED))?;
    let duration = match (
        crate::store::ids::parse_secs(&c.created_at),
        crate::store::ids::parse_secs(&tx.now),
    ) {
        (Some(a), Some(b)) => format!("{} min", (b - a).max(0) / 60),
        _ => "?".into(),
    };
    emit(
        tx,
        convoy,
        "convoy.landed",
        json!({"name": c.title, "beads": total, "duration": duration}),
    )?;
    // Recipients: the owner and every notify address, each once.
    let mut rcpts: Vec<Address> = Vec::new();
    let owner = c
        .metadata
        .get("owner")
        .and_then(Value::as_str)
        .unwrap_or("overseer");
    if let Some(a) = Address::parse(&mail::identity(owner)) {
        rcpts.push(a);
    }
    if let Some(a) = c.metadata.get("notify").and_then(Value::as_array) {
        for n in a.iter().filter_map(Value::as_str) {
            let Some(addr) = Address::parse(n) else {
                continue;
            };
            if addr.is_group() {
                let dir = Directory {
                    rigs: addr.rig().map(|r| vec![r.to_string()]).unwrap_or_default(),
                    town: None,
                };
                if let Ok(members) = dir.resolve(tx.conn(), n) {
                    rcpts.extend(members);
                }
            } else {
                rcpts.push(addr);
            }
        }
    }
    rcpts.sort();
    rcpts.dedup();
    let body = format!(
        "Convoy {} \"{}\" landed: all {total} tracked bead(s) are merged (after {duration}).\nSee `gt convoy status {}`.",
        c.id, c.title, c.id
    );
    mail::send_tx(
        tx,
        &rcpts,
        &Outgoing {
            from: mail::identity(&tx.actor),
            to: String::new(),
            subject: format!("Convoy landed: {}", c.title),
            body,
            kind: "convoy_landed".into(),
            ..Default::default()
        },
    )?;
    Ok(true)
}
