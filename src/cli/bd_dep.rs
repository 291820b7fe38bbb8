//! `bd dep add|remove|list|tree`.

use super::bd::{CliResult, Ctx};
use super::bd_json::Related;
use crate::store::deps::{self, TreeNode};
use crate::store::{issues, DepType};
use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum DepCommand {
    /// ISSUE depends on DEPENDS_ON.
    Add {
        issue: String,
        depends_on: String,
        /// blocks, parent-child, waits-for, conditional-blocks, related, discovered-from, tracks.
        #[arg(short = 't', long = "type", default_value = "blocks")]
        dep_type: String,
        /// For waits-for: all-children or any-children.
        #[arg(long)]
        gate: Option<String>,
    },
    /// Remove ISSUE -> DEPENDS_ON (of one type, or all).
    Remove {
        issue: String,
        depends_on: String,
        #[arg(short = 't', long = "type")]
        dep_type: Option<String>,
    },
    /// What an issue depends on (`--direction up`: what depends on it).
    List {
        issue: String,
        /// down: its dependencies; up: its dependents.
        #[arg(long, default_value = "down", value_parser = ["down", "up"])]
        direction: String,
        /// Only edges of this type.
        #[arg(short = 't', long = "type")]
        dep_type: Option<String>,
    },
    /// The dependency tree of an issue.
    Tree {
        issue: String,
        /// Show what depends on the issue instead.
        #[arg(long)]
        reverse: bool,
        #[arg(long, default_value = "10")]
        depth: usize,
    },
}

fn render(n: &TreeNode, indent: usize, out: &mut String) {
    let t = n.dep_type.map(|t| format!("[{t}] ")).unwrap_or_default();
    let seen = if n.seen { " (see above)" } else { "" };
    out.push_str(&format!(
        "{}{t}{} {} ({}){seen}\n",
        "  ".repeat(indent),
        n.id,
        n.title,
        n.status
    ));
    for c in &n.children {
        render(c, indent + 1, out);
    }
}

pub fn run(ctx: &Ctx, c: &DepCommand) -> CliResult {
    let mut store = ctx.open()?;
    let r = |s: &str, store: &crate::store::Store| issues::resolve(store.conn(), store.prefix(), s);
    match c {
        DepCommand::Add {
            issue,
            depends_on,
            dep_type,
            gate,
        } => {
            let t: DepType = dep_type.parse()?;
            let meta = match gate.as_deref() {
                None => None,
                Some(g @ ("all-children" | "any-children")) if t == DepType::WaitsFor => {
                    Some(serde_json::json!({ "gate": g }))
                }
                Some(g) => {
                    return Err(super::bd::CliError::usage(
                        format!("invalid --gate `{g}`"),
                        Some(
                            "--gate takes all-children or any-children, with --type waits-for"
                                .into(),
                        ),
                    ))
                }
            };
            let (a, b) = (r(issue, &store)?, r(depends_on, &store)?);
            let added = store.write(|tx| tx.add_dep(&a, &b, t, meta.as_ref()))?;
            ctx.exported(&mut store)?;
            // beads' keys, then ours.
            ctx.print(
                &serde_json::json!({
                    "status": if added { "added" } else { "exists" },
                    "blocked_id": a, "blocker_id": b, "type": t,
                    "issue": a, "depends_on": b, "added": added,
                }),
                || {
                    if added {
                        format!("Added {a} -> {b} ({t})")
                    } else {
                        format!("{a} -> {b} ({t}) already exists (nothing to do)")
                    }
                },
            );
        }
        DepCommand::Remove {
            issue,
            depends_on,
            dep_type,
        } => {
            let t = dep_type.as_deref().map(str::parse::<DepType>).transpose()?;
            let (a, b) = (r(issue, &store)?, r(depends_on, &store)?);
            let n = store.write(|tx| tx.remove_dep(&a, &b, t))?;
            ctx.exported(&mut store)?;
            ctx.print(
                &serde_json::json!({
                    "status": if n == 0 { "absent" } else { "removed" },
                    "issue_id": a, "depends_on_id": b, "removed": n,
                }),
                || {
                    if n == 0 {
                        format!("{a} does not depend on {b} (nothing to do)")
                    } else {
                        format!("Removed {n} dependency(ies) {a} -> {b}")
                    }
                },
            );
        }
        DepCommand::List {
            issue,
            direction,
            dep_type,
        } => {
            let a = r(issue, &store)?;
            let only = dep_type.as_deref().map(str::parse::<DepType>).transpose()?;
            let up = direction == "up";
            let edges = if up {
                deps::dependents(store.conn(), &a)?
            } else {
                deps::deps_of(store.conn(), &a)?
            };
            let mut related = Vec::new();
            for d in edges
                .into_iter()
                .filter(|d| only.is_none_or(|t| d.dep_type == t))
            {
                let other = if up { &d.issue_id } else { &d.depends_on };
                related.push(Related::new(issues::get(store.conn(), other)?, d.dep_type));
            }
            // beads: an array of the related issues with `dependency_type`.
            ctx.print(&related, || {
                if related.is_empty() {
                    return format!(
                        "{a} has no {}",
                        if up { "dependents" } else { "dependencies" }
                    );
                }
                related
                    .iter()
                    .map(|x| {
                        let o = &x.issue().id;
                        let t = x.dependency_type;
                        if up {
                            format!("{o} -> {a} ({t})")
                        } else {
                            format!("{a} -> {o} ({t})")
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        DepCommand::Tree {
            issue,
            reverse,
            depth,
        } => {
            let a = r(issue, &store)?;
            let t = deps::tree(store.conn(), &a, *reverse, *depth)?;
            ctx.print(&t, || {
                let mut s = String::new();
                render(&t, 0, &mut s);
                s
            });
        }
    }
    Ok(())
}
