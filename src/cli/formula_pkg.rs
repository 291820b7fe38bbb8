//! `gt formula install|update|remove|verify|new|fmt|package init` and
//! `list --installed`: thin wrappers over `crate::packages`.

use super::formula::{EXIT_FINDINGS, EXIT_OK, EXIT_USAGE};
use crate::formula::library::Env;
use crate::packages::{self, install::Outcome, Home, InstallOptions, PackageError, Scope};
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Args, Debug, Clone, Default)]
pub struct ScopeArgs {
    /// Use the town's formula tier (`<town>/.beads/formulas`).
    #[arg(long, conflicts_with = "user")]
    pub town: bool,
    /// Use the user's formula tier (`~/.beads/formulas`).
    #[arg(long)]
    pub user: bool,
}

impl ScopeArgs {
    fn scope(&self) -> Scope {
        match (self.town, self.user) {
            (true, _) => Scope::Town,
            (_, true) => Scope::User,
            _ => Scope::Project,
        }
    }

    fn given(&self) -> bool {
        self.town || self.user
    }
}

#[derive(Args, Debug, Clone)]
pub struct InstallArgs {
    /// A git URL (`URL@tag|branch|commit`), a local folder or a `.tar.gz`.
    /// Omit it with `--locked`.
    #[arg(required_unless_present = "locked")]
    pub source: Option<String>,
    /// Install exactly what the lockfile pins (commits and file hashes).
    #[arg(long, conflicts_with = "source")]
    pub locked: bool,
    #[command(flatten)]
    pub scope: ScopeArgs,
}

#[derive(Subcommand, Debug, Clone)]
pub enum PackageCommand {
    /// Write a `formula-package.toml` for a folder of formulas.
    Init {
        /// The folder (default: the current directory).
        dir: Option<PathBuf>,
        #[arg(long)]
        name: Option<String>,
        #[arg(long, default_value = "0.1.0")]
        version: String,
    },
}

fn opts(scope: &ScopeArgs) -> InstallOptions {
    InstallOptions {
        scope: scope.scope(),
        cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
        env: Env::from_process(),
    }
}

fn fail(e: PackageError) -> i32 {
    eprintln!("error: {e}");
    match e {
        PackageError::Usage(_) => EXIT_USAGE,
        _ => EXIT_FINDINGS,
    }
}

pub fn install(a: &InstallArgs, json: bool) -> i32 {
    let o = opts(&a.scope);
    let result = match &a.source {
        Some(src) if !a.locked => packages::install(src, &o),
        _ => packages::install_locked(&o),
    };
    report(result, json)
}

pub fn update(pkg: Option<&str>, scope: &ScopeArgs, json: bool) -> i32 {
    report(packages::update(pkg, &opts(scope)), json)
}

pub fn remove(pkg: &str, scope: &ScopeArgs, json: bool) -> i32 {
    report(packages::remove(pkg, &opts(scope)), json)
}

