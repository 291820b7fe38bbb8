//! The formula library: the search path, the embedded stdlib, and loading
//! formulas by name or path into a [`Session`].
//!
//! Search order (first match by file stem wins; `.toml` before `.json`
//! within one directory):
//! 1. the project's `.beads/formulas/` (nearest ancestor of the cwd with a
//!    `.beads/` directory);
//! 2. the town's `.beads/formulas/` (`GT_TOWN`, or the nearest ancestor
//!    holding `settings/config.json` and `.beads/`);
//! 3. the user's `~/.beads/formulas/`;
//! 4. each entry of `GT_FORMULA_PATH`;
//! 5. the stdlib embedded from `stdlib-formulas/`.
//!
//! `--formula-path` replaces all five; the entry `@stdlib` puts the
//! embedded library back. When a formula is given by path, its own
//! directory is searched first, so siblings can `extends` each other.

use super::ast::{Formula, SpStr};
use super::codes::Code;
use super::diag::Diagnostic;
use super::parse;
use super::source::{FileId, Origin, SourceFile, Sources, Span, MAX_SOURCE_BYTES};
use super::suggest::did_you_mean;
use include_dir::{include_dir, Dir};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

static STDLIB: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/stdlib-formulas");

/// `extends` chains deeper than this are refused.
pub const MAX_EXTENDS_DEPTH: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// The directory of a formula given by path.
    Local,
    Project,
    Town,
    User,
    Env,
    Explicit,
    Stdlib,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Local => "local",
            Tier::Project => "project",
            Tier::Town => "town",
            Tier::User => "user",
            Tier::Env => "GT_FORMULA_PATH",
            Tier::Explicit => "formula-path",
            Tier::Stdlib => "stdlib",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchDir {
    pub tier: Tier,
    /// `None` for the embedded stdlib.
    pub path: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchPath {
    pub dirs: Vec<SearchDir>,
}

/// Where a formula file lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Disk(PathBuf),
    Stdlib(&'static str),
}

impl Location {
    pub fn display(&self) -> String {
        match self {
            Location::Disk(p) => p.display().to_string(),
            Location::Stdlib(name) => format!("stdlib:{name}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub name: String,
    pub tier: Tier,
    pub location: Location,
}

/// The environment that shapes the default search path.
#[derive(Debug, Clone, Default)]
pub struct Env {
    pub town: Option<PathBuf>,
    pub home: Option<PathBuf>,
    pub formula_path: Option<std::ffi::OsString>,
}

impl Env {
    pub fn from_process() -> Env {
        Env {
            town: std::env::var_os("GT_TOWN")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            home: dirs::home_dir(),
            formula_path: std::env::var_os("GT_FORMULA_PATH").filter(|v| !v.is_empty()),
        }
    }
}

impl SearchPath {
    /// The default five tiers, seen from `cwd`.
    pub fn discover(cwd: &Path, env: &Env) -> SearchPath {
        let mut dirs = Vec::new();
        if let Some(p) = project_root(cwd) {
            dirs.push(SearchDir {
                tier: Tier::Project,
                path: Some(p.join(".beads").join("formulas")),
            });
        }
        if let Some(t) = town_root(cwd, env) {
            dirs.push(SearchDir {
                tier: Tier::Town,
                path: Some(t.join(".beads").join("formulas")),
            });
        }
        if let Some(h) = &env.home {
            dirs.push(SearchDir {
                tier: Tier::User,
                path: Some(h.join(".beads").join("formulas")),
            });
        }
        if let Some(fp) = &env.formula_path {
            for p in std::env::split_paths(fp) {
                if !p.as_os_str().is_empty() {
                    dirs.push(SearchDir {
                        tier: Tier::Env,
                        path: Some(p),
                    });
                }
            }
        }
        dirs.push(SearchDir {
            tier: Tier::Stdlib,
            path: None,
        });
        let mut sp = SearchPath { dirs };
        sp.dedup();
        sp
    }

    /// `--formula-path`: replaces the whole search path.
    pub fn explicit(paths: &[PathBuf]) -> SearchPath {
        let dirs = paths
            .iter()
            .map(|p| {
                if p.as_os_str() == "@stdlib" {
                    SearchDir {
                        tier: Tier::Stdlib,
                        path: None,
                    }
                } else {
                    SearchDir {
                        tier: Tier::Explicit,
                        path: Some(p.clone()),
                    }
                }
            })
            .collect();
        SearchPath { dirs }
    }

    /// Search `dir` first (for a formula given by path).
    pub fn with_local(&self, dir: &Path) -> SearchPath {
        let mut dirs = vec![SearchDir {
            tier: Tier::Local,
            path: Some(dir.to_path_buf()),
        }];
        dirs.extend(self.dirs.iter().cloned());
        let mut sp = SearchPath { dirs };
        sp.dedup();
        sp
    }

    fn dedup(&mut self) {
        let mut seen: Vec<Option<PathBuf>> = Vec::new();
        self.dirs.retain(|d| {
            let key = d
                .path
                .as_ref()
                .map(|p| p.canonicalize().unwrap_or_else(|_| p.clone()));
            if seen.contains(&key) {
                false
            } else {
                seen.push(key);
                true
            }
        });
    }

    /// Every file that defines `name`, in search order (the first wins).
    /// A qualified `pkg/formula` names only that installed package's
    /// formula; a bare name also finds formulas of installed packages, after
    /// the directory's own files (see [`PACKAGES_DIR`]).
    pub fn find_all(&self, name: &str) -> Vec<Candidate> {
        let mut out = Vec::new();
        let qualified = split_qualified(name);
        for d in &self.dirs {
            match &d.path {
                Some(dir) => {
                    let mut dirs = Vec::new();
                    match qualified {
                        Some((pkg, _)) => dirs.push(dir.join(PACKAGES_DIR).join(pkg)),
                        None => {
                            dirs.push(dir.clone());
                            dirs.extend(package_dirs(dir));
                        }
                    }
                    let stem = qualified.map_or(name, |(_, f)| f);
                    for dir in &dirs {
                        for ext in ["toml", "json"] {
                            let p = dir.join(format!("{stem}.formula.{ext}"));
                            if p.is_file() {
                                out.push(Candidate {
                                    name: name.to_string(),
                                    tier: d.tier,
                                    location: Location::Disk(p),
                                });
                            }
                        }
                    }
                }
                None if qualified.is_some() => {}
                None => {
                    for ext in ["toml", "json"] {
                        let file = format!("{name}.formula.{ext}");
                        if let Some(f) = STDLIB.get_file(&file) {
                            out.push(Candidate {
                                name: name.to_string(),
                                tier: Tier::Stdlib,
                                location: Location::Stdlib(f.path().to_str().unwrap_or_default()),
                            });
                        }
                    }
                }
            }
        }
        out
    }

    pub fn find(&self, name: &str) -> Option<Candidate> {
        self.find_all(name).into_iter().next()
    }

    /// Every formula on the path: the winner per name plus what it shadows,
    /// sorted by name.
    pub fn list(&self) -> Vec<(Candidate, Vec<Candidate>)> {
        let mut names: Vec<String> = Vec::new();
        for d in &self.dirs {
            match &d.path {
                Some(dir) => {
                    for d in std::iter::once(dir.clone()).chain(package_dirs(dir)) {
                        if let Ok(rd) = std::fs::read_dir(&d) {
                            for entry in rd.flatten() {
                                if let Some(stem) =
                                    formula_stem(&entry.file_name().to_string_lossy())
                                {
                                    names.push(stem.to_string());
                                }
                            }
                        }
                    }
                }
                None => {
                    for f in STDLIB.files() {
                        if let Some(stem) = f.path().to_str().and_then(formula_stem) {
                            names.push(stem.to_string());
                        }
                    }
                }
            }
        }
        names.sort();
        names.dedup();
        names
            .into_iter()
            .filter_map(|n| {
                let mut all = self.find_all(&n).into_iter();
                let first = all.next()?;
                Some((first, all.collect()))
            })
            .collect()
    }

    pub fn all_names(&self) -> Vec<String> {
        self.list().into_iter().map(|(c, _)| c.name).collect()
    }
}

/// The project whose formulas are on the path: the nearest ancestor of
/// `cwd` with a `.beads/` directory.
pub fn project_root(cwd: &Path) -> Option<&Path> {
    cwd.ancestors().find(|d| d.join(".beads").is_dir())
}

/// The town whose formulas are on the path: `GT_TOWN`, else the nearest
/// ancestor holding `settings/config.json` and `.beads/`.
pub fn town_root(cwd: &Path, env: &Env) -> Option<PathBuf> {
    env.town.clone().or_else(|| {
        cwd.ancestors()
            .find(|d| d.join("settings").join("config.json").is_file() && d.join(".beads").is_dir())
            .map(Path::to_path_buf)
    })
}

/// Installed formula packages live in `<formula dir>/packages/<name>/`.
pub const PACKAGES_DIR: &str = "packages";

/// The installed package directories under a formula directory, sorted.
pub fn package_dirs(formula_dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(formula_dir.join(PACKAGES_DIR))
        .map(|rd| {
            rd.flatten()
                .filter(|e| {
                    e.path().is_dir() && validate_name(&e.file_name().to_string_lossy()).is_ok()
                })
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// `pkg/formula` as its two plain names; `None` for a bare name.
pub fn split_qualified(name: &str) -> Option<(&str, &str)> {
    let (pkg, formula) = name.split_once('/')?;
    (validate_name(pkg).is_ok() && validate_name(formula).is_ok()).then_some((pkg, formula))
}

/// A formula reference: a plain name, or `pkg/formula` for an installed
/// package's formula.
pub fn validate_reference(name: &str) -> Result<(), String> {
    if split_qualified(name).is_some() {
        return Ok(());
    }
    validate_name(name)
}

pub fn formula_stem(file_name: &str) -> Option<&str> {
    file_name
        .strip_suffix(".formula.toml")
        .or_else(|| file_name.strip_suffix(".formula.json"))
}

/// A formula name must be a plain file stem: no path separators, no `..`,
/// nothing absolute.
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the name is empty".into());
    }
    if name.contains('/') || name.contains('\\') || Path::new(name).is_absolute() {
        return Err("it contains a path separator; formula names are file stems, looked up on the search path".into());
    }
    if name.starts_with('.') {
        return Err("it starts with `.`".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@')))
    {
        return Err(format!("it contains the character `{c}`"));
    }
    Ok(())
}

/// The embedded stdlib's file text, by file name.
pub fn stdlib_text(file: &str) -> Option<&'static str> {
    STDLIB.get_file(file).and_then(|f| f.contents_utf8())
}

/// One compiler run: the loaded sources, a parse cache and the diagnostics.
pub struct Session {
    pub sources: Sources,
    pub search: SearchPath,
    pub diags: Vec<Diagnostic>,
    cache: HashMap<String, Option<(FileId, Rc<Formula>)>>,
    /// Resolved formulas by name, with the height of their extends tree:
    /// `extends` resolution is memoized so that diamonds cost linear time.
    pub(super) resolved: HashMap<String, (Rc<Formula>, usize)>,
    /// The deepest extends chain seen in the current resolution.
    pub(super) max_chain: usize,
    /// The formula name each file defines (its `formula` field, else stem).
    names: HashMap<FileId, String>,
}

impl Session {
    pub fn new(search: SearchPath) -> Session {
        Session {
            sources: Sources::default(),
            search,
            diags: Vec::new(),
            cache: HashMap::new(),
            resolved: HashMap::new(),
            max_chain: 0,
            names: HashMap::new(),
        }
    }

    /// Load and parse a file by path. Returns `None` (with a diagnostic) if
    /// it cannot be read or parsed at all.
    pub fn load_path(&mut self, path: &Path) -> Option<(FileId, Rc<Formula>)> {
        let key = format!("disk:{}", path.display());
        if let Some(hit) = self.cache.get(&key) {
            return hit.clone();
        }
        // Refuse huge files before reading them into memory.
        let too_big = std::fs::metadata(path)
            .ok()
            .filter(|m| m.is_file() && m.len() > MAX_SOURCE_BYTES as u64);
        let result = if let Some(m) = too_big {
            self.diags.push(parse::too_large(
                &path.display().to_string(),
                m.len() as usize,
            ));
            None
        } else {
            self.read_and_parse(
                path.display().to_string(),
                Origin::Disk(path.to_path_buf()),
                || std::fs::read(path),
            )
        };
        self.cache.insert(key, result.clone());
        result
    }

    /// Parse text supplied directly (tests, fuzzing, stdin).
    pub fn load_text(&mut self, name: &str, text: &str) -> Option<(FileId, Rc<Formula>)> {
        let bytes = text.as_bytes().to_vec();
        self.read_and_parse(name.to_string(), Origin::Memory, || Ok(bytes))
    }

    fn load_stdlib(&mut self, file: &'static str) -> Option<(FileId, Rc<Formula>)> {
        let key = format!("stdlib:{file}");
        if let Some(hit) = self.cache.get(&key) {
            return hit.clone();
        }
        let text = stdlib_text(file).unwrap_or_default();
        let result =
            self.read_and_parse(key.clone(), Origin::Stdlib, || Ok(text.as_bytes().to_vec()));
        self.cache.insert(key, result.clone());
        result
    }

    fn read_and_parse(
        &mut self,
        name: String,
        origin: Origin,
        read: impl FnOnce() -> std::io::Result<Vec<u8>>,
    ) -> Option<(FileId, Rc<Formula>)> {
        let bytes = match read() {
            Ok(b) => b,
            Err(e) => {
                self.diags.push(
                    Diagnostic::new(Code::F0005, format!("cannot read `{name}`: {e}"))
                        .help(read_error_help(&e)),
                );
                return None;
            }
        };
        let text = match parse::check_text(&name, bytes) {
            Ok(t) => t,
            Err(d) => {
                self.diags.push(d);
                return None;
            }
        };
        let id = self.sources.add(SourceFile::new(name, origin, text));
        let source = self.sources.get(id);
        let f = parse::parse_formula(id, source, &mut self.diags);
        let name = f
            .as_ref()
            .and_then(|f| f.name.as_ref().map(|n| n.value.clone()))
            .or_else(|| source.formula_stem().map(str::to_string))
            .unwrap_or_else(|| source.name.clone());
        self.names.insert(id, name);
        Some((id, Rc::new(f?)))
    }

    /// Drop the parse cache and the resolved formulas, so that the caller
    /// can own the last copy of a resolved formula (a 100,000-step AST is
    /// then never held twice). Later loads parse again.
    pub fn forget_formulas(&mut self) {
        self.cache.clear();
        self.resolved.clear();
    }

    /// The formula name defined by a loaded file.
    pub fn formula_name(&self, file: FileId) -> &str {
        self.names.get(&file).map(String::as_str).unwrap_or("")
    }

    /// Load a formula by name from the search path. `from` is the span of
    /// the reference (an `extends` entry, a `compose.aspects` name ...).
    pub fn load_name(&mut self, name: &str, from: Option<Span>) -> Option<(FileId, Rc<Formula>)> {
        if let Err(why) = validate_reference(name) {
            let mut d = Diagnostic::new(
                Code::F0014,
                format!("`{name}` is not a valid formula name: {why}"),
            )
            .help("refer to formulas by name (the file stem), e.g. `shiny`; add directories with --formula-path or GT_FORMULA_PATH");
            if let Some(s) = from {
                d = d.at(s, "not a plain formula name");
            }
            self.diags.push(d);
            return None;
        }
        match self.search.find(name) {
            Some(Candidate {
                location: Location::Disk(p),
                ..
            }) => self.load_path(&p),
            Some(Candidate {
                location: Location::Stdlib(file),
                ..
            }) => self.load_stdlib(file),
            None => {
                let names = self.search.all_names();
                let suggestion = did_you_mean(name, names.iter().map(String::as_str));
                let searched: Vec<String> = self
                    .search
                    .dirs
                    .iter()
                    .map(|d| match &d.path {
                        Some(p) => p.display().to_string(),
                        None => "(embedded stdlib)".to_string(),
                    })
                    .collect();
                let mut d = Diagnostic::new(
                    Code::F0011,
                    format!("formula `{name}` not found on the search path"),
                )
                .help(match &suggestion {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => "add its directory with --formula-path or GT_FORMULA_PATH; `gt formula list` shows what is available".to_string(),
                })
                .note(format!("searched: {}", searched.join(", ")));
                if let Some(s) = from {
                    d = d.at(
                        s,
                        match &suggestion {
                            Some(sg) => format!("no formula named `{name}`; did you mean `{sg}`?"),
                            None => format!("no formula named `{name}`"),
                        },
                    );
                }
                self.diags.push(d);
                None
            }
        }
    }

    /// Resolve a loaded formula's `extends` chain (recursively).
    pub fn resolve(&mut self, f: Rc<Formula>) -> Rc<Formula> {
        let mut chain = vec![(f.name_str().to_string(), None)];
        super::resolve::resolve(self, f, &mut chain)
    }
}

fn read_error_help(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => {
            "check the path; `gt formula list` shows formulas by name".into()
        }
        std::io::ErrorKind::PermissionDenied => "check the file's permissions".into(),
        _ if e.raw_os_error() == Some(21) => {
            "this is a directory; pass a formula file, or use `gt formula lint DIR`".into()
        }
        _ => "check that the path is a readable file".into(),
    }
}

/// Entry in an `extends` chain: a formula name and the span of the
/// `extends` entry that led to it.
pub type ChainLink = (String, Option<SpStr>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_paths_are_refused() {
        assert!(validate_name("../x").is_err());
        assert!(validate_name("/etc/passwd").is_err());
        assert!(validate_name("a/b").is_err());
        assert!(validate_name(".hidden").is_err());
        assert!(validate_name("").is_err());
        assert!(validate_name("mol-polecat-work").is_ok());
        assert!(validate_name("rule_of.five").is_ok());
    }

    #[test]
    fn search_order_is_project_town_user_env_stdlib() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let project = root.join("proj");
        let town = root.join("town");
        let home = root.join("home");
        let extra = root.join("extra");
        for d in [
            project.join(".beads/formulas"),
            town.join(".beads/formulas"),
            home.join(".beads/formulas"),
            extra.clone(),
        ] {
            std::fs::create_dir_all(&d).unwrap();
        }
        let write = |dir: &Path, name: &str| {
            std::fs::write(
                dir.join(format!("{name}.formula.toml")),
                "formula = \"x\"\n",
            )
            .unwrap();
        };
        write(&project.join(".beads/formulas"), "a");
        write(&town.join(".beads/formulas"), "a");
        write(&town.join(".beads/formulas"), "b");
        write(&home.join(".beads/formulas"), "b");
        write(&home.join(".beads/formulas"), "c");
        write(&extra, "c");
        write(&extra, "d");
        let env = Env {
            town: Some(town.clone()),
            home: Some(home.clone()),
            formula_path: Some(extra.clone().into_os_string()),
        };
        let sp = SearchPath::discover(&project, &env);
        let tiers: Vec<Tier> = sp.dirs.iter().map(|d| d.tier).collect();
        assert_eq!(
            tiers,
            vec![
                Tier::Project,
                Tier::Town,
                Tier::User,
                Tier::Env,
                Tier::Stdlib
            ]
        );
        assert_eq!(sp.find("a").unwrap().tier, Tier::Project);
        assert_eq!(sp.find("b").unwrap().tier, Tier::Town);
        assert_eq!(sp.find("c").unwrap().tier, Tier::User);
        assert_eq!(sp.find("d").unwrap().tier, Tier::Env);
        assert_eq!(sp.find_all("a").len(), 2);
        // JSON loses to TOML in the same directory, wins over a later one.
        std::fs::write(project.join(".beads/formulas/b.formula.json"), "{}").unwrap();
        assert_eq!(sp.find("b").unwrap().tier, Tier::Project);
        std::fs::write(project.join(".beads/formulas/a.formula.json"), "{}").unwrap();
        assert!(
            matches!(sp.find("a").unwrap().location, Location::Disk(p) if p.extension().unwrap() == "toml")
        );
        // --formula-path replaces everything.
        let only = SearchPath::explicit(std::slice::from_ref(&extra));
        assert!(only.find("a").is_none());
        assert_eq!(only.find("c").unwrap().tier, Tier::Explicit);
    }
}
