//! Dashboard benchmarks (target in docs/dashboard.md): the first page
//! (`GET /` through the router, guard and templates) renders in < 50 ms with
//! 1,000 beads, 100 agents and 10,000 events in the store; also the
//! molecule view (DAG + checklist) and one live refresh of a page.

use axum::body::Body;
use axum::http::{header, Request};
use criterion::{criterion_group, criterion_main, Criterion};
use gastown::coord::convoy::{self, NewConvoy};
use gastown::coord::mail::{self, Outgoing};
use gastown::coord::mq::{self, NewMr};
use gastown::dashboard::render::{self, View};
use gastown::dashboard::{routes, App, Config};
use gastown::molecule::{self, PourOptions};
use gastown::store::agents::AgentUpdate;
use gastown::store::NewIssue;
use gastown::town::Town;
use http_body_util::BodyExt;
use std::time::Instant;
use tower::ServiceExt;

const FORMULA: &str = r#"formula = "bench"
type = "workflow"
version = 1
description = "A diamond of steps"

[[steps]]
id = "design"
title = "Design"

[[steps]]
id = "api"
title = "API"
needs = ["design"]

[[steps]]
id = "ui"
title = "UI"
needs = ["design"]

[[steps]]
id = "review"
title = "Review"
needs = ["api", "ui"]
"#;

/// A town with 1,000 beads (20 molecules of 5, 880 tasks, 20 convoys, 20
/// merge requests, ...), 100 agents, 10,000 events and 200 messages.
fn town() -> (tempfile::TempDir, Town, String) {
    let d = tempfile::tempdir().expect("tempdir");
    let town = Town::install(&d.path().join("town"), false).expect("install");
    let mut store = town.store().expect("store");
    let f = d.path().join("bench.formula.toml");
    std::fs::write(&f, FORMULA).expect("formula");
    let proto = molecule::load_proto(
        f.to_str().expect("utf-8 path"),
        d.path(),
        &Default::default(),
    )
    .expect("cook");
    let mut mols = Vec::new();
    for _ in 0..20 {
        let r = molecule::pour(&mut store, &proto, &PourOptions::default()).expect("pour");
        mols.push(r.new_epic_id);
    }
    store
        .write(|tx| -> gastown::coord::Result<()> {
            let mut beads = Vec::new();
            for i in 0..880 {
                let b = tx.create(&NewIssue {
                    title: format!("Task {i}: do a thing <with> markup"),
                    ..Default::default()
                })?;
                beads.push(b.id);
            }
            for c in 0..20 {
                convoy::create_tx(
                    tx,
                    &NewConvoy {
                        name: format!("Convoy {c}"),
                        owner: "overseer".into(),
                        ..Default::default()
                    },
                    &beads[c * 20..c * 20 + 20],
                )?;
            }
            for (i, b) in beads.iter().take(20).enumerate() {
                mq::enqueue_tx(
                    tx,
                    &NewMr {
                        bead: b.clone(),
                        rig: "app".into(),
                        branch: format!("polecat/p{i}/{b}"),
                        head_sha: "0".repeat(40),
                        polecat: Some(format!("p{i}")),
                        generation: Some(1),
                        priority: None,
                        ..Default::default()
                    },
                )?;
            }
            for a in 0..100 {
                let name = format!("p{a}");
                let hook = if a < 20 {
                    mols[a].clone()
                } else {
                    beads[100 + a].clone()
                };
                tx.agent_upsert(&AgentUpdate {
                    rig: "app",
                    name: &name,
                    role: "polecat",
                    state: ["working", "idle", "stuck", "dead"][a % 4],
                    hooked_bead: Some(&hook),
                    agent: Some("claude"),
                    bump_generation: true,
                    ..Default::default()
                })?;
            }
            let to = [gastown::coord::address::Address::Overseer];
            for m in 0..200 {
                mail::send_tx(
                    tx,
                    &to,
                    &Outgoing {
                        from: "mayor".into(),
                        subject: format!("Message {m}"),
                        body: "body".into(),
                        kind: if m % 10 == 0 {
                            "escalation"
                        } else {
                            "notification"
                        }
                        .into(),
                        ..Default::default()
                    },
                )?;
            }
            Ok(())
        })
        .expect("seed");
    let have: i64 = store
        .conn()
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .expect("count");
    store
        .write(|tx| -> gastown::store::Result<()> {
            for e in have..10_000 {
                let kind = ["heartbeat", "step.started", "updated", "mail.sent"][(e % 4) as usize];
                let payload = format!("{{\"agent\": \"app/polecats/p{}\"}}", e % 100);
                tx.event(&mols[(e % 20) as usize], kind, None, None, Some(&payload))?;
            }
            Ok(())
        })
        .expect("events");
    let beads: i64 = store
        .conn()
        .query_row("SELECT count(*) FROM issues", [], |r| r.get(0))
        .expect("count");
    let events: i64 = store
        .conn()
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .expect("count");
    eprintln!("store: {beads} beads, 100 agents, {events} events");
    (d, town, mols[0].clone())
}

