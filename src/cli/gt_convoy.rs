//! `gt convoy create|list|status|add|close`.

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
        /// Also mail this address when the convoy lands (repeatable).
        #[arg(long)]
        notify: Vec<String>,
        /// A human-owned convoy (the overseer cares about it).
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
    /// One convoy and every tracked bead's state.
    #[command(alias = "show")]
    Status { id: String },
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

pub fn run(cmd: &ConvoyCommand, json: bool) -> i32 {
    let ctx = super::gt_coord::ctx(json);
    finish(json, run_inner(&ctx, cmd))
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
            let notify = convoy::check_notify(&dir, notify)?;
            let owner = match owner {
                Some(o) => dir.parse(o)?.to_string(),
                None => store.actor().to_string(),
            };
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
            let st = convoy::status(store.conn(), store.prefix(), id)?;
            ctx.print(&st, || render_status(&st));
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
