//! `gt mail send|inbox|read|reply|check`, `gt nudge` and `gt handoff`.

use super::bd::{CliError, CliResult, Ctx};
use super::gt_coord::{directory, finish, me};
use crate::coord::current_generation;
use crate::coord::mail::{self, Message, Outgoing};
use crate::coord::mailbox;
use crate::coord::nudge::{self, Delivery, Tmux};
use clap::{Args, Subcommand};

#[derive(Subcommand, Debug)]
pub enum MailCommand {
    /// Send mail: ADDR is mayor, overseer, <rig>/witness, <rig>/refinery,
    /// <rig>/polecats/<name>, <rig>/crew/<name>, or a group <rig>/polecats.
    Send {
        #[arg(required_unless_present = "human")]
        to: Option<String>,
        /// Send to the human overseer.
        #[arg(long, conflicts_with = "to")]
        human: bool,
        #[arg(short, long)]
        subject: String,
        #[arg(short, long, default_value = "")]
        message: String,
        /// Read the body from stdin.
        #[arg(long, conflicts_with = "message")]
        stdin: bool,
        /// Message kind (notification, task, escalation, ...).
        #[arg(long, default_value = "notification")]
        kind: String,
        /// The agent this is about, with its generation: ADDR@GEN.
        #[arg(long)]
        about: Option<String>,
        #[command(flatten)]
        who: Who,
    },
    /// Your mail, unread first.
    Inbox {
        /// Whose inbox (default: yours).
        address: Option<String>,
        /// Only unread messages.
        #[arg(long)]
        unread: bool,
        /// How many messages to list.
        #[arg(short = 'n', long, default_value = "50")]
        limit: usize,
        #[command(flatten)]
        who: Who,
    },
    /// Show a message and mark it read.
    Read { id: String },
    /// Mark messages read without showing them.
    MarkRead {
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Move messages out of the inbox (still readable by id).
    Archive {
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Empty an inbox (default: yours): delete, or with --archive archive.
    Clear {
        address: Option<String>,
        #[arg(long)]
        archive: bool,
        #[command(flatten)]
        who: Who,
    },
    /// Archive read mail and notifications older than --max-age.
    Drain {
        #[arg(long, default_value = "30m")]
        max_age: String,
        #[command(flatten)]
        who: Who,
    },
    /// Reply to a message's sender, in its thread.
    Reply {
        id: String,
        #[arg(short, long)]
        message: String,
        #[command(flatten)]
        who: Who,
    },
    /// Unread mail, in a form that suits a prompt (--inject: mark it read,
    /// drain queued nudges; stale messages are shown as stale, not to act on).
    Check {
        #[arg(long)]
        inject: bool,
        /// Run as a Claude Code `UserPromptSubmit` hook: read the hook's JSON
        /// on stdin, confirm nudges the prompt carries, never fail the prompt.
        #[arg(long)]
        hook: bool,
        #[command(flatten)]
        who: Who,
    },
}

#[derive(Args, Debug, Clone)]
pub struct Who {
    /// Act as this agent address (default: $BD_ACTOR if it is an address, else overseer).
    #[arg(long)]
    pub identity: Option<String>,
}

fn parse_about(s: &str) -> CliResult<(String, Option<i64>)> {
    match s.rsplit_once('@') {
        Some((a, g)) => {
            let g = g.parse::<i64>().map_err(|_| {
                CliError::usage(
                    format!("`{s}`: the generation after @ must be a number"),
                    Some("write ADDR@GEN, e.g. gastown/polecats/nux@3".into()),
                )
            })?;
            Ok((a.to_string(), Some(g)))
        }
        None => Ok((s.to_string(), None)),
    }
}

fn parse_ids(v: &[String]) -> CliResult<Vec<i64>> {
    v.iter().map(|s| Ok(mail::parse_id(s)?)).collect()
}

fn header(m: &Message) -> String {
    format!(
        "{:>6} {} {:<22} {:<14} {}",
        m.id,
        if m.read { " " } else { "*" },
        m.from,
        m.kind,
        m.subject
    )
}

fn full(m: &Message) -> String {
    let mut s = format!(
        "message {}  {}\nfrom: {}{}\nto:   {}\nkind: {}\nsubject: {}",
        m.id,
        m.created_at,
        m.from,
        m.sender_gen
            .map(|g| format!(" (generation {g})"))
            .unwrap_or_default(),
        m.to,
        m.kind,
        m.subject
    );
    if let Some(a) = &m.about {
        s += &format!(
            "\nabout: {a}{}",
            m.about_gen.map(|g| format!("@{g}")).unwrap_or_default()
        );
    }
    if !m.body.is_empty() {
        s += &format!("\n\n{}", m.body);
    }
    s
}

pub fn run(cmd: &MailCommand, json: bool) -> i32 {
    let ctx = super::gt_coord::ctx(json);
    if let MailCommand::Check { hook: true, .. } = cmd {
        // A hook must never block the agent's prompt: report and go on.
        if let Err(e) = run_inner(&ctx, cmd) {
            eprintln!("gt mail check: {}", e.message);
        }
        return 0;
    }
    finish(json, run_inner(&ctx, cmd))
}

/// The prompt a `UserPromptSubmit` hook reports on stdin.
fn hook_prompt() -> String {
    use std::io::Read;
    let mut input = String::new();
    let _ = std::io::stdin().take(1 << 20).read_to_string(&mut input);
    serde_json::from_str::<serde_json::Value>(&input)
        .ok()
        .and_then(|v| v["prompt"].as_str().map(String::from))
        .unwrap_or_default()
}

fn run_inner(ctx: &Ctx, cmd: &MailCommand) -> CliResult {
    let mut store = ctx.open()?;
    let generation = current_generation();
    match cmd {
        MailCommand::Send {
            to,
            human,
            subject,
            message,
            stdin,
            kind,
            about,
            who,
        } => {
            let from = me(&store, who.identity.as_deref())?;
            let to = if *human {
                "overseer".to_string()
            } else {
                to.clone().unwrap_or_default()
            };
            let message = if *stdin {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map_err(|e| {
                    CliError::other(format!("cannot read the message from stdin: {e}"))
                })?;
                text
            } else {
                message.clone()
            };
            let dir = directory(ctx, &store)?;
            let about = about.as_deref().map(parse_about).transpose()?;
            let ids = mail::send(
                &mut store,
                &dir,
                &Outgoing {
                    from,
                    to,
                    subject: subject.clone(),
                    body: message,
                    kind: kind.clone(),
                    sender_gen: generation,
                    about,
                    reply_to: None,
                },
            )?;
            ctx.print(&serde_json::json!({"sent": ids}), || {
                format!(
                    "sent {} message(s): {}",
                    ids.len(),
                    ids.iter()
                        .map(|i| i.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            });
        }
        MailCommand::Inbox {
            address,
            unread,
            limit,
            who,
        } => {
            let addr = match address {
                Some(a) => directory(ctx, &store)?.parse(a)?.to_string(),
                None => me(&store, who.identity.as_deref())?,
            };
            let ib = mail::inbox(store.conn(), &addr, *unread, *limit)?;
            ctx.print(&ib, || {
                let mut s = format!(
                    "{}: {} message(s), {} unread",
                    ib.address, ib.total, ib.unread
                );
                for m in &ib.messages {
                    s += "\n";
                    s += &header(m);
                }
                let shown = ib.messages.len() as i64;
                let all = if *unread { ib.unread } else { ib.total };
                if shown < all {
                    s += &format!("\n({} more; use -n to list more)", all - shown);
                }
                s
            });
        }
        MailCommand::Read { id } => {
            let m = mail::read(&mut store, mail::parse_id(id)?)?;
            ctx.print(&m, || full(&m));
        }
        MailCommand::MarkRead { ids } => {
            let ids = parse_ids(ids)?;
            let n = mailbox::mark_read(&mut store, &ids)?;
            ctx.print(&serde_json::json!({"marked_read": n}), || {
                format!("marked {n} message(s) read")
            });
        }
        MailCommand::Archive { ids } => {
            let ids = parse_ids(ids)?;
            let n = mailbox::archive(&mut store, &ids)?;
            ctx.print(&serde_json::json!({"archived": n}), || {
                format!("archived {n} message(s)")
            });
        }
        MailCommand::Clear {
            address,
            archive,
            who,
        } => {
            let addr = match address {
                Some(a) => directory(ctx, &store)?.parse(a)?.to_string(),
                None => me(&store, who.identity.as_deref())?,
            };
            let n = mailbox::clear(&mut store, &addr, *archive)?;
            ctx.print(
                &serde_json::json!({"address": addr, "cleared": n, "archived": archive}),
                || {
                    format!(
                        "{} {n} message(s) from {addr}'s inbox",
                        if *archive { "archived" } else { "deleted" }
                    )
                },
            );
        }
        MailCommand::Drain { max_age, who } => {
            let addr = me(&store, who.identity.as_deref())?;
            let secs = crate::formula::expr::duration::parse_duration(max_age).map_err(|e| {
                CliError::usage(
                    format!("--max-age `{max_age}`: {e}"),
                    Some("e.g. 30m, 2h, 1d".into()),
                )
            })?;
            let n = mailbox::drain(&mut store, &addr, secs as i64)?;
            ctx.print(&serde_json::json!({"address": addr, "drained": n}), || {
                format!("archived {n} stale message(s) from {addr}'s inbox")
            });
        }
        MailCommand::Reply { id, message, who } => {
            let from = me(&store, who.identity.as_deref())?;
            let ids = mail::reply(&mut store, mail::parse_id(id)?, &from, message, generation)?;
            ctx.print(&serde_json::json!({"sent": ids}), || {
                format!("replied (message {})", ids.first().copied().unwrap_or(0))
            });
        }
        MailCommand::Check { inject, hook, who } => {
            let addr = me(&store, who.identity.as_deref())?;
            if *hook {
                nudge::confirm_from_prompt(&mut store, &addr, &hook_prompt())?;
            }
            let c = mail::check(&mut store, &addr, generation, *inject, 100)?;
            if ctx.json {
                ctx.print(&c, String::new);
            } else if *inject {
                print!("{}", mail::render_inject(&c));
            } else {
                let mut s = format!(
                    "{}: {} unread message(s){}",
                    addr,
                    c.fresh.len(),
                    if c.stale.is_empty() {
                        String::new()
                    } else {
                        format!(", {} stale (ignored)", c.stale.len())
                    }
                );
                for m in &c.fresh {
                    s += "\n";
                    s += &header(m);
                }
                for st in &c.stale {
                    s += &format!("\n{}  [stale: {}]", header(&st.message), st.stale_because);
                }
                println!("{s}");
            }
        }
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct NudgeArgs {
    /// The agent's address.
    pub agent: String,
    /// What to tell it.
    pub message: String,
    /// Type into this tmux session (default: the agent's own session on the
    /// town's tmux socket, when it runs).
    #[arg(long)]
    pub session: Option<String>,
    /// Seconds to wait for the agent's UserPromptSubmit hook to confirm it.
    #[arg(long, default_value_t = 30)]
    pub wait: u64,
    /// immediate (default: live into the agent's session when it has one,
    /// else queued), queue or wait-idle (queued for the agent's next prime,
    /// which is when it is idle).
    #[arg(long, default_value = "immediate", value_parser = ["immediate", "queue", "wait-idle"])]
    pub mode: String,
    #[command(flatten)]
    pub who: Who,
}

pub fn nudge_cmd(a: &NudgeArgs, json: bool) -> i32 {
    let ctx = super::gt_coord::ctx(json);
    finish(json, nudge_inner(&ctx, a))
}

/// Where `target` runs live: the tmux socket and session of its agent row,
/// and whether its CLI confirms prompts through hooks.
fn live_session(target: &str) -> Option<(Tmux, String, bool)> {
    let town = super::gt_town::town().ok()?;
    let store = town.store().ok()?;
    let row = crate::store::agents::list(store.conn())
        .ok()?
        .into_iter()
        .find(|a| crate::coord::mail::identity(&a.address()) == target)?;
    let session = row.session.clone()?;
    let hooks = row
        .agent
        .as_deref()
        .and_then(|n| {
            town.agent_for(
                &row.role,
                Some(&row.rig).filter(|r| !r.is_empty()).map(|r| r.as_str()),
                Some(n),
            )
            .ok()
        })
        .is_some_and(|(_, cfg)| cfg.cli.has_hooks());
    let socket = crate::runtime::session::tmux_socket(&town.runtime_dir());
    Some((Tmux::on_socket(&socket), session, hooks))
}

fn nudge_inner(ctx: &Ctx, a: &NudgeArgs) -> CliResult {
    let mut store = ctx.open()?;
    let from = me(&store, a.who.identity.as_deref())?;
    let dir = directory(ctx, &store)?;
    let n = nudge::send(
        &mut store,
        &dir,
        &a.agent,
        &from,
        &a.message,
        current_generation(),
    )?;
    let live = match (&a.session, a.mode.as_str()) {
        (Some(s), _) => Some((Tmux::default(), s.clone(), true)),
        (None, "immediate") => live_session(&n.target),
        (None, _) => None,
    };
    let mut delivery = None;
    if let Some((tmux, session, hooks)) = &live {
        let mut d = nudge::deliver_queued(&mut store, tmux, n.id, session)?;
        if d == Delivery::Typed
            && *hooks
            && nudge::wait_delivered(&store, n.id, std::time::Duration::from_secs(a.wait))?
        {
            d = Delivery::Delivered;
        }
        delivery = Some(d);
    }
    let v = serde_json::json!({"nudge": n.id, "target": n.target, "delivery": delivery});
    ctx.print(&v, || match &delivery {
        None => format!(
            "nudge {} queued for {} (no live session); it is delivered at the agent's next prime",
            n.id, n.target
        ),
        Some(Delivery::Delivered) => format!(
            "nudge {} delivered to {} (its UserPromptSubmit hook reported the prompt)",
            n.id, n.target
        ),
        Some(Delivery::Typed) => format!(
            "nudge {} typed into {}'s session but not confirmed by its prompt hook; it stays queued for the next prime",
            n.id, n.target
        ),
        Some(Delivery::Skipped(why)) => format!(
            "nudge {} queued for {} (live delivery skipped: {why})",
            n.id, n.target
        ),
        Some(Delivery::Failed(why)) => format!(
            "nudge {} NOT delivered live ({why}); it stays queued for {}'s next prime",
            n.id, n.target
        ),
    });
    if let Some(Delivery::Failed(_)) = delivery {
        return Err(CliError {
            message: String::new(),
            help: None,
            code: 1,
        });
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct HandoffArgs {
    /// A one-line summary, put before the notes.
    #[arg(short, long)]
    pub subject: Option<String>,
    /// Handoff notes for the next session.
    #[arg(short, long, default_value = "")]
    pub message: String,
    #[command(flatten)]
    pub who: Who,
}

pub fn handoff_cmd(a: &HandoffArgs, json: bool) -> i32 {
    let ctx = super::gt_coord::ctx(json);
    finish(json, handoff_inner(&ctx, a))
}

fn handoff_inner(ctx: &Ctx, a: &HandoffArgs) -> CliResult {
    let mut store = ctx.open()?;
    let addr = me(&store, a.who.identity.as_deref())?;
    let notes = if a.message.trim().is_empty() {
        "(no notes)".to_string()
    } else {
        a.message.clone()
    };
    let notes = match &a.subject {
        Some(s) => format!("{s}\n\n{notes}"),
        None => notes,
    };
    let id = mail::handoff(&mut store, &addr, current_generation(), &notes)?;
    let cycled = cycle_session(&addr).map_err(|e| CliError::usage(e.to_string(), e.help()))?;
    ctx.print(
        &serde_json::json!({"handoff": id, "to": addr, "cycling": cycled}),
        || {
            if cycled {
                format!("handoff notes mailed to {addr} (message {id}); the supervisor ends this session and starts a fresh one, which primes with them")
            } else {
                format!("handoff notes mailed to {addr} (message {id}); the next session sees them at prime")
            }
        },
    );
    Ok(())
}

/// Ask the supervisor to cycle `addr`'s live session. `false` when it has
/// none (a person handing off).
fn cycle_session(addr: &str) -> Result<bool, crate::runtime::RuntimeError> {
    let Ok(town) = super::gt_town::town() else {
        return Ok(false);
    };
    let store = town.store()?;
    let row = crate::store::agents::list(store.conn())?
        .into_iter()
        .find(|a| a.address().trim_end_matches('/') == addr);
    match row {
        Some(a)
            if a.pid
                .is_some_and(|p| crate::runtime::proc::alive(p, a.pid_start)) =>
        {
            crate::runtime::roles::request_cycle(&town, &a)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}
