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
pub enum Command {
    /// Pour a formula into a molecule (same as `bd mol pour`).
    Pour {
        #[command(flatten)]
        args: super::bd_mol::PourArgs,
        #[arg(long)]
        json: bool,
    },
    /// Pour a formula as a wisp (same as `bd mol wisp`).
    Wisp {
        #[command(flatten)]
        args: super::bd_mol::PourArgs,
        #[arg(long)]
        json: bool,
    },
}

pub fn main() -> i32 {
    let cli = Cli::parse();
    match &cli.command {
        Command::Pour { args, json } => super::gt_mol::run(args, *json, false),
        Command::Wisp { args, json } => super::gt_mol::run(args, *json, true),
    }
}
