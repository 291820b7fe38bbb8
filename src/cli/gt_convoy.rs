//! `gt convoy create|list|status|add|close|check`; bare `gt convoy` lists.

use super::bd::{CliResult, Ctx};
use super::gt_coord::{directory, finish};
use crate::coord::convoy::{self, ConvoyStatus, ConvoySummary, NewConvoy, Progress};
use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum ConvoyCommand {
    /// Track beads together; the convoy lands when every bead is merged.
    Create {
        /// The convoy's name.
        name: String,
        /// Beads to track (any rig).
        #[arg(required = true)]
        beads: Vec<String>,
        /// Also mail this address when the convoy lands (repeatable); with
        /// no value, the convoy's owner.
        #[arg(long, num_args = 0..=1, default_missing_value = "")]
        notify: Vec<String>,
        /// A human-owned convoy: the human overseer is mailed when it lands.
        #[arg(long)]
        human: bool,
        /// Owner (gets the landing mail); default: you.
        #[arg(long)]
        owner: Option<String>,
    },
    /// Convoys with their progress (open ones; --all for landed too).
    List {
        #[arg(long)]
        all: bool,
    },
    /// One convoy and every tracked bead's state; without an id, the
    /// current convoy (the one tracking your hooked bead, else the newest open one).
    #[command(alias = "show")]
    Status { id: Option<String> },
    /// Land every open convoy (or this one) whose beads are all merged, and
    /// report the rest.
    Check {
        id: Option<String>,
        /// Report what would land without landing it.
        #[arg(long)]
        dry_run: bool,
    },
    /// Track more beads (reopens a landed convoy).
    Add {
        id: String,
        #[arg(required = true)]
        beads: Vec<String>,
    },
    /// Close a convoy by hand (it does not count as landed).
    Close {
        id: String,
        #[arg(short, long)]
        reason: Option<String>,
    },
}

fn bar(p: &Progress) -> String {
    format!(
        "{}/{} merged ({} done awaiting merge, {} in progress, {} blocked, {} open{})",
        p.merged,
        p.total,
        p.done,
        p.in_progress,
        p.blocked,
        p.open,
        if p.closed_unmerged > 0 {
            format!(", {} closed without merge", p.closed_unmerged)
        } else {
            String::new()
        }
    )
}

fn line(c: &ConvoySummary) -> String {
    let state = match c.close_reason.as_deref() {
        Some(r) if c.status == "closed" => r.to_string(),
        _ => c.status.clone(),
    };
    format!("{}  {:<8} {}  {}", c.id, state, c.name, bar(&c.progress))
}

fn render_status(s: &ConvoyStatus) -> String {
    let mut out = line(&s.summary);
    out += &format!(
        "\n  owner: {}{}",
        s.summary.owner.as_deref().unwrap_or("?"),
        if s.notify.is_empty() {
            String::new()
        } else {
            format!("  notify: {}", s.notify.join(", "))
        }
    );
    for b in &s.beads {
        out += &format!(
            "\n  {:<16} {:<15} {}{}",
            b.id,
            b.state,
            b.title,
            b.assignee
                .as_ref()
                .map(|a| format!("  @{a}"))
                .unwrap_or_default()
        );
    }
    out
}

pub fn run(cmd: Option<&ConvoyCommand>, json: bool) -> i32 {
    let ctx = super::gt_coord::ctx(json);
    let list = ConvoyCommand::List { all: false };
    finish(json, run_inner(&ctx, cmd.unwrap_or(&list)))
}

/// The convoy `gt convoy show` means with no id: the one tracking the
/// caller's hooked bead, else the newest open convoy.
fn current_convoy(ctx: &Ctx, store: &crate::store::Store) -> CliResult<String> {
    let hooked = super::gt_coord::town(ctx)?.and_then(|t| {
        let row = crate::runtime::identity::whoami_row(&t, store, &ctx.cwd().ok()?).ok()?;
        row.hooked_bead
    });
    if let Some(b) = hooked {
        if let Some(c) = convoy::convoys_tracking(store.conn(), &b)?
            .into_iter()
            .next()
        {
            return Ok(c);
        }
    }
    let open = convoy::list(store.conn(), false)?;
    match open
        .iter()
        .max_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)))
    {
        Some(c) => Ok(c.id.clone()),
        None => Err(super::bd::CliError::usage(
            "there is no current convoy: nothing on your hook is tracked and no convoy is open",
            Some("create one with `gt convoy create NAME BEAD...`, or pass an id".into()),
        )),
    }
}

fn run_inner(ctx: &Ctx, cmd: &ConvoyCommand) -> CliResult {
    let mut store = ctx.open()?;
    match cmd {
        ConvoyCommand::Create {
            name,
            beads,
            notify,
            human,
            owner,
        } => {
            let dir = directory(ctx, &store)?;
            let owner = match owner {
                Some(o) => dir.parse(o)?.to_string(),
                None => store.actor().to_string(),
            };
            let mut named: Vec<String> = Vec::new();
            for n in notify {
                // A bare `--notify` means the owner (an address, or a user = overseer).
                named.push(if n.is_empty() {
                    crate::coord::mail::identity(&owner)
                } else {
                    n.clone()
                });
            }
            if *human {
                named.push("overseer".into());
            }
            let mut notify = convoy::check_notify(&dir, &named)?;
            notify.dedup();
            let c = convoy::create(
                &mut store,
                &NewConvoy {
                    name: name.clone(),
                    beads: beads.clone(),
                    owner,
                    notify,
                    human: *human,
                    auto: false,
                },
            )?;
            ctx.exported(&mut store)?;
            let st = convoy::status(store.conn(), store.prefix(), &c.id)?;
            ctx.print(&st, || {
                format!("created convoy {}\n{}", c.id, render_status(&st))
            });
        }
        ConvoyCommand::List { all } => {
            let v = convoy::list(store.conn(), *all)?;
            ctx.print(&v, || {
                if v.is_empty() {
                    "(no convoys)".into()
                } else {
                    v.iter().map(line).collect::<Vec<_>>().join("\n")
                }
            });
        }
        ConvoyCommand::Status { id } => {
            let id = match id {
                Some(i) => i.clone(),
                None => current_convoy(ctx, &store)?,
            };
            let st = convoy::status(store.conn(), store.prefix(), &id)?;
            ctx.print(&st, || render_status(&st));
        }
        ConvoyCommand::Check { id, dry_run } => {
            let r = convoy::check(&mut store, id.as_deref(), *dry_run)?;
            if !dry_run {
                ctx.exported(&mut store)?;
            }
            ctx.print(&r, || {
                let verb = if *dry_run { "would land" } else { "landed" };
                let mut out = format!("checked {} open convoy(s)", r.checked.len());
                for c in &r.landed {
                    out += &format!("\n  {verb}: {c}");
                }
                for c in &r.waiting {
                    out += &format!("\n  waiting: {}", line(c));
                }
                out
            });
        }
        ConvoyCommand::Add { id, beads } => {
            let r = convoy::add(&mut store, id, beads)?;
            ctx.exported(&mut store)?;
            ctx.print(&r, || {
                let mut s = format!("added {} bead(s)", r.added.len());
                if !r.already.is_empty() {
                    s += &format!("; already tracked: {}", r.already.join(", "));
                }
                if r.reopened {
                    s += "; the convoy was closed and is open again";
                }
                s
            });
        }
        ConvoyCommand::Close { id, reason } => {
            let c = convoy::close(&mut store, id, reason.as_deref())?;
            ctx.exported(&mut store)?;
            ctx.print(&c, || format!("closed convoy {}", c.id));
        }
    }
    Ok(())
}
