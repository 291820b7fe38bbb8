//! Step leases: `open -> in_progress (lease generation g) -> closed`, or back
//! to `open` with the attempt counted, or to `blocked` after too many
//! failed attempts. A close or heartbeat that carries a generation other than
//! the current one is refused ([`StoreError::StaleLease`]).
//!
//! Every function here runs inside a [`Tx`], so the change and its event row
//! land together. Event kinds: `step.started`, `step.closed`, `step.failed`,
//! `step.retry`, `escalation`, `crash`.

use super::error::{Result, StoreError};
use super::events::TownEvent;
use super::issues::CloseOutcome;
use super::types::Status;
use super::Tx;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

/// The environment variable a session carries: `GT_LEASE=<step>:<generation>`.
pub const LEASE_ENV: &str = "GT_LEASE";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lease {
    pub step_id: String,
    pub generation: i64,
    pub attempts: i64,
    pub holder: Option<String>,
    pub agent: Option<String>,
    pub pid: Option<i64>,
    pub pid_start: Option<i64>,
    pub status_file: Option<String>,
    pub log_path: Option<String>,
    pub worktree: Option<String>,
    pub leased_at: Option<String>,
    pub heartbeat_at: Option<String>,
    pub not_before: Option<String>,
    pub last_error: Option<String>,
}

const COLS: &str = "step_id, generation, attempts, holder, agent, pid, pid_start, status_file, log_path, worktree, leased_at, heartbeat_at, not_before, last_error";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Lease> {
    Ok(Lease {
        step_id: r.get(0)?,
        generation: r.get(1)?,
        attempts: r.get(2)?,
        holder: r.get(3)?,
        agent: r.get(4)?,
        pid: r.get(5)?,
        pid_start: r.get(6)?,
        status_file: r.get(7)?,
        log_path: r.get(8)?,
        worktree: r.get(9)?,
        leased_at: r.get(10)?,
        heartbeat_at: r.get(11)?,
        not_before: r.get(12)?,
        last_error: r.get(13)?,
    })
}

/// The lease row of a step, if it was ever leased.
pub fn get(conn: &Connection, step: &str) -> Result<Option<Lease>> {
    let mut st = conn.prepare_cached(&format!("SELECT {COLS} FROM leases WHERE step_id = ?1"))?;
    Ok(st.query_row([step], from_row).optional()?)
}

/// An issue's status alone: the lease paths need nothing else of its row.
fn status_of(conn: &Connection, id: &str) -> Result<Status> {
    let mut st = conn.prepare_cached("SELECT status FROM issues WHERE id = ?1")?;
    match st.query_row([id], |r| r.get::<_, String>(0)).optional()? {
        Some(s) => s.parse(),
        None => Err(super::issues::not_found(conn, id)),
    }
}

