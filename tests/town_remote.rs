//! Work that lands on a real remote: the origin is a bare repository whose
//! default branch is `master`, served by `git daemon` on loopback (git://,
//! pushes enabled). A town adds it with `gt rig add`, three beads are slung
//! to polecats run by a fake agent (it writes a file and runs `gt done`),
//! the refinery merges them, and the origin's `master` ends with all three
//! changes. The first merge races someone else's push (a gate pushes to the
//! origin between the refinery's fetch and its push): the rejected push is
//! retried after a refetch and ends merged, never reported merged early.

mod common;
use common::town::*;
use gastown::store::{issues, Status};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// `git daemon` serving `base` on a free loopback port; killed on drop.
struct GitDaemon {
    child: Child,
    port: u16,
}

impl GitDaemon {
    fn start(base: &Path) -> Option<GitDaemon> {
        let port = TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let mut cmd = Command::new("git");
        // Its own process group: `git daemon` runs `git-daemon` as a child,
        // and drop must stop both.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd
            .args([
                "daemon",
                "--reuseaddr",
                "--listen=127.0.0.1",
                &format!("--port={port}"),
                &format!("--base-path={}", base.display()),
                "--export-all",
                "--enable=receive-pack",
                "--informative-errors",
            ])
            .arg(base)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let mut d = GitDaemon { child, port };
        let up = wait_until(|| TcpStream::connect(("127.0.0.1", port)).is_ok());
        let exited = d.child.try_wait().ok().flatten().is_some();
        (up && !exited).then_some(d)
    }

    fn url(&self, repo: &str) -> String {
        format!("git://127.0.0.1:{}/{repo}", self.port)
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the process group this test created.
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The fake polecat: one file named after its bead, then `gt done`.
const AGENT: &str = r#"#!/bin/sh
cat > /dev/null
echo "$GT_STEP" > "$GT_STEP.txt"
gt done
"#;

/// A gate that, the first time it runs, pushes someone else's commit to
/// the origin's `master` from `other` (a clone), so the refinery's push is
/// rejected and must be rebuilt on a refetched origin.
fn racing_gate(other: &Path, marker: &Path) -> String {
    format!(
        "test -f {m} || (cd {o} && git pull -q --ff-only origin master && echo raced > raced.txt && git add raced.txt \
         && git -c user.name=racer -c user.email=r@r commit -qm 'racer: pushed first' \
         && git push -q origin HEAD:master && touch {m})",
        m = marker.display(),
        o = other.display()
    )
}

fn origin_log(origin: &Path) -> String {
    git_in(origin, &["log", "--oneline", "master"])
}

fn origin_file(origin: &Path, path: &str) -> Option<String> {
    let o = Command::new("git")
        .args(["show", &format!("master:{path}")])
        .current_dir(origin)
        .output()
        .unwrap();
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).into_owned())
}

fn wait_handed_in(town: &Path, bead: &str) {
    let handed = wait_until(|| {
        let s = store(town);
        gastown::coord::mq::list(s.conn(), Some("app"), false)
            .map(|q| q.iter().any(|m| m.bead == bead))
            .unwrap_or(false)
    });
    assert!(handed, "{bead} was never handed in");
}

#[test]
fn three_beads_land_on_the_origin_over_git_daemon_despite_a_push_race() {
    let t = tempfile::tempdir().unwrap();
    let served = t.path().join("served");
    std::fs::create_dir_all(&served).unwrap();
    let origin: PathBuf = origin_repo(&served, "app", "master");
    let Some(daemon) = GitDaemon::start(&served) else {
        eprintln!("skipped: `git daemon` could not start on loopback (is git-daemon installed?)");
        return;
    };
    let url = daemon.url("app.git");
    let town = install_town(t.path(), &[("app", &url)]);
    let rigs = ok(run(GT, &town, &town, &["--json", "rig", "list"]));
    assert_eq!(rigs[0]["default_branch"], "master", "{rigs:#}");
    assert_eq!(rigs[0]["url"], url.as_str());

    let other = t.path().join("other");
    git_in(t.path(), &["clone", "-q", &url, other.to_str().unwrap()]);
    let gates = serde_json::json!({
        "setup": racing_gate(&other, &t.path().join("raced")),
        "test": "test -f README",
    });
    config_set(&town, "merge_queue.gates", &gates.to_string(), Some("app"));
    install_fake_polecat_agent(&town, AGENT);

    let beads: Vec<String> = (1..=3)
        .map(|i| create(&town, &format!("change {i}")))
        .collect();
    for b in &beads {
        ok(run(GT, &town, &town, &["--json", "sling", b, "app"]));
    }
    for b in &beads {
        wait_handed_in(&town, b);
    }
    let out = ok(run(
        GT,
        &town,
        &town,
        &["--json", "mq", "process", "--rig", "app"],
    ));
    let outcomes: Vec<&str> = out
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["merged", "merged", "merged"], "{out:#}");

    let log = origin_log(&origin);
    eprintln!("origin master after the run:\n{log}");
    for b in &beads {
        assert_eq!(
            origin_file(&origin, &format!("{b}.txt")).as_deref(),
            Some(format!("{b}\n").as_str()),
            "{b} is on the origin's master:\n{log}"
        );
    }
    assert_eq!(
        origin_file(&origin, "raced.txt").as_deref(),
        Some("raced\n")
    );
    assert!(log.contains("racer: pushed first"), "{log}");
    // The racer's commit is below every merged change: they were rebuilt on it.
    let racer = git_in(
        &origin,
        &["log", "--format=%H", "-1", "--grep=racer", "master"],
    );
    let first_merge = out[0]["sha"].as_str().unwrap();
    git_in(
        &origin,
        &["merge-base", "--is-ancestor", racer.trim(), first_merge],
    );

    let s = store(&town);
    for b in &beads {
        let i = issues::get(s.conn(), b).unwrap();
        assert_eq!(
            (i.status, i.close_reason.as_deref()),
            (Status::Closed, Some("merged")),
            "{b}"
        );
    }
    drop(s);
    // With the daemon gone, sling cannot fetch: the error names the URL.
    drop(daemon);
    let b = create(&town, "offline");
    let o = run(GT, &town, &town, &["sling", &b, "app"]);
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains(&url), "{}", text(&o));
}
