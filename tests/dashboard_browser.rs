//! The dashboard in a real browser: headless Chromium (Debian's `chromium`)
//! driven over the DevTools protocol opens `gt dashboard` of a town built by
//! `gt install`/`gt rig add` with a running molecule, checks the agents,
//! convoy and DAG views, closes a step with `bd close` and sees the page
//! change without a reload, slings from the page and sees the new agent.
//! A screenshot of each view is kept in `target/dashboard-screenshots/`.

use base64::Engine;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

mod common;
use common::town::*;

const CHROMIUM: &str = "/usr/bin/chromium";
const FORMULA: &str = r#"formula = "release"
type = "workflow"
version = 1
description = "Ship a release"

[[steps]]
id = "design"
title = "Design the release"

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
title = "Review <everything>"
needs = ["api", "ui"]

[[steps]]
id = "ship"
title = "Ship it"
needs = ["review"]
"#;

/// Kill a child process we started when the test ends, pass or fail.
struct Guard(Child);
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn screenshots() -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/dashboard-screenshots");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `gt dashboard --port 0` in the town; returns its URL.
fn start_dashboard(town: &Path) -> (Guard, String) {
    let mut child = Command::new(GT)
        .args(["dashboard", "--port", "0"])
        .current_dir(town)
        .env("GT_TOWN", town)
        .env_remove("BEADS_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let guard = Guard(child);
    let mut lines = BufReader::new(out).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("gt dashboard exited before printing its URL")
            .unwrap();
        if let Some(i) = line.find("http://") {
            break line[i..].trim().to_string();
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (guard, url)
}

struct Browser {
    _proc: Guard,
    _profile: tempfile::TempDir,
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    session: String,
    next: u64,
}

impl Browser {
    fn launch() -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--window-size=1400,1000",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let err = child.stderr.take().unwrap();
        let proc = Guard(child);
        let mut lines = BufReader::new(err).lines();
        let ws_url = loop {
            let line = lines
                .next()
                .expect("chromium exited before DevTools listened")
                .unwrap();
            if let Some(i) = line.find("ws://") {
                break line[i..].trim().to_string();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        let (ws, _) = tungstenite::connect(ws_url.as_str()).unwrap();
        if let MaybeTlsStream::Plain(s) = ws.get_ref() {
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        }
        let mut b = Browser {
            _proc: proc,
            _profile: profile,
            ws,
            session: String::new(),
            next: 0,
        };
        let targets = b.call("Target.getTargets", json!({}));
        let page = targets["targetInfos"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == "page")
            .expect("a page target")["targetId"]
            .clone();
        let s = b.call(
            "Target.attachToTarget",
            json!({"targetId": page, "flatten": true}),
        );
        b.session = s["sessionId"].as_str().unwrap().to_string();
        b.call("Page.enable", json!({}));
        b.call("Runtime.enable", json!({}));
        b
    }

    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if !self.session.is_empty() {
            msg["sessionId"] = json!(self.session);
        }
        self.ws.send(Message::text(msg.to_string())).unwrap();
        loop {
            let m = self.ws.read().unwrap();
            let Message::Text(t) = m else { continue };
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if v["id"] == json!(id) {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    fn eval(&mut self, expr: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
        );
        assert!(r.get("exceptionDetails").is_none(), "{expr}: {r}");
        r["result"]["value"].clone()
    }

    /// Wait until `expr` is true (a deadline for failing, not a timing check).
    fn wait_for(&mut self, what: &str, expr: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.eval(expr) == json!(true) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let text = self.eval("document.body ? document.body.innerText : ''");
        panic!("timed out waiting for {what} ({expr}); the page reads:\n{text}");
    }

    /// Open `url` and wait for the live stream to connect.
    fn open(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url}));
        self.wait_for(
            "the page and its live stream",
            "document.readyState === 'complete' && !!document.getElementById('conn') && document.getElementById('conn').classList.contains('on')",
        );
    }

    fn screenshot(&mut self, name: &str) -> PathBuf {
        let m = self.call("Page.getLayoutMetrics", json!({}));
        let h = m["cssContentSize"]["height"].as_f64().unwrap_or(1000.0);
        let shot = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true,
                   "clip": {"x": 0, "y": 0, "width": 1400, "height": h.clamp(400.0, 4000.0), "scale": 1}}),
        );
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap();
        let path = screenshots().join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        eprintln!("screenshot: {}", path.display());
        path
    }
}

fn text_of(b: &mut Browser, sel: &str) -> String {
    b.eval(&format!(
        "(document.querySelector({sel:?}) || {{innerText: ''}}).innerText"
    ))
    .as_str()
    .unwrap_or("")
    .to_string()
}

/// Stop the polecat sessions this test started (process groups).
fn stop_sessions(town: &Path) {
    let s = store(town);
    for a in gastown::store::agents::list(s.conn()).unwrap() {
        if let Some(pid) = a.pid {
            gastown::runtime::proc::kill_group(pid, gastown::runtime::proc::SIGTERM);
        }
    }
}

struct Sessions(PathBuf);
impl Drop for Sessions {
    fn drop(&mut self) {
        stop_sessions(&self.0);
    }
}

