//! Formula commands shared by `gt` and `bd`: cook, formula lint/list/show.

use crate::formula::api::CookOptions;
use crate::formula::compile::{self, Compiled};
use crate::formula::diag::{self, stderr_wants_color};
use crate::formula::library::{Env, Location, SearchPath};
use crate::formula::lint;
use crate::formula::render;
use crate::formula::vars::parse_var_arg;
use clap::{Args, Subcommand, ValueEnum};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Exit codes shared by the formula commands (see docs/lint.md).
pub const EXIT_OK: i32 = 0;
pub const EXIT_FINDINGS: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_INTERNAL: i32 = 3;

#[derive(Args, Debug, Clone, Default)]
pub struct SearchArgs {
    /// Replace the formula search path with these directories (repeatable;
    /// `@stdlib` adds the embedded library).
    #[arg(long = "formula-path", value_name = "DIR", global = true)]
    pub formula_path: Vec<PathBuf>,
}

impl SearchArgs {
    fn search_path(&self, cwd: &Path) -> SearchPath {
        if self.formula_path.is_empty() {
            SearchPath::discover(cwd, &Env::from_process())
        } else {
            SearchPath::explicit(&self.formula_path)
        }
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum, Default)]
pub enum CookFormat {
    #[default]
    Json,
    Tree,
    Dot,
    Mermaid,
}

#[derive(Args, Debug, Clone)]
pub struct CookArgs {
    /// A formula name (looked up on the search path) or a path to a file.
    pub target: String,
    /// Bind a var: `--var key=value` (repeatable). Applies defaults and
    /// enforces required/enum/pattern/type.
    #[arg(long = "var", value_name = "KEY=VALUE")]
    pub vars: Vec<String>,
    /// Write the output to a file instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = CookFormat::Json)]
    pub format: CookFormat,
    /// Cap on the number of generated steps (loops, expansions).
    #[arg(long, value_name = "N", default_value_t = crate::formula::compose::DEFAULT_MAX_STEPS)]
    pub max_steps: usize,
    /// Explain where a step came from: its source and the transforms that
    /// made it (by id or path, e.g. `implement.draft`).
    #[arg(long, value_name = "STEP")]
    pub explain: Option<String>,
    /// Write every generated step out (JSON only): a large loop is
    /// otherwise one template plus its range (IR version 2); this writes
    /// IR version 1, for tools that read only that.
    #[arg(long)]
    pub expand: bool,
    #[command(flatten)]
    pub search: SearchArgs,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum LintFormat {
    Human,
    Json,
    Sarif,
    Github,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Deny {
    Warnings,
}

#[derive(Args, Debug, Clone)]
pub struct LintArgs {
    /// Formula files or directories (default: the project's
    /// `.beads/formulas`, else the current directory).
    pub paths: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = LintFormat::Human)]
    pub format: LintFormat,
    /// Treat warnings as findings (exit code 1).
    #[arg(long, value_enum)]
    pub deny: Option<Deny>,
    /// Cap on the number of generated steps (loops, expansions).
    #[arg(long, value_name = "N", default_value_t = crate::formula::compose::DEFAULT_MAX_STEPS)]
    pub max_steps: usize,
    #[command(flatten)]
    pub search: SearchArgs,
}

#[derive(Subcommand, Debug, Clone)]
pub enum FormulaCommand {
    /// Check formula files and report every problem.
    Lint(LintArgs),
    /// List the formulas on the search path, with their source and what they shadow.
    List {
        /// List installed packages instead: name, version, source, tier,
        /// and which of their formulas shadow or are shadowed.
        #[arg(long)]
        installed: bool,
        #[command(flatten)]
        search: SearchArgs,
    },
    /// Install a formula package (git URL[@ref], folder or .tar.gz) and lock it.
    Install(super::formula_pkg::InstallArgs),
    /// Move installed packages to their newest matching version.
    Update {
        /// One package (default: all of the tier's).
        package: Option<String>,
        #[command(flatten)]
        scope: super::formula_pkg::ScopeArgs,
    },
    /// Remove an installed package.
    Remove {
        package: String,
        #[command(flatten)]
        scope: super::formula_pkg::ScopeArgs,
    },
    /// Re-hash installed package files against the lock; name every change.
    Verify {
        #[command(flatten)]
        scope: super::formula_pkg::ScopeArgs,
    },
    /// Scaffold a new formula with vars and steps.
    New {
        name: String,
        /// Where to write it (default: the project's `.beads/formulas`).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Format formula files canonically (comments kept).
    Fmt {
        /// Files or directories (default: the project's `.beads/formulas`).
        paths: Vec<PathBuf>,
        /// Report files that would change, and exit 1 if any (for CI).
        #[arg(long)]
        check: bool,
    },
    /// Formula packages: write a manifest.
    #[command(subcommand)]
    Package(super::formula_pkg::PackageCommand),
    /// Show one formula, resolved (extends applied).
    Show {
        name: String,
        #[command(flatten)]
        search: SearchArgs,
    },
}

fn cwd() -> PathBuf {
    std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))
}

