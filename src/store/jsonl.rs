//! The git-friendly export: `.beads/issues.jsonl`, one JSON object per line,
//! sorted by id, keys in a fixed order. Persistent issues carry their labels,
//! outgoing dependencies and comments; deletions are tombstone lines.
//! Wisps (ephemeral issues) are never exported.
//!
//! Import reconciles per issue by `updated_at` (newer wins; ties keep the
//! local row), and tombstones delete a local issue unless it was edited
//! after the deletion.

use super::error::{Result, StoreError};
use super::types::*;
use super::{ready, Tx};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;

fn is_empty_obj(v: &Value) -> bool {
    v.is_null() || v.as_object().is_some_and(|o| o.is_empty())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonlIssue {
    pub id: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub design: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub acceptance_criteria: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub notes: String,
    pub status: Status,
    pub issue_type: IssueType,
    pub priority: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    #[serde(default, skip_serializing_if = "is_empty_obj")]
    pub metadata: Value,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub created_by: String,
    pub updated_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<JsonlDep>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub comments: Vec<Comment>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonlDep {
    pub depends_on: String,
    #[serde(rename = "type")]
    pub dep_type: DepType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub created_by: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tombstone {
    pub id: String,
    pub tombstone: bool,
    pub deleted_at: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub deleted_by: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Issue(Box<JsonlIssue>),
    Tombstone(Tombstone),
}

impl Record {
    pub fn id(&self) -> &str {
        match self {
            Record::Issue(i) => &i.id,
            Record::Tombstone(t) => &t.id,
        }
    }
}

const DEP_COLS: &str = "d.issue_id, d.depends_on, d.type, d.metadata, d.created_at, d.created_by";

fn dep_from_row(r: &rusqlite::Row<'_>) -> Result<JsonlDep> {
    let t: String = r.get(2)?;
    let meta: Option<String> = r.get(3)?;
    Ok(JsonlDep {
        depends_on: r.get(1)?,
        dep_type: t.parse()?,
        metadata: meta.and_then(|m| serde_json::from_str(&m).ok()),
        created_at: r.get(4)?,
        created_by: r.get(5)?,
    })
}

fn comment_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Comment> {
    Ok(Comment {
        author: r.get(1)?,
        text: r.get(2)?,
        created_at: r.get(3)?,
    })
}

fn record(i: Issue, dependencies: Vec<JsonlDep>, comments: Vec<Comment>) -> JsonlIssue {
    JsonlIssue {
        dependencies,
        comments,
        id: i.id,
        title: i.title,
        description: i.description,
        design: i.design,
        acceptance_criteria: i.acceptance_criteria,
        notes: i.notes,
        status: i.status,
        issue_type: i.issue_type,
        priority: i.priority,
        assignee: i.assignee,
        labels: i.labels,
        metadata: i.metadata,
        created_at: i.created_at,
        created_by: i.created_by,
        updated_at: i.updated_at,
        closed_at: i.closed_at,
        close_reason: i.close_reason,
    }
}

fn tombstone_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Tombstone> {
    Ok(Tombstone {
        id: r.get(0)?,
        tombstone: true,
        deleted_at: r.get(1)?,
        deleted_by: r.get(2)?,
    })
}

/// The line of one id (without the newline): the persistent issue, else its
/// tombstone, else `None` (unknown, or a wisp).
pub fn render_one(conn: &Connection, id: &str) -> Result<Option<String>> {
    let issue = conn
        .prepare_cached(&format!(
            "SELECT {} FROM issues WHERE id = ?1 AND ephemeral = 0",
            super::issues::COLS
        ))?
        .query_row([id], super::issues::from_row)
        .optional()?;
    let Some(issue) = issue else {
        let t = conn
            .prepare_cached("SELECT id, deleted_at, deleted_by FROM tombstones WHERE id = ?1")?
            .query_row([id], tombstone_from_row)
            .optional()?;
        return Ok(match t {
            Some(t) => Some(serde_json::to_string(&t)?),
            None => None,
        });
    };
    let mut deps = Vec::new();
    let mut st = conn.prepare_cached(&format!(
        "SELECT {DEP_COLS} FROM deps d JOIN issues t ON t.id = d.depends_on
         WHERE d.issue_id = ?1 AND t.ephemeral = 0 ORDER BY d.depends_on, d.type"
    ))?;
    let mut rows = st.query([id])?;
    while let Some(r) = rows.next()? {
        deps.push(dep_from_row(r)?);
    }
    let comments = conn
        .prepare_cached(
            "SELECT issue_id, author, text, created_at FROM comments WHERE issue_id = ?1 ORDER BY created_at, id",
        )?
        .query_map([id], comment_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Some(serde_json::to_string(&record(issue, deps, comments))?))
}

/// Render the whole export. Deterministic: same store, same bytes.
pub fn render(conn: &Connection) -> Result<String> {
    let mut out = Vec::new();
    render_to(conn, &mut out, |_| ())?;
    String::from_utf8(out).map_err(|e| StoreError::Invalid(format!("export is not UTF-8: {e}")))
}

/// Stream the whole export into `w`, in id order, calling `seen` with each
/// id written. Issues and tombstones come from two sorted queries merged
/// on the fly; only dependencies and comments are gathered first.
pub fn render_to(
    conn: &Connection,
    w: &mut impl std::io::Write,
    mut seen: impl FnMut(&str),
) -> Result<()> {
    let mut deps: HashMap<String, Vec<JsonlDep>> = HashMap::new();
    {
        let mut st = conn.prepare(&format!(
            "SELECT {DEP_COLS} FROM deps d JOIN issues t ON t.id = d.depends_on
             WHERE t.ephemeral = 0 ORDER BY d.issue_id, d.depends_on, d.type"
        ))?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            deps.entry(r.get(0)?).or_default().push(dep_from_row(r)?);
        }
    }
    let mut comments: HashMap<String, Vec<Comment>> = HashMap::new();
    {
        let mut st = conn.prepare(
            "SELECT issue_id, author, text, created_at FROM comments ORDER BY issue_id, created_at, id",
        )?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            comments
                .entry(r.get(0)?)
                .or_default()
                .push(comment_from_row(r)?);
        }
    }
    let mut ist = conn.prepare(&format!(
        "SELECT {} FROM issues WHERE ephemeral = 0 ORDER BY id",
        super::issues::COLS
    ))?;
    let mut issues = ist.query_map([], super::issues::from_row)?.peekable();
    let mut tst = conn.prepare("SELECT id, deleted_at, deleted_by FROM tombstones ORDER BY id")?;
    let mut tombs = tst.query_map([], tombstone_from_row)?.peekable();
    let io = |e: std::io::Error| StoreError::io("issues.jsonl", e);
    loop {
        let take_issue = match (issues.peek(), tombs.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(Ok(i)), Some(Ok(t))) => i.id <= t.id,
            (Some(Err(_)), _) => true,
            (_, Some(Err(_))) => false,
        };
        let (id, line) = if take_issue {
            let Some(i) = issues.next() else { break };
            let i = i?;
            // An issue and a tombstone of one id: the live issue wins.
            if matches!(tombs.peek(), Some(Ok(t)) if t.id == i.id) {
                tombs.next();
            }
            let d = deps.remove(&i.id).unwrap_or_default();
            let c = comments.remove(&i.id).unwrap_or_default();
            let rec = record(i, d, c);
            (rec.id.clone(), serde_json::to_string(&rec)?)
        } else {
            let Some(t) = tombs.next() else { break };
            let t = t?;
            (t.id.clone(), serde_json::to_string(&t)?)
        };
        seen(&id);
        w.write_all(line.as_bytes()).map_err(io)?;
        w.write_all(b"\n").map_err(io)?;
    }
    Ok(())
}

