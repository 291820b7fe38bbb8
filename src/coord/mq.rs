//! The merge queue: merge requests are issues of type `merge-request`
//! (status open = queued, in_progress = claimed by the refinery) with
//! metadata `{"branch", "head_sha", "bead", "rig", "polecat",
//! "generation"}` and a `related` edge to the bead. `gt done` enqueues with
//! [`enqueue_tx`] (event `done`); the refinery (`refinery.rs`) takes them in
//! order: priority, then FIFO (created_at, then rowid) — never newest first.

use super::address::Address;
use super::convoy::{self, MERGED};
use super::feed::emit;
use super::mail::{self, Outgoing};
use super::{CoordError, Result};
use crate::store::issues::{self, NewIssue, Update};
use crate::store::{DepType, Issue, IssueType, Status, Store, Tx};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use serde_json::{json, Value};

#[derive(Debug, Clone, Serialize)]
pub struct MergeRequest {
    pub id: String,
    pub status: String,
    pub priority: u8,
    pub branch: String,
    pub head_sha: String,
    pub bead: String,
    pub rig: String,
    pub polecat: Option<String>,
    pub generation: Option<i64>,
    pub target: Option<String>,
    pub created_at: String,
    pub close_reason: Option<String>,
    pub assignee: Option<String>,
    pub pre_verified: bool,
    pub cleanup_status: Option<String>,
}

impl MergeRequest {
    pub fn from_issue(i: &Issue) -> Result<MergeRequest> {
        if i.issue_type != IssueType::MergeRequest {
            return Err(CoordError::usage(
                format!("{} is a {}, not a merge request", i.id, i.issue_type),
                "list merge requests with `gt mq list`",
            ));
        }
        let m = &i.metadata;
        let s = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_string);
        let need = |k: &str| {
            s(k).filter(|v| !v.is_empty()).ok_or_else(|| {
                CoordError::usage(
                    format!("merge request {} has no `{k}` in its metadata", i.id),
                    "a merge request needs metadata branch, head_sha, bead and rig (as `gt done` writes them)",
                )
            })
        };
        Ok(MergeRequest {
            id: i.id.clone(),
            status: i.status.to_string(),
            priority: i.priority,
            branch: need("branch")?,
            head_sha: s("head_sha").unwrap_or_default(),
            bead: need("bead")?,
            rig: need("rig")?,
            polecat: s("polecat"),
            generation: m.get("generation").and_then(Value::as_i64),
            target: s("target"),
            created_at: i.created_at.clone(),
            close_reason: i.close_reason.clone(),
            assignee: i.assignee.clone(),
            pre_verified: m
                .get("pre_verified")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            cleanup_status: s("cleanup_status"),
        })
    }
}

/// What `gt done` submits.
#[derive(Debug, Clone, Default)]
pub struct NewMr {
    pub bead: String,
    pub rig: String,
    pub branch: String,
    pub head_sha: String,
    pub polecat: Option<String>,
    pub generation: Option<i64>,
    /// Default: the bead's priority.
    pub priority: Option<u8>,
    /// Default: the rig's merge target.
    pub target: Option<String>,
    /// Gates already ran on this head (`gt done --pre-verified`).
    pub pre_verified: bool,
    /// The polecat's account of its worktree (`gt done --cleanup-status`).
    pub cleanup_status: Option<String>,
}

