//! The town: its layout, `settings/config.json`, rigs, crew, agent configs
//! and roles, and git worktrees (git2).
//!
//! ```text
//! <town>/
//!   .beads/                 the town store (one for every rig)
//!   .beads/runtime/         logs, session status files, pidfile (git-ignored)
//!   settings/config.json    town settings: agents, roles, default_agent, caps
//!   <rig>/config.json       rig identity: name, url, default branch, prefix
//!   <rig>/settings/config.json   rig settings (override the town's)
//!   <rig>/.repo.git         bare clone of the project
//!   <rig>/polecats/<name>   polecat worktrees
//!   <rig>/crew/<name>       crew worktrees
//! ```

pub mod agents;
pub mod git;
pub mod health;
pub mod merge;
pub mod rigs;
pub mod settings;
pub mod tree_watch;
pub mod worktree;

use crate::store::{Store, StoreError};
use std::path::{Path, PathBuf};

pub use agents::{AgentConfig, DoneMode, Provider};
pub use merge::{Gate, MergeConfig};
pub use settings::{Method, RoleSettings, Settings, StrategyKind};

#[derive(Debug, thiserror::Error)]
pub enum TownError {
    #[error("no town found (looked at $GT_TOWN and every directory from {cwd} upwards for settings/config.json)")]
    NoTown { cwd: PathBuf },
    #[error("{0} already holds a town")]
    Exists(PathBuf),
    #[error("unknown agent `{name}`")]
    UnknownAgent { name: String, valid: Vec<String> },
    #[error("unknown rig `{name}`")]
    UnknownRig { name: String, valid: Vec<String> },
    #[error("unknown role `{0}`")]
    UnknownRole(String),
    #[error("rig `{0}` already exists")]
    RigExists(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{path}: {message}")]
    BadSettings { path: PathBuf, message: String },
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("git: {0}")]
    Git(#[from] git2::Error),
    #[error("git {op} {url} failed: {message}")]
    Remote {
        op: String,
        url: String,
        message: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl TownError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TownError::Io {
            path: path.into(),
            source,
        }
    }

    pub fn help(&self) -> Option<String> {
        Some(match self {
            TownError::NoTown { .. } => {
                "create one with `gt install DIR`, then run commands inside it or set GT_TOWN=DIR"
                    .into()
            }
            TownError::Exists(_) => "pick an empty directory".into(),
            TownError::UnknownAgent { valid, .. } => format!(
                "valid agents: {}; add one with `gt config agent set NAME \"COMMAND ARGS\"`",
                valid.join(", ")
            ),
            TownError::UnknownRig { valid, .. } if valid.is_empty() => {
                "this town has no rigs yet; add one with `gt rig add NAME URL|PATH`".into()
            }
            TownError::UnknownRig { valid, .. } => format!("valid rigs: {}", valid.join(", ")),
            TownError::UnknownRole(_) => format!("valid roles: {}", agents::ROLES.join(", ")),
            TownError::RigExists(n) => {
                format!("remove it first with `gt rig remove {n}`, or pick another name")
            }
            TownError::BadSettings { .. } => {
                "fix the JSON by hand, or remove the file to get defaults back".into()
            }
            TownError::Remote { url, .. } => format!(
                "git's own message is above; check that `git ls-remote {url}` works in this shell (URL, credentials, ssh-agent, network)"
            ),
            TownError::Store(e) => return e.help(),
            _ => return None,
        })
    }
}

impl TownError {
    /// The input's fault (a name, a value, a settings file), not the system's.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            TownError::UnknownAgent { .. }
                | TownError::UnknownRig { .. }
                | TownError::UnknownRole(_)
                | TownError::RigExists(_)
                | TownError::Invalid(_)
                | TownError::BadSettings { .. }
                | TownError::Exists(_)
        )
    }
}

pub type Result<T, E = TownError> = std::result::Result<T, E>;

