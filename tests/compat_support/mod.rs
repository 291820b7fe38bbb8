//! Support for the compatibility suites: the corpus command extractor.
pub mod forms;

use std::path::PathBuf;

/// `../shared/<name>` beside the checkout (or beside the worktree's parent).
pub fn shared_dir(name: &str) -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    ["../shared", "../../shared"]
        .iter()
        .map(|s| root.join(s).join(name))
        .find(|d| d.is_dir())
}

/// `../shared/corpus`, or `None` (the caller prints why it skipped).
pub fn corpus_dir() -> Option<PathBuf> {
    shared_dir("corpus")
}