#[test]
fn the_dashboard_in_chromium_shows_the_town_live_and_slings() {
    if !Path::new(CHROMIUM).exists() {
        eprintln!("skipped: {CHROMIUM} is missing (apt-get install chromium; .ci/run installs it)");
        return;
    }
    let tt = setup();
    let town = tt.town.clone();
    // A polecat that keeps working (and logging) for a while, then ends by itself.
    install_fake_polecat_agent(
        &town,
        "#!/bin/sh\necho \"polecat up on $(pwd)\"\ni=0\nwhile [ $i -lt 120 ]; do echo \"tick $i\"; i=$((i+1)); sleep 1; done\n",
    );
    let _sessions = Sessions(town.clone());
    std::fs::write(town.join("release.formula.toml"), FORMULA).unwrap();
    let slung = ok(run(
        GT,
        &town,
        &town,
        &["--json", "sling", "./release.formula.toml", "app"],
    ));
    let mol = slung["bead"].as_str().unwrap().to_string();
    let first = slung["address"].as_str().unwrap().to_string();
    let bead = create(&town, "Second job from the page");
    ok(run(
        GT,
        &town,
        &town,
        &[
            "--json",
            "mail",
            "send",
            "overseer",
            "-s",
            "Status <report>",
            "-m",
            "all good",
        ],
    ));

    let (_server, url) = start_dashboard(&town);
    let base = url.trim_end_matches('/').to_string();
    let mut b = Browser::launch();

    // Overview and agents: the running polecat with its hooked molecule.
    b.open(&format!("{base}/agents"));
    let agents = text_of(&mut b, "#live");
    assert!(agents.contains(&first), "{agents}");
    assert!(agents.contains(&mol), "hooked molecule shown: {agents}");
    assert!(agents.contains("working"), "{agents}");
    b.screenshot("agents");

    // Convoys: the auto convoy, and its drill-down.
    b.open(&format!("{base}/convoys"));
    let convoys = text_of(&mut b, "#live");
    assert!(convoys.contains("Work: release"), "{convoys}");
    b.screenshot("convoys");
    let href =
        b.eval("document.querySelector('#live a[href^=\"/convoys/\"]').getAttribute('href')");
    b.open(&format!("{base}{}", href.as_str().unwrap()));
    assert!(text_of(&mut b, "#live").contains(&mol));
    b.screenshot("convoy");

    // The molecule's DAG; a `bd close` shows without a reload.
    b.open(&format!("{base}/molecules/{mol}"));
    let node = |step: &str| {
        format!("(document.querySelector('#dag g[data-step=\"{mol}.{step}\"]') || {{dataset: {{}}}}).dataset.state")
    };
    assert_eq!(b.eval(&node("design")), json!("ready"));
    assert_eq!(b.eval(&node("api")), json!("pending"));
    assert!(
        text_of(&mut b, "#live").contains("Review <everything>"),
        "escaped title shown as text"
    );
    b.screenshot("molecule-before");
    b.eval("window.__notReloaded = true");
    ok(run(
        BD,
        &town,
        &town,
        &["--json", "close", &format!("{mol}.design")],
    ));
    b.wait_for(
        "the closed step to turn done",
        &format!(
            "{} === 'done' && {} === 'ready' && window.__notReloaded === true",
            node("design"),
            node("api")
        ),
    );
    b.wait_for(
        "the checklist to follow",
        &format!("document.querySelector('.checklist li[data-step=\"{mol}.design\"]').dataset.state === 'done'"),
    );
    b.screenshot("molecule");

    // The agent page with its session log.
    b.open(&format!("{base}/agent?addr={first}"));
    b.wait_for(
        "the session log",
        "document.getElementById('log').textContent.includes('tick')",
    );
    b.screenshot("agent");

    // Sling from the page: the new polecat appears without a reload.
    b.open(&format!("{base}/"));
    b.eval("window.__notReloaded = true");
    let before = b.eval("document.querySelectorAll('#live tr[data-agent]').length");
    assert_eq!(before, json!(1));
    b.eval(&format!(
        "(() => {{ const f = document.querySelector('form[action=\"/action/sling\"]'); \
           f.querySelector('input[name=bead]').value = {bead:?}; \
           f.querySelector('select[name=rig]').value = 'app'; \
           f.requestSubmit(); return true; }})()"
    ));
    b.wait_for(
        "the slung polecat in the agents table",
        "document.querySelectorAll('#live tr[data-agent]').length === 2 && window.__notReloaded === true",
    );
    b.wait_for(
        "the sling's answer",
        "document.getElementById('toast').textContent.includes('Slung')",
    );
    let overview = text_of(&mut b, "#live");
    assert!(overview.contains(&bead), "{overview}");
    b.wait_for(
        "the feed to show the sling",
        "document.getElementById('feed').innerText.includes('sling')",
    );
    b.screenshot("overview");

    for (name, path) in [
        ("mq", "/mq"),
        ("mail", "/mail?addr=overseer"),
        ("feed", "/feed"),
        ("molecules", "/molecules"),
    ] {
        b.open(&format!("{base}{path}"));
        b.screenshot(name);
    }
    assert!(
        text_of(&mut b, "#live").contains(&mol),
        "the molecules list"
    );
}
