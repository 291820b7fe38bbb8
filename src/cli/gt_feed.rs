//! `gt feed [--follow] [--json] [--since T] [--all] [--problems]`.

use super::bd::{CliError, CliResult, Ctx};
use super::gt_coord::finish;
use crate::coord::feed::{self, FeedEvent, FeedQuery, Thresholds};
use crate::store::ids;
use clap::Args;
use std::io::Write;

#[derive(Args, Debug)]
pub struct FeedArgs {
    /// Keep printing new events as they happen.
    #[arg(short, long)]
    pub follow: bool,
    /// Plain lines without colour (the only text format).
    #[arg(long)]
    pub plain: bool,
    /// Only events since a time (2026-03-01T12:00:00) or an age (30m, 2h, 1d).
    #[arg(long)]
    pub since: Option<String>,
    /// Include the ledger's own events (created, updated, closed, ...).
    #[arg(long)]
    pub all: bool,
    /// Only the last N events.
    #[arg(short = 'n', long)]
    pub limit: Option<usize>,
    /// Dead, zombie, stuck and stalled agents (process identity checked), and open escalations.
    #[arg(long)]
    pub problems: bool,
    /// With --problems: no progress for this long is "stalled".
    #[arg(long, default_value = "15m")]
    pub stalled: String,
    /// With --problems: no progress for this long is "stuck".
    #[arg(long, default_value = "30m")]
    pub stuck: String,
}

fn now_secs() -> i64 {
    ids::parse_secs(&ids::now()).unwrap_or(0)
}

fn human(e: &FeedEvent) -> String {
    format!("{}  {}", e.at.get(11..19).unwrap_or(&e.at), e.text)
}

fn dur(s: &str, flag: &str) -> CliResult<i64> {
    crate::formula::expr::duration::parse_duration(s)
        .map(|v| v as i64)
        .map_err(|e| CliError::usage(format!("{flag} `{s}`: {}", e.message), e.help))
}

pub fn run(a: &FeedArgs, json: bool) -> i32 {
    let ctx = super::gt_coord::ctx(json);
    finish(json, run_inner(&ctx, a))
}

fn run_inner(ctx: &Ctx, a: &FeedArgs) -> CliResult {
    let store = ctx.open()?;
    if a.problems {
        let th = Thresholds {
            stalled_secs: dur(&a.stalled, "--stalled")?,
            stuck_secs: dur(&a.stuck, "--stuck")?,
        };
        let v = feed::problems(store.conn(), now_secs(), th)?;
        ctx.print(&v, || {
            if v.is_empty() {
                return "no problems: nothing dead, zombie, stuck or stalled".into();
            }
            v.iter()
                .map(|p| {
                    format!(
                        "{:<10} {:<28} {:<8} since {}  {}",
                        p.kind,
                        p.agent,
                        p.pid.map_or("-".into(), |p| format!("pid {p}")),
                        p.since.get(..19).unwrap_or(&p.since),
                        p.why
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        });
        return Ok(());
    }
    let since = match &a.since {
        Some(s) => Some(feed::parse_since(s, now_secs()).map_err(|m| CliError::usage(m, None))?),
        None => None,
    };
    let mut q = FeedQuery {
        after_id: 0,
        since,
        all: a.all,
        limit: a.limit,
    };
    let out = std::io::stdout();
    loop {
        let events = feed::read(store.conn(), &q)?;
        let mut lock = out.lock();
        for e in &events {
            let line = if ctx.json {
                serde_json::to_string(e).unwrap_or_default()
            } else {
                human(e)
            };
            if writeln!(lock, "{line}").is_err() {
                return Ok(()); // reader went away (e.g. `| head`)
            }
        }
        let _ = lock.flush();
        if !a.follow {
            return Ok(());
        }
        q.after_id = events
            .last()
            .map(|e| e.id)
            .unwrap_or(q.after_id.max(feed::last_event_id(store.conn())?));
        q.limit = None;
        q.since = None;
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}
