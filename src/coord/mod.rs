//! Coordination: convoys, mail and nudges, the merge queue (refinery), the
//! feed and the doctor. See `docs/coordination.md`.
//!
//! Everything here goes through the store: a convoy is an issue of type
//! `convoy` with `tracks` edges, a merge request is an issue of type
//! `merge-request` with a `related` edge to its bead, mail and nudges are
//! rows of the coordination tables (migration 3). Every state change is one
//! store transaction that also appends its event row.

pub mod address;
pub mod agent_state;
pub mod compact;
pub mod convoy;
pub mod doctor;
pub mod feed;
pub mod mail;
pub mod mailbox;
pub mod merge_slot;
pub mod mq;
pub mod nudge;
pub mod pr;
pub mod reaper;
pub mod refinery;

use crate::store::StoreError;

pub type Result<T, E = CoordError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum CoordError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Bad input: exit code 2.
    #[error("{message}")]
    Usage {
        message: String,
        help: Option<String>,
    },
    /// Something failed that is not the input's fault: exit code 1.
    #[error("{message}")]
    Failed {
        message: String,
        help: Option<String>,
    },
    #[error("git error: {0}")]
    Git(#[from] git2::Error),
    #[error(transparent)]
    Town(#[from] crate::town::TownError),
}

impl CoordError {
    pub fn usage(message: impl Into<String>, help: impl Into<String>) -> Self {
        CoordError::Usage {
            message: message.into(),
            help: Some(help.into()),
        }
    }
    pub fn failed(message: impl Into<String>, help: Option<String>) -> Self {
        CoordError::Failed {
            message: message.into(),
            help,
        }
    }
    pub fn help(&self) -> Option<String> {
        match self {
            CoordError::Store(e) => e.help(),
            CoordError::Usage { help, .. } | CoordError::Failed { help, .. } => help.clone(),
            CoordError::Git(_) => None,
            CoordError::Town(e) => e.help(),
        }
    }
    pub fn is_usage(&self) -> bool {
        match self {
            CoordError::Store(e) => e.is_usage() || matches!(e, StoreError::NotFound { .. }),
            CoordError::Usage { .. } => true,
            CoordError::Town(e) => e.is_usage(),
            _ => false,
        }
    }
}

impl From<rusqlite::Error> for CoordError {
    fn from(e: rusqlite::Error) -> Self {
        CoordError::Store(StoreError::from(e))
    }
}

impl From<serde_json::Error> for CoordError {
    fn from(e: serde_json::Error) -> Self {
        CoordError::Store(StoreError::from(e))
    }
}

/// The session generation of the running process: `$GT_GENERATION`, the
/// generation of its agent identity (set by `runtime::spawn`). A lease's
/// generation (`GT_LEASE`) is a different counter and never used here.
pub fn current_generation() -> Option<i64> {
    generation_from(std::env::var("GT_GENERATION").ok().as_deref())
}

pub fn generation_from(gen: Option<&str>) -> Option<i64> {
    gen.map(str::trim).and_then(|g| g.parse::<i64>().ok())
}

/// Keep the last `max` bytes of `s` (on a char boundary), with a marker when cut.
pub fn tail(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    format!("[... {} bytes cut ...]\n{}", start, &s[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generations_from_env_values() {
        assert_eq!(generation_from(Some("4")), Some(4));
        assert_eq!(generation_from(Some(" 7 ")), Some(7));
        assert_eq!(generation_from(Some("x")), None);
        assert_eq!(generation_from(None), None);
    }

    #[test]
    fn tail_cuts_on_char_boundary() {
        assert_eq!(tail("abc", 10), "abc");
        let t = tail("ééééé", 3);
        assert!(t.ends_with('é'), "{t}");
    }
}
