//! `gt run FORMULA|MOLECULE`: pour if needed, then drive the molecule in the
//! foreground. Works in any directory: it uses the store `bd` would find, or
//! creates `.beads/` in the current directory.

use super::scheduler::{GitSandbox, Reporter, RunConfig, Scheduler, Summary};
use super::RuntimeError;
use crate::molecule::{self, PourOptions};
use crate::store::{issues, IssueType, Store, StoreError};
use crate::town::{self, agents, Town};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct RunRequest {
    pub target: String,
    pub vars: BTreeMap<String, String>,
    pub jobs: usize,
    pub agent: Option<String>,
    pub max_attempts: Option<i64>,
    pub backoff_ms: u64,
    pub step_timeout: Option<Duration>,
    pub cwd: PathBuf,
    pub tick: Duration,
    pub isolation: Isolation,
}

/// Where a run's steps execute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Isolation {
    /// A polecat worktree per step inside a git repository; the current
    /// directory elsewhere.
    #[default]
    Auto,
    /// A polecat worktree per step; refused outside a git repository.
    Worktree,
    /// Every step in the current directory: no worktrees (steps that need
    /// no sandbox start fastest). A step can ask for this alone with
    /// `metadata = { isolation = "none" }` in its formula.
    None,
}

/// The store `bd` would find from `cwd`, or a new `.beads/` in `cwd`.
pub fn open_or_init(cwd: &Path) -> Result<(Store, bool), RuntimeError> {
    match Store::find_dir(cwd) {
        Ok(d) => Ok((Store::open(&d)?, false)),
        Err(StoreError::NoStore { .. }) => {
            let name = cwd
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("gt")
                .to_ascii_lowercase();
            let mut prefix: String = name
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .take(8)
                .collect();
            if !crate::store::ids::valid_prefix(&prefix) {
                prefix = "gt".into();
            }
            Ok((Store::init(cwd, &prefix)?, true))
        }
        Err(e) => Err(e.into()),
    }
}

/// Is `target` a formula (file or name) rather than an issue id?
fn looks_like_formula(target: &str, cwd: &Path) -> bool {
    target.ends_with(".toml")
        || target.ends_with(".json")
        || target.contains('/')
        || cwd.join(target).is_file()
}

