//! beads' JSON shapes for `bd --json` output: the field names and omit-empty
//! rules of beads' `Issue`, `IssueWithCounts` (list, ready), `IssueDetails`
//! (show), `BlockedIssue` and `EpicStatus`, so `jq` pipelines and tools
//! written for beads (beads-ui) read ours. See `docs/store.md`.

use crate::store::details::{self, EpicProgress, NumberedComment};
use crate::store::{deps, issues, Dep, DepType, Issue, IssueType, Readiness, Status};
use rusqlite::Connection;
use serde::Serialize;

fn empty(s: &&str) -> bool {
    s.is_empty()
}

/// An issue's own fields, named and omitted as beads does: empty text,
/// no assignee, `{}` metadata, no labels and `ephemeral: false` are left out.
#[derive(Serialize)]
pub struct Fields<'a> {
    id: &'a str,
    title: &'a str,
    #[serde(skip_serializing_if = "empty")]
    description: &'a str,
    #[serde(skip_serializing_if = "empty")]
    design: &'a str,
    #[serde(skip_serializing_if = "empty")]
    acceptance_criteria: &'a str,
    #[serde(skip_serializing_if = "empty")]
    notes: &'a str,
    status: Status,
    priority: u8,
    issue_type: IssueType,
    #[serde(skip_serializing_if = "Option::is_none")]
    assignee: Option<&'a str>,
    created_at: &'a str,
    #[serde(skip_serializing_if = "empty")]
    created_by: &'a str,
    updated_at: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    closed_at: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    close_reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<&'a serde_json::Value>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    labels: &'a [String],
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    ephemeral: bool,
    /// beads keeps the wisp class in its own column; ours is in metadata.
    #[serde(skip_serializing_if = "Option::is_none")]
    wisp_type: Option<&'a str>,
}

impl<'a> Fields<'a> {
    pub fn of(i: &'a Issue) -> Self {
        let metadata = Some(&i.metadata)
            .filter(|m| !m.is_null() && m.as_object().is_none_or(|o| !o.is_empty()));
        Fields {
            id: &i.id,
            title: &i.title,
            description: &i.description,
            design: &i.design,
            acceptance_criteria: &i.acceptance_criteria,
            notes: &i.notes,
            status: i.status,
            priority: i.priority,
            issue_type: i.issue_type,
            assignee: i.assignee.as_deref().filter(|a| !a.is_empty()),
            created_at: &i.created_at,
            created_by: &i.created_by,
            updated_at: &i.updated_at,
            closed_at: i.closed_at.as_deref(),
            close_reason: i.close_reason.as_deref().filter(|r| !r.is_empty()),
            metadata,
            labels: &i.labels,
            ephemeral: i.ephemeral,
            wisp_type: i.metadata.get("wisp_type").and_then(|w| w.as_str()),
        }
    }
}

/// An owned issue that serialises as beads' `Issue` (create, update).
pub struct BeadsIssue(pub Issue);

impl Serialize for BeadsIssue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Fields::of(&self.0).serialize(s)
    }
}

/// An issue with fields of ours beside it (close's `outcome`, reopen's
/// `reopened`).
#[derive(Serialize)]
pub struct IssueAnd {
    #[serde(flatten)]
    issue: BeadsIssue,
    #[serde(flatten)]
    ours: serde_json::Value,
}

impl IssueAnd {
    pub fn new(issue: Issue, ours: serde_json::Value) -> Self {
        IssueAnd {
            issue: BeadsIssue(issue),
            ours,
        }
    }
}

/// beads' `Dependency` record: `depends_on_id`, metadata as JSON text.
#[derive(Serialize)]
pub struct DepRecord {
    issue_id: String,
    depends_on_id: String,
    #[serde(rename = "type")]
    dep_type: DepType,
    created_at: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    created_by: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<String>,
}

impl From<Dep> for DepRecord {
    fn from(d: Dep) -> Self {
        DepRecord {
            issue_id: d.issue_id,
            depends_on_id: d.depends_on,
            dep_type: d.dep_type,
            created_at: d.created_at,
            created_by: d.created_by,
            metadata: d.metadata.map(|m| m.to_string()),
        }
    }
}

/// One row of `bd list --json` / `bd ready --json` (beads' `IssueWithCounts`):
/// the issue, its dependency records, counts over `blocks` edges, its
/// comment count and its parent.
#[derive(Serialize)]
pub struct ListItem<'a> {
    #[serde(flatten)]
    issue: Fields<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    dependencies: Vec<DepRecord>,
    dependency_count: i64,
    dependent_count: i64,
    comment_count: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent: Option<String>,
}

