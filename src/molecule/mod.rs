//! Protomolecule -> molecule: pour, wisp, bond, squash, burn, current.
//!
//! A molecule is a root issue (type `molecule`) with one issue per proto
//! step below it, ids `<root-id>.<step-path>`. Its state is the store's: no
//! progress lives anywhere else.

pub mod bond;
pub mod burn;
pub mod current;
pub mod pour;
pub mod squash;
pub mod step;
pub mod wisp;

use crate::formula::proto::ProtoLoadError;
use crate::formula::vars::VarError;
use crate::store::StoreError;

pub use current::{current, MolView, StepState, StepView};
pub use pour::{load_proto, pour, PourOptions, PourResult};

#[derive(Debug, thiserror::Error)]
pub enum MolError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Proto(#[from] ProtoLoadError),
    #[error("{0}")]
    Cook(String),
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Vars(Vec<VarError>),
    #[error("{0}")]
    Invalid(String),
}

impl MolError {
    pub fn help(&self) -> Option<String> {
        match self {
            MolError::Store(e) => e.help(),
            MolError::Vars(errs) => {
                Some(errs.iter().map(|e| e.help()).collect::<Vec<_>>().join("; "))
            }
            MolError::Proto(_) => Some(
                "pass a protomolecule JSON written by `bd cook --json`, or a formula name".into(),
            ),
            _ => None,
        }
    }

    pub fn is_usage(&self) -> bool {
        match self {
            MolError::Store(e) => e.is_usage(),
            MolError::Vars(_) => true,
            _ => false,
        }
    }
}

impl From<rusqlite::Error> for MolError {
    fn from(e: rusqlite::Error) -> Self {
        MolError::Store(StoreError::from(e))
    }
}

pub type Result<T, E = MolError> = std::result::Result<T, E>;
