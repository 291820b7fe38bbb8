//! What a session is told: the rendered step (title, description, vars,
//! how to finish), and `gt prime`'s role context plus hooked work.

use crate::store::{Issue, Status};
use crate::town::DoneMode;
use std::fmt::Write;

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
            let _ = writeln!(s, "You are the town's chief of staff: split goals into beads (`bd create`), pour formulas (`gt pour`), and hand work to rigs with `gt sling BEAD RIG`. Watch progress with `gt status` and `gt agents`.");
        }
        _ => {
            let _ = writeln!(s, "Use `bd` for the ledger and `gt` for the town.");
        }
    }
    match hooked {
        None => {
            let _ = writeln!(s, "\nYour hook is empty: nothing to do.");
        }
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
