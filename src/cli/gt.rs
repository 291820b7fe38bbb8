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
    /// Print machine-readable JSON where a command supports it.
    #[arg(long, global = true)]
    pub json: bool,
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
    /// Pour a formula into a molecule (same as `bd mol pour`).
    Pour {
        #[command(flatten)]
        args: super::bd_mol::PourArgs,
    },
    /// Pour a formula as a wisp (same as `bd mol wisp`).
    Wisp {
        #[command(flatten)]
        args: super::bd_mol::PourArgs,
    },
    /// Run a formula or resume a molecule: pour, dispatch ready steps onto
    /// polecats, show progress, print a summary.
    Run(super::gt_run::RunArgs),
}

pub fn main() -> i32 {
    super::run_guarded(|| {
        let cli = Cli::parse();
        match &cli.command {
            Command::Cook(args) => formula::cook(args),
            Command::Formula(cmd) => formula::run(cmd, cli.json),
            Command::Pour { args } => super::gt_mol::run(args, cli.json, false),
            Command::Wisp { args } => super::gt_mol::run(args, cli.json, true),
            Command::Run(a) => super::gt_run::run(a, cli.json),
        }
    })
}
