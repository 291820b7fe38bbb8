//! The agent layer without the real CLIs: `gt doctor`'s checks before
//! launch for the agents a town actually uses, the deacon's patrol, crew
//! sessions, and agent-run witness and refinery. Every town is built with
//! `gt install`, `gt rig add` and `gt config`; agents are small scripts
//! registered with `gt config agent set`.

mod common;
use common::town::{origin_repo, text, BD, GT};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

fn tmux_ok() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A town whose commands run with a clean environment: a test HOME, and a
/// PATH of a private `bin/` (for fake CLIs), gt's directory and the system.
struct World {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    town: PathBuf,
    home: PathBuf,
    bin: PathBuf,
    extra_env: Vec<(String, String)>,
}

impl World {
    fn new() -> World {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let home = root.join("home");
        let bin = root.join("bin");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&bin).unwrap();
        let origin = origin_repo(&root, "app", "main");
        let w = World {
            town: root.join("town"),
            _tmp: tmp,
            root,
            home,
            bin,
            extra_env: Vec::new(),
        };
        w.ok(&w.root, &["install", w.town.to_str().unwrap()]);
        w.ok(&w.town, &["rig", "add", "app", origin.to_str().unwrap()]);
        w
    }

    fn path(&self) -> String {
        format!(
            "{}:{}:/usr/local/bin:/usr/bin:/bin",
            self.bin.display(),
            Path::new(GT).parent().unwrap().display()
        )
    }

    fn cmd(&self, bin: &str, dir: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(bin);
        c.args(args)
            .current_dir(dir)
            .env_clear()
            .env("PATH", self.path())
            .env("HOME", &self.home)
            .env("GT_TOWN", &self.town)
            .env("BD_SYNCHRONOUS", "NORMAL")
            .stdin(Stdio::null());
        for (k, v) in &self.extra_env {
            c.env(k, v);
        }
        c
    }

    fn gt(&self, dir: &Path, args: &[&str]) -> Output {
        self.cmd(GT, dir, args).output().unwrap()
    }

    fn ok(&self, dir: &Path, args: &[&str]) -> String {
        let o = self.gt(dir, args);
        assert_eq!(o.status.code(), Some(0), "gt {args:?}\n{}", text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        serde_json::from_str(&self.ok(&self.town, &a)).unwrap()
    }

    /// An executable script `bin/NAME` (on the world's PATH).
    fn tool(&self, name: &str, script: &str) -> PathBuf {
        let p = self.bin.join(name);
        std::fs::write(&p, script).unwrap();
        Command::new("chmod").arg("+x").arg(&p).status().unwrap();
        p
    }

    /// `gt config agent set NAME COMMAND [--provider P]`.
    fn agent(&self, name: &str, command: &str, provider: &str) {
        self.ok(
            &self.town,
            &[
                "config",
                "agent",
                "set",
                name,
                command,
                "--provider",
                provider,
            ],
        );
    }

    /// `gt doctor --json`: the `agents.launch` findings.
    fn launch_findings(&self) -> Vec<serde_json::Value> {
        let o = self.gt(&self.town, &["--json", "doctor"]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("doctor --json: {e}\n{}", text(&o)));
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["check"] == "agents.launch")
            .cloned()
            .collect()
    }

    fn shutdown(&self) {
        let _ = self.gt(&self.town, &["shutdown"]);
        let sock = gastown::runtime::session::tmux_socket(&self.town.join(".beads/runtime"));
        let _ = Command::new("tmux")
            .args(["-L", &sock, "kill-server"])
            .output();
    }
}

