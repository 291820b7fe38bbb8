//! `gt formula lint`: check many formula files in one run and report in a
//! format for people or for CI (JSON, SARIF 2.1.0, GitHub annotations).

use super::check;
use super::diag::{self, has_errors, Diagnostic, Severity};
use super::library::{SearchPath, Session};
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
    Sarif,
    Github,
}

/// The outcome of a lint run.
pub struct LintReport {
    pub session: Session,
    pub files: Vec<PathBuf>,
    /// Per diagnostic: the linted file it was found under (for diagnostics
    /// with no span, such as an unreadable file).
    pub owners: Vec<PathBuf>,
}

impl LintReport {
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.session.diags
    }

    pub fn count(&self, sev: Severity) -> usize {
        self.session
            .diags
            .iter()
            .filter(|d| d.severity == sev)
            .count()
    }

    /// 0 clean, 1 findings (errors; or warnings with `deny_warnings`).
    pub fn exit_code(&self, deny_warnings: bool) -> i32 {
        if has_errors(&self.session.diags) || (deny_warnings && self.count(Severity::Warning) > 0) {
            1
        } else {
            0
        }
    }
}

/// What a walk of the arguments found.
#[derive(Debug, Default)]
pub struct Walk {
    /// Formula files, sorted, each once.
    pub files: Vec<PathBuf>,
    /// Directory symlinks that lead back to a directory they sit in
    /// (`link`, and the real directory it reaches), each walked no further.
    pub loops: Vec<(PathBuf, PathBuf)>,
}

/// Expand the arguments into formula files: files as given, directories
/// walked recursively for `*.formula.toml` / `*.formula.json`, sorted.
pub fn collect_files(args: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    walk_args(args).map(|w| w.files)
}

/// [`collect_files`], also reporting directory symlink loops. Each real
/// directory is walked once (by canonical path), so a loop cannot hang the
/// walk and an alias of a walked directory adds nothing.
pub fn walk_args(args: &[PathBuf]) -> Result<Walk, String> {
    let mut out = Walk::default();
    let mut visited = rustc_hash::FxHashSet::default();
    for a in args {
        if a.is_dir() {
            let mut stack = Vec::new();
            walk(a, &mut stack, &mut visited, &mut out)
                .map_err(|e| format!("cannot read directory `{}`: {e}", a.display()))?;
        } else if a.exists() {
            out.files.push(a.clone());
        } else {
            return Err(format!(
                "`{}` does not exist; pass formula files or directories",
                a.display()
            ));
        }
    }
    out.files.sort();
    out.files.dedup();
    Ok(out)
}

/// `stack` holds the canonical paths of the directories being walked
/// (the current one's ancestors); `visited` every directory walked so far.
fn walk(
    dir: &Path,
    stack: &mut Vec<PathBuf>,
    visited: &mut rustc_hash::FxHashSet<PathBuf>,
    out: &mut Walk,
) -> std::io::Result<()> {
    let real = std::fs::canonicalize(dir)?;
    if stack.contains(&real) {
        out.loops.push((dir.to_path_buf(), real));
        return Ok(());
    }
    if !visited.insert(real.clone()) {
        return Ok(());
    }
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    stack.push(real);
    for e in entries {
        let p = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        if p.is_dir() {
            if !name.starts_with('.') || name == ".beads" || name == "formulas" {
                walk(&p, stack, visited, out)?;
            }
        } else if super::library::formula_stem(&name).is_some() {
            out.files.push(p);
        }
    }
    stack.pop();
    Ok(())
}

/// The diagnostic for a directory symlink loop found by [`walk_args`].
pub fn loop_diagnostic(link: &Path, target: &Path) -> Diagnostic {
    Diagnostic::new(
        super::codes::Code::F0053,
        format!(
            "`{}` is a symlink back to `{}`, a directory it sits in; not walked again",
            link.display(),
            target.display()
        ),
    )
    .help("remove the symlink, or point it outside the formula directory; every real directory is linted once")
}

