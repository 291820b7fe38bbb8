//! `gt formula verify` and `gt formula list --installed`: installed files
//! against the lock, and which installed formula shadows which.

use super::lock::{hash_dir, Lock};
use super::manifest;
use super::{Home, Result};
use crate::formula::library::{Env, Location, SearchPath};
use std::path::Path;

/// One problem `verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub tier: &'static str,
    pub package: String,
    pub file: String,
    pub problem: String,
}

/// Re-hash every installed file of every tier against its lock.
pub fn verify(homes: &[Home]) -> Result<Vec<Finding>> {
    let mut out = Vec::new();
    for home in homes {
        let lock = Lock::read(&home.lock_path())?;
        let tier = home.scope.as_str();
        for p in &lock.packages {
            let dir = home.package_dir(&p.name);
            if !dir.is_dir() {
                out.push(Finding {
                    tier,
                    package: p.name.clone(),
                    file: dir.display().to_string(),
                    problem: "the package directory is missing; run `gt formula install --locked`"
                        .into(),
                });
                continue;
            }
            let now = hash_dir(&dir)?;
            for (file, sha) in &p.files {
                let shown = dir.join(file).display().to_string();
                match now.get(file) {
                    None => out.push(Finding {
                        tier,
                        package: p.name.clone(),
                        file: shown,
                        problem: "missing".into(),
                    }),
                    Some(s) if s != sha => out.push(Finding {
                        tier,
                        package: p.name.clone(),
                        file: shown,
                        problem: format!("modified (locked sha256 {sha}, now {s})"),
                    }),
                    Some(_) => {}
                }
            }
            for file in now.keys().filter(|f| !p.files.contains_key(*f)) {
                out.push(Finding {
                    tier,
                    package: p.name.clone(),
                    file: dir.join(file).display().to_string(),
                    problem: "not in the lock (added after install)".into(),
                });
            }
        }
        for dir in crate::formula::library::package_dirs(&home.formulas) {
            let name = dir
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            if lock.get(&name).is_none() {
                out.push(Finding {
                    tier,
                    package: name,
                    file: dir.display().to_string(),
                    problem:
                        "installed but not in the lock; reinstall it with `gt formula install`"
                            .into(),
                });
            }
        }
    }
    Ok(out)
}

/// One installed package, as `list --installed` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Installed {
    pub tier: &'static str,
    pub name: String,
    pub version: String,
    pub source: String,
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    pub formulas: Vec<ExportedFormula>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ExportedFormula {
    pub name: String,
    /// Where the bare name resolves instead, when something shadows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shadowed_by: Option<String>,
    /// What this formula shadows on the search path.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shadows: Vec<String>,
}

/// Every installed package of every tier, with what shadows what.
pub fn installed(cwd: &Path, env: &Env) -> Result<Vec<Installed>> {
    let search = SearchPath::discover(cwd, env);
    let mut out = Vec::new();
    for home in Home::all(cwd, env) {
        let lock = Lock::read(&home.lock_path())?;
        for p in &lock.packages {
            let dir = home.package_dir(&p.name);
            let exports = manifest::load(&dir)
                .map(|m| m.exports(&dir))
                .unwrap_or_default();
            let formulas = exports
                .into_iter()
                .map(|f| shadowing(&search, &dir, f))
                .collect();
            out.push(Installed {
                tier: home.scope.as_str(),
                name: p.name.clone(),
                version: p.version.clone(),
                source: p.source.clone(),
                reference: p.reference.clone(),
                commit: p.commit.clone(),
                formulas,
            });
        }
    }
    Ok(out)
}

fn shadowing(search: &SearchPath, pkg_dir: &Path, name: String) -> ExportedFormula {
    let all = search.find_all(&name);
    let mine = |l: &Location| matches!(l, Location::Disk(p) if p.parent() == Some(pkg_dir));
    let pos = all.iter().position(|c| mine(&c.location));
    let shadowed_by = match pos {
        Some(0) | None => None,
        Some(_) => all.first().map(|c| c.location.display()),
    };
    let shadows = match pos {
        Some(i) => all[i + 1..].iter().map(|c| c.location.display()).collect(),
        None => Vec::new(),
    };
    ExportedFormula {
        name,
        shadowed_by,
        shadows,
    }
}
