//! Store benchmarks (see docs/store.md for the targets and figures):
//! - pour a 100,000-step molecule (target < 2 s);
//! - `bd ready` as a process on 100,000 open issues + 200,000 deps (< 50 ms);
//! - step closes, each its own durable transaction (>= 2,000/s);
//! - a close and a reopen with `issues.jsonl` brought current after each, in
//!   stores of 1,000 and 100,000 issues (flat: the same cost at both).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use gastown::formula::proto::*;
use gastown::molecule::{pour, PourOptions};
use gastown::store::{Store, Tx};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn prov() -> Provenance {
    Provenance {
        formula: "big".into(),
        file: "big.formula.toml".into(),
        line: 1,
        col: 1,
        chain: Vec::new(),
    }
}

/// `groups` epics of `per` children each; each epic blocks on the previous
/// one and each child blocks on its predecessor: ~2 deps per step.
pub fn big_proto(groups: usize, per: usize) -> Proto {
    let mut steps = Vec::new();
    let mut deps = Vec::new();
    for g in 0..groups {
        let gid = format!("big.g{g}");
        steps.push(step(&gid, &format!("g{g}"), None, "epic"));
        if g > 0 {
            deps.push(dep(&gid, &format!("big.g{}", g - 1)));
        }
        for c in 0..per {
            let id = format!("{gid}.s{c}");
            steps.push(step(&id, &format!("g{g}.s{c}"), Some(&gid), "task"));
            if c > 0 {
                deps.push(dep(&id, &format!("{gid}.s{}", c - 1)));
            }
        }
    }
    Proto {
        ir_version: IR_VERSION,
        formula: "big".into(),
        kind: "workflow".into(),
        version: 1,
        phase: None,
        pour: true,
        root: ProtoRoot {
            id: "big".into(),
            title: "Big".into(),
            description: String::new(),
        },
        vars: Vec::new(),
        bound_vars: None,
        entries: steps.into_iter().map(Into::into).collect(),
        edges: deps.into_iter().map(Into::into).collect(),
        sources: Vec::new(),
    }
}

/// Like [`big_proto`] but half the steps are ready: every odd child blocks on
/// the two children before it; groups are independent.
pub fn wide_proto(groups: usize, per: usize) -> Proto {
    let mut p = big_proto(groups, per);
    p.edges.clear();
    for g in 0..groups {
        for c in (1..per).step_by(2) {
            let id = format!("big.g{g}.s{c}");
            p.edges
                .push(dep(&id, &format!("big.g{g}.s{}", c - 1)).into());
            if c >= 2 {
                p.edges
                    .push(dep(&id, &format!("big.g{g}.s{}", c - 2)).into());
            }
        }
    }
    p
}

fn step(id: &str, path: &str, parent: Option<&str>, kind: &str) -> ProtoStep {
    ProtoStep {
        id: id.into(),
        path: path.into(),
        parent: parent.map(str::to_string),
        title: format!("Step {path}"),
        description: "Do the thing described here.".into(),
        notes: None,
        acceptance: None,
        kind: kind.into(),
        priority: 2,
        assignee: None,
        labels: Vec::new(),
        metadata: None,
        gate: None,
        condition: None,
        run: None,
        runtime: BTreeMap::new(),
        provenance: prov(),
    }
}

fn dep(from: &str, to: &str) -> ProtoDep {
    ProtoDep {
        from: from.into(),
        to: to.into(),
        kind: DepKind::Blocks,
        metadata: None,
    }
}

fn fresh() -> (tempfile::TempDir, Store) {
    let d = tempfile::tempdir().expect("tempdir");
    let s = Store::init(d.path(), "bn").expect("init");
    (d, s)
}

fn bench_pour(c: &mut Criterion) {
    let proto = big_proto(1000, 99); // 100,000 steps, ~199,000 deps
    let mut g = c.benchmark_group("pour");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Elements(proto.step_count() as u64));
    g.bench_function("pour_100k_steps", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (_d, mut s) = fresh();
                let t = Instant::now();
                pour(&mut s, &proto, &PourOptions::default()).expect("pour");
                total += t.elapsed();
            }
            total
        })
    });
    g.finish();
}

