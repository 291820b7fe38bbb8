//! Every command form the corpus formulas tell an agent to run parses and
//! works against a real town (issue 12).
//!
//! The forms are extracted at test time from `../shared/corpus` (see
//! `compat_support::forms`); each one runs once, with its placeholders
//! (`{{issue}}`, `<rig>`, `$WORKTREE_PATH`, ...) replaced by real values from
//! a town built with `gt install`, `gt rig add`, `bd create` and `gt sling`.
//! A form passes when it exits 0, or fails only because of the town's state
//! (the reason is listed in `STATE_FAILURES` and matched against stderr).
//!
//! `COMPAT_FORMS_REPORT=1 cargo test --test compat_forms -- --nocapture`
//! prints every form with its outcome.
mod common;
mod compat_support;

use common::town::{install_fake_polecat_agent, ok, origin_repo, BD, GT};
use compat_support::forms::{self, Form};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Failures that are about the town's state, not about the command: the
/// form's key prefix and a fragment its error must contain.
const STATE_FAILURES: &[(&str, &str)] = &[
    // The town has no agent bead with this literal id.
    ("bd show hq-deacon", "no issue `hq-deacon`"),
    // The polecat it runs as has open work on its hook: nuke refuses.
    ("gt polecat nuke", "on its hook"),
    // Gas Town ships these dog formulas; the corpus sample does not have them.
    (
        "gt sling mol-orphan-scan",
        "`mol-orphan-scan` not found on the search path",
    ),
    (
        "gt sling mol-session-gc",
        "`mol-session-gc` not found on the search path",
    ),
];

/// Forms not supported yet (issue 12 is open): they are run and reported,
/// and the test fails when one starts working so that this list only shrinks.
const PENDING: &[&str] = &[];

/// The world the forms run in.
struct World {
    _tmp: tempfile::TempDir,
    /// The corpus folders: a real town has Gas Town's and beads' formulas.
    formula_path: String,
    town: PathBuf,
    /// A polecat with work on its hook: (rig, name, worktree).
    polecat: (String, String, PathBuf),
    vars: BTreeMap<String, String>,
}

fn gt(town: &Path, dir: &Path, args: &[&str]) -> serde_json::Value {
    ok(common::town::run(GT, dir, town, args))
}

fn bd(town: &Path, args: &[&str]) -> serde_json::Value {
    ok(common::town::run(BD, town, town, args))
}

fn new_issue(town: &Path, title: &str, extra: &[&str]) -> String {
    let mut a = vec!["--json", "create", title];
    a.extend_from_slice(extra);
    bd(town, &a)["id"].as_str().expect("id").to_string()
}

/// Sling a fresh bead to a new polecat of `rig`, without a session.
fn sling_new(town: &Path, rig: &str) -> (String, String, PathBuf) {
    let bead = new_issue(town, "Compat work item", &[]);
    let v = gt(town, town, &["--json", "sling", &bead, rig, "--no-start"]);
    let name = v["polecat"].as_str().expect("polecat").to_string();
    let wt = PathBuf::from(v["worktree"].as_str().expect("worktree"));
    (bead, name, wt)
}

