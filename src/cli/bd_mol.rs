//! `bd mol pour|wisp|bond|squash|burn|current|show|progress`.

use super::bd::{CliError, CliResult, Ctx};
use crate::formula::vars::parse_var_arg;
use crate::molecule::{self, bond, burn, current, squash, wisp, PourOptions, StepState};
use clap::{Args, Subcommand};
use std::collections::BTreeMap;

#[derive(Subcommand, Debug)]
pub enum MolCommand {
    /// Pour a formula (or a saved PROTO.json) into a molecule.
    Pour(PourArgs),
    /// Pour as a wisp (ephemeral: never exported); `wisp list|gc` manage them.
    Wisp(WispArgs),
    /// Bond B onto A (ids or protomolecules).
    Bond {
        a: String,
        b: String,
        /// sequential (B after A), parallel (B beside A), conditional (B if A fails).
        #[arg(long = "type", default_value = "sequential")]
        bond_type: String,
        #[arg(long = "var", value_name = "KEY=VALUE")]
        vars: Vec<String>,
    },
    /// Condense a molecule's ephemeral steps into a permanent digest.
    Squash {
        id: String,
        #[arg(long)]
        summary: Option<String>,
        #[arg(long)]
        keep_children: bool,
        #[arg(long)]
        dry_run: bool,
    },
    /// Delete molecules.
    Burn {
        #[arg(required = true)]
        ids: Vec<String>,
        /// Also delete a root that is not a molecule.
        #[arg(long)]
        force: bool,
        #[arg(long)]
        dry_run: bool,
    },
    /// Done, current, ready, blocked and pending steps, and the next step.
    Current { id: Option<String> },
    /// The molecule's steps with completion counts.
    Show { id: String },
    /// Completion counts.
    Progress { id: String },
    /// Moves inside a running molecule: respawn, emit-event, await-signal,
    /// await-event, context-check.
    #[command(subcommand)]
    Step(super::mol_step::StepCommand),
}

#[derive(Args, Debug, Clone)]
pub struct PourArgs {
    /// Formula name or PROTO.json.
    pub target: String,
    #[arg(long = "var", value_name = "KEY=VALUE")]
    pub vars: Vec<String>,
    /// Assignee of the root.
    #[arg(long)]
    pub assignee: Option<String>,
    /// Show what would be created.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct WispArgs {
    #[command(subcommand)]
    pub sub: Option<WispSub>,
    #[command(flatten)]
    pub pour: Option<PourArgs>,
}

#[derive(Subcommand, Debug)]
pub enum WispSub {
    /// List wisps.
    List,
    /// Pour a formula as a wisp (the same as `bd mol wisp FORMULA`).
    Create(PourArgs),
    /// Delete idle wisps.
    Gc {
        /// Idle longer than this: e.g. 30m, 1h, 2d (default 1h).
        #[arg(long, default_value = "1h")]
        age: String,
        /// Also purge wisps whose steps are all closed.
        #[arg(long)]
        closed: bool,
        #[arg(long)]
        dry_run: bool,
        /// Accepted for beads: gc never asks for confirmation.
        #[arg(long)]
        force: bool,
    },
}

pub fn parse_vars(v: &[String]) -> CliResult<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for a in v {
        let (k, val) = parse_var_arg(a).map_err(|m| CliError::usage(m, None))?;
        out.insert(k, val);
    }
    Ok(out)
}

fn parse_age(s: &str) -> CliResult<i64> {
    let bad = || {
        CliError::usage(
            format!("invalid --age `{s}`"),
            Some("use a number with s, m, h or d, e.g. 30m or 2h".into()),
        )
    };
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num.parse().map_err(|_| bad())?;
    let mult = match unit {
        "s" | "" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    Ok(n * mult)
}

pub fn pour_cmd(ctx: &Ctx, a: &PourArgs, ephemeral: bool) -> CliResult {
    let vars = parse_vars(&a.vars)?;
    let mut store = ctx.open()?;
    let proto = molecule::load_proto(&a.target, &ctx.cwd()?, &vars)?;
    let opts = PourOptions {
        vars,
        assignee: a.assignee.clone(),
        ephemeral,
        dry_run: a.dry_run,
        root_id: None,
    };
    let r = molecule::pour(&mut store, &proto, &opts)?;
    if !a.dry_run && !ephemeral {
        ctx.exported(&mut store)?;
    }
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }
    ctx.print(&r, || {
        if r.dry_run {
            let mut s = format!("Would create {} issues from {}:\n", r.created, r.formula);
            for i in &r.issues {
                s += &format!("  {}  {}  {}\n", i.id, i.issue_type, i.title);
            }
            for d in &r.deps {
                s += &format!("  {} -> {} ({})\n", d.from, d.to, d.dep_type);
            }
            s
        } else {
            let kind = if ephemeral { "wisp" } else { "molecule" };
            format!(
                "Poured {} as {kind} {} ({} issues)\nNext: bd mol current {}",
                r.formula, r.new_epic_id, r.created, r.new_epic_id
            )
        }
    });
    Ok(())
}

fn state_mark(s: StepState) -> &'static str {
    match s {
        StepState::Done => "[x]",
        StepState::Current => "[>]",
        StepState::Ready => "[ ]",
        StepState::Blocked => "[!]",
        StepState::Pending => "[.]",
    }
}