/// Parse a whole file. Any bad line fails the whole parse, naming the line.
pub fn parse(text: &str, path: &Path) -> Result<Vec<Record>> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, line) in text.lines().enumerate() {
        let Some(rec) = parse_line(line, i + 1, path)? else {
            continue;
        };
        if !seen.insert(rec.id().to_string()) {
            return Err(StoreError::CorruptJsonl {
                path: path.to_path_buf(),
                line: i + 1,
                message: format!("id {} appears twice; keep one of the two lines", rec.id()),
            });
        }
        out.push(rec);
    }
    Ok(out)
}

/// Parse what parses of a file a crash may have torn: the records, and the
/// numbers of the lines skipped. A repeated id is kept (the import
/// reconciles both by `updated_at`).
pub fn parse_lenient(text: &str, path: &Path) -> (Vec<Record>, Vec<usize>) {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for (i, line) in text.lines().enumerate() {
        match parse_line(line, i + 1, path) {
            Ok(Some(rec)) => out.push(rec),
            Ok(None) => {}
            Err(_) => skipped.push(i + 1),
        }
    }
    (out, skipped)
}

/// One line: a record, `None` for a blank line, or an error naming the line.
fn parse_line(line: &str, lineno: usize, path: &Path) -> Result<Option<Record>> {
    let bad = |message: String| StoreError::CorruptJsonl {
        path: path.to_path_buf(),
        line: lineno,
        message,
    };
    if line.trim().is_empty() {
        return Ok(None);
    }
    if line.starts_with("<<<<<<<") || line.starts_with("=======") || line.starts_with(">>>>>>>") {
        return Err(bad("unresolved git merge conflict marker".into()));
    }
    // One decode per line: an issue, else (only then) a tombstone.
    let rec = match serde_json::from_str::<JsonlIssue>(line) {
        Ok(i) => {
            check_priority(i.priority as i64).map_err(|e| bad(e.to_string()))?;
            Record::Issue(Box::new(i))
        }
        Err(e) if line.contains("\"tombstone\":") => Record::Tombstone(
            serde_json::from_str(line).map_err(|t| bad(format!("{t} (as an issue: {e})")))?,
        ),
        Err(e) => return Err(bad(e.to_string())),
    };
    crate::ids::validate_bead_id(rec.id()).map_err(|e| bad(e.to_string()))?;
    if let Record::Issue(i) = &rec {
        for d in &i.dependencies {
            crate::ids::validate_bead_id(&d.depends_on).map_err(|e| bad(e.to_string()))?;
        }
    }
    Ok(Some(rec))
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    pub created: usize,
    pub updated: usize,
    pub deleted: usize,
    pub unchanged: usize,
    /// Records older than the local row (or than a local tombstone).
    pub kept_local: usize,
    /// Dependencies skipped because their target does not exist.
    pub dangling_deps: usize,
}