/// A town on disk.
#[derive(Debug, Clone)]
pub struct Town {
    pub root: PathBuf,
}

pub const SETTINGS: &str = "settings/config.json";

impl Town {
    /// `$GT_TOWN`, else the nearest directory from `cwd` upwards holding
    /// `settings/config.json` of type `town-settings`.
    pub fn find(cwd: &Path) -> Result<Town> {
        if let Some(t) = std::env::var_os("GT_TOWN").filter(|t| !t.is_empty()) {
            let root = PathBuf::from(t);
            if root.join(SETTINGS).is_file() {
                return Ok(Town { root });
            }
            return Err(TownError::NoTown { cwd: root });
        }
        let mut cur = Some(cwd);
        while let Some(d) = cur {
            if is_town(d)? {
                return Ok(Town {
                    root: d.to_path_buf(),
                });
            }
            cur = d.parent();
        }
        Err(TownError::NoTown {
            cwd: cwd.to_path_buf(),
        })
    }

    /// `gt install DIR [--git]`: layout, settings, the town store.
    pub fn install(dir: &Path, git: bool) -> Result<Town> {
        std::fs::create_dir_all(dir).map_err(|e| TownError::io(dir, e))?;
        let root = dir.canonicalize().map_err(|e| TownError::io(dir, e))?;
        if root.join(SETTINGS).exists() && root.join(".beads").exists() {
            return Err(TownError::Exists(root));
        }
        let settings = Settings {
            kind: "town-settings".into(),
            version: 1,
            default_agent: Some("claude".into()),
            ..Default::default()
        };
        settings.save(&root.join(SETTINGS))?;
        let name = root
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("town")
            .to_string();
        std::fs::write(
            root.join("town.json"),
            serde_json::to_string_pretty(&serde_json::json!({"name": name, "version": 1}))
                .unwrap_or_default()
                + "\n",
        )
        .map_err(|e| TownError::io(&root, e))?;
        if !root.join(".beads").join(crate::store::CONFIG_FILE).exists() {
            Store::init(&root, "hq")?;
        }
        if git {
            first_commit(&root).map_err(|e| {
                TownError::Invalid(format!(
                    "cannot make {} a git repository with a first commit: {}",
                    root.display(),
                    e.message()
                ))
            })?;
        }
        Ok(Town { root })
    }

    pub fn settings_path(&self) -> PathBuf {
        self.root.join(SETTINGS)
    }
    pub fn settings(&self) -> Result<Settings> {
        Settings::load(&self.settings_path())
    }
    pub fn rig_dir(&self, rig: &str) -> PathBuf {
        self.root.join(rig)
    }
    pub fn rig_settings(&self, rig: &str) -> Result<Settings> {
        Settings::load(&self.rig_dir(rig).join(SETTINGS))
    }
    pub fn beads_dir(&self) -> PathBuf {
        self.root.join(".beads")
    }
    pub fn store(&self) -> Result<Store> {
        Ok(Store::open(&self.beads_dir())?)
    }
    /// Runtime state (logs, status files, pidfile): never committed.
    pub fn runtime_dir(&self) -> PathBuf {
        runtime_dir(&self.beads_dir())
    }

    /// The agent for `role` (in `rig`, with an optional `--agent`), resolved
    /// to its config.
    pub fn agent_for(
        &self,
        role: &str,
        rig: Option<&str>,
        flag: Option<&str>,
    ) -> Result<(String, AgentConfig)> {
        if !agents::ROLES.contains(&role) {
            return Err(TownError::UnknownRole(role.to_string()));
        }
        let town = self.settings()?;
        let rig_s = match rig {
            Some(r) => Some(self.rig_settings(r)?),
            None => None,
        };
        let name = agents::agent_for_role(role, flag, Some(&town), rig_s.as_ref(), "claude");
        let cfg = agents::lookup(&name, Some(&town), rig_s.as_ref())?;
        Ok((name, cfg))
    }
}