fn parse_vars(args: &[String]) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for a in args {
        let (k, v) = parse_var_arg(a)?;
        out.insert(k, v);
    }
    Ok(out)
}

fn print_diags(compiled: &Compiled) {
    let text = diag::render_human_all(
        compiled.diagnostics(),
        &compiled.session.sources,
        stderr_wants_color(),
    );
    eprint!("{text}");
}

/// Write to `--out` atomically (temp file + rename), or to stdout.
fn emit(out: Option<&Path>, text: &str) -> i32 {
    emit_with(out, &mut |w| w.write_all(text.as_bytes()))
}

/// Like [`emit`], with a function that streams the output.
fn emit_with(
    out: Option<&Path>,
    write: &mut dyn FnMut(&mut dyn Write) -> std::io::Result<()>,
) -> i32 {
    match out {
        None => {
            let mut stdout = std::io::stdout().lock();
            // A closed stdout (piped into `head`) is not an error.
            let _ = write(&mut stdout);
            EXIT_OK
        }
        // A device or pipe (`--out /dev/null`) is written in place: a rename
        // would replace it with a regular file.
        Some(path) if path.exists() && !path.is_file() => {
            match std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .and_then(|mut f| write(&mut f))
            {
                Ok(()) => EXIT_OK,
                Err(e) => {
                    eprintln!("error: cannot write `{}`: {e}", path.display());
                    EXIT_FINDINGS
                }
            }
        }
        Some(path) => {
            let tmp = path.with_extension("tmp~");
            let result = std::fs::File::create(&tmp)
                .and_then(|mut f| write(&mut f))
                .and_then(|_| std::fs::rename(&tmp, path));
            match result {
                Ok(()) => EXIT_OK,
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    eprintln!("error: cannot write `{}`: {e}", path.display());
                    eprintln!("help: check that the directory exists and is writable");
                    EXIT_FINDINGS
                }
            }
        }
    }
}

pub fn cook(args: &CookArgs) -> i32 {
    crate::alloc::return_freed_memory_promptly();
    let vars = match parse_vars(&args.vars) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let cwd = cwd();
    let opts = CookOptions {
        target: args.target.clone(),
        search_path: (!args.search.formula_path.is_empty())
            .then(|| args.search.formula_path.clone()),
        cwd,
        bind_vars: !vars.is_empty(),
        vars,
        max_steps: Some(args.max_steps),
    };
    let compiled = compile::compile(&opts, &Env::from_process());
    print_diags(&compiled);
    let Some(proto) = &compiled.proto else {
        return EXIT_FINDINGS;
    };
    if let Err(e) = crate::packages::lock::enforce(&proto.sources) {
        eprintln!("error: {e}");
        return EXIT_FINDINGS;
    }
    if let Some(step) = &args.explain {
        return explain(proto, step, &compiled);
    }
    if args.format == CookFormat::Json {
        return emit_with(args.out.as_deref(), &mut |w| match args.expand {
            true => proto.write_json_expanded(w),
            false => proto.write_json(w),
        });
    }
    let text = match args.format {
        CookFormat::Json => unreachable!("streamed above"),
        CookFormat::Tree => render::tree(proto),
        CookFormat::Dot => render::dot(proto),
        CookFormat::Mermaid => render::mermaid(proto),
    };
    emit(args.out.as_deref(), &text)
}

