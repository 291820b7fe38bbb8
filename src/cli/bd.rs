//! The `bd` command tree. Parsing and rendering only; the work is done by
//! `store` and `molecule`. Exit codes: 0 ok, 1 error, 2 usage.

use super::{bd_dep, bd_epic, bd_issue, bd_mol, bd_ops, bd_sync};
use crate::molecule::MolError;
use crate::store::{Store, StoreError};
use clap::{Parser, Subcommand};
use serde::Serialize;

#[derive(Parser, Debug)]
#[command(name = "bd", version, about = "beads: the git-backed work ledger")]
pub struct Cli {
    /// Print machine-readable JSON.
    #[arg(long, global = true)]
    pub json: bool,
    /// Use installed package formulas even where they no longer match
    /// `.beads/formulas.lock` (cook, pour, sling, run).
    #[arg(long, global = true)]
    pub allow_modified: bool,
    /// Who is acting (default: $BD_ACTOR, $GT_ROLE, $USER).
    #[arg(long, global = true)]
    pub actor: Option<String>,
    /// Open the store read-only: read commands work, writes are refused
    /// (automatic on a read-only file system).
    #[arg(long, global = true)]
    pub readonly: bool,
    /// Accepted for beads (no daemon, no auto-sync): the embedded store already
    /// touches nothing but `.beads/`.
    #[arg(long, global = true)]
    pub sandbox: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create .beads/ here (or in BEADS_DIR).
    Init(bd_sync::InitArgs),
    /// Create an issue.
    Create(bd_issue::CreateArgs),
    /// Show issues with their dependencies and comments.
    Show(bd_issue::ShowArgs),
    /// List issues.
    List(bd_issue::ListArgs),
    /// Open issues that nothing blocks (wisps excluded).
    Ready(bd_issue::ReadyArgs),
    /// Change fields, or claim an issue atomically (--claim).
    Update(bd_issue::UpdateArgs),
    /// Close issues.
    Close(bd_issue::CloseArgs),
    /// Reopen closed issues.
    Reopen(bd_issue::IdsArgs),
    /// Delete issues (persistent ones leave a tombstone).
    Delete(bd_issue::DeleteArgs),
    /// Dependencies: add, remove, list, tree.
    #[command(subcommand)]
    Dep(bd_dep::DepCommand),
    /// Labels: add, remove.
    #[command(subcommand)]
    Label(bd_issue::LabelCommand),
    /// Add a comment (or list comments without TEXT).
    Comment(bd_issue::CommentArgs),
    /// List an issue's comments, or `comments add ID TEXT`.
    Comments(bd_issue::CommentsArgs),
    /// Epics: status (children closed), close-eligible.
    #[command(subcommand)]
    Epic(bd_epic::EpicCommand),
    /// Search titles, descriptions, notes and ids.
    Search(bd_issue::SearchArgs),
    /// Counts by status.
    Stats,
    /// The event log (audit trail), of one issue or of the whole store.
    Events(bd_issue::EventsArgs),
    /// Commit the ledger, fetch, merge by issue id, import, export, push.
    Sync(bd_sync::SyncArgs),
    /// Git merge driver for issues.jsonl (registered by `bd init`).
    #[command(hide = true)]
    MergeDriver(bd_sync::MergeDriverArgs),
    /// Write .beads/issues.jsonl now.
    Export(bd_sync::ExportArgs),
    /// Import .beads/issues.jsonl now (reconciles by updated_at).
    Import,
    /// Molecules: pour, wisp, bond, squash, burn, current, show, progress.
    #[command(subcommand)]
    Mol(bd_mol::MolCommand),
    /// Compile a formula into a protomolecule (the same compiler as `gt cook`).
    Cook(super::formula::CookArgs),
    /// Formula library: list, show, lint.
    #[command(subcommand)]
    Formula(super::formula::FormulaCommand),
    /// Open issues that something blocks, with their blockers.
    Blocked(bd_ops::BlockedArgs),
    /// The event log as a stream (--follow keeps watching).
    Activity(bd_ops::ActivityArgs),
    /// Gates: list, check (resolve elapsed timers, escalate), close.
    #[command(subcommand)]
    Gate(bd_ops::GateCommand),
    /// The merge slot: serialize conflict resolution.
    #[command(subcommand)]
    MergeSlot(bd_ops::MergeSlotCommand),
    /// The ledger context for an agent's session start.
    Prime,
    /// Where the store is, its schema and size.
    Info(bd_ops::InfoArgs),
    /// Check the store's health.
    Doctor,
    /// Git worktrees that share this ledger.
    #[command(subcommand)]
    Worktree(bd_ops::WorktreeCommand),
    /// Dolt-server commands, answered for the embedded store.
    #[command(subcommand)]
    Dolt(bd_ops::DoltCommand),
    /// Daemon commands, answered for the embedded store (no daemons).
    #[command(subcommand)]
    Daemons(bd_ops::DaemonsCommand),
}

/// The formula commands report through diagnostics and return an exit code.
fn exit_code(code: i32) -> CliResult {
    match code {
        0 => Ok(()),
        code => Err(CliError {
            message: String::new(),
            help: None,
            code,
        }),
    }
}

/// Shared by every command.
pub struct Ctx {
    pub json: bool,
    pub actor: Option<String>,
    pub readonly: bool,
}

/// An error at the CLI edge, with its exit code and a fix.
#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub help: Option<String>,
    pub code: i32,
}

impl CliError {
    pub fn usage(message: impl Into<String>, help: Option<String>) -> Self {
        CliError {
            message: message.into(),
            help,
            code: 2,
        }
    }
    pub fn other(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            help: None,
            code: 1,
        }
    }
}

