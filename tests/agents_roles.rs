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

    /// Polecats run a `sleep 60` agent; sling a new bead to rig `app` and
    /// return sling's JSON.
    fn sling_to_sleepy_polecat(&self) -> serde_json::Value {
        let agent = self.tool("sleepy", "#!/bin/sh\nexec sleep 60\n");
        self.agent("sleepy", agent.to_str().unwrap(), "exec");
        self.ok(&self.town, &["config", "role", "polecat", "sleepy"]);
        let bead: serde_json::Value =
            serde_json::from_str(&self.bd(&["--json", "create", "Work"])).unwrap();
        self.json(&["sling", bead["id"].as_str().unwrap(), "app"])
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
    let mut w = World::new();
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

    // The same agent in tmux, on a PATH without tmux (git only).
    w.agent("mine", agent.to_str().unwrap(), "tmux");
    let tools = w.root.join("tools");
    std::fs::create_dir_all(&tools).unwrap();
    let git = std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|d| d.join("git"))
        .find(|g| g.is_file())
        .expect("git on PATH");
    std::os::unix::fs::symlink(git, tools.join("git")).unwrap();
    w.extra_env = vec![(
        "PATH".into(),
        format!(
            "{}:{}:{}",
            w.bin.display(),
            tools.display(),
            Path::new(GT).parent().unwrap().display()
        ),
    )];
    let all = messages(&w.launch_findings());
    assert!(
        all.contains("agent `mine` runs in tmux, which is not installed"),
        "{all}"
    );
}

