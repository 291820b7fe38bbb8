//! Many `bd` processes doing mixed operations on one store: nothing fails
//! with "database is locked", no update is lost, claims are exclusive, and
//! `issues.jsonl` (written in place by each of them) ends equal to a full
//! render of the database.

use std::collections::BTreeMap;
use std::process::Command;

const SHARED: usize = 5;
const POOL: usize = 40;

#[test]
fn sixteen_processes_mixed_operations() {
    mixed_operations(16, 200);
}

/// The reliability issue's figure: 1,920 operations from 64 processes.
#[test]
fn sixty_four_processes_mixed_operations() {
    mixed_operations(64, 30);
}

fn mixed_operations(workers: usize, ops: usize) {
    let bd = env!("CARGO_BIN_EXE_bd");
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(bd)
            .args(args)
            .current_dir(dir.path())
            .env_remove("BEADS_DIR")
            .env_remove("GT_TOWN")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&["init", "--prefix", "c"]);
    for j in 0..SHARED {
        run(&["create", &format!("shared {j}"), "--id", &format!("c-s{j}")]);
    }
    for j in 0..POOL {
        run(&["create", &format!("pool {j}"), "--id", &format!("c-p{j}")]);
    }
    let mut children = Vec::new();
    for w in 0..workers {
        let mut script = String::new();
        for k in 0..ops {
            let line = match k % 4 {
                0 => format!("\"$BD\" create 'w{w} k{k}' --id c-w{w}k{k} -p {}", k % 5),
                1 => format!(
                    "\"$BD\" update c-s{} --append-notes 'w{w}-k{k};'",
                    k % SHARED
                ),
                2 => format!("\"$BD\" update c-p{} --claim", (w * 7 + k) % POOL),
                _ => format!("\"$BD\" close c-w{w}k{} -r done", k - 3),
            };
            script += &line;
            script += " || echo \"FAILED($?): ";
            script += &line.replace(['"', '\''], "");
            script += "\" >&2\n";
        }
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .env("BD", bd)
            .env("BD_ACTOR", format!("w{w}"))
            .env_remove("BEADS_DIR")
            .env_remove("GT_TOWN")
            .current_dir(dir.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        children.push(child);
    }
    let mut claims: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (w, c) in children.into_iter().enumerate() {
        let out = c.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("locked") && !stderr.contains("busy"),
            "worker {w}: {stderr}"
        );
        for l in stderr.lines().filter(|l| l.starts_with("FAILED")) {
            assert!(
                l.contains("--claim"),
                "worker {w}: only claims may fail: {l}\n{stderr}"
            );
        }
        for l in stderr.lines().filter(|l| l.starts_with("error:")) {
            assert!(l.contains("cannot claim"), "worker {w}: {l}");
        }
        for l in stdout.lines() {
            if let Some(id) = l.strip_prefix("Claimed ") {
                claims.entry(id.trim().to_string()).or_default().push(w);
            }
        }
    }
    // Check the final state through the library.
    let s = gastown::store::Store::open(&dir.path().join(".beads")).unwrap();
    let c = s.conn();
    for j in 0..SHARED {
        let notes = gastown::store::issues::get(c, &format!("c-s{j}"))
            .unwrap()
            .notes;
        for w in 0..workers {
            for k in (1..ops).step_by(4).filter(|k| k % SHARED == j) {
                assert!(
                    notes.contains(&format!("w{w}-k{k};")),
                    "lost update w{w}-k{k} on c-s{j}"
                );
            }
        }
    }
    for (id, winners) in &claims {
        assert_eq!(winners.len(), 1, "{id} claimed by {winners:?}");
        let i = gastown::store::issues::get(c, id).unwrap();
        assert_eq!(i.assignee, Some(format!("w{}", winners[0])));
    }
    assert_eq!(claims.len(), POOL, "every pool issue was claimed once");
    for w in 0..workers {
        for k in (0..ops).step_by(4) {
            let i = gastown::store::issues::get(c, &format!("c-w{w}k{k}")).unwrap();
            let closed = k + 3 < ops;
            assert_eq!(
                i.status == gastown::store::Status::Closed,
                closed,
                "{}",
                i.id
            );
        }
    }
    // The export reflects the final state.
    let text = std::fs::read_to_string(dir.path().join(".beads/issues.jsonl")).unwrap();
    assert_eq!(
        text.lines().count(),
        SHARED + POOL + workers * ops.div_ceil(4)
    );
    assert_eq!(text, gastown::store::jsonl::render(c).unwrap());
}
