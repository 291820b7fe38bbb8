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
    /// Convoys: beads tracked together; land when all are merged.
    #[command(subcommand)]
    Convoy(super::gt_convoy::ConvoyCommand),
    /// Mail between agents (and the overseer).
    #[command(subcommand)]
    Mail(super::gt_mail::MailCommand),
    /// Nudge an agent: queued in the store, delivered live or at its next prime.
    Nudge(super::gt_mail::NudgeArgs),
    /// Mail handoff notes to yourself for the next session.
    Handoff(super::gt_mail::HandoffArgs),
    /// The merge queue (refinery).
    #[command(subcommand)]
    Mq(super::gt_mq::MqCommand),
    /// The story of the town, from the event log.
    Feed(super::gt_feed::FeedArgs),
    /// Check the town, the store, worktrees, hooks, queue and formulas.
    Doctor(super::gt_doctor::DoctorArgs),
    /// Print a shell completion script.
    Completion(super::gt_doctor::CompletionArgs),
}

pub fn main() -> i32 {
    super::run_guarded(|| {
        let cli = Cli::parse();
        match &cli.command {
            Command::Cook(args) => formula::cook(args),
            Command::Formula(cmd) => formula::run(cmd, cli.json),
            Command::Pour { args } => super::gt_mol::run(args, cli.json, false),
            Command::Wisp { args } => super::gt_mol::run(args, cli.json, true),
            Command::Convoy(c) => super::gt_convoy::run(c, cli.json),
            Command::Mail(c) => super::gt_mail::run(c, cli.json),
            Command::Nudge(a) => super::gt_mail::nudge_cmd(a, cli.json),
            Command::Handoff(a) => super::gt_mail::handoff_cmd(a, cli.json),
            Command::Mq(c) => super::gt_mq::run(c, cli.json),
            Command::Feed(a) => super::gt_feed::run(a, cli.json),
            Command::Doctor(a) => super::gt_doctor::run(a, cli.json),
            Command::Completion(a) => super::gt_doctor::completion(a),
        }
    })
}
