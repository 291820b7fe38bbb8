//! The dashboard in a real browser: headless Chromium (Debian's `chromium`)
//! driven over the DevTools protocol opens `gt dashboard` of a town built by
//! `gt install`/`gt rig add` with a running molecule, checks the agents,
//! convoy and DAG views, closes a step with `bd close` and sees the page
//! change without a reload, slings from the page and sees the new agent.
//! A screenshot of each view is kept in `target/dashboard-screenshots/`.

use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::browser::{spawn_until, text_of, Browser, Guard, CHROMIUM};
use common::town::*;

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

fn screenshots() -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/dashboard-screenshots");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `gt dashboard --port 0` in the town; returns its URL.
fn start_dashboard(town: &Path) -> (Guard, String) {
    spawn_until(
        Command::new(GT)
            .args(["dashboard", "--port", "0"])
            .current_dir(town)
            .env("GT_TOWN", town)
            .env_remove("BEADS_DIR"),
        false,
        "http://",
        "gt dashboard",
    )
}

/// Open `url` and wait for the dashboard's live stream to connect.
fn open(b: &mut Browser, url: &str) {
    b.navigate(url);
    b.wait_for(
        "the page and its live stream",
        "document.readyState === 'complete' && !!document.getElementById('conn') && document.getElementById('conn').classList.contains('on')",
    );
}

fn screenshot(b: &mut Browser, name: &str) -> PathBuf {
    b.screenshot(&screenshots(), name)
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
    open(&mut b, &format!("{base}/agents"));
    let agents = text_of(&mut b, "#live");
    assert!(agents.contains(&first), "{agents}");
    assert!(agents.contains(&mol), "hooked molecule shown: {agents}");
    assert!(agents.contains("working"), "{agents}");
    screenshot(&mut b, "agents");

    // Convoys: the auto convoy, and its drill-down.
    open(&mut b, &format!("{base}/convoys"));
    let convoys = text_of(&mut b, "#live");
    assert!(convoys.contains("Work: release"), "{convoys}");
    screenshot(&mut b, "convoys");
    let href =
        b.eval("document.querySelector('#live a[href^=\"/convoys/\"]').getAttribute('href')");
    open(&mut b, &format!("{base}{}", href.as_str().unwrap()));
    assert!(text_of(&mut b, "#live").contains(&mol));
    screenshot(&mut b, "convoy");

    // The molecule's DAG; a `bd close` shows without a reload.
    open(&mut b, &format!("{base}/molecules/{mol}"));
    let node = |step: &str| {
        format!("(document.querySelector('#dag g[data-step=\"{mol}.{step}\"]') || {{dataset: {{}}}}).dataset.state")
    };
    assert_eq!(b.eval(&node("design")), json!("ready"));
    assert_eq!(b.eval(&node("api")), json!("pending"));
    assert!(
        text_of(&mut b, "#live").contains("Review <everything>"),
        "escaped title shown as text"
    );
    screenshot(&mut b, "molecule-before");
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
    screenshot(&mut b, "molecule");

    // The agent page with its session log.
    open(&mut b, &format!("{base}/agent?addr={first}"));
    b.wait_for(
        "the session log",
        "document.getElementById('log').textContent.includes('tick')",
    );
    screenshot(&mut b, "agent");

    // Sling from the page: the new polecat appears without a reload.
    open(&mut b, &format!("{base}/"));
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
    screenshot(&mut b, "overview");

    for (name, path) in [
        ("mq", "/mq"),
        ("mail", "/mail?addr=overseer"),
        ("feed", "/feed"),
        ("molecules", "/molecules"),
    ] {
        open(&mut b, &format!("{base}{path}"));
        screenshot(&mut b, name);
    }
    assert!(
        text_of(&mut b, "#live").contains(&mol),
        "the molecules list"
    );
}