/// Create the merge request the way `gt done` does (issue type
/// merge-request, status open, `related` edge to the bead, event `done`).
pub fn enqueue_tx(tx: &Tx<'_>, n: &NewMr) -> Result<Issue> {
    let bead = issues::get(tx.conn(), &n.bead)?;
    super::address::check_segment("rig", &n.rig)?;
    if n.branch.trim().is_empty() {
        return Err(CoordError::usage(
            "the merge request has no branch",
            "pass the polecat's branch",
        ));
    }
    let mr = tx.create(&NewIssue {
        title: format!("Merge {} ({})", n.branch, bead.id),
        issue_type: IssueType::MergeRequest,
        priority: n.priority.unwrap_or(bead.priority),
        metadata: Some(json!({
            "branch": n.branch, "head_sha": n.head_sha, "bead": bead.id, "rig": n.rig,
            "polecat": n.polecat, "generation": n.generation, "target": n.target,
            "pre_verified": n.pre_verified, "cleanup_status": n.cleanup_status,
        })),
        deps: vec![(DepType::Related, bead.id.clone())],
        ..Default::default()
    })?;
    emit(
        tx,
        &bead.id,
        "done",
        json!({"agent": n.polecat, "polecat": n.polecat, "bead": bead.id, "mr": mr.id,
               "branch": n.branch, "head_sha": n.head_sha, "rig": n.rig, "generation": n.generation}),
    )?;
    Ok(mr)
}

pub fn enqueue(store: &mut Store, n: &NewMr) -> Result<Issue> {
    store.write(|tx| enqueue_tx(tx, n))
}

pub fn get(conn: &Connection, prefix: &str, input: &str) -> Result<MergeRequest> {
    let id = issues::resolve(conn, prefix, input)?;
    MergeRequest::from_issue(&issues::get(conn, &id)?)
}

/// Merge requests in processing order. `rig = None`: every rig. `all`:
/// include closed ones (after the queue, newest first).
pub fn list(conn: &Connection, rig: Option<&str>, all: bool) -> Result<Vec<MergeRequest>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {} FROM issues WHERE issue_type = 'merge-request'
           AND (?1 IS NULL OR json_extract(metadata, '$.rig') = ?1)
           AND (?2 OR status IN ('open', 'in_progress'))
         ORDER BY status = 'closed', CASE WHEN status = 'closed' THEN 0 ELSE priority END,
                  CASE WHEN status = 'closed' THEN -rowid ELSE rowid END",
        issues::COLS
    ))?;
    let rows = st.query_map(params![rig, all], issues::from_row)?;
    let mut out = Vec::new();
    for i in rows {
        out.push(MergeRequest::from_issue(&i?)?);
    }
    Ok(out)
}

/// The next queued (open) merge request of `rig`: lowest priority number,
/// then the oldest.
pub fn next_open(conn: &Connection, rig: &str) -> Result<Option<Issue>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {} FROM issues WHERE issue_type = 'merge-request' AND status = 'open'
           AND json_extract(metadata, '$.rig') = ?1
         ORDER BY priority, created_at, rowid LIMIT 1",
        issues::COLS
    ))?;
    Ok(st.query_row([rig], issues::from_row).optional()?)
}

/// Merge requests of `rig` whose branch was pushed as a pull request and
/// that wait for it to merge (status deferred, oldest first).
pub fn awaiting_pr(conn: &Connection, rig: &str) -> Result<Vec<MergeRequest>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {} FROM issues WHERE issue_type = 'merge-request' AND status = 'deferred'
           AND json_extract(metadata, '$.rig') = ?1 AND json_extract(metadata, '$.pr') IS NOT NULL
         ORDER BY rowid",
        issues::COLS
    ))?;
    let rows = st.query_map([rig], issues::from_row)?;
    let mut out = Vec::new();
    for i in rows {
        out.push(MergeRequest::from_issue(&i?)?);
    }
    Ok(out)
}

#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub id: i64,
    pub mr_id: String,
    pub rig: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub outcome: Option<String>,
    pub failure: Option<String>,
    pub command: Option<String>,
    pub output_tail: Option<String>,
    pub base: Option<String>,
    pub candidate: Option<String>,
}

const RUN_COLS: &str = "id, mr_id, rig, started_at, finished_at, outcome, failure, command, output_tail, base, candidate";