fn bench_ready_process(c: &mut Criterion) {
    // 100,000 open issues (+ root) and ~200,000 dependencies, none closed.
    let (d, mut s) = fresh();
    pour(&mut s, &big_proto(1000, 99), &PourOptions::default()).expect("pour");
    let n: i64 = s
        .conn()
        .query_row("SELECT count(*) FROM deps", [], |r| r.get(0))
        .expect("count");
    eprintln!("ready bench store: {n} deps");
    drop(s);
    let bd = env!("CARGO_BIN_EXE_bd");
    let dir = d.path().join(".beads");
    let mut g = c.benchmark_group("ready");
    g.sample_size(30);
    g.bench_function("bd_ready_process_100k_open_200k_deps", |b| {
        b.iter(|| {
            let out = std::process::Command::new(bd)
                .arg("ready")
                .env("BEADS_DIR", &dir)
                .output()
                .expect("run bd");
            assert!(out.status.success());
        })
    });
    g.bench_function("bd_ready_process_json_all", |b| {
        b.iter(|| {
            let out = std::process::Command::new(bd)
                .args(["ready", "--json", "--limit", "0"])
                .env("BEADS_DIR", &dir)
                .output()
                .expect("run bd");
            assert!(out.status.success());
        })
    });
    // Same size, but ~50,000 issues ready: the default `bd ready` (limit 100).
    let (d2, mut s2) = fresh();
    pour(&mut s2, &wide_proto(1000, 99), &PourOptions::default()).expect("pour");
    let ready_n: i64 = s2
        .conn()
        .query_row(
            "SELECT count(*) FROM issues WHERE status = 'open' AND blocked = 0",
            [],
            |r| r.get(0),
        )
        .expect("count");
    eprintln!("wide ready bench store: {ready_n} ready");
    drop(s2);
    let dir2 = d2.path().join(".beads");
    g.bench_function("bd_ready_process_100k_open_50k_ready", |b| {
        b.iter(|| {
            let out = std::process::Command::new(bd)
                .args(["ready", "--json"])
                .env("BEADS_DIR", &dir2)
                .output()
                .expect("run bd");
            assert!(out.status.success());
        })
    });
    g.finish();
}

fn bench_closes(c: &mut Criterion) {
    let mut g = c.benchmark_group("close");
    g.sample_size(10);
    g.throughput(Throughput::Elements(1));
    g.bench_function("close_step_durable_tx", |b| {
        b.iter_custom(|iters| {
            let (_d, mut s) = fresh();
            let groups = (iters as usize / 99) + 1;
            let r = pour(&mut s, &big_proto(groups, 99), &PourOptions::default()).expect("pour");
            // Close steps in dependency order, one transaction each.
            let mut ids = Vec::new();
            for gi in 0..groups {
                for ci in 0..99 {
                    ids.push(format!("{}.g{gi}.s{ci}", r.new_epic_id));
                }
            }
            let t = Instant::now();
            for id in ids.iter().take(iters as usize) {
                s.write(|tx: &mut Tx<'_>| tx.close(id, None))
                    .expect("close");
            }
            t.elapsed()
        })
    });
    g.finish();
}

fn bench_exported_writes(c: &mut Criterion) {
    let mut g = c.benchmark_group("exported_write");
    g.sample_size(20);
    g.throughput(Throughput::Elements(2));
    for groups in [10, 1000] {
        let (_d, mut s) = fresh();
        let r = pour(&mut s, &big_proto(groups, 99), &PourOptions::default()).expect("pour");
        let ids: Vec<String> = (0..groups)
            .flat_map(|gi| (0..99).map(move |ci| (gi, ci)))
            .map(|(gi, ci)| format!("{}.g{gi}.s{ci}", r.new_epic_id))
            .collect();
        let name = format!("close_reopen_store_of_{}_issues", groups * 100);
        let mut k = 0usize;
        g.bench_function(&name, |b| {
            b.iter(|| {
                // Spread over the file: the cost depends on where the line is.
                k = (k + 7919) % ids.len();
                let id = &ids[k];
                s.write(|tx: &mut Tx<'_>| tx.close(id, None))
                    .expect("close");
                s.write(|tx: &mut Tx<'_>| tx.reopen(id)).expect("reopen");
            })
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    bench_pour,
    bench_ready_process,
    bench_closes,
    bench_exported_writes
);
criterion_main!(benches);
