//! `gt sling`, `gt hook` (`gt prime`, `gt done`, `gt heartbeat`: `gt_roles.rs`).

use super::gt_run::parse_vars;
use super::gt_town::{finish, print, town};
use crate::runtime::work::{self, SlingRequest};
use crate::runtime::RuntimeError;
use clap::Args;

#[derive(Args, Debug)]
pub struct SlingArgs {
    /// A bead id, or a formula to pour and sling.
    pub target: String,
    /// The rig whose polecat does the work.
    pub rig: String,
    /// Agent for this sling (overrides the rig's and the town's roles.polecat.agent).
    #[arg(long)]
    pub agent: Option<String>,
    #[arg(long = "var", value_name = "K=V")]
    pub vars: Vec<String>,
    /// Hook only; do not start the session.
    #[arg(long)]
    pub no_start: bool,
}

fn cwd() -> Result<std::path::PathBuf, RuntimeError> {
    std::env::current_dir()
        .map_err(|e| RuntimeError::Io(format!("cannot read the current directory: {e}")))
}

pub fn sling(a: &SlingArgs, json: bool) -> i32 {
    finish(
        (|| {
            let t = town()?;
            let r = work::sling(
                &t,
                &SlingRequest {
                    target: a.target.clone(),
                    rig: a.rig.clone(),
                    agent: a.agent.clone(),
                    vars: parse_vars(&a.vars)?,
                    cwd: cwd()?,
                    no_start: a.no_start,
                },
            )?;
            print(json, &r, || {
                let mut s = format!(
                    "Slung {} to {} (agent {}, generation {})\n  worktree: {} on {}",
                    r.bead, r.address, r.agent, r.generation, r.worktree, r.branch
                );
                if let Some(c) = &r.convoy {
                    s += &format!("\n  convoy: {c}");
                }
                if let Some(p) = r.pid {
                    s += &format!("\n  session pid {p}; `gt peek {}` shows its log", r.polecat);
                }
                s
            });
            Ok(())
        })(),
        json,
    )
}

pub fn hook(json: bool) -> i32 {
    finish(
        (|| {
            let v = work::hook(&town()?, &cwd()?)?;
            print(json, &v, || match &v.bead {
                Some(b) => format!(
                    "{} has {} on its hook: {} [{}]",
                    v.address, b.id, b.title, b.status
                ),
                None => format!("{}: the hook is empty", v.address),
            });
            Ok(())
        })(),
        json,
    )
}
