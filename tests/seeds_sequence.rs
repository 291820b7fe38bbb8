//! Every `gt`/`bd` command of the seeds (the Gas Town README and the blog
//! post the project started from), in their order, on a fresh machine: a
//! new `$HOME`, a town at `~/gt`, and the lines run by `sh` as written.
//!
//! What the test must change, and why:
//! - the GitHub URL becomes a local bare origin (no network in tests);
//! - the example bead ids (`gt-x7k2m`, `issue-123`, ...) become beads made
//!   first with `bd create` (the seeds assume a backlog exists);
//! - `claude` is a stand-in program on `PATH` that stays alive (the real
//!   Claude Code CLI runs in `agents_claude.rs`), with `ANTHROPIC_API_KEY`
//!   and `IS_SANDBOX` set as a sandboxed user would;
//! - `gt mayor attach` and `gt <role> attach` take over a terminal: they are
//!   listed but not run;
//! - long-running commands (`gt dashboard`) pass when they are still
//!   serving after a second.
//!
//! The sequence lives here, in this file's own words. When `../shared/seeds`
//! is present, the test also checks that every `gt`/`bd` command line the
//! seeds contain is covered by the sequence.
mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// One step: a shell line run in `~/gt` (after `gt install`), with `$X`
/// placeholders; `Bead`/`Capture` name values later lines use.
enum Step {
    Run(&'static str),
    /// Create a bead titled so and call its id `$NAME`.
    Bead(&'static str, &'static str),
    /// Run a line, then set `$NAME` to a field of a JSON query's last row.
    Capture(&'static str, &'static str, &'static str, &'static str),
    /// A server: passes while still running after a second.
    Serve(&'static str),
    /// Interactive: needs a terminal; listed, not run.
    Interactive(&'static str),
}

use Step::*;

const SEQUENCE: &[Step] = &[
    // Blog: set up a town with git, a rig, a crew workspace.
    Run("cd ~ && gt install ~/gt --git"),
    Run("gt rig add myproject $ORIGIN"),
    Run("gt crew add yourname --rig myproject"),
    // Blog: agent aliases per model, the Mayor on the strongest one.
    Run(
        r#"gt config agent set claude-sonnet "claude --model claude-sonnet-4-6 --dangerously-skip-permission""#,
    ),
    Run(
        r#"gt config agent set claude-opus "claude --model claude-opus-4-6 --dangerously-skip-permission""#,
    ),
    Run(
        r#"gt config agent set claude-haiku "claude --model claude-haiku-4-5 --dangerously-skip-permission""#,
    ),
    Run("gt mayor start --agent claude-opus"),
    Interactive("gt mayor attach"),
    // Blog: a convoy for two beads, notifying the owner and the human; sling them.
    Bead("X7K2M", "Login form"),
    Bead("P9N4Q", "Session tokens"),
    Bead("ABC12", "Password reset"),
    Run(r#"gt convoy create "Auth System" $X7K2M $P9N4Q --notify --human"#),
    Run("gt sling $ABC12 myproject --agent claude-sonnet"),
    Run("gt sling $X7K2M myproject"),
    // Blog: watching the town.
    Run("gt feed"),
    Run("gt status"),
    Run("gt convoy list"),
    Run("gt convoy show"),
    Run("gt agents"),
    Serve("gt dashboard --port 8080"),
    Run("gt prime"),
    // Blog cheat sheet: the later config lines.
    Run(r#"gt config agent set claude-sonnet "claude --model claude-sonnet-4-6""#),
    Run(r#"gt config agent set claude-opus "claude --model claude-opus-4-6""#),
    Run(r#"gt config agent set claude-haiku "claude --model claude-haiku-4-5-20251001""#),
    // README quick start: the CLI workflow.
    Bead("I123", "Issue 123"),
    Bead("I456", "Issue 456"),
    Run(r#"gt convoy create "Feature X" $I123 $I456 --notify --human"#),
    Run("gt sling $I123 myproject"),
    Run("gt convoy list"),
    Run("gt agents"),
    Run("cd ~/gt && gt prime"),
    Run("gt start"),
    Bead("FIX1", "Fix bugs"),
    Run(r#"gt convoy create "Fix bugs" $FIX1"#),
    Run("gt sling $FIX1 myproject"),
    Run("gt convoy list"),
    // README formulas: list, cook, pour, track, sling.
    Run("bd formula list"),
    Run("bd cook shiny"),
    Capture(
        "bd mol pour shiny --var feature=auth",
        "MOL",
        "bd --json list --type molecule",
        "id",
    ),
    Run(r#"gt convoy create "Auth feature" $MOL"#),
    Run("gt sling $MOL myproject"),
    Run("gt convoy list"),
    // README: the release workflow and the extended formula cook.
    Run("bd cook beads-release"),
    Run("bd cook shiny-enterprise"),
    // README cheat sheet.
    Run("gt status"),
    Interactive("gt witness attach"),
    Capture(
        "gt convoy list",
        "CONVOY",
        "bd --json list --type convoy",
        "id",
    ),
    Run("gt convoy status $CONVOY"),
    Run(r#"gt convoy create "name" $I456"#),
    Bead("I789", "Issue 789"),
    Run("gt sling $I789 myproject"),
    Run("bd ready"),
    Run("bd list --status=in_progress"),
    Run("gt mail inbox"),
    Run(r#"gt mail send mayor -s "Status?" -m "How is the auth convoy going?""#),
    Run("GT_ROLE=mayor gt handoff"),
    Run("gt peek mayor"),
    Run("gt doctor"),
    Run("gt doctor --fix"),
    Run("gt completion bash > /dev/null"),
    Run("gt completion zsh > /dev/null"),
    Run("gt completion fish > /dev/null"),
    Run("gt shutdown"),
    Run("gt status"),
];

struct Machine {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    path: String,
    vars: BTreeMap<String, String>,
}

impl Machine {
    fn new() -> Machine {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        let bin = home.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        // A stand-in `claude`: stays alive like an interactive session.
        let claude = bin.join("claude");
        std::fs::write(&claude, "#!/bin/sh\nexec sleep 120\n").unwrap();
        let _ = Command::new("chmod").arg("+x").arg(&claude).status();
        for (name, real) in [("gt", common::town::GT), ("bd", common::town::BD)] {
            std::os::unix::fs::symlink(real, bin.join(name)).unwrap();
        }
        let origin = common::town::origin_repo(tmp.path(), "your-repo", "main");
        let mut vars = BTreeMap::new();
        vars.insert("ORIGIN".to_string(), origin.display().to_string());
        Machine {
            path: format!(
                "{}:{}",
                bin.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
            home,
            _tmp: tmp,
            vars,
        }
    }

    fn town(&self) -> PathBuf {
        self.home.join("gt")
    }

    fn line(&self, text: &str) -> String {
        let mut s = text.to_string();
        for (k, v) in self.vars.iter().rev() {
            s = s.replace(&format!("${k}"), v);
        }
        s
    }

    fn sh(&self, line: &str) -> Command {
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(line)
            .current_dir(if self.town().is_dir() {
                self.town()
            } else {
                self.home.clone()
            })
            .env("HOME", &self.home)
            .env("PATH", &self.path)
            .env("ANTHROPIC_API_KEY", "sk-test-not-used")
            .env("IS_SANDBOX", "1")
            .env("BD_SYNCHRONOUS", "NORMAL")
            .env_remove("GT_TOWN")
            .env_remove("GT_RIG")
            .env_remove("GT_ROLE")
            .env_remove("GT_POLECAT")
            .env_remove("GT_LEASE")
            .env_remove("BEADS_DIR")
            .env_remove("BD_ACTOR")
            .env_remove("CLAUDE_CONFIG_DIR")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, line: &str) -> Output {
        self.sh(line).output().expect("sh")
    }

    /// The `field` of the last row of a JSON query.
    fn last(&self, query: &str, field: &str) -> String {
        let o = self.run(query);
        assert!(o.status.success(), "{query}: {}", common::town::text(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let rows = v.as_array().cloned().unwrap_or_default();
        let row = rows
            .iter()
            .max_by(|a, b| a["created_at"].as_str().cmp(&b["created_at"].as_str()))
            .unwrap_or_else(|| panic!("{query} returned nothing"));
        row[field].as_str().unwrap().to_string()
    }

    fn serve(&self, line: &str) -> Output {
        // `exec`: the server is the child, so killing it closes the pipes.
        let mut child = self
            .sh(&format!("exec {line}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_secs(1));
        if child.try_wait().unwrap().is_none() {
            let _ = child.kill();
            let mut o = child.wait_with_output().unwrap();
            o.status = Command::new("true").status().unwrap();
            return o;
        }
        child.wait_with_output().unwrap()
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        if self.town().is_dir() {
            let _ = self.run("gt stop --all; gt shutdown").status;
        }
    }
}

#[test]
fn the_seeds_commands_run_as_written_on_a_fresh_machine() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!(
            "skipped: tmux is not installed (the Mayor's session needs it; .ci/run installs it)"
        );
        return;
    }
    let mut m = Machine::new();
    let mut failures = Vec::new();
    for step in SEQUENCE {
        let (shown, out) = match step {
            Run(l) => (m.line(l), m.run(&m.line(l))),
            Serve(l) => (m.line(l), m.serve(&m.line(l))),
            Interactive(l) => {
                eprintln!("not run (takes over a terminal): {l}");
                continue;
            }
            Bead(name, title) => {
                let l = format!("bd --json create {title:?}");
                let o = m.run(&l);
                assert!(o.status.success(), "{l}: {}", common::town::text(&o));
                let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
                m.vars
                    .insert(name.to_string(), v["id"].as_str().unwrap().to_string());
                continue;
            }
            Capture(l, name, query, field) => {
                let o = m.run(&m.line(l));
                if o.status.success() {
                    let id = m.last(query, field);
                    m.vars.insert(name.to_string(), id);
                }
                (m.line(l), o)
            }
        };
        eprintln!(
            "{} {shown}",
            if out.status.success() { "ok  " } else { "FAIL" }
        );
        if !out.status.success() {
            failures.push(format!("{shown}\n{}", common::town::text(&out)));
        }
    }
    assert!(
        failures.is_empty(),
        "{} seeds command(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The `gt`/`bd` command lines of the seeds, each as its command path
/// (`gt convoy create`): every one must appear in [`SEQUENCE`].
#[test]
fn the_sequence_covers_every_command_in_the_seeds() {
    let Some(dir) = common::shared_dir("seeds") else {
        eprintln!("skipped: ../shared/seeds not found beside the checkout");
        return;
    };
    let rd = std::fs::read_dir(&dir).unwrap();
    let covered: Vec<String> = SEQUENCE
        .iter()
        .map(|s| match s {
            Run(l) | Serve(l) | Interactive(l) | Capture(l, ..) => l.to_string(),
            Bead(..) => String::new(),
        })
        .collect();
    let path_of = |line: &str| -> String {
        line.split_whitespace()
            // A bead id (`gt-xyz`) ends the path as a placeholder does.
            .take_while(|w| {
                w.chars().all(|c| c.is_ascii_lowercase() || c == '-')
                    && !w.starts_with("gt-")
                    && !w.starts_with("bd-")
            })
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut missing = Vec::new();
    for e in rd.flatten() {
        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
        for line in text.lines() {
            let t = line.trim_start_matches(['#', ' ', '$']);
            for start in ["gt ", "bd "] {
                let Some(i) = t.find(start) else { continue };
                // Only commands at the start of a line or after `&&`.
                let before = t[..i].trim_end();
                if !(before.is_empty() || before.ends_with("&&")) {
                    continue;
                }
                let cmd = path_of(&t[i..]);
                if cmd.split(' ').count() < 2 || cmd.contains("<role>") {
                    continue;
                }
                if !covered.iter().any(|c| c.contains(&cmd)) {
                    missing.push(format!("{cmd}   ({})", t.trim()));
                }
            }
        }
    }
    missing.sort();
    missing.dedup();
    assert!(
        missing.is_empty(),
        "seeds commands missing from SEQUENCE:\n{}",
        missing.join("\n")
    );
}
