//! `gt run`: the foreground supervisor, with fake agents (shell steps that
//! succeed, fail, hang, crash, or close their own step), resume, and the
//! fault-injection test (SIGKILL the supervisor at random moments).

use gastown::store::{events, issues, Status, Store};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const GT: &str = env!("CARGO_BIN_EXE_gt");
const BD: &str = env!("CARGO_BIN_EXE_bd");

fn gt(dir: &Path, args: &[&str]) -> Output {
    Command::new(GT)
        .args(args)
        .current_dir(dir)
        .env_remove("BEADS_DIR")
        .env_remove("GT_TOWN")
        .env_remove("GT_LEASE")
        .env("BD_SYNCHRONOUS", "NORMAL")
        .stdin(Stdio::null())
        .output()
        .expect("run gt")
}

fn text(o: &Output) -> String {
    format!(
        "code {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A formula whose steps are `(id, needs, run)`.
fn formula(dir: &Path, name: &str, steps: &[(&str, &[&str], &str)]) -> PathBuf {
    let mut s = format!("formula = \"{name}\"\ntype = \"workflow\"\nversion = 1\n");
    for (id, needs, run) in steps {
        s += &format!("\n[[steps]]\nid = \"{id}\"\ntitle = \"Step {id}\"\n");
        if !needs.is_empty() {
            let n: Vec<String> = needs.iter().map(|n| format!("\"{n}\"")).collect();
            s += &format!("needs = [{}]\n", n.join(", "));
        }
        s += &format!("run = '''{run}'''\n");
    }
    let p = dir.join(format!("{name}.formula.toml"));
    std::fs::write(&p, s).unwrap();
    p
}

/// `bd init --prefix <prefix>` in `d`, then `gt pour` the formula `f`: the
/// molecule's root id.
fn init_and_pour(d: &Path, prefix: &str, f: &Path) -> String {
    let o = Command::new(BD)
        .args(["init", "--prefix", prefix])
        .current_dir(d)
        .env_remove("BEADS_DIR")
        .env_remove("GT_TOWN")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let o = gt(d, &["--json", "pour", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    summary(&o)["new_epic_id"].as_str().unwrap().to_string()
}

fn summary(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(o)))
}

fn store(dir: &Path) -> Store {
    Store::open(&dir.join(".beads")).unwrap()
}

#[test]
fn example_pipeline_runs_in_worktrees_and_resume_is_a_noop() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let git = |args: &[&str]| {
        let ok = Command::new("git")
            .args(args)
            .current_dir(d)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        assert!(ok, "git {args:?}");
    };
    git(&["init", "-q"]);
    std::fs::write(d.join("README"), "sample\n").unwrap();
    // The pipeline checks examples/sample-project, as in this repository.
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sample-project");
    std::fs::create_dir_all(d.join("examples/sample-project")).unwrap();
    for f in ["calc.py", "test_calc.py"] {
        std::fs::copy(sample.join(f), d.join("examples/sample-project").join(f)).unwrap();
    }
    git(&["add", "."]);
    git(&[
        "-c",
        "user.email=t@t",
        "-c",
        "user.name=t",
        "commit",
        "-qm",
        "init",
    ]);
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/ci-pipeline.formula.toml");
    let o = gt(
        d,
        &["--json", "run", example.to_str().unwrap(), "--jobs", "3"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let s = summary(&o);
    assert_eq!(s["outcome"], "completed");
    assert_eq!(s["closed"], 5);
    let root = s["molecule"].as_str().unwrap().to_string();
    // Each step ran in a polecat worktree of HEAD.
    let wts: Vec<_> = std::fs::read_dir(d.join(".beads/runtime/worktrees"))
        .unwrap()
        .collect();
    assert!(!wts.is_empty());
    // The sample project is in the worktree, so `ls` in `fetch` listed it.
    let st = store(d);
    let fetch = format!("{root}.fetch");
    let l = gastown::store::leases::get(st.conn(), &fetch)
        .unwrap()
        .unwrap();
    let log = std::fs::read_to_string(l.log_path.unwrap()).unwrap();
    assert!(log.contains("calc.py"), "{log}");
    // Resuming a finished molecule starts nothing.
    let o = gt(d, &["--json", "run", &root]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(summary(&o)["sessions_started"], 0);
}

#[test]
fn failing_step_retries_then_blocks_with_escalation_and_dependents_wait() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let f = formula(
        d,
        "flaky",
        &[
            ("ok", &[], "echo fine"),
            // Fails twice, then succeeds: counts its attempts in a file.
            ("flaky", &[], "n=$(cat ../count 2>/dev/null || echo 0); n=$((n+1)); echo $n > ../count; [ $n -ge 3 ]"),
            ("bad", &[], "echo broken >&2; exit 3"),
            ("after-bad", &["bad"], "echo never"),
        ],
    );
    std::fs::create_dir(d.join("work")).unwrap();
    let w = d.join("work");
    let o = gt(
        &w,
        &[
            "--json",
            "run",
            f.to_str().unwrap(),
            "--retry-backoff-ms",
            "10",
            "--max-attempts",
            "3",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let s = summary(&o);
    assert_eq!(s["outcome"], "failed");
    let root = s["molecule"].as_str().unwrap().to_string();
    let st = store(&w);
    let get = |p: &str| issues::get(st.conn(), &format!("{root}.{p}")).unwrap();
    assert_eq!(get("ok").status, Status::Closed);
    assert_eq!(get("flaky").status, Status::Closed);
    assert_eq!(get("bad").status, Status::Blocked);
    assert_eq!(get("after-bad").status, Status::Open);
    let ev = events::for_issue(st.conn(), &format!("{root}.bad")).unwrap();
    let kinds: Vec<&str> = ev.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "step.failed").count(),
        3,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "step.retry").count(),
        2,
        "{kinds:?}"
    );
    assert!(kinds.contains(&"escalation"), "{kinds:?}");
    // The escalation mail is in the overseer's inbox.
    let inbox = gastown::coord::mail::inbox(st.conn(), "overseer", false, 100).unwrap();
    let text = serde_json::to_string(&inbox).unwrap();
    assert!(
        text.contains("Escalation") && text.contains(".bad"),
        "{text}"
    );
    // The summary names the blocked step and its error.
    let unfinished = s["unfinished"].as_array().unwrap();
    assert!(unfinished
        .iter()
        .any(|u| u["status"] == "blocked" && u["last_error"] == "exit status 3"));
}

#[test]
fn hang_is_killed_by_timeout_crash_is_retried_and_missing_command_is_not_retried() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let f = formula(
        d,
        "faults",
        &[
            ("hang", &[], "sleep 600"),
            ("crash", &[], "kill -9 $$"),
            ("missing", &[], "definitely-not-a-command-xyz"),
        ],
    );
    let o = gt(
        d,
        &[
            "--json",
            "run",
            f.to_str().unwrap(),
            "--retry-backoff-ms",
            "10",
            "--max-attempts",
            "2",
            "--step-timeout",
            "0.5",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let root = summary(&o)["molecule"].as_str().unwrap().to_string();
    let st = store(d);
    // "reason: error" of each typed `step.failed` event of a step.
    let failed = |p: &str| -> Vec<String> {
        let mut q = st
            .conn()
            .prepare("SELECT kind, payload, new FROM events WHERE issue_id = ?1 AND kind = 'step.failed' ORDER BY id")
            .unwrap();
        let rows = q
            .query_map([format!("{root}.{p}")], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, Option<String>>(2)?,
                ))
            })
            .unwrap();
        rows.map(|r| {
            let (kind, payload, new) = r.unwrap();
            match events::typed(&kind, payload.as_deref(), new.as_deref()) {
                Some(events::TownEvent::StepFailed { reason, error }) => {
                    format!("{reason}: {error}")
                }
                other => panic!("step.failed without its payload: {other:?}"),
            }
        })
        .collect()
    };
    let hang = failed("hang");
    assert_eq!(hang.len(), 2, "{hang:?}");
    assert!(hang[0].starts_with("timeout"), "{hang:?}");
    // `$$` is the session itself (the command runs in the session's shell,
    // not a second one): killing it leaves no exit status, a crash.
    let crash = failed("crash");
    assert_eq!(crash.len(), 2, "{crash:?}");
    assert!(crash[0].starts_with("crash"), "{crash:?}");
    let missing = failed("missing");
    assert_eq!(missing.len(), 1, "no retry storm: {missing:?}");
    assert!(missing[0].contains("not found"), "{missing:?}");
}