fn run_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Run> {
    Ok(Run {
        id: r.get(0)?,
        mr_id: r.get(1)?,
        rig: r.get(2)?,
        started_at: r.get(3)?,
        finished_at: r.get(4)?,
        outcome: r.get(5)?,
        failure: r.get(6)?,
        command: r.get(7)?,
        output_tail: r.get(8)?,
        base: r.get(9)?,
        candidate: r.get(10)?,
    })
}

pub fn runs(conn: &Connection, mr: &str) -> Result<Vec<Run>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {RUN_COLS} FROM mq_runs WHERE mr_id = ?1 ORDER BY id"
    ))?;
    let rows = st.query_map([mr], run_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn recent_runs(conn: &Connection, rig: Option<&str>, n: usize) -> Result<Vec<Run>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {RUN_COLS} FROM mq_runs WHERE (?1 IS NULL OR rig = ?1) ORDER BY id DESC LIMIT ?2"
    ))?;
    let rows = st.query_map(params![rig, n as i64], run_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn start_run_tx(tx: &Tx<'_>, mr: &str, rig: &str) -> Result<i64> {
    tx.conn().execute(
        "INSERT INTO mq_runs (mr_id, rig, started_at) VALUES (?1, ?2, ?3)",
        params![mr, rig, tx.now],
    )?;
    Ok(tx.conn().last_insert_rowid())
}

#[derive(Debug, Clone, Default)]
pub(crate) struct RunEnd<'a> {
    pub outcome: &'a str,
    pub failure: Option<&'a str>,
    pub command: Option<&'a str>,
    pub output_tail: Option<&'a str>,
}

pub(crate) fn finish_run_tx(tx: &Tx<'_>, run: i64, e: &RunEnd<'_>) -> Result<()> {
    tx.conn().execute(
        "UPDATE mq_runs SET finished_at = ?2, outcome = ?3, failure = ?4, command = ?5, output_tail = ?6 WHERE id = ?1",
        params![run, tx.now, e.outcome, e.failure, e.command, e.output_tail],
    )?;
    Ok(())
}

/// The merge bookkeeping, in the caller's transaction: close the MR and the
/// bead as merged, land convoys, tell the witness. Returns landed convoys.
pub fn merged_tx(tx: &Tx<'_>, mr: &MergeRequest, sha: &str, target: &str) -> Result<Vec<String>> {
    tx.update(
        &mr.id,
        &Update {
            metadata: Some(json!({"merged_sha": sha, "target": target})),
            ..Default::default()
        },
    )?;
    tx.close(&mr.id, Some(MERGED))?;
    if issues::exists(tx.conn(), &mr.bead)? {
        let b = issues::get(tx.conn(), &mr.bead)?;
        if b.status == Status::Closed && b.close_reason.as_deref() != Some(MERGED) {
            // Closed by the agent ("done") before the merge: record the merge.
            tx.conn().execute(
                "UPDATE issues SET close_reason = 'merged', updated_at = ?2 WHERE id = ?1",
                params![b.id, tx.now],
            )?;
            tx.event(
                &b.id,
                "updated",
                Some("close_reason"),
                b.close_reason.as_deref(),
                Some(MERGED),
            )?;
        } else {
            tx.close(&b.id, Some(MERGED))?;
        }
    }
    emit(
        tx,
        &mr.id,
        "mr.merged",
        json!({"bead": mr.bead, "branch": mr.branch, "sha": sha, "target": target,
               "rig": mr.rig, "agent": mr.polecat}),
    )?;
    let landed = convoy::on_bead_merged_tx(tx, &mr.bead)?;
    mail::send_tx(
        tx,
        &[Address::Witness(mr.rig.clone())],
        &Outgoing {
            from: format!("{}/refinery", mr.rig),
            subject: format!("MERGED {}", mr.bead),
            body: format!("{} ({}) merged into {target} at {sha}.", mr.bead, mr.branch),
            kind: "merged".into(),
            // A merge is a fact, not about a session: never stale.
            ..Default::default()
        },
    )?;
    Ok(landed)
}

