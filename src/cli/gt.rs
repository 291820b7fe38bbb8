//! The `gt` command tree.
use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "gt",
    version,
    about = "Gas Town: a multi-agent orchestrator for AI coding agents"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {}

pub fn main() -> i32 {
    let _cli = Cli::parse();
    0
}