/// A town's settings say `town-settings`. Settings that do not parse next
/// to a `.beads/` are that town's error, not a reason to look further up.
fn is_town(d: &Path) -> Result<bool> {
    let p = d.join(SETTINGS);
    if !p.is_file() {
        return Ok(false);
    }
    match Settings::load(&p) {
        Ok(s) => Ok(s.kind == "town-settings"),
        Err(e) if d.join(".beads").is_dir() => Err(e),
        Err(_) => Ok(false),
    }
}

/// What a town's git repository keeps out: databases, runtime state, logs,
/// and the rigs' clones and worktrees (repositories of their own). The
/// ledger (`.beads/issues.jsonl`) and the settings are committed.
pub const GITIGNORE: &str = "\
# Gas Town: commit the ledger (.beads/issues.jsonl) and settings, nothing local
*.db
*.db-*
*.sqlite*
*.lock
*.log
*.tmp
.beads/runtime/
/*/.repo.git/
/*/polecats/
/*/crew/
/*/refinery/
!.beads/issues.jsonl
";

/// `gt install --git`: a repository (new, or the one already there) with a
/// `.gitignore` and a first commit of the town's own files.
fn first_commit(root: &Path) -> std::result::Result<(), git2::Error> {
    let repo = match git2::Repository::open(root) {
        Ok(r) => r,
        Err(_) => git2::Repository::init(root)?,
    };
    let ignore = root.join(".gitignore");
    if !ignore.exists() {
        std::fs::write(&ignore, GITIGNORE).map_err(|e| {
            git2::Error::from_str(&format!("cannot write {}: {e}", ignore.display()))
        })?;
    }
    let mut index = repo.index()?;
    index.add_all(
        [".gitignore", SETTINGS, "town.json", ".beads"].iter(),
        git2::IndexAddOption::DEFAULT,
        None,
    )?;
    index.write()?;
    let tree = repo.find_tree(index.write_tree()?)?;
    let sig = repo
        .signature()
        .or_else(|_| git2::Signature::now("Gas Town", "gt@localhost"))?;
    let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    repo.commit(
        Some("HEAD"),
        &sig,
        &sig,
        "Gas Town: new town",
        &tree,
        &parents,
    )?;
    Ok(())
}

/// `<beads dir>/runtime`, with a `.gitignore` that keeps it out of git.
pub fn runtime_dir(beads_dir: &Path) -> PathBuf {
    let d = beads_dir.join("runtime");
    if !d.join(".gitignore").exists() {
        let _ = std::fs::create_dir_all(&d);
        let _ = std::fs::write(d.join(".gitignore"), "*\n");
    }
    d
}

/// Names polecats take, in order; past the end a number is appended.
pub const NAME_POOL: &[&str] = &[
    "furiosa",
    "nux",
    "slit",
    "toast",
    "capable",
    "dag",
    "cheedo",
    "angharad",
    "ace",
    "rictus",
    "max",
    "morsov",
    "keeper",
    "valkyrie",
    "glory",
    "corpus",
    "scabrous",
    "organic",
    "bullet",
    "immortan",
    "miss-giddy",
    "vuvalini",
    "buzzard",
    "coma",
    "doof",
    "war-boy",
    "praetorian",
    "dementus",
    "jack",
    "scrotus",
    "octoboss",
    "mr-norris",
    "rizzdale",
    "big-jilly",
    "hungry",
    "history",
    "smeg",
    "toecutter",
    "goose",
    "fifi",
    "bubba",
    "johnny",
    "nightrider",
    "cundalini",
    "mudguts",
    "starbuck",
    "clunk",
    "grease",
    "wedge",
    "tappet",
];

/// The `i`-th name of the pool.
pub fn pool_name(i: usize) -> String {
    let n = NAME_POOL.len();
    if i < n {
        NAME_POOL[i].to_string()
    } else {
        format!("{}-{}", NAME_POOL[i % n], i / n + 1)
    }
}
