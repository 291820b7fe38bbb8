//! `gt compact [report]`, `gt costs`, `gt context --usage`.

use super::gt_town::{finish, print, town};
use crate::coord::compact;
use crate::runtime::{usage, RuntimeError};
use clap::{Args, Subcommand};
use std::collections::BTreeMap;

#[derive(Args, Debug)]
pub struct CompactArgs {
    #[command(subcommand)]
    pub report: Option<CompactCommand>,
    /// Show what would happen; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Show each wisp's decision.
    #[arg(short, long)]
    pub verbose: bool,
}

#[derive(Subcommand, Debug)]
pub enum CompactCommand {
    /// Mail the compaction digest: daily to the deacon (cc mayor), or
    /// --weekly to the mayor.
    Report {
        #[arg(long)]
        weekly: bool,
        #[arg(long)]
        dry_run: bool,
    },
}

pub fn compact_cmd(a: &CompactArgs, json: bool) -> i32 {
    finish(
        (|| {
            let t = town()?;
            let mut store = t.store()?;
            match &a.report {
                Some(CompactCommand::Report { weekly, dry_run }) => {
                    let dir = crate::coord::address::Directory::load(Some(&t), store.conn())?;
                    let d = compact::report(&mut store, &dir, *weekly, *dry_run || a.dry_run)?;
                    print(json, &d, || {
                        let mut s = format!(
                            "Compaction {} report since {}: {} run(s), {} deleted, {} promoted, {} active",
                            d.period, d.since, d.runs, d.deleted, d.promoted, d.active
                        );
                        for p in &d.promotions {
                            s += &format!("\n  promoted: {p}");
                        }
                        s += &if d.sent_to.is_empty() {
                            "\n(dry run: not sent)".to_string()
                        } else {
                            format!("\nsent to {}", d.sent_to.join(", "))
                        };
                        s
                    });
                }
                None => {
                    let r = compact::run(&mut store, a.dry_run)?;
                    print(json, &r, || {
                        let mut s = format!(
                            "{}{} deleted, {} promoted, {} active",
                            if r.dry_run { "(dry run) " } else { "" },
                            r.deleted,
                            r.promoted,
                            r.active
                        );
                        if a.verbose {
                            for d in &r.decisions {
                                s += &format!(
                                    "\n  {:<8} {} [{}; {} h] {}: {}",
                                    d.action, d.wisp, d.category, d.age_hours, d.title, d.reason
                                );
                            }
                        }
                        s
                    });
                }
            }
            Ok(())
        })(),
        json,
    )
}

#[derive(Args, Debug)]
pub struct CostsArgs {
    /// Only today's answers (UTC).
    #[arg(long, conflicts_with = "week")]
    pub today: bool,
    /// Only the last seven days.
    #[arg(long)]
    pub week: bool,
    /// Totals per role.
    #[arg(long, conflicts_with = "by_rig")]
    pub by_role: bool,
    /// Totals per rig.
    #[arg(long)]
    pub by_rig: bool,
}

pub fn costs(a: &CostsArgs, json: bool) -> i32 {
    finish(
        (|| {
            let t = town()?;
            let since = if a.today {
                crate::runtime::patrol::day(false)
            } else if a.week {
                let now = crate::store::ids::parse_secs(&crate::store::ids::now()).unwrap_or(0);
                crate::store::ids::format_micros((now - 7 * 86_400) * 1_000_000)
            } else {
                String::new()
            };
            let v = usage::costs(&t, &since)?;
            let total: f64 = v.iter().map(|c| c.usd).sum();
            let mut groups: BTreeMap<String, f64> = BTreeMap::new();
            for c in &v {
                let k = if a.by_role {
                    c.role.clone()
                } else if a.by_rig {
                    if c.rig.is_empty() {
                        "(town)".into()
                    } else {
                        c.rig.clone()
                    }
                } else {
                    c.agent.clone()
                };
                *groups.entry(k).or_insert(0.0) += c.usd;
            }
            let out = serde_json::json!({"sessions": v, "groups": groups, "total_usd": total, "since": since});
            print(json, &out, || {
                if v.is_empty() {
                    return "No usage recorded: no session of this town has a Claude Code transcript yet (other agents' CLIs report none).".into();
                }
                let mut s = String::new();
                for (k, usd) in &groups {
                    s += &format!("{k:<32} ${usd:.2}\n");
                }
                s + &format!(
                    "{:<32} ${total:.2} (estimate at published per-model rates)",
                    "total"
                )
            });
            Ok(())
        })(),
        json,
    )
}

#[derive(Args, Debug)]
pub struct ContextArgs {
    /// How full this session's context window is (the only report).
    #[arg(long)]
    pub usage: bool,
}

pub fn context(_a: &ContextArgs, json: bool) -> i32 {
    finish(
        (|| {
            let t = town()?;
            let cwd = std::env::current_dir()
                .map_err(|e| RuntimeError::Io(format!("cannot read the current directory: {e}")))?;
            let u = usage::context_usage(&usage::config_dir(&t.runtime_dir()), &cwd)?;
            print(json, &u, || match &u.transcript {
                None => {
                    "context usage: unknown (no Claude Code transcript for this directory)".into()
                }
                Some(p) => format!(
                    "context: {} of {} tokens ({}%){}\n  transcript: {}",
                    u.used,
                    u.window,
                    u.percent,
                    u.model
                        .as_ref()
                        .map(|m| format!(", model {m}"))
                        .unwrap_or_default(),
                    p.display()
                ),
            });
            Ok(())
        })(),
        json,
    )
}
