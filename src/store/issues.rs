//! Issues: create, read, list, search, update, claim, close, reopen, delete,
//! labels and comments.

use super::error::{Result, StoreError};
use super::types::*;
use super::{ids, ready, Tx};
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::Value;

/// Columns of [`Issue`], in the order [`from_row`] reads them.
pub(crate) const COLS: &str = "id, title, description, design, acceptance_criteria, notes, status, \
    issue_type, priority, assignee, metadata, ephemeral, created_at, updated_at, closed_at, \
    close_reason, created_by, (SELECT group_concat(label, char(31)) FROM labels l WHERE l.issue_id = issues.id)";

fn bad_column(i: usize, e: StoreError) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
}

pub(crate) fn from_row(r: &Row<'_>) -> rusqlite::Result<Issue> {
    let status: String = r.get(6)?;
    let itype: String = r.get(7)?;
    let meta: String = r.get(10)?;
    let labels: Option<String> = r.get(17)?;
    let mut labels: Vec<String> = labels
        .map(|l| l.split('\u{1f}').map(str::to_string).collect())
        .unwrap_or_default();
    labels.sort();
    Ok(Issue {
        id: r.get(0)?,
        title: r.get(1)?,
        description: r.get(2)?,
        design: r.get(3)?,
        acceptance_criteria: r.get(4)?,
        notes: r.get(5)?,
        status: status.parse().map_err(|e| bad_column(6, e))?,
        issue_type: itype.parse().map_err(|e| bad_column(7, e))?,
        priority: r.get::<_, i64>(8)?.clamp(0, 4) as u8,
        assignee: r.get::<_, Option<String>>(9)?.filter(|a| !a.is_empty()),
        metadata: serde_json::from_str(&meta).unwrap_or(Value::Null),
        ephemeral: r.get(11)?,
        created_at: r.get(12)?,
        updated_at: r.get(13)?,
        closed_at: r.get(14)?,
        close_reason: r.get(15)?,
        created_by: r.get(16)?,
        labels,
    })
}

/// Fetch one issue by exact id, or fail with did-you-mean suggestions.
pub fn get(conn: &Connection, id: &str) -> Result<Issue> {
    let mut st = conn.prepare_cached(&format!("SELECT {COLS} FROM issues WHERE id = ?1"))?;
    match st.query_row([id], from_row).optional()? {
        Some(i) => Ok(i),
        None => Err(not_found(conn, id)),
    }
}

pub fn exists(conn: &Connection, id: &str) -> Result<bool> {
    let mut st = conn.prepare_cached("SELECT 1 FROM issues WHERE id = ?1")?;
    Ok(st.exists([id])?)
}

/// Resolve user input to an existing id: the exact id, or the id with the
/// store prefix added (`abc` -> `bd-abc`). Anything else is NotFound with
/// suggestions; a partial id is never silently expanded.
pub fn resolve(conn: &Connection, prefix: &str, input: &str) -> Result<String> {
    let input = input.trim();
    if input.is_empty() {
        return Err(StoreError::Invalid("empty issue id".into()));
    }
    if exists(conn, input)? {
        return Ok(input.to_string());
    }
    let with_prefix = format!("{prefix}-{input}");
    if exists(conn, &with_prefix)? {
        return Ok(with_prefix);
    }
    Err(not_found(conn, input))
}

/// NotFound with up to 5 ids that share the longest prefix with `id`.
pub fn not_found(conn: &Connection, id: &str) -> StoreError {
    let suggestions = suggest(conn, id).unwrap_or_default();
    StoreError::NotFound {
        id: id.to_string(),
        suggestions,
    }
}