/// Leases of every step whose id starts with `prefix` (a molecule's steps).
pub fn under(conn: &Connection, root: &str) -> Result<Vec<Lease>> {
    let (lo, hi) = step_range(root);
    let mut st = conn.prepare_cached(&format!(
        "SELECT {COLS} FROM leases WHERE step_id >= ?1 AND step_id < ?2 ORDER BY step_id"
    ))?;
    let rows = st.query_map(params![lo, hi], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The key range `[lo, hi)` of the steps of molecule `root` (`<root>.<path>`).
pub fn step_range(root: &str) -> (String, String) {
    (format!("{root}."), format!("{root}/"))
}

/// Parse `GT_LEASE` (`<step>:<generation>`).
pub fn parse_lease(text: &str) -> Result<(String, i64)> {
    let bad = || {
        StoreError::Invalid(format!(
            "{LEASE_ENV}=`{text}` is malformed; it must be <step-id>:<generation>, e.g. gt-ab12.build:3 (unset {LEASE_ENV} to act as a person)"
        ))
    };
    let (step, gen) = text.trim().rsplit_once(':').ok_or_else(bad)?;
    let gen: i64 = gen.parse().map_err(|_| bad())?;
    if step.is_empty() || gen < 1 {
        return Err(bad());
    }
    Ok((step.to_string(), gen))
}

/// `GT_LEASE` from the environment, if set and non-empty.
pub fn lease_from_env() -> Result<Option<(String, i64)>> {
    match std::env::var(LEASE_ENV) {
        Ok(v) if !v.trim().is_empty() => parse_lease(&v).map(Some),
        _ => Ok(None),
    }
}

/// What a new lease records.
#[derive(Debug, Clone, Default)]
pub struct LeaseRequest {
    /// The agent address that holds the lease (the assignee).
    pub holder: String,
    /// The agent config name (`shell`, `claude`, ...).
    pub agent: String,
    pub worktree: Option<String>,
}

/// What [`Tx::fail_step`] decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum FailOutcome {
    /// Back to `open`; not dispatched before `not_before`.
    Retry { attempt: i64, not_before: String },
    /// Too many attempts (or a permanent failure): `blocked`, escalated.
    /// `why` is the escalation's text (the runtime mails it).
    Blocked { attempts: i64, why: String },
    /// The step was no longer leased at this generation; nothing changed.
    Stale,
}

/// How a session failed.
#[derive(Debug, Clone)]
pub struct Failure<'a> {
    /// `failed` (non-zero exit), `timeout`, `crash` (no exit status), ...
    pub kind: &'a str,
    pub error: &'a str,
    pub max_attempts: i64,
    pub backoff_ms: u64,
    /// Do not retry (e.g. the command does not exist).
    pub permanent: bool,
    /// Where to read more (the session log).
    pub log_path: Option<&'a str>,
}

/// The backoff before attempt `attempt + 1`: `base * 2^(attempt-1)`, capped at 5 minutes.
pub fn backoff(base_ms: u64, attempt: i64) -> u64 {
    let shift = (attempt.max(1) - 1).min(16) as u32;
    base_ms.saturating_mul(1u64 << shift).min(300_000)
}

/// RFC 3339 timestamp `ms` milliseconds after `now` (an [`super::ids::now`] string).
pub fn later(now: &str, ms: u64) -> String {
    let micros = parse_micros(now).unwrap_or_else(|| (super::ids::now_nanos() / 1000) as i64);
    super::ids::format_micros(micros + (ms as i64) * 1000)
}

/// Microseconds since the epoch of an [`super::ids::now`] timestamp.
pub fn parse_micros(ts: &str) -> Option<i64> {
    let secs = super::ids::parse_secs(ts)?;
    let frac: i64 = ts.get(20..26).and_then(|f| f.parse().ok()).unwrap_or(0);
    Some(secs * 1_000_000 + frac)
}

