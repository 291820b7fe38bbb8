//! `bd mol step` / `gt mol step`: moves an agent makes inside its running
//! molecule: `respawn` (loop a patrol back to a step), `emit-event` and
//! `await-signal`/`await-event` (wake-ups through the event log), and
//! `context-check` (is the session's context filling up?).

use super::bd::{CliError, CliResult, Ctx};
use crate::coord::agent_state::{self, Change};
use crate::store::events::TownEvent;
use crate::store::Store;
use clap::Subcommand;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[derive(Subcommand, Debug)]
pub enum StepCommand {
    /// Start the next cycle at TARGET: it and every step after it are open again.
    Respawn {
        /// The step to loop back to (its formula step id or issue id).
        #[arg(long)]
        target: String,
        /// The molecule (default: $GT_MOLECULE, else the one you work on).
        #[arg(long)]
        mol: Option<String>,
    },
    /// Signal a channel (a `signal` event in the town's log).
    EmitEvent {
        #[arg(long)]
        channel: String,
        /// The signal (e.g. PATROL_WAKE).
        #[arg(long = "type")]
        signal: String,
        /// KEY=VALUE (repeatable).
        #[arg(long, value_name = "KEY=VALUE")]
        payload: Vec<String>,
    },
    /// Wait for any activity in the town's log, or a timeout. With
    /// --agent-bead and --backoff-*, the timeout grows with the bead's
    /// `idle` state (base * mult^idle, at most max), and a timeout adds one to it.
    AwaitSignal {
        #[arg(long, default_value = "60s")]
        timeout: String,
        #[arg(long)]
        backoff_base: Option<String>,
        #[arg(long, default_value_t = 2)]
        backoff_mult: u32,
        #[arg(long)]
        backoff_max: Option<String>,
        #[arg(long)]
        agent_bead: Option<String>,
        #[arg(long)]
        quiet: bool,
    },
    /// Wait for a signal on one channel, or a timeout.
    AwaitEvent {
        #[arg(long)]
        channel: String,
        #[arg(long, default_value = "60s")]
        timeout: String,
    },
    /// How full this session's context is; exit 1 at --threshold percent
    /// or more (time to `gt handoff`).
    ContextCheck {
        #[arg(long, default_value_t = 75)]
        threshold: u32,
    },
}

fn secs(s: &str) -> CliResult<u64> {
    crate::formula::expr::duration::parse_duration(s).map_err(|e| {
        CliError::usage(
            format!("invalid duration `{s}`: {e}"),
            Some("e.g. 30s, 15m, 1h".into()),
        )
    })
}

fn last_event(store: &Store) -> CliResult<i64> {
    Ok(store
        .conn()
        .query_row("SELECT coalesce(max(id), 0) FROM events", [], |r| r.get(0))
        .map_err(crate::store::StoreError::from)?)
}