fn suggest(conn: &Connection, id: &str) -> Result<Vec<String>> {
    let mut st = conn
        .prepare_cached("SELECT id FROM issues WHERE id >= ?1 AND id < ?2 ORDER BY id LIMIT 5")?;
    let chars: Vec<char> = id.chars().collect();
    let min = chars
        .iter()
        .position(|c| *c == '-')
        .map(|p| p + 2)
        .unwrap_or(1);
    let mut n = chars.len();
    while n >= min.min(chars.len()) && n > 0 {
        let p: String = chars[..n].iter().collect();
        let hi = format!("{p}\u{10ffff}");
        let found: Vec<String> = st
            .query_map(params![p, hi], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        if !found.is_empty() {
            return Ok(found);
        }
        n -= 1;
    }
    Ok(Vec::new())
}

/// What to create. `Default` gives an open P2 task.
#[derive(Debug, Clone)]
pub struct NewIssue {
    /// An explicit id (molecule steps, import). `None` generates one.
    pub id: Option<String>,
    pub title: String,
    pub description: String,
    pub design: String,
    pub acceptance_criteria: String,
    pub notes: String,
    pub issue_type: IssueType,
    pub priority: u8,
    pub status: Status,
    pub assignee: Option<String>,
    pub labels: Vec<String>,
    pub metadata: Option<Value>,
    pub ephemeral: bool,
    pub parent: Option<String>,
    /// `(type, target)`: the new issue depends on each target.
    pub deps: Vec<(DepType, String)>,
}

impl Default for NewIssue {
    fn default() -> Self {
        NewIssue {
            id: None,
            title: String::new(),
            description: String::new(),
            design: String::new(),
            acceptance_criteria: String::new(),
            notes: String::new(),
            issue_type: IssueType::Task,
            priority: 2,
            status: Status::Open,
            assignee: None,
            labels: Vec::new(),
            metadata: None,
            ephemeral: false,
            parent: None,
            deps: Vec::new(),
        }
    }
}

/// Field changes for [`Tx::update`]. `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct Update {
    pub title: Option<String>,
    pub description: Option<String>,
    pub design: Option<String>,
    pub acceptance_criteria: Option<String>,
    pub notes: Option<String>,
    pub append_notes: Option<String>,
    pub status: Option<Status>,
    /// `Some(None)` clears the assignee.
    pub assignee: Option<Option<String>>,
    pub priority: Option<u8>,
    pub issue_type: Option<IssueType>,
    /// Keys merged into the metadata object (`null` removes a key).
    pub metadata: Option<Value>,
}

impl Update {
    pub fn is_empty(&self) -> bool {
        self.title.is_none()
            && self.description.is_none()
            && self.design.is_none()
            && self.acceptance_criteria.is_none()
            && self.notes.is_none()
            && self.append_notes.is_none()
            && self.status.is_none()
            && self.assignee.is_none()
            && self.priority.is_none()
            && self.issue_type.is_none()
            && self.metadata.is_none()
    }
}

/// Filters for [`list`]. Empty filter = every persistent issue.
#[derive(Debug, Clone, Default)]
pub struct IssueFilter {
    pub status: Vec<Status>,
    pub issue_type: Vec<IssueType>,
    pub assignee: Option<String>,
    pub labels: Vec<String>,
    pub parent: Option<String>,
    /// Include ephemeral issues (wisps).
    pub include_ephemeral: bool,
    /// Only ephemeral issues.
    pub only_ephemeral: bool,
    pub text: Option<String>,
    pub limit: Option<usize>,
}

pub fn list(conn: &Connection, f: &IssueFilter) -> Result<Vec<Issue>> {
    let mut out = Vec::new();
    list_each(conn, f, |i| {
        out.push(i);
        Ok(true)
    })?;
    Ok(out)
}

