//! The compiler's entry points for other modules (pour, sling, run).

use super::proto::Proto;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What to cook and how.
#[derive(Debug, Clone, Default)]
pub struct CookOptions {
    /// A formula name (looked up on the search path) or a path to a file.
    pub target: String,
    /// Replaces the default search path when set.
    pub search_path: Option<Vec<PathBuf>>,
    /// The directory that stands for "the project" in the search path.
    pub cwd: PathBuf,
    /// `--var` values.
    pub vars: BTreeMap<String, String>,
    /// Bind vars (apply defaults, validate, substitute `{{var}}`, and drop
    /// steps whose condition is false).
    pub bind_vars: bool,
    /// Cap on generated steps; `None` means the default (1,000,000).
    pub max_steps: Option<usize>,
}

/// A failed cook: the rendered diagnostics, ready to print.
#[derive(Debug, thiserror::Error)]
#[error("{rendered}")]
pub struct CookFailure {
    pub rendered: String,
}

/// Cook a formula into a protomolecule.
pub fn cook(opts: &CookOptions) -> Result<Proto, CookFailure> {
    let env = super::library::Env::from_process();
    let compiled = super::compile::compile(opts, &env);
    match compiled.proto {
        Some(p) => Ok(p),
        None => Err(CookFailure {
            rendered: super::diag::render_human_all(
                compiled.diagnostics(),
                &compiled.session.sources,
                false,
            ),
        }),
    }
}
