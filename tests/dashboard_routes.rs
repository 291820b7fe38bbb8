//! `gt dashboard` routes, served in-process (tower `oneshot` on the real
//! router) over a town built with `gt install`, `gt rig add`, `bd create`,
//! `gt sling`: status, content, escaping of hostile titles, CSRF and
//! cross-origin refusal, the token off loopback, and the live stream.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use gastown::dashboard::{routes, App, Config};
use gastown::town::Town;
use http_body_util::BodyExt;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

mod common;
use common::town::*;

const HOSTILE: &str = "<script>alert('pwned')</script>";

/// A formula with a diamond: design -> (api, ui) -> review.
pub const FORMULA: &str = r#"formula = "release"
type = "workflow"
version = 1
description = "Ship a release"

[[steps]]
id = "design"
title = "Design <script>alert(1)</script>"

[[steps]]
id = "api"
title = "Build the API"
needs = ["design"]

[[steps]]
id = "ui"
title = "Build the UI"
needs = ["design"]

[[steps]]
id = "review"
title = "Review"
needs = ["api", "ui"]
"#;

struct World {
    tt: TownT,
    molecule: String,
    polecat: String,
}

fn world() -> World {
    let tt = setup();
    let town = &tt.town;
    install_fake_polecat_agent(town, "#!/bin/sh\nexit 0\n");
    create(town, &format!("Fix {HOSTILE}"));
    std::fs::write(town.join("release.formula.toml"), FORMULA).unwrap();
    let r = ok(run(
        GT,
        town,
        town,
        &[
            "--json",
            "sling",
            "./release.formula.toml",
            "app",
            "--no-start",
        ],
    ));
    ok(run(
        GT,
        town,
        town,
        &[
            "--json", "mail", "send", "overseer", "-s", HOSTILE, "-m", HOSTILE,
        ],
    ));
    World {
        molecule: r["bead"].as_str().unwrap().to_string(),
        polecat: r["address"].as_str().unwrap().to_string(),
        tt,
    }
}

fn app(town: &Path, config: Config) -> Arc<App> {
    App::new(
        Town {
            root: town.to_path_buf(),
        },
        config,
    )
    .unwrap()
}

fn loopback() -> Config {
    let mut c = Config::loopback(8080);
    c.poll = Duration::from_millis(40);
    c
}

