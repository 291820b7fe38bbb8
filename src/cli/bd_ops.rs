//! `bd blocked|activity|gate|merge-slot|prime|info|doctor|worktree` and the
//! Dolt-era commands (`bd dolt`, `bd daemons`), which answer truthfully for
//! the embedded SQLite store: there is no server to manage.

use super::bd::{CliError, CliResult, Ctx};
use super::bd_issue::line;
use super::bd_json::BlockedItem;
use crate::coord::merge_slot;
use crate::store::issues::{self, IssueFilter};
use crate::store::ready::{self, ReadyFilter};
use crate::store::{deps, events, Issue, IssueType, Status, Store};
use clap::{Args, Subcommand};
use serde::Serialize;
use serde_json::json;

fn open_ids(store: &Store, sql: &str) -> CliResult<Vec<Issue>> {
    let mut st = store
        .conn()
        .prepare(sql)
        .map_err(|e| CliError::other(e.to_string()))?;
    let ids: Vec<String> = st
        .query_map([], |r| r.get(0))
        .and_then(|r| r.collect())
        .map_err(|e| CliError::other(e.to_string()))?;
    ids.iter()
        .map(|id| Ok(issues::get(store.conn(), id)?))
        .collect()
}

#[derive(Args, Debug)]
pub struct BlockedArgs {
    /// Only this issue (shows what blocks it).
    pub id: Option<String>,
}