/// Lint every file. One session is shared, so a parent formula is parsed
/// (and its problems reported) once.
pub fn lint(files: &[PathBuf], base: &SearchPath) -> LintReport {
    lint_with_cap(files, base, super::compose::DEFAULT_MAX_STEPS)
}

/// Lint what [`walk_args`] found: every file, plus a diagnostic per
/// directory loop.
pub fn lint_walk(walk: &Walk, base: &SearchPath, max_steps: usize) -> LintReport {
    let mut report = lint_with_cap(&walk.files, base, max_steps);
    for (link, target) in &walk.loops {
        report.session.diags.push(loop_diagnostic(link, target));
        report.owners.push(link.clone());
    }
    report
}

/// [`lint`] with a cap on generated steps (`--max-steps`).
pub fn lint_with_cap(files: &[PathBuf], base: &SearchPath, max_steps: usize) -> LintReport {
    let mut sess = Session::new(base.clone());
    let mut owners = Vec::new();
    for file in files {
        let before = sess.diags.len();
        sess.search = match file.parent() {
            Some(dir) => base.with_local(dir),
            None => base.clone(),
        };
        if let Some((_, f)) = sess.load_path(file) {
            let resolved = sess.resolve(f);
            let before_check = sess.diags.len();
            check::check(&resolved, &sess.sources, &mut sess.diags);
            // Transform-time problems (unknown compose targets, loops past
            // the cap ...) only show when the pipeline runs.
            if !diag::has_errors(&sess.diags[before_check..]) {
                let _ = super::compile::run_transforms(
                    &mut sess,
                    &resolved,
                    &Default::default(),
                    false,
                    Some(max_steps),
                );
            }
        }
        owners.extend(std::iter::repeat_n(file.clone(), sess.diags.len() - before));
    }
    // Sort diagnostics together with their owners, then drop duplicates
    // (a parent's problem found again through a child).
    let mut pairs: Vec<(Diagnostic, PathBuf)> = sess.diags.drain(..).zip(owners).collect();
    pairs.sort_by(|a, b| {
        let ka =
            a.0.primary
                .as_ref()
                .map(|l| (l.span.file(), l.span.start()));
        let kb =
            b.0.primary
                .as_ref()
                .map(|l| (l.span.file(), l.span.start()));
        (ka.is_none(), ka, a.0.code).cmp(&(kb.is_none(), kb, b.0.code))
    });
    pairs.dedup_by(|a, b| a.0 == b.0);
    let (diags, owners): (Vec<_>, Vec<_>) = pairs.into_iter().unzip();
    sess.diags = diags;
    LintReport {
        session: sess,
        files: files.to_vec(),
        owners,
    }
}

pub fn render(report: &LintReport, format: Format, color: bool) -> String {
    match format {
        Format::Human => human(report, color),
        Format::Json => json(report),
        Format::Sarif => sarif(report),
        Format::Github => github(report),
    }
}