#[test]
fn an_agent_closes_its_own_step_and_a_stale_lease_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let f = formula(
        d,
        "selfclose",
        &[(
            "self",
            &[],
            // Close our own step under our lease, then try a stale generation.
            "bd close $GT_STEP && ! GT_LEASE=$GT_STEP:99 bd close $GT_STEP 2> stale.txt; grep -q stale stale.txt",
        )],
    );
    let o = gt(d, &["--json", "run", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let root = summary(&o)["molecule"].as_str().unwrap().to_string();
    let st = store(d);
    let step = format!("{root}.self");
    let ev = events::for_issue(st.conn(), &step).unwrap();
    let closes: Vec<_> = ev.iter().filter(|e| e.kind == "step.closed").collect();
    assert_eq!(closes.len(), 1);
    assert!(closes[0].actor.contains("polecats/"), "{:?}", closes[0]);
    // A person's plain `bd close` (no GT_LEASE) still works on any issue.
    let o = Command::new(BD)
        .args(["create", "a person's task"])
        .current_dir(d)
        .env_remove("GT_LEASE")
        .env_remove("BEADS_DIR")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    // A stale lease on a heartbeat is refused too.
    let o = Command::new(GT)
        .args(["heartbeat"])
        .current_dir(d)
        .env("GT_LEASE", format!("{step}:7"))
        .env_remove("BEADS_DIR")
        .output()
        .unwrap();
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("stale"),
        "{}",
        text(&o)
    );
}

