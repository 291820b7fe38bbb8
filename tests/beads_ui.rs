//! beads-ui (npm `beads-ui`, pinned by `.ci/run`, installed into
//! `target/test-tools/beads-ui`) on our `bd`: the UI server runs on loopback
//! with our `bd` first on PATH against a store built with `bd init`/`bd
//! create`/`bd dep add`; headless Chromium checks that the issues, board and
//! epics views show our issues, and that edits made in the page (a status
//! from the list, a title from the detail view) land in the store.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod common;
use common::browser::{spawn_until, text_of, Browser, Guard, CHROMIUM};
use common::Bd;

/// The version `.ci/run` installs.
const BEADS_UI_VERSION: &str = "0.12.0";

fn beads_ui_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-tools/beads-ui/node_modules/beads-ui")
}

/// Why this machine cannot run the test, if it cannot.
fn missing_tool() -> Option<String> {
    if !Path::new(CHROMIUM).exists() {
        return Some(format!(
            "{CHROMIUM} is missing (apt-get install chromium; .ci/run installs it)"
        ));
    }
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        return Some("node is missing (apt-get install nodejs npm; .ci/run installs it)".into());
    }
    let manifest = beads_ui_dir().join("package.json");
    let Ok(text) = std::fs::read_to_string(&manifest) else {
        return Some(format!(
            "beads-ui is not installed at {} (.ci/run runs: npm install --prefix target/test-tools/beads-ui beads-ui@{BEADS_UI_VERSION})",
            manifest.display()
        ));
    };
    let v: Value = serde_json::from_str(&text).unwrap_or_default();
    if v["version"] != BEADS_UI_VERSION {
        return Some(format!(
            "beads-ui {} is installed, this test is written for {BEADS_UI_VERSION} (re-run .ci/run)",
            v["version"]
        ));
    }
    None
}

/// A free loopback port (the UI server takes a port number, not 0).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// PATH with the directory of the `bd` under test first.
fn path_with_our_bd() -> String {
    let bd = Path::new(env!("CARGO_BIN_EXE_bd"));
    let dir = bd.parent().unwrap().display().to_string();
    format!("{dir}:{}", std::env::var("PATH").unwrap_or_default())
}

/// `node server/index.js` in the workspace; returns its URL once listening.
fn start_beads_ui(workspace: &Path, home: &Path) -> (Guard, String) {
    let port = free_port();
    let (guard, _) = spawn_until(
        Command::new("node")
            .arg(beads_ui_dir().join("server/index.js"))
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .current_dir(workspace)
            .env("PATH", path_with_our_bd())
            .env("HOME", home)
            .env("BD_ACTOR", "ui-user")
            .env_remove("BEADS_DIR")
            .env_remove("BEADS_DB")
            .env_remove("BD_BIN")
            .env_remove("GT_TOWN"),
        false,
        "listening on",
        "beads-ui",
    );
    (guard, format!("http://127.0.0.1:{port}"))
}

/// Wait (with a deadline for failing, not a timing check) until `bd show`
/// reports `want` for `field`.
fn wait_for_store(bd: &Bd, id: &str, field: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = bd.ok(&["show", id, "--json"]).json();
        if v[0][field] == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the edit made in beads-ui never reached the store: {id}.{field} is {} (want {want})",
            v[0][field]
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn screenshots() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/beads-ui-screenshots")
}

/// An epic with three children (one in progress, one blocked by it, one
/// ready), a hooked issue and a closed one.
fn workspace() -> (tempfile::TempDir, Bd) {
    let d = tempfile::tempdir().unwrap();
    let bd = Bd::new(d.path());
    bd.ok(&["init", "--prefix", "ui"]);
    bd.ok(&[
        "create",
        "Login epic",
        "-t",
        "epic",
        "-p",
        "1",
        "--id",
        "ui-epic",
    ]);
    for (id, title) in [
        ("ui-form", "Design the login form"),
        ("ui-api", "Wire the login API"),
        ("ui-docs", "Document the login flow"),
    ] {
        bd.ok(&["create", title, "--id", id, "--parent", "ui-epic"]);
    }
    bd.ok(&["dep", "add", "ui-api", "ui-form"]);
    bd.ok(&[
        "update",
        "ui-form",
        "--status",
        "in_progress",
        "-a",
        "alice",
    ]);
    bd.ok(&["create", "Polecat work on the hook", "--id", "ui-hook"]);
    bd.ok(&["update", "ui-hook", "--status", "hooked"]);
    bd.ok(&["create", "Old chore", "-t", "chore", "--id", "ui-old"]);
    bd.ok(&["close", "ui-old"]);
    (d, bd)
}

