//! The `gt` command tree.
use super::formula::{self, CookArgs, FormulaCommand};
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
pub enum Command {
    /// Compile a formula into a protomolecule.
    Cook(CookArgs),
    /// Formula library: lint, list, show.
    #[command(subcommand)]
    Formula(FormulaCommand),
}

pub fn main() -> i32 {
    super::run_guarded(|| {
        let cli = Cli::parse();
        match &cli.command {
            Command::Cook(args) => formula::cook(args),
            Command::Formula(cmd) => formula::run(cmd),
        }
    })
}
