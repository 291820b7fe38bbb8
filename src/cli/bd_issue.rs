//! `bd create|show|list|ready|update|close|reopen|delete|label|comment|search|stats|events`.

use super::bd::{CliError, CliResult, Ctx};
use crate::store::issues::{self, ClaimOutcome, CloseOutcome, IssueFilter, NewIssue, Update};
use crate::store::ready::{self, ReadyFilter};
use crate::store::{deps, events, parse_priority, DepType, Issue, IssueType, Status, Store};
use clap::{Args, Subcommand};
use serde::Serialize;

pub fn line(i: &Issue) -> String {
    let mut s = format!(
        "{}  P{} {:<8} {:<11} {}",
        i.id, i.priority, i.issue_type, i.status, i.title
    );
    if let Some(a) = &i.assignee {
        s += &format!("  @{a}");
    }
    if !i.labels.is_empty() {
        s += &format!("  [{}]", i.labels.join(", "));
    }
    s
}

fn lines(v: &[Issue]) -> String {
    if v.is_empty() {
        return "(none)".into();
    }
    v.iter().map(line).collect::<Vec<_>>().join("\n")
}

fn resolve(store: &Store, id: &str) -> CliResult<String> {
    Ok(issues::resolve(store.conn(), store.prefix(), id)?)
}

fn split_list(v: &[String]) -> Vec<String> {
    v.iter()
        .flat_map(|s| s.split(','))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// The title.
    pub title: String,
    /// Type: task, bug, feature, epic, chore, molecule, gate, message, convoy, merge-request.
    #[arg(short = 't', long = "type", default_value = "task")]
    pub issue_type: String,
    /// Priority 0 (highest) to 4.
    #[arg(short, long, default_value = "2")]
    pub priority: String,
    #[arg(short, long, default_value = "")]
    pub description: String,
    #[arg(long)]
    pub design: Option<String>,
    #[arg(long)]
    pub acceptance: Option<String>,
    #[arg(long)]
    pub notes: Option<String>,
    #[arg(short, long)]
    pub assignee: Option<String>,
    /// Parent issue (parent-child dependency).
    #[arg(long)]
    pub parent: Option<String>,
    /// Dependencies: `ID` (blocks) or `TYPE:ID`, comma-separated.
    #[arg(long)]
    pub deps: Vec<String>,
    /// Labels, comma-separated or repeated.
    #[arg(short, long = "labels", alias = "label")]
    pub labels: Vec<String>,
    /// Metadata as a JSON object.
    #[arg(long)]
    pub metadata: Option<String>,
    /// Use this id instead of generating one.
    #[arg(long)]
    pub id: Option<String>,
    /// Ephemeral (a wisp): never exported, not in `bd ready`.
    #[arg(long)]
    pub ephemeral: bool,
}

fn parse_json_obj(s: &str) -> CliResult<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_str(s).map_err(|e| {
        CliError::usage(
            format!("--metadata is not valid JSON: {e}"),
            Some("pass an object, e.g. --metadata '{\"key\": \"value\"}'".into()),
        )
    })?;
    if !v.is_object() {
        return Err(CliError::usage(
            "--metadata must be a JSON object",
            Some("e.g. --metadata '{\"key\": \"value\"}'".into()),
        ));
    }
    Ok(v)
}

pub fn create(ctx: &Ctx, a: &CreateArgs) -> CliResult {
    let issue_type: IssueType = a.issue_type.parse()?;
    let priority = parse_priority(&a.priority)?;
    let mut dep_list = Vec::new();
    for d in split_list(&a.deps) {
        let (t, id) = match d.split_once(':') {
            Some((t, id)) => (t.parse::<DepType>()?, id.to_string()),
            None => (DepType::Blocks, d.clone()),
        };
        dep_list.push((t, id));
    }
    let metadata = a.metadata.as_deref().map(parse_json_obj).transpose()?;
    let mut store = ctx.open()?;
    let new = NewIssue {
        id: a.id.clone(),
        title: a.title.clone(),
        description: a.description.clone(),
        design: a.design.clone().unwrap_or_default(),
        acceptance_criteria: a.acceptance.clone().unwrap_or_default(),
        notes: a.notes.clone().unwrap_or_default(),
        issue_type,
        priority,
        assignee: a.assignee.clone(),
        labels: split_list(&a.labels),
        metadata,
        ephemeral: a.ephemeral,
        parent: a.parent.clone(),
        deps: dep_list,
        ..Default::default()
    };
    let issue = store.write(|tx| tx.create(&new))?;
    ctx.exported(&mut store)?;
    ctx.print(&issue, || format!("Created {}: {}", issue.id, issue.title));
    Ok(())
}

