//! The Gas Town command forms of issue 12 do their real job (the corpus
//! ratchet in `compat_forms.rs` checks that they run; these check what they
//! did): convoy notify/human/show/check, `gt done` flags, rig docking,
//! daemon log rotation, town-level addresses.
mod common;

use common::town::{create, install_fake_polecat_agent, ok, run, setup, text, BD, GT};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn gt(town: &Path, args: &[&str]) -> serde_json::Value {
    ok(run(GT, town, town, args))
}

/// Sling a fresh bead to rig `app` without a session: (bead, polecat, worktree).
fn slung(town: &Path) -> (String, String, PathBuf) {
    let bead = create(town, "Compat work");
    let v = gt(town, &["--json", "sling", &bead, "app", "--no-start"]);
    (
        bead,
        v["polecat"].as_str().unwrap().to_string(),
        PathBuf::from(v["worktree"].as_str().unwrap()),
    )
}

/// Run `gt` as polecat `name` standing in its worktree.
fn as_polecat(town: &Path, name: &str, wt: &Path, args: &[&str]) -> Output {
    Command::new(GT)
        .args(args)
        .current_dir(wt)
        .env("GT_TOWN", town)
        .env("GT_RIG", "app")
        .env("GT_POLECAT", name)
        .env("GT_ROLE", "polecat")
        .env("BD_ACTOR", format!("app/polecats/{name}"))
        .env_remove("GT_LEASE")
        .env_remove("BEADS_DIR")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn show(town: &Path, id: &str) -> serde_json::Value {
    let v = ok(run(BD, town, town, &["--json", "show", id]));
    if v.is_array() {
        v[0].clone()
    } else {
        v
    }
}

#[test]
fn convoy_notify_without_value_means_the_owner_and_human_the_overseer() {
    let t = setup();
    let (a, b) = (create(&t.town, "One"), create(&t.town, "Two"));
    let v = gt(
        &t.town,
        &[
            "--json",
            "convoy",
            "create",
            "Auth System",
            &a,
            &b,
            "--owner",
            "mayor",
            "--notify",
            "--human",
        ],
    );
    let notify: Vec<&str> = v["notify"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert_eq!(notify, ["mayor", "overseer"], "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    // No id: the newest open convoy.
    let cur = gt(&t.town, &["--json", "convoy", "show"]);
    assert_eq!(cur["id"], id.as_str());
    // Bare `gt convoy` lists; `check` reports it waiting (nothing merged).
    let list = gt(&t.town, &["--json", "convoy"]);
    assert_eq!(list[0]["id"], id.as_str());
    let c = gt(&t.town, &["--json", "convoy", "check"]);
    assert_eq!(c["landed"].as_array().unwrap().len(), 0, "{c}");
    assert_eq!(c["waiting"][0]["id"], id.as_str(), "{c}");
}

#[test]
fn done_flags_reach_the_merge_request_and_no_merge_pushes_for_review() {
    let t = setup();
    install_fake_polecat_agent(&t.town, "#!/bin/sh\nexit 0\n");
    let (bead, name, wt) = slung(&t.town);
    std::fs::write(wt.join("feature.txt"), "work\n").unwrap();
    let o = as_polecat(
        &t.town,
        &name,
        &wt,
        &[
            "--json",
            "done",
            "--target",
            "release",
            "--pre-verified",
            "--cleanup-status",
            "clean",
        ],
    );
    let v = ok(o);
    let mr = show(&t.town, v["merge_request"].as_str().unwrap());
    assert_eq!(mr["metadata"]["target"], "release", "{mr}");
    assert_eq!(mr["metadata"]["pre_verified"], true, "{mr}");
    assert_eq!(mr["metadata"]["cleanup_status"], "clean", "{mr}");
    assert_eq!(show(&t.town, &bead)["status"], "in_progress");

    // A bad cleanup status is refused, naming the valid ones.
    let (_b2, name2, wt2) = slung(&t.town);
    let o = as_polecat(
        &t.town,
        &name2,
        &wt2,
        &["done", "--cleanup-status", "shiny"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("uncommitted"));

    // --no-merge: the branch is on the origin, no merge request, the overseer told.
    std::fs::write(wt2.join("review.txt"), "please look\n").unwrap();
    let v = ok(as_polecat(
        &t.town,
        &name2,
        &wt2,
        &["--json", "done", "--no-merge"],
    ));
    assert!(v["merge_request"].is_null(), "{v}");
    let branch = v["branch"].as_str().unwrap();
    let heads = common::town::git_in(&t.origin, &["branch", "--list", branch]);
    assert!(heads.contains(branch), "origin lacks {branch}: {heads}");
    let inbox = gt(&t.town, &["--json", "mail", "inbox", "overseer"]);
    assert!(inbox.to_string().contains(branch), "{inbox}");
}

#[test]
fn phase_complete_commits_and_hands_the_bead_back_open() {
    let t = setup();
    install_fake_polecat_agent(&t.town, "#!/bin/sh\nexit 0\n");
    let (bead, name, wt) = slung(&t.town);
    std::fs::write(wt.join("phase1.txt"), "done\n").unwrap();
    ok(as_polecat(
        &t.town,
        &name,
        &wt,
        &["--json", "done", "--phase-complete", "--gate", "g-1"],
    ));
    let b = show(&t.town, &bead);
    assert_eq!(b["status"], "open", "{b}");
    let log = common::town::git_in(&wt, &["log", "--oneline", "-1", "--stat"]);
    assert!(log.contains("phase1.txt"), "{log}");
}

#[test]
fn a_docked_rig_refuses_slings_until_undocked() {
    let t = setup();
    install_fake_polecat_agent(&t.town, "#!/bin/sh\nexit 0\n");
    gt(&t.town, &["--json", "rig", "dock", "app"]);
    let s = gt(&t.town, &["--json", "rig", "status", "app"]);
    assert_eq!(s["docked"], true, "{s}");
    let bead = create(&t.town, "Blocked by dock");
    let o = run(GT, &t.town, &t.town, &["sling", &bead, "app", "--no-start"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(text(&o).contains("gt rig undock app"), "{}", text(&o));
    gt(&t.town, &["--json", "rig", "undock", "app"]);
    gt(&t.town, &["--json", "sling", &bead, "app", "--no-start"]);
    assert_eq!(gt(&t.town, &["--json", "rig", "status"])["docked"], false);
}

#[test]
fn daemon_rotate_logs_keeps_the_old_log_and_empties_the_current_one() {
    let t = setup();
    let log = t.town.join(".beads/runtime/daemon.log");
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    std::fs::write(&log, "old line\n").unwrap();
    let v = gt(&t.town, &["--json", "daemon", "rotate-logs"]);
    assert_eq!(v["bytes"], 9, "{v}");
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "");
    let rotated = std::fs::read_to_string(format!("{}.1", log.display())).unwrap();
    assert_eq!(rotated, "old line\n");
    let st = gt(&t.town, &["--json", "daemon", "status"]);
    assert_eq!(st["running"], false, "{st}");
}

#[test]
fn town_level_addresses_take_mail_and_nudges() {
    let t = setup();
    for to in ["deacon/", "boot", "deacon/dogs/rex"] {
        gt(
            &t.town,
            &["--json", "mail", "send", to, "-s", "Hi", "-m", "Body"],
        );
    }
    let d = gt(&t.town, &["--json", "mail", "inbox", "deacon"]);
    assert!(d.to_string().contains("Hi"), "{d}");
    let b = gt(&t.town, &["--json", "mail", "inbox", "deacon/boot"]);
    assert!(b.to_string().contains("Hi"), "{b}");
    let n = gt(&t.town, &["--json", "nudge", "deacon", "wake up"]);
    assert_eq!(n["target"], "deacon", "{n}");
    let p = gt(&t.town, &["--json", "peek", "deacon"]);
    assert!(
        p["tail"].as_str().unwrap().contains("supervisor code"),
        "{p}"
    );
}

#[test]
fn dogs_take_formulas_as_wisps_and_run_the_polecat_agent() {
    let t = setup();
    install_fake_polecat_agent(&t.town, "#!/bin/sh\nexit 0\n");
    gt(&t.town, &["--json", "dog", "add", "rex"]);
    assert!(t.town.join("deacon/dogs/rex").is_dir());
    let d = gt(
        &t.town,
        &[
            "--json",
            "dog",
            "dispatch",
            "--formula",
            "bugfix",
            "--var",
            "bug=leak",
        ],
    );
    assert_eq!(d["dog"], "rex", "{d}");
    assert_eq!(d["agent"], "fake", "{d}");
    assert!(d["pid"].as_i64().is_some(), "{d}");
    let bead = d["bead"].as_str().unwrap();
    let b = show(&t.town, bead);
    assert_eq!(b["ephemeral"], true, "{b}");
    assert_eq!(b["assignee"], "deacon/dogs/rex", "{b}");
    // rex is busy: the next dispatch (through `gt sling ... deacon/dogs`) gets a new dog.
    let d2 = gt(
        &t.town,
        &[
            "--json",
            "sling",
            "bugfix",
            "deacon/dogs",
            "--var",
            "bug=two",
            "--no-start",
        ],
    );
    assert_ne!(d2["dog"], "rex", "{d2}");
    assert_eq!(d2["created_dog"], true, "{d2}");
    let list = gt(&t.town, &["--json", "dogs", "list"]);
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    // Clearing rex hands its wisp back open.
    gt(&t.town, &["--json", "dog", "clear", "rex", "--force"]);
    assert_eq!(show(&t.town, bead)["status"], "open");
    // No plugins yet: the bare flag says where they go.
    let p = gt(&t.town, &["--json", "dog", "dispatch", "--plugin"]);
    assert_eq!(p["plugins"].as_array().unwrap().len(), 0, "{p}");
}

#[test]
fn sling_to_the_mayor_hooks_and_nudges_it() {
    let t = setup();
    let bead = create(&t.town, "Mayor's job");
    let v = gt(&t.town, &["--json", "sling", &bead, "mayor"]);
    assert_eq!(v["address"], "mayor/", "{v}");
    assert_eq!(show(&t.town, &bead)["status"], "hooked");
    let s = common::town::store(&t.town);
    let m = gastown::store::agents::get(s.conn(), "", "mayor")
        .unwrap()
        .unwrap();
    assert_eq!(m.hooked_bead.as_deref(), Some(bead.as_str()));
    let n = gastown::coord::nudge::pending_nudges(s.conn(), "mayor").unwrap();
    assert!(n.iter().any(|x| x.message.contains(&bead)), "{n:?}");
}

#[test]
fn sling_prompt_mail_back_reports_to_the_slinger() {
    let t = setup();
    install_fake_polecat_agent(&t.town, "#!/bin/sh\nexit 0\n");
    let o = Command::new(GT)
        .args([
            "--json",
            "sling",
            "--prompt=Review the plan\nCheck every requirement.",
            "--mail-back",
            "--no-start",
        ])
        .current_dir(&t.town)
        .env("GT_TOWN", &t.town)
        .env("BD_ACTOR", "mayor")
        .env_remove("GT_RIG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let v = ok(o);
    let bead = v["bead"].as_str().unwrap().to_string();
    assert_eq!(show(&t.town, &bead)["title"], "Review the plan");
    let name = v["polecat"].as_str().unwrap().to_string();
    let wt = PathBuf::from(v["worktree"].as_str().unwrap());
    std::fs::write(wt.join("review.md"), "ok\n").unwrap();
    ok(as_polecat(&t.town, &name, &wt, &["--json", "done"]));
    let inbox = gt(&t.town, &["--json", "mail", "inbox", "mayor"]);
    assert!(
        inbox.to_string().contains("Done: Review the plan"),
        "{inbox}"
    );
}

#[test]
fn patrol_reports_close_a_cycle_and_digest_the_day() {
    let t = setup();
    let r = gt(
        &t.town,
        &[
            "--json",
            "patrol",
            "report",
            "--summary",
            "all quiet",
            "--steps",
            "heartbeat:OK,inbox:SKIP",
        ],
    );
    let rep = show(&t.town, r["report"].as_str().unwrap());
    assert_eq!(rep["status"], "closed", "{rep}");
    assert!(rep["description"].as_str().unwrap().contains("inbox: SKIP"));
    let dry = gt(&t.town, &["--json", "patrol", "digest", "--dry-run"]);
    assert_eq!(dry["reports"], 1, "{dry}");
    assert!(dry["digest"].is_null());
    let d = gt(&t.town, &["--json", "patrol", "digest"]);
    let dig = show(&t.town, d["digest"].as_str().unwrap());
    assert_eq!(dig["issue_type"], "digest", "{dig}");
    assert!(dig["description"].as_str().unwrap().contains("all quiet"));
    // Nothing yesterday.
    let y = gt(&t.town, &["--json", "patrol", "digest", "--yesterday"]);
    assert_eq!(y["reports"], 0, "{y}");
}

#[test]
fn a_dead_polecats_bead_is_redispatched_and_the_scan_sees_zombies() {
    let t = setup();
    install_fake_polecat_agent(&t.town, "#!/bin/sh\nexit 0\n");
    let (bead, name, _wt) = slung(&t.town);
    // The polecat is "working" with no session: a zombie.
    let mut s = common::town::store(&t.town);
    s.write(|tx| tx.agent_state("app", &name, "working", false))
        .unwrap();
    let scan = gt(
        &t.town,
        &["--json", "patrol", "scan", "--rig", "app", "--notify"],
    );
    assert_eq!(scan["zombies"], 1, "{scan}");
    assert!(
        scan["notified"].to_string().contains("app/witness"),
        "{scan}"
    );
    let r = gt(&t.town, &["--json", "deacon", "redispatch", &bead]);
    assert_eq!(r["bead"], bead.as_str(), "{r}");
    assert_eq!(r["rig"], "app", "{r}");
    assert!(r["pid"].as_i64().is_some(), "{r}");
    assert_eq!(show(&t.town, &bead)["status"], "hooked");
    // A live, current session is no zombie; a heartbeat is kept.
    let hb = gt(&t.town, &["--json", "deacon", "heartbeat", "scanning"]);
    assert_eq!(hb["action"], "scanning", "{hb}");
}

#[test]
fn agent_state_lives_on_agent_beads_and_drives_await_signal_backoff() {
    let t = setup();
    let s = gt(
        &t.town,
        &["--json", "agent", "state", "hq-deacon", "--set", "idle=0"],
    );
    assert_eq!(s["state"]["idle"], "0", "{s}");
    let bead = show(&t.town, "hq-deacon");
    assert_eq!(bead["issue_type"], "agent", "{bead}");
    let s = gt(
        &t.town,
        &["--json", "agent", "state", "hq-deacon", "--incr", "idle"],
    );
    assert_eq!(s["state"]["idle"], "1", "{s}");
    // A timeout (nothing happens for 1 s * 1^idle) adds one more idle cycle.
    let w = gt(
        &t.town,
        &[
            "--json",
            "mol",
            "step",
            "await-signal",
            "--agent-bead",
            "hq-deacon",
            "--backoff-base",
            "1s",
            "--backoff-mult",
            "1",
            "--backoff-max",
            "5s",
        ],
    );
    assert_eq!(w["reason"], "timeout", "{w}");
    assert_eq!(w["idle_cycles"], 2, "{w}");
    let s = gt(
        &t.town,
        &["--json", "agent", "state", "hq-deacon", "--del", "idle"],
    );
    assert!(s["state"].as_object().unwrap().is_empty(), "{s}");
    // Not an agent bead id and not an issue: refused with the convention.
    let o = run(
        GT,
        &t.town,
        &t.town,
        &["agent", "state", "hq-nobody-x", "--set", "a=1"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("hq-<rig>-witness"), "{}", text(&o));
}

#[test]
fn emitted_signals_wake_a_waiting_agent() {
    let t = setup();
    let mut waiter = Command::new(GT)
        .args([
            "--json",
            "mol",
            "step",
            "await-event",
            "--channel",
            "refinery",
            "--timeout",
            "30s",
        ])
        .current_dir(&t.town)
        .env("GT_TOWN", &t.town)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    gt(
        &t.town,
        &[
            "--json",
            "mol",
            "step",
            "emit-event",
            "--channel",
            "refinery",
            "--type",
            "PATROL_WAKE",
            "--payload",
            "source=witness",
        ],
    );
    let t0 = std::time::Instant::now();
    let out = loop {
        if let Some(_s) = waiter.try_wait().unwrap() {
            break waiter.wait_with_output().unwrap();
        }
        assert!(t0.elapsed().as_secs() < 20, "await-event did not wake");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["reason"], "event", "{v}");
    let feed = gt(&t.town, &["--json", "feed"]);
    assert!(feed.to_string().contains("PATROL_WAKE"), "{feed}");
}

#[test]
fn respawn_reopens_the_target_and_everything_after_it() {
    let t = setup();
    let m = gt(&t.town, &["--json", "wisp", "bugfix", "--var", "bug=loop"]);
    let root = m["new_epic_id"].as_str().unwrap().to_string();
    let steps: Vec<String> = m["id_mapping"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.contains('.'))
        .map(|(_, v)| v.as_str().unwrap().to_string())
        .collect();
    assert!(steps.len() >= 2, "{m}");
    for s in &steps {
        ok(run(BD, &t.town, &t.town, &["--json", "close", s]));
    }
    let first = show(&t.town, &steps[0]);
    let target = first["metadata"]["step"]["path"]
        .as_str()
        .unwrap()
        .to_string();
    let r = gt(
        &t.town,
        &[
            "--json", "mol", "step", "respawn", "--target", &target, "--mol", &root,
        ],
    );
    assert!(!r["reopened"].as_array().unwrap().is_empty(), "{r}");
    assert_eq!(show(&t.town, &steps[0])["status"], "open");
    let o = run(
        GT,
        &t.town,
        &t.town,
        &[
            "mol",
            "step",
            "respawn",
            "--target",
            "no-such-step",
            "--mol",
            &root,
        ],
    );
    assert!(
        text(&o).contains("has no step `no-such-step`"),
        "{}",
        text(&o)
    );
}

#[test]
fn warrants_are_filed_once_and_executed() {
    let t = setup();
    install_fake_polecat_agent(&t.town, "#!/bin/sh\nsleep 30\n");
    let (_b, name, _wt) = slung(&t.town);
    let addr = format!("app/polecats/{name}");
    let f = gt(
        &t.town,
        &["--json", "warrant", "file", &name, "--reason", "stuck"],
    );
    assert_eq!(f["existing"], false, "{f}");
    assert_eq!(f["warrant"]["metadata"]["target"], addr.as_str(), "{f}");
    let again = gt(
        &t.town,
        &[
            "--json",
            "warrant",
            "file",
            &addr,
            "--reason",
            "still stuck",
        ],
    );
    assert_eq!(again["existing"], true, "{again}");
    assert_eq!(
        gt(&t.town, &["--json", "warrant", "list"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let e = gt(&t.town, &["--json", "warrant", "execute", &name]);
    assert_eq!(e["target"], addr.as_str(), "{e}");
    assert!(gt(&t.town, &["--json", "warrant", "list"])
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(
        gt(&t.town, &["--json", "warrant", "list", "--all"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn costs_and_context_read_claude_code_transcripts() {
    let t = setup();
    install_fake_polecat_agent(&t.town, "#!/bin/sh\nexit 0\n");
    let (_b, name, wt) = slung(&t.town);
    let conf = t.town.join("claude-conf");
    let key: String = wt
        .to_string_lossy()
        .chars()
        .map(|c| if c == '/' || c == '.' { '-' } else { c })
        .collect();
    let dir = conf.join("projects").join(key);
    std::fs::create_dir_all(&dir).unwrap();
    // What Claude Code writes per answer (only the fields read).
    std::fs::write(
        dir.join("s1.jsonl"),
        r#"{"type":"assistant","timestamp":"2026-01-01T00:00:00Z","message":{"model":"claude-sonnet-4-6","usage":{"input_tokens":1000,"cache_creation_input_tokens":0,"cache_read_input_tokens":99000,"output_tokens":1000}}}
"#,
    )
    .unwrap();
    let with_conf = |args: &[&str]| {
        let o = Command::new(GT)
            .args(args)
            .current_dir(&wt)
            .env("GT_TOWN", &t.town)
            .env("CLAUDE_CONFIG_DIR", &conf)
            .output()
            .unwrap();
        (
            o.status.code(),
            serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap_or_default(),
        )
    };
    let (_, c) = with_conf(&["--json", "context", "--usage"]);
    assert_eq!(c["used"], 101_000, "{c}");
    assert_eq!(c["percent"], 50, "{c}");
    let (code, _) = with_conf(&[
        "--json",
        "mol",
        "step",
        "context-check",
        "--threshold",
        "40",
    ]);
    assert_eq!(code, Some(1));
    let (code, _) = with_conf(&["--json", "mol", "step", "context-check"]);
    assert_eq!(code, Some(0));
    let (_, costs) = with_conf(&["--json", "costs", "--by-rig"]);
    let usd = costs["total_usd"].as_f64().unwrap();
    // 1000*3 + 99000*0.3 + 1000*15 = 47700 per million.
    assert!((usd - 0.0477).abs() < 1e-6, "{costs}");
    assert!(costs["sessions"][0]["agent"]
        .as_str()
        .unwrap()
        .ends_with(&name));
}

#[test]
fn compact_keeps_young_wisps_and_reports_to_the_deacon() {
    let t = setup();
    gt(&t.town, &["--json", "wisp", "bugfix", "--var", "bug=young"]);
    let r = gt(&t.town, &["--json", "compact", "--dry-run"]);
    assert_eq!(r["active"], 1, "{r}");
    assert_eq!(r["decisions"][0]["action"], "keep", "{r}");
    let rep = gt(&t.town, &["--json", "compact", "report"]);
    assert_eq!(
        rep["sent_to"],
        serde_json::json!(["deacon", "mayor"]),
        "{rep}"
    );
    let inbox = gt(&t.town, &["--json", "mail", "inbox", "deacon"]);
    assert!(
        inbox.to_string().contains("Compaction daily report"),
        "{inbox}"
    );
}

#[test]
fn formula_run_pours_and_slings_with_its_inputs() {
    let t = setup();
    install_fake_polecat_agent(&t.town, "#!/bin/sh\nexit 0\n");
    let v = gt(
        &t.town,
        &[
            "--json",
            "formula",
            "run",
            "bugfix",
            "--no-start",
            "--bug=crash on start",
        ],
    );
    assert_eq!(v["poured"], true, "{v}");
    let b = show(&t.town, v["bead"].as_str().unwrap());
    assert_eq!(b["metadata"]["vars"]["bug"], "crash on start", "{b}");
    assert_eq!(b["status"], "hooked", "{b}");
}
