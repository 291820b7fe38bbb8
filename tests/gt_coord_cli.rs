//! `gt` coordination commands as processes: mail, nudge, handoff, convoy,
//! mq, feed, doctor, completion, and the end-to-end merge scenario (without
//! sling: merge requests are created the way `gt done` creates them).

mod coord_support;

use coord_support::TownFixture;
use gastown::coord::mq::{self, NewMr};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", self.stdout, self.stderr))
    }
}

fn run(bin: &str, dir: &Path, actor: &str, env: &[(&str, &str)], args: &[&str]) -> Out {
    let mut c = Command::new(bin);
    c.args(args)
        .current_dir(dir)
        .env("BD_ACTOR", actor)
        .env_remove("BEADS_DIR")
        .env_remove("GT_TOWN")
        .env_remove("GT_GENERATION")
        .env_remove("GT_LEASE")
        .env_remove("GT_ROLE");
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn gt(t: &TownFixture, actor: &str, args: &[&str]) -> Out {
    run(env!("CARGO_BIN_EXE_gt"), t.root(), actor, &[], args)
}

fn gt_ok(t: &TownFixture, actor: &str, args: &[&str]) -> Out {
    let o = gt(t, actor, args);
    assert_eq!(o.code, 0, "gt {args:?}:\n{}\n{}", o.stdout, o.stderr);
    o
}

fn bd_ok(t: &TownFixture, args: &[&str]) -> Out {
    let o = run(env!("CARGO_BIN_EXE_bd"), t.root(), "mayor", &[], args);
    assert_eq!(o.code, 0, "bd {args:?}:\n{}\n{}", o.stdout, o.stderr);
    o
}

fn new_bead(t: &TownFixture, title: &str) -> String {
    bd_ok(t, &["create", title, "--json"]).json()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn mail_addressing_errors_list_valid_addresses() {
    let t = TownFixture::new(json!({}));
    let o = gt(&t, "mayor", &["mail", "send", "rig/boss", "-s", "hi"]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr.contains("unknown address `rig/boss`"),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr
            .contains("valid addresses: mayor, overseer, rig/witness, rig/refinery"),
        "{}",
        o.stderr
    );
    let o = gt(
        &t,
        "mayor",
        &["mail", "send", "elsewhere/witness", "-s", "hi"],
    );
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains("there is no rig `elsewhere`"),
        "{}",
        o.stderr
    );
    let o = gt(&t, "mayor", &["mail", "send", "rig/polecats", "-s", "hi"]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("no members"), "{}", o.stderr);
    // Send, inbox, read, reply, check.
    gt_ok(
        &t,
        "mayor",
        &["mail", "send", "rig/crew/ann", "-s", "plan", "-m", "do X"],
    );
    let ib = gt_ok(
        &t,
        "x",
        &["--json", "mail", "inbox", "--identity", "rig/crew/ann"],
    )
    .json();
    assert_eq!(ib["unread"], 1);
    let id = ib["messages"][0]["id"].as_i64().unwrap().to_string();
    let m = gt_ok(&t, "rig/crew/ann", &["--json", "mail", "read", &id]).json();
    assert_eq!(m["body"], "do X");
    assert_eq!(m["read"], true);
    gt_ok(&t, "rig/crew/ann", &["mail", "reply", &id, "-m", "on it"]);
    let mayor = gt_ok(&t, "mayor", &["--json", "mail", "inbox"]).json();
    assert_eq!(mayor["messages"][0]["subject"], "Re: plan");
    assert_eq!(mayor["messages"][0]["from"], "rig/crew/ann");
    let o = gt(&t, "mayor", &["mail", "read", "zzz"]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("not a message id"), "{}", o.stderr);
    // A plain user is the overseer.
    gt_ok(
        &t,
        "mayor",
        &["mail", "send", "overseer", "-s", "for the human"],
    );
    let o = gt_ok(&t, "alice", &["mail", "inbox"]);
    assert!(
        o.stdout.starts_with("overseer: 1 message(s), 1 unread"),
        "{}",
        o.stdout
    );
}

#[test]
fn stale_generation_via_env_and_nudge_and_handoff() {
    let t = TownFixture::new(json!({}));
    let bin = env!("CARGO_BIN_EXE_gt");
    // nux generation 1 says done; then generation 2 primes.
    let o = run(
        bin,
        t.root(),
        "rig/polecats/nux",
        &[("GT_GENERATION", "1")],
        &["mail", "send", "rig/witness", "-s", "POLECAT_DONE"],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o = run(
        bin,
        t.root(),
        "rig/polecats/nux",
        &[("GT_GENERATION", "2")],
        &["mail", "check", "--inject"],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o = gt_ok(&t, "rig/witness", &["mail", "check", "--inject"]);
    assert!(
        o.stdout.contains("STALE (ignored; do not act on these)"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout
            .contains("[stale] message 1 from rig/polecats/nux: POLECAT_DONE"),
        "{}",
        o.stdout
    );
    assert!(!o.stdout.contains("--- message 1"), "{}", o.stdout);
    // Nudge: queued, delivered at the next prime.
    let o = gt_ok(&t, "mayor", &["nudge", "rig/polecats/nux", "pick up hq-1"]);
    assert!(o.stdout.contains("queued"), "{}", o.stdout);
    let o = gt(&t, "mayor", &["nudge", "rig/polecats", "x"]);
    assert_eq!(o.code, 2);
    let o = run(
        bin,
        t.root(),
        "rig/polecats/nux",
        &[("GT_GENERATION", "2")],
        &["mail", "check", "--inject"],
    );
    assert!(
        o.stdout.contains("NUDGE from mayor: pick up hq-1"),
        "{}",
        o.stdout
    );
    // Handoff: notes to self, seen by the next session.
    let o = run(
        bin,
        t.root(),
        "rig/polecats/nux",
        &[("GT_GENERATION", "2")],
        &["handoff", "-m", "rebase pending"],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o = run(
        bin,
        t.root(),
        "rig/polecats/nux",
        &[("GT_GENERATION", "3")],
        &["mail", "check", "--inject"],
    );
    assert!(
        o.stdout.contains("Subject: HANDOFF\nrebase pending"),
        "{}",
        o.stdout
    );
    let feed = gt_ok(&t, "mayor", &["feed"]).stdout;
    for k in [
        "rig/polecats/nux mailed rig/witness: POLECAT_DONE",
        "nudge queued for rig/polecats/nux: pick up hq-1",
        "nudge delivered to rig/polecats/nux",
        "rig/polecats/nux handed off to its next session",
    ] {
        assert!(feed.contains(k), "{k}: {feed}");
    }
}

#[test]
fn convoy_commands_and_errors() {
    let t = TownFixture::new(json!({}));
    let a = new_bead(&t, "a");
    let b = new_bead(&t, "b");
    let c = gt_ok(
        &t,
        "mayor",
        &[
            "--json",
            "convoy",
            "create",
            "Ship",
            &a,
            "--notify",
            "rig/witness",
            "--human",
        ],
    )
    .json();
    let id = c["id"].as_str().unwrap().to_string();
    assert_eq!(c["progress"]["total"], 1);
    assert_eq!(c["notify"][0], "rig/witness");
    let o = gt_ok(&t, "mayor", &["convoy", "add", &id, &b]);
    assert!(o.stdout.contains("added 1 bead(s)"));
    let st = gt_ok(&t, "mayor", &["--json", "convoy", "show", &id]).json();
    assert_eq!(st["beads"].as_array().unwrap().len(), 2);
    let o = gt(
        &t,
        "mayor",
        &["convoy", "create", "X", &a, "--notify", "nobody"],
    );
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("valid addresses"), "{}", o.stderr);
    let o = gt(&t, "mayor", &["convoy", "status", &a]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("not a convoy"), "{}", o.stderr);
    let o = gt(&t, "mayor", &["convoy", "status", "hq-nope"]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    gt_ok(&t, "mayor", &["convoy", "close", &id]);
    let l = gt_ok(&t, "mayor", &["--json", "convoy", "list"]).json();
    assert_eq!(l.as_array().unwrap().len(), 0);
    let l = gt_ok(&t, "mayor", &["--json", "convoy", "list", "--all"]).json();
    assert_eq!(l[0]["close_reason"], "closed by hand");
}

#[test]
fn doctor_fix_and_completion_and_feed_errors() {
    let t = TownFixture::new(json!({}));
    new_bead(&t, "a");
    // A library write: the store's write path keeps the JSONL current, so
    // there is no drift to repair.
    let mut s = t.store();
    s.write(|tx| {
        tx.create(&gastown::store::NewIssue {
            title: "not exported".into(),
            ..Default::default()
        })
    })
    .unwrap();
    drop(s);
    let jsonl = std::fs::read_to_string(t.path(".beads/issues.jsonl")).unwrap();
    assert!(jsonl.contains("not exported"), "{jsonl}");
    let o = gt_ok(&t, "mayor", &["doctor"]);
    assert!(o.stdout.contains("ok    ledger.drift"), "{}", o.stdout);
    let o = gt_ok(&t, "mayor", &["--json", "doctor"]).json();
    // `agents.launch` depends on the machine (is Claude Code, the town's
    // default agent, installed here?); tests/agents_roles.rs covers it.
    assert!(
        o["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["level"] == "ok" || f["check"] == "agents.launch"),
        "{o:#}"
    );
    // Broken town config is an error (exit 1).
    std::fs::write(t.path("settings/config.json"), "{nope").unwrap();
    let o = gt(&t, "mayor", &["doctor"]);
    assert_eq!(o.code, 1, "{}", o.stdout);
    assert!(o.stdout.contains("is not valid JSON"), "{}", o.stdout);
    for sh in ["bash", "zsh", "fish"] {
        // The script asks `gt` for the words (tests/gt_completion.rs).
        let o = gt_ok(&t, "mayor", &["completion", sh]);
        assert!(o.stdout.contains("COMPLETE="), "{sh}");
    }
    assert_eq!(gt(&t, "mayor", &["completion", "cmd.exe"]).code, 2);
    let o = gt(&t, "mayor", &["feed", "--since", "yesterday"]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains("neither a time nor an age"),
        "{}",
        o.stderr
    );
}

fn enqueue(t: &TownFixture, bead: &str, branch: &str, sha: git2::Oid, polecat: &str, gen: i64) {
    let mut s = t.store();
    s.set_actor(format!("rig/polecats/{polecat}"));
    mq::enqueue(
        &mut s,
        &NewMr {
            bead: bead.into(),
            rig: "rig".into(),
            branch: branch.into(),
            head_sha: sha.to_string(),
            polecat: Some(format!("rig/polecats/{polecat}")),
            generation: Some(gen),
            priority: None,
            ..Default::default()
        },
    )
    .unwrap();
}

/// Three beads and a convoy; three branches, one conflicting; the refinery
/// merges two and rejects one; the branch is reworked and re-enqueued and
/// merges; the convoy lands with its mail; the feed tells the story.
#[test]
fn end_to_end_convoy_lands_after_rework() {
    let t = TownFixture::new(json!({"test": "test -f base.txt"}));
    let beads: Vec<String> = ["one", "two", "three"]
        .iter()
        .map(|n| new_bead(&t, n))
        .collect();
    let c = gt_ok(
        &t,
        "mayor",
        &[
            "--json",
            "convoy",
            "create",
            "Feature X",
            &beads[0],
            &beads[1],
            &beads[2],
            "--notify",
            "rig/crew/ann",
        ],
    )
    .json();
    let convoy = c["id"].as_str().unwrap().to_string();
    for (b, p) in beads.iter().zip(["nux", "slit", "toast"]) {
        bd_ok(
            &t,
            &[
                "update",
                b,
                "--status",
                "hooked",
                "--assignee",
                &format!("rig/polecats/{p}"),
            ],
        );
    }
    // Each polecat commits a change and runs `gt done`.
    let s1 = t.branch("polecat/nux/one", &[("base.txt", "base\none\n")], None);
    let s2 = t.branch("polecat/slit/two", &[("two.txt", "two\n")], None);
    let s3 = t.branch(
        "polecat/toast/three",
        &[("base.txt", "base\nthree\n")],
        None,
    );
    enqueue(&t, &beads[0], "polecat/nux/one", s1, "nux", 1);
    enqueue(&t, &beads[1], "polecat/slit/two", s2, "slit", 1);
    enqueue(&t, &beads[2], "polecat/toast/three", s3, "toast", 1);
    let q = gt_ok(&t, "mayor", &["--json", "mq", "list"]).json();
    assert_eq!(q.as_array().unwrap().len(), 3);
    let st = gt_ok(&t, "mayor", &["--json", "convoy", "status", &convoy]).json();
    assert_eq!(st["progress"]["done"], 3, "{st:#}");

    let o = gt_ok(&t, "rig/refinery", &["mq", "process", "--rig", "rig"]);
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", o.stdout);
    assert!(
        lines[0].starts_with("merged:") && lines[1].starts_with("merged:"),
        "{}",
        o.stdout
    );
    assert!(
        lines[2].starts_with("rejected:") && lines[2].contains("conflict"),
        "{}",
        o.stdout
    );
    let three = bd_ok(&t, &["show", &beads[2], "--json"]).json();
    let three = if three.is_array() {
        three[0].clone()
    } else {
        three
    };
    assert_eq!(three["status"], "open");
    assert!(
        three["notes"]
            .as_str()
            .unwrap()
            .starts_with("MERGE REJECTION (conflict)"),
        "{three:#}"
    );
    let w = gt_ok(
        &t,
        "x",
        &["--json", "mail", "inbox", "--identity", "rig/witness"],
    )
    .json();
    assert!(
        w["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["subject"] == format!("MERGE_FAILED {}: conflict", beads[2])),
        "{w:#}"
    );
    let st = gt_ok(&t, "mayor", &["--json", "convoy", "status", &convoy]).json();
    assert_eq!(st["status"], "open");
    assert_eq!(st["progress"]["merged"], 2);

    // Rework on top of the new main, `gt done` again (generation 2).
    let s3b = t.branch(
        "polecat/toast/three",
        &[("base.txt", "base\none\nthree\n")],
        None,
    );
    enqueue(&t, &beads[2], "polecat/toast/three", s3b, "toast", 2);
    let o = gt_ok(&t, "rig/refinery", &["--json", "mq", "process"]);
    let outs = o.json();
    assert_eq!(outs[0]["outcome"], "merged", "{outs:#}");
    assert_eq!(outs[0]["landed"][0], convoy.as_str());

    // main has all three changes.
    assert_eq!(
        t.main_file("base.txt").as_deref(),
        Some("base\none\nthree\n")
    );
    assert_eq!(t.main_file("two.txt").as_deref(), Some("two\n"));
    for b in &beads {
        let v = bd_ok(&t, &["show", b, "--json"]).json()[0].clone();
        let v = if v.is_array() { v[0].clone() } else { v };
        assert_eq!(
            (v["status"].as_str(), v["close_reason"].as_str()),
            (Some("closed"), Some("merged")),
            "{v:#}"
        );
    }
    let st = gt_ok(&t, "mayor", &["--json", "convoy", "status", &convoy]).json();
    assert_eq!(
        (st["status"].as_str(), st["close_reason"].as_str()),
        (Some("closed"), Some("landed"))
    );
    for who in ["mayor", "rig/crew/ann"] {
        let ib = gt_ok(&t, "x", &["--json", "mail", "inbox", "--identity", who]).json();
        assert!(
            ib["messages"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["subject"] == "Convoy landed: Feature X"),
            "{who}: {ib:#}"
        );
    }

    // The feed tells the story in order.
    let feed = gt_ok(&t, "mayor", &["--json", "feed"]).stdout;
    let events: Vec<Value> = feed
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let story: Vec<(String, String)> = events
        .iter()
        .filter(|e| e["kind"] != "mail.sent")
        .map(|e| {
            let k = e["kind"].as_str().unwrap().to_string();
            let bead = e["payload"]["bead"]
                .as_str()
                .unwrap_or(e["subject"].as_str().unwrap())
                .to_string();
            (k, bead)
        })
        .collect();
    let b = |i: usize| beads[i].clone();
    let expect = vec![
        ("convoy.created".to_string(), convoy.clone()),
        ("done".into(), b(0)),
        ("done".into(), b(1)),
        ("done".into(), b(2)),
        ("mr.merged".into(), b(0)),
        ("mr.merged".into(), b(1)),
        ("mr.rejected".into(), b(2)),
        ("done".into(), b(2)),
        ("mr.merged".into(), b(2)),
        ("convoy.landed".into(), convoy.clone()),
    ];
    assert_eq!(story, expect, "{feed}");
    let ids: Vec<i64> = events.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    let human = gt_ok(&t, "mayor", &["feed"]).stdout;
    assert!(
        human.contains(&format!(
            "convoy {convoy} \"Feature X\" landed: all 3 bead(s) merged"
        )),
        "{human}"
    );
    // The doctor finds nothing to repair (whether the machine has the
    // town's agent CLI is not this test's business).
    let d = gt_ok(&t, "mayor", &["--json", "doctor"]).json();
    let bad: Vec<&Value> = d["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["level"] != "ok" && f["check"] != "agents.launch")
        .collect();
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn mq_list_status_reject_retry() {
    let t = TownFixture::new(json!({}));
    let b = new_bead(&t, "queued work");
    let sha = t.branch("p/q", &[("q.txt", "q\n")], None);
    enqueue(&t, &b, "p/q", sha, "nux", 1);
    let l = gt_ok(&t, "mayor", &["--json", "mq", "list"]).json();
    let mr = l[0]["id"].as_str().unwrap().to_string();
    assert_eq!(l[0]["bead"], b.as_str());
    let o = gt_ok(&t, "mayor", &["mq", "status"]);
    assert!(
        o.stdout.contains("rig: 1 queued, 0 processing"),
        "{}",
        o.stdout
    );
    let o = gt_ok(&t, "mayor", &["mq", "reject", &mr, "-r", "wrong approach"]);
    assert!(o.stdout.contains("MERGE REJECTION"), "{}", o.stdout);
    let v = bd_ok(&t, &["show", &b, "--json"]).json()[0].clone();
    let v = if v.is_array() { v[0].clone() } else { v };
    assert!(
        v["notes"]
            .as_str()
            .unwrap()
            .starts_with("MERGE REJECTION (manual)"),
        "{v:#}"
    );
    assert!(v["notes"].as_str().unwrap().contains("wrong approach"));
    let o = gt(&t, "mayor", &["mq", "reject", &mr]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("already closed"), "{}", o.stderr);
    gt_ok(&t, "mayor", &["mq", "retry", &mr]);
    let o = gt(&t, "mayor", &["mq", "retry", &mr]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("already queued"), "{}", o.stderr);
    gt_ok(&t, "rig/refinery", &["mq", "process", "--all"]);
    let st = gt_ok(&t, "mayor", &["--json", "mq", "status", &mr]).json();
    assert_eq!(st["merge_request"]["close_reason"], "merged");
    assert_eq!(st["runs"][0]["outcome"], "merged");
    let o = gt(&t, "mayor", &["mq", "retry", &mr]);
    assert!(o.stderr.contains("already merged"), "{}", o.stderr);
    let o = gt_ok(&t, "mayor", &["mq", "process"]);
    assert!(o.stdout.contains("nothing to merge"), "{}", o.stdout);
    // Outside a town the refinery says what it needs.
    let elsewhere = tempfile::tempdir().unwrap();
    bd_ok(&t, &["list"]);
    let o = run(
        env!("CARGO_BIN_EXE_gt"),
        elsewhere.path(),
        "mayor",
        &[("BEADS_DIR", t.path(".beads").to_str().unwrap())],
        &["mq", "process"],
    );
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("not inside a town"), "{}", o.stderr);
}

#[test]
fn feed_follow_prints_new_events() {
    use std::io::BufRead;
    let t = TownFixture::new(json!({}));
    gt_ok(&t, "mayor", &["mail", "send", "rig/witness", "-s", "first"]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_gt"))
        .args(["--json", "feed", "--follow"])
        .current_dir(t.root())
        .env("BD_ACTOR", "mayor")
        .env_remove("BEADS_DIR")
        .env_remove("GT_TOWN")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            if tx.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    // A generous bound only so a broken follow fails instead of hanging.
    let wait = std::time::Duration::from_secs(60);
    let first: Value = serde_json::from_str(&rx.recv_timeout(wait).unwrap()).unwrap();
    assert_eq!(first["payload"]["subject"], "first");
    gt_ok(
        &t,
        "mayor",
        &["mail", "send", "rig/witness", "-s", "second"],
    );
    let second: Value = serde_json::from_str(&rx.recv_timeout(wait).unwrap()).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(second["kind"], "mail.sent");
    assert_eq!(second["payload"]["subject"], "second");
    assert!(second["id"].as_i64() > first["id"].as_i64());
}
