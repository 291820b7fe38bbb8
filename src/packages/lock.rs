//! `.beads/formulas.lock`: per installed package its source, the ref asked
//! for, the commit it resolved to, its version, what it needs, and the
//! sha256 of every installed file. Written atomically, sorted, stable.

use super::{sha256_file, PackageError, Result, LOCKFILE};
use crate::formula::library::PACKAGES_DIR;
use crate::formula::proto::SourceDigest;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const LOCK_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    pub version: u32,
    #[serde(default, rename = "package", skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<Locked>,
}

impl Default for Lock {
    fn default() -> Lock {
        Lock {
            version: LOCK_VERSION,
            packages: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Locked {
    pub name: String,
    pub version: String,
    /// The source as given (URL, folder or tarball), absolute for local ones.
    pub source: String,
    /// The tag, branch or commit asked for (`URL@REF`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "ref")]
    pub reference: Option<String>,
    /// The commit the source resolved to (git sources).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The packages it needs and the version each must match.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dependencies: BTreeMap<String, String>,
    /// Installed file (relative to the package directory) -> sha256.
    pub files: BTreeMap<String, String>,
}

impl Lock {
    /// Read a lockfile; a missing one is an empty lock.
    pub fn read(path: &Path) -> Result<Lock> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Lock::default()),
            Err(e) => return Err(PackageError::io(path.display().to_string(), e)),
        };
        let lock: Lock = toml::from_str(&text).map_err(|e| PackageError::Manifest {
            path: path.display().to_string(),
            message: format!(
                "the lockfile is damaged ({}); restore it from git (`git checkout -- {}`)",
                e.message(),
                path.display()
            ),
        })?;
        if lock.version != LOCK_VERSION {
            return Err(PackageError::Manifest {
                path: path.display().to_string(),
                message: format!(
                    "lockfile version {} is not supported (this gt writes version {LOCK_VERSION}); upgrade gt",
                    lock.version
                ),
            });
        }
        Ok(lock)
    }

    /// Write atomically (temp file + rename), packages sorted by name.
    pub fn write(&self, path: &Path) -> Result<()> {
        let mut sorted = self.clone();
        sorted.packages.sort_by(|a, b| a.name.cmp(&b.name));
        let text = toml::to_string_pretty(&sorted).map_err(|e| {
            PackageError::io(
                path.display().to_string(),
                std::io::Error::other(e.to_string()),
            )
        })?;
        let header = "# Written by `gt formula install`; commit it. `gt formula verify` checks installed files against it.\n";
        let tmp = path.with_extension("lock.tmp");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| PackageError::io(dir.display().to_string(), e))?;
        }
        std::fs::write(&tmp, format!("{header}{text}"))
            .map_err(|e| PackageError::io(tmp.display().to_string(), e))?;
        std::fs::rename(&tmp, path).map_err(|e| PackageError::io(path.display().to_string(), e))
    }

    pub fn get(&self, name: &str) -> Option<&Locked> {
        self.packages.iter().find(|p| p.name == name)
    }

    pub fn upsert(&mut self, entry: Locked) {
        self.packages.retain(|p| p.name != entry.name);
        self.packages.push(entry);
    }
}

/// Hash every file of an installed (or staged) package directory.
pub fn hash_dir(dir: &Path) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let rd = std::fs::read_dir(dir).map_err(|e| PackageError::io(dir.display().to_string(), e))?;
    for e in rd.flatten() {
        let p = e.path();
        if p.is_file() {
            out.insert(
                e.file_name().to_string_lossy().to_string(),
                sha256_file(&p)?,
            );
        }
    }
    Ok(out)
}