impl World {
    fn build(corpus: &Path) -> World {
        let tmp = tempfile::tempdir().unwrap();
        let town = tmp.path().join("town");
        let src = origin_repo(tmp.path(), "app", "main");
        gt(
            tmp.path(),
            tmp.path(),
            &["--json", "install", "--git", town.to_str().unwrap()],
        );
        for rig in ["gastown", "beads"] {
            gt(
                &town,
                &town,
                &["--json", "rig", "add", rig, src.to_str().unwrap()],
            );
        }
        install_fake_polecat_agent(&town, "#!/bin/sh\nexit 0\n");
        let (_bead, name, wt) = sling_new(&town, "gastown");
        let mut vars = BTreeMap::new();
        vars.insert("rig".into(), "gastown".into());
        vars.insert("polecat".into(), name.clone());
        vars.insert("worker".into(), name.clone());
        vars.insert("base_branch".into(), "main".into());
        vars.insert("branch-name".into(), "compat-branch".into());
        vars.insert("since".into(), "2000-01-01".into());
        vars.insert("until".into(), "2100-01-01".into());
        vars.insert("date".into(), "2026-01-01".into());
        vars.insert("dolt_port".into(), "3307".into());
        vars.insert("port".into(), "3307".into());
        vars.insert("prefix".into(), "hq".into());
        vars.insert("version".into(), "0.1.0".into());
        for (k, v) in [
            ("max_age", "24h"),
            ("mail_delete_age", "7d"),
            ("stale_issue_age", "3d"),
            ("purge_age", "7d"),
            ("mail_age", "7d"),
            ("stale_age", "3d"),
        ] {
            vars.insert(k.into(), v.into());
        }
        vars.insert(
            "WORKTREE_PATH".into(),
            tmp.path().join("wt-compat").display().to_string(),
        );
        World {
            _tmp: tmp,
            formula_path: format!(
                "{}:{}",
                corpus.join("gastown").display(),
                corpus.join("beads").display()
            ),
            town,
            polecat: ("gastown".into(), name, wt),
            vars,
        }
    }

    /// The value of a placeholder, creating what it names when needed.
    fn value(&mut self, name: &str) -> String {
        let name = name.trim_start_matches('.');
        if let Some(v) = self.vars.get(name) {
            return v.clone();
        }
        let base = name.split('.').next().unwrap_or(name);
        let v = match base {
            "convoy" => {
                let a = new_issue(&self.town, "Convoyed", &[]);
                let v = gt(
                    &self.town,
                    &self.town,
                    &["--json", "convoy", "create", "Compat convoy", &a],
                );
                v["id"].as_str().expect("convoy id").to_string()
            }
            "mol-id" => {
                let v = bd(
                    &self.town,
                    &["--json", "mol", "pour", "bugfix", "--var", "bug=compat"],
                );
                v["new_epic_id"].as_str().expect("new_epic_id").to_string()
            }
            // Fresh each time: an earlier form may close and collect it.
            "wisp-id" => return new_issue(&self.town, "A wisp", &["--ephemeral"]),
            "name" | "worker" => self.polecat.1.clone(),
            "db" | "db_name" => "hq".into(),
            "rig" | "coordinator" => "gastown".into(),
            n if n.contains("id")
                || n.contains("issue")
                || n.contains("bead")
                || n.contains("task")
                || n.contains("step")
                || n.contains("mr") =>
            {
                new_issue(&self.town, &format!("Compat {n}"), &[])
            }
            _ => format!("<{name}>"),
        };
        self.vars.insert(name.to_string(), v.clone());
        v
    }

    /// Replace `{{x}}`, `<x>`, `$X` and `$(...)` in one word.
    fn substitute(&mut self, word: &str) -> String {
        let re = regex::Regex::new(
            r"\{\{\s*([\w.\-]+)\s*\}\}|<([\w.\-]+)>|\$\(([^)]*)\)?|\$\{?([A-Za-z_]+)\}?",
        )
        .unwrap();
        let mut out = String::new();
        let mut last = 0;
        for c in re.captures_iter(word) {
            let m = c.get(0).unwrap();
            out += &word[last..m.start()];
            last = m.end();
            let v = if let Some(n) = c.get(1).or(c.get(2)).or(c.get(4)) {
                self.value(n.as_str())
            } else {
                let cmd = c.get(3).map_or("", |m| m.as_str());
                match cmd.split_whitespace().next().unwrap_or("") {
                    "whoami" => "tester".into(),
                    "hostname" => "testhost".into(),
                    _ => "text".into(),
                }
            };
            out += &v;
        }
        out + &word[last..]
    }
}

/// Drop `{{#if x}}...{{/if}}` blocks (their vars are unset here).
fn without_template_blocks(words: &[forms::Word]) -> Vec<String> {
    let mut out = Vec::new();
    let mut skipping = false;
    for w in words {
        if w.text.starts_with("{{#if") {
            skipping = true;
        }
        if !skipping {
            out.push(w.text.clone());
        }
        if w.text.contains("{{/if}}") {
            skipping = false;
        }
    }
    out
}