/// Why a merge was rejected.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Rejection {
    /// `conflict`, `gate:<name>`, `missing-branch`, `manual`
    pub failure: String,
    pub command: String,
    pub output_tail: String,
}

impl Rejection {
    pub fn note(&self, mr: &MergeRequest) -> String {
        format!(
            "MERGE REJECTION ({}) of {} (branch {} at {})\ncommand: {}\noutput (tail):\n{}",
            self.failure,
            mr.id,
            mr.branch,
            mr.head_sha.chars().take(12).collect::<String>(),
            self.command,
            self.output_tail.trim_end()
        )
    }
}

/// Reject in the caller's transaction: close the MR, reopen the bead with a
/// `MERGE REJECTION` note, mail the rig's witness (the dispatcher).
pub fn rejected_tx(tx: &Tx<'_>, mr: &MergeRequest, r: &Rejection) -> Result<()> {
    let note = r.note(mr);
    tx.update(
        &mr.id,
        &Update {
            metadata: Some(json!({"rejection": {"failure": r.failure, "command": r.command}})),
            ..Default::default()
        },
    )?;
    tx.close(&mr.id, Some(&format!("rejected: {}", r.failure)))?;
    if issues::exists(tx.conn(), &mr.bead)? {
        let b = issues::get(tx.conn(), &mr.bead)?;
        if b.status == Status::Closed {
            tx.reopen(&b.id)?;
        }
        tx.update(
            &b.id,
            &Update {
                status: Some(Status::Open),
                append_notes: Some(note.clone()),
                ..Default::default()
            },
        )?;
    }
    emit(
        tx,
        &mr.id,
        "mr.rejected",
        json!({"bead": mr.bead, "branch": mr.branch, "failure": r.failure, "command": r.command,
               "rig": mr.rig, "agent": mr.polecat}),
    )?;
    mail::send_tx(
        tx,
        &[Address::Witness(mr.rig.clone())],
        &Outgoing {
            from: format!("{}/refinery", mr.rig),
            subject: format!("MERGE_FAILED {}: {}", mr.bead, r.failure),
            body: format!(
                "{note}\n\nThe bead is open again; rework the branch and run `gt done` to re-enqueue."
            ),
            kind: "merge_failed".into(),
            about: mr.polecat.clone().map(|p| (p, mr.generation)),
            ..Default::default()
        },
    )?;
    Ok(())
}

pub fn dropped_tx(tx: &Tx<'_>, mr: &MergeRequest, reason: &str) -> Result<()> {
    tx.close(&mr.id, Some(&format!("dropped: {reason}")))?;
    emit(
        tx,
        &mr.id,
        "mr.dropped",
        json!({"bead": mr.bead, "branch": mr.branch, "reason": reason, "rig": mr.rig, "agent": mr.polecat}),
    )
}

/// Why this merge request should not be merged any more, if so: its bead
/// is gone, closed, or a newer merge request for the same bead exists.
pub fn drop_reason(conn: &Connection, mr: &MergeRequest) -> Result<Option<String>> {
    if !issues::exists(conn, &mr.bead)? {
        return Ok(Some(format!("bead {} no longer exists", mr.bead)));
    }
    let b = issues::get(conn, &mr.bead)?;
    if b.status == Status::Closed {
        return Ok(Some(format!(
            "bead {} was closed meanwhile ({})",
            b.id,
            b.close_reason.as_deref().unwrap_or("no reason")
        )));
    }
    let newer: Option<String> = conn
        .prepare_cached(
            "SELECT m.id FROM deps d JOIN issues m ON m.id = d.issue_id
             WHERE d.depends_on = ?1 AND d.type = 'related' AND m.issue_type = 'merge-request'
               AND m.rowid > (SELECT rowid FROM issues WHERE id = ?2)
               AND (m.status != 'closed' OR m.close_reason = 'merged')
             ORDER BY m.rowid DESC LIMIT 1",
        )?
        .query_row(params![mr.bead, mr.id], |r| r.get(0))
        .optional()?;
    if let Some(n) = newer {
        return Ok(Some(format!(
            "superseded by {n}, a newer merge request for {}",
            mr.bead
        )));
    }
    Ok(None)
}

