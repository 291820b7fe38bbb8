//! Library-level tests of the store: issues, deps, ready set, events, JSONL.

use gastown::store::ready::{self, ReadyFilter};
use gastown::store::*;
use rand::{Rng, SeedableRng};

fn store() -> (tempfile::TempDir, Store) {
    let d = tempfile::tempdir().unwrap();
    let mut s = Store::init(d.path(), "t").unwrap();
    s.set_actor("tester");
    (d, s)
}

fn task(s: &mut Store, title: &str) -> String {
    s.write(|tx| {
        tx.create(&NewIssue {
            title: title.into(),
            ..Default::default()
        })
    })
    .unwrap()
    .id
}

fn ready_ids(s: &Store) -> Vec<String> {
    let mut v: Vec<String> = ready::ready(s.conn(), &ReadyFilter::default())
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    v.sort();
    v
}

fn assert_consistent(s: &mut Store) {
    let before = ready::snapshot(s.conn()).unwrap();
    s.write(|tx| ready::rebuild_all(tx.conn())).unwrap();
    let after = ready::snapshot(s.conn()).unwrap();
    assert_eq!(
        before, after,
        "incremental ready set differs from a rebuild"
    );
    // The spliced file equals a full render.
    let file = std::fs::read_to_string(s.jsonl_path()).unwrap();
    assert_eq!(
        file,
        jsonl::render(s.conn()).unwrap(),
        "spliced JSONL differs"
    );
}

#[test]
fn create_show_and_events() {
    let (_d, mut s) = store();
    let id = task(&mut s, "first");
    assert!(id.starts_with("t-") && id.len() == 6, "{id}");
    let i = issues::get(s.conn(), &id).unwrap();
    assert_eq!(i.title, "first");
    assert_eq!(i.status, Status::Open);
    assert_eq!(i.created_by, "tester");
    s.write(|tx| {
        tx.update(
            &id,
            &Update {
                title: Some("renamed".into()),
                priority: Some(1),
                ..Default::default()
            },
        )
    })
    .unwrap();
    let ev = events::for_issue(s.conn(), &id).unwrap();
    let kinds: Vec<_> = ev
        .iter()
        .map(|e| (e.kind.as_str(), e.field.as_deref()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("created", None),
            ("updated", Some("title")),
            ("updated", Some("priority"))
        ]
    );
    assert_eq!(ev[1].old.as_deref(), Some("first"));
    assert_eq!(ev[1].new.as_deref(), Some("renamed"));
    assert!(ev.iter().all(|e| e.actor == "tester"));
}

#[test]
fn unknown_id_suggests_prefix_matches() {
    let (_d, mut s) = store();
    let id = task(&mut s, "x");
    let typo = format!("{}z", &id[..id.len() - 1]);
    let err = issues::resolve(s.conn(), "t", &typo).unwrap_err();
    assert!(err.help().unwrap().contains(&id), "{:?}", err.help());
    // The short form without the prefix resolves exactly.
    assert_eq!(issues::resolve(s.conn(), "t", &id[2..]).unwrap(), id);
}

#[test]
fn blocks_and_ready() {
    let (_d, mut s) = store();
    let a = task(&mut s, "a");
    let b = task(&mut s, "b");
    s.write(|tx| tx.add_dep(&b, &a, DepType::Blocks, None))
        .unwrap();
    assert_eq!(ready_ids(&s), vec![a.clone()]);
    assert_eq!(
        s.write(|tx| tx.close(&a, Some("done"))).unwrap(),
        issues::CloseOutcome::Closed
    );
    assert_eq!(ready_ids(&s), vec![b.clone()]);
    assert_eq!(
        s.write(|tx| tx.close(&a, None)).unwrap(),
        issues::CloseOutcome::AlreadyClosed
    );
    s.write(|tx| tx.reopen(&a)).unwrap();
    assert_eq!(ready_ids(&s), vec![a.clone()]);
    assert_consistent(&mut s);
}

#[test]
fn cycle_is_refused_and_printed() {
    let (_d, mut s) = store();
    let a = task(&mut s, "a");
    let b = task(&mut s, "b");
    let c = task(&mut s, "c");
    s.write(|tx| tx.add_dep(&a, &b, DepType::Blocks, None))
        .unwrap();
    s.write(|tx| tx.add_dep(&b, &c, DepType::ParentChild, None))
        .unwrap();
    let err = s
        .write(|tx| tx.add_dep(&c, &a, DepType::Blocks, None))
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&format!("{c} -> {a} -> {b} -> {c}")), "{msg}");
    // Non-blocking types may point backwards.
    s.write(|tx| tx.add_dep(&c, &a, DepType::Related, None))
        .unwrap();
    let self_dep = s.write(|tx| tx.add_dep(&a, &a, DepType::Blocks, None));
    assert!(self_dep.is_err());
}