/// `gt cook NAME --explain STEP`: where a step was written and every
/// transform that shaped it, with source lines.
fn explain(proto: &crate::formula::proto::Proto, step: &str, compiled: &Compiled) -> i32 {
    let Some(s) = proto.step(step) else {
        let paths: Vec<String> = proto.steps().map(|s| s.path.clone()).collect();
        let hint = crate::formula::suggest::did_you_mean(step, paths.iter().map(String::as_str));
        eprintln!("error: no step `{step}` in `{}`", proto.formula);
        match hint {
            Some(h) => eprintln!("help: did you mean `{h}`?"),
            None => eprintln!(
                "help: `gt cook {} --format tree` lists the steps",
                proto.formula
            ),
        }
        return EXIT_FINDINGS;
    };
    let line_of = |file: &str, line: u32| -> Option<String> {
        let (_, src) = compiled
            .session
            .sources
            .iter()
            .find(|(_, f)| f.name == file)?;
        src.text
            .lines()
            .nth(line.checked_sub(1)? as usize)
            .map(|l| l.trim_end().to_string())
    };
    let p = &s.provenance;
    let mut out = format!("step `{}`: {:?}\n", s.id, s.title);
    out.push_str(&format!(
        "  written in formula `{}` at {}:{}:{}\n",
        p.formula, p.file, p.line, p.col
    ));
    if let Some(l) = line_of(&p.file, p.line) {
        out.push_str(&format!("      {} | {l}\n", p.line));
    }
    for c in crate::formula::render::conditions(proto, &s) {
        out.push_str(&format!("  {c}\n"));
    }
    if p.chain.is_empty() {
        out.push_str("  not generated: it appears in the source as written\n");
    }
    for link in &p.chain {
        out.push_str(&format!("  - {link}\n"));
        // `text (file:line:col)`: show the rule's line too.
        if let Some((file, line)) = link
            .rsplit_once(" (")
            .and_then(|(_, loc)| loc.strip_suffix(')'))
            .and_then(|loc| {
                let mut parts = loc.rsplitn(3, ':');
                let _col = parts.next()?;
                let line: u32 = parts.next()?.parse().ok()?;
                Some((parts.next()?.to_string(), line))
            })
        {
            if let Some(l) = line_of(&file, line) {
                out.push_str(&format!("      {line} | {l}\n"));
            }
        }
    }
    emit(None, &out)
}

/// `json` is the binary's global `--json` flag.
pub fn run(cmd: &FormulaCommand, json: bool) -> i32 {
    match cmd {
        FormulaCommand::Lint(args) => lint_cmd(args),
        FormulaCommand::List {
            installed: true, ..
        } => super::formula_pkg::list_installed(json),
        FormulaCommand::List { search, .. } => list(json, search),
        FormulaCommand::Install(a) => super::formula_pkg::install(a, json),
        FormulaCommand::Update { package, scope } => {
            super::formula_pkg::update(package.as_deref(), scope, json)
        }
        FormulaCommand::Remove { package, scope } => {
            super::formula_pkg::remove(package, scope, json)
        }
        FormulaCommand::Verify { scope } => super::formula_pkg::verify(scope, json),
        FormulaCommand::New { name, dir } => super::formula_pkg::new_formula(name, dir.as_ref()),
        FormulaCommand::Fmt { paths, check } => super::formula_pkg::fmt(paths, *check),
        FormulaCommand::Package(c) => super::formula_pkg::package(c),
        FormulaCommand::Show { name, search } => show(name, json, search),
    }
}

fn lint_cmd(args: &LintArgs) -> i32 {
    crate::alloc::return_freed_memory_promptly();
    let cwd = cwd();
    let paths = if args.paths.is_empty() {
        let project = cwd
            .ancestors()
            .map(|d| d.join(".beads").join("formulas"))
            .find(|d| d.is_dir());
        vec![project.unwrap_or_else(|| PathBuf::from("."))]
    } else {
        args.paths.clone()
    };
    let walk = match lint::walk_args(&paths) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let report = lint::lint_walk(&walk, &args.search.search_path(&cwd), args.max_steps);
    let format = match args.format {
        LintFormat::Human => lint::Format::Human,
        LintFormat::Json => lint::Format::Json,
        LintFormat::Sarif => lint::Format::Sarif,
        LintFormat::Github => lint::Format::Github,
    };
    let text = lint::render(&report, format, stderr_wants_color());
    if format == lint::Format::Human {
        eprint!("{text}");
    } else {
        print!("{text}");
    }
    report.exit_code(args.deny == Some(Deny::Warnings))
}

