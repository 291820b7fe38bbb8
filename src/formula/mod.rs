//! The formula compiler. Pure: no database, no git, no processes.

pub mod api;
pub mod proto;
pub mod suggest;
pub mod vars;
