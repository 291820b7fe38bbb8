//! `gt mq list|status|retry|reject|merged|process`.

use super::bd::{CliError, CliResult, Ctx};
use super::gt_coord::{finish, town};
use crate::coord::mq::{self, MergeRequest};
use crate::coord::refinery::{self, Outcome};
use crate::coord::CoordError;
use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum MqCommand {
    /// The queue in processing order (priority, then oldest first).
    List {
        #[arg(long)]
        rig: Option<String>,
        /// Include closed (merged, rejected, dropped) merge requests.
        #[arg(long)]
        all: bool,
    },
    /// Queue summary per rig, or one merge request with its runs.
    Status { mr: Option<String> },
    /// Put a rejected, dropped or stuck merge request back in the queue.
    Retry { mr: String },
    /// Reject by hand: the bead is reopened with a MERGE REJECTION note.
    Reject {
        mr: String,
        #[arg(short, long, default_value = "rejected by hand")]
        reason: String,
    },
    /// Record that a merge request landed outside the refinery (pr strategy).
    Merged {
        mr: String,
        /// The merged commit.
        #[arg(long)]
        sha: String,
    },
    /// Run the refinery: merge queued requests until the queue is empty.
    Process {
        /// Only this rig (default: every rig of the town).
        #[arg(long)]
        rig: Option<String>,
        /// Every rig of the town (the default without --rig).
        #[arg(long, conflicts_with = "rig")]
        all: bool,
        /// Process one merge request per rig, then stop.
        #[arg(long)]
        once: bool,
    },
}

fn line(m: &MergeRequest) -> String {
    let state = match (&m.close_reason, m.status.as_str()) {
        (Some(r), "closed") => r.clone(),
        (_, "in_progress") => "processing".into(),
        (_, "open") => "queued".into(),
        (_, s) => s.to_string(),
    };
    format!(
        "{}  P{} {:<10} {:<18} {}  {}  {}",
        m.id,
        m.priority,
        m.rig,
        state,
        m.bead,
        m.branch,
        m.polecat.as_deref().unwrap_or("")
    )
}

fn outcome_line(o: &Outcome) -> String {
    match o {
        Outcome::Idle { rig } => format!("{rig}: queue empty"),
        Outcome::Merged {
            mr,
            bead,
            sha,
            landed,
        }
        | Outcome::Recovered {
            mr,
            bead,
            sha,
            landed,
        } => {
            let mut s = format!(
                "{}: {mr} merged, {bead} closed as merged at {}",
                if matches!(o, Outcome::Recovered { .. }) {
                    "recovered"
                } else {
                    "merged"
                },
                sha.get(..10).unwrap_or(sha)
            );
            if !landed.is_empty() {
                s += &format!("; convoy(s) landed: {}", landed.join(", "));
            }
            s
        }
        Outcome::Rejected {
            mr,
            bead,
            failure,
            command,
        } => {
            format!("rejected: {mr} ({failure}: {command}); {bead} reopened with a MERGE REJECTION note")
        }
        Outcome::Dropped { mr, reason } => format!("dropped: {mr}: {reason}"),
        Outcome::Pushed {
            mr, remote, branch, ..
        } => {
            format!("pushed: {mr}: {branch} -> {remote} (pr strategy; not merged)")
        }
    }
}

pub fn run(cmd: &MqCommand, json: bool) -> i32 {
    let ctx = super::gt_coord::ctx(json);
    finish(json, run_inner(&ctx, cmd))
}

