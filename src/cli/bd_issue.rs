//! `bd create|show|list|ready|update|close|reopen|delete|label|comment|search|stats|events`.

use super::bd::{CliError, CliResult, Ctx};
use super::bd_json::{BeadsIssue, Fields, IssueAnd, ListItem, ShowItem};
use crate::store::issues::{self, ClaimOutcome, CloseOutcome, IssueFilter, NewIssue, Update};
use crate::store::ready::{self, ReadyFilter};
use crate::store::{events, parse_priority, DepType, Issue, IssueType, Status, Store};
use clap::{Args, Subcommand};

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
    /// The title (or --title).
    #[arg(required_unless_present = "title_flag")]
    pub title: Option<String>,
    /// The title, as a flag (beads spelling).
    #[arg(long = "title", conflicts_with = "title")]
    pub title_flag: Option<String>,
    /// Wisp class (beads' TTL compaction class, e.g. patrol); implies --ephemeral.
    #[arg(long)]
    pub wisp_type: Option<String>,
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
    /// Acceptance criteria (beads also spells it --acceptance-criteria).
    #[arg(long, alias = "acceptance-criteria")]
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

/// `--description=-` reads the text from stdin (beads).
fn read_stdin_dash(s: &str) -> CliResult<String> {
    if s != "-" {
        return Ok(s.to_string());
    }
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
        .map_err(|e| CliError::other(format!("cannot read the description from stdin: {e}")))?;
    Ok(text)
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
    let title = a.title.clone().or(a.title_flag.clone()).unwrap_or_default();
    let description = read_stdin_dash(&a.description)?;
    let mut dep_list = Vec::new();
    for d in split_list(&a.deps) {
        let (t, id) = match d.split_once(':') {
            Some((t, id)) => (t.parse::<DepType>()?, id.to_string()),
            None => (DepType::Blocks, d.clone()),
        };
        dep_list.push((t, id));
    }
    let mut metadata = a.metadata.as_deref().map(parse_json_obj).transpose()?;
    if let Some(w) = &a.wisp_type {
        let m = metadata.get_or_insert_with(|| serde_json::json!({}));
        m["wisp_type"] = serde_json::json!(w);
    }
    let mut store = ctx.open()?;
    let new = NewIssue {
        id: a.id.clone(),
        title,
        description,
        design: a.design.clone().unwrap_or_default(),
        acceptance_criteria: a.acceptance.clone().unwrap_or_default(),
        notes: a.notes.clone().unwrap_or_default(),
        issue_type,
        priority,
        assignee: a.assignee.clone(),
        labels: split_list(&a.labels),
        metadata,
        ephemeral: a.ephemeral || a.wisp_type.is_some(),
        parent: a.parent.clone(),
        deps: dep_list,
        ..Default::default()
    };
    let issue = store.write(|tx| tx.create(&new))?;
    ctx.exported(&mut store)?;
    ctx.print(&Fields::of(&issue), || {
        format!("Created {}: {}", issue.id, issue.title)
    });
    Ok(())
}

#[derive(Args, Debug)]
pub struct ShowArgs {
    #[arg(required = true)]
    pub ids: Vec<String>,
    /// Accepted for beads: dependents are always listed.
    #[arg(long)]
    pub include_dependents: bool,
    /// List the comments too (JSON; the text view always shows them).
    #[arg(long)]
    pub include_comments: bool,
}

/// `bd show`: like beads, `--json` prints an array with one element per id.
pub fn show(ctx: &Ctx, a: &ShowArgs) -> CliResult {
    let store = ctx.open()?;
    let mut out = Vec::new();
    for id in &a.ids {
        let id = resolve(&store, id)?;
        out.push(ShowItem::of(
            store.conn(),
            &id,
            a.include_comments || !ctx.json,
        )?);
    }
    ctx.print(&out, || out.iter().map(show_text).collect());
    Ok(())
}

