//! The runtime: the supervisor (scheduler, leases, witness), session
//! providers (exec, tmux), sling, prime, hook and done. See `docs/runtime.md`.

pub mod daemon;
pub mod deacon;
pub mod dogs;
pub mod escalate;
pub mod finish;
pub mod identity;
pub mod launch;
pub mod prime;
pub use crate::proc;
pub mod patrol;
pub mod preflight;
pub mod progress;
pub mod rig_state;
pub mod roles;
pub mod run;
pub mod scheduler;
pub mod session;
pub mod spawn;
pub mod supervise;
pub mod usage;
pub mod warrant;
pub mod witness;
pub mod work;

use crate::molecule::MolError;
use crate::store::StoreError;
use crate::town::TownError;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Mol(#[from] MolError),
    #[error(transparent)]
    Town(#[from] TownError),
    #[error(transparent)]
    Coord(#[from] crate::coord::CoordError),
    #[error("git: {0}")]
    Git(#[from] git2::Error),
    #[error("{0}")]
    Io(String),
    #[error("{message}")]
    Usage {
        message: String,
        help: Option<String>,
    },
}

impl RuntimeError {
    pub fn usage(message: impl Into<String>, help: impl Into<String>) -> Self {
        RuntimeError::Usage {
            message: message.into(),
            help: Some(help.into()),
        }
    }

    pub fn help(&self) -> Option<String> {
        match self {
            RuntimeError::Store(e) => e.help(),
            RuntimeError::Mol(e) => e.help(),
            RuntimeError::Town(e) => e.help(),
            RuntimeError::Coord(e) => e.help(),
            RuntimeError::Usage { help, .. } => help.clone(),
            _ => None,
        }
    }

    pub fn is_usage(&self) -> bool {
        match self {
            RuntimeError::Usage { .. } => true,
            RuntimeError::Coord(e) => e.is_usage(),
            RuntimeError::Store(e) => e.is_usage(),
            RuntimeError::Mol(e) => e.is_usage(),
            RuntimeError::Town(
                TownError::UnknownAgent { .. }
                | TownError::UnknownRig { .. }
                | TownError::UnknownRole(_),
            ) => true,
            _ => false,
        }
    }
}

/// A single-threaded tokio runtime for the supervisor.
pub fn tokio_runtime() -> Result<tokio::runtime::Runtime, RuntimeError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| RuntimeError::Io(format!("cannot start the async runtime: {e}")))
}