fn messages(f: &[serde_json::Value]) -> String {
    f.iter()
        .map(|f| format!("{} {}", f["level"], f["message"]))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn doctor_reports_launch_problems_of_the_agents_in_use() {
    let mut w = World::new();
    // A fresh town defaults to Claude Code, which is not on this PATH.
    let f = w.launch_findings();
    let all = messages(&f);
    let claude: Vec<_> = f
        .iter()
        .filter(|f| f["message"].as_str().unwrap().contains("`claude`"))
        .collect();
    assert!(!claude.is_empty(), "{all}");
    let m = claude[0]["message"].as_str().unwrap();
    assert!(m.contains("not installed"), "{all}");
    assert!(
        m.starts_with("mayor, app/polecat, app/crew:"),
        "who uses it: {all}"
    );
    assert_eq!(claude[0]["level"], "warn");
    assert_eq!(claude[0]["manual"], true);
    assert!(claude[0]["fix"]
        .as_str()
        .unwrap()
        .contains("npm install -g @anthropic-ai/claude-code"));
    // Warnings, not errors: the town itself is healthy.
    let o = w.gt(&w.town, &["doctor"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("agents.launch"), "{}", text(&o));
    assert!(
        !text(&o).contains("npm install -g @anthropic-ai/claude-code (gt doctor --fix)"),
        "a manual fix does not promise --fix: {}",
        text(&o)
    );

    // Claude Code installed (a stand-in on PATH; the doctor only looks),
    // no login, and, as root, no IS_SANDBOX.
    w.tool("claude", "#!/bin/sh\nexit 0\n");
    let all = messages(&w.launch_findings());
    assert!(!all.contains("not installed"), "{all}");
    assert!(all.contains("no login"), "{all}");
    assert_eq!(all.contains("as root"), is_root(), "{all}");
    w.extra_env = vec![
        (
            "ANTHROPIC_API_KEY".into(),
            "sk-test-abcdefghijklmnopqrstuvwxyz".into(),
        ),
        ("IS_SANDBOX".into(), "1".into()),
    ];
    let f = w.launch_findings();
    assert_eq!(f.len(), 1, "{}", messages(&f));
    assert_eq!(f[0]["level"], "ok");
    assert!(f[0]["message"].as_str().unwrap().contains("can start"));

    // A Claude agent with its own CLAUDE_CONFIG_DIR that never onboarded
    // would stop at the first-run screens.
    w.agent(
        "my-claude",
        "claude --dangerously-skip-permissions {prompt}",
        "tmux",
    );
    let own = w.root.join("own-claude");
    for (k, v) in [
        ("agents.my-claude.cli", "claude"),
        (
            "agents.my-claude.env.CLAUDE_CONFIG_DIR",
            own.to_str().unwrap(),
        ),
    ] {
        w.ok(&w.town, &["config", "set", k, v]);
    }
    w.ok(
        &w.town,
        &["config", "role", "crew", "my-claude", "--rig", "app"],
    );
    let all = messages(&w.launch_findings());
    assert!(
        all.contains("app/crew: agent `my-claude` sets CLAUDE_CONFIG_DIR"),
        "{all}"
    );
    assert!(all.contains("onboarding"), "{all}");
    std::fs::create_dir_all(&own).unwrap();
    std::fs::write(
        own.join(".claude.json"),
        r#"{"hasCompletedOnboarding": true}"#,
    )
    .unwrap();
    let all = messages(&w.launch_findings());
    assert!(!all.contains("onboarding"), "{all}");
}

#[test]
fn doctor_leaves_presets_nobody_chose_alone() {
    let w = World::new();
    let agent = w.tool("my-agent", "#!/bin/sh\nexit 0\n");
    w.agent("mine", agent.to_str().unwrap(), "exec");
    w.ok(&w.town, &["config", "default-agent", "mine"]);
    let f = w.launch_findings();
    let all = messages(&f);
    assert!(!all.contains("claude") && !all.contains("Claude"), "{all}");
    assert_eq!(f.len(), 1, "{all}");
    assert!(
        all.contains("agent `mine` (mayor, app/polecat, app/crew) can start"),
        "{all}"
    );

    // The patrol roles count only when assigned: the deacon on a missing
    // CLI is reported; the unassigned witness is supervisor code.
    w.agent("ghost", "/nonexistent/ghost-cli {prompt}", "exec");
    w.ok(&w.town, &["config", "role", "deacon", "ghost"]);
    let all = messages(&w.launch_findings());
    assert!(
        all.contains("deacon: agent `ghost` runs `/nonexistent/ghost-cli`, which is not installed"),
        "{all}"
    );
    assert!(!all.contains("witness"), "{all}");
}
