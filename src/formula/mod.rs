//! The formula compiler. Pure: no database, no git, no processes.
//!
//! Pipeline: [`source`] text -> [`node`] spanned tree -> [`parse`] typed
//! [`ast`] -> [`library`] resolves `extends` along the search path ->
//! [`check`] -> [`cook`] to the [`proto`] IR. Problems are [`diag`]
//! diagnostics with stable [`codes`].

// Diagnostics travel by value on cold error paths; boxing them buys nothing.
#![allow(clippy::result_large_err)]

pub mod api;
pub mod ast;
pub mod check;
pub mod codes;
pub mod compile;
pub mod compose;
pub mod cook;
pub mod diag;
pub mod expr;
pub mod library;
pub mod lint;
pub mod node;
pub mod parse;
pub mod proto;
pub mod render;
pub mod resolve;
pub mod shell;
pub mod source;
pub mod suggest;
pub mod vars;
