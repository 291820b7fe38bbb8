//! End to end with the real Claude Code CLI (pinned in `.ci/run`), driven
//! by a scripted model server on loopback (`common/model_server.rs`).
//!
//! One town: `gt start` brings up the Mayor in tmux; a nudge (confirmed by
//! the Mayor's UserPromptSubmit hook) asks it to plan; its script pours
//! three molecules, makes a convoy and slings them; three polecats run
//! Claude Code, primed through SessionStart, close each step with `bd
//! close` and run `gt done`; one is killed mid-molecule and resumes at its
//! last closed step; the refinery merges, the convoy lands, the Mayor gets
//! the mail; a handoff cycles the Mayor's session; `gt mayor attach` starts
//! a stopped Mayor. A second test checks the errors before launch (CLI
//! missing, root without IS_SANDBOX) and that `gt doctor` reports them.
//!
//! Claude Code is found at `$GT_TEST_CLAUDE`, else under
//! `target/test-tools/claude-code/` (where `.ci/run` installs it).

mod common;
use common::model_server::{ModelServer, Reply, Turn};
use common::town::{origin_repo, text, BD, GT};
use gastown::store::{issues, Status, Store};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const API_KEY: &str = "sk-ant-test-0123456789abcdefghijklmn";

/// The pinned Claude Code, or why it cannot be used.
fn claude_bin() -> Result<PathBuf, String> {
    let p = match std::env::var_os("GT_TEST_CLAUDE") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target/test-tools/claude-code/node_modules/.bin/claude"),
    };
    if !p.exists() {
        return Err(format!(
            "Claude Code is not installed at {} (`.ci/run` installs it; or set GT_TEST_CLAUDE)",
            p.display()
        ));
    }
    let v = Command::new(&p)
        .arg("--version")
        .env("DISABLE_AUTOUPDATER", "1")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", p.display()))?;
    if !v.status.success() {
        return Err(format!("{} --version failed", p.display()));
    }
    Ok(p)
}

fn tmux_ok() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

/// A town whose commands run with a test HOME, the model server's URL, and
/// Claude Code on PATH.
struct World {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    town: PathBuf,
    home: PathBuf,
    origin: PathBuf,
    path: String,
    base_url: String,
}

impl World {
    fn new(claude: Option<&Path>, base_url: &str) -> World {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let home = root.join("home");
        std::fs::create_dir_all(&home).unwrap();
        let mut path = String::new();
        if let Some(c) = claude {
            path += &format!("{}:", c.parent().unwrap().display());
        }
        path += &format!(
            "{}:/usr/local/bin:/usr/bin:/bin",
            Path::new(GT).parent().unwrap().display()
        );
        let origin = origin_repo(&root, "app", "main");
        let w = World {
            town: root.join("town"),
            _tmp: tmp,
            root,
            home,
            origin,
            path,
            base_url: base_url.to_string(),
        };
        w.ok(&w.root, &["install", w.town.to_str().unwrap()]);
        w.ok(&w.town, &["rig", "add", "app", w.origin.to_str().unwrap()]);
        w
    }

