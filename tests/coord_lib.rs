//! Library tests of coordination: addressing, generations, queue order,
//! the refinery (merge, conflict, failed gate, dropped, pr, recovery),
//! convoys landing only on merge, nudges, and doctor repairs.

mod coord_support;

use coord_support::TownFixture;
use gastown::coord::address::{Address, Directory};
use gastown::coord::convoy::{self, NewConvoy};
use gastown::coord::doctor::{self, Level};
use gastown::coord::feed::{self, FeedQuery};
use gastown::coord::mail::{self, Outgoing};
use gastown::coord::mq::{self, NewMr};
use gastown::coord::nudge::{self, Delivery, Tmux};
use gastown::coord::refinery::{self, Outcome};
use gastown::store::issues::{self, NewIssue};
use gastown::store::{Status, Store};
use gastown::town::StrategyKind;
use serde_json::json;

fn bead(s: &mut Store, title: &str) -> String {
    s.write(|tx| {
        tx.create(&NewIssue {
            title: title.into(),
            ..Default::default()
        })
    })
    .unwrap()
    .id
}

fn enqueue(s: &mut Store, bead: &str, branch: &str, sha: git2::Oid, polecat: &str) -> String {
    mq::enqueue(
        s,
        &NewMr {
            bead: bead.into(),
            rig: "rig".into(),
            branch: branch.into(),
            head_sha: sha.to_string(),
            polecat: Some(format!("rig/polecats/{polecat}")),
            generation: Some(1),
            priority: None,
            ..Default::default()
        },
    )
    .unwrap()
    .id
}

fn dir(t: &TownFixture, s: &Store) -> Directory {
    Directory::load(Some(&t.town()), s.conn()).unwrap()
}