fn list(json: bool, search: &SearchArgs) -> i32 {
    let sp = search.search_path(&cwd());
    let entries = sp.list();
    if json {
        let items: Vec<serde_json::Value> = entries
            .iter()
            .map(|(c, shadowed)| {
                serde_json::json!({
                    "name": c.name,
                    "source": c.location.display(),
                    "tier": c.tier.as_str(),
                    "shadows": shadowed.iter().map(|s| serde_json::json!({
                        "source": s.location.display(),
                        "tier": s.tier.as_str(),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        return emit(
            None,
            &format!(
                "{}\n",
                serde_json::to_string_pretty(&items).unwrap_or_default()
            ),
        );
    }
    if entries.is_empty() {
        println!("no formulas on the search path");
        return EXIT_OK;
    }
    let width = entries.iter().map(|(c, _)| c.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (c, shadowed) in &entries {
        out.push_str(&format!(
            "{:width$}  {:<15} {}\n",
            c.name,
            c.tier.as_str(),
            c.location.display()
        ));
        for s in shadowed {
            out.push_str(&format!(
                "{:width$}    shadows {} {}\n",
                "",
                s.tier.as_str(),
                s.location.display()
            ));
        }
    }
    emit(None, &out)
}

fn show(name: &str, json: bool, search: &SearchArgs) -> i32 {
    let cwd = cwd();
    let opts = CookOptions {
        target: name.to_string(),
        search_path: (!search.formula_path.is_empty()).then(|| search.formula_path.clone()),
        cwd: cwd.clone(),
        ..CookOptions::default()
    };
    let compiled = compile::compile(&opts, &Env::from_process());
    print_diags(&compiled);
    let Some(proto) = &compiled.proto else {
        return EXIT_FINDINGS;
    };
    let sp = search.search_path(&cwd);
    let found = if compile::looks_like_path(name) {
        Vec::new()
    } else {
        sp.find_all(name)
    };
    if json {
        let mut v = serde_json::to_value(proto).unwrap_or_default();
        v["resolved_from"] = serde_json::json!(found
            .iter()
            .map(|c| c.location.display())
            .collect::<Vec<_>>());
        return emit(
            None,
            &format!("{}\n", serde_json::to_string_pretty(&v).unwrap_or_default()),
        );
    }
    let mut out = String::new();
    out.push_str(&format!("formula: {}\n", proto.formula));
    if let Some(first) = found.first() {
        out.push_str(&format!(
            "source:  {} ({})\n",
            first.location.display(),
            first.tier.as_str()
        ));
        for s in &found[1..] {
            out.push_str(&format!(
                "shadows: {} ({})\n",
                s.location.display(),
                s.tier.as_str()
            ));
        }
    }
    if proto.sources.len() > 1 {
        let parents: Vec<&str> = proto
            .sources
            .iter()
            .map(|s| s.formula.as_str())
            .filter(|f| *f != proto.formula)
            .collect();
        out.push_str(&format!("uses:    {}\n", parents.join(", ")));
    }
    if !proto.root.description.is_empty() {
        out.push_str(&format!("\n{}\n", proto.root.description.trim()));
    }
    if !proto.vars.is_empty() {
        out.push_str("\nvars:\n");
        for v in &proto.vars {
            let mut line = format!("  {}", v.name);
            if v.required {
                line.push_str(" (required)");
            }
            if let Some(d) = &v.default {
                line.push_str(&format!(" = {d:?}"));
            }
            if let Some(desc) = &v.description {
                line.push_str(&format!("  {desc}"));
            }
            out.push_str(&line);
            out.push('\n');
        }
    }
    out.push('\n');
    out.push_str(&render::tree(proto));
    let _ = Location::Stdlib("");
    emit(None, &out)
}
