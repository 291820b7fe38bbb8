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
    /// Bind vars (apply defaults, validate, substitute `{{var}}`).
    pub bind_vars: bool,
}

/// A failed cook: the rendered diagnostics, ready to print.
#[derive(Debug, thiserror::Error)]
#[error("{rendered}")]
pub struct CookFailure {
    pub rendered: String,
}

/// Cook a formula into a protomolecule.
pub fn cook(opts: &CookOptions) -> Result<Proto, CookFailure> {
    Err(CookFailure {
        rendered: format!(
            "cannot cook `{}`: the compiler is not wired in yet",
            opts.target
        ),
    })
}
