//! Support for the compatibility suites: the corpus command extractor.
pub mod forms;

use std::path::PathBuf;

/// `../shared/corpus`, or `None` (the caller prints why it skipped).
pub fn corpus_dir() -> Option<PathBuf> {
    crate::common::shared_dir("corpus")
}