fn show_text(v: &ShowItem) -> String {
    let i = v.issue();
    let mut s = format!("{}: {}\n", i.id, i.title);
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
        s += &format!("  depends on {} ({})\n", d.issue().id, d.dependency_type);
    }
    for d in &v.dependents {
        s += &format!("  needed by {} ({})\n", d.id, d.dependency_type);
    }
    for c in &v.comments {
        s += &format!("  [{}] {}: {}\n", c.created_at, c.author, c.text);
    }
    s
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
    /// Include closed and pinned issues (left out by default, as beads
    /// does, unless --status asks for them) and wisps.
    #[arg(long)]
    pub all: bool,
    /// At most N issues (0 = all).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Created at or after this time (`2026-03-01`, RFC 3339, or an age like `24h`).
    #[arg(long)]
    pub created_after: Option<String>,
    #[arg(long)]
    pub created_before: Option<String>,
    #[arg(long)]
    pub updated_after: Option<String>,
    #[arg(long)]
    pub updated_before: Option<String>,
    /// Only issues whose description contains this text.
    #[arg(long)]
    pub desc_contains: Option<String>,
    /// Only issues whose title contains this text.
    #[arg(long)]
    pub title_contains: Option<String>,
    /// Show the parent/child tree (accepted for beads; `false` gives a flat list, the only layout).
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub tree: Option<bool>,
}

/// A time bound for `--created-after` etc.: a date, a timestamp or an age.
fn time_bound(flag: &str, v: &Option<String>) -> CliResult<Option<String>> {
    let now = (crate::store::ids::now_nanos() / 1_000_000_000) as i64;
    v.as_deref()
        .map(|t| {
            crate::coord::feed::parse_since(t, now)
                .map_err(|e| CliError::usage(format!("--{flag}: {e}"), None))
        })
        .transpose()
}

/// Status filters, where `in_progress` includes hooked work (as beads reports it).
fn status_filter(v: &[String]) -> CliResult<Vec<Status>> {
    let mut out = Vec::new();
    for s in split_list(v) {
        let st: Status = s.parse()?;
        out.push(st);
        if st == Status::InProgress {
            out.push(Status::Hooked);
        }
    }
    Ok(out)
}

/// `--status`, else (like beads) everything but closed and pinned, unless `--all`.
fn list_statuses(a: &ListArgs) -> CliResult<Vec<Status>> {
    if !a.status.is_empty() || a.all {
        return status_filter(&a.status);
    }
    Ok(Status::ALL
        .iter()
        .copied()
        .filter(|s| !matches!(s, Status::Closed | Status::Pinned))
        .collect())
}

pub fn list(ctx: &Ctx, a: &ListArgs) -> CliResult {
    let store = ctx.open()?;
    let bounds = [
        time_bound("created-after", &a.created_after)?,
        time_bound("created-before", &a.created_before)?,
        time_bound("updated-after", &a.updated_after)?,
        time_bound("updated-before", &a.updated_before)?,
    ];
    let filtering = bounds.iter().any(Option::is_some)
        || a.desc_contains.is_some()
        || a.title_contains.is_some();
    let mut f = IssueFilter {
        assignee: a.assignee.clone(),
        labels: split_list(&a.labels),
        include_ephemeral: a.all,
        limit: a.limit.filter(|n| *n > 0 && !filtering),
        status: list_statuses(a)?,
        ..Default::default()
    };
    for t in split_list(&a.issue_type) {
        f.issue_type.push(t.parse()?);
    }
    if let Some(p) = &a.parent {
        f.parent = Some(resolve(&store, p)?);
    }
    let [ca, cb, ua, ub] = &bounds;
    let keep = |i: &Issue| {
        ca.as_deref().is_none_or(|t| i.created_at.as_str() >= t)
            && cb.as_deref().is_none_or(|t| i.created_at.as_str() < t)
            && ua.as_deref().is_none_or(|t| i.updated_at.as_str() >= t)
            && ub.as_deref().is_none_or(|t| i.updated_at.as_str() < t)
            && a.desc_contains
                .as_deref()
                .is_none_or(|d| i.description.contains(d))
            && a.title_contains
                .as_deref()
                .is_none_or(|d| i.title.contains(d))
    };
    let limit = a.limit.filter(|n| *n > 0);
    stream_issues(ctx.json, store.conn(), |each| {
        let mut n = 0;
        issues::list_each(store.conn(), &f, |i| {
            if !keep(&i) {
                return Ok(true);
            }
            n += 1;
            Ok(each(&i) && limit.is_none_or(|l| n < l))
        })
    })
}