struct Outcome {
    code: i32,
    stderr: String,
    stdout: String,
    args: Vec<String>,
}

/// Placeholders whose meaning depends on the command: (form key prefix,
/// placeholder, value).
const FORM_VARS: &[(&str, &str, &str)] = &[("gt reaper", "name", "hq")];

fn run_form(w: &mut World, f: &Form) -> Outcome {
    let saved = w.vars.clone();
    for (k, name, v) in FORM_VARS {
        if f.key.starts_with(k) {
            w.vars.insert(name.to_string(), v.to_string());
        }
    }
    let o = run_form_in(w, f);
    w.vars = saved;
    o
}

fn run_form_in(w: &mut World, f: &Form) -> Outcome {
    if f.key.starts_with("gt mail read") || f.key.starts_with("gt mail archive") {
        // Here `<id>` names a message: one in the polecat's inbox.
        let (rig, name, _) = &w.polecat;
        let to = format!("{rig}/polecats/{name}");
        let v = gt(
            &w.town,
            &w.town,
            &["--json", "mail", "send", &to, "-s", "Hi", "-m", "Body"],
        );
        let id = v["sent"][0].as_i64().map(|n| n.to_string());
        let id = id.unwrap_or_else(|| v.to_string());
        for k in ["id", "message-id"] {
            w.vars.insert(k.into(), id.clone());
        }
    }
    // `gt session` forms act on a polecat's hook: each gets a fresh polecat,
    // with the supervisor stopped, so that its witness (started by earlier
    // `start` forms) cannot respawn and give up on it meanwhile.
    let fresh = f.key.starts_with("gt session").then(|| {
        gt(&w.town, &w.town, &["--json", "daemon", "stop"]);
        let (_, n, wt) = sling_new(&w.town, "gastown");
        for k in ["polecat", "worker"] {
            w.vars.insert(k.into(), n.clone());
        }
        ("gastown".to_string(), n, wt)
    });
    let args: Vec<String> = without_template_blocks(&f.words[1..])
        .iter()
        .map(|x| w.substitute(x))
        .collect();
    // `gt done` and `gt polecat nuke` end a polecat: each such form gets its own.
    let (rig, name, dir) = if let Some(p) = fresh {
        p
    } else if f.key.starts_with("gt done") || f.key.starts_with("gt polecat nuke") {
        let (_, n, wt) = sling_new(&w.town, "gastown");
        ("gastown".to_string(), n, wt)
    } else {
        w.polecat.clone()
    };
    let bin = if f.words[0].text == "gt" { GT } else { BD };
    let mut cmd = Command::new(bin);
    if f.key.contains("mol step respawn") {
        // It loops the molecule of its own formula: run it inside one.
        cmd.env("GT_MOLECULE", pour_origin(w, f));
    }
    cmd.args(&args)
        .current_dir(&dir)
        .env("GT_TOWN", &w.town)
        .env("GT_RIG", &rig)
        .env("GT_POLECAT", &name)
        .env("GT_ROLE", "polecat")
        .env("BD_ACTOR", format!("{rig}/polecats/{name}"))
        .env_remove("BEADS_DIR")
        .env_remove("GT_LEASE")
        .env("BD_SYNCHRONOUS", "NORMAL")
        .env("GT_FORMULA_PATH", &w.formula_path)
        .stdin(Stdio::null());
    // Commands that wait for activity (`--follow`, `await-signal`) are
    // working when they are still waiting.
    let waits = ["--follow", "await-signal", "await-event"];
    let o = if args.iter().any(|a| waits.contains(&a.as_str())) {
        follow(cmd)
    } else {
        cmd.output().expect("run")
    };
    Outcome {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        args,
    }
}

