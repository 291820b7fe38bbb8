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
