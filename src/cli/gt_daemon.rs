//! `gt shutdown`, `gt status`, `gt agents`, `gt peek`, `gt daemon run`
//! (`gt start` and `gt mayor` are in `gt_roles.rs`).

use super::gt_town::{finish, print, town};
use crate::runtime::daemon;
use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum DaemonCommand {
    /// Run the supervisor in the foreground (what `gt start` spawns).
    Run {
        #[arg(long, default_value_t = 250)]
        tick_ms: u64,
    },
    /// Start the supervisor in the background (no-op when it runs already).
    Start,
    /// Stop the supervisor (sessions keep running; the next start adopts them).
    Stop,
    /// Is the supervisor running: pid, log, paused roles.
    Status,
    /// Rotate the supervisor's log (copy to `daemon.log.1`, keep 3, truncate).
    RotateLogs,
}

#[derive(Subcommand, Debug)]
pub enum ShutdownCommand {
    /// Report what a shutdown would interrupt: merges being built
    /// (BLOCKER, exit 1), uncommitted or unpushed polecat work (WARNING),
    /// pull requests waiting (INFO).
    Preflight,
}

pub fn preflight(json: bool) -> i32 {
    let mut blocked = false;
    let code = finish(
        (|| {
            let p = crate::runtime::preflight::run(&town()?)?;
            blocked = p.blockers > 0;
            print(json, &p, || {
                let mut out = format!(
                    "Shutdown preflight: {} blocker(s), {} warning(s)",
                    p.blockers, p.warnings
                );
                for f in &p.findings {
                    out += &format!("\n  {:?}  {}: {}", f.severity, f.subject, f.detail);
                }
                if p.blockers > 0 {
                    out += "\nResolve the blockers before shutting down.";
                } else {
                    out += "\nSafe to shut down (work in worktrees and hooks is preserved).";
                }
                out
            });
            Ok(())
        })(),
        json,
    );
    if code == 0 && blocked {
        1
    } else {
        code
    }
}

pub fn start(json: bool) -> i32 {
    finish(
        (|| {
            let t = town()?;
            let pid = daemon::start(&t)?;
            print(json, &serde_json::json!({"pid": pid}), || {
                format!(
                    "Supervisor started (pid {pid}); log: {}",
                    daemon::logfile(&t).display()
                )
            });
            Ok(())
        })(),
        json,
    )
}

pub fn shutdown(json: bool) -> i32 {
    finish(
        (|| {
            let t = town()?;
            let r = daemon::shutdown(&t)?;
            print(json, &serde_json::json!({"stopped": r}), || {
                match r {
                Some(p) => format!("Supervisor {p} stopped (sessions keep running; the next `gt start` adopts them)"),
                None => "No supervisor was running".into(),
            }
            });
            Ok(())
        })(),
        json,
    )
}

pub fn daemon_cmd(c: &DaemonCommand, json: bool) -> i32 {
    let tick_ms = match c {
        DaemonCommand::Run { tick_ms } => tick_ms,
        DaemonCommand::Start => return daemon_start(json),
        DaemonCommand::Stop => return shutdown(json),
        DaemonCommand::Status => return daemon_status(json),
        DaemonCommand::RotateLogs => return rotate_logs(json),
    };
    finish(
        (|| {
            let t = town()?;
            daemon::run(
                &t,
                std::time::Duration::from_millis((*tick_ms).clamp(10, 10_000)),
            )
        })(),
        json,
    )
}

fn agent_lines(v: &[daemon::AgentView]) -> String {
    if v.is_empty() {
        return "(no agents)".into();
    }
    v.iter()
        .map(|a| {
            format!(
                "{:<28} {:<9} {:<5} gen {:<3} {}{}",
                a.address,
                a.state,
                if a.alive { "live" } else { "-" },
                a.generation,
                a.bead.clone().unwrap_or_default(),
                a.agent
                    .as_ref()
                    .map(|x| format!("  ({x})"))
                    .unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn status(json: bool) -> i32 {
    finish(
        (|| {
            let s = daemon::status(&town()?)?;
            print(json, &s, || {
                let counts = s
                    .counts
                    .iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                format!(
                    "town {}\nsupervisor: {}\nrigs: {}\nbeads: {}\nmerge requests open: {}\nagents:\n{}",
                    s.town,
                    s.supervisor.map(|p| format!("running (pid {p})")).unwrap_or_else(|| "not running (`gt start`)".into()),
                    if s.rigs.is_empty() { "(none)".into() } else { s.rigs.join(", ") },
                    counts,
                    s.merge_requests_open,
                    agent_lines(&s.agents)
                )
            });
            Ok(())
        })(),
        json,
    )
}

pub fn agents(json: bool) -> i32 {
    finish(
        (|| {
            let v = daemon::agent_views(&town()?.store()?)?;
            print(json, &v, || agent_lines(&v));
            Ok(())
        })(),
        json,
    )
}

pub fn peek(agent: &str, lines: usize, json: bool) -> i32 {
    finish(
        (|| {
            let text = daemon::peek(&town()?, agent, lines)?;
            print(
                json,
                &serde_json::json!({"agent": agent, "tail": text}),
                || text.clone(),
            );
            Ok(())
        })(),
        json,
    )
}

fn daemon_start(json: bool) -> i32 {
    finish(
        (|| {
            let t = town()?;
            if let Some(pid) = daemon::running(&t) {
                print(
                    json,
                    &serde_json::json!({"pid": pid, "already_running": true}),
                    || format!("Supervisor already running (pid {pid})"),
                );
                return Ok(());
            }
            let pid = daemon::start(&t)?;
            print(
                json,
                &serde_json::json!({"pid": pid, "already_running": false}),
                || {
                    format!(
                        "Supervisor started (pid {pid}); log: {}",
                        daemon::logfile(&t).display()
                    )
                },
            );
            Ok(())
        })(),
        json,
    )
}

fn daemon_status(json: bool) -> i32 {
    finish(
        (|| {
            let s = daemon::daemon_status(&town()?);
            print(json, &s, || {
                let mut out = match s.pid {
                    Some(p) => format!("Supervisor running (pid {p})"),
                    None => "Supervisor not running (`gt daemon start` or `gt start`)".into(),
                };
                out += &format!("\nlog: {} ({} bytes)", s.log.display(), s.log_bytes);
                if !s.paused.is_empty() {
                    out += &format!("\npaused: {}", s.paused.join(", "));
                }
                out
            });
            Ok(())
        })(),
        json,
    )
}

fn rotate_logs(json: bool) -> i32 {
    finish(
        (|| {
            let r = daemon::rotate_log(&town()?)?;
            print(json, &r, || match &r.rotated_to {
                Some(p) => format!("rotated {} bytes to {}", r.bytes, p.display()),
                None => format!("{} is empty; nothing to rotate", r.log.display()),
            });
            Ok(())
        })(),
        json,
    )
}