fn human(report: &LintReport, color: bool) -> String {
    let mut out = diag::render_human_all(report.diagnostics(), &report.session.sources, color);
    let errors = report.count(Severity::Error);
    let warnings = report.count(Severity::Warning);
    out.push_str(&format!(
        "{} file{} checked: {} error{}, {} warning{}\n",
        report.files.len(),
        plural(report.files.len()),
        errors,
        plural(errors),
        warnings,
        plural(warnings)
    ));
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn json(report: &LintReport) -> String {
    let diagnostics: Vec<serde_json::Value> = report
        .diagnostics()
        .iter()
        .zip(&report.owners)
        .map(|(d, owner)| {
            let mut v =
                serde_json::to_value(diag::to_json(d, &report.session.sources)).unwrap_or_default();
            if d.primary.is_none() {
                v["file"] = json!(owner.display().to_string());
            }
            v
        })
        .collect();
    let out = json!({
        "format_version": diag::JSON_FORMAT_VERSION,
        "files": report.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
        "summary": {
            "files": report.files.len(),
            "errors": report.count(Severity::Error),
            "warnings": report.count(Severity::Warning),
        },
        "diagnostics": diagnostics,
    });
    let mut s = serde_json::to_string_pretty(&out).unwrap_or_default();
    s.push('\n');
    s
}

fn sarif_level(sev: Severity) -> &'static str {
    match sev {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

fn sarif_uri(path: &str) -> String {
    path.trim_start_matches("./").replace('\\', "/")
}

fn sarif(report: &LintReport) -> String {
    use super::codes::Code;
    let sources = &report.session.sources;
    let rules: Vec<serde_json::Value> = Code::ALL
        .iter()
        .map(|c| {
            json!({
                "id": c.as_str(),
                "name": c.name(),
                "shortDescription": { "text": c.summary() },
                "help": { "text": format!("See {} in the gastown repository.", c.docs_anchor()) },
                "defaultConfiguration": { "level": sarif_level(c.severity()) },
            })
        })
        .collect();
    let region = |span: super::source::Span| {
        let loc = diag::locate(span, sources);
        json!({
            "physicalLocation": {
                "artifactLocation": { "uri": sarif_uri(&loc.file) },
                "region": {
                    "startLine": loc.line,
                    "startColumn": loc.column,
                    "endLine": loc.end_line,
                    "endColumn": loc.end_column.max(if loc.end_line == loc.line { loc.column + 1 } else { 1 }),
                }
            }
        })
    };
    let results: Vec<serde_json::Value> = report
        .diagnostics()
        .iter()
        .zip(&report.owners)
        .map(|(d, owner)| {
            let mut text = d.message.clone();
            if let Some(h) = &d.help {
                text.push_str(&format!("\nhelp: {h}"));
            }
            let location = match &d.primary {
                Some(l) => region(l.span),
                // Whole-file problems (not UTF-8, empty, unreadable): line 1.
                None => json!({
                    "physicalLocation": {
                        "artifactLocation": { "uri": sarif_uri(&owner.display().to_string()) },
                        "region": { "startLine": 1, "startColumn": 1 }
                    }
                }),
            };
            let related: Vec<serde_json::Value> = d
                .secondary
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    let mut r = region(l.span);
                    r["id"] = json!(i + 1);
                    r["message"] = json!({ "text": l.message });
                    r
                })
                .collect();
            let rule_index = Code::ALL.iter().position(|c| *c == d.code).unwrap_or(0);
            let mut result = json!({
                "ruleId": d.code.as_str(),
                "ruleIndex": rule_index,
                "level": sarif_level(d.severity),
                "message": { "text": text },
                "locations": [location],
            });
            if !related.is_empty() {
                result["relatedLocations"] = json!(related);
            }
            result
        })
        .collect();
    let out = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "gt-formula-lint",
                    "semanticVersion": env!("CARGO_PKG_VERSION"),
                    "rules": rules,
                }
            },
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    });
    let mut s = serde_json::to_string_pretty(&out).unwrap_or_default();
    s.push('\n');
    s
}

/// GitHub Actions workflow commands (`::error file=...::message`).
fn github(report: &LintReport) -> String {
    fn data(s: &str) -> String {
        s.replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A")
    }
    fn prop(s: &str) -> String {
        data(s).replace(':', "%3A").replace(',', "%2C")
    }
    let mut out = String::new();
    for (d, owner) in report.diagnostics().iter().zip(&report.owners) {
        let level = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut props = Vec::new();
        match &d.primary {
            Some(l) => {
                let loc = diag::locate(l.span, &report.session.sources);
                props.push(format!("file={}", prop(&loc.file)));
                props.push(format!("line={}", loc.line));
                props.push(format!("col={}", loc.column));
                props.push(format!("endLine={}", loc.end_line));
                props.push(format!("endColumn={}", loc.end_column));
            }
            None => props.push(format!("file={}", prop(&owner.display().to_string()))),
        }
        props.push(format!(
            "title={}",
            prop(&format!("{} {}", d.code.as_str(), d.code.name()))
        ));
        let mut msg = d.message.clone();
        if let Some(h) = &d.help {
            msg.push_str(&format!("\nhelp: {h}"));
        }
        out.push_str(&format!("::{level} {}::{}\n", props.join(","), data(&msg)));
    }
    out
}