fn bench_dashboard(c: &mut Criterion) {
    let (_d, town, mol) = town();
    let (_d2, town2, mol2) = self::town();
    latency_and_memory(&mol2, &town2);
    let app = App::new(town, Config::loopback(8080)).expect("app");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let get = |path: &str| {
        let req = Request::get(path)
            .header(header::HOST, "127.0.0.1:8080")
            .body(Body::empty())
            .expect("request");
        let router = routes::router(app.clone());
        rt.block_on(async move {
            let r = router.oneshot(req).await.expect("response");
            assert!(r.status().is_success(), "{}", r.status());
            r.into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes()
                .len()
        })
    };
    // The very first page, cold caches included.
    let t = Instant::now();
    let n = get("/");
    eprintln!(
        "first page (cold): {:.1} ms, {n} bytes",
        t.elapsed().as_secs_f64() * 1000.0
    );
    c.bench_function("dashboard GET / (1k beads, 100 agents, 10k events)", |b| {
        b.iter(|| get("/"))
    });
    let mol_path = format!("/molecules/{mol}");
    c.bench_function("dashboard GET /molecules/<id> (DAG)", |b| {
        b.iter(|| get(&mol_path))
    });
    c.bench_function("dashboard GET /agents", |b| b.iter(|| get("/agents")));
    c.bench_function("dashboard live refresh of the overview", |b| {
        b.iter(|| {
            app.with_store(|s| render::live_parts(&app, s, &View::Overview, 0))
                .expect("render")
        })
    });
}

/// Read SSE frames from `body` until `n` events named `kind` arrived (or it ends).
async fn count_events(
    body: &mut Body,
    kind: &str,
    n: usize,
    done: &std::sync::atomic::AtomicBool,
) -> usize {
    let mut buf = String::new();
    let mut seen = 0;
    let needle = format!("event: {kind}\n");
    while seen < n && !done.load(std::sync::atomic::Ordering::Relaxed) {
        match tokio::time::timeout(std::time::Duration::from_millis(200), body.frame()).await {
            Ok(Some(Ok(f))) => {
                if let Ok(d) = f.into_data() {
                    buf.push_str(&String::from_utf8_lossy(&d));
                }
                while let Some(end) = buf.find("\n\n") {
                    let frame: String = buf.drain(..end + 2).collect();
                    if frame.contains(&needle) {
                        seen += 1;
                    }
                }
            }
            Ok(_) => break,
            Err(_) => {}
        }
    }
    seen
}

fn open_stream(rt: &tokio::runtime::Runtime, app: &std::sync::Arc<App>, view: &str) -> Body {
    let req = Request::get(format!("/live?view={view}&after=0"))
        .header(header::HOST, "127.0.0.1:8080")
        .body(Body::empty())
        .expect("request");
    let router = routes::router(app.clone());
    rt.block_on(async move { router.oneshot(req).await.expect("stream").into_body() })
}

/// How long from a step's close to the open molecule page's re-rendered
/// view, and whether the server's memory grows while pages stay open
/// through a stream of changes (not timed by criterion: printed figures).
fn latency_and_memory(mol: &str, town: &Town) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let app = App::new(town.clone(), Config::loopback(8080)).expect("app");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let never = AtomicBool::new(false);
    let mut body = open_stream(&rt, &app, &format!("/molecules/{mol}"));
    rt.block_on(count_events(&mut body, "view", 1, &never));
    let mut lat = Vec::new();
    let mut store = town.store().expect("store");
    for step in ["design", "api", "ui", "review"] {
        let id = format!("{mol}.{step}");
        let t = Instant::now();
        store
            .write(|tx| tx.close(&id, None).map(|_| ()))
            .expect("close");
        let got = rt.block_on(count_events(&mut body, "view", 1, &never));
        assert_eq!(got, 1, "no view event after closing {id}");
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    lat.sort_by(f64::total_cmp);
    eprintln!(
        "step close -> pushed view: median {:.0} ms, max {:.0} ms (poll 150 ms)",
        lat[lat.len() / 2],
        lat[lat.len() - 1]
    );
    // Memory: three open pages, 600 changes (a step reopened and closed,
    // and a story event, each), RSS sampled after warm-up and at the end.
    let pid = std::process::id() as i64;
    let done = std::sync::Arc::new(AtomicBool::new(false));
    let mut bodies: Vec<Body> = ["/", format!("/molecules/{mol}").as_str(), "/agents"]
        .iter()
        .map(|v| open_stream(&rt, &app, v))
        .collect();
    let writer = {
        let town = town.clone();
        let mol = mol.to_string();
        let done = done.clone();
        std::thread::spawn(move || {
            let mut store = town.store().expect("store");
            let id = format!("{mol}.review");
            let mut warm = 0;
            for i in 0..600 {
                store
                    .write(|tx| -> gastown::store::Result<()> {
                        if i % 2 == 0 {
                            tx.close(&id, None)?;
                        } else {
                            tx.reopen(&id)?;
                        }
                        tx.event(
                            &mol,
                            "heartbeat",
                            None,
                            None,
                            Some("{\"agent\": \"app/polecats/p0\"}"),
                        )?;
                        Ok(())
                    })
                    .expect("write");
                if i == 100 {
                    warm = gastown::runtime::proc::rss_bytes(pid).unwrap_or(0);
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
            done.store(true, Ordering::Relaxed);
            warm
        })
    };
    let seen: usize = rt
        .block_on(futures_util::future::join_all(
            bodies
                .iter_mut()
                .map(|b| count_events(b, "view", usize::MAX, &done)),
        ))
        .into_iter()
        .sum();
    let warm = writer.join().expect("writer");
    let end = gastown::runtime::proc::rss_bytes(pid).unwrap_or(0);
    eprintln!(
        "memory with 3 open pages through 600 changes: RSS {:.1} MiB after 100, {:.1} MiB after 600 ({} view pushes)",
        warm as f64 / 1048576.0,
        end as f64 / 1048576.0,
        seen
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = bench_dashboard
}
criterion_main!(benches);