/// [`list`] as a stream: `each` gets the issues in order and returns false
/// to stop. Nothing is held but the current row (`bd list` on a big store).
pub fn list_each(
    conn: &Connection,
    f: &IssueFilter,
    mut each: impl FnMut(Issue) -> Result<bool>,
) -> Result<()> {
    let mut sql = format!("SELECT {COLS} FROM issues WHERE 1=1");
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    let arg = |v: String, args: &mut Vec<rusqlite::types::Value>| {
        args.push(rusqlite::types::Value::Text(v));
        format!("?{}", args.len())
    };
    if f.only_ephemeral {
        sql += " AND ephemeral = 1";
    } else if !f.include_ephemeral {
        sql += " AND ephemeral = 0";
    }
    if !f.status.is_empty() {
        let ps: Vec<String> = f
            .status
            .iter()
            .map(|s| arg(s.as_str().to_string(), &mut args))
            .collect();
        sql += &format!(" AND status IN ({})", ps.join(","));
    }
    if !f.issue_type.is_empty() {
        let ps: Vec<String> = f
            .issue_type
            .iter()
            .map(|s| arg(s.as_str().to_string(), &mut args))
            .collect();
        sql += &format!(" AND issue_type IN ({})", ps.join(","));
    }
    if let Some(a) = &f.assignee {
        sql += &format!(" AND assignee = {}", arg(a.clone(), &mut args));
    }
    for l in &f.labels {
        let p = arg(l.clone(), &mut args);
        sql += &format!(" AND EXISTS (SELECT 1 FROM labels l2 WHERE l2.issue_id = issues.id AND l2.label = {p})");
    }
    if let Some(p) = &f.parent {
        let p = arg(p.clone(), &mut args);
        sql += &format!(" AND id IN (SELECT issue_id FROM deps WHERE depends_on = {p} AND type = 'parent-child')");
    }
    if let Some(t) = &f.text {
        let p = arg(format!("%{t}%"), &mut args);
        sql += &format!(
            " AND (title LIKE {p} OR description LIKE {p} OR notes LIKE {p} OR id LIKE {p})"
        );
    }
    sql += " ORDER BY priority, created_at, id";
    if let Some(n) = f.limit {
        sql += &format!(" LIMIT {n}");
    }
    let mut st = conn.prepare(&sql)?;
    let rows = st.query_map(rusqlite::params_from_iter(args), from_row)?;
    for row in rows {
        if !each(row?)? {
            break;
        }
    }
    Ok(())
}

