//! The formula compiler. Pure: no database, no git, no processes.

pub mod proto;
pub mod suggest;
pub mod vars;
pub mod api;
pub mod expr;