fn run_inner(ctx: &Ctx, cmd: &MqCommand) -> CliResult {
    let mut store = ctx.open()?;
    match cmd {
        MqCommand::List { rig, all } => {
            let v = mq::list(store.conn(), rig.as_deref(), *all)?;
            ctx.print(&v, || {
                if v.is_empty() {
                    "(queue empty)".into()
                } else {
                    v.iter().map(line).collect::<Vec<_>>().join("\n")
                }
            });
        }
        MqCommand::Status { mr: None } => {
            let s = mq::summary(store.conn())?;
            let recent = mq::recent_runs(store.conn(), None, 10)?;
            let v = serde_json::json!({"rigs": s, "recent_runs": recent});
            ctx.print(&v, || {
                let mut out = String::new();
                if s.is_empty() {
                    out += "no merge requests queued";
                }
                for r in &s {
                    out += &format!(
                        "{}: {} queued, {} processing{}\n",
                        r.rig,
                        r.queued,
                        r.processing,
                        r.next
                            .as_ref()
                            .map(|n| format!(", next {n}"))
                            .unwrap_or_default()
                    );
                }
                for r in &recent {
                    out += &format!(
                        "\n  run {} {} {} {}{}",
                        r.id,
                        r.mr_id,
                        r.started_at,
                        r.outcome.as_deref().unwrap_or("running"),
                        r.failure
                            .as_ref()
                            .map(|f| format!(" ({f})"))
                            .unwrap_or_default()
                    );
                }
                out
            });
        }
        MqCommand::Status { mr: Some(id) } => {
            let m = mq::get(store.conn(), store.prefix(), id)?;
            let runs = mq::runs(store.conn(), &m.id)?;
            let v = serde_json::json!({"merge_request": m, "runs": runs});
            ctx.print(&v, || {
                let mut s = line(&m);
                s += &format!(
                    "\n  head {}  generation {}",
                    m.head_sha,
                    m.generation.map_or("-".into(), |g| g.to_string())
                );
                for r in &runs {
                    s += &format!(
                        "\n  run {} {} -> {}{}",
                        r.id,
                        r.started_at,
                        r.outcome.as_deref().unwrap_or("running"),
                        r.failure
                            .as_ref()
                            .map(|f| format!(" ({f}: {})", r.command.as_deref().unwrap_or("")))
                            .unwrap_or_default()
                    );
                }
                s
            });
        }
        MqCommand::Retry { mr } => {
            let m = mq::retry(&mut store, mr)?;
            ctx.exported(&mut store)?;
            ctx.print(&m, || format!("{} is queued again", m.id));
        }
        MqCommand::Reject { mr, reason } => {
            let m = mq::reject(&mut store, mr, reason)?;
            ctx.exported(&mut store)?;
            ctx.print(&m, || {
                format!(
                    "rejected {}; {} reopened with a MERGE REJECTION note",
                    m.id, m.bead
                )
            });
        }
        MqCommand::Merged { mr, sha } => {
            let landed = mq::mark_merged(&mut store, mr, sha)?;
            ctx.exported(&mut store)?;
            ctx.print(&serde_json::json!({"landed": landed}), || {
                format!(
                    "recorded the merge{}",
                    if landed.is_empty() {
                        String::new()
                    } else {
                        format!("; landed {}", landed.join(", "))
                    }
                )
            });
        }
        MqCommand::Process { rig, all: _, once } => {
            let t = town(ctx)?.ok_or_else(|| {
                CliError::usage(
                    "not inside a town: the refinery needs the rig config",
                    Some(
                        "run it inside a town (settings/config.json and .beads/), or set GT_TOWN"
                            .into(),
                    ),
                )
            })?;
            let rigs: Vec<String> = match rig {
                Some(r) => vec![r.clone()],
                // Every rig: queued requests, and pull requests waiting to merge.
                None => crate::town::rigs::names(store.conn()).map_err(CoordError::from)?,
            };
            let mut outcomes = Vec::new();
            let mut failure = None;
            for r in &rigs {
                let cfg = t.merge_config(r).map_err(CoordError::from)?;
                loop {
                    match refinery::process_next_with(&mut store, &cfg) {
                        Ok(Outcome::Idle { .. }) => break,
                        Ok(o) => {
                            if !ctx.json {
                                println!("{}", outcome_line(&o));
                            }
                            outcomes.push(o);
                            if *once {
                                break;
                            }
                        }
                        Err(e) => {
                            failure = Some(e);
                            break;
                        }
                    }
                }
                if failure.is_some() {
                    break;
                }
            }
            ctx.exported(&mut store)?;
            if ctx.json {
                ctx.print(&outcomes, String::new);
            } else if outcomes.is_empty() && failure.is_none() {
                println!("nothing to merge");
            }
            if let Some(e) = failure {
                return Err(e.into());
            }
        }
    }
    Ok(())
}
