//! `bd` end to end: issues, rules, exit codes, JSON, molecules.

mod common;
use common::{Bd, DEMO_PROTO};

fn setup() -> (tempfile::TempDir, Bd) {
    let d = tempfile::tempdir().unwrap();
    let bd = Bd::new(d.path());
    bd.ok(&["init", "--prefix", "tt"]);
    (d, bd)
}

#[test]
fn issue_lifecycle_and_rules() {
    let (_d, bd) = setup();
    let a = bd.id(&[
        "create", "A", "-t", "bug", "-p", "1", "-d", "desc", "-l", "x,y",
    ]);
    let b = bd.id(&["create", "B", "--deps", &a]);
    let c = bd.id(&["create", "C", "--parent", &b]);
    let ready: Vec<String> = bd
        .ok(&["ready", "--json"])
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ready, vec![a.clone()]);
    // show --json carries readiness and deps.
    let s = bd.ok(&["show", &b, "--json"]).json()[0].clone();
    assert_eq!(s["readiness"]["open_blockers"], 1);
    assert_eq!(s["dependencies"][0]["id"], a.as_str());
    // list filters.
    let l = bd.ok(&["list", "--label", "x", "--json"]).json();
    assert_eq!(l.as_array().unwrap().len(), 1);
    let l = bd.ok(&["list", "--parent", &b, "--json"]).json();
    assert_eq!(l[0]["id"], c.as_str());
    let l = bd
        .ok(&["list", "--type", "bug", "--status", "open", "--json"])
        .json();
    assert_eq!(l[0]["id"], a.as_str());
    // Close several, idempotently.
    let r = bd.ok(&["close", &a, "--reason", "fixed", "--json"]).json();
    assert_eq!(r[0]["outcome"], "closed");
    let r = bd.ok(&["close", &a]);
    assert!(r.stdout.contains("already closed"), "{}", r.stdout);
    let ready = bd.ok(&["ready", "--json"]).json();
    assert_eq!(ready.as_array().unwrap().len(), 2, "{ready}");
    bd.ok(&["reopen", &a]);
    assert_eq!(
        bd.ok(&["ready", "--json"]).json().as_array().unwrap().len(),
        1
    );
    // Notes append, priority, title.
    bd.ok(&["update", &a, "--notes", "one", "--title", "A2", "-p", "0"]);
    bd.ok(&["update", &a, "--append-notes", "two"]);
    let s = bd.ok(&["show", &a, "--json"]).json()[0].clone();
    assert_eq!(s["notes"], "one\ntwo");
    assert_eq!(s["title"], "A2");
    assert_eq!(s["priority"], 0);
    // Labels, comments, search, stats, events.
    bd.ok(&["label", "add", &a, "z"]);
    bd.ok(&["label", "remove", &a, "x"]);
    assert_eq!(
        bd.ok(&["show", &a, "--json"]).json()[0].clone()["labels"],
        serde_json::json!(["y", "z"])
    );
    bd.ok(&["comment", &a, "looks good"]);
    assert_eq!(
        bd.ok(&["comment", &a, "--json"]).json()[0]["text"],
        "looks good"
    );
    assert_eq!(
        bd.ok(&["search", "A2", "--json"]).json()[0]["id"],
        a.as_str()
    );
    assert_eq!(bd.ok(&["stats", "--json"]).json()["total"], 3);
    let ev = bd.ok(&["events", &a, "--json"]).json();
    assert!(ev
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "closed" && e["actor"] == "tester"));
    // Dep tree and cycle refusal.
    let t = bd.ok(&["dep", "tree", &c, "--json"]).json();
    assert_eq!(t["children"][0]["id"], b.as_str());
    let r = bd.run(&["dep", "add", &a, &c]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains(&format!("{a} -> {c} -> {b} -> {a}")),
        "{}",
        r.stderr
    );
    bd.ok(&["dep", "remove", &b, &a]);
    assert_eq!(
        bd.ok(&["show", &b, "--json"]).json()[0].clone()["readiness"]["open_blockers"],
        0
    );
}