#[derive(Args, Debug)]
pub struct ShowArgs {
    #[arg(required = true)]
    pub ids: Vec<String>,
}

#[derive(Serialize)]
struct ShowView {
    #[serde(flatten)]
    issue: Issue,
    readiness: crate::store::Readiness,
    dependencies: Vec<crate::store::Dep>,
    dependents: Vec<crate::store::Dep>,
    comments: Vec<crate::store::Comment>,
}

pub fn show(ctx: &Ctx, a: &ShowArgs) -> CliResult {
    let store = ctx.open()?;
    let mut out = Vec::new();
    for id in &a.ids {
        let id = resolve(&store, id)?;
        let c = store.conn();
        out.push(ShowView {
            issue: issues::get(c, &id)?,
            readiness: issues::readiness(c, &id)?,
            dependencies: deps::deps_of(c, &id)?,
            dependents: deps::dependents(c, &id)?,
            comments: issues::comments(c, &id)?,
        });
    }
    let value: &dyn erased::Ser = if out.len() == 1 { &out[0] } else { &out };
    ctx.print(&erased::Wrap(value), || {
        let mut s = String::new();
        for v in &out {
            let i = &v.issue;
            s += &format!("{}: {}\n", i.id, i.title);
            s += &format!(
                "  status: {}  type: {}  priority: P{}  assignee: {}\n",
                i.status,
                i.issue_type,
                i.priority,
                i.assignee.as_deref().unwrap_or("-")
            );
            let r = &v.readiness;
            let state = if r.ready {
                "ready".to_string()
            } else if r.blocked {
                format!(
                    "blocked ({} open blockers, {} unmet gates{})",
                    r.open_blockers,
                    r.waits_unsatisfied,
                    if r.ancestor_blocked {
                        ", ancestor blocked"
                    } else {
                        ""
                    }
                )
            } else {
                "not open".to_string()
            };
            s += &format!("  readiness: {state}\n");
            if !i.labels.is_empty() {
                s += &format!("  labels: {}\n", i.labels.join(", "));
            }
            if let Some(r) = &i.close_reason {
                s += &format!("  close reason: {r}\n");
            }
            for (name, text) in [
                ("description", &i.description),
                ("design", &i.design),
                ("acceptance", &i.acceptance_criteria),
                ("notes", &i.notes),
            ] {
                if !text.is_empty() {
                    s += &format!("  {name}:\n    {}\n", text.replace('\n', "\n    "));
                }
            }
            for d in &v.dependencies {
                s += &format!("  depends on {} ({})\n", d.depends_on, d.dep_type);
            }
            for d in &v.dependents {
                s += &format!("  needed by {} ({})\n", d.issue_id, d.dep_type);
            }
            for c in &v.comments {
                s += &format!("  [{}] {}: {}\n", c.created_at, c.author, c.text);
            }
        }
        s
    });
    Ok(())
}

/// Serialise either one value or a list through one `print` call.
mod erased {
    pub trait Ser {
        fn to_value(&self) -> serde_json::Value;
    }
    impl<T: serde::Serialize> Ser for T {
        fn to_value(&self) -> serde_json::Value {
            serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
        }
    }
    pub struct Wrap<'a>(pub &'a dyn Ser);
    impl serde::Serialize for Wrap<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            self.0.to_value().serialize(s)
        }
    }
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Status filter (comma-separated or repeated).
    #[arg(short, long)]
    pub status: Vec<String>,
    /// Type filter.
    #[arg(short = 't', long = "type")]
    pub issue_type: Vec<String>,
    #[arg(short, long)]
    pub assignee: Option<String>,
    /// Label filter (all given labels must be present).
    #[arg(short, long = "label")]
    pub labels: Vec<String>,
    /// Only children of this issue.
    #[arg(long)]
    pub parent: Option<String>,
    /// Include wisps.
    #[arg(long)]
    pub all: bool,
    #[arg(long)]
    pub limit: Option<usize>,
}

