//! Fault injection: `bd` is SIGKILLed at random points of pour, create (its
//! export) and sync. After each kill the next command must find the
//! database and `issues.jsonl` holding the same issues, and git history must
//! have lost nothing.

mod common;
use common::{git, Bd, DEMO_PROTO};
use rand::{Rng, SeedableRng};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ROUNDS: usize = 80;
const MIN_KILLS: usize = 50;

fn jsonl_ids(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.contains("\"tombstone\":true"))
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["id"].as_str().unwrap().to_string()
        })
        .collect()
}

fn db_ids(bd: &Bd) -> BTreeSet<String> {
    let r = bd.ok(&["list", "--json"]);
    r.json()
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

fn head_ids(dir: &Path) -> BTreeSet<String> {
    let o = Command::new("git")
        .args(["show", "HEAD:.beads/issues.jsonl"])
        .current_dir(dir)
        .output()
        .unwrap();
    jsonl_ids(&String::from_utf8_lossy(&o.stdout))
}

#[test]
fn killed_pours_exports_and_syncs_lose_nothing() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    git(dir, &["init", "-q"]);
    git(dir, &["config", "user.name", "k"]);
    git(dir, &["config", "user.email", "k@example.com"]);
    let bd = Bd::new(dir);
    bd.ok(&["init", "--prefix", "fi"]);
    std::fs::write(dir.join("demo.json"), DEMO_PROTO).unwrap();
    for i in 0..20 {
        bd.ok(&["create", &format!("seed {i}")]);
    }
    bd.ok(&["sync"]);
    let ops: [&[&str]; 3] = [
        &["mol", "pour", "demo.json", "--var", "feature=f"],
        &["create", "killed maybe"],
        &["sync", "-m", "fault round"],
    ];
    // How long each op takes here, so that kills land inside it.
    let took: Vec<Duration> = ops
        .iter()
        .map(|op| {
            let t = Instant::now();
            bd.ok(op);
            t.elapsed()
        })
        .collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let (mut kills, mut commits) = (0, git(dir, &["rev-list", "--count", "HEAD"]));
    let mut committed = head_ids(dir);
    let started = Instant::now();
    for round in 0..ROUNDS {
        let k = round % ops.len();
        let mut child = Command::new(env!("CARGO_BIN_EXE_bd"))
            .args(ops[k])
            .current_dir(dir)
            .env("BD_ACTOR", "k")
            .env_remove("BEADS_DIR")
            .env_remove("GT_TOWN")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let max = took[k].as_micros().max(2_000) as u64;
        std::thread::sleep(Duration::from_micros(rng.gen_range(0..max)));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            kills += 1;
        }
        child.wait().unwrap();
        // The next command (a read) catches up; then both sides agree.
        let in_db = db_ids(&bd);
        let text = std::fs::read_to_string(dir.join(".beads/issues.jsonl")).unwrap();
        assert_eq!(in_db, jsonl_ids(&text), "round {round} ({:?})", ops[k]);
        // Git history lost nothing: HEAD only grows, every committed issue
        // is still in the ledger.
        let now = git(dir, &["rev-list", "--count", "HEAD"]);
        assert!(
            now.trim().parse::<u64>().unwrap() >= commits.trim().parse::<u64>().unwrap(),
            "round {round}: history shrank"
        );
        commits = now;
        let head = head_ids(dir);
        assert!(
            committed.is_subset(&head),
            "round {round}: a commit lost issues"
        );
        assert!(
            head.is_subset(&in_db),
            "round {round}: committed issues missing"
        );
        committed = head;
    }
    // A final sync commits everything that survived.
    bd.ok(&["sync"]);
    assert_eq!(head_ids(dir), db_ids(&bd));
    eprintln!(
        "fault injection: {kills} kills in {ROUNDS} rounds, {:.1} s; DB, JSONL and git agreed after each",
        started.elapsed().as_secs_f64()
    );
    assert!(kills >= MIN_KILLS, "only {kills} kills landed");
}
