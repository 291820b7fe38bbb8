//! Errors of the store. Every variant carries what went wrong; [`StoreError::help`]
//! says how to fix it.

use std::path::PathBuf;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no beads store found (looked at $BEADS_DIR, $GT_TOWN/.beads, and every .beads/ from {cwd} upwards)")]
    NoStore { cwd: PathBuf },
    #[error("a beads store already exists at {0}")]
    AlreadyInitialized(PathBuf),
    #[error("{path} has schema version {found}, but this bd supports up to {supported}")]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("no issue `{id}`")]
    NotFound {
        id: String,
        suggestions: Vec<String>,
    },
    #[error("`{id}` is ambiguous: it is a prefix of {}", .matches.join(", "))]
    Ambiguous { id: String, matches: Vec<String> },
    #[error("invalid {what} `{value}`")]
    InvalidValue {
        what: &'static str,
        value: String,
        valid: Vec<String>,
    },
    #[error("invalid input: {0}")]
    Invalid(String),
    #[error("dependency would create a cycle: {}", .cycle.join(" -> "))]
    Cycle { cycle: Vec<String> },
    #[error("cannot claim {id}: {reason}")]
    ClaimConflict { id: String, reason: String },
    #[error(
        "refused: lease {id}:{have} is stale (the step is {status}, current generation {current})"
    )]
    StaleLease {
        id: String,
        have: i64,
        current: i64,
        status: String,
    },
    #[error("{id} already has parent {parent}")]
    HasParent { id: String, parent: String },
    #[error("{path}:{line}: corrupt JSONL line: {message}")]
    CorruptJsonl {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{0}")]
    BadId(#[from] crate::ids::IdError),
    #[error("refused to write {path}: it holds {} issue(s) the database lacks, with no tombstone: {}", .ids.len(), .ids.iter().take(10).cloned().collect::<Vec<_>>().join(", "))]
    ExportRefused { path: PathBuf, ids: Vec<String> },
    #[error(
        "the store at {dir} is read-only (opened with --readonly, or on a read-only file system)"
    )]
    ReadOnly { dir: PathBuf },
    #[error("the store vanished: {path} was deleted or replaced while this process was using it")]
    Vanished { path: PathBuf },
    #[error("invalid prefix `{0}`")]
    BadPrefix(String),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("JSON error: {0}")]
    Json(#[from] serde_json::Error),
    #[error("git error: {0}")]
    Git(#[from] git2::Error),
}

impl StoreError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StoreError::Io {
            path: path.into(),
            source,
        }
    }

    pub fn invalid(what: &'static str, value: impl Into<String>, valid: &[&str]) -> Self {
        StoreError::InvalidValue {
            what,
            value: value.into(),
            valid: valid.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// How to fix it, for the CLI to print under the error.
    pub fn help(&self) -> Option<String> {
        Some(match self {
            StoreError::NoStore { .. } => {
                "run `bd init` in your project, or set BEADS_DIR to a .beads directory".into()
            }
            StoreError::AlreadyInitialized(_) => {
                "use the existing store, or remove the .beads directory first".into()
            }
            StoreError::SchemaTooNew { .. } => {
                "this database was written by a newer bd; upgrade bd (gastown) to use it".into()
            }
            StoreError::NotFound { suggestions, .. } if !suggestions.is_empty() => {
                format!("did you mean: {}?", suggestions.join(", "))
            }
            StoreError::NotFound { .. } => "list issues with `bd list` or `bd search TEXT`".into(),
            StoreError::Ambiguous { .. } => "type more characters of the id".into(),
            StoreError::InvalidValue { valid, .. } => format!("valid values: {}", valid.join(", ")),
            StoreError::Cycle { .. } => {
                "remove one of the dependencies on the cycle (`bd dep remove A B`) first".into()
            }
            StoreError::ClaimConflict { .. } => "pick another issue from `bd ready`".into(),
            StoreError::StaleLease { .. } => {
                "this session's lease was taken over (the step was re-queued or closed); stop working on it. A person can run the command without GT_LEASE".into()
            }
            StoreError::HasParent { id, parent } => {
                format!("an issue has one parent; run `bd dep remove {id} {parent}` first")
            }
            StoreError::CorruptJsonl { .. } => {
                "fix that line (e.g. resolve git conflict markers), then rerun; nothing was imported and the database is unchanged".into()
            }
            StoreError::ExportRefused { .. } => {
                "nothing was lost: the JSONL is unchanged. To bring those issues back into the database run `bd import`; if they were deleted on purpose, run `bd export --force` to drop them from the JSONL".into()
            }
            StoreError::ReadOnly { .. } => {
                "read commands work; for this command open the store read-write (drop --readonly, or make .beads writable)".into()
            }
            StoreError::Vanished { .. } => {
                "stop: the ledger this process was writing to is gone. Restore .beads (e.g. `git checkout -- .beads`), then rerun; the database is rebuilt from issues.jsonl".into()
            }
            StoreError::BadPrefix(_) => {
                "use letters, digits and `_`, starting with a letter, e.g. `--prefix gt`".into()
            }
            _ => return None,
        })
    }

    /// True when the error comes from the user's input (exit code 2 in some CLIs).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            StoreError::InvalidValue { .. }
                | StoreError::Invalid(_)
                | StoreError::BadPrefix(_)
                | StoreError::BadId(_)
        )
    }
}