pub fn list(ctx: &Ctx, a: &ListArgs) -> CliResult {
    let store = ctx.open()?;
    let mut f = IssueFilter {
        assignee: a.assignee.clone(),
        labels: split_list(&a.labels),
        include_ephemeral: a.all,
        limit: a.limit,
        ..Default::default()
    };
    for s in split_list(&a.status) {
        f.status.push(s.parse()?);
    }
    for t in split_list(&a.issue_type) {
        f.issue_type.push(t.parse()?);
    }
    if let Some(p) = &a.parent {
        f.parent = Some(resolve(&store, p)?);
    }
    let v = issues::list(store.conn(), &f)?;
    ctx.print(&v, || lines(&v));
    Ok(())
}

#[derive(Args, Debug)]
pub struct ReadyArgs {
    #[arg(short, long)]
    pub assignee: Option<String>,
    /// Only unassigned issues.
    #[arg(long)]
    pub unassigned: bool,
    #[arg(short, long)]
    pub label: Option<String>,
    #[arg(short = 't', long = "type")]
    pub issue_type: Option<String>,
    /// At most N issues (0 = all).
    #[arg(long, default_value = "100")]
    pub limit: usize,
}

pub fn ready(ctx: &Ctx, a: &ReadyArgs) -> CliResult {
    let store = ctx.open()?;
    if let Some(t) = &a.issue_type {
        t.parse::<IssueType>()?;
    }
    let f = ReadyFilter {
        assignee: a.assignee.clone(),
        unassigned: a.unassigned,
        label: a.label.clone(),
        issue_type: a
            .issue_type
            .as_ref()
            .map(|t| t.parse::<IssueType>().map(|t| t.as_str().to_string()))
            .transpose()?,
        limit: (a.limit > 0).then_some(a.limit),
    };
    let v = ready::ready(store.conn(), &f)?;
    ctx.print(&v, || lines(&v));
    Ok(())
}

#[derive(Args, Debug)]
pub struct UpdateArgs {
    #[arg(required = true)]
    pub ids: Vec<String>,
    #[arg(short, long)]
    pub status: Option<String>,
    /// Set the assignee ("" clears it).
    #[arg(short, long)]
    pub assignee: Option<String>,
    /// Atomically take the issue: open and unassigned -> in_progress, assigned to you.
    #[arg(long)]
    pub claim: bool,
    #[arg(long)]
    pub notes: Option<String>,
    #[arg(long)]
    pub append_notes: Option<String>,
    #[arg(long)]
    pub title: Option<String>,
    #[arg(short, long)]
    pub priority: Option<String>,
    #[arg(short, long)]
    pub description: Option<String>,
    #[arg(long)]
    pub design: Option<String>,
    #[arg(long)]
    pub acceptance: Option<String>,
    #[arg(short = 't', long = "type")]
    pub issue_type: Option<String>,
    /// JSON object merged into the metadata (null removes a key).
    #[arg(long)]
    pub metadata: Option<String>,
}

pub fn update(ctx: &Ctx, a: &UpdateArgs) -> CliResult {
    let u = Update {
        title: a.title.clone(),
        description: a.description.clone(),
        design: a.design.clone(),
        acceptance_criteria: a.acceptance.clone(),
        notes: a.notes.clone(),
        append_notes: a.append_notes.clone(),
        status: a.status.as_deref().map(str::parse::<Status>).transpose()?,
        assignee: a
            .assignee
            .clone()
            .map(|s| Some(s).filter(|s| !s.is_empty())),
        priority: a.priority.as_deref().map(parse_priority).transpose()?,
        issue_type: a
            .issue_type
            .as_deref()
            .map(str::parse::<IssueType>)
            .transpose()?,
        metadata: a.metadata.as_deref().map(parse_json_obj).transpose()?,
    };
    if u.is_empty() && !a.claim {
        return Err(CliError::usage(
            "nothing to update",
            Some("pass a field, e.g. --status in_progress, --claim, --notes TEXT".into()),
        ));
    }
    let mut store = ctx.open()?;
    let actor = store.actor().to_string();
    let mut out = Vec::new();
    let mut human = Vec::new();
    for id in &a.ids {
        let id = resolve(&store, id)?;
        let (issue, claimed) = store.write(|tx| {
            let claimed = if a.claim {
                Some(tx.claim(&id, &actor)?)
            } else {
                None
            };
            let i = if u.is_empty() {
                issues::get(tx.conn(), &id)?
            } else {
                tx.update(&id, &u)?
            };
            Ok::<_, crate::store::StoreError>((i, claimed))
        })?;
        human.push(match claimed {
            Some(ClaimOutcome::Claimed) => format!("Claimed {id}"),
            Some(ClaimOutcome::AlreadyYours) => format!("{id} was already claimed by you"),
            None => format!("Updated {id}"),
        });
        out.push(issue);
    }
    ctx.exported(&mut store)?;
    ctx.print(&out, || human.join("\n"));
    Ok(())
}

