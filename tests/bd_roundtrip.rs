//! clone -> import -> edit on two branches -> merge -> import.

mod common;
use common::{git, Bd};

fn titles(bd: &Bd) -> serde_json::Value {
    bd.ok(&["list", "--all", "--json"]).json()
}

#[test]
fn clone_edit_on_two_branches_merge_and_import() {
    let root = tempfile::tempdir().unwrap();
    let origin = root.path().join("origin");
    std::fs::create_dir_all(&origin).unwrap();
    git(&origin, &["init", "-q", "-b", "main"]);
    let bd = Bd::new(&origin);
    bd.ok(&["init", "--prefix", "r"]);
    for n in 1..=6 {
        bd.ok(&["create", &format!("issue {n}"), "--id", &format!("r-a{n}")]);
    }
    bd.ok(&["dep", "add", "r-a6", "r-a1"]);
    let r = bd.ok(&["sync", "--json"]).json();
    assert!(r["commit"].is_string());
    assert!(
        bd.ok(&["sync", "--json"]).json()["commit"].is_null(),
        "second sync is a no-op"
    );

    // Two clones; the database is rebuilt from the JSONL on first use.
    let c1 = root.path().join("c1");
    let c2 = root.path().join("c2");
    git(
        root.path(),
        &["clone", "-q", origin.to_str().unwrap(), "c1"],
    );
    git(
        root.path(),
        &["clone", "-q", origin.to_str().unwrap(), "c2"],
    );
    assert!(!c1.join(".beads/beads.db").exists());
    let b1 = Bd::new(&c1);
    let b2 = Bd::new(&c2);
    assert_eq!(titles(&b1).as_array().unwrap().len(), 6);
    let s = b1.ok(&["show", "r-a6", "--json"]).json()[0].clone();
    assert_eq!(s["readiness"]["open_blockers"], 1);

    // Branch 1: new issue at the top, close r-a2.
    git(&c1, &["checkout", "-q", "-b", "b1"]);
    b1.ok(&["create", "from b1", "--id", "r-a0"]);
    b1.ok(&["close", "r-a2", "-r", "done on b1"]);
    b1.ok(&["sync"]);
    // Branch 2: retitle r-a5, delete r-a4, new issue at the end.
    git(&c2, &["checkout", "-q", "-b", "b2"]);
    std::thread::sleep(std::time::Duration::from_millis(5));
    b2.ok(&["update", "r-a5", "--title", "renamed on b2"]);
    b2.ok(&["delete", "r-a4", "--force"]);
    b2.ok(&["create", "from b2", "--id", "r-z9"]);
    b2.ok(&["sync"]);

    // Merge b2 into b1 in clone 1; the next bd command imports the result.
    git(
        &c1,
        &[
            "pull",
            "-q",
            "--no-rebase",
            "--no-edit",
            c2.to_str().unwrap(),
            "b2",
        ],
    );
    let list = titles(&b1);
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        vec!["r-a0", "r-a1", "r-a2", "r-a3", "r-a5", "r-a6", "r-z9"]
    );
    let a2 = b1.ok(&["show", "r-a2", "--json"]).json()[0].clone();
    assert_eq!(a2["status"], "closed");
    assert_eq!(a2["close_reason"], "done on b1");
    assert_eq!(
        b1.ok(&["show", "r-a5", "--json"]).json()[0].clone()["title"],
        "renamed on b2"
    );
    assert_eq!(b1.run(&["show", "r-a4"]).code, 1);
    // The merged file is what the database exports: nothing new to commit.
    let r = b1.ok(&["sync", "--json"]).json();
    assert!(r["commit"].is_null(), "{r}");

    // A conflicting edit of the same issue: the merge driver `bd init`
    // registered merges by id, keeps the newer title and reports it.
    git(&c2, &["checkout", "-q", "b2"]);
    std::thread::sleep(std::time::Duration::from_millis(5));
    b2.ok(&["update", "r-a3", "--title", "c2 title"]);
    b2.ok(&["sync"]);
    b1.ok(&["update", "r-a3", "--title", "c1 title"]);
    b1.ok(&["sync"]);
    let out = std::process::Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "pull",
            "--no-rebase",
            "--no-edit",
        ])
        .arg(&c2)
        .arg("b2")
        .current_dir(&c1)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("beads merge: r-a3: both sides changed title"),
        "{stderr}"
    );
    assert_eq!(
        b1.ok(&["show", "r-a3", "--json"]).json()[0].clone()["title"],
        "c1 title"
    );
    let text = std::fs::read_to_string(c1.join(".beads/issues.jsonl")).unwrap();
    assert!(text.contains("c1 title") && !text.contains("c2 title"));
    assert!(!text.contains("<<<<<<<"));
    assert!(text.contains("r-z9"));
}
