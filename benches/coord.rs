//! Coordination benchmarks (targets in docs/coordination.md):
//! - `gt mail inbox` as a process with 10,000 messages for the reader
//!   (plus 10,000 for others) in the store: < 50 ms;
//! - `gt convoy status` as a process on a 1,000-bead convoy: < 50 ms.

use criterion::{criterion_group, criterion_main, Criterion};
use gastown::coord::address::Address;
use gastown::coord::convoy::{self, NewConvoy};
use gastown::coord::mail::{self, Outgoing};
use gastown::coord::mq::{self, NewMr};
use gastown::store::{NewIssue, Status, Store, Update};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

fn gt(dir: &Path, args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_gt"))
        .args(args)
        .env("BEADS_DIR", dir)
        .env_remove("GT_TOWN")
        .env("BD_ACTOR", "mayor")
        .output()
        .expect("run gt");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn once(dir: &Path, args: &[&str]) -> f64 {
    let t = Instant::now();
    gt(dir, args);
    t.elapsed().as_secs_f64() * 1000.0
}

fn bench_inbox(c: &mut Criterion) {
    let d = tempfile::tempdir().expect("tempdir");
    let mut s = Store::init(d.path(), "hq").expect("init");
    s.write(|tx| -> gastown::coord::Result<()> {
        let me = [Address::Mayor];
        for i in 0..20_000 {
            let to = if i % 2 == 0 {
                me.to_vec()
            } else {
                vec![Address::Polecat("rig".into(), format!("p{}", i % 20))]
            };
            mail::send_tx(
                tx,
                &to,
                &Outgoing {
                    from: format!("rig/polecats/p{}", i % 20),
                    subject: format!("message {i}"),
                    body: "x".repeat(200),
                    sender_gen: Some(1),
                    ..Default::default()
                },
            )?;
        }
        // Half of the reader's mail is read.
        tx.conn().execute(
            "UPDATE mail SET unread = 0, read_at = created_at WHERE recipient = 'mayor' AND id % 4 = 1",
            [],
        )?;
        Ok(())
    })
    .expect("fill");
    drop(s);
    let dir = d.path().join(".beads");
    eprintln!(
        "first runs: inbox {:.1} ms, inbox --json {:.1} ms, check {:.1} ms",
        once(&dir, &["mail", "inbox"]),
        once(&dir, &["--json", "mail", "inbox"]),
        once(&dir, &["mail", "check"])
    );
    let mut g = c.benchmark_group("mail");
    g.sample_size(30);
    g.bench_function("gt_mail_inbox_process_10k", |b| {
        b.iter(|| gt(&dir, &["mail", "inbox"]))
    });
    g.bench_function("gt_mail_inbox_json_process_10k", |b| {
        b.iter(|| gt(&dir, &["--json", "mail", "inbox"]))
    });
    g.bench_function("gt_mail_check_process_10k", |b| {
        b.iter(|| gt(&dir, &["mail", "check"]))
    });
    g.finish();
}

fn bench_convoy_status(c: &mut Criterion) {
    let d = tempfile::tempdir().expect("tempdir");
    let mut s = Store::init(d.path(), "hq").expect("init");
    let beads: Vec<String> = s
        .write(|tx| -> gastown::coord::Result<Vec<String>> {
            let mut v = Vec::new();
            for i in 0..1000 {
                let b = tx.create(&NewIssue {
                    title: format!("bead {i}"),
                    ..Default::default()
                })?;
                match i % 4 {
                    0 => {
                        tx.close(&b.id, Some("merged"))?;
                    }
                    1 => {
                        mq::enqueue_tx(
                            tx,
                            &NewMr {
                                bead: b.id.clone(),
                                rig: "rig".into(),
                                branch: format!("p/{i}"),
                                ..Default::default()
                            },
                        )?;
                    }
                    2 => {
                        tx.update(
                            &b.id,
                            &Update {
                                status: Some(Status::InProgress),
                                ..Default::default()
                            },
                        )?;
                    }
                    _ => {}
                }
                v.push(b.id);
            }
            Ok(v)
        })
        .expect("fill");
    let cv = convoy::create(
        &mut s,
        &NewConvoy {
            name: "big".into(),
            beads,
            owner: "mayor".into(),
            ..Default::default()
        },
    )
    .expect("convoy");
    drop(s);
    let dir = d.path().join(".beads");
    eprintln!(
        "first runs: convoy status {:.1} ms, --json {:.1} ms, list {:.1} ms",
        once(&dir, &["convoy", "status", &cv.id]),
        once(&dir, &["--json", "convoy", "status", &cv.id]),
        once(&dir, &["convoy", "list"])
    );
    let mut g = c.benchmark_group("convoy");
    g.sample_size(30);
    g.bench_function("gt_convoy_status_process_1000", |b| {
        b.iter(|| gt(&dir, &["convoy", "status", &cv.id]))
    });
    g.bench_function("gt_convoy_status_json_process_1000", |b| {
        b.iter(|| gt(&dir, &["--json", "convoy", "status", &cv.id]))
    });
    g.finish();
}

criterion_group!(benches, bench_inbox, bench_convoy_status);
criterion_main!(benches);