#[test]
fn errors_name_the_problem_and_the_fix() {
    let (_d, bd) = setup();
    let a = bd.id(&["create", "A"]);
    let r = bd.run(&["show", &format!("{a}q")]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("did you mean") && r.stderr.contains(&a),
        "{}",
        r.stderr
    );
    let r = bd.run(&["update", &a, "--status", "finished"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("in_progress") && r.stderr.contains("deferred"),
        "{}",
        r.stderr
    );
    let r = bd.run(&["create", "x", "-t", "story"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("merge-request"), "{}", r.stderr);
    let r = bd.run(&["create", "x", "-p", "7"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("0, 1, 2, 3, 4"), "{}", r.stderr);
    let r = bd.run(&["frobnicate"]);
    assert_eq!(r.code, 2);
    let r = bd.run(&["show", "nope", "--json"]);
    assert_eq!(r.code, 1);
    assert!(r.json()["error"].as_str().unwrap().contains("nope"));
    // No store.
    let empty = tempfile::tempdir().unwrap();
    let r = Bd::new(empty.path()).run(&["ready"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("bd init"), "{}", r.stderr);
}

#[test]
fn claim_is_atomic_and_says_who_won() {
    let (_d, mut bd) = setup();
    let a = bd.id(&["create", "A"]);
    bd.actor = "alice".into();
    assert!(bd.ok(&["update", &a, "--claim"]).stdout.contains("Claimed"));
    bd.actor = "bob".into();
    let r = bd.run(&["update", &a, "--claim"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("assigned to alice"), "{}", r.stderr);
    let s = bd.ok(&["show", &a, "--json"]).json()[0].clone();
    assert_eq!(s["status"], "in_progress");
    assert_eq!(s["assignee"], "alice");
}

#[test]
fn store_is_found_through_env_and_parents() {
    let (d, bd) = setup();
    let a = bd.id(&["create", "A"]);
    let sub = d.path().join("x/y");
    std::fs::create_dir_all(&sub).unwrap();
    assert!(Bd::new(&sub).ok(&["show", &a]).stdout.contains("A"));
    let other = tempfile::tempdir().unwrap();
    let r = std::process::Command::new(env!("CARGO_BIN_EXE_bd"))
        .args(["show", &a])
        .current_dir(other.path())
        .env("BEADS_DIR", d.path().join(".beads"))
        .output()
        .unwrap();
    assert!(r.status.success());
    let r = std::process::Command::new(env!("CARGO_BIN_EXE_bd"))
        .args(["show", &a])
        .current_dir(other.path())
        .env_remove("BEADS_DIR")
        .env("GT_TOWN", d.path())
        .output()
        .unwrap();
    assert!(r.status.success());
}

fn ids(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn pour_and_walk_a_molecule() {
    let (d, bd) = setup();
    std::fs::write(d.path().join("demo.json"), DEMO_PROTO).unwrap();
    // Missing required var: clear error, nothing written.
    let r = bd.run(&["mol", "pour", "demo.json"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("feature") && r.stderr.contains("--var feature="),
        "{}",
        r.stderr
    );
    let r = bd.run(&[
        "mol",
        "pour",
        "demo.json",
        "--var",
        "feature=x",
        "--var",
        "env=qa",
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("dev, prod"), "{}", r.stderr);
    assert_eq!(bd.ok(&["stats", "--json"]).json()["total"], 0);
    // Dry run writes nothing.
    let dry = bd
        .ok(&[
            "mol",
            "pour",
            "demo.json",
            "--var",
            "feature=login",
            "--dry-run",
            "--json",
        ])
        .json();
    assert_eq!(dry["created"], 7);
    assert_eq!(bd.ok(&["stats", "--json"]).json()["total"], 0);
    let p = bd
        .ok(&[
            "mol",
            "pour",
            "demo.json",
            "--var",
            "feature=login",
            "--assignee",
            "mayor",
            "--json",
        ])
        .json();
    let root = p["new_epic_id"].as_str().unwrap().to_string();
    assert_eq!(p["created"], 7);
    assert_eq!(
        p["id_mapping"]["mol-demo.implement.draft"],
        format!("{root}.implement.draft")
    );
    let r = bd.ok(&["show", &root, "--json"]).json()[0].clone();
    assert_eq!(r["title"], "Demo login");
    assert_eq!(r["issue_type"], "molecule");
    assert_eq!(r["assignee"], "mayor");
    assert_eq!(r["metadata"]["formula"], "mol-demo");
    assert_eq!(r["metadata"]["vars"]["feature"], "login");
    assert_eq!(r["metadata"]["vars"]["env"], "dev");
    assert_eq!(r["metadata"]["proto_hash"].as_str().unwrap().len(), 64);
    let gate = bd
        .ok(&["show", &format!("{root}.gate-ci"), "--json"])
        .json()[0]
        .clone();
    assert_eq!(gate["issue_type"], "gate");
    assert_eq!(gate["metadata"]["step"]["gate"]["await_id"], "ci-login");
    let draft = bd
        .ok(&["show", &format!("{root}.implement.draft"), "--json"])
        .json()[0]
        .clone();
    assert_eq!(draft["metadata"]["step"]["run"], "echo login");
    assert_eq!(
        bd.ok(&["show", &format!("{root}.ship"), "--json"]).json()[0].clone()["title"],
        "Ship to dev"
    );

    let cur = bd.ok(&["mol", "current", &root, "--json"]).json();
    assert_eq!(cur["next_step"]["id"], format!("{root}.design"));
    assert_eq!(cur["counts"]["total"], 6);
    let step = |p: &str| format!("{root}.{p}");
    // implement's children wait for design through their parent.
    let ready = ids(&bd.ok(&["ready", "--limit", "0", "--json"]).json());
    assert!(ready.contains(&step("design")) && !ready.contains(&step("implement.draft")));
    bd.ok(&["close", &step("design")]);
    let cur = bd.ok(&["mol", "current", &root, "--json"]).json();
    assert_eq!(cur["next_step"]["id"], step("implement.draft"));
    bd.ok(&["close", &step("implement.draft"), &step("implement.review")]);
    // ship waits for the CI gate.
    let ready = ids(&bd.ok(&["ready", "--limit", "0", "--json"]).json());
    assert!(!ready.contains(&step("ship")), "{ready:?}");
    bd.ok(&["close", &step("gate-ci")]);
    let ready = ids(&bd.ok(&["ready", "--limit", "0", "--json"]).json());
    assert!(ready.contains(&step("ship")), "{ready:?}");
    let prog = bd.ok(&["mol", "progress", &root, "--json"]).json();
    assert_eq!(prog["counts"]["done"], 4);
    assert!(bd.ok(&["mol", "show", &root]).stdout.contains("[x]"));
    // Poured issues are exported; burn removes them (tombstones).
    let jsonl = std::fs::read_to_string(d.path().join(".beads/issues.jsonl")).unwrap();
    assert!(jsonl.contains(&step("implement.draft")));
    bd.ok(&["mol", "burn", &root]);
    assert_eq!(bd.ok(&["stats", "--json"]).json()["total"], 0);
    let jsonl = std::fs::read_to_string(d.path().join(".beads/issues.jsonl")).unwrap();
    assert!(jsonl.lines().all(|l| l.contains("\"tombstone\":true")));
}

#[test]
fn wisps_are_ephemeral_then_squashed_or_collected() {
    let (d, bd) = setup();
    std::fs::write(d.path().join("demo.json"), DEMO_PROTO).unwrap();
    let w = bd
        .ok(&["mol", "wisp", "demo.json", "--var", "feature=w", "--json"])
        .json();
    let root = w["new_epic_id"].as_str().unwrap().to_string();
    assert_eq!(w["phase"], "vapor");
    assert!(bd
        .ok(&["ready", "--json"])
        .json()
        .as_array()
        .unwrap()
        .is_empty());
    let jsonl = std::fs::read_to_string(d.path().join(".beads/issues.jsonl")).unwrap_or_default();
    assert!(!jsonl.contains(&root));
    // mol current works inside wisps.
    let cur = bd.ok(&["mol", "current", &root, "--json"]).json();
    assert_eq!(cur["next_step"]["id"], format!("{root}.design"));
    assert_eq!(
        bd.ok(&["mol", "wisp", "list", "--json"]).json()[0]["root"]["id"],
        root.as_str()
    );
    // Squash: a permanent closed digest replaces the wisp steps.
    bd.ok(&["close", &format!("{root}.design")]);
    let s = bd.ok(&["mol", "squash", &root, "--json"]).json();
    assert_eq!(s["squashed"], 6);
    let digest = s["digest"].as_str().unwrap().to_string();
    let dj = bd.ok(&["show", &digest, "--json"]).json()[0].clone();
    assert_eq!(dj["status"], "closed");
    assert!(dj["description"].as_str().unwrap().contains("[x] Design w"));
    let jsonl = std::fs::read_to_string(d.path().join(".beads/issues.jsonl")).unwrap();
    assert!(jsonl.contains(&digest) && jsonl.contains(&format!("\"{root}\"")));
    // gc: a fresh open wisp is kept at 1h, collected at 0s.
    let w2 = bd
        .ok(&["mol", "wisp", "demo.json", "--var", "feature=v", "--json"])
        .json();
    let r2 = w2["new_epic_id"].as_str().unwrap().to_string();
    assert_eq!(
        bd.ok(&["mol", "wisp", "gc", "--json"]).json()["deleted_issues"],
        0
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let g = bd
        .ok(&["mol", "wisp", "gc", "--age", "0s", "--json"])
        .json();
    assert_eq!(g["deleted_molecules"][0], r2.as_str());
    assert_eq!(bd.run(&["show", &r2]).code, 1);
}

#[test]
fn bond_molecules_and_protos() {
    let (d, bd) = setup();
    std::fs::write(d.path().join("demo.json"), DEMO_PROTO).unwrap();
    let a = bd
        .ok(&["mol", "pour", "demo.json", "--var", "feature=a", "--json"])
        .json()["new_epic_id"]
        .as_str()
        .unwrap()
        .to_string();
    let b = bd
        .ok(&["mol", "pour", "demo.json", "--var", "feature=b", "--json"])
        .json()["new_epic_id"]
        .as_str()
        .unwrap()
        .to_string();
    // mol + mol, sequential: B waits for A.
    bd.ok(&["mol", "bond", &a, &b]);
    let s = bd.ok(&["show", &b, "--json"]).json()[0].clone();
    assert_eq!(s["dependencies"][0]["id"], a.as_str());
    assert_eq!(s["dependencies"][0]["dependency_type"], "blocks");
    let ready = ids(&bd.ok(&["ready", "--limit", "0", "--json"]).json());
    assert!(!ready.contains(&format!("{b}.design")));
    // proto + mol, parallel: the new root becomes a child of A.
    let r = bd
        .ok(&[
            "mol",
            "bond",
            &a,
            "demo.json",
            "--type",
            "parallel",
            "--var",
            "feature=c",
            "--json",
        ])
        .json();
    let c = r["from"].as_str().unwrap();
    assert_eq!(r["poured"]["created"], 7);
    let s = bd.ok(&["show", c, "--json"]).json()[0].clone();
    assert_eq!(s["dependencies"][0]["dependency_type"], "parent-child");
    // Cycles are refused.
    let r = bd.run(&["mol", "bond", &b, &a]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("cycle"), "{}", r.stderr);
    let r = bd.run(&["mol", "bond", &a, &b, "--type", "diagonal"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("sequential, parallel, conditional"),
        "{}",
        r.stderr
    );
}

#[test]
fn gt_pour_and_wisp_are_aliases() {
    let (d, _bd) = setup();
    std::fs::write(d.path().join("demo.json"), DEMO_PROTO).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gt"))
        .args(["pour", "demo.json", "--var", "feature=g", "--json"])
        .current_dir(d.path())
        .env_remove("BEADS_DIR")
        .env_remove("GT_TOWN")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["phase"], "liquid");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gt"))
        .args(["wisp", "demo.json", "--var", "feature=g", "--json"])
        .current_dir(d.path())
        .env_remove("BEADS_DIR")
        .env_remove("GT_TOWN")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["phase"], "vapor");
}

#[test]
fn hostile_bead_ids_are_refused_at_create_and_import() {
    let (d, bd) = setup();
    for id in ["../../../x", "a/b", "x.lock", ".hidden", "a..b", "x y"] {
        let r = bd.run(&["create", "T", "--id", id]);
        assert_eq!(r.code, 2, "--id {id:?} accepted: {}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains("bead id"), "{}", r.stderr);
    }
    assert!(!d.path().join("x").exists());
    // A JSONL pulled from git with a hostile id is refused, naming the line.
    let good = bd.id(&["create", "Good"]);
    let jsonl = d.path().join(".beads/issues.jsonl");
    let mut text = std::fs::read_to_string(&jsonl).unwrap();
    text.push_str(&text.replace(&good, "../../evil"));
    std::fs::write(&jsonl, text).unwrap();
    let r = bd.run(&["list", "--json"]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stderr.contains(":2:") && r.stderr.contains("path separator"),
        "{}",
        r.stderr
    );
}

#[test]
fn delete_previews_until_forced() {
    let (_d, bd) = setup();
    let a = bd.id(&["create", "Keep me"]);
    let b = bd.id(&["create", "Blocked", "--deps", &a]);
    // Without --force: a preview naming the issue and the link, nothing deleted.
    let p = bd.ok(&["delete", &a]);
    assert!(p.stdout.contains("Would delete"), "{}", p.stdout);
    assert!(
        p.stdout.contains(&format!("{b} blocks {a}")),
        "{}",
        p.stdout
    );
    assert!(p.stdout.contains("--force"), "{}", p.stdout);
    let j = bd.ok(&["delete", &a, "--json"]).json();
    assert_eq!(j["preview"], true);
    assert_eq!(j["dependencies_removed"][0]["depends_on_id"], a.as_str());
    bd.ok(&["show", &a]);
    // --dry-run wins over --force.
    bd.ok(&["delete", &a, "--force", "--dry-run"]);
    bd.ok(&["show", &a]);
    // --force deletes.
    bd.ok(&["delete", &a, "--force"]);
    assert_ne!(bd.run(&["show", &a]).code, 0);
}
