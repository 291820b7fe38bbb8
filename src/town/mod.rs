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
pub mod rigs;
pub mod worktree;

use crate::store::{Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use agents::{AgentConfig, DoneMode, Provider};

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
            TownError::Store(e) => return e.help(),
            _ => return None,
        })
    }
}

pub type Result<T, E = TownError> = std::result::Result<T, E>;

/// Per-role settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RoleSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
}

/// `settings/config.json` of a town or a rig (a rig's override the town's).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default)]
    pub version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_agent: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub agents: BTreeMap<String, AgentConfig>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub roles: BTreeMap<String, RoleSettings>,
    /// Cap on working polecats (town: all rigs; rig: that rig).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_polecats: Option<usize>,
}

impl Settings {
    pub fn load(path: &Path) -> Result<Settings> {
        match std::fs::read_to_string(path) {
            Ok(t) => serde_json::from_str(&t).map_err(|e| TownError::BadSettings {
                path: path.to_path_buf(),
                message: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Settings::default()),
            Err(e) => Err(TownError::io(path, e)),
        }
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).map_err(|e| TownError::io(p, e))?;
        }
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| TownError::Invalid(e.to_string()))?
            + "\n";
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, text).map_err(|e| TownError::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| TownError::io(path, e))
    }
}

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
            if is_town(d) {
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
        if is_town(&root) {
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
        if git && git_open_or_init(&root).is_err() {
            return Err(TownError::Invalid(format!(
                "cannot create a git repository in {}",
                root.display()
            )));
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

fn is_town(d: &Path) -> bool {
    let p = d.join(SETTINGS);
    p.is_file()
        && Settings::load(&p)
            .map(|s| s.kind == "town-settings")
            .unwrap_or(false)
}

fn git_open_or_init(root: &Path) -> std::result::Result<(), git2::Error> {
    match git2::Repository::open(root) {
        Ok(_) => Ok(()),
        Err(_) => git2::Repository::init(root).map(|_| ()),
    }
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
