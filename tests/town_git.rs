//! The town model and git as users run them: settings that round-trip
//! through every `gt config` command, rigs added from remotes with the
//! user's `git` (default branch from the origin's HEAD), clear errors that
//! name the URL, and `gt install --git`.

mod common;

use common::town::*;
use std::path::Path;

fn gt(town: &Path, args: &[&str]) -> std::process::Output {
    run(GT, town, town, args)
}

#[test]
fn config_commands_keep_every_section_and_key() {
    let t = tempfile::tempdir().unwrap();
    let origin = origin_repo(t.path(), "app", "master");
    let town = install_town(t.path(), &[("app", origin.to_str().unwrap())]);
    let rigs = ok(gt(&town, &["--json", "rig", "list"]));
    assert_eq!(rigs[0]["default_branch"], "master", "{rigs:#}");
    config_set(
        &town,
        "merge_queue.gates",
        r#"{"test": "test -f README"}"#,
        Some("app"),
    );
    config_set(&town, "merge_queue.on_conflict", "reject", Some("app"));
    config_set(&town, "theme.colour", "teal", None);
    ok(gt(
        &town,
        &[
            "--json", "config", "role", "polecat", "shell", "--rig", "app",
        ],
    ));
    ok(gt(&town, &["--json", "config", "default-agent", "shell"]));
    ok(gt(
        &town,
        &["--json", "config", "agent", "set", "fast", "claude -p"],
    ));
    ok(gt(&town, &["--json", "config", "role", "crew", "fast"]));
    ok(gt(&town, &["--json", "config", "agent", "remove", "fast"]));
    let rig = ok(gt(&town, &["config", "get", "--rig", "app"]));
    assert_eq!(rig["merge_queue"]["gates"]["test"], "test -f README");
    assert_eq!(rig["merge_queue"]["on_conflict"], "reject");
    assert_eq!(rig["roles"]["polecat"]["agent"], "shell");
    let all = ok(gt(&town, &["config", "get"]));
    assert_eq!(all["theme"]["colour"], "teal", "{all:#}");
    assert_eq!(all["default_agent"], "shell");
    assert_eq!(all["type"], "town-settings");
    // A wrong type is refused and changes nothing.
    let o = gt(&town, &["config", "set", "max_polecats", "many"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("max_polecats"), "{}", text(&o));
    assert_eq!(ok(gt(&town, &["config", "get"])), all);
    // The refinery reads the gates and the origin's branch.
    let cfg = gastown::town::Town { root: town }
        .merge_config("app")
        .unwrap();
    assert_eq!(cfg.target, "master");
    assert_eq!(cfg.gates.len(), 1);
}

#[test]
fn rig_add_names_the_url_and_gits_message_and_leaves_nothing() {
    let t = tempfile::tempdir().unwrap();
    let town = install_town(t.path(), &[]);
    for url in [
        "file:///nonexistent/repo.git",
        "ssh://git@127.0.0.1:1/owner/repo.git",
        "/nonexistent/local/path",
    ] {
        let o = gt(&town, &["rig", "add", "app", url]);
        assert_ne!(o.status.code(), Some(0), "{url}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(url), "{url}: {err}");
        assert!(err.contains("git clone"), "{url}: {err}");
        assert!(
            !town.join("app").exists(),
            "{url}: a failed add leaves no rig"
        );
    }
    let listed = ok(gt(&town, &["--json", "rig", "list"]));
    assert_eq!(listed, serde_json::json!([]));
}

#[test]
fn rig_add_takes_file_urls_and_relative_paths() {
    let t = tempfile::tempdir().unwrap();
    let origin = origin_repo(t.path(), "trunky", "trunk");
    let town = install_town(t.path(), &[]);
    let url = format!("file://{}", origin.display());
    let r = ok(gt(&town, &["--json", "rig", "add", "one", &url]));
    assert_eq!(r["default_branch"], "trunk");
    assert_eq!(r["url"], url.as_str());
    let r = ok(run(
        GT,
        t.path(),
        &town,
        &["--json", "rig", "add", "two", "trunky.git"],
    ));
    assert_eq!(r["url"], origin.canonicalize().unwrap().to_str().unwrap());
    // Mail addressing and the doctor read the same registry.
    let o = gt(
        &town,
        &["mail", "send", "two/witness", "-s", "hi", "-m", "x"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let d = ok(gt(&town, &["--json", "doctor"]));
    let rig_checks: Vec<&serde_json::Value> = d["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "rig.origin")
        .collect();
    assert_eq!(rig_checks.len(), 2, "{d:#}");
    assert!(rig_checks.iter().all(|f| f["level"] == "ok"), "{d:#}");
}

#[test]
fn doctor_sees_moved_branches_unreachable_origins_and_unknown_agents() {
    let t = tempfile::tempdir().unwrap();
    let origin = origin_repo(t.path(), "app", "master");
    let gone = origin_repo(t.path(), "gone", "main");
    let town = install_town(
        t.path(),
        &[
            ("app", origin.to_str().unwrap()),
            ("gone", gone.to_str().unwrap()),
        ],
    );
    git_in(&origin, &["branch", "-m", "master", "main"]);
    std::fs::remove_dir_all(&gone).unwrap();
    config_set(&town, "roles.witness.agent", "ghost", Some("app"));
    let o = gt(&town, &["--json", "doctor"]);
    assert_eq!(o.status.code(), Some(1), "errors found: {}", text(&o));
    let d: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let find = |check: &str| -> Vec<String> {
        d["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["check"] == check && f["level"] != "ok")
            .map(|f| f["message"].as_str().unwrap().to_string())
            .collect()
    };
    let moved = find("rig.branch");
    assert!(moved.len() == 1 && moved[0].contains("now `main`"), "{d:#}");
    let unreachable = find("rig.origin");
    assert!(
        unreachable.len() == 1 && unreachable[0].contains("rig `gone`"),
        "{d:#}"
    );
    let agents = find("settings.agents");
    assert!(agents.len() == 1 && agents[0].contains("ghost"), "{d:#}");
    // `gt rig refresh` follows the renamed branch.
    let r = ok(gt(&town, &["--json", "rig", "refresh", "app"]));
    assert_eq!(r["default_branch"], "main");
}

#[test]
fn install_git_makes_a_first_commit_that_keeps_state_out() {
    let t = tempfile::tempdir().unwrap();
    let town = t.path().join("gt");
    ok(run(
        GT,
        t.path(),
        &town,
        &["--json", "install", town.to_str().unwrap(), "--git"],
    ));
    ok(run(BD, &town, &town, &["--json", "create", "first bead"]));
    let files = git_in(&town, &["ls-files"]);
    for f in [".gitignore", "settings/config.json", ".beads/config.json"] {
        assert!(files.lines().any(|l| l == f), "{f} not in:\n{files}");
    }
    assert_eq!(git_in(&town, &["rev-list", "--count", "HEAD"]).trim(), "1");
    let ignored = |p: &str| {
        std::process::Command::new("git")
            .args(["check-ignore", "-q", p])
            .current_dir(&town)
            .status()
            .unwrap()
            .success()
    };
    assert!(!ignored(".beads/issues.jsonl"), "the ledger is committed");
    for p in [
        ".beads/beads.db",
        ".beads/beads.db-wal",
        ".beads/runtime/daemon.log",
        "app/.repo.git/HEAD",
        "app/polecats/nux/src.rs",
        "app/refinery/rig/src.rs",
    ] {
        assert!(ignored(p), "{p} is not ignored");
    }
}

/// `gt rig add` with the URLs of the seeds (https, `git@host:owner/repo`,
/// `ssh://`): the user's git config applies, here an `insteadOf` that points
/// those hosts at local bare repositories, exactly as it would for `git`.
#[test]
fn rig_add_goes_through_the_users_git_config_for_https_and_ssh_urls() {
    let t = tempfile::tempdir().unwrap();
    let served = t.path().join("served");
    std::fs::create_dir_all(&served).unwrap();
    origin_repo(&served, "app", "master");
    let gitconfig = t.path().join("gitconfig");
    std::fs::write(
        &gitconfig,
        format!(
            "[url \"file://{d}/\"]\n\tinsteadOf = https://github.com/you/\n\tinsteadOf = git@github.com:you/\n\tinsteadOf = ssh://git@github.com/you/\n",
            d = served.display()
        ),
    )
    .unwrap();
    let town = install_town(t.path(), &[]);
    let with_config = |args: &[&str]| {
        let o = std::process::Command::new(GT)
            .args(args)
            .current_dir(&town)
            .env("GT_TOWN", &town)
            .env("GIT_CONFIG_GLOBAL", &gitconfig)
            .env_remove("BEADS_DIR")
            .output()
            .unwrap();
        ok(o)
    };
    for (name, url) in [
        ("https", "https://github.com/you/app.git"),
        ("scp", "git@github.com:you/app.git"),
        ("ssh", "ssh://git@github.com/you/app.git"),
    ] {
        let r = with_config(&["--json", "rig", "add", name, url]);
        assert_eq!(r["url"], url, "the rig records the URL as given");
        assert_eq!(r["default_branch"], "master", "{url}");
    }
    let c = with_config(&["--json", "crew", "add", "ann", "--rig", "scp"]);
    let wt = std::path::PathBuf::from(c["worktree"].as_str().unwrap());
    assert!(
        wt.join("base.txt").is_file(),
        "crew worktree from origin/master"
    );
}

/// A stand-in for `gh` on PATH: logged in, `pr create` prints a pull
/// request URL, `pr view` reports the state written in `$FAKE_GH_STATE`.
const FAKE_GH: &str = r#"#!/bin/sh
echo "$@" >> "$FAKE_GH_LOG"
case "$1 $2" in
  "auth status") exit 0 ;;
  "pr create") echo "https://github.com/you/app/pull/7" ;;
  "pr view") printf '{"state":"%s","mergeCommit":{"oid":"%s"}}\n' "$(cat "$FAKE_GH_STATE")" "$(cat "$FAKE_GH_SHA" 2>/dev/null)" ;;
  *) exit 1 ;;
esac
"#;

/// The `pr` strategy with `gh`: the branch is pushed, `gh pr create` opens
/// the pull request, its URL is recorded on the merge request, and the bead
/// counts as merged once `gh pr view` says the pull request merged.
#[test]
fn pr_strategy_opens_the_pull_request_with_gh_and_merges_when_it_does() {
    let t = tempfile::tempdir().unwrap();
    let served = t.path().join("served");
    std::fs::create_dir_all(&served).unwrap();
    let origin = origin_repo(&served, "app", "master");
    let gitconfig = t.path().join("gitconfig");
    std::fs::write(
        &gitconfig,
        format!(
            "[url \"file://{}/\"]\n\tinsteadOf = https://github.com/you/\n",
            served.display()
        ),
    )
    .unwrap();
    let bin = t.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(bin.join("gh"), FAKE_GH).unwrap();
    std::process::Command::new("chmod")
        .args(["+x", bin.join("gh").to_str().unwrap()])
        .status()
        .unwrap();
    let (log, state) = (t.path().join("gh.log"), t.path().join("gh.state"));
    std::fs::write(&state, "OPEN").unwrap();
    let town = t.path().join("town");
    let gtc = |args: &[&str]| {
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        std::process::Command::new(GT)
            .args(args)
            .current_dir(t.path())
            .env("GT_TOWN", &town)
            .env("GIT_CONFIG_GLOBAL", &gitconfig)
            .env("PATH", path)
            .env("FAKE_GH_LOG", &log)
            .env("FAKE_GH_STATE", &state)
            .env("FAKE_GH_SHA", t.path().join("gh.sha"))
            .env_remove("BEADS_DIR")
            .output()
            .unwrap()
    };
    ok(gtc(&["--json", "install", town.to_str().unwrap()]));
    let url = "https://github.com/you/app.git";
    ok(gtc(&["--json", "rig", "add", "app", url]));
    ok(gtc(&[
        "--json",
        "config",
        "set",
        "merge_queue.strategy",
        "pr",
        "--rig",
        "app",
    ]));
    // A polecat's branch in the rig's clone, handed in as `gt done` does.
    let clone = town.join("app/.repo.git");
    let work = t.path().join("work");
    git_in(
        t.path(),
        &[
            "clone",
            "-q",
            clone.to_str().unwrap(),
            work.to_str().unwrap(),
        ],
    );
    std::fs::write(work.join("pr.txt"), "pr\n").unwrap();
    git_in(&work, &["add", "."]);
    git_in(&work, &["commit", "-qm", "pr work"]);
    git_in(
        &work,
        &["push", "-q", "origin", "HEAD:refs/heads/polecat/nux/x"],
    );
    let head = git_in(&work, &["rev-parse", "HEAD"]).trim().to_string();
    let mut s = store(&town);
    let bead = s
        .write(|tx| {
            tx.create(&gastown::store::issues::NewIssue {
                title: "behind a protected branch".into(),
                ..Default::default()
            })
        })
        .unwrap()
        .id;
    let mr = gastown::coord::mq::enqueue(
        &mut s,
        &gastown::coord::mq::NewMr {
            bead: bead.clone(),
            rig: "app".into(),
            branch: "polecat/nux/x".into(),
            head_sha: head.clone(),
            ..Default::default()
        },
    )
    .unwrap()
    .id;
    drop(s);

    let out = ok(gtc(&["--json", "mq", "process", "--rig", "app"]));
    assert_eq!(out[0]["outcome"], "pushed", "{out:#}");
    assert_eq!(out[0]["url"], "https://github.com/you/app/pull/7");
    let calls = std::fs::read_to_string(&log).unwrap();
    assert!(
        calls.contains("pr create --repo github.com/you/app --base master --head polecat/nux/x"),
        "{calls}"
    );
    assert_eq!(
        git_in(&origin, &["rev-parse", "refs/heads/polecat/nux/x"]).trim(),
        head,
        "the branch is on the origin"
    );
    let m = gastown::store::issues::get(store(&town).conn(), &mr).unwrap();
    assert_eq!(m.metadata["pr"]["url"], "https://github.com/you/app/pull/7");
    assert_eq!(m.status, gastown::store::Status::Deferred);

    // Still open: nothing changes. Merged on the host: the bead is merged.
    let out = ok(gtc(&["--json", "mq", "process", "--rig", "app"]));
    assert_eq!(out, serde_json::json!([]), "{out:#}");
    std::fs::write(&state, "MERGED").unwrap();
    std::fs::write(t.path().join("gh.sha"), &head).unwrap();
    let out = ok(gtc(&["--json", "mq", "process", "--rig", "app"]));
    assert_eq!(out[0]["outcome"], "merged", "{out:#}");
    let b = gastown::store::issues::get(store(&town).conn(), &bead).unwrap();
    assert_eq!(b.close_reason.as_deref(), Some("merged"));
}
