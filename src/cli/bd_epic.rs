//! `bd epic status|close-eligible`: open epics and how many of their
//! children (parent-child) are closed, as beads reports them.

use super::bd::{CliResult, Ctx};
use super::bd_json::EpicStatusItem;
use crate::store::details::{self, EpicProgress};
use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum EpicCommand {
    /// Open epics with children: how many are closed, which can close.
    Status {
        /// Only epics whose children are all closed.
        #[arg(long)]
        eligible_only: bool,
    },
    /// Close every open epic whose children are all closed.
    CloseEligible {
        /// Say which epics would close, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

fn progress_line(p: &EpicProgress) -> String {
    let pct = (p.closed_children * 100)
        .checked_div(p.total_children)
        .unwrap_or(0);
    let mut s = format!(
        "{} {}\n   Progress: {}/{} children closed ({pct}%)",
        p.epic.id, p.epic.title, p.closed_children, p.total_children
    );
    if p.eligible_for_close() {
        s += "\n   Eligible for closure";
    }
    s
}

pub fn run(ctx: &Ctx, c: &EpicCommand) -> CliResult {
    match c {
        EpicCommand::Status { eligible_only } => {
            let store = ctx.open()?;
            let mut epics = details::open_epics(store.conn())?;
            if *eligible_only {
                epics.retain(EpicProgress::eligible_for_close);
            }
            let text = if epics.is_empty() {
                "No open epics found".to_string()
            } else {
                epics
                    .iter()
                    .map(progress_line)
                    .collect::<Vec<_>>()
                    .join("\n\n")
            };
            let rows: Vec<EpicStatusItem> = epics.into_iter().map(Into::into).collect();
            ctx.print(&rows, || text);
            Ok(())
        }
        EpicCommand::CloseEligible { dry_run } => close_eligible(ctx, *dry_run),
    }
}

/// Like beads: with nothing eligible, or with `--dry-run`, `--json` prints
/// the eligible epics (`[]` when none); after closing, `{closed, count}`.
fn close_eligible(ctx: &Ctx, dry_run: bool) -> CliResult {
    let mut store = ctx.open()?;
    let eligible: Vec<EpicProgress> = details::open_epics(store.conn())?
        .into_iter()
        .filter(EpicProgress::eligible_for_close)
        .collect();
    if eligible.is_empty() || dry_run {
        let text = if eligible.is_empty() {
            "No epics eligible for closure".to_string()
        } else {
            let mut s = format!("Would close {} epic(s):", eligible.len());
            for p in &eligible {
                s += &format!("\n  - {}: {}", p.epic.id, p.epic.title);
            }
            s
        };
        let rows: Vec<EpicStatusItem> = eligible.into_iter().map(Into::into).collect();
        ctx.print(&rows, || text);
        return Ok(());
    }
    let ids: Vec<String> = eligible.into_iter().map(|p| p.epic.id).collect();
    store.write(|tx| {
        for id in &ids {
            tx.close(id, Some("All children completed"))?;
        }
        Ok::<_, crate::store::StoreError>(())
    })?;
    ctx.exported(&mut store)?;
    ctx.print(
        &serde_json::json!({"closed": ids, "count": ids.len()}),
        || {
            let mut s = format!("Closed {} epic(s)", ids.len());
            for id in &ids {
                s += &format!("\n  - {id}");
            }
            s
        },
    );
    Ok(())
}