#[test]
fn bad_agents_fail_before_any_step_starts() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let f = formula(d, "one", &[("a", &[], "true")]);
    let o = gt(d, &["run", f.to_str().unwrap(), "--agent", "nope"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("unknown agent `nope`") && err.contains("shell"),
        "{err}"
    );
    // A preset whose program is not installed: clear error, nothing started.
    let o = Command::new(GT)
        .args(["run", f.to_str().unwrap(), "--agent", "codex"])
        .current_dir(d)
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("not installed"), "{err}");
    if d.join(".beads").exists() {
        let st = store(d);
        let ev = events::since(st.conn(), 0, 10_000).unwrap();
        assert!(!ev.iter().any(|e| e.kind.starts_with("step.")), "{ev:?}");
    }
}

/// 200 steps, `--jobs 8`, the supervisor SIGKILLed 5 times at random moments.
#[test]
fn fault_injection_sigkill_supervisor_five_times() {
    use rand::Rng;
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    // Four chains of 50 steps, plus cross links, so there is always work.
    let mut steps: Vec<(String, Vec<String>, String)> = Vec::new();
    for i in 0..200 {
        let mut needs = Vec::new();
        if i >= 4 {
            needs.push(format!("s{}", i - 4));
        }
        if i >= 9 && i % 7 == 0 {
            needs.push(format!("s{}", i - 9));
        }
        // Each step leaves its id in ran.log: a step that ran twice shows.
        let run = format!("sleep 0.05; echo s{i} >> '{}'", d.join("ran.log").display());
        steps.push((format!("s{i}"), needs, run));
    }
    let refs: Vec<(&str, Vec<&str>, &str)> = steps
        .iter()
        .map(|(a, b, c)| {
            (
                a.as_str(),
                b.iter().map(|s| s.as_str()).collect(),
                c.as_str(),
            )
        })
        .collect();
    let refs2: Vec<(&str, &[&str], &str)> = refs
        .iter()
        .map(|(a, b, c)| (*a, b.as_slice(), *c))
        .collect();
    let f = formula(d, "big", &refs2);
    // Pour first so every run resumes the same molecule.
    let root = init_and_pour(d, "fi", &f);
    let mut rng = rand::thread_rng();
    let mut kills = 0;
    while kills < 5 {
        let mut child = Command::new(GT)
            .args(["run", &root, "--jobs", "8", "--quiet"])
            .current_dir(d)
            .env_remove("BEADS_DIR")
            .env_remove("GT_TOWN")
            // The default: the supervisor relaxes its commits and syncs them
            // at its sync points, which is what the kills must not break.
            .env("BD_SYNCHRONOUS", "FULL")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(rng.gen_range(30..400)));
        let finished = child.try_wait().unwrap().is_some();
        if finished {
            break;
        }
        unsafe {
            libc::kill(child.id() as i32, libc::SIGKILL);
        }
        let _ = child.wait();
        kills += 1;
    }
    // A run defers its exports: after a kill, the next command (a read)
    // brings issues.jsonl current with every committed change.
    let o = Command::new(BD)
        .args(["list", "--all"])
        .current_dir(d)
        .env_remove("BEADS_DIR")
        .env_remove("GT_TOWN")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_jsonl_matches_db(d);
    let o = gt(d, &["--json", "run", &root, "--jobs", "8"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_jsonl_matches_db(d);
    let st = store(d);
    let ev = events::since(st.conn(), 0, 1_000_000).unwrap();
    let mut closed: HashMap<&str, Vec<i64>> = HashMap::new();
    let mut started: HashMap<&str, Vec<i64>> = HashMap::new();
    for e in &ev {
        match e.kind.as_str() {
            "step.closed" => closed.entry(e.issue_id.as_str()).or_default().push(e.id),
            "step.started" => started.entry(e.issue_id.as_str()).or_default().push(e.id),
            _ => {}
        }
    }
    for i in 0..200 {
        let id = format!("{root}.s{i}");
        let c = closed.get(id.as_str()).cloned().unwrap_or_default();
        assert_eq!(c.len(), 1, "{id} closed {} times", c.len());
        let last_start = started
            .get(id.as_str())
            .and_then(|v| v.iter().max().copied());
        assert!(
            last_start.is_some_and(|s| s < c[0]),
            "{id} started after it was closed"
        );
    }
    assert_eq!(
        issues::get(st.conn(), &root).unwrap().status,
        Status::Closed
    );
    let mut ran: Vec<String> = std::fs::read_to_string(d.join("ran.log"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    ran.sort();
    let twice: Vec<&[String]> = ran.windows(2).filter(|w| w[0] == w[1]).collect();
    assert!(twice.is_empty(), "steps that ran twice: {twice:?}");
    assert_eq!(ran.len(), 200);
    eprintln!("fault injection: {kills} SIGKILLs, {} events", ev.len());
}

/// Every persistent issue's status in `issues.jsonl` equals the database's
/// (read the file first: opening the store would bring it current).
fn assert_jsonl_matches_db(d: &Path) {
    let text = std::fs::read_to_string(d.join(".beads/issues.jsonl")).unwrap();
    let in_file: std::collections::BTreeMap<String, String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["id"].as_str().unwrap().to_string(),
                v["status"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let conn = rusqlite::Connection::open(d.join(".beads/beads.db")).unwrap();
    let mut q = conn
        .prepare("SELECT id, status FROM issues WHERE ephemeral = 0")
        .unwrap();
    let in_db: std::collections::BTreeMap<String, String> = q
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(in_file, in_db, "issues.jsonl is not current");
}

/// Polecat worktrees are kept and reused across steps, and no step sees what
/// an earlier one left: edits, deletions, renames, modes, untracked files
/// and directories, index-only changes, commits. Each step checks that its
/// tree is clean at the base commit on its own branch, then makes a mess.
#[test]
fn reused_worktrees_leak_nothing_between_steps() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let git = |args: &[&str]| {
        let o = Command::new("git")
            .args(["-c", "user.email=t@t", "-c", "user.name=t"])
            .args(args)
            .current_dir(d)
            .output()
            .unwrap();
        assert!(o.status.success(), "git {args:?}");
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    git(&["init", "-q"]);
    std::fs::create_dir_all(d.join("src")).unwrap();
    std::fs::write(d.join("keep.txt"), "orig\n").unwrap();
    std::fs::write(d.join("src/a.txt"), "a\n").unwrap();
    std::fs::write(d.join("src/b.txt"), "b\n").unwrap();
    std::fs::write(d.join(".gitignore"), ".beads/\n").unwrap();
    git(&["add", "."]);
    git(&["commit", "-qm", "init"]);
    let base = git(&["rev-parse", "HEAD"]);
    let messes = [
        "cat keep.txt >/dev/null",
        "echo dirty > keep.txt",
        "mkdir -p junk/deep && echo u > junk/deep/u.txt",
        "mkdir -p junk/deep && echo again > junk/deep/again.txt",
        "rm src/a.txt",
        "mv src/b.txt src/c.txt",
        "chmod +x keep.txt",
        "git rm -q --cached src/a.txt",
        "echo s > staged.txt && git add staged.txt",
        "echo c > keep.txt && git -c user.name=t -c user.email=t@t commit -qam step",
        "true",
    ];
    let ids: Vec<String> = (0..messes.len()).map(|i| format!("s{i}")).collect();
    let runs: Vec<String> = ids
        .iter()
        .zip(messes)
        .map(|(id, mess)| {
            format!(
                "test -z \"$(git status --porcelain --untracked-files=all)\" \
                 && test \"$(cat keep.txt)\" = orig && ! test -x keep.txt \
                 && test \"$(cat src/a.txt src/b.txt)\" = \"$(printf 'a\\nb')\" \
                 && ! test -e junk/deep && ! test -e src/c.txt \
                 && test \"$(git rev-parse HEAD)\" = {base} \
                 && git symbolic-ref HEAD | grep -q '[.]{id}$' \
                 && {mess}"
            )
        })
        .collect();
    let needs: Vec<[&str; 1]> = ids.iter().map(|i| [i.as_str()]).collect();
    let steps: Vec<(&str, &[&str], &str)> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let n: &[&str] = if i == 0 { &[] } else { &needs[i - 1] };
            (id.as_str(), n, runs[i].as_str())
        })
        .collect();
    let f = formula(d, "mess", &steps);
    let o = gt(d, &["--json", "run", f.to_str().unwrap(), "--jobs", "1"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let wts = std::fs::read_dir(d.join(".beads/runtime/worktrees"))
        .unwrap()
        .count();
    assert!(
        wts < ids.len(),
        "{wts} worktrees for {} steps: none reused",
        ids.len()
    );
}

/// `--isolation none` runs every step in the current directory of a git
/// repository (no worktrees); a step's `metadata.isolation = "none"` does
/// the same for that step alone; `--isolation worktree` outside a
/// repository is refused before anything is poured.
#[test]
fn isolation_none_skips_worktrees() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let git = |args: &[&str]| {
        let o = Command::new("git")
            .args(["-c", "user.email=t@t", "-c", "user.name=t"])
            .args(args)
            .current_dir(d)
            .output()
            .unwrap();
        assert!(o.status.success(), "git {args:?}");
    };
    git(&["init", "-q"]);
    std::fs::write(d.join("README"), "sample\n").unwrap();
    std::fs::write(d.join(".gitignore"), ".beads/\n").unwrap();
    git(&["add", "."]);
    git(&["commit", "-qm", "init"]);
    let f = d.join("iso.formula.toml");
    std::fs::write(
        &f,
        r#"formula = "iso"
type = "workflow"
version = 1

[[steps]]
id = "here"
title = "Runs in the checkout"
run = "pwd > where-here.txt"
metadata = { isolation = "none" }

[[steps]]
id = "sandboxed"
title = "Runs in a worktree"
needs = ["here"]
run = "pwd > where-sandboxed.txt"
"#,
    )
    .unwrap();
    // With the default `synchronous = FULL` (commits made durable at the
    // supervisor's sync points).
    let o = Command::new(GT)
        .args(["--json", "run", f.to_str().unwrap()])
        .current_dir(d)
        .env_remove("BEADS_DIR")
        .env_remove("GT_TOWN")
        .env_remove("GT_LEASE")
        .env("BD_SYNCHRONOUS", "FULL")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let real = d.canonicalize().unwrap();
    let here = std::fs::read_to_string(d.join("where-here.txt")).unwrap();
    assert_eq!(Path::new(here.trim()).canonicalize().unwrap(), real);
    assert!(
        !d.join("where-sandboxed.txt").exists(),
        "the second step ran in a worktree"
    );
    assert!(d.join(".beads/runtime/worktrees").is_dir());

    // The whole run without worktrees.
    let d2 = d.join("sub");
    std::fs::create_dir_all(&d2).unwrap();
    let o = gt(
        &d2,
        &["--json", "run", f.to_str().unwrap(), "--isolation", "none"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(d2.join("where-sandboxed.txt").is_file());
    assert!(!d2.join(".beads/runtime/worktrees").exists());

    // A worktree is demanded where there is no repository.
    let bare = tempfile::tempdir().unwrap();
    let o = gt(
        bare.path(),
        &["run", f.to_str().unwrap(), "--isolation", "worktree"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--isolation none"), "{}", text(&o));
    assert!(
        !bare.path().join(".beads").exists(),
        "nothing is created on refusal"
    );
}

/// One transaction per transition: in a chain, a step's session record, its
/// close and its successor's lease are one commit (one `at` time). The tick
/// is long so that no poll turn records the session on its own.
#[test]
fn a_chain_step_is_closed_and_its_successor_leased_in_one_transaction() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let f = formula(
        d,
        "chain",
        &[
            ("a", &[], "true"),
            ("b", &["a"], "true"),
            ("c", &["b"], "true"),
        ],
    );
    let o = gt(
        d,
        &["--json", "run", f.to_str().unwrap(), "--tick-ms", "5000"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let root = summary(&o)["molecule"].as_str().unwrap().to_string();
    let st = store(d);
    let ev = events::since(st.conn(), 0, 1_000_000).unwrap();
    let at = |kind: &str, step: &str| -> String {
        let id = format!("{root}.{step}");
        let hits: Vec<&String> = ev
            .iter()
            .filter(|e| e.kind == kind && e.issue_id == id)
            .map(|e| &e.at)
            .collect();
        assert_eq!(hits.len(), 1, "{kind} of {id}: {hits:?}");
        hits[0].clone()
    };
    let closed_b = at("step.closed", "b");
    assert_eq!(
        at("step.started", "c"),
        closed_b,
        "lease of c apart from the close of b"
    );
    assert_eq!(
        at("spawn", "b"),
        closed_b,
        "session record of b apart from its close"
    );
}

/// A step creates no file of its own: its output lands in its polecat's
/// live log and becomes the step's log only if it printed something (or
/// failed); every session's status goes to the molecule's one journal.
#[test]
fn only_steps_that_print_or_fail_leave_a_log_file() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let f = formula(
        d,
        "quiet",
        &[
            ("q1", &[], "true"),
            ("loud", &["q1"], "echo hello from loud; echo to stderr >&2"),
            ("q2", &["loud"], "true"),
            ("bad", &["q2"], "exit 3"),
        ],
    );
    let o = gt(
        d,
        &["--json", "run", f.to_str().unwrap(), "--max-attempts", "1"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let root = summary(&o)["molecule"].as_str().unwrap().to_string();
    let st = store(d);
    let log_of = |step: &str| -> PathBuf {
        let l = gastown::store::leases::get(st.conn(), &format!("{root}.{step}"))
            .unwrap()
            .unwrap();
        PathBuf::from(l.log_path.expect("every lease names its log"))
    };
    let loud = std::fs::read_to_string(log_of("loud")).unwrap();
    assert!(
        loud.contains("hello from loud") && loud.contains("to stderr"),
        "{loud}"
    );
    assert!(!log_of("q1").exists() && !log_of("q2").exists());
    assert_eq!(std::fs::read_to_string(log_of("bad")).unwrap(), "");
    let rt = d.join(".beads/runtime");
    let mut logs: Vec<PathBuf> = std::fs::read_dir(rt.join("logs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| std::fs::metadata(p).unwrap().len() > 0 || p.extension().unwrap() == "log")
        .collect();
    logs.sort();
    let mut want = vec![log_of("bad"), log_of("loud")];
    want.sort();
    assert_eq!(logs, want);
    let status: Vec<_> = std::fs::read_dir(rt.join("status")).unwrap().collect();
    assert_eq!(status.len(), 1, "one status journal per molecule");
}

/// Steps that end while the supervisor is dead are judged by the exit
/// status their wrappers wrote to the journal (not as crashes), and their
/// output is kept as their logs.
#[test]
fn steps_ending_while_the_supervisor_is_down_are_judged_by_their_exit_status() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let (fa, fb) = (d.join("a.started"), d.join("b.started"));
    let (ra, rb) = (
        format!(
            "touch '{}'; sleep 1; echo printed by a; exit 4",
            fa.display()
        ),
        format!("touch '{}'; sleep 1", fb.display()),
    );
    let f = formula(d, "down", &[("a", &[], &ra), ("b", &[], &rb)]);
    let mut sup = Command::new(GT)
        .args([
            "run",
            f.to_str().unwrap(),
            "--jobs",
            "2",
            "--max-attempts",
            "1",
        ])
        .current_dir(d)
        .env_remove("BEADS_DIR")
        .env_remove("GT_TOWN")
        .env_remove("GT_LEASE")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    while !(fa.exists() && fb.exists()) {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(60),
            "the steps never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    unsafe {
        libc::kill(sup.id() as i32, libc::SIGKILL);
    }
    let _ = sup.wait();
    // The steps (their own process groups) outlive the supervisor; wait
    // until both said how they ended.
    let journal = std::fs::read_dir(d.join(".beads/runtime/status"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let ended = |j: &str| {
        j.lines()
            .filter(|l| l.ends_with(" 0") || l.ends_with(" 4"))
            .count()
    };
    while ended(&std::fs::read_to_string(&journal).unwrap_or_default()) < 2 {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(60),
            "the steps never ended"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let st = store(d);
    let root = issues::list(st.conn(), &Default::default())
        .unwrap()
        .into_iter()
        .find(|i| i.issue_type == gastown::store::IssueType::Molecule)
        .unwrap()
        .id;
    drop(st);
    let o = gt(d, &["--json", "run", &root, "--max-attempts", "1"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let s = summary(&o);
    assert_eq!(s["sessions_started"], 0, "{s}");
    let st = store(d);
    let get = |p: &str| issues::get(st.conn(), &format!("{root}.{p}")).unwrap();
    assert_eq!(get("b").status, Status::Closed);
    assert_eq!(get("a").status, Status::Blocked);
    let l = gastown::store::leases::get(st.conn(), &format!("{root}.a"))
        .unwrap()
        .unwrap();
    assert_eq!(l.last_error.as_deref(), Some("exit status 4"));
    let log = std::fs::read_to_string(l.log_path.unwrap()).unwrap();
    assert!(log.contains("printed by a"), "{log}");
}

/// A supervisor killed between starting a session and the wrapper's first
/// journal line (`<key> pid`) leaves a live wrapper that its journal does
/// not name yet. The next supervisor finds it by its command line and
/// adopts it, instead of starting the step a second time.
#[test]
fn a_wrapper_that_has_not_said_its_pid_is_adopted_not_started_twice() {
    use std::os::unix::process::CommandExt;
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let side = d.join("side.log");
    let run = format!("echo ran >> '{}'", side.display());
    let f = formula(d, "twice", &[("a", &[], &run)]);
    let root = init_and_pour(d, "tw", &f);
    let step = format!("{root}.a");
    // What the killed supervisor left: the step leased, no session
    // recorded, and its journal line `<key> new` (written before a start).
    let mut st = store(d);
    let req = gastown::store::leases::LeaseRequest {
        holder: "polecats/nux".into(),
        agent: "shell".into(),
        worktree: None,
    };
    let gen = st
        .write(|tx| tx.lease_step(&step, &req))
        .unwrap()
        .expect("the step is ready")
        .generation;
    drop(st);
    let key = format!("{step}.{gen}");
    let journal = d.join(format!(".beads/runtime/status/{root}.journal"));
    std::fs::create_dir_all(journal.parent().unwrap()).unwrap();
    std::fs::write(&journal, format!("{key} new\n")).unwrap();
    // The session, still starting: its command line names its journal and
    // key as gt's wrapper does; it runs the step, then says how it ended.
    let mut wrapper = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("sleep 1; {run}; echo \"$2 0\" >> \"$1\""))
        .arg("gt-session")
        .arg(&journal)
        .arg(&key)
        .process_group(0)
        .spawn()
        .unwrap();
    let o = gt(d, &["--json", "run", &root]);
    let _ = wrapper.wait();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(
        std::fs::read_to_string(&side).unwrap(),
        "ran\n",
        "the step ran twice"
    );
    let st = store(d);
    assert_eq!(
        issues::get(st.conn(), &step).unwrap().status,
        Status::Closed
    );
}