/// Find the molecule to run: an existing molecule (or one of its steps), or
/// a formula poured now. Returns `(root id, poured)`.
pub fn resolve_target(store: &mut Store, req: &RunRequest) -> Result<(String, bool), RuntimeError> {
    if !looks_like_formula(&req.target, &req.cwd) {
        match issues::resolve(store.conn(), store.prefix(), &req.target) {
            Ok(id) => {
                let root = issues::root_of(store.conn(), &id)?;
                let r = issues::get(store.conn(), &root)?;
                if r.issue_type != IssueType::Molecule {
                    return Err(RuntimeError::usage(
                        format!("{} is a {}, not a molecule", r.id, r.issue_type),
                        "pass a molecule id (from `gt run FORMULA` or `bd mol pour`), or a formula",
                    ));
                }
                if !req.vars.is_empty() {
                    return Err(RuntimeError::usage(
                        format!("--var cannot change molecule {root}: it was poured with its vars"),
                        "drop --var to resume it, or run the formula again for a new molecule",
                    ));
                }
                return Ok((root, false));
            }
            Err(StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let proto = molecule::load_proto(&req.target, &req.cwd, &req.vars).map_err(|e| match e {
        molecule::MolError::Cook(text) if !looks_like_formula(&req.target, &req.cwd) => {
            RuntimeError::Usage {
                message: format!("`{}` is neither an issue in this store nor a formula:\n{text}", req.target),
                help: Some("pass a molecule id (`bd list --type molecule`), a formula name (`gt formula list`), or a path to a *.formula.toml".into()),
            }
        }
        e => e.into(),
    })?;
    let res = molecule::pour(
        store,
        &proto,
        &PourOptions {
            vars: req.vars.clone(),
            ..Default::default()
        },
    )?;
    Ok((res.new_epic_id, true))
}

/// Resolve the agent for `gt run` (default `shell`), and check its program exists.
pub fn resolve_agent(
    flag: Option<&str>,
    town: Option<&Town>,
) -> Result<(String, town::AgentConfig), RuntimeError> {
    let settings = match town {
        Some(t) => Some(t.settings()?),
        None => None,
    };
    let name = flag.unwrap_or("shell").trim().to_string();
    let cfg = agents::lookup(&name, settings.as_ref(), None)?;
    check_program(&name, &cfg)?;
    Ok((name, cfg))
}

/// An agent whose command is not installed fails here, before any step is
/// touched: no retry storm, no step marked failed.
pub fn check_program(name: &str, cfg: &town::AgentConfig) -> Result<(), RuntimeError> {
    super::launch::preflight(name, cfg)
}

/// Git sandboxes when `cwd` is inside a repository with a commit.
pub fn git_sandbox(cwd: &Path, runtime_dir: &Path) -> Option<GitSandbox> {
    let repo = git2::Repository::discover(cwd).ok()?;
    let top = repo.workdir()?.canonicalize().ok()?;
    let base = repo.head().ok()?.peel_to_commit().ok()?.id();
    let cwd = cwd.canonicalize().ok()?;
    let subdir = cwd
        .strip_prefix(&top)
        .map(|p| p.to_path_buf())
        .unwrap_or_default();
    Some(GitSandbox {
        repo: top,
        base,
        worktrees: runtime_dir.join("worktrees"),
        subdir,
    })
}

/// Prepared state of a run: the store, the molecule, and the config.
pub struct Prepared {
    pub store: Store,
    pub root: String,
    pub poured: bool,
    pub created_store: bool,
    pub cfg: RunConfig,
    _lock: std::fs::File,
}

pub fn prepare(req: &RunRequest) -> Result<Prepared, RuntimeError> {
    if req.jobs == 0 {
        return Err(RuntimeError::usage(
            "--jobs must be at least 1",
            "e.g. --jobs 4",
        ));
    }
    if req.isolation == Isolation::Worktree && git_sandbox(&req.cwd, &req.cwd).is_none() {
        return Err(RuntimeError::usage(
            format!(
                "--isolation worktree needs a git repository with a commit, and {} is not in one",
                req.cwd.display()
            ),
            "run inside a git repository, or use --isolation none",
        ));
    }
    let town = Town::find(&req.cwd).ok();
    // Check the agent before touching the store: a bad agent changes nothing.
    let (agent_name, agent) = resolve_agent(req.agent.as_deref(), town.as_ref())?;
    let (mut store, created_store) = open_or_init(&req.cwd)?;
    store.set_actor(format!("supervisor:{}", std::process::id()));
    let (root, poured) = resolve_target(&mut store, req)?;
    let runtime_dir = town::runtime_dir(store.dir());
    let lock = lock_molecule(&runtime_dir, &root)?;
    let git = match req.isolation {
        Isolation::None => None,
        Isolation::Auto | Isolation::Worktree => git_sandbox(&req.cwd, &runtime_dir),
    };
    let max_attempts = req.max_attempts.or(agent.max_attempts).unwrap_or(3).max(1);
    let step_timeout = req
        .step_timeout
        .or(agent.timeout_secs.map(Duration::from_secs));
    let cfg = RunConfig {
        jobs: req.jobs,
        agent_name,
        agent,
        max_attempts,
        backoff_ms: req.backoff_ms,
        step_timeout,
        town: town.map(|t| t.root),
        rig: String::new(),
        git,
        workdir: req.cwd.clone(),
        runtime_dir,
        tick: req.tick,
    };
    Ok(Prepared {
        store,
        root,
        poured,
        created_store,
        cfg,
        _lock: lock,
    })
}

/// One supervisor per molecule: a second `gt run` on it is refused.
fn lock_molecule(runtime_dir: &Path, root: &str) -> Result<std::fs::File, RuntimeError> {
    use fs4::fs_std::FileExt;
    let dir = runtime_dir.join("locks");
    std::fs::create_dir_all(&dir)
        .map_err(|e| RuntimeError::Io(format!("{}: {e}", dir.display())))?;
    let path = dir.join(format!("run-{root}.lock"));
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .read(true)
        .open(&path)
        .map_err(|e| RuntimeError::Io(format!("{}: {e}", path.display())))?;
    if f.try_lock_exclusive().is_err() {
        let holder = std::fs::read_to_string(&path).unwrap_or_default();
        return Err(RuntimeError::usage(
            format!(
                "molecule {root} is already being run by another supervisor{}",
                if holder.trim().is_empty() {
                    String::new()
                } else {
                    format!(" (pid {})", holder.trim())
                }
            ),
            "wait for it to finish, or stop it (Ctrl-C / kill) and run `gt run` again to resume",
        ));
    }
    let _ = f.set_len(0);
    let _ = std::fs::write(&path, std::process::id().to_string());
    Ok(f)
}

/// Run a prepared molecule to the end.
pub fn run_prepared(p: &mut Prepared, rep: &mut dyn Reporter) -> Result<Summary, RuntimeError> {
    let rt = super::tokio_runtime()?;
    // The run's many small writes leave the JSONL to the scheduler's
    // periodic flush and the one below; a run that dies leaves its changes
    // logged in `jsonl_pending`, and the next command's open exports them.
    p.store.defer_export(true);
    let sched = Scheduler::new(&mut p.store, &p.root, p.cfg.clone());
    let summary = rt.block_on(sched.run(rep));
    p.store.defer_export(false);
    if let Err(e) = p.store.flush_export() {
        eprintln!("warning: the run's changes are saved, but exporting issues.jsonl failed: {e}");
        if let Some(h) = e.help() {
            eprintln!("  help: {h}");
        }
    }
    summary
}
