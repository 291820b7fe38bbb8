//! The live display of `gt run`: an indicatif bar on a terminal, plain
//! lines otherwise.

use super::scheduler::{Outcome, Reporter, RunEvent, Summary};
use crate::store::leases::FailOutcome;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

pub struct Progress {
    bar: Option<ProgressBar>,
    quiet: bool,
    running: Vec<String>,
}

impl Progress {
    pub fn new(quiet: bool) -> Self {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let b = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            b.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} steps  {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            b.enable_steady_tick(Duration::from_millis(120));
            b
        });
        Progress {
            bar,
            quiet,
            running: Vec::new(),
        }
    }

    fn line(&self, s: String) {
        if self.quiet {
            return;
        }
        match &self.bar {
            Some(b) => b.println(s),
            None => eprintln!("{s}"),
        }
    }

    fn msg(&self) {
        if let Some(b) = &self.bar {
            let mut m = self
                .running
                .iter()
                .take(4)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            if self.running.len() > 4 {
                m += &format!(" +{}", self.running.len() - 4);
            }
            b.set_message(if m.is_empty() {
                String::new()
            } else {
                format!("running: {m}")
            });
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

fn short(step: &str) -> &str {
    step.split_once('.').map(|(_, p)| p).unwrap_or(step)
}

impl Reporter for Progress {
    fn event(&mut self, e: RunEvent<'_>) {
        match e {
            RunEvent::Begin {
                total,
                done,
                resumed,
            } => {
                if let Some(b) = &self.bar {
                    b.set_length(total as u64);
                    b.set_position(done as u64);
                }
                if resumed {
                    self.line(format!("resuming: {done}/{total} steps already closed"));
                }
            }
            RunEvent::Started { step, .. } => {
                self.running.push(short(step).to_string());
                self.msg();
            }
            RunEvent::Adopted { step, title } => {
                self.running.push(short(step).to_string());
                self.line(format!("↺ adopted live session of {} {title}", short(step)));
                self.msg();
            }
            RunEvent::Closed { step, title, secs } => {
                self.running.retain(|s| s != short(step));
                if let Some(b) = &self.bar {
                    b.inc(1);
                }
                if !title.is_empty() {
                    self.line(format!("✓ {:<24} {title} ({secs:.1}s)", short(step)));
                }
                self.msg();
            }
            RunEvent::Failed {
                step,
                title,
                error,
                outcome,
            } => {
                self.running.retain(|s| s != short(step));
                let what = match outcome {
                    FailOutcome::Retry { attempt, .. } => format!("retrying (attempt {attempt})"),
                    FailOutcome::Blocked { attempts, .. } => {
                        format!("BLOCKED after {attempts} attempt(s), escalated")
                    }
                    FailOutcome::Stale => "lease already moved on".into(),
                };
                self.line(format!("✗ {:<24} {title}: {error}; {what}", short(step)));
                self.msg();
            }
            RunEvent::Note(n) => self.line(n.to_string()),
        }
    }
}

/// The summary, for people.
pub fn render_summary(s: &Summary) -> String {
    let mut out = String::new();
    let verdict = match s.outcome {
        Outcome::Completed => "completed",
        Outcome::Failed => "FAILED",
        Outcome::Stalled => "stalled",
        Outcome::Interrupted => "interrupted",
    };
    out += &format!(
        "molecule {} ({}): {verdict}\n  steps: {} closed / {} total, {} blocked, {} open, {} in progress\n  sessions: {} started, {} adopted, {} retries; {:.1}s",
        s.molecule, s.title, s.closed, s.steps, s.blocked, s.open, s.in_progress,
        s.sessions_started, s.adopted, s.retries, s.elapsed_secs
    );
    if s.sessions_started > 0 {
        out += &format!(" ({:.0} steps/s)", s.steps_per_sec);
    }
    out += "\n";
    for u in s.unfinished.iter().take(20) {
        out += &format!("  - {} [{}] {}", u.id, u.status, u.title);
        if u.attempts > 0 {
            out += &format!(", {} attempt(s)", u.attempts);
        }
        if let Some(e) = &u.last_error {
            out += &format!(": {e}");
        }
        if let Some(l) = &u.log {
            out += &format!("\n      log: {l}");
        }
        out += "\n";
    }
    if s.unfinished.len() > 20 {
        out += &format!("  ... and {} more\n", s.unfinished.len() - 20);
    }
    match s.outcome {
        Outcome::Completed => {}
        Outcome::Failed => out += &format!("  fix the blocked steps, `bd update ID --status open`, then `gt run {}` to resume\n", s.molecule),
        Outcome::Stalled => out += &format!("  nothing is ready: waiting on gates or on steps someone else holds; `bd mol current {}` shows where it stands\n", s.molecule),
        Outcome::Interrupted => out += &format!("  resume with `gt run {}`\n", s.molecule),
    }
    out
}
