//! Formula packages: a folder or git repository with a `formula-package.toml`
//! manifest and its `*.formula.toml` files, installed into a tier's
//! `.beads/formulas/packages/<name>/` and pinned in that tier's
//! `.beads/formulas.lock` (source, resolved commit, version, sha256 per file).
//!
//! Network access goes through the user's `git` (see [`source`]); everything
//! else is local. The compiler finds installed formulas through
//! `formula::library` (bare names and `pkg/formula`), and refuses a file that
//! no longer matches the lock through [`lock::check_sources`].

pub mod install;
pub mod lock;
pub mod manifest;
pub mod scaffold;
pub mod source;
pub mod tidy;
pub mod verify;

use crate::formula::library::{self, Env, Tier, PACKAGES_DIR};
use std::path::{Path, PathBuf};

pub use install::{install, install_locked, remove, update, InstallOptions};

/// The manifest's file name.
pub const MANIFEST: &str = "formula-package.toml";
/// The lockfile, beside a tier's `formulas/` directory.
pub const LOCKFILE: &str = "formulas.lock";

#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("{0}")]
    Usage(String),
    #[error("{path}: {message}")]
    Manifest { path: String, message: String },
    #[error("cannot fetch `{url}`: {message}")]
    Fetch { url: String, message: String },
    #[error("{0}")]
    Resolve(String),
    #[error("package `{package}` has formulas with errors; nothing was installed\n{rendered}")]
    Lint { package: String, rendered: String },
    #[error("{0}")]
    Modified(String),
    #[error("{what}: {err}")]
    Io { what: String, err: std::io::Error },
}

impl PackageError {
    pub fn io(what: impl Into<String>, err: std::io::Error) -> PackageError {
        PackageError::Io {
            what: what.into(),
            err,
        }
    }
}

pub type Result<T> = std::result::Result<T, PackageError>;

/// Which tier a package is installed into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scope {
    #[default]
    Project,
    Town,
    User,
}

impl Scope {
    fn tier(self) -> Tier {
        match self {
            Scope::Project => Tier::Project,
            Scope::Town => Tier::Town,
            Scope::User => Tier::User,
        }
    }

    pub fn as_str(self) -> &'static str {
        self.tier().as_str()
    }

    pub const ALL: [Scope; 3] = [Scope::Project, Scope::Town, Scope::User];
}

/// One tier's formula directory: where its packages and lock live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    pub scope: Scope,
    /// `<root>/.beads/formulas`.
    pub formulas: PathBuf,
}

impl Home {
    /// The tier's formula directory as the search path sees it from `cwd`.
    pub fn locate(scope: Scope, cwd: &Path, env: &Env) -> Result<Home> {
        // Each tier by its own rule: the search path drops a tier that is
        // the same directory as an earlier one (a town root is a project too).
        let root = match scope {
            Scope::Project => library::project_root(cwd).map(Path::to_path_buf),
            Scope::Town => library::town_root(cwd, env),
            Scope::User => env.home.clone(),
        };
        root.map(|r| Home {
            scope,
            formulas: r.join(".beads").join("formulas"),
        })
            .ok_or_else(|| {
                PackageError::Usage(match scope {
                    Scope::Project => "no project store here (no `.beads/` in this directory or above); run `bd init`, or install with `--town` or `--user`".into(),
                    Scope::Town => "not inside a town (no GT_TOWN, and no `settings/config.json` with `.beads/` above); run `gt install DIR` or install with `--user`".into(),
                    Scope::User => "no home directory; set HOME or install into the project".into(),
                })
            })
    }

    /// Every tier that exists from `cwd`, in search order.
    pub fn all(cwd: &Path, env: &Env) -> Vec<Home> {
        Scope::ALL
            .iter()
            .filter_map(|s| Home::locate(*s, cwd, env).ok())
            .collect()
    }

    pub fn packages_dir(&self) -> PathBuf {
        self.formulas.join(PACKAGES_DIR)
    }

    pub fn package_dir(&self, name: &str) -> PathBuf {
        self.packages_dir().join(name)
    }

    pub fn lock_path(&self) -> PathBuf {
        self.formulas
            .parent()
            .map(|beads| beads.join(LOCKFILE))
            .unwrap_or_else(|| self.formulas.join(LOCKFILE))
    }
}

/// Hex sha256 of a file's bytes.
pub fn sha256_file(path: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    let bytes = std::fs::read(path).map_err(|e| PackageError::io(path.display().to_string(), e))?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}