impl<'a> ListItem<'a> {
    pub fn of(conn: &Connection, i: &'a Issue) -> crate::store::Result<Self> {
        let deps: Vec<DepRecord> = deps::deps_of(conn, &i.id)?
            .into_iter()
            .map(DepRecord::from)
            .collect();
        let parent = deps
            .iter()
            .filter(|d| d.dep_type == DepType::ParentChild)
            .map(|d| d.depends_on_id.clone())
            .min();
        let counts = details::row_counts(conn, &i.id)?;
        Ok(ListItem {
            issue: Fields::of(i),
            dependency_count: deps
                .iter()
                .filter(|d| d.dep_type == DepType::Blocks)
                .count() as i64,
            dependencies: deps,
            dependent_count: counts.blocked_dependents,
            comment_count: counts.comments,
            parent,
        })
    }
}

/// A related issue in `bd show --json` (beads' `IssueWithDependencyMetadata`).
#[derive(Serialize)]
pub struct Related {
    #[serde(flatten)]
    issue: BeadsIssue,
    pub dependency_type: DepType,
}

impl Related {
    pub fn new(issue: Issue, dependency_type: DepType) -> Self {
        Related {
            issue: BeadsIssue(issue),
            dependency_type,
        }
    }

    pub fn issue(&self) -> &Issue {
        &self.issue.0
    }
}

/// A dependent in `bd show --json`: beads' shallow form (identity and shape).
#[derive(Serialize)]
pub struct ShallowRelated {
    pub id: String,
    title: String,
    status: Status,
    priority: u8,
    issue_type: IssueType,
    pub dependency_type: DepType,
}

/// One element of `bd show --json` (beads' `IssueDetails`). Dependents are
/// always listed (beads prints them with `--include-dependents`; beads-ui
/// 0.12.0 reads them without it), comments with `--include-comments`.
/// `readiness` is ours: the materialised readiness columns.
#[derive(Serialize)]
pub struct ShowItem {
    #[serde(flatten)]
    issue: BeadsIssue,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<Related>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dependents: Vec<ShallowRelated>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub comments: Vec<NumberedComment>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent: Option<String>,
    dependent_count: i64,
    dependency_count: i64,
    comment_count: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    epic_total_children: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    epic_closed_children: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    epic_closeable: Option<bool>,
    pub readiness: Readiness,
}

impl ShowItem {
    pub fn of(conn: &Connection, id: &str, with_comments: bool) -> crate::store::Result<Self> {
        let issue = issues::get(conn, id)?;
        let mut dependencies = Vec::new();
        for d in deps::deps_of(conn, id)? {
            dependencies.push(Related::new(issues::get(conn, &d.depends_on)?, d.dep_type));
        }
        let mut dependents = Vec::new();
        for d in deps::dependents(conn, id)? {
            let i = issues::get(conn, &d.issue_id)?;
            dependents.push(ShallowRelated {
                id: i.id,
                title: i.title,
                status: i.status,
                priority: i.priority,
                issue_type: i.issue_type,
                dependency_type: d.dep_type,
            });
        }
        let (mut total, mut closed) = (0, 0);
        for d in dependents
            .iter()
            .filter(|d| d.dependency_type == DepType::ParentChild)
        {
            total += 1;
            closed += i64::from(d.status == Status::Closed);
        }
        let epic = issue.issue_type == IssueType::Epic && total > 0;
        let counts = details::all_counts(conn, id)?;
        Ok(ShowItem {
            parent: dependencies
                .iter()
                .find(|d| d.dependency_type == DepType::ParentChild)
                .map(|d| d.issue.0.id.clone()),
            dependencies,
            dependents,
            comments: if with_comments {
                details::numbered_comments(conn, id)?
            } else {
                Vec::new()
            },
            dependent_count: counts.dependents,
            dependency_count: counts.dependencies,
            comment_count: details::comment_count(conn, id)?,
            epic_total_children: epic.then_some(total),
            epic_closed_children: epic.then_some(closed),
            epic_closeable: epic.then_some(total == closed),
            readiness: issues::readiness(conn, id)?,
            issue: BeadsIssue(issue),
        })
    }

    pub fn issue(&self) -> &Issue {
        &self.issue.0
    }
}

/// One row of `bd blocked --json` (beads' `BlockedIssue`).
#[derive(Serialize)]
pub struct BlockedItem {
    #[serde(flatten)]
    issue: BeadsIssue,
    pub blocked_by_count: usize,
    pub blocked_by: Vec<String>,
}

impl BlockedItem {
    pub fn new(issue: Issue, blocked_by: Vec<String>) -> Self {
        BlockedItem {
            issue: BeadsIssue(issue),
            blocked_by_count: blocked_by.len(),
            blocked_by,
        }
    }

    pub fn issue(&self) -> &Issue {
        &self.issue.0
    }
}

/// One row of `bd epic status --json` (beads' `EpicStatus`).
#[derive(Serialize)]
pub struct EpicStatusItem {
    epic: BeadsIssue,
    total_children: i64,
    closed_children: i64,
    eligible_for_close: bool,
}

impl From<EpicProgress> for EpicStatusItem {
    fn from(p: EpicProgress) -> Self {
        EpicStatusItem {
            eligible_for_close: p.eligible_for_close(),
            total_children: p.total_children,
            closed_children: p.closed_children,
            epic: BeadsIssue(p.epic),
        }
    }
}