/// Poll the log for an event after `after` (on `channel`, if given).
fn wait(
    store: &Store,
    after: i64,
    channel: Option<&str>,
    timeout: Duration,
) -> CliResult<Option<(i64, String, String)>> {
    let t0 = Instant::now();
    loop {
        let hit: Option<(i64, String, String)> = store
            .conn()
            .query_row(
                "SELECT id, issue_id, kind FROM events WHERE id > ?1 AND (?2 IS NULL OR issue_id = ?2) ORDER BY id LIMIT 1",
                rusqlite::params![after, channel.map(|c| format!("channel:{c}"))],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .ok();
        if hit.is_some() {
            return Ok(hit);
        }
        if t0.elapsed() >= timeout {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub fn run(ctx: &Ctx, c: &StepCommand) -> CliResult {
    let mut store = ctx.open()?;
    match c {
        StepCommand::Respawn { target, mol } => {
            let within = match mol
                .clone()
                .or_else(|| std::env::var("GT_MOLECULE").ok().filter(|m| !m.is_empty()))
            {
                Some(m) => m,
                None => {
                    crate::molecule::current::current(&store, None, store.actor())?
                        .root
                        .id
                }
            };
            let r = crate::molecule::step::respawn(&mut store, &within, target)?;
            ctx.exported(&mut store)?;
            ctx.print(&r, || {
                format!(
                    "next cycle of {} starts at {}: {} step(s) open again",
                    r.molecule,
                    r.target,
                    r.reopened.len()
                )
            });
        }
        StepCommand::EmitEvent {
            channel,
            signal,
            payload,
        } => {
            crate::coord::address::check_segment("channel", channel)?;
            let mut p = BTreeMap::new();
            for kv in payload {
                let (k, v) = kv.split_once('=').ok_or_else(|| {
                    CliError::usage(
                        format!("`{kv}` is not KEY=VALUE"),
                        Some("e.g. --payload source=witness".into()),
                    )
                })?;
                p.insert(k.to_string(), v.to_string());
            }
            let ev = TownEvent::Signal {
                channel: channel.clone(),
                signal: signal.clone(),
                payload: p,
            };
            store.write(|tx| tx.emit(&format!("channel:{channel}"), &ev))?;
            ctx.print(&ev, || format!("signalled {signal} on {channel}"));
        }
        StepCommand::AwaitSignal {
            timeout,
            backoff_base,
            backoff_mult,
            backoff_max,
            agent_bead,
            quiet,
        } => {
            let rigs = crate::town::rigs::names(store.conn()).unwrap_or_default();
            let bead = match agent_bead {
                Some(b) => Some(agent_state::agent_bead(&mut store, &rigs, b)?),
                None => None,
            };
            let idle: u32 = bead
                .as_ref()
                .and_then(|b| {
                    agent_state::state_of(b)
                        .get("idle")
                        .and_then(|v| v.parse().ok())
                })
                .unwrap_or(0);
            let wait_secs = match backoff_base {
                Some(base) => {
                    let grown = secs(base)?
                        .saturating_mul(u64::from(*backoff_mult).saturating_pow(idle.min(32)));
                    match backoff_max {
                        Some(m) => grown.min(secs(m)?),
                        None => grown,
                    }
                }
                None => secs(timeout)?,
            };
            let start = last_event(&store)?;
            let hit = wait(&store, start, None, Duration::from_secs(wait_secs))?;
            let mut idle_after = idle;
            if hit.is_none() {
                if let Some(b) = &bead {
                    let s = agent_state::apply(
                        &mut store,
                        &b.id,
                        &Change {
                            incr: Some("idle".into()),
                            ..Default::default()
                        },
                    )?;
                    idle_after = s
                        .state
                        .get("idle")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(idle + 1);
                }
            }
            let v = json!({
                "reason": if hit.is_some() { "signal" } else { "timeout" },
                "waited_secs": wait_secs,
                "signal": hit.as_ref().map(|(_, subject, kind)| format!("{kind} {subject}")),
                "idle_cycles": idle_after,
            });
            if !quiet {
                ctx.print(&v, || match &hit {
                    Some((_, subject, kind)) => format!("signal: {kind} on {subject}"),
                    None => format!("timeout after {wait_secs}s (idle cycles: {idle_after})"),
                });
            }
        }
        StepCommand::AwaitEvent { channel, timeout } => {
            crate::coord::address::check_segment("channel", channel)?;
            let start = last_event(&store)?;
            let hit = wait(
                &store,
                start,
                Some(channel),
                Duration::from_secs(secs(timeout)?),
            )?;
            let v = json!({"reason": if hit.is_some() { "event" } else { "timeout" }, "channel": channel});
            ctx.print(&v, || match &hit {
                Some(_) => format!("event on {channel}"),
                None => format!("timeout waiting on {channel}"),
            });
        }
        StepCommand::ContextCheck { threshold } => {
            let rt = crate::town::runtime_dir(store.dir());
            let cwd = ctx.cwd()?;
            let u = crate::runtime::usage::context_usage(
                &crate::runtime::usage::config_dir(&rt),
                &cwd,
            )?;
            let full = u.transcript.is_some() && u.percent >= *threshold;
            ctx.print(&u, || match &u.transcript {
                None => "context: unknown (no Claude Code transcript for this directory; nothing to check)".into(),
                Some(_) if full => format!(
                    "context {}% full ({} of {} tokens): hand off now (`gt handoff`)",
                    u.percent, u.used, u.window
                ),
                Some(_) => format!("context {}% full ({} of {} tokens): carry on", u.percent, u.used, u.window),
            });
            if full {
                return Err(CliError {
                    code: 1,
                    message: String::new(),
                    help: None,
                });
            }
        }
    }
    Ok(())
}