#[test]
fn epics_may_block_tasks() {
    let (_d, mut s) = store();
    let e = s
        .write(|tx| {
            tx.create(&NewIssue {
                title: "epic".into(),
                issue_type: IssueType::Epic,
                ..Default::default()
            })
        })
        .unwrap()
        .id;
    let t = task(&mut s, "t");
    s.write(|tx| tx.add_dep(&t, &e, DepType::Blocks, None))
        .unwrap();
    s.write(|tx| {
        let o = task_in(tx);
        tx.add_dep(&e, &o, DepType::Blocks, None)
    })
    .unwrap();
}

fn task_in(tx: &Tx<'_>) -> String {
    tx.create(&NewIssue {
        title: "other".into(),
        ..Default::default()
    })
    .unwrap()
    .id
}

#[test]
fn ancestors_and_gates_block() {
    let (_d, mut s) = store();
    let blocker = task(&mut s, "blocker");
    let parent = task(&mut s, "parent");
    let child = s
        .write(|tx| {
            tx.create(&NewIssue {
                title: "child".into(),
                parent: Some(parent.clone()),
                ..Default::default()
            })
        })
        .unwrap()
        .id;
    let grandchild = s
        .write(|tx| {
            tx.create(&NewIssue {
                title: "gc".into(),
                parent: Some(child.clone()),
                ..Default::default()
            })
        })
        .unwrap()
        .id;
    assert!(ready_ids(&s).contains(&grandchild));
    s.write(|tx| tx.add_dep(&parent, &blocker, DepType::Blocks, None))
        .unwrap();
    assert_eq!(ready_ids(&s), vec![blocker.clone()]);
    assert_consistent(&mut s);
    s.write(|tx| tx.close(&blocker, None)).unwrap();
    assert!(ready_ids(&s).contains(&grandchild));
    // Deferred ancestors block too.
    s.write(|tx| {
        tx.update(
            &child,
            &Update {
                status: Some(Status::Deferred),
                ..Default::default()
            },
        )
    })
    .unwrap();
    assert!(!ready_ids(&s).contains(&grandchild));
    assert_consistent(&mut s);
}

#[test]
fn waits_for_all_and_any_children() {
    let (_d, mut s) = store();
    let spawner = task(&mut s, "spawner");
    let kids: Vec<String> = (0..3)
        .map(|i| {
            s.write(|tx| {
                tx.create(&NewIssue {
                    title: format!("kid {i}"),
                    parent: Some(spawner.clone()),
                    ..Default::default()
                })
            })
            .unwrap()
            .id
        })
        .collect();
    let all = task(&mut s, "all");
    let any = task(&mut s, "any");
    s.write(|tx| tx.add_dep(&all, &spawner, DepType::WaitsFor, None))
        .unwrap();
    let m = serde_json::json!({"gate": "any-children"});
    s.write(|tx| tx.add_dep(&any, &spawner, DepType::WaitsFor, Some(&m)))
        .unwrap();
    assert!(!ready_ids(&s).contains(&all));
    assert!(!ready_ids(&s).contains(&any));
    s.write(|tx| tx.close(&kids[0], None)).unwrap();
    assert!(ready_ids(&s).contains(&any));
    assert!(!ready_ids(&s).contains(&all));
    s.write(|tx| tx.close(&kids[1], None)).unwrap();
    s.write(|tx| tx.close(&kids[2], None)).unwrap();
    assert!(ready_ids(&s).contains(&all));
    assert_consistent(&mut s);
}

#[test]
fn claim_is_exclusive() {
    let (_d, mut s) = store();
    let a = task(&mut s, "a");
    s.set_actor("alice");
    assert_eq!(
        s.write(|tx| tx.claim(&a, "alice")).unwrap(),
        issues::ClaimOutcome::Claimed
    );
    assert_eq!(
        s.write(|tx| tx.claim(&a, "alice")).unwrap(),
        issues::ClaimOutcome::AlreadyYours
    );
    let err = s.write(|tx| tx.claim(&a, "bob")).unwrap_err();
    assert!(err.to_string().contains("assigned to alice"), "{err}");
    assert!(!ready_ids(&s).contains(&a));
}

