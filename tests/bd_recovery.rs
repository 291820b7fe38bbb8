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

/// Run `op`, then tear the file as a crash would have (`tear` gets the old
/// and new bytes and where they first differ), and make `export-state.json`
/// say what the crashed process had recorded (`state` edits the pre-write
/// state).
fn crash_mid_write(
    bd: &Bd,
    dir: &Path,
    op: &[&str],
    tear: impl Fn(&[u8], &[u8], usize) -> Vec<u8>,
    state: impl Fn(&mut serde_json::Value),
) {
    let jsonl = dir.join(".beads/issues.jsonl");
    let state_path = dir.join(".beads/export-state.json");
    let old = std::fs::read(&jsonl).unwrap();
    let mut before: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state_path).unwrap()).unwrap();
    bd.ok(op);
    let new = std::fs::read(&jsonl).unwrap();
    let first = old.iter().zip(&new).take_while(|(a, b)| a == b).count();
    std::fs::write(&jsonl, tear(&old, &new, first)).unwrap();
    state(&mut before);
    std::fs::write(&state_path, before.to_string()).unwrap();
}

/// The file is whole, sorted, and holds exactly what the database holds.
fn assert_whole(bd: &Bd, dir: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(dir.join(".beads/issues.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: Vec<String> = lines
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(ids, sorted, "sorted, each id once");
    assert_eq!(
        ids.into_iter().collect::<BTreeSet<_>>(),
        listed(bd, &[]),
        "the file holds what the database holds"
    );
    lines
}

#[test]
fn a_crash_during_the_in_place_write_is_repaired_by_the_next_command() {
    let (d, bd, ids) = setup(30);
    let mut sorted = ids.clone();
    sorted.sort();
    let victim = &sorted[10];
    // The in-place write streams forward: the new bytes up to where it
    // stopped, the old ones after.
    let stopped = |old: &[u8], new: &[u8], first: usize| {
        let cut = first + 5;
        let mut torn = new[..cut].to_vec();
        torn.extend_from_slice(&old[cut.min(old.len())..]);
        torn
    };
    crash_mid_write(&bd, d.path(), &["close", victim], stopped, |s| {
        s["writing"] = true.into()
    });
    let out = bd.ok(&["list", "--all", "--json"]);
    assert!(
        out.stderr.contains("was being written when bd stopped"),
        "the repair says so: {}",
        out.stderr
    );
    let lines = assert_whole(&bd, d.path());
    let closed = lines.iter().find(|v| v["id"] == victim.as_str()).unwrap();
    assert_eq!(closed["status"], "closed", "the committed close is kept");
    // The file is trusted again: the next write splices as usual.
    bd.ok(&["close", &sorted[20]]);
    assert_whole(&bd, d.path());
}

#[test]
fn a_restart_before_the_file_reached_the_disk_is_repaired() {
    let (d, bd, ids) = setup(30);
    let mut sorted = ids.clone();
    sorted.sort();
    // The write finished, but the machine went down before the page cache
    // was written back: the state says another boot, and a stretch of the
    // file never reached the disk (zeros).
    let lost = |_: &[u8], new: &[u8], first: usize| {
        let mut torn = new.to_vec();
        torn[first + 5..first + 25].fill(0);
        torn
    };
    crash_mid_write(&bd, d.path(), &["create", "after the restart"], lost, |s| {
        s["boot"] = "an-earlier-boot".into()
    });
    bd.ok(&["list"]);
    let lines = assert_whole(&bd, d.path());
    assert!(lines.iter().any(|v| v["title"] == "after the restart"));
    assert_eq!(lines.len(), 31);
}

/// `bd sync --status` compares the file with the database only between
/// writes: while an export holds the lock (an in-place write under way), it
/// waits instead of reading a half-moved tail and reporting drift.
#[test]
fn sync_status_waits_for_a_write_in_progress() {
    use fs4::fs_std::FileExt;
    let (d, bd, _) = setup(3);
    let lock = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(d.path().join(".beads/export.lock"))
        .unwrap();
    lock.lock_exclusive().unwrap();
    let mut child = bd
        .command(&["sync", "--status", "--json"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let early = child.try_wait().unwrap();
    FileExt::unlock(&lock).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        early.is_none(),
        "bd sync --status read issues.jsonl while an export held the lock"
    );
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["exported"], true, "{v}");
}
