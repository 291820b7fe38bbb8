//! The `gt` command tree.
use super::formula::{self, CookArgs};
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
    /// Use installed package formulas even where they no longer match
    /// `.beads/formulas.lock` (cook, pour, sling, run).
    #[arg(long, global = true)]
    pub allow_modified: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Compile a formula into a protomolecule.
    Cook(CookArgs),
    /// Formula library: lint, list, show.
    #[command(subcommand)]
    Formula(super::gt_work::GtFormulaCommand),
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
    /// Create a town: layout, settings/config.json, the town store.
    Install(super::gt_town::InstallArgs),
    /// Rigs: add (bare clone), list, remove.
    #[command(subcommand)]
    Rig(super::gt_town::RigCommand),
    /// Crew: a worktree for a person.
    #[command(subcommand)]
    Crew(super::gt_crew::CrewCommand),
    /// Town configuration: agents, roles, default agent.
    #[command(subcommand)]
    Config(super::gt_town::ConfigCommand),
    /// Hook a bead (or a poured formula) on a rig's polecat and start its session.
    Sling(super::gt_work::SlingArgs),
    /// Show what is on this agent's hook.
    Hook,
    /// Print who you are (from the session or where you stand), your hooked
    /// work, and for the Mayor the town; then unread mail (under 8 KB).
    Prime(super::gt_roles::PrimeArgs),
    /// Hand the work in: every molecule step must be closed (commits leftover
    /// work, queues the branch to merge); or --status DEFERRED|ESCALATED.
    Done(super::gt_roles::DoneArgs),
    /// Refresh this session's lease (GT_LEASE); a stale generation is refused.
    Heartbeat(super::gt_roles::HeartbeatArgs),
    /// Start Gas Town: the supervisor daemon and the Mayor's session.
    Start,
    /// Stop the town supervisor gracefully (`preflight`: what it would interrupt).
    Shutdown {
        #[command(subcommand)]
        check: Option<super::gt_daemon::ShutdownCommand>,
    },
    /// The supervisor daemon: start, stop, status, rotate-logs (and `run`).
    #[command(subcommand)]
    Daemon(super::gt_daemon::DaemonCommand),
    /// What runs in the town.
    Status,
    /// Agents and their states.
    Agents,
    /// The tail of an agent's log (or tmux pane).
    Peek {
        agent: String,
        #[arg(short = 'n', long, default_value_t = 40)]
        lines: usize,
    },
    /// The Mayor's session: start, attach, stop, restart, status.
    #[command(subcommand)]
    Mayor(super::gt_roles::RoleCommand),
    /// The rig's witness (watches agent sessions): supervisor code, or an agent.
    #[command(subcommand)]
    Witness(super::gt_roles::RoleCommand),
    /// The rig's refinery (merges the queue): supervisor code, or an agent.
    #[command(subcommand)]
    Refinery(super::gt_patrol::RefineryCommand),
    /// The town's deacon (housekeeping patrol): supervisor code, or an agent.
    #[command(subcommand)]
    Deacon(super::gt_patrol::DeaconCommand),
    /// Apply the wisp TTL policy (closed past TTL: deleted; open: promoted);
    /// `report` mails the digest.
    Compact(super::gt_upkeep::CompactArgs),
    /// Token usage and estimated cost of the town's sessions.
    Costs(super::gt_upkeep::CostsArgs),
    /// This session's context window: how full it is.
    Context(super::gt_upkeep::ContextArgs),
    /// Agent beads: their operational state.
    #[command(subcommand)]
    Agent(super::gt_agent::AgentCommand),
    /// Death warrants for stuck agents: file, list, execute.
    #[command(subcommand)]
    Warrant(super::gt_agent::WarrantCommand),
    /// The deacon's dogs: town-level helpers that run formulas and plugins.
    #[command(subcommand, alias = "dogs")]
    Dog(super::gt_dog::DogCommand),
    /// Patrols: scan a rig's polecats, report a cycle, digest a day.
    #[command(subcommand)]
    Patrol(super::gt_patrol::PatrolCommand),
    /// Convoys: beads tracked together; land when all are merged (bare: list).
    Convoy {
        #[command(subcommand)]
        command: Option<super::gt_convoy::ConvoyCommand>,
    },
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
    /// A live web dashboard of the town (agents, convoys, molecules, queue, mail, feed).
    Dashboard(super::gt_dashboard::DashboardArgs),
    /// The gt version.
    Version,
    /// The town's rigs.
    Rigs,
    /// The town and this build.
    Info(super::gt_ops::InfoArgs),
    /// File an escalation bead and mail the mayor and the overseer.
    Escalate(super::gt_ops::EscalateArgs),
    /// Polecats: list, status, nuke.
    #[command(subcommand)]
    Polecat(super::gt_ops::PolecatCommand),
    /// The polecats of a rig (or of every rig).
    Polecats(super::gt_ops::PolecatsArgs),
    /// Agent sessions: status, kill.
    #[command(subcommand)]
    Session(super::gt_ops::SessionCommand),
    /// Supervisor, store, agents and problems in one answer.
    Health,
    /// Stop sessions (and with --all the supervisor); worktrees stay.
    Stop(super::gt_ops::StopArgs),
    /// Agents' worktrees.
    #[command(subcommand)]
    Worktree(super::gt_ops::WorktreeCommand),
    /// Dolt-server commands, answered for the embedded store.
    #[command(subcommand)]
    Dolt(super::gt_ops::DoltCommand),
    /// Reap idle wisps, purge closed wisps and old mail.
    Reaper(super::gt_ops::ReaperArgs),
    /// Molecules (the same commands as `bd mol`).
    #[command(subcommand)]
    Mol(super::bd_mol::MolCommand),
}

