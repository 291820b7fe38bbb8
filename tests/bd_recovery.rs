//! The ledger is recoverable by construction: the database is derived from
//! `issues.jsonl`, and nothing a lost, empty, damaged or stale database does
//! can shrink the JSONL.

mod common;
use common::{git, Bd};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

fn setup(n: usize) -> (tempfile::TempDir, Bd, Vec<String>) {
    let d = tempfile::tempdir().unwrap();
    git(d.path(), &["init", "-q"]);
    let bd = Bd::new(d.path());
    bd.ok(&["init", "--prefix", "rc"]);
    let ids = (0..n)
        .map(|i| bd.id(&["create", &format!("issue {i}")]))
        .collect();
    (d, bd, ids)
}

fn jsonl_ids(dir: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(dir.join(".beads/issues.jsonl")).unwrap_or_default();
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["id"].as_str().unwrap().to_string()
        })
        .collect()
}

fn listed(bd: &Bd, extra: &[&str]) -> BTreeSet<String> {
    let mut args = vec!["list", "--all", "--json"];
    args.extend_from_slice(extra);
    bd.ok(&args)
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

fn rm_db(dir: &Path) {
    for f in std::fs::read_dir(dir.join(".beads")).unwrap() {
        let f = f.unwrap();
        if f.file_name().to_string_lossy().starts_with("beads.db") {
            std::fs::remove_file(f.path()).unwrap();
        }
    }
}

#[test]
fn a_deleted_database_is_rebuilt_and_nothing_is_lost() {
    let (d, bd, ids) = setup(20);
    git(d.path(), &["add", "-A"]);
    git(d.path(), &["commit", "-qm", "ledger"]);
    rm_db(d.path());
    let r = bd.ok(&["list", "--all", "--json"]);
    assert!(r.stderr.contains("rebuilt"), "says so: {}", r.stderr);
    assert_eq!(listed(&bd, &[]), ids.iter().cloned().collect());
    let new = bd.id(&["create", "new"]);
    let all = jsonl_ids(d.path());
    assert_eq!(all.len(), 21, "{all:?}");
    assert!(all.contains(&new));
    bd.ok(&["sync"]);
    let stat = git(d.path(), &["show", "--stat", "--format=", "HEAD"]);
    assert!(!stat.contains("deletion"), "{stat}");
}

#[test]
fn an_empty_database_file_is_rebuilt() {
    let (d, bd, ids) = setup(5);
    rm_db(d.path());
    std::fs::write(d.path().join(".beads/beads.db"), b"").unwrap();
    assert_eq!(listed(&bd, &[]), ids.iter().cloned().collect());
    bd.ok(&["create", "six"]);
    assert_eq!(jsonl_ids(d.path()).len(), 6);
}

#[test]
fn a_damaged_database_is_moved_aside_and_rebuilt() {
    let (d, bd, ids) = setup(5);
    rm_db(d.path());
    std::fs::write(d.path().join(".beads/beads.db"), vec![0x5a; 8192]).unwrap();
    let r = bd.ok(&["list", "--all", "--json"]);
    assert!(r.stderr.contains("damaged"), "{}", r.stderr);
    assert_eq!(listed(&bd, &[]), ids.iter().cloned().collect());
    let kept = std::fs::read_dir(d.path().join(".beads"))
        .unwrap()
        .any(|f| {
            f.unwrap()
                .file_name()
                .to_string_lossy()
                .contains("corrupt-")
        });
    assert!(kept, "the damaged file is kept for inspection");
}

#[test]
fn an_export_never_drops_issues_the_database_lacks() {
    let (d, bd, ids) = setup(3);
    // A database that lost a row behind the store's back (a restored
    // backup, a hand edit): the JSONL still holds the issue.
    let db = d.path().join(".beads/beads.db");
    let o = Command::new("sqlite3")
        .arg(&db)
        .arg(format!("DELETE FROM issues WHERE id = '{}'", ids[0]))
        .output();
    let Ok(o) = o else {
        eprintln!("skipped: sqlite3 is not installed");
        return;
    };
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r = bd.run(&["create", "another"]);
    assert_ne!(r.code, 0, "the export must refuse: {}", r.stdout);
    assert!(
        r.stderr.contains(&ids[0]) && r.stderr.contains("bd import"),
        "{}",
        r.stderr
    );
    assert!(jsonl_ids(d.path()).contains(&ids[0]), "the line survives");
    // The way out named in the message works.
    bd.ok(&["import"]);
    assert!(listed(&bd, &[]).contains(&ids[0]));
    assert_eq!(jsonl_ids(d.path()).len(), 4);
}

#[test]
fn a_crash_between_commit_and_export_is_caught_up_by_a_read() {
    let (d, bd, _ids) = setup(2);
    let db = d.path().join(".beads/beads.db");
    // A committed write whose export never ran (the process died).
    let o = Command::new("sqlite3")
        .arg(&db)
        .arg("INSERT INTO issues (id, title, created_at, updated_at) VALUES ('rc-late', 'late', '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z')")
        .output();
    let Ok(o) = o else {
        eprintln!("skipped: sqlite3 is not installed");
        return;
    };
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!jsonl_ids(d.path()).contains("rc-late"));
    bd.ok(&["list"]);
    assert!(jsonl_ids(d.path()).contains("rc-late"));
}

