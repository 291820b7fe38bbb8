//! Runtime benchmarks (a plain bench binary, `cargo bench --bench runtime`):
//! 1. dispatch throughput: a 1,000-step no-op molecule, `gt run --jobs 16`;
//! 2. supervisor RSS while 100 agents sleep concurrently (`--jobs 100`);
//! 3. fan-in: closing the n blockers of one step, n = 2k/4k/8k (the cost per
//!    close must stay flat: counters move by one, nothing is recounted).
//!
//! `benches/peers.sh` compares whole runs with ninja and make.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const GT: &str = env!("CARGO_BIN_EXE_gt");

fn formula(dir: &Path, name: &str, n: usize, run: &str) -> String {
    let mut s = format!("formula = \"{name}\"\ntype = \"workflow\"\nversion = 1\n");
    for i in 0..n {
        s += &format!("\n[[steps]]\nid = \"s{i}\"\ntitle = \"Step {i}\"\nrun = \"{run}\"\n");
    }
    let p = dir.join(format!("{name}.formula.toml"));
    std::fs::write(&p, s).expect("write formula");
    p.display().to_string()
}

fn rss_kb(pid: u32) -> Option<u64> {
    let t = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    t.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Seconds to close the `n` blockers of one sink, one transaction each.
fn fan_in(n: usize) -> f64 {
    use gastown::store::{issues::NewIssue, DepType, Store};
    let t = tempfile::tempdir().expect("tempdir");
    let mut st = Store::init(t.path(), "fan").expect("bd init");
    st.conn()
        .execute_batch("PRAGMA synchronous = OFF")
        .expect("pragma");
    let ids: Vec<String> = st
        .write(|tx| {
            (0..n)
                .map(|i| {
                    tx.create(&NewIssue {
                        title: format!("blocker {i}"),
                        ..Default::default()
                    })
                    .map(|i| i.id)
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .expect("blockers");
    st.write(|tx| {
        tx.create(&NewIssue {
            title: "sink".into(),
            deps: ids.iter().map(|b| (DepType::Blocks, b.clone())).collect(),
            ..Default::default()
        })
    })
    .expect("sink");
    let t0 = Instant::now();
    for id in &ids {
        st.write(|tx| tx.close(id, None)).expect("close");
    }
    t0.elapsed().as_secs_f64()
}

fn main() {
    // 3. Fan-in (first: it needs no binaries).
    for n in [2000, 4000, 8000] {
        let s = fan_in(n);
        println!(
            "fan-in: closing {n} blockers of one step: {s:.2}s ({:.0} us per close)",
            s * 1e6 / n as f64
        );
    }

    // 1. Throughput.
    let t = tempfile::tempdir().expect("tempdir");
    let f = formula(t.path(), "noop", 1000, "true");
    let t0 = Instant::now();
    let o = Command::new(GT)
        .args(["--json", "run", &f, "--jobs", "16"])
        .current_dir(t.path())
        .env_remove("BEADS_DIR")
        .env_remove("GT_TOWN")
        .output()
        .expect("gt run");
    let wall = t0.elapsed().as_secs_f64();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).expect("summary");
    println!(
        "dispatch: 1000 no-op steps, --jobs 16: {:.2}s in the supervisor ({:.0} steps/s), {wall:.2}s wall including pour ({:.0} steps/s)",
        s["elapsed_secs"].as_f64().unwrap_or(0.0),
        s["steps_per_sec"].as_f64().unwrap_or(0.0),
        1000.0 / wall
    );

    // 2. RSS with 100 sleeping agents.
    let t = tempfile::tempdir().expect("tempdir");
    let f = formula(t.path(), "sleepers", 100, "sleep 3");
    let mut child = Command::new(GT)
        .args(["run", &f, "--jobs", "100", "--quiet"])
        .current_dir(t.path())
        .env_remove("BEADS_DIR")
        .env_remove("GT_TOWN")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("gt run");
    let mut max = 0;
    let mut sessions = 0;
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        if let Some(kb) = rss_kb(child.id()) {
            max = max.max(kb);
        }
        let n = Command::new("pgrep")
            .args(["-c", "-P", &child.id().to_string()])
            .output()
            .ok()
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .trim()
                    .parse::<usize>()
                    .ok()
            })
            .unwrap_or(0);
        sessions = sessions.max(n);
        std::thread::sleep(Duration::from_millis(100));
    }
    println!(
        "supervision: up to {sessions} concurrent sleeping sessions, supervisor max RSS {:.1} MB",
        max as f64 / 1024.0
    );
}