impl Tx<'_> {
    /// Reconcile the store with parsed JSONL records.
    pub fn import(&self, records: &[Record]) -> Result<ImportReport> {
        let conn = &self.tx;
        let mut rep = ImportReport::default();
        let mut rewired: Vec<&JsonlIssue> = Vec::new();
        for rec in records {
            match rec {
                Record::Issue(r) => {
                    let local: Option<String> = conn
                        .query_row(
                            "SELECT updated_at FROM issues WHERE id = ?1",
                            [&r.id],
                            |x| x.get(0),
                        )
                        .optional()?;
                    let tomb: Option<String> = conn
                        .query_row(
                            "SELECT deleted_at FROM tombstones WHERE id = ?1",
                            [&r.id],
                            |x| x.get(0),
                        )
                        .optional()?;
                    match local {
                        None if tomb.as_ref().is_some_and(|t| *t >= r.updated_at) => {
                            rep.kept_local += 1
                        }
                        None => {
                            conn.execute("DELETE FROM tombstones WHERE id = ?1", [&r.id])?;
                            self.write_issue(r, true)?;
                            rep.created += 1;
                            rewired.push(r);
                        }
                        Some(u) if r.updated_at > u => {
                            self.write_issue(r, false)?;
                            rep.updated += 1;
                            rewired.push(r);
                        }
                        Some(u) if r.updated_at == u => rep.unchanged += 1,
                        Some(_) => rep.kept_local += 1,
                    }
                }
                Record::Tombstone(t) => {
                    let local: Option<(String, bool)> = conn
                        .query_row(
                            "SELECT updated_at, ephemeral FROM issues WHERE id = ?1",
                            [&t.id],
                            |x| Ok((x.get(0)?, x.get(1)?)),
                        )
                        .optional()?;
                    match local {
                        Some((u, false)) if t.deleted_at >= u => {
                            conn.execute("DELETE FROM issues WHERE id = ?1", [&t.id])?;
                            self.event(&t.id, "deleted", Some("import"), None, None)?;
                            rep.deleted += 1;
                        }
                        Some(_) => rep.kept_local += 1,
                        None => {}
                    }
                    conn.execute(
                        "INSERT INTO tombstones (id, deleted_at, deleted_by) VALUES (?1, ?2, ?3)
                         ON CONFLICT(id) DO UPDATE SET deleted_at = max(deleted_at, excluded.deleted_at)",
                        params![t.id, t.deleted_at, t.deleted_by],
                    )?;
                }
            }
        }
        // Dependencies last, once every target exists.
        for r in rewired {
            conn.execute("DELETE FROM deps WHERE issue_id = ?1", [&r.id])?;
            for d in &r.dependencies {
                if !super::issues::exists(conn, &d.depends_on)? {
                    rep.dangling_deps += 1;
                    continue;
                }
                let meta = d.metadata.as_ref().map(|m| m.to_string());
                conn.execute(
                    "INSERT OR IGNORE INTO deps (issue_id, depends_on, type, metadata, created_at, created_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![r.id, d.depends_on, d.dep_type.as_str(), meta, d.created_at, d.created_by],
                )?;
            }
        }
        ready::rebuild_all(conn)?;
        Ok(rep)
    }

    fn write_issue(&self, r: &JsonlIssue, new: bool) -> Result<()> {
        let conn = &self.tx;
        let meta = if r.metadata.is_null() {
            "{}".to_string()
        } else {
            r.metadata.to_string()
        };
        conn.execute(
            "INSERT INTO issues (id, title, description, design, acceptance_criteria, notes, status, issue_type, priority, assignee, metadata, ephemeral, created_at, updated_at, closed_at, close_reason, created_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 0, ?12, ?13, ?14, ?15, ?16)
             ON CONFLICT(id) DO UPDATE SET title = excluded.title, description = excluded.description,
               design = excluded.design, acceptance_criteria = excluded.acceptance_criteria, notes = excluded.notes,
               status = excluded.status, issue_type = excluded.issue_type, priority = excluded.priority,
               assignee = excluded.assignee, metadata = excluded.metadata, ephemeral = 0,
               created_at = excluded.created_at, updated_at = excluded.updated_at, closed_at = excluded.closed_at,
               close_reason = excluded.close_reason, created_by = excluded.created_by",
            params![
                r.id, r.title, r.description, r.design, r.acceptance_criteria, r.notes,
                r.status.as_str(), r.issue_type.as_str(), r.priority, r.assignee, meta,
                r.created_at, r.updated_at, r.closed_at, r.close_reason, r.created_by
            ],
        )?;
        conn.execute("DELETE FROM labels WHERE issue_id = ?1", [&r.id])?;
        for l in &r.labels {
            conn.execute(
                "INSERT OR IGNORE INTO labels (issue_id, label) VALUES (?1, ?2)",
                params![r.id, l],
            )?;
        }
        conn.execute("DELETE FROM comments WHERE issue_id = ?1", [&r.id])?;
        for c in &r.comments {
            conn.execute(
                "INSERT INTO comments (issue_id, author, text, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![r.id, c.author, c.text, c.created_at],
            )?;
        }
        let kind = if new { "imported" } else { "import_updated" };
        self.event(&r.id, kind, None, None, Some(&r.updated_at))
    }
}