#[test]
fn a_readonly_store_serves_reads() {
    let (d, bd, ids) = setup(3);
    let all: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(listed(&bd, &["--readonly"]), all);
    bd.ok(&["show", &ids[0], "--readonly"]);
    bd.ok(&["ready", "--readonly"]);
    let r = bd.run(&["create", "x", "--readonly"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("read-only"), "{}", r.stderr);
    // A read-only file system, through a private bind mount.
    let beads = d.path().join(".beads");
    let bin = env!("CARGO_BIN_EXE_bd");
    let script = format!(
        "mount --bind {b} {b} && mount -o remount,bind,ro {b} && cd {dir} && {bin} list --all --json && {bin} stats && {bin} ready",
        b = beads.display(),
        dir = d.path().display()
    );
    let o = Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .output();
    match o {
        Ok(o)
            if String::from_utf8_lossy(&o.stderr).contains("mount:")
                || String::from_utf8_lossy(&o.stderr).contains("unshare:") =>
        {
            eprintln!(
                "skipped the read-only mount half: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        Ok(o) => {
            let out = String::from_utf8_lossy(&o.stdout);
            assert!(
                o.status.success(),
                "{out}\n{}",
                String::from_utf8_lossy(&o.stderr)
            );
            for id in &ids {
                assert!(out.contains(id.as_str()), "{out}");
            }
        }
        Err(e) => eprintln!("skipped the read-only mount half: unshare: {e}"),
    }
}

#[test]
fn gt_run_stops_with_an_error_when_the_store_is_deleted_mid_run() {
    let d = tempfile::tempdir().unwrap();
    let beads = d.path().join(".beads");
    let f = d.path().join("vanish.formula.toml");
    std::fs::write(
        &f,
        format!(
            "formula = \"vanish\"\nversion = 1\n\n[[steps]]\nid = \"a\"\ntitle = \"a\"\nrun = '''rm -rf '{}' '''\n\n[[steps]]\nid = \"b\"\ntitle = \"b\"\nneeds = [\"a\"]\nrun = '''true'''\n",
            beads.display()
        ),
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_gt"))
        .args(["run", f.to_str().unwrap()])
        .current_dir(d.path())
        .env_remove("BEADS_DIR")
        .env_remove("GT_TOWN")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_ne!(
        o.status.code(),
        Some(0),
        "a run whose store vanished must fail: {err}"
    );
    assert!(err.contains("vanished"), "{err}");
    assert!(!beads.exists(), "nothing half-written was recreated");
}