/// `gt mq retry`: put a closed (rejected/dropped) or stuck (claimed)
/// merge request back in the queue, at its original place.
pub fn retry(store: &mut Store, input: &str) -> Result<MergeRequest> {
    let mr = get(store.conn(), store.prefix(), input)?;
    if mr.close_reason.as_deref() == Some(MERGED) {
        return Err(CoordError::usage(
            format!("{} is already merged", mr.id),
            "nothing to retry",
        ));
    }
    if mr.status == "open" {
        return Err(CoordError::usage(
            format!("{} is already queued", mr.id),
            "see the queue with `gt mq list`",
        ));
    }
    if let Some(why) = drop_reason(store.conn(), &mr)? {
        return Err(CoordError::usage(
            format!("cannot retry {}: {why}", mr.id),
            "reopen the bead first, or enqueue its newer merge request",
        ));
    }
    store.write(|tx| -> Result<()> {
        if mr.status == "closed" {
            tx.reopen(&mr.id)?;
        }
        tx.update(
            &mr.id,
            &Update {
                status: Some(Status::Open),
                assignee: Some(None),
                ..Default::default()
            },
        )?;
        Ok(())
    })?;
    get(store.conn(), store.prefix(), &mr.id)
}

/// `gt mq reject`: reject by hand, like a failed gate.
pub fn reject(store: &mut Store, input: &str, reason: &str) -> Result<MergeRequest> {
    let mr = get(store.conn(), store.prefix(), input)?;
    if mr.status == "closed" {
        return Err(CoordError::usage(
            format!(
                "{} is already closed ({})",
                mr.id,
                mr.close_reason.as_deref().unwrap_or("no reason")
            ),
            "only queued merge requests can be rejected",
        ));
    }
    let r = Rejection {
        failure: "manual".into(),
        command: format!("gt mq reject (by {})", store.actor()),
        output_tail: reason.to_string(),
    };
    store.write(|tx| rejected_tx(tx, &mr, &r))?;
    get(store.conn(), store.prefix(), &mr.id)
}

/// `gt mq merged`: record that a merge request landed outside the refinery
/// (the `pr` strategy, after the pull request merged).
pub fn mark_merged(store: &mut Store, input: &str, sha: &str) -> Result<Vec<String>> {
    let mr = get(store.conn(), store.prefix(), input)?;
    if mr.status == "closed" {
        return Err(CoordError::usage(
            format!("{} is already closed", mr.id),
            "nothing to do",
        ));
    }
    let target = match mr.target.clone() {
        Some(t) => t,
        None => crate::town::rigs::default_branch(store.conn(), &mr.rig)?,
    };
    store.write(|tx| merged_tx(tx, &mr, sha, &target))
}

#[derive(Debug, Clone, Serialize)]
pub struct RigQueue {
    pub rig: String,
    pub queued: usize,
    pub processing: usize,
    pub next: Option<String>,
}

/// Per-rig queue summary.
pub fn summary(conn: &Connection) -> Result<Vec<RigQueue>> {
    let mut by: std::collections::BTreeMap<String, RigQueue> = Default::default();
    for mr in list(conn, None, false)? {
        let e = by.entry(mr.rig.clone()).or_insert_with(|| RigQueue {
            rig: mr.rig.clone(),
            queued: 0,
            processing: 0,
            next: None,
        });
        if mr.status == "open" {
            e.queued += 1;
            if e.next.is_none() {
                e.next = Some(mr.id.clone());
            }
        } else {
            e.processing += 1;
        }
    }
    Ok(by.into_values().collect())
}