/// Pour the formula a form comes from as a wisp (its required vars given
/// placeholder values) and return the molecule's id.
fn pour_origin(w: &mut World, f: &Form) -> String {
    let file = f.origin.split(':').next().unwrap_or("");
    let name = file.trim_end_matches(".formula.toml");
    let mut args = vec![
        "--json".to_string(),
        "mol".into(),
        "wisp".into(),
        name.to_string(),
    ];
    for var in ["rig", "repo"] {
        args.push("--var".into());
        args.push(format!("{var}={}", w.value(var)));
    }
    let o = Command::new(BD)
        .args(&args)
        .current_dir(&w.town)
        .env("GT_TOWN", &w.town)
        .env("GT_FORMULA_PATH", &w.formula_path)
        .env_remove("BEADS_DIR")
        .output()
        .expect("bd mol wisp");
    let v = ok(o);
    v["new_epic_id"].as_str().expect("new_epic_id").to_string()
}

/// A `--follow` (or await) command runs until stopped: it passes if it is still
/// running after a second (killed then, exit 0), and fails like any other
/// command if it exits on its own with an error.
fn follow(mut cmd: Command) -> std::process::Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    for _ in 0..20 {
        std::thread::sleep(std::time::Duration::from_millis(50));
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
    }
    let _ = child.kill();
    let mut o = child.wait_with_output().expect("output");
    o.status = Command::new("true").status().expect("true");
    o
}

/// A form without a single flag (`gt escalate`, `bd worktree create`,
/// `gt mail send mayor/`) is a command named in prose, not an invocation:
/// it passes when the only complaint is that required arguments (which Gas
/// Town requires too) are missing.
fn bare_mention(f: &Form, o: &Outcome) -> bool {
    !f.words.iter().any(|w| w.text.starts_with('-'))
        && o.code == 2
        && o.stderr.contains("required arguments were not provided")
}

fn accepted(f: &Form, o: &Outcome) -> bool {
    if o.code == 0 || bare_mention(f, o) {
        return true;
    }
    o.code == 1
        && STATE_FAILURES
            .iter()
            .any(|(k, msg)| f.key.starts_with(k) && o.stderr.contains(msg))
}

/// Stop anything a form started (daemon, sessions).
struct Cleanup(PathBuf);
impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = Command::new(GT)
            .args(["shutdown"])
            .current_dir(&self.0)
            .env("GT_TOWN", &self.0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

#[test]
fn every_corpus_command_form_parses_and_works() {
    let Some(dir) = compat_support::corpus_dir() else {
        eprintln!("skipped: ../shared/corpus not found");
        return;
    };
    let forms = forms::extract(&dir);
    assert!(
        forms.len() > 100,
        "the extractor found only {} forms",
        forms.len()
    );
    let mut w = World::build(&dir);
    let _cleanup = Cleanup(w.town.clone());
    let report = std::env::var_os("COMPAT_FORMS_REPORT").is_some();
    let mut failed = Vec::new();
    let mut pending_ok = Vec::new();
    let mut pending_n = 0;
    for f in forms.values() {
        let o = run_form(&mut w, f);
        let good = accepted(f, &o);
        if report {
            let first = o.stderr.lines().next().unwrap_or("");
            let mark = if good { "ok  " } else { "FAIL" };
            eprintln!("{mark} {:<55} | {first}", f.key);
            if !good {
                eprintln!("     ran: {:?} ({})", o.args, f.origin);
            }
        }
        if PENDING.contains(&f.key.as_str()) {
            pending_n += usize::from(!good);
            if good {
                pending_ok.push(f.key.clone());
            }
            continue;
        }
        if !good {
            failed.push(format!(
                "{} ({})\n  ran: {:?}\n  exit {}; stderr: {}\n  stdout: {}",
                f.key,
                f.origin,
                o.args,
                o.code,
                o.stderr.trim(),
                o.stdout.lines().take(3).collect::<Vec<_>>().join(" / ")
            ));
        }
    }
    eprintln!(
        "command forms accepted: {}/{}",
        forms.len() - failed.len() - pending_n,
        forms.len()
    );
    assert!(
        pending_ok.is_empty(),
        "these forms work now; remove them from PENDING: {pending_ok:?}"
    );
    assert!(
        failed.is_empty(),
        "{} of {} forms failed:\n{}",
        failed.len(),
        forms.len(),
        failed.join("\n")
    );
}