pub fn main() -> i32 {
    super::gt_complete::complete_if_asked();
    super::run_guarded(|| {
        let cli = Cli::parse();
        super::export_allow_modified(cli.allow_modified);
        match &cli.command {
            Command::Cook(args) => formula::cook(args),
            Command::Formula(super::gt_work::GtFormulaCommand::Shared(cmd)) => {
                formula::run(cmd, cli.json)
            }
            Command::Formula(super::gt_work::GtFormulaCommand::Run(a)) => {
                super::gt_work::formula_run(a, cli.json)
            }
            Command::Pour { args } => super::gt_mol::run(args, cli.json, false),
            Command::Wisp { args } => super::gt_mol::run(args, cli.json, true),
            Command::Run(a) => super::gt_run::run(a, cli.json),
            Command::Install(a) => super::gt_town::install(a, cli.json),
            Command::Rig(c) => super::gt_town::rig(c, cli.json),
            Command::Crew(c) => super::gt_crew::crew(c, cli.json),
            Command::Config(c) => super::gt_town::config(c, cli.json),
            Command::Sling(a) => super::gt_work::sling(a, cli.json),
            Command::Hook => super::gt_work::hook(cli.json),
            Command::Prime(a) => super::gt_roles::prime(a, cli.json),
            Command::Done(a) => super::gt_roles::done(a, cli.json),
            Command::Heartbeat(a) => super::gt_roles::heartbeat(a, cli.json),
            Command::Start => super::gt_roles::town_start(cli.json),
            Command::Shutdown { check: None } => super::gt_daemon::shutdown(cli.json),
            Command::Shutdown { check: Some(_) } => super::gt_daemon::preflight(cli.json),
            Command::Daemon(c) => super::gt_daemon::daemon_cmd(c, cli.json),
            Command::Status => super::gt_daemon::status(cli.json),
            Command::Agents => super::gt_daemon::agents(cli.json),
            Command::Peek { agent, lines } => super::gt_daemon::peek(agent, *lines, cli.json),
            Command::Mayor(c) => super::gt_roles::role("mayor", c, cli.json),
            Command::Witness(c) => super::gt_roles::role("witness", c, cli.json),
            Command::Refinery(c) => super::gt_patrol::refinery(c, cli.json),
            Command::Deacon(c) => super::gt_patrol::deacon(c, cli.json),
            Command::Patrol(c) => super::gt_patrol::run(c, cli.json),
            Command::Dog(c) => super::gt_dog::run(c, cli.json),
            Command::Agent(c) => super::gt_agent::agent(c, cli.json),
            Command::Compact(a) => super::gt_upkeep::compact_cmd(a, cli.json),
            Command::Costs(a) => super::gt_upkeep::costs(a, cli.json),
            Command::Context(a) => super::gt_upkeep::context(a, cli.json),
            Command::Warrant(c) => super::gt_agent::warrant_cmd(c, cli.json),
            Command::Convoy { command } => super::gt_convoy::run(command.as_ref(), cli.json),
            Command::Mail(c) => super::gt_mail::run(c, cli.json),
            Command::Nudge(a) => super::gt_mail::nudge_cmd(a, cli.json),
            Command::Handoff(a) => super::gt_mail::handoff_cmd(a, cli.json),
            Command::Mq(c) => super::gt_mq::run(c, cli.json),
            Command::Feed(a) => super::gt_feed::run(a, cli.json),
            Command::Doctor(a) => super::gt_doctor::run(a, cli.json),
            Command::Completion(a) => super::gt_doctor::completion(a),
            Command::Dashboard(a) => super::gt_dashboard::run(a, cli.json),
            Command::Version => super::gt_ops::version(cli.json),
            Command::Rigs => super::gt_ops::rigs(cli.json),
            Command::Info(a) => super::gt_ops::info(a, cli.json),
            Command::Escalate(a) => super::gt_ops::escalate(a, cli.json),
            Command::Polecat(c) => super::gt_ops::polecat(c, cli.json),
            Command::Polecats(a) => super::gt_ops::polecats(a, cli.json),
            Command::Session(c) => super::gt_ops::session(c, cli.json),
            Command::Health => super::gt_ops::health(cli.json),
            Command::Stop(a) => super::gt_ops::stop(a, cli.json),
            Command::Worktree(c) => super::gt_ops::worktree(c, cli.json),
            Command::Dolt(c) => super::gt_ops::dolt(c, cli.json),
            Command::Reaper(a) => super::gt_ops::reaper(a, cli.json),
            Command::Mol(c) => super::bd::run_mol(c, cli.json),
        }
    })
}