/// Print issues as they are read: a pretty JSON array of beads' list rows
/// (the same bytes as printing the whole list at once), or one line each
/// (`(none)` if empty).
/// A closed stdout (`| head`) stops the stream quietly.
fn stream_issues(
    json: bool,
    conn: &rusqlite::Connection,
    produce: impl FnOnce(&mut dyn FnMut(&Issue) -> bool) -> crate::store::Result<()>,
) -> CliResult {
    use serde::ser::{SerializeSeq, Serializer};
    use std::io::Write;
    let mut w = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let mut count = 0usize;
    let mut broken = false;
    if json {
        let mut ser = serde_json::Serializer::pretty(&mut w);
        let mut seq = ser
            .serialize_seq(None)
            .map_err(|e| CliError::other(format!("cannot render JSON: {e}")))?;
        let mut failed = None;
        produce(&mut |i| {
            count += 1;
            match ListItem::of(conn, i) {
                Ok(item) => broken = seq.serialize_element(&item).is_err(),
                Err(e) => failed = Some(e),
            }
            !broken && failed.is_none()
        })?;
        if let Some(e) = failed {
            return Err(e.into());
        }
        if !broken {
            let _ = seq.end();
            let _ = writeln!(w);
        }
    } else {
        produce(&mut |i| {
            count += 1;
            broken = writeln!(w, "{}", line(i)).is_err();
            !broken
        })?;
        if count == 0 {
            let _ = writeln!(w, "(none)");
        }
    }
    let _ = w.flush();
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
    /// Molecules waiting on a gate that has resolved: ready to resume.
    #[arg(long)]
    pub gated: bool,
}

/// Not work an agent picks up: molecule roots (closed by their steps),
/// convoys, gates, mail, merge requests and Gas Town's records (agents,
/// roles, events, digests, warrants).
fn workable(i: &Issue) -> bool {
    !matches!(
        i.issue_type,
        IssueType::Convoy
            | IssueType::Molecule
            | IssueType::Gate
            | IssueType::Message
            | IssueType::MergeRequest
            | IssueType::Agent
            | IssueType::Role
            | IssueType::Event
            | IssueType::Digest
            | IssueType::Warrant
    )
}

/// `bd ready --gated`: molecules with a closed gate step and ready work.
fn gated_molecules(store: &Store) -> CliResult<Vec<Issue>> {
    let mut st = store
        .conn()
        .prepare(
            "SELECT DISTINCT p.depends_on FROM issues g
             JOIN deps p ON p.issue_id = g.id AND p.type = 'parent-child'
             WHERE g.issue_type = 'gate' AND g.status = 'closed'",
        )
        .map_err(|e| CliError::other(e.to_string()))?;
    let roots: Vec<String> = st
        .query_map([], |r| r.get(0))
        .and_then(|r| r.collect())
        .map_err(|e| CliError::other(e.to_string()))?;
    let mut out = Vec::new();
    for r in roots {
        let i = issues::get(store.conn(), &r)?;
        if i.status != Status::Closed {
            out.push(i);
        }
    }
    Ok(out)
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
        limit: None,
    };
    if a.gated {
        let v = gated_molecules(&store)?;
        print_list(ctx, store.conn(), &v)?;
        return Ok(());
    }
    let mut v: Vec<Issue> = ready::ready(store.conn(), &f)?
        .into_iter()
        .filter(workable)
        .collect();
    if a.limit > 0 {
        v.truncate(a.limit);
    }
    print_list(ctx, store.conn(), &v)
}

/// Issues as beads' list rows (`--json`) or one line each.
fn print_list(ctx: &Ctx, conn: &rusqlite::Connection, v: &[Issue]) -> CliResult {
    let rows = if ctx.json {
        v.iter()
            .map(|i| ListItem::of(conn, i))
            .collect::<crate::store::Result<Vec<_>>>()?
    } else {
        Vec::new()
    };
    ctx.print(&rows, || lines(v));
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
    /// Acceptance criteria (beads also spells it --acceptance-criteria).
    #[arg(long, alias = "acceptance-criteria")]
    pub acceptance: Option<String>,
    #[arg(short = 't', long = "type")]
    pub issue_type: Option<String>,
    /// JSON object merged into the metadata (null removes a key).
    #[arg(long)]
    pub metadata: Option<String>,
    /// Replace the labels (comma-separated or repeated).
    #[arg(long)]
    pub labels: Vec<String>,
    #[arg(long)]
    pub add_label: Vec<String>,
    #[arg(long)]
    pub remove_label: Vec<String>,
    /// Set one metadata key: KEY=VALUE (a JSON value, or else a string).
    #[arg(long, value_name = "KEY=VALUE")]
    pub set_metadata: Vec<String>,
}

