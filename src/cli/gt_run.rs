//! `gt run FORMULA|MOLECULE`: the foreground supervisor.

use crate::runtime::progress::{render_summary, Progress};
use crate::runtime::run::{prepare, run_prepared, Isolation, RunRequest};
use crate::runtime::scheduler::Outcome;
use crate::runtime::RuntimeError;
use clap::Args;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct RunArgs {
    /// A formula (name or *.formula.toml) to pour and run, or a molecule id to resume.
    pub target: String,
    /// Formula vars (k=v), repeatable.
    #[arg(long = "var", value_name = "K=V")]
    pub vars: Vec<String>,
    /// How many steps run at once.
    #[arg(short, long, default_value_t = 4)]
    pub jobs: usize,
    /// The agent that works the steps (default: shell, which runs each step's `run`).
    #[arg(long)]
    pub agent: Option<String>,
    /// Attempts per step before it is blocked and escalated (default 3).
    #[arg(long)]
    pub max_attempts: Option<i64>,
    /// Backoff before the first retry, in milliseconds (doubles each attempt).
    #[arg(long, default_value_t = 1000)]
    pub retry_backoff_ms: u64,
    /// Kill a step's session after this many seconds (default: the agent's timeout_secs, else none).
    #[arg(long)]
    pub step_timeout: Option<f64>,
    /// No progress display.
    #[arg(short, long)]
    pub quiet: bool,
    /// Where steps run: `auto` (a worktree per step inside a git repository),
    /// `worktree` (require one), or `none` (the current directory, no worktrees).
    #[arg(long, value_enum, default_value_t = Isolation::Auto)]
    pub isolation: Isolation,
    /// How often the supervisor looks at the store and adopted sessions (ms).
    #[arg(long, default_value_t = 50, hide = true)]
    pub tick_ms: u64,
}

pub fn err_code(e: &RuntimeError, json: bool) -> i32 {
    if json {
        let v = serde_json::json!({"error": e.to_string(), "help": e.help()});
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    }
    eprintln!("error: {e}");
    if let Some(h) = e.help() {
        eprintln!("  help: {h}");
    }
    if e.is_usage() {
        2
    } else {
        1
    }
}

pub fn parse_vars(v: &[String]) -> Result<BTreeMap<String, String>, RuntimeError> {
    let mut out = BTreeMap::new();
    for a in v {
        let (k, val) = crate::formula::vars::parse_var_arg(a)
            .map_err(|e| RuntimeError::usage(e, "write --var name=value"))?;
        out.insert(k, val);
    }
    Ok(out)
}

pub fn run(a: &RunArgs, json: bool) -> i32 {
    match run_inner(a, json) {
        Ok(code) => code,
        Err(e) => err_code(&e, json),
    }
}

fn run_inner(a: &RunArgs, json: bool) -> Result<i32, RuntimeError> {
    let cwd = std::env::current_dir()
        .map_err(|e| RuntimeError::Io(format!("cannot read the current directory: {e}")))?;
    let step_timeout = match a.step_timeout {
        Some(s) if s > 0.0 && s.is_finite() => Some(Duration::from_secs_f64(s)),
        Some(_) => {
            return Err(RuntimeError::usage(
                "--step-timeout must be a positive number of seconds",
                "e.g. --step-timeout 600",
            ))
        }
        None => None,
    };
    let req = RunRequest {
        target: a.target.clone(),
        vars: parse_vars(&a.vars)?,
        jobs: a.jobs,
        agent: a.agent.clone(),
        max_attempts: a.max_attempts,
        backoff_ms: a.retry_backoff_ms,
        step_timeout,
        cwd,
        tick: Duration::from_millis(a.tick_ms.clamp(5, 5_000)),
        isolation: a.isolation,
    };
    let mut p = prepare(&req)?;
    let quiet = a.quiet || json;
    if !quiet {
        if p.created_store {
            eprintln!("created a beads store in {}", p.store.dir().display());
        }
        let how = match &p.cfg.git {
            Some(g) => format!(
                "worktrees of {} at {}",
                g.repo.display(),
                &g.base.to_string()[..8]
            ),
            None => format!("in {}", p.cfg.workdir.display()),
        };
        eprintln!(
            "{} molecule {} with agent `{}`, {} job(s), {how}",
            if p.poured { "running new" } else { "resuming" },
            p.root,
            p.cfg.agent_name,
            p.cfg.jobs
        );
    }
    let mut prog = Progress::new(quiet);
    let summary = run_prepared(&mut p, &mut prog)?;
    prog.finish();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&summary).unwrap_or_default()
        );
    } else {
        print!("{}", render_summary(&summary));
    }
    Ok(match summary.outcome {
        Outcome::Completed => 0,
        Outcome::Interrupted => 130,
        _ => 1,
    })
}
