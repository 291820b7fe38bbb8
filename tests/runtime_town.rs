//! The town: install, rigs, agent configs, sling (race, closed bead, bad
//! rig, missing repo), hook/prime/done, and the witness in the daemon.

use gastown::store::{deps, events, issues, IssueType, Status};
use std::path::PathBuf;
use std::process::{Command, Stdio};

mod common;
use common::town::*;

#[test]
fn sling_then_agent_runs_gt_done_and_hands_in_a_merge_request() {
    let tt = setup();
    let town = &tt.town;
    let rigs = ok(run(GT, town, town, &["--json", "rig", "list"]));
    assert_eq!(rigs[0]["name"], "app");
    assert_eq!(rigs[0]["default_branch"], "main");
    // A fake agent: reads its prompt, does work, runs `gt prime` and `gt done`.
    install_fake_polecat_agent(
        town,
        "#!/bin/sh\ncat > prompt-seen.txt\necho work > out.txt\ngt prime > prime.txt\ngt hook\ngt done\n",
    );
    let agents = ok(run(GT, town, town, &["--json", "config", "agent", "list"]));
    assert!(agents
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["name"] == "fake"));
    let bead = create(town, "Add a feature");
    let r = ok(run(GT, town, town, &["--json", "sling", &bead, "app"]));
    assert_eq!(r["agent"], "fake");
    let polecat = r["polecat"].as_str().unwrap().to_string();
    let wt = PathBuf::from(r["worktree"].as_str().unwrap());
    assert!(wt.join("README").is_file(), "worktree of the rig");
    assert!(r["convoy"].is_string());
    // Wait for the session to hand in.
    let done = wait_until(|| {
        let s = store(town);
        issues::get(s.conn(), &bead)
            .map(|i| i.status == Status::InProgress)
            .unwrap_or(false)
            && gastown::store::agents::get(s.conn(), "app", &polecat)
                .ok()
                .flatten()
                .is_some_and(|a| a.state == "idle")
    });
    let log = std::fs::read_to_string(town.join(format!(".beads/runtime/logs/app-{polecat}.log")))
        .unwrap_or_default();
    assert!(done, "session did not finish; log:\n{log}");
    assert!(std::fs::read_to_string(wt.join("prompt-seen.txt"))
        .unwrap()
        .contains(&bead));
    assert!(std::fs::read_to_string(wt.join("prime.txt"))
        .unwrap()
        .contains("On your hook"));
    let s = store(town);
    // The merge request: type, metadata, related dep to the bead.
    let mrs = issues::list(
        s.conn(),
        &issues::IssueFilter {
            issue_type: vec![IssueType::MergeRequest],
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(mrs.len(), 1, "{mrs:?}");
    let mr = &mrs[0];
    assert_eq!(mr.status, Status::Open);
    assert_eq!(mr.metadata["bead"], bead.as_str());
    assert_eq!(mr.metadata["rig"], "app");
    assert_eq!(mr.metadata["polecat"], polecat.as_str());
    assert!(mr.metadata["branch"]
        .as_str()
        .unwrap()
        .starts_with(&format!("polecat/{polecat}/")));
    assert_eq!(mr.metadata["head_sha"].as_str().unwrap().len(), 40);
    assert!(mr.metadata["generation"].is_i64());
    let d = deps::deps_of(s.conn(), &mr.id).unwrap();
    assert!(d
        .iter()
        .any(|x| x.depends_on == bead && x.dep_type == gastown::store::DepType::Related));
    // The leftover work was committed on the polecat branch.
    let repo = git2::Repository::open(&wt).unwrap();
    let head = repo.head().unwrap().peel_to_commit().unwrap();
    assert!(head.tree().unwrap().get_name("out.txt").is_some());
    // Events the feed reads.
    let kinds: Vec<String> = events::for_issue(s.conn(), &bead)
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    for k in ["sling", "hook", "spawn", "done"] {
        assert!(kinds.iter().any(|x| x == k), "{k} missing from {kinds:?}");
    }
    // The convoy tracks the bead; a second sling of another bead makes another.
    let convoy = r["convoy"].as_str().unwrap();
    let cd = deps::deps_of(s.conn(), convoy).unwrap();
    assert!(cd
        .iter()
        .any(|x| x.depends_on == bead && x.dep_type == gastown::store::DepType::Tracks));
    let c = issues::get(s.conn(), convoy).unwrap();
    assert_eq!(c.issue_type, IssueType::Convoy);
    assert_eq!(c.metadata["auto"], true);
    // Status and agents show the polecat; peek shows its log.
    let st = ok(run(GT, town, town, &["--json", "status"]));
    assert_eq!(st["rigs"][0], "app");
    let ag = ok(run(GT, town, town, &["--json", "agents"]));
    assert!(ag
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["address"] == format!("app/polecats/{polecat}")));
    let o = run(GT, town, town, &["peek", &polecat]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // A closed bead is refused.
    let o = run(BD, town, town, &["close", &bead]);
    assert!(o.status.success(), "{}", text(&o));
    let o = run(GT, town, town, &["sling", &bead, "app"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("closed"),
        "{}",
        text(&o)
    );
}

#[test]
fn bad_input_gets_clear_errors_and_changes_nothing() {
    let tt = setup();
    let town = &tt.town;
    let bead = create(town, "Task");
    // Unknown rig lists the valid ones.
    let o = run(GT, town, town, &["sling", &bead, "nope"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("unknown rig `nope`") && e.contains("valid rigs: app"),
        "{e}"
    );
    // Unknown agent lists the valid ones.
    let o = run(GT, town, town, &["sling", &bead, "app", "--agent", "nope"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("unknown agent `nope`") && e.contains("claude"),
        "{e}"
    );
    // An agent whose command is not installed: no session, no retries.
    ok(run(
        GT,
        town,
        town,
        &[
            "config",
            "agent",
            "set",
            "ghost",
            "no-such-agent-binary-xyz --flag",
        ],
    ));
    let o = run(GT, town, town, &["sling", &bead, "app", "--agent", "ghost"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not installed"),
        "{}",
        text(&o)
    );
    // A rig whose repository is gone.
    std::fs::remove_dir_all(town.join("app/.repo.git")).unwrap();
    let o = run(GT, town, town, &["sling", &bead, "app", "--agent", "ghost"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is gone"),
        "{}",
        text(&o)
    );
    // Nothing happened to the bead.
    let s = store(town);
    let i = issues::get(s.conn(), &bead).unwrap();
    assert_eq!(i.status, Status::Open);
    assert!(!events::for_issue(s.conn(), &bead)
        .unwrap()
        .iter()
        .any(|e| e.kind.starts_with("step.") || e.kind == "sling"));
    // Unknown role.
    let o = run(GT, town, town, &["config", "role", "boss", "shell"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("valid roles"),
        "{}",
        text(&o)
    );
}

#[test]
fn two_slings_race_for_one_bead_and_exactly_one_wins() {
    let tt = setup();
    let town = &tt.town;
    ok(run(
        GT,
        town,
        town,
        &["config", "agent", "set", "sleepy", "sleep 30"],
    ));
    for round in 0..3 {
        let bead = create(town, &format!("Race {round}"));
        let spawn = || {
            Command::new(GT)
                .args(["sling", &bead, "app", "--agent", "sleepy", "--no-start"])
                .current_dir(town)
                .env("GT_TOWN", town)
                .env_remove("BEADS_DIR")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (spawn(), spawn());
        let (ra, rb) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        let wins = [&ra, &rb].iter().filter(|o| o.status.success()).count();
        assert_eq!(wins, 1, "a: {}\nb: {}", text(&ra), text(&rb));
        let s = store(town);
        let hooks = events::for_issue(s.conn(), &bead)
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == "hook")
            .count();
        assert_eq!(hooks, 1);
    }
}

#[test]
fn daemon_witness_restarts_a_crashing_polecat_then_escalates() {
    let tt = setup();
    let town = &tt.town;
    ok(run(
        GT,
        town,
        town,
        &[
            "config",
            "agent",
            "set",
            "crashy",
            "echo trying; exit 1",
            "--max-attempts",
            "2",
        ],
    ));
    let bead = create(town, "Doomed work");
    let o = run(GT, town, town, &["start"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = ok(run(
        GT,
        town,
        town,
        &["--json", "sling", &bead, "app", "--agent", "crashy"],
    ));
    let polecat = r["polecat"].as_str().unwrap().to_string();
    let blocked = wait_until(|| {
        let s = store(town);
        issues::get(s.conn(), &bead)
            .map(|i| i.status == Status::Blocked)
            .unwrap_or(false)
    });
    let o = run(GT, town, town, &["shutdown"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let daemon_log =
        std::fs::read_to_string(town.join(".beads/runtime/daemon.log")).unwrap_or_default();
    assert!(blocked, "daemon log:\n{daemon_log}");
    let s = store(town);
    let kinds: Vec<String> = events::for_issue(s.conn(), &bead)
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| *k == "restart").count(),
        1,
        "{kinds:?}"
    );
    assert!(kinds.iter().any(|k| k == "escalation"), "{kinds:?}");
    let a = gastown::store::agents::get(s.conn(), "app", &polecat)
        .unwrap()
        .unwrap();
    assert_eq!(a.state, "stuck");
    // Restarted in the same worktree, under a new lease generation.
    let l = gastown::store::leases::get(s.conn(), &bead)
        .unwrap()
        .unwrap();
    assert_eq!(l.generation, 2);
    assert_eq!(l.worktree.as_deref(), Some(r["worktree"].as_str().unwrap()));
    // The pidfile is gone after shutdown.
    assert!(!town.join(".beads/runtime/daemon.pid").exists());
}

#[test]
fn tmux_provider_runs_a_session_when_tmux_exists() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("note: tmux is not installed; skipping the tmux provider test");
        return;
    }
    let tt = setup();
    let town = &tt.town;
    ok(run(
        GT,
        town,
        town,
        &[
            "config",
            "agent",
            "set",
            "tm",
            "echo in-tmux; gt done",
            "--provider",
            "tmux",
        ],
    ));
    let bead = create(town, "Tmux work");
    let o = run(
        GT,
        town,
        town,
        &["--json", "sling", &bead, "app", "--agent", "tm"],
    );
    if o.status.code() != Some(0) {
        // No tmux server can start here (e.g. no terminal): say so and skip.
        eprintln!(
            "note: tmux could not start a session here; skipping: {}",
            text(&o)
        );
        return;
    }
    let done = wait_until(|| {
        let s = store(town);
        issues::get(s.conn(), &bead)
            .map(|i| i.status == Status::InProgress)
            .unwrap_or(false)
    });
    let logs: Vec<String> = std::fs::read_dir(town.join(".beads/runtime/logs"))
        .map(|d| {
            d.flatten()
                .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        done,
        "tmux session did not hand in: {}\nlogs: {logs:?}",
        text(&o)
    );
}