/// `--set-metadata k=v ...` merged into `--metadata`.
fn metadata_patch(a: &UpdateArgs) -> CliResult<Option<serde_json::Value>> {
    let mut m = a.metadata.as_deref().map(parse_json_obj).transpose()?;
    for kv in &a.set_metadata {
        let (k, v) = kv.split_once('=').ok_or_else(|| {
            CliError::usage(
                format!("--set-metadata `{kv}` is not KEY=VALUE"),
                Some("e.g. --set-metadata review=approved".into()),
            )
        })?;
        let v = serde_json::from_str(v).unwrap_or_else(|_| serde_json::json!(v));
        m.get_or_insert_with(|| serde_json::json!({}))[k] = v;
    }
    Ok(m)
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
        metadata: metadata_patch(a)?,
    };
    let labels_change =
        !a.labels.is_empty() || !a.add_label.is_empty() || !a.remove_label.is_empty();
    if u.is_empty() && !a.claim && !labels_change {
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
            if !a.labels.is_empty() {
                super::bd_ops::set_labels(tx, &id, &split_list(&a.labels))?;
            }
            for l in split_list(&a.add_label) {
                tx.add_label(&id, &l)?;
            }
            for l in split_list(&a.remove_label) {
                tx.remove_label(&id, &l)?;
            }
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
        out.push(BeadsIssue(issue));
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
            .map(|id| tx.close_checked(id, a.reason.as_deref(), lease.as_ref()))
            .collect::<Result<Vec<_>, crate::store::StoreError>>()
    })?;
    ctx.exported(&mut store)?;
    // beads prints the closed issues; `outcome` is ours.
    let mut out = Vec::new();
    for (id, outcome) in ids.iter().zip(&outcomes) {
        out.push(IssueAnd::new(
            issues::get(store.conn(), id)?,
            serde_json::json!({ "outcome": outcome }),
        ));
    }
    ctx.print(&out, || {
        ids.iter()
            .zip(&outcomes)
            .map(|(id, o)| match o {
                CloseOutcome::Closed => format!("Closed {id}"),
                CloseOutcome::AlreadyClosed => {
                    format!("{id} was already closed (nothing to do)")
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
    let mut human = Vec::new();
    for id in &a.ids {
        let id = resolve(&store, id)?;
        let reopened = store.write(|tx| tx.reopen(&id))?;
        human.push(if reopened {
            format!("Reopened {id}")
        } else {
            format!("{id} is not closed (nothing to do)")
        });
        // beads prints the reopened issues; `reopened` is ours.
        out.push(IssueAnd::new(
            issues::get(store.conn(), &id)?,
            serde_json::json!({ "reopened": reopened }),
        ));
    }
    ctx.exported(&mut store)?;
    ctx.print(&out, || human.join("\n"));
    Ok(())
}

#[derive(Args, Debug)]
pub struct DeleteArgs {
    #[arg(required = true)]
    pub ids: Vec<String>,
    /// Really delete. Without it, bd previews what would go (as beads does).
    #[arg(short, long)]
    pub force: bool,
    /// Preview only, even with --force.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn delete(ctx: &Ctx, a: &DeleteArgs) -> CliResult {
    let mut store = ctx.open()?;
    let ids: Vec<String> = a
        .ids
        .iter()
        .map(|i| resolve(&store, i))
        .collect::<CliResult<_>>()?;
    if !a.force || a.dry_run {
        return delete_preview(ctx, &store, &ids);
    }
    store.write(|tx| tx.delete(&ids))?;
    ctx.exported(&mut store)?;
    ctx.print(&serde_json::json!({"deleted": ids}), || {
        format!("Deleted {}", ids.join(", "))
    });
    Ok(())
}

/// What `bd delete` without `--force` shows: the issues and every dependency
/// link that would go with them. Nothing is written.
fn delete_preview(ctx: &Ctx, store: &Store, ids: &[String]) -> CliResult {
    use crate::store::deps;
    let mut issues_out = Vec::new();
    let mut links = Vec::new();
    for id in ids {
        issues_out.push(issues::get(store.conn(), id)?);
        for d in deps::deps_of(store.conn(), id)?
            .into_iter()
            .chain(deps::dependents(store.conn(), id)?)
        {
            links.push(d);
        }
    }
    links.sort_by(|x, y| (&x.issue_id, &x.depends_on).cmp(&(&y.issue_id, &y.depends_on)));
    links.dedup_by(|x, y| {
        x.issue_id == y.issue_id && x.depends_on == y.depends_on && x.dep_type == y.dep_type
    });
    let json = serde_json::json!({
        "preview": true,
        "would_delete": ids,
        "dependencies_removed": links
            .iter()
            .map(|d| serde_json::json!({"issue_id": d.issue_id, "depends_on_id": d.depends_on, "type": d.dep_type}))
            .collect::<Vec<_>>(),
    });
    ctx.print(&json, || {
        let mut s = String::from("Would delete (nothing deleted yet):\n");
        for i in &issues_out {
            s += &format!("  {} - {}\n", i.id, i.title);
        }
        if !links.is_empty() {
            s += "Dependency links that would be removed:\n";
            for d in &links {
                s += &format!("  {} {} {}\n", d.issue_id, d.dep_type, d.depends_on);
            }
        }
        s += "Run again with --force to delete.";
        s
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
    let Some(add) = add else {
        // beads: `label list --json` is the array of labels.
        let issue = issues::get(store.conn(), &id)?;
        ctx.print(&issue.labels, || {
            format!("{}: {}", id, issue.labels.join(", "))
        });
        return Ok(());
    };
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
    let status = if add { "added" } else { "removed" };
    let out: Vec<serde_json::Value> = labels
        .iter()
        .map(|l| serde_json::json!({"status": status, "issue_id": id, "label": l}))
        .collect();
    let issue = issues::get(store.conn(), &id)?;
    ctx.print(&out, || format!("{}: {}", id, issue.labels.join(", ")));
    Ok(())
}

#[derive(Args, Debug)]
pub struct CommentArgs {
    pub id: String,
    /// The comment (words are joined with spaces); without it, list the comments.
    pub text: Vec<String>,
    /// Who wrote it (default: the actor).
    #[arg(short, long)]
    pub author: Option<String>,
    /// Read the comment from this file.
    #[arg(short, long, conflicts_with = "text")]
    pub file: Option<std::path::PathBuf>,
}

/// `bd comments ID` lists; `bd comments add ID TEXT` adds (beads' spelling).
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct CommentsArgs {
    /// The issue whose comments to list.
    pub id: Option<String>,
    #[command(subcommand)]
    pub action: Option<CommentsAction>,
}

#[derive(Subcommand, Debug)]
pub enum CommentsAction {
    /// Add a comment to an issue.
    Add(CommentArgs),
}

pub fn comments(ctx: &Ctx, a: &CommentsArgs) -> CliResult {
    match (&a.action, &a.id) {
        (Some(CommentsAction::Add(c)), _) if c.text.is_empty() && c.file.is_none() => {
            Err(CliError::usage(
                "no comment text",
                Some("e.g. bd comments add ID \"text\" (or --file PATH)".into()),
            ))
        }
        (Some(CommentsAction::Add(c)), _) => comment(ctx, c),
        (None, Some(id)) => list_comments(ctx, id),
        (None, None) => Err(CliError::usage(
            "which issue?",
            Some("bd comments ID lists them; bd comments add ID TEXT adds one".into()),
        )),
    }
}

fn list_comments(ctx: &Ctx, id: &str) -> CliResult {
    let store = ctx.open()?;
    let id = resolve(&store, id)?;
    let v = crate::store::details::numbered_comments(store.conn(), &id)?;
    ctx.print(&v, || {
        if v.is_empty() {
            return format!("No comments on {id}");
        }
        v.iter()
            .map(|c| format!("[{}] {}: {}", c.created_at, c.author, c.text))
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}

pub fn comment(ctx: &Ctx, a: &CommentArgs) -> CliResult {
    let text = match &a.file {
        Some(path) => std::fs::read_to_string(path).map_err(|e| {
            CliError::other(format!(
                "cannot read the comment from {}: {e}",
                path.display()
            ))
        })?,
        None if a.text.is_empty() => return list_comments(ctx, &a.id),
        None => a.text.join(" "),
    };
    let mut store = ctx.open()?;
    if let Some(author) = &a.author {
        store.set_actor(author.clone());
    }
    let id = resolve(&store, &a.id)?;
    let c = store.write(|tx| {
        tx.comment(&id, &text)?;
        let mut all = crate::store::details::numbered_comments(tx.conn(), &id)?;
        Ok::<_, crate::store::StoreError>(all.pop())
    })?;
    ctx.exported(&mut store)?;
    ctx.print(&c, || format!("Commented on {id}"));
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
    print_list(ctx, store.conn(), &v)
}

pub fn stats(ctx: &Ctx) -> CliResult {
    let store = ctx.open()?;
    let by_status = issues::stats(store.conn())?;
    let total: i64 = by_status.iter().map(|(_, n)| n).sum();
    let ready_n = ready::ready(store.conn(), &ReadyFilter::default())?.len();
    let map: std::collections::BTreeMap<_, _> = by_status.iter().cloned().collect();
    // `summary` is beads' shape; the rest is ours.
    let summary = crate::store::details::statistics(store.conn())?;
    let v =
        serde_json::json!({"summary": summary, "total": total, "by_status": map, "ready": ready_n});
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
