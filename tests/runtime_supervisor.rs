//! The supervisor: exactly one session per lease (sling racing the witness),
//! owned worktrees, process groups, shutdown under a running gate, the feed
//! and the doctor. Every town is built with `gt install` and `gt rig add`.

use gastown::store::agents;
use std::path::Path;
use std::time::Duration;

mod common;
use common::town::*;

/// Kill every session an agent row still names (tests leave nothing behind).
fn kill_sessions(town: &Path) {
    let s = store(town);
    for a in agents::list(s.conn()).unwrap() {
        if let Some(pid) = a.pid {
            gastown::runtime::proc::kill_group(pid, gastown::runtime::proc::SIGKILL);
        }
    }
}

#[test]
fn twenty_slings_with_the_supervisor_running_start_exactly_twenty_sessions() {
    let tt = setup();
    let town = &tt.town;
    let seen = town.join("sessions.txt");
    // Each session records itself once, then idles until the test ends.
    install_fake_polecat_agent(
        town,
        &format!(
            "#!/bin/sh\necho \"$GT_STEP $GT_LEASE $$\" >> {}\nexec sleep 30\n",
            seen.display()
        ),
    );
    let o = run(GT, town, town, &["start"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let beads: Vec<String> = (0..20)
        .map(|i| create(town, &format!("Work {i}")))
        .collect();
    let mut slung = 0;
    for b in &beads {
        let o = run(GT, town, town, &["--json", "sling", b, "app"]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        slung += 1;
    }
    let lines = |p: &Path| -> Vec<String> {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    };
    let all_up = wait_until(|| lines(&seen).len() >= 20);
    // Give a late duplicate (a witness pass after the slings) time to show.
    std::thread::sleep(Duration::from_millis(1500));
    let o = run(GT, town, town, &["shutdown"]);
    let sessions = lines(&seen);
    kill_sessions(town);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(all_up, "only {} sessions started", sessions.len());
    eprintln!(
        "slings started: {slung}; sessions started: {}",
        sessions.len()
    );
    assert_eq!(sessions.len(), 20, "sessions:\n{}", sessions.join("\n"));
    let mut steps: Vec<&str> = sessions
        .iter()
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    steps.sort();
    steps.dedup();
    assert_eq!(steps.len(), 20, "two sessions for one bead:\n{sessions:?}");
}

/// A formula of `n` independent steps, each logging `<cwd> <molecule>
/// start|end <ns>` to `log` around a short sleep.
fn logging_formula(dir: &Path, name: &str, n: usize, log: &Path) -> std::path::PathBuf {
    let mut s = format!("formula = \"{name}\"\ntype = \"workflow\"\nversion = 1\n");
    for i in 0..n {
        s += &format!(
            "\n[[steps]]\nid = \"s{i}\"\ntitle = \"Step {i}\"\nrun = '''echo \"$PWD $GT_MOLECULE start $(date +%s%N)\" >> {log}; sleep 0.2; echo \"$PWD $GT_MOLECULE end $(date +%s%N)\" >> {log}'''\n",
            log = log.display()
        );
    }
    let p = dir.join(format!("{name}.formula.toml"));
    std::fs::write(&p, s).unwrap();
    p
}

/// A user's checkout with one commit.
fn checkout(dir: &Path) -> std::path::PathBuf {
    let repo = dir.join("checkout");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(repo.join("README"), "app\n").unwrap();
    git_in(&repo, &["init", "-q"]);
    git_in(&repo, &["add", "."]);
    git_in(
        &repo,
        &[
            "-c",
            "user.email=t@t",
            "-c",
            "user.name=t",
            "commit",
            "-qm",
            "readme",
        ],
    );
    repo
}

#[test]
fn two_concurrent_runs_in_one_repo_share_no_worktree() {
    let t = tempfile::tempdir().unwrap();
    let repo = checkout(t.path());
    let log = t.path().join("steps.log");
    let fa = logging_formula(t.path(), "left", 12, &log);
    let fb = logging_formula(t.path(), "right", 12, &log);
    // The store exists before both runs start (as after `bd init`).
    let o = run(BD, &repo, &repo, &["init"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let spawn = |f: &Path| {
        std::process::Command::new(GT)
            .args(["--json", "run", f.to_str().unwrap(), "--jobs", "4"])
            .current_dir(&repo)
            .env_remove("GT_TOWN")
            .env_remove("BEADS_DIR")
            .env_remove("GT_LEASE")
            .env("BD_SYNCHRONOUS", "NORMAL")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(&fa), spawn(&fb));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    assert_eq!(b.status.code(), Some(0), "{}", text(&b));
    // Intervals per (worktree, molecule, start order); overlaps across molecules are sharing.
    let text_log = std::fs::read_to_string(&log).unwrap();
    let mut open: std::collections::HashMap<(String, String), Vec<u128>> = Default::default();
    let mut spans: Vec<(String, String, u128, u128)> = Vec::new();
    for line in text_log.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let (cwd, mol, what, at) = (f[0], f[1], f[2], f[3].parse::<u128>().unwrap());
        let key = (cwd.to_string(), mol.to_string());
        if what == "start" {
            open.entry(key).or_default().push(at);
        } else if let Some(s) = open.get_mut(&key).and_then(|v| v.pop()) {
            spans.push((key.0, key.1, s, at));
        }
    }
    assert_eq!(spans.len(), 24, "{text_log}");
    let mut shared = Vec::new();
    for x in &spans {
        for y in &spans {
            if x.0 == y.0 && x.1 < y.1 && x.2 < y.3 && y.2 < x.3 {
                shared.push(format!("{} used by {} and {} at once", x.0, x.1, y.1));
            }
        }
    }
    let dirs: std::collections::BTreeSet<&String> = spans.iter().map(|s| &s.0).collect();
    eprintln!(
        "{} steps ran in {} worktrees; {} overlapping uses",
        spans.len(),
        dirs.len(),
        shared.len()
    );
    assert!(shared.is_empty(), "{}", shared.join("\n"));
}

/// Does any process still belong to process group `pgid`?
fn group_alive(pgid: i64) -> bool {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .any(|stat| {
            let rest = &stat[stat.rfind(')').unwrap() + 2..];
            let f: Vec<&str> = rest.split(' ').collect();
            // f[0] state, f[1] ppid, f[2] pgrp
            f[0] != "Z" && f[2].parse::<i64>().ok() == Some(pgid)
        })
}

fn pid_alive(pid: i64) -> bool {
    gastown::proc::start_time(pid).is_some()
}

#[test]
fn shutdown_during_a_long_gate_is_prompt_and_leaves_no_process() {
    let tt = setup();
    let town = &tt.town;
    let gate_pid = town.join("gate.pid");
    config_set(
        town,
        "merge_queue.gates",
        &serde_json::json!({ "slow": format!("echo $$ > {}; sleep 30", gate_pid.display()) })
            .to_string(),
        Some("app"),
    );
    install_fake_polecat_agent(town, "#!/bin/sh\necho work > out.txt\n");
    let bead = create(town, "Gated work");
    let o = run(GT, town, town, &["start"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    ok(run(GT, town, town, &["--json", "sling", &bead, "app"]));
    let gate_up =
        wait_until(|| std::fs::read_to_string(&gate_pid).is_ok_and(|t| !t.trim().is_empty()));
    let log =
        || std::fs::read_to_string(town.join(".beads/runtime/daemon.log")).unwrap_or_default();
    assert!(gate_up, "the gate never started; daemon log:\n{}", log());
    let pgid: i64 = std::fs::read_to_string(&gate_pid)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(group_alive(pgid));
    let t0 = std::time::Instant::now();
    let o = run(GT, town, town, &["shutdown"]);
    let took = t0.elapsed();
    eprintln!("gt shutdown under a running 30 s gate took {took:?}");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // Generous bound: the gate would hold it for 30 s.
    assert!(took < Duration::from_secs(15), "{took:?}\n{}", log());
    assert!(
        !group_alive(pgid),
        "the gate's processes outlived the daemon"
    );
    // The merge request is back in the queue, not rejected.
    let s = store(town);
    let mrs: Vec<(String, String)> = s
        .conn()
        .prepare("SELECT id, status FROM issues WHERE issue_type = 'merge-request'")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(mrs.len(), 1, "{mrs:?}");
    assert_eq!(mrs[0].1, "open", "{mrs:?}\n{}", log());
    kill_sessions(town);
}

#[test]
fn a_background_process_ends_with_its_step() {
    let t = tempfile::tempdir().unwrap();
    let repo = checkout(t.path());
    let bg = t.path().join("bg.pid");
    let f = t.path().join("bg.formula.toml");
    std::fs::write(
        &f,
        format!(
            "formula = \"bg\"\ntype = \"workflow\"\nversion = 1\n\n[[steps]]\nid = \"serve\"\ntitle = \"Start a server and leave\"\nrun = '''sleep 300 & echo $! > {}'''\n",
            bg.display()
        ),
    )
    .unwrap();
    let o = std::process::Command::new(GT)
        .args(["--json", "run", f.to_str().unwrap()])
        .current_dir(&repo)
        .env_remove("GT_TOWN")
        .env_remove("BEADS_DIR")
        .env_remove("GT_LEASE")
        .env("BD_SYNCHRONOUS", "NORMAL")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let pid: i64 = std::fs::read_to_string(&bg)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let gone = wait_until(|| !pid_alive(pid));
    if !gone {
        gastown::proc::kill_group(pid, gastown::proc::SIGKILL);
    }
    assert!(gone, "the step's background process {pid} outlived it");
}

#[test]
fn a_broken_polecat_is_logged_once_and_never_stops_the_others() {
    let tt = setup();
    let town = &tt.town;
    let script = |name: &str, body: &str| {
        let p = town.join(format!("{name}.sh"));
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        let _ = std::process::Command::new("chmod")
            .arg("+x")
            .arg(&p)
            .status();
        ok(run(
            GT,
            town,
            town,
            &[
                "--json",
                "config",
                "agent",
                "set",
                name,
                p.to_str().unwrap(),
            ],
        ));
    };
    script("doomed", "exit 1");
    script("good", "echo work > out.txt");
    let a = create(town, "Work of a polecat whose agent goes away");
    let b = create(town, "Good work");
    let ra = ok(run(
        GT,
        town,
        town,
        &["--json", "sling", &a, "app", "--agent", "doomed"],
    ));
    ok(run(
        GT,
        town,
        town,
        &["config", "agent", "remove", "doomed"],
    ));
    ok(run(
        GT,
        town,
        town,
        &["--json", "sling", &b, "app", "--agent", "good"],
    ));
    let o = run(GT, town, town, &["start"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let handed_in = wait_until(|| {
        let s = store(town);
        gastown::store::issues::get(s.conn(), &b)
            .map(|i| i.status == gastown::store::Status::InProgress)
            .unwrap_or(false)
    });
    // Several more witness ticks with the broken polecat still there.
    std::thread::sleep(Duration::from_millis(1500));
    ok(run(GT, town, town, &["shutdown"]));
    let log = std::fs::read_to_string(town.join(".beads/runtime/daemon.log")).unwrap();
    kill_sessions(town);
    assert!(handed_in, "the good polecat was held up:\n{log}");
    let addr = ra["address"].as_str().unwrap();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains(addr)).collect();
    assert_eq!(lines.len(), 1, "{log}");
    assert!(
        lines[0].contains("doomed"),
        "the cause is named: {}",
        lines[0]
    );
}

fn findings(o: &std::process::Output, check: &str) -> Vec<serde_json::Value> {
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(o)));
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == check)
        .cloned()
        .collect()
}

#[test]
fn feed_tells_the_story_and_problems_and_doctor_see_a_dead_polecat() {
    let tt = setup();
    let town = &tt.town;
    let bg = town.join("bg.pid");
    // The session leaves a process that escapes its group, then dies.
    install_fake_polecat_agent(
        town,
        &format!(
            "#!/bin/sh\nsetsid sleep 300 > /dev/null 2>&1 &\necho $! > {}\nexit 1\n",
            bg.display()
        ),
    );
    let bead = create(town, "Doomed work");
    let r = ok(run(GT, town, town, &["--json", "sling", &bead, "app"]));
    let addr = r["address"].as_str().unwrap().to_string();
    let polecat = r["polecat"].as_str().unwrap().to_string();
    assert!(wait_until(|| {
        agents::list(store(town).conn())
            .unwrap()
            .iter()
            .all(|a| !a.session_alive())
    }));
    let bg_pid: i64 = std::fs::read_to_string(&bg)
        .unwrap()
        .trim()
        .parse()
        .unwrap();

    // The feed: sentences, and a stable JSON schema.
    let o = run(GT, town, town, &["feed"]);
    let feed = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        feed.contains(&format!("{polecat} (gen 1) started {bead} in app")),
        "{feed}"
    );
    assert!(
        feed.contains(&format!("{bead} slung to {polecat} in app")),
        "{feed}"
    );
    let o = run(GT, town, town, &["--json", "feed"]);
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let spawn = lines.iter().find(|e| e["kind"] == "spawn").unwrap();
    for k in ["id", "at", "actor", "subject", "kind", "payload", "text"] {
        assert!(spawn.get(k).is_some(), "{k} missing: {spawn}");
    }
    assert_eq!(spawn["payload"]["generation"], 1);
    assert_eq!(spawn["payload"]["agent"], addr.as_str());

    // Problems: a zombie, with its process identity.
    let o = run(GT, town, town, &["--json", "feed", "--problems"]);
    let p: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let z = p
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["agent"] == addr.as_str())
        .unwrap_or_else(|| panic!("{p:#}"));
    assert_eq!(z["kind"], "zombie", "{p:#}");
    assert!(z["pid"].as_i64().is_some(), "{p:#}");
    assert_eq!(z["bead"], bead.as_str());

    // The doctor sees it; --fix repairs the lease, the hook, the agent row,
    // and kills the process the session left behind.
    let o = run(GT, town, town, &["--json", "doctor"]);
    let h = findings(&o, "hooks.dead");
    assert_eq!(h[0]["level"], "warn", "{h:#?}");
    assert!(h[0]["message"].as_str().unwrap().contains(&bead));
    let o = run(GT, town, town, &["--json", "doctor", "--fix"]);
    let h = findings(&o, "hooks.dead");
    assert_eq!(h[0]["level"], "fixed", "{}", text(&o));
    assert!(h[0]["fix"].as_str().unwrap().contains("idle"), "{h:#?}");
    let leaked = findings(&o, "processes.leaked");
    let gone = wait_until(|| !pid_alive(bg_pid));
    if !gone {
        gastown::proc::kill_group(bg_pid, gastown::proc::SIGKILL);
    }
    assert_eq!(leaked[0]["level"], "fixed", "{leaked:#?}");
    assert!(gone, "the leaked process {bg_pid} survived the fix");
    let s = store(town);
    let i = gastown::store::issues::get(s.conn(), &bead).unwrap();
    assert_eq!(i.status, gastown::store::Status::Open);
    let a = agents::get(s.conn(), "app", &polecat).unwrap().unwrap();
    assert_eq!(a.state, "idle");
    drop(s);
    let o = run(GT, town, town, &["--json", "doctor"]);
    assert_eq!(findings(&o, "hooks.dead")[0]["level"], "ok", "{}", text(&o));
    assert_eq!(findings(&o, "processes.leaked")[0]["level"], "ok");
}
