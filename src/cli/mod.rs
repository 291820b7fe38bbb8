//! Command-line front ends. Parsing and rendering only; no business logic.
pub mod bd;
pub mod bd_dep;
pub mod bd_issue;
pub mod bd_mol;
pub mod bd_sync;
pub mod gt;
pub mod gt_mol;
