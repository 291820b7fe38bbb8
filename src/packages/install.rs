//! Install, update and remove packages: resolve dependencies, lint every
//! formula in a staging area, then move the packages into place and write
//! the lock. Nothing is half-installed: any failure before the final moves
//! leaves the tier as it was, and a failed move is rolled back.

use super::lock::{hash_dir, Lock, Locked};
use super::manifest::{self, Manifest};
use super::source::{Fetched, Source};
use super::{Home, PackageError, Result, Scope};
use crate::formula::diag::{self, has_errors};
use crate::formula::library::{Env, SearchDir, SearchPath, Tier, PACKAGES_DIR};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default)]
pub struct InstallOptions {
    pub scope: Scope,
    pub cwd: PathBuf,
    pub env: Env,
}

/// What an install, update or remove did.
#[derive(Debug, Default)]
pub struct Outcome {
    pub lock_path: PathBuf,
    /// (old entry, new entry) per package that changed; `None` old = new.
    pub changed: Vec<(Option<Locked>, Locked)>,
    pub removed: Vec<Locked>,
    pub notes: Vec<String>,
}

/// `gt formula install SOURCE`.
pub fn install(spec: &str, opts: &InstallOptions) -> Result<Outcome> {
    let home = Home::locate(opts.scope, &opts.cwd, &opts.env)?;
    let source = Source::parse(spec, &opts.cwd)?;
    let mut r = Resolver::default();
    r.visit(source, &opts.cwd, &mut Vec::new(), None)?;
    commit(&home, opts, r, false)
}

/// `gt formula install --locked`: exactly the locked commits and files.
pub fn install_locked(opts: &InstallOptions) -> Result<Outcome> {
    let home = Home::locate(opts.scope, &opts.cwd, &opts.env)?;
    let lock = Lock::read(&home.lock_path())?;
    if lock.packages.is_empty() {
        return Err(PackageError::Usage(format!(
            "{} lists no packages; install one with `gt formula install SOURCE`",
            home.lock_path().display()
        )));
    }
    let mut r = Resolver::default();
    for entry in &lock.packages {
        let source = Source::parse(&entry.source, &opts.cwd)?.at(entry.reference.clone());
        let fetched = source.fetch(entry.commit.as_deref())?;
        let manifest = manifest::load(&fetched.dir)?;
        let staged = super::lock::hash_dir(&fetched.dir)?;
        let expected: BTreeMap<_, _> = entry.files.clone();
        let mut installed = staged.clone();
        installed.retain(|k, _| expected.contains_key(k) || is_package_file(k));
        if installed != expected {
            return Err(PackageError::Resolve(format!(
                "the source of `{}` moved: {} no longer holds the locked files ({}); if the change is intended, run `gt formula update {}`",
                entry.name,
                entry.source,
                differing(&expected, &installed).join(", "),
                entry.name
            )));
        }
        r.insert(manifest, source, fetched);
    }
    commit(&home, opts, r, true)
}

/// `gt formula update [PKG]`: move each package to its newest matching
/// version (a semver tag moves to the newest compatible tag; a branch to its
/// tip; no ref to the default branch).
pub fn update(only: Option<&str>, opts: &InstallOptions) -> Result<Outcome> {
    let home = Home::locate(opts.scope, &opts.cwd, &opts.env)?;
    let lock = Lock::read(&home.lock_path())?;
    let targets: Vec<&Locked> = lock
        .packages
        .iter()
        .filter(|p| only.is_none_or(|n| n == p.name))
        .collect();
    if let (Some(name), true) = (only, targets.is_empty()) {
        return Err(not_installed(name, &home));
    }
    let mut r = Resolver::default();
    for entry in targets {
        let source = Source::parse(&entry.source, &opts.cwd)?;
        let reference = newest_ref(&source, entry.reference.as_deref())?;
        r.visit(source.at(reference), &opts.cwd, &mut Vec::new(), None)?;
    }
    commit(&home, opts, r, false)
}

/// `gt formula remove PKG`.
pub fn remove(name: &str, opts: &InstallOptions) -> Result<Outcome> {
    let home = Home::locate(opts.scope, &opts.cwd, &opts.env)?;
    let mut lock = Lock::read(&home.lock_path())?;
    let Some(entry) = lock.get(name).cloned() else {
        return Err(not_installed(name, &home));
    };
    let dependents: Vec<&str> = lock
        .packages
        .iter()
        .filter(|p| p.dependencies.contains_key(name))
        .map(|p| p.name.as_str())
        .collect();
    if !dependents.is_empty() {
        return Err(PackageError::Resolve(format!(
            "`{name}` is needed by {}; remove those first",
            dependents.join(", ")
        )));
    }
    let dir = home.package_dir(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .map_err(|e| PackageError::io(dir.display().to_string(), e))?;
    }
    lock.packages.retain(|p| p.name != name);
    lock.write(&home.lock_path())?;
    Ok(Outcome {
        lock_path: home.lock_path(),
        removed: vec![entry],
        ..Outcome::default()
    })
}