struct Resp {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

async fn send(app: &Arc<App>, req: Request<Body>) -> Resp {
    let r = routes::router(app.clone()).oneshot(req).await.unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    let bytes = r.into_body().collect().await.unwrap().to_bytes();
    Resp {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

fn get(path: &str) -> Request<Body> {
    Request::get(path)
        .header(header::HOST, "127.0.0.1:8080")
        .body(Body::empty())
        .unwrap()
}

fn post(path: &str, form: &str, origin: Option<&str>) -> Request<Body> {
    let mut b = Request::post(path)
        .header(header::HOST, "127.0.0.1:8080")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "application/json");
    if let Some(o) = origin {
        b = b.header(header::ORIGIN, o);
    }
    b.body(Body::from(form.to_string())).unwrap()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// How the templates escape text (minijinja's HTML escaping).
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
        .replace('/', "&#x2f;")
}

fn assert_escaped(page: &str, body: &str) {
    assert!(
        !body.contains("<script>alert"),
        "{page}: raw hostile markup in the page:\n{body}"
    );
}

#[test]
fn every_view_renders_the_town_and_escapes_hostile_titles() {
    let w = world();
    let town = &w.tt.town;
    let a = app(town, loopback());
    rt().block_on(async {
        let overview = send(&a, get("/")).await;
        assert_eq!(overview.status, StatusCode::OK, "{}", overview.body);
        assert!(
            overview.body.contains(&esc(&w.polecat)),
            "agent row on the overview: {}",
            overview.body
        );
        assert!(
            overview.body.contains("Work: release"),
            "auto convoy on the overview"
        );
        assert!(
            overview.body.contains("&lt;script&gt;alert("),
            "escaped title"
        );
        let csp = overview.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(csp.contains("script-src 'self'"), "{csp}");
        let pages = [
            "/agents".to_string(),
            format!("/agent?addr={}", w.polecat),
            "/convoys".into(),
            "/molecules".into(),
            format!("/molecules/{}", w.molecule),
            "/mq".into(),
            "/mail".into(),
            "/mail?addr=overseer".into(),
            "/feed".into(),
        ];
        for p in &pages {
            let r = send(&a, get(p)).await;
            assert_eq!(r.status, StatusCode::OK, "{p}: {}", r.body);
            assert_escaped(p, &r.body);
        }
        let agents = send(&a, get("/agents")).await;
        assert!(
            agents.body.contains(&w.molecule),
            "hooked molecule: {}",
            agents.body
        );
        assert!(agents.body.contains("fake"), "the agent's program");
        let mol = send(&a, get(&format!("/molecules/{}", w.molecule))).await;
        assert!(mol.body.contains("<svg id=\"dag\""), "{}", mol.body);
        for step in ["design", "api", "ui", "review"] {
            assert!(
                mol.body
                    .contains(&format!("data-step=\"{}.{step}\"", w.molecule)),
                "step {step} in the DAG"
            );
        }
        assert!(mol.body.contains("class=\"edge e-blocks\""), "edges drawn");
        assert!(
            mol.body.contains("Design &lt;script&gt;"),
            "escaped step title"
        );
        let mail = send(&a, get("/mail?addr=overseer")).await;
        assert!(mail.body.contains(&esc(HOSTILE)), "{}", mail.body);
        let convoys = send(&a, get("/convoys")).await;
        let cid = convoys
            .body
            .split("href=\"/convoys/")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap()
            .to_string();
        let c = send(&a, get(&format!("/convoys/{cid}"))).await;
        assert_eq!(c.status, StatusCode::OK);
        assert!(
            c.body.contains(&w.molecule),
            "convoy drill-down lists its bead"
        );
        for p in [
            "/nope",
            "/molecules/hq-nope",
            "/convoys/hq-nope",
            "/agent?addr=x/polecats/y",
        ] {
            let r = send(&a, get(p)).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{p}");
        }
        let css = send(&a, get("/static/style.css")).await;
        assert_eq!(css.status, StatusCode::OK);
        assert!(!css.body.contains("http"), "no external assets");
    });
}

#[test]
fn actions_need_the_csrf_token_and_the_same_origin() {
    let w = world();
    let town = &w.tt.town;
    let a = app(town, loopback());
    let csrf = a.csrf.clone();
    let nudges = || {
        store(town)
            .conn()
            .query_row("SELECT count(*) FROM nudges", [], |r| r.get::<_, i64>(0))
            .unwrap()
    };
    rt().block_on(async {
        let form = format!("agent={}&message=hurry", w.polecat);
        let r = send(&a, post("/action/nudge", &form, None)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "no CSRF field: {}", r.body);
        let r = send(
            &a,
            post("/action/nudge", &format!("{form}&_csrf=deadbeef"), None),
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "wrong CSRF field");
        let good = format!("{form}&_csrf={csrf}");
        let r = send(
            &a,
            post("/action/nudge", &good, Some("http://evil.example")),
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "cross-origin");
        assert_eq!(nudges(), 0, "nothing was queued by a refused request");
        let r = send(
            &a,
            post("/action/nudge", &good, Some("http://127.0.0.1:8080")),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(r.body.contains("\"ok\":true"), "{}", r.body);
        assert_eq!(nudges(), 1);
        // Bad input is a clear error naming the problem.
        let r = send(
            &a,
            post(
                "/action/nudge",
                &format!("agent=app/polecats&message=x&_csrf={csrf}"),
                None,
            ),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.body.contains("is a group"), "{}", r.body);
        // Convoy and mail go through the same library calls as the CLI.
        let bead = create(town, "Tracked");
        let r = send(
            &a,
            post(
                "/action/convoy",
                &format!("name=Batch&beads={bead}&_csrf={csrf}"),
                None,
            ),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let list = ok(run(GT, town, town, &["--json", "convoy", "list"]));
        assert!(list.to_string().contains("Batch"), "{list}");
        let r = send(
            &a,
            post(
                "/action/mail",
                &format!("to=mayor&subject=Hello&body=hi&_csrf={csrf}"),
                None,
            ),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        // Without JSON, a form post redirects back with the outcome.
        let mut req = post(
            "/action/mail",
            &format!("to=nobody/x&subject=s&_csrf={csrf}&_back=/mail"),
            None,
        );
        req.headers_mut().remove(header::ACCEPT);
        let r = send(&a, req).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        let loc = r.headers[header::LOCATION].to_str().unwrap();
        assert!(loc.starts_with("/mail?err="), "{loc}");
    });
}

#[test]
fn loopback_refuses_foreign_host_names() {
    let w = world();
    let a = app(&w.tt.town, loopback());
    rt().block_on(async {
        let r = send(
            &a,
            Request::get("/")
                .header(header::HOST, "attacker.example:8080")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = send(
            &a,
            Request::get("/")
                .header(header::HOST, "localhost:8080")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
    });
}

#[test]
fn off_loopback_every_request_needs_the_token() {
    let w = world();
    let mut c = loopback();
    c.bind = SocketAddr::new(IpAddr::from([0, 0, 0, 0]), 8080);
    let token = "0123456789abcdef0123456789abcdef".to_string();
    c.token = Some(token.clone());
    let a = app(&w.tt.town, c);
    let req = |path: &str, auth: Option<(&str, String)>| {
        let mut b = Request::get(path).header(header::HOST, "192.0.2.7:8080");
        if let Some((k, v)) = auth {
            b = b.header(k, v);
        }
        b.body(Body::empty()).unwrap()
    };
    rt().block_on(async {
        for p in ["/", "/static/app.js", "/live?view=/", "/mq"] {
            let r = send(&a, req(p, None)).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{p}");
        }
        let r = send(&a, req("/", Some(("authorization", "Bearer wrong".into())))).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        let r = send(
            &a,
            req("/", Some(("authorization", format!("Bearer {token}")))),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
        // The token in the URL is traded for a cookie and dropped from the address.
        let r = send(&a, req(&format!("/mq?token={token}"), None)).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert_eq!(r.headers[header::LOCATION], "/mq");
        let cookie = r.headers[header::SET_COOKIE].to_str().unwrap().to_string();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
            "{cookie}"
        );
        let pair = cookie.split(';').next().unwrap().to_string();
        let r = send(&a, req("/mq", Some(("cookie", pair)))).await;
        assert_eq!(r.status, StatusCode::OK);
        // An action still needs its CSRF field with the token.
        let mut p = post("/action/mail", "to=mayor&subject=x", None);
        p.headers_mut()
            .insert(header::HOST, "192.0.2.7:8080".parse().unwrap());
        p.headers_mut().insert(
            header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
        assert_eq!(send(&a, p).await.status, StatusCode::FORBIDDEN);
    });
}

#[test]
fn the_token_file_is_created_once_and_private() {
    let w = world();
    let t = Town {
        root: w.tt.town.clone(),
    };
    let path = gastown::dashboard::token_path(&t);
    let (tok, created) = gastown::dashboard::security::load_or_create_token(&path).unwrap();
    assert!(created);
    assert_eq!(tok.len(), 64);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "only the owner reads the token");
    let (again, created) = gastown::dashboard::security::load_or_create_token(&path).unwrap();
    assert_eq!((again, created), (tok, false));
    std::fs::write(&path, "not a token").unwrap();
    let e = gastown::dashboard::security::load_or_create_token(&path).unwrap_err();
    assert!(e.help().unwrap().contains("delete the file"), "{e}");
}

/// Read SSE frames until one of kind `event` whose data satisfies `want`.
async fn wait_for_event(
    body: &mut Body,
    event: &str,
    want: impl Fn(&str) -> bool,
    on_idle: &mut dyn FnMut(),
) -> String {
    let mut buf = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            let kind = frame
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .unwrap_or("");
            let data: Vec<&str> = frame
                .lines()
                .filter_map(|l| l.strip_prefix("data: ").or(l.strip_prefix("data:")))
                .collect();
            let data = data.join("\n");
            eprintln!(
                "frame {kind}: {}",
                data.chars().take(300).collect::<String>()
            );
            if kind == event && want(&data) {
                return data;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no `{event}` event arrived"
        );
        match tokio::time::timeout(Duration::from_millis(300), body.frame()).await {
            Ok(Some(Ok(f))) => {
                if let Ok(d) = f.into_data() {
                    buf.push_str(&String::from_utf8_lossy(&d));
                }
            }
            Ok(_) => panic!("the stream ended"),
            Err(_) => on_idle(),
        }
    }
}

#[test]
fn the_live_stream_pushes_a_closed_step_and_new_feed_rows() {
    let w = world();
    let town = w.tt.town.clone();
    let a = app(&town, loopback());
    let step = format!("{}.design", w.molecule);
    rt().block_on(async {
        let path = format!("/live?view=/molecules/{}&after=0", w.molecule);
        let r = routes::router(a.clone()).oneshot(get(&path)).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "text/event-stream");
        let mut body = r.into_body();
        let marker = format!("data-step=\"{step}\" data-state=\"ready\"");
        wait_for_event(&mut body, "view", |d| d.contains(&marker), &mut || {}).await;
        let mut closed = false;
        let done = format!("data-step=\"{step}\" data-state=\"done\"");
        let town2 = town.clone();
        let step2 = step.clone();
        wait_for_event(&mut body, "view", |d| d.contains(&done), &mut || {
            if !closed {
                closed = true;
                ok(run(BD, &town2, &town2, &["--json", "close", &step2]));
            }
        })
        .await;
        // A story event reaches the feed.
        let town3 = town.clone();
        let mut sent = false;
        let row = wait_for_event(&mut body, "feed", |d| d.contains("mail.sent"), &mut || {
            if !sent {
                sent = true;
                ok(run(
                    GT,
                    &town3,
                    &town3,
                    &["--json", "mail", "send", "mayor", "-s", "<b>live</b>"],
                ));
            }
        })
        .await;
        assert!(row.contains("&lt;b&gt;live"), "{row}");
    });
}
