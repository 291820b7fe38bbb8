//! The compiler driver: load -> resolve -> check -> cook -> bind vars.

use super::api::CookOptions;
use super::ast::Formula;
use super::check;
use super::codes::Code;
use super::diag::{has_errors, sort_and_dedup, Diagnostic};
use super::library::{Env, SearchPath, Session};
use super::proto::{Proto, TextKind};
use super::vars::{self, VarError};
use std::path::{Path, PathBuf};

/// The result of one compile: the proto if there were no errors, and the
/// session with every source and diagnostic.
pub struct Compiled {
    pub proto: Option<Proto>,
    pub session: Session,
}

impl Compiled {
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.session.diags
    }
}

/// Is this argument a path rather than a formula name?
pub fn looks_like_path(target: &str) -> bool {
    if super::library::split_qualified(target).is_some() && !Path::new(target).exists() {
        return false; // `pkg/formula`: an installed package's formula
    }
    target.contains('/')
        || target.contains('\\')
        || target.ends_with(".toml")
        || target.ends_with(".json")
        || Path::new(target).is_file()
}

/// The search path for a run: explicit if given, else discovered.
pub fn search_path(opts: &CookOptions, env: &Env) -> SearchPath {
    match &opts.search_path {
        Some(paths) => SearchPath::explicit(paths),
        None => SearchPath::discover(&opts.cwd, env),
    }
}

/// Load the target (by path or name), resolve, check. Returns the
/// resolved formula when it could be read.
pub fn load_and_check(
    sess: &mut Session,
    target: &str,
    cwd: &Path,
) -> Option<std::rc::Rc<Formula>> {
    let loaded = if looks_like_path(target) {
        let path = if Path::new(target).is_absolute() {
            PathBuf::from(target)
        } else {
            cwd.join(target)
        };
        let display = PathBuf::from(target);
        if let Some(dir) = path.parent() {
            sess.search = sess.search.with_local(dir);
        }
        sess.load_path(&display_or(&path, &display, cwd))
    } else {
        sess.load_name(target, None)
    }?;
    let (_, f) = loaded;
    let resolved = sess.resolve(f);
    check::check(&resolved, &sess.sources, &mut sess.diags);
    Some(resolved)
}

/// Prefer the path as the user typed it (for display), when it resolves
/// to the same file from the cwd.
fn display_or(abs: &Path, typed: &Path, cwd: &Path) -> PathBuf {
    if typed.is_relative() && std::env::current_dir().ok().as_deref() == Some(cwd) {
        typed.to_path_buf()
    } else {
        abs.to_path_buf()
    }
}

pub fn compile(opts: &CookOptions, env: &Env) -> Compiled {
    let mut sess = Session::new(search_path(opts, env));
    let resolved = load_and_check(&mut sess, &opts.target, &opts.cwd);
    let mut proto = None;
    if let Some(f) = resolved {
        let bind_vars = opts.bind_vars || !opts.vars.is_empty();
        let transformed = if has_errors(&sess.diags) {
            None
        } else {
            sess.forget_formulas();
            let f = std::rc::Rc::try_unwrap(f).unwrap_or_else(|rc| (*rc).clone());
            transform_owned(&mut sess, f, &opts.vars, bind_vars, opts.max_steps)
        };
        if let Some(mut f) = transformed.filter(|_| !has_errors(&sess.diags)) {
            // The type may be inferred from content: pin it before the steps move.
            if f.kind.is_none() {
                let at = super::source::Span::new(f.file, 0..0);
                f.kind = Some(super::ast::Sp::new(f.effective_kind().to_string(), at));
            }
            let steps = std::mem::take(&mut f.steps);
            let mut p = super::cook::cook_steps(&f, steps, &sess);
            if bind_vars {
                match bind(&mut p, &f, &opts.vars) {
                    Ok(warnings) | Err(warnings) => sess.diags.extend(warnings),
                }
            }
            proto = Some(p);
        }
    }
    sort_and_dedup(&mut sess.diags);
    if has_errors(&sess.diags) {
        proto = None;
    }
    Compiled {
        proto,
        session: sess,
    }
}