fn kinds(s: &Store) -> Vec<String> {
    feed::read(s.conn(), &FeedQuery::default())
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

#[test]
fn addressing_valid_invalid_and_groups() {
    let t = TownFixture::new(json!({}));
    let mut s = t.store();
    let d = dir(&t, &s);
    for ok in [
        "mayor",
        "mayor/",
        "overseer",
        "rig/witness",
        "rig/refinery",
        "rig/polecats/nux",
        "rig/crew/ann",
    ] {
        d.parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    for (bad, why) in [
        ("nope/witness", "there is no rig `nope`"),
        ("rig/boss", "not an address"),
        ("rig/polecats/a/b", "not an address"),
        ("", "not an address"),
    ] {
        let e = d.parse(bad).unwrap_err();
        assert!(e.to_string().contains(why), "{bad}: {e}");
        let help = e.help().unwrap();
        assert!(
            help.contains("mayor, overseer, rig/witness, rig/refinery, rig/polecats/<name>"),
            "{help}"
        );
    }
    // A group with no members is an error; members come from the store and
    // from polecat directories.
    let e = d.resolve(s.conn(), "rig/polecats").unwrap_err();
    assert!(e.to_string().contains("no members"), "{e}");
    mail::set_generation(&mut s, "rig/polecats/nux", 1).unwrap();
    std::fs::create_dir_all(t.path("rig/polecats/furiosa")).unwrap();
    let members = d.resolve(s.conn(), "rig/polecats").unwrap();
    let names: Vec<String> = members.iter().map(|a| a.to_string()).collect();
    assert_eq!(names, ["rig/polecats/furiosa", "rig/polecats/nux"]);
    // A group send fans out, one row per member.
    let ids = mail::send(
        &mut s,
        &d,
        &Outgoing {
            from: "mayor".into(),
            to: "rig/polecats".into(),
            subject: "all hands".into(),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(ids.len(), 2);
    assert_eq!(
        mail::inbox(s.conn(), "rig/polecats/nux", false, 10)
            .unwrap()
            .unread,
        1
    );
    // Without a town config listing rigs, rigs that appear in the store count.
    let no_town = Directory::load(None, s.conn()).unwrap();
    assert_eq!(no_town.rigs, ["rig"]);
    assert!(no_town.parse("other/witness").is_err());
}

#[test]
fn stale_generation_messages_are_ignored() {
    let t = TownFixture::new(json!({}));
    let mut s = t.store();
    let d = dir(&t, &s);
    // nux generation 3 reports done; then the runtime respawns nux as 4.
    mail::set_generation(&mut s, "rig/polecats/nux", 3).unwrap();
    mail::send(
        &mut s,
        &d,
        &Outgoing {
            from: "rig/polecats/nux".into(),
            to: "rig/witness".into(),
            subject: "POLECAT_DONE".into(),
            sender_gen: Some(3),
            ..Default::default()
        },
    )
    .unwrap();
    // Mail to nux written while it was generation 3.
    mail::send(
        &mut s,
        &d,
        &Outgoing {
            from: "rig/witness".into(),
            to: "rig/polecats/nux".into(),
            subject: "LIFECYCLE:Shutdown".into(),
            ..Default::default()
        },
    )
    .unwrap();
    mail::set_generation(&mut s, "rig/polecats/nux", 4).unwrap();
    // A fresh message for the new generation.
    mail::send(
        &mut s,
        &d,
        &Outgoing {
            from: "rig/witness".into(),
            to: "rig/polecats/nux".into(),
            subject: "welcome".into(),
            ..Default::default()
        },
    )
    .unwrap();
    let w = mail::check(&mut s, "rig/witness", None, true, 100).unwrap();
    assert!(w.fresh.is_empty(), "{:?}", w.fresh);
    assert_eq!(w.stale.len(), 1);
    assert!(w.stale[0].stale_because.contains("generation 3"));
    let n = mail::check(&mut s, "rig/polecats/nux", Some(4), true, 100).unwrap();
    assert_eq!(
        n.fresh
            .iter()
            .map(|m| m.subject.as_str())
            .collect::<Vec<_>>(),
        ["welcome"]
    );
    assert_eq!(n.stale.len(), 1);
    let text = mail::render_inject(&n);
    assert!(text.contains("welcome"));
    assert!(
        text.contains("STALE (ignored; do not act on these)"),
        "{text}"
    );
    // --inject marks read: nothing is injected twice.
    let again = mail::check(&mut s, "rig/polecats/nux", Some(4), true, 100).unwrap();
    assert!(again.fresh.is_empty() && again.stale.is_empty());
    // A handoff is for the next generation: never stale for it.
    mail::handoff(&mut s, "rig/polecats/nux", Some(4), "notes: step 3 next").unwrap();
    let next = mail::check(&mut s, "rig/polecats/nux", Some(5), true, 100).unwrap();
    assert_eq!(next.fresh.len(), 1, "{next:?}");
    assert_eq!(next.fresh[0].kind, "handoff");
    assert!(kinds(&s).contains(&"handoff".to_string()));
    // A witness keeps its mail across its own restarts.
    mail::set_generation(&mut s, "rig/witness", 1).unwrap();
    mail::send(
        &mut s,
        &d,
        &Outgoing {
            from: "mayor".into(),
            to: "rig/witness".into(),
            subject: "keep me".into(),
            ..Default::default()
        },
    )
    .unwrap();
    let w = mail::check(&mut s, "rig/witness", Some(2), true, 100).unwrap();
    assert_eq!(w.fresh.len(), 1, "{w:?}");
    assert_eq!(w.fresh[0].subject, "keep me");
}

#[test]
fn queue_is_fifo_within_priority() {
    let t = TownFixture::new(json!({}));
    let mut s = t.store();
    let mut ids = Vec::new();
    for (i, p) in [2u8, 1, 2, 1, 2].iter().enumerate() {
        let b = bead(&mut s, &format!("b{i}"));
        let sha = t.branch(&format!("p/{i}"), &[(&format!("f{i}.txt"), "x\n")], None);
        let id = mq::enqueue(
            &mut s,
            &NewMr {
                bead: b,
                rig: "rig".into(),
                branch: format!("p/{i}"),
                head_sha: sha.to_string(),
                priority: Some(*p),
                ..Default::default()
            },
        )
        .unwrap()
        .id;
        ids.push(id);
    }
    let order: Vec<String> = mq::list(s.conn(), Some("rig"), false)
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    let expect = vec![
        ids[1].clone(),
        ids[3].clone(),
        ids[0].clone(),
        ids[2].clone(),
        ids[4].clone(),
    ];
    assert_eq!(order, expect);
    // The refinery takes them in that order.
    let cfg = t.rig_config();
    let merged: Vec<String> = refinery::drain(&mut s, &cfg)
        .unwrap()
        .into_iter()
        .map(|o| match o {
            Outcome::Merged { mr, .. } => mr,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(merged, expect);
    for i in 0..5 {
        assert_eq!(t.main_file(&format!("f{i}.txt")).as_deref(), Some("x\n"));
    }
}

#[test]
fn refinery_merges_and_closes_bead_as_merged_in_one_step() {
    let t = TownFixture::new(json!({"test": "test -f base.txt && test -f a.txt"}));
    let mut s = t.store();
    let b = bead(&mut s, "feature a");
    // main moves on after the branch was cut: the branch is rebased.
    let cut = t.main_tip();
    let sha = t.branch("polecat/nux/a", &[("a.txt", "a\n")], Some(cut));
    t.push_to_origin(&[("o.txt", "o\n")], "someone else's work");
    let mr = enqueue(&mut s, &b, "polecat/nux/a", sha, "nux");
    let out = refinery::process_next(&mut s, &t.town(), "rig").unwrap();
    let Outcome::Merged {
        mr: m,
        bead,
        sha: merged,
        ..
    } = out
    else {
        panic!("{out:?}")
    };
    assert_eq!((m.as_str(), bead.as_str()), (mr.as_str(), b.as_str()));
    assert_eq!(t.main_tip().to_string(), merged);
    assert_ne!(merged, sha.to_string(), "rebased onto the moved main");
    assert_eq!(t.main_file("a.txt").as_deref(), Some("a\n"));
    assert_eq!(t.main_file("o.txt").as_deref(), Some("o\n"));
    let bi = issues::get(s.conn(), &b).unwrap();
    assert_eq!(bi.status, Status::Closed);
    assert_eq!(bi.close_reason.as_deref(), Some("merged"));
    let mi = issues::get(s.conn(), &mr).unwrap();
    assert_eq!(mi.close_reason.as_deref(), Some("merged"));
    assert_eq!(mi.metadata["merged_sha"], merged.as_str());
    let w = mail::inbox(s.conn(), "rig/witness", false, 10).unwrap();
    assert_eq!(w.messages[0].subject, format!("MERGED {b}"));
    assert_eq!(kinds(&s), ["done", "mr.merged", "mail.sent"]);
    let runs = mq::runs(s.conn(), &mr).unwrap();
    assert_eq!(runs[0].outcome.as_deref(), Some("merged"));
    // Empty queue.
    assert!(matches!(
        refinery::process_next_with(&mut s, &t.rig_config()).unwrap(),
        Outcome::Idle { .. }
    ));
}

#[test]
fn conflict_rejects_with_note_and_mail() {
    let t = TownFixture::new(json!({}));
    let mut s = t.store();
    let b1 = bead(&mut s, "one");
    let b2 = bead(&mut s, "two");
    let s1 = t.branch("p/one", &[("base.txt", "one\n")], None);
    let s2 = t.branch("p/two", &[("base.txt", "two\n")], None);
    enqueue(&mut s, &b1, "p/one", s1, "nux");
    let mr2 = enqueue(&mut s, &b2, "p/two", s2, "slit");
    let cfg = t.rig_config();
    let outs = refinery::drain(&mut s, &cfg).unwrap();
    assert!(matches!(outs[0], Outcome::Merged { .. }), "{outs:?}");
    let Outcome::Rejected {
        failure, command, ..
    } = &outs[1]
    else {
        panic!("{outs:?}")
    };
    assert_eq!(failure, "conflict");
    assert!(command.contains("git rebase p/two"), "{command}");
    let bi = issues::get(s.conn(), &b2).unwrap();
    assert_eq!(bi.status, Status::Open);
    assert!(
        bi.notes.starts_with("MERGE REJECTION (conflict)"),
        "{}",
        bi.notes
    );
    assert!(bi.notes.contains("command: git rebase"), "{}", bi.notes);
    assert!(bi.notes.contains("CONFLICT in: base.txt"), "{}", bi.notes);
    let mi = issues::get(s.conn(), &mr2).unwrap();
    assert_eq!(mi.close_reason.as_deref(), Some("rejected: conflict"));
    let w = mail::inbox(s.conn(), "rig/witness", true, 10).unwrap();
    let m = w
        .messages
        .iter()
        .find(|m| m.kind == "merge_failed")
        .expect("mail to the witness");
    assert_eq!(m.subject, format!("MERGE_FAILED {b2}: conflict"));
    assert!(m.body.starts_with("MERGE REJECTION"));
    assert_eq!(m.about.as_deref(), Some("rig/polecats/slit"));
    assert_eq!(t.main_file("base.txt").as_deref(), Some("one\n"));
}

#[test]
fn failed_gate_rejects_with_command_and_output_tail() {
    let t = TownFixture::new(json!({}));
    let mut s = t.store();
    let b = bead(&mut s, "gated");
    let sha = t.branch("p/g", &[("g.txt", "g\n")], None);
    let before = t.main_tip();
    enqueue(&mut s, &b, "p/g", sha, "nux");
    let cfg = t.rig_config_with(&[
        ("setup", "true"),
        (
            "test",
            "echo running tests; test -f g.txt; echo boom >&2; exit 3",
        ),
        ("build", "echo never"),
    ]);
    let out = refinery::process_next_with(&mut s, &cfg).unwrap();
    let Outcome::Rejected {
        failure, command, ..
    } = out
    else {
        panic!("{out:?}")
    };
    assert_eq!(failure, "gate:test");
    assert!(command.starts_with("echo running tests"));
    let bi = issues::get(s.conn(), &b).unwrap();
    assert!(
        bi.notes.starts_with("MERGE REJECTION (gate:test)"),
        "{}",
        bi.notes
    );
    assert!(bi.notes.contains("boom"), "{}", bi.notes);
    assert!(bi.notes.contains("[exit status: 3]"), "{}", bi.notes);
    assert!(!bi.notes.contains("never"));
    assert_eq!(t.main_tip(), before, "main did not move");
}

#[test]
fn closed_or_superseded_beads_are_dropped() {
    let t = TownFixture::new(json!({}));
    let mut s = t.store();
    let b = bead(&mut s, "closed meanwhile");
    let sha = t.branch("p/c", &[("c.txt", "c\n")], None);
    let mr = enqueue(&mut s, &b, "p/c", sha, "nux");
    s.write(|tx| tx.close(&b, Some("wontfix"))).unwrap();
    let out = refinery::process_next_with(&mut s, &t.rig_config()).unwrap();
    let Outcome::Dropped { mr: m, reason } = out else {
        panic!("{out:?}")
    };
    assert_eq!(m, mr);
    assert!(
        reason.contains("was closed meanwhile (wontfix)"),
        "{reason}"
    );
    assert!(t.main_file("c.txt").is_none());
    // Superseded: two MRs for one bead; the older is dropped, the newer merges.
    let b2 = bead(&mut s, "reworked");
    let old = t.branch("p/r1", &[("r.txt", "1\n")], None);
    let new = t.branch("p/r2", &[("r.txt", "2\n")], None);
    let old_mr = enqueue(&mut s, &b2, "p/r1", old, "nux");
    let new_mr = enqueue(&mut s, &b2, "p/r2", new, "nux");
    let outs = refinery::drain(&mut s, &t.rig_config()).unwrap();
    assert!(
        matches!(&outs[0], Outcome::Dropped { mr, reason } if *mr == old_mr && reason.contains(&new_mr)),
        "{outs:?}"
    );
    assert!(matches!(&outs[1], Outcome::Merged { mr, .. } if *mr == new_mr));
    assert_eq!(t.main_file("r.txt").as_deref(), Some("2\n"));
    assert!(kinds(&s).contains(&"mr.dropped".to_string()));
}

#[test]
fn convoy_lands_only_when_every_bead_is_merged() {
    let t = TownFixture::new(json!({}));
    let mut s = t.store();
    let b1 = bead(&mut s, "one");
    let b2 = bead(&mut s, "two");
    let c = convoy::create(
        &mut s,
        &NewConvoy {
            name: "pair".into(),
            beads: vec![b1.clone(), b2.clone()],
            owner: "mayor".into(),
            notify: vec!["rig/crew/ann".into(), "overseer".into()],
            ..Default::default()
        },
    )
    .unwrap();
    let s1 = t.branch("p/1", &[("1.txt", "1\n")], None);
    enqueue(&mut s, &b1, "p/1", s1, "nux");
    let st = convoy::status(s.conn(), "hq", &c.id).unwrap();
    assert_eq!(st.summary.progress.done, 1, "MR queued = done, not merged");
    refinery::drain(&mut s, &t.rig_config()).unwrap();
    let st = convoy::status(s.conn(), "hq", &c.id).unwrap();
    assert_eq!(
        (st.summary.progress.merged, st.summary.progress.open),
        (1, 1)
    );
    // The agent saying "done" (closing the bead) does not land it.
    s.write(|tx| tx.close(&b2, Some("done"))).unwrap();
    assert_eq!(issues::get(s.conn(), &c.id).unwrap().status, Status::Open);
    assert_eq!(
        convoy::status(s.conn(), "hq", &c.id)
            .unwrap()
            .summary
            .progress
            .closed_unmerged,
        1
    );
    // Its merge request is dropped (bead closed); reopen and merge for real.
    s.write(|tx| tx.reopen(&b2)).unwrap();
    let s2 = t.branch("p/2", &[("2.txt", "2\n")], None);
    enqueue(&mut s, &b2, "p/2", s2, "slit");
    let outs = refinery::drain(&mut s, &t.rig_config()).unwrap();
    let Outcome::Merged { landed, .. } = &outs[0] else {
        panic!("{outs:?}")
    };
    assert_eq!(landed, &vec![c.id.clone()]);
    let ci = issues::get(s.conn(), &c.id).unwrap();
    assert_eq!(ci.close_reason.as_deref(), Some("landed"));
    for who in ["mayor", "rig/crew/ann", "overseer"] {
        let ib = mail::inbox(s.conn(), who, false, 10).unwrap();
        assert!(
            ib.messages
                .iter()
                .any(|m| m.kind == "convoy_landed" && m.subject == "Convoy landed: pair"),
            "{who}: {ib:?}"
        );
    }
    let k = kinds(&s);
    let landed_at = k.iter().position(|k| k == "convoy.landed").unwrap();
    let last_merge = k.iter().rposition(|k| k == "mr.merged").unwrap();
    assert!(landed_at > last_merge, "{k:?}");
    // Adding a bead reopens a landed convoy.
    let b3 = bead(&mut s, "three");
    let r = convoy::add(&mut s, &c.id, &[b3]).unwrap();
    assert!(r.reopened);
    assert_eq!(issues::get(s.conn(), &c.id).unwrap().status, Status::Open);
}

#[test]
fn cross_rig_convoy_and_auto_convoy_for_sling() {
    let t = TownFixture::new(json!({}));
    let mut s = t.store();
    let b = bead(&mut s, "lonely");
    let id = s
        .write(|tx| convoy::ensure_for_bead(tx, &b, "mayor"))
        .unwrap()
        .unwrap();
    let c = issues::get(s.conn(), &id).unwrap();
    assert_eq!(c.title, "Work: lonely");
    assert_eq!(c.metadata["auto"], true);
    // A second sling does not create another.
    assert!(s
        .write(|tx| convoy::ensure_for_bead(tx, &b, "mayor"))
        .unwrap()
        .is_none());
    // MRs from two rigs land one convoy (one store per town).
    let b2 = bead(&mut s, "other rig");
    convoy::add(&mut s, &id, std::slice::from_ref(&b2)).unwrap();
    let sha = t.branch("p/l", &[("l.txt", "l\n")], None);
    enqueue(&mut s, &b, "p/l", sha, "nux");
    refinery::drain(&mut s, &t.rig_config()).unwrap();
    s.write(|tx| {
        let mr = mq::enqueue_tx(
            tx,
            &NewMr {
                bead: b2.clone(),
                rig: "other".into(),
                branch: "x".into(),
                ..Default::default()
            },
        )?;
        let m = mq::MergeRequest::from_issue(&mr)?;
        mq::merged_tx(tx, &m, "abc", "main")
    })
    .unwrap();
    assert_eq!(
        issues::get(s.conn(), &id).unwrap().close_reason.as_deref(),
        Some("landed")
    );
}

#[test]
fn pr_strategy_pushes_and_stops_short_of_merging() {
    let t = TownFixture::new(json!({}));
    let mut s = t.store();
    let b = bead(&mut s, "protected main");
    let sha = t.branch("p/pr", &[("pr.txt", "pr\n")], None);
    let mr = enqueue(&mut s, &b, "p/pr", sha, "nux");
    let before = t.main_tip();
    let mut cfg = t.rig_config();
    cfg.strategy = StrategyKind::Pr;
    cfg.pr_poll_every = std::time::Duration::ZERO;
    let out = refinery::process_next_with(&mut s, &cfg).unwrap();
    let Outcome::Pushed { url, .. } = &out else {
        panic!("{out:?}")
    };
    assert_eq!(*url, None, "a local origin has no compare page");
    assert_eq!(t.main_tip(), before);
    assert_eq!(t.origin().refname_to_id("refs/heads/p/pr").unwrap(), sha);
    assert_eq!(issues::get(s.conn(), &mr).unwrap().status, Status::Deferred);
    assert_ne!(issues::get(s.conn(), &b).unwrap().status, Status::Closed);
    // The pull request is still open: nothing to do.
    assert!(matches!(
        refinery::process_next_with(&mut s, &cfg).unwrap(),
        Outcome::Idle { .. }
    ));
    // The host merges it (fast-forward of the origin's main): merged.
    t.origin()
        .reference("refs/heads/main", sha, true, "pr merged")
        .unwrap();
    let out = refinery::process_next_with(&mut s, &cfg).unwrap();
    assert!(matches!(out, Outcome::Merged { .. }), "{out:?}");
    assert_eq!(
        issues::get(s.conn(), &b).unwrap().close_reason.as_deref(),
        Some("merged")
    );
}

#[test]
fn refinery_finishes_a_merge_a_dead_refinery_left_half_done() {
    let t = TownFixture::new(json!({}));
    let mut s = t.store();
    let b = bead(&mut s, "crashy");
    let sha = t.branch("p/x", &[("x.txt", "x\n")], None);
    let mr = enqueue(&mut s, &b, "p/x", sha, "nux");
    // Simulate: claimed, candidate recorded, main moved, then the process died.
    s.write(|tx| -> gastown::coord::Result<()> {
        tx.update(
            &mr,
            &gastown::store::Update {
                status: Some(Status::InProgress),
                assignee: Some(Some("rig/refinery".into())),
                ..Default::default()
            },
        )?;
        tx.conn().execute(
            "INSERT INTO mq_runs (mr_id, rig, started_at, candidate) VALUES (?1, 'rig', ?2, ?3)",
            rusqlite::params![mr, tx.now, sha.to_string()],
        )?;
        Ok(())
    })
    .unwrap();
    coord_support::cmd::git_in(
        &t.path("rig/.repo.git"),
        &["push", "-q", "origin", &format!("{sha}:refs/heads/main")],
    );
    let out = refinery::process_next_with(&mut s, &t.rig_config()).unwrap();
    assert!(matches!(out, Outcome::Recovered { .. }), "{out:?}");
    assert_eq!(
        issues::get(s.conn(), &b).unwrap().close_reason.as_deref(),
        Some("merged")
    );
}

#[test]
fn nudges_queue_drain_and_tmux_delivery() {
    let t = TownFixture::new(json!({}));
    let mut s = t.store();
    let n = nudge::queue(&mut s, "rig/polecats/nux", "mayor", "check your hook", None).unwrap();
    assert_eq!(
        nudge::pending_nudges(s.conn(), "rig/polecats/nux")
            .unwrap()
            .len(),
        1
    );
    // No tmux binary: skipped cleanly, still queued.
    let none = Tmux {
        bin: "/nonexistent/tmux".into(),
        socket: None,
        confirm_timeout: std::time::Duration::from_millis(10),
    };
    let d = nudge::deliver_queued(&mut s, &none, n.id, "gt-nux").unwrap();
    assert!(matches!(d, Delivery::Skipped(_)), "{d:?}");
    assert_eq!(
        nudge::pending_nudges(s.conn(), "rig/polecats/nux")
            .unwrap()
            .len(),
        1
    );
    // The next prime drains it.
    let c = mail::check(&mut s, "rig/polecats/nux", None, true, 10).unwrap();
    assert_eq!(c.nudges.len(), 1);
    assert!(mail::render_inject(&c).contains("NUDGE from mayor: check your hook"));
    assert!(nudge::pending_nudges(s.conn(), "rig/polecats/nux")
        .unwrap()
        .is_empty());
    // Live delivery with confirmation, when tmux is installed.
    let sock = format!("gt-test-{}", std::process::id());
    let tmux = Tmux {
        bin: "tmux".into(),
        socket: Some(sock.clone()),
        confirm_timeout: std::time::Duration::from_secs(5),
    };
    if !tmux.available() {
        eprintln!("skipped: live tmux delivery (tmux is not installed)");
        return;
    }
    let started = std::process::Command::new("tmux")
        .args(["-L", &sock, "new-session", "-d", "-s", "nux", "cat"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !started {
        eprintln!("skipped: live tmux delivery (cannot start a tmux server here)");
        return;
    }
    let n2 = nudge::queue(&mut s, "rig/polecats/nux", "mayor", "second nudge", None).unwrap();
    let d = nudge::deliver_queued(&mut s, &tmux, n2.id, "nux").unwrap();
    let missing = nudge::deliver_tmux(&tmux, "no-such-session", "x");
    let _ = std::process::Command::new("tmux")
        .args(["-L", &sock, "kill-server"])
        .status();
    // Typed is not delivered: `cat` runs no UserPromptSubmit hook.
    assert_eq!(d, Delivery::Typed);
    assert!(matches!(missing, Delivery::Skipped(_)));
    assert_eq!(nudge::get(s.conn(), n2.id).unwrap().state, "queued");
    // The agent's hook reports a prompt carrying the tag: delivered.
    let prompt = nudge::tagged(&nudge::get(s.conn(), n2.id).unwrap());
    assert!(
        prompt.starts_with(&format!("[nudge {} from mayor] ", n2.id)),
        "{prompt}"
    );
    let other = nudge::queue(&mut s, "rig/polecats/nux", "mayor", "third", None).unwrap();
    let confirmed = nudge::confirm_from_prompt(&mut s, "rig/polecats/nux", &prompt).unwrap();
    assert_eq!(confirmed, vec![n2.id], "only the nudge the prompt carries");
    assert_eq!(nudge::get(s.conn(), n2.id).unwrap().state, "delivered");
    assert_eq!(nudge::get(s.conn(), other.id).unwrap().state, "queued");
    assert!(kinds(&s).contains(&"nudge.delivered".to_string()));
}

#[test]
fn doctor_reports_and_repairs_what_is_safe() {
    let t = TownFixture::new(json!({}));
    let mut s = t.store();
    let b = bead(&mut s, "merged but left open");
    let held = bead(&mut s, "held by a dead polecat");
    let c_bead = bead(&mut s, "in an unlanded convoy");
    let c = convoy::create(
        &mut s,
        &NewConvoy {
            name: "stuck convoy".into(),
            beads: vec![c_bead.clone()],
            owner: "mayor".into(),
            ..Default::default()
        },
    )
    .unwrap();
    s.write(|tx| -> gastown::coord::Result<()> {
        // MR merged, bead left open (the Gas Town bug the refinery avoids).
        let mr = mq::enqueue_tx(
            tx,
            &NewMr {
                bead: b.clone(),
                rig: "rig".into(),
                branch: "p/b".into(),
                ..Default::default()
            },
        )?;
        tx.close(&mr.id, Some("merged"))?;
        // A bead closed as merged without the convoy check.
        tx.close(&c_bead, Some("merged"))?;
        Ok(())
    })
    .unwrap();
    // A polecat whose session died holding its hook (no supervisor runs).
    drop(s);
    use coord_support::cmd;
    cmd::install_fake_polecat_agent(t.root(), "#!/bin/sh\nexit 1\n");
    cmd::ok(cmd::run(
        cmd::GT,
        t.root(),
        t.root(),
        &["--json", "sling", &held, "rig"],
    ));
    let s = t.store();
    let dead = cmd::wait_until(|| {
        gastown::store::agents::list(t.store().conn())
            .unwrap()
            .iter()
            .all(|a| !a.session_alive())
    });
    assert!(dead);
    // A worktree whose directory was deleted by hand.
    let repo = t.repo();
    let wt_path = t.path("rig/polecats/gone");
    std::fs::create_dir_all(t.path("rig/polecats")).unwrap();
    repo.worktree("gone", &wt_path, None).unwrap();
    std::fs::remove_dir_all(&wt_path).unwrap();
    drop(s);

    let report = doctor::run(t.root(), &doctor::Options::default());
    let level = |check: &str| {
        report
            .findings
            .iter()
            .filter(|f| f.check == check)
            .map(|f| f.level)
            .collect::<Vec<_>>()
    };
    assert_eq!(level("store.integrity"), [Level::Ok]);
    assert_eq!(level("store.schema"), [Level::Ok]);
    // Library writes keep the JSONL current (the store's write path exports).
    assert_eq!(level("ledger.drift"), [Level::Ok], "{report:#?}");
    assert_eq!(level("hooks.dead"), [Level::Warn]);
    assert_eq!(level("mq.merged_open"), [Level::Warn]);
    assert_eq!(level("convoys.unlanded"), [Level::Warn]);
    assert_eq!(level("worktrees.orphaned"), [Level::Warn]);
    assert_eq!(report.errors(), 0, "{report:#?}");

    let fixed = doctor::run(
        t.root(),
        &doctor::Options {
            fix: true,
            ..Default::default()
        },
    );
    assert_eq!(fixed.fixed(), 4, "{fixed:#?}");
    let s = t.store();
    assert_eq!(
        issues::get(s.conn(), &b).unwrap().close_reason.as_deref(),
        Some("merged")
    );
    let h = issues::get(s.conn(), &held).unwrap();
    assert_eq!((h.status, h.assignee.as_deref()), (Status::Open, None));
    assert!(h.notes.contains("RELEASED by gt doctor --fix"));
    assert_eq!(
        issues::get(s.conn(), &c.id)
            .unwrap()
            .close_reason
            .as_deref(),
        Some("landed")
    );
    assert!(t.repo().find_worktree("gone").is_err());
    drop(s);
    let clean = doctor::run(t.root(), &doctor::Options::default());
    // Whether this machine has the town's agent CLI (`agents.launch`) is
    // not this test's business (tests/agents_roles.rs).
    let bad: Vec<_> = clean
        .findings
        .iter()
        .filter(|f| f.level != Level::Ok && f.check != "agents.launch")
        .collect();
    assert!(bad.is_empty(), "{clean:#?}");
    let _ = Address::Mayor;
}

#[test]
fn concurrent_refineries_merge_each_request_once() {
    let t = TownFixture::new(json!({}));
    let mut s = t.store();
    for i in 0..6 {
        let b = bead(&mut s, &format!("b{i}"));
        let sha = t.branch(&format!("p/{i}"), &[(&format!("c{i}.txt"), "c\n")], None);
        enqueue(&mut s, &b, &format!("p/{i}"), sha, "nux");
    }
    drop(s);
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let root = t.root().to_path_buf();
            let cfg = t.rig_config();
            std::thread::spawn(move || {
                let mut s = Store::open(&root.join(".beads")).unwrap();
                refinery::drain(&mut s, &cfg).unwrap()
            })
        })
        .collect();
    let mut merged: Vec<String> = Vec::new();
    for h in handles {
        for o in h.join().unwrap() {
            match o {
                Outcome::Merged { mr, .. } => merged.push(mr),
                other => panic!("{other:?}"),
            }
        }
    }
    merged.sort();
    merged.dedup();
    assert_eq!(merged.len(), 6);
    for i in 0..6 {
        assert_eq!(t.main_file(&format!("c{i}.txt")).as_deref(), Some("c\n"));
    }
}

#[test]
fn gate_timeout_rejects() {
    let t = TownFixture::new(json!({}));
    let mut s = t.store();
    let b = bead(&mut s, "slow");
    let sha = t.branch("p/slow", &[("s.txt", "s\n")], None);
    enqueue(&mut s, &b, "p/slow", sha, "nux");
    let mut cfg = t.rig_config_with(&[("test", "echo started; sleep 30")]);
    cfg.gate_timeout = std::time::Duration::from_secs(1);
    let out = refinery::process_next_with(&mut s, &cfg).unwrap();
    assert!(
        matches!(&out, Outcome::Rejected { failure, .. } if failure == "gate:test"),
        "{out:?}"
    );
    let notes = issues::get(s.conn(), &b).unwrap().notes;
    assert!(
        notes.contains("started") && notes.contains("[timed out after 1 s]"),
        "{notes}"
    );
}

#[test]
fn doctor_accepts_polecat_worktrees_and_flags_stray_directories() {
    let t = TownFixture::new(json!({}));
    let repo = t.repo();
    std::fs::create_dir_all(t.path("rig/polecats/nux")).unwrap();
    let main = repo.find_commit(t.main_tip()).unwrap();
    let br = repo.branch("polecat/nux/x", &main, false).unwrap();
    let r = br.into_reference();
    let mut o = git2::WorktreeAddOptions::new();
    o.reference(Some(&r));
    repo.worktree("nux", &t.path("rig/polecats/nux/rig"), Some(&o))
        .unwrap();
    std::fs::create_dir_all(t.path("rig/polecats/stray")).unwrap();
    let rep = doctor::run(t.root(), &doctor::Options::default());
    let wt: Vec<&doctor::Finding> = rep
        .findings
        .iter()
        .filter(|f| f.check == "worktrees.orphaned")
        .collect();
    assert_eq!(wt.len(), 1, "{wt:#?}");
    assert!(wt[0].message.contains("polecats/stray"), "{wt:#?}");
    // --fix never removes a directory.
    doctor::run(
        t.root(),
        &doctor::Options {
            fix: true,
            ..Default::default()
        },
    );
    assert!(t.path("rig/polecats/stray").is_dir());
}

#[test]
fn wrong_target_branch_is_one_clear_error_and_leaves_the_queue_alone() {
    let t = TownFixture::on_branch("master", json!({}));
    coord_support::cmd::config_set(t.root(), "merge_queue.target", "main", Some("rig"));
    let mut s = t.store();
    let b = bead(&mut s, "targets a branch the origin lacks");
    let sha = t.branch("p/w", &[("w.txt", "w\n")], None);
    let mr = enqueue(&mut s, &b, "p/w", sha, "nux");
    for _ in 0..3 {
        let e = refinery::process_next(&mut s, &t.town(), "rig").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("no branch `main`"), "{msg}");
        assert!(e.help().unwrap().contains("gt rig refresh rig"), "{e:?}");
    }
    assert!(
        mq::runs(s.conn(), &mr).unwrap().is_empty(),
        "nothing claimed"
    );
    assert_eq!(issues::get(s.conn(), &mr).unwrap().status, Status::Open);
    // Back to the origin's own default branch (`master`): it merges there.
    coord_support::cmd::config_set(t.root(), "merge_queue.target", "null", Some("rig"));
    let out = refinery::process_next(&mut s, &t.town(), "rig").unwrap();
    assert!(matches!(out, Outcome::Merged { .. }), "{out:?}");
    assert_eq!(t.main_file("w.txt").as_deref(), Some("w\n"));
}
