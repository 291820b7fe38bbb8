//! Gas Town in Rust: the formula compiler, the beads ledger and the runtime.
//!
//! Start reading at `docs/ARCHITECTURE.md`. Dependencies run one way:
//! `cli -> molecule -> store`, and `molecule -> formula`. `formula` depends on
//! nothing else in the crate, so a lint-only user never touches SQLite or git.

pub mod alloc;
pub mod cli;
pub mod coord;
pub mod dashboard;
pub mod formula;
pub mod ids;
pub mod molecule;
pub mod packages;
pub mod proc;
pub mod runtime;
pub mod store;
pub mod town;
