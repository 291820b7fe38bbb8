//! The coordination scenario end to end, the way agents live it:
//! install a town, add a rig from a bare origin, create 3 beads and a
//! convoy, sling them to 3 polecats run by a fake agent that commits a
//! change and runs `gt done`; one change conflicts, is rejected, reworked
//! and merged; main ends with all 3 changes, every bead is closed as
//! merged, the convoy has landed with its mail, and the feed tells the
//! story in order.

mod common;
use common::town::*;
use gastown::store::{issues, Status};
use std::path::Path;
use std::process::Command;

/// The fake agent: beads listed in `shared-ids.txt` append a line to
/// `shared.txt` (two of them conflict); the others write their own file.
const AGENT: &str = r#"#!/bin/sh
cat > /dev/null
if grep -qx "$GT_STEP" "$GT_TOWN/shared-ids.txt"; then
  echo "$GT_STEP" >> shared.txt
else
  echo "$GT_STEP" > "$GT_STEP.txt"
fi
gt done
"#;

fn sling(town: &Path, bead: &str) {
    ok(run(GT, town, town, &["--json", "sling", bead, "app"]));
}

/// Wait until `bead` has been handed in (a merge request is queued for it).
fn wait_handed_in(town: &Path, bead: &str) {
    let handed = wait_until(|| {
        let s = store(town);
        gastown::coord::mq::list(s.conn(), Some("app"), false)
            .map(|q| q.iter().any(|m| m.bead == bead))
            .unwrap_or(false)
    });
    assert!(handed, "{bead} was never handed in");
}

/// A file on the origin's `main` (where merged work lands).
fn main_file(origin: &Path, path: &str) -> Option<String> {
    let out = Command::new("git")
        .args([
            "--git-dir",
            origin.to_str().unwrap(),
            "show",
            &format!("main:{path}"),
        ])
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn sling_conflict_rework_merge_and_land() {
    let tt = setup();
    let town = &tt.town;
    install_fake_polecat_agent(town, AGENT);

    // 1. Three beads and a convoy that notifies the mayor.
    let a = create(town, "Shared change A");
    let b = create(town, "Own change B");
    let c = create(town, "Shared change C");
    std::fs::write(town.join("shared-ids.txt"), format!("{a}\n{c}\n")).unwrap();
    let convoy = ok(run(
        GT,
        town,
        town,
        &[
            "--json", "convoy", "create", "feature", &a, &b, &c, "--notify", "mayor",
        ],
    ));
    let convoy_id = convoy["id"].as_str().expect("convoy id").to_string();

    // 2. Sling each to a polecat; each agent commits and runs `gt done`.
    for bead in [&a, &b, &c] {
        sling(town, bead);
    }
    for bead in [&a, &b, &c] {
        wait_handed_in(town, bead);
    }

    // 3. The refinery: two merge, one of the shared changes conflicts.
    ok(run(
        GT,
        town,
        town,
        &["--json", "mq", "process", "--rig", "app"],
    ));
    let s = store(town);
    let status = |id: &str| issues::get(s.conn(), id).unwrap();
    let merged: Vec<&String> = [&a, &b, &c]
        .into_iter()
        .filter(|id| status(id).close_reason.as_deref() == Some("merged"))
        .collect();
    assert_eq!(merged.len(), 2, "two merge first");
    let rejected = [&a, &c]
        .into_iter()
        .find(|id| status(id).status != Status::Closed)
        .expect("one shared change is rejected")
        .clone();
    assert!(
        status(&rejected).notes.contains("MERGE REJECTION"),
        "{:?}",
        status(&rejected).notes
    );
    // The convoy has not landed: one bead is not merged yet.
    assert_ne!(status(&convoy_id).status, Status::Closed);
    drop(s);

    // Rework: sling it again; the new worktree starts from the new main.
    sling(town, &rejected);
    wait_handed_in(town, &rejected);
    ok(run(
        GT,
        town,
        town,
        &["--json", "mq", "process", "--rig", "app"],
    ));

    // 4. The origin's main has all three changes; every bead is closed as merged; the
    // convoy landed and mailed its owner and the notify address.
    let shared = main_file(&tt.origin, "shared.txt").expect("shared.txt on main");
    assert!(shared.contains(&a) && shared.contains(&c), "{shared}");
    assert_eq!(
        main_file(&tt.origin, &format!("{b}.txt")).as_deref(),
        Some(format!("{b}\n").as_str())
    );
    let s = store(town);
    for bead in [&a, &b, &c] {
        let i = issues::get(s.conn(), bead).unwrap();
        assert_eq!(
            (i.status, i.close_reason.as_deref()),
            (Status::Closed, Some("merged")),
            "{bead}"
        );
    }
    let cv = issues::get(s.conn(), &convoy_id).unwrap();
    assert_eq!(
        (cv.status, cv.close_reason.as_deref()),
        (Status::Closed, Some("landed"))
    );
    let mayor = gastown::coord::mail::inbox(s.conn(), "mayor", false, 100).unwrap();
    let mail = serde_json::to_string(&mayor).unwrap();
    assert!(
        mail.contains("feature") && mail.contains("convoy_landed"),
        "{mail}"
    );
    drop(s);

    // 5. The feed (JSON Lines, one event a line) tells the story in order.
    let out = run(GT, town, town, &["--json", "feed"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let kinds: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|e| e["kind"].as_str().map(str::to_string))
        .collect();
    let first = |k: &str| {
        kinds
            .iter()
            .position(|x| x == k)
            .unwrap_or_else(|| panic!("no {k} in {kinds:?}"))
    };
    let last = |k: &str| {
        kinds
            .iter()
            .rposition(|x| x == k)
            .unwrap_or_else(|| panic!("no {k} in {kinds:?}"))
    };
    assert!(first("convoy.created") < first("sling"));
    assert!(first("sling") < first("done"));
    assert!(first("done") < first("mr.merged"));
    assert!(first("mr.rejected") < last("mr.merged"));
    assert!(last("mr.merged") < first("convoy.landed"));
}