fn not_installed(name: &str, home: &Home) -> PackageError {
    PackageError::Usage(format!(
        "no package `{name}` is installed in the {} tier; `gt formula list --installed` shows what is",
        home.scope.as_str()
    ))
}

pub(super) fn is_package_file(name: &str) -> bool {
    name == super::MANIFEST || crate::formula::library::formula_stem(name).is_some()
}

fn differing(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> Vec<String> {
    let mut out: Vec<String> = a
        .iter()
        .filter(|(k, v)| b.get(*k) != Some(v))
        .map(|(k, _)| k.clone())
        .collect();
    out.extend(b.keys().filter(|k| !a.contains_key(*k)).cloned());
    out
}

fn newest_ref(source: &Source, current: Option<&str>) -> Result<Option<String>> {
    let Some(cur) = current else { return Ok(None) };
    let Ok(cur_version) = semver::Version::parse(cur.trim_start_matches('v')) else {
        return Ok(Some(cur.to_string())); // a branch or commit: re-resolve it
    };
    let req = semver::VersionReq::parse(&format!("^{cur_version}"))
        .map_err(|e| PackageError::Resolve(e.to_string()))?;
    Ok(source
        .version_tags()?
        .into_iter()
        .filter(|(v, _)| req.matches(v))
        .map(|(_, tag)| tag)
        .next_back()
        .or_else(|| Some(cur.to_string())))
}

struct Resolved {
    manifest: Manifest,
    source: Source,
    fetched: Fetched,
    /// (who needs it, what version).
    required: Vec<(String, semver::VersionReq)>,
}

#[derive(Default)]
struct Resolver {
    resolved: BTreeMap<String, Resolved>,
}

impl Resolver {
    fn insert(&mut self, manifest: Manifest, source: Source, fetched: Fetched) {
        self.resolved.insert(
            manifest.name.clone(),
            Resolved {
                manifest,
                source,
                fetched,
                required: Vec::new(),
            },
        );
    }

    fn visit(
        &mut self,
        source: Source,
        base: &Path,
        path: &mut Vec<String>,
        required: Option<(String, semver::VersionReq)>,
    ) -> Result<()> {
        let fetched = source.fetch(None)?;
        let manifest = manifest::load(&fetched.dir)?;
        let name = manifest.name.clone();
        if path.contains(&name) {
            let mut cycle = path.clone();
            cycle.push(name.clone());
            return Err(PackageError::Resolve(format!(
                "dependency cycle: {}; break it by removing one of these dependencies",
                cycle.join(" -> ")
            )));
        }
        if let Some((by, req)) = &required {
            if !req.matches(&manifest.version) {
                return Err(PackageError::Resolve(format!(
                    "`{by}` needs `{name}` {req}, but {} provides {name} {}; point the dependency at a matching tag",
                    source.location(),
                    manifest.version
                )));
            }
        }
        if let Some(existing) = self.resolved.get_mut(&name) {
            if existing.manifest.version != manifest.version {
                let others: Vec<String> = existing
                    .required
                    .iter()
                    .map(|(b, r)| format!("`{b}` needs {r}"))
                    .collect();
                return Err(PackageError::Resolve(format!(
                    "version conflict for `{name}`: {} resolves to {}, while {} resolves to {}{}; make the requirements agree",
                    existing.source.location(),
                    existing.manifest.version,
                    source.location(),
                    manifest.version,
                    if others.is_empty() { String::new() } else { format!(" ({})", others.join(", ")) }
                )));
            }
            existing.required.extend(required);
            return Ok(());
        }
        let deps = manifest.dependencies.clone();
        let dep_base = source.base_dir().unwrap_or_else(|| base.to_path_buf());
        self.insert(manifest, source, fetched);
        if let (Some(r), Some(entry)) = (required, self.resolved.get_mut(&name)) {
            entry.required.push(r);
        }
        path.push(name.clone());
        for (dep, spec) in deps {
            let dep_source = Source::parse(&spec.source, &dep_base)?;
            self.visit(
                dep_source,
                &dep_base,
                path,
                Some((name.clone(), spec.version)),
            )?;
            if !self.resolved.contains_key(&dep) {
                return Err(PackageError::Resolve(format!(
                    "`{name}` names its dependency `{dep}`, but {} is a package called something else; fix the name in its manifest",
                    spec.source
                )));
            }
        }
        path.pop();
        Ok(())
    }
}

/// Stage, lint, move into place, write the lock.
fn commit(home: &Home, opts: &InstallOptions, r: Resolver, locked: bool) -> Result<Outcome> {
    let mut lock = Lock::read(&home.lock_path())?;
    check_installed_requirements(&lock, &r)?;
    std::fs::create_dir_all(home.packages_dir())
        .map_err(|e| PackageError::io(home.packages_dir().display().to_string(), e))?;
    let staging = tempfile::Builder::new()
        .prefix(".staging-")
        .tempdir_in(&home.formulas)
        .map_err(|e| PackageError::io(home.formulas.display().to_string(), e))?;
    let staged_root = staging.path().join(PACKAGES_DIR);
    let mut notes = Vec::new();
    for (name, res) in &r.resolved {
        let dst = staged_root.join(name);
        std::fs::create_dir_all(&dst)
            .map_err(|e| PackageError::io(dst.display().to_string(), e))?;
        super::source::copy_package_files(&res.fetched.dir, &dst)?;
        notes.extend(res.fetched.note.iter().map(|n| format!("{name}: {n}")));
    }
    lint_staged(staging.path(), &r, opts)?;
    let moved = move_into_place(home, staging.path(), &r)?;
    let mut changed = Vec::new();
    for (name, res) in &r.resolved {
        let entry = Locked {
            name: name.clone(),
            version: res.manifest.version.to_string(),
            source: res.source.location(),
            reference: res.source.reference().map(str::to_string),
            commit: res.fetched.commit.clone(),
            dependencies: res
                .manifest
                .dependencies
                .iter()
                .map(|(n, d)| (n.clone(), d.version.to_string()))
                .collect(),
            files: hash_dir(&home.package_dir(name))?,
        };
        let old = lock.get(name).cloned();
        if locked && old.as_ref().is_some_and(|o| o.files != entry.files) {
            moved.rollback();
            return Err(PackageError::Resolve(format!(
                "`{name}` installed files that differ from the lock; nothing was changed"
            )));
        }
        if old.as_ref() != Some(&entry) {
            changed.push((old, entry.clone()));
        }
        lock.upsert(entry);
    }
    if let Err(e) = lock.write(&home.lock_path()) {
        moved.rollback();
        return Err(e);
    }
    moved.finish();
    Ok(Outcome {
        lock_path: home.lock_path(),
        changed,
        removed: Vec::new(),
        notes,
    })
}

/// Packages already installed keep what they need.
fn check_installed_requirements(lock: &Lock, r: &Resolver) -> Result<()> {
    for p in lock
        .packages
        .iter()
        .filter(|p| !r.resolved.contains_key(&p.name))
    {
        for (dep, req) in &p.dependencies {
            let (Some(new), Ok(req)) = (r.resolved.get(dep), semver::VersionReq::parse(req)) else {
                continue;
            };
            if !req.matches(&new.manifest.version) {
                return Err(PackageError::Resolve(format!(
                    "version conflict: installed package `{}` needs `{dep}` {req}, but this would install {dep} {}; update `{}` too, or install a matching version",
                    p.name, new.manifest.version, p.name
                )));
            }
        }
    }
    Ok(())
}

/// Lint every staged formula with the staged packages in front of the
/// normal search path, so `pkg/formula` references between them resolve.
fn lint_staged(staging: &Path, r: &Resolver, opts: &InstallOptions) -> Result<()> {
    let mut dirs = vec![SearchDir {
        tier: Tier::Explicit,
        path: Some(staging.to_path_buf()),
    }];
    dirs.extend(SearchPath::discover(&opts.cwd, &opts.env).dirs);
    let search = SearchPath { dirs };
    for name in r.resolved.keys() {
        let files = manifest::formula_files(&staging.join(PACKAGES_DIR).join(name))?;
        let report = crate::formula::lint::lint(&files, &search);
        if has_errors(report.diagnostics()) {
            let rendered =
                diag::render_human_all(report.diagnostics(), &report.session.sources, false);
            return Err(PackageError::Lint {
                package: name.clone(),
                rendered,
            });
        }
    }
    Ok(())
}

/// Packages moved into place, with their previous copies kept until the
/// lock is written.
struct Moved {
    /// (installed dir, previous copy if any).
    moves: Vec<(PathBuf, Option<PathBuf>)>,
}

impl Moved {
    fn rollback(self) {
        for (dir, old) in self.moves.into_iter().rev() {
            let _ = std::fs::remove_dir_all(&dir);
            if let Some(old) = old {
                let _ = std::fs::rename(old, &dir);
            }
        }
    }

    fn finish(self) {
        for (_, old) in self.moves {
            if let Some(old) = old {
                let _ = std::fs::remove_dir_all(old);
            }
        }
    }
}

fn move_into_place(home: &Home, staging: &Path, r: &Resolver) -> Result<Moved> {
    let mut moved = Moved { moves: Vec::new() };
    for name in r.resolved.keys() {
        let dst = home.package_dir(name);
        let backup = staging.join(format!("previous-{name}"));
        let old = if dst.exists() {
            if let Err(e) = std::fs::rename(&dst, &backup) {
                moved.rollback();
                return Err(PackageError::io(dst.display().to_string(), e));
            }
            Some(backup)
        } else {
            None
        };
        if let Err(e) = std::fs::rename(staging.join(PACKAGES_DIR).join(name), &dst) {
            if let Some(old) = &old {
                let _ = std::fs::rename(old, &dst);
            }
            moved.rollback();
            return Err(PackageError::io(dst.display().to_string(), e));
        }
        moved.moves.push((dst, old));
    }
    Ok(moved)
}