#[test]
fn random_operations_keep_the_ready_set_consistent() {
    let (_d, mut s) = store();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut ids: Vec<String> = Vec::new();
    for step in 0..400 {
        let op = rng.gen_range(0..10);
        let pick = |rng: &mut rand::rngs::StdRng, ids: &Vec<String>| {
            ids[rng.gen_range(0..ids.len())].clone()
        };
        if ids.len() < 3 || op < 3 {
            ids.push(task(&mut s, &format!("i{step}")));
            continue;
        }
        let (a, b) = (pick(&mut rng, &ids), pick(&mut rng, &ids));
        let types = [
            DepType::Blocks,
            DepType::ParentChild,
            DepType::WaitsFor,
            DepType::ConditionalBlocks,
        ];
        let t = types[rng.gen_range(0..types.len())];
        let _ = match op {
            3 | 4 => s.write(|tx| tx.add_dep(&a, &b, t, None)).map(|_| ()),
            5 => s.write(|tx| tx.close(&a, None)).map(|_| ()),
            6 => s.write(|tx| tx.reopen(&a)).map(|_| ()),
            7 => s.write(|tx| tx.remove_dep(&a, &b, None)).map(|_| ()),
            8 => s
                .write(|tx| {
                    tx.update(
                        &a,
                        &Update {
                            status: Some(Status::Blocked),
                            ..Default::default()
                        },
                    )
                })
                .map(|_| ()),
            _ => {
                ids.retain(|x| *x != a);
                s.write(|tx| tx.delete(std::slice::from_ref(&a)))
                    .map(|_| ())
            }
        };
        // Often: counters move by deltas, so a wrong one must not hide.
        if step % 5 == 0 {
            assert_consistent(&mut s);
        }
    }
    assert_consistent(&mut s);
}

#[test]
fn jsonl_round_trip_and_tombstones() {
    let (d, mut s) = store();
    let a = task(&mut s, "a");
    let b = task(&mut s, "b");
    s.write(|tx| {
        tx.add_dep(&b, &a, DepType::Blocks, None)?;
        tx.add_label(&a, "x")?;
        tx.comment(&a, "hello")?;
        Ok::<_, StoreError>(())
    })
    .unwrap();
    // The write path keeps the file current: an explicit export has nothing to do.
    assert!(!sync::export(&mut s).unwrap(), "no change, no rewrite");
    let text = std::fs::read_to_string(d.path().join(".beads/issues.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(lines, sorted);
    assert!(lines.iter().any(|l| l.contains("\"labels\":[\"x\"]")));

    // A fresh clone holding only config + JSONL rebuilds the database.
    let clone = tempfile::tempdir().unwrap();
    let cb = clone.path().join(".beads");
    std::fs::create_dir_all(&cb).unwrap();
    for f in ["config.json", "issues.jsonl"] {
        std::fs::copy(d.path().join(".beads").join(f), cb.join(f)).unwrap();
    }
    let c = Store::open(&cb).unwrap();
    assert_eq!(ready_ids(&c), vec![a.clone()]);
    assert_eq!(issues::comments(c.conn(), &a).unwrap().len(), 1);
    assert_eq!(jsonl::render(c.conn()).unwrap(), text);

    // Delete -> tombstone line.
    s.write(|tx| tx.delete(std::slice::from_ref(&b))).unwrap();
    sync::export(&mut s).unwrap();
    let text = std::fs::read_to_string(d.path().join(".beads/issues.jsonl")).unwrap();
    assert!(text.contains("\"tombstone\":true"));
}

#[test]
fn corrupt_jsonl_is_reported_and_nothing_imported() {
    let (d, mut s) = store();
    let a = task(&mut s, "a");
    sync::export(&mut s).unwrap();
    let p = d.path().join(".beads/issues.jsonl");
    let good = std::fs::read_to_string(&p).unwrap();
    // An edit made elsewhere: newer updated_at wins on import.
    let mut v: serde_json::Value = serde_json::from_str(good.trim()).unwrap();
    v["title"] = "changed".into();
    v["updated_at"] = "2999-01-01T00:00:00.000000Z".into();
    let edited = format!("{}\n", serde_json::to_string(&v).unwrap());
    std::fs::write(&p, format!("{edited}<<<<<<< HEAD\n")).unwrap();
    drop(s);
    let err = Store::open(&d.path().join(".beads")).err().unwrap();
    let msg = err.to_string();
    assert!(msg.contains(":2:"), "{msg}");
    // Fixed file -> imported.
    std::fs::write(&p, &edited).unwrap();
    let s = Store::open(&d.path().join(".beads")).unwrap();
    assert_eq!(issues::get(s.conn(), &a).unwrap().title, "changed");
}

#[test]
fn newer_schema_is_refused() {
    let (d, s) = store();
    s.conn().execute_batch("PRAGMA user_version = 999").unwrap();
    drop(s);
    let err = Store::open(&d.path().join(".beads")).err().unwrap();
    assert!(err.to_string().contains("schema version 999"), "{err}");
    assert!(err.help().unwrap().contains("upgrade"));
}

#[test]
fn a_store_deleted_under_a_writer_errors_instead_of_succeeding() {
    let (d, mut s) = store();
    task(&mut s, "a");
    std::fs::remove_dir_all(d.path().join(".beads")).unwrap();
    let r = s.write(|tx| {
        tx.create(&NewIssue {
            title: "b".into(),
            ..Default::default()
        })
    });
    assert!(
        matches!(r, Err(StoreError::Vanished { .. })),
        "a write into a deleted store must fail: {:?}",
        r.map(|i| i.id)
    );
}