fn report(result: packages::Result<Outcome>, json: bool) -> i32 {
    let out = match result {
        Ok(o) => o,
        Err(e) => return fail(e),
    };
    for n in &out.notes {
        eprintln!("note: {n}");
    }
    if json {
        let v = serde_json::json!({
            "lock": out.lock_path.display().to_string(),
            "changed": out.changed.iter().map(|(_, new)| new).collect::<Vec<_>>(),
            "removed": out.removed.iter().map(|p| &p.name).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return EXIT_OK;
    }
    for (old, new) in &out.changed {
        let at = new
            .commit
            .as_deref()
            .map(|c| format!(" at {}", &c[..c.len().min(12)]))
            .unwrap_or_default();
        match old {
            Some(o) if o.version != new.version || o.commit != new.commit => println!(
                "updated {} {} -> {}{at} ({} files)",
                new.name,
                o.version,
                new.version,
                new.files.len()
            ),
            _ => println!(
                "installed {} {}{at} from {} ({} files)",
                new.name,
                new.version,
                new.source,
                new.files.len()
            ),
        }
    }
    for r in &out.removed {
        println!("removed {} {}", r.name, r.version);
    }
    if out.changed.is_empty() && out.removed.is_empty() {
        println!("nothing changed; {} is current", out.lock_path.display());
    } else {
        println!("wrote {}", out.lock_path.display());
    }
    EXIT_OK
}

pub fn verify(scope: &ScopeArgs, json: bool) -> i32 {
    let o = opts(scope);
    let homes = if scope.given() {
        match Home::locate(o.scope, &o.cwd, &o.env) {
            Ok(h) => vec![h],
            Err(e) => return fail(e),
        }
    } else {
        Home::all(&o.cwd, &o.env)
    };
    let findings = match packages::verify::verify(&homes) {
        Ok(f) => f,
        Err(e) => return fail(e),
    };
    if json {
        let v: Vec<_> = findings
            .iter()
            .map(|f| serde_json::json!({"tier": f.tier, "package": f.package, "file": f.file, "problem": f.problem}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else if findings.is_empty() {
        println!("every installed file matches its lock");
    } else {
        for f in &findings {
            println!(
                "{} ({} tier, package {}): {}",
                f.file, f.tier, f.package, f.problem
            );
        }
        eprintln!("help: restore the locked files with `gt formula install --locked`, or accept changes with `gt formula update PKG`");
    }
    if findings.is_empty() {
        EXIT_OK
    } else {
        EXIT_FINDINGS
    }
}

pub fn list_installed(json: bool) -> i32 {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let all = match packages::verify::installed(&cwd, &Env::from_process()) {
        Ok(a) => a,
        Err(e) => return fail(e),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&all).unwrap_or_default());
        return EXIT_OK;
    }
    if all.is_empty() {
        println!("no formula packages installed; add one with `gt formula install SOURCE`");
        return EXIT_OK;
    }
    for p in &all {
        let at = p
            .reference
            .as_deref()
            .map(|r| format!("@{r}"))
            .unwrap_or_default();
        println!(
            "{} {}  ({} tier)  {}{at}",
            p.name, p.version, p.tier, p.source
        );
        for f in &p.formulas {
            let mut line = format!("    {}/{}", p.name, f.name);
            if let Some(by) = &f.shadowed_by {
                line.push_str(&format!("  (bare `{}` is shadowed by {by})", f.name));
            }
            for s in &f.shadows {
                line.push_str(&format!("  shadows {s}"));
            }
            println!("{line}");
        }
    }
    EXIT_OK
}

pub fn new_formula(name: &str, dir: Option<&PathBuf>) -> i32 {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let dir = dir.cloned().unwrap_or_else(|| {
        cwd.ancestors()
            .find(|d| d.join(".beads").is_dir())
            .map(|p| p.join(".beads").join("formulas"))
            .unwrap_or(cwd.clone())
    });
    match packages::scaffold::new_formula(name, &dir) {
        Ok(p) => {
            println!("wrote {}", p.display());
            println!(
                "next: edit it, then `gt formula lint {}` and `gt cook {name}`",
                p.display()
            );
            EXIT_OK
        }
        Err(e) => fail(e),
    }
}

pub fn package(cmd: &PackageCommand) -> i32 {
    match cmd {
        PackageCommand::Init { dir, name, version } => {
            let dir = dir.clone().unwrap_or_else(|| PathBuf::from("."));
            match packages::scaffold::package_init(&dir, name.as_deref(), version) {
                Ok(p) => {
                    println!("wrote {}", p.display());
                    EXIT_OK
                }
                Err(e) => fail(e),
            }
        }
    }
}

/// `gt formula fmt [--check] [PATHS]`.
pub fn fmt(paths: &[PathBuf], check: bool) -> i32 {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let paths = if paths.is_empty() {
        vec![cwd
            .ancestors()
            .map(|d| d.join(".beads").join("formulas"))
            .find(|d| d.is_dir())
            .unwrap_or_else(|| PathBuf::from("."))]
    } else {
        paths.to_vec()
    };
    let files = match crate::formula::lint::collect_files(&paths) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let mut unformatted = 0;
    let mut failed = 0;
    for f in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "toml"))
    {
        let text = match std::fs::read_to_string(f) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", f.display());
                failed += 1;
                continue;
            }
        };
        let formatted = match packages::tidy::format_toml(&text) {
            Ok(t) => t,
            Err(e) => {
                eprintln!(
                    "error: {}: {e}; fix it (`gt formula lint` shows where), then format",
                    f.display()
                );
                failed += 1;
                continue;
            }
        };
        if formatted == text {
            continue;
        }
        unformatted += 1;
        if check {
            println!("would reformat {}", f.display());
        } else if let Err(e) = write_atomic(f, &formatted) {
            eprintln!("error: cannot write {}: {e}", f.display());
            failed += 1;
        } else {
            println!("formatted {}", f.display());
        }
    }
    if failed > 0 || (check && unformatted > 0) {
        if check && unformatted > 0 {
            eprintln!("{unformatted} file(s) need formatting; run `gt formula fmt`");
        }
        EXIT_FINDINGS
    } else {
        EXIT_OK
    }
}

fn write_atomic(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("toml.fmt-tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}