impl Tx<'_> {
    /// Lease an `open` step: it becomes `in_progress`, assigned to the
    /// holder, with a new generation and the attempt counted. `None` when the
    /// step is not open (someone else won, or it was closed).
    pub fn lease_step(&self, step: &str, req: &LeaseRequest) -> Result<Option<Lease>> {
        self.lease_as(step, req, Status::InProgress)
    }

    /// Like [`Tx::lease_step`], but the issue goes to `to` (`hooked` for sling).
    pub fn lease_as(&self, step: &str, req: &LeaseRequest, to: Status) -> Result<Option<Lease>> {
        if status_of(&self.tx, step)? != Status::Open {
            return Ok(None);
        }
        self.tx
            .prepare_cached("UPDATE issues SET assignee = ?2 WHERE id = ?1")?
            .execute(params![step, req.holder])?;
        self.set_status(step, Status::Open, to, None)?;
        let lease = self
            .tx
            .prepare_cached(&format!(
                "INSERT INTO leases (step_id, generation, attempts, holder, agent, worktree, leased_at, heartbeat_at)
                 VALUES (?1, 1, 1, ?2, ?3, ?4, ?5, ?5)
                 ON CONFLICT(step_id) DO UPDATE SET generation = generation + 1, attempts = attempts + 1,
                   holder = ?2, agent = ?3, worktree = ?4, leased_at = ?5, heartbeat_at = ?5,
                   pid = NULL, pid_start = NULL, status_file = NULL, log_path = NULL, not_before = NULL
                 RETURNING {COLS}"
            ))?
            .query_row(
                params![step, req.holder, req.agent, req.worktree, self.now],
                from_row,
            )?;
        self.emit(
            step,
            &TownEvent::StepStarted {
                agent: req.holder.clone(),
                lease: lease.generation,
            },
        )?;
        Ok(Some(lease))
    }

    /// Record the session of lease `(step, gen)`: its process, status file and log.
    pub fn record_session(
        &self,
        step: &str,
        gen: i64,
        pid: Option<i64>,
        pid_start: Option<i64>,
        status_file: &str,
        log_path: &str,
    ) -> Result<bool> {
        let n = self
            .tx
            .prepare_cached(
                "UPDATE leases SET pid = ?3, pid_start = ?4, status_file = ?5, log_path = ?6
                 WHERE step_id = ?1 AND generation = ?2",
            )?
            .execute(params![step, gen, pid, pid_start, status_file, log_path])?;
        Ok(n == 1)
    }

    /// The current lease of `step`, if `gen` is its generation and the step
    /// is still being worked on; else [`StoreError::StaleLease`].
    pub fn check_lease(&self, step: &str, gen: i64) -> Result<Lease> {
        let lease = get(&self.tx, step)?;
        let status = status_of(&self.tx, step)?;
        match lease {
            Some(l)
                if l.generation == gen && matches!(status, Status::InProgress | Status::Hooked) =>
            {
                Ok(l)
            }
            Some(l) => Err(StoreError::StaleLease {
                id: step.to_string(),
                have: gen,
                current: l.generation,
                status: status.to_string(),
            }),
            None => Err(StoreError::StaleLease {
                id: step.to_string(),
                have: gen,
                current: 0,
                status: status.to_string(),
            }),
        }
    }

    /// Close a leased step on behalf of the lease `(step, gen)`.
    pub fn close_leased(&self, step: &str, gen: i64, reason: Option<&str>) -> Result<CloseOutcome> {
        if status_of(&self.tx, step)? == Status::Closed {
            // A late duplicate (e.g. the agent closed it, then exited 0).
            let current = get(&self.tx, step)?.map(|l| l.generation).unwrap_or(0);
            if current == gen {
                return Ok(CloseOutcome::AlreadyClosed);
            }
        }
        self.check_lease(step, gen)?;
        let out = self.close(step, reason)?;
        if out == CloseOutcome::Closed {
            self.emit(step, &TownEvent::StepClosed { lease: gen })?;
        }
        Ok(out)
    }

    /// The `bd close` path: with `GT_LEASE` naming this step, the generation
    /// must be current; without it (a person), the close goes through, and a
    /// leased step still records `step.closed`.
    pub fn close_checked(
        &self,
        id: &str,
        reason: Option<&str>,
        lease: Option<&(String, i64)>,
    ) -> Result<CloseOutcome> {
        if let Some((step, gen)) = lease {
            if step == id {
                return self.close_leased(id, *gen, reason);
            }
        }
        let was = status_of(&self.tx, id)?;
        let out = self.close(id, reason)?;
        if out == CloseOutcome::Closed && matches!(was, Status::InProgress | Status::Hooked) {
            if let Some(l) = get(&self.tx, id)? {
                self.emit(
                    id,
                    &TownEvent::StepClosed {
                        lease: l.generation,
                    },
                )?;
            }
        }
        Ok(out)
    }

    /// A heartbeat from the lease `(step, gen)`.
    pub fn heartbeat(&self, step: &str, gen: i64) -> Result<()> {
        self.check_lease(step, gen)?;
        self.tx
            .prepare_cached(
                "UPDATE leases SET heartbeat_at = ?3 WHERE step_id = ?1 AND generation = ?2",
            )?
            .execute(params![step, gen, self.now])?;
        Ok(())
    }

    /// A failed attempt of lease `(step, gen)`: back to `open` with a backoff,
    /// or `blocked` with an escalation (event and mail) after `max_attempts`.
    pub fn fail_step(&self, step: &str, gen: i64, f: &Failure<'_>) -> Result<FailOutcome> {
        let lease = match self.check_lease(step, gen) {
            Ok(l) => l,
            Err(StoreError::StaleLease { .. }) => return Ok(FailOutcome::Stale),
            Err(e) => return Err(e),
        };
        let status = status_of(&self.tx, step)?;
        self.emit(
            step,
            &TownEvent::StepFailed {
                reason: f.kind.to_string(),
                error: f.error.to_string(),
            },
        )?;
        if f.kind == "crash" {
            self.emit(step, &TownEvent::Crash { lease: gen })?;
        }
        self.tx
            .prepare_cached(
                "UPDATE leases SET last_error = ?2, pid = NULL, pid_start = NULL,
                   log_path = coalesce(?3, log_path) WHERE step_id = ?1",
            )?
            .execute(params![step, f.error, f.log_path])?;
        if f.permanent || lease.attempts >= f.max_attempts {
            self.set_status(step, status, Status::Blocked, None)?;
            let why = if f.permanent {
                format!("{step} cannot run: {}", f.error)
            } else {
                format!(
                    "{step} failed {} time(s); last error: {}",
                    lease.attempts, f.error
                )
            };
            self.emit(
                step,
                &TownEvent::Escalation {
                    reason: why.clone(),
                },
            )?;
            return Ok(FailOutcome::Blocked {
                attempts: lease.attempts,
                why,
            });
        }
        let not_before = later(&self.now, backoff(f.backoff_ms, lease.attempts));
        self.tx
            .prepare_cached("UPDATE leases SET not_before = ?2 WHERE step_id = ?1")?
            .execute(params![step, not_before])?;
        self.set_status(step, status, Status::Open, None)?;
        self.emit(
            step,
            &TownEvent::StepRetry {
                attempt: lease.attempts + 1,
                not_before: not_before.clone(),
            },
        )?;
        Ok(FailOutcome::Retry {
            attempt: lease.attempts + 1,
            not_before,
        })
    }

    /// Give a lease back without counting the attempt (an interrupted run).
    pub fn release_lease(&self, step: &str, gen: i64, why: &str) -> Result<bool> {
        if self.check_lease(step, gen).is_err() {
            return Ok(false);
        }
        let status = status_of(&self.tx, step)?;
        self.tx
            .prepare_cached(
                "UPDATE leases SET attempts = max(attempts - 1, 0), pid = NULL, pid_start = NULL, last_error = ?2 WHERE step_id = ?1",
            )?
            .execute(params![step, why])?;
        self.set_status(step, status, Status::Open, None)?;
        self.emit(
            step,
            &TownEvent::Restart {
                agent: None,
                lease: Some(gen),
                supervisor: None,
            },
        )?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_env_and_backoff() {
        assert_eq!(
            parse_lease("gt-ab.c.d:3").unwrap(),
            ("gt-ab.c.d".to_string(), 3)
        );
        assert!(parse_lease("gt-ab").is_err());
        assert!(parse_lease("gt-ab:0").is_err());
        assert!(parse_lease(":2").is_err());
        assert_eq!(backoff(1000, 1), 1000);
        assert_eq!(backoff(1000, 3), 4000);
        assert_eq!(backoff(1000, 60), 300_000);
        let t = "2026-01-01T00:00:00.000000Z";
        assert_eq!(later(t, 1500), "2026-01-01T00:00:01.500000Z");
    }
}
