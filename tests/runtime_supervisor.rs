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