impl From<StoreError> for CliError {
    fn from(e: StoreError) -> Self {
        CliError {
            code: if e.is_usage() { 2 } else { 1 },
            help: e.help(),
            message: e.to_string(),
        }
    }
}

impl From<MolError> for CliError {
    fn from(e: MolError) -> Self {
        CliError {
            code: if e.is_usage() { 2 } else { 1 },
            help: e.help(),
            message: e.to_string(),
        }
    }
}

pub type CliResult<T = ()> = Result<T, CliError>;

impl Ctx {
    pub fn cwd(&self) -> CliResult<std::path::PathBuf> {
        std::env::current_dir()
            .map_err(|e| CliError::other(format!("cannot read the current directory: {e}")))
    }

    /// Open the store for this command.
    pub fn open(&self) -> CliResult<Store> {
        let access = if self.readonly {
            crate::store::Access::ReadOnly
        } else {
            crate::store::Access::ReadWrite
        };
        let mut s = Store::discover_with(&self.cwd()?, access)?;
        if let Some(a) = &self.actor {
            s.set_actor(a.clone());
        }
        Ok(s)
    }

    /// After a write: report an export of `.beads/issues.jsonl` that failed
    /// (the store's write path keeps it current).
    pub fn exported(&self, store: &mut Store) -> CliResult {
        store.flush_export().map_err(|e| {
            let mut c = CliError::from(e);
            c.message = format!(
                "the change was saved, but exporting issues.jsonl failed: {}",
                c.message
            );
            c
        })
    }

    /// Print `value` as JSON, or `human` otherwise.
    pub fn print<T: Serialize>(&self, value: &T, human: impl FnOnce() -> String) {
        if self.json {
            match serde_json::to_string_pretty(value) {
                Ok(s) => println!("{s}"),
                Err(e) => eprintln!("error: cannot render JSON: {e}"),
            }
        } else {
            let s = human();
            if !s.is_empty() {
                println!("{}", s.trim_end());
            }
        }
    }
}

pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp
                | clap::error::ErrorKind::DisplayVersion
                | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => 0,
                _ => 2,
            };
        }
    };
    super::export_allow_modified(cli.allow_modified);
    let ctx = Ctx {
        json: cli.json,
        actor: cli.actor.clone(),
        readonly: cli.readonly,
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&ctx, &cli.command)));
    match result {
        Ok(Ok(())) => 0,
        Ok(Err(e)) if e.message.is_empty() => e.code,
        Ok(Err(e)) => {
            if ctx.json {
                let v = serde_json::json!({"error": e.message, "help": e.help});
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            }
            eprintln!("error: {}", e.message);
            if let Some(h) = &e.help {
                eprintln!("  help: {h}");
            }
            e.code
        }
        Err(_) => {
            eprintln!(
                "error: internal error (a bug in bd; please report it with the command you ran)"
            );
            3
        }
    }
}

/// `gt mol ...`: the molecule commands, run like `bd mol ...`.
pub fn run_mol(c: &bd_mol::MolCommand, json: bool) -> i32 {
    let ctx = Ctx {
        json,
        actor: None,
        readonly: false,
    };
    super::gt_coord::finish(json, bd_mol::run(&ctx, c))
}

fn run(ctx: &Ctx, cmd: &Command) -> CliResult {
    match cmd {
        Command::Init(a) => bd_sync::init(ctx, a),
        Command::Create(a) => bd_issue::create(ctx, a),
        Command::Show(a) => bd_issue::show(ctx, a),
        Command::List(a) => bd_issue::list(ctx, a),
        Command::Ready(a) => bd_issue::ready(ctx, a),
        Command::Update(a) => bd_issue::update(ctx, a),
        Command::Close(a) => bd_issue::close(ctx, a),
        Command::Reopen(a) => bd_issue::reopen(ctx, a),
        Command::Delete(a) => bd_issue::delete(ctx, a),
        Command::Dep(c) => bd_dep::run(ctx, c),
        Command::Label(c) => bd_issue::label(ctx, c),
        Command::Comment(a) => bd_issue::comment(ctx, a),
        Command::Comments(a) => bd_issue::comments(ctx, a),
        Command::Epic(c) => bd_epic::run(ctx, c),
        Command::Search(a) => bd_issue::search(ctx, a),
        Command::Stats => bd_issue::stats(ctx),
        Command::Events(a) => bd_issue::events(ctx, a),
        Command::Sync(a) => bd_sync::sync(ctx, a),
        Command::MergeDriver(a) => bd_sync::merge_driver(a),
        Command::Export(a) => bd_sync::export(ctx, a),
        Command::Import => bd_sync::import(ctx),
        Command::Mol(c) => bd_mol::run(ctx, c),
        Command::Cook(a) => exit_code(super::formula::cook(a)),
        Command::Formula(c) => exit_code(super::formula::run(c, ctx.json)),
        Command::Blocked(a) => bd_ops::blocked(ctx, a),
        Command::Activity(a) => bd_ops::activity(ctx, a),
        Command::Gate(c) => bd_ops::gate(ctx, c),
        Command::MergeSlot(c) => bd_ops::merge_slot(ctx, c),
        Command::Prime => bd_ops::prime(ctx),
        Command::Info(a) => bd_ops::info(ctx, a),
        Command::Doctor => bd_ops::doctor(ctx),
        Command::Worktree(c) => bd_ops::worktree(ctx, c),
        Command::Dolt(c) => bd_ops::dolt(ctx, c),
        Command::Daemons(c) => bd_ops::daemons(ctx, c),
    }
}