#[test]
fn beads_ui_shows_and_edits_our_store_in_chromium() {
    if let Some(why) = missing_tool() {
        eprintln!("skipped: {why}");
        return;
    }
    let (d, bd) = workspace();
    let home = tempfile::tempdir().unwrap();
    let (_server, base) = start_beads_ui(d.path(), home.path());
    let mut b = Browser::launch();

    // Issues view: every open issue, with beads' dependency counts.
    b.navigate(&format!("{base}/#/issues"));
    b.wait_for(
        "the issues list",
        "['ui-epic','ui-form','ui-api','ui-docs','ui-hook'].every(id => !!document.querySelector(`#list-root tr[data-issue-id=\"${id}\"]`))",
    );
    let list = text_of(&mut b, "#list-root");
    assert!(list.contains("Wire the login API"), "{list}");
    let api_deps = text_of(&mut b, "#list-root tr[data-issue-id=\"ui-api\"] .deps-col");
    assert!(
        api_deps.contains("→1"),
        "ui-api depends on one issue: {api_deps:?}"
    );
    b.screenshot(&screenshots(), "issues");

    // Board: blocked, ready, in progress (hooked work included), closed.
    b.navigate(&format!("{base}/#/board"));
    let card = |col: &str, id: &str| {
        format!("!!document.querySelector('#{col} .board-card[data-issue-id=\"{id}\"]')")
    };
    b.wait_for(
        "the board's columns",
        &[
            card("blocked-col", "ui-api"),
            card("ready-col", "ui-docs"),
            card("in-progress-col", "ui-form"),
            card("in-progress-col", "ui-hook"),
            card("closed-col", "ui-old"),
        ]
        .join(" && "),
    );
    b.screenshot(&screenshots(), "board");

    // Epics: the epic with its progress and its children.
    b.navigate(&format!("{base}/#/epics"));
    b.wait_for(
        "the epic and its children",
        "(() => { const g = document.querySelector('.epic-group[data-epic-id=\"ui-epic\"]'); \
           return !!g && g.innerText.includes('0/3') && g.innerText.includes('Document the login flow'); })()",
    );
    b.screenshot(&screenshots(), "epics");

    // An edit in the list: the status select of a row.
    b.navigate(&format!("{base}/#/issues"));
    b.wait_for(
        "the ui-docs row",
        "!!document.querySelector('#list-root tr[data-issue-id=\"ui-docs\"] select.badge--status')",
    );
    b.eval(
        "(() => { const s = document.querySelector('#list-root tr[data-issue-id=\"ui-docs\"] select.badge--status'); \
           s.value = 'in_progress'; s.dispatchEvent(new Event('change', {bubbles: true})); return true; })()",
    );
    wait_for_store(&bd, "ui-docs", "status", "in_progress");

    // An edit in the detail view: the title.
    b.navigate(&format!("{base}/#/issues?issue=ui-api"));
    b.wait_for(
        "the detail view of ui-api",
        "!!document.querySelector('.detail-title .editable') && document.querySelector('.detail-title .editable').innerText.includes('Wire the login API')",
    );
    b.eval("document.querySelector('.detail-title .editable').click(), true");
    b.wait_for(
        "the title editor",
        "!!document.querySelector('.detail-title input')",
    );
    b.eval(
        "(() => { const i = document.querySelector('.detail-title input'); i.value = 'Wire the login API (edited in beads-ui)'; \
           i.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', bubbles: true})); return true; })()",
    );
    wait_for_store(
        &bd,
        "ui-api",
        "title",
        "Wire the login API (edited in beads-ui)",
    );
    // beads-ui 0.12.0 renders the reply of its own `bd show` (an array, as
    // beads prints it) until a push replaces it, so read the stored issue
    // back through a fresh detail view.
    b.navigate(&format!("{base}/#/board"));
    b.navigate(&format!("{base}/#/issues?issue=ui-api"));
    b.wait_for(
        "the detail view to show the stored title",
        "!!document.querySelector('.detail-title .editable') && document.querySelector('.detail-title .editable').innerText.includes('(edited in beads-ui)')",
    );
    let detail = text_of(&mut b, "#detail-panel");
    assert!(
        detail.contains("Design the login form"),
        "its blocker is listed: {detail}"
    );
    b.screenshot(&screenshots(), "detail");
    // The store's own record followed (the JSONL the write path keeps current).
    let jsonl = std::fs::read_to_string(d.path().join(".beads/issues.jsonl")).unwrap();
    assert!(jsonl.contains("(edited in beads-ui)"), "{jsonl}");

    // A change made outside the UI (an agent's `bd create`) shows up live.
    b.navigate(&format!("{base}/#/issues"));
    b.wait_for(
        "the issues list",
        "!!document.querySelector('#list-root tr[data-issue-id=\"ui-epic\"]')",
    );
    b.eval("window.__notReloaded = true");
    // beads-ui ignores store changes for 1 s after each refresh it makes
    // (server/watcher.js `cooldown_ms`), and the UI edits above just caused
    // one; a change inside that window is only shown after the next one.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    bd.ok(&["create", "Filed by an agent", "--id", "ui-agent"]);
    b.wait_for(
        "the agent's issue in the list, without a reload",
        "!!document.querySelector('#list-root tr[data-issue-id=\"ui-agent\"]') && window.__notReloaded === true",
    );
}