pub fn comments(conn: &Connection, id: &str) -> Result<Vec<Comment>> {
    let mut st = conn.prepare_cached(
        "SELECT author, text, created_at FROM comments WHERE issue_id = ?1 ORDER BY created_at, id",
    )?;
    let rows = st.query_map([id], |r| {
        Ok(Comment {
            author: r.get(0)?,
            text: r.get(1)?,
            created_at: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn readiness(conn: &Connection, id: &str) -> Result<Readiness> {
    let mut st = conn.prepare_cached(
        "SELECT open_blockers, waits_unsat, anc_blocked, blocked, status, ephemeral FROM issues WHERE id = ?1",
    )?;
    st.query_row([id], |r| {
        let blocked: bool = r.get(3)?;
        let status: String = r.get(4)?;
        Ok(Readiness {
            open_blockers: r.get(0)?,
            waits_unsatisfied: r.get(1)?,
            ancestor_blocked: r.get(2)?,
            blocked,
            ready: !blocked && status == "open",
        })
    })
    .optional()?
    .ok_or_else(|| not_found(conn, id))
}

/// Counts by status, for `bd stats`.
pub fn stats(conn: &Connection) -> Result<Vec<(String, i64)>> {
    let mut st = conn.prepare(
        "SELECT status, count(*) FROM issues WHERE ephemeral = 0 GROUP BY status ORDER BY status",
    )?;
    let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn check_title(t: &str) -> Result<()> {
    if t.trim().is_empty() {
        return Err(StoreError::Invalid(
            "the title is empty; give the issue a title".into(),
        ));
    }
    Ok(())
}

pub(crate) fn check_label(l: &str) -> Result<()> {
    if l.is_empty() || l.chars().any(|c| c.is_whitespace() || c == ',') {
        return Err(StoreError::Invalid(format!(
            "label `{l}` is not valid: labels are non-empty and have no spaces or commas"
        )));
    }
    Ok(())
}

/// Outcome of [`Tx::close`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseOutcome {
    Closed,
    AlreadyClosed,
}

/// Outcome of a claim.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimOutcome {
    Claimed,
    AlreadyYours,
}

impl Tx<'_> {
    /// Generate a fresh `<prefix>-<hash>` id that is not taken (nor tombstoned).
    pub fn new_id(&self, seed: &str) -> Result<String> {
        let n: i64 = self
            .tx
            .query_row("SELECT coalesce(max(rowid), 0) FROM issues", [], |r| {
                r.get(0)
            })?;
        let mut len = ids::adaptive_len(n as u64);
        loop {
            for attempt in 0..10 {
                let id = ids::candidate(&self.prefix, seed, len, attempt);
                let taken: bool = self.tx.query_row(
                    "SELECT EXISTS (SELECT 1 FROM issues WHERE id = ?1) OR EXISTS (SELECT 1 FROM tombstones WHERE id = ?1)",
                    [&id],
                    |r| r.get(0),
                )?;
                if !taken {
                    return Ok(id);
                }
            }
            len += 1;
        }
    }

    /// Create one issue with its labels, parent and dependencies.
    pub fn create(&self, n: &NewIssue) -> Result<Issue> {
        check_title(&n.title)?;
        check_priority(n.priority as i64)?;
        for l in &n.labels {
            check_label(l)?;
        }
        let id = match &n.id {
            Some(id) => {
                crate::ids::validate_bead_id(id)?;
                if exists(&self.tx, id)? {
                    return Err(StoreError::Invalid(format!("issue {id} already exists")));
                }
                self.tx
                    .execute("DELETE FROM tombstones WHERE id = ?1", [id])?;
                id.clone()
            }
            None => self.new_id(&n.title)?,
        };
        let meta = match &n.metadata {
            Some(m) if !m.is_object() => {
                return Err(StoreError::Invalid(
                    "metadata must be a JSON object, e.g. {\"key\": \"value\"}".into(),
                ))
            }
            Some(m) => serde_json::to_string(m)?,
            None => "{}".to_string(),
        };
        let closed_at = (n.status == Status::Closed).then(|| self.now.clone());
        self.tx.prepare_cached(
            "INSERT INTO issues (id, title, description, design, acceptance_criteria, notes, status, issue_type, priority, assignee, metadata, ephemeral, created_at, updated_at, closed_at, created_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13, ?14, ?15)",
        )?.execute(params![
            id, n.title, n.description, n.design, n.acceptance_criteria, n.notes,
            n.status.as_str(), n.issue_type.as_str(), n.priority, n.assignee.as_deref().filter(|a| !a.is_empty()),
            meta, n.ephemeral, self.now, closed_at, self.actor
        ])?;
        self.event(&id, "created", None, None, Some(&n.title))?;
        for l in &n.labels {
            self.tx
                .prepare_cached("INSERT OR IGNORE INTO labels (issue_id, label) VALUES (?1, ?2)")?
                .execute(params![id, l])?;
        }
        if let Some(p) = &n.parent {
            let p = resolve(&self.tx, &self.prefix, p)?;
            self.add_dep(&id, &p, DepType::ParentChild, None)?;
        }
        for (t, target) in &n.deps {
            let target = resolve(&self.tx, &self.prefix, target)?;
            self.add_dep(&id, &target, *t, None)?;
        }
        ready::settle(&self.tx, [id.clone()])?;
        get(&self.tx, &id)
    }

    fn touch(&self, id: &str) -> Result<()> {
        self.tx
            .prepare_cached("UPDATE issues SET updated_at = ?2 WHERE id = ?1")?
            .execute(params![id, self.now])?;
        Ok(())
    }

    fn set_text(&self, id: &str, col: &'static str, old: &str, new: &str) -> Result<()> {
        if old == new {
            return Ok(());
        }
        self.tx.execute(
            &format!("UPDATE issues SET {col} = ?2 WHERE id = ?1"),
            params![id, new],
        )?;
        self.event(id, "updated", Some(col), Some(old), Some(new))
    }

    /// Apply field changes. Returns the updated issue.
    pub fn update(&self, id: &str, u: &Update) -> Result<Issue> {
        let cur = get(&self.tx, id)?;
        if let Some(t) = &u.title {
            check_title(t)?;
            self.set_text(id, "title", &cur.title, t)?;
        }
        if let Some(v) = &u.description {
            self.set_text(id, "description", &cur.description, v)?;
        }
        if let Some(v) = &u.design {
            self.set_text(id, "design", &cur.design, v)?;
        }
        if let Some(v) = &u.acceptance_criteria {
            self.set_text(id, "acceptance_criteria", &cur.acceptance_criteria, v)?;
        }
        let mut notes = cur.notes.clone();
        if let Some(v) = &u.notes {
            notes = v.clone();
        }
        if let Some(v) = &u.append_notes {
            if !notes.is_empty() && !notes.ends_with('\n') {
                notes.push('\n');
            }
            notes.push_str(v);
        }
        self.set_text(id, "notes", &cur.notes, &notes)?;
        if let Some(p) = u.priority {
            check_priority(p as i64)?;
            if p != cur.priority {
                self.tx.execute(
                    "UPDATE issues SET priority = ?2 WHERE id = ?1",
                    params![id, p],
                )?;
                self.event(
                    id,
                    "updated",
                    Some("priority"),
                    Some(&cur.priority.to_string()),
                    Some(&p.to_string()),
                )?;
            }
        }
        if let Some(t) = u.issue_type {
            if t != cur.issue_type {
                self.tx.execute(
                    "UPDATE issues SET issue_type = ?2 WHERE id = ?1",
                    params![id, t.as_str()],
                )?;
                self.event(
                    id,
                    "updated",
                    Some("issue_type"),
                    Some(cur.issue_type.as_str()),
                    Some(t.as_str()),
                )?;
            }
        }
        if let Some(a) = &u.assignee {
            let a = a.clone().filter(|a| !a.trim().is_empty());
            if a != cur.assignee {
                self.tx.execute(
                    "UPDATE issues SET assignee = ?2 WHERE id = ?1",
                    params![id, a],
                )?;
                self.event(
                    id,
                    "updated",
                    Some("assignee"),
                    cur.assignee.as_deref(),
                    a.as_deref(),
                )?;
            }
        }
        if let Some(m) = &u.metadata {
            let Some(patch) = m.as_object() else {
                return Err(StoreError::Invalid(
                    "metadata must be a JSON object, e.g. {\"key\": \"value\"}".into(),
                ));
            };
            let mut merged = cur.metadata.as_object().cloned().unwrap_or_default();
            for (k, v) in patch {
                if v.is_null() {
                    merged.remove(k);
                } else {
                    merged.insert(k.clone(), v.clone());
                }
            }
            let new = Value::Object(merged);
            if new != cur.metadata {
                let (old_s, new_s) = (cur.metadata.to_string(), serde_json::to_string(&new)?);
                self.tx.execute(
                    "UPDATE issues SET metadata = ?2 WHERE id = ?1",
                    params![id, new_s],
                )?;
                self.event(id, "updated", Some("metadata"), Some(&old_s), Some(&new_s))?;
            }
        }
        if let Some(s) = u.status {
            self.set_status(id, cur.status, s, None)?;
        }
        self.touch(id)?;
        get(&self.tx, id)
    }

    /// Change the status and keep the ready set current.
    pub(crate) fn set_status(
        &self,
        id: &str,
        old: Status,
        new: Status,
        reason: Option<&str>,
    ) -> Result<()> {
        if old == new {
            return Ok(());
        }
        if new == Status::Closed {
            self.tx.prepare_cached(
                "UPDATE issues SET status = 'closed', closed_at = ?2, close_reason = ?3, updated_at = ?2 WHERE id = ?1",
            )?.execute(params![id, self.now, reason])?;
        } else {
            self.tx.prepare_cached(
                "UPDATE issues SET status = ?2, closed_at = NULL, close_reason = NULL, updated_at = ?3 WHERE id = ?1",
            )?.execute(params![id, new.as_str(), self.now])?;
        }
        let kind = match new {
            Status::Closed => "closed",
            _ if old == Status::Closed => "reopened",
            _ => "status_changed",
        };
        self.event(
            id,
            kind,
            Some("status"),
            Some(old.as_str()),
            Some(new.as_str()),
        )?;
        ready::status_changed(&self.tx, id, old, new)
    }

    /// Close an issue. Closing a closed issue is a no-op that says so.
    pub fn close(&self, id: &str, reason: Option<&str>) -> Result<CloseOutcome> {
        let mut st = self
            .tx
            .prepare_cached("SELECT status FROM issues WHERE id = ?1")?;
        let status: Option<String> = st.query_row([id], |r| r.get(0)).optional()?;
        let Some(status) = status else {
            return Err(not_found(&self.tx, id));
        };
        let status: Status = status.parse()?;
        if status == Status::Closed {
            return Ok(CloseOutcome::AlreadyClosed);
        }
        self.set_status(id, status, Status::Closed, reason.filter(|r| !r.is_empty()))?;
        Ok(CloseOutcome::Closed)
    }

    pub fn reopen(&self, id: &str) -> Result<bool> {
        let cur = get(&self.tx, id)?;
        if cur.status != Status::Closed {
            return Ok(false);
        }
        self.set_status(id, Status::Closed, Status::Open, None)?;
        Ok(true)
    }

    /// Atomic claim: set `in_progress` and the assignee, only if the issue is
    /// open and unassigned (or already assigned to this actor).
    pub fn claim(&self, id: &str, who: &str) -> Result<ClaimOutcome> {
        let n = self.tx.prepare_cached(
            "UPDATE issues SET status = 'in_progress', assignee = ?2, updated_at = ?3
             WHERE id = ?1 AND status = 'open' AND (assignee IS NULL OR assignee = '' OR assignee = ?2)",
        )?.execute(params![id, who, self.now])?;
        let cur = get(&self.tx, id)?;
        if n == 1 {
            self.event(id, "claimed", Some("assignee"), None, Some(who))?;
            self.event(
                id,
                "status_changed",
                Some("status"),
                Some("open"),
                Some("in_progress"),
            )?;
            ready::status_changed(&self.tx, id, Status::Open, Status::InProgress)?;
            return Ok(ClaimOutcome::Claimed);
        }
        if cur.status == Status::InProgress && cur.assignee.as_deref() == Some(who) {
            return Ok(ClaimOutcome::AlreadyYours);
        }
        let reason = match (&cur.assignee, cur.status) {
            (Some(a), s) => format!("it is {s} and assigned to {a}"),
            (None, s) => format!("it is {s}, not open"),
        };
        Err(StoreError::ClaimConflict {
            id: id.to_string(),
            reason,
        })
    }

    pub fn add_label(&self, id: &str, label: &str) -> Result<bool> {
        check_label(label)?;
        let n = self
            .tx
            .prepare_cached("INSERT OR IGNORE INTO labels (issue_id, label) VALUES (?1, ?2)")?
            .execute(params![id, label])?;
        if n > 0 {
            self.event(id, "label_added", Some("labels"), None, Some(label))?;
            self.touch(id)?;
        }
        Ok(n > 0)
    }

    pub fn remove_label(&self, id: &str, label: &str) -> Result<bool> {
        let n = self.tx.execute(
            "DELETE FROM labels WHERE issue_id = ?1 AND label = ?2",
            params![id, label],
        )?;
        if n > 0 {
            self.event(id, "label_removed", Some("labels"), Some(label), None)?;
            self.touch(id)?;
        }
        Ok(n > 0)
    }

    pub fn comment(&self, id: &str, text: &str) -> Result<Comment> {
        if text.trim().is_empty() {
            return Err(StoreError::Invalid("the comment is empty".into()));
        }
        self.tx.execute(
            "INSERT INTO comments (issue_id, author, text, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![id, self.actor, text, self.now],
        )?;
        self.event(id, "commented", None, None, Some(text))?;
        self.touch(id)?;
        Ok(Comment {
            author: self.actor.clone(),
            text: text.to_string(),
            created_at: self.now.clone(),
        })
    }

    /// Delete issues (and their deps, labels, comments). Persistent issues
    /// leave a tombstone so that the deletion survives a JSONL merge.
    pub fn delete(&self, victims: &[String]) -> Result<usize> {
        let set: std::collections::HashSet<&str> = victims.iter().map(|s| s.as_str()).collect();
        let mut seeds = Vec::new();
        for id in victims {
            let Some((ephemeral, status)) = self
                .tx
                .query_row(
                    "SELECT ephemeral, status FROM issues WHERE id = ?1",
                    [id],
                    |r| Ok((r.get::<_, bool>(0)?, r.get::<_, String>(1)?)),
                )
                .optional()?
            else {
                continue;
            };
            // Neighbours outside the deleted set need their readiness redone.
            let mut st = self.tx.prepare_cached(
                "SELECT issue_id FROM deps WHERE depends_on = ?1 UNION SELECT depends_on FROM deps WHERE issue_id = ?1",
            )?;
            for n in st.query_map([id], |r| r.get::<_, String>(0))? {
                let n = n?;
                if !set.contains(n.as_str()) {
                    seeds.push(n);
                }
            }
            if let Some(p) = ready::parent_of(&self.tx, id)? {
                if !set.contains(p.as_str()) {
                    ready::child_left(&self.tx, &p, status == "closed")?;
                    seeds.extend(ready::waiters_of(&self.tx, &p)?);
                }
            }
            self.tx.execute("DELETE FROM issues WHERE id = ?1", [id])?;
            if !ephemeral {
                self.tx.execute(
                    "INSERT OR REPLACE INTO tombstones (id, deleted_at, deleted_by) VALUES (?1, ?2, ?3)",
                    params![id, self.now, self.actor],
                )?;
            }
            self.event(id, "deleted", None, None, None)?;
        }
        ready::settle(&self.tx, seeds)?;
        Ok(victims.len())
    }
}

/// `id` and everything below it through `parent-child`, in creation order.
pub fn subtree(conn: &Connection, id: &str) -> Result<Vec<Issue>> {
    let mut st = conn.prepare_cached(&format!(
        "WITH RECURSIVE sub(id) AS (
            SELECT ?1
            UNION SELECT d.issue_id FROM deps d JOIN sub ON d.depends_on = sub.id WHERE d.type = 'parent-child')
         SELECT {COLS} FROM issues WHERE id IN (SELECT id FROM sub) ORDER BY rowid"
    ))?;
    let rows = st.query_map([id], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The top of `id`'s parent chain (itself if it has no parent).
pub fn root_of(conn: &Connection, id: &str) -> Result<String> {
    let mut cur = id.to_string();
    let mut guard = 0;
    while let Some(p) = super::ready::parent_of(conn, &cur)? {
        cur = p;
        guard += 1;
        if guard > 10_000 {
            break;
        }
    }
    Ok(cur)
}

/// Materialised `blocked` and `children_open` of one issue.
pub fn blocked_and_open_children(conn: &Connection, id: &str) -> Result<(bool, i64)> {
    let mut st = conn.prepare_cached("SELECT blocked, children_open FROM issues WHERE id = ?1")?;
    st.query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .ok_or_else(|| not_found(conn, id))
}
