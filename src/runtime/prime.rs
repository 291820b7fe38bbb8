//! What a session is told: the rendered step (title, description, vars,
//! how to finish), and `gt prime`'s role context plus hooked work.
//!
//! Every prime stays under [`BUDGET`] bytes (Claude Code cuts hook output
//! over about 10,000 characters to a 2 KB preview): long sections are cut
//! with a line saying what was left out and which command shows it.

use super::identity::{self, Identity};
use super::RuntimeError;
use crate::molecule;
use crate::store::{issues, Issue, IssueType, Status, Store};
use crate::town::{DoneMode, Town};
use std::fmt::Write;
use std::path::Path;

/// The most bytes a prime prints.
pub const BUDGET: usize = 8000;
/// Lines per list section (agents, convoys) before "N more".
const LIST_LINES: usize = 25;
/// Unread messages shown in full per prime (bodies cut to `BODY_CHARS`).
const MAIL_SHOWN: usize = 8;
const BODY_CHARS: usize = 400;

/// The prompt for one step of a molecule.
pub fn step_prompt(step: &Issue, root: &Issue, done: DoneMode, lease: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Step {}: {}", step.id, step.title);
    let _ = writeln!(
        s,
        "\nMolecule: {} ({}){}",
        root.id,
        root.title,
        root.metadata
            .get("formula")
            .and_then(|f| f.as_str())
            .map(|f| format!(", formula `{f}`"))
            .unwrap_or_default()
    );
    if !step.description.trim().is_empty() {
        let _ = writeln!(s, "\n{}", step.description.trim());
    }
    if !step.acceptance_criteria.trim().is_empty() {
        let _ = writeln!(s, "\nAcceptance:\n{}", step.acceptance_criteria.trim());
    }
    if let Some(vars) = root.metadata.get("vars").and_then(|v| v.as_object()) {
        if !vars.is_empty() {
            let _ = writeln!(s, "\nVars:");
            for (k, v) in vars {
                let _ = writeln!(
                    s,
                    "- {k} = {}",
                    v.as_str()
                        .map(|x| x.to_string())
                        .unwrap_or_else(|| v.to_string())
                );
            }
        }
    }
    if let Some(run) = step
        .metadata
        .get("step")
        .and_then(|st| st.get("run"))
        .and_then(|r| r.as_str())
    {
        let _ = writeln!(s, "\nCommand for this step:\n    {run}");
    }
    let _ = writeln!(s, "\n## How to finish");
    match done {
        DoneMode::Close => {
            let _ = writeln!(
                s,
                "When the work is done, run `bd close {}` (your lease is GT_LEASE={lease}), then exit.",
                step.id
            );
        }
        DoneMode::Exit => {
            let _ = writeln!(s, "When the work is done, exit with status 0. Exit non-zero if you cannot finish; the step is retried, then escalated.");
        }
    }
    let _ = writeln!(
        s,
        "Work only on this step. Do not close other steps. Commit your work in this worktree."
    );
    s
}

/// The first prompt of a polecat whose CLI primes itself through its
/// `SessionStart` hook: short, because the context is already there.
pub fn polecat_beacon(address: &str, bead: &str) -> String {
    format!(
        "You are {address}. {bead} is on your hook; your context (gt prime) is above. \
         Work it now, step by step: close each step with `bd close STEP` as you finish it \
         (`gt prime` shows the next one), then run `gt done`."
    )
}