#[derive(Args, Debug)]
pub struct CloseArgs {
    #[arg(required = true)]
    pub ids: Vec<String>,
    #[arg(short, long)]
    pub reason: Option<String>,
}

#[derive(Serialize)]
struct CloseView {
    id: String,
    outcome: CloseOutcome,
}

pub fn close(ctx: &Ctx, a: &CloseArgs) -> CliResult {
    let mut store = ctx.open()?;
    let ids: Vec<String> = a
        .ids
        .iter()
        .map(|i| resolve(&store, i))
        .collect::<CliResult<_>>()?;
    // A session carries GT_LEASE=<step>:<generation>; a stale one is refused.
    let lease = crate::store::leases::lease_from_env()?;
    let outcomes = store.write(|tx| {
        ids.iter()
            .map(|id| {
                Ok(CloseView {
                    id: id.clone(),
                    outcome: tx.close_checked(id, a.reason.as_deref(), lease.as_ref())?,
                })
            })
            .collect::<Result<Vec<_>, crate::store::StoreError>>()
    })?;
    ctx.exported(&mut store)?;
    ctx.print(&outcomes, || {
        outcomes
            .iter()
            .map(|o| match o.outcome {
                CloseOutcome::Closed => format!("Closed {}", o.id),
                CloseOutcome::AlreadyClosed => {
                    format!("{} was already closed (nothing to do)", o.id)
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}

#[derive(Args, Debug)]
pub struct IdsArgs {
    #[arg(required = true)]
    pub ids: Vec<String>,
}

pub fn reopen(ctx: &Ctx, a: &IdsArgs) -> CliResult {
    let mut store = ctx.open()?;
    let mut out = Vec::new();
    for id in &a.ids {
        let id = resolve(&store, id)?;
        let reopened = store.write(|tx| tx.reopen(&id))?;
        out.push(serde_json::json!({"id": id, "reopened": reopened}));
    }
    ctx.exported(&mut store)?;
    ctx.print(&out, || {
        out.iter()
            .map(|o| {
                if o["reopened"] == true {
                    format!("Reopened {}", o["id"].as_str().unwrap_or(""))
                } else {
                    format!(
                        "{} is not closed (nothing to do)",
                        o["id"].as_str().unwrap_or("")
                    )
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}

pub fn delete(ctx: &Ctx, a: &IdsArgs) -> CliResult {
    let mut store = ctx.open()?;
    let ids: Vec<String> = a
        .ids
        .iter()
        .map(|i| resolve(&store, i))
        .collect::<CliResult<_>>()?;
    store.write(|tx| tx.delete(&ids))?;
    ctx.exported(&mut store)?;
    ctx.print(&serde_json::json!({"deleted": ids}), || {
        format!("Deleted {}", ids.join(", "))
    });
    Ok(())
}

#[derive(Subcommand, Debug)]
pub enum LabelCommand {
    /// Add labels to an issue.
    Add {
        id: String,
        #[arg(required = true)]
        labels: Vec<String>,
    },
    /// Remove labels from an issue.
    Remove {
        id: String,
        #[arg(required = true)]
        labels: Vec<String>,
    },
    /// List an issue's labels.
    List { id: String },
}

pub fn label(ctx: &Ctx, c: &LabelCommand) -> CliResult {
    let mut store = ctx.open()?;
    let (id, labels, add) = match c {
        LabelCommand::Add { id, labels } => (id, labels, Some(true)),
        LabelCommand::Remove { id, labels } => (id, labels, Some(false)),
        LabelCommand::List { id } => (id, &Vec::new(), None),
    };
    let id = resolve(&store, id)?;
    if let Some(add) = add {
        let labels = split_list(labels);
        store.write(|tx| {
            for l in &labels {
                if add {
                    tx.add_label(&id, l)?;
                } else {
                    tx.remove_label(&id, l)?;
                }
            }
            Ok::<_, crate::store::StoreError>(())
        })?;
        ctx.exported(&mut store)?;
    }
    let issue = issues::get(store.conn(), &id)?;
    ctx.print(
        &serde_json::json!({"id": id, "labels": issue.labels}),
        || format!("{}: {}", id, issue.labels.join(", ")),
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct CommentArgs {
    pub id: String,
    /// The comment; without it, list the comments.
    pub text: Option<String>,
}

pub fn comment(ctx: &Ctx, a: &CommentArgs) -> CliResult {
    let mut store = ctx.open()?;
    let id = resolve(&store, &a.id)?;
    if let Some(t) = &a.text {
        let c = store.write(|tx| tx.comment(&id, t))?;
        ctx.exported(&mut store)?;
        ctx.print(&c, || format!("Commented on {id}"));
    } else {
        let v = issues::comments(store.conn(), &id)?;
        ctx.print(&v, || {
            v.iter()
                .map(|c| format!("[{}] {}: {}", c.created_at, c.author, c.text))
                .collect::<Vec<_>>()
                .join("\n")
        });
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct SearchArgs {
    pub text: String,
    #[arg(short, long)]
    pub status: Vec<String>,
    #[arg(long, default_value = "50")]
    pub limit: usize,
}

pub fn search(ctx: &Ctx, a: &SearchArgs) -> CliResult {
    let store = ctx.open()?;
    let mut f = IssueFilter {
        text: Some(a.text.clone()),
        limit: (a.limit > 0).then_some(a.limit),
        ..Default::default()
    };
    for s in split_list(&a.status) {
        f.status.push(s.parse()?);
    }
    let v = issues::list(store.conn(), &f)?;
    ctx.print(&v, || lines(&v));
    Ok(())
}

pub fn stats(ctx: &Ctx) -> CliResult {
    let store = ctx.open()?;
    let by_status = issues::stats(store.conn())?;
    let total: i64 = by_status.iter().map(|(_, n)| n).sum();
    let ready_n = ready::ready(store.conn(), &ReadyFilter::default())?.len();
    let map: std::collections::BTreeMap<_, _> = by_status.iter().cloned().collect();
    let v = serde_json::json!({"total": total, "by_status": map, "ready": ready_n});
    ctx.print(&v, || {
        let mut s = format!("total: {total}\nready: {ready_n}\n");
        for (k, n) in &by_status {
            s += &format!("{k}: {n}\n");
        }
        s
    });
    Ok(())
}

#[derive(Args, Debug)]
pub struct EventsArgs {
    /// One issue's events; without it, the store's.
    pub id: Option<String>,
    /// Only events after this event id (a feed cursor).
    #[arg(long, default_value = "0")]
    pub since: i64,
    #[arg(long, default_value = "100")]
    pub limit: usize,
}

pub fn events(ctx: &Ctx, a: &EventsArgs) -> CliResult {
    let store = ctx.open()?;
    let v = match &a.id {
        Some(id) => {
            // Events outlive deleted issues: accept any id that has events.
            let id = resolve(&store, id).unwrap_or_else(|_| id.clone());
            events::for_issue(store.conn(), &id)?
        }
        None => events::since(store.conn(), a.since, a.limit)?,
    };
    ctx.print(&v, || {
        v.iter()
            .map(|e| {
                let mut s = format!("#{} {} {} {} {}", e.id, e.at, e.actor, e.kind, e.issue_id);
                if let Some(f) = &e.field {
                    s += &format!(
                        " {f}: {} -> {}",
                        e.old.as_deref().unwrap_or("-"),
                        e.new.as_deref().unwrap_or("-")
                    );
                }
                s
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}
