//! The `bd` command tree.
use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "bd", version, about = "beads: the git-backed work ledger")]
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