impl World {
    fn bd(&self, args: &[&str]) -> String {
        let o = self.cmd(BD, &self.town, args).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "bd {args:?}\n{}", text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn store(&self) -> gastown::store::Store {
        gastown::store::Store::open(&self.town.join(".beads")).unwrap()
    }

    fn agent_row(&self, rig: &str, name: &str) -> Option<gastown::store::agents::AgentRow> {
        gastown::store::agents::get(self.store().conn(), rig, name).unwrap()
    }

    fn daemon_log(&self) -> String {
        std::fs::read_to_string(self.town.join(".beads/runtime/daemon.log")).unwrap_or_default()
    }

    fn wait(&self, what: &str, mut f: impl FnMut() -> bool) {
        let end = Instant::now() + Duration::from_secs(60);
        while Instant::now() < end {
            if f() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut logs = String::new();
        if let Ok(rd) = std::fs::read_dir(self.town.join(".beads/runtime/logs")) {
            for e in rd.flatten() {
                let t = std::fs::read_to_string(e.path()).unwrap_or_default();
                logs += &format!("--- {} ---\n{t}\n", e.path().display());
            }
        }
        panic!(
            "timed out waiting for {what}\n--- daemon log ---\n{}\n{logs}",
            self.daemon_log()
        );
    }
}

/// A one-step formula file for wisps.
fn small_formula(w: &World) -> PathBuf {
    let f = w.root.join("chore.formula.toml");
    std::fs::write(
        &f,
        "formula = \"chore\"\ntype = \"workflow\"\nversion = 1\ndescription = \"One chore.\"\n\n[[steps]]\nid = \"do\"\ntitle = \"Do it\"\n",
    )
    .unwrap();
    f
}

#[test]
fn deacon_builtin_patrol_hands_sessions_to_the_witness_and_keeps_house() {
    let w = World::new();
    // A polecat whose session dies while working.
    let s = w.sling_to_sleepy_polecat();
    let bead = s["bead"].as_str().unwrap().to_string();
    let polecat = s["polecat"].as_str().unwrap().to_string();
    let pid = s["pid"].as_i64().unwrap();
    unsafe {
        libc::kill(-(pid as i32), libc::SIGKILL);
    }
    w.wait("the polecat's session to end", || {
        !w.agent_row("app", &polecat).unwrap().session_alive()
    });
    // An orphaned worktree registration and a finished wisp.
    let repo = w.town.join("app/.repo.git");
    let gone = w.root.join("gone-wt");
    common::town::git_in(
        &w.root,
        &[
            "--git-dir",
            repo.to_str().unwrap(),
            "worktree",
            "add",
            "-q",
            "-b",
            "tmp",
            gone.to_str().unwrap(),
        ],
    );
    std::fs::remove_dir_all(&gone).unwrap();
    let wisp = w.json(&["wisp", small_formula(&w).to_str().unwrap()]);
    let root = wisp["new_epic_id"].as_str().unwrap().to_string();
    for id in wisp["id_mapping"].as_object().unwrap().values() {
        w.bd(&["close", id.as_str().unwrap()]);
    }

    // zombie-scan hands the dead session to the rig's witness, once.
    let r = w.json(&["deacon", "zombie-scan"]);
    let lines = r[0]["lines"].to_string();
    assert!(
        lines.contains(&format!("app/polecats/{polecat}"))
            && lines.contains("handed to app/witness"),
        "{r:#}"
    );
    let inbox = gastown::coord::mail::inbox(w.store().conn(), "app/witness", true, 10).unwrap();
    assert_eq!(inbox.messages.len(), 1, "{inbox:?}");
    assert!(inbox.messages[0]
        .subject
        .starts_with(&format!("DEAD_SESSION app/polecats/{polecat} gen ")));
    let again = w.json(&["deacon", "zombie-scan"]).to_string();
    assert!(again.contains("already with app/witness"), "{again}");
    assert_eq!(
        gastown::coord::mail::inbox(w.store().conn(), "app/witness", true, 10)
            .unwrap()
            .messages
            .len(),
        1
    );
    // stale-hooks waits (1 h by default) so the witness restarts in place
    // first; with --max-age 0s the dead holder's hook is released.
    let r = w.json(&["deacon", "stale-hooks"]);
    assert_eq!(r[0]["lines"], serde_json::json!([]), "{r:#}");
    let r = w.json(&["deacon", "stale-hooks", "--max-age", "0", "--dry-run"]);
    assert!(r[0]["lines"].to_string().contains(&bead), "{r:#}");
    let st = gastown::store::issues::get(w.store().conn(), &bead)
        .unwrap()
        .status;
    assert_ne!(
        st,
        gastown::store::Status::Open,
        "a dry run changes nothing"
    );
    let o = w.gt(&w.town, &["deacon", "stale-hooks", "--max-age", "soon"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--max-age `soon`"), "{}", text(&o));
    let r = w.json(&["deacon", "stale-hooks", "--max-age", "0"]);
    assert!(
        r[0]["lines"].to_string().contains("released lease"),
        "{r:#}"
    );
    assert_eq!(
        gastown::store::issues::get(w.store().conn(), &bead)
            .unwrap()
            .status,
        gastown::store::Status::Open
    );

    // `gt deacon start` without an agent: the supervisor patrols (every
    // part), and `gt deacon status` shows when and what.
    let st = w.json(&["deacon", "start"]);
    assert_eq!(st["mode"], "supervisor", "{st:#}");
    w.wait("the first built-in patrol", || {
        w.json(&["deacon", "status"])["patrol"]["cycle"].as_u64() >= Some(1)
    });
    let st = w.json(&["deacon", "status"]);
    assert_eq!(st["patrol"]["by"], "supervisor", "{st:#}");
    let parts: Vec<&str> = st["patrol"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["part"].as_str().unwrap())
        .collect();
    assert_eq!(
        parts,
        [
            "zombie-scan",
            "cleanup-orphans",
            "stale-hooks",
            "housekeeping"
        ]
    );
    let house = st["patrol"]["results"][3]["lines"].to_string();
    assert!(
        house.contains("worktrees.orphaned") && house.contains("pruned"),
        "{house}"
    );
    assert!(
        house.contains(&root),
        "the finished wisp was collected: {house}"
    );
    assert!(gastown::store::issues::get(w.store().conn(), &root).is_err());
    let human = w.ok(&w.town, &["deacon", "status"]);
    assert!(
        human.contains("running as supervisor code")
            && human.contains("last patrol:")
            && human.contains("housekeeping at"),
        "{human}"
    );
    w.shutdown();
}

#[test]
fn deacon_with_an_agent_works_its_patrol_wisp() {
    let w = World::new();
    // A stand-in deacon: closes each ready step its prime shows, then says
    // it is done and exits.
    let script = r#"#!/bin/sh
cat > /dev/null
for i in 1 2 3 4 5 6 7 8 9 10; do
  step=$(gt prime | sed -n 's/^Next ready step: \([^ ]*\).*/\1/p')
  [ -z "$step" ] && break
  bd close "$step" > /dev/null || exit 1
done
gt deacon heartbeat "fake patrol done"
"#;
    let agent = w.tool("fake-deacon", script);
    w.agent("fake-deacon", agent.to_str().unwrap(), "exec");
    w.ok(&w.town, &["config", "role", "deacon", "fake-deacon"]);
    w.ok(&w.town, &["config", "set", "deacon.patrol_secs", "1"]);
    let st = w.json(&["deacon", "start"]);
    assert_eq!(st["mode"], "agent", "{st:#}");
    assert_eq!(st["agent"], "fake-deacon");
    let row = w.agent_row("", "deacon").unwrap();
    let wisp = row.hooked_bead.clone().expect("a patrol wisp on the hook");
    let root = gastown::store::issues::get(w.store().conn(), &wisp).unwrap();
    assert!(root.ephemeral, "a wisp");
    assert_eq!(
        root.metadata["formula"], "mol-deacon-patrol",
        "{:?}",
        root.metadata
    );
    w.wait("the agent to finish its wisp", || {
        gastown::store::issues::subtree(w.store().conn(), &wisp)
            .unwrap()
            .iter()
            .all(|i| i.id == wisp || i.status == gastown::store::Status::Closed)
            && gastown::runtime::patrol::last_beat(
                &gastown::town::Town {
                    root: w.town.clone(),
                },
                "deacon",
            )
            .is_some_and(|h| h.action == "fake patrol done")
    });
    let st = w.json(&["deacon", "status"]);
    assert_eq!(st["patrol"]["cycle"], 1, "{st:#}");
    assert_eq!(st["patrol"]["by"], "agent");

    // With the supervisor up, the next patrol is due (1 s): a fresh
    // session on a fresh wisp.
    w.ok(&w.town, &["start"]);
    w.wait("a second patrol wisp", || {
        w.agent_row("", "deacon")
            .and_then(|a| a.hooked_bead)
            .is_some_and(|b| b != wisp)
    });
    // The finished wisp was closed for housekeeping to collect.
    assert_eq!(
        gastown::store::issues::get(w.store().conn(), &wisp)
            .unwrap()
            .status,
        gastown::store::Status::Closed
    );
    // Stopped by the user, it stays stopped.
    w.ok(&w.town, &["deacon", "stop"]);
    assert_eq!(w.agent_row("", "deacon").unwrap().state, "idle");
    w.shutdown();
}

fn tmux_ok() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A stand-in agent that reads its prompt, writes its prime to
/// `primed.txt` in its session directory, and stays up.
const STAYS_UP: &str = "#!/bin/sh\ncat > /dev/null\ngt prime > primed.txt 2>&1\nexec sleep 60\n";

impl World {
    fn has_session(&self, name: &str) -> bool {
        let sock = gastown::runtime::session::tmux_socket(&self.town.join(".beads/runtime"));
        Command::new("tmux")
            .args(["-L", &sock, "has-session", "-t", &format!("={name}")])
            .output()
            .is_ok_and(|o| o.status.success())
    }

    fn primed(&self, dir: &Path, who: &str) {
        let f = dir.join("primed.txt");
        self.wait(&format!("{who}'s prime"), || {
            std::fs::read_to_string(&f).is_ok_and(|t| t.contains(who))
        });
    }
}

#[test]
fn crew_sessions_start_attach_stop_and_restart_on_the_town_socket() {
    if !tmux_ok() {
        return eprintln!("skipped: tmux is not installed");
    }
    let w = World::new();
    let bot = w.tool("crewbot", STAYS_UP);
    w.agent("crewbot", bot.to_str().unwrap(), "tmux");
    w.ok(&w.town, &["config", "role", "crew", "crewbot"]);
    let o = w.gt(&w.town, &["crew", "start"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("which crew member?"), "{}", text(&o));

    // No worktree yet: `start` makes it (branch crew/dave), then the session.
    let v = w.json(&["crew", "start", "dave"]);
    assert_eq!(v[0]["address"], "app/crew/dave", "{v:#}");
    assert_eq!(v[0]["running"], true, "{v:#}");
    assert_eq!(v[0]["session"], "gt-app-crew-dave", "{v:#}");
    let wt = w.town.join("app/crew/dave");
    let branch = common::town::git_in(&wt, &["branch", "--show-current"]);
    assert_eq!(branch.trim(), "crew/dave");
    assert!(w.has_session("gt-app-crew-dave"));
    // Primed as that crew member, by where it stands and its session env.
    w.primed(&wt, "app/crew/dave (role: crew)");
    let st = w.json(&["crew", "status", "dave"]);
    assert_eq!(st[0]["mode"], "agent");
    assert_eq!(st[0]["agent"], "crewbot");
    let gen = st[0]["generation"].as_i64().unwrap();
    // `at` on a running member: --no-tmux prints its worktree, --detached
    // leaves it running.
    let path = w.ok(&w.town, &["crew", "at", "dave", "--no-tmux"]);
    assert_eq!(Path::new(path.trim()), wt);
    let v = w.json(&["crew", "at", "app/dave", "--detached"]);
    assert_eq!(v["pid"], st[0]["pid"], "not started twice: {v:#}");
    let list = w.ok(&w.town, &["crew", "list"]);
    assert!(
        list.contains("app/crew/dave: running as agent `crewbot`"),
        "{list}"
    );

    // Stop ends the session; restart starts a new generation.
    let v = w.json(&["crew", "stop", "dave"]);
    assert_eq!(v[0]["stopped"], true, "{v:#}");
    assert!(!w.has_session("gt-app-crew-dave"));
    let st = w.json(&["crew", "status", "dave"]);
    assert_eq!(st[0]["running"], false, "{st:#}");
    assert_eq!(st[0]["state"], "idle");
    std::fs::remove_file(wt.join("primed.txt")).unwrap();
    let v = w.json(&["crew", "restart", "dave"]);
    assert_eq!(v[0]["running"], true, "{v:#}");
    assert_eq!(v[0]["generation"], gen + 1);
    w.primed(&wt, "app/crew/dave (role: crew)");
    w.ok(&w.town, &["crew", "stop", "--all"]);
    assert!(!w.has_session("gt-app-crew-dave"));
    w.shutdown();
}

/// A status: `gt witness status` prints one object for one rig, a list for
/// several.
fn one(v: &serde_json::Value) -> &serde_json::Value {
    v.as_array().and_then(|a| a.first()).unwrap_or(v)
}

#[test]
fn witness_and_refinery_run_as_supervisor_code_or_as_agent_sessions() {
    let w = World::new();
    // No agent: supervisor code. start runs the supervisor; stop pauses it.
    let st = w.json(&["witness", "status"]);
    assert_eq!(one(&st)["mode"], "supervisor", "{st:#}");
    assert_eq!(one(&st)["running"], false);
    let st = w.json(&["witness", "start"]);
    assert_eq!(st["mode"], "supervisor", "{st:#}");
    assert_eq!(st["running"], true);
    w.json(&["witness", "stop"]);
    assert_eq!(one(&w.json(&["witness", "status"]))["running"], false);
    assert_eq!(w.json(&["witness", "start", "app"])["running"], true);

    // Assigned an agent (the rig's roles.witness.agent): an agent session in
    // <rig>/witness, primed as the witness; restart is a new generation;
    // stop ends it and the supervisor leaves it stopped.
    let bot = w.tool("patrolbot", STAYS_UP);
    w.agent("patrolbot", bot.to_str().unwrap(), "exec");
    w.ok(
        &w.town,
        &["config", "role", "witness", "patrolbot", "--rig", "app"],
    );
    let st = w.json(&["witness", "status", "--rig", "app"]);
    assert_eq!(one(&st)["mode"], "agent", "{st:#}");
    assert_eq!(one(&st)["running"], false);
    let st = w.json(&["witness", "start", "--rig", "app"]);
    assert_eq!(st["mode"], "agent", "{st:#}");
    assert_eq!(st["running"], true, "{st:#}");
    let home = w.town.join("app/witness");
    w.primed(&home, "app/witness (role: witness)");
    let gen = st["generation"].as_i64().unwrap();
    let st = w.json(&["witness", "restart", "--rig", "app"]);
    assert_eq!(st["running"], true, "{st:#}");
    assert_eq!(st["generation"], gen + 1);
    let pid = st["pid"].as_i64().unwrap();
    w.json(&["witness", "stop", "--rig", "app"]);
    w.wait("the witness session to end", || {
        !gastown::proc::alive(pid, None)
    });
    std::thread::sleep(Duration::from_millis(600)); // a few supervisor ticks
    let st = w.json(&["witness", "status", "--rig", "app"]);
    assert_eq!(one(&st)["running"], false, "stopped stays stopped: {st:#}");
    assert_eq!(one(&st)["state"], "idle");

    // The refinery, by --agent: its session instead of the built-in worker.
    let st = w.json(&["refinery", "start", "--agent", "patrolbot"]);
    assert_eq!(st["mode"], "agent", "{st:#}");
    w.primed(
        &w.town.join("app/refinery"),
        "app/refinery (role: refinery)",
    );
    let o = w.gt(&w.town, &["refinery", "start", "--agent", "patrolbot"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("already running"), "{}", text(&o));
    w.json(&["refinery", "stop"]);
    // Back to supervisor code once no agent is assigned or passed.
    let st = w.json(&["refinery", "status"]);
    assert_eq!(one(&st)["mode"], "supervisor", "{st:#}");
    w.shutdown();
}

#[test]
fn crew_and_polecats_never_share_a_name() {
    let w = World::new();
    let s = w.sling_to_sleepy_polecat();
    let polecat = s["polecat"].as_str().unwrap().to_string();
    // The polecat's name is taken: one agent row per name and rig.
    let o = w.gt(&w.town, &["crew", "add", &polecat, "--rig", "app"]);
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
    let msg = text(&o);
    assert!(msg.contains(&format!("app/polecats/{polecat}")), "{msg}");
    assert!(msg.contains("a name of its own"), "{msg}");
    assert!(!w.town.join("app/crew").join(&polecat).exists());
    w.ok(&w.town, &["crew", "add", "dave", "--rig", "app"]);
    w.shutdown();
}