/// `gt prime`: the role's context and the hooked work.
pub fn prime_text(
    role: &str,
    address: &str,
    hooked: Option<&Issue>,
    molecule: Option<&crate::molecule::MolView>,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "[GAS TOWN] You are {address} (role: {role}).");
    match role {
        "polecat" => {
            let _ = writeln!(s, "AUTONOMOUS WORK MODE: work on the bead on your hook now; do not ask questions. Record findings with `bd update --notes`, file new work with `bd create`. When done, run `gt done` (it commits leftover work and hands your branch to the merge queue). Never push to main.");
        }
        "mayor" => {
            let _ = writeln!(s, "You are the town's chief of staff: split goals into beads (`bd create`), group them in a convoy (`gt convoy create NAME BEAD... --notify mayor`), and hand each to a rig with `gt sling BEAD RIG`; polecats do the work and the refinery merges it. Watch with `gt convoy status`, `gt agents`, `gt mail inbox`. Do not write code yourself.");
        }
        "crew" => {
            let _ = writeln!(s, "You are a crew member: a person's worktree. Work as asked; `bd ready` shows open work, `gt sling` hands work to polecats.");
        }
        "witness" => {
            let _ = writeln!(s, "You are the rig's witness: watch its polecats (`gt agents`, `gt peek NAME`), nudge stuck ones (`gt nudge ADDRESS \"...\"`), and escalate to the mayor (`gt mail send mayor -s ...`). Do not do their work.");
        }
        "refinery" => {
            let _ = writeln!(s, "You are the rig's refinery: merge what polecats hand in, in queue order (`gt mq list`, `gt mq process`). Reject what fails its gates with a reason.");
        }
        "deacon" => {
            let _ = writeln!(s, "You are the deacon: run the town's patrol (your hooked wisp's steps), keep the town healthy (`gt doctor`), and report to the mayor.");
        }
        _ => {
            let _ = writeln!(s, "Use `bd` for the ledger and `gt` for the town.");
        }
    }
    match hooked {
        None if role == "polecat" => {
            let _ = writeln!(s, "\nYour hook is empty: nothing to do.");
        }
        None => {}
        Some(b) => {
            let _ = writeln!(s, "\n## On your hook: {} — {}", b.id, b.title);
            let _ = writeln!(s, "status: {}", b.status);
            if !b.description.trim().is_empty() {
                let _ = writeln!(s, "\n{}", b.description.trim());
            }
            if b.status == Status::Closed {
                let _ = writeln!(s, "\nThis bead is CLOSED: do not work on it.");
            }
        }
    }
    if let Some(m) = molecule {
        let _ = writeln!(
            s,
            "\n## Checklist ({} of {} done)",
            m.counts.done, m.counts.total
        );
        for st in &m.steps {
            let mark = match st.state {
                crate::molecule::StepState::Done => "[x]",
                crate::molecule::StepState::Current => "[>]",
                _ => "[ ]",
            };
            let _ = writeln!(
                s,
                "{}{mark} {} {}",
                "  ".repeat(st.depth.saturating_sub(1)),
                st.id,
                st.title
            );
        }
        match &m.next_step {
            Some(n) => {
                let _ = writeln!(s, "\nNext ready step: {} — {}", n.id, n.title);
            }
            None => {
                let _ = writeln!(s, "\nNo step is ready.");
            }
        }
    }
    s
}

/// `gt prime`: who you are (from the session or the cwd), your hooked work,
/// and for the Mayor the town at a glance; then unread mail and queued
/// nudges (marked read/delivered: they are in your context now).
pub fn prime(town: &Town, cwd: &Path) -> Result<String, RuntimeError> {
    let mut store = town.store()?;
    let me = identity::whoami(town, &store, cwd)?;
    let bead = match me.row.as_ref().and_then(|r| r.hooked_bead.clone()) {
        Some(b) => Some(issues::get(store.conn(), &b)?),
        None => None,
    };
    let mol = match &bead {
        Some(b) if b.status != Status::Closed => {
            let root = issues::root_of(store.conn(), &b.id)?;
            if issues::get(store.conn(), &root)?.issue_type == IssueType::Molecule {
                molecule::current(&store, Some(&root), &me.address()).ok()
            } else {
                None
            }
        }
        _ => None,
    };
    let mut text = prime_text(&me.role, &me.address(), bead.as_ref(), mol.as_ref());
    if me.role == "mayor" {
        text.push_str(&town_overview(town, &store)?);
    }
    text.push_str(&mail_section(&mut store, &me)?);
    Ok(fit(text))
}