pub fn run(ctx: &Ctx, c: &MolCommand) -> CliResult {
    match c {
        MolCommand::Pour(a) => pour_cmd(ctx, a, false),
        MolCommand::Step(s) => super::mol_step::run(ctx, s),
        MolCommand::Wisp(w) => match (&w.sub, &w.pour) {
            (Some(WispSub::Create(p)), _) => pour_cmd(ctx, p, true),
            (Some(WispSub::List), _) | (None, None) => {
                let store = ctx.open()?;
                let v = wisp::list(&store)?;
                ctx.print(&v, || {
                    v.iter()
                        .map(|w| {
                            format!(
                                "{}  {}  ({} issues, last activity {}{})",
                                w.root.id,
                                w.root.title,
                                w.issues,
                                w.last_activity,
                                if w.all_closed { ", all closed" } else { "" }
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                });
                Ok(())
            }
            (
                Some(WispSub::Gc {
                    age,
                    closed,
                    dry_run,
                    ..
                }),
                _,
            ) => {
                let secs = parse_age(age)?;
                let mut store = ctx.open()?;
                let r = wisp::gc(&mut store, secs, *closed, *dry_run)?;
                ctx.print(&r, || {
                    format!(
                        "{} {} wisp(s), {} issue(s)",
                        if r.dry_run { "Would delete" } else { "Deleted" },
                        r.deleted_molecules.len(),
                        r.deleted_issues
                    )
                });
                Ok(())
            }
            (None, Some(p)) => pour_cmd(ctx, p, true),
        },
        MolCommand::Bond {
            a,
            b,
            bond_type,
            vars,
        } => {
            let t = bond::BondType::parse(bond_type)?;
            let vars = parse_vars(vars)?;
            let mut store = ctx.open()?;
            let r = bond::bond(&mut store, a, b, t, &vars, &ctx.cwd()?)?;
            ctx.exported(&mut store)?;
            ctx.print(&r, || {
                format!(
                    "Bonded {} onto {} ({:?}){}",
                    r.from,
                    r.to,
                    r.bond_type,
                    r.poured
                        .as_ref()
                        .map(|p| format!(", poured {} issues", p.created))
                        .unwrap_or_default()
                )
            });
            Ok(())
        }
        MolCommand::Squash {
            id,
            summary,
            keep_children,
            dry_run,
        } => {
            let mut store = ctx.open()?;
            let r = squash::squash(&mut store, id, summary.as_deref(), *keep_children, *dry_run)?;
            ctx.exported(&mut store)?;
            ctx.print(&r, || match &r.digest {
                Some(d) => format!(
                    "Squashed {} ephemeral steps of {} into {d}",
                    r.squashed, r.root
                ),
                None if r.dry_run => {
                    format!("Would squash {} ephemeral steps of {}", r.squashed, r.root)
                }
                None => format!(
                    "No ephemeral children found under {} (nothing to do)",
                    r.root
                ),
            });
            Ok(())
        }
        MolCommand::Burn {
            ids,
            force,
            dry_run,
        } => {
            let mut store = ctx.open()?;
            let mut out = Vec::new();
            for id in ids {
                out.push(burn::burn(&mut store, id, *force, *dry_run)?);
            }
            ctx.exported(&mut store)?;
            ctx.print(&out, || {
                out.iter()
                    .map(|r| {
                        format!(
                            "{} {} ({} issues)",
                            if r.dry_run { "Would burn" } else { "Burned" },
                            r.root,
                            r.deleted.len()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            Ok(())
        }
        MolCommand::Current { id } => {
            let store = ctx.open()?;
            let v = current::current(&store, id.as_deref(), store.actor())?;
            ctx.print(&v, || render_view(&v, true));
            Ok(())
        }
        MolCommand::Show { id } => {
            let store = ctx.open()?;
            let v = current::current(&store, Some(id), store.actor())?;
            ctx.print(&v, || render_view(&v, true));
            Ok(())
        }
        MolCommand::Progress { id } => {
            let store = ctx.open()?;
            let v = current::current(&store, Some(id), store.actor())?;
            let p = serde_json::json!({"root": v.root.id, "formula": v.formula, "counts": v.counts,
                "next_step": v.next_step.as_ref().map(|s| &s.id)});
            ctx.print(&p, || render_view(&v, false));
            Ok(())
        }
    }
}

fn render_view(v: &current::MolView, steps: bool) -> String {
    let c = &v.counts;
    let mut s = format!(
        "{}: {}{}\n  {}/{} done ({}%), {} in progress, {} ready, {} blocked, {} pending\n",
        v.root.id,
        v.root.title,
        v.formula
            .as_ref()
            .map(|f| format!(" [{f}]"))
            .unwrap_or_default(),
        c.done,
        c.total,
        c.percent,
        c.current,
        c.ready,
        c.blocked,
        c.pending
    );
    if steps {
        for st in &v.steps {
            s += &format!(
                "{}{} {}  {}\n",
                "  ".repeat(st.depth),
                state_mark(st.state),
                st.id,
                st.title
            );
        }
    }
    match &v.next_step {
        Some(n) => s += &format!("next: {}  {}\n", n.id, n.title),
        None if c.done == c.total => s += "next: nothing; every step is done\n",
        None => s += "next: nothing ready\n",
    }
    s
}