/// Where an installed package file's lock lives, and the package and file
/// names: `<formulas>/packages/<pkg>/<file>` -> `<formulas>/../formulas.lock`.
pub fn lock_of(file: &Path) -> Option<(PathBuf, String, String)> {
    let pkg_dir = file.parent()?;
    let packages = pkg_dir.parent()?;
    if packages.file_name()? != PACKAGES_DIR {
        return None;
    }
    let formulas = packages.parent()?;
    let lock = formulas.parent()?.join(LOCKFILE);
    Some((
        lock,
        pkg_dir.file_name()?.to_string_lossy().to_string(),
        file.file_name()?.to_string_lossy().to_string(),
    ))
}

/// The environment variable `--allow-modified` sets, so that every cook in
/// this process and its children (pour, sling, run) accepts changed files.
pub const ALLOW_MODIFIED_ENV: &str = "GT_ALLOW_MODIFIED";

/// Was `--allow-modified` given (or `GT_ALLOW_MODIFIED=1` set)?
pub fn allow_modified() -> bool {
    std::env::var(ALLOW_MODIFIED_ENV).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// [`check_sources`] with the process's `--allow-modified` setting; warnings
/// go to stderr.
pub fn enforce(sources: &[SourceDigest]) -> Result<()> {
    for w in check_sources(sources, allow_modified())? {
        eprintln!("warning: {w} (allowed by --allow-modified)");
    }
    Ok(())
}

/// Refuse a cook whose sources include an installed package file that no
/// longer matches its lock. `allow_modified` turns the refusal into warnings.
pub fn check_sources(sources: &[SourceDigest], allow_modified: bool) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for s in sources {
        if s.path.starts_with("stdlib:") {
            continue;
        }
        let path = Path::new(&s.path);
        let abs = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        // Only directories that `install` made (it always writes the lock).
        let Some((lock_path, pkg, file)) = lock_of(&abs).filter(|(l, _, _)| l.is_file()) else {
            continue;
        };
        let lock = Lock::read(&lock_path)?;
        let locked = lock.get(&pkg).and_then(|p| p.files.get(&file));
        match locked {
            Some(sha) if *sha == s.sha256 => {}
            Some(sha) => problems.push(format!(
                "{}: the file no longer matches {} (locked sha256 {sha}, now {})",
                s.path,
                lock_path.display(),
                s.sha256
            )),
            None => problems.push(format!(
                "{}: package `{pkg}` has no locked hash for `{file}` in {}",
                s.path,
                lock_path.display()
            )),
        }
    }
    if problems.is_empty() || allow_modified {
        return Ok(problems);
    }
    Err(PackageError::Modified(format!(
        "{}\nhelp: restore the reviewed files with `gt formula install --locked`, accept a new version with `gt formula update`, or pass `--allow-modified` to use the changed file anyway",
        problems.join("\n")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_round_trips_sorted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("formulas.lock");
        let mut lock = Lock::default();
        for name in ["zeta", "alpha"] {
            lock.upsert(Locked {
                name: name.into(),
                version: "1.0.0".into(),
                source: "/src".into(),
                reference: Some("v1.0.0".into()),
                commit: Some("abc".into()),
                dependencies: BTreeMap::new(),
                files: BTreeMap::from([("a.formula.toml".into(), "00".into())]),
            });
        }
        lock.write(&path).unwrap();
        let back = Lock::read(&path).unwrap();
        assert_eq!(back.packages[0].name, "alpha");
        assert_eq!(back.packages.len(), 2);
        assert_eq!(
            Lock::read(&dir.path().join("none")).unwrap(),
            Lock::default()
        );
    }

    #[test]
    fn lock_of_finds_the_tier_lock() {
        let (lock, pkg, file) =
            lock_of(Path::new("/p/.beads/formulas/packages/kit/a.formula.toml")).unwrap();
        assert_eq!(lock, Path::new("/p/.beads/formulas.lock"));
        assert_eq!((pkg.as_str(), file.as_str()), ("kit", "a.formula.toml"));
        assert!(lock_of(Path::new("/p/.beads/formulas/a.formula.toml")).is_none());
    }
}
