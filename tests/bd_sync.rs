//! `bd sync` round trips through a bare origin, and plain `git merge`
//! merges ledgers by issue id through the driver `bd init` registers.

mod common;
use common::{git, Bd};
use std::path::{Path, PathBuf};
use std::process::Command;

fn user(dir: &Path, name: &str) {
    git(dir, &["config", "user.name", name]);
    git(
        dir,
        &["config", "user.email", &format!("{name}@example.com")],
    );
}

fn bd_at(dir: &Path, actor: &str) -> Bd {
    let mut bd = Bd::new(dir);
    bd.actor = actor.into();
    bd
}

/// A bare origin holding a ledger with two issues, and two clones of it.
fn two_clones() -> (tempfile::TempDir, PathBuf, PathBuf, String, String) {
    let t = tempfile::tempdir().unwrap();
    git(
        t.path(),
        &["init", "-q", "--bare", "-b", "main", "origin.git"],
    );
    git(t.path(), &["clone", "-q", "origin.git", "a"]);
    let a = t.path().join("a");
    user(&a, "alice");
    git(&a, &["checkout", "-q", "-b", "main"]);
    let bda = bd_at(&a, "alice");
    bda.ok(&["init", "--prefix", "sy"]);
    let x = bda.id(&["create", "X"]);
    let y = bda.id(&["create", "Y"]);
    let r = bda.ok(&["sync", "--json"]).json();
    assert_eq!(r["pushed"], true, "{r}");
    git(t.path(), &["clone", "-q", "origin.git", "b"]);
    let b = t.path().join("b");
    user(&b, "bob");
    (t, a, b, x, y)
}

fn issue(bd: &Bd, id: &str) -> serde_json::Value {
    bd.ok(&["show", id, "--json", "--include-comments"]).json()[0].clone()
}

fn jsonl(dir: &Path) -> String {
    std::fs::read_to_string(dir.join(".beads/issues.jsonl")).unwrap()
}

#[test]
fn concurrent_edits_on_two_clones_all_survive_bd_sync() {
    let (_t, a, b, x, y) = two_clones();
    let (bda, bdb) = (bd_at(&a, "alice"), bd_at(&b, "bob"));
    // A fresh clone builds its database from the JSONL.
    assert_eq!(issue(&bdb, &x)["title"], "X");
    bda.ok(&["close", &x, "--reason", "done"]);
    bda.ok(&["update", &y, "--title", "Y by alice"]);
    bdb.ok(&["update", &y, "-p", "0"]);
    bdb.ok(&["comment", &x, "bob was here"]);
    let z = bdb.id(&["create", "Z"]);
    // Both sync at once: the lock and the push retry sort out the race.
    let ta = std::thread::spawn(move || bda.run(&["sync", "--json"]));
    let tb = std::thread::spawn(move || bdb.run(&["sync", "--json"]));
    for r in [ta.join().unwrap(), tb.join().unwrap()] {
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    }
    let (bda, bdb) = (bd_at(&a, "alice"), bd_at(&b, "bob"));
    bda.ok(&["sync"]);
    bdb.ok(&["sync"]);
    for bd in [&bda, &bdb] {
        let xi = issue(bd, &x);
        assert_eq!(xi["status"], "closed", "{xi}");
        assert_eq!(xi["comments"][0]["text"], "bob was here", "{xi}");
        let yi = issue(bd, &y);
        assert_eq!(yi["title"], "Y by alice", "{yi}");
        assert_eq!(yi["priority"], 0, "{yi}");
        assert_eq!(issue(bd, &z)["title"], "Z");
    }
    assert_eq!(jsonl(&a), jsonl(&b));
    // Commits carry the user's git identity, not a made-up address.
    let authors = git(&a, &["log", "--format=%ae", "-n", "20"]);
    assert!(
        authors.contains("alice@example.com") && authors.contains("bob@example.com"),
        "{authors}"
    );
    assert!(!authors.contains("beads.local"), "{authors}");
}

#[test]
fn plain_git_pull_merges_ledgers_by_id() {
    let (_t, a, b, _x, y) = two_clones();
    let (bda, bdb) = (bd_at(&a, "alice"), bd_at(&b, "bob"));
    // Edits of one line on both sides: line-based git would conflict.
    bda.ok(&["update", &y, "--title", "title from a"]);
    bda.ok(&["sync", "--local"]);
    git(&a, &["push", "-q", "origin", "main"]);
    bdb.ok(&["update", &y, "--notes", "notes from b"]);
    bdb.ok(&["sync", "--local"]);
    // `bd init` registered `bd merge-driver`; git finds bd on PATH.
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_bd")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let o = Command::new("git")
        .args(["pull", "--no-rebase", "--no-edit", "origin", "main"])
        .current_dir(&b)
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = jsonl(&b);
    assert!(!text.contains("<<<<<<<"), "{text}");
    let yi = issue(&bdb, &y);
    assert_eq!(yi["title"], "title from a", "{yi}");
    assert_eq!(yi["notes"], "notes from b", "{yi}");
}

#[test]
fn sync_without_a_remote_commits_locally() {
    let d = tempfile::tempdir().unwrap();
    git(d.path(), &["init", "-q"]);
    user(d.path(), "carol");
    let bd = bd_at(d.path(), "carol");
    bd.ok(&["init"]);
    bd.id(&["create", "one"]);
    let r = bd.ok(&["sync"]);
    assert!(r.stdout.contains("locally"), "{}", r.stdout);
    let log = git(d.path(), &["log", "--format=%an <%ae>"]);
    assert!(log.contains("carol <carol@example.com>"), "{log}");
}
