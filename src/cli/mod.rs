//! Command-line front ends. Parsing and rendering only; no business logic.
pub mod bd;
pub mod gt;