/// The Mayor's view: rigs, agents and their hooks, active convoys.
fn town_overview(town: &Town, store: &Store) -> Result<String, RuntimeError> {
    let mut s = format!("\n## Town {}\n", town.root.display());
    let rigs: Vec<String> = crate::town::rigs::list(store)?
        .into_iter()
        .map(|r| r.name)
        .collect();
    let _ = writeln!(
        s,
        "Rigs: {}",
        if rigs.is_empty() {
            "(none: `gt rig add NAME URL`)".to_string()
        } else {
            rigs.join(", ")
        }
    );
    let agents = crate::store::agents::list(store.conn())?;
    let _ = writeln!(s, "\n## Agents ({})", agents.len());
    let mut lines = Vec::new();
    for a in &agents {
        let alive = a.pid.is_some_and(|p| super::proc::alive(p, a.pid_start));
        let hook = match &a.hooked_bead {
            Some(b) => {
                let title = issues::get(store.conn(), b)
                    .map(|i| i.title)
                    .unwrap_or_default();
                format!(" hook {b} {}", cut(&title, 60))
            }
            None => String::new(),
        };
        lines.push(format!(
            "- {} {}{}{hook}",
            a.address(),
            a.state,
            if alive { " (live)" } else { "" }
        ));
    }
    push_list(&mut s, lines, "gt agents");
    let convoys = crate::coord::convoy::list(store.conn(), false)?;
    let _ = writeln!(s, "\n## Active convoys ({})", convoys.len());
    let lines = convoys
        .iter()
        .map(|c| {
            format!(
                "- {} {}: {} of {} merged ({} done, {} in progress, {} open, {} blocked)",
                c.id,
                cut(&c.name, 60),
                c.progress.merged,
                c.progress.total,
                c.progress.done,
                c.progress.in_progress,
                c.progress.open,
                c.progress.blocked
            )
        })
        .collect();
    push_list(&mut s, lines, "gt convoy list");
    Ok(s)
}

fn push_list(s: &mut String, lines: Vec<String>, more: &str) {
    let n = lines.len();
    for l in lines.iter().take(LIST_LINES) {
        let _ = writeln!(s, "{l}");
    }
    if n > LIST_LINES {
        let _ = writeln!(s, "({} more not shown: `{more}`)", n - LIST_LINES);
    }
}

/// Unread mail and queued nudges, injected once (bounded).
fn mail_section(store: &mut Store, me: &Identity) -> Result<String, RuntimeError> {
    let addr = me.mail_address();
    let unread = crate::coord::mail::inbox(store.conn(), &addr, true, 0)?.unread;
    let gen = me.row.as_ref().map(|r| r.generation);
    let check = crate::coord::mail::check(store, &addr, gen, true, MAIL_SHOWN)?;
    let mut s = crate::coord::mail::render_inject_bounded(&check, BODY_CHARS);
    let shown = (check.fresh.len() + check.stale.len()) as i64;
    if unread > shown {
        let _ = writeln!(
            s,
            "({} more unread message(s) not shown: `gt mail inbox`)",
            unread - shown
        );
    } else if unread == 0 && me.role == "mayor" {
        s.push_str("\nNo unread mail.\n");
    }
    Ok(s)
}

fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

/// Keep a prime under [`BUDGET`] bytes, saying what was cut.
pub fn fit(text: String) -> String {
    if text.len() <= BUDGET {
        return text;
    }
    let note = "\n[prime cut at 8 KB; see `gt hook`, `gt mail inbox`, `gt convoy list`, `gt agents` for the rest]\n";
    let mut end = BUDGET - note.len();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{note}", &text[..end])
}

#[cfg(test)]
mod tests {
    #[test]
    fn fit_keeps_short_and_cuts_long_with_a_note() {
        assert_eq!(super::fit("abc".into()), "abc");
        let long = "é".repeat(9000);
        let f = super::fit(long);
        assert!(f.len() <= super::BUDGET, "{}", f.len());
        assert!(f.contains("prime cut at 8 KB"));
    }
}