    fn cmd(&self, bin: &str, dir: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(bin);
        c.args(args)
            .current_dir(dir)
            .env_clear()
            .env("PATH", &self.path)
            .env("HOME", &self.home)
            .env("GT_TOWN", &self.town)
            .env("ANTHROPIC_BASE_URL", &self.base_url)
            .env("ANTHROPIC_API_KEY", API_KEY)
            .env("BD_SYNCHRONOUS", "NORMAL")
            .env("TERM", "xterm-256color")
            .stdin(Stdio::null());
        if is_root() {
            c.env("IS_SANDBOX", "1");
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

    fn store(&self) -> Store {
        Store::open(&self.town.join(".beads")).unwrap()
    }

    fn socket(&self) -> String {
        gastown::runtime::session::tmux_socket(&self.town.join(".beads/runtime"))
    }

    fn daemon_log(&self) -> String {
        std::fs::read_to_string(self.town.join(".beads/runtime/daemon.log")).unwrap_or_default()
    }

    fn pane(&self, session: &str) -> String {
        let o = Command::new("tmux")
            .args(["-L", &self.socket(), "capture-pane", "-p", "-t", session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn teardown(&self) {
        let _ = self.gt(&self.town, &["shutdown"]);
        let _ = Command::new("tmux")
            .args(["-L", &self.socket(), "kill-server"])
            .output();
    }
}

fn wait_for(what: &str, secs: u64, w: &World, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!(
        "timed out waiting for {what}\n--- daemon log ---\n{}\n--- mayor pane ---\n{}",
        w.daemon_log(),
        w.pane("gt-mayor")
    );
}

const FORMULA: &str = r#"formula = "agent-work"
type = "workflow"
version = 1
description = "Two steps of work on one item."

[vars.item]
description = "What to build"
required = true

[[steps]]
id = "design"
title = "Design {{item}}"
description = "Write the design of {{item}}."

[[steps]]
id = "build"
title = "Build {{item}}"
needs = ["design"]
description = "Build {{item}}."
"#;

fn ids_in(text: &str, key: &str) -> Vec<String> {
    let re = regex::Regex::new(&format!(r#""{key}":\s*"([^"]+)""#)).unwrap();
    re.captures_iter(text).map(|c| c[1].to_string()).collect()
}

/// The Mayor's script: what it does for each instruction the test nudges.
fn mayor(t: &Turn<'_>, formula: &str) -> Reply {
    let prompt = t.last_prompt();
    let done = t.results_since_prompt();
    if prompt.contains("PLAN") {
        return match done.len() {
            0 => Reply::Bash(
                ["alpha", "pause-me", "gamma"]
                    .iter()
                    .map(|i| format!("gt --json pour {formula} --var item={i}"))
                    .collect::<Vec<_>>()
                    .join(" && "),
            ),
            1 => {
                let ids = ids_in(&done[0], "new_epic_id");
                let mut cmd = format!("gt convoy create release {} --notify mayor", ids.join(" "));
                for id in &ids {
                    cmd += &format!(" && gt sling {id} app");
                }
                Reply::Bash(cmd)
            }
            _ => Reply::Text("Slung three molecules to app.".into()),
        };
    }
    if prompt.contains("HANDOFF") && done.is_empty() {
        return Reply::Bash("gt handoff -m 'remember the release'".into());
    }
    Reply::Text("Ready.".into())
}

/// A polecat's script: close the next ready step (with a file of work),
/// re-prime, and `gt done` when nothing is left. The `pause-me` polecat
/// stops once after its first step, so the test can kill it there.
fn polecat(t: &Turn<'_>, paused: &AtomicBool) -> Reply {
    let last = t.last_tool_result().unwrap_or_else(|| t.all_text());
    let ran = t.commands_run();
    if last.contains("Done with ") {
        return Reply::Text("Done.".into());
    }
    if t.all_text().contains("pause-me")
        && ran.last().is_some_and(|c| c.contains("bd close"))
        && !paused.swap(true, Ordering::SeqCst)
    {
        return Reply::Text("Pausing here.".into());
    }
    let next = last
        .rfind("Next ready step: ")
        .map(|i| &last[i + "Next ready step: ".len()..])
        .and_then(|r| r.split_whitespace().next());
    match next {
        Some(step) => Reply::Bash(format!(
            "echo ok > {step}.txt && bd close {step} && gt prime"
        )),
        None if last.contains("No step is ready") => Reply::Bash("gt done".into()),
        None => Reply::Text("I cannot tell what to do.".into()),
    }
}

fn turns_with(server: &ModelServer, needle: &str) -> usize {
    server
        .turns()
        .iter()
        .filter(|s| s.body.to_string().contains(needle))
        .count()
}

fn agent_row(w: &World, rig: &str, name: &str) -> Option<gastown::store::agents::AgentRow> {
    gastown::store::agents::get(w.store().conn(), rig, name).unwrap()
}

fn nudge_mayor(w: &World, what: &str) {
    let out = w.ok(&w.town, &["--json", "nudge", "mayor", what]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["delivery"]["result"],
        "delivered",
        "the nudge must be confirmed by the Mayor's UserPromptSubmit hook: {v}\n{}",
        w.pane("gt-mayor")
    );
}

#[test]
fn claude_code_mayor_polecats_convoy_handoff_and_resume() {
    let claude = match claude_bin() {
        Ok(c) => c,
        Err(why) => return eprintln!("skipped: {why}"),
    };
    if !tmux_ok() {
        return eprintln!("skipped: tmux is not installed");
    }
    let started = Instant::now();
    let paused = Arc::new(AtomicBool::new(false));
    let formula_path = Arc::new(std::sync::Mutex::new(String::new()));
    let (p2, f2) = (paused.clone(), formula_path.clone());
    let server = ModelServer::start(Arc::new(move |t: &Turn<'_>| {
        // SessionStart output reaches the model in the system prompt or
        // as a reminder in the first message.
        let sys = t.all_text();
        if sys.contains("(role: mayor)") {
            mayor(t, &f2.lock().unwrap())
        } else if sys.contains("(role: polecat)") {
            polecat(t, &p2)
        } else {
            Reply::Text("No Gas Town context.".into())
        }
    }));
    let w = World::new(Some(&claude), &server.base_url());
    let formula = w.root.join("agent-work.formula.toml");
    std::fs::write(&formula, FORMULA).unwrap();
    *formula_path.lock().unwrap() = formula.display().to_string();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        scenario(&w, &server, &paused);
    }));
    w.teardown();
    eprintln!("end-to-end wall time: {:.1?}", started.elapsed());
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

fn scenario(w: &World, server: &ModelServer, paused: &AtomicBool) {
    // 1. `gt start`: the supervisor and the Mayor, interactive in tmux.
    let out = w.ok(&w.town, &["start"]);
    assert!(out.contains("mayor/: running as agent `claude`"), "{out}");
    let mayor_row = agent_row(w, "", "mayor").expect("the mayor's row");
    assert_eq!(mayor_row.session.as_deref(), Some("gt-mayor"));
    // Primed through SessionStart: the beacon turn carries the town context.
    wait_for("the Mayor's first turn", 60, w, || {
        turns_with(server, "(role: mayor)") > 0
    });
    let first = server
        .turns()
        .into_iter()
        .find(|s| s.body.to_string().contains("(role: mayor)"))
        .unwrap();
    assert!(
        first.model.contains("sonnet"),
        "--model sonnet arrives as a full id: {}",
        first.model
    );
    assert!(
        first.body.to_string().contains("Active convoys"),
        "the Mayor's prime shows convoys"
    );
    // The town's own Claude config; the user's ~/.claude.json is untouched.
    assert!(w.town.join(".beads/runtime/claude/.claude.json").exists());
    assert!(!w.home.join(".claude.json").exists());
    assert!(w.town.join(".claude/settings.json").exists());

    // 2. Talk to the Mayor: a nudge confirmed by UserPromptSubmit.
    nudge_mayor(w, "PLAN: pour three items, convoy them, sling them to app");
    wait_for("three polecats", 90, w, || {
        gastown::store::agents::list(w.store().conn())
            .unwrap()
            .iter()
            .filter(|a| a.role == "polecat")
            .count()
            == 3
    });

    // 3. The pause-me polecat closes its first step and stops; kill it.
    wait_for("the pause-me polecat's first step", 120, w, || {
        paused.load(Ordering::SeqCst)
    });
    let s = w.store();
    let root = issues::list(s.conn(), &Default::default())
        .unwrap()
        .into_iter()
        .find(|i| i.title == "Design pause-me")
        .map(|i| issues::root_of(s.conn(), &i.id).unwrap())
        .expect("the pause-me molecule");
    let victim = gastown::store::agents::list(s.conn())
        .unwrap()
        .into_iter()
        .find(|a| a.hooked_bead.as_deref() == Some(root.as_str()))
        .expect("the polecat on pause-me");
    assert_eq!(
        issues::get(s.conn(), &format!("{root}.design"))
            .unwrap()
            .status,
        Status::Closed
    );
    drop(s);
    let pid = victim.pid.expect("a live session");
    unsafe {
        libc::kill(-(pid as i32), libc::SIGKILL);
    }

    // 4. Everything lands: the killed one resumes at its last closed step.
    wait_for("the convoy to land", 300, w, || {
        let s = w.store();
        gastown::coord::convoy::list(s.conn(), true)
            .unwrap()
            .iter()
            .any(|c| c.name == "release" && c.close_reason.as_deref() == Some("landed"))
    });
    let s = w.store();
    let kinds: Vec<String> = gastown::store::events::for_issue(s.conn(), &root)
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(
        kinds.iter().any(|k| k == "restart"),
        "the killed polecat restarted: {kinds:?}"
    );
    // Resumed, not redone: its first step was closed exactly once.
    let closes = gastown::store::events::for_issue(s.conn(), &format!("{root}.design"))
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "closed")
        .count();
    assert_eq!(closes, 1);
    let convoy = release_convoy(w);
    let tracked = gastown::coord::convoy::status(s.conn(), s.prefix(), &convoy)
        .unwrap()
        .beads;
    assert_eq!(tracked.len(), 3);
    for m in &tracked {
        assert_eq!(m.state, "merged", "{m:?}");
    }
    // The Mayor got the landing mail...
    let inbox = gastown::coord::mail::inbox(s.conn(), "mayor", false, 50).unwrap();
    assert!(
        inbox
            .messages
            .iter()
            .any(|m| m.subject == "Convoy landed: release"),
        "{:?}",
        inbox
            .messages
            .iter()
            .map(|m| &m.subject)
            .collect::<Vec<_>>()
    );
    drop(s);
    // ...and reads it at its next prompt (injected by UserPromptSubmit).
    nudge_mayor(w, "STATUS: anything new?");
    wait_for("the Mayor to see the landing mail", 60, w, || {
        server.turns().iter().any(|t| {
            let b = t.body.to_string();
            b.contains("STATUS: anything new?") && b.contains("Convoy landed: release")
        })
    });

    // 5. A handoff cycles the Mayor's session; the fresh one primes with the notes.
    let gen_before = agent_row(w, "", "mayor").unwrap().generation;
    nudge_mayor(w, "HANDOFF now");
    wait_for(
        "a fresh Mayor session primed with the handoff notes",
        90,
        w,
        || {
            agent_row(w, "", "mayor")
                .is_some_and(|a| a.generation > gen_before && a.state == "working")
                && server
                    .turns()
                    .iter()
                    .any(|t| t.body.to_string().contains("remember the release"))
        },
    );

    // 6. `gt mayor attach` starts a stopped Mayor, then attaches (here no
    // terminal: it says how to attach and shows the pane).
    let gen_before = agent_row(w, "", "mayor").unwrap().generation;
    w.ok(&w.town, &["mayor", "stop"]);
    let out = w.ok(&w.town, &["mayor", "attach"]);
    assert!(
        out.contains("attach-session -t gt-mayor"),
        "how to attach: {out}"
    );
    let a = agent_row(w, "", "mayor").unwrap();
    assert!(a.generation > gen_before && a.session_alive(), "{a:?}");

    // Every molecule's steps are closed and the work is on main.
    let s = w.store();
    let main_files = Command::new("git")
        .args([
            "--git-dir",
            w.town.join("app/.repo.git").to_str().unwrap(),
            "ls-tree",
            "-r",
            "--name-only",
            "main",
        ])
        .output()
        .unwrap();
    let files = String::from_utf8_lossy(&main_files.stdout).into_owned();
    for m in gastown::coord::convoy::status(s.conn(), s.prefix(), &release_convoy(w))
        .unwrap()
        .beads
    {
        for step in ["design", "build"] {
            let id = format!("{}.{step}", m.id);
            assert_eq!(
                issues::get(s.conn(), &id).unwrap().status,
                Status::Closed,
                "{id}"
            );
            assert!(
                files.contains(&format!("{id}.txt")),
                "{id}.txt on main:\n{files}"
            );
        }
    }
}

fn release_convoy(w: &World) -> String {
    gastown::coord::convoy::list(w.store().conn(), true)
        .unwrap()
        .into_iter()
        .find(|c| c.name == "release")
        .expect("the release convoy")
        .id
}

#[test]
fn errors_before_launch_missing_cli_and_root() {
    let w = World::new(None, "http://127.0.0.1:9");
    // Claude Code is not on PATH: the Mayor and sling refuse, naming the fix.
    let o = w.gt(&w.town, &["mayor", "start"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains("`claude`, which is not installed"), "{t}");
    assert!(
        t.contains("npm install -g @anthropic-ai/claude-code"),
        "{t}"
    );
    // `gt doctor` says the same before anything is tried (a warning).
    let o = w.gt(&w.town, &["doctor"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(
        t.contains("agents.launch") && t.contains("`claude`, which is not installed"),
        "{t}"
    );
    let bead = {
        let o = w
            .cmd(BD, &w.town, &["--json", "create", "Some work"])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["id"].as_str().unwrap().to_string()
    };
    let o = w.gt(&w.town, &["sling", &bead, "app"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("not installed"), "{}", text(&o));
    assert_eq!(
        issues::get(w.store().conn(), &bead).unwrap().status,
        Status::Open
    );
    // `gt start` still starts the supervisor and says why the Mayor did not.
    let o = w.gt(&w.town, &["start"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("The Mayor did not start"), "{}", text(&o));
    w.teardown();

    // As root without IS_SANDBOX=1, Claude Code would refuse to start.
    if !is_root() {
        return eprintln!("skipped (root part): not running as root");
    }
    let claude = match claude_bin() {
        Ok(c) => c,
        Err(why) => return eprintln!("skipped (root part): {why}"),
    };
    let w = World::new(Some(&claude), "http://127.0.0.1:9");
    let o = w
        .cmd(GT, &w.town, &["mayor", "start"])
        .env_remove("IS_SANDBOX")
        .output()
        .unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains("as root") && t.contains("IS_SANDBOX=1"), "{t}");
    assert!(agent_row(&w, "", "mayor").is_none(), "nothing started");
}