/// `bd blocked`: open issues with an open blocker, unmet gate or blocked ancestor.
pub fn blocked(ctx: &Ctx, a: &BlockedArgs) -> CliResult {
    let store = ctx.open()?;
    let mut list = open_ids(
        &store,
        "SELECT id FROM issues WHERE blocked = 1 AND status != 'closed' AND ephemeral = 0 ORDER BY priority, created_at, id",
    )?;
    if let Some(id) = &a.id {
        let id = issues::resolve(store.conn(), store.prefix(), id)?;
        list.retain(|i| i.id == id);
    }
    let mut out = Vec::new();
    for issue in list {
        let mut by = Vec::new();
        for d in deps::deps_of(store.conn(), &issue.id)? {
            if d.dep_type.is_blocking()
                && issues::get(store.conn(), &d.depends_on)?.status != Status::Closed
            {
                by.push(d.depends_on);
            }
        }
        out.push(BlockedItem::new(issue, by));
    }
    ctx.print(&out, || {
        if out.is_empty() {
            return "No blocked issues".into();
        }
        out.iter()
            .map(|b| {
                format!(
                    "{}\n    blocked by: {}",
                    line(b.issue()),
                    b.blocked_by.join(", ")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}

#[derive(Args, Debug)]
pub struct ActivityArgs {
    /// Keep printing new events as they happen (Ctrl-C ends).
    #[arg(short, long)]
    pub follow: bool,
    /// How many recent events to show first.
    #[arg(short = 'n', long, default_value = "20")]
    pub limit: usize,
}

fn event_line(e: &crate::store::Event) -> String {
    let mut s = format!("{} {} {} {}", e.at, e.actor, e.kind, e.issue_id);
    if let Some(f) = &e.field {
        s += &format!(
            " {f}: {} -> {}",
            e.old.as_deref().unwrap_or("-"),
            e.new.as_deref().unwrap_or("-")
        );
    }
    s
}

/// `bd activity [--follow]`: the store's event log, newest last.
pub fn activity(ctx: &Ctx, a: &ActivityArgs) -> CliResult {
    use std::io::Write;
    let store = ctx.open()?;
    let last: i64 = store
        .conn()
        .query_row("SELECT COALESCE(MAX(id), 0) FROM events", [], |r| r.get(0))
        .map_err(|e| CliError::other(e.to_string()))?;
    let mut cursor = (last - a.limit as i64).max(0);
    loop {
        let batch = events::since(store.conn(), cursor, 500)?;
        for e in &batch {
            if ctx.json {
                println!("{}", serde_json::to_string(e).unwrap_or_default());
            } else {
                println!("{}", event_line(e));
            }
            cursor = e.id;
        }
        let _ = std::io::stdout().flush();
        if !a.follow {
            return Ok(());
        }
        if batch.is_empty() {
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum GateCommand {
    /// Open gates (with --all, closed ones too).
    List {
        #[arg(long)]
        all: bool,
    },
    /// Close the gates whose condition has resolved (timers that elapsed);
    /// with --escalate, flag the overdue ones that need a person.
    Check {
        /// Only gates of this type (timer, human, gh:run, ...).
        #[arg(long = "type")]
        kind: Option<String>,
        #[arg(long)]
        escalate: bool,
        #[arg(long)]
        dry_run: bool,
    },
    /// Resolve a gate by hand.
    Close {
        id: String,
        #[arg(short, long)]
        reason: Option<String>,
    },
}

#[derive(Serialize)]
struct GateView {
    #[serde(flatten)]
    issue: Issue,
    await_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    await_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout: Option<u64>,
}

fn gate_view(issue: Issue) -> GateView {
    let g = &issue.metadata["step"]["gate"];
    GateView {
        await_type: g["type"].as_str().unwrap_or("human").to_string(),
        await_id: g["await_id"].as_str().map(String::from),
        timeout: g["timeout_secs"].as_u64(),
        issue,
    }
}

fn gates(store: &Store, all: bool) -> CliResult<Vec<GateView>> {
    let f = IssueFilter {
        issue_type: vec![IssueType::Gate],
        include_ephemeral: true,
        status: if all {
            vec![]
        } else {
            Status::ALL
                .iter()
                .copied()
                .filter(|s| *s != Status::Closed)
                .collect()
        },
        ..Default::default()
    };
    Ok(issues::list(store.conn(), &f)?
        .into_iter()
        .map(gate_view)
        .collect())
}

fn age_secs(created_at: &str) -> Option<i64> {
    let now = (crate::store::ids::now_nanos() / 1_000_000_000) as i64;
    Some(now - crate::store::ids::parse_secs(created_at)?)
}

pub fn gate(ctx: &Ctx, c: &GateCommand) -> CliResult {
    let mut store = ctx.open()?;
    match c {
        GateCommand::List { all } => {
            let v = gates(&store, *all)?;
            ctx.print(&v, || {
                if v.is_empty() {
                    return "No open gates".into();
                }
                v.iter()
                    .map(|g| format!("{}  [{}] {}", g.issue.id, g.await_type, g.issue.title))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        GateCommand::Check {
            kind,
            escalate,
            dry_run,
        } => {
            let mut closed = Vec::new();
            let mut escalated = Vec::new();
            for g in gates(&store, false)? {
                if kind.as_deref().is_some_and(|k| k != g.await_type) {
                    continue;
                }
                let overdue = match (g.timeout, age_secs(&g.issue.created_at)) {
                    (Some(t), Some(age)) => age >= t as i64,
                    _ => false,
                };
                if !overdue {
                    continue;
                }
                if g.await_type == "timer" {
                    if !dry_run {
                        store.write(|tx| tx.close(&g.issue.id, Some("timer elapsed")))?;
                    }
                    closed.push(g.issue.id);
                } else if *escalate {
                    if !dry_run {
                        store.write(|tx| {
                            tx.add_label(&g.issue.id, "escalated")?;
                            tx.comment(&g.issue.id, "gate timed out: needs a person to resolve it")
                        })?;
                    }
                    escalated.push(g.issue.id);
                }
            }
            if !dry_run {
                ctx.exported(&mut store)?;
            }
            let v = json!({"closed": closed, "escalated": escalated, "dry_run": dry_run});
            ctx.print(&v, || {
                format!(
                    "{} gate(s) resolved{}, {} escalated",
                    closed.len(),
                    if *dry_run { " (dry run)" } else { "" },
                    escalated.len()
                )
            });
        }
        GateCommand::Close { id, reason } => {
            let id = issues::resolve(store.conn(), store.prefix(), id)?;
            if issues::get(store.conn(), &id)?.issue_type != IssueType::Gate {
                return Err(CliError::usage(
                    format!("{id} is not a gate"),
                    Some(
                        "`bd gate list` shows the open gates; close other issues with `bd close`"
                            .into(),
                    ),
                ));
            }
            store.write(|tx| tx.close(&id, reason.as_deref().or(Some("resolved by hand"))))?;
            ctx.exported(&mut store)?;
            ctx.print(&json!({"id": id, "closed": true}), || {
                format!("Closed gate {id}")
            });
        }
    }
    Ok(())
}

#[derive(Subcommand, Debug)]
pub enum MergeSlotCommand {
    /// Create the merge slot bead (acquire creates it too).
    Create,
    /// Is the slot free? Who holds it, who waits?
    Check,
    /// Take the slot (exit 1 when someone else holds it).
    Acquire {
        /// Who takes it (default: the actor).
        #[arg(long)]
        holder: Option<String>,
        /// Queue up when the slot is held.
        #[arg(long)]
        wait: bool,
    },
    /// Give the slot back; the first waiter takes it over.
    Release {
        /// Only release if this is the holder.
        #[arg(long)]
        holder: Option<String>,
    },
}

pub fn merge_slot(ctx: &Ctx, c: &MergeSlotCommand) -> CliResult {
    let mut store = ctx.open()?;
    let actor = store.actor().to_string();
    match c {
        MergeSlotCommand::Create | MergeSlotCommand::Check => {
            let s = merge_slot::check(&mut store)?;
            ctx.exported(&mut store)?;
            ctx.print(&s, || match &s.holder {
                None => format!("Merge slot available: {}", s.id),
                Some(h) => format!(
                    "Merge slot held: {}\n  Holder: {h}\n  Waiters: {}",
                    s.id,
                    s.waiters.join(", ")
                ),
            });
        }
        MergeSlotCommand::Acquire { holder, wait } => {
            let who = holder.clone().unwrap_or(actor);
            let r = merge_slot::acquire(&mut store, &who, *wait)?;
            ctx.exported(&mut store)?;
            ctx.print(&r, || {
                if r.acquired {
                    format!("Acquired merge slot: {}\n  Holder: {}", r.id, r.holder)
                } else if r.waiting {
                    format!(
                        "Slot held by {}, added to waiters queue (position {})",
                        r.holder,
                        r.position.unwrap_or(0)
                    )
                } else {
                    format!("Slot held by: {}\nUse --wait to join the queue.", r.holder)
                }
            });
            if !r.acquired {
                return Err(CliError {
                    message: String::new(),
                    help: None,
                    code: 1,
                });
            }
        }
        MergeSlotCommand::Release { holder } => {
            let s = merge_slot::release(&mut store, holder.as_deref())?;
            ctx.exported(&mut store)?;
            ctx.print(
                &json!({"id": s.id, "released": true, "holder": s.holder}),
                || match &s.holder {
                    Some(h) => format!("Released merge slot: {} (now held by {h})", s.id),
                    None => format!("Released merge slot: {}", s.id),
                },
            );
        }
    }
    Ok(())
}

/// `bd prime`: the ledger context an agent needs at session start.
pub fn prime(ctx: &Ctx) -> CliResult {
    let store = ctx.open()?;
    let actor = store.actor().to_string();
    let mine = issues::list(
        store.conn(),
        &IssueFilter {
            assignee: Some(actor.clone()),
            status: vec![Status::InProgress, Status::Hooked],
            ..Default::default()
        },
    )?;
    let ready = ready::ready(
        store.conn(),
        &ReadyFilter {
            limit: Some(10),
            ..Default::default()
        },
    )?;
    let v = json!({
        "actor": actor,
        "store": store.dir().display().to_string(),
        "prefix": store.prefix(),
        "in_progress": mine,
        "ready": ready,
    });
    ctx.print(&v, || {
        let mut s = format!(
            "# Beads context\nYou are {actor}. The ledger is {} (prefix {}).\n\n",
            store.dir().display(),
            store.prefix()
        );
        s += "## Your work in progress\n";
        s += &if mine.is_empty() {
            "(none)\n".to_string()
        } else {
            mine.iter().map(|i| line(i) + "\n").collect()
        };
        s += "\n## Ready to work on\n";
        s += &if ready.is_empty() {
            "(none)\n".to_string()
        } else {
            ready.iter().map(|i| line(i) + "\n").collect()
        };
        s += "\n## Commands\n\
              bd ready                      what can be worked on now\n\
              bd show <id>                  an issue with its dependencies\n\
              bd update <id> --claim        take an issue (in_progress, assigned to you)\n\
              bd update <id> --notes TEXT   record findings\n\
              bd create \"Title\" -t bug -p 1 --deps discovered-from:<id>\n\
              bd close <id> --reason TEXT   finish an issue\n\
              bd sync                       export and commit the ledger\n";
        s
    });
    Ok(())
}

#[derive(Args, Debug)]
pub struct InfoArgs {
    /// What changed in this version of bd.
    #[arg(long)]
    pub whats_new: bool,
    /// Show the schema version (included anyway; accepted for beads).
    #[arg(long)]
    pub schema: bool,
}

#[derive(Serialize)]
struct Info {
    database_path: String,
    beads_dir: String,
    jsonl_path: String,
    prefix: String,
    backend: &'static str,
    mode: &'static str,
    schema_version: i64,
    issue_count: i64,
    version: &'static str,
}

fn info_of(store: &Store) -> CliResult<Info> {
    let q = |sql: &str| -> CliResult<i64> {
        store
            .conn()
            .query_row(sql, [], |r| r.get(0))
            .map_err(|e| CliError::other(e.to_string()))
    };
    Ok(Info {
        database_path: store.dir().join("beads.db").display().to_string(),
        beads_dir: store.dir().display().to_string(),
        jsonl_path: store.jsonl_path().display().to_string(),
        prefix: store.prefix().to_string(),
        backend: "sqlite",
        mode: "embedded",
        schema_version: q("PRAGMA user_version")?,
        issue_count: q("SELECT count(*) FROM issues")?,
        version: env!("CARGO_PKG_VERSION"),
    })
}

pub fn info(ctx: &Ctx, a: &InfoArgs) -> CliResult {
    let store = ctx.open()?;
    let i = info_of(&store)?;
    if a.whats_new {
        let v = json!({"version": i.version, "notes": []});
        ctx.print(&v, || {
            format!(
                "bd {}: no release notes are recorded for this build",
                i.version
            )
        });
        return Ok(());
    }
    ctx.print(&i, || {
        format!(
            "Database: {}\nBeads dir: {}\nJSONL: {}\nPrefix: {}\nBackend: sqlite (embedded, no server)\nSchema version: {}\nIssues: {}",
            i.database_path, i.beads_dir, i.jsonl_path, i.prefix, i.schema_version, i.issue_count
        )
    });
    Ok(())
}

#[derive(Serialize)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
}

/// The store's health: integrity, schema, dangling edges, the JSONL.
pub fn health(store: &Store) -> CliResult<Vec<Check>> {
    let q = |sql: &str| -> CliResult<String> {
        store
            .conn()
            .query_row(sql, [], |r| r.get::<_, rusqlite::types::Value>(0))
            .map(|v| match v {
                rusqlite::types::Value::Integer(n) => n.to_string(),
                rusqlite::types::Value::Text(t) => t,
                other => format!("{other:?}"),
            })
            .map_err(|e| CliError::other(e.to_string()))
    };
    let integrity = q("PRAGMA integrity_check")?;
    let schema: i64 = q("PRAGMA user_version")?.parse().unwrap_or(0);
    let latest = crate::store::schema::MIGRATIONS.len() as i64;
    let dangling: i64 = q("SELECT count(*) FROM deps WHERE depends_on NOT IN (SELECT id FROM issues) OR issue_id NOT IN (SELECT id FROM issues)")?
        .parse()
        .unwrap_or(0);
    let jsonl = store.jsonl_path();
    Ok(vec![
        Check {
            name: "integrity",
            ok: integrity == "ok",
            detail: integrity,
        },
        Check {
            name: "schema",
            ok: schema == latest,
            detail: format!("version {schema} of {latest}"),
        },
        Check {
            name: "dependencies",
            ok: dangling == 0,
            detail: format!("{dangling} edge(s) point at missing issues"),
        },
        Check {
            name: "jsonl",
            ok: jsonl.is_file(),
            detail: if jsonl.is_file() {
                format!("{} present", jsonl.display())
            } else {
                format!("{} missing: run `bd export`", jsonl.display())
            },
        },
    ])
}

pub fn doctor(ctx: &Ctx) -> CliResult {
    let store = ctx.open()?;
    let checks = health(&store)?;
    let bad = checks.iter().filter(|c| !c.ok).count();
    ctx.print(&json!({"checks": checks, "ok": bad == 0}), || {
        checks
            .iter()
            .map(|c| {
                format!(
                    "{} {:<13} {}",
                    if c.ok { "ok  " } else { "FAIL" },
                    c.name,
                    c.detail
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    if bad > 0 {
        return Err(CliError::other(format!("{bad} check(s) failed")));
    }
    Ok(())
}

#[derive(Subcommand, Debug)]
pub enum WorktreeCommand {
    /// A git worktree that shares this ledger (through `.beads/redirect`).
    Create {
        /// Where (a new directory).
        path: std::path::PathBuf,
        /// The branch to create (default: the directory's name).
        #[arg(long)]
        branch: Option<String>,
    },
    /// Remove a worktree made by `bd worktree create`.
    Remove {
        path: std::path::PathBuf,
        /// Even with uncommitted changes.
        #[arg(long)]
        force: bool,
    },
    /// The repository's worktrees.
    List,
}

fn git(cwd: &std::path::Path, args: &[&str]) -> CliResult<String> {
    let o = std::process::Command::new("git")
        .args(args)
        .current_dir(cwd)
        .output()
        .map_err(|e| CliError::other(format!("cannot run git: {e}")))?;
    if !o.status.success() {
        return Err(CliError::other(format!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&o.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

pub fn worktree(ctx: &Ctx, c: &WorktreeCommand) -> CliResult {
    let cwd = ctx.cwd()?;
    match c {
        WorktreeCommand::Create { path, branch } => {
            let store = ctx.open()?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "worktree".into());
            let branch = branch.clone().unwrap_or(name);
            let p = path.to_string_lossy();
            git(&cwd, &["worktree", "add", "-b", &branch, &p])?;
            let beads = path.join(".beads");
            std::fs::create_dir_all(&beads)
                .and_then(|_| {
                    std::fs::write(
                        beads.join("redirect"),
                        format!("{}\n", store.dir().display()),
                    )
                })
                .map_err(|e| CliError::other(format!("cannot write {}: {e}", beads.display())))?;
            ctx.print(
                &json!({"path": p, "branch": branch, "beads": store.dir().display().to_string()}),
                || {
                    format!(
                        "Created worktree {p} on branch {branch}; it shares the ledger {}",
                        store.dir().display()
                    )
                },
            );
        }
        WorktreeCommand::Remove { path, force } => {
            let p = path.to_string_lossy();
            let mut args = vec!["worktree", "remove"];
            if *force {
                args.push("--force");
            }
            // The redirect is ours, not the user's work.
            let _ = std::fs::remove_file(path.join(".beads/redirect"));
            let _ = std::fs::remove_dir(path.join(".beads"));
            args.push(&p);
            git(&cwd, &args)?;
            ctx.print(&json!({"path": p, "removed": true}), || {
                format!("Removed worktree {p}")
            });
        }
        WorktreeCommand::List => {
            let out = git(&cwd, &["worktree", "list", "--porcelain"])?;
            let v: Vec<String> = out
                .lines()
                .filter_map(|l| l.strip_prefix("worktree "))
                .map(String::from)
                .collect();
            ctx.print(&v, || v.join("\n"));
        }
    }
    Ok(())
}

#[derive(Subcommand, Debug)]
pub enum DoltCommand {
    /// The store: path, schema, health (there is no server).
    Status,
    /// Nothing to start: the store is embedded.
    Start,
    /// Nothing to stop: the store is embedded.
    Stop,
    /// Nothing to kill: no server processes exist.
    Killall,
    /// Export and commit the ledger (what `bd sync` does).
    Push,
    /// Import the ledger from issues.jsonl (what `bd import` does).
    Pull,
}

#[derive(Subcommand, Debug)]
pub enum DaemonsCommand {
    /// Running bd daemons: none, the store is embedded.
    List,
    /// Stop all bd daemons: there are none.
    Killall,
    /// Daemon health: there is nothing to check but the store.
    Health,
}

pub const NO_SERVER: &str = "bd uses an embedded SQLite store; no server or daemon is needed";

pub fn dolt(ctx: &Ctx, c: &DoltCommand) -> CliResult {
    match c {
        DoltCommand::Status => return store_status(ctx, &ctx.open()?),
        DoltCommand::Start | DoltCommand::Stop | DoltCommand::Killall => {
            ctx.print(
                &json!({"ok": true, "server": null, "message": NO_SERVER}),
                || NO_SERVER.into(),
            );
        }
        DoltCommand::Push => {
            return super::bd_sync::sync(
                ctx,
                &super::bd_sync::SyncArgs {
                    message: None,
                    status: false,
                    local: false,
                },
            );
        }
        DoltCommand::Pull => return super::bd_sync::import(ctx),
    }
    Ok(())
}

pub fn daemons(ctx: &Ctx, c: &DaemonsCommand) -> CliResult {
    let v = match c {
        DaemonsCommand::List => json!([]),
        DaemonsCommand::Killall => json!({"killed": 0, "message": NO_SERVER}),
        DaemonsCommand::Health => json!({"healthy": true, "daemons": 0, "message": NO_SERVER}),
    };
    ctx.print(&v, || match c {
        DaemonsCommand::List => format!("No daemons running ({NO_SERVER})"),
        _ => NO_SERVER.into(),
    });
    Ok(())
}

/// `bd update --labels`: replace the issue's labels with `want`.
pub fn set_labels(
    tx: &crate::store::Tx<'_>,
    id: &str,
    want: &[String],
) -> Result<(), crate::store::StoreError> {
    let have = issues::get(tx.conn(), id)?.labels;
    for l in have.iter().filter(|l| !want.contains(l)) {
        tx.remove_label(id, l)?;
    }
    for l in want.iter().filter(|l| !have.contains(l)) {
        tx.add_label(id, l)?;
    }
    Ok(())
}

/// `bd sync --status`: is issues.jsonl current, and is it committed?
pub fn sync_status(ctx: &Ctx, store: &Store) -> CliResult {
    let path = store.jsonl_path();
    let on_disk = crate::store::sync::read_jsonl(store);
    let current =
        crate::store::jsonl::render(store.conn()).map_err(|e| CliError::other(e.to_string()))?;
    let exported = on_disk.as_deref() == Some(current.as_str());
    let committed = git2::Repository::discover(store.dir())
        .ok()
        .and_then(|repo| {
            let workdir = repo.workdir()?.canonicalize().ok()?;
            let rel = path
                .canonicalize()
                .ok()?
                .strip_prefix(&workdir)
                .ok()?
                .to_path_buf();
            let st = repo.status_file(&rel).ok()?;
            Some(st.is_empty())
        });
    let v =
        json!({"jsonl": path.display().to_string(), "exported": exported, "committed": committed});
    ctx.print(&v, || {
        format!(
            "{}: {}; {}",
            path.display(),
            if exported {
                "up to date"
            } else {
                "behind the store (run `bd export`)"
            },
            match committed {
                Some(true) => "committed",
                Some(false) => "has uncommitted changes (run `bd sync`)",
                None => "not in a git repository",
            }
        )
    });
    Ok(())
}

/// `dolt status` (bd and gt): the embedded store's path, schema and health.
pub fn store_status(ctx: &Ctx, store: &Store) -> CliResult {
    let i = info_of(store)?;
    let checks = health(store)?;
    let healthy = checks.iter().all(|c| c.ok);
    let v = json!({"running": false, "server": null, "embedded": true, "path": i.database_path,
        "schema_version": i.schema_version, "healthy": healthy, "checks": checks});
    ctx.print(&v, || {
        format!(
            "No server: the store is embedded.\n  path: {}\n  schema: version {}\n  health: {}",
            i.database_path,
            i.schema_version,
            if healthy {
                "ok"
            } else {
                "problems (run `bd doctor`)"
            }
        )
    });
    Ok(())
}

/// The reaper's ages as given on the command line.
pub struct ReapAges<'a> {
    pub max_age: &'a str,
    pub purge_age: &'a str,
    pub mail_age: &'a str,
    pub stale_age: &'a str,
    pub dry_run: bool,
}

fn age(flag: &str, s: &str) -> CliResult<i64> {
    crate::formula::expr::duration::parse_duration(s)
        .map(|n| n as i64)
        .map_err(|e| {
            CliError::usage(
                format!("--{flag} `{s}`: {e}"),
                Some("e.g. 30m, 24h, 7d".into()),
            )
        })
}

/// `gt reaper CMD`: run it, or list the databases.
pub fn reap(store: &mut Store, cmd: &str, a: &ReapAges<'_>) -> CliResult<serde_json::Value> {
    if cmd == "databases" {
        let i = info_of(store)?;
        return Ok(
            json!({"databases": [{"name": i.prefix, "path": i.database_path,
            "backend": "sqlite", "issues": i.issue_count}]}),
        );
    }
    let ages = crate::coord::reaper::Ages {
        max_age: age("max-age", a.max_age)?,
        purge_age: age("purge-age", a.purge_age)?,
        mail_age: age("mail-age", a.mail_age)?,
        stale_age: age("stale-age", a.stale_age)?,
    };
    let r = crate::coord::reaper::run(store, cmd, ages, a.dry_run || cmd == "scan")?;
    Ok(serde_json::to_value(r).unwrap_or_default())
}