/// Run the transform pipeline on a copy of the resolved formula. Var
/// values known at compile time (defaults overridden by `--var`) feed loop
/// ranges, and, when binding, step conditions.
pub fn run_transforms(
    sess: &mut Session,
    f: &Formula,
    supplied: &std::collections::BTreeMap<String, String>,
    bind_vars: bool,
    max_steps: Option<usize>,
) -> Option<Formula> {
    transform_owned(sess, f.clone(), supplied, bind_vars, max_steps)
}

/// [`run_transforms`] on a formula the caller gives up.
fn transform_owned(
    sess: &mut Session,
    mut out: Formula,
    supplied: &std::collections::BTreeMap<String, String>,
    bind_vars: bool,
    max_steps: Option<usize>,
) -> Option<Formula> {
    let mut vars: std::collections::BTreeMap<String, String> = out
        .vars
        .iter()
        .filter_map(|v| Some((v.name.value.clone(), v.default.as_ref()?.value.clone())))
        .collect();
    vars.extend(supplied.iter().map(|(k, v)| (k.clone(), v.clone())));
    let formula = out.name_str().to_string();
    let mut cx = super::compose::Cx {
        vars,
        filter_conditions: bind_vars,
        max_steps: max_steps.unwrap_or(super::compose::DEFAULT_MAX_STEPS),
        formula,
        sess,
        generation: 0,
    };
    super::compose::transform(&mut out, &mut cx).then_some(out)
}

/// Apply defaults, enforce the var rules and substitute `{{var}}`.
pub fn bind(
    proto: &mut Proto,
    f: &Formula,
    supplied: &std::collections::BTreeMap<String, String>,
) -> Result<Vec<Diagnostic>, Vec<Diagnostic>> {
    let referenced = proto.referenced_vars();
    let mut warnings: Vec<Diagnostic> = vars::undeclared(&proto.vars, supplied)
        .iter()
        .map(|e| var_diagnostic(e, f))
        .collect();
    let values = vars::bind(&proto.vars, supplied, &referenced).map_err(|errs| {
        errs.into_iter()
            .map(|e| var_diagnostic(&e, f))
            .chain(warnings.drain(..))
            .collect::<Vec<_>>()
    })?;
    let mut errors = Vec::new();
    proto.texts_mut(&mut |t, kind| match kind {
        TextKind::Plain => *t = vars::substitute(t, &values),
        TextKind::Shell => match vars::substitute_shell(t, &values) {
            Ok(done) => *t = done,
            Err(e) => errors.push(var_diagnostic(&e, f)),
        },
    });
    if !errors.is_empty() {
        return Err(errors);
    }
    proto.bound_vars = Some(values);
    Ok(warnings)
}

fn var_diagnostic(e: &VarError, f: &Formula) -> Diagnostic {
    let (code, name) = match e {
        VarError::Missing { name } => (Code::F0030, name),
        VarError::Undeclared { name, .. } => (Code::F0032, name),
        VarError::NotInEnum { name, .. }
        | VarError::UnsafeRun { name, .. }
        | VarError::PatternMismatch { name, .. }
        | VarError::BadPattern { name, .. }
        | VarError::WrongType { name, .. } => (Code::F0031, name),
    };
    let help = match e {
        // These read like a placement problem: name the code they carry.
        VarError::UnsafeRun { .. } => format!("{}; see {}", e.help(), code.docs_anchor()),
        _ => e.help(),
    };
    let mut d = Diagnostic::new(code, e.to_string()).help(help);
    if let Some(v) = f.var(name) {
        let label = match e {
            VarError::Missing { .. } => "declared here, with no default",
            VarError::NotInEnum { .. } => "its allowed values are declared here",
            VarError::PatternMismatch { .. } => "its pattern is declared here",
            VarError::WrongType { .. } => "its type is declared here",
            _ => "declared here",
        };
        let span = match e {
            VarError::NotInEnum { .. } => v.enum_values.as_ref().map(|x| x.span),
            VarError::PatternMismatch { .. } | VarError::BadPattern { .. } => {
                v.pattern.as_ref().map(|x| x.span)
            }
            VarError::WrongType { .. } => v.value_type.as_ref().map(|x| x.span),
            _ => None,
        }
        .unwrap_or(v.name.span);
        d = d.at(span, label);
    }
    d
}
